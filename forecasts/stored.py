"""Forecasts and backtests of any series the store holds, by id: a utility's own load.

:func:`stored_series` reads only the series asked for, in the window asked for, onto a
regular grid (energy summed per step, power and other readings averaged); an id the store
does not hold, or a window without data, is an error naming it. :func:`backtest_stored` and
:func:`forecast_stored` are the workflows behind ``twin forecast backtest|run --series``:
series, place (zone, location, holidays), weather from the store and models in one call.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from forecasts import backtest as bt
from forecasts import features, models, runner
from forecasts.data import ForecastDataError, read_wide
from forecasts.place import Place
from forecasts.weather import KIND as WEATHER_KIND
from forecasts.weather import WeatherError, WeatherInputs, stations, store_weather

#: Kinds whose readings are energy or volume per interval (summed to a coarser step).
ENERGY_UNITS = ("kWh", "MWh", "Wh", "m3")


@dataclass(frozen=True)
class StoredSeries:
    """Series read from the store onto one grid.

    Attributes
    ----------
    values : DataFrame
        time (UTC) × series id [``unit`` per ``step``]; NaN where missing.
    kind : str
    unit : str
        e.g. ``kWh per 1h`` (energy per step) or ``MW`` (mean over the step).
    step : Timedelta
    """

    values: pd.DataFrame
    kind: str
    unit: str
    step: pd.Timedelta


def _ids_in(store, kind: str, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for part in store.iter_columns(kind, ["series_id"], list(ids)):
        found.update(part["series_id"].astype(str).unique())
    return found


def find_kind(store, ids: Sequence[str], kind: str | None = None) -> str:
    """The store kind holding every one of ``ids``.

    Raises
    ------
    ForecastDataError
        Naming the ids no kind holds, or when they are spread over several kinds.
    """
    kinds = [kind] if kind else [k for k in store.kinds() if k != WEATHER_KIND]
    if kind and kind not in store.kinds():
        raise ForecastDataError(f"--kind {kind!r}: the store holds no such readings (it holds "
                                f"{', '.join(store.kinds()) or 'nothing'})")
    where = {k: _ids_in(store, k, ids) for k in kinds}
    missing = [i for i in ids if not any(i in f for f in where.values())]
    if missing:
        raise ForecastDataError(
            f"series not in the store{' as ' + kind if kind else ''}: {', '.join(missing[:10])}"
            f"{' …' if len(missing) > 10 else ''}; check the ids (they are case-sensitive) "
            "and that their files were ingested")
    holding = [k for k, f in where.items() if f & set(ids)]
    if len(holding) > 1:
        raise ForecastDataError(f"the series are in several kinds ({', '.join(holding)}); "
                                "give --kind")
    return holding[0]


def stored_series(store, ids: Sequence[str], kind: str | None = None, step="1h",
                  start=None, end=None) -> StoredSeries:
    """Read ``ids`` (and only them) from ``start`` to ``end`` onto a ``step`` grid.

    Readings in an energy or volume unit (:data:`ENERGY_UNITS`) are summed per step (a step
    with a missing interval is NaN); others (SCADA MW, kW demand) are averaged over it.

    Raises
    ------
    ForecastDataError
        For ids the store does not hold, a window with no reading of one of them, a step
        finer than the readings', or series of different units.
    """
    ids = [str(i) for i in dict.fromkeys(ids)]
    if not ids:
        raise ForecastDataError("no series given; name them with --series ID")
    step = pd.Timedelta(step)
    kind = find_kind(store, ids, kind)
    raw = read_wide(store, kind, ids, start, end)
    empty = [i for i in ids if i not in raw.columns or raw[i].isna().all()]
    if empty:
        raise ForecastDataError(
            f"no reading of {', '.join(empty[:10])} between {start or 'the start'} and "
            f"{end or 'the end'} in the store's {kind}; choose a period the store holds")
    raw = raw[ids]
    units = _units(store, kind, ids)
    if len(set(units.values())) > 1:
        raise ForecastDataError(f"series of different units {units}; forecast them apart")
    unit = next(iter(units.values())) or "?"
    native = models.infer_step(raw.index)
    if step < native or step % native != pd.Timedelta(0):
        raise ForecastDataError(f"step {step} cannot be made from {native} readings; use a "
                                f"multiple of {native}")
    lo = raw.index[0].floor(step)
    grid = pd.date_range(lo, raw.index[-1] + native, freq=step, inclusive="left", name="time")
    fine = raw.reindex(pd.date_range(grid[0], grid[-1] + step, freq=native, inclusive="left"))
    n = int(step / native)
    energy = unit in ENERGY_UNITS
    binned = fine.resample(step, origin=grid[0])
    values = (binned.sum(min_count=n) if energy else binned.mean()).reindex(grid)
    if not energy:  # a mean over an incomplete step is not a mean of the step
        counts = fine.resample(step, origin=grid[0]).count().reindex(grid)
        values = values.where(counts == n)
    label = f"{unit} per {_step_label(step)}" if energy else unit
    return StoredSeries(values, kind, label, step)


def _units(store, kind: str, ids) -> dict[str, str]:
    units = {}
    for part in store.iter_columns(kind, ["series_id", "unit"], list(ids)):
        first = part.drop_duplicates("series_id")
        units.update(zip(first["series_id"].astype(str), first["unit"].astype(str),
                         strict=True))
    return units


def _step_label(step: pd.Timedelta) -> str:
    minutes = int(step / pd.Timedelta("1min"))
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}min"


#: TMY3 weather set-ups a ``--weather`` may name besides the store's stations (and ``auto``).
TMY3_SETUPS = ("forecast", "measured", "none")


def choose_weather(store, weather: str, place: Place) -> tuple[str, str | None]:
    """``(setup, station)`` of a weather choice: ``("store", station)`` for a station the
    store holds, or a TMY3 set-up (``forecast``, ``measured``, ``none``) with None.

    ``auto`` is the store's only station; with none stored, the emulated TMY3 forecast for a
    place at the station pvlib ships, else ``none``: no place ever gets another's weather.

    Raises
    ------
    ForecastDataError
        A station the store does not hold, several stations under ``auto``, or a TMY3
        set-up for a place elsewhere (the message names the stations held).
    """
    if weather in TMY3_SETUPS:
        if weather != "none":
            try:
                features.require_tmy3_station(place)
            except ValueError as exc:
                raise ForecastDataError(f"weather {weather}: {exc}") from None
        return weather, None
    held = stations(store)
    if weather == "auto":
        if len(held) == 1:
            return "store", held[0]
        if len(held) > 1:
            raise ForecastDataError(f"the store holds weather of stations {', '.join(held)}; "
                                    "name one (--weather)")
        try:
            features.require_tmy3_station(place)
            return "forecast", None
        except ValueError:
            return "none", None
    if weather not in held:
        raise ForecastDataError(
            f"weather {weather!r}: not a station of the store (it holds "
            f"{', '.join(held) or 'no weather'}); or use {', '.join(TMY3_SETUPS)} or auto")
    return "store", weather


def weather_for(store, station: str | None, start, end, step, forecast_station=None,
                place: Place | None = None):
    """:class:`forecasts.weather.WeatherInputs` of a station, or None when none is named.

    ``station`` may also be a TMY3 set-up (``forecast``, ``measured``: the emulated weather of
    the station pvlib ships, :func:`forecasts.features.tmy3_weather`), only for a ``place``
    at that station; ``none`` gives None.

    Raises
    ------
    ForecastDataError
        When the station's weather is not in the store (naming the stations it holds).
    """
    if not station or station == "none":
        return None
    if station in features.WEATHER_SETUPS:
        try:
            frame = features.tmy3_weather(pd.date_range(start, end, freq=step), place, station)
        except ValueError as exc:
            raise ForecastDataError(str(exc)) from None
        note = features.WEATHER_SETUPS[station].format(skill=features.NWP_GHI_SKILL)
        return WeatherInputs(frame, frame if station == "forecast" else None, [note],
                             "TMY3 " + features.tmy3_station()[2])
    try:
        return store_weather(store, station, start, end, step, forecast_station)
    except WeatherError as exc:
        raise ForecastDataError(str(exc)) from None


def weather_by_series(store, weather, ids: Sequence[str], start, end, step,
                      forecast_station=None, place: Place | None = None):
    """Weather of each series: ``weather`` names one station (or TMY3 set-up) for all, or
    maps series id → station (a series it does not name gets none).

    Returns
    -------
    exog
        None, one :class:`WeatherInputs`, or a dict of them by series id.
    str
        What the models were given, in words.
    """
    if isinstance(weather, dict):
        unknown = sorted(set(weather) - set(ids))
        if unknown:
            raise ForecastDataError(f"--weather names series that are not forecast: "
                                    f"{', '.join(unknown)}")
        by_station = {st: weather_for(store, st, start, end, step, forecast_station, place)
                      for st in sorted(set(weather.values()))}
        exog = {sid: by_station[st] for sid, st in weather.items()}
        note = "; ".join(f"{sid}: {w.describe()}" for sid, w in exog.items())
        without = [i for i in ids if i not in exog]
        if without:
            note += f"; no weather for {', '.join(without)}"
        return exog, note
    exog = weather_for(store, weather, start, end, step, forecast_station, place)
    return exog, (exog.describe() if exog is not None
                  else "none (models that need weather fall back)")


@dataclass(frozen=True)
class BacktestResult:
    """What :func:`backtest_stored` measured, and on what.

    Attributes
    ----------
    table : DataFrame
        Per (series, model): the accuracy table of :func:`forecasts.backtest.score`.
    forecasts, failures : DataFrame
        The long forecasts and the recorded failures (with the fallback used).
    series : StoredSeries
    place : Place
    weather : str
        What the models were given.
    test_days : tuple of Timestamp
        First and last local target day.
    """

    table: pd.DataFrame
    forecasts: pd.DataFrame
    failures: pd.DataFrame
    series: StoredSeries
    place: Place
    weather: str
    test_days: tuple


def backtest_stored(store, ids: Sequence[str], place: Place, models_: Sequence[str],
                    kind: str | None = None, weeks: int = 4, end=None,
                    weather: str | dict | None = None, weather_forecast: str | None = None,
                    horizon: str = "day-ahead", step="1h",
                    history_weeks: int = bt.HISTORY_WEEKS,
                    calibration_days: int = bt.CALIBRATION_DAYS) -> BacktestResult:
    """Rolling-origin backtest of stored series against the seasonal naive baselines.

    Reads the ids over the ``weeks`` test weeks ending the day before ``end`` (local date;
    default the end of the data), plus the history and calibration days before them, and
    the named station's weather over the same window (``weather``: one station for all, or
    a dict series id → station, see :func:`weather_by_series`).

    Raises
    ------
    ForecastDataError
        Unknown ids, no data in the window, weather not in the store, or too little history
        for the test weeks.
    """
    step = pd.Timedelta(step)
    span = pd.Timedelta(weeks=weeks + history_weeks) + pd.Timedelta(days=calibration_days + 2)
    stop = _local_midnight(end, place) if end is not None else None
    begin = (stop - span) if stop is not None else None
    series = stored_series(store, ids, kind, step, begin, stop)
    values = series.values
    if begin is None:  # no end given: the last weeks of what the store holds
        values = values[values.index >= values.index[-1] - span]
    first, last = values.index[0], values.index[-1] + step
    exog, note = weather_by_series(store, weather, series.values.columns, first, last, step,
                                   weather_forecast, place)
    table, failures, scales = bt.backtest_forecasts(
        values, list(dict.fromkeys([*bt.BASELINES, *models_])), horizon, weeks,
        models.DEFAULT_QUANTILES, exog, history_weeks, place, calibration_days)
    if table.empty and len(failures):
        raise ForecastDataError(f"nothing could be backtested: {failures['error'].iloc[0]}")
    result = bt.score(table, failures, scales, models.DEFAULT_QUANTILES)
    days = table["time"].dt.tz_convert(place.timezone) if len(table) else pd.Series([], dtype=object)
    test_days = (days.min().normalize(), days.max().normalize()) if len(days) else (None, None)
    return BacktestResult(result, table, failures, series, place, note, test_days)


def _local_midnight(day, place: Place) -> pd.Timestamp:
    ts = pd.Timestamp(day)
    ts = ts.tz_convert(place.timezone) if ts.tzinfo else ts.tz_localize(place.timezone)
    return ts.normalize().tz_convert("UTC")


def forecast_stored(store, ids: Sequence[str], place: Place, model: str = models.DEFAULT_MODEL,
                    kind: str | None = None, target_day=None, horizon: str = "day-ahead",
                    weather: str | dict | None = None, weather_forecast: str | None = None,
                    step="1h", history_weeks: int = bt.HISTORY_WEEKS,
                    calibration_days: int = bt.CALIBRATION_DAYS, batch_size: int = 50,
                    scheduler=None, n_workers=None,
                    progress: Callable[[int, int], None] | None = None):
    """Forecast stored series from their own history; the runner's dataset and the plan.

    The day-ahead target day defaults to the day after the data (issued at
    :data:`forecasts.models.DAY_AHEAD_ISSUE_HOUR` the day before). Only the history window
    (``history_weeks`` plus the calibration days) is read.

    Returns
    -------
    Dataset, HorizonPlan, StoredSeries
    """
    step = pd.Timedelta(step)
    span = pd.Timedelta(weeks=history_weeks) + pd.Timedelta(days=calibration_days + 3)
    until = _local_midnight(target_day, place) if target_day is not None else None
    series = stored_series(store, ids, kind, step,
                           until - span if until is not None else None, until)
    values = series.values
    if until is None:
        values = values[values.index >= values.index[-1] - span]
    last = values.dropna(how="all").index.max()
    if target_day is None:
        local = (last + step).tz_convert(place.timezone)
        day = local.normalize().tz_localize(None)
        target_day = day + pd.Timedelta("1D") if local.hour >= models.DAY_AHEAD_ISSUE_HOUR \
            else day
    if horizon == "day-ahead":
        plan = models.horizon_plan("day-ahead", step, place.timezone, target_day=target_day)
    else:
        plan = models.horizon_plan("intraday", step, place.timezone, origin=last + step)
    history = values[values.index < plan.origin]
    if history.dropna(how="all").empty:
        raise ForecastDataError(f"no reading of {', '.join(ids)} before the issue time "
                                f"{plan.origin.tz_convert(place.timezone):%Y-%m-%d %H:%M %Z}")
    exog, note = weather_by_series(store, weather, history.columns, history.index[0],
                                   plan.origin + (plan.horizon + 1) * step, step,
                                   weather_forecast, place)
    ds = runner.run_forecasts(history, [plan.origin], plan.horizon, model, unit=series.unit,
                              batch_size=batch_size, scheduler=scheduler, n_workers=n_workers,
                              progress=progress, exog=exog, place=place,
                              calibration_days=calibration_days)
    ds.attrs["weather"] = note
    ds.attrs["kind"] = series.kind
    return ds, plan, series


def default_model_note(model: str, has_weather: bool = True, kind: str = "load") -> str:
    """Line saying which model was used and whether it was the default (and why); ``kind``
    is ``"load"`` or ``"pv"`` (see :func:`forecasts.models.default_model`)."""
    default = models.default_model(has_weather, kind)
    other = models.default_model(not has_weather, kind)
    if model != default:
        return f"model {model} (asked; the default here is {default})"
    if kind == "pv":
        basis = ("lowest MASE on real PV, SERF East with its PSM3 weather, in "
                 "benchmarks/bench_forecast_accuracy.py")
    elif has_weather:
        basis = ("lowest MASE on the sample city's feeders and city in "
                 "benchmarks/bench_forecast_accuracy.py")
    else:
        basis = ("lowest MASE on real demand without weather, Taylor's England & Wales, in "
                 "benchmarks/bench_forecast_accuracy.py")
    return (f"model {model} (the default {'with' if has_weather else 'without'} weather: "
            f"{basis}; {'without' if has_weather else 'with'} weather the default is {other})")
