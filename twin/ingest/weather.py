"""Weather and irradiance files into the store (kind ``weather``), read by ``pvlib.iotools``.

Formats (:data:`SOURCES`): NREL TMY3 CSV (``read_tmy3``), EnergyPlus EPW (``read_epw``),
PVGIS TMY and hourly series, JSON or CSV (``read_pvgis_tmy``, ``read_pvgis_hourly``), and
NSRDB PSM3/PSM4 SAM CSV (``read_nsrdb_psm4``; PSM3 files have the same layout).

Each file becomes long rows, one series per station and variable, ``WX.<station>.<variable>``
(``WX.723170.ghi``), in the units of :data:`VARIABLES`: irradiance [W/m2], temperatures
[degC], wind speed [m/s], wind direction [deg], relative humidity [%], pressure [Pa].

Times (store convention: interval start, or the instant of an instantaneous value), in UTC:

- TMY3: stamps are local *standard* time (the file's fixed UTC offset, no DST) and mark the
  END of the hour: irradiance is the energy of the hour before the stamp, so it is stored at
  stamp − 1 h; temperatures, wind, humidity and pressure are read at the stamp.
- EPW: hour ``h`` (1…24) is the hour ending at ``h``:00 local standard time; pvlib already
  stamps rows at the hour's start (``h`` − 1), so irradiance is stored there and the
  instantaneous values at the hour's end (+1 h).
- PVGIS: stamps are UTC and kept as they are (the hour's label; hourly series carry the
  satellite time, e.g. hh:10).
- PSM3/PSM4: stamps in the file's zone (fixed offset), values at the stamp.

Values outside a variable's physical range (including the formats' missing-value codes
such as EPW 9999 or 99.9) are kept as ``raw_value`` with quality ``failed`` and rule
``weather_range`` (value NaN); VEE then estimates them like any failed reading.
A file pvlib cannot read gives :class:`WeatherError` naming the file and the format.
"""

from __future__ import annotations

import dataclasses
import json
import os
import posixpath
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pvlib import iotools

from twin.ingest import schema, vee
from twin.ingest.batch import IngestReport, ReadBatch
from twin.ingest.store import MeasurementStore, file_sha256, source_label

KIND = "weather"
if KIND not in schema.KINDS:  # pragma: no cover - declared in schema.py today
    raise ImportError("the measurement kind 'weather' is not declared in twin.ingest.schema")


@dataclass(frozen=True)
class Variable:
    """A weather variable: unit, whether it integrates over an interval, physical range."""

    unit: str
    interval: bool  # True: mean over the interval (irradiance); False: an instant
    low: float
    high: float
    description: str


#: Variables kept in the store, with units and plausible ranges (outside: failed).
VARIABLES: dict[str, Variable] = {
    "ghi": Variable("W/m2", True, 0.0, 1500.0, "global horizontal irradiance"),
    "dni": Variable("W/m2", True, 0.0, 1500.0, "direct normal irradiance"),
    "dhi": Variable("W/m2", True, 0.0, 1500.0, "diffuse horizontal irradiance"),
    "poa_global": Variable("W/m2", True, 0.0, 2000.0, "plane-of-array irradiance"),
    "temp_air": Variable("degC", False, -90.0, 65.0, "air temperature"),
    "temp_dew": Variable("degC", False, -90.0, 40.0, "dew point"),
    "relative_humidity": Variable("%", False, 0.0, 100.0, "relative humidity"),
    "wind_speed": Variable("m/s", False, 0.0, 90.0, "wind speed"),
    "wind_direction": Variable("deg", False, 0.0, 360.0, "wind direction"),
    "pressure": Variable("Pa", False, 30_000.0, 110_000.0, "air pressure"),
}


class WeatherError(ValueError):
    """A weather file that cannot be read; the message names the file and the format."""


@dataclass(frozen=True)
class Source:
    """How one format is read: pvlib reader, columns, time shifts [h] and station name."""

    read: Callable[[str], tuple[pd.DataFrame, dict]]
    columns: dict[str, tuple[str, float]]  # column -> (variable, factor to its unit)
    interval_shift_h: float  # added to pvlib's stamps for interval variables
    instant_shift_h: float  # added for instantaneous variables
    station: Callable[[dict], str]


def _pvgis_station(meta: dict) -> str:
    loc = meta.get("inputs", {}).get("location", meta.get("inputs", {}))
    return f"{float(loc.get('latitude', np.nan)):.3f}_{float(loc.get('longitude', np.nan)):.3f}"


def _psm_pressure(meta: dict) -> float:
    return 100.0 if str(meta.get("Pressure Units", "mbar")).lower() in ("mbar", "hpa") else 1.0


