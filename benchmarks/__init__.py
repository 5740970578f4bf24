"""thredo benchmarks: thredo against the same workload on plain threads (``python -m benchmarks``)."""
