"""Faults and events injected into the sample city's measurements, and their ground truth.

Meter faults change what a meter records, never what the customer uses; leaks change the
water network (an EPANET emitter behind a pipe that opens at the leak's start), so DMA
inflows rise and pressures fall while customers' meters do not see them.

Every fault is one row of the ground truth (see ``data/RAW-FORMATS.md``, "Ground truth"):
``fault_id, kind, system, series_id, start_utc, end_utc, size, size_unit, file, details``.
Internally a fault also carries ``first`` and ``stop``: positions in the series' time axis
(``stop`` exclusive).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import wntr

from twin.coupling import GRAVITY_M_S2

#: Columns of the ground truth file, in order.
TRUTH_COLUMNS = ["fault_id", "kind", "system", "series_id", "start_utc", "end_utc", "size",
                 "size_unit", "file", "details"]

#: Share of electricity meters with each lasting fault [-] (at least one meter each).
METER_FAULT_SHARE = {"theft": 0.02, "stuck": 0.002, "drift": 0.003, "zeros": 0.002}
#: Events per electricity meter and year [1/a] (at least one each).
METER_EVENT_RATE = {"gap_short": 0.15, "gap_long": 0.004, "spike": 0.05, "duplicate": 0.03}
#: Discharge coefficient of a leak's opening [-].
LEAK_CD = 0.75
#: Hole diameters of the leaks, one per DMA, in DMA order [mm].
LEAK_HOLE_MM = (14.0, 9.0, 20.0, 12.0, 6.0)


def emitter_coefficient(area_m2: float, cd: float = LEAK_CD) -> float:
    """EPANET emitter coefficient of an orifice, C = Cd·A·sqrt(2g) [m³/s per m^0.5].

    The leak's flow is Q = C·sqrt(p) [m³/s] at pressure p [m] (emitter exponent 0.5).
    """
    return cd * area_m2 * np.sqrt(2 * GRAVITY_M_S2)


def _row(kind, system, series_id, first, stop, size, size_unit, file="", axis="15min",
         **details):
    """One fault; ``axis`` names the time axis of ``first``/``stop`` (``15min`` or ``hour``)."""
    return {"kind": kind, "system": system, "series_id": str(series_id), "first": int(first),
            "stop": int(stop), "size": float(size), "size_unit": size_unit, "file": file,
            "axis": axis, "details": json.dumps(details, sort_keys=True)}


def _count(rate: float, n: int, years: float = 1.0) -> int:
    return max(1, int(round(rate * n * years)))


def draw_meter_faults(rng: np.random.Generator, meter_ids: np.ndarray, steps: int,
                      typical_kwh: np.ndarray, long_meter: np.ndarray) -> pd.DataFrame:
    """Draw lasting faults and events of electricity meters over ``steps`` 15-min intervals.

    Parameters
    ----------
    meter_ids : ndarray
        Meter ids.
    steps : int
        Length of the period [intervals].
    typical_kwh : ndarray
        Each meter's mean energy per interval [kWh]; sets the value a stuck meter shows.
    long_meter : ndarray of bool
        Meters exported in the long layout (duplicates there are single intervals, in the
        wide layout whole meter-days).

    Returns
    -------
    DataFrame
        Fault rows (see module doc), ``first``/``stop`` in interval positions.
    """
    n, years = len(meter_ids), steps / (366 * 96)
    rows = []
    order = rng.permutation(n)
    taken = 0
    for kind, share in METER_FAULT_SHARE.items():
        k = min(_count(share, n), max(0, n - taken))
        for m in order[taken:taken + k]:
            if kind == "theft":
                first = int(rng.integers(0, max(1, steps * 3 // 4)))
                rows.append(_row("theft", "electricity", meter_ids[m], first, steps,
                                 round(float(rng.uniform(0.2, 0.6)), 3), "recorded fraction"))
            elif kind == "stuck":
                first = int(rng.integers(0, max(1, steps * 4 // 5)))
                stop = min(steps, first + int(rng.integers(3 * 96, 30 * 96)))
                value = round(float(typical_kwh[m] * rng.uniform(0.3, 1.5)), 3)
                rows.append(_row("stuck", "electricity", meter_ids[m], first, stop, value, "kWh"))
            elif kind == "drift":
                first = int(rng.integers(0, max(1, steps // 2)))
                rows.append(_row("drift", "electricity", meter_ids[m], first, steps,
                                 round(float(rng.uniform(0.1, 0.35)), 3),
                                 "under-registration at end"))
            else:
                first = int(rng.integers(0, max(1, steps * 4 // 5)))
                stop = min(steps, first + int(rng.integers(96, 10 * 96)))
                rows.append(_row("zeros", "electricity", meter_ids[m], first, stop, 0.0, "kWh"))
        taken += k
    for kind, rate in METER_EVENT_RATE.items():
        for _ in range(_count(rate, n, years)):
            m = int(rng.integers(0, n))
            first = int(rng.integers(0, steps))
            if kind == "gap_short":
                rows.append(_row("gap", "electricity", meter_ids[m], first,
                                 min(steps, first + int(rng.integers(1, 17))), 0, "intervals",
                                 length="short"))
            elif kind == "gap_long":
                rows.append(_row("gap", "electricity", meter_ids[m], first,
                                 min(steps, first + int(rng.integers(96, 7 * 96))), 0,
                                 "intervals", length="long"))
            elif kind == "spike":
                rows.append(_row("spike", "electricity", meter_ids[m], first, first + 1,
                                 round(float(rng.uniform(15, 60)), 2), "factor"))
            else:
                disagree = bool(rng.random() < 0.5)
                factor = round(float(rng.uniform(0.7, 1.3)), 3) if disagree else 1.0
                rows.append(_row("duplicate", "electricity", meter_ids[m], first, first + 1,
                                 factor, "factor", layout="long" if long_meter[m] else "wide",
                                 disagree=disagree))
    df = pd.DataFrame(rows)
    gap = df.kind == "gap"
    df.loc[gap, "size"] = (df.loc[gap, "stop"] - df.loc[gap, "first"]).astype(float)
    return _drop_hidden_events(df)


def _drop_hidden_events(df: pd.DataFrame) -> pd.DataFrame:
    """Drop spikes and duplicates that a gap or a zero-reading spell would hide."""
    hiding = df[df.kind.isin(["gap", "zeros"])]
    keep = np.ones(len(df), dtype=bool)
    for i, f in enumerate(df.itertuples()):
        if f.kind not in ("spike", "duplicate"):
            continue
        h = hiding[hiding.series_id == f.series_id]
        if ((h["first"] <= f.first) & (f.first < h["stop"])).any():
            keep[i] = False
    return df[keep].reset_index(drop=True)


def apply_meter_faults(values: np.ndarray, faults: pd.DataFrame, position: dict,
                       offset: int) -> np.ndarray:
    """Apply lasting faults, spikes and gaps to a chunk of recorded values, in place.

    Parameters
    ----------
    values : ndarray
        Meters × intervals of the chunk, true values on entry, recorded values on exit
        [kWh] (or [m3] for water increments).
    faults : DataFrame
        Fault rows with ``first``/``stop`` on the period's axis.
    position : dict
        Row of ``values`` per ``series_id``.
    offset : int
        Period position of the chunk's first interval.

    Returns
    -------
    ndarray
        ``values``, with NaN where a reading is missing.
    """
    width = values.shape[1]
    order = {"theft": 0, "drift": 0, "stuck": 1, "zeros": 1, "spike": 2, "gap": 3}
    todo = faults[faults.kind.isin(order) & faults.series_id.isin(position.keys())]
    todo = todo.assign(_o=todo.kind.map(order)).sort_values(["_o", "first"], kind="stable")
    for f in todo.itertuples():
        a, b = max(f.first - offset, 0), min(f.stop - offset, width)
        if a >= b:
            continue
        row = position[f.series_id]
        if f.kind == "theft":
            values[row, a:b] *= f.size
        elif f.kind == "drift":
            t = (np.arange(a, b) + offset - f.first) / max(1, f.stop - f.first)
            values[row, a:b] *= 1.0 - f.size * t
        elif f.kind in ("stuck", "zeros"):
            values[row, a:b] = f.size
        elif f.kind == "spike":
            values[row, a:b] *= f.size
        elif f.kind == "gap":
            values[row, a:b] = np.nan
    return values


def draw_leaks(rng: np.random.Generator, junctions_by_dma: dict[str, list[str]],
               hours: int) -> pd.DataFrame:
    """Draw one leak per DMA (different hole sizes and start times) within ``hours``.

    Returns
    -------
    DataFrame
        Fault rows of kind ``leak``; ``first``/``stop`` in hours from the period start,
        ``size`` the emitter coefficient [m³/s per m^0.5].
    """
    rows = []
    for k, (dma, names) in enumerate(sorted(junctions_by_dma.items())):
        junction = names[int(rng.integers(0, len(names)))]
        first = int(rng.integers(hours // 20, max(hours // 20 + 1, hours * 7 // 10)))
        repaired = bool(rng.random() < 0.5)
        stop = min(hours, first + int(rng.integers(5 * 24, 40 * 24))) if repaired else hours
        stop = max(stop, min(hours, first + 24))
        hole_mm = LEAK_HOLE_MM[k % len(LEAK_HOLE_MM)]
        area = np.pi / 4 * (hole_mm / 1000) ** 2
        c = emitter_coefficient(area)
        rows.append(_row("leak", "water", junction, first, stop, c, "m3/s/m^0.5", axis="hour",
                         dma=dma,
                         hole_diameter_mm=hole_mm, hole_area_m2=round(area, 8), cd=LEAK_CD,
                         emitter_exponent=0.5))
    return pd.DataFrame(rows)


def leak_node(junction: str) -> str:
    """Name of the node that carries a leak's emitter at ``junction``."""
    return f"LEAK-{junction}"


