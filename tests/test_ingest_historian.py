"""SCADA historian exports of a foreign utility through a tag map: long and wide, CSV and
Excel, psi / GPM / m3/h / % / on-off, 5-min local times without offset; bad tag maps."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twin.ingest.pipeline import detect_format, ingest_file, ingest_paths
from twin.ingest.resample import to_grid
from twin.ingest.store import MeasurementStore
from twin.ingest.tag_map import (
    CITY_FILE,
    TagMapError,
    city_elements,
    read_tag_map,
)

TZ = "America/New_York"
NOW = pd.Timestamp("2026-01-01", tz="UTC")
ROOT = Path(__file__).resolve().parents[1]

#: Hand conversions to the store's units, written out (not taken from the code under test):
#: 1 psi = 6894.757 Pa, and 1 m of water head = 1000 kg/m3 * 9.80665 m/s2 = 9806.65 Pa.
PSI_TO_M = 6894.757293168 / 9806.65
GPM_TO_LPS = 3.785411784 / 60.0  # US gallon 3.785411784 L per minute
M3H_TO_LPS = 1000.0 / 3600.0


@pytest.fixture(scope="module")
def names(city):
    """Elements of the sample city the foreign tag map names."""
    wn = city.wn
    tank = wn.tank_name_list[0]
    return {"junction": wn.junction_name_list[5], "meter": str(city.dma_meters.meter_id.iloc[0]),
            "pipe": wn.pipe_name_list[3], "tank": tank, "pump": wn.pump_name_list[0],
            "tank_max_m": float(wn.get_node(tank).max_level)}


@pytest.fixture(scope="module")
def tag_map_file(names, tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("tags") / "tags.csv"
    p.write_text(
        "tag,element,quantity,unit,description\n"
        f"PT-101.PV,{names['junction']},pressure,psi,logger\n"
        f"FIT_7 Flow,{names['meter']},flow,GPM,DMA inlet\n"
        f"FIT_8,{names['pipe']},flow,m³/h,trunk main\n"
        f"LT-T1,{names['tank']},level,%,tank level\n"
        f"P1 RUN,{names['pump']},pump_status,on/off,pump running\n")
    return p


#: Five-minute local times without offset across the autumn DST fold of 2016-11-06: the wall
#: clock runs 00:50 ... 01:55 (EDT), 01:00 ... 01:55 (EST), 02:00, 02:05.
FOLD_WALL = (list(pd.date_range("2016-11-06 00:50", "2016-11-06 01:55", freq="5min"))
             + list(pd.date_range("2016-11-06 01:00", "2016-11-06 02:05", freq="5min")))
#: The same instants in UTC, worked out by hand: EDT is UTC-4 until 06:00 UTC, then EST UTC-5.
FOLD_UTC = pd.date_range("2016-11-06 04:50", periods=len(FOLD_WALL), freq="5min", tz="UTC")


def values(k: int) -> dict:
    """The k-th row's readings as the historian writes them."""
    return {"PT-101.PV": 50.0 + k, "FIT_7 Flow": 100.0 + 10 * k, "FIT_8": 36.0 + k,
            "LT-T1": 40.0 + k / 2, "P1 RUN": "ON" if k % 3 else "OFF"}


def expected(names) -> pd.DataFrame:
    """Store values [m, L/s, L/s, m, -] of every reading, converted by hand."""
    rows = []
    for k, t in enumerate(FOLD_UTC):
        v = values(k)
        rows += [("PT-101.PV", t, v["PT-101.PV"] * PSI_TO_M, "m"),
                 ("FIT_7 Flow", t, v["FIT_7 Flow"] * GPM_TO_LPS, "L/s"),
                 ("FIT_8", t, v["FIT_8"] * M3H_TO_LPS, "L/s"),
                 ("LT-T1", t, v["LT-T1"] / 100 * names["tank_max_m"], "m"),
                 ("P1 RUN", t, 1.0 if v["P1 RUN"] == "ON" else 0.0, "-")]
    return pd.DataFrame(rows, columns=["series_id", "time_utc", "value", "unit"]).set_index(
        ["series_id", "time_utc"]).sort_index()


