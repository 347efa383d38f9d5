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
import os
import posixpath
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from twin.ingest import schema
from twin.ingest.batch import ReadBatch, concat_readings, quarantine_frame
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
_OFFSET = r"(?:Z|[+-]\d\d:?\d\d)$"
#: Text columns as Arrow strings: their string operations run in Arrow, not per Python object.
TEXT = "string[pyarrow]"


def _units(col: pd.Series) -> np.ndarray:
    """Units as written, normalised (:func:`~twin.ingest.tag_map.normalise_unit`) once per
    distinct spelling."""
    codes, uniq = pd.factorize(_str(col).to_numpy(dtype=object, na_value=""))
    return np.array([normalise_unit(u) for u in uniq] + [""], dtype=object)[codes]


def _str(col: pd.Series) -> pd.Series:
    """A column as trimmed Arrow text."""
    if col.dtype != TEXT:
        col = col.astype(str).astype(TEXT)
    return col.str.strip()


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


def _chunks(path, chunk_rows: int):
    """Yield ``(header, rows as text columns, line numbers, decimal sign)`` per chunk of at
    most ``chunk_rows`` rows; CSV files are streamed, never read whole."""
    name = posixpath.basename(str(path))
    if name.lower().endswith(EXCEL_SUFFIXES):
        rows = _excel_rows(path)
        first = next(rows, None)
        if first is None:
            raise HistorianError(f"{name}: the first sheet is empty")
        header = list(first[1])
        while header and not header[-1]:
            header = header[:-1]
        width = len(header)
        buf: list = []
        for item in rows:
            buf.append(item)
            if len(buf) >= chunk_rows:
                yield header, *_excel_frame(buf, width), "."
                buf = []
        if buf:
            yield header, *_excel_frame(buf, width), "."
        return
    header = read_header(path)
    with fsspec.open(str(path), "rb") as f:
        first = f.read(65536).decode("utf-8-sig", "replace").replace("\r\n", "\n")
    first = first.replace("\r", "\n").split("\n", 1)[0]
    delim = max((",", ";", "\t", "|"), key=first.count)
    decimal = "," if delim == ";" else "."
    base = 2  # data lines start after the header line
    with fsspec.open(str(path), "rb") as f:
        try:
            reader = pd.read_csv(f, sep=delim, dtype=TEXT, keep_default_na=False,
                                 skip_blank_lines=False, header=0, index_col=False,
                                 quotechar='"', on_bad_lines="skip", encoding="utf-8-sig",
                                 chunksize=chunk_rows,
                                 engine="python" if delim == "|" else "c")
            for df in reader:
                df.columns = range(df.shape[1])
                lines = np.arange(len(df), dtype=np.int64) + base
                base += len(df)
                keep = (df != "").any(axis=1).to_numpy()
                yield header, df[keep].reset_index(drop=True), lines[keep], decimal
        except UnicodeDecodeError:
            raise HistorianError(f"{name}: not UTF-8 text; is it a CSV export?") from None
        except pd.errors.ParserError as exc:
            raise HistorianError(f"{name}: not a readable CSV export ({exc})") from None


