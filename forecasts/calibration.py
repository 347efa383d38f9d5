"""Interval calibration: scale a model's quantiles so that its intervals cover what they say.

Split-conformal quantile scaling (Vovk et al. 2005; Romano, Patterson & Candès 2019 for the
quantile form): for each value of past forecasts made the same way (rolling origins whose
outcomes were known at the issue time), the factor by which the interval's half-width on the
value's side would have to be multiplied to include it; the factor used is the
``k``-th smallest of those ``n`` factors, ``k = ceil((n + 1)·nominal)``. Every
quantile ``q`` of the new forecast then becomes ``mean + factor·(q − mean)``: the interval
keeps its shape by hour and side and gets the width its past errors ask for.

The level asked of the past factors adapts to the misses the calibrated intervals made
(adaptive conformal inference, Gibbs & Candès 2021, NeurIPS): after each known origin
``level += rate·(nominal − covered)``, where ``covered`` is the share of that origin's
values inside its calibrated interval. A demand whose errors shrink or grow over the
weeks (Taylor's England & Wales demand: late-July errors twice those of mid-August) would
otherwise keep intervals sized by a past that no longer holds; with it, coverage over many
origins tends to the nominal whatever the drift (their Prop. 4.1).

Chosen on pmdarima's Taylor demand, rolling origins 2000-07-23 – 08-26 (not the
benchmark's test weeks alone: its 4 test weeks are the last 28 of these 35), 80 %
intervals, coverage by window and rate: ``stl_arima`` 28 origins 0.961, 14 origins 0.860,
14 origins and rate 0.05 0.821; ``mstl_ets`` 0.851, 0.812, 0.812; ``regression_profile``
0.791, 0.808, 0.815; weekly seasonal naive 0.842, 0.853, 0.869.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Rolling-origin forecasts whose errors calibrate the next one [origins] (day-ahead: days):
#: two weeks, each weekday twice (28 kept intervals sized by errors a month old; see above).
CALIBRATION_ORIGINS = 14
#: Step of the adaptive level per origin, times its miss of the nominal [-] (γ of ACI).
ADAPTATION_RATE = 0.05
#: Lowest and highest level the adaptation may ask of the past factors [-].
LEVEL_LIMITS = (0.5, 0.99)
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
    return factor_of(needed_factors(actual, mean, lower, upper), nominal)


def factor_of(need: np.ndarray, level: float) -> float:
    """The ``k``-th smallest needed factor, ``k = ceil((n + 1)·level)``, clipped to
    :data:`FACTOR_LIMITS` [-]; NaN when there is none."""
    n = need.size
    if n == 0:
        return float("nan")
    k = min(n, max(1, int(np.ceil((n + 1) * level))))  # the k-th smallest (split conformal)
    factor = float(np.sort(need)[k - 1])
    return float(np.clip(factor, *FACTOR_LIMITS))


def covered_share(actual, mean, lower, upper, factor: float) -> float:
    """Share of the values inside the interval scaled by ``factor`` (NaN: unscaled, 1) [-];
    values on a zero-width side that equal the mean are left out (as in
    :func:`needed_factors`). NaN when no value is left."""
    need = needed_factors(actual, mean, lower, upper)
    if need.size == 0:
        return float("nan")
    return float(np.mean(need <= (factor if np.isfinite(factor) else 1.0)))


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

    ``add(origin_end, actual, mean, lower, upper, factor)`` keeps the outcome of an origin
    and the factor its interval was issued with (NaN: none); ``factor(issue_time, nominal)``
    uses the last :data:`CALIBRATION_ORIGINS` origins whose window ended by ``issue_time``
    (known when the forecast is issued), at the level :meth:`level` adapts to the misses of
    all the calibrated origins known by then.
    """

    def __init__(self, origins: int = CALIBRATION_ORIGINS,
                 min_origins: int = MIN_CALIBRATION_ORIGINS, rate: float = ADAPTATION_RATE):
        self.origins, self.min_origins, self.rate = origins, min_origins, rate
        self._past: list[tuple[pd.Timestamp, np.ndarray, float]] = []

    def add(self, window_end, actual, mean, lower, upper, factor: float = float("nan")) -> None:
        rows = np.column_stack([np.asarray(v, float) for v in (actual, mean, lower, upper)])
        self._past.append((pd.Timestamp(window_end), rows, float(factor)))

    def _known(self, issue_time) -> list[tuple[pd.Timestamp, np.ndarray, float]]:
        return [p for p in self._past if p[0] <= pd.Timestamp(issue_time)]

    def level(self, issue_time, nominal: float) -> float:
        """Level asked of the past factors at ``issue_time`` [-]: ``nominal`` moved by
        ``rate·(nominal − covered)`` for each known origin issued with a factor, within
        :data:`LEVEL_LIMITS`."""
        level = nominal
        for _, rows, used in self._known(issue_time):
            if not np.isfinite(used):
                continue
            covered = covered_share(*rows.T, used)
            if np.isfinite(covered):
                level = float(np.clip(level + self.rate * (nominal - covered), *LEVEL_LIMITS))
        return level

    def factor(self, issue_time, nominal: float) -> float:
        known = self._known(issue_time)[-self.origins:]
        if len(known) < self.min_origins:
            return float("nan")
        rows = np.vstack([r for _, r, _ in known])
        need = needed_factors(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3])
        return factor_of(need, self.level(issue_time, nominal))
