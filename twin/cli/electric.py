"""``twin electric …``: the electricity network: year-long QSTS, violations, losses, hosting capacity, N-1."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from twin import config
from twin.cli.common import (
    CityDir,
    console,
    fail,
    load_city_or_fail,
    progress_bar,
    store_root,
    writable_file,
)

app = typer.Typer(help="The electricity network: year-long QSTS, violations, losses, hosting capacity, N-1.\n\nExample: twin electric qsts", no_args_is_help=True, rich_markup_mode=None)


# ------------------------------------------------------------------ qsts, violations, losses
# (commands of issue 4, items 1-3: the year-long power flow, its violations and its losses)

_START = Annotated[str | None, typer.Option(
    help="First local day, e.g. 2016-07-04 (default: the whole year).")]
_DAYS = Annotated[int | None, typer.Option(min=1, help="Number of days from --start.")]
_RESULT = Annotated[Path | None, typer.Option(
    help="A saved QSTS result (NetCDF); default <data dir>/results/qsts.nc when no period is "
         "given and it exists, else a QSTS is run.")]


def default_result_path(city=None, period: tuple[str, str] | None = None) -> Path:
    """Where ``twin electric qsts`` saves its result: ``<city's data dir>/results/qsts.nc``
    for the whole year (what ``violations`` and ``losses`` read by default), and
    ``qsts_<first day>_<last day>.nc`` for a shorter ``period`` (local days), so a run of a
    few days never replaces the year's result."""
    name = "qsts.nc" if period is None else f"qsts_{period[0]}_{period[1]}.nc"
    return (city.data_dir if city is not None else config.data_dir()) / "results" / name


def _period(city, profiles, start: str | None, days: int | None):
    """The profile steps (UTC) of ``--start``/``--days``; the whole year by default."""
    import pandas as pd

    from twin.timeutil import TimeError, local_period, parse_local_time

    index = profiles["load_p_mw"].index
    if start is None and days is None:
        return index
    try:
        t0 = parse_local_time(start, city.timezone) if start else index[0]
    except TimeError as exc:
        fail(str(exc))
    t1 = (parse_local_time((t0.tz_convert(city.timezone).tz_localize(None)
                            + pd.Timedelta(days=days)).isoformat(), city.timezone)
          if days else index[-1] + pd.Timedelta("15min"))
    times = index[(index >= t0) & (index < t1)]
    if not len(times):
        first, last = (index[0].tz_convert(city.timezone), index[-1].tz_convert(city.timezone))
        fail(f"--start {start} --days {days} is outside the city's year ({first:%Y-%m-%d} to "
             f"{last:%Y-%m-%d})")
    if days and times[-1] + pd.Timedelta("15min") < t1:
        a, b = local_period(times, city.timezone)
        got = (times[-1] + pd.Timedelta("15min") - times[0]) / pd.Timedelta(days=1)
        console.print(f"! --days {days} clipped to {got:g} days ({a} to {b}): the city's "
                      "profiles end there")
    return times


def _check_start(city, start: str | None) -> None:
    """Refuse a ``--start`` that is not a local day before any profile is read."""
    from twin.timeutil import TimeError, parse_local_time

    if start is not None:
        try:
            parse_local_time(start, city.timezone)
        except TimeError as exc:
            fail(f"--start {exc}")


def _profiles(city):
    """The city's profiles (:func:`twin.scenario.profiles_of`); says where the loads come from
    when not from SimBench, and which loads have no read meter."""
    from twin.scenario import profiles_of

    try:
        profiles = profiles_of(city)
    except ValueError as exc:  # an unknown standard profile type, a store that cannot be read
        fail(f"{city.folder}: {exc}")
    r = city.recipe
    attrs = profiles["load_p_mw"].attrs
    if r.profiles == "store":
        without = attrs.get("loads_without_meter", [])
        console.print(f"loads from the measurement store: {attrs.get('meters_read', 0):,} "
                      f"meters read; {len(without):,} loads without a read meter keep the "
                      f"standard profile {r.standard_profile}"
                      + (f" (e.g. {', '.join(map(str, without[:5]))})" if without else "")
                      + f"; {attrs.get('load_steps_from_fallback', 0):,} load-steps filled")
    elif r.profiles == "standard":
        console.print(f"loads follow the standard profile {r.standard_profile} (the grid has "
                      "no profiles of its own; see profile_source in recipe.yaml)")
    return profiles


