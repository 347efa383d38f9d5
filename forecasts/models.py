"""Load and solar forecasting models behind one interface.

:func:`forecast` fits a model on a regular UTC series and returns the ``horizon`` steps that
follow its last time: the point forecast ``mean`` and one column per quantile level. Every
model is registered in :data:`MODELS` with what it needs (exogenous weather, minimum history)
and what it is for (``load`` or ``pv``). A model raises :class:`ForecastError` for input it
cannot handle; the caller decides the fallback (usually a seasonal naive baseline).

Horizons (``intraday`` 1–6 h and ``day-ahead``: the next local day, issued the morning
before) are defined once here: :func:`day_ahead_origin`, :func:`day_ahead_window`,
:func:`horizon_plan`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm
from statsmodels.regression.linear_model import OLS, WLS
from statsmodels.tsa.arima.model import ARIMA
from statsmodels.tsa.exponential_smoothing.ets import ETSModel
from statsmodels.tsa.seasonal import MSTL
from statsmodels.tsa.statespace.sarimax import SARIMAX

from forecasts import features
from forecasts.place import Place, as_place

#: Local hour at which the day-ahead forecast is issued, the morning before the target day [h].
DAY_AHEAD_ISSUE_HOUR = 10
#: Longest intraday horizon [h].
INTRADAY_HOURS = 6
#: Default quantile levels of a forecast [-].
DEFAULT_QUANTILES = (0.1, 0.5, 0.9)
#: Share of missing values inside the history that may be filled by interpolation [-].
MAX_FILLED_SHARE = 0.2


class ForecastError(ValueError):
    """A series a model cannot forecast; the message says why and what to do."""


@dataclass(frozen=True)
class ModelSpec:
    """A registered forecasting model.

    Attributes
    ----------
    name : str
        Registry key.
    fit_predict : callable
        ``(y, horizon, quantiles, exog, exog_future, step, place) -> DataFrame`` on a
        checked, regular series.
    kind : str
        ``"load"`` or ``"pv"``: the series it is meant for.
    min_history : Timedelta
        Shortest history it accepts.
    needs_exog : tuple of str
        Columns ``exog`` and ``exog_future`` must carry (e.g. ``temp_air`` [°C]).
    description : str
        One line for tables and ``--help``.
    """

    name: str
    fit_predict: Callable[..., pd.DataFrame]
    kind: str
    min_history: pd.Timedelta
    needs_exog: tuple[str, ...] = ()
    description: str = ""


# --------------------------------------------------------------------------------------------
# Time steps and horizons
# --------------------------------------------------------------------------------------------


def infer_step(index: pd.DatetimeIndex) -> pd.Timedelta:
    """Time step of a series: the most common difference between consecutive times.

    Raises
    ------
    ForecastError
        With fewer than two times, or a step that does not divide a day.
    """
    if len(index) < 2:
        raise ForecastError("a series needs at least two times to infer its step")
    diffs = pd.Series(np.diff(index.asi8))
    step = pd.Timedelta(int(diffs.mode().iloc[0]), unit="ns")
    if step <= pd.Timedelta(0) or pd.Timedelta("1D") % step != pd.Timedelta(0):
        raise ForecastError(f"time step {step} does not divide a day; resample the series first")
    return step


def season_length(step: pd.Timedelta, period: str | pd.Timedelta) -> int:
    """Steps in a seasonal period (``"daily"``, ``"weekly"`` or a Timedelta) [-]."""
    span = {"daily": pd.Timedelta("1D"), "weekly": pd.Timedelta("7D")}.get(period, period)
    return int(pd.Timedelta(span) / step)


def day_ahead_window(target_day, timezone: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """UTC start (inclusive) and end (exclusive) of a local calendar day.

    The day has 23 or 25 hours on daylight-saving changes.
    """
    day = pd.Timestamp(target_day)
    day = day.tz_convert(timezone) if day.tzinfo else day.tz_localize(timezone)
    start = day.normalize()
    end = (start.tz_localize(None) + pd.Timedelta("1D")).tz_localize(timezone)
    return start.tz_convert("UTC"), end.tz_convert("UTC")


def day_ahead_origin(
    target_day, timezone: str, issue_hour: int = DAY_AHEAD_ISSUE_HOUR
) -> pd.Timestamp:
    """UTC issue time of the day-ahead forecast of ``target_day``: ``issue_hour`` local the day before.

    Data with times before the origin are known when the forecast is issued.
    """
    start, _ = day_ahead_window(target_day, timezone)
    local_day_before = start.tz_convert(timezone).tz_localize(None) - pd.Timedelta("1D")
    issue = (local_day_before + pd.Timedelta(hours=issue_hour)).tz_localize(timezone)
    return issue.tz_convert("UTC")


@dataclass(frozen=True)
class HorizonPlan:
    """What to fit and what to keep for one forecast issue.

    Attributes
    ----------
    origin : Timestamp
        Issue time (UTC); the history is every time before it.
    horizon : int
        Steps to forecast from the origin [-].
    start, end : Timestamp
        UTC window kept for scoring, start inclusive, end exclusive.
    """

    origin: pd.Timestamp
    horizon: int
    start: pd.Timestamp
    end: pd.Timestamp


def horizon_plan(
    horizon: str,
    step: pd.Timedelta,
    timezone: str,
    target_day=None,
    origin: pd.Timestamp | None = None,
    issue_hour: int = DAY_AHEAD_ISSUE_HOUR,
    hours: int = INTRADAY_HOURS,
) -> HorizonPlan:
    """Origin, steps and kept window of an ``"intraday"`` or ``"day-ahead"`` forecast.

    Parameters
    ----------
    horizon : str
        ``"day-ahead"`` (give ``target_day``, the local day forecast) or ``"intraday"`` (give
        ``origin``; the next ``hours`` hours are forecast and kept).
    step : Timedelta
        Series step.
    timezone : str
        City time zone.
    """
    step = pd.Timedelta(step)
    if horizon == "day-ahead":
        if target_day is None:
            raise ForecastError("a day-ahead forecast needs the target day")
        start, end = day_ahead_window(target_day, timezone)
        issue = day_ahead_origin(target_day, timezone, issue_hour)
        return HorizonPlan(issue, int((end - issue) / step), start, end)
    if horizon == "intraday":
        if origin is None:
            raise ForecastError("an intraday forecast needs its origin time")
        if not 1 <= hours <= INTRADAY_HOURS:
            raise ForecastError(f"intraday horizons are 1–{INTRADAY_HOURS} h, not {hours} h")
        issue = pd.Timestamp(origin).tz_convert("UTC")
        n = int(pd.Timedelta(hours=hours) / step)
        return HorizonPlan(issue, n, issue, issue + n * step)
    raise ForecastError(f"unknown horizon {horizon!r}; use 'intraday' or 'day-ahead'")


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def regular_history(y: pd.Series) -> tuple[pd.Series, pd.Timedelta, int]:
    """Check a history and make it regular.

    Returns
    -------
    Series
        Float series on a regular UTC index; interior gaps filled by time interpolation.
    Timedelta
        Its step.
    int
        Number of values that were filled.

    Raises
    ------
    ForecastError
        For a series without a UTC DatetimeIndex, all-NaN, or with too many gaps.
    """
    if not isinstance(y, pd.Series):
        raise ForecastError(f"expected a pandas Series, got {type(y).__name__}")
    if not isinstance(y.index, pd.DatetimeIndex) or y.index.tz is None:
        raise ForecastError(f"series {y.name!r}: index must be a time-zone aware DatetimeIndex")
    name = y.name
    y = pd.to_numeric(y, errors="coerce").astype(float)
    y = y[~y.index.duplicated(keep="last")].sort_index()
    y.index = y.index.tz_convert("UTC")
    y = y.loc[y.first_valid_index():y.last_valid_index()] if y.notna().any() else y.iloc[:0]
    if y.empty:
        raise ForecastError(f"series {name!r} has no values (all NaN)")
    step = infer_step(y.index)
    full = pd.date_range(y.index[0], y.index[-1], freq=step, name=y.index.name)
    y = y.reindex(full)
    missing = int(y.isna().sum())
    if missing > MAX_FILLED_SHARE * len(y):
        raise ForecastError(
            f"series {name!r}: {missing} of {len(y)} values missing "
            f"(more than {MAX_FILLED_SHARE:.0%}); repair the gaps first"
        )
    if missing:
        y = y.interpolate(method="time")
    y.name = name
    return y, step, missing


def check_quantiles(quantiles: Sequence[float]) -> list[float]:
    """Sorted quantile levels, each strictly between 0 and 1."""
    levels = sorted(float(q) for q in quantiles)
    bad = [q for q in levels if not 0.0 < q < 1.0]
    if bad:
        raise ForecastError(f"quantile levels must lie strictly between 0 and 1, got {bad}")
    return levels


def future_index(y: pd.Series, step: pd.Timedelta, horizon: int) -> pd.DatetimeIndex:
    """The ``horizon`` times after the last time of ``y``."""
    return pd.date_range(y.index[-1] + step, periods=horizon, freq=step, name=y.index.name)


def require_history(y: pd.Series, step: pd.Timedelta, need: pd.Timedelta, model: str) -> None:
    """Raise :class:`ForecastError` when ``y`` spans less than ``need``."""
    have = len(y) * step
    if have < need:
        raise ForecastError(
            f"series {y.name!r}: {have} of history is too short for {model} "
            f"(needs at least {need}); give a longer history or use a daily baseline"
        )


def require_variation(y: pd.Series, model: str) -> None:
    """Raise :class:`ForecastError` for a constant series that ``model`` cannot fit."""
    if float(np.nanstd(y.to_numpy())) == 0.0:
        raise ForecastError(
            f"series {y.name!r} is constant ({y.iloc[0]:g}); {model} cannot fit it,"
            " use a seasonal naive baseline"
        )


def frame(index: pd.DatetimeIndex, mean, quantile_values: dict[float, np.ndarray]) -> pd.DataFrame:
    """Forecast table: ``mean`` and one column per quantile level, non-crossing quantiles."""
    levels = sorted(quantile_values)
    qs = np.sort(np.column_stack([np.asarray(quantile_values[q], float) for q in levels]), axis=1)
    out = pd.DataFrame(qs, index=index, columns=levels)
    out.insert(0, "mean", np.asarray(mean, float))
    return out


# --------------------------------------------------------------------------------------------
# Seasonal naive baselines
# --------------------------------------------------------------------------------------------


def seasonal_naive_point(values: np.ndarray, m: int, horizon: int) -> np.ndarray:
    """Seasonal naive forecast: the value one (or more) seasons before each future step.

    ``ŷ[T+h] = y[T + h − m·ceil(h/m)]`` for h = 1…horizon.
    """
    h = np.arange(1, horizon + 1)
    k = np.ceil(h / m).astype(int)
    return values[len(values) - 1 + h - m * k]


def seasonal_naive_errors(values: np.ndarray, m: int, k: int) -> np.ndarray:
    """In-sample errors of a seasonal naive forecast made ``k`` seasons ahead: y[t] − y[t−k·m]."""
    lag = k * m
    return values[lag:] - values[:-lag]


def seasonal_naive(
    y: pd.Series, horizon: int, quantiles: Sequence[float], m: int, step: pd.Timedelta
) -> pd.DataFrame:
    """Seasonal naive forecast with intervals from its own past errors.

    The ``mean`` is the seasonal naive value; the quantile at level q adds the q-quantile of
    the series' past errors of the same lead (``k = ceil(h/m)`` seasons back).
    """
    values = y.to_numpy()
    point = seasonal_naive_point(values, m, horizon)
    k_of_h = np.ceil(np.arange(1, horizon + 1) / m).astype(int)
    qvals = {q: np.empty(horizon) for q in quantiles}
    for k in np.unique(k_of_h):
        errors = seasonal_naive_errors(values, m, int(k))
        errors = errors[np.isfinite(errors)]
        if errors.size == 0:
            raise ForecastError(
                f"series {y.name!r}: too short to estimate {k} season(s) ahead errors"
            )
        sel = k_of_h == k
        for q in quantiles:
            qvals[q][sel] = point[sel] + np.quantile(errors, q)
    return frame(future_index(y, step, horizon), point, qvals)


def same_local_time_before(times: pd.DatetimeIndex, days: int,
                           timezone: str) -> pd.DatetimeIndex:
    """The UTC times ``days`` local days before ``times``, at the same local wall-clock time.

    Across a daylight-saving change this is 23 or 25 hours per day back, not 24: the value
    at 08:00 local a week after the change is compared with 08:00 local before it. A wall
    time that does not exist that day (the spring hour) moves forward to the first time that
    does; one that occurs twice (the autumn hour) is taken at its first (summer-time)
    occurrence.
    """
    local = times.tz_convert(timezone).tz_localize(None) - pd.Timedelta(days=days)
    back = local.tz_localize(timezone, ambiguous=np.ones(len(local), bool),
                             nonexistent="shift_forward")
    return back.tz_convert("UTC")


def local_seasonal_naive(y: pd.Series, horizon: int, quantiles: Sequence[float],
                         season_days: int, step: pd.Timedelta, timezone: str) -> pd.DataFrame:
    """Seasonal naive forecast in local time, from what is known at the issue time.

    Each future step takes the value at the same local wall-clock time ``season_days``
    days before (:func:`same_local_time_before`), or ``2·season_days``, … when that time is
    not in the history yet: a day-ahead daily naive issued at 10:00 takes yesterday's values
    for the hours before 10:00 and the day before yesterday's (D-2) for the others. The
    quantile at level q adds the q-quantile of the history's own errors of the same number
    of seasons back.

    Raises
    ------
    ForecastError
        When the history holds no value ``season_days`` (or a multiple) before a future step,
        or no past error to size the intervals.
    """
    fut = future_index(y, step, horizon)
    last = y.index[-1]
    point = np.full(horizon, np.nan)
    k_used = np.zeros(horizon, int)
    max_k = int(np.ceil(horizon * step / pd.Timedelta(days=season_days))) + 1
    for k in range(1, max_k + 1):
        todo = np.isnan(point)
        if not todo.any():
            break
        back = same_local_time_before(fut[todo], season_days * k, timezone)
        pos = y.index.get_indexer(back)
        ok = (pos >= 0) & (back <= last)
        idx = np.flatnonzero(todo)[ok]
        point[idx] = y.to_numpy()[pos[ok]]
        k_used[idx] = k
    if np.isnan(point).any():
        raise ForecastError(f"series {y.name!r}: no value {season_days} day(s) (or a multiple)"
                            f" before {fut[np.isnan(point)][0]} in the history; give a longer "
                            "history")
    qvals = {q: np.empty(horizon) for q in quantiles}
    values = y.to_numpy()
    for k in np.unique(k_used):
        pos = y.index.get_indexer(same_local_time_before(y.index, season_days * int(k),
                                                         timezone))
        errors = values[pos >= 0] - values[pos[pos >= 0]]
        errors = errors[np.isfinite(errors)]
        if errors.size == 0:
            raise ForecastError(f"series {y.name!r}: too short to estimate {k} season(s) "
                                "ahead errors")
        sel = k_used == k
        for q in quantiles:
            qvals[q][sel] = point[sel] + np.quantile(errors, q)
    return frame(fut, point, qvals)


def _seasonal_naive_daily(y, horizon, quantiles, exog, exog_future, step, place):
    return local_seasonal_naive(y, horizon, quantiles, 1, step, place.timezone)


def _seasonal_naive_weekly(y, horizon, quantiles, exog, exog_future, step, place):
    return local_seasonal_naive(y, horizon, quantiles, 7, step, place.timezone)


# --------------------------------------------------------------------------------------------
# Statistical load models (statsmodels)
# --------------------------------------------------------------------------------------------


def gaussian_quantiles(
    mean: np.ndarray, variance: np.ndarray, quantiles: Sequence[float]
) -> dict[float, np.ndarray]:
    """Quantiles of normal forecast distributions: mean + z_q·sqrt(variance)."""
    sd = np.sqrt(np.clip(np.asarray(variance, float), 0.0, None))
    return {q: np.asarray(mean, float) + norm.ppf(q) * sd for q in quantiles}


#: LOESS "jumps" of each STL inside MSTL [steps]: the trend and low-pass smoothers are
#: evaluated every k-th point and linearly interpolated between (Cleveland et al. 1990, §3;
#: statsmodels ``STL(..., trend_jump=, low_pass_jump=, seasonal_jump=)``, whose defaults are 1,
#: while R's ``stl`` uses ~10 % of each window). See :func:`mstl_decompose` for what it costs.
MSTL_STL_JUMPS = {"trend_jump": 30, "low_pass_jump": 10, "seasonal_jump": 1}


def mstl_decompose(y: pd.Series, step: pd.Timedelta) -> tuple[pd.Series, pd.DataFrame]:
    """MSTL with daily and weekly periods: seasonally adjusted series and the seasonal parts.

    The STL smoothers run with :data:`MSTL_STL_JUMPS` (statsmodels' every-point default
    made 83 % of the time of an ``mstl_ets`` forecast): the trend LOESS (window 293 h in
    the weekly pass, 43 h in the daily) at every 30th point and the low-pass LOESS
    (169 h / 25 h) at every 10th, interpolated between; the seasonal LOESS, which smooths
    the few cycles of each phase, keeps every point. Only the seasonal parts are used
    here; the trend is left in the adjusted series for the remainder model. Measured on 20
    real-shaped 8-week hourly load series (``benchmarks/bench_forecast_scale.py`` data):
    MSTL 0.32 → 0.03 s per series; the summed seasonal part differs from the every-point fit
    by 0.7 % RMS of itself (median; 1.3 % worst). Day-ahead rolling-origin backtest of
    ``mstl_ets`` (4 weeks, 28 origins) on seven such series: MASE every-point → jumps
    0.8636 → 0.8548, 0.7528 → 0.7513, 0.7894 → 0.7888, 0.8491 → 0.8412, 0.8187 → 0.8145,
    0.8504 → 0.8455, 0.7144 → 0.7128 (no worse on any), 80 % interval coverage unchanged.
    (``trend_jump=10, low_pass_jump=3`` was also measured: 0.07 s, MASE within ±0.001.)
    """
    periods = (season_length(step, "daily"), season_length(step, "weekly"))
    res = MSTL(y.to_numpy(), periods=periods, stl_kwargs=dict(MSTL_STL_JUMPS)).fit()
    seasonal = pd.DataFrame(np.asarray(res.seasonal).reshape(len(y), -1), index=y.index,
                            columns=[f"seasonal_{p}" for p in periods])
    adjusted = y - seasonal.sum(axis=1)
    return adjusted, seasonal


#: Last cycles of each MSTL seasonal component averaged to carry it forward [-].
SEASONAL_CYCLES_AVERAGED = 4


def seasonal_ahead(seasonal: pd.DataFrame, step: pd.Timedelta, horizon: int,
                   cycles: int = SEASONAL_CYCLES_AVERAGED) -> np.ndarray:
    """Each seasonal component carried forward by its own period, summed.

    The component's value at a phase is the mean over its last ``cycles`` cycles (fewer
    when the history is shorter): the loess estimate of a single cycle at the end of the
    history is noisy.
    """
    total = np.zeros(horizon)
    for col in seasonal.columns:
        m = int(col.split("_")[1])
        values = seasonal[col].to_numpy()
        n = max(1, min(cycles, len(values) // m))
        mean_cycle = values[len(values) - n * m:].reshape(n, m).mean(axis=0)
        total += seasonal_naive_point(mean_cycle, m, horizon)
    return total


def irradiance_effect(y, horizon, exog, exog_future, step, place) -> tuple[np.ndarray, np.ndarray]:
    """Part of ``y`` that follows the irradiance ``ghi`` in ``exog``, over history and horizon.

    The ``ghi`` terms of the :func:`profile_design` regression fitted on ``y`` times their
    coefficients (for a feeder with rooftop PV, minus the PV output the irradiance explains),
    in the unit of ``y``; zeros when ``exog`` carries no ``ghi``.
    """
    if exog is None or exog_future is None or "ghi" not in exog.columns:
        return np.zeros(len(y)), np.zeros(horizon)
    fut = future_index(y, step, horizon)
    x = profile_design(y, fut, exog, exog_future, step, place)
    keep = x.columns[(x.iloc[: len(y)] != 0).any()]
    beta = pd.Series(OLS(y.to_numpy(), x.iloc[: len(y)][keep].to_numpy()).fit().params,
                     index=keep)
    ghi = [c for c in keep if c.startswith("ghi_") and c != "ghi_clear"]
    effect = x[ghi].to_numpy() @ beta[ghi].to_numpy()
    return effect[: len(y)], effect[len(y):]


def _mstl_remainder(y, horizon, quantiles, step, fit_adjusted, exog=None, exog_future=None,
                    place=None):
    """MSTL, a model of the seasonally adjusted series, seasons carried forward.

    With ``ghi`` in ``exog``, the irradiance effect (:func:`irradiance_effect`) is taken
    out before the decomposition and added back to the forecast.
    """
    require_variation(y, "an MSTL model")
    effect_hist, effect_fut = irradiance_effect(y, horizon, exog, exog_future, step, place)
    adjusted, seasonal = mstl_decompose(y - effect_hist, step)
    mean_adj, var_adj = fit_adjusted(adjusted.to_numpy(), horizon)
    season = seasonal_ahead(seasonal, step, horizon)
    mean = mean_adj + season + effect_fut
    return frame(future_index(y, step, horizon), mean,
                 gaussian_quantiles(mean, var_adj, quantiles))


def _ets_ahead(values: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Additive-error ETS with damped additive trend: mean and variance h steps ahead.

    The initial level and trend are set by statsmodels' heuristic (Hyndman et al. 2008,
    §2.6.1: a line through the first observations) instead of being estimated with the
    smoothing parameters: three parameters to optimise instead of five, ETS 0.03 → 0.015 s
    per 8-week hourly series, and the day-ahead backtest MASE of ``mstl_ets`` unchanged to
    ±0.0001 on four real-shaped series (the initial state is forgotten long before the end
    of an 8-week history).
    """
    # a Series: statsmodels 0.15's ETS prediction needs an index on its input
    series = pd.Series(values, index=pd.RangeIndex(len(values)))
    res = ETSModel(series, error="add", trend="add", damped_trend=True,
                   initialization_method="heuristic").fit(disp=False)
    pred = res.get_prediction(start=len(values), end=len(values) + horizon - 1)
    return np.asarray(pred.predicted_mean), np.asarray(pred.var_pred_mean)


