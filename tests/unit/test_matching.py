"""Lemma matching: the fast matcher against plain loops (the paper's algorithm)."""

from __future__ import annotations

import string
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from laionet_core.matching import (
    BATCH_CAPTIONS,
    DEFAULT_MATCH_MODE,
    MATCH_MODES,
    LemmaMatcher,
    Matches,
    normalize_text,
)
from laionet_core.vocabulary import build_lemma_dictionary, load_imagenet_vocabulary

WEB_CAPTIONS = Path("/work/shared/data/web_captions_1000.parquet")
PUNCTUATION_TO_SPACE = str.maketrans(string.punctuation, " " * len(string.punctuation))


@pytest.fixture(scope="module")
def vocabulary():
    return load_imagenet_vocabulary()


@pytest.fixture(scope="module")
def paper(vocabulary):
    return LemmaMatcher(vocabulary, mode="paper")


@pytest.fixture(scope="module")
def normalized(vocabulary):
    return LemmaMatcher(vocabulary)


def paper_oracle(captions, lemma_dict):
    """The paper's loop, verbatim: {row: (wnids, lemmas)}."""
    out = {}
    for row, caption in enumerate(captions):
        if caption is None:
            continue
        text = " " + caption.translate(PUNCTUATION_TO_SPACE) + " "
        found = [(wnid, lemma) for lemma, wnid in lemma_dict.items() if f" {lemma} " in text]
        if found:
            out[row] = (
                tuple(sorted({w for w, _ in found})),
                tuple(sorted({lemma for _, lemma in found})),
            )
    return out


def normalized_oracle(captions, vocabulary):
    """Normalise, then loop; lemmas reported in their first vocabulary spelling."""
    lemma_dict = build_lemma_dictionary(vocabulary, key=normalize_text).lemma_to_wnid
    spelling = {}
    for synset in vocabulary.synsets:
        for lemma in synset.lemmas:
            spelling.setdefault(normalize_text(lemma), lemma)
    out = {}
    for row, caption in enumerate(captions):
        if caption is None:
            continue
        text = f" {normalize_text(caption)} "
        found = [(w, spelling[k]) for k, w in lemma_dict.items() if f" {k} " in text]
        if found:
            out[row] = (
                tuple(sorted({w for w, _ in found})),
                tuple(sorted({lemma for _, lemma in found})),
            )
    return out


def as_dict(matches: Matches):
    assert matches.rows.dtype == np.int64
    assert np.all(np.diff(matches.rows) > 0), "rows must be strictly ascending"
    return {
        int(r): (w, x)
        for r, w, x in zip(matches.rows.tolist(), matches.wnids, matches.lemmas, strict=True)
    }


def adversarial_captions(vocabulary):
    """Case, punctuation, overlaps, edges, HTML and non-ASCII around real lemmas."""
    captions = [
        "great white shark",
        "A Great White Shark at sea",
        "great white shark!",
        "(great white shark)",
        "great-white-shark",
        "great  white shark",
        "great\twhite shark",
        "white shark",
        "shark",
        "tabby cat, Egyptian cat and tiger cat",
        "Shih-Tzu puppy",
        "shih tzu puppy",
        "Shih Tzu puppy",
        "SHIH-TZU",
        "tree-frog on a leaf",
        "tree frog on a leaf",
        "Go-Kart race",
        "go-kart race",
        "go kart race",
        "GO KART",
        "<b>puma</b>",
        "<b>PUMA</b> shoes",
        "Puma &amp; cougar",
        "puma&amp;cougar",
        "puma&nbsp;shoes",
        "&lt;puma&gt;",
        "crane",
        "crane lifting steel",
        "café puma",
        "pumá",
        "ＰＵＭＡ full width",
        "puma’s den",
        "jack-o’-lantern",
        "jack-o'-lantern",
        "jack o lantern",
        "puma🐆",
        "🐆puma🐆 cougar",
        "美洲狮 puma 美洲狮",
        "美洲狮puma",
        "puma–cougar",
        "puma\u00a0cougar",
        "puma\u200bcougar",
        "puma_cougar",
        "puma\x00cougar",
        "ﬁsh ﬁddler crab",
        "",
        " ",
        None,
        "puma",
        "cougar",
        "goldfish goldfish goldfish",
        "Labrador retriever and golden retriever",
        "the pug",
        "pug",
        "pug.",
        ".pug",
        "Tibetan mastiff",
        "tibetan MASTIFF",
    ]
    # Every lemma at the very start and end, in three cases.
    for synset in vocabulary.synsets[::7]:
        lemma = synset.lemmas[-1]
        captions += [lemma, f"{lemma}.", f"x {lemma.upper()}", f"{lemma.lower()}!!"]
    return captions


