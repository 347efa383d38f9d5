"""Weather files through pvlib.iotools into the store: times in UTC, units, ranges.

The TMY3 test reads pvlib's real Greensboro file; the expected values below were read by
hand from its lines (line 14: ``01/01/1988,12:00`` with GHI 261, DNI 3, DHI 260 W/m2,
dry bulb 11.7 C, RH 93 %, pressure 992 mbar, wind 230 deg at 5.2 m/s; the last line
``12/31/1980,24:00``; the header says TZ -5.0, USAF 723170). The EPW, PVGIS and PSM files
are written here in their published layouts, with values chosen by hand.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pandas as pd
import pvlib
import pytest

from twin.ingest.pipeline import detect_format, ingest_paths
from twin.ingest.store import MeasurementStore
from twin.ingest.weather import (
    WeatherError,
    detect_weather_format,
    ingest_weather,
    read_weather,
)

TMY3 = os.path.join(os.path.dirname(pvlib.__file__), "data", "723170TYA.CSV")
NOW = pd.Timestamp("2030-01-01", tz="UTC")


def value_at(readings: pd.DataFrame, series: str, time_utc: str) -> pd.Series:
    r = readings[(readings["series_id"].astype(str) == series)
                 & (readings["time_utc"] == pd.Timestamp(time_utc))]
    assert len(r) == 1, (series, time_utc, len(r))
    return r.iloc[0]


def test_tmy3_greensboro_times_and_units_match_the_file():
    assert detect_weather_format(TMY3) == "tmy3"
    batch = read_weather(TMY3)
    r = batch.readings
    assert batch.kind == "weather" and batch.rows_read == 8760
    assert r["series_id"].nunique() == 9 and len(r) == 9 * 8760
    # 12:00 EST ends the hour 11:00-12:00 EST = 16:00-17:00 UTC: irradiance at its start
    for var, expected in (("ghi", 261.0), ("dni", 3.0), ("dhi", 260.0)):
        row = value_at(r, f"WX.723170.{var}", "1988-01-01T16:00Z")
        assert row["value"] == expected and row["unit"] == "W/m2"
    # instantaneous values at the stamp, 12:00 EST = 17:00 UTC
    for var, expected, unit in (("temp_air", 11.7, "degC"), ("temp_dew", 10.6, "degC"),
                                ("relative_humidity", 93.0, "%"), ("pressure", 99_200.0, "Pa"),
                                ("wind_speed", 5.2, "m/s"), ("wind_direction", 230.0, "deg")):
        row = value_at(r, f"WX.723170.{var}", "1988-01-01T17:00Z")
        assert row["value"] == pytest.approx(expected) and row["unit"] == unit
    # 24:00 on 12/31/1980 is midnight EST of 1981-01-01 = 05:00 UTC
    assert value_at(r, "WX.723170.temp_air", "1981-01-01T05:00Z")["quality_flag"] == "valid"
    assert (r["quality_flag"] == "valid").all()


def test_tmy3_into_the_store_in_one_calendar_year(tmp_path):
    store = MeasurementStore(tmp_path / "store")
    rep = ingest_weather(store, TMY3, year=2016, now=NOW)
    assert not rep.error and rep.rows_read == 8760 and rep.balanced
    assert rep.estimated == 0  # a coerced typical year has no holes
    assert "weather" in store.kinds()
    ghi = store.read("weather", series="WX.723170.ghi")
    assert len(ghi) == 8760 and (ghi["unit"] == "W/m2").all()
    # the first hour of 2016 local standard time starts at 05:00 UTC; GHI is 0 at night
    assert ghi["time_utc"].iloc[0] == pd.Timestamp("2016-01-01T05:00Z")
    noon = ghi[ghi["time_utc"] == pd.Timestamp("2016-01-01T16:00Z")]["value"].iloc[0]
    assert noon == 261.0
    again = ingest_weather(store, TMY3, year=2016, now=NOW)
    assert again.skipped and len(store.read("weather", series="WX.723170.ghi")) == 8760


def test_twin_ingest_takes_weather_files_beside_meter_files(tmp_path):
    """A folder with a TMY3 file and an EPW file: detected, in the store as kind weather."""
    folder = tmp_path / "raw"
    folder.mkdir()
    shutil.copy(TMY3, folder / "723170TYA.CSV")
    (folder / "site.epw").write_text("\n".join([*EPW_HEADER, *(
        epw_line(h, 20.0, 0.0, 2.0, 101_000) for h in range(1, 25))]) + "\n")
    assert detect_format(folder / "723170TYA.CSV") == "tmy3"
    assert detect_format(folder / "site.epw") == "epw"
    store = MeasurementStore(tmp_path / "store")
    reports = ingest_paths(store, [folder], now=NOW)
    assert [r.format for r in reports] == ["tmy3", "epw"]
    assert all(r.balanced and not r.error and r.kind == "weather" for r in reports)
    stations = set(store.read("weather")["series_id"].astype(str).str.split(".").str[1])
    assert stations == {"723170", "999999"}


EPW_HEADER = [
    "LOCATION,SAMPLE CITY,NY,USA,TMY3,999999,40.780,-73.880,-5.0,9.0",
    "DESIGN CONDITIONS,0", "TYPICAL/EXTREME PERIODS,0", "GROUND TEMPERATURES,0",
    "HOLIDAYS/DAYLIGHT SAVINGS,No,0,0,0", "COMMENTS 1,hand written for a test",
    "COMMENTS 2,", "DATA PERIODS,1,1,Data,Sunday, 1/ 1,12/31",
]


def epw_line(hour: int, temp_c: float, ghi: float, wind_ms: float, pressure_pa: float) -> str:
    fields = [2016, 7, 1, hour, 60, "?9?9?9?9E0?9?9?9?9?9?9?9?9?9?9?9?9?9*9*9?9*9*9",
              temp_c, 15.0, 60, pressure_pa, 1200, 1360, 380, ghi, 500, 100, 0, 0, 0, 0,
              180, wind_ms, 5, 5, 16.0, 77777, 9, 999999999, 20, 0.1, 0, 88, 0.2, 0, 1]
    return ",".join(str(f) for f in fields)


def test_epw_hour_ending_rows_become_utc(tmp_path):
    lines = EPW_HEADER + [epw_line(13, 25.0, 800.0, 3.5, 101_300),
                          epw_line(14, 99.9, 9999, 4.0, 101_200),  # EPW missing codes
                          epw_line(15, 27.0, 700.0, 4.5, 101_100)]
    path = tmp_path / "sample.epw"
    path.write_text("\n".join(lines) + "\n")
    assert detect_weather_format(path) == "epw"
    r = read_weather(path).readings
    # hour 13 ends at 13:00 EST: irradiance over 12:00-13:00 EST = 17:00 UTC start
    assert value_at(r, "WX.999999.ghi", "2016-07-01T17:00Z")["value"] == 800.0
    # temperature is read at the hour's end, 13:00 EST = 18:00 UTC
    assert value_at(r, "WX.999999.temp_air", "2016-07-01T18:00Z")["value"] == 25.0
    assert value_at(r, "WX.999999.pressure", "2016-07-01T18:00Z")["value"] == 101_300
    bad = value_at(r, "WX.999999.temp_air", "2016-07-01T19:00Z")
    assert bad["quality_flag"] == "failed" and np.isnan(bad["value"])
    assert bad["raw_value"] == pytest.approx(99.9) and bad["vee_rule"] == "weather_range"
    store = MeasurementStore(tmp_path / "store")
    rep = ingest_weather(store, path, now=NOW)
    assert rep.balanced and rep.estimated == 2  # the missing temperature and GHI
    t = store.read("weather", series="WX.999999.temp_air")
    est = t[t["time_utc"] == pd.Timestamp("2016-07-01T19:00Z")].iloc[0]
    assert est["quality_flag"] == "estimated" and est["value"] == pytest.approx(26.0)
    assert est["raw_value"] == pytest.approx(99.9)


def test_pvgis_tmy_json_is_utc_and_pascal(tmp_path):
    times = pd.date_range("2016-06-01", periods=24, freq="1h", tz="UTC")
    ghi = np.clip(900 * np.sin((times.hour - 5) / 14 * np.pi), 0, None).round(1)
    doc = {
        "inputs": {"location": {"latitude": 45.0, "longitude": 8.0, "elevation": 250.0}},
        "meta": {"inputs": {}},
        "outputs": {
            "months_selected": [{"month": m, "year": 2016} for m in range(1, 13)],
            "tmy_hourly": [{"time(UTC)": t.strftime("%Y%m%d:%H%M"), "T2m": 20.0 + i / 10,
                            "RH": 50.0, "G(h)": g, "Gb(n)": g / 2, "Gd(h)": g / 3,
                            "IR(h)": 300.0, "WS10m": 2.0, "WD10m": 90.0, "SP": 98_000.0}
                           for i, (t, g) in enumerate(zip(times, ghi, strict=True))]},
    }
    path = tmp_path / "tmy_45_8.json"
    path.write_text(json.dumps(doc))
    assert detect_weather_format(path) == "pvgis_tmy"
    r = read_weather(path).readings
    row = value_at(r, "WX.45.000_8.000.ghi", "2016-06-01T12:00Z")
    assert row["value"] == ghi[12] and row["unit"] == "W/m2"
    assert value_at(r, "WX.45.000_8.000.pressure", "2016-06-01T03:00Z")["value"] == 98_000.0
    assert value_at(r, "WX.45.000_8.000.temp_air", "2016-06-01T03:00Z")["value"] == 20.3


def test_psm_file_in_its_own_zone_with_mbar(tmp_path):
    meta_fields = ("Source,Location ID,City,State,Country,Latitude,Longitude,Time Zone,"
                   "Elevation,Local Time Zone,Pressure Units,Temperature Units,Version")
    meta_values = "NSRDB,145809,-,-,-,40.77,-73.86,-5,10,-5,mbar,c,3.2.2"
    header = "Year,Month,Day,Hour,Minute,GHI,DHI,DNI,Temperature,Pressure,Wind Speed"
    rows = ["2016,1,15,12,30,450,100,700,2.5,1013,3.1",
            "2016,1,15,13,0,430,110,650,3.0,1012,3.3"]
    path = tmp_path / "145809_40.77_-73.86_2016.csv"
    path.write_text("\n".join([meta_fields, meta_values, header, *rows]) + "\n")
    assert detect_weather_format(path) == "psm"
    r = read_weather(path).readings
    # 12:30 at UTC-5 is 17:30 UTC
    assert value_at(r, "WX.145809.ghi", "2016-01-15T17:30Z")["value"] == 450.0
    assert value_at(r, "WX.145809.pressure", "2016-01-15T18:00Z")["value"] == 101_200.0
    assert value_at(r, "WX.145809.temp_air", "2016-01-15T17:30Z")["unit"] == "degC"


def test_unreadable_weather_files_give_clear_errors(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("hello\nworld\n")
    with pytest.raises(WeatherError, match="notes.txt: not a known weather format"):
        detect_weather_format(junk)
    cut = tmp_path / "cut.CSV"  # a TMY3 cut inside its header line
    cut.write_bytes(open(TMY3, "rb").read()[:150])
    store = MeasurementStore(tmp_path / "store")
    rep = ingest_weather(store, cut, format="tmy3", now=NOW)
    assert rep.error.startswith("cut.CSV: ") and "tmy3 file" in rep.error
    assert store.manifest() == []
