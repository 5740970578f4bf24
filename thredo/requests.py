"""thredo.requests: get_session() (issue 11; stub)."""
