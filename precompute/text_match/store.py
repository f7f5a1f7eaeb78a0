"""The text-matched dataset (Section 4.3): LAION captions nearest to ImageNet's texts.

For every caption of the query dataset (default ``imagenet-captions``: its stored
caption embeddings), find the most similar candidate caption (``precompute.text_match.search``:
exact search, or IVF-PQ whose hits are re-scored exactly, recall@1 measured) among

* a dataset of the database (``--candidates``, default ``laionet``: every matched LAION
  caption, no threshold), searched in memory; or
* ALL captions of a LAION-layout corpus (``--corpus``), streamed part by part
  (``precompute.text_match.search_streamed``), the real-scale path.

The result is stored as a dataset of kind ``text-matched`` (default name
``text-matched``):

* one row per candidate that is some query's best match, labelled with the wnid of the
  query whose text is most similar to it (how many queries chose each candidate is
  summarised in ``datasets.parameters``); under the paper's ``every-class`` rule
  (``label_rule``, the paper recipes'), a candidate chosen by queries of several classes
  also gets a row in each further class, with sample id ``<id>#<wnid>``, that class's
  most similar query's similarity, and its embeddings and thumbnail repeated
  (``precompute.text_match.matched.expand_to_every_class``);
* ``text_similarity`` = cosine(candidate caption, that query's caption): text-to-text,
  NOT caption-to-synset. Every best match is kept, above the threshold or not, so the
  threshold explorer's coverage curve over this column is the paper's Figure 16a; the
  paper keeps > 0.7 (``laionet_core.selection.DEFAULT_TEXT_MATCH_THRESHOLD``);
* ``image_similarity`` = cosine(candidate image, synset text of the label), image and
  caption embeddings and thumbnails wherever the source has them.

Its class metrics are computed on ``text_similarity > 0.7`` under the dataset's own name
(``laionet_core.comparison.text_match_selection``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from laionet_core import queries, schema
from laionet_core.encoders import parse_encoder_spec
from laionet_core.recipes import TEXT_MATCH_LABEL_RULES
from laionet_core.selection import DEFAULT_TEXT_MATCH_THRESHOLD, snap_threshold
from laionet_core.settings import IMAGENET_CAPTIONS_DATASET, LAIONET_DATASET, TEXT_MATCHED_DATASET
from laionet_core.storage import (
    DatasetInfo,
    DatasetWriter,
    open_database_for_update,
)
from laionet_core.vocabulary import DEFAULT_SYNSET_TEXT_FORMAT
from precompute.analyses.class_metrics import write_dataset_metrics
from precompute.ingest.laion import (
    LAION_RELEASE_ENCODER,
    LAION_RELEASE_ENCODERS,
    read_corpus_info,
)
from precompute.text_match.matched import MatchSearch, apply_label_rule, build_matched_samples
from precompute.text_match.search import (
    DEFAULT_NPROBE,
    DEFAULT_RERANK_K,
    INDEX_KINDS,
    RECALL_SAMPLE,
    build_text_index,
    compute_recall_at_1,
    search_text_index,
    select_unique_matches,
)
from precompute.text_match.search_streamed import search_text_streamed
from precompute.text_match.sources import (
    CandidateRows,
    open_corpus_texts,
    read_corpus_candidates,
    read_database_candidates,
)

logger = logging.getLogger(__name__)

DEFAULT_QUERIES = IMAGENET_CAPTIONS_DATASET  # ImageNet-Captions' texts, from add-reference
DEFAULT_TEXT_MATCHED = TEXT_MATCHED_DATASET  # the stored dataset's name
# What text_similarity means in a text-matched dataset, recorded with it.
TEXT_SIMILARITY_MEANING = "cosine(candidate caption, caption of the query that chose it)"


@dataclass(frozen=True)
class TextMatchConfig:
    """One ``text-match`` run.

    Attributes:
        db: An existing database holding the query dataset's caption embeddings.
        queries: The query dataset (ImageNet-Captions).
        candidates: Database dataset whose captions are searched (without ``corpus``;
            ``laionet`` if None). Refused together with ``corpus``.
        corpus: LAION-layout corpus whose captions are all searched instead.
        threshold: Text-to-text threshold of the selection (rows below it are kept too).
        name: The stored dataset's name.
        index: ``auto``, ``exact`` or ``ivfpq``.
        nlist, nprobe, rerank_k: IVF-PQ options (``precompute.text_match.search``), each >= 1.
        recall_sample: Queries checked against exact search to measure recall@1 (>= 1).
        encoder: Model behind the corpus's embeddings (only with ``corpus``); default
            its ``corpus.json`` encoder, else LAION's release.
        recipe_settings: The recipe in force (``describe_recipe``), recorded as is.
        label_rule: ``nearest`` (a caption chosen by texts of several classes is stored
            once, in the nearest text's class) or ``every-class`` (the paper: once per
            class, ``precompute.text_match.matched.expand_to_every_class``).
    """

    db: Path
    queries: str = DEFAULT_QUERIES
    candidates: str | None = None
    corpus: Path | None = None
    threshold: float = DEFAULT_TEXT_MATCH_THRESHOLD
    name: str = DEFAULT_TEXT_MATCHED
    index: str = "auto"
    nlist: int | None = None
    nprobe: int = DEFAULT_NPROBE
    rerank_k: int = DEFAULT_RERANK_K
    recall_sample: int = RECALL_SAMPLE
    encoder: str | None = None
    recipe_settings: dict | None = None
    label_rule: str = "nearest"

    def __post_init__(self) -> None:
        if self.label_rule not in TEXT_MATCH_LABEL_RULES:
            raise ValueError(f"label rule {self.label_rule!r}; allowed: {TEXT_MATCH_LABEL_RULES}")
        if self.index not in INDEX_KINDS:
            raise ValueError(f"--index {self.index!r}; allowed: {', '.join(INDEX_KINDS)}")
        object.__setattr__(self, "threshold", snap_threshold(self.threshold))
        counts = {
            "--nlist": self.nlist,
            "--nprobe": self.nprobe,
            "--recall-sample": self.recall_sample,
            "rerank_k": self.rerank_k,
        }
        for option, value in counts.items():
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise ValueError(f"{option} must be an integer >= 1, got {value!r}")
        if self.corpus is None:
            if self.encoder is not None:
                raise ValueError(
                    f"--encoder {self.encoder!r} names the model of a --corpus's embeddings; "
                    "without --corpus the candidates' dataset records its own encoder"
                )
            if self.candidates is None:
                object.__setattr__(self, "candidates", LAIONET_DATASET)
        else:
            if self.candidates is not None:
                raise ValueError(
                    f"--candidates {self.candidates!r} and --corpus {self.corpus} both name "
                    "the captions to search; give one"
                )
            if not self.corpus.is_dir():
                raise ValueError(f"--corpus {self.corpus}: no such folder")
        if self.name in (self.queries, self.candidates):
            raise ValueError(f"--name {self.name!r} would replace an input dataset")


def _text_encoder_name(info: dict) -> str:
    """The canonical name of the encoder behind a dataset's caption embeddings."""
    spec = info["parameters"].get("text_encoder") or info["encoder"]
    try:
        return parse_encoder_spec(spec).name
    except ValueError:
        return spec  # a name that is not a spec, e.g. laion-release:ViT-B-32


