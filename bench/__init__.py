"""Benchmarks that prove localctl's numbers; run them all with ``python -m bench``."""
