"""End to end: files in, store out; detection, re-ingest, errors that do not stop the run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twin.ingest import examples, pipeline
from twin.ingest.pipeline import detect_format, ingest_file, ingest_paths
from twin.ingest.store import MeasurementStore

TZ = "America/New_York"
REAL_FEED = Path("/work/shared/data/greenbutton/"
                 "Coastal_Multi_Family_Daily_Jan_1_2011_to_Jan_1_2012_RetailCustomer_4.xml")
NOW = pd.Timestamp("2017-01-01", tz="UTC")


def write_wide(path, days, meters=("E1", "E2"), extra=()):
    lines = examples.wide_lines(list(meters), pd.DatetimeIndex(pd.to_datetime(days)), TZ,
                                np.random.default_rng(3))
    path.write_text("\n".join([*lines, *extra]) + "\n")
    return path


@pytest.fixture
def store(tmp_path):
    return MeasurementStore(tmp_path / "store")


def test_ingest_file_end_to_end(tmp_path, store):
    days = pd.date_range("2016-03-01", "2016-03-20")
    src = write_wide(tmp_path / "march.csv", days, extra=["junk line", "E1,2016-02-30,kWh,15"])
    rep = ingest_file(store, src, timezone=TZ, now=NOW)
    assert rep.format == "mdm_csv" and rep.kind == "electric_interval" and not rep.error
    assert rep.balanced and rep.rows_read == 2 * 20 + 2 and rep.quarantined == 2
    n = 2 * (20 * 96 - 4)
    assert rep.readings_written == n
    df = store.read("electric_interval")
    assert len(df) == n and df["source"].astype(str).str.startswith("march.csv@").all()
    assert set(df["series_id"].astype(str)) == {"E1", "E2"}
    q = store.read_quarantine()
    assert sorted(q["line"]) == [42, 43] and (q["file"] == "march.csv").all()
    assert store.fs.exists(f"{store.root}/archive/{rep.sha256[:2]}/{rep.sha256}-march.csv")
    entry = store.manifest()[0]
    assert entry["report"]["rows_read"] == rep.rows_read

    again = ingest_file(store, src, timezone=TZ, now=NOW)
    assert again.skipped and again.readings_written == 0
    assert len(store.read("electric_interval")) == n and len(store.manifest()) == 1


def test_gaps_in_the_file_are_estimated_in_the_store(tmp_path, store):
    days = pd.date_range("2016-06-01", "2016-06-21")
    lines = examples.wide_lines(["E1"], pd.DatetimeIndex(days), TZ, np.random.default_rng(1))
    fields = lines[-1].split(",")
    fields[4 + 40:4 + 42] = ["", ""]  # two empty intervals on the last day: 30 min
    lines[-1] = ",".join(fields)
    src = tmp_path / "gaps.csv"
    src.write_text("\n".join(lines) + "\n")
    rep = ingest_file(store, src, timezone=TZ, now=NOW)
    assert rep.vee["gaps_inserted"] == 2 and rep.estimated >= 2
    df = store.read("electric_interval")
    est = df[df["vee_rule"].astype(str).str.contains("gap")]
    assert len(est) == 2 and (est["quality_flag"] == "estimated").all()
    assert est["raw_value"].isna().all() and est["value"].notna().all()


def test_greenbutton_feed_through_the_pipeline(tmp_path, store):
    if not REAL_FEED.exists():
        pytest.skip(f"the real Green Button feed is not here ({REAL_FEED})")
    assert detect_format(REAL_FEED) == "greenbutton_xml"
    rep = ingest_file(store, REAL_FEED, now=NOW)
    assert rep.balanced and rep.rows_read == 8760 and not rep.error
    xa = store.read_xarray("electric_interval")
    assert xa["value"].shape == (1, 8760) and xa["value"].attrs["units"] == "kWh"


def test_unreadable_files_do_not_stop_the_run(tmp_path, store):
    good = write_wide(tmp_path / "good.csv", ["2016-07-14"])
    (tmp_path / "weird.csv").write_text("a,b,c\n1,2,3\n")
    (tmp_path / "broken.xml").write_text("<feed><entry>")
    seen = []
    reports = ingest_paths(store, [tmp_path], progress=lambda i, n, r: seen.append((i, n)),
                           timezone=TZ, now=NOW)
    by_file = {r.file: r for r in reports}
    assert set(by_file) == {"good.csv", "weird.csv", "broken.xml"}
    weird = by_file["weird.csv"]  # found in a folder: not a measurement file, said so
    assert weird.skipped and not weird.error and weird.rows_read == 0
    assert weird.skipped_reason.startswith("not a measurement file: weird.csv: not a known")
    assert "broken.xml: not well-formed XML" in by_file["broken.xml"].error
    assert by_file["good.csv"].readings_written == 2 * 96 and not by_file["good.csv"].error
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert len(store.manifest()) == 1  # nothing committed for the unreadable files
    assert good.exists()


def test_the_time_zone_is_an_input_never_the_sample_recipe(tmp_path, store):
    src = write_wide(tmp_path / "m.csv", ["2016-07-14"])
    rep = ingest_file(store, src, now=NOW)  # local days and no zone given: a clear error
    assert "m.csv" in rep.error and "time zone" in rep.error and "--city" in rep.error
    assert store.manifest() == []
    package = Path(pipeline.__file__).parent
    for f in package.glob("*.py"):
        text = f.read_text()
        assert "read_recipe" not in text and "city.yaml" not in text, f


def test_memory_store_url(tmp_path):
    store = MeasurementStore("memory://pipeline-test")
    try:
        src = write_wide(tmp_path / "m.csv", ["2016-07-14"])
        rep = ingest_file(store, src, timezone=TZ, now=NOW)
        assert rep.readings_written == 2 * 96
        assert len(store.read_dask("electric_interval").compute()) == 2 * 96
    finally:
        store.fs.rm(store.root, recursive=True)


def test_pv_portal_export(tmp_path, store):
    """data/RAW-FORMATS.md §3: interval-END UTC stamps, mean power [W] per inverter."""
    src = tmp_path / "pv_inverters_2016-07.csv"
    src.write_text("timestamp_utc,INV-C1,INV-C2\n"
                   "2016-07-14T16:15:00Z,4000,0\n"
                   "2016-07-14T16:30:00Z,2000,\n"
                   "2016-07-14T16:45:00Z,abc,1\n"
                   "2016-07-14T17:00:00Z,1000\n"
                   "2016-07-14T17:00:00Z,1000,8\n")
    assert detect_format(src) == "pv_portal_csv"
    rep = ingest_file(store, src, now=NOW)
    assert rep.kind == "pv" and rep.balanced and rep.quarantined == 2
    df = store.read("pv")
    c1 = df[df["series_id"].astype(str) == "INV-C1"].set_index("time_utc")["value"]
    assert c1.loc[pd.Timestamp("2016-07-14 16:00", tz="UTC")] == pytest.approx(1.0)  # kWh
    assert c1.loc[pd.Timestamp("2016-07-14 16:15", tz="UTC")] == pytest.approx(0.5)
    q = store.read_quarantine("pv").set_index("line")["reason"]
    assert "INV-C1 is not a number" in q[4] and "2 fields, expected 3" in q[5]


def test_the_city_generator_files_ingest_balanced(tmp_path_factory):
    """Every file the city's generator writes (data/RAW-FORMATS.md) reads with all rows
    accounted for, and row counts agree with its manifest."""
    try:
        from twin.city import load_city
        from twin.synthetic.measurements import build_measurements
    except ImportError as exc:  # pragma: no cover
        pytest.skip(f"the measurement generator is not importable: {exc}")
    import json

    raw = tmp_path_factory.mktemp("raw")
    build_measurements(load_city(), raw, start="2016-03-12", days=3, customers=40)
    store = MeasurementStore(tmp_path_factory.mktemp("store"))
    files = [raw / d for d in ("amr", "greenbutton", "mdm", "pv", "scada")]
    reports = ingest_paths(store, files, now=NOW, timezone=TZ)
    rows = {Path(f["file"]).name: f["rows"] for f in
            json.loads((raw / "manifest.json").read_text())["files"]}
    assert reports and all(not r.error and r.balanced for r in reports), [
        (r.file, r.error) for r in reports if r.error or not r.balanced]
    assert all(rows[r.file] == r.rows_read for r in reports)
    assert {r.kind for r in reports} == {"electric_interval", "water_read", "pv", "scada"}
    spring = store.read("electric_interval", start="2016-03-13 05:00", end="2016-03-14 04:00")
    per_meter = spring.groupby(spring["series_id"].astype(str)).size()
    assert (per_meter == 92).all()  # a 23-hour day, whatever file a meter came from


def head_end_export(path, n_readings=30_000, **kw):
    """A realistic export (gaps, spikes, re-sent meter-days at the end), as benchmarked."""
    return examples.write_wide(path, n_readings, TZ, start="2016-06-01", n_days=5,
                               **{"resent_share": 0.03, "gap_share": 0.01, **kw})


@pytest.mark.parametrize(("hold_max_rows", "revalidate_rows"),
                         [(pipeline.HOLD_MAX_ROWS, pipeline.REVALIDATE_ROWS), (500, 2_000)])
def test_chunked_ingest_equals_whole_file_ingest(tmp_path, monkeypatch, hold_max_rows,
                                                 revalidate_rows):
    """VEE at chunk borders (gaps, spikes, re-sent rows of earlier chunks) as if unchunked,
    also when the re-sent meters held back overflow and are staged, then revalidated in
    groups of series."""
    monkeypatch.setattr(pipeline, "HOLD_MAX_ROWS", hold_max_rows)
    monkeypatch.setattr(pipeline, "REVALIDATE_ROWS", revalidate_rows)
    src = tmp_path / "export.csv"
    head_end_export(src)
    out = []
    for chunk in (20_000, 64 << 20):  # ~40 chunks / one chunk
        store = MeasurementStore(tmp_path / f"store{chunk}")
        rep = ingest_file(store, src, timezone=TZ, now=NOW, chunk_bytes=chunk)
        assert rep.balanced and not rep.error
        out.append((rep, store.read("electric_interval").drop(columns="source")))
    (r1, a), (r2, b) = out
    pd.testing.assert_frame_equal(a, b, check_categorical=False)
    assert r1.vee == r2.vee and r1.readings_written == r2.readings_written == len(a)
    assert r1.vee["by_rule"]["duplicate_disagree"] > 0 and r1.vee["gaps_inserted"] > 0
    assert r1.vee["by_rule"]["spike"] > 0


def test_killed_mid_ingest_leaves_the_store_as_before(tmp_path):
    """A real SIGKILL while chunks are being staged: readers see the store as before."""
    import os
    import signal
    import subprocess
    import sys
    import time

    store = MeasurementStore(tmp_path / "store")
    first = write_wide(tmp_path / "first.csv", ["2016-07-14"])
    ingest_file(store, first, timezone=TZ, now=NOW)
    before = store.read("electric_interval")
    src = tmp_path / "big.csv"
    head_end_export(src, 50_000)
    code = ("import sys; from twin.ingest.pipeline import ingest_file; "
            "from twin.ingest.store import MeasurementStore; "
            f"ingest_file(MeasurementStore(sys.argv[1]), sys.argv[2], timezone='{TZ}', "
            "chunk_bytes=4_000)")
    child = subprocess.Popen([sys.executable, "-c", code, str(store.root), str(src)])
    staging = Path(store.root) / "_staging"
    deadline = time.time() + 60
    while time.time() < deadline and not list(staging.rglob("*.parquet")):
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert list(staging.rglob("*.parquet")), "the child was killed before staging anything"
    assert len(store.manifest()) == 1
    pd.testing.assert_frame_equal(store.read("electric_interval"), before)
    assert store.vacuum() and not staging.exists()
    rep = ingest_file(store, src, timezone=TZ, now=NOW)  # and it can be ingested again
    assert rep.balanced and not rep.skipped and len(store.manifest()) == 2


def test_file_in_wh_labelled_kwh_is_scaled_with_history_and_as_customer_meters(tmp_path):
    lines = examples.wide_lines([f"E{i}" for i in range(5)],
                                pd.DatetimeIndex(pd.date_range("2016-06-01", periods=14)), TZ,
                                np.random.default_rng(5))
    june = tmp_path / "june.csv"
    june.write_text("\n".join(lines[:1 + 5 * 7]) + "\n")  # first week of each meter
    header, rows = lines[0], lines[1:]
    week2 = [r for i, r in enumerate(rows) if i % 14 >= 7]
    wh = [",".join(f[:4] + [f"{float(x) * 1000:.0f}" if x else "" for x in f[4:]])
          for f in (r.split(",") for r in week2)]
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("\n".join([header, *wh]) + "\n")
    truth = read_kwh(tmp_path, header, week2)
    store = MeasurementStore(tmp_path / "store-with")
    ingest_file(store, june, timezone=TZ, now=NOW)
    rep = ingest_file(store, wrong, timezone=TZ, now=NOW)
    assert rep.unit_scale == pytest.approx(1e-3) and rep.balanced and not rep.unit_suspect
    assert "unit_scale" in rep.notes[0] and "history" in rep.notes[0]
    df = store.read("electric_interval", start="2016-06-08 04:00")
    df = df[df["raw_value"].notna()].set_index(["series_id", "time_utc"])
    got = df["raw_value"].reindex(truth.index)
    np.testing.assert_allclose(got, truth, atol=6e-4)  # Wh rounded to whole numbers
    assert (df["quality_flag"].isin(["edited", "failed"])).all()
    assert df["vee_rule"].astype(str).str.contains("unit_scale").all()
    # without the meters' history: rescaled only as customer meters, and said so
    store = MeasurementStore(tmp_path / "store-without")
    rep = ingest_file(store, wrong, timezone=TZ, now=NOW, use_history=False)
    assert rep.unit_scale == pytest.approx(1e-3) and not rep.unit_suspect and rep.balanced
    assert "warning:" in rep.notes[0] and "customer meters (no register given)" in rep.notes[0]


def test_hourly_mwh_supply_point_export_keeps_its_declared_unit(tmp_path):
    """A grid supply point's hourly MWh export (median ~1.4 MW, far above any customer
    meter), let in beside the city's customer register (--allow-unknown-ids), is stored as
    declared: 1 MWh = 1000 kWh, never divided by 1000 on a guess; flagged unit_suspect."""
    times = pd.date_range("2016-11-07", periods=24 * 7, freq="1h", tz=TZ)
    mwh = 1.4 + 0.3 * np.sin(np.arange(len(times)) * 2 * np.pi / 24)
    stamps = times.strftime("%Y-%m-%dT%H:%M:%S%z").str.replace(r"(\d\d)$", r":\1", regex=True)
    src = tmp_path / "gsp_mwh.csv"
    pd.DataFrame({"meter_id": "GSP_NORTH", "timestamp_local": stamps, "value": mwh.round(4),
                  "unit": "MWh"}).to_csv(src, index=False)
    from twin.ingest.plausible import Checks, KnownSeries

    register = KnownSeries({"electric_interval": frozenset({"EM0001"})},
                           {"electric_interval": "the customers' electric_meter_id"})
    store = MeasurementStore(tmp_path / "store")
    rep = ingest_file(store, src, timezone=TZ, now=NOW,
                      checks=Checks(register, allow_unknown_ids=True))
    assert rep.unit_scale == 1.0 and rep.unit_suspect and rep.balanced
    assert any("unit_suspect" in n and "1,400 kW" in n for n in rep.notes), rep.notes
    got = store.read("electric_interval").sort_values("time_utc")
    assert len(got) == len(times)
    np.testing.assert_allclose(got["value"].to_numpy(), mwh.round(4) * 1000.0, rtol=1e-9)
    assert got["vee_rule"].astype(str).str.contains("unit_suspect").all()


def read_kwh(tmp_path, header, rows):
    ref = tmp_path / "ref.csv"
    ref.write_text("\n".join([header, *rows]) + "\n")
    from twin.ingest.mdm_csv import read_mdm_csv
    r = read_mdm_csv(ref, TZ).readings.astype({"series_id": str})
    return r.set_index(["series_id", "time_utc"])["value"]


def test_raw_root_files_that_are_no_measurements_are_reported_skipped(tmp_path, store):
    root = tmp_path / "raw"
    (root / "mdm").mkdir(parents=True)
    (root / "truth").mkdir()
    write_wide(root / "mdm" / "interval_wide_2016-07_part1.csv", ["2016-07-14"])
    (root / "truth" / "faults.csv").write_text(
        "fault_id,kind,system,series_id,start_utc,end_utc,size,size_unit,file,details\n"
        'FLT-00001,spike,electricity,E1,2016-07-14T05:00:00Z,2016-07-14T05:15:00Z,4.0,x,,"{}"\n')
    (root / "manifest.json").write_text('{"files": []}')
    reports = {r.file: r for r in ingest_paths(store, [root], timezone=TZ, now=NOW)}
    assert set(reports) == {"interval_wide_2016-07_part1.csv", "faults.csv", "manifest.json"}
    for name in ("faults.csv", "manifest.json"):
        r = reports[name]
        assert r.skipped and not r.error and r.skipped_reason.startswith(
            "not a measurement file")
    assert reports["interval_wide_2016-07_part1.csv"].readings_written == 2 * 96