def _count_samples(con: duckdb.DuckDBPyConnection, dataset: str) -> int:
    datasets = queries.read_datasets(con).set_index("dataset")
    return int(datasets.loc[dataset, "n_samples"])


def _search_database(
    con: duckdb.DuckDBPyConnection,
    config: TextMatchConfig,
    query_emb: np.ndarray,
    query_wnids: np.ndarray,
) -> tuple[MatchSearch, pd.DataFrame, CandidateRows]:
    row = queries.read_dataset_info(con, config.candidates)
    if row is None:
        raise ValueError(f"{config.db}: no candidate dataset {config.candidates!r}")
    ids, emb = queries.read_embeddings(con, config.candidates, table=schema.TEXT_EMBEDDINGS)
    if ids.empty or emb.shape[1] != query_emb.shape[1]:
        raise ValueError(
            f"{config.db}: dataset {config.candidates!r} has {len(ids)} caption embeddings of "
            f"width {emb.shape[1]}; the queries have width {query_emb.shape[1]}"
        )
    n_samples = _count_samples(con, config.candidates)
    if len(ids) < n_samples:
        floor = queries.read_embedding_floor(row["parameters"])
        logger.warning(
            "%s: only %d of %d samples have caption embeddings%s, so the text match "
            "searches %.1f%% of it; --corpus searches every caption",
            config.candidates,
            len(ids),
            n_samples,
            f" (built with --embedding-floor {floor})" if floor is not None else "",
            100 * len(ids) / n_samples,
        )
    index = build_text_index(emb, kind=config.index, nlist=config.nlist, nprobe=config.nprobe)
    best, sims = search_text_index(index, query_emb, rerank_k=config.rerank_k)
    recall = compute_recall_at_1(index, query_emb, sims, sample=config.recall_sample)
    search = MatchSearch(
        best,
        sims,
        index.kind,
        recall,
        len(ids),
        n_samples,
        row["encoder"],
        _text_encoder_name(row),
        f"{config.db}:{config.candidates}",
        row["simulated"],
    )
    unique = select_unique_matches(best, sims, query_wnids)
    chosen = unique["candidate"].to_numpy()
    ids = ids["sample_id"].tolist()
    rows = read_database_candidates(con, config.candidates, [ids[i] for i in chosen], emb[chosen])
    return search, unique, rows


