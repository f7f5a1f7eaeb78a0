"""The img2dataset round trip: export, img2dataset's webdataset output, add-reference back."""

from __future__ import annotations

import json
import logging
import shlex
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from laionet_core import queries
from laionet_core.export import (
    SELECTION_SOURCE,
    command_path_for,
    describe_download,
    encode_export,
    manifest_path_for,
    unescape_formula_cell,
)
from precompute.cli import main as precompute_main
from tests.img2dataset_output import DNS_ERROR, write_img2dataset_output
from tests.laion_corpus import write_laion_corpus
from tests.tiny_clip import TINY_CLIP_NAME, build_tiny_clip_checkpoint

SAVED = '["wnid","SAMPLE_ID","NSFW","text_similarity"]'


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path, Path]:
    """A database built from a small corpus, its parquet export, and the tiny model."""
    root = tmp_path_factory.mktemp("round_trip")
    corpus = write_laion_corpus(root / "corpus", parts=2, rows_per_part=40)
    db = root / "db.duckdb"
    argv = ["build", "--corpus", str(corpus), "--db", str(db), "--workers", "1"]
    assert precompute_main([*argv, "--no-references"]) == 0
    out = root / "laionet.parquet"
    export = ["export", "--db", str(db), "--threshold", "-0.99", "--keep-nsfw"]
    assert precompute_main([*export, "--format", "parquet", "--out", str(out)]) == 0
    return db, out, build_tiny_clip_checkpoint(root / "tiny")


def _add(db: Path, checkpoint: Path, name: str, images: Path, labels: Path) -> int:
    argv = ["add-reference", "--db", str(db), "--name", name, "--kind", "webdataset"]
    argv += ["--images", str(images), "--labels", str(labels), "--model", TINY_CLIP_NAME]
    argv += ["--pretrained", str(checkpoint), "--device", "cpu", "--workers", "0"]
    return precompute_main(argv)


def test_export_writes_the_img2dataset_command(built) -> None:
    _, out, _ = built
    command = command_path_for(out).read_text()
    manifest = json.loads(manifest_path_for(out).read_text())
    assert manifest["img2dataset_command"] in command
    words = shlex.split(manifest["img2dataset_command"])
    assert words[0] == "img2dataset"
    options = dict(zip(words[1::2], words[2::2], strict=True))
    assert options["--url_list"] == str(out) and options["--input_format"] == "parquet"
    assert options["--url_col"] == "URL" and options["--caption_col"] == "TEXT"
    assert options["--save_additional_columns"] == SAVED
    assert options["--output_format"] == "webdataset"
    assert "add-reference" in command and "--labels" in command


def test_csv_cells_that_a_spreadsheet_would_run_are_escaped() -> None:
    table = pd.DataFrame(
        {"TEXT": ["=HYPERLINK(1)", "+1", "-2 cats", "@SUM", "a puma"], "SAMPLE_ID": list("abcde")}
    )
    written = pd.read_csv(pd.io.common.BytesIO(encode_export(table, "csv")))
    assert written["TEXT"].tolist() == ["'=HYPERLINK(1)", "'+1", "'-2 cats", "'@SUM", "a puma"]
    assert [unescape_formula_cell(v) for v in written["TEXT"]] == table["TEXT"].tolist()
    parquet = pd.read_parquet(pd.io.common.BytesIO(encode_export(table, "parquet")))
    assert parquet["TEXT"].tolist() == table["TEXT"].tolist()  # parquet is data, not a sheet


@pytest.mark.parametrize("labels_format", ["parquet", "csv"])
def test_round_trip_joins_ids_counts_failures_carries_nsfw_and_never_reselects(
    built, tmp_path, caplog, labels_format
) -> None:
    db, out, checkpoint = built
    export = pd.read_parquet(out)
    assert len(export) >= 20 and export["NSFW"].nunique() == 2
    labels = out
    if labels_format == "csv":
        labels = tmp_path / "laionet.csv"
        argv = ["export", "--db", str(db), "--threshold", "-0.99", "--keep-nsfw"]
        assert precompute_main([*argv, "--format", "csv", "--out", str(labels)]) == 0
    failed = set(range(0, len(export), 3))
    images = write_img2dataset_output(tmp_path / "images", export, failed=failed)
    name = f"downloaded-{labels_format}"
    with caplog.at_level(logging.INFO):
        assert _add(db, checkpoint, name, images, labels) == 0
    kept = export.drop(index=sorted(failed))
    con = duckdb.connect(str(db), read_only=True)
    samples = queries.read_samples(con, name).set_index("sample_id")
    rejected = con.execute("SELECT * FROM rejected WHERE dataset = ?", [name]).df()
    info = queries.read_dataset_info(con, name)
    metrics = con.execute(
        "SELECT dataset, sum(n) AS n FROM class_metrics WHERE dataset LIKE ? "
        "AND metric = 'image_similarity' GROUP BY 1",
        [f"{name}%"],
    ).df()
    con.close()
    # Ids join back to the LAIONet rows; wnid and NSFW are the export's.
    assert sorted(samples.index) == sorted(kept["SAMPLE_ID"])
    by_id = kept.set_index("SAMPLE_ID")
    assert (samples["wnid"] == by_id.loc[samples.index, "wnid"]).all()
    assert (samples["nsfw"] == by_id.loc[samples.index, "NSFW"]).all()
    # Failed downloads are rejected rows with img2dataset's reason; nothing is lost.
    assert sorted(rejected["sample_id"]) == sorted(export.iloc[sorted(failed)]["SAMPLE_ID"])
    assert (rejected["reason"] == f"failed_to_download: {DNS_ERROR}").all()
    assert len(samples) + len(rejected) == len(export)
    download = info["parameters"]["download"]
    assert download["downloaded"] == len(kept) and download["rows"] == len(export)
    assert download["downloaded_share"] == pytest.approx(len(kept) / len(export))
    assert f"downloaded {len(kept)} of {len(export)} rows" in caplog.text
    source = info["parameters"][SELECTION_SOURCE]
    assert source["dataset"] == "laionet" and source["export_rows"] == len(export)
    assert source["selection"]["threshold"] == pytest.approx(-0.99)
    # Not re-selected: metrics cover every downloaded sample, under the plain name only.
    assert metrics.set_index("dataset")["n"].to_dict() == {name: len(kept)}
    share = f"downloaded {len(kept)} of {len(export)} exported rows"
    assert describe_download(info["parameters"]).startswith(share)  # the Compare page's line
