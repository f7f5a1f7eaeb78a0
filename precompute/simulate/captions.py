"""Caption templates of the simulated corpus: web-like alt texts around real lemmas.

Template words are chosen so they contain no ImageNet-1k lemma (a unit test checks
this with a whole-word matcher), so the only lemmas in a caption are the ones put
there on purpose. Raw-web noise is kept: HTML tags and entities, ``<script>`` strings,
non-ASCII text, case variants and punctuation.
"""

from __future__ import annotations

import numpy as np

# "{x}" is a lemma of the class the caption shows.
SINGLE_TEMPLATES = (
    "{x}",
    "a photo of a {x}",
    "close-up of a {x} on a white background",
    "{x} in the wild",
    "my {x} at home",
    "beautiful {x} photographed outdoors",
    "vintage {x} illustration",
    "{x} | royalty free image",
    "{x} - high resolution picture",
    "the best {x} pictures of 2015",
    "cute {x}!!!",
    "{x}, side view",
    "Image of {x} #1234",
    "watercolor painting of a {x}",
    "new {x} for sale, free delivery",
    "{x} close up, macro",
    "our {x} :)",
    "an old {x} seen from above",
)
# "{x}" and "{y}" name two classes.
MULTI_TEMPLATES = (
    "{x} and {y}",
    "a {x} next to a {y}",
    "{x} with {y} in the background",
    "photo: {x} meets {y}",
    "{x} or {y}? you decide",
)
# Captions that name no class.
UNMATCHED_TEMPLATES = (
    "IMG_{n}.JPG",
    "DSC{n}",
    "free delivery on orders over $50",
    "happy birthday to my best friend!",
    "download wallpaper 1920x1080",
    "wedding day highlights",
    "sunset over the hills",
    "view from our hotel room",
    "summer 2012 - day {n}",
    "untitled",
    "product photo {n}",
    "click here for more info",
    "family trip to the mountains",
    "abstract background texture",
    "my favourite things",
    "logo design concept {n}",
)
# Templates for each other sense, keyed by the borrowed lemma.
OTHER_SENSE_TEMPLATES = {
    "puma": (
        "{x} suede classic sneakers, size 10",
        "<b>{X}</b> Suede &amp; more",
        "{x} men's running tee",
        "{x} logo hoodie black",
        "original {x} trainers - free delivery",
    ),
    "orange": (
        "{x} summer dress",
        "bright {x} wall paint",
        "{x} and navy bedroom ideas",
        "{x} sky at dusk",
        "neon {x} phone case",
    ),
    "mouse": (
        "field {x} eating seeds",
        "a little grey {x} in the grass",
        "{x} in a garden",
        "baby {x} in hand",
        "wild {x} close up",
    ),
    "jaguar": (
        "used {x} xf 2.0d for sale",
        "{x} xk8 2001 silver",
        "{X} F-Type R coupe",
        "1968 {x} e-type series 1",
        "{x} dealership in town",
    ),
}
SHARED_TEMPLATES = ("black {x} in the zoo", "{x} resting on a branch", "the {x} roars")
# Raw-web decorations applied on top of any caption.
HTML_WRAPS = (
    "<b>{c}</b>",
    "{c} &amp; more",
    "<p>{c}</p>",
    '<a href="/shop">{c}</a>',
    "{c}<script>alert('sim')</script>",
    "{c} &quot;best&quot;",
)
NON_ASCII_WRAPS = (
    "{c} — Café",
    "{c} ☕",
    "{c} 🐾",
    "写真: {c}",
    "Ünïcödé {c}",
    "{c} · naïve façade",
)
# ImageNet-Captions parts for images whose text does not explain their label (Section 4.2).
UNEXPLAINED_TITLES = ("IMG_{n}", "DSC_{n}", "holiday 2008", "untitled", "weekend", "P{n}")
UNEXPLAINED_DESCRIPTIONS = ("", "taken on my trip", "with my new lens", "saturday afternoon")
UNEXPLAINED_TAGS = (("2008", "vacation"), ("flickr",), ("family", "summer"), ())
EXPLAINED_TITLES = ("{x}", "my {x}", "{x} #{n}", "a {x}")
EXPLAINED_DESCRIPTIONS = ("a {x} I saw today", "", "another {x} picture", "{x} close up")


