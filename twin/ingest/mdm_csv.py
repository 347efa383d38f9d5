"""Reader for the sample city's MDM (meter data management) CSV exports and their kin.

Reads the city's files as ``data/RAW-FORMATS.md`` specifies them: MDM wide (§1a) and long
(§1b) interval exports, AMR water register reads (§2) and the SCADA historian export (§4);
their column names map onto this module's own spec below (:data:`ALIASES`).

Format
------
Plain text, UTF-8/ASCII, one header line, one record per line, no quoted delimiters.
The delimiter is sniffed from the header: ``,`` (decimal point ``.``), or ``;`` (decimal
comma ``,``, the European export), or TAB / ``|``.

Wide layout (one meter-day per line)::

    meter_id,date,unit,interval_minutes[,interval_count],i001,i002,...,iNNN
    E000123,2016-03-13,kWh,15,92,0.21,0.19,...,,,,,,,,

The generator's names are accepted as aliases (:data:`ALIASES`): ``read_date``, ``uom``,
``interval_min``, and ``interval_start`` for the long layout's ``timestamp_local``.
``interval_count`` (optional) must equal the local day's number of intervals, else the line
is quarantined, except for the two head-end faults of DST days that are repaired:

- a spring day (92 intervals) written as 96 wall-clock slots, the slots of the hour that
  does not exist (``i009``-``i012``, 02:00-02:45) holding 0 or anything: those slots go to
  the quarantine (one entry per line, counted in ``meta["slots_quarantined"]``, not as a
  quarantined row) and the other 92 are mapped to their real times (``dst_spring_96``);
- an autumn day (100 intervals) written as 96 wall-clock slots whose repeated-hour slots
  (``i005``-``i008``, 01:00-01:45) hold the sum of both 01:xx hours: each sum is split evenly
  into the EDT and the EST interval, flagged ``edited`` with rule ``dst_autumn_split``
  (``raw_value`` keeps the sum as read).

- ``date`` is the LOCAL calendar day ``YYYY-MM-DD`` in the city's time zone; value ``k``
  (1-based) is the interval starting ``(k-1) * interval_minutes`` after local midnight, in
  absolute time. So a spring DST day has 92 quarter-hours (23 h), an autumn day 100 (25 h),
  other days 96. The header has as many value columns as the longest day
  (100 for 15 min); shorter days leave the extra fields empty.
- An empty field inside the day is a missing reading (VEE sees a gap). A value beyond the
  day's length, a day whose date does not exist, or an interval that does not divide a day
  quarantines the line.

Long layout (one reading per line)::

    meter_id,timestamp_local,value,unit[,quality][,interval_minutes]
    E000123,2016-11-06T01:45:00-04:00,0.18,kWh,valid

- ``timestamp_local`` is ISO 8601 local time WITH its UTC offset (``-05:00``/``Z``); that
  offset tells the two 01:xx hours of an autumn day apart. Without an offset the line is
  quarantined. ``timestamp`` is accepted as the column name too.
- ``quality`` (optional): ``valid``/``A``/actual, ``estimated``/``E``, ``edited``, ``failed``;
  empty means valid.

Register layout (AMR water meters, one meter-day per line)::

    meter_id,read_date,uom,read_count,h01,...,h25
    WM00000001,2016-03-13,m3,23,101.234,...

``hNN`` is the cumulative register [m3] read at local midnight plus NN elapsed hours (the END
of the NN-th hour); ``read_count`` is 24, 23 or 25. Reads become hourly volumes by
:func:`register_deltas` (kind ``water_read``).

Units: ``kWh``, ``Wh``, ``MWh`` (energy per interval), ``kW``, ``W`` (mean demand over the
interval, converted to kWh with ``interval_minutes``; in the long layout ``kW`` needs the
``interval_minutes`` column). Anything else is quarantined.

Robustness
----------
The file is streamed in byte chunks (``chunk_bytes``, :func:`iter_mdm_csv`); chunks are
series-complete (the meter a chunk ends with is held back for the next). Per chunk, lines are split and
counted with numpy (exact physical line numbers), lines with the wrong number of fields
(wrong delimiter, a decimal comma in a comma file, garbage), non-ASCII or control bytes
are quarantined with line and reason; the rest is parsed by ``pyarrow.csv``. Cells that are
not numbers, impossible dates and unknown units quarantine their line. Identical repeated
lines (wide: same meter, date and values; long: same meter, time and value) are counted as
duplicates. For every file: ``accepted + quarantined + duplicates == rows_read``.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from pandas.api.types import union_categoricals

from twin.ingest import schema
from twin.ingest.batch import ReadBatch, concat_readings, quarantine_frame
from twin.ingest.csvlines import (
    line_texts,
    numeric_or_null,
    open_lines,
    split_lines,
    take_lines,
    unquote_lines,
)
from twin.ingest.plausible import time_in_range_s, time_range_words

DELIMITERS = (",", ";", "\t", "|")
WIDE_KEYS = ("meter_id", "date", "unit", "interval_minutes")
LONG_KEYS = ("meter_id", "timestamp_local", "value", "unit")
#: Column names of other exports that mean ours (the generator's ``data/RAW-FORMATS.md``
#: names: ``read_date``, ``uom``, ``interval_min``, ``interval_start``).
ALIASES = {"read_date": "date", "uom": "unit", "interval_min": "interval_minutes",
           "interval_start": "timestamp_local", "timestamp": "timestamp_local",
           "timestamp_utc": "timestamp_local", "tag": "meter_id",
           "read_count": "interval_count"}
QUALITY_WORDS = {
    "": "valid", "valid": "valid", "a": "valid", "actual": "valid",
    "estimated": "estimated", "e": "estimated", "edited": "edited", "failed": "failed",
    "good": "valid", "bad": "failed",
}
_INTERVALS = (1, 5, 10, 15, 30, 60)
#: Rules a reader records on readings it repaired (``vee_rule``), code 0 = none.
READER_RULES = ("", "dst_autumn_split", "dst_spring_96")


class MdmCsvError(ValueError):
    """An MDM CSV file that cannot be read at all (the header); the message names the file."""


@dataclass(frozen=True)
class Layout:
    """What the header says: layout, delimiter, column names."""

    name: str  # "wide" or "long"
    delimiter: str
    columns: tuple[str, ...]
    kind: str = "electric_interval"  # what the header suggests (``tag`` -> scada)

    @property
    def n_fields(self) -> int:
        return len(self.columns)

    @property
    def value_columns(self) -> tuple[str, ...]:
        return _value_columns(self.name, self.columns)


@functools.lru_cache(maxsize=64)
def _value_columns(layout: str, columns: tuple[str, ...]) -> tuple[str, ...]:
    if layout == "long":
        return ("value",)
    pattern = r"h\d+" if layout == "register" else r"i\d+"
    return tuple(c for c in columns[3:] if re.fullmatch(pattern, c))


def _check_value_columns(cols: tuple[str, ...], prefix: str, file: str) -> None:
    """The value columns of a wide header run ``<prefix>001, <prefix>002, ...`` in order to
    the end (a value's column is its interval: a column missing or renamed would shift every
    later value to another time).

    Raises
    ------
    MdmCsvError
        Naming the first column out of order, or saying there is none (a cut header).
    """
    first = next((i for i, c in enumerate(cols) if re.fullmatch(prefix + r"\d+", c)), None)
    if first is None:
        raise MdmCsvError(f"{file} line 1: no value column ({prefix}001, {prefix}002, ...) in "
                          "the header; is the file cut short?")
    for k, c in enumerate(cols[first:]):
        m = re.fullmatch(prefix + r"(\d+)", c)
        if m is None or int(m.group(1)) != k + 1:
            raise MdmCsvError(
                f"{file} line 1, column {first + k + 1}: {c!r} where {prefix}{k + 1:03d} is "
                f"expected; value columns must run {prefix}001, {prefix}002, ... in order")


def sniff_layout(header: str, file: str = "") -> Layout:
    """Detect delimiter and layout from a header line.

    Raises
    ------
    MdmCsvError
        When the header is neither the wide nor the long layout.
    """
    header = header.strip().lstrip("\ufeff")
    delim = max(DELIMITERS, key=header.count)
    cols = tuple(c.strip().strip('"').lower() for c in header.split(delim))
    kind = "scada" if "tag" in cols else "electric_interval"
    cols = tuple(ALIASES.get(c, c) for c in cols)
    if cols[:4] == WIDE_KEYS and len(cols) > 4:
        _check_value_columns(cols, "i", file)
        return Layout("wide", delim, cols)
    if cols[:3] == WIDE_KEYS[:3] and any(re.fullmatch(r"h\d+", c) for c in cols):
        _check_value_columns(cols, "h", file)
        return Layout("register", delim, cols, "water_read")
    if set(LONG_KEYS) <= set(cols):
        return Layout("long", delim, cols, kind)
    raise MdmCsvError(
        f"{file}: line 1 is not an MDM CSV header; expected "
        f"'{','.join(WIDE_KEYS)},i001,...' (wide) or '{','.join(LONG_KEYS)}[,quality]' (long), "
        f"found {header[:120]!r}")


def _valid_dates(col: pa.ChunkedArray) -> np.ndarray:
    """Parse ``YYYY-MM-DD`` to datetime64[D]; NaT for impossible dates (round-trip check)."""
    col = pc.utf8_trim_whitespace(col)
    parsed = pc.strptime(col, format="%Y-%m-%d", unit="s", error_is_null=True)
    back = pc.strftime(parsed, format="%Y-%m-%d")
    same = pc.fill_null(pc.equal(back, col), False)
    secs = parsed.to_numpy(zero_copy_only=False).astype("datetime64[s]")
    ok = np.asarray(same.to_numpy(zero_copy_only=False), bool)
    ok &= time_in_range_s(np.where(np.isnat(secs), 0, secs.astype(np.int64)))
    out = secs.astype("datetime64[D]")
    out[~ok] = np.datetime64("NaT")
    return out


def _valid_timestamps(col: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Parse ISO 8601 with offset to UTC [ns]; returns times and reason codes (0 ok)."""
    col = pc.utf8_trim_whitespace(col)
    col = pc.replace_substring_regex(col, r"^(\d{4}-\d\d-\d\d) ", r"\1T")
    col = pc.replace_substring_regex(col, r"Z$", "+00:00")
    naive_txt = pc.utf8_slice_codeunits(col, 0, 19)
    naive = pc.strptime(naive_txt, format="%Y-%m-%dT%H:%M:%S", unit="s", error_is_null=True)
    real = pc.fill_null(pc.equal(pc.strftime(naive, format="%Y-%m-%dT%H:%M:%S"), naive_txt),
                        False)
    aware = pc.strptime(col, format="%Y-%m-%dT%H:%M:%S%z", unit="s", error_is_null=True)
    secs = aware.to_numpy(zero_copy_only=False).astype("datetime64[s]")
    in_range = time_in_range_s(np.where(np.isnat(secs), 0, secs.astype(np.int64)))
    t = np.where(in_range, secs, np.datetime64(0, "s")).astype("datetime64[ns]").view(np.int64)
    real = np.asarray(real.to_numpy(zero_copy_only=False), bool) & in_range
    has = ~np.asarray(pc.is_null(aware).to_numpy(zero_copy_only=False), bool)
    reason = np.where(~real, 1, np.where(~has, 2, 0))
    return t, reason


