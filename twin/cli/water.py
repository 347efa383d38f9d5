"""``twin water …``: the water network: hydraulics, water balance, night flow, leaks."""

from __future__ import annotations

from typing import Annotated

import typer

from twin.cli.common import CityDir

app = typer.Typer(help="The water network: hydraulics, water balance, night flow, leaks.\n\nExample: twin water simulate", no_args_is_help=True, rich_markup_mode=None)


@app.command("leaks")
def leaks(
    start: Annotated[str, typer.Option(help="First local day of the period, e.g. 2016-07-04.")],
    days: Annotated[int, typer.Option(help="Days in the period (at least 2).")] = 21,
    city: CityDir = None,
    store: Annotated[str | None, typer.Option(
        help="Measurement store; default <data dir>/store.")] = None,
    baseline_days: Annotated[float, typer.Option(
        help="Leak-free days at the start that the baseline is learned on.")] = 7.0,
    min_leak_m3h: Annotated[float, typer.Option(
        help="Smallest leak the detectors are tuned for [m3/h].")] = 3.0,
    false_alarms_per_month: Annotated[float, typer.Option(
        help="Target false alarms per DMA per month (sets the CUSUM threshold).")] = 0.33,
    rebase_h: Annotated[int, typer.Option(
        min=1, help="Hours after an alarm that set the new reference level.")] = 12,
    detect_step_min: Annotated[float, typer.Option(
        min=1, help="Step of the change detection [min] (the SCADA's own when coarser).")
    ] = 15.0,
    locate_window_h: Annotated[float, typer.Option(
        help="Hours of pressure on each side of a change compared to locate it.")] = 96.0,
    top: Annotated[int, typer.Option(min=1, help="Candidate positions listed per alarm.")] = 5,
    size_refine: Annotated[int, typer.Option(
        min=0, help="Best positions ranked again with a leak of the fitted size (0: off).")] = 10,
    drop_spacings: Annotated[float, typer.Option(
        min=0, help="Candidates within this many logger spacings of the alarming DMA's "
                    "logger that fell most (0: off).")] = 3.0,
    narrow_min_posterior: Annotated[float, typer.Option(
        min=0, max=1, help="Rank the whole DMA when the loggers leave those candidates less "
                           "than this posterior probability (0: keep them always).")] = 0.05,
    search_radius_m: Annotated[float, typer.Option(
        min=0, help="Report the position with the most probability of the leak within this "
                    "radius (a crew's search) [m]; 0 reports the best fit.")] = 150.0,
    rank_metric: Annotated[str, typer.Option(
        help="How positions are ranked: 'correlation' (the angle between the loggers' "
             "change and each position's sensitivity) or 'misfit' (the change's size too)."
    )] = "correlation",
    area_loggers: Annotated[bool, typer.Option(
        "--area-loggers/--all-loggers",
        help="Locate on the alarming DMA's own loggers (all when it has fewer than 3), or on "
             "every logger.")] = True,
    noise_covariance: Annotated[bool, typer.Option(
        "--noise-covariance/--logger-noise",
        help="Weigh the loggers by their noise's covariance on the leak-free days, or each "
             "by its own noise.")] = True,
    boundary_flows: Annotated[bool, typer.Option(
        "--boundary-flows/--loggers-only",
        help="Locate on how the leak's flow splits among the DMA's boundary meters as well "
             "as on its loggers' pressure, or on the loggers alone.")] = True,
    flow_model_error: Annotated[float, typer.Option(
        min=0, help="Relative error allowed the model's boundary-flow sensitivities (0.2: "
                    "20 %).")] = 0.2,
    signature_course: Annotated[str, typer.Option(
        help="The leak flow each logger's pressure is regressed on to locate it: 'step' (a "
             "step of the DMA's consumption change at the leak's start) or 'flow' (the "
             "DMA's consumption residual hour by hour).")] = "step",
    clear_step_ratio: Annotated[float, typer.Option(
        min=0, help="Measure a leak's signature on hours half a day clear of any other "
                    "change at least this many times its own step (0: of every change; "
                    "inf: of none).")] = 2.0,
    tanks_measured: Annotated[bool, typer.Option(
        "--tanks-measured/--tanks-simulated",
        help="Expect the loggers' pressures with every tank SCADA measures held at its "
             "measured level, or at the level the model's run reaches.")] = True,
    burst_test: Annotated[bool, typer.Option(
        "--burst-test/--no-burst-test",
        help="Raise an alarm sooner when the last 1-3 hours of its DMA's balance stepped up "
             "for two detection steps and the DMA's loggers fell with it (a crossing no "
             "CUSUM alarm confirms is listed as 'burst, unconfirmed'), or at the CUSUM's "
             "time only.")] = True,
    confirm_false_alarms_per_month: Annotated[float, typer.Option(
        min=0, help="Target false alarms per DMA per month of a second, more sensitive "
                    "detector whose new leaks are raised only where the DMA's loggers' "
                    "pressure confirms them at the located position (0: off).")] = 2.0,
    confirm_quantile: Annotated[float, typer.Option(
        min=0, max=1, help="Quantile of the leak-free hours' pressure evidence that "
                           "confirms such a leak.")] = 0.95,
    truth: Annotated[str | None, typer.Option(
        help="CSV of known leaks (leak_id, pipe or junction, start, end, flow m3/h): score "
             "the run against it, BattLeDIM's way.")] = None,
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler for the sensitivity runs (default: this process).")] = None,
) -> None:
    """Detect leaks from SCADA against the twin's expectation, and locate them.

    Each DMA's consumption residual (measured minus expected, less a baseline learned on the
    leak-free days, less what all DMAs' residuals share) runs, every 15 minutes (or each
    DMA alone hourly where that is less noisy), through a two-sided CUSUM calibrated on that
    baseline's noise, which restarts after each alarm; positions in the alarming DMA
    (junctions and points along pipes) are ranked by the loggers' pressure change and the
    split of the leak's flow among the DMA's boundary meters. The calibration and any
    flagged input are printed.

    Example: twin water leaks --start 2016-07-04 --days 21 --baseline-days 5
    """
    import contextlib

    from rich.table import Table

    from twin.cli.common import (
        console,
        existing_path,
        fail,
        load_city_or_fail,
        progress_bar,
        reachable_scheduler,
    )
    from twin.water.hydraulics import HydraulicsError
    from twin.water.leak_location import LeakLocationError
    from twin.water.leak_scoring import TruthFileError
    from twin.water.leaks import (
        SIGNATURE_COURSES,
        LeakDetectionError,
        LeakNetwork,
        LeakSettings,
        find_leaks,
        score_report,
    )

    if days < 2:
        fail(f"--days {days}: give at least 2 days")
    if min_leak_m3h <= 0 or false_alarms_per_month <= 0 or baseline_days < 0:
        fail("--min-leak-m3h and --false-alarms-per-month must be positive, --baseline-days "
             "not negative")
    if rank_metric not in ("correlation", "misfit"):
        fail(f"--rank-metric {rank_metric}: give 'correlation' or 'misfit'")
    if signature_course not in SIGNATURE_COURSES:
        fail(f"--signature-course {signature_course}: give one of "
             f"{', '.join(SIGNATURE_COURSES)}")
    if not locate_window_h > 0:
        fail(f"--locate-window-h {locate_window_h}: give a positive number of hours")
    existing_path(truth, "--truth")
    if scheduler:
        reachable_scheduler(scheduler)
    c = load_city_or_fail(city)
    if truth:  # read now: a bad truth file is refused before the run, not after it
        from twin.water.leak_location import pipe_table
        from twin.water.leak_scoring import read_truth

        try:
            read_truth(truth, pipe_table(c.wn), set(c.wn.junction_name_list))
        except TruthFileError as exc:
            fail(str(exc))
    t0, t0_utc, t1_utc = _local_period(c, start, days)
    ms = _open_store(store, c)
    _check_period_held(ms, t0_utc, t1_utc, c.timezone)
    settings = LeakSettings(baseline_days=baseline_days, min_leak_m3h=min_leak_m3h,
                            false_alarms_per_month=false_alarms_per_month, rebase_h=rebase_h,
                            detect_step_min=detect_step_min,
                            locate_window_h=locate_window_h, top=top, size_refine=size_refine,
                            drop_spacings=drop_spacings,
                            narrow_min_posterior=narrow_min_posterior,
                            search_radius_m=search_radius_m, rank_metric=rank_metric,
                            area_loggers=area_loggers, noise_covariance=noise_covariance,
                            boundary_flows=boundary_flows, flow_model_error=flow_model_error,
                            signature_course=signature_course,
                            clear_step_ratio=clear_step_ratio,
                            pressure_at_measured_levels=tanks_measured,
                            burst_test=burst_test,
                            confirm_false_alarms_per_month=confirm_false_alarms_per_month,
                            confirm_quantile=confirm_quantile)
    if scheduler:
        from twin.parallel import dask_client
        client_cm = dask_client(scheduler)
    else:
        client_cm = contextlib.nullcontext(None)
    with progress_bar() as bar, client_cm as client:
        tasks = {}

        def tick(step: str, done: int, total: int) -> None:
            if step not in tasks:  # "read": store chunks, a month and a group of series each
                label = "read store chunks" if step == "read" else step
                tasks[step] = bar.add_task(label, total=max(total, 1))
            bar.update(tasks[step], completed=done, total=max(total, 1))

        try:
            report = find_leaks(c, ms, t0_utc, t1_utc, settings, client=client, progress=tick,
                                cache_dir=c.data_dir / "cache" / "leak-sensitivity")
        except (LeakDetectionError, LeakLocationError) as exc:
            fail(str(exc))
        except HydraulicsError as exc:
            fail(str(exc), code=1)
    tz = c.timezone
    cal = report.calibration
    ct = Table(title=f"Calibration on the baseline {cal.attrs.get('baseline_start', '')[:16]} to "
                     f"{cal.attrs.get('baseline_end', '')[:16]} UTC"
                     + (" (robust, whole period)" if cal.attrs.get("robust") else ""))
    for col in ("DMA", "noise L/s", "common mode out L/s", "lag-1 corr.", "long-run L/s",
                "k", "h", "h between false alarms"):
        ct.add_column(col, justify="left" if col == "DMA" else "right")
    for r in cal[cal.kind == "consumption"].itertuples():
        ct.add_row(r.series, f"{r.sigma:.2f}", f"{r.sigma_common_out:.2f}", f"{r.rho:.2f}",
                   f"{r.long_run_sigma:.2f}", f"{r.k:.2f}", f"{r.h:.1f}",
                   f"{r.mean_hours_between_false_alarms:.0f}")
    console.print(ct)
    p = cal[cal.kind == "pressure"]
    if len(p):
        console.print(f"pressure loggers: {len(p)}, residual noise median "
                      f"{p.sigma.median():.3f} m (min {p.sigma.min():.3f}, max "
                      f"{p.sigma.max():.3f})")
    table = Table(title=f"Leak alarms {t0:%Y-%m-%d} + {days} days ({len(report.alarms)})")
    for col in ("#", "DMA", "alarm (local)", "change since", "m3/h", "kind", "position",
                "x m", "y m", "located (local)", "flag"):
        table.add_column(col, justify="left" if col in ("DMA", "kind", "flag") else "right")
    for a in report.alarms.itertuples():
        kind = a.kind if a.kind != "growth" else f"growth of #{a.growth_of}"
        located = (f"{a.located_utc.tz_convert(tz):%Y-%m-%d %H:%M}"
                   if a.located_utc == a.located_utc else "-")  # NaT: not located
        table.add_row(str(a.alarm), a.dma, f"{a.alarm_utc.tz_convert(tz):%Y-%m-%d %H:%M}",
                      f"{a.change_utc.tz_convert(tz):%Y-%m-%d %H:%M}", f"{a.leak_m3h:.1f}",
                      kind, str(a.element), f"{a.x_m:.0f}", f"{a.y_m:.0f}", located, a.flag)
    console.print(table)
    if len(report.candidates):
        cand = Table(title=f"Top {top} positions per alarm")
        for col in ("#", "rank", "element", "kind", "at", "leak L/s", "misfit", "distance m",
                    "probability", f"within {search_radius_m:g} m"):
            cand.add_column(col, justify="right")
        for r in report.candidates.itertuples():
            cand.add_row(str(r.alarm), str(r.rank), str(r.element), r.kind, f"{r.at:.2f}",
                         f"{r.leak_l_s:.2f}", f"{r.misfit:.1f}", f"{r.distance_m:.0f}",
                         f"{r.probability:.2f}", f"{r.probability_within:.2f}")
        console.print(cand)
    downs = report.changes[report.changes.direction == "down"]
    console.print(f"{len(report.alarms)} alarm(s), {len(downs)} fall(s) of consumption "
                  f"(repairs or meters) in {report.residuals.sizes['time']} hours; distances "
                  "are from each alarm's reported position (the centre of the "
                  f"{search_radius_m:g} m circle most likely to hold the leak; the best fit "
                  "when 0), known at its 'located' time (the hours after the alarm it is "
                  "measured on).")
    for f in report.flags.itertuples():
        console.print(f"flag: {f.sensor}: {f.problem}: {f.detail}")
    for note in report.notes:
        console.print(f"note: {note}")
    if truth:
        try:
            matched, score = score_report(report, truth, LeakNetwork.from_city(c))
        except TruthFileError as exc:
            fail(str(exc))
        st = Table(title=f"Scored against {truth} (an alarm in the leak's window within 300 m)")
        st.add_column("figure")
        st.add_column("value", justify="right")
        for k, v in score.items():
            st.add_row(k, f"{v[0]}/{v[1]}" if isinstance(v, tuple) else (
                f"{v:.2f}" if isinstance(v, float) else str(v)))
        console.print(st)


