"""The headline report: the paper's numbers beside this database's, with their sources.

``compute_headline_report(con)`` reads an open database (LAIONet at its recipe's
selection, ``class_metrics``, stored predictions) and returns one JSON-ready dict, shared
by ``python -m precompute report`` and the app's landing panel. Every row carries the
paper's value, the database's, and the section of the paper the number comes from.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from laionet_core import queries, schema
from laionet_core.accuracy import compute_counted_accuracy
from laionet_core.comparison import (
    IMAGENETV2_SELECTION_FREQUENCY,
    METRIC_INTRA,
    METRIC_INTRA_PAPER,
    METRIC_ZERO_SHOT_1,
    METRIC_ZERO_SHOT_5,
    build_metric_table,
    compute_variant_panel,
)
from laionet_core.content_rules import NSFW_KEEP_SQL, read_content_rules
from laionet_core.recipes import (
    DEFAULT_RECIPE,
    RECIPES,
    Recipe,
    read_recipe_name,
    read_recorded_recipe,
)
from laionet_core.selection import snap_threshold
from laionet_core.settings import IMAGENET_DATASET, LAIONET_DATASET, TEXT_MATCHED_DATASET
from laionet_core.stats import compare_class_means, compute_significance_shares

# Keys of every report, in order (the JSON's "headlines" hold one entry per key).
HEADLINE_KEYS = (
    "laionet_size",
    "zero_shot_accuracy",
    "intra_class_lower_share",
    "weighted_accuracy",
    "imagenetv2_shares",
    "text_matched_lower_share",
)
ESTIMATOR_METRICS = {"u-statistic": METRIC_INTRA, "paper": METRIC_INTRA_PAPER}
# The paper's numbers: (label, section, value). TMLR figures from the authors' release.
PAPER = {
    "laionet_size": (
        "LAIONet size and classes",
        "Section 2",
        {
            "paper-tmlr": {"samples": 822_000, "classes": 915},
            "paper-arxiv": {"samples": 880_000, "classes": 918},
        },
    ),
    "zero_shot_accuracy": (
        "CLIP zero-shot top-1 / top-5 (mean per-class recall)",
        "Section 2",
        {"laionet": {"top1": 0.665, "top5": 0.905}, "imagenet": {"top1": 0.569, "top5": 0.845}},
    ),
    "intra_class_lower_share": (
        "Share of classes with significantly lower intra-class similarity, LAIONet vs ImageNet",
        "Section 3.2, Figure 6b",
        {"paper": {"lower": 502 / 872, "classes": 872, "text": "almost two-thirds"}},
    ),
    "weighted_accuracy": (
        "Equally weighted vs LAION-weighted accuracy on LAIONet, per model",
        "Section 3.1, Figure 5",
        {"text": "LAION-weighted accuracy is lower by 5 to 10 percentage points"},
    ),
    "imagenetv2_shares": (
        "ImageNetV2 a / b / c: shares of classes with lower intra-class similarity",
        "Section 4.1, Figure 8b/c",
        {
            "text": "LAIONet is close to ImageNetV2 b (lowest selection frequency, 0.73); as the "
            "frequency rises (a 0.85, c 0.93) ImageNetV2 looks more like ImageNet"
        },
    ),
    "text_matched_lower_share": (
        "Share of classes lower in the text-matched dataset than in ImageNet",
        "Section 4.3, Figure 10b",
        {"lower": 0.70, "text": "almost 70%"},
    ),
}

SELECTED_SQL = """SELECT {columns}
FROM {samples} s WHERE dataset = $dataset AND text_similarity > $threshold
  AND NOT ($drop_multi AND multi_label) AND {nsfw}"""


def read_dataset_recipe(con: duckdb.DuckDBPyConnection, dataset: str) -> Recipe:
    """The recipe recorded with ``dataset`` (overrides included), else the default."""
    info = queries.read_dataset_info(con, dataset)
    recorded = read_recorded_recipe(info["parameters"] if info else None)
    return recorded or RECIPES[DEFAULT_RECIPE]


def count_selection(con: duckdb.DuckDBPyConnection, dataset: str, recipe: Recipe) -> dict:
    """Samples and classes of ``dataset`` under the recipe's threshold and filters."""
    columns = "count(*) AS samples, count(DISTINCT wnid) AS classes"
    sql, params = _selected_sql(con, dataset, recipe, columns)
    samples, classes = queries.fetch_one(con, sql, params) or (0, 0)
    return {"samples": int(samples), "classes": int(classes)}


