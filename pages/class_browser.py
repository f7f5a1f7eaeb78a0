"""Class browser: one class across datasets, why each sample was kept or dropped, its
samples in similarity bands, the 2-D grid of caption by image similarity, and search.

Appendix A / Figure 11 of the paper: low caption-to-synset similarity brings the wrong
sense of a lemma (PUMA the brand for the cougar); raising it brings the intended one.
"""

import streamlit as st

from laionet_app.blocks import render_sample_grid
from laionet_app.browse_blocks import (
    render_bands,
    render_caption_search,
    render_class_outcomes,
    render_similarity_grid,
    select_class,
)
from laionet_app.controls import (
    select_bound_option,
    select_threshold_control,
    selection_controls,
)
from laionet_app.frame import open_page
from laionet_app.tables import load_class_counts, load_class_samples, load_classes, load_datasets
from laionet_app.url_state import bound_widget
from laionet_core.thresholds import BAND_STEP, DEFAULT_BAND_RANGE, THRESHOLDED_KINDS

db = open_page(
    "Class browser",
    "One class: what the selection keeps of it and why, and what its samples look like.",
)
wnid = select_class(db)
row = load_classes(db).set_index("wnid").loc[wnid]
st.text("Synset text: " + row["synset_text"])
st.text("Lemmas: " + ", ".join(row["lemmas"]))

st.subheader("Samples per dataset")
st.caption("Every sample of the class in each dataset, before any selection.")
st.dataframe(load_class_counts(db, wnid), hide_index=True, width="stretch")

datasets = load_datasets(db)
dataset = select_bound_option("Dataset", datasets["dataset"].tolist(), key="dataset")
per_band = bound_widget(
    st.slider, "Samples per band", key="per_band", min_value=1, max_value=24, value=6
)
seed = bound_widget(st.number_input, "Sampling seed", key="seed", min_value=0, value=0, step=1)
kind = datasets.set_index("dataset").loc[dataset, "kind"]

if kind in THRESHOLDED_KINDS:
    params = selection_controls(kind, db=db, dataset=dataset)
    render_class_outcomes(db, dataset, wnid, params)
    control = select_threshold_control(kind)
    low, high = bound_widget(
        st.slider,
        f"Range of {control.quantity}",
        key="band_range",
        min_value=control.low,
        max_value=control.high,
        value=DEFAULT_BAND_RANGE,
        step=BAND_STEP,
        help=f"The paper keeps > {control.default}.",
    )
    n_bands = bound_widget(st.slider, "Bands", key="n_bands", min_value=1, max_value=8, value=5)
    bands = (float(low), float(high), int(n_bands))
    st.subheader("Caption similarity by image similarity")
    if high > low:
        render_similarity_grid(db, dataset, wnid, params, text_bands=bands)
        render_bands(db, dataset, wnid, params, per_band=per_band, seed=int(seed), bands=bands)
    else:
        st.info("Pick a range of positive width.")
else:
    st.subheader("A random sample")
    render_sample_grid(db, load_class_samples(db, dataset, wnid, per_band * 2, int(seed)))

st.subheader("Search captions")
render_caption_search(db, dataset, wnid)
