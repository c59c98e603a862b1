"""Benchmarks: wall time, peak RSS and ratios against baselines measured in the same run."""