def _unit_factors(units: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Factor to kWh/m3 and whether each unit is a power; NaN factor for unknown units."""
    uniq, inv = np.unique(units, return_inverse=True)
    f = np.array([schema.UNIT_FACTORS.get(u, ("", np.nan))[1] for u in uniq])
    p = np.array([u in schema.POWER_UNITS for u in uniq], bool)
    canon = np.array([schema.UNIT_FACTORS.get(u, ("?",))[0] for u in uniq], dtype=object)
    inv = inv.reshape(-1)
    return f[inv], p[inv], canon[inv]


def _day_starts(dates: np.ndarray, timezone: str) -> tuple[np.ndarray, np.ndarray]:
    """UTC start [ns] and length [ns] of each local calendar day (computed per unique day)."""
    uniq, inv = np.unique(dates, return_inverse=True)
    both = np.concatenate([uniq, uniq + np.timedelta64(1, "D")])
    local = pd.DatetimeIndex(both.astype("datetime64[ns]")).tz_localize(
        timezone, ambiguous=False, nonexistent="shift_forward")
    ns = local.tz_convert("UTC").tz_localize(None).asi8
    start, end = ns[: len(uniq)], ns[len(uniq):]
    inv = inv.reshape(-1)
    return start[inv], (end - start)[inv]


class _Collector:
    """Accumulates the readings and quarantine rows of one chunk, and duplicate keys.

    Series and units are kept as integer codes into a small per-line dictionary, so no
    string is repeated per reading.
    """

    def __init__(self):
        self.series, self.unit = [], []  # per part: (codes per reading, dictionary)
        self.t, self.v, self.raw, self.flag, self.rule, self.line = [], [], [], [], [], []
        self.q_lines, self.q_reasons, self.q_texts = [], [], []
        self.keys = []  # per accepted line: (line, key hash) for duplicate detection
        self.slots_quarantined = 0  # quarantine entries of accepted lines (dropped slots)
        self.repaired = {}  # repair rule -> lines repaired

    def quarantine(self, lines, reasons, texts):
        self.q_lines.extend(int(x) for x in lines)
        self.q_reasons.extend(reasons)
        self.q_texts.extend(texts)

    def add(self, series, units, t, v, flag, line):
        """Add readings; ``series`` and ``units`` are object arrays (factorised here)."""
        s_codes, s_dict = pd.factorize(series)
        u_codes, u_dict = pd.factorize(units)
        self.add_coded(s_codes, s_dict, u_codes, u_dict, t, v, flag, line)

    def add_coded(self, series_codes, series_dict, unit_codes, unit_dict, t, v, flag, line,
                  raw=None, rule=None):
        """Add readings whose series and units are already codes into small dictionaries."""
        self.series.append((series_codes.astype(np.int32), np.asarray(series_dict, object)))
        self.unit.append((unit_codes.astype(np.int32), np.asarray(unit_dict, object)))
        self.t.append(t)
        self.v.append(v)
        self.raw.append(v if raw is None else raw)
        self.flag.append(flag)
        self.rule.append(np.zeros(len(v), np.int8) if rule is None else rule)
        self.line.append(line)


def _unify(parts: list[tuple[np.ndarray, np.ndarray]]) -> pd.Categorical:
    """Join per-part (codes, dictionary) pairs into one Categorical."""
    if not parts:
        return pd.Categorical([])
    if len(parts) == 1:
        codes, d = parts[0]
        inv, cats = pd.factorize(d)  # dictionaries are unique already; keep it exact
        return pd.Categorical.from_codes(inv[codes] if len(codes) else codes,
                                         categories=pd.Index(cats, dtype=object))
    cats = pd.Index(np.concatenate([d for _, d in parts])).unique()
    codes = np.concatenate([cats.get_indexer(d)[c] if len(c) else c for c, d in parts])
    return pd.Categorical.from_codes(codes, categories=cats)


def _hash_keys(meter: np.ndarray, *numbers: np.ndarray) -> np.ndarray:
    """A 64-bit key per line from its meter id and numbers (dates, times, value sums)."""
    k = pd.util.hash_array(np.asarray(meter, dtype=object))
    for x in numbers:
        x = np.ascontiguousarray(x)
        bits = x.astype(np.float64).view(np.uint64) if x.dtype.kind == "f" else x.astype(
            np.int64).view(np.uint64)
        k = (k * np.uint64(0x9E3779B97F4A7C15)) ^ pd.util.hash_array(bits)
    return k


@functools.lru_cache(maxsize=256)
def _dst_slot(day_start_ns: int, step_ns: int, timezone: str) -> int:
    """Elapsed interval index at which a DST day's UTC offset changes [-]."""
    hours = pd.date_range(pd.Timestamp(day_start_ns, tz="UTC"), periods=27, freq="h")
    offsets = np.array([t.utcoffset().total_seconds() for t in hours.tz_convert(timezone)])
    change = np.flatnonzero(offsets != offsets[0])
    return int(change[0] * 3_600_000_000_000 // step_ns) if len(change) else 0


def _repair_dst_rows(values, rows, expected, wall, day_start, step, timezone):
    """Map DST days exported as ``wall`` wall-clock slots onto the day's real intervals.

    Spring (``expected < wall``): the slots of the hour that does not exist are removed
    (returned for the quarantine). Autumn (``expected > wall``): each slot of the repeated
    hour holds both hours' sum; it is split evenly into the two real intervals.

    Returns
    -------
    new_values : ndarray (len(rows), width)
        The day's values in elapsed order [unit as read].
    raw : ndarray (len(rows), width)
        The value as read for each new slot (the summed value for split slots).
    split : ndarray of bool (len(rows), width)
        Slots that hold half of a summed value.
    dropped : list of (row, first wall slot index, values)
        Spring slots that do not exist, per row.
    """
    width = values.shape[1]
    new = np.full((len(rows), width), np.nan)
    split = np.zeros((len(rows), width), bool)
    dropped = []
    for i, r in enumerate(rows):  # a loop over DST-day lines (one per meter), not readings
        c = _dst_slot(int(day_start[r]), int(step[r]), timezone)
        w, e = int(wall[r]), int(expected[r])
        v = values[r, :w]
        if e < w:
            d = w - e
            new[i, :e] = np.concatenate([v[:c], v[c + d:]])
            dropped.append((i, c, v[c:c + d]))
        else:
            d = e - w
            half = v[c - d:c] / 2.0
            new[i, :e] = np.concatenate([v[:c - d], half, half, v[c:]])
            split[i, c - d:c + d] = True
    raw = new.copy()
    raw[split] = 2.0 * new[split]
    return new, raw, split, dropped


def _read_wide(table, lay, line_no, buf, starts, ends, good_idx, timezone, col, kind):
    n = table.num_rows
    meter = np.asarray(pc.utf8_trim_whitespace(table["meter_id"]).to_numpy(
        zero_copy_only=False), dtype=object)
    dates = _valid_dates(table["date"])
    units = np.asarray(pc.utf8_trim_whitespace(table["unit"]).to_numpy(zero_copy_only=False),
                       dtype=object)
    units = np.where(pd.isna(units), "", units).astype(str)
    factor, power, canon = _unit_factors(units)
    if "interval_minutes" in lay.columns:
        minutes, bad_min = numeric_or_null(table["interval_minutes"])
    else:  # hourly register reads
        minutes, bad_min = np.full(n, 60.0), np.zeros(n, bool)
    vcols = lay.value_columns
    values = np.empty((n, len(vcols)))
    bad_cell = np.zeros(n, bool)
    first_bad = np.full(n, -1)
    for j, c in enumerate(vcols):  # a loop over columns, not readings
        arr = table[c]
        if pa.types.is_floating(arr.type) or pa.types.is_null(arr.type):
            values[:, j] = np.asarray(arr.to_numpy(zero_copy_only=False), float)
        else:
            values[:, j], bad = numeric_or_null(arr)
            first_bad = np.where(bad & (first_bad < 0), j, first_bad)
            bad_cell |= bad
    huge = np.isinf(values)  # inf, 1e400 or a 5,000-digit number read as a float
    if huge.any():
        rows_huge = huge.any(axis=1)
        first_bad = np.where(rows_huge & (first_bad < 0), np.argmax(huge, axis=1), first_bad)
        bad_cell |= rows_huge
        values[huge] = np.nan
    ok_min = np.isin(minutes, _INTERVALS)
    day_start = np.zeros(n, np.int64)
    day_len = np.zeros(n, np.int64)
    has_date = ~np.isnat(dates)
    if has_date.any():
        day_start[has_date], day_len[has_date] = _day_starts(dates[has_date], timezone)
    step = np.where(ok_min, minutes, 1).astype(np.int64) * 60_000_000_000
    expected = np.where(has_date & ok_min, day_len // step, 0)
    wall = np.where(ok_min, 1440 // np.where(ok_min, minutes, 1).astype(np.int64), 0)
    pos = np.arange(len(vcols))
    present = ~np.isnan(values)
    if "interval_count" in lay.columns:
        declared, _ = numeric_or_null(table["interval_count"])
    else:
        declared = np.full(n, np.nan)
    # a DST day exported as a plain day's wall-clock slots (interval_count says so)
    # (spring: values run on past the day's real intervals; autumn: none past the wall slots)
    dst_wall = (has_date & ok_min & (expected != wall) & (declared == wall)
                & (wall <= len(vcols)) & (lay.name == "wide"))
    if dst_wall.any():
        last = np.where(present.any(axis=1), len(vcols) - 1 - np.argmax(present[:, ::-1], axis=1),
                        -1)
        dst_wall &= np.where(expected < wall, last >= expected, last < wall)
    beyond = (present & (pos[None, :] >= np.where(dst_wall, wall, expected)[:, None])).any(
        axis=1)
    npresent = present.sum(axis=1)
    miscount = ~np.isnan(declared) & (declared != expected) & has_date & ok_min & ~dst_wall
    texts_date = np.asarray(table["date"].to_numpy(zero_copy_only=False), dtype=object)
    kind_unit = schema.KINDS[kind].unit if kind in schema.KINDS else ""
    not_kind = ~np.isnan(factor) & (canon != kind_unit) if kind_unit else np.zeros(n, bool)
    factor = np.where(not_kind, np.nan, factor)  # a register's reads in one unit only
    conds = [pd.isna(meter) | (meter == ""), ~has_date, np.isnan(factor), ~ok_min | bad_min,
             bad_cell, beyond, miscount]
    bad = np.logical_or.reduce(conds)
    if bad.any():  # words only for the lines that need them
        b = np.flatnonzero(bad)
        reasons = np.select(
            [c[b] for c in conds],
            [np.full(len(b), "empty meter_id"),
             np.char.add("impossible date, or outside " + time_range_words() + ": ",
                         texts_date[b].astype(str)),
             np.where(not_kind[b], np.char.add(np.char.add("unit ", units[b].astype(str)),
                                               f" is not a {kind} unit ({kind_unit})"),
                      np.char.add("unknown unit ", units[b].astype(str))),
             np.full(len(b), f"interval_minutes must be one of {_INTERVALS}"),
             np.char.add("a value is not a number, column ",
                         np.asarray(vcols + ("",), dtype=str)[first_bad[b]]),
             np.char.add(np.char.add(npresent[b].astype(str), " values for a day of "),
                         expected[b].astype(str)).astype(object) + " intervals (DST?)",
             np.char.add(np.char.add("interval_count ",
                                     np.nan_to_num(declared[b]).astype(int).astype(str)),
                         np.char.add(" for a day of ", expected[b].astype(str))).astype(object)
             + " intervals (DST export fault?)"], "")
        col.quarantine(line_no[b], list(reasons), line_texts(buf, starts, ends, good_idx[b]))
    ok = ~bad
    rows = np.flatnonzero(ok)
    vsel = values[rows] if bad.any() else values
    vals, raw_vals, split_cells = vsel, vsel, None
    fix = np.flatnonzero(dst_wall[rows])
    if len(fix):
        vals = vals.copy()
        new, raw_new, split, dropped = _repair_dst_rows(values, rows[fix], expected, wall,
                                                        day_start, step, timezone)
        vals[fix] = new
        raw_vals = vals.copy()
        raw_vals[fix] = raw_new
        split_cells = np.zeros(vals.shape, bool)
        split_cells[fix] = split
        _quarantine_dropped_slots(col, dropped, rows[fix], line_no, texts_date, vcols)
        n_split = int(split.any(axis=1).sum())
        if n_split:
            col.repaired["dst_autumn_split"] = col.repaired.get("dst_autumn_split", 0) + n_split
        if dropped:
            col.repaired["dst_spring_96"] = col.repaired.get("dst_spring_96", 0) + len(dropped)
    mask = ~np.isnan(vals) & (pos[None, :] < expected[rows, None])
    per_row = mask.sum(axis=1)
    row = np.repeat(rows, per_row)
    p_i = np.nonzero(mask)[1]
    scale_row = factor[rows] * np.where(power[rows], minutes[rows] / 60.0, 1.0)
    m_codes, m_dict = pd.factorize(meter[rows])  # per line, small
    u_codes, u_dict = pd.factorize(canon[rows])
    # interval values are stamped at the slot's start; register reads at its end
    offset = 1 if lay.name == "register" else 0
    v = vals[mask]
    if not (scale_row == 1.0).all():
        v *= np.repeat(scale_row, per_row)
    raw = v
    flag = np.full(len(v), schema.QUALITY_FLAGS.index("valid"), np.int8)
    rule = None
    if split_cells is not None:
        sc = split_cells[mask]
        raw = raw_vals[mask] * np.repeat(scale_row, per_row)
        flag[sc] = schema.QUALITY_FLAGS.index("edited")
        rule = np.where(sc, READER_RULES.index("dst_autumn_split"), 0).astype(np.int8)
    col.add_coded(np.repeat(m_codes, per_row), m_dict, np.repeat(u_codes, per_row), u_dict,
                  day_start[row] + (p_i + offset) * step[row], v, flag, line_no[row],
                  raw=raw, rule=rule)
    # a weighted row sum (same per-row reduction for equal rows: exact for repeated lines)
    h = (np.nan_to_num(vsel, nan=-1.2345) * (pos + 1.0)).sum(axis=1)
    col.keys.append((line_no[rows], _hash_keys(meter[rows], dates[rows].astype("int64"), h)))


def _quarantine_dropped_slots(col, dropped, rows, line_no, texts_date, vcols):
    """Quarantine the slots of a spring DST day's hour that does not exist (one entry a line).

    These lines are accepted (their other slots are readings): the entries are counted in
    ``slots_quarantined``, not as quarantined rows.
    """
    for i, c, v in dropped:
        r = rows[i]
        names = f"{vcols[c]}-{vcols[c + len(v) - 1]}"
        col.quarantine([line_no[r]], [
            f"DST spring day {texts_date[r]} exported as wall-clock slots: {names} are a "
            f"local hour that does not exist; dropped, the rest mapped to their real times"],
            [f"{names}=" + ",".join(f"{x:g}" for x in v)])
        col.slots_quarantined += 1


def _read_long(table, lay, line_no, buf, starts, ends, good_idx, col, kind):
    n = table.num_rows
    meter = np.asarray(pc.utf8_trim_whitespace(table["meter_id"]).to_numpy(
        zero_copy_only=False), dtype=object)
    t, t_reason = _valid_timestamps(table["timestamp_local"])
    if pa.types.is_floating(table["value"].type):
        value = np.asarray(table["value"].to_numpy(zero_copy_only=False), float)
        bad_v = np.isnan(value)
    else:
        value, bad_v = numeric_or_null(table["value"])
        bad_v |= np.isnan(value)
    units = np.asarray(pc.utf8_trim_whitespace(table["unit"]).to_numpy(zero_copy_only=False),
                       dtype=object)
    units = np.where(pd.isna(units), "", units).astype(str)
    factor, power, canon = _unit_factors(units)
    if not schema.KINDS[kind].unit:  # units as read (MW, kV, L/s, degC): no conversion
        factor = np.where(units != "", 1.0, np.nan)
        power = np.zeros(n, bool)
        canon = units.astype(object)
    if "interval_minutes" in lay.columns:
        minutes, _ = numeric_or_null(table["interval_minutes"])
    else:
        minutes = np.full(n, np.nan)
    if "quality" in lay.columns:
        qtxt = np.asarray(pc.utf8_lower(pc.utf8_trim_whitespace(table["quality"])).to_numpy(
            zero_copy_only=False), dtype=object)
        qtxt = np.where(pd.isna(qtxt), "", qtxt).astype(str)
        qflag = np.array([QUALITY_WORDS.get(q, "?") for q in np.unique(qtxt)], dtype=object)[
            np.unique(qtxt, return_inverse=True)[1].reshape(-1)]
    else:
        qtxt = np.full(n, "", dtype=object)
        qflag = np.full(n, "valid", dtype=object)
    raw_v = np.asarray(table["value"].to_numpy(zero_copy_only=False), dtype=object).astype(str)
    reasons = np.select(
        [pd.isna(meter) | (meter == ""), t_reason == 1, t_reason == 2, bad_v, np.isnan(factor),
         power & np.isnan(minutes), qflag == "?"],
        [np.full(n, "empty meter_id"), np.full(n, f"impossible timestamp, or outside {time_range_words()}"),
         np.full(n, "timestamp without UTC offset (write e.g. 2016-11-06T01:30:00-05:00)"),
         np.char.add("value is not a number: ", raw_v),
         np.char.add("unknown unit ", units.astype(str)),
         np.full(n, "unit kW needs an interval_minutes column"),
         np.char.add("unknown quality ", qtxt.astype(str))], "")
    bad = reasons != ""
    col.quarantine(line_no[bad], list(reasons[bad]),
                   line_texts(buf, starts, ends, good_idx[bad]))
    rows = np.flatnonzero(~bad)
    scale = factor[rows] * np.where(power[rows], minutes[rows] / 60.0, 1.0)
    fcodes = pd.Categorical(qflag[rows], categories=list(schema.QUALITY_FLAGS)).codes
    col.add(meter[rows], canon[rows], t[rows], value[rows] * scale, fcodes.astype(np.int8),
            line_no[rows])
    col.keys.append((line_no[rows], _hash_keys(meter[rows], t[rows], value[rows])))


def read_mdm_csv(path, timezone: str, *, kind: str | None = None,
                 chunk_bytes: int = 32 << 20) -> ReadBatch:
    """Read a whole MDM CSV export (wide or long layout, see module docstring).

    The file is streamed in chunks (:func:`iter_mdm_csv`) and the chunks joined; use
    :func:`iter_mdm_csv` directly to hold one chunk in memory at a time.

    Parameters
    ----------
    path : str or path-like
        Local path or fsspec URL.
    timezone : str
        The city's IANA zone; the wide layout's dates are local days in it.
    kind : str, optional
        Measurement kind the readings belong to; default what the header suggests
        (``scada`` for a ``tag`` column, else ``electric_interval``). Kinds without a
        canonical unit (scada, weather) keep each reading's unit as read.
    chunk_bytes : int
        Bytes read per chunk [B].

    Returns
    -------
    ReadBatch
        Readings in canonical units (kWh), UTC; quarantined lines with reasons.

    Raises
    ------
    MdmCsvError
        Only when the header cannot be read; every later problem is quarantined per line.
    """
    return join_batches(list(iter_mdm_csv(path, timezone, kind=kind,
                                          chunk_bytes=chunk_bytes)))


def join_batches(batches: list[ReadBatch]) -> ReadBatch:
    """Join the chunk batches of one file into one batch (counts added, meta merged)."""
    first = batches[0]
    meta = dict(first.meta)
    for b in batches[1:]:
        meta["slots_quarantined"] += b.meta["slots_quarantined"]
        for k, v in b.meta["repaired"].items():
            meta["repaired"][k] = meta["repaired"].get(k, 0) + v
    quarantine = pd.concat([b.quarantine for b in batches], ignore_index=True) if len(
        batches) > 1 else first.quarantine
    return ReadBatch(
        kind=first.kind, readings=concat_readings([b.readings for b in batches]),
        quarantine=quarantine if len(quarantine) else schema.empty_quarantine(),
        rows_read=sum(b.rows_read for b in batches),
        rows_accepted=sum(b.rows_accepted for b in batches),
        duplicates=sum(b.duplicates for b in batches), meta=meta)


class MeterRuns:
    """Meters whose lines come in more than one run in a file (re-sent rows), found from
    the file's bytes as they stream past (:meth:`feed`, e.g. while its checksum is taken).

    Only the first field of each line is looked at (the ``meter_id`` of wide and register
    layouts), cut to ``width`` bytes. The answer is a hint for holding those meters back
    from chunk-by-chunk VEE: a meter missed (a garbage line, a cut name) is still handled
    as a late series, one found wrongly is only held back.
    """

    def __init__(self, delimiter: str, width: int = 32):
        self.delimiter, self.width = ord(delimiter), width
        self.rest, self.header, self.last = b"", True, None
        self.run_keys: list[np.ndarray] = []

    def feed(self, block: bytes) -> None:
        """Take the next bytes of the file (any cut)."""
        data = self.rest + block if self.rest else block
        cut = data.rfind(b"\n")
        if cut < 0:
            self.rest = data
            return
        self.rest = data[cut + 1:]
        self._lines(np.frombuffer(data, np.uint8, count=cut + 1))

    def _lines(self, buf: np.ndarray) -> None:
        nl = np.flatnonzero(buf == 10)
        starts = np.concatenate([[0], nl[:-1] + 1])
        if self.header:  # line 1 is the header
            starts, nl, self.header = starts[1:], nl[1:], False
        if not len(starts):
            return
        delims = np.append(np.flatnonzero(buf == self.delimiter), len(buf))
        end = np.minimum(delims[np.searchsorted(delims, starts)], nl)
        j = np.arange(self.width)
        idx = np.minimum(starts[:, None] + j, len(buf) - 1)
        keys = np.where(j < (end - starts)[:, None], buf[idx], 0).astype(np.uint8)
        keys = np.ascontiguousarray(keys).view(np.uint64)  # (lines, width / 8)
        new = np.ones(len(keys), bool)
        new[1:] = (keys[1:] != keys[:-1]).any(axis=1)
        if self.last is not None and (keys[0] == self.last).all():
            new[0] = False
        self.run_keys.append(keys[new])
        self.last = keys[-1]

    def returning(self) -> set[str]:
        """Return the meter ids (as the reader trims them) seen in more than one run."""
        if self.rest:
            self._lines(np.frombuffer(self.rest + b"\n", np.uint8))
            self.rest = b""
        if not self.run_keys:
            return set()
        keys, n = np.unique(np.concatenate(self.run_keys), axis=0, return_counts=True)
        return {k.tobytes().rstrip(b"\0").decode("utf-8", "replace").strip()
                for k in keys[n > 1]}


def meter_runs(path) -> MeterRuns | None:
    """A :class:`MeterRuns` for an MDM CSV file whose first column is ``meter_id``; None
    for other layouts (or a header that is not one)."""
    with open_lines(path) as f:
        header = f.readline()
    try:
        lay = sniff_layout(header.decode("utf-8"), posixpath.basename(str(path)))
    except (MdmCsvError, UnicodeDecodeError):
        return None
    return MeterRuns(lay.delimiter) if lay.columns[0] == "meter_id" else None


def iter_mdm_csv(path, timezone: str, *, kind: str | None = None,
                 chunk_bytes: int = 32 << 20) -> Iterator[ReadBatch]:
    """Stream an MDM CSV export as one :class:`ReadBatch` per chunk of ``chunk_bytes``.

    Chunks are series-complete for files sorted by meter (as MDM exports are): the
    readings of the meter the chunk ends with are held back and yielded with the next
    chunk, so VEE of a chunk sees each meter's whole run. Rows of a meter that come back
    later in the file (re-sent rows at the end) are yielded with the chunk they are in.
    Counts (``rows_read``, ``rows_accepted``, ``duplicates``, quarantine) are per chunk
    and add up to the file's; a line repeated anywhere in the file is a duplicate.

    Parameters and errors as :func:`read_mdm_csv`. ``meta`` holds ``slots_quarantined``
    (quarantine entries of accepted lines: DST slots that do not exist) and ``repaired``
    (lines repaired per rule).
    """
    name = posixpath.basename(str(path))
    with open_lines(path) as f:  # the header is checked now, not at first next()
        header = f.readline()
    try:
        lay = sniff_layout(header.decode("utf-8"), name)
    except UnicodeDecodeError:
        raise MdmCsvError(f"{name}: line 1 is not text; is it a CSV file?") from None
    return _iter_chunks(path, name, lay, timezone, kind or lay.kind, chunk_bytes)


def _iter_chunks(path, name: str, lay: Layout, timezone: str, kind: str,
                 chunk_bytes: int) -> Iterator[ReadBatch]:
    seen = _SeenKeys()
    carry, yielded = None, False
    with open_lines(path) as f:
        f.readline()
        line_base = 1  # lines before the chunk
        rest = b""
        while True:
            block = f.read(chunk_bytes)
            data = rest + block
            if not block:
                if not data:
                    break
                if not data.endswith(b"\n"):
                    data += b"\n"
                rest = b""
            else:
                cut = data.rfind(b"\n")
                if cut < 0:
                    rest = data
                    continue
                data, rest = data[: cut + 1], data[cut + 1:]
            col = _Collector()
            n_lines = _read_chunk(data, lay, line_base, timezone, kind, col)
            line_base += n_lines
            batch, carry = _chunk_batch(col, name, kind, n_lines, lay, seen, carry,
                                        last=not block)
            yielded = True
            yield batch
            if not block:
                break
    if carry is not None or not yielded:  # what was held back; or a file with no rows
        yield _chunk_batch(_Collector(), name, kind, 0, lay, seen, carry, last=True)[0]


def _mask(n: int, idx) -> np.ndarray:
    """A boolean mask of length ``n`` set at ``idx``."""
    out = np.zeros(n, bool)
    out[list(idx)] = True
    return out


def _read_chunk(data: bytes, lay: Layout, line_base: int, timezone: str, kind: str,
                col: _Collector) -> int:
    """Split, check and parse one chunk of whole lines into ``col``; return its lines."""
    buf = np.frombuffer(data, np.uint8)
    starts, ends, fields, clean = split_lines(buf, lay.delimiter)
    line_no = line_base + 1 + np.arange(len(starts))
    empty = ends == starts
    quoted, fixed, why_quote = unquote_lines(buf, starts, ends, lay.delimiter, lay.n_fields)
    if len(fixed):  # a quoted line that reads has the right number of fields once unquoted
        fields = fields.copy()
        fields[list(fixed)] = lay.n_fields
    good = clean & (fields == lay.n_fields) & ~empty & ~(quoted & ~_mask(len(starts), fixed))
    bad_idx = np.flatnonzero(~good)
    if len(bad_idx):
        why = np.where(empty[bad_idx], "empty line", np.where(
            ~clean[bad_idx], "non-ASCII or control characters", np.char.add(
                np.char.add(fields[bad_idx].astype(str), " fields, expected "),
                f"{lay.n_fields} (wrong delimiter, decimal comma or a broken line?)"))
        ).astype(object)
        for k, i in enumerate(bad_idx):  # quoted lines that cannot be read (a few)
            if int(i) in why_quote and clean[i] and not empty[i]:
                why[k] = why_quote[int(i)]
        col.quarantine(line_no[bad_idx], list(why), line_texts(buf, starts, ends, bad_idx))
    good_idx = np.flatnonzero(good)
    if len(good_idx):
        if len(fixed):
            body = b"\n".join(fixed.get(int(i), bytes(buf[starts[i]:ends[i]]))
                               for i in good_idx) + b"\n"
        else:
            body = data if len(bad_idx) == 0 else take_lines(buf, starts, ends, good)
        if lay.delimiter == ";":
            body = body.replace(b",", b".")
        table = _parse(body, lay)
        args = (table, lay, line_no[good_idx], buf, starts, ends, good_idx)
        if lay.name in ("wide", "register"):
            _read_wide(*args, timezone, col, kind)
        else:
            _read_long(*args, col, kind)
    return len(starts)


class _SeenKeys:
    """Keys of the lines accepted so far in a file, to find repeated lines across chunks."""

    def __init__(self):
        self.keys = np.empty(0, np.uint64)

    def duplicates(self, lines: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Return the lines whose key was seen before (earlier in the file); remember the rest."""
        order = np.argsort(lines, kind="stable")
        lines, keys = lines[order], keys[order]
        dup = pd.Series(keys).duplicated().to_numpy()
        if len(self.keys):
            pos = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
            dup |= self.keys[pos] == keys
        self.keys = np.union1d(self.keys, keys[~dup])
        return lines[dup]


def _parse(body: bytes, lay: Layout) -> pa.Table:
    """Parse clean lines (no header); value columns as float64 when they all are, else text."""
    read = pacsv.ReadOptions(use_threads=True, block_size=4 << 20, column_names=lay.columns)
    parse = pacsv.ParseOptions(delimiter=lay.delimiter, newlines_in_values=False,
                               quote_char=False)  # quoted lines are unquoted before
    strings = {c: pa.string() for c in lay.columns if c not in lay.value_columns}
    try:
        types = {**strings, **{c: pa.float64() for c in lay.value_columns}}
        return pacsv.read_csv(pa.BufferReader(body), read, parse, pacsv.ConvertOptions(
            column_types=types, strings_can_be_null=False))
    except pa.ArrowInvalid:
        types = {c: pa.string() for c in lay.columns}
        return pacsv.read_csv(pa.BufferReader(body), read, parse, pacsv.ConvertOptions(
            column_types=types, strings_can_be_null=False))


#: A register rolls over when its read before was at least this share of its capacity
#: (the next power of ten) and the span's volume after the wrap is below ``1 -`` it [-].
ROLLOVER_SHARE = 0.9


def register_glitches(codes: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Register reads that cannot be: negative or not finite, or a read out of line with
    both neighbours of its meter (below the read before it or above the read after it, when
    those two are in order): a single glitch that would make one huge interval volume."""
    bad = ~np.isfinite(v) | (v < 0)
    prev = np.r_[np.nan, v[:-1]]
    nxt = np.r_[v[1:], np.nan]
    same_prev = np.r_[False, codes[1:] == codes[:-1]]
    same_next = np.r_[codes[1:] == codes[:-1], False]
    with np.errstate(invalid="ignore"):
        inner = same_prev & same_next & (prev <= nxt)
        bad |= inner & ((v < prev) | (v > nxt))
    return bad


def register_deltas(reads: pd.DataFrame, step: pd.Timedelta | None = None, *,
                    with_dropped: bool = False):
    """Turn cumulative register reads into volumes per interval (vectorised).

    The volume between consecutive reads of a meter belongs to the intervals between them,
    stamped at their start. When reads are missing the span covers several intervals: its
    volume is split evenly over them, flagged ``estimated`` with rule ``register_split``.
    The first read of each meter has no predecessor and yields no volume.

    A register only counts up: reads that cannot be (:func:`register_glitches`) are left
    out, so the span around them is split like a missing read; a register that went back
    from near its capacity (a power of ten, :data:`ROLLOVER_SHARE`) rolled over, and its
    volume is the wrap-corrected one (``edited``, rule ``register_rollover``); any other
    step back (a meter replaced, a reset) gives no volume (``failed``, value NaN, rule
    ``register_reset``; ``raw_value`` keeps the negative difference).

    Parameters
    ----------
    reads : DataFrame
        ``series_id, time_utc`` (time of the read), ``value`` register [unit], ...
    step : Timedelta, optional
        Interval of the reads [h]; default 1 h.
    with_dropped : bool
        Also return the reads left out, with a ``reason`` column.
    """
    step = pd.Timedelta("1h") if step is None else pd.Timedelta(step)
    reads = reads.sort_values(["series_id", "time_utc"], kind="stable").reset_index(drop=True)
    glitch = register_glitches(reads["series_id"].cat.codes.to_numpy(),
                               reads["value"].to_numpy(dtype=float))
    dropped = reads[glitch].assign(reason=np.where(
        reads.loc[glitch, "value"].to_numpy() < 0, "negative register read",
        "register read out of line with the reads around it (a glitch)")
        + ": left out, the span's volume split over its hours")
    if glitch.any():
        reads = reads[~glitch].reset_index(drop=True)
    codes = reads["series_id"].cat.codes.to_numpy()
    t = schema.time_ns(reads["time_utc"])
    v = reads["value"].to_numpy(dtype=float)
    has_prev = np.zeros(len(v), bool)
    has_prev[1:] = codes[1:] == codes[:-1]
    idx = np.flatnonzero(has_prev)
    span = t[idx] - t[idx - 1]
    k = np.maximum(span // int(step.value), 1)
    delta = v[idx] - v[idx - 1]
    back = delta < 0
    rolled = np.zeros(len(idx), bool)
    if back.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            cap = 10.0 ** np.ceil(np.log10(np.maximum(v[idx - 1], 1.0)))
        rolled = back & (v[idx - 1] >= ROLLOVER_SHARE * cap) & (
            delta + cap < (1 - ROLLOVER_SHARE) * cap)
        delta = np.where(rolled, delta + cap, delta)
    reset = delta < 0
    rows = np.repeat(idx, k)
    j = np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)
    t_new = np.repeat(t[idx - 1], k) + j * int(step.value)
    v_new = np.repeat(delta / k, k)
    split = np.repeat(k > 1, k)
    out = reads.iloc[rows].reset_index(drop=True)
    out["time_utc"] = pd.DatetimeIndex(t_new.view("datetime64[ns]")).tz_localize("UTC")
    out["raw_value"] = v_new
    out["value"] = np.where(np.repeat(reset, k), np.nan, v_new)
    flags = out["quality_flag"].astype(str).to_numpy(dtype=object)
    flags[split] = "estimated"
    flags[np.repeat(rolled, k)] = "edited"
    flags[np.repeat(reset, k)] = "failed"
    out["quality_flag"] = pd.Categorical(flags, categories=list(schema.QUALITY_FLAGS))
    rule = np.where(split, "register_split", "").astype(object)
    rule[np.repeat(rolled, k)] = "register_rollover"
    rule[np.repeat(reset, k)] = "register_reset"
    out["vee_rule"] = pd.Categorical(rule)
    return (out, dropped) if with_dropped else out


def _chunk_batch(col: _Collector, name: str, kind: str, rows_read: int, lay: Layout,
                 seen: _SeenKeys, carry: dict | None,
                 last: bool) -> tuple[ReadBatch, dict | None]:
    """Turn one chunk's collected readings into a batch; hold back the last meter's run."""
    if col.keys:
        dup_lines = seen.duplicates(np.concatenate([k[0] for k in col.keys]),
                                    np.concatenate([k[1] for k in col.keys]))
    else:
        dup_lines = np.empty(0, np.int64)
    line = np.concatenate(col.line) if col.line else np.empty(0, np.int64)
    t = np.concatenate(col.t) if col.t else np.empty(0, np.int64)
    v = np.concatenate(col.v) if col.v else np.empty(0)
    raw = np.concatenate(col.raw) if col.raw else np.empty(0)
    flag = np.concatenate(col.flag) if col.flag else np.empty(0, np.int8)
    rule = np.concatenate(col.rule) if col.rule else np.empty(0, np.int8)
    series, unit = _unify(col.series), _unify(col.unit)
    cols = {"series_id": series, "time_utc": t, "value": v, "unit": unit, "flag": flag,
            "rule": rule, "raw_value": raw, "line": line}
    if len(dup_lines):
        keep = ~np.isin(line, dup_lines)
        cols = {k: x[keep] for k, x in cols.items()}
    held = None
    if not last and len(cols["line"]):
        # the meter of the chunk's last line may go on in the next chunk: hold it back
        codes = cols["series_id"].codes
        tail = codes == codes[np.argmax(cols["line"])]
        first = len(tail) - int(tail.sum())
        if tail[first:].all():  # the usual case: the run is the chunk's end (views)
            held = {k: x[first:] for k, x in cols.items()}
            cols = {k: x[:first] for k, x in cols.items()}
        else:
            held = {k: x[tail] for k, x in cols.items()}
            cols = {k: x[~tail] for k, x in cols.items()}
    if carry is not None and len(carry["line"]):
        cols = {k: (union_categoricals([carry[k], x]) if isinstance(x, pd.Categorical)
                    else np.concatenate([carry[k], x])) for k, x in cols.items()}
    used = np.unique(cols["rule"]) if cols["rule"].any() else np.zeros(1, np.int8)
    readings = pd.DataFrame({
        "series_id": cols["series_id"],
        "time_utc": schema.utc_times(cols["time_utc"]),
        "value": cols["value"],
        "unit": cols["unit"],
        "quality_flag": pd.Categorical.from_codes(cols["flag"],
                                                  categories=list(schema.QUALITY_FLAGS)),
        "vee_rule": pd.Categorical.from_codes(
            np.searchsorted(used, cols["rule"]).astype(np.int8) if len(used) else cols["rule"],
            categories=[READER_RULES[u] for u in used] if len(used) else [""]),
        "raw_value": cols["raw_value"],
        "line": cols["line"],
    })
    if lay.name == "register" and kind != "electric_register" and len(readings):
        readings, dropped = register_deltas(readings, with_dropped=True)
        for r in dropped.itertuples():  # register reads left out (a glitch): slot entries
            col.quarantine([r.line], [r.reason], [f"{r.series_id},{r.time_utc:%Y-%m-%dT%H:%MZ},"
                                                  f"{r.raw_value:g}"])
            col.slots_quarantined += 1
    quarantine = quarantine_frame(kind, name, col.q_lines, col.q_reasons, col.q_texts)
    n_dup = len(dup_lines)
    n_q = len(quarantine) - col.slots_quarantined
    return ReadBatch(
        kind=kind, readings=readings.reset_index(drop=True), quarantine=quarantine,
        rows_read=rows_read, rows_accepted=rows_read - n_q - n_dup, duplicates=n_dup,
        meta={"format": f"mdm_csv_{lay.name}", "delimiter": lay.delimiter,
              "row_per_reading": lay.name == "long", "on_grid": lay.name != "long",
              "slots_quarantined": col.slots_quarantined, "repaired": dict(col.repaired)},
    ), held
