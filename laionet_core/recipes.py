"""Recipes: every choice that makes a LAIONet, frozen under one name.

The two versions of the paper differ from each other and from this project's own,
statistically sound choices in a dozen small places (lemma dictionary, matching, the
synset text, the encoder, the NSFW and OCR filters, the intra-class estimator, the
text-matched dataset's rules). A recipe names all of them at once, so a database, an
export or a report can say which LAIONet it is. They are defined here and only here;
``python -m precompute recipes`` prints them.

* ``paper-tmlr``: the published (TMLR) version, as in the authors' released code:
  822k samples, 915 classes. The default, so a user who reads nothing gets the paper.
* ``paper-arxiv``: the arXiv version (880k samples, 918 classes): NSFW dropped, no OCR.
* ``explorer``: this project's own: normalised matching, the synset text in the
  vocabulary's spelling, the U-statistic interval over every image; the published
  paper's content rules (NSFW tag ``UNLIKELY`` only, the OCR rule), which are no
  statistical choice and the stricter of the two versions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

from laionet_core.matching import MATCH_MODES
from laionet_core.selection import NSFW_RULES
from laionet_core.vocabulary import SYNSET_TEXT_FORMATS

logger = logging.getLogger(__name__)

# The encoder of the paper and of LAION-400M's released embeddings: OpenAI's CLIP
# ViT-B/32 (open_clip's ``ViT-B-32`` with pretrained ``openai``); 0.82 was set on it.
PAPER_ENCODER = "open_clip:ViT-B-32:openai"
# The authors' ILSVRC-2012 list leaves out the crane *machine*, so "crane" is the bird's.
AUTHORS_LIST_OMITS = ("n03126707",)
# OCR rules: ``drop-class-text`` drops a sample whose image text names its class.
OCR_RULES = ("none", "drop-class-text")
# Captions that matched lemmas of several classes.
MULTI_LABEL_RULES = ("drop", "keep")
INTRA_CLASS_ESTIMATORS = ("u-statistic", "paper")
# Text-matched dataset (Section 4.3): a LAION caption chosen by texts of several classes
# stays in each of them (``every-class``, the paper) or in the nearest text's (``nearest``).
TEXT_MATCH_LABEL_RULES = ("every-class", "nearest")
# Said in the log, the database and every manifest when an OCR rule has nothing to read.
OCR_NOT_APPLIED = "OCR filter not applied: no OCR text"


@dataclass(frozen=True)
class Recipe:
    """One named, frozen set of every choice that makes a LAIONet.

    Attributes:
        name: The recipe's name (``--recipe NAME``).
        description: One line on where it comes from.
        vocabulary: ``imagenet-1k`` (the 1,000 ILSVRC-2012 classes).
        lemma_source_omits: wnids whose lemmas do not enter the lemma dictionary (they
            stay classes, with no lemma).
        match_mode: ``paper`` or ``normalized`` (``laionet_core.matching``).
        synset_format: Synset-text format captions are scored against.
        encoder: Encoder spec that encodes captions and synset texts when a corpus
            ships no text embeddings.
        threshold: Caption-to-synset similarity a sample must exceed.
        nsfw_rule: One of ``NSFW_RULES``.
        ocr_rule: One of ``OCR_RULES``.
        multi_label: One of ``MULTI_LABEL_RULES``.
        intra_class_estimator: One of ``INTRA_CLASS_ESTIMATORS``.
        intra_class_max_per_class: Images per class the intra-class estimator draws
            (seeded); None uses every image.
        text_match_label: One of ``TEXT_MATCH_LABEL_RULES``.
        text_match_nsfw_rule: NSFW rule of the text-matched dataset.
        text_match_threshold: Text-to-text similarity a text-matched sample must exceed.
    """

    name: str
    description: str
    vocabulary: str = "imagenet-1k"
    lemma_source_omits: tuple[str, ...] = ()
    match_mode: str = "normalized"
    synset_format: str = "name_def"
    encoder: str = PAPER_ENCODER
    threshold: float = 0.82
    nsfw_rule: str = "drop-nsfw"
    ocr_rule: str = "none"
    multi_label: str = "drop"
    intra_class_estimator: str = "u-statistic"
    intra_class_max_per_class: int | None = None
    text_match_label: str = "nearest"
    text_match_nsfw_rule: str = "drop-nsfw"
    text_match_threshold: float = 0.7

    def __post_init__(self) -> None:
        allowed = {
            "match_mode": MATCH_MODES,
            "synset_format": SYNSET_TEXT_FORMATS,
            "nsfw_rule": NSFW_RULES,
            "ocr_rule": OCR_RULES,
            "multi_label": MULTI_LABEL_RULES,
            "intra_class_estimator": INTRA_CLASS_ESTIMATORS,
            "text_match_label": TEXT_MATCH_LABEL_RULES,
            "text_match_nsfw_rule": NSFW_RULES,
        }
        for key, choices in allowed.items():
            value = getattr(self, key)
            if value not in choices:
                raise ValueError(
                    f"recipe {self.name!r}: {key}={value!r} is not one of {', '.join(choices)}"
                )
        cap = self.intra_class_max_per_class
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 2):
            raise ValueError(
                f"recipe {self.name!r}: intra_class_max_per_class must be None or an int "
                f">= 2, got {cap!r}"
            )

    def to_dict(self) -> dict[str, object]:
        """Every setting, JSON-ready (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def with_overrides(self, **overrides: object) -> Recipe:
        """This recipe with single settings replaced (None values are ignored).

        Raises:
            ValueError: A key is not a setting, or a value is not allowed.
        """
        known = {f.name for f in fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown recipe settings {unknown}; known: {sorted(known)}")
        given = {k: v for k, v in overrides.items() if v is not None}
        changed = {k: v for k, v in given.items() if getattr(self, k) != v}
        if not changed:
            return self
        suffix = ",".join(f"{k}={v}" for k, v in sorted(changed.items()))
        return replace(self, name=f"{self.name}+{suffix}", **changed)


_PAPER = {
    "lemma_source_omits": AUTHORS_LIST_OMITS,
    "match_mode": "paper",
    "synset_format": "wordnet_name_def",
    "intra_class_estimator": "paper",
    "intra_class_max_per_class": 100,
    "text_match_label": "every-class",
    "text_match_nsfw_rule": "keep-all",  # Section 4.3's code does not filter NSFW
}

RECIPES: Mapping[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "paper-tmlr",
            "the published (TMLR) paper and the authors' released code: 822k samples, 915 classes",
            nsfw_rule="unlikely-only",
            ocr_rule="drop-class-text",
            **_PAPER,
        ),
        Recipe(
            "paper-arxiv",
            "the arXiv version of the paper: 880k samples, 918 classes",
            nsfw_rule="drop-nsfw",
            **_PAPER,
        ),
        Recipe(
            "explorer",
            "this project's own: normalised matching, the U-statistic interval over all "
            "images, the published paper's content rules",
            nsfw_rule="unlikely-only",
            ocr_rule="drop-class-text",
        ),
    )
}
# The published paper: a user who reads nothing gets the paper's LAIONet.
DEFAULT_RECIPE = "paper-tmlr"


