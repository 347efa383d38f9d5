"""Writers of the raw files utilities hand over: MDM interval exports, AMR register reads,
inverter portal exports, SCADA historian exports and Green Button ESPI XML.

The formats are specified in ``data/RAW-FORMATS.md``; this module is their one
implementation. Writers are deterministic: the same arrays give byte-identical files (no
"now" timestamps, fixed row order, fixed number formatting).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

#: Number of interval columns of a wide MDM row (the longest local day, autumn DST) [-].
WIDE_INTERVAL_COLUMNS = 100
#: Number of hourly register columns of a wide AMR row (the longest local day) [-].
WIDE_HOUR_COLUMNS = 25
#: Interval length of electricity and PV data [min].
INTERVAL_MIN = 15

#: Header of the wide MDM interval export.
WIDE_HEADER = ["meter_id", "read_date", "uom", "interval_min", "interval_count"] + [
    f"i{k:03d}" for k in range(1, WIDE_INTERVAL_COLUMNS + 1)
]
#: Header of the long MDM interval export.
LONG_HEADER = ["meter_id", "interval_start", "value", "uom", "quality"]
#: Header of the AMR water register export.
WATER_HEADER = ["meter_id", "read_date", "uom", "read_count"] + [
    f"h{k:02d}" for k in range(1, WIDE_HOUR_COLUMNS + 1)
]
#: Header of the SCADA historian export.
SCADA_HEADER = ["tag", "timestamp_utc", "value", "unit", "quality"]

_WRITE = pcsv.WriteOptions(include_header=False, quoting_style="none", delimiter=",")


def fixed_decimals(values: np.ndarray, decimals: int) -> pa.Array:
    """Return ``values`` as an Arrow decimal array that prints with exactly ``decimals`` digits.

    NaN becomes null, which the CSV writer prints as an empty field.
    """
    values = np.asarray(values, dtype=float)
    mask = np.isnan(values)
    scaled = np.rint(np.where(mask, 0.0, values) * 10.0**decimals) / 10.0**decimals
    return pa.array(scaled, mask=mask).cast(pa.decimal128(18, decimals), safe=False)


def write_table(path: Path, header: list[str], table: pa.Table) -> int:
    """Write ``table`` as comma-separated text with an unquoted ``header`` line.

    Returns
    -------
    int
        Number of data rows written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.write((",".join(header) + "\n").encode())
        if table.num_rows:
            pcsv.write_csv(table, fh, _WRITE)
    return table.num_rows


def local_days(times_utc: pd.DatetimeIndex, timezone: str) -> pd.DataFrame:
    """Group a regular UTC index into the local wall-clock days it covers.

    Returns
    -------
    DataFrame
        One row per local day: ``read_date`` (``YYYY-MM-DD``), ``first`` and ``stop``
        (positions in ``times_utc``, ``stop`` exclusive) and ``count``.
    """
    dates = times_utc.tz_convert(timezone).strftime("%Y-%m-%d").to_numpy()
    change = np.flatnonzero(np.r_[True, dates[1:] != dates[:-1]])
    stop = np.r_[change[1:], len(dates)]
    return pd.DataFrame({"read_date": dates[change], "first": change, "stop": stop,
                         "count": stop - change})


def local_iso(times_utc: pd.DatetimeIndex, timezone: str) -> np.ndarray:
    """Local ISO 8601 times with UTC offset, e.g. ``2016-11-06T01:15:00-05:00``."""
    return np.array([t.isoformat() for t in times_utc.tz_convert(timezone)], dtype=object)


def utc_iso(times_utc: pd.DatetimeIndex) -> np.ndarray:
    """UTC ISO 8601 times with a ``Z``, e.g. ``2016-01-01T05:00:00Z``."""
    return times_utc.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy(dtype=object)


def wide_day_matrix(values: np.ndarray, days: pd.DataFrame, width: int) -> np.ndarray:
    """Arrange series × time values as series × day × slot, NaN where a day has no slot.

    Parameters
    ----------
    values : ndarray
        Series × time, the time axis covering exactly the local days in ``days``.
    days : DataFrame
        As returned by :func:`local_days` (positions relative to ``values``' time axis).
    width : int
        Number of slots per row.
    """
    out = np.full((values.shape[0], len(days), width), np.nan)
    for d, (first, stop) in enumerate(zip(days["first"], days["stop"], strict=True)):
        out[:, d, : stop - first] = values[:, first:stop]
    return out


def dst_spring_as_96(row: np.ndarray, offset_hour: int = 2) -> np.ndarray:
    """Faulty export of a 92-interval spring day as 96 wall-clock slots, the skipped hour 0."""
    out = np.full_like(row, np.nan)
    k = offset_hour * 4
    out[:k] = row[:k]
    out[k:k + 4] = 0.0
    out[k + 4:96] = row[k:92]
    return out


