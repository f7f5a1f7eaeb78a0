"""The paper-scale preset's reference sets, SIMULATED models and text match.

The references are the simulator's image-selected sets (``precompute.simulate.references``)
drawn a block of classes at a time; the models are nearest-class-mean classifiers fitted
on ImageNet-val (``laionet_core.nearest_class_mean``) at two noise levels; the text match
keeps, for every ImageNet-Captions-like text, its exact nearest LAION caption among the
stored caption embeddings, updated chunk by chunk as LAIONet is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from laionet_core import schema
from laionet_core.nearest_class_mean import (
    calibrate_feature_noise,
    fit_nearest_class_means,
    predict_nearest_class_means,
)
from laionet_core.settings import IMAGENET_CAPTIONS_DATASET, IMAGENET_DATASET
from laionet_core.storage_arrow import insert_arrow
from precompute.simulate.references import (
    CANDIDATES_PER_IMAGE,
    REFERENCE_TARGETS,
    ReferenceSet,
    build_captions_set,
    draw_hex_ids,
    select_by_image,
)
from precompute.simulate.world import World

# Floats per drawn (candidates x D) block when drawing references (bounds memory).
REFERENCE_BLOCK_FLOATS = 20_000_000
# The SIMULATED models: name -> leave-one-out top-1 accuracy on ImageNet-val.
PAPER_SCALE_MODELS = {
    "simulated-nearest-class-mean": 0.80,
    "simulated-nearest-class-mean-weak": 0.65,
}


def draw_reference_set(
    world: World, name: str, per_class: int, seed: int
) -> tuple[ReferenceSet, np.ndarray]:
    """One image-selected (or captioned) set, drawn a block of classes at a time.

    Returns:
        The set and its (N,) world-class rows (grouped by class, ``per_class`` each).
    """
    number = list(REFERENCE_TARGETS).index(name)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 23, number]))
    dim = world.image_proto.shape[1]
    block = max(1, REFERENCE_BLOCK_FLOATS // (per_class * CANDIDATES_PER_IMAGE * dim))
    rows, embs = [], []
    for lo in range(0, world.n_classes, block):
        classes = np.arange(lo, min(lo + block, world.n_classes))
        r, e, _ = select_by_image(world, per_class, REFERENCE_TARGETS[name], rng, classes=classes)
        rows.append(r)
        embs.append(e)
    rows_c, emb = np.concatenate(rows), np.concatenate(embs)
    wnids = [world.wnids[r] for r in rows_c]
    if name == IMAGENET_CAPTIONS_DATASET:
        return build_captions_set(world, rows_c, emb, rng), rows_c
    if name == IMAGENET_DATASET:
        ids = [f"ILSVRC2012_val_{n:08d}" for n in rng.permutation(len(rows_c)) + 1]
    else:
        ids = draw_hex_ids(rng, len(rows_c))
    return ReferenceSet(name, {"sample_id": ids, "wnid": wnids}, emb), rows_c


@dataclass
class SimulatedModels:
    """The preset's SIMULATED models, fitted once, predicting batch by batch."""

    fit: np.ndarray
    fit_labels: np.ndarray
    noise: dict[str, float]
    seed: int

    @classmethod
    def calibrate(cls, fit: np.ndarray, labels: np.ndarray, seed: int) -> SimulatedModels:
        """Fit on ImageNet-val and set each model's noise from its target accuracy."""
        noise = {
            name: calibrate_feature_noise(fit, labels, target_accuracy=target, seed=seed)
            for name, target in PAPER_SCALE_MODELS.items()
        }
        return cls(fit, labels, noise, seed)

    def __post_init__(self) -> None:
        self._model = fit_nearest_class_means(self.fit, self.fit_labels)
        self._batches = 0

    def write(
        self,
        con,
        dataset: str,
        sample_ids: pa.Array,
        embeddings: np.ndarray,
        *,
        leave_out: np.ndarray | None = None,
    ) -> None:
        """Predict ``embeddings`` with every model and insert the top-5 lists."""
        if len(sample_ids) == 0:
            return
        self._batches += 1
        for number, (name, noise) in enumerate(self.noise.items()):
            top = predict_nearest_class_means(
                self._model,
                embeddings,
                self.fit,
                leave_out=leave_out,
                noise=noise,
                seed=self.seed * 1_000_003 + self._batches * 7 + number,
            )
            offsets = pa.array(np.arange(0, top.size + 1, top.shape[1], dtype=np.int32))
            table = pa.table(
                {
                    "dataset": pa.array([dataset] * len(top)),
                    "model": pa.array([name] * len(top)),
                    "sample_id": sample_ids,
                    "top5_wnids": pa.ListArray.from_arrays(offsets, pa.array(top.ravel())),
                }
            )
            insert_arrow(con, schema.PREDICTIONS, table)


class StreamedTextMatch:
    """Exact nearest stored LAION caption of every query text, updated chunk by chunk."""

    def __init__(self, queries: np.ndarray, labels: np.ndarray) -> None:
        self.queries = np.asarray(queries, dtype=np.float32)
        self.labels = labels
        q, dim = self.queries.shape
        self.best = np.full(q, -np.inf, dtype=np.float32)
        self.index = np.full(q, -1, dtype=np.int64)
        self.img = np.zeros((q, dim), dtype=np.float32)
        self.text = np.zeros((q, dim), dtype=np.float32)
        self.meta = pd.DataFrame({"sample_id": "", "url": "", "text": "", "nsfw": ""}, range(q))
        self.searched = 0

    def update(
        self, index: np.ndarray, img: np.ndarray, text: np.ndarray, meta: pd.DataFrame
    ) -> None:
        """Search one chunk's stored captions (rows of ``text``, ``img``, ``meta``)."""
        if len(index) == 0:
            return
        self.searched += len(index)
        sims = self.queries @ text.T
        arg = np.argmax(sims, axis=1)
        value = sims[np.arange(len(arg)), arg]
        better = value > self.best
        rows = arg[better]
        self.best[better] = value[better]
        self.index[better] = index[rows]
        self.img[better] = img[rows]
        self.text[better] = text[rows]
        self.meta.loc[better, :] = meta.iloc[rows].to_numpy()
