"""Leak detection and location over a period of the built city, scored BattLeDIM-style.

Runs :func:`twin.water.leaks.find_leaks` on the measurement store (``twin data build``) for the
period and scores its alarms against the generator's ``truth/faults.csv``
(:mod:`twin.water.leak_scoring`): a leak is detected when an alarm of its DMA falls inside its
time window; a true positive also locates it within 300 m; alarms matching no leak are false
alarms. Prints every leak with its alarm, and the summary figures.

Usage::

    .venv/bin/python benchmarks/leak_score.py [--start 2016-01-01] [--days 366]
        [--store data/generated/store] [--raw data/generated/raw]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from twin import config
from twin.city import load_city
from twin.ingest.store import MeasurementStore
from twin.water import leak_scoring as sc
from twin.water.leaks import find_leaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="2016-01-01", help="first local day")
    parser.add_argument("--days", type=int, default=366, help="days in the period")
    parser.add_argument("--store", type=Path, help="measurement store (default: the data dir's)")
    parser.add_argument("--raw", type=Path, help="raw build with truth/ (default: the data dir's)")
    args = parser.parse_args()
    store = MeasurementStore(str(args.store or config.data_dir() / "store"))
    raw = args.raw or config.data_dir() / "raw"
    city = load_city()
    start = pd.Timestamp(args.start, tz=city.timezone).tz_convert("UTC")
    end = start + pd.Timedelta(days=args.days)

    t0 = time.perf_counter()
    report = find_leaks(city, store, start, end)
    elapsed = time.perf_counter() - t0
    leaks = sc.read_leak_truth(raw / "truth" / "faults.csv")
    leaks = leaks[(leaks.end_utc > start) & (leaks.start_utc < end)]
    matched = sc.match_detections(report.alarms, leaks, city.node_xy)
    score = sc.detection_score(matched, leaks)

    print(f"period {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC; find_leaks {elapsed:.0f} s; "
          f"{len(report.alarms)} alarm(s), {len(leaks)} true leak(s)")
    by_leak = matched[matched.leak_id != ""].set_index("leak_id")
    print(f"{'leak':<10}{'DMA':<7}{'junction':>9}{'L/s':>7}  {'start (UTC)':<17}"
          f"{'alarm (UTC)':<17}{'delay h':>8}{'error m':>9}")
    for leak in leaks.itertuples():
        hit = by_leak.loc[leak.leak_id] if leak.leak_id in by_leak.index else None
        alarm = f"{hit.alarm_utc:%Y-%m-%d %H:%M}" if hit is not None else "missed"
        delay = f"{hit.delay_h:8.1f}" if hit is not None else f"{'':>8}"
        err = f"{hit.location_error_m:9.0f}" if hit is not None else f"{'':>9}"
        print(f"{leak.leak_id:<10}{leak.dma:<7}{leak.junction:>9}{leak.mean_flow_l_s:7.2f}  "
              f"{leak.start_utc:%Y-%m-%d %H:%M} {alarm:<17}{delay}{err}")
    for alarm in matched[matched.leak_id == ""].itertuples():
        print(f"false alarm: {alarm.dma} at {alarm.alarm_utc:%Y-%m-%d %H:%M} UTC, "
              f"junction {alarm.junction}")
    print("score: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                               for k, v in score.items()))


if __name__ == "__main__":
    main()