def _search_corpus(
    config: TextMatchConfig, query_emb: np.ndarray, query_wnids: np.ndarray
) -> tuple[MatchSearch, pd.DataFrame, CandidateRows]:
    texts = open_corpus_texts(config.corpus)
    if texts.dim != query_emb.shape[1]:
        raise ValueError(
            f"{config.corpus}: caption embeddings have width {texts.dim}, the queries "
            f"{query_emb.shape[1]}"
        )
    result = search_text_streamed(
        query_emb,
        texts.iter_chunks,
        n_total=texts.n_total,
        kind=config.index,
        nlist=config.nlist,
        nprobe=config.nprobe,
        rerank_k=config.rerank_k,
        recall_sample=config.recall_sample,
    )
    info = read_corpus_info(config.corpus)
    release = LAION_RELEASE_ENCODERS.get(texts.dim, LAION_RELEASE_ENCODER)
    encoder = config.encoder or info.get("encoder") or release
    search = MatchSearch(
        result.best_index,
        result.similarity,
        result.index_kind,
        result.recall_at_1,
        result.n_candidates,
        texts.n_total,
        encoder,
        encoder,
        str(config.corpus.resolve()),
        bool(info.get("simulated", False)),
    )
    unique = select_unique_matches(result.best_index, result.similarity, query_wnids)
    rows = read_corpus_candidates(texts, unique["candidate"].to_numpy())
    return search, unique[rows.kept].reset_index(drop=True), rows


def _write(
    con: duckdb.DuckDBPyConnection, info: DatasetInfo, samples: pd.DataFrame, rows: CandidateRows
) -> None:
    """Rows with an image embedding in one batch, rows without in another."""
    writer = DatasetWriter(con, info)
    rejected = rows.rejected
    for with_image in (True, False):
        keep = rows.has_image == with_image
        if not keep.any():
            continue
        writer.append_batch(
            samples[keep],
            image_embeddings=rows.image_embeddings[keep] if with_image else None,
            text_embeddings=rows.text_embeddings[keep],
            thumbnails=[t for t, k in zip(rows.thumbnails, keep, strict=True) if k],
            rejected=rejected,
        )
        rejected = None  # once, with the first batch
    writer.finish()


def _log_match(
    config: TextMatchConfig, parameters: dict, n_samples: int, search: MatchSearch
) -> None:
    """One line on what the match stored."""
    logger.info(
        "%s: %d of %d queries matched above %.3f, %d distinct candidates (%d above), "
        "%d classes above; index %s, recall@1 %.3f",
        config.name,
        parameters["queries_above_threshold"],
        parameters["n_queries"],
        config.threshold,
        n_samples,
        parameters["samples_above_threshold"],
        parameters["classes_above_threshold"],
        search.index_kind,
        search.recall_at_1,
    )


