"""EPANET hydraulics on ky10, one week at 15-min steps: the twin beside WNTR's plain run.

Anchor: ``wntr.sim.EpanetSimulator(wn).run_sim()`` the plain way (the model as shipped, with
its own options: a water-age analysis at a 5-min quality step and a full status report),
measured in the same run. Also shown, to say where a plain run's time goes: the same call with
the quality analysis and status report switched off. The twin's figure is
``twin.water.hydraulics.simulate`` (EPANET toolkit, hydraulics only, binary output read with
numpy). The issue's ceiling is 0.5 s for the twin's run.

Agreement: max |Δ| of pressure, head, flow and demand between the twin and the plain run.
Negative pressures: counted at consumers' junctions (base demand > 0) and at the rest, in
demand-driven (DDA) and pressure-driven (PDA, required 20 m) runs.

    python benchmarks/bench_water.py [--network ky10] [--days 7] [--step-min 15] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np
import wntr

from twin.water.hydraulics import results_dataset, simulate
from twin.water.network import read_inp, shipped_network_path

CEILING_S = 0.5


def plain_run(wn, duration_s: int, step_s: int, quality: bool = True):
    """WNTR's ``EpanetSimulator(wn).run_sim()`` done the plain way, in a scratch folder."""
    wn.options.time.duration = duration_s
    wn.options.time.hydraulic_timestep = step_s
    wn.options.time.report_timestep = step_s
    if not quality:
        wn.options.quality.parameter = "NONE"
        wn.options.report.status = "NO"
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            t0 = time.perf_counter()
            res = wntr.sim.EpanetSimulator(wn).run_sim()
            return res, time.perf_counter() - t0
        finally:
            os.chdir(here)


def negative_pressures(ds, wn) -> tuple[int, int, float]:
    """(consumer junctions ever < 0 m, other junctions ever < 0 m, min consumer pressure [m])."""
    consumers = [n for n, j in wn.junctions() if j.base_demand > 0]
    others = [n for n in wn.junction_name_list if n not in set(consumers)]
    p = ds["pressure_m"]
    return (int((p.sel(node=consumers) < 0).any("time").sum()),
            int((p.sel(node=others) < 0).any("time").sum()), float(p.sel(node=consumers).min()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--network", default="ky10")
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--step-min", type=int, default=15)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    path = shipped_network_path(args.network)
    duration, step = args.days * 86400, args.step_min * 60
    wn = read_inp(path)
    o = wn.options
    print(f"{args.network}: {wn.num_junctions} junctions, {wn.num_tanks} tanks, "
          f"{wn.num_pumps} pumps; own options: quality {o.quality.parameter} at "
          f"{o.time.quality_timestep} s, status report {o.report.status}, accuracy "
          f"{o.hydraulic.accuracy}, duration {o.time.duration} s")
    print(f"run: {args.days} days at {args.step_min}-min steps "
          f"({duration // step + 1} reporting periods); best of {args.repeat} for the twin")

    res, t_plain = plain_run(read_inp(path), duration, step)
    _, t_noq = plain_run(read_inp(path), duration, step, quality=False)
    times, cpu, solve = [], [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        ds = simulate(wn, duration, step)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        solve.append((ds.attrs["epanet_solve_s"], ds.attrs["epanet_solve_cpu_s"]))
    best = int(np.argmin(times))
    t_twin = times[best]
    t0 = time.perf_counter()
    ds_pda = simulate(wn, duration, step, pressure_driven=True)
    t_pda = time.perf_counter() - t0

    ref = results_dataset(res)
    delta = {v: float(np.abs(ds[v].sel({d: ref[d] for d in ref[v].dims if d != "time"})
                             - ref[v]).max())
             for v in ("pressure_m", "head_m", "flow_m3s", "demand_m3s")}
    print(f"{'run':<58}{'seconds':>9}")
    print(f"{'WNTR EpanetSimulator.run_sim(), plain (anchor)':<58}{t_plain:>9.2f}")
    print(f"{'  same, quality NONE and status report off':<58}{t_noq:>9.2f}")
    print(f"{'twin simulate (toolkit, hydraulics only), DDA':<58}{t_twin:>9.2f}"
          f"   ceiling {CEILING_S} s: {'met' if t_twin <= CEILING_S else 'NOT met'}")
    print(f"{'  its CPU time (this process; the machine is shared)':<58}{cpu[best]:>9.2f}")
    print(f"{'  of which EPANET ENsolveH alone, wall / CPU':<58}{solve[best][0]:>9.2f}"
          f" / {solve[best][1]:.2f}")
    print(f"{'  the rest (write .inp, open, ENsaveH, read, dataset), wall':<58}"
          f"{t_twin - solve[best][0]:>9.2f}")
    print(f"{'twin simulate, PDA (required 20 m)':<58}{t_pda:>9.2f}")
    print(f"speed-up over the plain run: {t_plain / t_twin:.1f}x")
    print("agreement with the plain run, max |Δ|: " + ", ".join(
        f"{k} {v:.3g}" for k, v in delta.items()))
    for name, d in (("DDA", ds), ("PDA", ds_pda)):
        c, other, pmin = negative_pressures(d, wn)
        print(f"{name}: junctions ever below 0 m: {c} consumers, {other} without demand "
              f"(pump suction/valve nodes); min consumer pressure {pmin:.1f} m; EPANET warning "
              f"flag {d.attrs['epanet_warning']}")


if __name__ == "__main__":
    main()
