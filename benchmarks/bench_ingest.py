"""Ingestion throughput: MDM CSV end to end (parse, normalise, VEE, write) beside its anchor.

The anchor is ``pandas.read_csv`` of the same file alone, measured in the same run. The
issue's floor is 2 million interval reads per second end to end on a 2-core machine.
The file is a realistic head-end export (:func:`twin.ingest.examples.write_wide`): many
meters, missing reads, spikes, meter-days re-sent at the end; every VEE rule is on.
CPU seconds (all threads) are printed too: on a shared machine they show how much of the
wall time was waiting for a core.

    python benchmarks/bench_ingest.py --readings 5000000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from twin.ingest.examples import time_ingest, write_wide

FLOOR_READS_PER_S = 2_000_000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--readings", type=int, default=5_000_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mdm_wide.csv"
        n = write_wide(path, args.readings)
        t0, c0 = time.perf_counter(), time.process_time()
        pd.read_csv(path)
        t_pandas, c_pandas = time.perf_counter() - t0, time.process_time() - c0
        size_mb = path.stat().st_size / 1e6
        r = time_ingest(path)
    print(f"MDM CSV, wide layout: {n:,} interval reads, {size_mb:.0f} MB")
    print(f"{'run':<44}{'seconds':>10}{'cpu s':>8}{'reads/s':>16}")
    print(f"{'pandas.read_csv alone (anchor)':<44}{t_pandas:>10.2f}{c_pandas:>8.2f}"
          f"{n / t_pandas:>16,.0f}")
    print(f"{'twin ingest end to end (read, VEE, write)':<44}{r['seconds']:>10.2f}"
          f"{r['cpu_s']:>8.2f}{n / r['seconds']:>16,.0f}")
    print(f"{'  of which read_mdm_csv alone':<44}{r['read_s']:>10.2f}")
    print(f"{'  of which VEE alone':<44}{r['vee_s']:>10.2f}")
    ok = "meets" if n / r["seconds"] >= FLOOR_READS_PER_S else "BELOW"
    print(f"floor {FLOOR_READS_PER_S:,} reads/s: {ok}; counts balanced: {r['balanced']}; "
          f"ingest / pandas.read_csv time: {r['seconds'] / t_pandas:.1f}")


if __name__ == "__main__":
    main()
