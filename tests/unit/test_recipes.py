"""Recipes: the paper's lemma dictionary, synset texts, matching and the CLI around them.

The authors' dictionary is pinned by the SHA-256 of its ``lemma<TAB>wnid`` listing,
computed from the class list in their released code (``ILSVRC2012_synsets.txt`` of
alishiraliGit/eval-on-laion, TMLR version: each lemma kept when it occurs exactly once
in that list), with their Siberian husky wnid n02112837 replaced by the ILSVRC-2012
n02110185, the one documented departure.
"""

from __future__ import annotations

import hashlib
import json
import string

import pandas as pd
import pyarrow.parquet as pq
import pytest

from laionet_core.matching import LemmaMatcher
from laionet_core.recipes import DEFAULT_RECIPE, RECIPES, Recipe, get_recipe
from laionet_core.vocabulary import format_synset_text, load_imagenet_vocabulary
from precompute.cli import main
from precompute.cli.lemmas import WITHOUT_LEMMA_SUFFIX

AUTHORS_DICTIONARY_SHA256 = "3557c0406101fd8d244eff63771541598960dabce36a9ae343a0625d81b3fe98"
WEB_CAPTIONS = "/work/shared/data/web_captions_1000.parquet"


@pytest.fixture(scope="module")
def imagenet():
    return load_imagenet_vocabulary()


def _matcher(vocabulary, name: str) -> LemmaMatcher:
    recipe = get_recipe(name)
    return LemmaMatcher(vocabulary, mode=recipe.match_mode, omit_wnids=recipe.lemma_source_omits)


@pytest.mark.parametrize("name", ["paper-tmlr", "paper-arxiv"])
def test_paper_dictionary_is_the_authors(imagenet, name) -> None:
    dictionary = _matcher(imagenet, name).lemma_dictionary
    assert len(dictionary.lemma_to_wnid) == 1825
    assert dictionary.lemma_to_wnid["crane"] == "n02012849"  # the bird; the machine is left out
    assert dictionary.lemma_to_wnid["Siberian husky"] == "n02110185"
    assert "Great Dane" in dictionary.lemma_to_wnid  # WordNet's spelling, not lower-cased
    listing = "".join(f"{k}\t{w}\n" for k, w in sorted(dictionary.lemma_to_wnid.items()))
    assert hashlib.sha256(listing.encode()).hexdigest() == AUTHORS_DICTIONARY_SHA256
    assert set(dictionary.classes_without_lemma) == {
        "n01807496",  # partridge: also a lemma of ruffed grouse
        "n03126707",  # crane (machine): not in the authors' list
        "n03495258",  # harp: also harmonica
        "n03710637",  # maillot: two classes
        "n03773504",  # missile: also projectile
    }


def test_explorer_dictionary_drops_crane_for_both(imagenet) -> None:
    dictionary = _matcher(imagenet, "explorer").lemma_dictionary
    assert len(dictionary.lemma_to_wnid) == 1816
    assert "crane" not in dictionary.lemma_to_wnid
    assert dictionary.dropped["crane"] == ("n02012849", "n03126707")


SYNSET_TEXTS = {
    "n01440764": "tench which is freshwater dace-like game fish of Europe and western Asia "
    "noted for ability to survive outside water",
    "n02109047": "great dane which is very large powerful smooth-coated breed of dog",
    "n02110185": "siberian husky which is breed of sled dog developed in northeastern Siberia; "
    "they resemble the larger Alaskan malamutes",
    "n02125311": "cougar which is large American feline resembling a lion",
    "n02012849": "crane which is large long-necked wading bird of marshes and plains in many "
    "parts of the world",
    "n04065272": "recreational vehicle which is a motorized wheeled vehicle used for camping "
    "or other recreational activities",
    "n07742313": "granny smith which is apple with a green skin and hard tart flesh",
    "n03777568": "model t which is the first widely available automobile powered by a "
    "gasoline engine; mass-produced by Henry Ford from 1908 to 1927",
    "n02106382": "bouvier des flandres which is rough-coated breed used originally in Belgium "
    "for herding and guarding cattle",
    "n01614925": "bald eagle which is a large eagle of North America that has a white head "
    "and dark wings and body",
    "n03444034": "go-kart which is a small low motor vehicle with four wheels and an open "
    "framework; used for racing",
    "n02085620": "chihuahua which is an old breed of tiny short-haired dog with protruding "
    "eyes from Mexico held to antedate Aztec civilization",
}


def test_paper_synset_texts_use_wordnet_names(imagenet) -> None:
    fmt = get_recipe("paper-tmlr").synset_format
    by_wnid = imagenet.by_wnid()
    for wnid, text in SYNSET_TEXTS.items():
        assert format_synset_text(by_wnid[wnid], fmt) == text
    differ = [
        s.wnid
        for s in imagenet.synsets
        if format_synset_text(s, fmt) != format_synset_text(s, "name_def")
    ]
    assert len(differ) == 112  # names with a capital letter
    assert format_synset_text(by_wnid["n02109047"], "name_def").startswith("Great Dane which")


