"""The twin's QSTS for a full year on the city-scale SimBench grid: wall time and peak memory.

Grid: SimBench ``1-MVLV-urban-all-0-sw`` (10,458 buses, 11,542 loads) with taps honoured, and
its own year of 15-min profiles (35,136 steps), built chunk by chunk from the profile types
(:class:`twin.electric.profiles.SimbenchProfileSource`; the 6.7 GB absolute table is never
made). Results (``vm_pu``, line and trafo loading, float32) stream to a NetCDF file.

The year runs in a child process, so its peak resident memory (``ru_maxrss``) is the run's own.
In the same run, for comparison per step: lightsim2grid ``TimeSeriesCPP`` on a few hundred
steps and pandapower ``runpp`` on a few steps (both scaled to the year), and the twin's
voltages against ``runpp`` on sampled steps.

Then N-1 on the same grid: every in-service line and transformer (about 10,000 outages) at the
two study hours (peak load, peak PV export), by :func:`twin.electric.contingency.n_minus_1`,
beside lightsim2grid ``ContingencyAnalysisCPP`` (all N-1 at the same hours; it solves only the
outages that leave the grid connected) and pandapower ``runpp`` per outage (sampled, scaled),
and the twin's figures for sampled outages against ``runpp``'s.

Usage::

    .venv/bin/python benchmarks/bench_qsts_city.py [--steps 35136] [--anchor-steps 480]
        [--n1-samples 8] [--skip-n1]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandapower as pp
import pandas as pd

CODE = "1-MVLV-urban-all-0-sw"
YEAR_STEPS = 35_136
VARIABLES = ("vm_pu", "line_loading_percent", "trafo_loading_percent")


def child(steps: int, out: Path) -> None:
    """Load the grid, run the year into ``out``; print one JSON line with times and memory."""
    from twin.electric import qsts
    from twin.electric.network import simbench_grid
    from twin.electric.profiles import SimbenchProfileSource

    t0 = time.perf_counter()
    net = simbench_grid(CODE)
    source = SimbenchProfileSource(net)
    t_load = time.perf_counter() - t0
    t1 = time.perf_counter()
    ds = qsts.run_qsts(net, source, times=source.index[:steps], out=out, variables=VARIABLES,
                       dtype=np.float32)
    t_run = time.perf_counter() - t1
    converged = int(ds.converged.sum())
    ds.close()
    print(json.dumps({
        "load_s": t_load, "run_s": t_run, "steps": steps, "converged": converged,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cpu_s": resource.getrusage(resource.RUSAGE_SELF).ru_utime
        + resource.getrusage(resource.RUSAGE_SELF).ru_stime,
        "buses": len(net.bus), "loads": len(net.load),
    }))


def lightsim_per_step(net, source, steps: int) -> tuple[float | None, str]:
    """lightsim2grid TimeSeriesCPP seconds per step on the first ``steps`` steps."""
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from bench_qsts import lightsim_net
        from lightsim2grid.network import init_from_pandapower
        from lightsim2grid.timeSerie import TimeSeriesCPP
    except ImportError as exc:
        return None, f"lightsim2grid not importable: {exc}"
    try:
        t0 = time.perf_counter()
        lnet = lightsim_net(net)
        pp.runpp(lnet, numba=True, calculate_voltage_angles=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = init_from_pandapower(lnet)
        prep = time.perf_counter() - t0
        pos = np.arange(steps)
        load_p = np.ascontiguousarray(source.chunk("load_p_mw", pos))
        load_q = np.ascontiguousarray(source.chunk("load_q_mvar", pos))
        sgen_p = np.ascontiguousarray(source.chunk("sgen_p_mw", pos))
        gen_p = np.zeros((steps, len(model.get_generators())))
        v_init = lnet.res_bus.vm_pu.to_numpy() * np.exp(
            1j * np.deg2rad(lnet.res_bus.va_degree.to_numpy()))
        computer = TimeSeriesCPP(model)
        t0 = time.perf_counter()
        status = computer.compute_Vs(gen_p, sgen_p, load_p, load_q, v_init, 10, 1e-8)
        computer.compute_flows()
        elapsed = time.perf_counter() - t0
        if status != 1:
            return None, f"diverged after {computer.nb_solved()} of {steps} steps"
        return elapsed / steps, f"ok ({steps} steps; grid conversion {prep:.0f} s not counted)"
    except Exception as exc:  # report why the anchor could not run
        return None, f"{type(exc).__name__}: {exc}"


def set_hour(net, source, k: int) -> None:
    """Put the profiles' values of step ``k`` into the net's loads and sgens."""
    for name, table, column in (("load_p_mw", "load", "p_mw"), ("load_q_mvar", "load", "q_mvar"),
                                ("sgen_p_mw", "sgen", "p_mw")):
        net[table].loc[source.elements(name), column] = source.chunk(name, [k])[0]


def runpp_per_step(net, source, picks) -> tuple[float, list[np.ndarray]]:
    """pandapower runpp seconds per step (warm) and its vm_pu at the picked steps."""
    work = copy.deepcopy(net)
    pp.runpp(work, numba=True, calculate_voltage_angles=True)  # compile, not timed
    vms, elapsed = [], 0.0
    for k in picks:
        set_hour(work, source, k)
        t0 = time.perf_counter()
        pp.runpp(work, numba=True, calculate_voltage_angles=True, tolerance_mva=1e-10)
        elapsed += time.perf_counter() - t0
        vms.append(work.res_bus.vm_pu.to_numpy().copy())
    return elapsed / len(picks), vms


def n1_twin(net, source) -> tuple[pd.Index, float, float, object]:
    """The twin's N-1 of every line and transformer: (study hours, seconds to find them,
    seconds for the outages, result table)."""
    from twin.electric.contingency import n_minus_1, outage_list, study_hours

    t0 = time.perf_counter()
    hours = study_hours(source)
    t_hours = time.perf_counter() - t0
    outages = outage_list(net)
    n_minus_1(net, source, times=hours, outages=outages.iloc[:8])  # compiled code loaded
    t0 = time.perf_counter()
    res = n_minus_1(net, source, times=hours, outages=outages)
    return hours, t_hours, time.perf_counter() - t0, res


def n1_runpp(net, source, hours, res, samples: int) -> tuple[float, dict]:
    """pandapower runpp per outage and hour (seconds, warm) on sampled outages, and the largest
    differences of the twin's figures from runpp's on them."""
    from twin.electric.hosting_capacity import DISTRIBUTION_MAX_KV

    rng = np.random.default_rng(1)
    picks = res.iloc[np.sort(rng.choice(len(res), samples, replace=False))]
    worst = {"vm_min_pu": 0.0, "vm_max_pu": 0.0, "max_line_loading_percent": 0.0,
             "max_trafo_loading_percent": 0.0, "buses_unsupplied": 0.0}
    work = copy.deepcopy(net)
    pp.runpp(work, numba=True, calculate_voltage_angles=True)  # compile, not timed
    dist = work.bus.index[work.bus.vn_kv <= DISTRIBUTION_MAX_KV]
    elapsed, runs = 0.0, 0
    for row in picks.itertuples():
        vm, lines, trafos = [], [], []
        work[row.element_type].at[row.element, "in_service"] = False
        for k in source.index.get_indexer(hours):
            set_hour(work, source, k)
            t0 = time.perf_counter()
            pp.runpp(work, numba=True, calculate_voltage_angles=True, tolerance_mva=1e-10)
            elapsed += time.perf_counter() - t0
            runs += 1
            vm.append(work.res_bus.vm_pu.reindex(dist).to_numpy())
            lines.append(work.res_line.loading_percent.to_numpy())
            trafos.append(work.res_trafo.loading_percent.to_numpy())
        work[row.element_type].at[row.element, "in_service"] = True
        ref = {"vm_min_pu": np.nanmin(vm), "vm_max_pu": np.nanmax(vm),
               "max_line_loading_percent": np.nanmax(lines),
               "max_trafo_loading_percent": np.nanmax(trafos),
               "buses_unsupplied": int(np.isnan(work.res_bus.vm_pu).sum())}
        for key, value in ref.items():
            worst[key] = max(worst[key], abs(getattr(row, key) - value))
    return elapsed / runs, worst


def n1_lightsim(net, source, hours) -> tuple[float | None, str]:
    """lightsim2grid ContingencyAnalysisCPP, all N-1 at each study hour: total seconds."""
    sys.path.insert(0, str(Path(__file__).parent))
    try:
        from bench_qsts import lightsim_net
        from lightsim2grid.contingencyAnalysis import ContingencyAnalysisCPP
        from lightsim2grid.network import init_from_pandapower
    except ImportError as exc:
        return None, f"lightsim2grid not importable: {exc}"
    total, solved = 0.0, []
    try:
        for k in source.index.get_indexer(hours):
            work = copy.deepcopy(net)
            set_hour(work, source, k)
            lnet = lightsim_net(work)
            pp.runpp(lnet, numba=True, calculate_voltage_angles=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = init_from_pandapower(lnet)
            v_init = lnet.res_bus.vm_pu.to_numpy() * np.exp(
                1j * np.deg2rad(lnet.res_bus.va_degree.to_numpy()))
            computer = ContingencyAnalysisCPP(model)
            computer.add_all_n1()
            t0 = time.perf_counter()
            computer.compute(v_init, 10, 1e-8)
            computer.compute_flows()
            total += time.perf_counter() - t0
            solved.append(computer.nb_solved())
        return total, (f"{len(model.get_lines()) + len(model.get_trafos())} outages a hour; "
                       f"power flows solved {solved} (the others cut the grid)")
    except Exception as exc:  # report why the anchor could not run
        return None, f"{type(exc).__name__}: {exc}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=YEAR_STEPS, help="steps the twin solves")
    parser.add_argument("--anchor-steps", type=int, default=480,
                        help="steps lightsim2grid solves (scaled to the year)")
    parser.add_argument("--samples", type=int, default=5, help="steps checked against runpp")
    parser.add_argument("--n1-samples", type=int, default=8,
                        help="outages checked against runpp")
    parser.add_argument("--skip-n1", action="store_true", help="no N-1 part")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.steps, args.child)
        return

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "qsts_city.nc"
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--steps", str(args.steps),
                               "--child", str(out)], capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stderr[-3000:])
            raise SystemExit("the twin's run failed")
        twin = json.loads(proc.stdout.strip().splitlines()[-1])
        size_gib = out.stat().st_size / 2**30

        import xarray as xr

        from twin.electric.network import simbench_grid
        from twin.electric.profiles import SimbenchProfileSource

        net = simbench_grid(CODE)
        source = SimbenchProfileSource(net)
        rng = np.random.default_rng(0)
        picks = np.sort(rng.choice(args.steps, args.samples, replace=False))
        t_pp, vms = runpp_per_step(net, source, picks)
        with xr.open_dataset(out) as ds:
            dvm = max(float(np.nanmax(np.abs(ds.vm_pu.isel(time=int(k)).values - vm)))
                      for k, vm in zip(picks, vms, strict=True))
        t_ls, ls_note = lightsim_per_step(net, source, args.anchor_steps)
    if not args.skip_n1:
        hours, t_hours, t_n1, n1 = n1_twin(net, source)
        t_pp1, n1_diff = n1_runpp(net, source, hours, n1, args.n1_samples)
        t_ls1, ls1_note = n1_lightsim(net, source, hours)

    scale = YEAR_STEPS / args.steps
    run_year = twin["run_s"] * scale
    print(f"grid {CODE}: {twin['buses']} buses, {twin['loads']} loads; {args.steps} steps "
          f"solved; {twin['converged']} converged")
    print()
    print(f"{'engine':<48}{'per step [ms]':>14}{'full year [s]':>15}  note")
    print("-" * 110)
    print(f"{'twin qsts (chunked profiles, NetCDF out)':<48}"
          f"{twin['run_s'] / args.steps * 1e3:14.2f}{run_year:15.1f}  "
          f"+ {twin['load_s']:.0f} s loading the SimBench grid; child wall {wall:.0f} s, "
          f"CPU {twin['cpu_s']:.0f} s; "
          f"peak RSS {twin['peak_rss_mib']:.0f} MiB; results {size_gib:.2f} GiB")
    if t_ls is not None:
        print(f"{'lightsim2grid TimeSeriesCPP (V + flows)':<48}{t_ls * 1e3:14.2f}"
              f"{t_ls * YEAR_STEPS:15.1f}  {ls_note}")
    else:
        print(f"{'lightsim2grid TimeSeriesCPP (V + flows)':<48}{'n/a':>14}{'n/a':>15}  {ls_note}")
    print(f"{'pandapower runpp (per step, warm)':<48}{t_pp * 1e3:14.2f}"
          f"{t_pp * YEAR_STEPS:15.1f}  {len(picks)} steps")
    print()
    print(f"targets: full year <= 180 s -> {run_year:.1f} s solve, "
          f"{run_year + twin['load_s']:.1f} s with loading; peak memory < 4096 MiB -> "
          f"{twin['peak_rss_mib']:.0f} MiB")
    print(f"machine load while running: {os.getloadavg()[0]:.1f} (1-min load average, "
          f"{os.cpu_count()} cores)")
    print(f"agreement with pp.runpp on {len(picks)} sampled steps: max |Δvm| = {dvm:.2e} p.u. "
          "(results stored as float32)")
    if args.skip_n1:
        return
    n_cases = len(n1) * len(hours)
    print()
    print(f"N-1: {len(n1)} outages (every in-service line and transformer) at "
          f"{', '.join(f'{h:%Y-%m-%d %H:%M}' for h in hours)}"
          f" (the hours of peak load and of peak export; found "
          f"in {t_hours:.1f} s)")
    print(f"{'engine':<48}{'all outages [s]':>16}  note")
    print("-" * 110)
    print(f"{'twin n_minus_1 (compensated Z-bus, topology)':<48}{t_n1:16.1f}  "
          f"{int(n1.converged.sum())} of {len(n1)} converged; "
          f"{int((n1.buses_unsupplied > 0).sum())} cut buses off")
    if t_ls1 is not None:
        print(f"{'lightsim2grid ContingencyAnalysisCPP':<48}{t_ls1:16.1f}  {ls1_note}")
    else:
        print(f"{'lightsim2grid ContingencyAnalysisCPP':<48}{'n/a':>16}  {ls1_note}")
    print(f"{'pandapower runpp per outage (warm, scaled)':<48}{t_pp1 * n_cases:16.1f}  "
          f"{t_pp1 * 1e3:.0f} ms per outage and hour, {args.n1_samples} outages timed")
    print(f"target: under 60 s -> {t_n1:.1f} s; agreement with runpp on {args.n1_samples} sampled "
          "outages, max |Δ|: " + ", ".join(f"{k} {v:.1e}" for k, v in n1_diff.items()))


if __name__ == "__main__":
    main()
