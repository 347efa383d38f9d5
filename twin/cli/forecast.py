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
from twin.cli.common import console, fail, load_city_or_fail, progress_bar

app = typer.Typer(help="Load and solar forecasts: run, backtest, look ahead.\n\nExample: twin "
                  "forecast run --level feeder --horizon day-ahead", no_args_is_help=True, rich_markup_mode=None)

StoreOpt = Annotated[Path | None, typer.Option(
    help="Measurement store root; default <data directory>/store.")]
SchedulerOpt = Annotated[str | None, typer.Option(
    help="Dask scheduler address (tcp://…); default a local cluster or $TWIN_DASK_SCHEDULER.")]
WeatherOpt = Annotated[str, typer.Option(
    help="Weather for the electric hierarchy's models: forecast (day-ahead irradiance forecast, "
         "emulated for the sample city, and temperature), measured (ex-post), or none.")]


def _store(store: Path | None):
    from twin.ingest.store import MeasurementStore

    root = store or config.data_dir() / "store"
    if not Path(root).exists() and "://" not in str(root):
        fail(f"{root}: no measurement store here; run `twin ingest <raw folders>` first")
    return MeasurementStore(str(root))


def _hierarchy(level: str, hierarchy: str | None) -> str:
    """The hierarchy a level is forecast in (checked)."""
    from forecasts import data

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


def _check_weather(setup: str) -> None:
    """Refuse an unknown ``--weather``."""
    from forecasts import features

    if setup not in features.WEATHER_SETUPS:
        fail(f"--weather {setup!r}: use one of {', '.join(features.WEATHER_SETUPS)}")


def _weather(hs, setup: str, first, last) -> pd.DataFrame | None:
    """Weather by time from ``first`` to ``last`` for the electric hierarchy's models (none
    for the others)."""
    from forecasts import features

    if hs.name != "electric":
        return None
    return features.city_weather(pd.date_range(first, last, freq=hs.step), setup)


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


@app.command("run")
def run(
    level: Annotated[str, typer.Option(help="meter, load, feeder, city, sgen, inverter, dma.")] = (
        "feeder"),
    horizon: Annotated[str, typer.Option(help="day-ahead or intraday.")] = "day-ahead",
    target_day: Annotated[str | None, typer.Option(
        help="Local day forecast day-ahead (YYYY-MM-DD); default the day after the data.")] = None,
    model: Annotated[str, typer.Option(help="Model (see forecasts.models.MODELS).")] = "mstl_ets",
    hierarchy: Annotated[str | None, typer.Option(
        help="electric, pv or water; default the one the level belongs to.")] = None,
    reconcile: Annotated[str, typer.Option(
        help="none, bottom_up, ols, wls_struct, wls_var or mint_shrink (forecasts every node "
             "of the hierarchy).")] = "none",
    step: Annotated[str, typer.Option(help="1h or 15min.")] = "1h",
    weather: WeatherOpt = "forecast",
    batch_size: Annotated[int, typer.Option(help="Series per Dask task.")] = 50,
    workers: Annotated[int | None, typer.Option(help="Local workers; default one per core.")] = (
        None),
    scheduler: SchedulerOpt = None,
    store: StoreOpt = None,
) -> None:
    """Forecast every series of a level, on Dask, and save the result next to the store.

    Example: twin forecast run --level feeder --horizon day-ahead
    """
    from forecasts import hierarchy as hier
    from forecasts import models, runner
    from forecasts.backtest import HISTORY_WEEKS

    _check_weather(weather)
    if horizon not in ("day-ahead", "intraday"):
        fail(f"--horizon {horizon!r}: use day-ahead or intraday")
    if model not in models.MODELS:
        fail(f"--model {model!r}: choose one of {', '.join(sorted(models.MODELS))}")
    if reconcile != "none" and reconcile not in hier.METHODS:
        fail(f"--reconcile {reconcile!r}: use none or one of {', '.join(hier.METHODS)}")
    city = load_city_or_fail()
    st = _store(store)
    try:
        until = (pd.Timestamp(target_day, tz=city.timezone).tz_convert("UTC")
                 if target_day else None)
    except ValueError:
        fail(f"--target-day {target_day!r}: not a day; give it as YYYY-MM-DD")
    start = _history_start(st, _hierarchy(level, hierarchy), HISTORY_WEEKS, until)
    with console.status("reading the series…"):
        hs = _series(level, hierarchy, st, city, step, start,
                     until + pd.Timedelta("1D") if until is not None else None)
    plan = _plan(horizon, target_day, hs, city.timezone)
    history = hs.all_levels() if reconcile != "none" else hs.level(level)
    history = history[history.index < plan.origin]
    exog = _weather(hs, weather, history.index[0], plan.origin + plan.horizon * hs.step)
    start = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task(f"{model}: {history.shape[1]} series", total=history.shape[1])
        try:
            ds = runner.run_forecasts(history, [plan.origin], plan.horizon, model,
                                      unit=hs.units_label, batch_size=batch_size,
                                      scheduler=scheduler, n_workers=workers,
                                      progress=lambda d, t: bar.update(task, completed=d),
                                      exog=exog)
        except (runner.ForecastRunError, models.ForecastError) as exc:
            fail(str(exc), code=1)
    if reconcile != "none":
        try:
            ds = hier.reconcile(ds, hs.hierarchy.summing_matrix(), reconcile, history=history)
        except hier.ReconciliationError as exc:
            fail(str(exc), code=1)
        nodes = hs.hierarchy.nodes()
        ds = ds.sel(series=list(nodes.index[nodes == level]))
    name = f"{hs.name}-{level}-{horizon}-{plan.start.tz_convert(city.timezone):%Y-%m-%d}"
    url = runner.save_forecasts(ds, st.url, name)
    _print_run(ds, plan, city.timezone, hs, time.perf_counter() - start)
    console.print(f"saved: {url}")


