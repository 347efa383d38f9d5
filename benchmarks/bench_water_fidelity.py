"""The twin's water model against a plain EPANET run of the same file, network by network.

Anchor: the EPANET 2.2 toolkit (as shipped in the WNTR wheel) opening the unmodified
``.inp`` and solving its hydraulics for 24 h with every other setting the file's own
(``twin.water.hydraulics.run_inp_file``; WNTR never reads the file on this path). Twin:
``read_inp(path)`` (EPANET checks the file, WNTR's reader builds the model) then
``simulate(wn, 24 h, step)``, which writes the model back through WNTR and runs it through
the toolkit. Measured in the same run, per network: the read time, the anchor's and the
twin's 24 h run times (wall; the machine is shared, so CPU seconds of this process are
shown too; a tank level is "nan" where a network has no tank) and the worst differences over all nodes, links and reporting times: pressure
[m], flow [L/s], tank level [m], and the largest of them relative to the variable's
largest magnitude. Two twin runs: at the file's own reporting step (every period
compared) and hourly, as the analyses call it (compared at the hours).

    python benchmarks/bench_water_fidelity.py [--folder ../shared/data/water] [--library]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np

from twin.water.hydraulics import run_inp_file, simulate, tank_level_m
from twin.water.network import read_inp, shipped_network_path

DURATION_S = 86400
LIBRARY = ("Net1", "Net2", "Net3", "Net6", "ky4", "ky10")


def timed(fn, *args):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args)
    return out, time.perf_counter() - t0, time.process_time() - c0


def worst(ds, ref, wn) -> dict[str, float]:
    """Worst |twin − anchor| over the twin's times: pressure [m], flow [L/s], tank level
    [m], and the largest relative to each variable's largest magnitude [-]."""
    ref = ref.sel(time=ds.time.values)
    out, rel = {}, 0.0
    for var, key, k in (("pressure_m", "pressure_m", 1.0), ("flow_m3s", "flow_l_s", 1000.0),
                        ("head_m", None, 1.0), ("demand_m3s", None, 1.0)):
        sel = {d: ref[d] for d in ref[var].dims if d != "time"}
        d = float(np.abs(ds[var].sel(sel).values - ref[var].values).max())
        rel = max(rel, d / max(float(np.abs(ref[var]).max()), 1e-12))
        if key:
            out[key] = d * k
    levels = tank_level_m(ds, wn) - tank_level_m(ref, wn)
    out["tank_level_m"] = float(np.abs(levels).max()) if levels.size else float("nan")
    out["relative"] = rel
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--folder", default=os.environ.get("TWIN_PUBLIC_WATER",
                                                       "/work/shared/data/water"))
    ap.add_argument("--library", action="store_true", help="also WNTR's own networks")
    args = ap.parse_args()
    paths = sorted(p for p in Path(args.folder).iterdir() if p.suffix.lower() == ".inp")
    if args.library:
        paths += [shipped_network_path(n) for n in LIBRARY]
    warnings.simplefilter("ignore")
    run_inp_file(shipped_network_path("Net1"), 3600)  # loads the EPANET library once
    head = (f"{'network':<20}{'junct.':>7}{'read s':>8}{'EPANET s':>10}{'(cpu)':>7}"
            f"{'twin s':>8}{'(cpu)':>7}  {'step':>5}{'Δp max m':>10}{'Δq max L/s':>12}{'Δlevel m':>10}"
            f"{'rel.':>9}")
    print(f"24 h runs; anchor: EPANET 2.2 toolkit on the unmodified file\n{head}")
    overall = {"pressure_m": 0.0, "flow_l_s": 0.0, "tank_level_m": 0.0, "relative": 0.0}
    for path in paths:
        wn, t_read, _ = timed(read_inp, path)
        ref, t_ref, c_ref = timed(run_inp_file, path, DURATION_S)
        own = int(ref.time[1] - ref.time[0])
        for step in dict.fromkeys((own, 3600)):
            ds, t_twin, c_twin = timed(simulate, wn, DURATION_S, step)
            w = worst(ds, ref, wn)
            for k in overall:
                if np.isfinite(w[k]):
                    overall[k] = max(overall[k], w[k])
            first = step == own
            print(f"{path.name if first else '':<20}{wn.num_junctions if first else '':>7}"
                  f"{f'{t_read:.2f}' if first else '':>8}"
                  f"{f'{t_ref:.2f}' if first else '':>10}{f'{c_ref:.2f}' if first else '':>7}"
                  f"{t_twin:>8.2f}{c_twin:>7.2f}  "
                  f"{step // 60:>4}m{w['pressure_m']:>10.2g}{w['flow_l_s']:>12.2g}"
                  f"{w['tank_level_m']:>10.2g}{w['relative']:>9.1g}")
    print(f"worst over all networks: pressure {overall['pressure_m']:.2g} m, flow "
          f"{overall['flow_l_s']:.2g} L/s, tank level {overall['tank_level_m']:.2g} m, "
          f"relative {overall['relative']:.1g}")


if __name__ == "__main__":
    main()
