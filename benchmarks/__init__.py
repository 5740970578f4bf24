"""thredo benchmarks: thredo against the same workload on plain threads.

Run them with ``python -m benchmarks``; ``benchmarks/README.md`` explains the table.
"""
