"""Decide, before any work, what a build will use, and say it: ``inspect`` and ``build`` share this.

``plan_build`` turns a ``CorpusSummary`` and the user's options into a ``BuildPlan`` or a
``ValueError`` naming what is missing and the options that would supply it. It never
falls back silently: a corpus without caption embeddings and no ``--encoder`` stops here,
``--synset-embeddings`` is used or refused, and image-only or text-only corpora are
warnings with counts. ``format_corpus_report`` gives the lines both commands print.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from precompute.ingest.corpus_summary import CorpusSummary, name_some
from precompute.ingest.laion_layouts import LAYOUT_METADATA_PARTS

SYNSET_DIR = "synsets"
# Whole-build rate with shipped embeddings, 2 workers on the 2-core development machine
# (benchmarks/bench_build.py: 87,655-96,164 captions/s; docs/PIPELINE.md).
BUILD_CAPTIONS_PER_SECOND = 90_000
# Share of LAION captions that contain a lemma of one ImageNet class (21M of 407M).
MATCHED_SHARE = 0.052
# Database bytes per matched sample besides its float32 embeddings (measured 161 B).
DB_BYTES_PER_SAMPLE = 160
# Shard bytes per matched sample besides its float16 embeddings (measured 65 B).
SHARD_BYTES_PER_SAMPLE = 65
# A shard process before its part (interpreter, matcher, vocabulary): ~400 MiB measured.
WORKER_BASE_BYTES = 400 << 20
# Metadata held per row while a part is matched (caption, URL, ids in pandas).
METADATA_BYTES_PER_ROW = 300
# The driver: imports of the command line (688 MiB measured) plus one shard in assembly.
DRIVER_BYTES = 900 << 20
# Captions per second a CLIP text tower encodes on 2 CPU cores (a GPU is ~50x faster).
ENCODER_CPU_CAPTIONS_PER_SECOND = 300


@dataclass(frozen=True)
class BuildPlan:
    """What a build of this corpus with these options will do.

    Attributes:
        summary: The corpus.
        encoder: The name the build records for its embeddings (``--encoder``'s spec, or
            the release's model).
        encodes_captions: Captions and synset texts are encoded with ``--encoder``.
        synset_embeddings: The synset-text file the shipped embeddings are scored
            against; None when the encoder encodes the synset texts.
        warnings: Said at WARNING level: image-only or text-only corpora, with counts.
    """

    summary: CorpusSummary
    encoder: str
    encodes_captions: bool
    synset_embeddings: Path | None
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class BuildEstimate:
    """Rough cost of a build at the rates measured by ``benchmarks/bench_build.py``.

    Attributes:
        seconds: Wall time of matching, scoring and assembling (plus encoding).
        database_bytes: The DuckDB file.
        shard_bytes: The work folder of shards.
        memory_bytes: Peak resident memory of the driver plus the workers.
        matched: Captions expected to match a class.
    """

    seconds: float
    database_bytes: int
    shard_bytes: int
    memory_bytes: int
    matched: int


def _missing(summary: CorpusSummary, kind: str) -> list[str]:
    """Names of the ``img`` or ``text`` embedding files parts lack, spelt as the layout would."""
    layout = summary.layout
    parts = layout.missing_img if kind == "img" else layout.missing_text
    base = (layout.img_dir if kind == "img" else layout.text_dir) or Path(f"{kind}_emb")
    return [str(base / f"{kind}_emb_{p.index:0{layout.padding}d}.npy") for p in parts]


def _require_text_embeddings(summary: CorpusSummary) -> None:
    """Stop when the shipped caption embeddings are absent or partial (no ``--encoder``)."""
    layout = summary.layout
    if layout.text_dir is None:
        if layout.name == LAYOUT_METADATA_PARTS:
            where = (
                "the original metadata parts ship none; the embeddings release keeps "
                "them in text_emb/text_emb_N.npy beside metadata/metadata_N.parquet"
            )
        else:
            where = (
                f"expected {layout.root}/text_emb/text_emb_N.npy (or texts/text_emb_N.npy) "
                f"beside {layout.metadata_dir}/"
            )
        raise ValueError(
            f"{layout.root}: no caption embeddings ({layout.description}): {where}. Pass "
            "--encoder SPEC to encode the captions with a model (e.g. "
            "open_clip:ViT-B-32:openai, OpenAI's CLIP: the paper's model and the one behind "
            "LAION-400M's embeddings), "
            "or point --corpus at the embeddings release"
        )
    if layout.missing_text:
        names = _missing(summary, "text")
        raise ValueError(
            f"{len(names)} of {len(layout.parts)} parts have no caption embeddings: "
            f"{name_some(names)}. Download them, move those parts' metadata out of "
            f"{layout.metadata_dir}, or pass --encoder SPEC"
        )


def _synset_file(summary: CorpusSummary, given: Path | None, synset_format: str) -> Path:
    """The synset-text embeddings the shipped caption embeddings are scored against."""
    path = given or summary.layout.root / SYNSET_DIR / f"{synset_format}_emb.npy"
    if not path.is_file():
        dims = name_some([str(d) for d in sorted(summary.dims("text"))])
        raise ValueError(
            f"{path}: no synset-text embeddings. The shipped caption embeddings ({dims}-d, "
            f"{summary.release_encoder()}) are scored against the {synset_format} synset "
            "texts encoded by the same model: pass --synset-embeddings NPY (C x D, rows "
            "in ImageNet class order or listed in a wnids.txt beside it), or --encoder SPEC"
        )
    return path


def _encoder_warnings(
    summary: CorpusSummary, text_encoder: str, synset_embeddings: Path | None
) -> list[str]:
    """What an ``--encoder`` build leaves unused; ``--synset-embeddings`` with it is refused."""
    layout = summary.layout
    if synset_embeddings is not None:
        raise ValueError(
            f"--synset-embeddings {synset_embeddings} cannot be used with --encoder "
            f"{text_encoder}: the encoder encodes the synset texts itself. Drop one of them"
        )
    if layout.text_dir is not None:
        return [
            f"the corpus's caption embeddings ({summary.count_files('text')} files) are "
            f"not used: captions are encoded with {text_encoder}"
        ]
    if layout.img_dir is not None:
        return [
            f"image embeddings but no caption embeddings ({summary.count_files('img')} "
            f"img_emb files, 0 text_emb): {summary.rows:,} captions are read and the "
            f"matched ones encoded with {text_encoder}"
        ]
    return []


def plan_build(
    summary: CorpusSummary,
    *,
    text_encoder: str | None,
    embedding_model: str | None = None,
    synset_embeddings: Path | None = None,
    synset_format: str = "name_def",
) -> BuildPlan:
    """Check a corpus against the options before anything runs.

    Args:
        summary: ``summarize_corpus``'s result.
        text_encoder: ``--encoder SPEC``, or None to use the shipped caption embeddings.
        embedding_model: ``--embedding-model``: the name recorded for shipped embeddings.
        synset_embeddings: ``--synset-embeddings``.
        synset_format: Synset-text format, naming the default synset file.

    Returns:
        The plan, with its warnings (log them at WARNING level).

    Raises:
        ValueError: A problem in the summary; no caption embeddings (or some parts'
            missing) and no ``--encoder``; image embeddings missing for some parts;
            ``--synset-embeddings`` together with ``--encoder``; no synset file. Each
            message names the files and the options.
    """
    layout = summary.layout
    if summary.problems:
        raise ValueError(
            f"{layout.root}: {len(summary.problems)} problem(s): " + "; ".join(summary.problems)
        )
    if layout.missing_img:
        names = _missing(summary, "img")
        raise ValueError(
            f"{len(names)} of {len(layout.parts)} parts have no image embeddings: "
            f"{name_some(names)}. Download them, or move those parts' metadata out of "
            f"{layout.metadata_dir}"
        )
    if text_encoder is not None:
        warnings = _encoder_warnings(summary, text_encoder, synset_embeddings)
        synset_path, encoder = None, text_encoder
    else:
        _require_text_embeddings(summary)
        synset_path = _synset_file(summary, synset_embeddings, synset_format)
        encoder = embedding_model or summary.release_encoder()
        warnings = []
    if layout.img_dir is None:
        warnings.append(
            f"no image embeddings in {layout.root} ({layout.description}): image "
            f"embeddings and image_similarity stay empty for all {summary.rows:,} rows"
        )
    return BuildPlan(summary, encoder, text_encoder is not None, synset_path, tuple(warnings))


def estimate_build(
    summary: CorpusSummary, *, workers: int, encodes_captions: bool
) -> BuildEstimate:
    """Time, disk and memory of a build at the measured rates (see the constants).

    Args:
        summary: The corpus.
        workers: Shard processes running at once.
        encodes_captions: Whether matched captions are encoded with a model on the CPU.

    Returns:
        The estimate; real runs vary with the disk and the share of captions that match.
    """
    dim = max(summary.dims("text") | summary.dims("img") | {512})
    n_emb = 1 + (summary.layout.img_dir is not None)
    matched = int(summary.rows * MATCHED_SHARE)
    seconds = summary.rows / BUILD_CAPTIONS_PER_SECOND
    if encodes_captions:
        seconds += matched / ENCODER_CPU_CAPTIONS_PER_SECOND
    largest = max((p.rows for p in summary.parts), default=0)
    per_worker = WORKER_BASE_BYTES + largest * (n_emb * dim * 2 + METADATA_BYTES_PER_ROW)
    return BuildEstimate(
        seconds=seconds,
        database_bytes=matched * (n_emb * dim * 4 + DB_BYTES_PER_SAMPLE),
        shard_bytes=matched * (n_emb * dim * 2 + SHARD_BYTES_PER_SAMPLE),
        memory_bytes=DRIVER_BYTES + min(workers, len(summary.parts)) * per_worker,
        matched=matched,
    )


def _format_bytes(count: float) -> str:
    """``1.2 GiB``-style sizes."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def _format_files(summary: CorpusSummary, kind: str, folder: Path | None) -> str:
    """``410 files in images/, 512-d float16`` or ``none``."""
    if folder is None:
        return "none"
    dims = "/".join(str(d) for d in sorted(summary.dims(kind)))
    dtypes = "/".join(sorted(summary.dtypes(kind)))
    count = summary.count_files(kind)
    return f"{count} of {len(summary.parts)} parts in {folder}/, {dims}-d {dtypes}"


def format_corpus_report(
    summary: CorpusSummary,
    *,
    plan: BuildPlan | None,
    error: str | None = None,
    estimate: BuildEstimate | None = None,
) -> list[str]:
    """The lines ``inspect`` prints and ``build`` logs first.

    Args:
        summary: The corpus.
        plan: What a build would do, or None when ``error`` says why it would stop.
        error: The build's refusal, when there is one.
        estimate: Cost of the build, when it would run.

    Returns:
        One string per line, without newlines.
    """
    layout = summary.layout
    columns = summary.parts[0].columns if summary.parts else ()
    padding = f", part numbers padded to {layout.padding} digits" if layout.padding else ""
    lines = [
        f"corpus: {layout.root}",
        f"layout: {layout.description}{padding}",
        f"metadata: {len(summary.parts)} parts in {layout.metadata_dir}/, "
        f"{summary.rows:,} rows; columns: {', '.join(columns)}",
        f"image embeddings: {_format_files(summary, 'img', layout.img_dir)}",
        f"caption embeddings: {_format_files(summary, 'text', layout.text_dir)}",
    ]
    missing = [f"{p.metadata.name} has no img_emb" for p in layout.missing_img]
    missing += [f"{p.metadata.name} has no text_emb" for p in layout.missing_text]
    lines += [f"missing: {len(missing)}: {name_some(missing)}"] if missing else []
    lines += [f"problem: {p}" for p in summary.problems] or ["problems: none"]
    if plan is not None:
        using = "encodes captions and synset texts" if plan.encodes_captions else "shipped"
        lines.append(f"encoder recorded: {plan.encoder} ({using})")
        if plan.synset_embeddings is not None:
            lines.append(f"synset embeddings: {plan.synset_embeddings}")
        lines += [f"warning: {w}" for w in plan.warnings]
    if error is not None:
        lines.append(f"a build would stop: {error}")
    if estimate is not None:
        lines.append(
            f"estimate: ~{estimate.matched:,} matched captions; {estimate.seconds / 60:.1f} min, "
            f"database {_format_bytes(estimate.database_bytes)}, shards "
            f"{_format_bytes(estimate.shard_bytes)}, peak memory "
            f"{_format_bytes(estimate.memory_bytes)} (rates of the 2-core machine, "
            "docs/PIPELINE.md)"
        )
    return lines
