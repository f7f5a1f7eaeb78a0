"""Class browser: one class across datasets, and its samples in similarity bands.

Appendix A / Figure 11 of the paper: low caption-to-synset similarity brings the wrong
sense of a lemma (PUMA the brand for the cougar); raising it brings the intended one.
"""

import streamlit as st

from laionet_app.blocks import render_sample_grid
from laionet_app.connection import require_database
from laionet_app.controls import select_threshold_control
from laionet_app.tables import (
    load_class_counts,
    load_class_samples,
    load_classes,
    load_datasets,
    load_samples_in_band,
)
from laionet_core.selection import compute_band_edges
from laionet_core.thresholds import BAND_STEP, DEFAULT_BAND_RANGE, THRESHOLDED_KINDS

SHOWCASE_WNID = "n02125311"  # cougar: the paper's Figure 11 example ("puma")

db = require_database()
st.header("Class browser")
classes = load_classes(db)
labels = dict(zip(classes["wnid"], classes["name"] + " (" + classes["wnid"] + ")", strict=True))
wnids = classes["wnid"].tolist()
wnid = st.selectbox(
    "Class",
    wnids,
    index=wnids.index(SHOWCASE_WNID) if SHOWCASE_WNID in wnids else 0,
    format_func=labels.get,
    key="wnid",
)
row = classes.set_index("wnid").loc[wnid]
st.text("Synset text: " + row["synset_text"])
st.text("Lemmas: " + ", ".join(row["lemmas"]))

st.subheader("Samples per dataset")
st.dataframe(load_class_counts(db, wnid), hide_index=True, width="stretch")

datasets = load_datasets(db)
dataset = st.selectbox("Dataset", datasets["dataset"].tolist(), key="dataset")
per_band = st.slider("Samples per band", 1, 24, 6, key="per_band")
seed = st.number_input("Sampling seed", min_value=0, value=0, step=1, key="seed")
kind = datasets.set_index("dataset").loc[dataset, "kind"]

if kind in THRESHOLDED_KINDS:
    control = select_threshold_control(kind)
    low, high = st.slider(
        f"Range of {control.quantity}",
        control.low,
        control.high,
        DEFAULT_BAND_RANGE,
        step=BAND_STEP,
        key="band_range",
        help=f"The paper keeps > {control.default}.",
    )
    n_bands = st.slider("Bands", 1, 8, 5, key="n_bands")
    for band_low, band_high in reversed(compute_band_edges(low, high, n_bands)):
        samples = load_samples_in_band(db, dataset, wnid, band_low, band_high, per_band, int(seed))
        kept = " (kept by the paper's threshold)" if band_low >= control.default else ""
        st.subheader(f"Similarity in ({band_low:.2f}, {band_high:.2f}]{kept}")
        render_sample_grid(db, samples)
else:
    st.subheader("A random sample")
    render_sample_grid(db, load_class_samples(db, dataset, wnid, per_band * 2, int(seed)))
