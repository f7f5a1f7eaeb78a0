"""``python -m precompute add-predictions``: a model's top-5 predictions into the database.

Two sources. ``--from FILE`` (parquet or CSV) with ``sample_id`` and either predicted
wnids (``top5`` list, or ``pred_1`` .. ``pred_5``) or the paper's released boolean columns
``top_1_is_correct_<model>`` / ``top_5_is_correct_<model>`` (stored as the synthetic
lists described in ``laionet_core.comparison``). ``--simulate`` fits a nearest-class-mean
classifier on the ImageNet-like reference images (class means of ``imagenet-val``) and
predicts every sample of every dataset; it is a SIMULATED ImageNet-trained model and its
name always starts with ``simulated-``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from laionet_core import queries, schema
from laionet_core.accuracy import calibrate_feature_noise, compute_nearest_class_mean_predictions
from laionet_core.comparison import UNKNOWN_PREDICTION, parse_prediction_table
from laionet_core.settings import LAIONET_DATASET
from laionet_core.storage import open_database_for_update

logger = logging.getLogger(__name__)

# The simulated model learns from the ImageNet-like validation images, as a stand-in for
# a model trained on ImageNet's training set.
DEFAULT_FIT_DATASET = "imagenet-val"
# Every simulated model's name starts with this, so no chart can pass it off as real.
SIMULATED_PREFIX = "simulated-"
# Top-1 accuracy the simulated model has on its own reference images (leave-one-out):
# about a ResNet-50's on ImageNet, so the simulated model errs like a real one.
TARGET_FIT_ACCURACY = 0.80
# Seed of the simulated model's feature noise.
SIMULATION_SEED = 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``add-predictions``."""
    parser = subparsers.add_parser(
        "add-predictions",
        help="store a model's top-5 predictions (from a file, or a simulated model)",
        description="Store top-5 predicted wnids per sample in the predictions table.",
    )
    parser.add_argument("--db", type=Path, required=True, help="database to update")
    parser.add_argument("--model", required=True, help="model name to store them under")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--from", dest="source", type=Path, help="parquet or CSV predictions")
    source.add_argument(
        "--simulate",
        action="store_true",
        help="a SIMULATED nearest-class-mean model fitted on the reference images",
    )
    parser.add_argument(
        "--dataset",
        default=LAIONET_DATASET,
        help="dataset of the file's samples when it has no 'dataset' column (default: %(default)s)",
    )
    parser.add_argument(
        "--fit-dataset",
        default=DEFAULT_FIT_DATASET,
        help="dataset whose class means the simulated model uses (default: %(default)s)",
    )
    parser.add_argument(
        "--target-accuracy",
        type=float,
        default=TARGET_FIT_ACCURACY,
        help="simulated model's top-1 accuracy on the fit dataset (default: %(default)s)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read or simulate, then store."""
    if args.simulate:
        model = simulate_predictions(
            args.db,
            args.model,
            fit_dataset=args.fit_dataset,
            target_accuracy=args.target_accuracy,
        )
    else:
        model = add_prediction_file(args.db, args.model, args.source, dataset=args.dataset)
    logger.info("stored predictions of %s in %s", model, args.db)
    return 0


def read_prediction_file(path: Path) -> pd.DataFrame:
    """A parquet or CSV file as a DataFrame (sample ids kept as text)."""
    if not path.is_file():
        raise FileNotFoundError(f"prediction file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if suffix in (".csv", ".tsv"):
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype={"sample_id": str})
    raise ValueError(f"prediction file {path} must be .parquet, .csv or .tsv, not {suffix!r}")


def add_prediction_file(db: Path, model: str, path: Path, *, dataset: str) -> str:
    """Parse ``path`` and store it as ``model``'s predictions; returns the model name."""
    raw = read_prediction_file(path)
    with open_database_for_update(db) as con:
        names = set(queries.read_datasets(con)["dataset"])
        if "dataset" not in raw.columns:
            raw = raw.assign(dataset=dataset)
        unknown = sorted(set(raw["dataset"].astype(str)) - names)
        if unknown:
            raise ValueError(
                f"{path}: dataset(s) {unknown} not in the database; has {sorted(names)}"
            )
        classes = set(queries.read_classes(con)["wnid"]) | {UNKNOWN_PREDICTION}
        parts = []
        for name, group in raw.groupby(raw["dataset"].astype(str), sort=True):
            truth = queries.read_samples(con, name).set_index("sample_id")["wnid"]
            try:
                parsed = parse_prediction_table(group, model=None, true_wnids=truth)
            except ValueError as e:
                raise ValueError(f"{path}: {e}") from e
            missing = ~parsed["sample_id"].isin(truth.index)
            if missing.any():
                raise ValueError(
                    f"{path}: sample_id {parsed['sample_id'][missing].iloc[0]!r} "
                    f"is not in dataset {name!r}"
                )
            flat = {w for items in parsed["top5_wnids"] for w in items}
            bad = sorted(flat - classes)
            if bad:
                raise ValueError(
                    f"{path}: predicted wnid {bad[0]!r} is not a class of the database"
                )
            parts.append(parsed.assign(dataset=name))
        write_predictions(con, model, pd.concat(parts, ignore_index=True))
    return model


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


def write_predictions(con: duckdb.DuckDBPyConnection, model: str, frame: pd.DataFrame) -> None:
    """Replace ``model``'s predictions for the datasets in ``frame``.

    Args:
        frame: Columns dataset, sample_id, top5_wnids (list of str).
    """
    for dataset in frame["dataset"].unique():
        con.execute(
            f"DELETE FROM {schema.PREDICTIONS} WHERE model = ? AND dataset = ?", [model, dataset]
        )
    data = pa.table(
        {
            "dataset": pa.array(frame["dataset"].astype(str).tolist(), pa.string()),
            "model": pa.array([model] * len(frame), pa.string()),
            "sample_id": pa.array(frame["sample_id"].astype(str).tolist(), pa.string()),
            "top5_wnids": pa.array(
                [list(map(str, v)) for v in frame["top5_wnids"]], pa.list_(pa.string())
            ),
        }
    )
    con.register("_new_predictions", data)
    try:
        con.execute(
            f"INSERT INTO {schema.PREDICTIONS} (dataset, model, sample_id, top5_wnids) "
            "SELECT dataset, model, sample_id, top5_wnids FROM _new_predictions"
        )
    finally:
        con.unregister("_new_predictions")
