"""The ``paper-scale`` preset: a SIMULATED database shaped like LAIONet's real one.

``python -m precompute demo --preset paper-scale --db PATH`` writes, straight into
DuckDB through ``laionet_core.storage``'s writers and Arrow inserts (no corpus on disk,
no per-candidate thumbnail):

* ``laionet``: about 21M matched captions (the paper's 21M LAION samples whose caption
  names a lemma) over the 994 ILSVRC classes that have a lemma of their own, with
  LAIONet's heavy-tailed class frequencies (``compute_class_counts``) and about 880k
  above 0.82; image and caption embeddings are stored for those above the floor, as a
  real ``build --embedding-floor 0.82`` keeps them;
* the image-selected references (ImageNet-val 50 per class, ImageNetV2 a/b/c 10 per
  class) and an ImageNet-Captions-like set, drawn from the simulator's world;
* the text-matched dataset (exact nearest caption among the stored LAION captions),
  two SIMULATED models' predictions, caption diagnostics and class metrics.

Thumbnails come from a bounded pool per dataset and class, rendered from that class's
images, so the class browser shows pictures of the right class. Everything is labelled
simulated (``meta.simulated``, ``datasets.simulated``, ``.invalid`` URLs, "SIM" stamps).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from scipy.special import ndtri

from laionet_core.selection import DEFAULT_THRESHOLD

logger = logging.getLogger(__name__)

PRESET_NAME = "paper-scale"
# Where the preset goes without --db (never the demo database; data/ is ignored by git).
DEFAULT_PAPER_SCALE_DB = Path("data/paper_scale/laionet_paper_scale.duckdb")


@dataclass(frozen=True)
class PaperScaleConfig:
    """Knobs of the paper-scale database; the defaults are the real LAIONet's shape.

    Attributes:
        n_samples: Matched captions (LAIONet's candidates; the paper's 21M).
        n_selected: Expected captions above ``threshold`` (LAIONet: about 880k).
        threshold: The selection threshold and embedding floor (the paper's 0.82).
        n_classes: World classes (994 ILSVRC classes have a lemma of their own).
        dim: Embedding dimension (512, CLIP ViT-B/32's).
        median_selected: Selected samples of the median class.
        q25_selected: Selected samples of the class at the first quartile.
        head_share: Share of LAIONet held by its most frequent class.
        selection_rate_sd: Log-normal spread of per-class selection rates.
        similarity_sd: Spread of captions' synset similarity around their class mean.
        multi_label_fraction: Captions that name a second class.
        nsfw_fraction: Rows tagged ``NSFW``; ``unsure_fraction``: tagged ``UNSURE``;
            ``untagged_fraction``: without a tag (the TMLR rule drops both).
        chunk_rows: Captions drawn and written at once (bounds memory).
        thumbnails_per_class: Pool of thumbnails per dataset and class.
        imagenet_val_per_class: ImageNet-val images per class (50 000 in all).
        imagenetv2_per_class: ImageNetV2 images per class, per variant (10 000 each).
        captions_per_class: ImageNet-Captions-like images per class (the text queries).
        seed: Seed of every draw.
        duckdb_memory: DuckDB's memory limit while writing.
    """

    n_samples: int = 20_500_000
    n_selected: int = 880_000
    threshold: float = DEFAULT_THRESHOLD
    n_classes: int = 994
    dim: int = 512
    median_selected: int = 300
    q25_selected: int = 45
    head_share: float = 0.05
    selection_rate_sd: float = 0.8
    similarity_sd: float = 0.055
    multi_label_fraction: float = 0.03
    nsfw_fraction: float = 0.015
    unsure_fraction: float = 0.08
    untagged_fraction: float = 0.02
    chunk_rows: int = 250_000
    thumbnails_per_class: int = 12
    imagenet_val_per_class: int = 50
    imagenetv2_per_class: int = 10
    captions_per_class: int = 10
    seed: int = 0
    duckdb_memory: str = "3GB"

    def __post_init__(self) -> None:
        checks = {
            "n_selected": 0 < self.n_selected < self.n_samples,
            "n_classes": 100 <= self.n_classes <= 994,
            "dim": self.dim >= 16,
            "q25_selected": 0 < self.q25_selected < self.median_selected,
            "head_share": 0.0 < self.head_share < 1.0,
            "chunk_rows": self.chunk_rows >= 1_000,
            "thumbnails_per_class": self.thumbnails_per_class >= 1,
            "imagenet_val_per_class": self.imagenet_val_per_class >= 2,
            "imagenetv2_per_class": self.imagenetv2_per_class >= 1,
            "captions_per_class": self.captions_per_class >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"PaperScaleConfig.{name}={getattr(self, name)!r} is not allowed")

    def to_dict(self) -> dict[str, object]:
        """The config as JSON-ready values."""
        return asdict(self)

    def tiny(self) -> PaperScaleConfig:
        """The same preset at test size: the same code path with small numbers."""
        return replace(
            self,
            n_samples=60_000,
            n_selected=6_000,
            n_classes=120,
            dim=32,
            median_selected=30,
            q25_selected=6,
            chunk_rows=8_000,
            thumbnails_per_class=2,
            imagenet_val_per_class=6,
            imagenetv2_per_class=2,
            captions_per_class=3,
            duckdb_memory="1GB",
        )


def compute_selected_counts(config: PaperScaleConfig) -> np.ndarray:
    """Expected selected samples per class rank (descending), LAIONet's heavy tail.

    ``log S = log(median) + b_lo z`` below the median class and ``b z + c z^2`` above,
    with ``z`` the normal score of the rank: ``b_lo`` puts the first quartile at
    ``q25_selected``; ``c`` puts the head class at ``head_share`` of ``n_selected``;
    ``b`` (bisection) makes the counts sum to ``n_selected``.

    Returns:
        (n_classes,) float64 expected counts, largest first.
    """
    n = config.n_classes
    z = ndtri(1.0 - (np.arange(n) + 0.5) / n)
    log_m = np.log(config.median_selected)
    b_lo = np.log(config.median_selected / config.q25_selected) / -ndtri(0.25)
    head = np.log(config.head_share * config.n_selected)

    def counts(b: float) -> np.ndarray:
        c = (head - log_m - b * z[0]) / z[0] ** 2
        return np.exp(log_m + np.where(z < 0, b_lo * z, b * z + c * z * z))

    low, high = -5.0, 10.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if counts(mid).sum() < config.n_selected else (low, mid)
    return counts((low + high) / 2)


def compute_class_plan(
    config: PaperScaleConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Matched captions and mean synset similarity per class rank.

    Each class gets a selection rate (log-normal around ``n_selected / n_samples``), so
    its caption count is its selected count over that rate, rescaled so the counts sum
    to ``n_samples``; its mean similarity puts exactly that rate above the threshold.

    Returns:
        ``(n_captions, mean_similarity)``: (C,) int64 (at least 20 each) and (C,)
        float64, in rank order (most selected first).
    """
    selected = compute_selected_counts(config)
    base = config.n_selected / config.n_samples
    sd = config.selection_rate_sd
    rate = base * np.exp(sd * rng.standard_normal(config.n_classes) - sd * sd / 2)
    for _ in range(20):
        rate = np.clip(rate, 1e-4, 0.9)
        n = np.maximum(selected / rate, 20.0)
        rate = rate * n.sum() / config.n_samples
    n_captions = np.maximum(np.round(selected / np.clip(rate, 1e-4, 0.9)), 20).astype(np.int64)
    n_captions[0] += config.n_samples - n_captions.sum()
    rate = np.clip(selected / n_captions, 1e-6, 0.95)
    mean = config.threshold - config.similarity_sd * ndtri(1.0 - rate)
    return n_captions, mean


def build_paper_scale_database(
    config: PaperScaleConfig, db: Path, *, with_metrics: bool = True
) -> Path:
    """Write the paper-scale SIMULATED database to ``db`` atomically (module docstring).

    Args:
        config: The preset's knobs (``PaperScaleConfig()`` or its ``tiny()``).
        db: The database file (replaced only when everything succeeded).
        with_metrics: Also compute the class metrics (the demo's metrics stage).

    Returns:
        ``db``.
    """
    from precompute.simulate.paper_scale_write import write_paper_scale_database

    started = time.perf_counter()
    write_paper_scale_database(config, Path(db))
    if with_metrics:
        from precompute.analyses.class_metrics import compute_database_metrics

        compute_database_metrics(Path(db), thresholds=[config.threshold])
    logger.info(
        "paper-scale database (SIMULATED data) ready: %s, %.0f s", db, time.perf_counter() - started
    )
    return Path(db)
