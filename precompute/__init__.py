"""Offline pipeline: LAION-style parts in, one DuckDB database out (``python -m precompute``)."""
