"""Forecast accuracy metrics: MAPE, MASE, pinball loss, interval coverage.

Definitions follow Hyndman & Koehler (2006), "Another look at measures of forecast
accuracy", Int. J. Forecasting 22(4), and the quantile (pinball) loss of Koenker & Bassett
(1978) as used in GEFCom2014. Inputs are array-likes of equal length; NaN pairs are skipped.
"""

from __future__ import annotations

import numpy as np

#: Weekly season of an hourly series, the MASE scale of the twin [steps].
WEEKLY_SEASON_HOURLY = 168


class MetricError(ValueError):
    """Inputs a metric cannot be computed on; the message says why."""


def _pair(actual, predicted) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(actual, float).ravel()
    f = np.asarray(predicted, float).ravel()
    if a.shape != f.shape:
        raise MetricError(f"actual has {a.size} values, forecast {f.size}; they must match")
    ok = np.isfinite(a) & np.isfinite(f)
    if not ok.any():
        raise MetricError("no pair of finite actual and forecast values to score")
    return a[ok], f[ok]


def mae(actual, predicted) -> float:
    """Mean absolute error, in the unit of the series."""
    a, f = _pair(actual, predicted)
    return float(np.mean(np.abs(a - f)))


def mape(actual, predicted) -> float:
    """Mean absolute percentage error, ``100·mean(|a − f| / |a|)`` over a ≠ 0 [%]."""
    a, f = _pair(actual, predicted)
    nonzero = a != 0
    if not nonzero.any():
        raise MetricError("MAPE is undefined when every actual value is zero")
    return float(100.0 * np.mean(np.abs(a[nonzero] - f[nonzero]) / np.abs(a[nonzero])))


def seasonal_naive_scale(insample, m: int = WEEKLY_SEASON_HOURLY) -> float:
    """In-sample MAE of the seasonal naive forecast, ``mean|y_t − y_{t−m}|`` (MASE denominator).

    Raises
    ------
    MetricError
        When the history is shorter than m + 1 values or the scale is zero (a series that
        repeats itself exactly every season has no MASE).
    """
    y = np.asarray(insample, float).ravel()
    if y.size <= m:
        raise MetricError(f"MASE scale needs more than {m} in-sample values, got {y.size}")
    diff = y[m:] - y[:-m]
    diff = diff[np.isfinite(diff)]
    scale = float(np.mean(np.abs(diff))) if diff.size else float("nan")
    if not scale > 0:
        raise MetricError("MASE scale is zero or undefined: the history repeats exactly")
    return scale


def mase(actual, predicted, insample=None, m: int = WEEKLY_SEASON_HOURLY,
         scale: float | None = None) -> float:
    """Mean absolute scaled error: MAE of the forecast over the in-sample seasonal naive MAE [-].

    ``MASE = mean|a − f| / ((1/(n−m))·Σ_{t>m}|y_t − y_{t−m}|)``. Give ``insample`` (the
    history, m its season) or a precomputed ``scale``.
    """
    if scale is None:
        if insample is None:
            raise MetricError("MASE needs the in-sample history or its scale")
        scale = seasonal_naive_scale(insample, m)
    return mae(actual, predicted) / scale


def pinball_loss(actual, quantile_forecast, level: float) -> float:
    """Mean pinball (quantile) loss at ``level``, in the unit of the series.

    ``L_q(a, f) = q·(a − f)`` if a ≥ f, else ``(1 − q)·(f − a)``.
    """
    if not 0.0 < level < 1.0:
        raise MetricError(f"quantile level must lie in (0, 1), got {level}")
    a, f = _pair(actual, quantile_forecast)
    diff = a - f
    return float(np.mean(np.maximum(level * diff, (level - 1.0) * diff)))


def mean_pinball_loss(actual, quantile_forecasts: dict[float, np.ndarray]) -> float:
    """Pinball loss averaged over the quantile levels given."""
    return float(np.mean([pinball_loss(actual, f, q) for q, f in quantile_forecasts.items()]))


def interval_coverage(actual, lower, upper) -> float:
    """Share of actual values inside ``[lower, upper]`` [-]."""
    a, lo = _pair(actual, lower)
    a2, hi = _pair(actual, upper)
    if a.size != a2.size:
        raise MetricError("lower and upper bounds have different missing values")
    return float(np.mean((a >= lo) & (a <= hi)))
