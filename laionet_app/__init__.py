"""The Streamlit app's shared code: connection, controls, cached loaders, charts, blocks.

It lives beside ``pages/`` rather than in it, so Streamlit serves only the real pages.
"""