def _authors_loop(captions: list[str], lemma_to_wnid: dict[str, str]) -> dict[int, tuple]:
    """The authors' labelling loop, written out: every lemma tried on every caption."""
    translation = str.maketrans(string.punctuation, " " * len(string.punctuation))
    found = {}
    for row, caption in enumerate(captions):
        text = " " + caption.translate(translation) + " "
        lemmas = [lem for lem in lemma_to_wnid if " " + lem + " " in text]
        if lemmas:
            wnids = tuple(sorted({lemma_to_wnid[lem] for lem in lemmas}))
            found[row] = (wnids, tuple(sorted(lemmas)))
    return found


def test_match_paper_tmlr_agrees_with_the_authors_loop(imagenet, tmp_path) -> None:
    out = tmp_path / "matches.parquet"
    assert main(["match", "--input", WEB_CAPTIONS, "--out", str(out), "--workers", "1"]) == 0
    ours = pq.read_table(out).to_pandas()
    captions = pd.read_parquet(WEB_CAPTIONS)["TEXT"].tolist()
    dictionary = _matcher(imagenet, "paper-tmlr").lemma_dictionary.lemma_to_wnid
    expected = _authors_loop(captions, dictionary)
    assert len(expected) >= 40  # real web text: enough matches to mean something
    got = {
        int(k.split(":")[1]): (tuple(w), tuple(lem))
        for k, w, lem in zip(ours["key"], ours["wnids"], ours["lemmas"], strict=True)
    }
    assert got == expected


def test_lemmas_command_writes_the_dictionary(tmp_path) -> None:
    out = tmp_path / "lemmas.tsv"
    assert main(["lemmas", "--recipe", "paper-tmlr", "--out", str(out)]) == 0
    data = out.read_bytes()
    assert hashlib.sha256(data).hexdigest() == AUTHORS_DICTIONARY_SHA256
    lines = data.decode().splitlines()
    assert lines == sorted(lines) and "crane\tn02012849" in lines
    without = out.with_name(out.name + WITHOUT_LEMMA_SUFFIX).read_text().splitlines()
    assert "n03126707\tcrane" in without and len(without) == 5
    assert main(["lemmas", "--recipe", "explorer", "--out", str(out)]) == 0
    assert len(out.read_text().splitlines()) == 1816


def test_recipes_command_lists_every_setting(capsys) -> None:
    assert main(["recipes", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert set(listed) >= {"paper-tmlr", "paper-arxiv", "explorer"}
    assert listed["paper-tmlr"]["nsfw_rule"] == "unlikely-only"
    assert listed["paper-arxiv"]["nsfw_rule"] == "drop-nsfw"
    assert listed["paper-tmlr"]["encoder"] == "open_clip:ViT-B-32:openai"
    assert listed["explorer"]["intra_class_estimator"] == "u-statistic"
    assert main(["recipes"]) == 0
    text = capsys.readouterr().out
    assert f"{DEFAULT_RECIPE}  (default)" in text and "ocr_rule" in text


def test_default_recipe_is_the_published_paper() -> None:
    assert DEFAULT_RECIPE == "paper-tmlr"
    assert get_recipe(None) is RECIPES["paper-tmlr"]


def test_overrides_rename_and_validate() -> None:
    recipe = get_recipe("paper-tmlr")
    assert recipe.with_overrides(match_mode=None) is recipe
    assert recipe.with_overrides(match_mode="paper") is recipe
    changed = recipe.with_overrides(match_mode="normalized")
    assert changed.match_mode == "normalized" and changed.name == "paper-tmlr+match_mode=normalized"
    with pytest.raises(ValueError, match="nsfw_rule='sometimes'"):
        recipe.with_overrides(nsfw_rule="sometimes")
    with pytest.raises(ValueError, match="unknown recipe settings"):
        recipe.with_overrides(colour="red")
    with pytest.raises(ValueError, match="unknown recipe 'nope'"):
        get_recipe("nope")
    with pytest.raises(ValueError, match="intra_class_max_per_class"):
        Recipe("x", "y", intra_class_max_per_class=1)


def test_recorded_recipe_round_trips_with_its_overrides() -> None:
    from laionet_core.recipes import describe_recipe, read_recorded_recipe

    changed = get_recipe("paper-arxiv").with_overrides(threshold=0.75)
    recorded = json.loads(json.dumps(describe_recipe(changed)))  # as stored in parameters
    assert read_recorded_recipe(recorded) == changed
    assert read_recorded_recipe({"recipe": "paper-tmlr+x=1"}) is RECIPES["paper-tmlr"]
    assert read_recorded_recipe({"recipe": {"name": "odd", "colour": 1}}) is None
    assert read_recorded_recipe({}) is None and read_recorded_recipe(None) is None
