"""The long measurement schema, declared once as data with units.

Every measurement the twin ingests, whatever its source, becomes rows of one long table::

    series_id     str                 meter, sensor or station id the reading belongs to
    time_utc      timestamp[ns, UTC]  start of the interval (or instant of the read)
    value         float64             the value after VEE, in ``unit``
    unit          str                 the value's unit, the kind's canonical unit
    quality_flag  str                 one of ``valid``, ``estimated``, ``edited``, ``failed``
    vee_rule      str                 VEE rules that touched the reading, ``;``-joined, ``""`` if none
    raw_value     float64             the value as read (converted to ``unit``), before any edit
    source        str                 ``<file name>@<sha256 prefix>`` of the file it came from
    interval_s    int32               length of the interval the reading covers [s] (Green
                                      Button's duration, a 23 h or 25 h DST day included);
                                      for other sources the series' step in the file; 0 when
                                      unknown (stores written before the column existed)

Readings that cannot be read at all go to the quarantine table
``(kind, file, line, reason, raw_text)`` instead; nothing is dropped silently.

``COLUMNS``, ``QUARANTINE_COLUMNS`` and ``KINDS`` are the single declaration; the Arrow
schemas, the empty frames and :func:`conform` are derived from them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

#: Quality flags, in increasing order of precedence when two batches hold the same reading
#: (see :mod:`twin.ingest.store`): a manual edit beats a valid read beats an estimate beats a
#: failed read.
QUALITY_FLAGS = ("failed", "estimated", "valid", "edited")

#: Precedence rank of each quality flag [-]; higher wins when readings overlap.
QUALITY_RANK = {flag: rank for rank, flag in enumerate(QUALITY_FLAGS)}


@dataclass(frozen=True)
class Column:
    """One column of a table: name, logical Arrow type and a description with units."""

    name: str
    arrow_type: pa.DataType
    description: str
    pandas_dtype: str


_DICT = pa.dictionary(pa.int32(), pa.string())

#: The long measurement schema (storage types: strings are dictionary-encoded).
COLUMNS: tuple[Column, ...] = (
    Column("series_id", _DICT, "meter, sensor or station id", "category"),
    Column("time_utc", pa.timestamp("ns", tz="UTC"),
           "interval start (or instant) in UTC [ns since 1970-01-01]", "datetime64[ns, UTC]"),
    Column("value", pa.float64(), "value after VEE, in `unit` [unit]", "float64"),
    Column("unit", _DICT, "unit of `value` and `raw_value`, e.g. 'kWh', 'm3'", "category"),
    Column("quality_flag", _DICT, f"one of {', '.join(QUALITY_FLAGS)}", "category"),
    Column("vee_rule", _DICT, "VEE rules that touched the reading, ';'-joined; '' if none",
           "category"),
    Column("raw_value", pa.float64(),
           "value as read (converted to `unit`), before edits; NaN for inserted gaps [unit]",
           "float64"),
    Column("source", _DICT, "'<file name>@<sha256 prefix>' of the source file", "category"),
    Column("interval_s", pa.int32(),
           "interval the reading covers, or its series' step in the file [s]; 0 unknown",
           "int32"),
)

#: The quarantine schema: input that could not become a reading, with where and why.
QUARANTINE_COLUMNS: tuple[Column, ...] = (
    Column("kind", pa.string(), "measurement kind the file was read as", "object"),
    Column("file", pa.string(), "source file name", "object"),
    Column("line", pa.int64(), "1-based physical line number in the file (0 if not a line)",
           "int64"),
    Column("reason", pa.string(), "why the input was rejected, in words", "object"),
    Column("raw_text", pa.string(), "the rejected text as read", "object"),
)


@dataclass(frozen=True)
class Kind:
    """A kind of measurement: its canonical unit and what it is."""

    name: str
    unit: str
    description: str
    allow_negative: bool


#: Measurement kinds, one dataset each in the store.
KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("electric_interval", "kWh", "smart-meter interval energy [kWh per interval]",
             False),
        Kind("water_read", "m3", "water meter interval volume [m3 per interval]", False),
        Kind("scada", "", "SCADA analog points, unit per point (MW, kV, m, m3/s, ...)", True),
        Kind("pv", "kWh", "rooftop PV generation per interval [kWh per interval]", False),
        Kind("electric_register", "kWh",
             "electricity meter register, cumulative energy at the read time [kWh]", False),
        Kind("weather", "", "weather station values, unit per variable (degC, W/m2, m/s)",
             True),
    )
}

#: Unit conversions to canonical units: unit as read -> (canonical unit, factor [-]).
#: ``kW`` and ``W`` are demand per interval; readers multiply them by the interval [h].
UNIT_FACTORS: dict[str, tuple[str, float]] = {
    "kWh": ("kWh", 1.0),
    "Wh": ("kWh", 1e-3),
    "MWh": ("kWh", 1e3),
    "kW": ("kWh", 1.0),  # times interval [h]
    "W": ("kWh", 1e-3),  # times interval [h]
    "m3": ("m3", 1.0),
    "L": ("m3", 1e-3),
    "gal": ("m3", 3.785411784e-3),
}

#: Units that are a power, to be multiplied by the interval length [h] to become energy.
POWER_UNITS = frozenset({"kW", "W"})


def arrow_schema() -> pa.Schema:
    """Return the Arrow storage schema of the long measurement table."""
    return pa.schema([pa.field(c.name, c.arrow_type, nullable=c.name in NULLABLE)
                      for c in COLUMNS])


#: Columns that may hold nulls: values (gaps), and ``interval_s`` of files stored before the
#: column existed (read back as 0).
NULLABLE = ("value", "raw_value", "interval_s")


def arrow_table(df: pd.DataFrame) -> pa.Table:
    """Return a conformed measurement frame as an Arrow table of :func:`arrow_schema`.

    Built from the frame's arrays (categorical codes become dictionary indices, NaN
    values nulls), as ``pa.Table.from_pandas`` would, without its per-column machinery.
    """
    df = conform(df)
    sch = arrow_schema()
    arrays = []
    for field in sch:
        col = df[field.name]
        if pa.types.is_dictionary(field.type):
            codes = col.cat.codes.to_numpy()
            mask = codes < 0
            arrays.append(pa.DictionaryArray.from_arrays(
                pa.array(codes.astype(np.int32), mask=mask if mask.any() else None),
                pa.array(np.asarray(col.cat.categories, dtype=object), pa.string())))
        elif field.name == "time_utc":
            arrays.append(pa.array(time_ns(col), field.type))
        else:
            arrays.append(pa.array(col.to_numpy(), field.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=sch)


def quarantine_arrow_schema() -> pa.Schema:
    """Return the Arrow schema of the quarantine table."""
    return pa.schema([pa.field(c.name, c.arrow_type) for c in QUARANTINE_COLUMNS])


def column_names() -> list[str]:
    """Return the measurement columns in schema order."""
    return [c.name for c in COLUMNS]


def empty_measurements() -> pd.DataFrame:
    """Return an empty measurement frame with the schema's columns and dtypes."""
    return conform(pd.DataFrame({c.name: [] for c in COLUMNS}))


