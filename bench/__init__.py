"""Benchmarks (not tests): `make bench` runs them and records results in docs/benchmarks.md."""
