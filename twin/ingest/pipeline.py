"""Ingest raw meter files into the store: detect format, read, normalise, VEE, archive, write.

``ingest_file`` handles one file and returns an :class:`~twin.ingest.batch.IngestReport`;
``ingest_paths`` walks files and folders. A file that cannot be read at all (no header,
not XML) does not stop the run: its report carries ``error`` and nothing is committed, so
it can be ingested again once fixed. Every row of a readable file is accounted for:
``accepted + quarantined + duplicates == rows_read``.

MDM CSV files are streamed: each chunk is read (a thread), validated (VEE) and staged (a
writer thread) while its neighbours are, so memory stays bounded by a few chunks and both
cores work; the file commits once, atomically. Chunks hold whole meters; rows of a meter
that come back later in the file (re-sent rows) are validated again with that meter's
staged rows, so the result equals validating the file at once. A file whose energy values
are Wh under a kWh label is detected on its first chunk (:func:`twin.ingest.vee.unit_scale`)
and converted when the same meters' stored history proves it, or, without it, when the series
are customer meters (``IngestReport.unit_scale``, ``notes``); series outside the city's
register keep their declared unit, flagged (``IngestReport.unit_suspect``, rule
``unit_suspect``).
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
import posixpath
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa

from twin.ingest import plausible, schema, vee
from twin.ingest.batch import IngestReport, ReadBatch, concat_readings
from twin.ingest.greenbutton import (
    GreenButtonError,
    GreenButtonResources,
    NoReadings,
    read_greenbutton_csv,
    read_greenbutton_xml,
    reading_types_of,
)
from twin.ingest.historian import (
    EXCEL_SUFFIXES,
    HistorianError,
    is_historian_header,
    iter_historian,
    read_header,
    read_historian,
)
from twin.ingest.mdm_csv import (
    MdmCsvError,
    iter_mdm_csv,
    meter_runs,
    read_mdm_csv,
    sniff_layout,
)
from twin.ingest.pv_portal import PvPortalError, is_pv_portal_header, read_pv_portal
from twin.ingest.store import MeasurementStore, file_sha256, source_label
from twin.ingest.tag_map import CityElements, TagMap, TagMapError, read_tag_map
from twin.ingest.weather import SOURCES as WEATHER_FORMATS
from twin.ingest.weather import WeatherError, detect_weather_format, ingest_weather

#: Formats ``ingest_file`` can read: meter, SCADA and PV files, then weather files
#: (:mod:`twin.ingest.weather`, kind ``weather``).
FORMATS = ("mdm_csv", "historian", "greenbutton_xml", "greenbutton_csv", "pv_portal_csv",
           *WEATHER_FORMATS)
#: File extensions ``ingest_paths`` picks up in folders (PVGIS JSON only when named).
EXTENSIONS = (".csv", ".txt", ".xml", ".epw", *EXCEL_SUFFIXES)
_USER_ERRORS = (GreenButtonError, MdmCsvError, PvPortalError, HistorianError, TagMapError,
                ValueError, OSError, UnicodeDecodeError, pa.ArrowInvalid)


class IngestError(ValueError):
    """A request that cannot be done (unknown format or kind); names what to change."""


def _need_timezone(timezone: str | None, name: str, why: str) -> str:
    """The city's zone, or a clear error: the city is an input, never a default."""
    if not timezone:
        raise IngestError(f"{name}: {why}; give the city's time zone (timezone=, or "
                          "`twin ingest --city DIR`)")
    return timezone


