"""Benchmark: fast lemma matching end to end from parquet vs the paper's naive loop.

Writes N realistic captions (the 1,000 real web captions resampled, plus generated
captions containing lemmas with random case and punctuation) into parquet, twice: as
one large part (the case where only row ranges can share the work) and as 8 parts. Runs
the fast matcher end to end from parquet with ``--workers`` processes on both, runs the
paper's per-lemma loop on a subsample, checks that both agree there, and prints
captions/s for each case and its ratio to the naive loop (target: at least 1M
captions/s on 2 cores in both cases).

    .venv/bin/python benchmarks/bench_matching.py [--captions N] [--workers W]
"""

from __future__ import annotations

import argparse
import string
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from laionet_core.matching import LemmaMatcher
from laionet_core.vocabulary import load_imagenet_vocabulary
from precompute.match.parquet import match_parquet_files

WEB_CAPTIONS = Path("/work/shared/data/web_captions_1000.parquet")
# Share of generated captions that name a lemma (LAION: 21M of 400M match, about 5%).
GENERATED_SHARE = 0.05
# Parts written, so that the worker processes have files to share.
PARTS = 8
PUNCTUATION_TO_SPACE = str.maketrans(string.punctuation, " " * len(string.punctuation))


def build_captions(n: int, rng: np.random.Generator) -> list[str | None]:
    web = pq.read_table(WEB_CAPTIONS, columns=["TEXT"])["TEXT"].to_pylist()
    lemmas = [lemma for s in load_imagenet_vocabulary().synsets for lemma in s.lemmas]
    captions = [web[i] for i in rng.integers(0, len(web), n)]
    templates = [
        "{} for sale",
        "Photo of a {}!",
        "{}",
        "<b>{}</b> - cheap",
        "my {}'s day",
        "The {}.",
    ]
    cases = [str, str.lower, str.upper, str.title]
    for i in np.flatnonzero(rng.random(n) < GENERATED_SHARE).tolist():
        lemma = cases[rng.integers(len(cases))](lemmas[rng.integers(len(lemmas))])
        captions[i] = templates[rng.integers(len(templates))].format(lemma)
    return captions


def paper_loop(captions: list[str | None], lemma_dict: dict[str, str]) -> dict[int, tuple]:
    out = {}
    for row, caption in enumerate(captions):
        if caption is None:
            continue
        text = " " + caption.translate(PUNCTUATION_TO_SPACE) + " "
        found = {wnid for lemma, wnid in lemma_dict.items() if f" {lemma} " in text}
        if found:
            out[row] = tuple(sorted(found))
    return out


def write_parts(captions: list[str | None], parts: int, folder: Path) -> list[Path]:
    """Write the captions into ``parts`` parquet files (pyarrow's default row groups)."""
    paths = []
    for part, chunk in enumerate(np.array_split(np.arange(len(captions)), parts)):
        path = folder / f"part-{part:05d}.parquet"
        texts = [captions[i] for i in chunk.tolist()]
        pq.write_table(pa.table({"SAMPLE_ID": chunk.astype(np.float64), "TEXT": texts}), path)
        paths.append(path)
    return paths


def time_matching(paths: list[Path], mode: str, workers: int) -> tuple[float, int, float]:
    """Captions/s, matched rows and seconds of one end-to-end run."""
    start = time.perf_counter()
    results = list(match_parquet_files(paths, mode=mode, workers=workers, progress=False))
    seconds = time.perf_counter() - start
    captions = sum(n for _, _, n in results)
    return captions / seconds, sum(t.num_rows for _, t, _ in results), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captions", type=int, default=3_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--naive", type=int, default=2_000, help="captions for the naive loop")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    captions = build_captions(args.captions, rng)
    with tempfile.TemporaryDirectory() as tmp:
        rates = {}
        for parts in (1, PARTS):
            folder = Path(tmp) / f"{parts}-parts"
            folder.mkdir()
            paths = write_parts(captions, parts, folder)
            label = f"{parts} part{'s' if parts > 1 else ''}"
            print(f"{len(captions):,} captions in {label}, {args.workers} workers")
            for mode in ("paper", "normalized"):
                rate, matched, seconds = time_matching(paths, mode, args.workers)
                print(
                    f"fast {mode:>10}, {label}: {rate:>12,.0f} captions/s end to end from "
                    f"parquet ({seconds:.2f} s incl. process start; {matched:,} matched)"
                )
                if mode == "paper":
                    rates[label] = rate
    vocabulary = load_imagenet_vocabulary()
    matcher = LemmaMatcher(vocabulary, mode="paper")
    sample = captions[: args.naive]
    start = time.perf_counter()
    expected = paper_loop(sample, matcher.lemma_dictionary.lemma_to_wnid)
    naive_rate = len(sample) / (time.perf_counter() - start)
    fast = matcher.match(sample)
    got = dict(zip(fast.rows.tolist(), fast.wnids, strict=True))
    if got != expected:
        raise SystemExit(
            f"MISMATCH: fast and naive disagree on {len(set(got) ^ set(expected))} rows"
        )
    print(f"naive paper loop: {naive_rate:>12,.0f} captions/s on {len(sample):,} captions (1 core)")
    print(f"agree on the naive subsample: {len(expected):,} matched rows identical")
    for label, rate in rates.items():
        print(
            f"ratio fast (paper, {label}, {args.workers} workers) / naive (1 core): "
            f"{rate / naive_rate:,.0f}x"
        )


if __name__ == "__main__":
    main()
