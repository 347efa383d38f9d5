"""``twin forecast …``: load and solar forecasts: run, backtest, look ahead."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import numpy as np
import pandas as pd
import typer
from rich.table import Table

from twin import config
from twin.cli.common import (
    CityDir,
    console,
    fail,
    load_city_or_fail,
    progress_bar,
    reachable_scheduler,
    store_root,
    writable_file,
)

app = typer.Typer(help="Load and solar forecasts: run, backtest, look ahead.\n\nExample: twin "
                  "forecast backtest --series MY_FEEDER --city my_city --weeks 4",
                  no_args_is_help=True, rich_markup_mode=None)

StoreOpt = Annotated[Path | None, typer.Option(
    help="Measurement store root; default <data directory>/store.")]
SchedulerOpt = Annotated[str | None, typer.Option(
    help="Dask scheduler address (tcp://…); default a local cluster or $TWIN_DASK_SCHEDULER.")]
WeatherOpt = Annotated[str, typer.Option(
    help="Weather the models get: a station in the store (WX.<station>.temp_air/ghi, "
         "measured), or per series ID=STATION,ID2=STATION2 (with --series), auto (the store's only station; else, for a city at the TMY3 station "
         "pvlib ships, its emulated forecast), forecast / measured (that TMY3 emulation, only "
         "for a city there), or none.")]
WeatherForecastOpt = Annotated[str | None, typer.Option(
    help="Station in the store whose series are forecasts issued before each target day; "
         "used over the horizon (default: the measured weather stands in, ex post).")]
SeriesOpt = Annotated[list[str] | None, typer.Option(
    "--series", help="Stored series id to forecast (repeat); default the --level of the "
                     "city's hierarchy.")]
KindOpt = Annotated[str | None, typer.Option(
    help="Store kind of --series (electric_interval, scada, pv, water_read…); default the "
         "kind that holds them.")]
CountryOpt = Annotated[str | None, typer.Option(
    help="Holiday calendar country (holidays package code: US, GB, DE…); default the "
         "country of the city's time zone.")]
SubdivOpt = Annotated[str | None, typer.Option(
    help="Holiday calendar subdivision (state, region: e.g. CA, ENG).")]
CalibrationOpt = Annotated[int, typer.Option(
    min=0, help="Earlier daily issues whose errors calibrate the 80 % intervals (0: none).")]


def _store(store: Path | None, city=None, write: bool = False):
    """The measurement store: ``--store``, else the city's own ``<data dir>/store`` (checked:
    a folder that exists, and with ``write`` one files can be written in)."""
    from twin.ingest.store import MeasurementStore

    default = (city.data_dir if city is not None else config.data_dir()) / "store"
    return MeasurementStore(store_root(store, default, write=write))


def _place(city, country: str | None, subdiv: str | None):
    """The city's place (zone, location, holidays), or a one-line error."""
    from forecasts.place import PlaceError, place_of_city

    try:
        return place_of_city(city, country, subdiv)
    except PlaceError as exc:
        fail(str(exc))


def _hierarchy(level: str, hierarchy: str | None) -> str:
    """The hierarchy a level is forecast in (checked)."""
    from forecasts import data

    if hierarchy is not None and hierarchy not in data.LEVELS:
        fail(f"--hierarchy {hierarchy!r}: use one of {', '.join(data.LEVELS)}")
    try:
        name = hierarchy or data.hierarchy_of_level(level)
    except data.ForecastDataError as exc:
        fail(str(exc))
    if level not in data.LEVELS.get(name, ()):
        fail(f"level {level!r} is not in the {name} hierarchy "
             f"({', '.join(data.LEVELS.get(name, ()))})")
    return name


def _history_start(store, name: str, weeks: float, until=None) -> pd.Timestamp | None:
    """UTC start of the readings to read: ``weeks`` (plus two days) before ``until`` or the
    store's last reading of the hierarchy's kind, so a year of meter data is never loaded
    whole; None (everything) when the store has none."""
    from forecasts import data

    last = store.last_time(data.STORE_KIND[name]) if until is None else until
    return None if last is None else last - pd.Timedelta(weeks=weeks) - pd.Timedelta("2D")


