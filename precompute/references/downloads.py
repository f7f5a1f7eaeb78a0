"""A downloaded export coming back: failed downloads, link rot, and where the rows came from.

``add-reference --kind webdataset`` on img2dataset's output of an export
(``laionet_core.export``) records, in the dataset's ``parameters``:

* ``download``: rows img2dataset tried, how many it downloaded, how many failed, and the
  downloaded share (web links of LAION-era datasets decay at roughly 1% a month);
* ``selection_source`` (``laionet_core.export.SELECTION_SOURCE``): the export's dataset,
  database, selection and row count, when the images come from an export. Such a dataset
  is a subset of a selection already made, so its class metrics cover every downloaded
  sample and are never selected again (``precompute.analyses.class_metrics``).

Failed downloads (img2dataset's per-shard parquet, ``status`` other than ``success``)
become rejected rows with img2dataset's ``error_message``, so downloaded + rejected =
rows of the export.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from laionet_core.export import SELECTION_SOURCE
from precompute.ingest.reference_layouts import ReferenceItem
from precompute.ingest.webdataset import DOWNLOADED, Labels, read_download_outcomes

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DownloadRecord:
    """What img2dataset did with an export, for the rejected table and the parameters.

    Attributes:
        rejected: Failed rows: source (``<shard>.parquet:<key>``), sample_id, reason.
        parameters: ``download`` and, for an export, ``SELECTION_SOURCE`` entries.
    """

    rejected: pd.DataFrame
    parameters: dict = field(default_factory=dict)


def _selection_source(labels: Labels | None, items: Sequence[ReferenceItem]) -> dict | None:
    """Where a downloaded selection came from, or None when the images are no export's."""
    saved_ids = any(item.key is not None and item.key != item.sample_id for item in items)
    if labels is None or not labels.is_export:
        return {"export": None, "note": "SAMPLE_ID saved by img2dataset"} if saved_ids else None
    manifest = labels.manifest or {}
    return {
        "export_rows": labels.rows,
        "dataset": manifest.get("dataset"),
        "database": manifest.get("database"),
        "selection": manifest.get("selection"),
        "encoder": manifest.get("encoder"),
    }


def read_download_record(
    path: Path, items: Sequence[ReferenceItem], labels: Labels | None, *, labels_path: Path | None
) -> DownloadRecord:
    """Read img2dataset's per-shard parquets beside the tars and log the downloaded share.

    Args:
        path: The shard or folder given as ``--images``.
        items: The downloaded samples read from the tars.
        labels: ``--labels``, when given.
        labels_path: Its path, recorded with the source.

    Returns:
        The failed rows as rejected rows, and the parameters to record.

    Raises:
        ValueError: A downloaded image whose row is missing from the parquets, or
            whose row there is not ``success``.
    """
    outcomes, without_parquet = read_download_outcomes(path)
    if without_parquet:
        logger.warning(
            "%d shard(s) have no img2dataset parquet beside them (e.g. %s): failed downloads "
            "are unknown, so the downloaded share is not measured",
            len(without_parquet),
            without_parquet[0],
        )
    downloaded = outcomes[outcomes["status"] == DOWNLOADED]
    missing = {item.key or item.sample_id for item in items} - set(downloaded["key"])
    if not without_parquet and missing:
        raise ValueError(
            f"{path}: {len(missing)} downloaded image(s) have no 'success' row in the shards' "
            f"parquet, e.g. key {sorted(missing)[0]}"
        )
    failed = outcomes[outcomes["status"] != DOWNLOADED]
    rejected = failed.loc[:, ["source", "sample_id", "reason"]].reset_index(drop=True)
    parameters: dict = {}
    source = _selection_source(labels, items)
    if source is not None:
        source["labels"] = str(labels_path.resolve()) if labels_path else None
        parameters[SELECTION_SOURCE] = source
    if not without_parquet:
        parameters["download"] = _log_download_share(len(outcomes), len(items), len(failed), source)
    return DownloadRecord(rejected, parameters)


def _log_download_share(rows: int, downloaded: int, failed: int, source: dict | None) -> dict:
    """Log the downloaded share (link rot) and return it for the parameters."""
    share = downloaded / rows if rows else 0.0
    logger.info(
        "downloaded %d of %d rows (%.1f%%); %d failed (link rot and errors)",
        downloaded,
        rows,
        100 * share,
        failed,
    )
    exported = (source or {}).get("export_rows")
    if exported is not None and exported != rows:
        logger.warning(
            "img2dataset tried %d rows but the export has %d: are shards missing or "
            "still downloading?",
            rows,
            exported,
        )
    return {"rows": rows, "downloaded": downloaded, "failed": failed, "downloaded_share": share}
