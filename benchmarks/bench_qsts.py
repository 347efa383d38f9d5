"""Time the twin's QSTS engine for a full year against its anchors, and check it against runpp.

Grid: SimBench ``1-MV-urban--0-sw`` with its taps honoured (``twin.electric.network.simbench_grid``)
and SimBench's own year of 15-min profiles (35,136 steps). One run prints:

- the twin's full-year QSTS wall time (warm: numba kernels compiled by a short call first),
  with the taps fixed and with OLTC control,
- pandapower ``run_timeseries`` on the first N steps (DFData + ConstControl), scaled to the year,
- lightsim2grid ``TimeSeriesCPP`` on the same grid and profiles (voltages and flows),
- power-grid-model's batch power flow (Newton-Raphson, one thread) on the same grid,
- the speed-ups, and the largest |Δvm| / |Δloading| against ``pp.runpp`` on 50 sampled steps.

Usage::

    .venv/bin/python benchmarks/bench_qsts.py [--steps 300] [--samples 50] [--tap-band 1.005 1.025]
"""

from __future__ import annotations

import argparse
import copy
import os
import time
import warnings

import numba
import numpy as np
import pandapower as pp
import pandas as pd

from twin.electric import qsts
from twin.electric.network import simbench_grid

CODE = "1-MV-urban--0-sw"
YEAR_STEPS = 35_136
#: Steps on which each anchor is checked against runpp.
ANCHOR_SAMPLES = 10


def profiles_of(net) -> dict:
    import simbench

    absolute = simbench.get_absolute_values(net, profiles_instead_of_study_cases=True)
    return {"load_p_mw": absolute[("load", "p_mw")], "load_q_mvar": absolute[("load", "q_mvar")],
            "sgen_p_mw": absolute[("sgen", "p_mw")]}


def time_twin(net, profiles, **kwargs) -> tuple[float, object]:
    # warm-up over more than one block, so the parallel kernels are loaded (or compiled) too
    warm = profiles["load_p_mw"].index[:2 * qsts.FIXED_POINT_BLOCK + 8]
    qsts.run_qsts(net, profiles, times=warm, **kwargs)
    t0 = time.perf_counter()
    ds = qsts.run_qsts(net, profiles, **kwargs)
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
        from lightsim2grid.network import init_from_pandapower
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
        # start from runpp's solution: a flat start misses the trafos' 150 degree phase shift
        # and lightsim2grid's Newton then diverges on the very first step
        v_init = lnet.res_bus.vm_pu.to_numpy() * np.exp(1j * np.deg2rad(
            lnet.res_bus.va_degree.to_numpy()))
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
                "converted grid"
            )
        vs = np.abs(computer.get_voltages()[:, : len(lnet.bus)])
        dvm = max(np.nanmax(np.abs(vs[k] - vm)) for k, vm in runpp_anchor(lnet, profiles))
        return elapsed, f"ok; max |Δvm| vs runpp on {ANCHOR_SAMPLES} steps = {dvm:.1e} p.u."
    except Exception as exc:  # report why the anchor could not run
        return None, f"{type(exc).__name__}: {exc}"


def runpp_anchor(lnet, profiles, samples: int | None = None, seed: int = 1):
    """Yield ``(step, runpp vm_pu per bus of lnet)`` for sampled steps of the profiles."""
    samples = samples or ANCHOR_SAMPLES
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(len(profiles["load_p_mw"]), samples, replace=False))
    for k in picks:
        work = copy.deepcopy(lnet)
        for name, (table, column, _) in qsts.PROFILE_COLUMNS.items():
            row = profiles[name].iloc[k]
            work[table].loc[row.index, column] = row.to_numpy()
        pp.runpp(work, numba=True, calculate_voltage_angles=True, tolerance_mva=1e-10)
        yield k, work.res_bus.vm_pu.to_numpy()


