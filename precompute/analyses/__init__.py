"""Analyses of a built database: per-class metrics, caption diagnostics, model predictions."""
