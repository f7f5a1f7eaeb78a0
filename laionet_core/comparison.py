"""Per-class comparison tables: pure glue over metrics/stats/accuracy.

The ``class_metrics`` table holds one row per (dataset, threshold, wnid, metric):

* A text-selected dataset (LAIONet) is measured on the paper's selection at each stored
  ``threshold`` (``SelectionParams(threshold=T)``: NSFW and multi-label captions dropped;
  0.82 by default). A text-matched dataset (Section 4.3) at each text-to-text
  ``threshold`` (0.7 by default). Other datasets are used whole (``threshold`` NULL).
* Recalls (zero-shot) are stored as ``value`` with their Wilson interval; intra-class and
  image-to-synset similarity as the class mean with its interval. Comparisons recover each
  side's standard error as the interval's half-width over the normal quantile.
* Predictions are stored as five predicted wnids per sample (``prediction_tables``
  reads the tables users give).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from laionet_core.accuracy import (
    ModelAccuracy,
    compute_model_accuracy,
    compute_zero_shot_accuracy,
    compute_zero_shot_from_ranks,
)
from laionet_core.intra_class_paper import compute_paper_intra_class_similarity
from laionet_core.metrics import compute_intra_class_similarity
from laionet_core.schema import KIND_TEXT_MATCHED, KIND_TEXT_SELECTED
from laionet_core.selection import (
    SelectionParams,
    snap_threshold,
)
from laionet_core.stats import (
    DEFAULT_CONFIDENCE,
    compare_class_means,
    compute_class_means,
    compute_significance_shares,
)
from laionet_core.thresholds import CAPTION_THRESHOLD, TEXT_MATCH_THRESHOLD

# Metric names in class_metrics.metric; one definition for precompute, app and tests.
METRIC_INTRA = "intra_class_similarity"
METRIC_INTRA_PAPER = "intra_class_similarity_paper"  # the paper's estimator, <= 100 images
METRIC_IMAGE_SIMILARITY = "image_similarity"
METRIC_ZERO_SHOT_1 = "zero_shot_recall@1"
METRIC_ZERO_SHOT_5 = "zero_shot_recall@5"
METRICS = (METRIC_INTRA, METRIC_IMAGE_SIMILARITY, METRIC_ZERO_SHOT_1, METRIC_ZERO_SHOT_5)
METRICS += (METRIC_INTRA_PAPER,)
# Columns of class_metrics rows, in the table's order.
METRIC_COLUMNS = ("dataset", "threshold", "wnid", "metric", "n", "value", "ci_low", "ci_high")
# The paper's prediction lists are five long.
TOP_K = 5


# ImageNetV2 variants by their average MTurk selection frequency (Section 4.4), low to high.
IMAGENETV2_SELECTION_FREQUENCY = {"imagenetv2-b": 0.73, "imagenetv2-a": 0.85, "imagenetv2-c": 0.93}
# Figure 6a: pairs drawn per class at most (ImageNet's 50 images give 1,225 distinct pairs).
MAX_PAIRS_PER_CLASS = 1_225


def default_selection() -> SelectionParams:
    """The paper's selection of LAIONet (threshold 0.82, NSFW and multi-label dropped)."""
    return SelectionParams(threshold=CAPTION_THRESHOLD.default)


def text_match_selection() -> SelectionParams:
    """Section 4.3's selection of a text-matched dataset, stored under its plain name.

    ``text_similarity`` of a text-matched sample is its caption's cosine to the
    ImageNet-Captions text that chose it; the paper keeps it above 0.7. NSFW rows are
    dropped as in LAIONet (text-matched rows are never multi-label).
    """
    return SelectionParams(threshold=TEXT_MATCH_THRESHOLD.default)


def default_selection_for_kind(kind: str) -> SelectionParams | None:
    """The paper's selection of a dataset kind, the default of its metrics; None: all samples.

    ``text-selected``: ``default_selection()``; ``text-matched``:
    ``text_match_selection()``; every other kind is used whole.
    """
    if kind == KIND_TEXT_SELECTED:
        return default_selection()
    if kind == KIND_TEXT_MATCHED:
        return text_match_selection()
    return None


def _long(
    frame: pd.DataFrame, dataset: str, threshold: float | None, metric: str, value: str
) -> pd.DataFrame:
    out = pd.DataFrame(
        {
            "dataset": dataset,
            "threshold": np.nan if threshold is None else snap_threshold(threshold),
            "wnid": frame.index.astype(str),
            "metric": metric,
            "n": frame["n"].to_numpy(np.int64),
            "value": frame[value].to_numpy(np.float64),
            "ci_low": frame["ci_low"].to_numpy(np.float64),
            "ci_high": frame["ci_high"].to_numpy(np.float64),
        }
    )
    return out.loc[:, list(METRIC_COLUMNS)]


