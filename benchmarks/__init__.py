"""Benchmarks (`make bench`): speed and memory at medium and full H&M scale."""