def write_long(path: Path) -> Path:
    lines = ["Tag Name,Date/Time,Value,Quality"]
    for k, wall in enumerate(FOLD_WALL):
        for tag, v in values(k).items():
            lines.append(f"{tag},{wall:%m/%d/%Y %H:%M:%S},{v},Good")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_wide(path: Path) -> Path:
    tags = list(values(0))
    lines = [";".join(["Timestamp", *tags])]  # a European export: ';' and decimal commas
    for k, wall in enumerate(FOLD_WALL):
        lines.append(";".join([f"{wall:%Y-%m-%d %H:%M}", *(str(x).replace(".", ",")
                                                          for x in values(k).values())]))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_xlsx(path: Path) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Historian export, plant A"])  # a title row, then a blank one, then the header
    ws.append([])
    ws.append(["Time", *values(0)])
    for k, wall in enumerate(FOLD_WALL):
        ws.append([wall.to_pydatetime(), *values(k).values()])
    wb.save(path)
    return path


def stored(store) -> pd.DataFrame:
    df = store.read("scada")
    df = df.assign(series_id=df.series_id.astype(str), unit=df.unit.astype(str))
    return df.set_index(["series_id", "time_utc"]).sort_index()


@pytest.mark.parametrize("writer", [write_long, write_wide, write_xlsx])
def test_foreign_export_through_a_tag_map(writer, names, tag_map_file, city, tmp_path):
    tm = read_tag_map(tag_map_file, city_elements(city))
    src = writer(tmp_path / ("export.xlsx" if writer is write_xlsx else "export.csv"))
    assert detect_format(src, tm) == "historian"
    store = MeasurementStore(tmp_path / "store")
    rep = ingest_file(store, src, timezone=TZ, tag_map=tm, now=NOW)
    assert not rep.error and rep.balanced, rep
    n = len(FOLD_WALL) * 5
    assert rep.rows_read == rep.accepted == n and rep.quarantined == 0
    got, want = stored(store), expected(names)
    assert list(got.index) == list(want.index)  # each reading at its own 5-min time
    np.testing.assert_allclose(got["value"], want["value"], rtol=1e-12)
    np.testing.assert_allclose(got["raw_value"], want["value"], rtol=1e-12)
    assert (got["unit"] == want["unit"]).all()
    assert (got["interval_s"] == 300).all()  # the export's own step, not cut to hours
    assert got.loc["PT-101.PV"]["value"].iloc[0] == pytest.approx(50 * 0.70307, rel=1e-5)
    assert got.loc["FIT_7 Flow"]["value"].iloc[0] == pytest.approx(6.30902, rel=1e-5)
    tags = store.scada_tags().set_index("tag")
    assert tags.loc["PT-101.PV", "element"] == names["junction"]
    assert tags.loc["PT-101.PV", "unit"] == "psi" and tags.loc["FIT_8", "unit"] == "m3/h"
    assert tags.loc["FIT_7 Flow", "store_unit"] == "L/s"


def test_local_times_need_the_city_zone_and_spring_gap_is_quarantined(tag_map_file, city,
                                                                      tmp_path):
    tm = read_tag_map(tag_map_file, city_elements(city))
    src = tmp_path / "spring.csv"
    src.write_text("tag,timestamp,value\n"
                   "PT-101.PV,2016-03-13 01:55,50\n"
                   "PT-101.PV,2016-03-13 02:30,50\n"  # does not exist in New York
                   "PT-101.PV,2016-03-13 03:00,51\n"
                   "PT-101.PV,2016-03-13T07:05:00Z,52\n"  # an explicit offset is exact
                   "UNKNOWN.TAG,2016-03-13 03:00,1\n")
    store = MeasurementStore(tmp_path / "store")
    no_zone = ingest_file(store, src, tag_map=tm, now=NOW)
    assert "spring.csv" in no_zone.error and "time zone" in no_zone.error
    rep = ingest_file(store, src, timezone=TZ, tag_map=tm, now=NOW)
    assert rep.balanced and rep.rows_read == 5 and rep.accepted == 3 and rep.quarantined == 2
    q = store.read_quarantine("scada").set_index("line")["reason"]
    assert "does not exist" in q[3]
    assert "UNKNOWN.TAG is not in the tag map tags.csv" in q[6]
    t = stored(store).loc["PT-101.PV"].index
    assert list(t.strftime("%H:%M")) == ["06:55", "07:00", "07:05"]


def test_unit_column_disagreeing_with_the_map_is_quarantined(tag_map_file, city, tmp_path):
    tm = read_tag_map(tag_map_file, city_elements(city))
    src = tmp_path / "units.csv"
    src.write_text("tag,timestamp,value,unit\n"
                   "PT-101.PV,2016-07-04T00:00:00-04:00,50,PSI\n"
                   "PT-101.PV,2016-07-04T00:05:00-04:00,3.4,bar\n"
                   "FIT_8,2016-07-04T00:00:00-04:00,36,m3/h\n")
    store = MeasurementStore(tmp_path / "store")
    rep = ingest_file(store, src, timezone=TZ, tag_map=tm, now=NOW)
    assert rep.balanced and rep.accepted == 2 and rep.quarantined == 1
    reason = store.read_quarantine()["reason"].iloc[0]
    assert "unit bar but the tag map declares psi" in reason