def add_leaks(wn: wntr.network.WaterNetworkModel, leaks: pd.DataFrame,
              hour_offset: int = 0) -> None:
    """Add each leak to ``wn`` in place, as EPANET can run it.

    ``EpanetSimulator`` ignores ``junction.add_leak``; instead each leak is an emitter
    (coefficient ``size``, exponent 0.5) at a new node at the junction's elevation, joined
    to the junction by a short, wide pipe that is closed until the leak starts and closed
    again when it is repaired (``AT TIME`` controls). The pipe's head loss is negligible, so
    the leak flows C·sqrt(p) at the junction's pressure p.

    Parameters
    ----------
    hour_offset : int
        Simulation hour of the period's first hour (leak ``first``/``stop`` are relative to it).
    """
    from twin.water.hydraulics import add_leak_emitters

    if not len(leaks):
        return
    add_leak_emitters(wn, leaks.series_id.tolist(), leaks["size"].tolist(),
                      ((leaks["first"] + hour_offset) * 3600).tolist(),
                      ((leaks["stop"] + hour_offset) * 3600).tolist())


def draw_series_gaps(rng: np.random.Generator, series_ids: list[str], steps: int, system: str,
                     count: int, max_len: int, axis: str = "15min") -> pd.DataFrame:
    """Draw ``count`` gaps (missing readings) of 1 to ``max_len`` steps in some series."""
    rows = []
    for _ in range(count):
        s = series_ids[int(rng.integers(0, len(series_ids)))]
        first = int(rng.integers(0, steps))
        stop = min(steps, first + int(rng.integers(1, max_len + 1)))
        rows.append(_row("gap", system, s, first, stop, stop - first,
                         "intervals" if axis == "15min" else "hours", axis=axis))
    return pd.DataFrame(rows)