@app.command("outage")
def outage(
    feeder: Annotated[list[str] | None, typer.Option(
        help="Feeder that trips (repeat for more).")] = None,
    bus: Annotated[list[int] | None, typer.Option(
        help="Bus that loses supply (repeat for more).")] = None,
    start: Annotated[str, typer.Option(help="City time the supply is lost.")] = (
        "2016-07-14 20:00"),
    hours: Annotated[int, typer.Option(help="Hours without supply.")] = 6,
    min_pressure_m: Annotated[float | None, typer.Option(
        help="Minimum service pressure [m]; default the twin's.")] = None,
    city: CityDir = None,
) -> None:
    """What-if: a feeder or bus trips, its pumps stop — which DMAs lose pressure, how long?

    A scenario: the feeders or buses out of service for the window, over the days from the
    local midnight before --start to a day after the supply returns, run beside the same days
    without the outage. Pumps whose bus loses supply stop in the window.

    Example: twin water outage --feeder F83 --start "2016-07-14 20:00" --hours 6
    """
    import math

    import numpy as np
    import pandas as pd
    from pydantic import ValidationError
    from rich.table import Table

    from twin.cli.common import console, fail, load_city_or_fail, option_error
    from twin.scenario import Base, Scenario, ScenarioError, run_supply_outage
    from twin.scenario.changes import Outage
    from twin.timeutil import TimeError, parse_local_time
    from twin.water.hydraulics import MIN_SERVICE_PRESSURE_M, HydraulicsError

    if not feeder and not bus:
        fail("name the lost supply: --feeder F… or --bus N")
    if hours < 1:
        fail(f"--hours {hours}: give at least 1 hour")
    city = load_city_or_fail(city, ("electric", "water"), "twin water outage")
    lost = [("feeder", f) for f in feeder or ()] + [("bus", b) for b in bus or ()]
    try:
        at = parse_local_time(start, city.timezone).tz_convert(city.timezone)
        naive = at.tz_localize(None)
        days = math.ceil((naive - naive.normalize() + pd.Timedelta(hours=hours + 24))
                         / pd.Timedelta(days=1))
        scenario = Scenario(
            name=f"supply outage {start} + {hours} h",
            base=Base(start=naive.date(), days=days, hosting_capacity=False,
                      min_pressure_m=(MIN_SERVICE_PRESSURE_M if min_pressure_m is None
                                      else min_pressure_m)),
            changes=[Outage(id=f"{kind} {el}", kind=kind, element=el,
                            start=naive.to_pydatetime(), hours=hours) for kind, el in lost])
    except TimeError as exc:
        fail(str(exc))
    except ValidationError as exc:
        fail(option_error(exc))
    with console.status(f"simulating {days} days with {', '.join(f'{k} {e}' for k, e in lost)}"
                        " out and without…"):
        try:
            found = run_supply_outage(city, scenario)
        except ScenarioError as exc:
            fail(str(exc))
        except HydraulicsError as exc:
            fail(str(exc), code=1)
    if not found.pumps_out:
        fail(f"no pump is fed from {', '.join(map(str, (feeder or []) + (bus or [])))}; "
             f"pumps are on buses {city.pumps.bus.tolist()}")
    table_df, pumps, limit = found.by_dma, found.pumps_out, found.min_pressure_m
    midnight = found.start_local
    table = Table(title=f"Pumps {', '.join(pumps)} off from {at:%Y-%m-%d %H:%M} for {hours} h: "
                        f"pressure below {limit:g} m")
    for col in ("DMA", "junctions", "low", "low in base", "hours low", "first low",
                "last low", "min pressure m", "base min m"):
        table.add_column(col, justify="left" if col == "DMA" else "right")
    for r in table_df.itertuples():
        first = "" if np.isnan(r.first_low_h) else (
            f"{midnight + pd.Timedelta(hours=r.first_low_h):%m-%d %H:%M}")
        last = "" if np.isnan(r.last_low_h) else (
            f"{midnight + pd.Timedelta(hours=r.last_low_h):%m-%d %H:%M}")
        table.add_row(r.dma, str(r.junctions), str(r.junctions_low),
                      str(r.junctions_low_in_base), f"{r.hours_low:g}", first, last,
                      f"{r.min_pressure_m:.1f}" + (" !" if r.min_pressure_m < limit
                                                   and not r.junctions_low else ""),
                      f"{r.base_min_pressure_m:.1f}")
    console.print(table)
    from twin.coupling import outage_pressure_findings

    for finding in outage_pressure_findings(table_df, limit):
        console.print(str(finding))
    hit = table_df[table_df.junctions_low > 0]
    console.print(f"{len(hit)} of {len(table_df)} DMAs lose service pressure"
                  + (f": {', '.join(hit.dma)}" if len(hit) else ""))