def _selected_sql(con, dataset: str, recipe: Recipe, columns: str) -> tuple[str, dict]:
    """SQL and parameters selecting ``columns`` of the recipe's selection of ``dataset``:
    the stored content verdict (``samples.filtered``, OCR rule included) when the recipe's
    rules are the recorded ones, else its NSFW rule on LAION's raw tag."""
    info = queries.read_dataset_info(con, dataset) or {}
    kind = info.get("kind", schema.KIND_TEXT_SELECTED)
    rules, _ = read_content_rules(info.get("parameters"), kind)
    nsfw = NSFW_KEEP_SQL[recipe.nsfw_rule]
    if (rules.nsfw_rule, rules.ocr_rule) == (recipe.nsfw_rule, recipe.ocr_rule):
        nsfw = "NOT filtered"
    sql = SELECTED_SQL.format(columns=columns, samples=schema.SAMPLES, nsfw=nsfw)
    params = {
        "dataset": dataset,
        "threshold": snap_threshold(recipe.threshold),
        "drop_multi": recipe.multi_label == "drop",
    }
    return sql, params


def _table(con, dataset: str, metric: str, threshold: float | None) -> pd.DataFrame:
    rows = queries.read_class_metrics(con, dataset=dataset, metric=metric, threshold=threshold)
    return build_metric_table(rows, dataset, metric)


def _mean_metric(con, dataset: str, metric: str, threshold: float | None) -> float | None:
    values = _table(con, dataset, metric, threshold)["value"].dropna()
    return float(values.mean()) if len(values) else None


def _shares(a: pd.DataFrame, b: pd.DataFrame) -> dict:
    if a.empty or b.empty:
        return {"lower": None, "higher": None, "classes": 0}
    shares = compute_significance_shares(compare_class_means(a, b, value_column="value"))
    clean = {k: (None if not np.isfinite(v) else float(v)) for k, v in shares.items()}
    return {"lower": clean["lower"], "higher": clean["higher"], "classes": shares["n_classes"]}


def _estimator_shares(con, a: str, ta: float | None, b: str) -> dict:
    return {
        name: _shares(_table(con, a, metric, ta), _table(con, b, metric, None))
        for name, metric in ESTIMATOR_METRICS.items()
    }


# Per model and class of the recipe's LAIONet: predictions and top-1 hits, counted in
# DuckDB in one join for every model (1.9M prediction rows at the paper's scale never
# reach pandas).
CLASS_HITS_SQL = """WITH kept AS ({selected})
SELECT p.model, k.wnid, count(*) AS n, sum((p.top5_wnids[1] = k.wnid)::INT) AS hits
FROM {predictions} p JOIN kept k USING (sample_id)
WHERE p.dataset = $dataset GROUP BY p.model, k.wnid ORDER BY p.model, k.wnid"""


def _weighted_accuracy(con, recipe: Recipe) -> dict:
    """Model -> top-1 accuracy on the recipe's LAIONet, equal- and LAION-weighted."""
    models = queries.list_prediction_models(con)
    if not models:
        return {}
    selected, params = _selected_sql(con, LAIONET_DATASET, recipe, "sample_id, wnid")
    weights = con.execute(f"SELECT wnid, count(*) FROM ({selected}) GROUP BY wnid", params).df()
    weights = weights.set_index("wnid").iloc[:, 0]
    sql = CLASS_HITS_SQL.format(selected=selected, predictions=schema.PREDICTIONS)
    by_model = dict(tuple(con.execute(sql, params).df().groupby("model", sort=False)))
    out = {}
    for model in models:
        counts = by_model.get(model)
        if counts is None:
            continue
        hits = counts["hits"].fillna(0).to_numpy()
        class_weights = weights[counts["wnid"]].to_numpy()
        equal, weighted = compute_counted_accuracy(counts["n"].to_numpy(), hits, class_weights)
        out[model] = {"equal": equal, "weighted": weighted}
    return out


def _variant_shares(con, threshold: float) -> list[dict]:
    tables = {LAIONET_DATASET: _table(con, LAIONET_DATASET, METRIC_INTRA, threshold)}
    for name in (IMAGENET_DATASET, *IMAGENETV2_SELECTION_FREQUENCY):
        tables[name] = _table(con, name, METRIC_INTRA, None)
    tables = {k: v for k, v in tables.items() if not v.empty}
    panel = compute_variant_panel(tables, references=[LAIONET_DATASET, IMAGENET_DATASET])
    return panel.replace({np.nan: None}).to_dict(orient="records")


