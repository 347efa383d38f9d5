"""Time the twin's QSTS engine for a full year against its anchors, and check it against runpp.

Grid: SimBench ``1-MV-urban--0-sw`` with its taps honoured (``twin.electric.network.simbench_grid``)
and SimBench's own year of 15-min profiles (35,136 steps). One run prints:

- the twin's full-year QSTS wall time (warm: numba kernels compiled by a short call first),
- pandapower ``run_timeseries`` on the first N steps (DFData + ConstControl), scaled to the year,
- lightsim2grid ``TimeSeriesCPP`` on the same grid and profiles (voltages and flows),
- the speed-ups, and the largest |Δvm| / |Δloading| against ``pp.runpp`` on 50 sampled steps.

Usage::

    .venv/bin/python benchmarks/bench_qsts.py [--steps 300] [--samples 50]
"""

from __future__ import annotations

import argparse
import copy
import time
import warnings

import numpy as np
import pandapower as pp
import pandas as pd

from twin.electric import qsts
from twin.electric.network import simbench_grid

CODE = "1-MV-urban--0-sw"
YEAR_STEPS = 35_136


def profiles_of(net) -> dict:
    import simbench

    absolute = simbench.get_absolute_values(net, profiles_instead_of_study_cases=True)
    return {"load_p_mw": absolute[("load", "p_mw")], "load_q_mvar": absolute[("load", "q_mvar")],
            "sgen_p_mw": absolute[("sgen", "p_mw")]}


def time_twin(net, profiles) -> tuple[float, object]:
    qsts.run_qsts(net, profiles, times=profiles["load_p_mw"].index[:8])  # compile kernels
    t0 = time.perf_counter()
    ds = qsts.run_qsts(net, profiles)
    return time.perf_counter() - t0, ds


def time_pandapower(net, profiles, steps: int) -> float:
    from pandapower.control import ConstControl
    from pandapower.timeseries import DFData, OutputWriter, run_timeseries

    net = copy.deepcopy(net)
    net.controller = net.controller.iloc[0:0]
    for name, (table, column, _) in qsts.PROFILE_COLUMNS.items():
        df = profiles[name].iloc[:steps].reset_index(drop=True)
        ConstControl(net, element=table, variable=column, element_index=df.columns,
                     data_source=DFData(df), profile_name=df.columns)
    OutputWriter(net, time_steps=range(steps), output_path=None)
    pp.runpp(net, numba=True)  # first call compiles numba; not timed
    t0 = time.perf_counter()
    run_timeseries(net, time_steps=range(steps), verbose=False, numba=True,
                   calculate_voltage_angles=True)
    return (time.perf_counter() - t0) / steps * YEAR_STEPS


def lightsim_net(net):
    """The net as lightsim2grid's converter can take it: open line switches as out-of-service
    lines, closed bus-bus switches fused, bus index 0..n-1."""
    net = copy.deepcopy(net)
    sw = net.switch
    open_lines = sw[(sw.et == "l") & ~sw.closed].element.unique()
    net.line.loc[open_lines, "in_service"] = False
    for _, s in sw[(sw.et == "b") & sw.closed].iterrows():
        if s.bus in net.bus.index and s.element in net.bus.index and s.bus != s.element:
            pp.toolbox.fuse_buses(net, s.bus, s.element)
    net.switch = net.switch.iloc[0:0]
    for table in ("load", "sgen", "gen", "ext_grid", "storage"):  # SimBench leaves None here
        for col in ("min_p_mw", "max_p_mw", "min_q_mvar", "max_q_mvar"):
            if col in net[table]:
                net[table][col] = pd.to_numeric(net[table][col], errors="coerce").astype(float)
    pp.toolbox.create_continuous_bus_index(net)
    return net