def empty_quarantine() -> pd.DataFrame:
    """Return an empty quarantine frame."""
    return pd.DataFrame({c.name: pd.Series([], dtype=c.pandas_dtype)
                         for c in QUARANTINE_COLUMNS})


def conform(df: pd.DataFrame) -> pd.DataFrame:
    """Return ``df`` with exactly the schema's columns, in order, with the schema's dtypes.

    Missing ``vee_rule`` becomes ``""``, missing ``raw_value`` copies ``value``, missing
    ``quality_flag`` becomes ``"valid"``, missing or null ``interval_s`` becomes 0 (unknown).

    Raises
    ------
    ValueError
        Naming the missing columns, or the quality flags that are not in ``QUALITY_FLAGS``.
    """
    if is_conformed(df):
        return df
    df = df.reset_index(drop=True)
    n = len(df)
    if "vee_rule" not in df:
        df["vee_rule"] = pd.Categorical.from_codes(np.zeros(n, np.int8), categories=[""])
    if "quality_flag" not in df:
        df["quality_flag"] = pd.Categorical.from_codes(np.zeros(n, np.int8),
                                                       categories=["valid"])
    if "raw_value" not in df and "value" in df:
        df["raw_value"] = df["value"]
    if "interval_s" not in df:
        df["interval_s"] = np.zeros(n, np.int32)
    elif df["interval_s"].dtype != "int32":
        df["interval_s"] = df["interval_s"].fillna(0).astype("int32")
    missing = [c.name for c in COLUMNS if c.name not in df]
    if missing:
        raise ValueError(f"measurement table lacks columns {missing}")
    out = {}
    for c in COLUMNS:
        col = df[c.name]
        if c.name == "time_utc":
            if not isinstance(col.dtype, pd.DatetimeTZDtype):
                col = pd.to_datetime(col, utc=True)
            if col.dtype != "datetime64[ns, UTC]":
                col = col.astype("datetime64[ns, UTC]")
        elif c.pandas_dtype == "category":
            if not isinstance(col.dtype, pd.CategoricalDtype):
                col = col.astype(str).astype("category")
            elif len(col.cat.categories) and col.cat.categories.dtype != object:
                col = col.cat.rename_categories(col.cat.categories.astype(str))
        elif col.dtype != c.pandas_dtype:
            col = col.astype(c.pandas_dtype)
        out[c.name] = col
    out = pd.DataFrame(out, index=pd.RangeIndex(len(df)))
    bad = set(out["quality_flag"].cat.categories) - set(QUALITY_FLAGS)
    if bad and out["quality_flag"].isin(list(bad)).any():
        raise ValueError(f"unknown quality flags {sorted(bad)}; allowed: {QUALITY_FLAGS}")
    return out