def compute_headline_report(con: duckdb.DuckDBPyConnection) -> dict:
    """The paper's headline numbers beside this database's.

    Returns:
        ``{"simulated", "recipe", "ocr_filter", "headlines": [{"key", "label", "section",
        "paper", "database"}, ...]}`` with one headline per ``HEADLINE_KEYS`` entry;
        values the database cannot give (no such dataset, metric or model) are None or
        empty.
    """
    datasets = queries.read_datasets(con)
    simulated = bool(datasets["simulated"].any()) if not datasets.empty else False
    recipe = read_dataset_recipe(con, LAIONET_DATASET)
    info = queries.read_dataset_info(con, LAIONET_DATASET) or {"parameters": {}}
    t = snap_threshold(recipe.threshold)
    tm = snap_threshold(recipe.text_match_threshold)
    database = {
        "laionet_size": count_selection(con, LAIONET_DATASET, recipe),
        "zero_shot_accuracy": {
            side: {
                "top1": _mean_metric(con, name, METRIC_ZERO_SHOT_1, th),
                "top5": _mean_metric(con, name, METRIC_ZERO_SHOT_5, th),
            }
            for side, name, th in (
                ("laionet", LAIONET_DATASET, t),
                ("imagenet", IMAGENET_DATASET, None),
            )
        },
        "intra_class_lower_share": _estimator_shares(con, LAIONET_DATASET, t, IMAGENET_DATASET),
        "weighted_accuracy": _weighted_accuracy(con, recipe),
        "imagenetv2_shares": _variant_shares(con, t),
        "text_matched_lower_share": _estimator_shares(
            con, TEXT_MATCHED_DATASET, tm, IMAGENET_DATASET
        ),
    }
    headlines = [
        {
            "key": key,
            "label": PAPER[key][0],
            "section": PAPER[key][1],
            "paper": PAPER[key][2],
            "database": database[key],
        }
        for key in HEADLINE_KEYS
    ]
    return {
        "simulated": simulated,
        "recipe": recipe.name,
        "recipe_recorded": read_recipe_name(info["parameters"]),
        "intra_class_estimator": recipe.intra_class_estimator,
        "ocr_filter": info["parameters"].get("ocr_filter"),
        "headlines": headlines,
    }


def _pct(value: object) -> str:
    return "n/a" if value is None else f"{100 * float(value):.1f}%"


def _describe(key: str, value: dict | list, *, paper: bool) -> str:
    """One cell of the summary: a headline's value in words."""
    if key == "laionet_size":
        if paper:
            return "; ".join(
                f"{k}: {v['samples']:,} samples, {v['classes']} classes" for k, v in value.items()
            )
        return f"{value['samples']:,} samples, {value['classes']} classes"
    if key == "zero_shot_accuracy":
        return "; ".join(
            f"{side}: {_pct(v['top1'])} / {_pct(v['top5'])}" for side, v in value.items()
        )
    if key in ("intra_class_lower_share", "text_matched_lower_share") and not paper:
        return "; ".join(
            f"{est} estimator: {_pct(v['lower'])} lower, {_pct(v['higher'])} higher "
            f"of {v['classes']} classes"
            for est, v in value.items()
        )
    if key == "intra_class_lower_share":
        v = value["paper"]
        return f"{_pct(v['lower'])} ({v['text']}, 502 of {v['classes']}; paper estimator)"
    if key == "text_matched_lower_share":
        return f"{_pct(value['lower'])} ({value['text']})"
    if key == "weighted_accuracy" and not paper:
        return (
            "; ".join(
                f"{m}: equal {_pct(v['equal'])}, LAION-weighted {_pct(v['weighted'])}"
                for m, v in value.items()
            )
            or "no stored predictions"
        )
    if key == "imagenetv2_shares" and not paper:
        return (
            "; ".join(
                f"{r['reference']} vs {r['variant']}: {r['lower']} lower in {_pct(r['share'])}"
                for r in value
            )
            or "no ImageNetV2 variants"
        )
    return str(value.get("text", value)) if isinstance(value, dict) else str(value)


def summarize_headlines(report: dict) -> pd.DataFrame:
    """The report as a plain-text table: ``headline``, ``section``, ``paper``, ``database``."""
    rows = [
        {
            "headline": h["label"],
            "section": h["section"],
            "paper": _describe(h["key"], h["paper"], paper=True),
            "database": _describe(h["key"], h["database"], paper=False),
        }
        for h in report["headlines"]
    ]
    return pd.DataFrame(rows, columns=["headline", "section", "paper", "database"])
