"""Fuzz the ingestion pipeline with mutated real files (issue 16): crashes, unbalanced files
and silently wrong readings, each against its target of 0.

Seeds are heads of the real files of a small build of the sample city (MDM long and wide
exports, AMR registers, the SCADA historian export, a Green Button feed); each variant is a
seed mutated (truncated, bytes flipped, re-encoded, another delimiter or line ending,
far-future and off-grid times, huge numbers, units, quotes, XML attacks) and ingested into a
fresh store. The checks and the independent reference reading are those of
``tests/test_ingest_fuzz.py``. The anchor is the unmutated seeds: they must read whole.

    python benchmarks/bench_ingest_fuzz.py --variants 10000
"""

from __future__ import annotations

import argparse
import collections
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import test_ingest_fuzz as fuzz  # noqa: E402 - the suite's mutators and reference

TARGET = 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--variants", type=int, default=10_000)
    ap.add_argument("--raw", type=Path, default=None,
                    help="A raw build to take seeds from; default a 3-day, 40-customer build.")
    ap.add_argument("--seed", type=int, default=16)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        raw = args.raw
        if raw is None:
            from twin.city import load_city
            from twin.synthetic.measurements import build_measurements

            raw = Path(tmp) / "raw"
            build_measurements(load_city(), raw, start="2016-07-04", days=3, customers=40)
        seeds = fuzz.seeds_from(raw)
        anchor = {f: fuzz.run_variant(f, d, _fresh(Path(tmp), f"seed-{f}"))
                  for f, d in seeds.items()}
        counts = collections.Counter()
        found: dict = collections.defaultdict(list)
        per_format = collections.Counter()
        t0, c0 = time.perf_counter(), time.process_time()
        for i, (fmt, how, data) in enumerate(fuzz.variants(seeds, args.variants, args.seed)):
            folder = _fresh(Path(tmp), f"v{i}")
            out = fuzz.run_variant(fmt, data, folder)
            per_format[fmt] += 1
            for what in ("crash", "unbalanced", "wrong"):
                if getattr(out, what):
                    counts[what] += 1
                    found[what].append((fmt, how, getattr(out, what)[:160]))
            counts["failed files (clear error)"] += bool(out.error)
            shutil.rmtree(folder)
            if (i + 1) % 1000 == 0:
                print(f"  {i + 1:,} variants, {time.perf_counter() - t0:.0f} s", flush=True)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"anchor: unmutated seeds read whole: "
          f"{all(o == fuzz.Outcome() for o in anchor.values())} ({', '.join(seeds)})")
    print(f"variants: {args.variants:,} ({', '.join(f'{f} {n:,}' for f, n in per_format.items())})"
          f" in {wall:.0f} s wall, {cpu:.0f} s CPU ({1000 * wall / args.variants:.0f} ms each)")
    print(f"{'outcome':<34}{'count':>8}{'target':>8}")
    for what in ("crash", "unbalanced", "wrong"):
        label = {"crash": "crashes (traceback)", "unbalanced": "unbalanced files",
                 "wrong": "silently wrong readings"}[what]
        print(f"{label:<34}{counts[what]:>8,}{TARGET:>8}")
    print(f"{'failed files (clear error)':<34}{counts['failed files (clear error)']:>8,}"
          f"{'-':>8}")
    for what, items in found.items():
        for fmt, how, text in items[:5]:
            print(f"  {what}: {fmt} {how}: {text}")


def _fresh(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir()
    return folder


if __name__ == "__main__":
    main()
