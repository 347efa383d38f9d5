"""Audit VEE against the generator's ground truth (``truth/faults.csv``).

For every injected fault, the *affected readings* are the store keys ``(series_id, time_utc)``
the fault touches (``data/RAW-FORMATS.md`` §6); a reading counts as *flagged* when VEE or the
reader marked it in any way:

- it is stored with a quality flag other than ``valid`` or with a rule in ``vee_rule``; or
- its file line is in the quarantine (a quarantined wide or register line stands for every
  interval of its local day, a long line for its one interval); or
- (``gap`` only) it is absent from the store: the hole was left open, nothing was invented
  as a valid reading; such readings are counted in the ``absent`` column; or
- (``duplicate`` with identical copies only) the reader counted the repeated line as a
  duplicate: the file's manifest report counts at least as many duplicates as the truth
  lists identical copies in that file (the reader keeps no per-key record of identical
  repeats, so they are credited per file).

A fault is *found* when at least :data:`FOUND_SHARE` of its affected readings are flagged.

Affected readings per kind (``[start_utc, end_utc)`` is the fault's window):

======================  =======================================================================
kind                    affected readings
======================  =======================================================================
theft, drift            the meter's intervals in the window (VEE cannot see a meter that
                        records less than the load: invisible by design, reported as found)
stuck, zeros, spike     the meter's intervals in the window
gap (electricity)       the missing intervals in the window
gap (water)             the hours starting in ``[start_utc, end_utc]``: the reads at their ends
                        are missing, and the hour at ``end_utc`` starts at a missing read, so
                        its volume is unknown too
stuck (water)           the hours in the window (volume 0 while the register stood still)
gap (scada)             the tag's steps in the window (15 min ``ELEC.*``, 1 h ``WATER.*``)
duplicate               wide layout: the meter's intervals of that local day; long layout:
                        the one interval
dst_spring_96,          every meter-day row of the fault's file on that local day (the unit
dst_autumn_summed       here is the row, not the interval): a row is flagged when any of its
                        readings is flagged or the file has a quarantine entry for its meter
                        and day (the reader repaired or refused it); entries that name the
                        day but no meter (dropped slots of a repaired line) are credited
                        one row each
wrong_unit              every reading of the fault's file in the window (stored or quarantined)
leak                    none in the meter store: leaks are for leak detection, not VEE
======================  =======================================================================

The false-flag rate is the share of stored readings that no fault touches which are flagged
anyway (per store kind, with the rules responsible).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from twin.ingest.store import READ_CHUNK_ROWS, MeasurementStore

#: A fault is found when at least this share of its affected readings is flagged [-].
FOUND_SHARE = 0.5
#: Store kind that holds the readings of each truth ``system``.
SYSTEM_KIND = {"electricity": "electric_interval", "water": "water_read", "scada": "scada"}
#: Fault kinds VEE cannot see by design (a meter that records a fraction of the load).
INVISIBLE_BY_DESIGN = frozenset({"theft", "drift"})
#: Fault kinds of whole files (``file`` column set, ``series_id`` empty).
FILE_KINDS = frozenset({"dst_spring_96", "dst_autumn_summed", "wrong_unit"})
#: Fault kinds that are not meter faults (nothing for VEE to flag).
NOT_VEE = frozenset({"leak"})
_STEP = {"electricity": pd.Timedelta("15min"), "water": pd.Timedelta("1h")}
_MIN_NS = 60_000_000_000


class AuditError(ValueError):
    """The truth file or the store cannot be audited; the message says which and why."""


@dataclass
class AuditResult:
    """What :func:`audit_vee` found.

    Attributes
    ----------
    by_kind : DataFrame
        One row per fault kind and system: ``faults``, ``found``, ``share_found`` [-],
        ``readings`` (affected), ``flagged``, ``quarantined``, ``absent``,
        ``share_flagged`` [-], ``by_design`` (VEE cannot see it), ``definition``.
    by_fault : DataFrame
        One row per fault: ``fault_id, kind, system, series_id, readings, flagged, quarantined,
        absent, share_flagged, found``.
    false_flags : DataFrame
        Per store kind: ``readings`` (fault-free), ``flagged``, ``rate`` [-], ``rules``.
    """

    by_kind: pd.DataFrame
    by_fault: pd.DataFrame
    false_flags: pd.DataFrame
    notes: list[str] = field(default_factory=list)


#: What "affected" means per kind, for the printed table.
DEFINITIONS = {
    "theft": "intervals in window; under-registration, invisible to VEE by design",
    "drift": "intervals in window; slow under-registration, invisible to VEE by design",
    "stuck": "intervals (electricity) / hours (water) in window",
    "zeros": "intervals in window",
    "spike": "the one interval",
    "gap": "missing intervals/hours (water: to end_utc inclusive); absent counts as found",
    "duplicate": "day (wide) or interval (long); identical copies credited per file",
    "dst_spring_96": "meter-day rows of the file on 2016-03-13 (unit: rows)",
    "dst_autumn_summed": "meter-day rows of the file on 2016-11-06 (unit: rows)",
    "wrong_unit": "every reading of the file in the window",
    "leak": "not a meter fault (leak detection's job)",
}


# ------------------------------------------------------------------------ truth
def read_faults(path) -> pd.DataFrame:
    """Read ``truth/faults.csv`` with UTC times and ``details`` parsed to dicts.

    Raises
    ------
    AuditError
        When the file is missing or lacks the documented columns.
    """
    path = Path(path)
    if not path.exists():
        raise AuditError(f"{path}: no ground-truth file; build the data with "
                         "'twin data build' (it writes truth/faults.csv)")
    df = pd.read_csv(path, dtype={"series_id": str, "file": str, "details": str},
                     keep_default_na=False)
    need = ["fault_id", "kind", "system", "series_id", "start_utc", "end_utc", "size", "file",
            "details"]
    missing = [c for c in need if c not in df]
    if missing:
        raise AuditError(f"{path}: lacks columns {missing} (see data/RAW-FORMATS.md §6)")
    df["start_utc"] = pd.to_datetime(df["start_utc"], utc=True)
    df["end_utc"] = pd.to_datetime(df["end_utc"], utc=True)
    df["details"] = [json.loads(d) if d else {} for d in df["details"]]
    return df


def _step(system: str, series_id: str) -> pd.Timedelta:
    if system == "scada":
        return pd.Timedelta("15min") if series_id.startswith("ELEC.") else pd.Timedelta("1h")
    return _STEP[system]


def affected_times(fault: pd.Series, timezone: str) -> pd.DatetimeIndex:
    """Return the UTC times of the readings a series fault touches (see module docstring)."""
    step = _step(fault["system"], fault["series_id"])
    start, end = fault["start_utc"], fault["end_utc"]
    if fault["kind"] == "gap" and fault["system"] == "water":
        end = end + step  # the hour starting at end_utc starts at a missing read
    return pd.date_range(start, end, freq=step, inclusive="left")


def series_fault_keys(faults: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """Explode the series faults into ``fault`` (row position), ``series_id``, ``t_min``.

    ``t_min`` is the reading's UTC start in minutes since 1970 [min].
    """
    parts = []
    for i, f in faults.iterrows():
        if f["kind"] in FILE_KINDS or f["kind"] in NOT_VEE or not f["series_id"]:
            continue
        t = affected_times(f, timezone).asi8 // _MIN_NS
        parts.append(pd.DataFrame({"fault": i, "series_id": f["series_id"], "t_min": t}))
    if not parts:
        return pd.DataFrame({"fault": [], "series_id": [], "t_min": []})
    return pd.concat(parts, ignore_index=True)


# ------------------------------------------------------------------------ quarantine keys
_DATE = re.compile(r"^\d{4}-\d\d-\d\d$")


def quarantine_keys(quarantine: pd.DataFrame, timezone: str) -> pd.DataFrame:
    """Map quarantined lines to the readings they stand for.

    A line whose second field is a local date (wide and register layouts) stands for every
    interval of that local day (15 min for ``electric_interval``, 1 h for ``water_read``);
    one whose second field is a timestamp (long layouts) for that interval. Lines that
    cannot be mapped (garbage) are left out.

    Returns
    -------
    DataFrame
        ``kind, file, series_id, t_min`` [min since 1970, UTC].
    """
    rows = []
    for kind, file, text in zip(quarantine["kind"], quarantine["file"], quarantine["raw_text"],
                                strict=True):
        fields = re.split(r"[,;\t|]", str(text))
        if len(fields) < 2 or not fields[0].strip():
            continue
        meter, when = fields[0].strip(), fields[1].strip()
        if _DATE.match(when):
            try:
                day = pd.Timestamp(when)
                t0 = day.tz_localize(timezone, nonexistent="shift_forward")
                t1 = (day + pd.Timedelta(days=1)).tz_localize(timezone,
                                                              nonexistent="shift_forward")
            except ValueError:
                continue
            step = pd.Timedelta("1h") if kind == "water_read" else pd.Timedelta("15min")
            if kind == "water_read":  # register reads are stamped at the END of each hour
                t0, t1 = t0 - step, t1 - step
            times = pd.date_range(t0.tz_convert("UTC"), t1.tz_convert("UTC"), freq=step,
                                  inclusive="left").asi8 // _MIN_NS
        else:
            try:
                ts = pd.Timestamp(when.replace("Z", "+00:00"))
            except ValueError:
                continue
            if ts.tzinfo is None:
                continue
            times = np.array([ts.tz_convert("UTC").value // _MIN_NS])
        rows.append(pd.DataFrame({"kind": kind, "file": file, "series_id": meter,
                                  "t_min": times}))
    if not rows:
        return pd.DataFrame({"kind": [], "file": [], "series_id": [], "t_min": []})
    return pd.concat(rows, ignore_index=True)


# ------------------------------------------------------------------------ the audit
def _months(store: MeasurementStore, kind: str) -> list[str]:
    months = set()
    for e in store.manifest():
        if e["kind"] == kind:
            months |= {rel.split("/")[1].removeprefix("month=") for rel in e["files"]
                       if rel.startswith(kind + "/")}
    return sorted(months)


#: Store columns the audit reads (the values themselves are not needed).
AUDIT_COLUMNS = ("series_id", "time_utc", "quality_flag", "vee_rule", "source")


def _category_strings(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A categorical column as (codes per row, its categories as str); no string per row."""
    cat = col.astype("category").cat
    return cat.codes.to_numpy(), np.asarray(cat.categories.astype(str), dtype=object)