def _run_qsts(city, profiles, times):
    from twin.electric.powerflow import PowerFlowError
    from twin.electric.qsts import run_qsts

    with progress_bar() as bar:
        task = bar.add_task("QSTS power flows", total=len(times))
        try:
            return run_qsts(city.net, profiles, times=times,
                            progress=lambda done, total: bar.update(task, completed=done))
        except (PowerFlowError, NotImplementedError) as exc:
            fail(str(exc), code=1)
        except ValueError as exc:
            fail(str(exc))


def _result(city, result: Path | None, start: str | None, days: int | None):
    """Read a saved QSTS result or run one for the period."""
    import xarray as xr

    from twin.timeutil import local_period


    path = result
    if path is None and start is None and days is None and default_result_path(city).exists():
        path = default_result_path(city)
    if path is not None:
        if start is not None or days is not None:
            fail("give either --result or --start/--days, not both")
        if not path.exists():
            fail(f"{path}: no QSTS result here; run `twin electric qsts --out {path}` first")
        try:
            with xr.open_dataset(path) as ds:
                loaded = ds.load()
        except (OSError, ValueError) as exc:
            fail(f"{path}: not a readable NetCDF QSTS result ({exc})")
        missing = [v for v in ("vm_pu", "line_pl_mw", "trafo_pl_mw", "converged")
                   if v not in loaded]
        if missing:
            fail(f"{path}: lacks {missing}; it is not a result of `twin electric qsts`")
        loaded["converged"] = loaded.converged.astype(bool)
        a, b = local_period(loaded.time.values, city.timezone)
        console.print(f"read {path}: QSTS of {a} to {b} ({loaded.sizes['time']:,} steps)")
        return loaded
    profiles = _profiles(city)
    return _run_qsts(city, profiles, _period(city, profiles, start, days))


def _saved_period(path: Path, timezone: str) -> tuple[str, str] | None:
    """The local days of the QSTS result saved at ``path``; None when there is none."""
    import xarray as xr

    from twin.timeutil import local_period

    if not path.exists():
        return None
    try:
        with xr.open_dataset(path) as ds:
            return local_period(ds.time.values, timezone)
    except (OSError, ValueError, KeyError, AttributeError):
        return None