def _forecast_inputs(city, country, subdiv, store, weather, write: bool = False):
    """The city, its place (zone, location, holidays), its store and the weather to use: what
    ``run`` and ``backtest`` both resolve from their options, or a one-line error."""
    the_city = load_city_or_fail(city)
    place = _place(the_city, country, subdiv)
    st = _store(store, the_city, write)
    setup, station = _resolve_weather(st, weather, place)
    return the_city, place, st, setup, station


def _resolve_weather(store, weather: str, place) -> tuple[str, str | dict | None]:
    """``(setup, station)``: a TMY3 set-up or ``"store"`` with its station, or with a dict
    series id → station for ``ID=STATION,…`` (one-line errors)."""
    from forecasts.data import ForecastDataError
    from forecasts.stored import choose_weather
    from forecasts.weather import stations

    if "=" in weather:
        pairs = [p.split("=", 1) for p in weather.split(",") if p.strip()]
        held = stations(store)
        bad = sorted({st for _, st in pairs if st not in held})
        if bad or any(not sid for sid, _ in pairs):
            fail(f"--weather {weather!r}: {', '.join(bad) or 'an empty series id'} not a "
                 f"station of the store (it holds {', '.join(held) or 'no weather'})")
        return "store", {sid.strip(): st.strip() for sid, st in pairs}
    try:
        return choose_weather(store, weather, place)
    except ForecastDataError as exc:
        fail(f"--{exc}" if str(exc).startswith("weather ") else str(exc))


def _has_weather(setup: str, level: str, hierarchy: str | None, series) -> bool:
    """Whether the models will be given weather: a set-up other than ``none``, and for a
    level, one of the electric hierarchy (the others get none, see :func:`_weather`)."""
    if setup == "none":
        return False
    return bool(series) or _hierarchy(level, hierarchy) == "electric"


def _series_kind(kind: str | None, level: str, hierarchy: str | None, series) -> str:
    """``"pv"`` for PV generation (``--kind pv`` of stored series, or a level of the PV
    hierarchy), else ``"load"``: which default model applies."""
    from forecasts import data

    if series:
        return "pv" if kind == data.STORE_KIND["pv"] else "load"
    return "pv" if _hierarchy(level, hierarchy) == "pv" else "load"


def _weather(hs, setup: str, station, first, last, place, store):
    """Weather for the electric hierarchy's models from ``first`` to ``last`` (none for the
    others), and a line saying what it is."""
    from forecasts import features
    from forecasts.stored import weather_for

    if hs.name != "electric" or setup == "none":
        return None, "none"
    if isinstance(station, dict):
        fail("--weather ID=STATION maps stored series (--series); a level gets one station")
    if setup == "store":
        try:
            w = weather_for(store, station, first, last, hs.step)
        except ValueError as exc:
            fail(str(exc))
        return w, w.describe()
    index = pd.date_range(first, last, freq=hs.step)
    return (features.tmy3_weather(index, place, setup),
            features.WEATHER_SETUPS[setup].format(skill=features.NWP_GHI_SKILL))


def _store_kind(level: str, hierarchy: str | None) -> str:
    """The store kind that holds a level's readings."""
    from forecasts import data

    return data.STORE_KIND[_hierarchy(level, hierarchy)]


def _series(level: str, hierarchy: str | None, store, city, step: str, start=None, end=None):
    from forecasts import data
    from twin.scenario import profiles_of

    name = _hierarchy(level, hierarchy)
    try:
        profiles = profiles_of(city) if name != "water" else None
        return data.hierarchical_series(name, store, city, profiles, step, start=start,
                                        end=end)
    except data.ForecastDataError as exc:
        fail(str(exc))


def _plan(horizon: str, target_day: str | None, hs, timezone: str):
    from forecasts import models

    last = hs.bottom.dropna(how="all").index.max()
    try:
        if horizon == "day-ahead":
            if target_day is None:
                local = (last + hs.step).tz_convert(timezone)
                day = local.normalize().tz_localize(None)
                target_day = day + pd.Timedelta("1D") if local.hour >= \
                    models.DAY_AHEAD_ISSUE_HOUR else day
            return models.horizon_plan("day-ahead", hs.step, timezone, target_day=target_day)
        return models.horizon_plan("intraday", hs.step, timezone, origin=last + hs.step)
    except models.ForecastError as exc:
        fail(str(exc))