_COMMON = {"ghi": ("ghi", 1.0), "dni": ("dni", 1.0), "dhi": ("dhi", 1.0),
           "temp_air": ("temp_air", 1.0), "temp_dew": ("temp_dew", 1.0),
           "relative_humidity": ("relative_humidity", 1.0), "wind_speed": ("wind_speed", 1.0),
           "wind_direction": ("wind_direction", 1.0)}

#: The formats and how each is read and normalised.
SOURCES: dict[str, Source] = {
    "tmy3": Source(lambda p: iotools.read_tmy3(p, map_variables=True),
                   {**_COMMON, "pressure": ("pressure", 100.0)},  # mbar -> Pa
                   -1.0, 0.0, lambda m: str(m["USAF"])),
    "epw": Source(iotools.read_epw, {**_COMMON, "atmospheric_pressure": ("pressure", 1.0)},
                  0.0, 1.0, lambda m: str(m.get("WMO_code") or m.get("city", "epw")).strip()),
    "pvgis_tmy": Source(lambda p: iotools.read_pvgis_tmy(p, map_variables=True),
                        {**_COMMON, "pressure": ("pressure", 1.0)}, 0.0, 0.0, _pvgis_station),
    "pvgis_hourly": Source(lambda p: iotools.read_pvgis_hourly(p, map_variables=True),
                           {**_COMMON, "poa_global": ("poa_global", 1.0)}, 0.0, 0.0,
                           _pvgis_station),
    "psm": Source(lambda p: iotools.read_nsrdb_psm4(p, map_variables=True),
                  {**_COMMON, "pressure": ("pressure", None)}, 0.0, 0.0,
                  lambda m: str(m.get("Location ID", "psm"))),
}


def detect_weather_format(path) -> str:
    """Detect a weather file's format from its extension and first lines.

    Raises
    ------
    WeatherError
        When it is none of :data:`SOURCES`.
    """
    name = posixpath.basename(str(path)).lower()
    try:
        with open(path, "rb") as f:
            head = f.read(4096).decode("utf-8", "replace").lstrip("\ufeff")
    except OSError as exc:
        raise WeatherError(f"{name}: cannot open ({exc.strerror})") from None
    lines = head.splitlines() or [""]
    if name.endswith(".epw") or lines[0].upper().startswith("LOCATION,"):
        return "epw"
    if len(lines) > 1 and lines[1].startswith("Date (MM/DD/YYYY)"):
        return "tmy3"
    if lines[0].startswith("Source,") and "Location ID" in lines[0]:
        return "psm"
    if name.endswith(".json") or head.lstrip().startswith("{"):
        return "pvgis_tmy" if "tmy_hourly" in head or "months_selected" in head \
            else "pvgis_hourly"
    if lines[0].startswith("Latitude (decimal degrees)"):
        return "pvgis_tmy" if "time(UTC)" in head or "month,year" in head else "pvgis_hourly"
    raise WeatherError(f"{name}: not a known weather format ({', '.join(SOURCES)}); "
                       "pass format= to name it")


def weather_long(data: pd.DataFrame, meta: dict, fmt: str, station: str | None = None
                 ) -> pd.DataFrame:
    """Turn a pvlib weather frame into long store rows in UTC and the units of VARIABLES.

    Parameters
    ----------
    data : DataFrame
        As a ``pvlib.iotools`` reader returns it (tz-aware index, pvlib column names).
    meta : dict
        The reader's metadata.
    fmt : str
        The format (a key of :data:`SOURCES`), for its time convention and units.
    station : str, optional
        Station name in the series ids; default from the metadata.

    Returns
    -------
    DataFrame
        ``series_id, time_utc, value, unit, quality_flag, vee_rule, raw_value``.
    """
    src = SOURCES[fmt]
    station = station or src.station(meta)
    if data.index.tz is None:
        raise WeatherError(f"{fmt}: the reader returned times without a zone")
    t_utc = data.index.tz_convert("UTC")
    parts = []
    for col, (var, factor) in src.columns.items():
        if col not in data:
            continue
        if factor is None:  # PSM pressure: unit from the metadata
            factor = _psm_pressure(meta)
        spec = VARIABLES[var]
        raw = pd.to_numeric(data[col], errors="coerce").to_numpy(float) * factor
        shift = src.interval_shift_h if spec.interval else src.instant_shift_h
        t = t_utc + pd.Timedelta(hours=shift)
        bad = ~((raw >= spec.low) & (raw <= spec.high))  # NaN is bad too
        parts.append(pd.DataFrame({
            "series_id": f"WX.{station}.{var}", "time_utc": t,
            "value": np.where(bad, np.nan, raw), "unit": spec.unit,
            "quality_flag": np.where(bad, "failed", "valid"),
            "vee_rule": np.where(bad, "weather_range", ""), "raw_value": raw}))
    if not parts:
        raise WeatherError(f"{fmt} file of station {station} holds none of the variables "
                           f"{', '.join(VARIABLES)}")
    out = pd.concat(parts, ignore_index=True)
    for c in ("series_id", "unit", "quality_flag", "vee_rule"):
        out[c] = out[c].astype("category")
    return out


