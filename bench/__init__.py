"""Benchmarks that print every figure as a ratio against a baseline measured in the same run.

`make bench` (python -m bench) runs them all; see `python -m bench --help`. Timings never go in tests.
"""
