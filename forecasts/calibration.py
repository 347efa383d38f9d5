"""Interval calibration: scale a model's quantiles so that its intervals cover what they say.

Split-conformal quantile scaling (Vovk et al. 2005; Romano, Patterson & Candès 2019 for the
quantile form): for each value of past forecasts made the same way (rolling origins whose
outcomes were known at the issue time), the factor by which the interval's half-width on the
value's side would have to be multiplied to include it; the factor used is the
``k``-th smallest of those ``n`` factors, ``k = ceil((n + 1)·nominal)``. Every
quantile ``q`` of the new forecast then becomes ``mean + factor·(q − mean)``: the interval
keeps its shape by hour and side and gets the width its past errors ask for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Rolling-origin forecasts whose errors calibrate the next one [origins] (day-ahead: days).
CALIBRATION_ORIGINS = 28
#: Fewest past origins a calibration is made from; with fewer the intervals stay as the
#: model gives them (recorded as factor NaN).
MIN_CALIBRATION_ORIGINS = 7
#: Largest and smallest factor applied [-] (a degenerate past, e.g. one constant stretch).
FACTOR_LIMITS = (0.2, 10.0)


def needed_factors(actual, mean, lower, upper) -> np.ndarray:
    """Factor each past value asks of the interval's half-width on its side [-].

    ``(a − mean)/(upper − mean)`` above the mean, ``(mean − a)/(mean − lower)`` below;
    values whose side has zero width (PV at night) are left out unless missed (then inf).
    """
    a, m = np.asarray(actual, float), np.asarray(mean, float)
    lo, hi = np.asarray(lower, float), np.asarray(upper, float)
    above = a >= m
    dist = np.where(above, a - m, m - a)
    width = np.where(above, hi - m, m - lo)
    ok = np.isfinite(a) & np.isfinite(m) & np.isfinite(width)
    dist, width = dist[ok], width[ok]
    out = np.full(dist.shape, np.inf)
    pos = width > 0
    out[pos] = dist[pos] / width[pos]
    zero = ~pos & (dist <= 0)
    return out[~zero]


def conformal_factor(actual, mean, lower, upper, nominal: float) -> float:
    """Scale of the half-widths that makes ``nominal`` of the past values fall inside [-].

    Returns NaN when there is no past value to calibrate on.
    """
    need = needed_factors(actual, mean, lower, upper)
    n = need.size
    if n == 0:
        return float("nan")
    k = min(n, int(np.ceil((n + 1) * nominal)))  # the k-th smallest (split conformal)
    factor = float(np.sort(need)[k - 1])
    return float(np.clip(factor, *FACTOR_LIMITS))


def scale_intervals(forecast: pd.DataFrame, factor: float) -> pd.DataFrame:
    """Forecast with every quantile column (float-named) moved to ``mean + factor·(q − mean)``.

    A NaN factor returns the forecast unchanged.
    """
    if not np.isfinite(factor):
        return forecast
    out = forecast.copy()
    quant = [c for c in out.columns if isinstance(c, float)]  # quantile levels only
    mean = out["mean"].to_numpy()[:, None]
    out[quant] = mean + factor * (out[quant].to_numpy() - mean)
    return out


class RollingCalibration:
    """Past forecasts of one series and model, and the factor they give the next origin.

    ``add(origin_end, actual, mean, lower, upper)`` keeps the outcome of an origin;
    ``factor(issue_time, nominal)`` uses the last :data:`CALIBRATION_ORIGINS` origins whose
    window ended by ``issue_time`` (known when the forecast is issued).
    """

    def __init__(self, origins: int = CALIBRATION_ORIGINS,
                 min_origins: int = MIN_CALIBRATION_ORIGINS):
        self.origins, self.min_origins = origins, min_origins
        self._past: list[tuple[pd.Timestamp, np.ndarray]] = []

    def add(self, window_end, actual, mean, lower, upper) -> None:
        rows = np.column_stack([np.asarray(v, float) for v in (actual, mean, lower, upper)])
        self._past.append((pd.Timestamp(window_end), rows))

    def factor(self, issue_time, nominal: float) -> float:
        known = [rows for end, rows in self._past if end <= pd.Timestamp(issue_time)]
        known = known[-self.origins:]
        if len(known) < self.min_origins:
            return float("nan")
        rows = np.vstack(known)
        return conformal_factor(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3], nominal)
