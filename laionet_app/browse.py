"""Cached reads of the class browser: band counts, the 2-D grid, searches."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from laionet_app.connection import DbKey, cursor
from laionet_core import browse_queries
from laionet_core.selection import SelectionParams

# Rows a caption search reads at most, and rows it shows.
CAPTION_SCAN_ROWS = 200_000
CAPTION_SHOWN_ROWS = 50


@st.cache_data(show_spinner=False, max_entries=256)
def load_band_counts(
    db: DbKey, dataset: str, wnid: str, params: SelectionParams, bands: tuple[float, float, int]
) -> pd.DataFrame:
    low, high, n = bands
    return browse_queries.read_band_counts(
        cursor(db), dataset, wnid, params, low=low, high=high, n=n
    )


@st.cache_data(show_spinner=False, max_entries=256)
def load_similarity_grid(
    db: DbKey,
    dataset: str,
    wnid: str,
    text_bands: tuple[float, float, int],
    image_bands: tuple[float, float, int],
) -> pd.DataFrame:
    return browse_queries.read_similarity_grid(
        cursor(db), dataset, wnid, text_bands=text_bands, image_bands=image_bands
    )


@st.cache_data(show_spinner=False, max_entries=256)
def load_samples_in_cell(
    db: DbKey,
    dataset: str,
    wnid: str,
    text_range: tuple[float, float],
    image_range: tuple[float, float],
    limit: int,
) -> pd.DataFrame:
    return browse_queries.read_samples_in_cell(
        cursor(db), dataset, wnid, text_range=text_range, image_range=image_range, limit=limit
    )


@st.cache_data(show_spinner=False, max_entries=256)
def load_class_search(db: DbKey, query: str) -> pd.DataFrame:
    return browse_queries.search_classes(cursor(db), query)


@st.cache_data(show_spinner="Searching captions…", max_entries=64)
def load_caption_search(db: DbKey, dataset: str, query: str, wnid: str | None) -> pd.DataFrame:
    """Bounded caption search (``CAPTION_SCAN_ROWS`` read, ``CAPTION_SHOWN_ROWS`` shown).

    Raises:
        ValueError: the query has no word, too many or too long words.
    """
    return browse_queries.search_captions(
        cursor(db), dataset, query, wnid=wnid, scan=CAPTION_SCAN_ROWS, limit=CAPTION_SHOWN_ROWS
    )
