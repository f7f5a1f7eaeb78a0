"""img2dataset's webdataset output, read back: images, ids, labels and failed downloads.

img2dataset writes, per shard, ``<shard>.tar`` (``<key>.jpg``, ``<key>.txt``,
``<key>.json`` for each downloaded image) and ``<shard>.parquet`` with one row per input
row, downloaded or not (``key, status, error_message`` and the saved columns), plus
``<shard>_stats.json``. The json of a sample holds ``url``, ``caption``, ``key``,
``status``, image sizes, and every ``--save_additional_columns`` column: an export of this
project saves ``wnid, SAMPLE_ID, NSFW, text_similarity`` (``laionet_core.export``).

* The sample id is the saved ``SAMPLE_ID`` when there is one (so the images join back to
  the LAIONet rows), else img2dataset's ``key``; the key is kept on the item.
* ``--labels`` is a parquet of ``key, wnid``, or the export file itself (parquet or CSV
  with ``SAMPLE_ID``/``URL`` and ``wnid``), joined by SAMPLE_ID, else by URL.
* Rows of the per-shard parquets whose ``status`` is not ``success`` become rejected rows
  with img2dataset's ``error_message`` (``read_download_outcomes``).
"""

from __future__ import annotations

import json
import logging
import math
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from laionet_core.export import EXPORT_COLUMNS, manifest_path_for, unescape_formula_cell
from laionet_core.vocabulary import load_imagenet_vocabulary
from precompute.ingest.images import FileSlice
from precompute.ingest.laion import format_sample_key
from precompute.ingest.reference_layouts import IMAGE_EXTENSIONS, WNID_PATTERN, ReferenceItem

logger = logging.getLogger(__name__)

DOWNLOADED = "success"  # img2dataset's status of a row whose image was written
SAMPLE_ID_FIELD = EXPORT_COLUMNS["sample_id"]
URL_FIELD = EXPORT_COLUMNS["url"]
NSFW_FIELD = EXPORT_COLUMNS["nsfw"]


@dataclass(frozen=True)
class Labels:
    """What ``--labels`` gives: wnids (and NSFW tags) by key, SAMPLE_ID or URL.

    Attributes:
        by_key: img2dataset key -> wnid (a ``key, wnid`` parquet).
        by_id: SAMPLE_ID -> wnid (an export).
        by_url: URL -> wnid (an export).
        nsfw_by_id: SAMPLE_ID -> NSFW tag (an export).
        manifest: The export's manifest beside it, when there is one.
        rows: Rows of the labels file.
    """

    by_key: dict[str, str]
    by_id: dict[str, str]
    by_url: dict[str, str]
    nsfw_by_id: dict[str, str]
    manifest: dict | None
    rows: int

    @property
    def is_export(self) -> bool:
        """True for an export file of this project (joined by SAMPLE_ID or URL)."""
        return bool(self.by_id or self.by_url)


def _read_table(path: Path) -> pd.DataFrame:
    """A parquet or CSV file (an export in either format, or a ``key, wnid`` parquet)."""
    if path.suffix.lower() == ".csv":
        table = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        return table.map(unescape_formula_cell)
    return pd.read_parquet(path)