def _check_step(step: str) -> None:
    try:
        ok = pd.Timedelta(step) > pd.Timedelta(0)
    except ValueError:
        ok = False
    if not ok:
        fail(f"--step {step!r}: not a time step; use e.g. 1h, 30min or 15min")


def _check_weeks(store, kind: str | None, weeks: int, end: str | None, timezone: str) -> None:
    """Refuse, before any series is read, more test weeks than the store holds before
    ``end`` with two weeks of history ahead of them: in ``kind``, or (``None``) in the kind
    it holds longest."""
    spans = []
    for k in [kind] if kind else store.kinds():
        try:
            first, last = store.first_time(k), store.last_time(k)
        except ValueError:  # an unknown kind: the library names it later
            return
        if first is not None:
            if end is not None:
                last = min(last, pd.Timestamp(end, tz=timezone).tz_convert("UTC"))
            if last > first:  # else nothing before --end: the library names the series
                spans.append((last - first, k, first, last))
    if not spans:
        return
    span, k, first, last = max(spans)
    held = int(span / pd.Timedelta("7D"))
    if weeks + 2 > held:
        fail(f"--weeks {weeks}: the store holds {held} whole week(s) of {k} readings "
             f"({first:%Y-%m-%d} to {last:%Y-%m-%d}); a backtest needs the test weeks after "
             "at least 2 weeks of history: give fewer --weeks")


def _check_day(day: str | None, option: str) -> None:
    if day is None:
        return
    try:
        pd.Timestamp(day)
    except ValueError:
        fail(f"{option} {day!r}: not a day; give it as YYYY-MM-DD")


