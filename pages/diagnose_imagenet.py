"""Diagnose ImageNet: can text alone explain why an image was selected? (Section 4)

Figure 9: how similar each ImageNet-Captions text is to its own synset, and how many
other synsets are more similar. Figures 10 and 16: the LAION captions nearest to those
texts, a dataset selected by text alone, against ImageNet. Figure 8 (ImageNetV2 a, b, c)
is on the Compare datasets page.
"""

import streamlit as st

from laionet_app.blocks import render_difference, render_pair_distribution
from laionet_app.chart_output import show_chart
from laionet_app.charts import build_curve_chart
from laionet_app.charts_compare import (
    build_caption_diagnostics_chart,
    build_share_sweep_chart,
    build_value_histogram,
)
from laionet_app.controls import selection_controls
from laionet_app.frame import open_page
from laionet_app.loaders import (
    load_caption_diagnostic_bins,
    load_caption_diagnostics,
    load_least_explained_captions,
    load_significance_sweep,
)
from laionet_app.tables import load_classes, load_datasets, load_selection_summary
from laionet_app.text import escape_markdown
from laionet_core import schema
from laionet_core.comparison import METRIC_INTRA
from laionet_core.settings import IMAGENET_DATASET
from laionet_core.thresholds import SHARE_SWEEP_THRESHOLDS

# A text this similar to a synset belongs to it alone (the paper's Figure 9b reading).
UNIQUE_SYNSET_SIMILARITY = 0.7
# Captions listed in the table of the least explained ones.
LEAST_EXPLAINED_ROWS = 50

db = open_page(
    "Diagnose ImageNet",
    "Can text alone explain why ImageNet kept an image? (Section 4, Figures 9, 10, 16)",
)
datasets = load_datasets(db)
by_kind = datasets.groupby("kind")["dataset"].apply(list).to_dict()

st.subheader("Can the caption explain the selection? (Section 4.2, Figure 9)")
captioned = by_kind.get(schema.KIND_CAPTIONS, [])
if not captioned:
    st.info(
        "No captioned reference in this database. Add ImageNet-Captions with "
        "`python -m precompute add-reference --kind imagenet-captions ...`."
    )
else:
    name = st.selectbox("Captioned dataset", captioned, key="captions_dataset")
    diagnostics = load_caption_diagnostics(db, name)
    if diagnostics.empty:
        st.info(f"{escape_markdown(name)} has no caption diagnostics stored.")
    else:
        low = diagnostics["similarity"] <= UNIQUE_SYNSET_SIMILARITY
        cols = st.columns(3)
        cols[0].metric("Captions", f"{len(diagnostics):,}")
        cols[1].metric(
            f"Similarity to own synset ≤ {UNIQUE_SYNSET_SIMILARITY}",
            f"{low.mean():.1%}",
            help=f"Above {UNIQUE_SYNSET_SIMILARITY} a text belongs to its synset alone "
            "(the paper, Figure 9b).",
        )
        cols[2].metric(
            "Other classes more similar, for those captions",
            f"{diagnostics.loc[low, 'proportion_more_similar'].mean():.1%}",
            help="Mean share of the other classes whose synset text is more similar to "
            "the caption than its own class's.",
        )
        left, right = st.columns(2)
        with left:
            st.caption("Similarity of each caption to its own synset text (Figure 9a)")
            show_chart(
                build_value_histogram(
                    diagnostics["similarity"], title="caption-to-synset similarity"
                ),
                width="stretch",
            )
        with right:
            st.caption("Share of the other classes more similar, by that similarity (Figure 9b)")
            show_chart(
                build_caption_diagnostics_chart(
                    load_caption_diagnostic_bins(db, name), n_classes=len(load_classes(db))
                ),
                width="stretch",
            )
        with st.expander("The captions that explain their label least"):
            least = load_least_explained_captions(db, name, LEAST_EXPLAINED_ROWS)
            # st.dataframe shows captions as text, never as HTML.
            st.dataframe(
                least[["label", "similarity", "proportion_more_similar", "text"]],
                hide_index=True,
                width="stretch",
                column_config={
                    "proportion_more_similar": st.column_config.NumberColumn(
                        "other classes more similar", format="percent"
                    )
                },
            )

st.subheader("ImageNet, had it been selected by text alone (Section 4.3, Figures 10, 16)")
matched = by_kind.get(schema.KIND_TEXT_MATCHED, [])
references = by_kind.get(schema.KIND_IMAGE_SELECTED, [])
if not matched or not references:
    st.info(
        "This needs a text-matched dataset and an image-selected reference. Build one with "
        "`python -m precompute text-match --db DB` after adding ImageNet-Captions."
    )
    st.stop()
left, right = st.columns(2)
chosen = left.selectbox("Text-matched dataset", matched, key="matched_dataset")
reference = right.selectbox(
    "Reference",
    references,
    index=references.index(IMAGENET_DATASET) if IMAGENET_DATASET in references else 0,
    key="reference_dataset",
)
params = selection_controls(schema.KIND_TEXT_MATCHED, db=db, dataset=chosen)
summary = load_selection_summary(db, chosen, params)
cols = st.columns(2)
cols[0].metric("LAION samples kept", f"{summary.size:,}")
cols[1].metric("Classes covered", f"{summary.covered:,}")

st.caption("Intra-class similarity of the text-matched images against the reference (Fig. 10)")
render_pair_distribution(db, chosen, params, reference, None)
render_difference(
    db, chosen, params, reference, None, metric=METRIC_INTRA, label="intra-class similarity"
)

st.caption("The choice of threshold (Figure 16)")
left, right = st.columns(2)
with left:
    show_chart(
        build_curve_chart(summary, value="classes_covered", title="classes covered"),
        width="stretch",
    )
with right:
    sweep = load_significance_sweep(db, chosen, reference, params, SHARE_SWEEP_THRESHOLDS)
    show_chart(build_share_sweep_chart(sweep, threshold=params.threshold), width="stretch")
