"""Captions where a lemma is used in its class's sense or in another one.

Other tests import it as ``from tests.sense_captions import ...``. The wrong-sense
captions are real web captions from ``/work/shared/data/web_captions_1000.parquet``.
"""

from __future__ import annotations

SENSES = {
    # wnid: (right-sense captions, wrong-sense captions)
    "n07747607": (  # orange, the fruit
        ["Orange & Grapefruit Soap Bar - 95g"],
        [
            "Chaussures Femme Tongs Havaianas YOU MAXI Orange",
            "Laurette Sweater Dress by Marissa Webb worn by Braunwyn Windham-Burke  on The "
            "Real Housewives of Orange County",
            "Abstract orange set backgrounds vector image",
        ],
    ),
    "n03793489": (  # mouse, the computer pointing device
        [],
        ["Brown-Gray | Smoky walnut, combination light brown with silver highlights (mouse brown)"],
    ),
    "n02125311": (  # cougar (lemma "puma"), the animal
        [],
        ["zapatillas PUMA Future Cat Remix L  Black/Puma Silver/Prism Violet"],
    ),
}
# The 1,000 real captions hold no fruit-sense "orange" photo, no computer mouse and no
# puma animal, so these right-sense captions are hand-written.
HAND_WRITTEN_RIGHT = {
    "n07747607": ["a peeled orange and slices of citrus fruit on a plate"],
    "n03793489": ["wireless optical mouse for laptop and desktop computers, USB receiver"],
    "n02125311": ["a puma resting on a rock in the mountains, wild cat photo"],
}
