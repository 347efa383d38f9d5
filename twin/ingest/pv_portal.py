"""Reader for inverter-portal exports of rooftop PV: one row per interval, one column per inverter.

Format (``data/RAW-FORMATS.md`` §3)::

    timestamp_utc,INV-C000001,INV-C000007,...
    2016-07-14T16:15:00Z,2310,0,...

- ``timestamp_utc`` is the END of the interval, UTC (``Z`` or an explicit offset).
- Each other column is one inverter's mean AC power over the interval [W] (integers or
  decimals; empty = missing). The series id is the column name.
- The interval is the most common step between rows (15 min in the city's files).

Readings are stamped at the interval START (the store's convention) and converted to energy
[kWh] = power [W] · interval [h] / 1000, kind ``pv``. A line with the wrong number of fields,
an unreadable timestamp or a cell that is not a number is quarantined whole with its line
number and reason; ``accepted + quarantined == rows_read`` (repeated rows reach VEE, which
keeps one copy per interval).
"""

from __future__ import annotations

import io
import posixpath

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from twin.ingest import schema
from twin.ingest.batch import ReadBatch, quarantine_frame
from twin.ingest.csvlines import line_texts, numeric_or_null, split_lines, take_lines
from twin.ingest.mdm_csv import _valid_timestamps


class PvPortalError(ValueError):
    """A PV portal file that cannot be read at all; the message names the file."""


def is_pv_portal_header(header: str) -> bool:
    """True when a header line is ``timestamp_utc`` followed by inverter columns."""
    cols = [c.strip().lower() for c in header.strip().lstrip("\ufeff").split(",")]
    return len(cols) > 1 and cols[0] == "timestamp_utc" and "value" not in cols


def read_pv_portal(path, *, interval: pd.Timedelta | None = None) -> ReadBatch:
    """Read an inverter-portal CSV (see module docstring) into energy per interval [kWh].

    Parameters
    ----------
    path : str or path-like
        Local path or fsspec URL.
    interval : Timedelta, optional
        Interval length; default the most common step between timestamps.

    Raises
    ------
    PvPortalError
        When the header is not ``timestamp_utc,<inverter>,...``.
    """
    name = posixpath.basename(str(path))
    with fsspec.open(str(path), "rb") as f:
        header = f.readline()
        data = f.read()
    head = header.decode("utf-8", "replace")
    if not is_pv_portal_header(head):
        raise PvPortalError(f"{name}: line 1 is not 'timestamp_utc,<inverter>,...'; "
                            "is it an inverter portal export?")
    columns = [c.strip() for c in head.strip().split(",")]
    if data and not data.endswith(b"\n"):
        data += b"\n"
    buf = np.frombuffer(data, np.uint8)
    starts, ends, fields, clean = split_lines(buf, ",")
    line_no = 2 + np.arange(len(starts))
    empty = ends == starts
    good = clean & (fields == len(columns)) & ~empty
    bad_idx = np.flatnonzero(~good)
    q_lines = list(line_no[bad_idx])
    q_reasons = [("empty line" if empty[i] else "non-ASCII or control characters"
                  if not clean[i] else f"{fields[i]} fields, expected {len(columns)}")
                 for i in bad_idx]
    q_texts = line_texts(buf, starts, ends, bad_idx)
    good_idx = np.flatnonzero(good)
    names = [f"c{k}" for k in range(len(columns))]
    table = pacsv.read_csv(
        io.BytesIO(",".join(names).encode() + b"\n" + take_lines(buf, starts, ends, good)),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in names},
                                             strings_can_be_null=False),
    ) if len(good_idx) else None
    readings = pd.DataFrame(columns=["series_id", "time_utc", "value", "unit"])
    if table is not None:
        t_end, t_reason = _valid_timestamps(table["c0"])
        values = np.empty((table.num_rows, len(columns) - 1))
        bad_col = np.full(table.num_rows, -1)
        for j in range(1, len(columns)):  # a loop over inverters, not readings
            values[:, j - 1], bad = numeric_or_null(table[f"c{j}"])
            bad_col = np.where(bad & (bad_col < 0), j, bad_col)
        bad = (t_reason > 0) | (bad_col >= 0)
        for i in np.flatnonzero(bad):
            q_lines.append(line_no[good_idx[i]])
            q_reasons.append("timestamp_utc is not a UTC time" if t_reason[i] else
                             f"{columns[bad_col[i]]} is not a number")
        q_texts += line_texts(buf, starts, ends, good_idx[bad])
        ok = ~bad
        t_end, values = t_end[ok], values[ok]
        if interval is None:
            steps = np.diff(np.unique(t_end))
            interval = pd.Timedelta(int(pd.Series(steps).mode().iloc[0]) if len(steps)
                                    else 15 * 60 * 10**9)
        step_ns = int(pd.Timedelta(interval).value)
        r_i, c_i = np.nonzero(~np.isnan(values))
        readings = pd.DataFrame({
            "series_id": pd.Categorical.from_codes(c_i, categories=columns[1:]),
            "time_utc": pd.DatetimeIndex((t_end[r_i] - step_ns).view("datetime64[ns]")
                                         ).tz_localize("UTC"),
            "value": values[r_i, c_i] * (step_ns / 3.6e12) / 1000.0,
            "unit": "kWh",
        })
        readings["raw_value"] = readings["value"]
        readings["line"] = np.asarray(line_no[good_idx[ok]], np.int64)[r_i]  # for the screen
    quarantine = quarantine_frame("pv", name, q_lines, q_reasons, q_texts)
    readings = readings.sort_values(["series_id", "time_utc"]).reset_index(drop=True)
    return ReadBatch("pv", readings if len(readings) else schema.empty_measurements()[
        ["series_id", "time_utc", "value", "unit", "raw_value"]], quarantine,
        rows_read=len(starts), rows_accepted=len(starts) - len(quarantine), meta={"format": "pv_portal_csv", "interval": str(interval)})
