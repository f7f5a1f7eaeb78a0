"""LAIONet Explorer's library: vocabulary, matching, selection, metrics, storage.

Layers import one way: ``pages/`` and ``precompute/`` import this package; this package
never imports Streamlit, and its pure-math modules never import torch or DuckDB.
"""