def test_without_a_tag_map_unknown_units_are_quarantined(tmp_path):
    src = tmp_path / "historian.csv"
    src.write_text("tag,timestamp_utc,value,unit,quality\n"
                   "ELEC.F1.P,2016-07-04T00:00:00Z,1.5,MW,GOOD\n"
                   "ELEC.F1.P,2016-07-04T00:15:00Z,1.6,MWx,GOOD\n"
                   "ELEC.F1.P,2016-07-04T00:30:00Z,1.7,MW,WEIRD\n")
    store = MeasurementStore(tmp_path / "store")
    rep = ingest_file(store, src, now=NOW)
    assert rep.balanced and rep.accepted == 1 and rep.quarantined == 2
    q = store.read_quarantine().set_index("line")["reason"]
    assert q[3].startswith("unknown unit MWx") and "unknown quality weird" in q[4]


@pytest.mark.parametrize("row, where", [
    ("PT-9,no-such-junction,pressure,psi,x", "line 3, column element: 'no-such-junction'"),
    ("PT-9,{junction},pressure,mmHg,x", "line 3, column unit: unknown unit 'mmHg'"),
    ("PT-9,{junction},temperature,degC,x", "line 3, column quantity: unknown quantity"),
    ("FIT_7 Flow,{meter},flow,GPM,x", "line 3, column tag: 'FIT_7 Flow' is mapped twice"),
])
def test_bad_tag_maps_name_file_line_and_column(row, where, names, city, tmp_path):
    p = tmp_path / "bad_tags.csv"
    p.write_text("tag,element,quantity,unit,description\n"
                 f"FIT_7 Flow,{names['meter']},flow,GPM,ok\n" + row.format(**names) + "\n")
    with pytest.raises(TagMapError) as err:
        read_tag_map(p, city_elements(city))
    assert str(err.value).startswith("bad_tags.csv " + where)
    assert "\n" not in str(err.value)


def test_level_in_percent_needs_the_city(tag_map_file):
    with pytest.raises(TagMapError, match=r"tags.csv line 5, column unit: .*--city"):
        read_tag_map(tag_map_file)


def test_the_sample_city_tag_map_is_derived_from_the_city(city):
    from twin.synthetic.raw_formats import scada_tag_map

    committed = pd.read_csv(ROOT / "data" / "city" / CITY_FILE, dtype=str)
    pd.testing.assert_frame_equal(committed, scada_tag_map(city).astype(str))
    read_tag_map(ROOT / "data" / "city" / CITY_FILE, city_elements(city))  # names real elements


def test_the_sample_historian_ingests_through_its_tag_map_as_before(sample_raw, city,
                                                                     tmp_path):
    """The sample city's export read by the old MDM-long path and through its tag map: the
    same readings, values, flags and rules."""
    old = MeasurementStore(tmp_path / "old")
    new = MeasurementStore(tmp_path / "new")
    folder = sample_raw / "scada"
    r_old = ingest_paths(old, [folder], format="mdm_csv", kind="scada", timezone=TZ, now=NOW)
    r_new = ingest_paths(new, [folder], tag_map=ROOT / "data" / "city" / CITY_FILE,
                         elements=city_elements(city), timezone=TZ, now=NOW)
    assert [r.format for r in r_new] == ["historian"] * len(r_new)
    assert [(r.rows_read, r.accepted) for r in r_old] == [(r.rows_read, r.accepted)
                                                          for r in r_new]
    cols = ["value", "unit", "quality_flag", "vee_rule", "raw_value"]
    a, b = stored(old)[cols], stored(new)[cols]
    pd.testing.assert_frame_equal(a.astype({c: str for c in cols[1:4]}),
                                  b.astype({c: str for c in cols[1:4]}))
    steps = stored(new)["interval_s"].groupby(level=0).first()
    assert steps[steps.index.str.startswith("ELEC.")].eq(900).all()
    assert steps[steps.index.str.startswith("WATER.")].eq(3600).all()


