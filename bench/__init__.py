"""Benchmarks of the whole stack: ``python -m bench.journeys`` (see bench/README.md)."""