def get_recipe(name: str | None = None) -> Recipe:
    """The recipe called ``name`` (``DEFAULT_RECIPE`` when None).

    Raises:
        ValueError: No recipe has that name.
    """
    key = DEFAULT_RECIPE if name is None else name
    if key not in RECIPES:
        raise ValueError(f"unknown recipe {key!r}; known: {', '.join(RECIPES)}")
    return RECIPES[key]


def read_recipe_name(parameters: Mapping[str, object] | None) -> str | None:
    """The recipe name recorded in a dataset's parameters, if any."""
    if not parameters:
        return None
    recipe = parameters.get("recipe")
    if isinstance(recipe, Mapping):
        return str(recipe.get("name"))
    return None if recipe is None else str(recipe)


def describe_ocr_filter(recipe: Recipe | None, *, ocr_text_given: bool) -> str:
    """What happened to a recipe's OCR rule, in words recorded with the data.

    Returns:
        ``OCR_NOT_APPLIED`` when the rule wants OCR text and none was given.
    """
    return describe_ocr_rule(
        "none" if recipe is None else recipe.ocr_rule, ocr_text_given=ocr_text_given
    )


def describe_ocr_rule(ocr_rule: str, *, ocr_text_given: bool) -> str:
    """What happened to an OCR rule (one of ``OCR_RULES``), in words recorded with the data.

    Returns:
        ``OCR_NOT_APPLIED`` when the rule wants OCR text and none was given.
    """
    if ocr_rule == "none":
        return "no OCR filter in this recipe"
    if not ocr_text_given:
        return OCR_NOT_APPLIED
    return "OCR filter applied: samples whose OCR text contains a lemma of their class dropped"


def describe_recipe(recipe: Recipe | None, *, ocr_text_given: bool = False) -> dict[str, object]:
    """The recipe as recorded in a dataset's parameters and in manifests.

    Logs a warning when the recipe's OCR filter has no OCR text to read.

    Returns:
        ``{"recipe": every setting (or None), "ocr_filter": describe_ocr_filter(...)}``.
    """
    ocr = describe_ocr_filter(recipe, ocr_text_given=ocr_text_given)
    if ocr == OCR_NOT_APPLIED:
        logger.warning("recipe %s: %s", recipe.name if recipe else None, ocr)
    return {"recipe": recipe.to_dict() if recipe else None, "ocr_filter": ocr}


def read_recorded_recipe(parameters: Mapping[str, object] | None) -> Recipe | None:
    """The recipe recorded in a dataset's parameters (with its overrides), if any.

    A recorded name without settings (or settings this version cannot read) gives the
    named recipe when it exists, else None; a warning says so.
    """
    recorded = (parameters or {}).get("recipe")
    if isinstance(recorded, Mapping):
        settings = {k: tuple(v) if isinstance(v, list) else v for k, v in recorded.items()}
        try:
            return Recipe(**settings)
        except (TypeError, ValueError) as error:
            logger.warning("recorded recipe %r not readable (%s)", recorded.get("name"), error)
    name = read_recipe_name(parameters)
    return RECIPES.get(name.split("+", 1)[0]) if name else None
