"""Validation that knows the city: what a reading must be before it may enter the store.

Readers reject what they cannot read (a broken line, a word for a number); this module
rejects what reads but cannot be true, whatever the format, with one reason per reading:

- a time outside :data:`TIME_RANGE` (a year 4016 that nanosecond times would wrap round to
  1677 is refused before it is converted);
- a value that is not finite, or beyond the plausible bounds of its kind
  (:data:`KIND_BOUNDS`, per reading in the kind's store unit; SCADA quantities declare
  theirs in :data:`twin.ingest.tag_map.QUANTITIES`);
- a time off its series' grid (16:04 in a 15-min series, 11:00:30 in an hourly one):
  series with a step of :data:`GRID_STEPS_S` keep the readings on their majority phase;
- a series id the city does not know (:class:`KnownSeries`: the customers' meters, the
  DMA meters, PV inverters, the tag map's tags), unless unknown ids are allowed;
- a unit that is not the kind's (kWh readings ingested as ``--kind water_read``).

:func:`screen` applies them to a reader's batch: rejected readings leave the readings and
join the quarantine with their file line and reason; the file's counts stay balanced
(``accepted + quarantined + duplicates == rows_read``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from twin.ingest import schema
from twin.ingest.batch import ReadBatch, quarantine_frame

#: Times a reading may carry [UTC]: meters and SCADA of the electronic era, and no date a
#: nanosecond clock cannot hold (it ends in 2262).
TIME_RANGE = (pd.Timestamp("1970-01-01", tz="UTC"), pd.Timestamp("2200-01-01", tz="UTC"))
TIME_RANGE_S = tuple(int(t.value // 1_000_000_000) for t in TIME_RANGE)

#: Plausible value of one reading per kind, in the kind's store unit: (low, high).
#: Interval energy of one customer meter [kWh per interval]: 100 MWh in one interval is no
#: customer (a 15-min read of a 10 MW plant is 2.5 MWh); water [m3 per interval]: 2,000 m3 is
#: a DN300 meter running full for an hour; a register [kWh] keeps 9 digits.
KIND_BOUNDS: dict[str, tuple[float, float]] = {
    "electric_interval": (-1e5, 1e5),
    "water_read": (-2e3, 2e3),
    "pv": (-1e4, 1e4),
    "electric_register": (0.0, 1e9),
    "scada": (-1e9, 1e9),  # per quantity in the tag map; this bounds unmapped points
    "weather": (-1e6, 1e6),
}

#: Series steps whose readings must sit on a grid [s] (longer steps: local days, DST).
GRID_STEPS_S = (60, 300, 600, 900, 1800, 3600)


def time_in_range_s(seconds: np.ndarray) -> np.ndarray:
    """True where a time given in seconds since 1970 UTC lies in :data:`TIME_RANGE`."""
    lo, hi = TIME_RANGE_S
    return (seconds >= lo) & (seconds < hi)


def time_range_words() -> str:
    """:data:`TIME_RANGE` in words, for reasons."""
    return f"{TIME_RANGE[0]:%Y}-{TIME_RANGE[1]:%Y}"


def off_grid(codes: np.ndarray, t_ns: np.ndarray,
             interval_s: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Readings off their series' time grid.

    The step of a series is its declared interval (``interval_s`` > 0) or its most common
    time step; when it is one of :data:`GRID_STEPS_S`, the series' grid is the phase
    (``t mod step``) most of its readings have, and a reading with another phase is off it.

    Returns
    -------
    off : ndarray of bool
        Per reading.
    step_s : ndarray of int64
        The step of each reading's series [s] (0 when not decided).
    """
    n = len(codes)
    off = np.zeros(n, bool)
    step_s = np.zeros(n, np.int64)
    if n < 2:
        return off, step_s
    order = np.lexsort((t_ns, codes))
    c, t = codes[order], t_ns[order]
    same = np.zeros(n, bool)
    same[1:] = c[1:] == c[:-1]
    d = np.zeros(n, np.int64)
    d[1:] = (t[1:] - t[:-1]) // 1_000_000_000
    ok = same & (d > 0)
    steps = pd.DataFrame({"c": c[ok], "d": d[ok]}).value_counts().reset_index()
    mode = steps.sort_values(["c", "count", "d"], ascending=[True, False, True]
                             ).drop_duplicates("c").set_index("c")["d"]
    per = np.zeros(int(c.max()) + 1 if n else 0, np.int64)
    per[mode.index.to_numpy()] = mode.to_numpy()
    s = per[c]
    if interval_s is not None:
        declared = np.asarray(interval_s, np.int64)[order]
        s = np.where(declared > 0, declared, s)
    on = np.isin(s, GRID_STEPS_S)
    if on.any():
        phase = (t // 1_000_000_000) % np.where(on, s, 1)
        key = pd.DataFrame({"c": c[on], "p": phase[on]})
        counts = key.value_counts().reset_index().sort_values(
            ["c", "count", "p"], ascending=[True, False, True]).drop_duplicates("c")
        major = np.full(len(per), -1, np.int64)
        major[counts["c"].to_numpy()] = counts["p"].to_numpy()
        bad = np.zeros(n, bool)
        bad[on] = phase[on] != major[c[on]]
        off[order] = bad
    step_s[order] = s
    return off, step_s


@dataclass(frozen=True)
class KnownSeries:
    """The series ids a city knows, per kind (a kind absent is not checked).

    Attributes
    ----------
    ids : dict of str to frozenset of str
        Kind -> series ids (meter ids, inverter ids, SCADA tags).
    where : dict of str to str
        Kind -> where the ids come from, for reasons (``customers.csv electric_meter_id``).
    """

    ids: dict[str, frozenset] = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)


