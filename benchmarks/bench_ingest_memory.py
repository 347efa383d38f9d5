"""Ingestion memory: ~100 million MDM CSV reads in a child process, peak RSS beside 2 GiB.

Writes monthly wide MDM exports of the same meters (a realistic head-end export each:
missing reads, spikes, re-sent meter-days; :func:`twin.ingest.examples.write_wide`), then
ingests the folder with ``ingest_paths`` in a child process (files streamed in chunks,
VEE with stored history on) and prints the child's peak resident memory
(``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss``) and its reads per second, beside the
issue's ceiling of 2 GiB. Needs about 1 GB of disk per 15 M reads in a temporary folder.

    python benchmarks/bench_ingest_memory.py --readings 100000000
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from twin.ingest.examples import write_wide

CEILING_BYTES = 2 * 1024**3
TZ = "America/New_York"

CHILD = """
import json, sys, time
from twin.ingest.pipeline import ingest_paths
from twin.ingest.store import MeasurementStore
t0 = time.perf_counter()
reports = ingest_paths(MeasurementStore(sys.argv[2]), [sys.argv[1]], timezone=sys.argv[3])
print(json.dumps({"seconds": time.perf_counter() - t0,
                  "rows_read": sum(r.rows_read for r in reports),
                  "rows_read_reads": sum(r.vee.get("readings_in", 0) for r in reports),
                  "written": sum(r.readings_written for r in reports),
                  "balanced": all(r.balanced for r in reports),
                  "errors": [r.error for r in reports if r.error]}))
"""


def write_files(folder: Path, readings: int, files: int) -> int:
    """Write ``files`` monthly exports of the same meters; return the reads written."""
    per_file = readings // files
    total = 0
    base = folder / "month-00.csv"
    for k in range(files):
        start = pd.Timestamp("2015-01-01") + pd.DateOffset(months=k)
        n_days = (start + pd.DateOffset(months=1) - start).days
        path = folder / f"mdm_{start:%Y-%m}.csv"
        total += write_wide(path, per_file, TZ, start=f"{start:%Y-%m-%d}", n_days=n_days,
                            seed=k)
    base.unlink(missing_ok=True)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--readings", type=int, default=100_000_000)
    ap.add_argument("--files", type=int, default=12)
    ap.add_argument("--raw", type=Path, default=None,
                    help="folder for the CSV files, kept and reused if already written")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        raw, store = args.raw or Path(tmp) / "raw", Path(tmp) / "store"
        raw.mkdir(exist_ok=True)
        t0 = time.perf_counter()
        if len(list(raw.glob("mdm_*.csv"))) != args.files:
            write_files(raw, args.readings, args.files)
        t_write = time.perf_counter() - t0
        size = sum(f.stat().st_size for f in raw.iterdir())
        out = subprocess.run([sys.executable, "-c", CHILD, str(raw), str(store), TZ],
                             check=True, capture_output=True, text=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        n = r["rows_read_reads"]
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # KiB on Linux
    print(f"MDM CSV, wide layout: {n:,} interval reads read in {args.files} files, "
          f"{size / 1e9:.1f} GB (written in {t_write:.0f} s)")
    print(f"{'run':<40}{'peak RSS':>14}{'seconds':>10}{'reads/s':>14}")
    print(f"{'ceiling (issue)':<40}{CEILING_BYTES / 2**20:>11,.0f} MiB")
    print(f"{'ingest_paths in a child process':<40}{peak / 2**20:>11,.0f} MiB"
          f"{r['seconds']:>10.1f}{n / r['seconds']:>14,.0f}")
    ok = "under" if peak < CEILING_BYTES else "ABOVE"
    print(f"peak RSS {ok} the ceiling; counts balanced: {r['balanced']}; "
          f"readings written {r['written']:,}; errors: {r['errors'] or 'none'}")


if __name__ == "__main__":
    main()
