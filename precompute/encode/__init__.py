"""Encoders: open_clip and sentence-transformers models, and batched image encoding."""