@app.command("run")
def run(
    series: SeriesOpt = None,
    kind: KindOpt = None,
    level: Annotated[str, typer.Option(help="meter, load, feeder, city, sgen, inverter, dma.")] = (
        "feeder"),
    horizon: Annotated[str, typer.Option(help="day-ahead or intraday.")] = "day-ahead",
    target_day: Annotated[str | None, typer.Option(
        help="Local day forecast day-ahead (YYYY-MM-DD); default the day after the data.")] = None,
    model: Annotated[str | None, typer.Option(
        help="Model (see forecasts.models.MODELS); default the benchmark's best.")] = None,
    hierarchy: Annotated[str | None, typer.Option(
        help="electric, pv or water; default the one the level belongs to.")] = None,
    reconcile: Annotated[str, typer.Option(
        help="none, bottom_up, ols, wls_struct, wls_var or mint_shrink (forecasts every node "
             "of the hierarchy).")] = "none",
    step: Annotated[str, typer.Option(help="1h or 15min.")] = "1h",
    weather: WeatherOpt = "auto",
    weather_forecast: WeatherForecastOpt = None,
    country: CountryOpt = None,
    subdiv: SubdivOpt = None,
    calibration_days: CalibrationOpt = 14,
    batch_size: Annotated[int, typer.Option(min=1, help="Series per Dask task.")] = 50,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Local workers; default one per core.")] = None,
    scheduler: SchedulerOpt = None,
    store: StoreOpt = None,
    city: CityDir = None,
) -> None:
    """Forecast stored series (--series) or every series of a level, on Dask, and save the
    result next to the store.

    Example: twin forecast run --series FEEDER_7_MW --city my_city --country GB

    Example: twin forecast run --level feeder --horizon day-ahead
    """
    from forecasts import hierarchy as hier
    from forecasts import models, runner
    from forecasts.backtest import HISTORY_WEEKS
    from forecasts.data import ForecastDataError
    from forecasts.stored import default_model_note, forecast_stored

    if horizon not in ("day-ahead", "intraday"):
        fail(f"--horizon {horizon!r}: use day-ahead or intraday")
    if model is not None and model not in models.MODELS:
        fail(f"--model {model!r}: choose one of {', '.join(sorted(models.MODELS))}")
    if reconcile != "none" and reconcile not in hier.METHODS:
        fail(f"--reconcile {reconcile!r}: use none or one of {', '.join(hier.METHODS)}")
    _check_day(target_day, "--target-day")
    _check_step(step)
    if not series:
        _hierarchy(level, hierarchy)
    reachable_scheduler(scheduler)
    the_city, place, st, setup, station = _forecast_inputs(city, country, subdiv, store, weather,
                                                           write=True)
    has_weather = _has_weather(setup, level, hierarchy, series)
    series_kind = _series_kind(kind, level, hierarchy, series)
    model = model or models.default_model(has_weather, series_kind)
    if series:
        started = time.perf_counter()
        with progress_bar() as bar:
            task = bar.add_task(f"{model}: {len(series)} series", total=len(series))
            try:
                ds, plan, stored = forecast_stored(
                    st, series, place, model, kind, target_day, horizon,
                    station if setup == "store" else setup, weather_forecast, step,
                    calibration_days=calibration_days,
                    batch_size=batch_size, scheduler=scheduler, n_workers=workers,
                    progress=lambda d, t: bar.update(task, completed=d))
            except (ForecastDataError, models.ForecastError) as exc:
                fail(str(exc))
            except runner.ForecastRunError as exc:
                fail(str(exc), code=1)
        name = f"{stored.kind}-series-{horizon}-{plan.start.tz_convert(place.timezone):%Y-%m-%d}"
        url = runner.save_forecasts(ds, st.url, name)
        _print_run(ds, plan, place.timezone, stored.unit, time.perf_counter() - started)
        console.print(default_model_note(model, has_weather, series_kind))
        console.print(f"place: {place.describe()}; weather: {ds.attrs['weather']}")
        console.print(f"intervals: {ds.attrs['interval_calibration']}")
        console.print(f"saved: {url}")
        return
    until = (pd.Timestamp(target_day, tz=place.timezone).tz_convert("UTC")
             if target_day else None)
    start = _history_start(st, _hierarchy(level, hierarchy),
                           HISTORY_WEEKS + (calibration_days + 3) / 7, until)
    with console.status("reading the series…"):
        hs = _series(level, hierarchy, st, the_city, step, start,
                     until + pd.Timedelta("1D") if until is not None else None)
    plan = _plan(horizon, target_day, hs, place.timezone)
    history = hs.all_levels() if reconcile != "none" else hs.level(level)
    history = history[history.index < plan.origin]
    exog, weather_note = _weather(hs, setup, station, history.index[0],
                                  plan.origin + (plan.horizon + 1) * hs.step, place, st)
    started = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task(f"{model}: {history.shape[1]} series", total=history.shape[1])
        try:
            ds = runner.run_forecasts(history, [plan.origin], plan.horizon, model,
                                      unit=hs.units_label, batch_size=batch_size,
                                      scheduler=scheduler, n_workers=workers,
                                      progress=lambda d, t: bar.update(task, completed=d),
                                      exog=exog, place=place,
                                      calibration_days=calibration_days)
        except (runner.ForecastRunError, models.ForecastError) as exc:
            fail(str(exc), code=1)
    if reconcile != "none":
        try:
            ds = hier.reconcile(ds, hs.hierarchy.summing_matrix(), reconcile, history=history)
        except hier.ReconciliationError as exc:
            fail(str(exc), code=1)
        nodes = hs.hierarchy.nodes()
        ds = ds.sel(series=list(nodes.index[nodes == level]))
    ds.attrs["weather"] = weather_note
    name = f"{hs.name}-{level}-{horizon}-{plan.start.tz_convert(place.timezone):%Y-%m-%d}"
    url = runner.save_forecasts(ds, st.url, name)
    _print_run(ds, plan, place.timezone, hs.unit, time.perf_counter() - started)
    console.print(default_model_note(model, has_weather, series_kind))
    console.print(f"place: {place.describe()}; weather: {weather_note}")
    console.print(f"intervals: {ds.attrs.get('interval_calibration', 'none')}")
    if hs.unmapped:
        console.print(f"not in the city's registers (not forecast): {len(hs.unmapped)} series, "
                      f"e.g. {', '.join(hs.unmapped[:5])}; forecast them with --series")
    console.print(f"saved: {url}")