def compute_class_metric_rows(
    dataset: str,
    wnids: object,
    image_embeddings: np.ndarray,
    image_similarity: object,
    class_text_embeddings: np.ndarray,
    class_labels: object,
    *,
    threshold: float | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    true_class_ranks: np.ndarray | None = None,
    metrics: tuple[str, ...] = METRICS,
    rows: np.ndarray | None = None,
) -> pd.DataFrame:
    """The metrics of ``METRICS`` for one dataset, as class_metrics rows.

    Args:
        dataset: Name written into the rows.
        wnids: (N,) true class of each sample.
        image_embeddings: (N, D) L2-normalised image embeddings, row-aligned with wnids.
        image_similarity: (N,) image-to-synset cosine similarity (NaN rows are skipped).
        class_text_embeddings: (C, D) synset-text embeddings of every class.
        class_labels: (C,) their wnids.
        threshold: The selection threshold the samples were kept at, written into the
            rows (snapped to the grid); None for a dataset used whole.
        confidence: Two-sided level of every interval.
        true_class_ranks: (N,) true-class ranks (``ranking.compute_true_class_ranks``)
            when already known: zero-shot recall is counted from them.
        metrics: The metrics computed (a subset of ``METRICS``), in the rows' order.
        rows: (N,) positions in ``image_embeddings`` of the samples (a selection of a
            larger matrix, read in place: the selection lab's four mechanisms do not
            copy 170 MiB each); None: ``image_embeddings`` holds the N samples.

    Returns:
        DataFrame with ``METRIC_COLUMNS``; empty when there are no samples.

    Raises:
        ValueError: A metric is not one of ``METRICS``.
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r}; known: {list(METRICS)}")
    labels = np.asarray(wnids)
    if labels.dtype != object:  # Python strings hash without a copy; numpy's do not
        labels = labels.astype(str).astype(object)
    if labels.size == 0:
        return pd.DataFrame(columns=list(METRIC_COLUMNS))
    images = _Images(image_embeddings, rows)
    zero = None
    if {METRIC_ZERO_SHOT_1, METRIC_ZERO_SHOT_5} & set(metrics):
        zero = _zero_shot(images, labels, class_text_embeddings, class_labels, true_class_ranks)
    frames = {
        m: _metric_frame(m, labels, images, image_similarity, zero, confidence) for m in metrics
    }
    parts = [_long(frame, dataset, threshold, m, "mean") for m, frame in frames.items()]
    return pd.concat(parts, ignore_index=True)


class _Images(NamedTuple):
    """Image embeddings, and the positions of the samples among them (None: all)."""

    matrix: np.ndarray
    rows: np.ndarray | None

    def chosen(self) -> np.ndarray:
        """The samples' embeddings as one matrix (a copy when ``rows`` picks them)."""
        return self.matrix if self.rows is None else self.matrix[self.rows]


def _zero_shot(
    images: _Images,
    labels: np.ndarray,
    class_text_embeddings: np.ndarray,
    class_labels: object,
    true_class_ranks: np.ndarray | None,
):
    """Zero-shot recall@1 and @5: counted from the ranks when known, else scored."""
    if true_class_ranks is not None:
        return compute_zero_shot_from_ranks(true_class_ranks, labels, k=(1, TOP_K))
    return compute_zero_shot_accuracy(
        images.chosen(), labels, class_text_embeddings, class_labels, k=(1, TOP_K)
    )


def _metric_frame(
    metric: str, labels: np.ndarray, images: _Images, sims: object, zero, confidence: float
) -> pd.DataFrame:
    """One metric's per-class table (``n``, ``mean``, ``ci_low``, ``ci_high``)."""
    if metric == METRIC_INTRA:
        return compute_intra_class_similarity(
            images.matrix, labels, confidence=confidence, rows=images.rows
        )
    if metric == METRIC_INTRA_PAPER:
        return compute_paper_intra_class_similarity(images.chosen(), labels, confidence=confidence)
    if metric == METRIC_IMAGE_SIMILARITY:
        return compute_class_means(sims, labels, confidence=confidence)
    k = 1 if metric == METRIC_ZERO_SHOT_1 else TOP_K
    return zero.recall_table(k, confidence=confidence).rename(columns={"recall": "mean"})


def build_metric_table(
    rows: pd.DataFrame, dataset: str, metric: str, *, threshold: float | None = None
) -> pd.DataFrame:
    """One dataset's metric from class_metrics rows, shaped for ``compare_class_means``.

    Args:
        rows: class_metrics rows (``METRIC_COLUMNS``).
        dataset, metric: The rows to pick.
        threshold: Pick the selection at this threshold (on the grid); None takes the
            rows as they are, which must then hold one selection of ``dataset``.

    Returns:
        DataFrame indexed by wnid (``label``): ``n``, ``value``, ``ci_low``, ``ci_high``.
    """
    picked = rows[(rows["dataset"] == dataset) & (rows["metric"] == metric)]
    if threshold is not None:
        picked = picked[np.isclose(picked["threshold"], snap_threshold(threshold))]
    table = picked.set_index("wnid")[["n", "value", "ci_low", "ci_high"]].sort_index()
    table.index.name = "label"
    return table