def _fill(template: str, lemma: str, other: str, n: int) -> str:
    return template.format(x=lemma, X=lemma.upper(), y=other, n=n)


def build_captions(
    kinds: np.ndarray,
    lemma_a: list[str],
    lemma_b: list[str],
    rng: np.random.Generator,
    *,
    html_fraction: float,
    non_ascii_fraction: float,
) -> list[str]:
    """Render one caption per row.

    Args:
        kinds: (N,) caption kinds (``KIND_*`` of ``simulate_world``).
        lemma_a: Per row, the lemma the caption uses ("" for unmatched rows).
        lemma_b: Per row, the second lemma of multi-label rows ("" otherwise).
        rng: Random generator.
        html_fraction: Share of captions wrapped in HTML.
        non_ascii_fraction: Share of captions with non-ASCII decoration.

    Returns:
        N caption strings.
    """
    from precompute.simulate.world import KIND_MULTI, KIND_SHARED, KIND_SINGLE, KIND_WRONG_SENSE

    n = kinds.size
    pick = rng.integers(0, 1 << 30, size=n)
    numbers = rng.integers(1000, 9999, size=n)
    wrap = rng.random(n)
    wrap_pick = rng.integers(0, 1 << 30, size=n)
    capitalise = rng.random(n) < 0.12
    captions = []
    for i in range(n):
        kind = int(kinds[i])
        if kind == KIND_SINGLE:
            templates = SINGLE_TEMPLATES
        elif kind == KIND_MULTI:
            templates = MULTI_TEMPLATES
        elif kind == KIND_WRONG_SENSE:
            templates = OTHER_SENSE_TEMPLATES[lemma_a[i]]
        elif kind == KIND_SHARED:
            templates = SHARED_TEMPLATES
        else:
            templates = UNMATCHED_TEMPLATES
        text = _fill(templates[pick[i] % len(templates)], lemma_a[i], lemma_b[i], int(numbers[i]))
        # "Sea cucumber" would name cucumber to a case-sensitive matcher: multi-word
        # lemmas at the start stay lower-case, so a caption names only its own classes.
        if capitalise[i] and not (" " in lemma_a[i] and text.startswith(lemma_a[i])):
            text = text[:1].upper() + text[1:]
        if wrap[i] < html_fraction:
            text = HTML_WRAPS[wrap_pick[i] % len(HTML_WRAPS)].format(c=text)
        elif wrap[i] < html_fraction + non_ascii_fraction:
            text = NON_ASCII_WRAPS[wrap_pick[i] % len(NON_ASCII_WRAPS)].format(c=text)
        captions.append(text)
    return captions


def build_imagenet_caption(
    lemma: str, explained: bool, rng: np.random.Generator
) -> tuple[str, str, list[str]]:
    """Title, description and tags of one ImageNet-Captions-like record.

    Args:
        lemma: A lemma of the image's class.
        explained: Whether the text names the class (most do; Section 4.2).
        rng: Random generator.

    Returns:
        ``(title, description, tags)``.
    """
    n = int(rng.integers(1000, 9999))
    if explained:
        title = EXPLAINED_TITLES[rng.integers(len(EXPLAINED_TITLES))].format(x=lemma, n=n)
        desc = EXPLAINED_DESCRIPTIONS[rng.integers(len(EXPLAINED_DESCRIPTIONS))].format(x=lemma)
        tags = [lemma, "nature"] if rng.random() < 0.5 else [lemma]
        return title, desc, tags
    title = UNEXPLAINED_TITLES[rng.integers(len(UNEXPLAINED_TITLES))].format(n=n)
    desc = UNEXPLAINED_DESCRIPTIONS[rng.integers(len(UNEXPLAINED_DESCRIPTIONS))]
    tags = list(UNEXPLAINED_TAGS[rng.integers(len(UNEXPLAINED_TAGS))])
    return title, desc, tags
