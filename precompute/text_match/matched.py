"""The text match's result as rows and figures: ``MatchSearch``, its summary and samples."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from precompute.text_match.sources import CandidateRows


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