def read_labels(path: str | Path) -> Labels:
    """Read ``--labels``: a ``key, wnid`` parquet or an export of this project.

    Raises:
        ValueError: The file has no ``wnid`` column, or neither ``key``, ``SAMPLE_ID``
            nor ``URL`` to join on (columns found are listed).
    """
    path = Path(path)
    table = _read_table(path)
    columns = set(table.columns)
    joins = {"key", SAMPLE_ID_FIELD, URL_FIELD} & columns
    if "wnid" not in columns or not joins:
        raise ValueError(
            f"{path}: expected a wnid column and key, SAMPLE_ID or URL to join on; got "
            f"{list(table.columns)}"
        )
    wnids = table["wnid"].astype(str).tolist()
    ids = {
        name: [format_sample_key(v, file_stem=path.stem, row=i) for i, v in enumerate(table[name])]
        for name in ("key", SAMPLE_ID_FIELD, URL_FIELD)
        if name in columns
    }

    def column(name: str) -> dict[str, str]:
        return dict(zip(ids[name], wnids, strict=True)) if name in ids else {}

    nsfw = {}
    if NSFW_FIELD in columns and SAMPLE_ID_FIELD in ids:
        tags = [None if pd.isna(v) else str(v) for v in table[NSFW_FIELD]]
        nsfw = dict(zip(ids[SAMPLE_ID_FIELD], tags, strict=True))
    manifest_file = manifest_path_for(path)
    manifest = None
    if manifest_file.is_file():
        try:
            manifest = json.loads(manifest_file.read_text("utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{manifest_file}: not valid JSON ({error})") from error
    return Labels(
        column("key"), column(SAMPLE_ID_FIELD), column(URL_FIELD), nsfw, manifest, len(table)
    )


def list_webdataset_shards(path: str | Path) -> list[Path]:
    """One ``.tar`` shard, or the ``*.tar`` of a folder, sorted.

    Raises:
        ValueError: No shard there.
    """
    path = Path(path)
    shards = sorted(path.glob("*.tar")) if path.is_dir() else [path]
    if not shards or not shards[0].is_file():
        raise ValueError(f"{path}: expected a .tar shard or a folder of them")
    return shards


def _label_to_wnid(meta: dict, where: str, wnids: Sequence[str]) -> str | None:
    wnid = meta.get("wnid")
    if isinstance(wnid, str) and WNID_PATTERN.match(wnid):
        return wnid
    label = meta.get("label")
    if isinstance(label, str) and WNID_PATTERN.match(label):
        return label
    if isinstance(label, int) and not isinstance(label, bool) and 0 <= label < len(wnids):
        return wnids[label]
    if wnid is not None or label is not None:
        raise ValueError(f"{where}: wnid={wnid!r} label={label!r}; expected a wnid or 0-999")
    return None


def _read_tar_groups(shard: Path) -> dict[str, dict[str, Any]]:
    """``{key: {"image": FileSlice, "json": str, "txt": str}}`` of one tar shard."""
    groups: dict[str, dict[str, Any]] = {}
    try:
        with tarfile.open(shard, mode="r:") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                key, _, ext = member.name.rpartition(".")
                group = groups.setdefault(key, {})
                if "." + ext.lower() in IMAGE_EXTENSIONS:
                    group["image"] = FileSlice(str(shard), member.offset_data, member.size)
                elif ext in ("json", "txt"):
                    group[ext] = tar.extractfile(member).read().decode("utf-8")
    except (tarfile.TarError, UnicodeDecodeError) as e:
        raise ValueError(f"{shard}: not a readable webdataset tar shard: {e}") from e
    return groups


def _find_wnid(
    meta: dict, ids: tuple[str, str, str | None], labels: Labels | None, where: str
) -> str:
    """The sample's class: ``--labels`` first (by key, SAMPLE_ID, then URL), then the json."""
    key, sample_id, url = ids
    if labels is not None:
        found = labels.by_key.get(key) or labels.by_id.get(sample_id)
        found = found or (labels.by_url.get(url) if url else None)
        if found is not None:
            return found
        if labels.is_export:
            raise ValueError(
                f"{where}: SAMPLE_ID {sample_id!r} / URL {url!r} is not in the --labels export"
            )
    wnid = _label_to_wnid(meta, where, load_imagenet_vocabulary().wnids)
    if wnid is None:
        raise ValueError(f"{where}: no wnid; expected a json 'wnid'/'label' or --labels")
    return wnid


def _item_from_group(
    shard: Path, key: str, group: dict[str, Any], labels: Labels | None
) -> ReferenceItem:
    """One downloaded sample as a ``ReferenceItem`` (SAMPLE_ID as its id when saved)."""
    where = f"{shard}:{key}"
    try:
        meta = json.loads(group["json"]) if "json" in group else {}
    except (json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"{where}.json: not valid JSON ({error})") from error
    if not isinstance(meta, dict):
        raise ValueError(f"{where}.json: expected a JSON object, got {type(meta).__name__}")
    sample_key = str(meta.get("key") or Path(key).name)
    sample_id = _id_or_key(meta.get(SAMPLE_ID_FIELD), sample_key)
    url = meta.get("url")
    wnid = _find_wnid(meta, (sample_key, sample_id, url), labels, where)
    nsfw = meta.get(NSFW_FIELD)
    nsfw = None if nsfw is None or (isinstance(nsfw, float) and math.isnan(nsfw)) else str(nsfw)
    if nsfw is None and labels is not None:
        nsfw = labels.nsfw_by_id.get(sample_id)
    text = meta.get("caption") or group.get("txt")
    return ReferenceItem(sample_id, wnid, group["image"], url, text, nsfw=nsfw, key=sample_key)


def read_webdataset_shards(
    path: str | Path, *, labels: str | Path | Labels | None = None
) -> list[ReferenceItem]:
    """Read img2dataset webdataset shards (one ``.tar`` file or a folder of them).

    Images are referenced as ``FileSlice``s into the tar, so nothing is held in memory.

    Args:
        path: A shard or a folder of ``*.tar``.
        labels: ``--labels`` (a path or ``read_labels``'s result); it wins over the json.

    Returns:
        One item per downloaded image, with SAMPLE_ID as its id when img2dataset saved
        it (img2dataset's key on ``item.key``) and NSFW when saved.

    Raises:
        ValueError: No shards, a bad shard or json, a sample with no wnid anywhere, a
            sample missing from an export given as labels, or a bad labels file.
    """
    if labels is not None and not isinstance(labels, Labels):
        labels = read_labels(labels)
    items = []
    for shard in list_webdataset_shards(path):
        for key, group in _read_tar_groups(shard).items():
            if "image" in group:
                items.append(_item_from_group(shard, key, group, labels))
    return items


def _id_or_key(value: object, key: str) -> str:
    """The saved SAMPLE_ID as text, or img2dataset's key when none was saved."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return key
    return format_sample_key(value, file_stem=key, row=0)


def _read_shard_outcomes(parquet: Path) -> pd.DataFrame:
    """One per-shard parquet as ``source, sample_id, key, status, reason`` rows."""
    table = pd.read_parquet(parquet)
    if not {"key", "status"} <= set(table.columns):
        raise ValueError(
            f"{parquet}: expected img2dataset's key and status columns; got {list(table.columns)}"
        )
    keys = table["key"].astype(str).tolist()
    n = len(keys)
    raw = table[SAMPLE_ID_FIELD].tolist() if SAMPLE_ID_FIELD in table else [None] * n
    errors = table["error_message"].tolist() if "error_message" in table else [None] * n
    status = table["status"].astype(str).tolist()
    return pd.DataFrame(
        {
            "source": [f"{parquet}:{k}" for k in keys],  # the row, by img2dataset's key
            "sample_id": [_id_or_key(v, k) for v, k in zip(raw, keys, strict=True)],
            "key": keys,
            "status": status,
            "reason": [
                f"{s}: {e}" if isinstance(e, str) and e else s
                for s, e in zip(status, errors, strict=True)
            ],
        }
    )


def read_download_outcomes(path: str | Path) -> tuple[pd.DataFrame, list[Path]]:
    """Every input row img2dataset tried, from the per-shard parquet beside each tar.

    Args:
        path: A shard or a folder of ``*.tar``.

    Returns:
        ``(outcomes, shards without a parquet)``: outcomes has ``source, sample_id, key,
        status, reason`` (source ``<shard>.parquet:<key>``, so img2dataset's key is
        kept; sample_id the saved SAMPLE_ID, else the key; reason
        ``<status>: <error_message>``).

    Raises:
        ValueError: A parquet without img2dataset's ``key`` and ``status`` columns.
    """
    frames, missing = [], []
    for shard in list_webdataset_shards(path):
        parquet = shard.with_suffix(".parquet")
        if parquet.is_file():
            frames.append(_read_shard_outcomes(parquet))
        else:
            missing.append(shard)
    columns = ["source", "sample_id", "key", "status", "reason"]
    outcomes = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
    return outcomes, missing
