"""Prediction tables as users give them, read into five predicted wnids per sample.

Predictions are stored as five predicted wnids per sample. Three layouts are read: a
``top5`` list column, ``pred_1`` ... ``pred_5`` columns, or the paper's boolean table
(``top_1_is_correct_<m>``, ``top_5_is_correct_<m>``), stored losslessly for top-1 and top-5
as a synthetic list: the true wnid first when top-1 is correct, the true wnid fifth when
only top-5 is correct, ``UNKNOWN_PREDICTION`` everywhere else.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from laionet_core.accuracy import PREDICTION_COLUMN
from laionet_core.comparison import TOP_K

# Placeholder wnid in a stored top-5 list where the source table said nothing.
UNKNOWN_PREDICTION = "?"
# Accepted names of the prediction-list columns.
TOP5_COLUMN = "top5"
PRED_COLUMNS = tuple(f"pred_{i}" for i in range(1, TOP_K + 1))
# Values read as booleans in the paper's columns (CSV gives text; 1/0 hash as True/False).
BOOLEAN_VALUES = {True: True, False: False, "true": True, "false": False, "1": True, "0": False}


def parse_prediction_table(
    table: pd.DataFrame, *, model: str | None = None, true_wnids: pd.Series | None = None
) -> pd.DataFrame:
    """Normalise a prediction table to ``sample_id`` and ``top5_wnids`` (list of 5 str).

    Accepted forms: ``sample_id`` with a ``top5`` list column; ``sample_id`` with
    ``pred_1`` .. ``pred_5``; or ``sample_id`` with the paper's boolean columns
    ``top_1_is_correct_<model>`` and ``top_5_is_correct_<model>`` (then ``true_wnids``,
    sample_id -> wnid, is needed to write the synthetic list described in this module's
    docstring). A ``dataset`` column, if present, is kept.

    Raises:
        ValueError: a missing or malformed column, a list of the wrong length, a
            non-boolean value or an unknown sample, each named.
    """
    if "sample_id" not in table.columns:
        raise ValueError(f"prediction table needs a 'sample_id' column; has {list(table.columns)}")
    ids = table["sample_id"].astype(str)
    if ids.duplicated().any():
        raise ValueError(f"prediction table repeats sample_id {ids[ids.duplicated()].iloc[0]!r}")
    if TOP5_COLUMN in table.columns:
        top5 = [_as_prediction_list(v, i) for v, i in zip(table[TOP5_COLUMN], ids, strict=True)]
    elif all(c in table.columns for c in PRED_COLUMNS):
        values = table.loc[:, list(PRED_COLUMNS)]
        bad = values.isna().any(axis=1)
        if bad.any():
            raise ValueError(f"pred_1..pred_5 are empty for sample_id {ids[bad].iloc[0]!r}")
        top5 = values.astype(str).to_numpy().tolist()
    else:
        top5 = _lists_from_booleans(table, ids, model, true_wnids)
    out = pd.DataFrame({"sample_id": ids.to_numpy(), "top5_wnids": top5})
    if "dataset" in table.columns:
        out.insert(0, "dataset", table["dataset"].astype(str).to_numpy())
    return out


def _as_prediction_list(value: object, sample_id: str) -> list[str]:
    if isinstance(value, str):
        items = [v.strip() for v in value.strip("[]").replace(",", " ").split()]
        items = [v.strip("'\"") for v in items if v]
    else:
        try:
            items = [str(v) for v in value]
        except TypeError as e:
            raise ValueError(f"top5 of sample_id {sample_id!r} is not a list: {value!r}") from e
    if len(items) != TOP_K:
        raise ValueError(f"top5 of sample_id {sample_id!r} has {len(items)} wnids, need {TOP_K}")
    return items


def _as_bool_column(table: pd.DataFrame, column: str, ids: pd.Series) -> np.ndarray:
    values = table[column]
    if values.dtype == bool:
        return values.to_numpy()
    mapped = values.map(
        lambda v: BOOLEAN_VALUES.get(v.strip().lower() if isinstance(v, str) else v)
    )
    bad = mapped.isna()
    if bad.any():
        raise ValueError(
            f"column {column!r} must be boolean; sample_id {ids[bad].iloc[0]!r} has "
            f"{values[bad].iloc[0]!r}"
        )
    return mapped.to_numpy(dtype=bool)


def _lists_from_booleans(
    table: pd.DataFrame, ids: pd.Series, model: str | None, true_wnids: pd.Series | None
) -> list[list[str]]:
    models = sorted({m.group(2) for c in table.columns if (m := PREDICTION_COLUMN.match(str(c)))})
    if not models:
        raise ValueError(
            "prediction table needs 'top5', 'pred_1'..'pred_5' or "
            f"'top_1_is_correct_<model>' columns; has {list(table.columns)}"
        )
    if model is None:
        if len(models) != 1:
            raise ValueError(f"prediction table has models {models}; pick one")
        model = models[0]
    cols = [f"top_1_is_correct_{model}", f"top_5_is_correct_{model}"]
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise ValueError(f"prediction table has no column(s) {missing}; models: {models}")
    if true_wnids is None:
        raise ValueError("boolean prediction columns need the samples' true wnids")
    truth = true_wnids.reindex(ids.to_numpy())
    if truth.isna().any():
        raise ValueError(
            f"sample_id {ids[truth.isna().to_numpy()].iloc[0]!r} is not in the dataset"
        )
    top1 = _as_bool_column(table, cols[0], ids)
    top5 = _as_bool_column(table, cols[1], ids)
    bad = top1 & ~top5
    if bad.any():
        raise ValueError(f"sample_id {ids[bad].iloc[0]!r} is top-1 correct but not top-5 correct")
    lists = []
    for wnid, one, five in zip(truth.astype(str), top1, top5, strict=True):
        items = [UNKNOWN_PREDICTION] * TOP_K
        if one:
            items[0] = wnid
        elif five:
            items[-1] = wnid
        lists.append(items)
    return lists
