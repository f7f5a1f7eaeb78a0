"""img2dataset's webdataset output, written for tests the way img2dataset writes it.

Other tests import it as ``from tests.img2dataset_output import ...``. Written from
img2dataset's writer and downloader (webdataset output format), with no network:

* the input's URL and caption columns are renamed ``url`` and ``caption``; every
  ``--save_additional_columns`` column keeps its name;
* key = shard id * 10^ceil(log10(number_sample_per_shard)) + row in shard, zero-padded
  to that many digits plus ``oom_shard_count`` (5);
* ``<shard>.tar`` holds ``<key>.jpg``, ``<key>.txt`` (caption) and ``<key>.json`` (the
  meta dict, ``json.dumps(meta, indent=4)``) for each downloaded image only;
* ``<shard>.parquet`` holds the meta of EVERY row (``status`` ``success`` or
  ``failed_to_download`` with ``error_message``), and ``<shard>_stats.json`` the counts.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import tarfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tests.reference_layouts import make_jpeg

OOM_SHARD_COUNT = 5  # img2dataset's default
DNS_ERROR = "<urlopen error [Errno -2] Name or service not known>"


def _add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _meta(row: dict, key: str, failed: bool, image: bytes) -> dict:
    meta = dict(row)
    meta |= {
        "key": key,
        "status": "failed_to_download" if failed else "success",
        "error_message": DNS_ERROR if failed else None,
        "width": None if failed else 48,
        "height": None if failed else 40,
        "original_width": None if failed else 48,
        "original_height": None if failed else 40,
        "exif": None if failed else "{}",
        "sha256": None if failed else hashlib.sha256(image).hexdigest(),
    }
    return meta


def _schema(frame: pd.DataFrame) -> pa.Schema:
    """The input's columns, then what img2dataset's downloader appends."""
    fields = [
        pa.field(c, pa.Schema.from_pandas(frame[[c]], preserve_index=False)[0].type) for c in frame
    ]
    fields += [pa.field(c, pa.string()) for c in ("key", "status", "error_message")]
    fields += [
        pa.field(c, pa.int32()) for c in ("width", "height", "original_width", "original_height")
    ]
    fields += [pa.field("exif", pa.string()), pa.field("sha256", pa.string())]
    return pa.schema(fields)


def write_img2dataset_output(
    folder: Path,
    export: pd.DataFrame,
    *,
    failed: set[int],
    save_additional_columns: tuple[str, ...] = ("wnid", "SAMPLE_ID", "NSFW", "text_similarity"),
    number_sample_per_shard: int = 10,
) -> Path:
    """Write what ``img2dataset --output_format webdataset`` makes of ``export``.

    Args:
        folder: The ``--output_folder``.
        export: The ``--url_list`` table (``URL``, ``TEXT`` and the saved columns).
        failed: Row positions whose download fails (DNS error).
        save_additional_columns: ``--save_additional_columns``.
        number_sample_per_shard: ``--number_sample_per_shard``.

    Returns:
        ``folder``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    oom = math.ceil(math.log10(number_sample_per_shard))
    inputs = export.rename(columns={"URL": "url", "TEXT": "caption"})
    inputs = inputs.loc[:, ["url", "caption", *save_additional_columns]]
    schema = _schema(inputs)
    for shard_id, start in enumerate(range(0, len(inputs), number_sample_per_shard)):
        name = f"{shard_id:0{OOM_SHARD_COUNT}d}"
        rows, metas = inputs.iloc[start : start + number_sample_per_shard], []
        with tarfile.open(folder / f"{name}.tar", "w") as tar:
            for offset, row in enumerate(rows.to_dict("records")):
                key = f"{shard_id * 10**oom + offset:0{oom + OOM_SHARD_COUNT}d}"
                image = make_jpeg(start + offset)
                meta = _meta(row, key, (start + offset) in failed, image)
                metas.append(meta)
                if meta["status"] == "success":
                    _add_member(tar, f"{key}.jpg", image)
                    _add_member(tar, f"{key}.txt", str(row["caption"]).encode())
                    _add_member(tar, f"{key}.json", json.dumps(meta, indent=4).encode())
        table = pa.Table.from_pylist(metas, schema=schema)
        pq.write_table(table, folder / f"{name}.parquet")
        successes = sum(m["status"] == "success" for m in metas)
        stats = {
            "count": len(metas),
            "successes": successes,
            "failed_to_download": len(metas) - successes,
            "failed_to_resize": 0,
            "status_dict": {"success": successes, DNS_ERROR: len(metas) - successes},
        }
        (folder / f"{name}_stats.json").write_text(json.dumps(stats, indent=4))
    return folder