def _read_and_search(
    config: TextMatchConfig,
) -> tuple[dict, pd.DataFrame, MatchSearch, pd.DataFrame, CandidateRows, tuple]:
    """Read the queries, search the candidates, and read the synsets of their encoder.

    Returns:
        ``(query dataset row, query ids, search, unique matches, candidate rows,
        (wnids, synset embeddings))``.

    Raises:
        ValueError: ``name`` taken by another kind, or no query caption embeddings.
    """
    con = queries.connect(config.db)
    try:
        existing = queries.read_dataset_info(con, config.name)
        if existing is not None and existing["kind"] != schema.KIND_TEXT_MATCHED:
            raise ValueError(
                f"{config.db}: {config.name!r} is a {existing['kind']} dataset; pick --name"
            )
        query_row = queries.read_dataset_info(con, config.queries)
        qids, qemb = queries.read_embeddings(con, config.queries, table=schema.TEXT_EMBEDDINGS)
        if query_row is None or qids.empty:
            raise ValueError(
                f"{config.db}: no caption embeddings of dataset {config.queries!r}; add "
                "ImageNet-Captions with add-reference --kind imagenet-captions"
            )
        query_wnids = qids["wnid"].to_numpy()
        if config.corpus is None:
            search, unique, rows = _search_database(con, config, qemb, query_wnids)
        else:
            search, unique, rows = _search_corpus(config, qemb, query_wnids)
        fmt = queries.read_meta(con).get("synset_format", DEFAULT_SYNSET_TEXT_FORMAT)
        synsets = queries.read_synset_embeddings(con, search.encoder, fmt)
    finally:
        con.close()
    return query_row, qids, search, unique, rows, synsets


def build_text_matched_dataset(
    config: TextMatchConfig, *, compute_metrics: bool = True
) -> pd.DataFrame:
    """Search, deduplicate and store the text-matched dataset (module docstring).

    Args:
        config: The run.
        compute_metrics: Also store the dataset's class metrics (at > 0.7, plus the
            config's threshold under ``<name>@<T>`` when it differs).

    Returns:
        The stored samples.

    Raises:
        FileNotFoundError: No database or corpus parts.
        ValueError: Missing or mismatched datasets or embeddings, or ``name`` taken by
            a dataset of another kind. Nothing is written then.
    """
    query_row, qids, search, unique, rows, synsets = _read_and_search(config)
    if _text_encoder_name(query_row) != search.text_encoder:
        logger.warning(
            "queries encoded by %s, candidates by %s: are they one text space?",
            _text_encoder_name(query_row),
            search.text_encoder,
        )
    if rows.image_embeddings is not None and not synsets[0]:
        logger.warning("no synset embeddings for %s: image_similarity left empty", search.encoder)
    labels = qids["wnid"].to_numpy()
    unique, rows, summary = apply_label_rule(config, search, unique, rows, labels)
    samples = build_matched_samples(unique, rows, synsets)
    parameters = {
        "queries": config.queries,
        "candidates": config.candidates if config.corpus is None else "corpus",
        "text_similarity": TEXT_SIMILARITY_MEANING,
        "threshold": config.threshold,
        "n_queries": len(qids),
        "query_text_encoder": _text_encoder_name(query_row),
        "candidate_text_encoder": search.text_encoder,
        **summary,
        "text_match_label_applied": config.label_rule,
        "candidates_rejected": 0 if rows.rejected is None else len(rows.rejected),
        **(config.recipe_settings or {}),
    }
    info = DatasetInfo(
        config.name,
        schema.KIND_TEXT_MATCHED,
        search.source,
        search.encoder,
        search.simulated,
        parameters,
    )
    with open_database_for_update(config.db) as con:
        _write(con, info, samples, rows)
        if compute_metrics:
            thresholds = sorted({DEFAULT_TEXT_MATCH_THRESHOLD, config.threshold})
            write_dataset_metrics(con, config.name, text_match_thresholds=thresholds)
    _log_match(config, parameters, len(samples), search)
    return samples