def dst_autumn_summed(row: np.ndarray, offset_hour: int = 1) -> np.ndarray:
    """Faulty export of a 100-interval autumn day as 96 slots, the repeated hour summed."""
    out = np.full_like(row, np.nan)
    k = offset_hour * 4
    out[:k] = row[:k]
    out[k:k + 4] = row[k:k + 4] + row[k + 4:k + 8]
    out[k + 4:96] = row[k + 8:100]
    return out


def wide_table(meter_ids: np.ndarray, read_dates: np.ndarray, uom: str, counts: np.ndarray,
               slots: np.ndarray, decimals: int, slot_prefix: str = "i",
               interval_min: int | None = INTERVAL_MIN) -> pa.Table:
    """Build a wide table: one row per meter and day, one column per slot.

    Parameters
    ----------
    slots : ndarray
        Rows × slots values, NaN printed empty.
    """
    cols = {"meter_id": pa.array(meter_ids, pa.string()),
            "read_date": pa.array(read_dates, pa.string()),
            "uom": pa.array(np.full(len(meter_ids), uom, dtype=object), pa.string())}
    if interval_min is not None:
        cols["interval_min"] = pa.array(np.full(len(meter_ids), interval_min, dtype=np.int64))
    cols["interval_count" if slot_prefix == "i" else "read_count"] = pa.array(
        np.asarray(counts, dtype=np.int64))
    width = slots.shape[1]
    digits = 3 if slot_prefix == "i" else 2
    for k in range(width):
        cols[f"{slot_prefix}{k + 1:0{digits}d}"] = fixed_decimals(slots[:, k], decimals)
    return pa.table(cols)


def long_table(columns: dict[str, object]) -> pa.Table:
    """Build a long table from arrays; strings stay strings, decimals come pre-formatted."""
    return pa.table({k: v if isinstance(v, pa.Array) else pa.array(v) for k, v in columns.items()})


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def take_strings(strings: np.ndarray, positions: np.ndarray) -> pa.Array:
    """Repeat a small set of strings by position, fast (Arrow ``take``)."""
    return pc.take(pa.array(strings, pa.string()), pa.array(positions, pa.int64()))


# --------------------------------------------------------------------------- Green Button

#: ESPI namespace and the Atom namespace of a Green Button feed.
ESPI_NS = "http://naesb.org/espi"
ATOM_NS = "http://www.w3.org/2005/Atom"
#: US daylight saving rules as ESPI encodes them (2nd Sunday of March and 1st Sunday of
#: November, 02:00), as in the real feeds.
DST_START_RULE = "360E2000"
DST_END_RULE = "B40E2000"


def _entry(uuid: str, href: str, title: str, content: str, updated: str) -> str:
    return (
        "  <entry>\n"
        f"    <id>urn:uuid:{uuid}</id>\n"
        f'    <link rel="self" href="{href}"/>\n'
        f"    <title>{title}</title>\n"
        f"    <content>\n{content}    </content>\n"
        f"    <published>{updated}</published>\n"
        f"    <updated>{updated}</updated>\n"
        "  </entry>\n"
    )


