"""Rolling-origin backtests: every model against the seasonal naive baselines.

For each series and each origin of the test period (one a day for ``day-ahead``, issued
the morning before; every few hours for ``intraday``), each model is fitted on the history
before the origin only and scored on the window it forecast. :func:`backtest_forecasts`
returns the forecasts and outcomes in long form; :func:`score` turns them into the table
(MAPE, MASE scaled by the weekly seasonal naive, pinball loss, interval coverage) per series
or per level; :func:`backtest` does both.

A fit that fails (too short, an explosive forecast outside the history's plausible band,
weather it needs and was not given …) is recorded with its reason, and the origin is scored
with the first baseline of :data:`FALLBACKS` that works, named in the forecasts' ``used``
column: the table is about what a user would have received. Intervals are calibrated on
the origins before each one (:class:`forecasts.calibration.RollingCalibration`), seeded by
``calibration_days`` origins before the test period that are not scored.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecasts import metrics
from forecasts.calibration import RollingCalibration, scale_intervals
from forecasts.models import (
    DEFAULT_MODEL,
    DEFAULT_QUANTILES,
    INTRADAY_HOURS,
    MODELS,
    ForecastError,
    forecast,
    horizon_plan,
    regular_history,
    season_length,
)
from forecasts.place import Place, as_place
from forecasts.weather import split_exog

#: Baselines every backtest table carries.
BASELINES = ("seasonal_naive_weekly", "seasonal_naive_daily")
#: Baselines that stand in, in order, for a model that cannot forecast an origin.
FALLBACKS = ("seasonal_naive_weekly", "seasonal_naive_daily")
#: History each fit sees, counted back from the origin [weeks].
HISTORY_WEEKS = 8
#: Day-ahead origins before the test period whose errors seed the interval calibration [d].
CALIBRATION_DAYS = 14
#: Score columns of :func:`score_one`, present even when no forecast was scored.
SCORE_COLUMNS = ("mape_percent", "mase", "pinball", "pinball_scaled", "coverage", "nominal",
                 "n_origins", "n_values", "fallbacks", "seconds_per_fit")


def as_series_dict(series: dict[str, pd.Series] | pd.DataFrame | pd.Series) -> dict[str, pd.Series]:
    """Series by name from a dict, the columns of a DataFrame, or one named Series."""
    if isinstance(series, pd.Series):
        return {str(series.name): series}
    if isinstance(series, pd.DataFrame):
        return {str(c): series[c] for c in series.columns}
    if isinstance(series, dict):
        return {str(k): v for k, v in series.items()}
    raise ForecastError(f"backtest takes a dict of Series or a DataFrame, not {type(series)}")


def origins(
    index: pd.DatetimeIndex, horizon: str, weeks: int, timezone: str, step: pd.Timedelta,
    every_hours: int = INTRADAY_HOURS,
) -> list:
    """Test plans of a rolling-origin backtest over the last ``weeks`` weeks of ``index``.

    ``day-ahead``: one plan per complete local day of the test period. ``intraday``: one
    plan every ``every_hours`` hours, each forecasting the next :data:`INTRADAY_HOURS` hours.

    Raises
    ------
    ForecastError
        When the data hold fewer than ``weeks`` weeks of test period after the minimum
        history.
    """
    if weeks < 1:
        raise ForecastError(f"a backtest needs at least one week, got {weeks}")
    last = index[-1] + step
    if horizon == "day-ahead":
        last_local = last.tz_convert(timezone).tz_localize(None)
        end_day = last_local.normalize()  # the last local day complete in the data ends here
        days = pd.date_range(end=end_day - pd.Timedelta("1D"), periods=7 * weeks, freq="D")
        plans = [horizon_plan("day-ahead", step, timezone, target_day=d) for d in days]
    elif horizon == "intraday":
        span = pd.Timedelta(weeks=weeks)
        first = (last - span).ceil(f"{every_hours}h")
        times = pd.date_range(first, last - pd.Timedelta(hours=INTRADAY_HOURS),
                              freq=f"{every_hours}h")
        plans = [horizon_plan("intraday", step, timezone, origin=t) for t in times]
    else:
        raise ForecastError(f"unknown horizon {horizon!r}; use 'intraday' or 'day-ahead'")
    if not plans or plans[0].origin - index[0] < pd.Timedelta(weeks=2):
        raise ForecastError(
            f"the series spans {index[0]} to {last}: too short for {weeks} test weeks after"
            " two weeks of history; give a longer series or fewer weeks"
        )
    return plans


def calibration_plans(index: pd.DatetimeIndex, test: list, days: int, timezone: str,
                      step: pd.Timedelta) -> list:
    """Plans of the ``days`` origins before the first test plan, one a day at the same local
    issue time, as many as leave two weeks of history; their errors seed the calibration."""
    if not test or days < 1:
        return []
    first = test[0]
    plans = []
    for k in range(days, 0, -1):
        origin = (first.origin.tz_convert(timezone).tz_localize(None) - pd.Timedelta(days=k)
                  ).tz_localize(timezone, ambiguous=True, nonexistent="shift_forward")
        origin = origin.tz_convert("UTC")
        if origin - index[0] < pd.Timedelta(weeks=2):
            continue
        if first.start > first.origin:  # day-ahead: the local day after the issue day
            target = origin.tz_convert(timezone).tz_localize(None).normalize() + \
                pd.Timedelta("1D")
            plans.append(horizon_plan("day-ahead", step, timezone, target_day=target))
        else:
            plans.append(horizon_plan("intraday", step, timezone, origin=origin))
    return plans


def _exog_for(exog, name: str):
    if isinstance(exog, dict):
        return exog.get(name)
    return exog


def backtest_forecasts(
    series: dict[str, pd.Series] | pd.DataFrame,
    models: Sequence[str],
    horizon: str = "day-ahead",
    weeks: int = 4,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    exog: pd.DataFrame | dict[str, pd.DataFrame] | None = None,
    history_weeks: int = HISTORY_WEEKS,
    place: Place | str | None = None,
    calibration_days: int = CALIBRATION_DAYS,
    fallbacks: Sequence[str] = FALLBACKS,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Run the rolling-origin forecasts.

    Parameters
    ----------
    series : dict of Series or DataFrame
        Regular UTC series (hourly or 15-min) by name.
    models : sequence of str
        Keys of :data:`forecasts.models.MODELS`.
    horizon : str
        ``"day-ahead"`` or ``"intraday"``.
    weeks : int
        Test weeks at the end of each series [weeks].
    exog : DataFrame, WeatherInputs or a dict of them, optional
        Weather by time (``temp_air`` [°C], ``ghi`` [W/m²], ``ghi_clear`` [W/m²]), one for all
        series or one per series; a :class:`forecasts.weather.WeatherInputs` keeps the
        measured record (history) apart from the forecasts (horizon). A model that needs weather it is not given fails, and the
        failure and its fallback are recorded; no weather is ever made up.
    history_weeks : int
        History each fit sees [weeks].
    place : Place or str
        Clock, location and holidays of the series (required).
    calibration_days : int
        Origins before the test period whose errors seed the interval calibration [d]
        (0: intervals calibrated only on earlier test origins).
    fallbacks : sequence of str
        Baselines tried, in order, for an origin the model cannot forecast.

    Returns
    -------
    DataFrame
        Long table: ``series``, ``model``, ``origin``, ``time``, ``actual``, ``mean``, one
        column per quantile level, ``used`` (the model that made the values: the model or a
        fallback), ``interval_scale`` (the calibration factor, NaN: uncalibrated) and
        ``fit_seconds``.
    DataFrame
        Failures: ``series``, ``model``, ``origin``, ``error``, ``fallback`` (one row per
        failed fit; ``fallback`` the baseline scored in its place, ``""`` if none could).
    dict
        MASE scale of each series (in-sample weekly seasonal naive MAE before the first
        origin), in the series' unit.
    """
    if place is None:
        raise ForecastError("a backtest needs the place of the series (time zone at least)")
    place = as_place(place)
    unknown = [m for m in [*models, *fallbacks] if m not in MODELS]
    if unknown:
        raise ForecastError(f"unknown model(s) {unknown}; choose from {sorted(MODELS)}")
    levels = sorted(quantiles)
    nominal = levels[-1] - levels[0] if len(levels) >= 2 else None
    rows, failures, scales = [], [], {}
    for name, raw in as_series_dict(series).items():
        try:
            y, step, _ = regular_history(raw.rename(name))
            plans = origins(y.index, horizon, weeks, place.timezone, step)
            m = season_length(step, "weekly")
            before = y[y.index < plans[0].origin].iloc[-history_weeks * m:]
            scales[name] = metrics.seasonal_naive_scale(before.to_numpy(), m)
        except (ForecastError, metrics.MetricError) as exc:
            # one unusable series is reported, never stops the others
            failures.extend({"series": name, "model": model, "origin": pd.NaT,
                             "error": str(exc), "fallback": ""} for model in models)
            continue
        early = calibration_plans(y.index, plans, calibration_days, place.timezone, step)
        x = _exog_for(exog, name)
        calib = {model: RollingCalibration() for model in models}
        for plan in [*early, *plans]:
            scored = plan.origin >= plans[0].origin
            hist = y[(y.index < plan.origin)
                     & (y.index >= plan.origin - pd.Timedelta(weeks=history_weeks))]
            actual = y[(y.index >= plan.start) & (y.index < plan.end)]
            for model in models:
                t0 = time.perf_counter()
                fc, used = _forecast_or_fallback(hist, plan, model, quantiles, x, place,
                                                 fallbacks, failures if scored else None,
                                                 name)
                if fc is None:
                    continue
                seconds = time.perf_counter() - t0
                kept = fc.loc[(fc.index >= plan.start) & (fc.index < plan.end)]
                kept = kept.join(actual.rename("actual"), how="inner")
                factor = calib[model].factor(plan.origin, nominal) if nominal else np.nan
                if nominal:
                    calib[model].add(plan.end, kept["actual"], kept["mean"], kept[levels[0]],
                                     kept[levels[-1]], factor)
                if not scored:
                    continue
                kept = scale_intervals(kept, factor)
                kept = kept.assign(series=name, model=model, origin=plan.origin, used=used,
                                   interval_scale=factor,
                                   fit_seconds=seconds / max(len(kept), 1))
                rows.append(kept.rename_axis("time").reset_index())
    columns = ["series", "model", "origin", "time", "actual", "mean", *levels, "used",
               "interval_scale", "fit_seconds"]
    table = pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)
    fails = pd.DataFrame(failures, columns=["series", "model", "origin", "error", "fallback"])
    return table, fails, scales


