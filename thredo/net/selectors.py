"""The stdlib selectors module, cancellable (issue 11; stub)."""