@app.command("qsts")
def qsts_command(
    start: _START = None,
    days: _DAYS = None,
    out: Annotated[Path | None, typer.Option(
        help="NetCDF file to save; default <data dir>/results/qsts.nc for the whole year, "
             "qsts_<first day>_<last day>.nc for a shorter period.")] = None,
    city: CityDir = None,
) -> None:
    """Run the year-long (or --start/--days) time-series AC power flow and save it.

    Example: twin electric qsts --start 2016-07-04 --days 7
    """
    import time

    import numpy as np

    from twin.electric.losses import total_losses_mwh
    from twin.electric.violations import step_hours
    from twin.timeutil import local_period

    city = load_city_or_fail(city, ("electric",), "twin electric qsts")
    _check_start(city, start)
    writable_file(out, "--out")  # a given path, before the profiles are read
    profiles = _profiles(city)
    times = _period(city, profiles, start, days)
    whole = len(times) == len(profiles["load_p_mw"].index)
    out = writable_file(
        out or default_result_path(city, None if whole else local_period(times, city.timezone)),
        "--out")
    held = _saved_period(out, city.timezone)
    t = time.perf_counter()
    ds = _run_qsts(city, profiles, times)
    seconds = time.perf_counter() - t
    if held and held != local_period(times, city.timezone):
        console.print(f"! {out} held the QSTS of {held[0]} to {held[1]}: replaced")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        ds.to_netcdf(out)
    except OSError as exc:
        fail(f"{out}: cannot write the result ({exc})")
    ok = ds.converged.values
    mv = ds.vm_pu.sel(bus=city.net.bus.index[city.net.bus.vn_kv <= 35.0].to_numpy())
    dt_h = step_hours(ds.time.values)
    grid_mwh = float(np.nansum(ds.p_mw.values)) * -dt_h  # all bus powers: −losses
    table = Table(title=f"QSTS {times[0].tz_convert(city.timezone):%Y-%m-%d %H:%M} – "
                        f"{(times[-1] + (times[1] - times[0] if len(times) > 1 else 0)).tz_convert(city.timezone):%Y-%m-%d %H:%M} "
                        f"({city.timezone}), solved in {seconds:.1f} s")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for row in [
        ("steps", f"{len(ok):,}"),
        ("converged", f"{int(ok.sum()):,} ({100.0 * ok.mean():.2f} %)"),
        ("voltage min / max (≤ 35 kV)",
         f"{float(mv.min()):.4f} / {float(mv.max()):.4f} p.u."),
        ("max line loading", f"{float(ds.line_loading_percent.max()):.1f} %"),
        ("max transformer loading", f"{float(ds.trafo_loading_percent.max()):.1f} %"),
        ("technical losses", f"{total_losses_mwh(ds):.2f} MWh"),
        ("losses from the bus balance", f"{grid_mwh:.2f} MWh"),
        ("saved to", str(out)),
    ]:
        table.add_row(*row)
    console.print(table)
    if not ok.all():
        console.print(f"[yellow]{int((~ok).sum())} steps did not converge; their results are "
                      "NaN (see `twin electric violations`)[/]")


@app.command("violations")
def violations_command(
    result: _RESULT = None,
    start: _START = None,
    days: _DAYS = None,
    v_min_pu: Annotated[float | None, typer.Option(help="Lower voltage limit [p.u.].")] = None,
    v_max_pu: Annotated[float | None, typer.Option(help="Upper voltage limit [p.u.].")] = None,
    max_loading_percent: Annotated[float | None, typer.Option(
        help="Thermal limit of lines and transformers [%].")] = None,
    top: Annotated[int, typer.Option(min=1, help="Events and elements to list.")] = 10,
    city: CityDir = None,
) -> None:
    """List voltage-band and thermal violations of a QSTS result, worst first, and totals.

    Example: twin electric violations --start 2016-07-04 --days 7 --v-max-pu 1.05
    """
    from twin.electric import violations as vio

    lo = vio.VOLTAGE_BAND_PU[0] if v_min_pu is None else v_min_pu
    hi = vio.VOLTAGE_BAND_PU[1] if v_max_pu is None else v_max_pu
    limit = vio.MAX_LOADING_PERCENT if max_loading_percent is None else max_loading_percent
    if not lo < hi:
        fail(f"--v-min-pu {lo} must be below --v-max-pu {hi}")
    if not limit > 0:
        fail(f"--max-loading-percent {limit}: give a positive thermal limit [%]")
    city = load_city_or_fail(city, ("electric",), "twin electric violations")
    _check_start(city, start)
    ds = _result(city, result, start, days)
    try:
        events = vio.find_violations(ds, city.net, (lo, hi), limit)
        totals = vio.violation_totals(ds, city.net, (lo, hi), limit, events)
        weekly = vio.en50160_weekly(ds, (lo, hi))
    except vio.ViolationError as exc:
        fail(str(exc))
    tz = city.timezone
    if len(events):
        severity = events.assign(
            excess=(lo - events.worst).where(events.kind == "undervoltage",
                                             (events.worst - hi).where(
                                                 events.kind == "overvoltage",
                                                 (events.worst - limit) / 100.0)))
        worst = severity.sort_values(["excess", "duration_h"], ascending=False).head(top)
        table = Table(title=f"worst {len(worst)} of {len(events):,} events (band {lo}–{hi} "
                            f"p.u., loading ≤ {limit} %)")
        for c in ("element", "kind", "start (local)", "duration", "worst", "overload MVAh"):
            table.add_column(c, justify="left" if c in ("element", "kind") else "right")
        for e in worst.itertuples():
            table.add_row(f"{e.element_type} {e.element} {e.name or ''}".strip(), e.kind,
                          f"{e.start.tz_localize('UTC').tz_convert(tz):%Y-%m-%d %H:%M}",
                          f"{e.duration_h:.2f} h",
                          "" if e.worst != e.worst else f"{e.worst:.4f} {e.unit}",
                          "" if e.overload_energy_mvah != e.overload_energy_mvah
                          else f"{e.overload_energy_mvah:.3f}")
        console.print(table)
    else:
        console.print(f"no violations in {ds.sizes['time']:,} steps (band {lo}–{hi} p.u., "
                      f"loading ≤ {limit} %)")
    if len(totals):
        table = Table(title=f"elements with violations: {len(totals)}")
        for c in ("element", "events", "hours outside band", "overload hours", "overload MVAh",
                  "vm min / max [p.u.]", "max loading"):
            table.add_column(c, justify="left" if c == "element" else "right")
        for r in totals.head(top).itertuples():
            table.add_row(f"{r.element_type} {r.element} {r.name or ''}".strip(), str(r.events),
                          f"{r.hours_outside_band:.2f}", f"{r.overload_hours:.2f}",
                          f"{r.overload_energy_mvah:.3f}",
                          "" if r.element_type != "bus"
                          else f"{r.vm_min_pu:.4f} / {r.vm_max_pu:.4f}",
                          "" if r.loading_max_percent != r.loading_max_percent
                          else f"{r.loading_max_percent:.1f} %")
        console.print(table)
    failing = int((~weekly.passes).any("week").sum())
    complete = int(weekly.complete.sum())
    console.print(f"EN 50160 weekly check ({weekly.attrs['note']}): {failing} of "
                  f"{weekly.sizes['bus']} buses fail at least one week; {complete} of "
                  f"{weekly.sizes['week']} weeks complete")
    skipped = events[events.kind == "not_converged"] if len(events) else events
    if len(skipped):
        console.print(f"[yellow]{int(skipped.steps.sum())} steps did not converge and are "
                      "listed as not_converged events, not as free of violations[/]")


