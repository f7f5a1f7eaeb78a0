"""Vocabulary: the 1,000 classes from timm's tables, synset texts, unique lemmas."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from laionet_core.vocabulary import (
    SYNSET_TEXT_FORMATS,
    Synset,
    Vocabulary,
    build_lemma_dictionary,
    format_synset_text,
    load_imagenet_vocabulary,
    load_vocabulary_from_wnids,
    read_wnid_file,
)


@pytest.fixture(scope="module")
def imagenet() -> Vocabulary:
    return load_imagenet_vocabulary()


def test_imagenet_has_1000_classes_in_class_index_order(imagenet: Vocabulary) -> None:
    assert len(imagenet) == 1000
    assert imagenet.synsets[0].wnid == "n01440764"  # tench, class 0
    assert imagenet.synsets[0].name == "tench"
    assert imagenet.synsets[999].wnid == "n15075141"  # toilet tissue, class 999
    assert [s.class_index for s in imagenet.synsets] == list(range(1000))
    assert len(set(imagenet.wnids)) == 1000


def test_cougar_has_puma_and_its_definition(imagenet: Vocabulary) -> None:
    cougar = imagenet.by_wnid()["n02125311"]
    assert cougar.class_index == 286
    assert cougar.name == "cougar"
    assert "puma" in cougar.lemmas
    assert cougar.definition == "large American feline resembling a lion"


def test_loading_the_vocabulary_does_not_import_torch() -> None:
    code = (
        "import sys; from laionet_core.vocabulary import load_imagenet_vocabulary; "
        "load_imagenet_vocabulary(); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("name", "cougar"),
        ("name_def", "cougar which is large American feline resembling a lion"),
        ("a_photo_of_name", "a photo of cougar"),
        (
            "a_photo_of_name_def",
            "a photo of cougar which is large American feline resembling a lion",
        ),
    ],
)
def test_synset_text_formats(imagenet: Vocabulary, fmt: str, expected: str) -> None:
    assert format_synset_text(imagenet.by_wnid()["n02125311"], fmt) == expected


def test_lemmas_format_joins_with_or() -> None:
    synset = Synset("n00000001", 0, ("a", "b", "c"), "def")
    assert format_synset_text(synset, "lemmas") == "a or b or c"
    assert set(SYNSET_TEXT_FORMATS) == {
        "name",
        "name_def",
        "lemmas",
        "a_photo_of_name",
        "a_photo_of_name_def",
        "wordnet_name",
        "wordnet_name_def",
    }
    synset = Synset("n00000002", 1, ("Great_Dane", "x"), "big dog")
    assert format_synset_text(synset, "wordnet_name_def") == "great dane which is big dog"


def test_unknown_format_names_the_allowed_ones(imagenet: Vocabulary) -> None:
    with pytest.raises(ValueError, match="name_def"):
        format_synset_text(imagenet.synsets[0], "bogus")


def test_shared_lemma_is_dropped_for_both_classes(imagenet: Vocabulary) -> None:
    lemmas = build_lemma_dictionary(imagenet)
    assert "crane" not in lemmas.lemma_to_wnid
    assert lemmas.dropped["crane"] == ("n02012849", "n03126707")
    assert lemmas.lemma_to_wnid["puma"] == "n02125311"
    # Every kept lemma belongs to exactly the class it maps to (brute-force check).
    for lemma, wnid in lemmas.lemma_to_wnid.items():
        owners = {s.wnid for s in imagenet.synsets if lemma in s.lemmas}
        assert owners == {wnid}


def test_classes_left_without_lemma_are_reported(imagenet: Vocabulary) -> None:
    lemmas = build_lemma_dictionary(imagenet)
    # "crane" is each crane class's only lemma, so both lose every lemma.
    assert {"n02012849", "n03126707"} <= set(lemmas.classes_without_lemma)
    for wnid in lemmas.classes_without_lemma:
        assert wnid not in lemmas.lemma_to_wnid.values()


def test_user_given_wnids_from_imagenet_21k(tmp_path: Path) -> None:
    wnid_file = tmp_path / "wnids.txt"
    wnid_file.write_text("# two classes\nn00004475\nn02125311\n", encoding="utf-8")
    vocabulary = load_vocabulary_from_wnids(read_wnid_file(wnid_file))
    assert vocabulary.wnids == ("n00004475", "n02125311")
    assert vocabulary.synsets[0].lemmas == ("organism", "being")
    assert vocabulary.synsets[1].class_index == 1


def test_bad_wnid_file_names_the_line(tmp_path: Path) -> None:
    wnid_file = tmp_path / "wnids.txt"
    wnid_file.write_text("n02125311\ncougar\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"wnids.txt:2: 'cougar'"):
        read_wnid_file(wnid_file)


def test_unknown_and_repeated_wnids_are_errors() -> None:
    with pytest.raises(ValueError, match="n99999999"):
        load_vocabulary_from_wnids(["n99999999"])
    with pytest.raises(ValueError, match="twice"):
        load_vocabulary_from_wnids(["n02125311", "n02125311"])