def _print_run(ds, plan, timezone: str, hs, seconds: float) -> None:
    first = ds.isel(issue_time=0)
    window = first.valid_time >= plan.start.tz_convert("UTC").tz_localize(None).to_datetime64()
    sel = first[["mean", "forecast"]].isel(horizon=np.flatnonzero(window.values))
    issued = plan.origin.tz_convert(timezone)
    begin, end = plan.start.tz_convert(timezone), plan.end.tz_convert(timezone)
    table = Table(title=f"{len(ds.series)} forecasts issued {issued:%Y-%m-%d %H:%M %Z} for "
                        f"{begin:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} ({seconds:.0f} s)")
    unit = hs.unit
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


@app.command("backtest")
def backtest(
    level: Annotated[str, typer.Option(help="Level to backtest (feeder, city, dma, sgen…).")] = (
        "feeder"),
    models_: Annotated[list[str], typer.Option("--model", help="Models (repeat).")] = [  # noqa: B006
        "mstl_ets"],
    horizon: Annotated[str, typer.Option(help="day-ahead or intraday.")] = "day-ahead",
    weeks: Annotated[int, typer.Option(help="Test weeks at the end of the data.")] = 1,
    hierarchy: Annotated[str | None, typer.Option(help="electric, pv or water.")] = None,
    weather: WeatherOpt = "forecast",
    store: StoreOpt = None,
) -> None:
    """Rolling-origin backtest of models against the seasonal naive baselines at one level.

    Example: twin forecast backtest --level feeder --model mstl_ets --weeks 1
    """
    try:
        from forecasts.backtest import backtest as run_backtest
    except ImportError:
        fail("forecasts.backtest is not available in this installation")
    from forecasts.backtest import HISTORY_WEEKS

    _check_weather(weather)
    city = load_city_or_fail()
    st = _store(store)
    start = _history_start(st, _hierarchy(level, hierarchy), HISTORY_WEEKS + weeks)
    with console.status("reading the series…"):
        hs = _series(level, hierarchy, st, city, "1h", start)
        values = hs.level(level)
    span = values.index[-1] + hs.step - values.index[0]
    span_weeks = int(round(span / pd.Timedelta("7D")))
    history_weeks = span_weeks - weeks
    if history_weeks < 2:
        fail(f"the store holds {span_weeks} whole week(s) of data: too little for {weeks} test "
             "week(s) after at least 2 weeks of history; use fewer --weeks or more data")
    with console.status(f"backtesting {len(values.columns)} series over {weeks} week(s)…"):
        try:
            exog = _weather(hs, weather, values.index[0], values.index[-1] + pd.Timedelta("2D"))
            table = run_backtest(values, models_, horizon, weeks, timezone=city.timezone,
                                 levels=dict.fromkeys(values.columns, level),
                                 history_weeks=history_weeks, exog=exog)
        except ValueError as exc:
            fail(str(exc))
        except KeyError as exc:  # forecasts.backtest scoring a run without any forecast
            fail(f"the backtest scored no forecast ({exc}); give more history (--weeks fewer)",
                 code=1)
    out = Table(title=f"backtest at {level} level, {horizon}, {weeks} week(s)")
    table = table.reset_index() if table.index.names[0] is not None else table
    for col in table.columns:
        out.add_column(str(col))
    for row in table.itertuples(index=False):
        out.add_row(*[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row])
    console.print(out)


@app.command("lookahead")
def lookahead(
    issue_time: Annotated[str | None, typer.Option(
        help="UTC issue time (YYYY-MM-DD HH:00); default the hour after the data.")] = None,
    hours: Annotated[int, typer.Option(help="Hours to look ahead.")] = 48,
    fast: Annotated[bool, typer.Option(help="Seasonal naive / smart persistence models.")] = False,
    min_pressure_m: Annotated[float, typer.Option(help="Minimum service pressure [m].")] = 20.0,
    scheduler: SchedulerOpt = None,
    store: StoreOpt = None,
) -> None:
    """Forecast every load, PV unit and DMA, run both networks: violations of the next hours.

    Example: twin forecast lookahead --hours 48
    """
    from forecasts.data import ForecastDataError
    from forecasts.lookahead import LookaheadError
    from forecasts.runner import ForecastRunError
    from twin.scenario import lookahead as run_lookahead

    city = load_city_or_fail()
    st = _store(store)
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
                               scheduler=scheduler, progress=progress)
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
    if len(v):
        console.print(v.groupby(["kind", "element_type"]).size().rename("events").to_string())
        console.print(v.head(15).to_string(index=False))
    if len(la.low_pressure):
        worst = la.low_pressure.sort_values("value").head(10)
        console.print(worst[["time", "element", "value", "limit", "unit"]].to_string(index=False))