def detect_format(path, tag_map: TagMap | None = None) -> str:
    """Detect a file's format from its extension and first bytes.

    A SCADA historian export is recognised by its header (a tag, a time and a value column),
    or, for a wide export, by columns that are tags of ``tag_map``; Excel workbooks are
    historian exports.

    Raises
    ------
    IngestError
        When the file is none of :data:`FORMATS`.
    """
    name = posixpath.basename(str(path))
    if name.lower().endswith(EXCEL_SUFFIXES):
        return "historian"
    with fsspec.open(str(path), "rb") as f:
        head = f.read(8192)
    text = head.decode("utf-8", "replace").lstrip("\ufeff").lstrip()
    if text.startswith("<") or name.lower().endswith(".xml"):
        return "greenbutton_xml"
    lines = text.splitlines()
    if any(line.upper().replace(" ", "").startswith("TYPE,DATE,STARTTIME") for line in lines):
        return "greenbutton_csv"
    try:  # weather files carry their own markers (EPW LOCATION, TMY3 and PSM headers)
        return detect_weather_format(path)
    except (WeatherError, OSError):
        pass
    if lines and is_pv_portal_header(lines[0]):
        return "pv_portal_csv"
    if lines and is_historian_header(read_header(path), tag_map):
        return "historian"
    if lines:
        try:
            sniff_layout(lines[0], name)
            return "mdm_csv"
        except MdmCsvError:
            pass
    raise IngestError(f"{name}: not a known meter data format ({', '.join(FORMATS)}); "
                      "pass format= if the extension misleads")


def read_file(path, format: str, *, kind: str | None = None, timezone: str | None = None,
              tag_map: TagMap | None = None, reading_type=None, unit: str | None = None,
              resources: GreenButtonResources | None = None) -> ReadBatch:
    """Read one file with the reader of ``format``; readings in UTC and canonical units.

    ``timezone`` is the city's zone (files with local times need it); ``tag_map`` is for
    historian exports; ``reading_type``, ``unit`` and ``resources`` for Green Button XML
    (see :func:`twin.ingest.greenbutton.read_greenbutton_xml`).
    """
    name = posixpath.basename(str(path))
    if format == "mdm_csv":
        return read_mdm_csv(path, _need_timezone(timezone, name, "its days are local days"),
                            kind=kind)
    if format == "historian":
        batch = read_historian(path, timezone, tag_map=tag_map)
    elif format == "greenbutton_xml":
        batch = read_greenbutton_xml(path, reading_type=reading_type, unit=unit,
                                     resources=resources)
    elif format == "greenbutton_csv":
        batch = read_greenbutton_csv(path, _need_timezone(timezone, name,
                                                          "its times are local wall-clock"))
    elif format == "pv_portal_csv":
        batch = read_pv_portal(path)
    else:
        raise IngestError(f"unknown format {format!r}; known: {', '.join(FORMATS)}")
    if kind:
        batch.kind = kind
        batch.quarantine["kind"] = kind
    return batch


def settings_for(kind: str, settings: vee.VeeSettings | None = None) -> vee.VeeSettings:
    """Return VEE settings suited to a kind (negative values allowed where the kind allows)."""
    s = settings or vee.VeeSettings()
    if settings is None and kind in ("scada", "weather"):  # steady pumps, full tanks
        s = dataclasses.replace(s, frozen_min_run=48)
    if settings is None and kind == "water_read":  # hourly use is spiky and steady at night
        s = dataclasses.replace(s, spike_min_step=vee.WATER_SPIKE_MIN_M3, frozen_min_run=24,
                                zero_min_span=pd.Timedelta("3D"))  # longer than a weekend away
    if settings is None and kind == "electric_interval":  # standby load never reads 0 for a day
        s = dataclasses.replace(s, zero_min_span=pd.Timedelta("1D"))
    return dataclasses.replace(s, allow_negative=schema.KINDS[kind].allow_negative)


#: History rows kept for the statistics: every this-many-th stored reading [-] (8 weeks of
#: 15-min reads leave ~1,300 per series, where the statistics take 256).
HISTORY_EVERY = 4