def _nnf_cell(nnf) -> str:
    """A night-flow table cell: the nights' median net night flow [L/s], or ``n/a !`` when
    it is negative (impossible; the finding below the table gives the likely cause)."""
    v = float(nnf.median())
    return "n/a !" if v < 0 else f"{v:.2f}"


def _local_period(city, start: str, days: int):
    """(local start, UTC start, UTC end) of ``days`` local days from ``start``; fails cleanly."""
    import pandas as pd

    from twin.cli.common import fail
    from twin.timeutil import TimeError, parse_local_time

    if days < 1:
        fail(f"--days {days}: give at least 1 day")
    try:
        t0 = parse_local_time(start, city.timezone).tz_convert(city.timezone)
    except TimeError as exc:
        fail(str(exc))
    t1 = (t0.tz_localize(None) + pd.Timedelta(days=days)).tz_localize(city.timezone)
    return t0, t0.tz_convert("UTC"), t1.tz_convert("UTC")


def _check_period_held(ms, t0_utc, t1_utc, timezone: str) -> None:
    """Refuse a period reaching more than a day beyond the store's SCADA (e.g. ``--days
    10000``) before a model is run over steps that hold nothing."""
    import pandas as pd

    from twin.cli.common import fail

    first, last = ms.first_time("scada"), ms.last_time("scada")
    if first is None:
        return
    if t0_utc < first - pd.Timedelta("1D") or t1_utc > last + pd.Timedelta("1D"):
        fail(f"--start/--days: {t0_utc.tz_convert(timezone):%Y-%m-%d} to "
             f"{t1_utc.tz_convert(timezone):%Y-%m-%d} reaches beyond the store's SCADA "
             f"({first.tz_convert(timezone):%Y-%m-%d} to {last.tz_convert(timezone):%Y-%m-%d});"
             " choose a period the store covers")


