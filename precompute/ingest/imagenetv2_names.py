"""ImageNetV2's three release folders and the a/b/c names the paper gives them.

Section 4.1 names the versions by their mean MTurk selection frequency: a =
Threshold0.7 (0.85), b = MatchedFrequency (0.73), c = TopImages (0.93). The release
unpacks into folders named after the version, so ``add-reference --kind imagenetv2``
can name the dataset itself, and refuses a ``--name`` that would swap two versions.
"""

from __future__ import annotations

from pathlib import Path

from laionet_core.settings import IMAGENETV2_DATASETS

# Folder of the ImageNetV2 release -> the paper's name for it.
IMAGENETV2_RELEASE_FOLDERS = {
    "imagenetv2-threshold0.7-format-val": "imagenetv2-a",  # mean selection frequency 0.85
    "imagenetv2-matched-frequency-format-val": "imagenetv2-b",  # 0.73
    "imagenetv2-top-images-format-val": "imagenetv2-c",  # 0.93
}


def name_imagenetv2_release(path: str | Path) -> str | None:
    """The paper's name of an ImageNetV2 release folder, or None for another folder.

    The folder's own name is matched case-insensitively, as is the ``.tar.gz`` /
    ``.tar`` archive name it was unpacked from.
    """
    name = Path(path).name.lower()
    for suffix in (".tar.gz", ".tar"):
        name = name.removesuffix(suffix)
    return IMAGENETV2_RELEASE_FOLDERS.get(name)


def resolve_imagenetv2_name(path: str | Path, name: str | None) -> str:
    """The dataset name of an ImageNetV2 folder: ``name``, else the release's a/b/c.

    Raises:
        ValueError: No name and an unknown folder, or a name that gives a release
            folder another version's a/b/c name (the swap Figure 8 would show).
    """
    recognised = name_imagenetv2_release(path)
    if name is None:
        if recognised is None:
            raise ValueError(
                f"--images {path}: not an ImageNetV2 release folder "
                f"({', '.join(IMAGENETV2_RELEASE_FOLDERS)}); give --name"
            )
        return recognised
    if recognised is not None and name in IMAGENETV2_DATASETS and name != recognised:
        raise ValueError(
            f"--name {name} for {path}: that folder is {recognised} in the paper's naming "
            "(a = Threshold0.7, b = MatchedFrequency, c = TopImages; Section 4.1)"
        )
    return name
