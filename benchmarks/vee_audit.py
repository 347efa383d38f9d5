"""VEE audit on the full year: ingest the raw build, score VEE against ``truth/faults.csv``.

Builds the raw year if it is missing (``twin data build``'s generator), ingests the folders
that carry meter faults (``mdm``, ``amr``, ``scada``) into a temporary store (or ``--store``,
which is reused: files already in it are skipped by checksum), then prints the share of
faults found per kind (:mod:`twin.ingest.audit`) and the false-flag rate on fault-free
readings. Throughput of the ingest is printed beside ``pandas.read_csv`` of the same files,
timed in the same run.

Usage::

    .venv/bin/python benchmarks/vee_audit.py [--store /tmp/vee_store] [--raw data/generated/raw]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from twin import config
from twin.city import load_city
from twin.ingest.audit import audit_build
from twin.ingest.pipeline import ingest_paths
from twin.ingest.store import MeasurementStore

FOLDERS = ("mdm", "amr", "scada")


def build_if_missing(raw: Path, city: Path | None = None) -> None:
    """Generate the raw year when its manifest is missing (the generator of twin data build)."""
    if (raw / "manifest.json").exists():
        return
    from twin.synthetic.measurements import build_measurements

    print(f"building the raw year into {raw} ...", flush=True)
    build_measurements(load_city(city), raw)


def ingest(store: MeasurementStore, raw: Path) -> pd.DataFrame:
    """Ingest the fault-carrying folders; return one row per file with its time [s]."""
    rows = []
    t_last = [time.perf_counter()]

    def progress(done, total, rep):
        now = time.perf_counter()
        rows.append({"file": rep.file, "seconds": now - t_last[0], "rows_read": rep.rows_read,
                     "written": rep.readings_written, "skipped": rep.skipped,
                     "error": rep.error, "balanced": rep.balanced})
        t_last[0] = now
        print(f"  [{done}/{total}] {rep.file}: {rep.readings_written:,} readings in "
              f"{rows[-1]['seconds']:.1f} s{' (already in store)' if rep.skipped else ''}"
              f"{' ERROR ' + rep.error if rep.error else ''}", flush=True)

    ingest_paths(store, [raw / f for f in FOLDERS], progress=progress)
    return pd.DataFrame(rows)


def anchor(raw: Path, name: str = "interval_wide_2016-07_part1.csv") -> None:
    """Time a fresh ingest of one MDM file beside pandas.read_csv of the same file [s]."""
    path = raw / "mdm" / name
    with tempfile.TemporaryDirectory(prefix="vee_anchor_") as tmp:
        t0 = time.perf_counter()
        rep = ingest_paths(MeasurementStore(tmp), [path])[0]
        t_twin = time.perf_counter() - t0
    t0 = time.perf_counter()
    pd.read_csv(path)
    t_pd = time.perf_counter() - t0
    print(f"  {name}: twin ingest (parse, normalise, VEE, write) {t_twin:.2f} s "
          f"({rep.readings_written / t_twin / 1e6:.2f} M readings/s) | anchor "
          f"pandas.read_csv alone {t_pd:.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", type=Path, default=config.data_dir() / "raw")
    ap.add_argument("--store", type=Path, default=None,
                    help="store folder to ingest into and keep (default: a temporary one)")
    ap.add_argument("--city", type=Path, default=None,
                    help="city folder of the raw build (default the sample city)")
    args = ap.parse_args()
    build_if_missing(args.raw, args.city)
    tz = load_city(args.city).timezone
    with tempfile.TemporaryDirectory(prefix="vee_audit_") as tmp:
        store = MeasurementStore(str(args.store or Path(tmp) / "store"))
        t0 = time.perf_counter()
        print(f"ingesting {', '.join(FOLDERS)} of {args.raw} into {store.url}", flush=True)
        files = ingest(store, args.raw)
        t_ingest = time.perf_counter() - t0
        bad = files[~files["balanced"] | (files["error"] != "")]
        print(f"ingest: {len(files)} files, {files['written'].sum():,} readings written in "
              f"{t_ingest:.0f} s; unbalanced or failed files: {len(bad)}")
        anchor(args.raw)
        t0 = time.perf_counter()
        result = audit_build(args.raw, store, tz)
        t_audit = time.perf_counter() - t0
    pd.set_option("display.width", 200)
    table = result.by_kind.drop(columns=["definition"])
    print(f"\nVEE audit against truth/faults.csv ({t_audit:.0f} s); a fault is found when at "
          "least half its affected readings are flagged")
    print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print("\nfalse flags on fault-free readings")
    print(result.false_flags.to_string(index=False, float_format=lambda x: f"{x:.2e}"))
    for note in result.notes:
        print("note:", note)


if __name__ == "__main__":
    main()