def known_series(city, tag_map=None) -> KnownSeries:
    """The series ids of a :class:`twin.city.City` (its registers) and of its tag map."""
    ids: dict[str, frozenset] = {}
    where: dict[str, str] = {}
    cust = getattr(city, "customers", None)
    if cust is not None and len(cust):
        if "electric_meter_id" in cust:
            meters = frozenset(cust["electric_meter_id"].dropna().astype(str))
            ids["electric_interval"] = ids["electric_register"] = meters
            where["electric_interval"] = where["electric_register"] = (
                "the customers' electric_meter_id")
        if "water_meter_id" in cust:
            ids["water_read"] = frozenset(cust["water_meter_id"].dropna().astype(str))
            where["water_read"] = "the customers' water_meter_id"
        if "pv_kwp" in cust and "customer_id" in cust:
            pv = cust.loc[cust["pv_kwp"].fillna(0) > 0, "customer_id"].astype(str)
            ids["pv"] = frozenset("INV-" + pv)
            where["pv"] = "INV-<customer_id> of the customers with PV (pv_kwp > 0)"
    meters = getattr(city, "dma_meters", None)
    if meters is not None and len(meters) and "water_read" in ids:
        ids["water_read"] = ids["water_read"] | frozenset(meters["meter_id"].astype(str))
        where["water_read"] += " and the DMA meters"
    if tag_map is not None:
        ids["scada"] = frozenset(tag_map.frame.index.astype(str))
        where["scada"] = f"the tag map {tag_map.source}"
    return KnownSeries(ids, where)


@dataclass(frozen=True)
class Checks:
    """What :func:`screen` checks: the city's series and whether unknown ids are allowed."""

    known: KnownSeries | None = None
    allow_unknown_ids: bool = False


def screen(batch: ReadBatch, checks: Checks | None = None,
           file: str = "") -> tuple[ReadBatch, int, int]:
    """Move the readings of a batch that cannot be true to its quarantine (module docstring).

    The batch's readings carry the ``line`` of the file they come from (readers add it);
    without it, rejected readings are quarantined with line 0. Where a file row is one
    reading (``batch.meta['row_per_reading']``), a rejected reading is a quarantined row;
    where a row holds many (a meter-day), the rejected readings are quarantine entries of
    an accepted row (slots), unless every reading of the row is rejected.

    Returns
    -------
    batch : ReadBatch
        Without the rejected readings, with their quarantine entries.
    rows : int
        Rows that moved from accepted to quarantined [-].
    slots : int
        Quarantine entries added for parts of accepted rows [-].
    """
    df = batch.readings
    if df is None or not len(df):
        return batch, 0, 0
    reasons = reasons_of(df, batch.kind, checks, on_grid=batch.meta.get("on_grid", False))
    if reasons is None:
        return batch, 0, 0
    bad = reasons != ""
    line = (df["line"].to_numpy(np.int64) if "line" in df else np.zeros(len(df), np.int64))
    texts = (df["series_id"].astype(str).to_numpy(dtype=object)[bad] + ","
             + pd.DatetimeIndex(df["time_utc"]).strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(
                 dtype=object)[bad] + ","
             + df["raw_value"].astype(str).to_numpy(dtype=object)[bad])
    lines, why = line[bad], reasons[bad]
    if batch.meta.get("row_per_reading", False) or "line" not in df:
        rows_lost = int(bad.sum())
        slot = np.zeros(len(lines), bool)
    else:  # one entry per row and reason; a row is lost when none of its readings is left
        first = ~pd.DataFrame({"l": lines, "r": why}).duplicated().to_numpy()
        lines, why, texts = lines[first], why[first], texts[first]
        left = set(line[~bad].tolist())
        lost = np.array([x not in left for x in lines], bool)
        row_entry = lost & ~pd.Series(lines).duplicated().to_numpy()
        rows_lost = int(row_entry.sum())
        slot = ~row_entry
    q = quarantine_frame(batch.kind, file, lines, list(why), list(texts))
    quarantine = pd.concat([batch.quarantine, q], ignore_index=True) if len(
        batch.quarantine) else q
    n_slots = int(slot.sum())
    meta = dict(batch.meta)
    meta["slots_quarantined"] = meta.get("slots_quarantined", 0) + n_slots
    out = ReadBatch(kind=batch.kind, readings=df[~bad].reset_index(drop=True),
                    quarantine=quarantine, rows_read=batch.rows_read,
                    rows_accepted=batch.rows_accepted - rows_lost,
                    duplicates=batch.duplicates, meta=meta)
    return out, rows_lost, n_slots