def history_stats(store: MeasurementStore, kind: str, readings: pd.DataFrame,
                  weeks: int = 8) -> pd.DataFrame:
    """Median, scale and percentiles of the stored readings of the batch's series, over the
    ``weeks`` before it (a regular subsample, read batch by batch: memory stays small)."""
    if readings.empty or not store.manifest():
        return pd.DataFrame(columns=["median", "scale"])
    start = readings["time_utc"].min() - pd.Timedelta(weeks=weeks)
    sid = readings["series_id"]
    series = (list(sid.cat.categories.astype(str)) if isinstance(sid.dtype, pd.CategoricalDtype)
              else sid.astype(str).unique().tolist())
    # statistics need no overlap resolution: read the few columns, unmerged
    parts = [df.iloc[::HISTORY_EVERY] for df in store.iter_columns(
        kind, ["series_id", "value", "quality_flag"], series=series, start=start,
        end=readings["time_utc"].min())]
    if not parts:
        return pd.DataFrame(columns=["median", "scale"])
    return vee.series_stats(pd.concat(parts, ignore_index=True))


#: Runs reading more than this [B] return freed chunk arrays to the system (bounded memory
#: over hours of ingest, measured ~20 % more CPU for the page faults); smaller runs don't.
BIG_RUN_BYTES = 256 << 20


def _input_bytes(paths: Iterable[str]) -> int:
    """Total size of local input files [B] (0 for remote URLs: not known cheaply)."""
    return sum(os.path.getsize(p) for p in paths if os.path.isfile(p))


