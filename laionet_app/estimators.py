"""The Compare page's choice of intra-class estimator, with both shares side by side.

Two estimators of a class's intra-class similarity interval are stored: this project's
U-statistic interval (``intra_class_similarity``) and the paper's, which treats pairs as
independent over at most 100 images (``intra_class_similarity_paper``). The one the
dataset's recipe names is selected first; the other is one click away.
"""

from __future__ import annotations

import streamlit as st

from laionet_app.connection import DbKey
from laionet_app.loaders import load_difference
from laionet_app.tables import load_datasets
from laionet_core.recipes import DEFAULT_RECIPE, RECIPES, read_recorded_recipe
from laionet_core.report import ESTIMATOR_METRICS
from laionet_core.selection import SelectionParams
from laionet_core.stats import compute_significance_shares

ESTIMATOR_LABELS = {
    "u-statistic": "U-statistic (this project: every image, pairs sharing an image correlated)",
    "paper": "paper (at most 100 images, pairs treated as independent, >= 7 pairs)",
}
WHY_THEY_DIFFER = (
    "Both use the same class means. The paper's interval treats the image pairs as "
    "independent, but pairs that share an image are correlated, so its intervals are too "
    "narrow and it calls more classes significantly different in both directions; the "
    "U-statistic interval accounts for the shared images (coverage: docs/STATISTICS.md)."
)


def read_recipe_estimator(db: DbKey, dataset: str) -> str:
    """The intra-class estimator of the recipe recorded with ``dataset`` (default's else)."""
    datasets = load_datasets(db).set_index("dataset")
    parameters = datasets["parameters"].get(dataset) if dataset in datasets.index else None
    recipe = read_recorded_recipe(parameters) or RECIPES[DEFAULT_RECIPE]
    return recipe.intra_class_estimator


def render_estimator_choice(db: DbKey, a: str, params: SelectionParams | None, b: str) -> str:
    """Radio for the estimator, both estimators' shares of ``a`` lower / higher than ``b``.

    Returns:
        The class_metrics metric of the chosen estimator.
    """
    default = read_recipe_estimator(db, a)
    names = list(ESTIMATOR_METRICS)
    chosen = st.radio(
        f"Intra-class interval (`{a}`'s recipe uses **{default}**)",
        names,
        index=names.index(default),
        format_func=ESTIMATOR_LABELS.get,
        key="intra_estimator",
        horizontal=True,
    )
    columns = st.columns(len(names))
    for column, name in zip(columns, names, strict=True):
        diff = load_difference(db, a, params, b, None, ESTIMATOR_METRICS[name])
        shares = compute_significance_shares(diff)
        column.metric(
            f"{a} significantly lower than {b}: {name}",
            "n/a" if not shares["n_classes"] else f"{shares['lower']:.1%}",
            help=f"of {shares['n_classes']} classes; higher in "
            + ("n/a" if not shares["n_classes"] else f"{shares['higher']:.1%}"),
        )
    st.caption(WHY_THEY_DIFFER)
    return ESTIMATOR_METRICS[chosen]
