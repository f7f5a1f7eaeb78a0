"""The text match's result as rows and figures: ``MatchSearch``, its summary and samples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from precompute.text_match.search import select_class_matches
from precompute.text_match.sources import CandidateRows

if TYPE_CHECKING:
    from precompute.text_match.store import TextMatchConfig


@dataclass(frozen=True)
class MatchSearch:
    """A search's best matches and where its candidates came from.

    Attributes:
        best: (Q,) best candidate row per query (-1: none).
        similarity: (Q,) exact cosine of each query to its best candidate.
        index_kind: ``exact`` or ``ivfpq``.
        recall_at_1: Measured recall@1 of the index (1.0 for exact).
        n_candidates: Captions searched.
        n_samples: Samples of the candidate source (more when some lack embeddings).
        encoder: Encoder name recorded for the candidates.
        text_encoder: Canonical name of the encoder behind their caption embeddings.
        source: Where the candidates came from (``db:dataset`` or the corpus folder).
        simulated: The candidates are simulated.
    """

    best: np.ndarray
    similarity: np.ndarray
    index_kind: str
    recall_at_1: float
    n_candidates: int
    n_samples: int
    encoder: str
    text_encoder: str
    source: str
    simulated: bool


def summarize_match(search: MatchSearch, unique: pd.DataFrame, threshold: float) -> dict:
    """The search's figures recorded in ``datasets.parameters`` (index, recall, coverage...)."""
    above = unique["similarity"] > threshold
    per_candidate = unique["n_queries"].value_counts().sort_index()
    return {
        "index": search.index_kind,
        "recall_at_1": round(search.recall_at_1, 6),
        "n_candidates_searched": search.n_candidates,
        "candidate_samples": search.n_samples,
        "candidate_coverage": round(search.n_candidates / max(search.n_samples, 1), 6),
        "n_queries_matched": int((search.best >= 0).sum()),
        "queries_above_threshold": int((search.similarity > threshold).sum()),
        "samples_above_threshold": int(above.sum()),
        "classes_above_threshold": int(unique.loc[above, "label"].nunique()),
        "queries_per_candidate": [[int(k), int(v)] for k, v in per_candidate.items()],
        "candidates_chosen_by_several_queries": int((unique["n_queries"] > 1).sum()),
        "candidates_chosen_for_several_classes": int((unique["n_labels"] > 1).sum()),
    }


def build_matched_samples(
    unique: pd.DataFrame, rows: CandidateRows, synsets: tuple[list[str], np.ndarray]
) -> pd.DataFrame:
    """The samples rows: each chosen caption labelled with its query's class.

    ``image_similarity`` is the candidate image against the label's synset text where
    both exist, else NaN.
    """
    labels = unique["label"].astype(str).tolist()
    image_sim = np.full(len(labels), np.nan, dtype=np.float32)
    if rows.image_embeddings is not None and synsets[0]:
        row_of = {w: i for i, w in enumerate(synsets[0])}
        own = synsets[1][[row_of[w] for w in labels]]
        image_sim = np.einsum("nd,nd->n", rows.image_embeddings, own).astype(np.float32)
        image_sim[~rows.has_image] = np.nan
    return pd.DataFrame(
        {
            "sample_id": rows.samples["sample_id"].astype(str).to_numpy(),
            "url": rows.samples["url"].to_numpy(),
            "text": rows.samples["text"].to_numpy(),
            "wnid": labels,
            "matched_wnids": [[w] for w in labels],
            "multi_label": np.zeros(len(labels), dtype=bool),
            "text_similarity": unique["similarity"].to_numpy(np.float32),
            "image_similarity": image_sim,
            "nsfw": rows.samples["nsfw"].to_numpy(),
        }
    )


# Sample id of a candidate's row in a further class (``every-class``): ``<id>#<wnid>``.
CLASS_ROW_SEPARATOR = "#"


def take_candidate_rows(rows: CandidateRows, index: np.ndarray) -> CandidateRows:
    """``rows`` at positions ``index`` (repeats allowed), everything row-aligned."""
    images = None if rows.image_embeddings is None else rows.image_embeddings[index]
    return CandidateRows(
        samples=rows.samples.iloc[index].reset_index(drop=True),
        text_embeddings=rows.text_embeddings[index],
        image_embeddings=images,
        has_image=rows.has_image[index],
        thumbnails=[rows.thumbnails[i] for i in index],
        kept=None,
        rejected=rows.rejected,
    )


def expand_to_every_class(
    unique: pd.DataFrame, rows: CandidateRows, pairs: pd.DataFrame
) -> tuple[pd.DataFrame, CandidateRows]:
    """The ``every-class`` rows: each stored candidate once per class that chose it.

    Args:
        unique: ``select_unique_matches``' rows of the stored candidates, row-aligned
            with ``rows`` (candidates a corpus could not store are already left out).
        rows: Their samples and embeddings.
        pairs: ``select_class_matches``' rows (every candidate searched).

    Returns:
        ``(pairs, rows)`` row-aligned: a candidate's nearest class keeps its row and
        sample id; each further class gets a copy whose sample id is
        ``<id>#<wnid>`` (``CLASS_ROW_SEPARATOR``), its embeddings and thumbnail repeated.
    """
    position = pd.Series(np.arange(len(unique)), index=unique["candidate"].to_numpy())
    pairs = pairs[pairs["candidate"].isin(position.index)].reset_index(drop=True)
    expanded = take_candidate_rows(rows, position.loc[pairs["candidate"]].to_numpy())
    ids = expanded.samples["sample_id"].astype(str)
    further = ~pairs["nearest"].to_numpy()
    ids[further] = ids[further] + CLASS_ROW_SEPARATOR + pairs.loc[further, "label"].astype(str)
    expanded.samples["sample_id"] = ids.to_numpy()
    return pairs, expanded


def summarize_class_rows(pairs: pd.DataFrame, threshold: float) -> dict:
    """The ``every-class`` rows' figures that replace ``summarize_match``'s per-candidate
    ones (sample counts are of the stored rows)."""
    above = pairs["similarity"] > threshold
    return {
        "samples_above_threshold": int(above.sum()),
        "classes_above_threshold": int(pairs.loc[above, "label"].nunique()),
        "rows_for_further_classes": int((~pairs["nearest"]).sum()),
    }


def apply_label_rule(
    config: TextMatchConfig,
    search: MatchSearch,
    unique: pd.DataFrame,
    rows: CandidateRows,
    labels: np.ndarray,
) -> tuple[pd.DataFrame, CandidateRows, dict]:
    """The stored rows under ``config.label_rule`` and the figures recorded about them.

    Args:
        config: The run (``TextMatchConfig``: ``label_rule`` and ``threshold``).
        search: The search.
        unique: ``select_unique_matches``' rows of the stored candidates.
        rows: Their samples and embeddings, row-aligned.
        labels: (Q,) the queries' wnids.

    Returns:
        ``(matches, rows, summary)``: unchanged for ``nearest``; for ``every-class``
        ``expand_to_every_class``' rows and ``summarize_class_rows``' figures.
    """
    summary = summarize_match(search, unique, config.threshold)
    if config.label_rule != "every-class":
        return unique, rows, summary
    pairs = select_class_matches(search.best, search.similarity, labels)
    unique, rows = expand_to_every_class(unique, rows, pairs)
    return unique, rows, summary | summarize_class_rows(unique, config.threshold)