#: Largest modulus of an inverse AR root of the ARIMA(2,0,1) fit that is used [-]; beyond
#: it the fit sits on the unit circle and an AR(1) is fitted instead.
MAX_AR_INVERSE_ROOT = 0.99


def _arima_ahead(values: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """ARIMA(2,0,1) with a constant: mean and variance h steps ahead.

    A fit with an AR root on the unit circle (inverse root modulus above
    :data:`MAX_AR_INVERSE_ROOT`; the likelihood search keeps it just inside) is not used:
    an AR(2) of (0, 1) with an MA root of −1 was seen on the sample city's total, a
    forecast alternating hour by hour between the level and four times the level. An AR(1)
    with a constant is fitted instead.
    """
    res = ARIMA(values, order=(2, 0, 1), trend="c").fit()
    roots = np.asarray(res.arroots)
    if roots.size and np.max(1.0 / np.abs(roots)) > MAX_AR_INVERSE_ROOT:
        res = ARIMA(values, order=(1, 0, 0), trend="c").fit()
    fc = res.get_forecast(horizon)
    return np.asarray(fc.predicted_mean), np.asarray(fc.var_pred_mean)


def _mstl_ets(y, horizon, quantiles, exog, exog_future, step, place):
    return _mstl_remainder(y, horizon, quantiles, step, _ets_ahead, exog, exog_future, place)


def _stl_arima(y, horizon, quantiles, exog, exog_future, step, place):
    return _mstl_remainder(y, horizon, quantiles, step, _arima_ahead, exog, exog_future, place)


def _sarimax_fourier(y, horizon, quantiles, exog, exog_future, step, place):
    require_variation(y, "SARIMAX")
    fut = future_index(y, step, horizon)
    x_hist = features.load_features(y.index, place, exog["temp_air"])
    x_fut = features.load_features(fut, place, exog_future["temp_air"])
    x_hist, x_fut = _drop_constant_columns(x_hist, x_fut)
    scale = float(np.nanstd(y.to_numpy())) or 1.0
    values, x = y.to_numpy() / scale, x_hist.to_numpy()
    # start from OLS and an AR(2) of its residuals: the likelihood search then converges fast
    ols = OLS(values, np.column_stack([np.ones(len(values)), x])).fit()
    resid = values - ols.fittedvalues
    ar = OLS(resid[2:], np.column_stack([resid[1:-1], resid[:-2]])).fit().params
    ar = ar if np.abs(np.roots(np.r_[1.0, -ar])).max() < 0.98 else np.array([0.5, 0.0])
    model = SARIMAX(values, exog=x, order=(2, 0, 0), trend="c", concentrate_scale=True)
    res = model.fit(start_params=np.r_[ols.params, ar], disp=False)
    fc = res.get_forecast(horizon, exog=x_fut.to_numpy())
    mean = np.asarray(fc.predicted_mean) * scale
    var = np.asarray(fc.var_pred_mean) * scale**2
    return frame(fut, mean, gaussian_quantiles(mean, var, quantiles))


def profile_design(y: pd.Series, fut: pd.DatetimeIndex, exog, exog_future, step, place) -> pd.DataFrame:
    """Regressors of :func:`_regression_profile` over history and horizon.

    Day-type × time-of-day dummies; clear-sky GHI [kW/m²] (``ghi_clear`` from ``exog``,
    else the city's for a series in the city's clock); when ``exog`` carries ``ghi``
    [W/m²] (measured or forecast irradiance), its parts by time of day
    (:func:`_ghi_regressors`); heating and cooling degrees [°C] when it carries
    ``temp_air``; a linear trend.
    """
    both = pd.date_range(y.index[0], fut[-1], freq=step, name=y.index.name)
    x = features.profile_dummies(both, place, step)
    # rooftop PV behind the meter: clear-sky GHI from exog, else at the place's location;
    # a place without a location gets no solar regressor
    if exog is not None and "ghi_clear" in exog.columns:
        ghi = pd.concat([exog["ghi_clear"].reindex(y.index),
                         exog_future["ghi_clear"].reindex(fut)])
        x["ghi_clear"] = ghi.to_numpy() / 1000.0
    elif place.has_location:
        x["ghi_clear"] = features.clear_sky_reference(
            both, place.latitude, place.longitude).to_numpy() / 1000.0
    if exog is not None and exog_future is not None and "ghi" in exog.columns:
        ghi = pd.concat([exog["ghi"].reindex(y.index), exog_future["ghi"].reindex(fut)])
        if ghi.isna().any():
            raise ForecastError("ghi in exog/exog_future does not cover history and horizon")
        x = x.join(_ghi_regressors(pd.Series(ghi.to_numpy(), index=both), place))
    if exog is not None and exog_future is not None and "temp_air" in exog.columns:
        temp = pd.concat([exog["temp_air"].reindex(y.index),
                          exog_future["temp_air"].reindex(fut)])
        if temp.isna().any():
            raise ForecastError("temp_air in exog/exog_future does not cover history and horizon")
        x = x.join(features.degree_hours(pd.Series(temp.to_numpy(), index=both)))
    x["trend"] = np.arange(len(both)) / len(y)
    return x


#: Half-life of the observation weights of :func:`_regression_profile`: a day this long
#: before the origin weighs half as much as the last [Timedelta]. Chosen among 7, 10, 14
#: and 21 days and equal weights on the 4 weeks before the benchmark's test weeks
#: (day-ahead, sample city, 2016-09-05 – 10-02): feeder MASE 0.786, 0.770, 0.769, 0.775,
#: 0.810 (``benchmarks/bench_forecast_accuracy.py`` docstring).
REGRESSION_HALF_LIFE = pd.Timedelta("14D")


def deleted_block_residuals(x: np.ndarray, resid: np.ndarray, weights: np.ndarray,
                            blocks: np.ndarray) -> np.ndarray:
    """Residuals of a weighted least-squares fit with each block (e.g. a day) left out.

    For block b, ``e_b = (I − H_bb)⁻¹ r_b`` in the weighted space (rows scaled by
    sqrt(weight)), with H the hat matrix of the full fit: exactly the errors of refitting
    without the block and predicting it (the case-deletion identity of least squares,
    Cook & Weisberg 1982, *Residuals and Influence in Regression*), at the cost of one
    small solve a block. A block without which the fit is not identified (a regressor
    non-zero in that block only) keeps its ordinary residuals.

    Parameters
    ----------
    x : ndarray
        Design matrix, n × p.
    resid : ndarray
        Residuals of the weighted fit, in the unit of the series.
    weights : ndarray
        Observation weights (> 0) of the fit.
    blocks : ndarray
        Block label of each row.

    Returns
    -------
    ndarray
        Deleted residuals in the unit of the series, one per row.
    """
    sw = np.sqrt(weights)
    xw = x * sw[:, None]
    gram_inv = np.linalg.pinv(xw.T @ xw)
    out = np.empty(len(resid))
    for b in np.unique(blocks):
        rows = np.flatnonzero(blocks == b)
        xb = xw[rows]
        h = xb @ gram_inv @ xb.T
        a = np.eye(len(rows)) - h
        if np.linalg.cond(a) > 1e8:  # the fit without this block is not identified
            out[rows] = resid[rows]
            continue
        out[rows] = np.linalg.solve(a, resid[rows] * sw[rows]) / sw[rows]
    return out


def _regression_profile(y, horizon, quantiles, exog, exog_future, step, place):
    """Weighted least squares on :func:`profile_design`; AR(1) residuals.

    Observations are weighted by age (half-life :data:`REGRESSION_HALF_LIFE`); the interval
    quantiles come from the leave-one-day-out errors (:func:`deleted_block_residuals`) of
    the same local time slot.
    """
    require_variation(y, "a regression")
    fut = future_index(y, step, horizon)
    x = profile_design(y, fut, exog, exog_future, step, place)
    x_hist, x_fut = x.iloc[: len(y)], x.iloc[len(y):]
    keep = x_hist.columns[(x_hist != 0).any()]
    weights = 0.5 ** np.asarray((y.index[-1] - y.index) / REGRESSION_HALF_LIFE)
    res = WLS(y.to_numpy(), x_hist[keep].to_numpy(), weights=weights).fit()
    resid = y.to_numpy() - res.fittedvalues
    # AR(1) on the residuals: the forecast decays from the last residual
    phi = float(np.clip(np.corrcoef(resid[1:], resid[:-1])[0, 1], 0.0, 0.99))
    lead = np.arange(1, horizon + 1)
    mean = x_fut[keep].to_numpy() @ res.params + resid[-1] * phi**lead
    # intervals: empirical quantiles, per local time slot, of the errors the fit makes on a
    # day it did not see (in-sample residuals understate them: the day's own dummies and
    # trend absorb part of its error)
    days = np.asarray(features.local_times(y.index, place.timezone).tz_localize(None).normalize().asi8)
    errors = deleted_block_residuals(x_hist[keep].to_numpy(), resid, weights, days)
    slot_hist = _slot(y.index, step, place)
    slot_fut = _slot(fut, step, place)
    q = {level: np.empty(horizon) for level in quantiles}
    for s_ in np.unique(slot_fut):
        r = errors[slot_hist == s_]
        sel = slot_fut == s_
        for level in quantiles:
            q[level][sel] = mean[sel] + np.quantile(r, level)
    return frame(fut, mean, q)


#: Local hours splitting the irradiance response of net load into parts [h]: rooftops
#: facing east and west weigh differently in the morning and the afternoon.
GHI_PARTS_LOCAL_HOURS = (12,)


def _ghi_regressors(ghi: pd.Series, place: Place) -> pd.DataFrame:
    """GHI [kW/m²] split by local time of day at :data:`GHI_PARTS_LOCAL_HOURS`."""
    hour = np.asarray(features.local_times(ghi.index, place.timezone).hour)
    part = np.searchsorted(np.asarray(GHI_PARTS_LOCAL_HOURS), hour, side="right")
    values = ghi.to_numpy() / 1000.0
    return pd.DataFrame({f"ghi_{k}": np.where(part == k, values, 0.0)
                         for k in range(len(GHI_PARTS_LOCAL_HOURS) + 1)}, index=ghi.index)


def _combination(y, horizon, quantiles, exog, exog_future, step, place):
    """Equal-weight combination of ``stl_arima`` and ``regression_profile``.

    Means and quantiles are averaged level by level (quantile averaging, Vincentization).
    When the ARIMA fit fails numerically (a singular matrix in its likelihood search) or
    leaves the plausible band (:func:`check_plausible`), the regression alone is returned
    and ``attrs["fallback"]`` says so.
    """
    regression = _regression_profile(y, horizon, quantiles, exog, exog_future, step, place)
    try:
        arima = _stl_arima(y, horizon, quantiles, exog, exog_future, step, place)
        check_plausible(arima, y, "stl_arima")
    except (np.linalg.LinAlgError, ValueError) as exc:
        regression.attrs["fallback"] = f"regression_profile only: stl_arima failed ({exc})"
        return regression
    return (arima + regression) / 2.0


def _slot(index: pd.DatetimeIndex, step: pd.Timedelta, place: Place) -> np.ndarray:
    local = features.local_times(index, place.timezone)
    return np.asarray((local.hour * 3600 + local.minute * 60) // int(step.total_seconds()))


def _drop_constant_columns(x_hist: pd.DataFrame, x_fut: pd.DataFrame):
    """Drop regressors constant over the history (e.g. no holiday in it): not identifiable."""
    keep = x_hist.columns[x_hist.std() > 0]
    return x_hist[keep], x_fut[keep]


# --------------------------------------------------------------------------------------------
# Solar (PV) models on the clear-sky index
# --------------------------------------------------------------------------------------------

#: Days of history the PV models look back on [d].
PV_LOOKBACK_DAYS = 28


def _pv_reference(y, step, horizon, exog, exog_future, place: Place):
    """Clear-sky output of the system over history and horizon, and its clear-sky index.

    The clear-sky shape is ``ghi_clear`` [W/m²] from ``exog``/``exog_future`` when given,
    else the Ineichen clear-sky GHI at the place. It is scaled to the system per time of day
    (UTC slot, so sun time): the :data:`features.CLEARSKY_SCALE_QUANTILE` of output over
    clear-sky GHI in that slot over the last :data:`PV_LOOKBACK_DAYS` days. A per-slot scale
    follows the system's orientation (an east roof peaks before noon), which one scale of
    GHI cannot.
    """
    fut = future_index(y, step, horizon)
    if exog is not None and exog_future is not None and "ghi_clear" in exog.columns:
        g_hist = exog["ghi_clear"].reindex(y.index)
        g_fut = exog_future["ghi_clear"].reindex(fut)
        if g_hist.isna().any() or g_fut.isna().any():
            raise ForecastError("ghi_clear in exog/exog_future does not cover history and horizon")
    elif place.has_location:
        both = features.clear_sky_reference(pd.date_range(y.index[0], fut[-1], freq=step),
                                            place.latitude, place.longitude)
        g_hist, g_fut = both.reindex(y.index), both.reindex(fut)
    else:
        raise ForecastError(f"series {y.name!r}: a PV model needs the clear-sky GHI "
                            "(ghi_clear in exog) or the place's latitude and longitude")
    recent = slice(max(0, len(y) - int(pd.Timedelta(days=PV_LOOKBACK_DAYS) / step)), None)
    try:
        scale_hist, scale_fut = features.clearsky_power_scale_by_slot(
            y.iloc[recent], g_hist.iloc[recent], y.index, fut, step)
    except ValueError as exc:
        raise ForecastError(f"series {y.name!r}: {exc}; is it a PV output series?") from None
    cs_hist, cs_fut = scale_hist * g_hist.to_numpy(), scale_fut * g_fut.to_numpy()
    min_clear = float(np.nanmax(cs_hist)) * features.MIN_CLEAR_GHI_W_M2 / 1000.0
    csi = features.clearsky_index(y, pd.Series(cs_hist, index=y.index), min_clear)
    return fut, cs_fut, csi, min_clear


def _pv_frame(fut, cs_fut, min_clear, csi_mean, csi_q):
    """PV forecast from clear-sky-index forecasts; zero where the clear-sky output is zero."""
    day = cs_fut > 0
    cap = features.MAX_CLEARSKY_INDEX

    def to_power(k):
        return np.where(day, np.clip(k, 0.0, cap) * cs_fut, 0.0)

    return frame(fut, to_power(csi_mean), {q: to_power(v) for q, v in csi_q.items()})


def _recent(csi: pd.Series, step: pd.Timedelta) -> pd.Series:
    return csi.iloc[-int(pd.Timedelta(days=PV_LOOKBACK_DAYS) / step):]


def _pv_smart_persistence(y, horizon, quantiles, exog, exog_future, step, place):
    fut, cs_fut, csi, min_clear = _pv_reference(y, step, horizon, exog, exog_future, place)
    recent = _recent(csi, step)
    if recent.notna().sum() < 2:
        raise ForecastError(f"series {y.name!r}: no daylight clear-sky index to persist")
    last_hour = recent.iloc[-max(int(pd.Timedelta("1h") / step), 1):].dropna()
    k0 = float(last_hour.mean()) if len(last_hour) else float(recent.dropna().iloc[-1])
    carried = recent.ffill().to_numpy()
    values = recent.to_numpy()
    q_of_h = {q: np.empty(horizon) for q in quantiles}
    for h in range(1, horizon + 1):
        err = values[h:] - carried[:-h] if h < len(values) else np.array([])
        err = err[np.isfinite(err)]
        if err.size == 0:
            err = np.array([0.0])
        for q in quantiles:
            q_of_h[q][h - 1] = k0 + np.quantile(err, q)
    return _pv_frame(fut, cs_fut, min_clear, np.full(horizon, k0), q_of_h)


def _pv_climatology(y, horizon, quantiles, exog, exog_future, step, place):
    fut, cs_fut, csi, min_clear = _pv_reference(y, step, horizon, exog, exog_future, place)
    recent = _recent(csi, step).dropna().to_numpy()
    if recent.size < 2:
        raise ForecastError(f"series {y.name!r}: no daylight clear-sky index in the history")
    q = {level: np.full(horizon, np.quantile(recent, level)) for level in quantiles}
    return _pv_frame(fut, cs_fut, min_clear, np.full(horizon, recent.mean()), q)


def _pv_csi_statsmodels(y, horizon, quantiles, exog, exog_future, step, place):
    fut, cs_fut, csi, min_clear = _pv_reference(y, step, horizon, exog, exog_future, place)
    recent = _recent(csi, step)
    if recent.notna().sum() < 24:
        raise ForecastError(f"series {y.name!r}: too little daylight history for an AR model")
    # AR(1) with a constant on the clear-sky index; nights are missing values, which the
    # Kalman filter skips, so forecasts revert from the last value to the recent mean.
    res = SARIMAX(recent.to_numpy(), order=(1, 0, 0), trend="c").fit(disp=False)
    fc = res.get_forecast(horizon)
    mean = np.asarray(fc.predicted_mean)
    q = gaussian_quantiles(mean, np.asarray(fc.var_pred_mean), quantiles)
    return _pv_frame(fut, cs_fut, min_clear, mean, q)


def _pv_irradiance(y, horizon, quantiles, exog, exog_future, step, place):
    """PV from the irradiance forecast: its clear-sky index times the system's clear-sky output.

    The forecast GHI over the clear-sky GHI at the place gives the sky's clear-sky index
    ahead; the system's clear-sky output (:func:`_pv_reference`) turns it into power. The
    quantiles add, per lead-independent daylight error, the history's own errors of the same
    mapping (measured clear-sky index of the system minus that of the GHI).
    """
    if not place.has_location:
        raise ForecastError(f"series {y.name!r}: pv_irradiance needs the place's location")
    fut, cs_fut, csi, min_clear = _pv_reference(y, step, horizon, exog, exog_future, place)
    both = pd.date_range(y.index[0], fut[-1], freq=step)
    clear = features.clear_sky_reference(both, place.latitude, place.longitude)
    lit = clear >= features.MIN_CLEAR_GHI_W_M2
    kt_sky = (pd.concat([exog["ghi"], exog_future["ghi"]]).reindex(both) / clear.where(lit))
    kt_sky = kt_sky.clip(0.0, features.MAX_CLEARSKY_INDEX)
    err = (csi - kt_sky.reindex(y.index)).dropna().to_numpy()
    if err.size < 24:
        raise ForecastError(f"series {y.name!r}: too little daylight history for pv_irradiance")
    ahead = kt_sky.reindex(fut).fillna(0.0).to_numpy()
    q = {level: ahead + np.quantile(err, level) for level in quantiles}
    return _pv_frame(fut, cs_fut, min_clear, ahead, q)


# --------------------------------------------------------------------------------------------
# Registry and the one entry point
# --------------------------------------------------------------------------------------------

MODELS: dict[str, ModelSpec] = {
    "seasonal_naive_daily": ModelSpec(
        "seasonal_naive_daily", _seasonal_naive_daily, "load", pd.Timedelta("3D"),
        description="value one day before; intervals from past day-ahead naive errors",
    ),
    "seasonal_naive_weekly": ModelSpec(
        "seasonal_naive_weekly", _seasonal_naive_weekly, "load", pd.Timedelta("14D"),
        description="value one week before (MASE scale); intervals from past weekly naive errors",
    ),
    "mstl_ets": ModelSpec(
        "mstl_ets", _mstl_ets, "load", pd.Timedelta("14D"),
        description="MSTL daily+weekly; damped-trend ETS on the seasonally adjusted series"
                    " (GHI effect removed first if GHI is given)",
    ),
    "stl_arima": ModelSpec(
        "stl_arima", _stl_arima, "load", pd.Timedelta("14D"),
        description="MSTL daily+weekly; ARIMA(2,0,1) on the seasonally adjusted series"
                    " (GHI effect removed first if GHI is given)",
    ),
    "sarimax_fourier": ModelSpec(
        "sarimax_fourier", _sarimax_fourier, "load", pd.Timedelta("14D"), ("temp_air",),
        description="regression on daily/weekly Fourier terms, day off, HDD/CDD; AR(2) errors",
    ),
    "regression_profile": ModelSpec(
        "regression_profile", _regression_profile, "load", pd.Timedelta("14D"),
        description="WLS on day-type profiles, clear-sky GHI, GHI if given, HDD/CDD, trend;"
                    " AR(1) residuals",
    ),
    "combination": ModelSpec(
        "combination", _combination, "load", pd.Timedelta("14D"),
        description="mean of stl_arima and regression_profile (means and quantiles)",
    ),
    "pv_smart_persistence": ModelSpec(
        "pv_smart_persistence", _pv_smart_persistence, "pv", pd.Timedelta("2D"),
        description="last hour's clear-sky index times the clear-sky output ahead",
    ),
    "pv_climatology": ModelSpec(
        "pv_climatology", _pv_climatology, "pv", pd.Timedelta("7D"),
        description="distribution of the last 28 days' clear-sky index times clear-sky output",
    ),
    "pv_irradiance": ModelSpec(
        "pv_irradiance", _pv_irradiance, "pv", pd.Timedelta("7D"), ("ghi",),
        description="clear-sky index of the GHI forecast times the system's clear-sky output",
    ),
    "pv_csi_statsmodels": ModelSpec(
        "pv_csi_statsmodels", _pv_csi_statsmodels, "pv", pd.Timedelta("3D"),
        description="AR(1) on the clear-sky index (statsmodels SARIMAX), nights missing",
    ),
}


#: The model ``twin forecast`` uses unless told otherwise when the series has weather
#: (temperature, irradiance): the lowest MASE on the sample city's feeders and city in
#: ``benchmarks/bench_forecast_accuracy.py`` (4 weeks to 2016-10-31, emulated GHI forecast:
#: feeder / city combination 0.649 / 0.648, mstl_ets 0.694 / 0.701, weekly naive 0.935 /
#: 0.918; coverage 0.800 / 0.789). See :func:`default_model`.
DEFAULT_MODEL = "combination"
#: ... and when it has none: the lowest MASE on the real Taylor demand (no weather, 4 weeks
#: to 2000-08-27, through the CLI): mstl_ets 0.824 against combination 1.065, stl_arima
#: 0.865, weekly naive 1.192 (coverage 0.816, 0.827, 0.815, 0.859). Without weather the regression half of the combination has
#: only day types and a trend to go on (regression_profile alone: 1.9 on these weeks).
DEFAULT_MODEL_WITHOUT_WEATHER = "mstl_ets"


#: The PV models' defaults, from SERF East PV through the CLI with its PSM3 weather (4 weeks,
#: day-ahead): pv_irradiance MASE 0.546, pv_smart_persistence 0.840, weekly naive 0.882
#: (coverage 0.783 / 0.789). Without weather the smart persistence is the best measured.
DEFAULT_PV_MODEL = "pv_irradiance"
DEFAULT_PV_MODEL_WITHOUT_WEATHER = "pv_smart_persistence"


def default_model(has_weather: bool, kind: str = "load") -> str:
    """The default model of a series with or without weather.

    Parameters
    ----------
    has_weather : bool
        Whether the models are given weather (temperature, irradiance).
    kind : str
        ``"load"`` or ``"pv"`` (a PV generation series).

    See :data:`DEFAULT_MODEL`, :data:`DEFAULT_PV_MODEL` and their ``_WITHOUT_WEATHER``
    companions for the measurements behind each choice.
    """
    if kind == "pv":
        return DEFAULT_PV_MODEL if has_weather else DEFAULT_PV_MODEL_WITHOUT_WEATHER
    return DEFAULT_MODEL if has_weather else DEFAULT_MODEL_WITHOUT_WEATHER


#: Half-width of the plausible band of a forecast beyond the history's range, as a multiple
#: of that range [-]: a forecast outside ``[min − f·range, max + f·range]`` of its history is
#: an explosive fit (a sarimax day alternating ±2.9e12 MW was seen) and is refused.
PLAUSIBLE_RANGE_FACTOR = 1.0


def plausible_band(history: np.ndarray,
                   factor: float = PLAUSIBLE_RANGE_FACTOR) -> tuple[float, float]:
    """Lowest and highest plausible forecast of a history [unit of the history].

    The history's range widened by ``factor`` times itself on both sides (a constant
    history: by a tenth of its level, or 1).
    """
    lo, hi = float(np.nanmin(history)), float(np.nanmax(history))
    span = hi - lo or (0.1 * abs(hi) or 1.0)
    return lo - factor * span, hi + factor * span


def check_plausible(out: pd.DataFrame, history: pd.Series, model: str) -> None:
    """Raise :class:`ForecastError` when a forecast leaves the :func:`plausible_band`."""
    values = out.to_numpy(float)
    if not np.isfinite(values).all():
        raise ForecastError(f"series {history.name!r}: {model} produced non-finite values")
    lo, hi = plausible_band(history.to_numpy())
    bad = (values < lo) | (values > hi)
    if bad.any():
        worst = values[bad][np.argmax(np.abs(values[bad]))]
        raise ForecastError(
            f"series {history.name!r}: {model} forecast {worst:.4g} lies outside the plausible "
            f"band [{lo:.4g}, {hi:.4g}] of its history (range ± {PLAUSIBLE_RANGE_FACTOR:g}× "
            "itself): an explosive fit, not used")


def forecast(
    y: pd.Series,
    horizon: int,
    model: str = DEFAULT_MODEL,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    exog: pd.DataFrame | None = None,
    exog_future: pd.DataFrame | None = None,
    place: Place | str | None = None,
) -> pd.DataFrame:
    """Fit ``model`` on the history ``y`` and forecast the next ``horizon`` steps.

    Parameters
    ----------
    y : Series
        History on a regular, time-zone aware DatetimeIndex (hourly or 15-min; the step is
        inferred). Short interior gaps are filled by interpolation; the number filled is in
        ``result.attrs["filled"]``.
    horizon : int
        Steps to forecast [-].
    model : str
        A key of :data:`MODELS`.
    quantiles : sequence of float
        Quantile levels of the prediction intervals [-].
    exog, exog_future : DataFrame, optional
        Exogenous inputs (e.g. ``temp_air`` [°C]) over the history and over the horizon.
    place : Place or str
        Clock, location and holidays of the series (:class:`forecasts.place.Place`; a bare
        zone name: no location, no holidays). Required.

    Returns
    -------
    DataFrame
        Indexed by the ``horizon`` future UTC times; column ``mean`` and one float column per
        quantile level, in the unit of ``y``.

    Raises
    ------
    ForecastError
        Unknown model, bad horizon or quantiles, no place, a history too short, all-NaN or
        constant when the model cannot fit it, missing exogenous columns, or a forecast
        outside the plausible band of the history (:func:`check_plausible`).
    """
    spec = MODELS.get(model)
    if spec is None:
        raise ForecastError(f"unknown model {model!r}; choose one of {sorted(MODELS)}")
    if place is None:
        raise ForecastError("a forecast needs the place of the series (its time zone at "
                            "least): pass place=Place(timezone, …)")
    place = as_place(place)
    if not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ForecastError(f"horizon must be a positive number of steps, got {horizon!r}")
    levels = check_quantiles(quantiles)
    hist, step, filled = regular_history(y)
    require_history(hist, step, spec.min_history, model)
    exog, exog_future = _check_exog(spec, hist, step, int(horizon), exog, exog_future)
    with warnings.catch_warnings():
        # statsmodels warns on every hard fit (convergence, start parameters); the forecast
        # is checked against the history's plausible band below and the backtest scores it
        warnings.simplefilter("ignore")
        out = spec.fit_predict(hist, int(horizon), levels, exog, exog_future, step, place)
    check_plausible(out, hist, model)
    out.attrs["model"] = model
    out.attrs["filled"] = filled
    return out


def _check_exog(spec, hist, step, horizon, exog, exog_future):
    """Align exogenous inputs with the history and the horizon; raise when a column is missing."""
    if not spec.needs_exog:
        return exog, exog_future
    need = list(spec.needs_exog)
    for label, table in (("exog", exog), ("exog_future", exog_future)):
        if table is None:
            raise ForecastError(f"{spec.name} needs {label} with columns {need}; none given")
        missing = [c for c in need if c not in table.columns]
        if missing:
            raise ForecastError(f"{spec.name}: {label} lacks column(s) {missing}")
    fut = future_index(hist, step, horizon)
    past = exog.reindex(hist.index)[need]
    ahead = exog_future.reindex(fut)[need]
    for label, table in (("exog", past), ("exog_future", ahead)):
        n_missing = int(table.isna().any(axis=1).sum())
        if n_missing:
            raise ForecastError(
                f"{spec.name}: {label} has no {need} at {n_missing} of the {len(table)} times"
                f" needed (first {table.index[table.isna().any(axis=1)][0]}); give weather"
                " covering the whole history and horizon"
            )
    return past, ahead

