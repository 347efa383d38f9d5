"""Leak detection and location over a period of the built sample city, scored BattLeDIM-style.

Runs :func:`twin.water.leaks.find_leaks` on the measurement store (``twin data build``) for the
period and scores its new-leak alarms against the generator's ``truth/faults.csv``
(:func:`twin.water.leaks.score_report`): a leak is found when an alarm falls inside its time
window within 300 m of it; other alarms are false alarms. Prints every leak with the alarm
matched to it (the nearest open leak of an alarm, hit or not), and the summary figures.

Usage::

    .venv/bin/python benchmarks/leak_score.py [--start 2016-01-01] [--days 366]
        [--baseline-days 7] [--store data/generated/store] [--raw data/generated/raw]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from twin import config
from twin.city import load_city
from twin.ingest.store import MeasurementStore
from twin.water import leak_scoring as sc
from twin.water.leaks import LeakNetwork, LeakSettings, find_leaks, score_report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="2016-01-01", help="first local day")
    parser.add_argument("--days", type=int, default=366, help="days in the period")
    parser.add_argument("--baseline-days", type=float, default=7.0,
                        help="leak-free days at the start")
    parser.add_argument("--store", type=Path, help="measurement store (default: the data dir's)")
    parser.add_argument("--raw", type=Path, help="raw build with truth/ (default: the data dir's)")
    args = parser.parse_args()
    store = MeasurementStore(str(args.store or config.data_dir() / "store"))
    raw = args.raw or config.data_dir() / "raw"
    city = load_city()
    start = pd.Timestamp(args.start, tz=city.timezone).tz_convert("UTC")
    end = start + pd.Timedelta(days=args.days)

    t0 = time.perf_counter()
    report = find_leaks(city, store, start, end, LeakSettings(baseline_days=args.baseline_days))
    elapsed = time.perf_counter() - t0
    truth = sc.truth_from_faults(raw / "truth" / "faults.csv")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "truth.csv"
        truth.to_csv(path, index=False)
        matched, score = score_report(report, path, LeakNetwork.from_city(city))
    truth = truth[(truth.end >= start) & (truth.start < end)]
    print(f"period {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC; find_leaks {elapsed:.0f} s; "
          f"{len(report.alarms)} alarm(s), {len(truth)} true leak(s)")
    by_leak = matched[matched.leak_id != ""].drop_duplicates("leak_id").set_index("leak_id")
    print(f"{'leak':<10}{'DMA':<7}{'junction':>9}{'m3/h':>7}  {'start (UTC)':<17}"
          f"{'alarm (UTC)':<17}{'delay h':>8}{'error m':>9}  hit")
    for leak in truth.itertuples():
        hit = by_leak.loc[leak.leak_id] if leak.leak_id in by_leak.index else None
        alarm = f"{hit.alarm_utc:%Y-%m-%d %H:%M}" if hit is not None else "missed"
        delay = f"{hit.delay_h:8.1f}" if hit is not None else f"{'':>8}"
        err = f"{hit.location_error_m:9.0f}" if hit is not None else f"{'':>9}"
        ok = "yes" if hit is not None and hit.true_positive else "no"
        print(f"{leak.leak_id:<10}{city.dmas[leak.junction]:<7}{leak.junction:>9}"
              f"{leak.flow:7.2f}  {leak.start:%Y-%m-%d %H:%M} {alarm:<17}{delay}{err}  {ok}")
    for alarm in matched[~matched.true_positive.astype(bool)].itertuples():
        print(f"false alarm: {alarm.dma} at {alarm.alarm_utc:%Y-%m-%d %H:%M} UTC, "
              f"position {alarm.element}")
    print("score: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                               for k, v in score.items()))


if __name__ == "__main__":
    main()