def time_pgm(net, profiles) -> tuple[float | None, str]:
    """power-grid-model batch power flow (Newton-Raphson, 35,136 scenarios) on the same grid.

    The grid goes through ``power_grid_model_io``'s pandapower converter. Its ext_grid becomes
    a source with pgm's default short-circuit power of 10 GVA; that is set to 1e20 VA so the
    source is as stiff as pandapower's slack (else voltages differ by 3e-3 p.u.).
    """
    try:
        from power_grid_model import CalculationMethod, PowerGridModel, initialize_array
        from power_grid_model_io.converters import PandaPowerConverter
    except ImportError as exc:
        return None, f"power-grid-model not importable: {exc}"
    try:
        lnet = lightsim_net(net)
        lnet.trafo["vector_group"] = lnet.trafo.vector_group.fillna(  # SimBench leaves None
            "Dyn" + (lnet.trafo.shift_degree // 30).astype(int).astype(str))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inp, extra = PandaPowerConverter().load_input_data(lnet)
        inp["source"]["sk"] = 1e20
        n = YEAR_STEPS
        refs = [extra[i]["id_reference"] for i in inp["sym_load"]["id"]]
        power = np.array([r.get("name") == "const_power" for r in refs])
        load_ids = inp["sym_load"]["id"][power]
        load_idx = np.array([r["index"] for r, keep in zip(refs, power, strict=True) if keep])
        gen_idx = np.array([extra[i]["id_reference"]["index"] for i in inp["sym_gen"]["id"]])
        load_upd = initialize_array("update", "sym_load", (n, len(load_ids)))
        load_upd["id"] = load_ids
        col = profiles["load_p_mw"].columns.get_indexer(load_idx)
        load_upd["p_specified"] = profiles["load_p_mw"].to_numpy()[:, col] * 1e6
        load_upd["q_specified"] = profiles["load_q_mvar"].to_numpy()[:, col] * 1e6
        gen_upd = initialize_array("update", "sym_gen", (n, len(gen_idx)))
        gen_upd["id"] = inp["sym_gen"]["id"]
        gen_upd["p_specified"] = profiles["sgen_p_mw"].to_numpy()[
            :, profiles["sgen_p_mw"].columns.get_indexer(gen_idx)] * 1e6
        gen_upd["q_specified"] = 0.0
        model = PowerGridModel(inp)
        t0 = time.perf_counter()
        out = model.calculate_power_flow(
            update_data={"sym_load": load_upd, "sym_gen": gen_upd}, symmetric=True,
            error_tolerance=1e-8, max_iterations=20,
            calculation_method=CalculationMethod.newton_raphson,
            output_component_types=["node", "line", "transformer"], threading=1)
        elapsed = time.perf_counter() - t0
        node_bus = np.array([extra[i]["id_reference"]["index"] for i in inp["node"]["id"]])
        pos = lnet.bus.index.get_indexer(node_bus)
        dvm = 0.0
        for k, vm in runpp_anchor(lnet, profiles):
            dvm = max(dvm, np.nanmax(np.abs(out["node"]["u_pu"][k] - vm[pos])))
        return elapsed, (f"ok (1 thread); max |Δvm| vs runpp on {ANCHOR_SAMPLES} steps = "
                         f"{dvm:.1e} p.u. (pgm's own trafo model)")
    except Exception as exc:  # report why the anchor could not run
        return None, f"{type(exc).__name__}: {exc}"


def agreement(net, profiles, ds, samples: int, seed: int = 0) -> tuple[float, float, float]:
    rng = np.random.default_rng(seed)
    index = profiles["load_p_mw"].index
    picks = np.sort(rng.choice(len(index), samples, replace=False))
    dvm = dload = dp = 0.0
    for k in picks:
        work = copy.deepcopy(net)
        work.trafo["tap_pos"] = ds.trafo_tap_pos.values[k]  # the taps the twin chose
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
    parser.add_argument("--tap-band", type=float, nargs=2, default=(1.005, 1.025),
                        help="OLTC band [p.u.] at the trafos' LV buses for the tap-control run")
    args = parser.parse_args()

    net = simbench_grid(CODE)
    profiles = profiles_of(net)
    n_steps = len(profiles["load_p_mw"])
    print(f"grid {CODE}: {len(net.bus)} buses, {len(net.line)} lines, {len(net.trafo)} trafos, "
          f"{len(net.load)} loads, {len(net.sgen)} sgens; {n_steps} steps; taps "
          f"{net.trafo.tap_changer_type.tolist()} at {net.trafo.tap_pos.tolist()}")

    t_twin, ds = time_twin(net, profiles)
    t_tap, ds_tap = time_twin(net, profiles, tap_control=True, tap_band_pu=tuple(args.tap_band))
    threads = numba.get_num_threads()
    numba.set_num_threads(1)  # the anchors below run on one thread
    t_one, _ = time_twin(net, profiles)
    numba.set_num_threads(threads)
    t_pp = time_pandapower(net, profiles, args.steps)
    t_ls, ls_note = time_lightsim(net, profiles)
    t_pgm, pgm_note = time_pgm(net, profiles)
    dvm, dload, dp = agreement(net, profiles, ds, args.samples)
    tdvm, tdload, tdp = agreement(net, profiles, ds_tap, args.samples, seed=1)
    moves = int((np.diff(ds_tap.trafo_tap_pos.values, axis=0) != 0).sum())

    rows = [
        ("twin qsts (Z-bus + NR fallback)", t_twin, f"{int(ds.converged.sum())}/{n_steps} "
         f"converged; {threads} numba threads"),
        ("twin qsts, one thread", t_one, ""),
        (f"twin qsts with OLTC control {tuple(args.tap_band)}", t_tap,
         f"{moves} tap moves; {int(ds_tap.tap_settled.sum())}/{n_steps} settled"),
        (f"pandapower run_timeseries ({args.steps} steps, scaled)", t_pp, ""),
        ("lightsim2grid TimeSeriesCPP (V + flows)", t_ls, ls_note),
        ("power-grid-model batch NR (V + flows)", t_pgm, pgm_note),
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
    print(f"with OLTC control (runpp at the taps the twin chose, {args.samples} steps):")
    print(f"  max |Δvm| = {tdvm:.2e} p.u., max |Δloading| = {tdload:.2e} %, "
          f"max |Δp_bus| = {tdp:.2e} MW")
    print(f"machine load while running: {os.getloadavg()[0]:.1f} (1-min load average, "
          f"{os.cpu_count()} cores)")
    print(f"pandapower {pp.__version__}, numpy {np.__version__}, pandas {pd.__version__}")


if __name__ == "__main__":
    main()