def is_conformed(df: pd.DataFrame) -> bool:
    """True when ``df`` has exactly the schema's columns, order, dtypes and a RangeIndex."""
    if list(df.columns) != column_names() or not isinstance(df.index, pd.RangeIndex):
        return False
    if df.index.start != 0 or df.index.step != 1:
        return False
    for c in COLUMNS:
        dt = df[c.name].dtype
        if c.pandas_dtype == "category":
            if not isinstance(dt, pd.CategoricalDtype) or (
                    len(dt.categories) and dt.categories.dtype != object):
                return False
        elif str(dt) != c.pandas_dtype:
            return False
    flags = set(df["quality_flag"].cat.categories)
    return flags <= set(QUALITY_FLAGS)


def describe() -> pd.DataFrame:
    """Return the measurement and quarantine columns with types and descriptions (units)."""
    rows = [("measurement", c.name, str(c.arrow_type), c.description) for c in COLUMNS]
    rows += [("quarantine", c.name, str(c.arrow_type), c.description)
             for c in QUARANTINE_COLUMNS]
    return pd.DataFrame(rows, columns=["table", "column", "type", "description"])


def quality_rank(flags: pd.Series) -> np.ndarray:
    """Return the precedence rank of each quality flag [-] (see ``QUALITY_RANK``)."""
    cat = flags.astype("category").cat
    lookup = np.array([QUALITY_RANK.get(str(c), -1) for c in cat.categories] + [-1], np.int8)
    return lookup[cat.codes.to_numpy()]


def time_ns(times: pd.Series) -> np.ndarray:
    """Return UTC times as int64 nanoseconds since 1970 [ns] (no copy when possible)."""
    return pd.DatetimeIndex(times).asi8


def utc_times(t_ns: np.ndarray) -> pd.DatetimeIndex:
    """Return UTC times from int64 nanoseconds since 1970 [ns], without a copy."""
    t_ns = np.ascontiguousarray(t_ns, dtype=np.int64)
    return pd.DatetimeIndex(pd.arrays.DatetimeArray._simple_new(
        t_ns.view("M8[ns]"), dtype=pd.DatetimeTZDtype("ns", "UTC")))