@app.command("losses")
def losses_command(
    result: _RESULT = None,
    start: _START = None,
    days: _DAYS = None,
    store: Annotated[Path | None, typer.Option(
        help="Measurement store for non-technical losses; default <data dir>/store.")] = None,
    top: Annotated[int, typer.Option(min=1, help="Suspicious meters to list.")] = 10,
    city: CityDir = None,
) -> None:
    """Technical losses per feeder; non-technical losses and suspicious meters from the store.

    Example: twin electric losses --start 2016-07-04 --days 21
    """
    import pandas as pd

    from twin.electric import losses as ls
    from twin.electric.powerflow import PowerFlowError

    city = load_city_or_fail(city, ("electric",), "twin electric losses")
    _check_start(city, start)
    if store is not None:
        store = store_root(store)
    ds = _result(city, result, start, days)
    feeders = ls.feeder_losses(ds, city.net)
    times = pd.DatetimeIndex(ds.time.values)
    del ds  # a year of every variable (~0.3 GB): not needed for the balance (issue 16)
    table = Table(title=f"technical losses, {len(times):,} steps")
    for c in ("feeder", "losses MWh", "delivered MWh", "losses %"):
        table.add_column(c, justify="left" if c == "feeder" else "right")
    for f, r in feeders.iterrows():
        table.add_row(f, f"{r.losses_mwh:.3f}", f"{r.delivered_mwh:.1f}",
                      "" if r.losses_percent != r.losses_percent else f"{r.losses_percent:.2f}")
    table.add_row("total", f"{feeders.losses_mwh.sum():.3f}", "", "")
    console.print(table)

    store_path = store or city.data_dir / "store"
    if not Path(store_path).exists():
        console.print(f"no measurement store at {store_path}: non-technical losses need one "
                      "(`twin ingest …`)")
        return
    from twin.ingest.store import MeasurementStore
    from twin.scenario import profiles_of

    profiles = profiles_of(city)
    with progress_bar() as bar:
        task = bar.add_task("QSTS on the measurements (2 passes)", total=2 * len(times))
        passes = {"done": 0}

        def tick(done, total):
            bar.update(task, completed=passes["done"] * total + done)
            if done >= total:
                passes["done"] += 1

        try:
            r = ls.non_technical_losses(city, MeasurementStore(str(store_path)), profiles,
                                        times[0], times[-1] + pd.Timedelta("15min"), tick)
        except ls.LossesError as exc:
            fail(str(exc))
        except PowerFlowError as exc:
            fail(str(exc), code=1)
    b = r.balance
    table = Table(title="feeder energy balance (MWh): non-technical losses")
    for c in ("feeder", "head", "meters", "estimated", "unmetered", "pumps", "generation",
              "tech. losses", "NTL", "NTL %"):
        table.add_column(c, justify="left" if c == "feeder" else "right")
    for f, x in b.iterrows():
        table.add_row(f, f"{x.head_mwh:.2f}", f"{x.metered_mwh:.2f}", f"{x.estimated_mwh:.2f}",
                      f"{x.unmetered_mwh:.2f}", f"{x.pumps_mwh:.2f}", f"{x.generation_mwh:.2f}",
                      f"{x.technical_losses_mwh:.3f}", f"{x.ntl_mwh:.3f}",
                      "" if x.ntl_percent != x.ntl_percent else f"{x.ntl_percent:.2f}")
    console.print(table)
    s = r.scores
    table = Table(title=f"most suspicious meters ({int(s.flagged.sum())} flagged at score ≥ "
                        f"{s.attrs['threshold']:g})")
    for c in ("rank", "meter", "feeder", "score", "reason", "since", "use vs peers",
              "missing kWh"):
        table.add_column(c, justify="left" if c in ("meter", "feeder", "reason") else "right")
    for x in s.head(top).itertuples():
        table.add_row(str(x.rank), x.meter_id, x.feeder, f"{x.score:.1f}", x.reason,
                      f"{x.change_day:%Y-%m-%d}", f"{x.ratio_after:.2f}",
                      "n/a !" if x.missing_kwh < 0 else f"{x.missing_kwh:.0f}")
    console.print(table)
    from twin.electric.meter_anomaly import missing_energy_findings

    for finding in missing_energy_findings(s.head(top)):
        console.print(str(finding))
    if r.meters.not_read:
        console.print(f"{r.meters.not_read:,} customers' meters hold no reading in the period; "
                      "a load none of whose meters is read counts as unmetered (its profile)")
    if len(r.meters.unmapped):
        console.print(f"{len(r.meters.unmapped)} store series are no customer's meter (e.g. "
                      f"{r.meters.unmapped.index[0]}) and were left out")