def _print_run(ds, plan, timezone: str, unit: str, seconds: float) -> None:
    first = ds.isel(issue_time=0)
    window = first.valid_time >= plan.start.tz_convert("UTC").tz_localize(None).to_datetime64()
    sel = first[["mean", "forecast"]].isel(horizon=np.flatnonzero(window.values))
    issued = plan.origin.tz_convert(timezone)
    begin, end = plan.start.tz_convert(timezone), plan.end.tz_convert(timezone)
    table = Table(title=f"{len(ds.series)} forecasts issued {issued:%Y-%m-%d %H:%M %Z} for "
                        f"{begin:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} ({seconds:.0f} s)")
    for col in ["series", f"total ({unit})", f"10–90 % of the peak step ({unit})", "model",
                "fallback"]:
        table.add_column(col, justify="left" if col in ("series", "model", "fallback") else "right")
    for s in sel.series.values[:25]:
        one = sel.sel(series=s)
        peak = int(np.nanargmax(one["mean"].values)) if one["mean"].notnull().any() else 0
        q = one["forecast"].isel(horizon=peak).values
        table.add_row(str(s), f"{float(one['mean'].sum()):,.1f}",
                      f"{q[0]:,.1f} – {q[-1]:,.1f}", str(first["model_used"].sel(series=s).values),
                      str(first["fallback_reason"].sel(series=s).values)[:60])
    console.print(table)
    if len(ds.series) > 25:
        console.print(f"… and {len(ds.series) - 25} more series in the saved file")
    from forecasts.runner import summary_table

    console.print(summary_table(ds).to_string(index=False))


def _print_backtest(table: pd.DataFrame, title: str) -> None:
    out = Table(title=title)
    table = table.reset_index() if table.index.names[0] is not None else table
    keep = [c for c in ("series", "level", "model", "mase", "mape_percent", "pinball_scaled",
                        "coverage", "nominal", "n_series", "n_origins", "failed", "fallbacks",
                        "seconds_per_fit", "first_error") if c in table.columns]
    table = table[keep]
    for col in table.columns:
        out.add_column(str(col))
    for row in table.itertuples(index=False):
        out.add_row(*[f"{v:.3f}" if isinstance(v, float) else
                      ("" if v is None else str(v))[:70] for v in row])
    console.print(out)