def test_modes_and_default():
    assert MATCH_MODES == ("paper", "normalized")
    assert DEFAULT_MATCH_MODE == "normalized"


def test_unknown_mode_is_an_error(vocabulary):
    with pytest.raises(ValueError, match="allowed: paper, normalized"):
        LemmaMatcher(vocabulary, mode="fuzzy")


def test_paper_mode_equals_the_paper_loop_on_real_web_captions(paper):
    captions = pq.read_table(WEB_CAPTIONS, columns=["TEXT"])["TEXT"].to_pylist()
    assert len(captions) == 1000
    expected = paper_oracle(captions, paper.lemma_dictionary.lemma_to_wnid)
    assert len(expected) >= 20, "the test set must contain matches to be meaningful"
    assert as_dict(paper.match(captions)) == expected


def test_normalized_mode_equals_normalize_then_loop_on_real_web_captions(normalized, vocabulary):
    table = pq.read_table(WEB_CAPTIONS, columns=["TEXT"])
    expected = normalized_oracle(table["TEXT"].to_pylist(), vocabulary)
    assert len(expected) >= 30
    assert as_dict(normalized.match(table["TEXT"])) == expected


def test_paper_mode_on_adversarial_captions(paper, vocabulary):
    captions = adversarial_captions(vocabulary)
    expected = paper_oracle(captions, paper.lemma_dictionary.lemma_to_wnid)
    assert len(expected) >= 50
    assert as_dict(paper.match(captions)) == expected


def test_normalized_mode_on_adversarial_captions(normalized, vocabulary):
    captions = adversarial_captions(vocabulary)
    expected = normalized_oracle(captions, vocabulary)
    assert len(expected) >= 80
    assert as_dict(normalized.match(captions)) == expected


def test_paper_mode_rules(paper):
    def wnids(caption):
        return as_dict(paper.match([caption])).get(0, ((), ()))

    assert wnids("A great white shark!")[1] == ("great white shark", "white shark")
    assert wnids("Great White Shark") == ((), ())  # case-sensitive
    assert wnids("Shih-Tzu") == ((), ())  # lemmas with punctuation never match
    assert wnids("great\twhite shark") == ((), ())  # only spaces separate words
    assert wnids("great white\tshark puma")[1] == ("puma",)
    assert wnids("puma") == (("n02125311",), ("puma",))
    assert wnids("<b>puma</b>")[1] == ("puma",)


def test_normalized_mode_examples(normalized):
    def lemmas(caption):
        return as_dict(normalized.match([caption])).get(0, ((), ()))[1]

    assert lemmas("Go-Kart") == lemmas("go-kart") == lemmas("go kart") == ("go-kart",)
    assert normalized.match(["PUMA"]).wnids == [("n02125311",)]  # cougar
    assert lemmas("Shih-Tzu") == lemmas("shih tzu") == ("Shih-Tzu",)
    assert lemmas("crane") == ()  # shared by the bird and the machine: dropped
    assert lemmas("<b>puma</b>") == ("puma",)
    assert lemmas("ＰＵＭＡ") == ("puma",)
    assert lemmas("puma’s den") == ("puma",)
    assert lemmas("jack-o’-lantern") == ("jack", "jack-o'-lantern")
    assert lemmas("pumá") == ()  # accents are kept
    assert lemmas("美洲狮puma") == ()  # no word boundary between CJK and Latin
    assert lemmas("🐆puma🐆") == ("puma",)
    assert "crane" in normalized.lemma_dictionary.dropped


