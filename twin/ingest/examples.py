"""Small example MDM CSV files in the documented format, for tests and throughput benchmarks.

Not the city's data generator (that is :mod:`twin.synthetic`): these files exercise the
reader, including DST days. ``benchmarks/bench_ingest.py`` writes a big one and times it.
"""

from __future__ import annotations

import tempfile
import time

import numpy as np
import pandas as pd


def day_intervals(days: pd.DatetimeIndex, timezone: str, minutes: int = 15) -> np.ndarray:
    """Return the number of intervals of each local day (92/96/100 for 15 min) [-]."""
    start = days.tz_localize(timezone)
    end = (days + pd.Timedelta(days=1)).tz_localize(timezone)
    return ((end - start) / pd.Timedelta(minutes=minutes)).astype(int).to_numpy()


def wide_lines(meters: list[str], days: pd.DatetimeIndex, timezone: str,
               rng: np.random.Generator, unit: str = "kWh", delimiter: str = ",",
               width: int = 100, gap_share: float = 0.0,
               spike_share: float = 0.0) -> list[str]:
    """Return the lines (header first) of a wide MDM CSV with random values [unit].

    ``gap_share`` of the cells are left empty (missing reads) and ``spike_share`` of them
    multiplied by 20 (spikes) [-].
    """
    n_int = day_intervals(days, timezone)
    header = delimiter.join(["meter_id", "date", "unit", "interval_minutes"]
                            + [f"i{k:03d}" for k in range(1, width + 1)])
    raw = rng.gamma(2.0, 0.15, (len(meters) * len(days), width))
    raw[rng.random(raw.shape) < spike_share] *= 20.0
    values = np.char.mod("%.3f", raw)
    values[rng.random(raw.shape) < gap_share] = ""
    keys = [(m, d.strftime("%Y-%m-%d"), n) for m in meters for d, n in zip(days, n_int,
                                                                          strict=True)]
    sep_dec = (lambda s: s.replace(".", ",")) if delimiter == ";" else (lambda s: s)
    lines = [header]
    for (m, d, n), row in zip(keys, values, strict=True):
        vals = [sep_dec(v) for v in row[:n]] + [""] * (width - n)
        lines.append(delimiter.join([m, d, unit, "15", *vals]))
    return lines


def write_wide(path, n_readings: int, timezone: str = "America/New_York",
               start: str = "2016-03-01", n_days: int = 30, seed: int = 0,
               gap_share: float = 0.002, spike_share: float = 0.0005,
               resent_share: float = 0.001) -> int:
    """Write a wide MDM CSV of about ``n_readings`` readings; return the number written.

    Like a head-end export: meters sorted, some reads missing (``gap_share`` of the cells),
    some spikes (``spike_share``), and ``resent_share`` of the meter-days re-sent at the
    end of the file with other values (duplicates that disagree) [-].
    """
    rng = np.random.default_rng(seed)
    days = pd.date_range(start, periods=n_days, freq="D")
    per_meter = int(day_intervals(days, timezone).sum())
    n_meters = max(1, round(n_readings / per_meter))
    meters = [f"E{i:06d}" for i in range(n_meters)]
    resent = []
    with open(path, "w") as f:
        for i in range(0, n_meters, 200):
            lines = wide_lines(meters[i:i + 200], days, timezone, rng, gap_share=gap_share,
                               spike_share=spike_share)
            f.write("\n".join(lines[1:] if i else lines) + "\n")
            pick = rng.random(len(lines) - 1) < resent_share
            resent += [line.replace(",0.", ",1.", 3)
                       for line, p in zip(lines[1:], pick, strict=True) if p]
        if resent:
            f.write("\n".join(resent) + "\n")
    return n_meters * per_meter


def time_ingest(path, timezone: str = "America/New_York") -> dict:
    """Ingest ``path`` into a fresh temporary store and time the steps [s]."""
    from twin.ingest import pipeline, vee
    from twin.ingest.mdm_csv import read_mdm_csv
    from twin.ingest.store import MeasurementStore

    with tempfile.TemporaryDirectory() as root:
        store = MeasurementStore(root)
        t0, c0 = time.perf_counter(), time.process_time()
        report = pipeline.ingest_file(store, path, timezone=timezone)
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
        t0 = time.perf_counter()
        batch = read_mdm_csv(path, timezone)
        t_read = time.perf_counter() - t0
        t0 = time.perf_counter()
        vee.run_vee(batch.readings.assign(source="x"))
        t_vee = time.perf_counter() - t0
    return {"readings": report.readings_written, "seconds": total, "cpu_s": cpu,
            "reads_per_s": report.readings_written / total, "read_s": t_read, "vee_s": t_vee,
            "balanced": report.balanced}