def _open_store(store: str | None, city):
    from twin.cli.common import fail, store_root
    from twin.ingest.store import MeasurementStore

    root = store_root(store, city.data_dir / "store")
    try:
        ms = MeasurementStore(root)
    except Exception as exc:  # the store names what is wrong
        fail(f"{root}: cannot open the measurement store: {exc}")
    if "scada" not in ms.kinds() or "water_read" not in ms.kinds():
        fail(f"{root}: the store holds no SCADA or water reads; ingest them with `twin ingest`")
    return ms


@app.command("simulate")
def simulate_cmd(
    days: Annotated[float, typer.Option(help="Simulated days.")] = 7.0,
    step_min: Annotated[int, typer.Option(help="Hydraulic and report step [min].")] = 60,
    pda: Annotated[bool, typer.Option(
        "--pda", help="Pressure-driven demands (PDA); default the network file's own "
        "demand model.")] = False,
    required_pressure_m: Annotated[float, typer.Option(
        min=0.0, help="PDA: pressure for the full demand [m]; also the low-pressure limit.")
    ] = 20.0,
    demand_multiplier: Annotated[float, typer.Option(
        help="Scenario: scale every junction's demand by this factor.")] = 1.0,
    inp: Annotated[str | None, typer.Option(
        help="EPANET .inp to run instead of the city's network.")] = None,
    out: Annotated[str | None, typer.Option(help="NetCDF file for the results.")] = None,
    city: CityDir = None,
) -> None:
    """Run an extended-period hydraulic simulation (EPANET) and summarise pressures.

    Results (time × node pressure, head, demand; time × link flow, velocity, status) are
    saved as NetCDF with units. Junctions below the required pressure are listed.

    Example: twin water simulate --days 7 --pda --out week.nc
    """
    import time

    from rich.table import Table

    from twin.cli.common import console, fail, load_city_or_fail, writable_file
    from twin.water.hydraulics import HydraulicsError, scale_demands, simulate
    from twin.water.network import (
        NetworkFileError,
        demand_junctions,
        read_inp,
        unreachable_nodes,
    )

    if days <= 0 or step_min <= 0:
        fail(f"--days {days} and --step-min {step_min} must be positive")
    if demand_multiplier < 0:
        fail(f"--demand-multiplier {demand_multiplier} must not be negative")
    writable_file(out, "--out")
    if inp:
        try:
            wn = read_inp(inp)
        except NetworkFileError as exc:
            fail(str(exc))
        name = inp
    else:
        c = load_city_or_fail(city, ("water",), "twin water simulate")
        wn, name = c.wn, f"{c.name}'s water network"
    lost = unreachable_nodes(wn)
    if lost:
        fail(f"{name}: {len(lost)} nodes cannot be reached from any reservoir or tank "
             f"({', '.join(lost[:8])}{' …' if len(lost) > 8 else ''}); connect or remove them")
    if demand_multiplier != 1.0:
        wn = scale_demands(wn, demand_multiplier)
    t = time.perf_counter()
    with console.status(f"simulating {days:g} days at {step_min}-min steps…"):
        try:
            ds = simulate(wn, int(days * 86400), step_min * 60, pressure_driven=pda or None,
                          required_pressure_m=required_pressure_m)
        except HydraulicsError as exc:
            fail(str(exc), code=1)
    seconds = time.perf_counter() - t
    junctions = [n for n in wn.junction_name_list if n in set(ds.node.values)]
    demand_j = [n for n in demand_junctions(wn) if n in set(junctions)]
    p = ds["pressure_m"].sel(node=demand_j)
    low = (p < required_pressure_m).sum("time").to_series()
    low = low[low > 0].sort_values(ascending=False)
    if out:
        ds.attrs.update({"network": name, "pressure_driven": int(ds.attrs["demand_model"] == "PDA"),
                         "demand_multiplier": demand_multiplier})
        ds.to_netcdf(out)
    table = Table(title=f"{name}: {days:g} days, {ds.attrs['demand_model']} "
                        f"(solved in {seconds:.2f} s)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    q = ds["demand_m3s"].sel(node=demand_j).sum("node") * 1000
    for row in (("junctions / links", f"{len(junctions)} / {ds.sizes['link']}"),
                ("reporting steps", str(ds.sizes["time"])),
                ("demand mean / max", f"{float(q.mean()):.1f} / {float(q.max()):.1f} L/s"),
                ("pressure min / mean (consumers)",
                 f"{float(p.min()):.1f} / {float(p.mean()):.1f} m"),
                (f"consumer junctions below {required_pressure_m:g} m", str(len(low))),
                ("EPANET warnings", "yes, see its report" if ds.attrs["epanet_warning"]
                 else "none"),
                ("saved", out or "not saved (use --out)")):
        table.add_row(*row)
    console.print(table)
    if len(low):
        worst = ", ".join(f"{n} ({int(k)} steps, min {float(p.sel(node=n).min()):.1f} m)"
                          for n, k in low.head(8).items())
        console.print(f"low pressure at: {worst}")


def _period_title(t0, days: int) -> str:
    return f"{t0:%Y-%m-%d} + {days} days"


@app.command("balance")
def balance_cmd(
    start: Annotated[str, typer.Option(help="First local day, e.g. 2016-07-04.")],
    days: Annotated[int, typer.Option(help="Days in the period.")] = 7,
    store: Annotated[str | None, typer.Option(
        help="Measurement store; default <data dir>/store.")] = None,
    measured_only: Annotated[bool, typer.Option(
        "--measured-only", help="No default estimates of unbilled use and apparent losses.")]
    = False,
    csv: Annotated[str | None, typer.Option(help="Also write the table to this CSV.")] = None,
    city: CityDir = None,
) -> None:
    """IWA/AWWA water balance per DMA and for the city, with CARL, UARL and ILI.

    System input from the DMA boundary meters (SCADA) less storage; billed metered from the
    AMR reads; unbilled and apparent losses from AWWA default shares (see
    twin.water.balance.BalanceParameters) unless --measured-only.

    Example: twin water balance --start 2016-07-04 --days 21
    """
    from rich.table import Table

    from twin.cli.common import console, fail, load_city_or_fail, writable_file
    from twin.water.balance import (
        MEASURED_ONLY,
        BalanceError,
        BalanceParameters,
        balance_from_store,
    )
    from twin.water.hydraulics import HydraulicsError

    writable_file(csv, "--csv")
    city = load_city_or_fail(city, ("water",), "twin water balance")
    t0, a, b = _local_period(city, start, days)
    ms = _open_store(store, city)
    params = MEASURED_ONLY if measured_only else BalanceParameters()
    with console.status("reading SCADA and meter reads, balancing…"):
        try:
            t = balance_from_store(ms, city, a, b, params)
        except (BalanceError, KeyError) as exc:
            fail(str(exc))
        except HydraulicsError as exc:
            fail(str(exc), code=1)
    if csv:
        t.to_csv(csv)
    table = Table(title=f"Water balance {_period_title(t0, days)} ({t.attrs['days']:.2f} days "
                        "measured), volumes in 1000 m³")
    cols = [("SIV", "siv_m3", "{:.1f}", 1e-3), ("billed", "billed_metered_m3", "{:.1f}", 1e-3),
            ("apparent", "apparent_losses_m3", "{:.2f}", 1e-3),
            ("real", "real_losses_m3", "{:.2f}", 1e-3), ("NRW %", "nrw_percent", "{:.2f}", 1),
            ("CARL L/c/d", "carl_l_conn_day", "{:.0f}", 1),
            ("UARL m³/d", "uarl_l_day", "{:.1f}", 1e-3), ("ILI", "ili", "{:.2f}", 1)]
    table.add_column("zone")
    for head, *_ in cols:
        table.add_column(head, justify="right")
    for zone, r in t.iterrows():
        cells = [fmt.format(r[col] * k) for _, col, fmt, k in cols]
        if not r["consistent"]:  # no number for what cannot be: see the findings below
            cells[3] = cells[5] = "n/a !"
        cells[-1] = "n/a !" if not r["consistent"] else cells[-1] + (
            " *" if r["ili_indicative"] else "")
        table.add_row(str(zone), *cells)
    console.print(table)
    for finding in t.attrs.get("findings", []):
        console.print(str(finding))
    est = int(t.loc["city", "connections_estimated"])
    console.print(f"* ILI indicative: fewer than 3000 connections or under 25 m (Lambert 2001). "
                  f"{est} connections without reads were estimated; "
                  f"{t.attrs['scada_hours_filled']} SCADA hours interpolated.")
    if t.attrs.get("customers_without_junction"):
        console.print(f"{t.attrs['customers_without_junction']:,} customers have no water "
                      "connection (no junction): left out of the water figures")


@app.command("night-flow")
def night_flow_cmd(
    start: Annotated[str, typer.Option(help="First local day, e.g. 2016-07-04.")],
    days: Annotated[int, typer.Option(help="Days in the period.")] = 21,
    store: Annotated[str | None, typer.Option(
        help="Measurement store; default <data dir>/store.")] = None,
    n1: Annotated[float, typer.Option(
        min=0.5, max=2.5, help="FAVAD leakage exponent N1 for the NDF (0.5-2.5).")] = 1.0,
    csv: Annotated[str | None, typer.Option(help="Write the nightly table to this CSV.")] = None,
    city: CityDir = None,
) -> None:
    """Minimum and net night flow (02–04 h) per DMA, its trend, and leakage from it.

    Example: twin water night-flow --start 2016-07-04 --days 21
    """
    from rich.table import Table

    from twin.cli.common import console, fail, load_city_or_fail, writable_file
    from twin.water.balance import BalanceError
    from twin.water.night_flow import night_flow_from_store

    writable_file(csv, "--csv")
    city = load_city_or_fail(city, ("water",), "twin water night-flow")
    t0, a, b = _local_period(city, start, days)
    ms = _open_store(store, city)
    with console.status("reading SCADA and meter reads…"):
        try:
            n = night_flow_from_store(ms, city, a, b, n1=n1)
        except (BalanceError, KeyError) as exc:
            fail(str(exc))
    if csv:
        n.to_csv(csv, index=False)
    table = Table(title=f"Night flow {_period_title(t0, days)} [L/s]")
    for col in ("DMA", "nights", "MNF mean", "night use", "NNF first 7", "NNF last 7",
                "NNF max", "leakage m³/d (last 7)", "logger"):
        table.add_column(col, justify="left" if col == "DMA" else "right")
    for dma, g in n.groupby("dma"):
        leakage = ("n/a !" if g["flags"].iloc[0] else f"{g.leakage_m3_day.tail(7).median():.0f}")
        table.add_row(dma, str(len(g)), f"{g.mnf_l_s.mean():.1f}", f"{g.night_use_l_s.mean():.1f}",
                      _nnf_cell(g.nnf_l_s.head(7)), _nnf_cell(g.nnf_l_s.tail(7)),
                      f"{g.nnf_l_s.max():.2f}", leakage,
                      g.pressure_logger.iloc[0] or "none (NDF 24 h)")
    console.print(table)
    for finding in n.attrs.get("findings", []):
        console.print(str(finding))
    console.print("NNF = MNF − legitimate night use (customers' reads); medians of nights. "
                  "MNF uses the SCADA at its own step: hourly instantaneous values miss pumps "
                  "switching within the hour (15- or 5-min exports do not).")