def _forecast_or_fallback(hist, plan, model, quantiles, exog, place, fallbacks, failures,
                          name):
    """The model's forecast of one plan, else the first fallback's; failures recorded (when
    ``failures`` is a list). Returns (forecast or None, model used)."""
    error = None
    past, future = split_exog(exog)
    for candidate in (model, *[f for f in fallbacks if f != model]):
        try:
            fc = forecast(hist, plan.horizon, candidate, quantiles, past, future, place)
        except (ForecastError, np.linalg.LinAlgError, ValueError) as exc:
            error = error or str(exc)
            continue
        if candidate != model and failures is not None:
            failures.append({"series": name, "model": model, "origin": plan.origin,
                             "error": error, "fallback": candidate})
        return fc, candidate
    if failures is not None:
        failures.append({"series": name, "model": model, "origin": plan.origin,
                         "error": error, "fallback": ""})
    return None, "none"


def score_one(group: pd.DataFrame, scale: float, quantiles: Sequence[float]) -> dict:
    """Metrics of one series × model: MAPE [%], MASE [-], pinball [unit], coverage [-]."""
    levels = sorted(quantiles)
    a = group["actual"].to_numpy()
    out = {
        "mape_percent": _safe(metrics.mape, a, group["mean"]),
        "mase": metrics.mase(a, group["mean"], scale=scale),
        "pinball": metrics.mean_pinball_loss(a, {q: group[q].to_numpy() for q in levels}),
    }
    out["pinball_scaled"] = out["pinball"] / scale
    if len(levels) >= 2:
        out["coverage"] = _coverage(group, levels[0], levels[-1])
        out["nominal"] = levels[-1] - levels[0]
    out["n_origins"] = group["origin"].nunique()
    out["n_values"] = len(group)
    out["fallbacks"] = int(group.loc[group["used"] != group["model"], "origin"].nunique())
    out["seconds_per_fit"] = float(group["fit_seconds"].sum() / max(out["n_origins"], 1))
    return out