# ------------------------------------------------------------------ hosting capacity, N-1
# (issue 4, items 4-5: planning studies on the grid as operated)


@app.command("hosting-capacity")
def hosting_capacity_command(
    hours: Annotated[int, typer.Option(min=1, help="Critical hours (most net export) to check.")
                     ] = 6,
    resolution_kw: Annotated[float, typer.Option(
        min=0.001, help="Bisection resolution [kW].")] = 10.0,
    v_max_pu: Annotated[float, typer.Option(help="Upper voltage limit [p.u.].")] = 1.10,
    top: Annotated[int, typer.Option(min=1, help="Buses to list (least capacity first).")] = 15,
    out: Annotated[Path | None, typer.Option(help="CSV file for every bus's result.")] = None,
    city: CityDir = None,
) -> None:
    """Extra rooftop PV (kW) each bus can take before a voltage or thermal limit breaks.

    Example: twin electric hosting-capacity --hours 6 --out hosting_capacity.csv
    """
    from twin.electric.hosting_capacity import (
        HostingCapacityError,
        critical_hours,
        hosting_capacity,
    )
    from twin.electric.powerflow import VOLTAGE_BAND_PU

    if not v_max_pu > VOLTAGE_BAND_PU[0]:
        fail(f"--v-max-pu {v_max_pu} must be above the lower voltage limit "
             f"{VOLTAGE_BAND_PU[0]} p.u.")
    writable_file(out, "--out")
    city = load_city_or_fail(city, ("electric",), "twin electric hosting-capacity")
    profiles = _profiles(city)
    times = critical_hours(profiles, n=hours)
    with progress_bar() as bar:
        task = bar.add_task("bisection rounds (all buses × hours at once)", total=None)
        try:
            hc = hosting_capacity(city.net, profiles, times=times, resolution_kw=resolution_kw,
                                  voltage_band_pu=(VOLTAGE_BAND_PU[0], v_max_pu),
                                  progress=lambda r, n: bar.update(task, completed=r, total=n))
        except HostingCapacityError as exc:
            fail(str(exc))
    if out is not None:
        hc.to_csv(out)
    tz = city.timezone
    table = Table(title=f"PV hosting capacity of {len(hc)} buses over {len(times)} critical "
                        f"hours (resolution {resolution_kw:g} kW)")
    for c in ("bus", "name", "feeder", "hosting capacity", "limited by", "critical hour"):
        table.add_column(c, justify="right" if c == "hosting capacity" else "left")
    for bus, r in hc.sort_values("hosting_capacity_kw").head(top).iterrows():
        table.add_row(str(bus), str(city.net.bus.at[bus, "name"]), city.net.bus.at[bus, "feeder"],
                      f"{r.hosting_capacity_kw:,.0f} kW", r.limited_by,
                      f"{r.critical_time.tz_convert(tz):%Y-%m-%d %H:%M}")
    console.print(table)
    console.print(f"median {hc.hosting_capacity_kw.median():,.0f} kW; limited by: " + ", ".join(
        f"{k} {v}" for k, v in hc.limited_by.value_counts().items())
        + (f"; saved to {out}" if out else ""))