def test_to_grid_instant_mean_and_sum():
    t = pd.date_range("2016-07-04 00:00", periods=13, freq="5min", tz="UTC")
    df = pd.DataFrame({"series_id": "a", "time_utc": t, "value": np.arange(13.0),
                       "quality_flag": "valid"})
    df.loc[6, "quality_flag"] = "failed"  # left out
    grid = pd.date_range("2016-07-04 00:00", periods=3, freq="30min", tz="UTC")
    inst = to_grid(df, grid, how="instant")["a"].tolist()
    assert inst == [0.0, 6.0, 12.0]  # 00:30 (failed) interpolated from 00:25 and 00:35
    mean = to_grid(df, grid, how="mean")["a"].tolist()
    assert mean[0] == pytest.approx(np.mean(range(6))) and mean[1] == pytest.approx(
        np.mean([7, 8, 9, 10, 11])) and mean[2] == 12.0
    assert to_grid(df, grid, how="sum")["a"].iloc[0] == pytest.approx(15.0)
    sparse = df.iloc[[0, 12]]
    assert np.isnan(to_grid(sparse, grid, how="instant", max_gap="30min")["a"].iloc[1])
    assert to_grid(sparse, grid, how="instant", max_gap=None)["a"].iloc[1] == pytest.approx(6)


def twin_cli(*args: str) -> subprocess.CompletedProcess:
    """The `twin` command of this checkout in a real process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "250", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", "from twin.cli import app; app()", *args],
                          capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.slow  # three processes that each load the city (about 3 s of CPU each)
def test_cli_ingests_a_foreign_export_and_refuses_a_bad_tag_map(names, tag_map_file,
                                                                 tmp_path):
    src = write_xlsx(tmp_path / "plant.xlsx")
    out = twin_cli("ingest", "--tag-map", str(tag_map_file), "--store",
                   str(tmp_path / "store"), str(src))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "plant.xlsx" in out.stdout and f"{len(FOLD_WALL) * 5}" in out.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("tag,element,quantity,unit\nPT-1,J-does-not-exist,pressure,psi\n")
    out = twin_cli("ingest", "--tag-map", str(bad), "--store", str(tmp_path / "s2"), str(src))
    assert out.returncode == 2 and "Traceback" not in out.stdout + out.stderr
    assert "bad.csv line 2, column element: 'J-does-not-exist'" in out.stdout
    out = twin_cli("ingest", "--kind", "bogus", str(src))
    assert out.returncode == 2 and "--kind bogus" in out.stdout
    espi = Path("/work/shared/data/greenbutton/espi")
    if espi.exists():  # a folder of Green Button resources: one file read, the rest skipped
        out = twin_cli("ingest", "--store", str(tmp_path / "gb"), str(espi))
        assert out.returncode == 0, out.stdout + out.stderr
        assert out.stdout.count("no IntervalReading") == 12 and "444" in out.stdout
        assert "guessed" in out.stdout
        out = twin_cli("ingest", "--unit", "furlongs", str(espi))
        assert out.returncode == 2 and "--unit furlongs" in out.stdout


def test_a_big_export_is_read_in_chunks_of_whole_series(names, tag_map_file, city, tmp_path):
    """Rows sorted by time (tags interleaved) read 7 rows at a time, spilled to buckets by
    tag: the same readings and counts as one read, each batch holding whole series."""
    from twin.ingest.historian import iter_historian, read_historian

    tm = read_tag_map(tag_map_file, city_elements(city))
    src = write_long(tmp_path / "by_time.csv")
    with src.open("a") as f:
        f.write("PT-101.PV,11/06/2016 02:05:00,,Good\n")  # a value missing: quarantined
    whole = read_historian(src, TZ, tag_map=tm)
    batches = list(iter_historian(src, TZ, tag_map=tm, chunk_rows=7))
    assert len(batches) > 1
    seen = [set(b.readings["series_id"].astype(str)) for b in batches]
    assert all(not (a & b) for i, a in enumerate(seen) for b in seen[i + 1:])  # whole series
    joined = pd.concat([b.readings for b in batches]).astype({"series_id": str, "unit": str})
    key = ["series_id", "time_utc"]
    pd.testing.assert_frame_equal(
        joined.sort_values(key).reset_index(drop=True)[["series_id", "time_utc", "value"]],
        whole.readings.astype({"series_id": str}).sort_values(key).reset_index(drop=True)[
            ["series_id", "time_utc", "value"]])
    assert sum(b.rows_read for b in batches) == whole.rows_read == len(FOLD_WALL) * 5 + 1
    assert sum(b.rows_accepted for b in batches) == whole.rows_accepted == len(FOLD_WALL) * 5
    assert sum(len(b.quarantine) for b in batches) == 1
    got = whole.readings.astype({"series_id": str}).set_index(key).sort_index()
    np.testing.assert_allclose(got["value"], expected(names)["value"], rtol=1e-12)