def read_weather(path, format: str | None = None, *, year: int | None = None,
                 station: str | None = None) -> ReadBatch:
    """Read one weather file into a :class:`~twin.ingest.batch.ReadBatch` of kind weather.

    Parameters
    ----------
    path : str or path-like
        A local file.
    format : str, optional
        One of :data:`SOURCES`; detected by default.
    year : int, optional
        Put a typical-year file (TMY3, EPW) into this calendar year (pvlib ``coerce_year``).
    station : str, optional
        Station name for the series ids; default from the file.

    Raises
    ------
    WeatherError
        Naming the file when pvlib cannot read it.
    """
    path = os.fspath(path)
    name = posixpath.basename(path)
    fmt = format or detect_weather_format(path)
    if fmt not in SOURCES:
        raise WeatherError(f"{name}: unknown weather format {fmt!r}; known: "
                           f"{', '.join(SOURCES)}")
    try:
        if year is not None and fmt in ("tmy3", "epw"):
            reader = iotools.read_tmy3 if fmt == "tmy3" else iotools.read_epw
            data, meta = reader(path, coerce_year=year)
        else:
            data, meta = SOURCES[fmt].read(path)
    except (ValueError, KeyError, IndexError, TypeError, UnicodeDecodeError,
            json.JSONDecodeError, pd.errors.ParserError, OSError) as exc:
        raise WeatherError(f"{name}: not a readable {fmt} file ({type(exc).__name__}: "
                           f"{str(exc)[:200]})") from None
    if data.empty:
        raise WeatherError(f"{name}: a {fmt} file without data rows (cut short?)")
    readings = weather_long(data, meta, fmt, station)
    steps = np.diff(np.unique(data.index.asi8))
    interval_s = int(np.median(steps[steps > 0]) // 1_000_000_000) if (steps > 0).any() else 0
    return ReadBatch(kind=KIND, readings=readings, quarantine=schema.empty_quarantine(),
                     rows_read=len(data), rows_accepted=len(data),
                     meta={"format": fmt, "interval_s": interval_s,
                           "station": readings["series_id"].iloc[0].rsplit(".", 1)[0]
                           if len(readings) else ""})


def weather_settings(interval_s: int = 0) -> vee.VeeSettings:
    """VEE thresholds for weather: negatives allowed, long steady runs are normal.

    ``interval_s`` is the file's time step [s] (0: let VEE infer it per series).

    Spikes are not checked (irradiance jumps from night to day), nor high/low; holes longer
    than 6 h are left open (a typical year splices months of different years: the joins
    are not gaps to fill).
    """
    return dataclasses.replace(vee.VeeSettings(), allow_negative=True, frozen_min_run=48,
                               spike_ratio=float("inf"), high_low_ranges=float("inf"),
                               max_gap_fill=pd.Timedelta("6h"),
                               interval=pd.Timedelta(seconds=interval_s) if interval_s else None)


def ingest_weather(store: MeasurementStore, path, format: str | None = None, *,
                   year: int | None = None, station: str | None = None,
                   now: pd.Timestamp | None = None) -> IngestReport:
    """Ingest one weather file into the store (kind ``weather``), like ``ingest_file``.

    Returns
    -------
    IngestReport
        ``skipped`` when the file (sha256) is already in the store, ``error`` when it
        cannot be read (nothing committed).
    """
    path = os.fspath(path)
    report = IngestReport(file=posixpath.basename(path), kind=KIND)
    try:
        report.sha256 = file_sha256(path)
        if report.sha256 in store.checksums():
            report.skipped = True
            return report
        report.format = format or detect_weather_format(path)
        batch = read_weather(path, report.format, year=year, station=station)
    except (WeatherError, OSError) as exc:
        report.error = str(exc)
        return report
    report.rows_read, report.accepted = batch.rows_read, batch.rows_accepted
    readings = batch.readings.assign(source=source_label(path, report.sha256))
    readings, summary = vee.run_vee(schema.conform(readings),
                                    weather_settings(batch.meta["interval_s"]), now=now)
    report.vee = dataclasses.asdict(summary)
    report.estimated, report.failed = summary.estimated, summary.failed
    store.archive(path, report.sha256)
    result = store.write(KIND, readings, path, quarantine=batch.quarantine,
                         sha256=report.sha256,
                         report={k: v for k, v in dataclasses.asdict(report).items()
                                 if k != "vee"})
    report.readings_written, report.skipped = result.rows, result.skipped
    return report
