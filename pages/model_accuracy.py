"""Model accuracy: an ImageNet model on LAIONet and on ImageNet (Figures 1, 5, 7 and 14).

Accuracy is the mean per-class recall over the classes present in the LAION-derived
selection chosen here; the LAION-weighted accuracy weights each class by its frequency
in that selection.
"""

import streamlit as st

from laionet_app.blocks import render_rank_correlation
from laionet_app.chart_output import show_chart
from laionet_app.charts_accuracy import (
    build_accuracy_chart,
    build_model_scatter_chart,
    build_weighting_chart,
)
from laionet_app.controls import selection_controls
from laionet_app.frame import open_page
from laionet_app.loaders import load_difference, relative_frequency
from laionet_app.model_accuracy import (
    build_accuracy_summary,
    build_model_comparison,
    compute_selection_weights,
    load_prediction_models,
    load_predictions,
    parse_uploaded_predictions,
    restrict_to_selection,
)
from laionet_app.tables import read_dataset_kind
from laionet_app.text import escape_markdown
from laionet_core.comparison import METRIC_INTRA
from laionet_core.messages import MAX_MESSAGE_CHARS
from laionet_core.settings import IMAGENET_DATASET, LAIONET_DATASET
from laionet_core.stats import compute_rank_correlation
from laionet_core.uploads import UploadError

db = open_page(
    "Model accuracy",
    "How an ImageNet model's accuracy drops from ImageNet to LAIONet, and what explains "
    "the drop (Figures 1, 5, 7, 14).",
)
models = load_prediction_models(db)
upload = st.file_uploader(
    "Or upload predictions (CSV or parquet: sample_id with top5 / pred_1..pred_5, "
    "or top_1_is_correct_<model> / top_5_is_correct_<model>)",
    type=["csv", "parquet"],
    key="upload",
)
if upload is not None:
    try:
        predictions = parse_uploaded_predictions(db, upload.getvalue(), upload.name)
    except UploadError as error:  # one bounded line, shown as text
        st.error("Could not use the upload: " + escape_markdown(error, limit=MAX_MESSAGE_CHARS))
        st.stop()
    model = upload.name
elif models:
    model = st.selectbox("Model", models, key="model")
    predictions = load_predictions(db, model)
else:
    st.info(
        "No predictions stored. Add some with `python -m precompute add-predictions "
        "--db DB --model NAME --from FILE` (or `--simulate`), or upload a table above."
    )
    st.stop()
if model.startswith("simulated-"):
    st.caption(
        f"{escape_markdown(model)} is a SIMULATED model: "
        "nearest class mean of the reference images."
    )

if read_dataset_kind(db, LAIONET_DATASET) is None:
    st.info(f"The database holds no `{LAIONET_DATASET}` dataset to measure accuracy on.")
    st.stop()
params = selection_controls(db=db)
weights = compute_selection_weights(db, LAIONET_DATASET, params)
if weights.empty:
    st.info("This selection keeps no LAIONet sample; lower the threshold.")
    st.stop()
chosen = restrict_to_selection(db, predictions, LAIONET_DATASET, params)
summary, per_dataset = build_accuracy_summary(chosen, weights)
st.caption(f"Over the {len(weights):,} classes present in the LAIONet selection.")

st.subheader("Accuracy on each dataset (Figure 1)")
if summary.empty:
    st.info("The predictions cover no class of this selection.")
    st.stop()
if {IMAGENET_DATASET, LAIONET_DATASET} <= set(per_dataset):
    for k, col in zip((1, 5), st.columns(2), strict=True):
        on_imagenet = per_dataset[IMAGENET_DATASET].summary.loc[k, "equal"]
        on_laion = per_dataset[LAIONET_DATASET].summary.loc[k, "equal"]
        col.metric(
            f"Top-{k}: {IMAGENET_DATASET} → {LAIONET_DATASET}",
            f"{on_imagenet:.3f} → {on_laion:.3f}",
            delta=f"{100 * (on_laion - on_imagenet):+.1f} pp",
        )
show_chart(
    build_accuracy_chart(
        summary,
        value="equal",
        title="classes weighted equally",
        x_title="accuracy (mean per-class recall)",
    ),
    width="stretch",
)
if upload is None and models:
    st.caption("Every stored model, ImageNet against LAIONet (the paper's Figure 1).")
    compared = build_model_comparison(db, models, LAIONET_DATASET, params)
    if compared.empty:
        st.info(f"No stored model has predictions on both {IMAGENET_DATASET} and LAIONet.")
    else:
        show_chart(build_model_scatter_chart(compared, laion=LAIONET_DATASET), width="stretch")

st.subheader("LAION-weighted vs equally weighted accuracy (Figure 5)")
st.caption(
    "Equally weighted: the mean of the per-class recalls. LAION-weighted: each class's recall "
    "weighted by its share of the LAIONet selection, i.e. the accuracy a model would get if "
    "classes came as often as they do in LAION."
)
show_chart(build_weighting_chart(summary, laion=LAIONET_DATASET), width="stretch")
with st.expander("The same as a table (its toolbar downloads it as CSV)"):
    st.dataframe(
        summary[["dataset", "k", "equal", "equal_se", "weighted", "weighted_se"]],
        hide_index=True,
        width="stretch",
    )

if LAIONET_DATASET in per_dataset:
    recall = per_dataset[LAIONET_DATASET].per_class[1]["recall"]
    st.subheader("Recall vs intra-class similarity gap (Figure 7)")
    if read_dataset_kind(db, IMAGENET_DATASET) is None:
        st.info(f"The database holds no `{IMAGENET_DATASET}` to measure the gap against.")
    else:
        diff = load_difference(db, LAIONET_DATASET, params, IMAGENET_DATASET, None, METRIC_INTRA)
        gap = compute_rank_correlation(
            diff["difference"], recall, x_name="similarity gap", y_name="top-1 recall"
        )
        render_rank_correlation(
            db,
            gap,
            label="Spearman: recall vs gap",
            x_title="intra-class similarity: LAIONet − ImageNet",
            y_title="top-1 recall on LAIONet",
        )
    st.subheader("Recall vs class frequency (Figure 14)")
    freq = compute_rank_correlation(
        relative_frequency(weights), recall, x_name="relative frequency", y_name="top-1 recall"
    )
    render_rank_correlation(
        db,
        freq,
        label="Spearman: recall vs frequency",
        x_title="relative class frequency in LAIONet",
        y_title="top-1 recall on LAIONet",
        log_x=True,
    )