def _uuid(*parts: object) -> str:
    h = hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest().upper()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def green_button_xml(customer_id: str, meter_id: str, times_utc: pd.DatetimeIndex,
                     wh: np.ndarray, timezone: str, updated_utc: pd.Timestamp) -> str:
    """One residential customer's Green Button ESPI feed of 15-min interval energy.

    Parameters
    ----------
    customer_id, meter_id : str
        Account and meter the feed describes.
    times_utc : DatetimeIndex
        Interval starts (UTC), 15 min apart, whole local days.
    wh : ndarray
        Energy per interval [Wh], integers; NaN intervals are left out.
    timezone : str
        The customer's zone, for ``LocalTimeParameters`` (standard offset) and the daily
        ``IntervalBlock`` boundaries (local midnights).
    updated_utc : Timestamp
        Time stamped as ``published``/``updated`` (the end of the data, not "now").
    """
    base = f"https://utility.example/DataCustodian/espi/1_1/resource/RetailCustomer/{customer_id}"
    up = f"{base}/UsagePoint/1"
    stamp = updated_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    tz_offset = int(pd.Timestamp("2016-01-15", tz=timezone).utcoffset().total_seconds())
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n',
        f'<feed xmlns="{ATOM_NS}" xmlns:espi="{ESPI_NS}">\n',
        f"  <id>urn:uuid:{_uuid(customer_id, 'feed')}</id>\n",
        f"  <title>Green Button Download {meter_id}</title>\n",
        f"  <updated>{stamp}</updated>\n",
        _entry(_uuid(customer_id, "up"), up, f"Service point {meter_id}",
               "      <espi:UsagePoint>\n        <espi:ServiceCategory><espi:kind>0</espi:kind>"
               "</espi:ServiceCategory>\n      </espi:UsagePoint>\n", stamp),
        _entry(_uuid(customer_id, "ltp"),
               "https://utility.example/DataCustodian/espi/1_1/resource/LocalTimeParameters/1",
               "DST For North America",
               "      <espi:LocalTimeParameters>\n"
               f"        <espi:dstEndRule>{DST_END_RULE}</espi:dstEndRule>\n"
               "        <espi:dstOffset>3600</espi:dstOffset>\n"
               f"        <espi:dstStartRule>{DST_START_RULE}</espi:dstStartRule>\n"
               f"        <espi:tzOffset>{tz_offset}</espi:tzOffset>\n"
               "      </espi:LocalTimeParameters>\n", stamp),
        _entry(_uuid(customer_id, "mr"), f"{up}/MeterReading/1", "15-minute Electricity "
               "Consumption", "      <espi:MeterReading/>\n", stamp),
        _entry(_uuid(customer_id, "rt"),
               "https://utility.example/DataCustodian/espi/1_1/resource/ReadingType/1",
               "Type of Meter Reading Data",
               "      <espi:ReadingType>\n"
               "        <espi:accumulationBehaviour>4</espi:accumulationBehaviour>\n"
               "        <espi:commodity>1</espi:commodity>\n"
               "        <espi:currency>840</espi:currency>\n"
               "        <espi:dataQualifier>12</espi:dataQualifier>\n"
               "        <espi:flowDirection>1</espi:flowDirection>\n"
               "        <espi:intervalLength>900</espi:intervalLength>\n"
               "        <espi:kind>12</espi:kind>\n"
               "        <espi:phase>769</espi:phase>\n"
               "        <espi:powerOfTenMultiplier>0</espi:powerOfTenMultiplier>\n"
               "        <espi:timeAttribute>0</espi:timeAttribute>\n"
               "        <espi:uom>72</espi:uom>\n"
               "      </espi:ReadingType>\n", stamp),
    ]
    epoch = (times_utc.asi8 // 1_000_000_000).astype(np.int64)
    days = local_days(times_utc, timezone)
    for n, (first, stop) in enumerate(zip(days["first"], days["stop"], strict=True), start=1):
        readings = []
        for k in range(first, stop):
            if np.isnan(wh[k]):
                continue
            readings.append(
                "        <espi:IntervalReading>\n"
                f"          <espi:timePeriod><espi:duration>900</espi:duration>"
                f"<espi:start>{epoch[k]}</espi:start></espi:timePeriod>\n"
                f"          <espi:value>{int(wh[k])}</espi:value>\n"
                "        </espi:IntervalReading>\n"
            )
        block = (
            "      <espi:IntervalBlock>\n"
            f"        <espi:interval><espi:duration>{900 * (stop - first)}</espi:duration>"
            f"<espi:start>{epoch[first]}</espi:start></espi:interval>\n"
            + "".join(readings) + "      </espi:IntervalBlock>\n"
        )
        parts.append(_entry(_uuid(customer_id, "ib", n), f"{up}/MeterReading/1/IntervalBlock/{n}",
                            "", block, stamp))
    parts.append("</feed>\n")
    return "".join(parts)


def scada_tag_map(city) -> pd.DataFrame:
    """The sample city's SCADA tag map: every tag its historian export can hold.

    Tags follow the generator's grammar (``data/RAW-FORMATS.md`` §4); the map states for
    each the element, quantity and unit, so the export ingests through the same tag-map path
    as any utility's. Junction pressures are listed for every junction (the loggers are a
    subset). Columns as :data:`twin.ingest.tag_map.COLUMNS`, sorted by tag; the city
    folder holds it as :data:`twin.ingest.tag_map.CITY_FILE`.
    """
    rows = []
    feeders = sorted(set(city.net.bus["feeder"].dropna().astype(str))) if "feeder" in \
        city.net.bus else []
    for f in feeders:
        rows.append((f"ELEC.{f}.P", f, "active_power", "MW", f"feeder {f} head P"))
        rows.append((f"ELEC.{f}.Q", f, "reactive_power", "Mvar", f"feeder {f} head Q"))
    for m in city.dma_meters.itertuples():
        rows.append((f"WATER.{m.meter_id}.FLOW", str(m.meter_id), "flow", "L/s",
                     f"DMA boundary meter on link {m.link}"))
    for t in city.wn.tank_name_list:
        rows.append((f"WATER.TANK-{t}.LEVEL", t, "level", "m", f"tank {t} level"))
    for j in city.wn.junction_name_list:
        rows.append((f"WATER.J-{j}.PRESSURE", j, "pressure", "m", f"junction {j} pressure"))
    for p in city.wn.pump_name_list:
        rows.append((f"WATER.PUMP-{p}.POWER", p, "pump_power", "kW", f"pump {p} input power"))
    df = pd.DataFrame(rows, columns=["tag", "element", "quantity", "unit", "description"])
    return df.sort_values("tag", key=lambda s: s.map(lambda x: x.encode())).reset_index(
        drop=True)