@app.command("n1")
def n1_command(
    top: Annotated[int, typer.Option(min=1, help="Outages to list (worst first).")] = 15,
    out: Annotated[Path | None, typer.Option(help="CSV file for every outage's result.")] = None,
    city: CityDir = None,
) -> None:
    """N-1: every line and transformer outage, the customers it cuts off and what it overloads.

    Studied at the hour of peak load and the hour of peak PV export, with no switching after
    the outage (the grid as operated).

    Example: twin electric n1 --top 20 --out n1.csv
    """
    from twin.electric.contingency import ContingencyError, n_minus_1, outage_list, study_hours

    writable_file(out, "--out")
    city = load_city_or_fail(city, ("electric",), "twin electric n1")
    profiles = _profiles(city)
    outages = outage_list(city.net)
    with progress_bar() as bar:
        task = bar.add_task("outages", total=len(outages))
        try:
            res = n_minus_1(city.net, profiles, outages=outages, customers=city.customers,
                            progress=lambda d, n: bar.update(task, completed=d))
        except ContingencyError as exc:
            fail(str(exc))
    if out is not None:
        res.to_csv(out, index=False)
    hours = ", ".join(f"{t.tz_convert(city.timezone):%Y-%m-%d %H:%M}" for t in
                      study_hours(profiles))
    table = Table(title=f"N-1: {len(res)} outages at {hours}, worst first")
    for c in ("rank", "outage", "customers cut off", "restorable", "load cut off", "overloads",
              "max line loading", "voltage violations"):
        table.add_column(c, justify="left" if c == "outage" else "right")
    for r in res.head(top).itertuples():
        table.add_row(str(r.rank), f"{r.element_type} {r.element} {r.name}",
                      f"{r.customers_unsupplied:,}", f"{r.customers_restorable:,}",
                      f"{r.load_unsupplied_mw:.2f} MW",
                      str(r.overloads), f"{r.max_line_loading_percent:.1f} %",
                      str(r.voltage_violations))
    console.print(table)
    console.print(f"{int((res.customers_unsupplied > 0).sum())} outages cut customers off; "
                  f"{int((res.overloads > 0).sum())} overload something; "
                  f"{int((~res.converged).sum())} did not converge"
                  + (f"; saved to {out}" if out else ""))