def _excel_frame(rows: list, width: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Excel rows as text columns (datetimes as ISO wall-clock text) and their row numbers."""
    body = [r + [""] * (width - len(r)) if len(r) < width else r[:width] for _, r in rows]
    lines = np.array([n for n, _ in rows], np.int64)
    df = pd.DataFrame(body, columns=range(width), dtype=object)
    for c in df.columns:
        df[c] = [v.isoformat(sep=" ") if hasattr(v, "isoformat") else
                 ("" if v is None else repr(v) if isinstance(v, float) else str(v))
                 for v in df[c]]
    keep = (df != "").any(axis=1).to_numpy()
    return df[keep].reset_index(drop=True), lines[keep]


def localise(text: pd.Series, timezone: str | None,
             file: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parse time stamps to UTC [ns]; naive ones are wall-clock times in ``timezone``.

    Returns
    -------
    t_dst, t_std : ndarray of int64
        UTC [ns] of each stamp read as daylight and as standard time (equal but in the hour
        repeated in autumn, and for stamps with an offset).
    ambiguous : ndarray of bool
        The stamp is a wall time of the repeated hour (which one is decided in file order).
    why : ndarray of object
        "" or the reason the time cannot be used.
    """
    s = _str(text)
    n = len(s)
    t_dst = np.zeros(n, np.int64)
    t_std = np.zeros(n, np.int64)
    why = np.full(n, "", dtype=object)
    has_off = s.str.contains(_OFFSET, regex=True).to_numpy(dtype=bool, na_value=False)
    if has_off.any():
        aware = pd.to_datetime(s[has_off], utc=True, errors="coerce", format="ISO8601")
        bad = aware.isna().to_numpy()
        idx = np.flatnonzero(has_off)
        t_dst[idx[~bad]] = t_std[idx[~bad]] = aware[~bad].astype("int64").to_numpy()
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
        sel = naive_idx[ok]
        t_dst[sel], t_std[sel] = dst.asi8, std.asi8
        why[sel[missing]] = f"local time does not exist in {timezone} (daylight saving change)"
    return t_dst, t_std, t_dst != t_std, why


def _numbers(text: pd.Series, decimal: str, status: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Parse values; status words (on/off) where ``status``; reasons for the rest."""
    s = _str(text)
    if decimal == ",":
        s = s.str.replace(",", ".", regex=False)
    v = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    words = status & np.isnan(v)
    if words.any():
        v[words] = s[words].str.lower().map(STATUS_WORDS).to_numpy(dtype=float,
                                                                     na_value=np.nan)
    why = np.full(len(s), "", dtype=object)
    nan = np.isnan(v)
    why[nan] = ("value is not a number: " + s[nan].str.slice(0, 40)).to_numpy(dtype=object)
    why[np.isinf(v)] = "value is not finite"
    bad_status = status & ~np.isnan(v) & ~np.isin(v, (0.0, 1.0))
    why[bad_status] = "pump status must be 0/1 or on/off"
    return v, why


@dataclass(frozen=True)
class _Roles:
    """Which column is what, decided once from the header."""

    layout: str
    time: int
    tag: int | None
    value: int | None
    unit: int | None
    quality: int | None
    tag_columns: tuple[int, ...] = ()


def _roles(header: list[str], name: str, tag_map: TagMap | None) -> _Roles:
    ti = _find(header, TIME_NAMES)
    if ti is None:
        raise HistorianError(f"{name} line 1: no time column (one of {', '.join(TIME_NAMES)}); "
                             f"found {', '.join(map(str, header[:8]))}")
    tg, vi = _find(header, TAG_NAMES), _find(header, VALUE_NAMES)
    ui, qi = _find(header, UNIT_NAMES), _find(header, QUALITY_NAMES)
    if tg is not None and vi is not None:
        if tag_map is None and ui is None:
            raise HistorianError(
                f"{name} line 1: no unit column and no tag map; pass --tag-map FILE naming "
                "each tag's element, quantity and unit")
        return _Roles("long", ti, tg, vi, ui, qi)
    if tag_map is None:
        raise HistorianError(
            f"{name}: a wide export (one column per tag) needs a tag map saying what each "
            "column measures and in what unit; pass --tag-map FILE")
    cols = tuple(i for i in range(len(header)) if i != ti and str(header[i]).strip())
    return _Roles("wide", ti, None, None, None, None, cols)


#: Columns of the parsed rows between the two passes of :func:`iter_historian`.
_PARSED = ("tag", "t_dst", "t_std", "ambiguous", "value", "unit", "flag", "line", "raw")


def _parse_chunk(header, df, lines, decimal, roles: _Roles, timezone, tag_map, name):
    """Parse one chunk: the rows that read (``_PARSED`` columns) and the quarantine."""
    if roles.layout == "long":
        tags, time_txt, val_txt = _str(df[roles.tag]), df[roles.time], df[roles.value]
        unit_txt = df[roles.unit] if roles.unit is not None else None
        qual_txt = df[roles.quality] if roles.quality is not None else None
        line = lines
        where = np.full(len(df), "", dtype=object)
        raw_text = None  # made for the rejected rows only (below)
    else:
        cols = [c for c in roles.tag_columns if c in df.columns]
        n = len(df)
        tags = pd.Series(np.repeat([str(header[i]).strip() for i in cols], n), dtype=object)
        time_txt = pd.concat([df[roles.time]] * len(cols), ignore_index=True)
        val_txt = pd.concat([df[i] for i in cols], ignore_index=True)
        unit_txt = qual_txt = None
        line = np.tile(lines, len(cols))
        where = np.repeat([f"column {str(header[i]).strip()!r}" for i in cols], n).astype(object)
        raw_text = None
        present = (_str(val_txt) != "").to_numpy(dtype=bool, na_value=False)  # empty: none
        tags, time_txt, val_txt = (x[present].reset_index(drop=True)
                                   for x in (tags, time_txt, val_txt))
        line, where = line[present], where[present]
    n = len(tags)
    tags = tags.reset_index(drop=True)
    why = np.full(n, "", dtype=object)
    if tag_map is not None:  # units: the map's declaration, checked against a unit column
        fr = tag_map.frame
        known = tags.isin(fr.index).to_numpy()
        why[~known] = ("tag " + tags[~known] + f" is not in the tag map {tag_map.source}; add "
                       "a row (tag,element,quantity,unit) or leave it out of the export"
                       ).to_numpy(dtype=object)
        ktags = tags.where(known, fr.index[0]).to_numpy(dtype=object)
        quantity = fr.loc[ktags, "quantity"].to_numpy()
        factor = fr.loc[ktags, "factor"].to_numpy(dtype=float)
        offset = fr.loc[ktags, "offset"].to_numpy(dtype=float)
        unit_out = fr.loc[ktags, "store_unit"].to_numpy(dtype=object)
        declared = fr.loc[ktags, "unit"].to_numpy(dtype=object)
        if unit_txt is not None and n:
            written = _units(unit_txt)
            pairs = pd.DataFrame({"w": written, "q": quantity, "d": declared})
            codes, uniq = pd.factorize(pd.MultiIndex.from_frame(pairs))
            agree = np.array([w == "" or QUANTITIES[q].unit(w) is QUANTITIES[q].unit(d)
                              for w, q, d in uniq], bool)  # per distinct (unit, tag kind)
            clash = known & ~agree[codes]
            why[clash & (why == "")] = ("unit " + written[clash].astype(str)
                                        + " but the tag map declares " + declared[clash].astype(
                                            str))
        status = quantity == "pump_status"
    else:
        written = _units(unit_txt)
        known_units = {u.name: u.name for q in QUANTITIES.values() for u in q.units if u.name}
        unit_out = np.array([known_units.get(w, "") for w in written], dtype=object)
        bad_unit = unit_out == ""
        why[bad_unit] = ("unknown unit " + written[bad_unit].astype(str) + "; known: "
                         + ", ".join(sorted(known_units)))
        factor, offset = np.ones(n), np.zeros(n)
        status = np.zeros(n, bool)
    value, why_v = _numbers(val_txt, decimal, status)
    t_dst, t_std, ambiguous, why_t = localise(time_txt, timezone, name)
    if qual_txt is not None:
        qtxt = _str(qual_txt).str.lower().to_numpy(dtype=object)
        words, inv = np.unique(qtxt, return_inverse=True)
        flags = np.array([QUALITY_WORDS.get(w, "") for w in words], dtype=object)[
            inv.reshape(-1)]
        why_q = np.where(flags == "", "unknown quality " + qtxt.astype(str), "").astype(object)
        flags = np.where(flags == "", "valid", flags)
    else:
        flags = np.full(n, "valid", dtype=object)
        why_q = np.full(n, "", dtype=object)
    for extra in (why_t, why_v, why_q):
        why = np.where(why == "", extra, why)
    bad = why != ""
    reasons = np.where(where[bad] != "", where[bad] + ": " + why[bad].astype(str), why[bad])
    raw_text = np.full(n, "", dtype=object)  # the rejected rows (cells) as read
    if bad.any() and roles.layout == "long":
        raw_text[bad] = df[bad].astype(str).agg(",".join, axis=1).str.slice(0, 300)
    elif bad.any():
        raw_text[bad] = where[bad] + "=" + _str(val_txt[bad]).str.slice(0, 100).to_numpy(
            dtype=object)
    quarantine = quarantine_frame("scada", name, line[bad], list(reasons), list(raw_text[bad]))
    ok = ~bad
    parsed = pd.DataFrame({
        "tag": tags[ok].to_numpy(dtype=object), "t_dst": t_dst[ok], "t_std": t_std[ok],
        "ambiguous": ambiguous[ok], "value": (value * factor + offset)[ok],
        "unit": unit_out[ok].astype(object), "flag": flags[ok], "line": line[ok],
        "raw": value[ok]})
    return parsed, quarantine, n


def _readings(parsed: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Readings of parsed rows holding whole series: the repeated hour resolved in file order
    (a tag's first reading of a wall time is daylight time, its second standard time), exact
    repeats of (tag, time, value) dropped. Returns the readings and the duplicates [-]."""
    parsed = parsed.sort_values("line", kind="stable").reset_index(drop=True)
    amb = parsed["ambiguous"].to_numpy(bool)
    nth = np.zeros(len(parsed), np.int64)
    if amb.any():
        sub = parsed[amb]
        nth[amb] = sub.groupby(["tag", "t_dst"], sort=False).cumcount().to_numpy()
    t = np.where(amb & (nth % 2 == 1), parsed["t_std"], parsed["t_dst"]).astype(np.int64)
    dup = pd.DataFrame({"s": parsed["tag"], "t": t, "v": parsed["value"]}).duplicated(
        ).to_numpy()
    keep = ~dup
    readings = pd.DataFrame({
        "series_id": pd.Categorical(parsed["tag"].to_numpy()[keep]),
        "time_utc": schema.utc_times(t[keep]),
        "value": parsed["value"].to_numpy(float)[keep],
        "unit": pd.Categorical(parsed["unit"].to_numpy()[keep]),
        "quality_flag": pd.Categorical(parsed["flag"].to_numpy()[keep],
                                       categories=list(schema.QUALITY_FLAGS)),
        "raw_value": parsed["value"].to_numpy(float)[keep],
    })
    return readings, int(dup.sum())


#: Rows [-] parsed at a time; a file with more is spilled to per-tag-group Parquet buckets
#: so that each batch holds whole series and memory stays bounded by a chunk or a bucket.
CHUNK_ROWS = 500_000
#: The shortest row of a long export [B] (``tag,time,value``), to size the buckets so that
#: none holds much more than ``chunk_rows`` rows.
ROW_BYTES = 30


def iter_historian(path, timezone: str | None, *, tag_map: TagMap | None = None,
                   chunk_rows: int = CHUNK_ROWS) -> Iterator[ReadBatch]:
    """Read a SCADA historian export as batches of whole series (see the module docstring).

    The file is parsed now, chunk by chunk (every error a whole file can have is raised
    here); a file of more than ``chunk_rows`` rows is spilled to Parquet buckets by tag in a
    temporary folder, and the returned iterator yields one batch per bucket. Counts add up
    over the batches to the file's.

    Parameters and errors as :func:`read_historian`.
    """
    name = posixpath.basename(str(path))
    roles, spill, first = None, None, None
    quarantines, rows_read = [], 0
    for header, df, lines, decimal in _chunks(path, chunk_rows):
        if roles is None:
            roles = _roles(header, name, tag_map)
        parsed, q, n = _parse_chunk(header, df, lines, decimal, roles, timezone, tag_map,
                                    name)
        rows_read += n
        quarantines.append(q)
        if spill is None and first is None:
            first = parsed
            continue
        if spill is None:
            spill = _Buckets(max(2, int(np.ceil(_size(path) / (chunk_rows * ROW_BYTES)))))
            spill.add(first)
            first = None
        spill.add(parsed)
    if roles is None:  # only a header, or nothing
        header = read_header(path) if not name.lower().endswith(EXCEL_SUFFIXES) else []
        if header:
            roles = _roles(header, name, tag_map)
    quarantine = pd.concat(quarantines, ignore_index=True) if quarantines else \
        schema.empty_quarantine()
    meta = {"format": "historian", "layout": roles.layout if roles else "",
            "timezone": timezone or "", "tag_map": tag_map.source if tag_map else ""}
    groups = spill.groups() if spill is not None else iter([first if first is not None
                                                            else pd.DataFrame(
                                                                columns=list(_PARSED))])
    return _batches(groups, quarantine, rows_read, meta, tag_map, spill)


def _batches(groups, quarantine, rows_read, meta, tag_map, spill) -> Iterator[ReadBatch]:
    try:
        lead = True
        for parsed in groups:
            readings, dup = _readings(parsed)
            used = list(readings["series_id"].cat.categories)
            tag_rows = ([] if tag_map is None else tag_map.table().set_index("tag").loc[
                used].reset_index().to_dict("records"))
            q = quarantine if lead else schema.empty_quarantine()
            n_q = len(quarantine) if lead else 0
            yield ReadBatch(kind="scada", readings=readings, quarantine=q,
                            rows_read=len(parsed) + n_q, rows_accepted=len(parsed) - dup,
                            duplicates=dup, meta={**meta, "tags": tag_rows})
            lead = False
    finally:
        if spill is not None:
            spill.close()


def _size(path) -> int:
    try:
        return int(fsspec.open(str(path)).fs.size(str(path)))
    except (OSError, TypeError, ValueError):
        return 0


class _Buckets:
    """Parsed rows spilled to Parquet files by a hash of their tag (whole series a bucket)."""

    def __init__(self, n: int):
        self.n = n
        self.dir = tempfile.TemporaryDirectory(prefix="twin-historian-")
        self.parts = 0

    def add(self, parsed: pd.DataFrame) -> None:
        if not len(parsed):
            return
        b = pd.util.hash_array(parsed["tag"].to_numpy(dtype=object)) % np.uint64(self.n)
        for k in np.unique(b):  # a loop over buckets, not rows
            part = parsed[b == k]
            pq.write_table(pa.Table.from_pandas(part, preserve_index=False),
                           os.path.join(self.dir.name, f"b{int(k):04d}-{self.parts:06d}.parquet"))
        self.parts += 1

    def groups(self) -> Iterator[pd.DataFrame]:
        files = sorted(os.listdir(self.dir.name))
        for k in range(self.n):
            mine = [f for f in files if f.startswith(f"b{k:04d}-")]
            if mine:
                yield pd.concat([pq.read_table(os.path.join(self.dir.name, f)).to_pandas()
                                 for f in mine], ignore_index=True)

    def close(self) -> None:
        self.dir.cleanup()


def read_historian(path, timezone: str | None, *, tag_map: TagMap | None = None,
                   chunk_rows: int = CHUNK_ROWS) -> ReadBatch:
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
    chunk_rows : int
        Rows parsed at a time [-] (see :func:`iter_historian`).

    Returns
    -------
    ReadBatch
        Kind ``scada``; values in each quantity's store unit (with a tag map) or as read;
        ``meta['tags']`` holds the tag map's rows of the tags read.

    Raises
    ------
    HistorianError
        When the file has no time column, no way to know its units, or local times and no
        time zone.
    """
    batches = list(iter_historian(path, timezone, tag_map=tag_map, chunk_rows=chunk_rows))
    readings = concat_readings([b.readings for b in batches])
    tags = [r for b in batches for r in b.meta["tags"]]
    return ReadBatch(
        kind="scada", readings=readings, quarantine=batches[0].quarantine,
        rows_read=sum(b.rows_read for b in batches),
        rows_accepted=sum(b.rows_accepted for b in batches),
        duplicates=sum(b.duplicates for b in batches),
        meta={**batches[0].meta, "tags": tags})
