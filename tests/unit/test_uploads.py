"""Uploaded prediction files: read and checked inside one error boundary.

Every failure is an ``UploadError`` with one bounded line that names the file, column or
value; unknown wnids are reported with counts; wide files are refused before loading.
"""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laionet_core.messages import MAX_MESSAGE_CHARS
from laionet_core.uploads import (
    MAX_HEADER_BYTES,
    MAX_UPLOAD_COLUMNS,
    UploadError,
    parse_prediction_upload,
)

CLASSES = ["n01", "n02", "n03", "n04", "n05", "n06"]
TRUTH = {
    "laionet": pd.Series(["n01", "n02", "n03"], index=["s1", "s2", "s3"], name="wnid"),
    "imagenet-val": pd.Series(["n04", "n05"], index=["v1", "v2"], name="wnid"),
}


def _parse(data: bytes, name: str = "preds.csv") -> pd.DataFrame:
    return parse_prediction_upload(
        data,
        name,
        datasets=list(TRUTH),
        read_truth=TRUTH.__getitem__,
        classes=CLASSES,
        default_dataset="laionet",
    )


def _refused(data: bytes, name: str = "preds.csv") -> str:
    with pytest.raises(UploadError) as caught:
        _parse(data, name)
    message = str(caught.value)
    assert "\n" not in message and len(message) <= MAX_MESSAGE_CHARS
    assert "Traceback" not in message
    return message


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


GOOD = pd.DataFrame(
    {
        "sample_id": ["s1", "s2", "s3"],
        **{f"pred_{i}": [f"n0{i}"] * 3 for i in range(1, 6)},
        "junk": ["x", "y", "z"],
    }
)


def test_a_good_csv_is_read_with_only_the_prediction_columns() -> None:
    parsed = _parse(_csv(GOOD))
    assert parsed["sample_id"].tolist() == ["s1", "s2", "s3"]
    assert parsed["wnid"].tolist() == ["n01", "n02", "n03"]
    assert parsed["top5_wnids"].iloc[0] == ["n01", "n02", "n03", "n04", "n05"]
    assert set(parsed["dataset"]) == {"laionet"}


def test_a_good_parquet_with_top5_lists_and_datasets() -> None:
    table = pa.table(
        {
            "dataset": ["laionet", "imagenet-val"],
            "sample_id": ["s2", "v1"],
            "top5": [["n02", "n01", "n03", "n04", "n05"], ["n01", "n04", "n02", "n03", "n05"]],
        }
    )
    parsed = _parse(_parquet(table), "preds.parquet").sort_values("sample_id")
    assert parsed["dataset"].tolist() == ["laionet", "imagenet-val"]
    assert parsed["wnid"].tolist() == ["n02", "n04"]


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        (b"", "preds.csv", "'preds.csv' is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "preds.csv", "not a text file"),
        (b"sample_id,pred_1\n\xff\xfe", "preds.parquet", "not a parquet file"),
        (b"\xff\xfe\xfa,b\n1,2\n", "preds.csv", "not UTF-8 text"),
        (b"sample_id\ns1\n", "preds.xlsx", "must be .parquet, .csv or .tsv"),
        (b"id,pred_1\ns1,n01\n", "preds.csv", "no 'sample_id' column"),
        (b"sample_id,pred_1\ns1,n01\n", "preds.csv", "needs 'top5', 'pred_1'..'pred_5'"),
    ],
)
def test_empty_binary_and_mislabelled_files_get_one_named_line(
    data: bytes, name: str, expected: str
) -> None:
    assert expected in _refused(data, name)


def test_a_parquet_file_named_csv_is_refused_as_binary() -> None:
    table = pa.Table.from_pandas(GOOD.drop(columns="junk"), preserve_index=False)
    assert "not a text file" in _refused(_parquet(table), "preds.csv")


def test_unknown_wnids_are_reported_with_counts() -> None:
    frame = GOOD.drop(columns="junk").assign(pred_5=["nBAD", "nBAD", "nOTHER"])
    message = _refused(_csv(frame))
    assert "2 predicted wnid(s) are not classes of the database, in 3 predictions" in message
    assert "'nBAD' ×2" in message and "'nOTHER' ×1" in message


def test_unknown_datasets_and_samples_are_named() -> None:
    assert "['elsewhere'] not in the database" in _refused(_csv(GOOD.assign(dataset="elsewhere")))
    other = GOOD.assign(sample_id=["s1", "s2", "s9"])
    assert "sample_id 's9' is not in dataset 'laionet'" in _refused(_csv(other))


def test_wide_files_are_refused_before_loading() -> None:
    wide = pa.table({f"c{i}": pa.array([0], pa.int8()) for i in range(10_000)})
    message = _refused(_parquet(wide), "wide.parquet")
    assert f"has 10,000 columns; a prediction table has at most {MAX_UPLOAD_COLUMNS}" in message
    header = ",".join(["sample_id", *(f"c{i}" for i in range(10_000))]).encode()
    assert "has 10,001 columns" in _refused(header + b"\n" + b"0," * 10_000 + b"0\n")
    assert "header line is longer" in _refused(b"x" * (MAX_HEADER_BYTES + 10))


def test_messages_quoting_huge_values_are_bounded() -> None:
    huge = "s" + "9" * 100_000
    message = _refused(_csv(GOOD.assign(sample_id=["s1", "s2", huge])))
    assert "is not in dataset 'laionet'" in message
    columns = pd.DataFrame({f"column_{i}_" + "x" * 1000: [1] for i in range(40)})
    assert "no 'sample_id' column" in _refused(_csv(columns))


def test_an_unexpected_error_names_its_type_but_no_server_path() -> None:
    def broken(dataset: str) -> pd.Series:
        raise RuntimeError("/srv/laionet/private/db.duckdb is locked")

    with pytest.raises(UploadError) as caught:
        parse_prediction_upload(
            _csv(GOOD),
            "preds.csv",
            datasets=list(TRUTH),
            read_truth=broken,
            classes=CLASSES,
            default_dataset="laionet",
        )
    assert str(caught.value) == "'preds.csv' could not be read (RuntimeError)"


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=400),
    name=st.sampled_from(["p.csv", "p.tsv", "p.parquet", "p.bin", "p"]),
    prefix=st.sampled_from([b"", b"sample_id,pred_1,pred_2,pred_3,pred_4,pred_5\n", b"PAR1"]),
)
def test_any_bytes_give_a_table_or_one_bounded_upload_error(
    data: bytes, name: str, prefix: bytes
) -> None:
    try:
        parsed = _parse(prefix + data, name)
    except UploadError as error:
        assert "\n" not in str(error) and len(str(error)) <= MAX_MESSAGE_CHARS
    else:
        assert set(parsed.columns) == {"dataset", "sample_id", "top5_wnids", "wnid"}
