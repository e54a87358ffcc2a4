"""Benchmarks: run one with `.venv/bin/python -m bench.NAME`; figures go in bench/README.md."""