@functools.lru_cache(maxsize=1)
def _return_big_arrays_to_os() -> bool:
    """Have glibc map every allocation above 1 MiB on its own, so that the arrays of each
    chunk go back to the system when freed (glibc's adaptive threshold would otherwise keep
    them in per-thread heaps and the process would grow chunk after chunk), and Arrow
    allocate through malloc too. Once per process; a no-op where the C library is not glibc.
    Returns True when set."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = bool(libc.mallopt(-3, 1 << 20))  # M_MMAP_THRESHOLD [B]
    except (OSError, AttributeError):
        return False
    if ok:  # Arrow buffers too: through malloc, not a pool that keeps what it had
        pa.set_memory_pool(pa.system_memory_pool())
    return ok


def stored_registers(store: MeasurementStore, kind: str,
                     readings: pd.DataFrame) -> pd.DataFrame | None:
    """Stored register reads (kind ``electric_register``) of the batch's meters over its
    time span (a day either side), to sum-check interval reads against; None if none."""
    if kind != "electric_interval" or readings.empty or "electric_register" not in {
            e["kind"] for e in store.manifest()}:
        return None
    sid = readings["series_id"]
    series = (list(sid.cat.categories.astype(str)) if isinstance(sid.dtype, pd.CategoricalDtype)
              else sid.astype(str).unique().tolist())
    t = readings["time_utc"]
    regs = store.read("electric_register", series=series, start=t.min() - pd.Timedelta("1D"),
                      end=t.max() + pd.Timedelta("1D"))
    return regs if len(regs) else None


def ingest_file(
    store: MeasurementStore,
    path,
    kind: str | None = None,
    format: str | None = None,
    *,
    timezone: str | None = None,
    settings: vee.VeeSettings | None = None,
    now: pd.Timestamp | None = None,
    use_history: bool = True,
    chunk_bytes: int = 4 << 20,
    tag_map: TagMap | None = None,
    reading_type=None,
    unit: str | None = None,
    resources: GreenButtonResources | None = None,
    checks: plausible.Checks | None = None,
) -> IngestReport:
    """Ingest one raw file into the store.

    Parameters
    ----------
    store : MeasurementStore
        Where the readings go.
    path : str or path-like
        Local path or fsspec URL of the raw file.
    kind : str, optional
        Measurement kind; default what the reader says (electric interval for meter files).
    format : str, optional
        One of :data:`FORMATS`; detected from extension and content by default.
    timezone : str, optional
        The city's IANA zone, for the file's wall-clock times; a file with local times and
        no zone ends in a report ``error`` (the city is an input, never a default).
    settings : VeeSettings, optional
        VEE thresholds.
    now : Timestamp, optional
        The present for the future-timestamp rule (tests); default the clock.
    use_history : bool
        Validate high/low against the stored history of each series.
    chunk_bytes : int
        MDM CSV files are streamed in chunks of this many bytes [B]; each chunk is
        validated and staged while the next is read, and the file commits once. 4 MiB:
        measured 20 % faster end to end than 8 MiB on 5 M reads (the first read and the
        last write, which nothing overlaps, are shorter).
    tag_map : TagMap, optional
        The utility's SCADA tag map (:func:`twin.ingest.tag_map.read_tag_map`), for
        historian exports: tags, elements and units.
    reading_type : dict, list or path, optional
        Green Button: ReadingType for readings whose files declare none (``--reading-type``).
    unit : str, optional
        Green Button: the unit of the values as written, replacing the declared one.
    resources : GreenButtonResources, optional
        Green Button: the other resources of the folder or feed (linked by href).
    checks : plausible.Checks, optional
        The city's series ids (readings of other ids are quarantined unless
        ``allow_unknown_ids``); time range, value bounds, time grid and unit against the
        kind are checked whatever is given (:func:`twin.ingest.plausible.screen`).

    Returns
    -------
    IngestReport
        Counts per file; a file whose every row is rejected is a failed file (``error``,
        nothing committed, so it can be ingested again once the city or the file is fixed); ``skipped`` when the same file (sha256) is already in the store or
        holds no readings (a Green Button resource), ``error`` when the file could not be
        read (nothing committed).
    """
    path = os.fspath(path)
    detected = format or _format_or_none(path, tag_map)
    if detected in WEATHER_FORMATS:
        return ingest_weather(store, path, detected, now=now)
    report = IngestReport(file=posixpath.basename(path))
    if _input_bytes([path]) > BIG_RUN_BYTES:
        _return_big_arrays_to_os()
    hold: set[str] = set()
    try:
        runs = meter_runs(path) if detected == "mdm_csv" else None
        report.sha256 = file_sha256(path, on_block=runs.feed if runs else None)
        if report.sha256 in store.checksums():
            report.skipped = True
            report.skipped_reason = "already ingested (same sha256)"
            return report
        report.format = detected or detect_format(path, tag_map)  # unknown: says why
        if runs is not None:
            hold = runs.returning()
        if report.format == "mdm_csv":
            tz = _need_timezone(timezone, report.file, "its days and times are local")
            batches = iter_mdm_csv(path, tz, kind=kind, chunk_bytes=chunk_bytes)
        elif report.format == "historian":  # parsed now; batches of whole series
            batches = iter_historian(path, timezone, tag_map=tag_map)
        else:
            batches = iter([read_file(path, report.format, kind=kind, timezone=timezone,
                                      tag_map=tag_map, reading_type=reading_type, unit=unit,
                                      resources=resources)])
    except NoReadings as exc:
        report.skipped = True
        report.skipped_reason = str(exc).split(": ", 1)[-1]
        return report
    except _USER_ERRORS as exc:
        report.error = str(exc)
        return report
    try:
        return _ingest_batches(store, path, report, batches, settings, now, use_history, hold,
                               checks)
    except _USER_ERRORS as exc:  # found while streaming: nothing was committed
        report.error = str(exc) if report.file in str(exc) else f"{report.file}: {exc}"
        return report


def _format_or_none(path, tag_map: TagMap | None = None) -> str | None:
    """:func:`detect_format`, None when the format is unknown or the file cannot be read
    (the caller's own read then reports why)."""
    try:
        return detect_format(path, tag_map)
    except (IngestError, OSError, UnicodeDecodeError):
        return None


#: Rows [-] of series held back (they come back later in the file) kept in memory at most;
#: beyond, they are validated and staged, and revalidated with their late rows at the end.
HOLD_MAX_ROWS = 1_000_000


def _ingest_batches(store: MeasurementStore, path: str, report: IngestReport,
                    batches: Iterator[ReadBatch], settings, now, use_history,
                    hold: set[str] = frozenset(),
                    checks: plausible.Checks | None = None) -> IngestReport:
    """Validate and stage each batch of a file while the next one is read and the previous
    one written (threads: parsing, numpy and Parquet release the GIL), then commit once.

    Series in ``hold`` (they come back later in the file, :class:`~twin.ingest.mdm_csv.
    MeterRuns`) are kept back and validated once, at the end, with all their rows, instead
    of being staged, read back and staged again."""
    staged = None
    emitted: set[str] = set()  # series validated so far
    late: list[pd.DataFrame] = []  # rows of series that come back later in the file
    held: list[pd.DataFrame] = []  # rows of series in ``hold``
    n_held = 0
    quarantines = []
    vee_sum = vee.VeeSummary()
    meta: dict = {}
    decided = False  # the file's unit scale (decided on its first readings)
    with ThreadPoolExecutor(max_workers=1) as writer:
        pending = None
        try:
            for batch in _prefetch(batches):
                batch, _, _ = plausible.screen(batch, checks, report.file)
                if "line" in batch.readings:  # for the screen's quarantine only
                    del batch.readings["line"]
                if staged is None:
                    staged = store.begin(batch.kind, path, report.sha256)
                    report.kind, meta = batch.kind, batch.meta
                    report.notes.extend(batch.meta.get("notes", []))
                _count(report, batch)
                quarantines.append(batch.quarantine)
                df = batch.readings
                if not decided and len(df):
                    _decide_unit_scale(store, report, df, use_history, checks)
                    decided = True
                df = vee.apply_unit_scale(df, report.unit_scale)
                if report.unit_suspect:
                    df = vee.flag_unit_suspect(df)
                df = df.assign(series_id=df["series_id"].astype("category"))
                sid = df["series_id"].cat
                names = np.asarray(sid.categories.astype(str), dtype=object)
                codes = sid.codes.to_numpy()
                is_late = _member(names, emitted)[codes]
                is_held = _member(names, hold)[codes]
                if is_late.any():
                    late.append(df[is_late])
                if is_held.any():
                    held.append(df[is_held])
                    n_held += int(is_held.sum())
                if is_late.any() or is_held.any():
                    keep = ~(is_late | is_held)
                    df = df[keep].reset_index(drop=True)
                if n_held > HOLD_MAX_ROWS:  # too many to keep: validate them now, in order
                    df = concat_readings([*held, df])
                    hold, held, n_held = set(), [], 0
                if not len(df):
                    continue
                out = _validate(store, report, path, df, settings, now, use_history, vee_sum)
                sid = df["series_id"].cat
                used = np.bincount(sid.codes.to_numpy(), minlength=len(sid.categories)) > 0
                emitted.update(sid.categories[used].astype(str))
                if pending is not None:
                    pending.result()
                pending = writer.submit(staged.add, out)
            if pending is not None:
                pending.result()
            if staged is None:  # a reader that yields nothing (cannot happen for files)
                return report
            if report.rows_read and not report.accepted and report.quarantined:
                report.error = _all_rejected(report, quarantines)
                staged.abort()
                return report
            if late or held:
                _revalidate_late(store, report, path, staged, concat_readings(held + late),
                                 settings, now, use_history, vee_sum)
            report.vee = dataclasses.asdict(vee_sum)
            report.estimated, report.failed = vee_sum.estimated, vee_sum.failed
            store.archive(path, report.sha256)
            quarantine = pd.concat(quarantines, ignore_index=True) if quarantines else None
            result = staged.commit(
                quarantine=quarantine,
                report={k: v for k, v in dataclasses.asdict(report).items() if k != "vee"}
                | {"meta": _jsonable(meta)})
        except BaseException:
            if pending is not None:
                pending.cancel()
            if staged is not None:
                writer.shutdown(wait=True)
                staged.abort()
            raise
    report.readings_written = result.rows
    report.skipped = result.skipped
    pa.default_memory_pool().release_unused()
    return report


def _all_rejected(report: IngestReport, quarantines: list[pd.DataFrame]) -> str:
    """The error of a file whose every row was rejected: how many, and the main reasons."""
    q = pd.concat(quarantines, ignore_index=True)
    top = q["reason"].astype(str).str.slice(0, 300).value_counts().head(2)
    first = q.sort_values("line").iloc[0] if len(q) else None
    where = f" (first on line {int(first['line'])})" if first is not None else ""
    return (f"{report.file}: every one of its {report.rows_read:,} rows was rejected{where}: "
            + "; ".join(f"{r} ({n:,})" for r, n in top.items())
            + "; nothing stored, fix the file or the city and ingest it again")


def _member(names: np.ndarray, among: set[str]) -> np.ndarray:
    """Return which of a batch's series names are in ``among`` (a set look-up per name)."""
    return np.fromiter((n in among for n in names), bool, len(names))


def _count(report: IngestReport, batch: ReadBatch) -> None:
    """Add a chunk's counts to the file's report."""
    report.rows_read += batch.rows_read
    report.accepted += batch.rows_accepted
    report.duplicates += batch.duplicates
    slots = batch.meta.get("slots_quarantined", 0)
    report.quarantined += len(batch.quarantine) - slots
    report.slots_quarantined += slots
    for rule, n in batch.meta.get("repaired", {}).items():
        report.repaired[rule] = report.repaired.get(rule, 0) + n


def _decide_unit_scale(store, report, df, use_history, checks=None) -> None:
    """Detect a file written in Wh but labelled kWh from its first readings (see
    :func:`twin.ingest.vee.unit_scale`) and record the decision in the report.

    Only an MDM export's unit label is corrected; a unit a file declares in full (a Green
    Button ReadingType) is never replaced, only warned about. The same meters' stored history
    proves a wrong label. Without it, a demand above a megawatt is only impossible for a
    customer meter: the values are rescaled (with a warning) only when the series are the
    city's customer meters (or no register was given: ``electric_interval`` is customer
    meter data); series the user let in beside the register (``--allow-unknown-ids``: a
    feeder, a grid supply point) keep the unit their file declares, flagged
    (``report.unit_suspect``, rule :data:`twin.ingest.vee.UNIT_SUSPECT_RULE`, a warning)."""
    if report.kind != "electric_interval":
        return
    history = history_stats(store, report.kind, df) if use_history else None
    factor, why = vee.unit_scale(df, history)
    if why and report.format != "mdm_csv":
        report.notes.append(f"warning: values look 1000 times too large ({why}); kept as the "
                            "file declares them (pass --unit to correct)")
        return
    if factor == 1.0 and why:
        outside = _not_customer_meters(df, checks)
        if outside is not None and outside.any():
            report.unit_suspect = True
            report.notes.append(
                f"warning: values look too large for the unit the file declares ({why}); "
                "series outside the city's customer register keep it, flagged "
                f"{vee.UNIT_SUSPECT_RULE}; if the file is Wh labelled kWh, correct its unit "
                "column and ingest it again")
            return
        factor = vee.WH_FACTOR
        why = (f"warning: {why}; rescaled as customer meters ("
               + ("the city's register lists them" if outside is not None else
                  "no register given") + ")")
    report.unit_scale = factor
    if factor != 1.0:
        report.notes.append(f"values multiplied by {factor:g} (rule unit_scale): {why}")


def _not_customer_meters(df: pd.DataFrame, checks) -> np.ndarray | None:
    """Readings of series the city's register does not list, let in by the user
    (``--allow-unknown-ids``); None (no such reading) without a register or that option."""
    if checks is None or checks.known is None or not checks.allow_unknown_ids:
        return None
    meters = checks.known.ids.get("electric_interval")
    if meters is None:
        return None
    sid = df["series_id"].astype("category")
    names = np.asarray(sid.cat.categories.astype(str), dtype=object)
    return ~_member(names, meters)[sid.cat.codes.to_numpy()]


def _validate(store, report, path, df, settings, now, use_history, vee_sum) -> pd.DataFrame:
    """Run VEE on series-complete readings; add its counts to ``vee_sum``."""
    if report.kind == "electric_register":  # cumulative reads: kept as read, for sum checks
        return _with_source(df, path, report.sha256)
    history = history_stats(store, report.kind, df) if use_history else None
    out, summary = vee.run_vee(_with_source(df, path, report.sha256),
                               settings_for(report.kind, settings), history=history, now=now,
                               registers=stored_registers(store, report.kind, df))
    vee_sum.readings_in += summary.readings_in
    vee_sum.duplicates_dropped += summary.duplicates_dropped
    vee_sum.gaps_inserted += summary.gaps_inserted
    vee_sum.failed += summary.failed
    vee_sum.estimated += summary.estimated
    for k, v in summary.by_rule.items():
        vee_sum.by_rule[k] = vee_sum.by_rule.get(k, 0) + v
    return out


#: Rows [-] revalidated together at most when series come back later in a file: more late
#: series are taken in groups (series are validated independently), which bounds memory.
REVALIDATE_ROWS = 2_000_000


def _revalidate_late(store, report, path, staged, late, settings, now, use_history,
                     vee_sum) -> None:
    """Validate series that came back later in the file together with their staged rows.

    Their staged rows are taken back out of the staging area (one pass per group of series)
    as they were read (``raw_value``, reader flags and rules), and validated again with the
    late rows, so the result equals validating the whole file at once.
    """
    sid = late["series_id"].astype(str)
    names = np.unique(sid.to_numpy())
    staged_series = len(set().union(*staged.series)) if staged.series else 0
    rows = len(late) + staged.rows * len(names) / max(1, staged_series)  # estimate
    groups = np.array_split(names, max(1, int(np.ceil(rows / REVALIDATE_ROWS))))
    for group in groups:
        part = late[sid.isin(group).to_numpy()] if len(groups) > 1 else late
        _revalidate_group(store, report, path, staged, part, set(group), settings, now,
                          use_history, vee_sum)


def _revalidate_group(store, report, path, staged, late, names, settings, now, use_history,
                      vee_sum) -> None:
    """:func:`_revalidate_late` for the series ``names`` (their late rows ``late``)."""
    prior = staged.take_series(names)
    if not len(prior):  # held back: never staged
        staged.add(_validate(store, report, path, late, settings, now, use_history, vee_sum))
        return
    # the staged rows are counted again below: take their first counts back
    vee_sum.readings_in -= int(prior["raw_value"].notna().sum())
    vee_sum.gaps_inserted -= int(prior["raw_value"].isna().sum())
    flags = prior["quality_flag"].astype(str)
    for k in ("estimated", "failed"):
        setattr(vee_sum, k, getattr(vee_sum, k) - int((flags == k).sum()))
    for rules, n in prior["vee_rule"].astype(str).value_counts().items():
        for rule in rules.split(";"):
            if rule in vee_sum.by_rule:
                vee_sum.by_rule[rule] -= int(n)
    as_read = vee.as_read(prior).drop(columns="source")
    both = concat_readings([as_read, late])
    staged.add(_validate(store, report, path, both, settings, now, use_history, vee_sum))


def _prefetch(batches: Iterator[ReadBatch]) -> Iterator[ReadBatch]:
    """Read the next batch in a thread while the caller works on the current one.

    When the caller stops early (an error), the reading thread stops at its next batch.
    """
    q: queue.Queue = queue.Queue(maxsize=1)
    done, stop = object(), threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run():
        try:
            for b in batches:
                if not put(b):
                    return
            put(done)
        except BaseException as exc:  # handed to the caller
            put(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def ingest_paths(
    store: MeasurementStore,
    paths: Iterable,
    progress: Callable[[int, int, IngestReport], None] | None = None,
    *,
    elements: CityElements | None = None,
    **kwargs,
) -> list[IngestReport]:
    """Ingest files and folders (recursively), one report per file found.

    Files found in folders that are no measurement file (a ``manifest.json``, the
    generator's ``truth/faults.csv``, a README) are not ingested: their report says
    ``skipped`` with ``skipped_reason`` "not a measurement file: ...", so nothing found is
    dropped silently. Files named explicitly are always tried (an unknown format is an
    ``error`` in their report).

    Green Button XML files found together are read as one set of resources: a block in one
    file finds its MeterReading, ReadingType and UsagePoint in another by their hrefs; files
    holding no readings are reported ``skipped``.

    First, what earlier ingests that were killed left in the store's staging is removed
    (:meth:`MeasurementStore.vacuum`: only batches whose writer is gone, never another
    running writer's).

    Parameters
    ----------
    progress : callable, optional
        Called as ``progress(done, total, report)`` after each file (a CLI draws a bar).
    tag_map : TagMap or path, optional
        The SCADA tag map; a path is read once (checked against ``elements``).
    elements : CityElements, optional
        The city's elements, to check a tag map given as a path.
    reading_type : dict, list or path, optional
        Green Button ReadingType for files that declare none; a path is read once.
    **kwargs
        Passed to :func:`ingest_file`.

    Raises
    ------
    TagMapError, GreenButtonError
        When the tag map or the ``reading_type`` file cannot be used (before any file).
    """
    if isinstance(kwargs.get("tag_map"), (str, os.PathLike)):
        kwargs["tag_map"] = read_tag_map(kwargs["tag_map"], elements)
    if isinstance(kwargs.get("reading_type"), (str, os.PathLike)):
        kwargs["reading_type"] = reading_types_of(kwargs["reading_type"])
    store.vacuum()
    found = list(_walk(paths))
    if _input_bytes(f for f, _ in found) > BIG_RUN_BYTES:
        _return_big_arrays_to_os()
    xml = [f for f, _ in found if f.lower().endswith(".xml")]
    if len(xml) > 1 and "resources" not in kwargs:
        kwargs["resources"] = GreenButtonResources.scan(xml)
    reports = []
    for i, (f, in_folder) in enumerate(found, 1):
        why = _not_measurement(f, kwargs.get("format"), kwargs.get("tag_map")) if in_folder \
            else ""
        if why:
            reports.append(IngestReport(file=posixpath.basename(f), skipped=True,
                                        skipped_reason=f"not a measurement file: {why}"))
        else:
            reports.append(_ingest_one(store, f, kwargs))
        if progress is not None:
            progress(i, len(found), reports[-1])
    return reports


def _ingest_one(store: MeasurementStore, path: str, kwargs: dict) -> IngestReport:
    """:func:`ingest_file`; an unexpected failure of one file becomes its report's error (the
    trace written to a log file), so later files of a folder are still ingested."""
    try:
        return ingest_file(store, path, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a bug must not stop the other files
        import tempfile
        import traceback

        with tempfile.NamedTemporaryFile("w", prefix="twin-ingest-", suffix=".log",
                                         delete=False) as log:
            traceback.print_exc(file=log)
        return IngestReport(file=posixpath.basename(path), error=(
            f"internal error {exc.__class__.__name__} reading this file (please report it; "
            f"trace in {log.name}); nothing stored from it"))


def expand_paths(paths: Iterable) -> Iterable[str]:
    """Yield files; folders are walked for files with a known extension, sorted."""
    for f, in_folder in _walk(paths):
        if not in_folder or Path(f).suffix.lower() in EXTENSIONS:
            yield f


def _walk(paths: Iterable) -> Iterable[tuple[str, bool]]:
    """Yield ``(file, found in a folder)``; folders are walked recursively, sorted."""
    for p in paths:
        p = Path(p)
        if p.is_dir():
            yield from ((str(f), True) for f in sorted(p.rglob("*")) if f.is_file())
        else:
            yield str(p), False


def _not_measurement(path: str, format: str | None, tag_map: TagMap | None = None) -> str:
    """Why a file found in a folder is no measurement file ("" when it is one)."""
    if Path(path).suffix.lower() not in EXTENSIONS:
        return f"extension {Path(path).suffix or '(none)'} is none of {', '.join(EXTENSIONS)}"
    if format:
        return ""
    try:
        detect_format(path, tag_map)
    except (IngestError, OSError, UnicodeDecodeError) as exc:
        return str(exc).split(";")[0]
    return ""


def _with_source(readings: pd.DataFrame, path: str, sha256: str) -> pd.DataFrame:
    label = source_label(path, sha256)
    out = readings.copy(deep=False)
    out["source"] = pd.Categorical.from_codes(np.zeros(len(out), np.int8), categories=[label])
    return schema.conform(out)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)