def compute_sample_metric_rows(
    name: str,
    embedded: tuple[pd.DataFrame, np.ndarray],
    samples: pd.DataFrame,
    synsets: tuple[list[str], np.ndarray],
    *,
    threshold: float | None = None,
) -> pd.DataFrame:
    """``compute_class_metric_rows`` for the embedded rows whose sample is in ``samples``.

    Args:
        name: Dataset name written into the rows.
        threshold: Threshold the samples were selected at; None for a dataset used whole.
        embedded: ``(rows with sample_id and wnid, (N, D) embeddings)``.
        samples: The selected samples (``sample_id``, ``image_similarity``).
        synsets: ``(wnids, (C, D) synset-text embeddings)`` of every class.
    """
    ids, emb = embedded
    keep = ids["sample_id"].isin(samples["sample_id"]).to_numpy()
    ids, emb = ids[keep], emb[keep]
    sims = samples.set_index("sample_id")["image_similarity"].reindex(ids["sample_id"])
    return compute_class_metric_rows(
        name,
        ids["wnid"].to_numpy(),
        emb,
        sims.to_numpy(np.float64),
        synsets[1],
        synsets[0],
        threshold=threshold,
    )


def compute_matched_pair_counts(
    n_a: pd.Series, n_b: pd.Series, *, cap: int = MAX_PAIRS_PER_CLASS
) -> pd.Series:
    """Pairs to draw per class so both datasets give the same number (Figure 6a).

    The smaller of the two classes' distinct-pair counts, at most ``cap``; only classes
    present in both with at least two samples each.
    """
    both = pd.concat({"a": n_a, "b": n_b}, axis=1).dropna()
    pairs = (both * (both - 1) / 2).min(axis=1).clip(upper=cap).astype(np.int64)
    return pairs[pairs > 0]


def compute_variant_panel(
    tables: dict[str, pd.DataFrame],
    *,
    references: list[str],
    variants: dict[str, float] = IMAGENETV2_SELECTION_FREQUENCY,
) -> pd.DataFrame:
    """Figure 8b/c: per reference and variant, the shares of classes significantly lower.

    Args:
        tables: Dataset -> ``build_metric_table`` table (``value``, ``ci_low``, ``ci_high``).
        references: Datasets compared with every variant (e.g. laionet, imagenet-val).
        variants: Variant dataset -> its average selection frequency.

    Returns:
        Rows ordered by reference then frequency: ``reference``, ``variant``,
        ``selection_frequency``, ``lower`` (which side is lower: the reference or the
        variant), ``share``, ``n_classes``. Pairs with a missing table are left out, as
        are a variant against itself and repeated references.
    """
    rows = []
    for ref in dict.fromkeys(references):
        for variant, freq in sorted(variants.items(), key=lambda kv: kv[1]):
            if ref == variant or ref not in tables or variant not in tables:
                continue
            diff = compare_class_means(tables[ref], tables[variant], value_column="value")
            shares = compute_significance_shares(diff)
            for side, key in ((ref, "lower"), (variant, "higher")):
                rows.append(
                    {
                        "reference": ref,
                        "variant": variant,
                        "selection_frequency": freq,
                        "lower": side,
                        "share": shares[key],
                        "n_classes": shares["n_classes"],
                    }
                )
    columns = ["reference", "variant", "selection_frequency", "lower", "share", "n_classes"]
    return pd.DataFrame(rows, columns=columns)


def compute_accuracy_by_dataset(
    predictions: pd.DataFrame, *, class_weights: pd.Series
) -> dict[str, ModelAccuracy]:
    """Top-1/top-5 accuracy per dataset over the classes with a weight (Figures 1 and 5).

    Args:
        predictions: Columns ``dataset``, ``wnid`` (true class), ``top5_wnids`` (lists).
        class_weights: wnid -> weight, e.g. class counts in the LAION-derived selection;
            only samples of these classes count (the paper's "classes present in LAIONet").

    Returns:
        Dataset -> ModelAccuracy (equal and weighted accuracy with standard errors).
    """
    out = {}
    for dataset, group in predictions.groupby("dataset", sort=True):
        group = group[group["wnid"].isin(class_weights.index)]
        if group.empty:
            continue
        top = np.array([list(v) for v in group["top5_wnids"]], dtype=object)
        out[str(dataset)] = compute_model_accuracy(
            top, group["wnid"].to_numpy(), class_weights=class_weights, k=(1, TOP_K)
        )
    return out
