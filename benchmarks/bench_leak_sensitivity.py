"""Time the leak-candidate sensitivity for every junction: one process against a Dask cluster.

For every junction of the network a standard emitter is opened at four clock times of the
day and the change of the logger pressures, boundary flows and DMA consumption is recorded
(:func:`twin.water.leak_location.leak_sensitivity`, cache off). One run prints, under the
same machine load:

- one process: junctions per second (the anchor),
- a 2-worker ``LocalCluster`` (from ``twin.parallel.dask_client``): junctions per second, the
  speed-up over one process and the cluster's start-up time (not in the speed-up),
- that both matrices agree.

Also, as a reference for the per-junction cost, WNTR's ``EpanetSimulator`` run the plain way
(one snapshot with the emitter, on a few junctions) scaled to all junctions and snapshots.

Usage::

    .venv/bin/python benchmarks/bench_leak_sensitivity.py [--network ky10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import wntr

from twin.parallel import dask_client
from twin.water import leak_location as loc
from twin.water.network import read_inp, shipped_network_path


def setup(network: str | None):
    """Network, loggers, meters and DMAs: the sample city's, or a WNTR network with 5 loggers."""
    if network is None:
        from twin.city import load_city

        city = load_city()
        loggers = ["115", "15", "203", "225", "237"]
        return city.wn, loggers, city.dma_meters, city.dmas, "sample city (Net3)"
    wn = read_inp(shipped_network_path(network))
    names = wn.junction_name_list
    loggers = [names[i] for i in np.linspace(0, len(names) - 1, 5).astype(int)]
    meters = pd.DataFrame(columns=["meter_id", "link", "from_zone", "to_zone"])
    return wn, loggers, meters, pd.Series(dtype=str), network


def best_of(repeat: int, fn):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def plain_wntr_seconds(wn, junctions, clock_h=loc.SNAPSHOT_CLOCK_H) -> float:
    """Seconds per junction of WNTR's EpanetSimulator, one run per snapshot, the plain way."""
    t = time.perf_counter()
    for j in junctions:
        for hour in clock_h:
            w = copy.deepcopy(wn)
            w.options.time.duration = 0
            w.options.time.start_clocktime = hour * 3600
            w.get_node(j).emitter_coefficient = loc.STANDARD_EMITTER_LPS / 1000.0
            with tempfile.TemporaryDirectory() as tmp:
                wntr.sim.EpanetSimulator(w).run_sim(file_prefix=str(Path(tmp) / "r"))
    return (time.perf_counter() - t) / len(junctions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", default=None, help="WNTR network (default: sample city)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=loc.BATCH_SIZE)
    args = parser.parse_args()
    wn, loggers, meters, dmas, label = setup(args.network)
    junctions = wn.junction_name_list
    n = len(junctions)
    kw = dict(cache_dir=None, batch_size=args.batch_size)

    serial_s, serial = best_of(args.repeat, lambda: loc.leak_sensitivity(
        wn, loggers, meters, dmas, **kw))
    t = time.perf_counter()
    with dask_client(n_workers=args.workers) as client:
        startup_s = time.perf_counter() - t
        # workers up, wntr and the twin imported there, before the clock starts
        client.run(__import__, "twin.water.leak_location")
        loc.leak_sensitivity(wn, loggers, meters, dmas, junctions[:2], client=client,
                             cache_dir=None)
        dask_s, spread = best_of(args.repeat, lambda: loc.leak_sensitivity(
            wn, loggers, meters, dmas, client=client, **kw))
    diff = float(np.abs(spread.sensitivity - serial.sensitivity).max())
    plain_s = plain_wntr_seconds(wn, junctions[:: max(1, n // 5)][:5])

    print(f"network: {label}, {n} junctions, {len(loggers)} loggers, "
          f"{len(loc.SNAPSHOT_CLOCK_H)} snapshots per junction, batches of {args.batch_size}")
    print(f"one process            : {serial_s:7.2f} s  {n / serial_s:8.1f} junctions/s  (anchor)")
    print(f"Dask LocalCluster x{args.workers}    : {dask_s:7.2f} s  {n / dask_s:8.1f} junctions/s  "
          f"speed-up {serial_s / dask_s:.2f}x  (cluster start {startup_s:.1f} s, not counted)")
    print(f"WNTR EpanetSimulator, plain, one run per snapshot: {1 / plain_s:8.1f} junctions/s  "
          f"(twin one process {plain_s * n / serial_s:.0f}x faster)")
    print(f"max |Dask - one process| = {diff:.1e}")


if __name__ == "__main__":
    main()
