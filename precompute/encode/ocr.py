"""Recognise the text in downloaded images (webdataset shards) with Tesseract.

The TMLR paper drops a LAIONet sample whose image text names its class. This step reads
img2dataset's ``.tar`` shards (``<key>.jpg`` with ``<key>.json``), runs Tesseract
(Debian's ``tesseract-ocr`` through ``pytesseract``) on every image in worker
processes, and writes ``SAMPLE_ID, ocr_text, error`` to one parquet file, atomically.
An image that cannot be decoded gets a null text and its reason in ``error``.
"""

from __future__ import annotations

import io
import json
import logging
import tarfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from laionet_core.files import open_atomically

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
OCR_SCHEMA = pa.schema(
    [("SAMPLE_ID", pa.string()), ("ocr_text", pa.string()), ("error", pa.string())]
)
# Images per task sent to a worker: large enough to amortise the process hop.
TASK_IMAGES = 32


def list_shards(path: Path) -> list[Path]:
    """One ``.tar`` shard or every ``*.tar`` under a folder, sorted.

    Raises:
        ValueError: No shard there.
    """
    shards = sorted(path.glob("*.tar")) if path.is_dir() else [path]
    if not shards or not all(s.is_file() for s in shards):
        raise ValueError(f"--images {path}: expected a .tar shard or a folder of them")
    return shards


def iter_shard_images(shard: Path) -> Iterator[tuple[str, bytes]]:
    """``(sample id, image bytes)`` per image of a shard; the id is the json's
    ``SAMPLE_ID``, else its ``key``, else the member name without suffix.

    Raises:
        ValueError: The shard is not a readable tar (the file is named).
    """
    try:
        with tarfile.open(shard, mode="r:") as tar:
            images: dict[str, bytes] = {}
            ids: dict[str, str] = {}
            for member in tar:
                if not member.isfile():
                    continue
                stem, _, suffix = member.name.rpartition(".")
                data = tar.extractfile(member).read()
                if "." + suffix.lower() in IMAGE_SUFFIXES:
                    images[stem] = data
                elif suffix == "json":
                    meta = json.loads(data)
                    sample = meta.get("SAMPLE_ID", meta.get("key"))
                    if sample is not None:
                        ids[stem] = str(sample)
    except (tarfile.TarError, OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{shard}: not a readable webdataset shard: {error}") from error
    for stem, data in images.items():
        yield ids.get(stem, Path(stem).name), data


def recognise_images(
    batch: Sequence[tuple[str, bytes]],
) -> list[tuple[str, str | None, str | None]]:
    """Tesseract's text per image: ``(sample id, text, error)``.

    Raises:
        FileNotFoundError: Tesseract is not installed (the message says how to install it).
    """
    import pytesseract

    out = []
    for sample_id, data in batch:
        try:
            with Image.open(io.BytesIO(data)) as image:
                text = pytesseract.image_to_string(image.convert("RGB"))
            out.append((sample_id, " ".join(text.split()), None))
        except pytesseract.TesseractNotFoundError as error:
            raise FileNotFoundError(
                "Tesseract is not installed: apt-get install tesseract-ocr (Debian), "
                "then pip install pytesseract"
            ) from error
        except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
            out.append((sample_id, None, f"{type(error).__name__}: {error}"))
    return out


def _batches(shards: Sequence[Path]) -> Iterator[list[tuple[str, bytes]]]:
    for shard in shards:
        batch: list[tuple[str, bytes]] = []
        for item in iter_shard_images(shard):
            batch.append(item)
            if len(batch) == TASK_IMAGES:
                yield batch
                batch = []
        if batch:
            yield batch


def recognise_shards(images: Path, out: Path, *, workers: int = 1) -> int:
    """OCR every image of the shards under ``images`` into ``out`` (parquet).

    Returns:
        Images read.

    Raises:
        ValueError: No shards, or a bad shard.
        FileNotFoundError: Tesseract is not installed.
    """
    if workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    shards = list_shards(images)
    rows: list[tuple[str, str | None, str | None]] = []
    bar = tqdm(unit="image", desc="ocr")
    try:
        if workers == 1:
            results = map(recognise_images, _batches(shards))
            for result in results:
                rows.extend(result)
                bar.update(len(result))
        else:
            with ProcessPoolExecutor(workers) as pool:
                for result in pool.map(recognise_images, _batches(shards)):
                    rows.extend(result)
                    bar.update(len(result))
    finally:
        bar.close()
    columns = list(zip(*rows, strict=True)) if rows else [[], [], []]
    table = pa.table(dict(zip(OCR_SCHEMA.names, columns, strict=True)), schema=OCR_SCHEMA)
    _write_atomically(table, out)
    failed = sum(1 for r in rows if r[2] is not None)
    logger.info(
        "ocr: %d images from %d shards, %d undecodable -> %s", len(rows), len(shards), failed, out
    )
    return len(rows)


def _write_atomically(table: pa.Table, out: Path) -> None:
    with open_atomically(out) as handle:
        pq.write_table(table, handle)
