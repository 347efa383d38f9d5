"""Reader for SCADA historian exports: long or wide, CSV or Excel, read through a tag map.

Layouts (column names are matched case-insensitively; :data:`TIME_NAMES` etc.)::

    long:  tag,timestamp,value[,unit][,quality]      one row per tag and time
    wide:  timestamp,<tag>,<tag>,...                 one row per time, one column per tag

A ``.xlsx`` workbook is read from its first sheet (openpyxl), the header on its first
non-empty row; Excel date cells are wall-clock times like text without an offset.

Times
    ISO 8601 with an offset (``2016-07-04T00:05:00-04:00``, ``...Z``) are exact. Times
    without an offset are the city's wall clock, read in ``timezone``: a local time that does
    not exist (the hour skipped in spring) is quarantined; in the hour repeated in autumn,
    a tag's first reading of a wall time is daylight time and its second standard time.
    Readings keep their own time stamps: the export's step (1, 5, 15 min, 1 h) is kept, never
    cut to hours (resample where an analysis asks, :func:`twin.ingest.resample.resample`).

Units and tags
    With a tag map (:mod:`twin.ingest.tag_map`) every tag must be in it: values are converted
    from the map's declared unit to the quantity's store unit (a ``unit`` column that
    disagrees with the map quarantines the row); tags not in the map are quarantined with the
    reason, counted. Without a tag map the export must carry a ``unit`` column; values keep
    the unit as read, which must be a unit some quantity knows (``MWx`` is quarantined).
    The series id is the utility's tag.

Every row (long) or cell (wide) is accounted for: ``accepted + quarantined + duplicates ==
rows_read``, rows being cells of tags for the wide layout; the quarantine names the line
(CSV line or Excel row) and, for the wide layout, the column.
"""

from __future__ import annotations

import io
import posixpath
import re

import fsspec
import numpy as np
import pandas as pd

from twin.ingest import schema
from twin.ingest.batch import ReadBatch, quarantine_frame
from twin.ingest.tag_map import QUANTITIES, STATUS_WORDS, TagMap, normalise_unit

#: Header names of the columns with a role (lower case); the first match wins.
TIME_NAMES = ("timestamp", "timestamp_utc", "timestamp_local", "time", "datetime",
              "date_time", "date/time", "time_stamp", "ts", "interval_start", "date")
TAG_NAMES = ("tag", "tagname", "tag_name", "tag name", "point", "point_name", "pointname",
             "point name", "sensor")
VALUE_NAMES = ("value", "val", "reading", "pv")
UNIT_NAMES = ("unit", "units", "uom", "eu", "engineering_unit")
QUALITY_NAMES = ("quality", "quality_code", "qual")
#: Historian quality words -> quality flag (OPC: 192 good, 0 bad).
QUALITY_WORDS = {"": "valid", "good": "valid", "ok": "valid", "valid": "valid", "a": "valid",
                 "actual": "valid", "192": "valid", "uncertain": "estimated",
                 "questionable": "estimated", "estimated": "estimated", "e": "estimated",
                 "substituted": "estimated", "manual": "edited", "edited": "edited",
                 "bad": "failed", "failed": "failed", "0": "failed"}
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
_OFFSET = re.compile(r"(?:Z|[+-]\d\d:?\d\d)$")


class HistorianError(ValueError):
    """A historian export that cannot be read at all; the message names the file and what
    to do."""


def _find(header: list[str], names: tuple[str, ...]) -> int | None:
    low = [h.strip().lower() for h in header]
    for n in names:
        if n in low:
            return low.index(n)
    return None


def is_historian_header(header: list[str], tag_map: TagMap | None = None) -> bool:
    """True for a long export header (tag, time, value columns), or a wide one whose other
    columns are tags of ``tag_map``."""
    t = _find(header, TIME_NAMES)
    if t is None:
        return False
    if _find(header, TAG_NAMES) is not None and _find(header, VALUE_NAMES) is not None:
        return True
    others = [h.strip() for i, h in enumerate(header) if i != t]
    return tag_map is not None and any(h in tag_map for h in others)


def read_header(path) -> list[str]:
    """The header row of a CSV or Excel export (empty list when there is none)."""
    name = posixpath.basename(str(path))
    if name.lower().endswith(EXCEL_SUFFIXES):
        return next((r for _, r in _excel_rows(path, limit=50)), [])
    with fsspec.open(str(path), "rb") as f:
        head = f.read(65536)
    text = head.decode("utf-8-sig", "replace").replace("\r\n", "\n").replace("\r", "\n")
    first = text.split("\n", 1)[0]
    delim = max((",", ";", "\t", "|"), key=first.count)
    return [c.strip().strip('"') for c in first.split(delim)]