@app.command("backtest")
def backtest(
    series: SeriesOpt = None,
    kind: KindOpt = None,
    level: Annotated[str, typer.Option(help="Level to backtest (feeder, city, dma, sgen…).")] = (
        "feeder"),
    models_: Annotated[list[str] | None, typer.Option(
        "--model", help="Models (repeat); default the benchmark's best.")] = None,
    horizon: Annotated[str, typer.Option(help="day-ahead or intraday.")] = "day-ahead",
    weeks: Annotated[int, typer.Option(min=1, help="Test weeks at the end of the data.")] = 1,
    end: Annotated[str | None, typer.Option(
        help="The test weeks end the day before this local day (YYYY-MM-DD); default the "
             "end of the data.")] = None,
    hierarchy: Annotated[str | None, typer.Option(help="electric, pv or water.")] = None,
    weather: WeatherOpt = "auto",
    weather_forecast: WeatherForecastOpt = None,
    country: CountryOpt = None,
    subdiv: SubdivOpt = None,
    calibration_days: CalibrationOpt = 14,
    step: Annotated[str, typer.Option(help="Forecast step of --series: 1h, 30min, 15min.")] = (
        "1h"),
    save: Annotated[Path | None, typer.Option(
        help="Also write the accuracy table to this CSV file.")] = None,
    store: StoreOpt = None,
    city: CityDir = None,
) -> None:
    """Rolling-origin backtest of models against the seasonal naive baselines, on stored
    series (--series) or at one level of the city's hierarchy.

    Example: twin forecast backtest --series FEEDER_7_MW --weeks 4 --weather EGLL --country GB

    Example: twin forecast backtest --level feeder --weeks 1
    """
    from forecasts import models
    from forecasts.backtest import HISTORY_WEEKS
    from forecasts.backtest import backtest as run_backtest
    from forecasts.data import ForecastDataError
    from forecasts.stored import backtest_stored, default_model_note

    unknown = [m for m in models_ or [] if m not in models.MODELS]
    if unknown:
        fail(f"--model {', '.join(unknown)}: choose from {', '.join(sorted(models.MODELS))}")
    if horizon not in ("day-ahead", "intraday"):
        fail(f"--horizon {horizon!r}: use day-ahead or intraday")
    _check_day(end, "--end")
    _check_step(step)
    writable_file(save, "--save")
    if not series:
        _hierarchy(level, hierarchy)
    the_city, place, st, setup, station = _forecast_inputs(city, country, subdiv, store, weather)
    _check_weeks(st, kind if series else _store_kind(level, hierarchy), weeks, end,
                 place.timezone)
    has_weather = _has_weather(setup, level, hierarchy, series)
    series_kind = _series_kind(kind, level, hierarchy, series)
    models_ = models_ or [models.default_model(has_weather, series_kind)]
    if series:
        with console.status(f"backtesting {len(series)} series over {weeks} week(s)…"):
            try:
                result = backtest_stored(st, series, place, models_, kind, weeks, end,
                                         station if setup == "store" else setup,
                                         weather_forecast, horizon, step,
                                         calibration_days=calibration_days)
            except (ForecastDataError, models.ForecastError) as exc:
                fail(str(exc))
        first, last = result.test_days
        names = ", ".join(series[:5]) + (" …" if len(series) > 5 else "")
        _print_backtest(result.table, f"backtest of {names} ({result.series.kind}, "
                                      f"{result.series.unit}), {horizon}, target days "
                                      f"{first:%Y-%m-%d} – {last:%Y-%m-%d}")
        console.print(", ".join(default_model_note(m, has_weather, series_kind) for m in models_))
        console.print(f"place: {place.describe()}; weather: {result.weather}")
        _print_failures(result.failures)
        _save_table(result.table, save)
        return
    start = _history_start(st, _hierarchy(level, hierarchy),
                           HISTORY_WEEKS + weeks + calibration_days / 7,
                           pd.Timestamp(end, tz=place.timezone).tz_convert("UTC") if end
                           else None)
    with console.status("reading the series…"):
        hs = _series(level, hierarchy, st, the_city, "1h", start,
                     pd.Timestamp(end, tz=place.timezone).tz_convert("UTC") if end else None)
        values = hs.level(level)
    span = values.index[-1] + hs.step - values.index[0]
    span_weeks = int(span / pd.Timedelta("7D"))
    history_weeks = min(HISTORY_WEEKS, span_weeks - weeks)
    if history_weeks < 2:
        fail(f"the store holds {span_weeks} whole week(s) of data: too little for {weeks} test "
             "week(s) after at least 2 weeks of history; use fewer --weeks or more data")
    exog, weather_note = _weather(hs, setup, station, values.index[0],
                                  values.index[-1] + pd.Timedelta("2D"), place, st)
    with console.status(f"backtesting {len(values.columns)} series over {weeks} week(s)…"):
        try:
            table, _, failures = run_backtest(
                values, models_, horizon, weeks, levels=dict.fromkeys(values.columns, level),
                history_weeks=history_weeks, exog=exog, place=place, return_forecasts=True,
                calibration_days=calibration_days)
        except ValueError as exc:
            fail(str(exc))
    _print_backtest(table, f"backtest at {level} level, {horizon}, {weeks} week(s)")
    console.print(", ".join(default_model_note(m, has_weather, series_kind) for m in models_))
    console.print(f"place: {place.describe()}; weather: {weather_note}")
    _print_failures(failures)
    _save_table(table, save)
    if hs.unmapped:
        console.print(f"not in the city's registers (not in this table): {len(hs.unmapped)} "
                      f"series, e.g. {', '.join(hs.unmapped[:5])}; backtest them with --series")


