"""Readers for reference datasets: each layout -> a list of ``ReferenceItem``.

Layouts (``kind``):
    imagenet-val       ``<root>/<wnid>/<file>`` (ImageNet validation sorted into folders)
    imagenet-val-flat  ``<root>/ILSVRC2012_val_00000001.JPEG ...`` + the devkit's
                       ``ILSVRC2012_validation_ground_truth.txt`` (devkit ids 1..1000, in
                       meta.mat order, NOT class-index order) + ``meta.mat`` or a plain
                       mapping file of ``<ILSVRC2012_ID> <wnid>`` lines
    imagenetv2         ``<root>/<class_index 0-999>/<file>`` (ILSVRC class-index order)
    folder             ``<root>/<wnid>/<file>`` (any wnids of the vocabulary)
    webdataset         ``.tar`` shards as img2dataset writes them (``<key>.jpg``,
                       ``<key>.txt``, ``<key>.json``, and ``<shard>.parquet``); read by
                       ``precompute.ingest.webdataset``
    imagenet-captions  the ImageNet-Captions JSON list (filename, title, description,
                       tags, wnid); images under ``<images_root>/<wnid>/<filename>``

``precompute.references.datasets`` encodes and scores the items.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from laionet_core import schema
from laionet_core.vocabulary import load_imagenet_vocabulary
from precompute.ingest.images import ImageSource

logger = logging.getLogger(__name__)

REFERENCE_KINDS = (
    "imagenet-val",
    "imagenet-val-flat",
    "imagenetv2",
    "folder",
    "webdataset",
    "imagenet-captions",
)
# datasets.kind a reference layout may take: not text-matched, whose text_similarity is
# caption-to-caption (the 0.7 rule), while a layout's is caption-to-synset.
REFERENCE_DATASET_KINDS = tuple(k for k in schema.DATASET_KINDS if k != schema.KIND_TEXT_MATCHED)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif")  # what we try to decode
WNID_PATTERN = re.compile(r"^n\d{8}$")  # WordNet noun id
FLAT_VAL_PATTERN = re.compile(r"^ILSVRC2012_val_(\d{8})\.JPEG$", re.IGNORECASE)  # 1-based index
NUM_DEVKIT_CLASSES = 1000  # devkit ILSVRC2012_IDs 1..1000 are the leaf classes


@dataclass(frozen=True)
class ReferenceItem:
    """One reference sample before encoding.

    Attributes:
        sample_id: Unique within the dataset (relative path, file name or shard key).
        wnid: The sample's class.
        source: Image path, bytes or tar-member slice; None for text-only items.
        url: Original URL when known (webdataset), else None.
        text: Caption when known (webdataset, ImageNet-Captions), else None.
        nsfw: LAION's NSFW tag when the layout carries it (webdataset), else None.
        key: img2dataset's key when the id is another (the saved SAMPLE_ID), else None.
    """

    sample_id: str
    wnid: str
    source: ImageSource | None
    url: str | None = None
    text: str | None = None
    nsfw: str | None = None
    key: str | None = None


def _require_dir(root: str | Path) -> Path:
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: expected a folder of images")
    return root


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)


def read_class_folders(root: str | Path, *, class_names: str = "wnid") -> list[ReferenceItem]:
    """Read ``<root>/<class>/<file>`` where each class folder is a wnid or a class index.

    Args:
        root: The folder.
        class_names: ``"wnid"`` (imagenet-val, folder) or ``"index"`` (ImageNetV2: 0-999
            in ILSVRC class-index order).

    Returns:
        Items sorted by folder then file; sample_id is ``<class folder>/<file name>``.

    Raises:
        ValueError: Not a folder, no class folders, or a folder name that is not allowed.
    """
    root = _require_dir(root)
    wnids = load_imagenet_vocabulary().wnids if class_names == "index" else None
    items = []
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    if not folders:
        raise ValueError(f"{root}: expected one sub-folder per class, found none")
    for folder in folders:
        if wnids is not None:
            if not folder.name.isdigit() or not 0 <= int(folder.name) < len(wnids):
                last = len(wnids) - 1
                raise ValueError(
                    f"{folder}: class folder {folder.name!r} is not a class index 0-{last}"
                )
            wnid = wnids[int(folder.name)]
        elif WNID_PATTERN.match(folder.name):
            wnid = folder.name
        else:
            raise ValueError(f"{folder}: class folder {folder.name!r} is not a wnid like n01440764")
        for path in _image_files(folder):
            items.append(ReferenceItem(f"{folder.name}/{path.name}", wnid, str(path)))
    return items


def read_devkit_id_to_wnid(path: str | Path) -> dict[int, str]:
    """Map devkit ILSVRC2012_IDs to wnids, from ``meta.mat`` or a text file.

    The text file has one ``<ILSVRC2012_ID> <wnid>`` pair per line (blank lines and
    ``#`` comments ignored). ``meta.mat`` is read with ``scipy.io.loadmat``.

    Raises:
        ValueError: Unreadable file or a malformed line.
    """
    path = Path(path)
    if path.suffix == ".mat":
        from scipy.io import loadmat

        try:
            synsets = loadmat(str(path), squeeze_me=True)["synsets"]
            return {int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in synsets}
        except (KeyError, ValueError, OSError) as e:
            raise ValueError(f"{path}: expected the devkit's meta.mat with 'synsets'") from e
    mapping = {}
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.split("#", 1)[0].split()
        if not text:
            continue
        if len(text) != 2 or not text[0].isdigit() or not WNID_PATTERN.match(text[1]):
            raise ValueError(f"{path}:{line_no}: expected '<ILSVRC2012_ID> <wnid>', got {line!r}")
        mapping[int(text[0])] = text[1]
    return mapping


def read_imagenet_val_flat(
    root: str | Path, *, ground_truth: str | Path, id_to_wnid: str | Path
) -> list[ReferenceItem]:
    """Read the flat validation folder with the devkit's ground truth.

    Args:
        root: Folder of ``ILSVRC2012_val_%08d.JPEG``.
        ground_truth: ``ILSVRC2012_validation_ground_truth.txt`` (line i = image i's devkit id).
        id_to_wnid: ``meta.mat`` or a ``<ILSVRC2012_ID> <wnid>`` text file.

    Raises:
        ValueError: A file name, ground-truth line or id does not fit the layout.
    """
    root = _require_dir(root)
    mapping = read_devkit_id_to_wnid(id_to_wnid)
    lines = Path(ground_truth).read_text(encoding="utf-8").split()
    items = []
    for path in _image_files(root):
        match = FLAT_VAL_PATTERN.match(path.name)
        if not match:
            raise ValueError(f"{path}: expected a name like ILSVRC2012_val_00000001.JPEG")
        number = int(match.group(1))
        if not 1 <= number <= len(lines):
            raise ValueError(f"{path}: image {number} has no line in {ground_truth}")
        devkit_id = int(lines[number - 1])
        if devkit_id not in mapping:
            raise ValueError(f"{ground_truth}:{number}: id {devkit_id} is not in {id_to_wnid}")
        items.append(ReferenceItem(path.name, mapping[devkit_id], str(path)))
    return items


def read_imagenet_captions(
    json_path: str | Path, *, images_root: str | Path | None = None
) -> list[ReferenceItem]:
    """Read ImageNet-Captions: text = title, tags and description joined by spaces.

    The order is the authors' (title + tags + description); an entry whose file name
    was seen before is dropped (the first is kept), as in their preprocessing.

    Args:
        json_path: The JSON list of ``{filename, title, description, tags, wnid}``.
        images_root: ImageNet train folder (``<wnid>/<filename>``); None for text only.

    Raises:
        ValueError: Not a list of entries with ``filename``, no usable wnid, a title,
            description or tag that is not a string, or a ``filename`` that would leave
            ``images_root`` (each names the file, the entry and the field).
    """
    try:
        entries = json.loads(Path(json_path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{json_path}: expected the ImageNet-Captions JSON list ({e})") from e
    if not isinstance(entries, list):
        raise ValueError(f"{json_path}: expected a JSON list, got {type(entries).__name__}")
    items = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        item = _read_caption_entry(entry, where=f"{json_path}: entry {i}", images_root=images_root)
        if item.sample_id in seen:
            continue  # a repeated file name: the first is kept, as in the authors' code
        seen.add(item.sample_id)
        items.append(item)
    if len(items) < len(entries):
        logger.info("%s: %d repeated file names dropped", json_path, len(entries) - len(items))
    return items


def _read_caption_entry(
    entry: object, *, where: str, images_root: str | Path | None
) -> ReferenceItem:
    """One ImageNet-Captions entry, its fields checked (``read_imagenet_captions``)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
        raise ValueError(f"{where} has no 'filename' string")
    filename = entry["filename"]
    wnid = entry.get("wnid") or filename.split("_", 1)[0]
    if not isinstance(wnid, str) or not WNID_PATTERN.fullmatch(wnid):
        raise ValueError(f"{where} ({filename!r}): no wnid field or prefix")
    for field in ("title", "description"):
        if not isinstance(entry.get(field) or "", str):
            raise ValueError(f"{where}: '{field}' is a {type(entry[field]).__name__}, not text")
    tags = entry.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError(f"{where}: 'tags' must be a list of strings, got {tags!r:.80}")
    parts = [entry.get("title") or "", " ".join(tags), entry.get("description") or ""]
    text = " ".join(" ".join(parts).split())
    source = None
    if images_root:
        inside = os.path.normpath(os.path.join(wnid, filename))
        if os.path.isabs(inside) or inside.split(os.sep)[0] != wnid or "\x00" in filename:
            raise ValueError(
                f"{where}: filename {filename!r} leaves --images-root/{wnid}; expected a "
                "file name inside its class folder"
            )
        source = str(Path(images_root) / inside)
    return ReferenceItem(filename, wnid, source, None, text)


def list_reference_items(kind: str, path: str | Path, **options: Any) -> list[ReferenceItem]:
    """Dispatch to the reader for ``kind`` (see the module docstring).

    Options: ``ground_truth``/``id_to_wnid`` (imagenet-val-flat), ``labels``
    (webdataset), ``images_root`` (imagenet-captions).

    Raises:
        ValueError: Unknown kind, or the reader's own validation errors.
    """
    if kind in ("imagenet-val", "folder"):
        return read_class_folders(path, class_names="wnid")
    if kind == "imagenetv2":
        return read_class_folders(path, class_names="index")
    if kind == "imagenet-val-flat":
        return read_imagenet_val_flat(
            path, ground_truth=options["ground_truth"], id_to_wnid=options["id_to_wnid"]
        )
    if kind == "webdataset":
        # Imported here: that module builds on this one's ReferenceItem.
        from precompute.ingest.webdataset import read_webdataset_shards

        return read_webdataset_shards(path, labels=options.get("labels"))
    if kind == "imagenet-captions":
        return read_imagenet_captions(path, images_root=options.get("images_root"))
    raise ValueError(f"reference kind {kind!r}; allowed: {', '.join(REFERENCE_KINDS)}")