def _excel_rows(path, limit: int | None = None):
    """Yield ``(row number, [cell values])`` of the first sheet from its header on.

    The header is the first row (of the first 50) naming a time column; title rows above it
    are a preamble. Without such a row, the first non-empty row is the header."""
    from openpyxl import load_workbook

    with fsspec.open(str(path), "rb") as f:
        data = f.read()
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/InvalidFileException
        raise HistorianError(f"{posixpath.basename(str(path))}: not a readable Excel workbook "
                             f"({exc.__class__.__name__}); save it as .xlsx") from None
    rows = []
    for i, row in enumerate(wb.worksheets[0].iter_rows(values_only=True), 1):
        if limit is not None and i > limit:
            break
        rows.append((i, ["" if v is None else v for v in row]))
    wb.close()
    texts = [[str(c).strip() for c in r] for _, r in rows[:50]]
    head = next((k for k, r in enumerate(texts) if _find(r, TIME_NAMES) is not None), None)
    if head is None:
        head = next((k for k, r in enumerate(texts) if any(r)), len(rows))
    if head < len(rows):
        yield rows[head][0], texts[head]
    yield from rows[head + 1:]


def _load(path) -> tuple[list[str], pd.DataFrame, np.ndarray, str]:
    """Header, body as text (object) columns, line numbers and the decimal sign."""
    name = posixpath.basename(str(path))
    if name.lower().endswith(EXCEL_SUFFIXES):
        rows = list(_excel_rows(path))
        if not rows:
            raise HistorianError(f"{name}: the first sheet is empty")
        header = rows[0][1]
        while header and not header[-1]:
            header = header[:-1]
        width = len(header)
        body = [r + [""] * (width - len(r)) if len(r) < width else r[:width]
                for _, r in rows[1:]]
        lines = np.array([n for n, _ in rows[1:]], np.int64)
        df = pd.DataFrame(body, columns=range(width), dtype=object)
        for c in df.columns:  # Excel datetimes -> ISO text (wall clock, no offset)
            df[c] = [v.isoformat(sep=" ") if hasattr(v, "isoformat") else
                     ("" if v is None else str(v) if not isinstance(v, float) else repr(v))
                     for v in df[c]]
        keep = np.array([any(str(x).strip() for x in r) for r in body], bool)
        return header, df[keep].reset_index(drop=True), lines[keep], "."
    with fsspec.open(str(path), "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HistorianError(f"{name}: not UTF-8 text; is it a CSV export?") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    first = text.split("\n", 1)[0]
    delim = max((",", ";", "\t", "|"), key=first.count)
    df = pd.read_csv(io.StringIO(text), sep=delim, dtype=str, keep_default_na=False,
                     skip_blank_lines=False, header=0, index_col=False, quotechar='"',
                     on_bad_lines="skip", engine="python" if delim == "|" else "c")
    header = [str(c).strip() for c in df.columns]
    df.columns = range(len(header))
    lines = np.arange(len(df), dtype=np.int64) + 2
    keep = (df != "").any(axis=1).to_numpy()
    return header, df[keep].reset_index(drop=True), lines[keep], "," if delim == ";" else "."


def parse_times(text: pd.Series, series: pd.Series | None, timezone: str | None,
                file: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse time stamps to UTC [ns]; naive ones are wall-clock times in ``timezone``.

    Returns
    -------
    t : ndarray of int64
        UTC [ns]; meaningless where ``why`` is set.
    why : ndarray of object
        "" or the reason the time cannot be used.
    """
    s = text.astype(str).str.strip()
    n = len(s)
    t = np.zeros(n, np.int64)
    why = np.full(n, "", dtype=object)
    has_off = s.str.contains(_OFFSET, regex=True).to_numpy()
    if has_off.any():
        aware = pd.to_datetime(s[has_off], utc=True, errors="coerce", format="ISO8601")
        bad = aware.isna().to_numpy()
        idx = np.flatnonzero(has_off)
        t[idx[~bad]] = aware[~bad].astype("int64").to_numpy()
        why[idx[bad]] = "unreadable time stamp"
    naive_idx = np.flatnonzero(~has_off)
    if len(naive_idx):
        if timezone is None:
            raise HistorianError(
                f"{file}: times without a UTC offset (e.g. {s.iloc[naive_idx[0]]!r}) are the "
                "city's wall clock; give its time zone (timezone=, or `twin ingest --city`)")
        sub = s.iloc[naive_idx]
        wall = pd.to_datetime(sub, errors="coerce", format="ISO8601")
        if wall.isna().any():
            retry = wall.isna()
            wall[retry] = pd.to_datetime(sub[retry], errors="coerce", format="mixed")
        ok = wall.notna().to_numpy()
        why[naive_idx[~ok]] = "unreadable time stamp"
        wi = pd.DatetimeIndex(wall[ok])
        dst = wi.tz_localize(timezone, ambiguous=np.ones(len(wi), bool), nonexistent="NaT")
        std = wi.tz_localize(timezone, ambiguous=np.zeros(len(wi), bool), nonexistent="NaT")
        missing = np.asarray(dst.isna())
        ambiguous = ~missing & (dst.asi8 != std.asi8)
        # a tag's first reading of a repeated wall time is daylight time, the second standard
        key = pd.DataFrame({"s": (series.iloc[naive_idx[ok]].to_numpy() if series is not None
                                  else 0), "w": wi.asi8})
        nth = key.groupby(["s", "w"], sort=False).cumcount().to_numpy()
        chosen = np.where(ambiguous & (nth % 2 == 1), std.asi8, dst.asi8)
        sel = naive_idx[ok]
        t[sel] = chosen
        why[sel[missing]] = f"local time does not exist in {timezone} (daylight saving change)"
    return t, why


def _numbers(text: pd.Series, decimal: str, status: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parse values; status words (on/off) where ``status``; reasons for the rest."""
    s = text.astype(str).str.strip()
    if decimal == ",":
        s = s.str.replace(",", ".", regex=False)
    v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float)
    words = s.str.lower().map(STATUS_WORDS).to_numpy(dtype=float)
    v = np.where(status & np.isnan(v), words, v)
    why = np.full(len(s), "", dtype=object)
    why[np.isnan(v)] = "value is not a number: " + s[np.isnan(v)].str.slice(0, 40)
    why[np.isinf(v)] = "value is not finite"
    bad_status = status & ~np.isnan(v) & ~np.isin(v, (0.0, 1.0))
    why[bad_status] = "pump status must be 0/1 or on/off"
    return v, why


def read_historian(path, timezone: str | None, *, tag_map: TagMap | None = None) -> ReadBatch:
    """Read a SCADA historian export (see the module docstring) into the long schema.

    Parameters
    ----------
    path : str or path-like
        CSV or ``.xlsx`` file (local path or fsspec URL).
    timezone : str, optional
        The city's IANA zone for times without an offset; a file that has such times and no
        zone is refused (:class:`HistorianError`).
    tag_map : TagMap, optional
        The utility's tag map; required for wide exports and exports without a unit column.

    Returns
    -------
    ReadBatch
        Kind ``scada``; values in each quantity's store unit (with a tag map) or as read.

    Raises
    ------
    HistorianError
        When the file has no time column, or no way to know its units.
    """
    name = posixpath.basename(str(path))
    header, df, lines, decimal = _load(path)
    ti = _find(header, TIME_NAMES)
    if ti is None:
        raise HistorianError(f"{name} line 1: no time column (one of {', '.join(TIME_NAMES)}); "
                             f"found {', '.join(header[:8])}")
    tg, vi = _find(header, TAG_NAMES), _find(header, VALUE_NAMES)
    ui, qi = _find(header, UNIT_NAMES), _find(header, QUALITY_NAMES)
    if tg is not None and vi is not None:
        layout = "long"
        tags, time_txt, val_txt = df[tg].astype(str).str.strip(), df[ti], df[vi]
        unit_txt = df[ui] if ui is not None else None
        qual_txt = df[qi] if qi is not None else None
        line = lines
        where = np.full(len(df), "", dtype=object)
        raw_text = df.astype(str).agg(",".join, axis=1).str.slice(0, 300).to_numpy()
    else:
        if tag_map is None:
            raise HistorianError(
                f"{name}: a wide export (one column per tag) needs a tag map saying what each "
                "column measures and in what unit; pass --tag-map FILE")
        layout = "wide"
        cols = [i for i in range(len(header)) if i != ti and header[i].strip()]
        n = len(df)
        tags = pd.Series(np.repeat([header[i].strip() for i in cols], n), dtype=object)
        time_txt = pd.concat([df[ti]] * len(cols), ignore_index=True)
        val_txt = pd.concat([df[i] for i in cols], ignore_index=True)
        unit_txt = qual_txt = None
        line = np.tile(lines, len(cols))
        where = np.repeat([f"column {header[i].strip()!r}" for i in cols], n).astype(object)
        raw_text = (where + "=" + val_txt.astype(str).str.slice(0, 100).to_numpy()).astype(object)
        present = (val_txt.astype(str).str.strip() != "").to_numpy()  # empty cell: no reading
        tags, time_txt, val_txt = tags[present].reset_index(drop=True), time_txt[present].reset_index(
            drop=True), val_txt[present].reset_index(drop=True)
        line, where, raw_text = line[present], where[present], raw_text[present]
    n = len(tags)
    tags = tags.reset_index(drop=True)
    why = np.full(n, "", dtype=object)
    # units: the map's declaration, checked against a unit column
    if tag_map is not None:
        fr = tag_map.frame
        known = tags.isin(fr.index).to_numpy()
        why[~known] = ("tag " + tags[~known] + f" is not in the tag map {tag_map.source}; add "
                       "a row (tag,element,quantity,unit) or leave it out of the export")
        ktags = tags.where(known, fr.index[0])
        quantity = fr.loc[ktags, "quantity"].to_numpy()
        factor = fr.loc[ktags, "factor"].to_numpy(dtype=float)
        offset = fr.loc[ktags, "offset"].to_numpy(dtype=float)
        unit_out = fr.loc[ktags, "store_unit"].to_numpy(dtype=object)
        declared = fr.loc[ktags, "unit"].to_numpy(dtype=object)
        if unit_txt is not None:
            written = unit_txt.astype(str).map(normalise_unit).to_numpy(dtype=object)
            pairs = pd.DataFrame({"w": written, "q": quantity, "d": declared})
            codes, uniq = pd.factorize(pd.MultiIndex.from_frame(pairs))
            agree = np.array([w == "" or QUANTITIES[q].unit(w) is QUANTITIES[q].unit(d)
                              for w, q, d in uniq], bool)  # per distinct (unit, tag kind)
            same = agree[codes]
            clash = known & ~same
            why[clash & (why == "")] = ("unit " + written[clash].astype(str)
                                        + " but the tag map declares " + declared[clash].astype(
                                            str))
        status = quantity == "pump_status"
    else:
        if unit_txt is None:
            raise HistorianError(
                f"{name} line 1: no unit column and no tag map; pass --tag-map FILE naming "
                "each tag's element, quantity and unit")
        written = unit_txt.astype(str).map(normalise_unit).to_numpy(dtype=object)
        known_units = {u.name: u.name for q in QUANTITIES.values() for u in q.units if u.name}
        unit_out = np.array([known_units.get(w, "") for w in written], dtype=object)
        bad_unit = unit_out == ""
        why[bad_unit] = ("unknown unit " + written[bad_unit].astype(str) + "; known: "
                         + ", ".join(sorted(known_units)))
        factor, offset = np.ones(n), np.zeros(n)
        status = np.zeros(n, bool)
    value, why_v = _numbers(val_txt, decimal, status)
    t, why_t = parse_times(time_txt, tags, timezone, name)
    if qual_txt is not None:
        qtxt = qual_txt.astype(str).str.strip().str.lower()
        flags = qtxt.map(QUALITY_WORDS)
        why_q = np.where(flags.isna(), "unknown quality " + qtxt, "").astype(object)
        flags = flags.fillna("valid").to_numpy(dtype=object)
    else:
        flags = np.full(n, "valid", dtype=object)
        why_q = np.full(n, "", dtype=object)
    for extra in (why_t, why_v, why_q):
        why = np.where(why == "", extra, why)
    bad = why != ""
    ok = ~bad
    store_v = value * factor + offset
    # exact repeats of a row (tag, time, value) are duplicates
    key = pd.DataFrame({"s": tags.to_numpy(), "t": t, "v": value})
    dup = ok & key.duplicated().to_numpy() & ~pd.Series(bad).to_numpy()
    keep = ok & ~dup
    reasons = np.where(where[bad] != "", where[bad] + ": " + why[bad].astype(str), why[bad])
    quarantine = quarantine_frame("scada", name, line[bad], list(reasons), list(raw_text[bad]))
    readings = pd.DataFrame({
        "series_id": pd.Categorical(tags[keep].to_numpy()),
        "time_utc": schema.utc_times(t[keep]),
        "value": store_v[keep],
        "unit": pd.Categorical(unit_out[keep]),
        "quality_flag": pd.Categorical(flags[keep], categories=list(schema.QUALITY_FLAGS)),
        "raw_value": store_v[keep],
    })
    used = pd.unique(tags[keep])
    tag_rows = ([] if tag_map is None else
                tag_map.table().set_index("tag").loc[used].reset_index().to_dict("records"))
    return ReadBatch(
        kind="scada", readings=readings.reset_index(drop=True), quarantine=quarantine,
        rows_read=n, rows_accepted=int(keep.sum()), duplicates=int(dup.sum()),
        meta={"format": "historian", "layout": layout, "timezone": timezone or "",
              "tag_map": tag_map.source if tag_map is not None else "",
              "tags": tag_rows})