def _save_table(table: pd.DataFrame, path: Path | None) -> None:
    if path is not None:
        table.to_csv(path)
        console.print(f"table written to {path}")


def _print_failures(failures: pd.DataFrame) -> None:
    """One line per (series, model, reason) of failed fits and the fallback scored."""
    if failures.empty:
        return
    grouped = failures.groupby(["series", "model", "error", "fallback"], dropna=False).size()
    for (name, model, error, fallback), n in list(grouped.items())[:20]:
        instead = f"scored with {fallback}" if fallback else "not scored"
        console.print(f"  {name} {model}: {n} fit(s) failed, {instead}: {str(error)[:160]}")


@app.command("lookahead")
def lookahead(
    issue_time: Annotated[str | None, typer.Option(
        help="UTC issue time (YYYY-MM-DD HH:00); default the hour after the data.")] = None,
    hours: Annotated[int, typer.Option(min=1, help="Hours to look ahead.")] = 48,
    fast: Annotated[bool, typer.Option(help="Seasonal naive / smart persistence models.")] = False,
    min_pressure_m: Annotated[float, typer.Option(help="Minimum service pressure [m].")] = 20.0,
    weather: WeatherOpt = "auto",
    weather_forecast: WeatherForecastOpt = None,
    scheduler: SchedulerOpt = None,
    store: StoreOpt = None,
    city: CityDir = None,
) -> None:
    """Forecast every load, PV unit and DMA, run both networks: violations of the next hours.

    Example: twin forecast lookahead --hours 48
    """
    from forecasts.data import ForecastDataError
    from forecasts.lookahead import LookaheadError
    from forecasts.runner import ForecastRunError
    from twin.scenario import lookahead as run_lookahead

    reachable_scheduler(scheduler)
    if issue_time is not None:
        try:
            pd.Timestamp(issue_time)
        except ValueError:
            fail(f"--issue-time {issue_time!r}: not a time; give it as 'YYYY-MM-DD HH:00' (UTC)")
    city = load_city_or_fail(city)
    st = _store(store, city)
    models = ({"electric": "seasonal_naive_daily", "pv": "pv_smart_persistence",
               "water": "seasonal_naive_daily"} if fast else None)
    start = time.perf_counter()
    with progress_bar() as bar:
        tasks: dict[str, int] = {}

        def progress(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(f"forecasting {what}", total=total)
            bar.update(tasks[what], completed=done)

        try:
            la = run_lookahead(city, st, issue_time, hours, models, min_pressure_m,
                               scheduler=scheduler, progress=progress, weather=weather,
                               weather_forecast=weather_forecast)
        except (ForecastDataError, LookaheadError, ForecastRunError, ValueError) as exc:
            fail(str(exc))
    tz = city.timezone
    times = la.forecasts.times
    table = Table(title=f"look-ahead {times[0].tz_convert(tz):%Y-%m-%d %H:%M} – "
                        f"{(times[-1] + pd.Timedelta('1h')).tz_convert(tz):%Y-%m-%d %H:%M %Z}"
                        f" ({time.perf_counter() - start:.0f} s)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    e, v = la.electric, la.violations
    rows = [
        ("hours solved (grid)", f"{int(e.converged.sum())} of {e.sizes['time']}"),
        ("peak load", f"{float(la.profiles['load_p_mw'].sum(axis=1).max()):.2f} MW"),
        ("peak PV", f"{float(la.profiles['sgen_p_mw'].sum(axis=1).max()):.2f} MW"),
        ("voltage min / max", f"{float(e.vm_pu.min()):.3f} / {float(e.vm_pu.max()):.3f} p.u."),
        ("violation events", str(len(v))),
        ("junction-hours below pressure", str(len(la.low_pressure))),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"load forecasts' weather: {la.forecasts.loads.attrs.get('weather', 'none')}")
    if len(v):
        console.print(v.groupby(["kind", "element_type"]).size().rename("events").to_string())
        console.print(v.head(15).to_string(index=False))
    if len(la.low_pressure):
        worst = la.low_pressure.sort_values("value").head(10)
        console.print(worst[["time", "element", "value", "limit", "unit"]].to_string(index=False))
