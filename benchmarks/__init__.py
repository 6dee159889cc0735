"""Benchmarks: each compares our code with a reference in the same run (never a timed test)."""
