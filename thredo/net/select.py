"""The stdlib select module, cancellable (issue 11; stub)."""
