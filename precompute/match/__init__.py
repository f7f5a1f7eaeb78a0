"""Lemma matching at LAION scale, alone: parquet parts in, matched captions out."""