def reasons_of(df: pd.DataFrame, kind: str, checks: Checks | None = None,
               on_grid: bool = False) -> np.ndarray:
    """Why each reading cannot be true ("" where it can), first reason only; None when
    every reading can.

    ``on_grid``: the reader placed the times on their grid itself (a wide layout's slots),
    so the grid is not checked. Each check first asks whether any reading fails it (one
    vectorised pass), and builds words only then: a clean chunk costs a few passes."""
    n = len(df)
    why = None  # made at the first reading that fails a check

    def put(mask, words):
        nonlocal why
        mask = np.asarray(mask, bool)
        if not mask.any():
            return
        if why is None:
            why = np.full(n, "", dtype=object)
        mask &= why == ""
        why[mask] = words[mask] if isinstance(words, np.ndarray) else words

    t = schema.time_ns(df["time_utc"])
    lo_s, hi_s = TIME_RANGE_S
    if t.min() < lo_s * 1_000_000_000 or t.max() >= hi_s * 1_000_000_000:
        put(~time_in_range_s(t // 1_000_000_000),
            f"time outside the plausible range {time_range_words()} (year typed wrong?)")
    v = df["value"].to_numpy(dtype=float)
    lo, hi = KIND_BOUNDS.get(kind, (-np.inf, np.inf))
    with np.errstate(invalid="ignore"):
        beyond = (v < lo) | (v > hi)  # inf too; NaN (a gap) is no value to judge
    if beyond.any():
        put(np.isinf(v), "value is not finite")
        put(beyond, f"value beyond the plausible range of {kind} [{lo:g}, {hi:g}] "
            f"{_kind_unit(kind)}".rstrip() + " (wrong unit or a broken register?)")
    unit = _kind_unit(kind)
    if unit and "unit" in df:
        u = df["unit"]
        cats = [str(c) for c in (u.cat.categories if isinstance(u.dtype, pd.CategoricalDtype)
                                 else pd.unique(u.astype(str)))]
        if any(c != unit for c in cats):
            units = u.astype(str).to_numpy(dtype=object)
            put(units != unit, "unit " + units.astype(str) + f" is not a {kind} unit ({unit}); "
                "is --kind right?")
    ids = None
    if checks is not None and checks.known is not None and not checks.allow_unknown_ids:
        ids = checks.known.ids.get(kind)
    if ids is None and on_grid:
        return why
    sid = df["series_id"]
    codes, names = pd.factorize(sid.astype(str) if not isinstance(
        sid.dtype, pd.CategoricalDtype) else sid)
    names = [str(x) for x in names]
    if ids is not None:
        unknown = np.array([x not in ids for x in names], bool)
        if unknown.any():
            words = np.array([f"series {x!r} is not one of {checks.known.where[kind]}; "
                              "check the id, or pass --allow-unknown-ids" for x in names],
                             dtype=object)
            put(unknown[codes], words[codes])
    if not on_grid:
        interval = df["interval_s"].to_numpy() if "interval_s" in df else None
        off, step = off_grid(codes.astype(np.int64), t, interval)
        if off.any():
            local = pd.DatetimeIndex(df["time_utc"]).strftime("%H:%M:%S").to_numpy(
                dtype=object)
            put(off, "time " + local + " UTC is off its series' "
                + (step // 60).astype(str) + "-min grid")
    return why


def _kind_unit(kind: str) -> str:
    return schema.KINDS[kind].unit if kind in schema.KINDS else ""
