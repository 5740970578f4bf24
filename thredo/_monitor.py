"""The monitor server of a live process (issue 13; stub)."""
