"""Validated customer-by-sufficient-statistic (CBS) arrays, and exact-duplicate merging for fits.

Every model takes the same per-customer triple: ``x`` repeat purchase days, recency ``t_x`` and
age ``T`` (both from the first purchase, in the model's time unit). `cbs_arrays` checks it once
with errors that say what to fix; `merge_duplicates` turns the rows into unique triples with
counts, which is exact (the likelihood is a sum over customers) and makes a fit on day-granular
data nearly free: CDNOW tiled to 1M customers holds only 1,016 distinct triples.

>>> x, t_x, T = cbs_arrays([0, 2], [0.0, 30.43], [38.86, 38.86])
>>> x.tolist(), t_x.tolist()
([0.0, 2.0], [0.0, 30.43])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from clv.errors import InsufficientDataError, InvalidDataError


def float_array(values: ArrayLike, name: str) -> np.ndarray:
    """``values`` as a float64 array; `InvalidDataError` for text, NaN or infinity."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InvalidDataError(f"{name} must be numbers: {error}") from None
    if not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).sum())
        raise InvalidDataError(f"{name} has {bad} missing or infinite values; drop or fill them")
    return array


def first_offender(mask: np.ndarray, *arrays: np.ndarray) -> str:
    """The first offending row, for error messages."""
    i = int(np.flatnonzero(mask.ravel())[0])
    values = ", ".join(f"{a.ravel()[i]:g}" for a in arrays)
    return f"row {i}: {values}"


def cbs_arrays(
    x: ArrayLike, t_x: ArrayLike, T: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Broadcast and validate ``(x, t_x, T)``; return float arrays.

    Rules: all finite; ``x`` whole and >= 0; ``0 <= t_x <= T``; ``t_x == 0`` exactly when
    ``x == 0`` (a repeat purchase happens after the first one, and without one there is no
    recency). Raises `InvalidDataError` naming the first offending row.
    """
    x, t_x, T = np.broadcast_arrays(
        float_array(x, "frequency x"), float_array(t_x, "recency t_x"), float_array(T, "age T")
    )
    if (x < 0).any() or (x != np.floor(x)).any():
        bad = (x < 0) | (x != np.floor(x))
        raise InvalidDataError(
            f"frequency x must be a whole number of repeat purchase days >= 0 ({first_offender(bad, x)})"
        )
    if (t_x < 0).any() or (T < 0).any():
        bad = (t_x < 0) | (T < 0)
        raise InvalidDataError(
            "recency t_x and age T are durations since the first purchase and cannot be "
            f"negative ((t_x, T) at {first_offender(bad, t_x, T)})"
        )
    if (t_x > T).any():
        raise InvalidDataError(
            "recency t_x is after age T: the last purchase must fall before the end of the "
            f"calibration period ((t_x, T) at {first_offender(t_x > T, t_x, T)}); check that both use "
            "the same time unit and calibration end"
        )
    if ((x > 0) & (t_x == 0)).any():
        raise InvalidDataError(
            "a customer with repeat purchases has recency t_x = 0 ((x, t_x) at "
            f"{first_offender((x > 0) & (t_x == 0), x, t_x)}); same-day purchases must be collapsed into "
            "one purchase day before counting x"
        )
    if ((x == 0) & (t_x > 0)).any():
        raise InvalidDataError(
            "a customer without repeat purchases has recency t_x > 0 ((x, t_x) at "
            f"{first_offender((x == 0) & (t_x > 0), x, t_x)}); t_x is 0 when x is 0"
        )
    return x, t_x, T


def horizon_array(t: ArrayLike) -> np.ndarray:
    """Validate a forecast horizon (in the model's unit): finite and >= 0."""
    t = float_array(t, "horizon t")
    if (t < 0).any():
        raise InvalidDataError(f"horizon t must be >= 0 ({first_offender(t < 0, t)})")
    return t


def weight_array(weights: ArrayLike | None, shape: tuple[int, ...]) -> np.ndarray:
    """Customer counts per row (ones when None): finite, >= 0 and not all zero."""
    if weights is None:
        return np.ones(shape)
    w = np.broadcast_to(float_array(weights, "weights"), shape)
    if (w < 0).any():
        raise InvalidDataError(
            f"weights count customers and cannot be negative ({first_offender(w < 0, w)})"
        )
    if w.sum() == 0:
        raise InsufficientDataError("the weights sum to 0: there are no customers to fit")
    return w


@dataclass(frozen=True)
class Customers:
    """Unique ``(x, t_x, T)`` rows with ``weight`` customers each, and ``x`` as unique values.

    ``x_values[x_index] == x``: terms that depend on ``x`` alone (gamma and beta functions) are
    evaluated once per distinct ``x``, a few hundred values even for millions of customers.
    """

    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    weight: np.ndarray
    x_values: np.ndarray
    x_index: np.ndarray

    @property
    def n_customers(self) -> float:
        """Total weight: an int when the weights are whole counts."""
        total = float(self.weight.sum())
        return int(total) if total.is_integer() else total


def merge_rows(
    columns: dict[str, np.ndarray], weight: np.ndarray, probe: str
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Merge rows whose ``columns`` are all exactly equal, summing ``weight``. No rounding.

    Zero-weight rows are dropped. When every value of the continuous column ``probe`` is
    distinct (simulated data), no row can repeat and the hashing pass (~0.3 s on 1M rows) is
    skipped after a cheaper one on ``probe`` alone.
    """
    keep = weight > 0
    if not keep.all():
        columns = {k: v[keep] for k, v in columns.items()}
        weight = weight[keep]
    if len(pd.unique(columns[probe])) < len(weight):
        frame = pd.DataFrame({**columns, "__weight": weight})
        merged = frame.groupby(list(columns), sort=False, as_index=False)["__weight"].sum()
        columns = {k: merged[k].to_numpy(np.float64) for k in columns}
        weight = merged["__weight"].to_numpy(np.float64)
    return columns, weight


def merge_duplicates(
    x: np.ndarray, t_x: np.ndarray, T: np.ndarray, weight: np.ndarray
) -> Customers:
    """Unique ``(x, t_x, T)`` triples with their customer counts (see `merge_rows`)."""
    columns, weight = merge_rows(
        {"x": np.ravel(x), "t_x": np.ravel(t_x), "T": np.ravel(T)}, np.ravel(weight), probe="T"
    )
    x_values, x_index = np.unique(columns["x"], return_inverse=True)
    return Customers(columns["x"], columns["t_x"], columns["T"], weight, x_values, x_index)


def check_params(model: str, **params: float) -> None:
    """Raise `InvalidDataError` unless every parameter is a finite positive number."""
    bad = {k: v for k, v in params.items() if not (np.isfinite(v) and v > 0)}
    if bad:
        listed = ", ".join(f"{k}={v!r}" for k, v in bad.items())
        raise InvalidDataError(f"{model} parameters must be finite and positive: {listed}")