def _coverage(rows: pd.DataFrame, lo: float, hi: float) -> float:
    """Share of actual values inside the interval, leaving out the trivially covered ones:
    a zero-width interval on exactly the actual value (PV at night: 0 forecast, 0 measured)
    says nothing about the intervals and would push a PV coverage towards 1 [-]."""
    trivial = (rows[lo] == rows[hi]) & (rows[hi] == rows["actual"])
    kept = rows[~trivial]
    if kept.empty:
        return float("nan")
    return metrics.interval_coverage(kept["actual"], kept[lo], kept[hi])


def _safe(fn, *args) -> float:
    try:
        return fn(*args)
    except metrics.MetricError:
        return float("nan")


def score(
    table: pd.DataFrame,
    failures: pd.DataFrame,
    scales: dict[str, float],
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    levels: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Score backtest forecasts per series, or per level when ``levels`` maps series → level.

    Per level, MAPE, MASE and scaled pinball are averaged over the level's series (each
    series weighs the same); coverage pools every value. Failed fits are counted in
    ``failed`` (``fallbacks`` of them scored with a baseline in their place);
    ``first_error`` keeps one message.
    """
    records = []
    for (name, model), group in table.groupby(["series", "model"], sort=False):
        rec = {"series": name, "model": model, **score_one(group, scales[name], quantiles)}
        records.append(rec)
    per_series = pd.DataFrame(records)
    if per_series.empty:  # nothing scored: the same columns, all NaN, and a note saying why
        per_series = pd.DataFrame({"series": pd.Series(dtype=object),
                                   "model": pd.Series(dtype=object),
                                   **{c: pd.Series(dtype=float) for c in SCORE_COLUMNS}})
    fail_counts = failures.groupby(["series", "model"]).size().rename("failed")
    per_series = per_series.merge(fail_counts.reset_index(), how="outer",
                                  on=["series", "model"])
    per_series["failed"] = per_series["failed"].fillna(0).astype(int)
    first = failures.groupby(["series", "model"])["error"].first().rename("first_error")
    per_series = per_series.merge(first.reset_index(), how="left", on=["series", "model"])
    if levels is None:
        return _noted(per_series.set_index(["series", "model"]).sort_index(), records, failures)
    per_series["level"] = per_series["series"].map(levels)
    missing = per_series.loc[per_series["level"].isna(), "series"].unique().tolist()
    if missing:
        raise ForecastError(f"no level given for series {missing}")
    agg = per_series.groupby(["level", "model"]).agg(
        mape_percent=("mape_percent", "mean"), mase=("mase", "mean"),
        pinball_scaled=("pinball_scaled", "mean"), n_series=("mase", "count"),
        n_origins=("n_origins", "sum"), failed=("failed", "sum"),
        fallbacks=("fallbacks", "sum"), seconds_per_fit=("seconds_per_fit", "mean"),
    )
    if len(quantiles) >= 2:
        lo, hi = min(quantiles), max(quantiles)
        agg["coverage"] = np.nan
        if len(table):
            pooled = table.assign(level=table["series"].map(levels)).groupby(
                ["level", "model"])[["actual", lo, hi]]
            agg["coverage"] = pooled.apply(lambda g: _coverage(g, lo, hi))
        agg["nominal"] = hi - lo
    return _noted(agg.sort_index(), records, failures)


def _noted(result: pd.DataFrame, records: list, failures: pd.DataFrame) -> pd.DataFrame:
    """Set ``result.attrs["note"]`` when no forecast was scored (``""`` otherwise)."""
    note = ""
    if not records:
        note = ("no forecast was scored: "
                + (f"all {len(failures)} fits failed (see columns failed and first_error)"
                   if len(failures) else "no series and model to backtest were given"))
    result.attrs["note"] = note
    return result


def backtest(
    series: dict[str, pd.Series] | pd.DataFrame,
    models: Sequence[str] = (DEFAULT_MODEL,),
    horizon: str = "day-ahead",
    weeks: int = 4,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    levels: dict[str, str] | None = None,
    exog: pd.DataFrame | dict[str, pd.DataFrame] | None = None,
    history_weeks: int = HISTORY_WEEKS,
    place: Place | str | None = None,
    baselines: Sequence[str] = BASELINES,
    return_forecasts: bool = False,
    calibration_days: int = CALIBRATION_DAYS,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Rolling-origin backtest of ``models`` and the baselines: the accuracy table.

    Returns
    -------
    DataFrame
        Indexed by (series, model), or (level, model) when ``levels`` is given; columns
        ``mape_percent`` [%], ``mase`` [-] (weekly seasonal naive scale), ``pinball_scaled``
        [-], ``coverage`` and ``nominal`` [-] of the outer interval, ``n_origins``,
        ``failed``, ``fallbacks``, ``seconds_per_fit`` [s]. With ``return_forecasts``,
        also the long forecast table and the failures of :func:`backtest_forecasts`.
        ``attrs`` carry ``place`` (its description) and ``note``.

    Examples
    --------
    >>> table = backtest({"F0": y}, ["combination"], weeks=4,
    ...                  place=Place("Europe/London", 51.5, -0.1, "GB"))  # doctest: +SKIP
    """
    wanted = list(dict.fromkeys([*baselines, *models]))
    table, failures, scales = backtest_forecasts(
        series, wanted, horizon, weeks, quantiles, exog, history_weeks, place,
        calibration_days)
    result = score(table, failures, scales, quantiles, levels)
    result.attrs["place"] = as_place(place).describe()
    if return_forecasts:
        return result, table, failures
    return result