def test_normalize_text_rules():
    assert normalize_text("Shih-Tzu") == "shih tzu"
    assert normalize_text("<b>PUMA</b>") == "b puma b"
    assert normalize_text("  Café — ﬁsh_tank!! ") == "café fish tank"
    assert normalize_text("ＰＵＭＡ’s") == "puma s"
    assert normalize_text("Straße") == "strasse"
    assert normalize_text("a\x00b\tc\u200bd") == "a b c d"


def test_multi_label(normalized):
    matches = normalized.match(["a tabby cat chasing a goldfish", "just a goldfish", None])
    assert matches.rows.tolist() == [0, 1]
    assert matches.wnids[0] == ("n01443537", "n02123045")
    assert matches.multi_label.tolist() == [True, False]
    assert matches.lemmas[0] == ("goldfish", "tabby", "tabby cat")


def test_inputs_none_arrow_and_chunked_agree(normalized):
    captions = [None, "puma", None, "tabby cat", "", "nothing here"]
    expected = as_dict(normalized.match(captions))
    assert list(expected) == [1, 3]
    assert as_dict(normalized.match(pa.array(captions))) == expected
    assert as_dict(normalized.match(pa.array(captions, pa.large_string()))) == expected
    chunked = pa.chunked_array([captions[:2], captions[2:3], captions[3:]])
    assert as_dict(normalized.match(chunked)) == expected
    sliced = as_dict(normalized.match(pa.array(captions).slice(1, 3)))
    assert sliced == {0: expected[1], 2: expected[3]}
    assert len(normalized.match([])) == 0
    assert len(normalized.match([None, None])) == 0


def test_rows_across_internal_batches(paper):
    captions = ["nothing"] * (BATCH_CAPTIONS + 5)
    captions[3] = captions[BATCH_CAPTIONS + 2] = "a puma"
    assert paper.match(captions).rows.tolist() == [3, BATCH_CAPTIONS + 2]


def test_non_string_input_is_a_type_error(normalized):
    with pytest.raises(TypeError, match="strings"):
        normalized.match([1, 2])
    with pytest.raises(TypeError, match="string array"):
        normalized.match(pa.array([1, 2]))


def _lemma_tokens():
    vocabulary = load_imagenet_vocabulary()
    lemmas = [lemma for s in vocabulary.synsets[:60] for lemma in s.lemmas]
    return lemmas + ["great white shark", "white shark", "Shih-Tzu", "crane", "go-kart"]


TOKENS = st.one_of(
    st.sampled_from(_lemma_tokens()),
    st.sampled_from(["the", "a", "photo", "of", "and", "puma", "PUMA", "Puma", "cat"]),
    st.sampled_from([" ", "  ", "-", "'", "’", ",", "!", "<b>", "</b>", "&amp;", "\t", "_"]),
    st.text(alphabet="aAéÉßﬁ＿ＡｂΣσς–—…🐆中 ", max_size=4),
)
CAPTIONS = st.lists(
    st.one_of(st.none(), st.lists(TOKENS, max_size=8).map("".join)), min_size=1, max_size=20
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CAPTIONS)
def test_property_fast_equals_oracle(captions):
    vocabulary = load_imagenet_vocabulary()
    paper = _cached_matcher("paper")
    normalized = _cached_matcher("normalized")
    assert as_dict(paper.match(captions)) == paper_oracle(
        captions, paper.lemma_dictionary.lemma_to_wnid
    )
    assert as_dict(normalized.match(captions)) == normalized_oracle(captions, vocabulary)


@settings(max_examples=100, deadline=None)
@given(CAPTIONS)
def test_property_case_never_changes_normalized_results(captions):
    normalized = _cached_matcher("normalized")
    base = as_dict(normalized.match(captions))
    for change in (str.upper, str.lower, str.title, str.swapcase):
        changed = [None if c is None else change(c) for c in captions]
        assert as_dict(normalized.match(changed)) == base


_MATCHERS: dict[str, LemmaMatcher] = {}


def _cached_matcher(mode: str) -> LemmaMatcher:
    if mode not in _MATCHERS:
        _MATCHERS[mode] = LemmaMatcher(load_imagenet_vocabulary(), mode=mode)
    return _MATCHERS[mode]
