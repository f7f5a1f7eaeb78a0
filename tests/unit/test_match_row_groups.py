"""Matching splits large files by row range: the same rows and keys as one process.

The oracle is ``match_parquet_file`` on the whole file in this process.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import precompute.match.parquet as match_stage
from laionet_core.matching import LemmaMatcher
from laionet_core.vocabulary import load_imagenet_vocabulary
from precompute.match.parquet import match_parquet_file, match_parquet_files, plan_match_jobs

WORDS = ["a puma in the snow", "nothing here", None, "great white shark", "tabby cat", "x"]


@pytest.fixture(scope="module")
def matcher() -> LemmaMatcher:
    return LemmaMatcher(load_imagenet_vocabulary(), mode="paper")


def _write(path: Path, n: int, row_group: int, *, ids: bool = True) -> Path:
    texts = [WORDS[(i * 7) % len(WORDS)] for i in range(n)]
    columns = {"TEXT": texts}
    if ids:
        columns = {"SAMPLE_ID": pa.array(range(10_000, 10_000 + n), pa.int64()), **columns}
    pq.write_table(pa.table(columns), path, row_group_size=row_group)
    return path


@pytest.mark.parametrize(("row_group", "ids"), [(37, True), (1_000, False)])
def test_split_files_match_like_one_process(
    tmp_path: Path,
    matcher: LemmaMatcher,
    monkeypatch: pytest.MonkeyPatch,
    row_group: int,
    ids: bool,
) -> None:
    monkeypatch.setattr(match_stage, "MIN_JOB_ROWS", 50)
    monkeypatch.setattr(match_stage, "READ_BATCH_ROWS", 16)
    paths = [_write(tmp_path / "big.parquet", 500, row_group, ids=ids)]
    paths.append(_write(tmp_path / "small.parquet", 20, row_group, ids=ids))
    jobs = plan_match_jobs(paths, text_column=None, workers=2)
    big = [j for j in jobs if j.path == str(paths[0])]
    assert len(big) > 1 and big[0].start == 0 and big[-1].stop == 500
    assert all(a.stop == b.start for a, b in zip(big, big[1:], strict=False))
    if row_group == 37:  # cuts fall on row-group boundaries when one is near
        assert all(j.start % 37 == 0 for j in big)
    got = list(match_parquet_files(paths, workers=2, mode="paper", progress=False))
    for path, table, captions in got:
        expected, n = match_parquet_file(path, matcher)
        assert captions == n
        assert table.equals(expected)
    assert [p for p, _, _ in got] == paths


def test_a_row_range_reads_only_its_rows(tmp_path: Path, matcher: LemmaMatcher) -> None:
    path = _write(tmp_path / "part.parquet", 300, 64)
    whole, _ = match_parquet_file(path, matcher)
    first, n1 = match_parquet_file(path, matcher, rows=(0, 130))
    second, n2 = match_parquet_file(path, matcher, rows=(130, 300))
    assert (n1, n2) == (130, 170)
    assert pa.concat_tables([first, second]).equals(whole)
