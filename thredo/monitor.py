"""python -m thredo.monitor PID: the monitor's client (issue 13; stub)."""
