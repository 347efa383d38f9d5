"""Rolling-origin backtests: every model against the seasonal naive baselines.

For each series and each origin of the test period (one a day for ``day-ahead``, issued
the morning before; every few hours for ``intraday``), each model is fitted on the history
before the origin only and scored on the window it forecast. :func:`backtest_forecasts`
returns the forecasts and outcomes in long form; :func:`score` turns them into the table
(MAPE, MASE scaled by the weekly seasonal naive, pinball loss, interval coverage) per series
or per level; :func:`backtest` does both.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from forecasts import features, metrics
from forecasts.models import (
    DEFAULT_QUANTILES,
    INTRADAY_HOURS,
    MODELS,
    ForecastError,
    forecast,
    horizon_plan,
    regular_history,
    season_length,
)

#: Baselines every backtest table carries.
BASELINES = ("seasonal_naive_weekly", "seasonal_naive_daily")
#: History each fit sees, counted back from the origin [weeks].
HISTORY_WEEKS = 8
#: Score columns of :func:`score_one`, present even when no forecast was scored.
SCORE_COLUMNS = ("mape_percent", "mase", "pinball", "pinball_scaled", "coverage", "nominal",
                 "n_origins", "n_values", "seconds_per_fit")


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
    timezone: str | None = None,
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
    exog : DataFrame or dict of DataFrame, optional
        Weather by time (``temp_air`` [°C], ``ghi_clear`` [W/m²]), one for all series or one
        per series. Models that need temperature get the city's TMY3 temperature when absent
        (the observed weather stands in for its forecast).
    history_weeks : int
        History each fit sees [weeks].
    timezone : str, optional
        Clock of the day-ahead windows; the city's by default.

    Returns
    -------
    DataFrame
        Long table: ``series``, ``model``, ``origin``, ``time``, ``actual``, ``mean`` and one
        column per quantile level.
    DataFrame
        Failures: ``series``, ``model``, ``origin``, ``error`` (one row per failed fit).
    dict
        MASE scale of each series (in-sample weekly seasonal naive MAE before the first
        origin), in the series' unit.
    """
    timezone = timezone or features.city_location()[2]
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ForecastError(f"unknown model(s) {unknown}; choose from {sorted(MODELS)}")
    rows, failures, scales = [], [], {}
    for name, raw in as_series_dict(series).items():
        try:
            y, step, _ = regular_history(raw.rename(name))
            plans = origins(y.index, horizon, weeks, timezone, step)
            m = season_length(step, "weekly")
            before = y[y.index < plans[0].origin].iloc[-history_weeks * m:]
            scales[name] = metrics.seasonal_naive_scale(before.to_numpy(), m)
        except (ForecastError, metrics.MetricError) as exc:
            # one unusable series is reported, never stops the others
            failures.extend({"series": name, "model": model, "origin": pd.NaT,
                             "error": str(exc)} for model in models)
            continue
        x = _exog_for(exog, name)
        if x is None and any(MODELS[k].needs_exog for k in models):
            x = features.city_temperature(
                pd.date_range(y.index[0], y.index[-1] + 2 * pd.Timedelta("1D"), freq=step)
            ).to_frame()
        for plan in plans:
            hist = y[(y.index < plan.origin)
                     & (y.index >= plan.origin - pd.Timedelta(weeks=history_weeks))]
            actual = y[(y.index >= plan.start) & (y.index < plan.end)]
            for model in models:
                t0 = time.perf_counter()
                try:
                    fc = forecast(hist, plan.horizon, model, quantiles, x, x, timezone)
                except (ForecastError, np.linalg.LinAlgError, ValueError) as exc:
                    failures.append({"series": name, "model": model, "origin": plan.origin,
                                     "error": str(exc)})
                    continue
                seconds = time.perf_counter() - t0
                kept = fc.loc[(fc.index >= plan.start) & (fc.index < plan.end)]
                kept = kept.join(actual.rename("actual"), how="inner")
                kept = kept.assign(series=name, model=model, origin=plan.origin,
                                   fit_seconds=seconds / max(len(kept), 1))
                rows.append(kept.rename_axis("time").reset_index())
    columns = ["series", "model", "origin", "time", "actual", "mean", *sorted(quantiles),
               "fit_seconds"]
    table = pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)
    fails = pd.DataFrame(failures, columns=["series", "model", "origin", "error"])
    return table, fails, scales


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
        out["coverage"] = metrics.interval_coverage(a, group[levels[0]], group[levels[-1]])
        out["nominal"] = levels[-1] - levels[0]
    out["n_origins"] = group["origin"].nunique()
    out["n_values"] = len(group)
    out["seconds_per_fit"] = float(group["fit_seconds"].sum() / max(out["n_origins"], 1))
    return out


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
    ``failed``; ``first_error`` keeps one message.
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
        seconds_per_fit=("seconds_per_fit", "mean"),
    )
    if len(quantiles) >= 2:
        lo, hi = min(quantiles), max(quantiles)
        agg["coverage"] = np.nan
        if len(table):
            pooled = table.assign(level=table["series"].map(levels)).groupby(["level", "model"])
            agg["coverage"] = pooled.apply(
                lambda g: metrics.interval_coverage(g["actual"], g[lo], g[hi]))
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
    models: Sequence[str] = ("mstl_ets",),
    horizon: str = "day-ahead",
    weeks: int = 4,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
    levels: dict[str, str] | None = None,
    exog: pd.DataFrame | dict[str, pd.DataFrame] | None = None,
    history_weeks: int = HISTORY_WEEKS,
    timezone: str | None = None,
    baselines: Sequence[str] = BASELINES,
    return_forecasts: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Rolling-origin backtest of ``models`` and the baselines: the accuracy table.

    Returns
    -------
    DataFrame
        Indexed by (series, model), or (level, model) when ``levels`` is given; columns
        ``mape_percent`` [%], ``mase`` [-] (weekly seasonal naive scale), ``pinball_scaled``
        [-], ``coverage`` and ``nominal`` [-] of the outer interval, ``n_origins``,
        ``failed``, ``seconds_per_fit`` [s]. With ``return_forecasts``, also the long
        forecast table and the failures of :func:`backtest_forecasts`.

    Examples
    --------
    >>> table = backtest({"F0": y}, ["mstl_ets"], horizon="day-ahead", weeks=4)  # doctest: +SKIP
    """
    wanted = list(dict.fromkeys([*baselines, *models]))
    table, failures, scales = backtest_forecasts(
        series, wanted, horizon, weeks, quantiles, exog, history_weeks, timezone)
    result = score(table, failures, scales, quantiles, levels)
    if return_forecasts:
        return result, table, failures
    return result