def _member(k: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """``np.isin(k, sorted_keys)`` for keys sorted once (a binary search per chunk row
    instead of sorting every fault key again for every chunk)."""
    if not len(sorted_keys):
        return np.zeros(len(k), bool)
    pos = np.minimum(np.searchsorted(sorted_keys, k), len(sorted_keys) - 1)
    return sorted_keys[pos] == k


def _audit_chunk(df: pd.DataFrame, code, enc, key_codes: np.ndarray,
                 file_faults: pd.DataFrame, file_stats: dict, kind: str):
    """Audit one chunk of stored readings (whole series of one month, overlaps resolved).

    Returns the stored fault keys (``k``, ``flag``, ``file``), the rows a file fault covers
    and the chunk's false-flag counts; adds the file faults' counts to ``file_stats``.
    """
    sid_codes, sid_names = _category_strings(df["series_id"])
    c = np.append(code(sid_names), -1)[sid_codes]
    t = df["time_utc"].array.asi8 // _MIN_NS
    k = enc(c, t)
    q_codes, q_names = _category_strings(df["quality_flag"])
    r_codes, r_names = _category_strings(df["vee_rule"])
    flag = (np.append(q_names != "valid", True)[q_codes]
            | np.append(r_names != "", True)[r_codes])
    src_codes, src_names = _category_strings(df["source"])
    file_names = np.array([n.rsplit("@", 1)[0] for n in src_names], dtype=object)
    hit = (c >= 0) & _member(k, key_codes)
    stored = pd.DataFrame({"k": k[hit], "flag": flag[hit],
                           "file": np.append(file_names, None)[src_codes[hit]]})
    # file faults: readings of the file in the window
    in_file_fault = np.zeros(len(df), bool)
    for i, f in file_faults.iterrows():
        of_file = np.flatnonzero(file_names == Path(f["file"]).name)
        if not len(of_file):
            continue
        lo, hi = f["start_utc"].value // _MIN_NS, f["end_utc"].value // _MIN_NS
        m = np.isin(src_codes, of_file) & (t >= lo) & (t < hi)
        if m.any():
            file_stats[i][0] += int(m.sum())
            file_stats[i][1] += int(flag[m].sum())
            file_stats[i][2] |= set(sid_names[np.unique(sid_codes[m])])
            file_stats[i][3] |= set(sid_names[np.unique(sid_codes[m & flag])])
        in_file_fault |= m
    free = ~hit & ~in_file_fault
    rules = pd.Series(np.append(r_names, "nan")[r_codes[free & flag]])
    return stored, in_file_fault, {"kind": kind, "readings": int(free.sum()),
                                   "flagged": int((free & flag).sum()),
                                   "rules": rules.value_counts().to_dict()}


def audit_vee(store: MeasurementStore, faults: pd.DataFrame, timezone: str,
              progress=None, chunk_rows: int | None = READ_CHUNK_ROWS) -> AuditResult:
    """Score the store's VEE flags against ground-truth faults (see module docstring).

    Parameters
    ----------
    store : MeasurementStore
        A store holding the build's raw files ingested (kinds ``electric_interval``,
        ``water_read``, ``scada``).
    faults : DataFrame
        From :func:`read_faults`.
    timezone : str
        The city's zone (the wide files' local days).
    progress : callable, optional
        ``progress(done, total, label)`` after each month read.
    chunk_rows : int, optional
        Stored rows read at once (:meth:`MeasurementStore.iter_read`): the store is
        streamed a month and a group of series at a time; None reads each month whole
        (the same result, more memory).

    Returns
    -------
    AuditResult
    """
    faults = faults.reset_index(drop=True)
    keys = series_fault_keys(faults, timezone)
    q = store.read_quarantine()
    qkeys = quarantine_keys(q, timezone)
    file_faults = faults[faults["kind"].isin(FILE_KINDS)]
    # per fault accumulators
    n = len(faults)
    readings = np.zeros(n, np.int64)
    flagged = np.zeros(n, np.int64)
    quarantined = np.zeros(n, np.int64)
    absent = np.zeros(n, np.int64)
    seen = np.zeros(n, np.int64)  # affected keys found in the store
    first_source = {}  # fault -> file of its first affected stored reading
    false_rows = []
    kinds = [k for k in SYSTEM_KIND.values() if k in store.kinds()]
    work = [(k, m) for k in kinds for m in _months(store, k)]
    series_codes = {s: i for i, s in enumerate(pd.unique(pd.concat(
        [keys["series_id"], qkeys["series_id"]], ignore_index=True).astype(str)))}

    def code(ids: np.ndarray) -> np.ndarray:
        return np.array([series_codes.get(s, -1) for s in ids], np.int64)

    def enc(c: np.ndarray, t: np.ndarray) -> np.ndarray:
        return (c << 32) | (t.astype(np.int64) & 0xFFFFFFFF)

    key_codes = enc(code(keys["series_id"].astype(str).to_numpy()),
                    keys["t_min"].to_numpy(np.int64))
    q_enc = np.unique(enc(code(qkeys["series_id"].astype(str).to_numpy()),
                          qkeys["t_min"].to_numpy(np.int64)))
    stored_fault_keys = []
    # per file fault: stored readings, flagged ones, meters, meters with a flagged reading
    file_stats = {i: [0, 0, set(), set()] for i in file_faults.index}

    sorted_keys = np.unique(key_codes)
    for done, (kind, month) in enumerate(work, 1):
        start = pd.Timestamp(month + "-01", tz="UTC")
        for df in store.iter_read(kind, AUDIT_COLUMNS, start=start,
                                  end=start + pd.offsets.MonthBegin(1), chunk_rows=chunk_rows):
            stored, in_file_fault, false_row = _audit_chunk(df, code, enc, sorted_keys,
                                                             file_faults, file_stats, kind)
            stored_fault_keys.append(stored)
            false_rows.append(false_row)
        if progress is not None:
            progress(done, len(work), f"{kind} {month}")

    stored = (pd.concat(stored_fault_keys, ignore_index=True) if stored_fault_keys
              else pd.DataFrame({"k": [], "flag": [], "file": []}))
    stored = stored.drop_duplicates("k")
    table = pd.DataFrame({"fault": keys["fault"].to_numpy(), "k": key_codes})
    table = table.merge(stored, on="k", how="left")
    table["is_q"] = np.isin(table["k"].to_numpy(), q_enc)
    table["present"] = table["flag"].notna()
    table["flag"] = table["flag"].eq(True)  # absent keys (NaN) are not flagged
    g = table.groupby("fault")
    readings_s = g.size()
    readings[readings_s.index] = readings_s.to_numpy()
    for col, target in (("flag", flagged), ("is_q", quarantined), ("present", seen)):
        s = g[col].sum()
        target[s.index] = s.to_numpy()
    absent_s = g.apply(lambda d: int((~d["present"] & ~d["is_q"]).sum()), include_groups=False)
    absent[absent_s.index] = absent_s.to_numpy()
    firsts = table[table["present"]].groupby("fault")["file"].first()
    first_source.update(firsts.to_dict())

    counted = flagged + quarantined  # a key is either stored or quarantined, rarely both
    notes = []
    # identical duplicates: credit per file from the manifest's duplicate counts
    dup_files = {}
    for e in store.manifest():
        rep = e.get("report") or {}
        name = rep.get("file") or e.get("source", "").rsplit("@", 1)[0]
        dup_files[name] = dup_files.get(name, 0) + int(rep.get("duplicates", 0) or 0)
    identical = faults.index[(faults["kind"] == "duplicate") & faults["details"].map(
        lambda d: not d.get("disagree", False))]
    credit = dict(dup_files)
    for i in identical:
        name = first_source.get(i)
        if name is not None and credit.get(name, 0) > 0:
            credit[name] -= 1
            counted[i] = readings[i]
    # gaps: an absent reading is a hole left open
    gap = (faults["kind"] == "gap").to_numpy()
    counted[gap] += absent[gap]
    # file faults
    for i, f in file_faults.iterrows():
        name = Path(f["file"]).name
        lo, hi = f["start_utc"].value // _MIN_NS, f["end_utc"].value // _MIN_NS
        qf = qkeys[(qkeys["file"] == name) & (qkeys["t_min"] >= lo) & (qkeys["t_min"] < hi)]
        n_stored, n_flag, meters, flagged_meters = file_stats[i]
        q_meters = set(qf["series_id"])
        if f["kind"] in ("dst_spring_96", "dst_autumn_summed"):  # unit: meter-day rows
            # entries that name the day but no meter (a repaired line's dropped slots)
            day = f["start_utc"].tz_convert(timezone).strftime("%Y-%m-%d")
            in_file = q[q["file"] == name]
            unmapped = int((in_file["reason"].astype(str).str.contains(day, regex=False)
                            & ~in_file["raw_text"].astype(str).str.split(r"[,;\t|]").str[0]
                            .isin(q_meters | meters)).sum())
            readings[i] = len(meters | q_meters)
            quarantined[i] = len(q_meters) + unmapped
            flagged[i] = counted[i] = min(len(flagged_meters | q_meters) + unmapped,
                                          readings[i])
        else:
            readings[i] = n_stored + len(qf)
            quarantined[i] = len(qf)
            flagged[i] = n_flag
            counted[i] = min(n_flag + len(qf), readings[i])
    counted = np.minimum(counted, readings)
    share = np.where(readings > 0, counted / np.maximum(readings, 1), np.nan)
    by_fault = pd.DataFrame({
        "fault_id": faults["fault_id"], "kind": faults["kind"], "system": faults["system"],
        "series_id": faults["series_id"], "readings": readings, "flagged": counted,
        "quarantined": quarantined, "absent": absent, "share_flagged": share,
        "found": share >= FOUND_SHARE})
    by_kind = summarise(by_fault)
    ff = pd.DataFrame(false_rows)
    if len(ff):
        ff = ff.groupby("kind").agg(readings=("readings", "sum"), flagged=("flagged", "sum"),
                                    rules=("rules", _merge_counts)).reset_index()
        ff["rate"] = ff["flagged"] / ff["readings"].clip(lower=1)
    else:
        ff = pd.DataFrame(columns=["kind", "readings", "flagged", "rules", "rate"])
    missing_kinds = sorted({SYSTEM_KIND[s] for s in faults["system"] if s in SYSTEM_KIND}
                           - set(kinds))
    if missing_kinds:
        notes.append(f"store holds no {', '.join(missing_kinds)}: their faults count as not "
                     "found")
    return AuditResult(by_kind, by_fault, ff, notes)


def _merge_counts(dicts) -> dict:
    out: dict = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def summarise(by_fault: pd.DataFrame) -> pd.DataFrame:
    """Aggregate per-fault results into one row per fault kind and system."""
    g = by_fault.groupby(["kind", "system"], sort=True)
    out = g.agg(faults=("fault_id", "size"), found=("found", "sum"),
                readings=("readings", "sum"), flagged=("flagged", "sum"),
                quarantined=("quarantined", "sum"), absent=("absent", "sum")).reset_index()
    out["share_found"] = out["found"] / out["faults"]
    out["share_flagged"] = out["flagged"] / out["readings"].where(out["readings"] > 0)
    out["by_design"] = out["kind"].isin(INVISIBLE_BY_DESIGN | NOT_VEE)
    out["definition"] = out["kind"].map(DEFINITIONS).fillna("intervals in window")
    not_vee = out["kind"].isin(NOT_VEE)
    out.loc[not_vee, ["share_found", "share_flagged"]] = np.nan
    return out[["kind", "system", "faults", "found", "share_found", "readings", "flagged",
                "quarantined", "absent", "share_flagged", "by_design", "definition"]]


def audit_build(raw_dir, store: MeasurementStore, timezone: str,
                progress=None, chunk_rows: int | None = READ_CHUNK_ROWS) -> AuditResult:
    """Audit a store against the ``truth/faults.csv`` of the raw build in ``raw_dir`` (see
    :func:`audit_vee` for ``progress`` and ``chunk_rows``)."""
    return audit_vee(store, read_faults(Path(raw_dir) / "truth" / "faults.csv"), timezone,
                     progress, chunk_rows)
