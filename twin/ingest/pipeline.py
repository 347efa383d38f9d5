"""Ingest raw meter files into the store: detect format, read, normalise, VEE, archive, write.

``ingest_file`` handles one file and returns an :class:`~twin.ingest.batch.IngestReport`;
``ingest_paths`` walks files and folders. A file that cannot be read at all (no header,
not XML) does not stop the run: its report carries ``error`` and nothing is committed, so
it can be ingested again once fixed. Every row of a readable file is accounted for:
``accepted + quarantined + duplicates == rows_read``.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
from collections.abc import Callable, Iterable
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd

from twin.city import read_recipe
from twin.ingest import schema, vee
from twin.ingest.batch import IngestReport, ReadBatch
from twin.ingest.greenbutton import (
    GreenButtonError,
    read_greenbutton_csv,
    read_greenbutton_xml,
)
from twin.ingest.mdm_csv import MdmCsvError, read_mdm_csv, sniff_layout
from twin.ingest.pv_portal import PvPortalError, is_pv_portal_header, read_pv_portal
from twin.ingest.store import MeasurementStore, file_sha256, source_label

#: Formats ``ingest_file`` can read.
FORMATS = ("mdm_csv", "greenbutton_xml", "greenbutton_csv", "pv_portal_csv")
#: File extensions ``ingest_paths`` picks up in folders.
EXTENSIONS = (".csv", ".txt", ".xml")
_USER_ERRORS = (GreenButtonError, MdmCsvError, PvPortalError, ValueError, OSError, UnicodeDecodeError)


class IngestError(ValueError):
    """A request that cannot be done (unknown format or kind); names what to change."""


def city_timezone() -> str:
    """Return the sample city's time zone from its recipe (``data/city.yaml``)."""
    return read_recipe().timezone


def detect_format(path) -> str:
    """Detect a file's format from its extension and first bytes.

    Raises
    ------
    IngestError
        When the file is none of :data:`FORMATS`.
    """
    name = posixpath.basename(str(path))
    with fsspec.open(str(path), "rb") as f:
        head = f.read(8192)
    text = head.decode("utf-8", "replace").lstrip("\ufeff").lstrip()
    if text.startswith("<") or name.lower().endswith(".xml"):
        return "greenbutton_xml"
    lines = text.splitlines()
    if any(line.upper().replace(" ", "").startswith("TYPE,DATE,STARTTIME") for line in lines):
        return "greenbutton_csv"
    if lines and is_pv_portal_header(lines[0]):
        return "pv_portal_csv"
    if lines:
        try:
            sniff_layout(lines[0], name)
            return "mdm_csv"
        except MdmCsvError:
            pass
    raise IngestError(f"{name}: not a known meter data format ({', '.join(FORMATS)}); "
                      "pass format= if the extension misleads")


def read_file(path, format: str, *, kind: str | None = None,
              timezone: str | None = None) -> ReadBatch:
    """Read one file with the reader of ``format``; readings in UTC and canonical units."""
    timezone = timezone or city_timezone()
    if format == "mdm_csv":
        return read_mdm_csv(path, timezone, kind=kind)
    if format == "greenbutton_xml":
        batch = read_greenbutton_xml(path)
    elif format == "greenbutton_csv":
        batch = read_greenbutton_csv(path, timezone)
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
        s = dataclasses.replace(s, spike_ratio=float("inf"), frozen_min_run=24)
    return dataclasses.replace(s, allow_negative=schema.KINDS[kind].allow_negative)


def history_stats(store: MeasurementStore, kind: str, readings: pd.DataFrame,
                  weeks: int = 8) -> pd.DataFrame:
    """Median and scale of the stored readings of the batch's series, ``weeks`` before it."""
    if readings.empty or not store.manifest():
        return pd.DataFrame(columns=["median", "scale"])
    start = readings["time_utc"].min() - pd.Timedelta(weeks=weeks)
    series = readings["series_id"].astype(str).unique().tolist()
    stored = store.read(kind, series=series, start=start, end=readings["time_utc"].min())
    return vee.series_stats(stored) if len(stored) else pd.DataFrame(columns=["median", "scale"])


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
        Local time zone of the file's wall-clock times; default the city's.
    settings : VeeSettings, optional
        VEE thresholds.
    now : Timestamp, optional
        The present for the future-timestamp rule (tests); default the clock.
    use_history : bool
        Validate high/low against the stored history of each series.

    Returns
    -------
    IngestReport
        Counts per file; ``skipped`` when the same file (sha256) is already in the store,
        ``error`` when the file could not be read (nothing committed).
    """
    path = os.fspath(path)
    report = IngestReport(file=posixpath.basename(path))
    try:
        report.sha256 = file_sha256(path)
        if report.sha256 in store.checksums():
            report.skipped = True
            return report
        report.format = format or detect_format(path)
        batch = read_file(path, report.format, kind=kind, timezone=timezone)
    except _USER_ERRORS as exc:
        report.error = str(exc)
        return report
    report.kind = batch.kind
    report.rows_read, report.accepted = batch.rows_read, batch.rows_accepted
    report.quarantined, report.duplicates = len(batch.quarantine), batch.duplicates
    history = history_stats(store, batch.kind, batch.readings) if use_history else None
    readings, summary = vee.run_vee(_with_source(batch.readings, path, report.sha256),
                                    settings_for(batch.kind, settings), history=history,
                                    now=now)
    report.vee = dataclasses.asdict(summary)
    report.estimated, report.failed = summary.estimated, summary.failed
    store.archive(path, report.sha256)
    result = store.write(batch.kind, readings, path, quarantine=batch.quarantine,
                         sha256=report.sha256,
                         report={k: v for k, v in dataclasses.asdict(report).items()
                                 if k != "vee"} | {"meta": _jsonable(batch.meta)})
    report.readings_written = result.rows
    report.skipped = result.skipped
    return report


def ingest_paths(
    store: MeasurementStore,
    paths: Iterable,
    progress: Callable[[int, int, IngestReport], None] | None = None,
    **kwargs,
) -> list[IngestReport]:
    """Ingest files and folders (recursively, by :data:`EXTENSIONS`), one report per file.

    Parameters
    ----------
    progress : callable, optional
        Called as ``progress(done, total, report)`` after each file (a CLI draws a bar).
    **kwargs
        Passed to :func:`ingest_file`.
    """
    files = list(expand_paths(paths))
    reports = []
    for i, f in enumerate(files, 1):
        reports.append(ingest_file(store, f, **kwargs))
        if progress is not None:
            progress(i, len(files), reports[-1])
    return reports


def expand_paths(paths: Iterable) -> Iterable[str]:
    """Yield files; folders are walked for files with a known extension, sorted."""
    for p in paths:
        p = Path(p)
        if p.is_dir():
            yield from sorted(str(f) for f in p.rglob("*")
                              if f.is_file() and f.suffix.lower() in EXTENSIONS)
        else:
            yield str(p)


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