def time_lightsim(net, profiles) -> tuple[float | None, str]:
    try:
        from lightsim2grid.gridmodel import init_from_pandapower
        from lightsim2grid.timeSerie import TimeSeriesCPP
    except ImportError as exc:
        return None, f"lightsim2grid not importable: {exc}"
    try:
        lnet = lightsim_net(net)
        pp.runpp(lnet, numba=True, calculate_voltage_angles=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = init_from_pandapower(lnet)
        n = YEAR_STEPS
        load_p = np.tile(lnet.load.p_mw.to_numpy(), (n, 1))
        load_q = np.tile(lnet.load.q_mvar.to_numpy(), (n, 1))
        sgen_p = np.tile(lnet.sgen.p_mw.to_numpy(), (n, 1))
        load_p[:, lnet.load.index.get_indexer(profiles["load_p_mw"].columns)] = \
            profiles["load_p_mw"].to_numpy()
        load_q[:, lnet.load.index.get_indexer(profiles["load_q_mvar"].columns)] = \
            profiles["load_q_mvar"].to_numpy()
        sgen_p[:, lnet.sgen.index.get_indexer(profiles["sgen_p_mw"].columns)] = \
            profiles["sgen_p_mw"].to_numpy()
        gen_p = np.zeros((n, len(model.get_generators())))  # ext_grids are generators there
        for arr, m in ((load_p, model.get_loads()), (sgen_p, model.get_static_generators())):
            if arr.shape[1] != len(m):
                return None, f"element count differs from lightsim2grid's ({arr.shape[1]} != {len(m)})"
        v_init = np.ones(len(lnet.bus), dtype=complex) * lnet.ext_grid.vm_pu.iloc[0]
        computer = TimeSeriesCPP(model)
        t0 = time.perf_counter()
        status = computer.compute_Vs(gen_p, sgen_p, load_p, load_q, v_init, 10, 1e-8)
        computer.compute_flows()
        computer.compute_power_flows()
        elapsed = time.perf_counter() - t0
        if status != 1:
            single = model.ac_pf(v_init, 10, 1e-8)
            return None, (
                f"ran {elapsed:.2f} s but diverged after {computer.nb_solved()} steps; its own "
                f"GridModel.ac_pf {'also fails' if len(single) == 0 else 'converges'} on the "
                "converted grid, so lightsim2grid 0.13.1's pandapower converter does not "
                "reproduce this grid"
            )
        # check against runpp on lightsim's own copy of the grid (step 0)
        vs = computer.get_voltages()
        pp_net = copy.deepcopy(lnet)
        pp_net.load.p_mw, pp_net.load.q_mvar, pp_net.sgen.p_mw = load_p[0], load_q[0], sgen_p[0]
        pp.runpp(pp_net, numba=True, calculate_voltage_angles=True, tolerance_mva=1e-10)
        dvm = np.nanmax(np.abs(np.abs(vs[0, : len(pp_net.bus)]) - pp_net.res_bus.vm_pu.to_numpy()))
        return elapsed, f"ok; |Δvm| vs runpp at step 0 = {dvm:.1e} p.u."
    except Exception as exc:  # report why the anchor could not run
        return None, f"{type(exc).__name__}: {exc}"


def agreement(net, profiles, ds, samples: int, seed: int = 0) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    index = profiles["load_p_mw"].index
    picks = np.sort(rng.choice(len(index), samples, replace=False))
    dvm = dload = dp = 0.0
    for k in picks:
        work = copy.deepcopy(net)
        for name, (table, column, _) in qsts.PROFILE_COLUMNS.items():
            row = profiles[name].iloc[k]
            work[table].loc[row.index, column] = row.to_numpy()
        pp.runpp(work, numba=True, calculate_voltage_angles=True, tolerance_mva=1e-10)
        step = ds.isel(time=k)
        dvm = max(dvm, np.nanmax(np.abs(step.vm_pu.values - work.res_bus.vm_pu.values)))
        dload = max(
            dload,
            np.nanmax(np.abs(step.line_loading_percent.values
                             - work.res_line.loading_percent.values)),
            np.nanmax(np.abs(step.trafo_loading_percent.values
                             - work.res_trafo.loading_percent.values)),
        )
        dp = max(dp, np.nanmax(np.abs(step.p_mw.values - work.res_bus.p_mw.values)))
    return dvm, dload, dp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="pandapower steps to time")
    parser.add_argument("--samples", type=int, default=50, help="steps checked against runpp")
    args = parser.parse_args()

    net = simbench_grid(CODE)
    profiles = profiles_of(net)
    n_steps = len(profiles["load_p_mw"])
    print(f"grid {CODE}: {len(net.bus)} buses, {len(net.line)} lines, {len(net.trafo)} trafos, "
          f"{len(net.load)} loads, {len(net.sgen)} sgens; {n_steps} steps; taps "
          f"{net.trafo.tap_changer_type.tolist()} at {net.trafo.tap_pos.tolist()}")

    t_twin, ds = time_twin(net, profiles)
    t_pp = time_pandapower(net, profiles, args.steps)
    t_ls, ls_note = time_lightsim(net, profiles)
    dvm, dload, dp = agreement(net, profiles, ds, args.samples)

    rows = [
        ("twin qsts (Z-bus + NR fallback)", t_twin, f"{int(ds.converged.sum())}/{n_steps} "
         "converged"),
        (f"pandapower run_timeseries ({args.steps} steps, scaled)", t_pp, ""),
        ("lightsim2grid TimeSeriesCPP (V + flows)", t_ls, ls_note),
    ]
    print()
    print(f"{'engine':<52}{'full year [s]':>14}{'twin speed-up':>15}  note")
    print("-" * 110)
    for name, t, note in rows:
        ts = f"{t:14.2f}" if t is not None else f"{'n/a':>14}"
        ratio = f"{t / t_twin:14.1f}x" if t is not None else f"{'n/a':>15}"
        print(f"{name:<52}{ts}{ratio}  {note}")
    print()
    print(f"agreement with pp.runpp on {args.samples} sampled steps (taps honoured):")
    print(f"  max |Δvm|      = {dvm:.2e} p.u.  (floor 1e-6)")
    print(f"  max |Δloading| = {dload:.2e} %     (floor 1e-3; lines and trafos)")
    print(f"  max |Δp_bus|   = {dp:.2e} MW")
    print(f"pandapower {pp.__version__}, numpy {np.__version__}, pandas {pd.__version__}")


if __name__ == "__main__":
    main()