def draw_water_meter_faults(rng: np.random.Generator, meter_ids: np.ndarray,
                            hours: int) -> pd.DataFrame:
    """Draw stopped water meters (register frozen) and missing register reads.

    ``first``/``stop`` are hours of the period; a stopped meter's register does not advance
    over [first, stop); a gap leaves the reads at the ends of those hours empty.
    """
    n, years = len(meter_ids), hours / (366 * 24)
    rows = []
    for m in rng.choice(n, size=min(n, _count(0.003, n)), replace=False):
        first = int(rng.integers(0, max(1, hours * 4 // 5)))
        stop = min(hours, first + int(rng.integers(7 * 24, 60 * 24)))
        rows.append(_row("stuck", "water", meter_ids[m], first, stop, 0.0, "m3 per hour",
                         axis="hour"))
    for _ in range(_count(0.1, n, years)):
        m = int(rng.integers(0, n))
        first = int(rng.integers(0, hours))
        stop = min(hours, first + int(rng.integers(1, 48)))
        rows.append(_row("gap", "water", meter_ids[m], first, stop, stop - first, "hours",
                         axis="hour"))
    return pd.DataFrame(rows)


def truth_table(faults: pd.DataFrame, times: dict[str, pd.DatetimeIndex]) -> pd.DataFrame:
    """Turn fault rows into the ground truth: positions become UTC interval bounds.

    Parameters
    ----------
    times : dict
        Per axis (``15min``, ``hour``), the UTC start of every step plus the period end, so
        ``stop`` maps to the exclusive end time.
    """
    out = faults.copy()
    start, end = [], []
    for f in out.itertuples():
        axis = times[f.axis]
        start.append(axis[f.first].strftime("%Y-%m-%dT%H:%M:%SZ"))
        end.append(axis[f.stop].strftime("%Y-%m-%dT%H:%M:%SZ"))
    out["start_utc"], out["end_utc"] = start, end
    out = out.sort_values(["system", "kind", "series_id", "start_utc"], kind="stable")
    out["fault_id"] = [f"FLT-{i:05d}" for i in range(1, len(out) + 1)]
    return out[TRUTH_COLUMNS].reset_index(drop=True)
