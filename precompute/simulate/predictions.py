"""The SIMULATED model: nearest class means of the ImageNet-like reference images.

It fits a nearest-class-mean classifier on the reference images (class means of
``imagenet-val``) and predicts every sample of every dataset: a stand-in for an
ImageNet-trained model, whose name always starts with ``simulated-``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from laionet_core import queries
from laionet_core.nearest_class_mean import (
    calibrate_feature_noise,
    compute_nearest_class_mean_predictions,
)
from laionet_core.selection import DEFAULT_THRESHOLD
from laionet_core.settings import IMAGENET_DATASET
from laionet_core.storage import open_database_for_update
from precompute.analyses.class_metrics import compute_database_metrics
from precompute.analyses.predictions import write_predictions

logger = logging.getLogger(__name__)

# The simulated model learns from the ImageNet-like validation images, as a stand-in for
# a model trained on ImageNet's training set.
DEFAULT_FIT_DATASET = IMAGENET_DATASET
# Every simulated model's name starts with this, so no chart can pass it off as real.
SIMULATED_PREFIX = "simulated-"
# Top-1 accuracy the simulated model has on its own reference images (leave-one-out):
# about a ResNet-50's on ImageNet, so the simulated model errs like a real one.
TARGET_FIT_ACCURACY = 0.80
# Seed of the simulated model's feature noise.
SIMULATION_SEED = 0
# The demo's model: a nearest-class-mean classifier on the reference images (SIMULATED).
DEMO_MODEL = "simulated-nearest-class-mean"


def simulate_predictions(
    db: Path,
    model: str,
    *,
    fit_dataset: str = DEFAULT_FIT_DATASET,
    target_accuracy: float = TARGET_FIT_ACCURACY,
) -> str:
    """Predict every sample with the SIMULATED nearest-class-mean model; returns its name.

    The model's feature noise is calibrated so its leave-one-out top-1 accuracy on
    ``fit_dataset`` is ``target_accuracy``; samples of ``fit_dataset`` are predicted
    leaving themselves out of their class mean.
    """
    name = model if model.startswith(SIMULATED_PREFIX) else SIMULATED_PREFIX + model
    with open_database_for_update(db) as con:
        fit_ids, fit = queries.read_embeddings(con, fit_dataset)
        if fit_ids.empty:
            raise ValueError(f"dataset {fit_dataset!r} has no image embeddings to fit on")
        noise = calibrate_feature_noise(
            fit, fit_ids["wnid"].to_numpy(), target_accuracy=target_accuracy, seed=SIMULATION_SEED
        )
        logger.info("simulated model: feature noise %.4f per dimension", noise)
        fit_row = pd.Series(np.arange(len(fit_ids)), index=fit_ids["sample_id"].to_numpy())
        parts = []
        for dataset in queries.read_datasets(con)["dataset"]:
            ids, emb = queries.read_embeddings(con, dataset)
            if ids.empty:
                continue
            leave_out = None
            if dataset == fit_dataset:
                leave_out = fit_row.reindex(ids["sample_id"]).to_numpy(np.int64)
            top = compute_nearest_class_mean_predictions(
                fit,
                fit_ids["wnid"].to_numpy(),
                emb,
                leave_out=leave_out,
                noise=noise,
                seed=SIMULATION_SEED,
            )
            parts.append(
                pd.DataFrame(
                    {"dataset": dataset, "sample_id": ids["sample_id"], "top5_wnids": top.tolist()}
                )
            )
            logger.info(
                "%s: top-1 %.3f (sample-weighted)", dataset, np.mean(top[:, 0] == ids["wnid"])
            )
        write_predictions(con, name, pd.concat(parts, ignore_index=True))
    return name


def add_demo_metrics(db: Path) -> None:
    """The demo's metrics stage: class metrics plus the SIMULATED model's predictions."""
    rows = compute_database_metrics(db, thresholds=[DEFAULT_THRESHOLD])
    if rows.empty or DEFAULT_FIT_DATASET not in set(rows["dataset"]):
        logger.info("no %s reference images: no simulated model predictions", DEFAULT_FIT_DATASET)
        return
    simulate_predictions(db, DEMO_MODEL)
