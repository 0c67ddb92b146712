"""Benchmarks for tpm: each figure against a baseline measured in the same run.

Run them with `.venv/bin/python -m benchmarks.run` (see benchmarks/README.md)."""
