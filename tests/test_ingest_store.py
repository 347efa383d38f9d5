"""The measurement store: schema, atomic appends, re-ingest, precedence, reads (local, memory)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import numpy as np
import pandas as pd
import pytest

from twin.ingest import schema
from twin.ingest.store import MeasurementStore, file_sha256


def frame(series="m1", start="2016-01-31 22:00", n=12, value0=0.0, flag="valid",
          freq="30min") -> pd.DataFrame:
    t = pd.date_range(start, periods=n, freq=freq, tz="UTC")
    return pd.DataFrame({"series_id": series, "time_utc": t, "value": value0 + np.arange(n),
                         "unit": "kWh", "quality_flag": flag, "source": "test@0"})


def raw_file(tmp_path, text: str) -> str:
    p = tmp_path / f"raw-{uuid.uuid4().hex[:6]}.csv"
    p.write_text(text)
    return str(p)


@pytest.fixture(params=["local", "memory"])
def store(request, tmp_path):
    if request.param == "local":
        yield MeasurementStore(tmp_path / "store")
        return
    root = f"memory://store-{uuid.uuid4().hex}"
    yield MeasurementStore(root)
    import fsspec
    fsspec.filesystem("memory").rm(root.removeprefix("memory://"), recursive=True)


def test_schema_is_declared_once_with_units():
    desc = schema.describe()
    assert list(desc[desc.table == "measurement"].column) == [
        "series_id", "time_utc", "value", "unit", "quality_flag", "vee_rule", "raw_value",
        "source", "interval_s"]
    assert set(schema.KINDS) == {"electric_interval", "water_read", "scada", "pv", "weather",
                                 "electric_register"}
    assert schema.arrow_schema().field("time_utc").type.tz == "UTC"
    assert "[ns" in desc.set_index("column").loc["time_utc", "description"]
    with pytest.raises(ValueError, match="unknown quality flags"):
        schema.conform(frame(flag="great"))


def test_write_read_round_trip_across_months(store, tmp_path):
    src = raw_file(tmp_path, "a")
    res = store.write("electric_interval", frame(), src)
    assert res.rows == 12 and not res.skipped
    out = store.read("electric_interval")
    assert out["value"].tolist() == list(map(float, range(12)))
    assert str(out["time_utc"].dtype) == "datetime64[ns, UTC]"
    assert out["vee_rule"].astype(str).eq("").all()
    files = [f for e in store.manifest() for f in e["files"]]
    assert {f.split("/")[1] for f in files} == {"month=2016-01", "month=2016-02"}
    part = store.read("electric_interval", series="m1", start="2016-02-01",
                      end="2016-02-01 01:00")
    assert part["value"].tolist() == [4.0, 5.0]
    # the latest reading, from the last month's files only
    assert store.last_time("electric_interval") == pd.Timestamp("2016-02-01 03:30", tz="UTC")
    assert store.last_time("water_read") is None


def test_reingesting_the_same_file_adds_nothing(store, tmp_path):
    src = raw_file(tmp_path, "same bytes")
    store.write("electric_interval", frame(), src)
    before = store.read("electric_interval")
    again = store.write("electric_interval", frame(value0=50), src)
    assert again.skipped and again.rows == 0
    assert len(store.manifest()) == 1
    pd.testing.assert_frame_equal(store.read("electric_interval"), before)
    assert file_sha256(src) in store.checksums()


def test_overlaps_follow_the_precedence_rule(store, tmp_path):
    store.write("electric_interval", frame(n=4, flag="valid"), raw_file(tmp_path, "1"))
    # a later estimate does not replace valid reads
    store.write("electric_interval", frame(n=4, value0=100, flag="estimated"),
                raw_file(tmp_path, "2"))
    assert store.read("electric_interval")["value"].tolist() == [0, 1, 2, 3]
    # a later valid file replaces the earlier valid one
    store.write("electric_interval", frame(n=2, value0=200), raw_file(tmp_path, "3"))
    assert store.read("electric_interval")["value"].tolist() == [200, 201, 2, 3]
    # an edit wins over a later valid read
    store.write("electric_interval", frame(n=1, value0=300, flag="edited"),
                raw_file(tmp_path, "4"))
    store.write("electric_interval", frame(n=1, value0=400), raw_file(tmp_path, "5"))
    out = store.read("electric_interval")
    assert out["value"].tolist() == [300, 201, 2, 3]
    assert out["quality_flag"].astype(str).tolist() == ["edited", "valid", "valid", "valid"]


def test_xarray_and_dask_reads_match_pandas(store, tmp_path):
    store.write("electric_interval", pd.concat([frame("m1"), frame("m2", value0=10)]),
                raw_file(tmp_path, "x"))
    store.write("electric_interval", frame("m2", n=3, value0=50), raw_file(tmp_path, "y"))
    df = store.read("electric_interval")
    xa = store.read_xarray("electric_interval")
    assert xa["value"].dims == ("series", "time")
    assert xa["value"].attrs["units"] == "kWh"
    assert list(xa["series"].values) == ["m1", "m2"]
    assert xa["value"].sel(series="m2").values[:4].tolist() == [50, 51, 52, 13]
    dd = store.read_dask("electric_interval")
    assert dd.npartitions == 2  # one per month
    got = dd.compute().sort_values(["series_id", "time_utc"]).reset_index(drop=True)
    got["series_id"] = got["series_id"].astype(str)
    exp = df.assign(series_id=df["series_id"].astype(str))
    pd.testing.assert_frame_equal(got[["series_id", "time_utc", "value"]],
                                  exp[["series_id", "time_utc", "value"]])


def test_quarantine_and_archive(store, tmp_path):
    src = raw_file(tmp_path, "raw bytes")
    q = pd.DataFrame({"kind": ["electric_interval"], "file": ["raw.csv"], "line": [7],
                      "reason": ["garbage"], "raw_text": ["@@@"]})
    store.write("electric_interval", frame(n=2), src, quarantine=q)
    got = store.read_quarantine()
    assert got[["file", "line", "reason"]].iloc[0].tolist() == ["raw.csv", 7, "garbage"]
    dst = store.archive(src)
    sha = file_sha256(src)
    assert sha in dst and store.fs.cat_file(dst) == b"raw bytes"
    assert store.archive(src) == dst  # once


_WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np, pandas as pd
    from twin.ingest.store import MeasurementStore
    root, src, mode = sys.argv[1:4]
    st = MeasurementStore(root)
    if mode == "hook":
        orig, calls = st.fs.mv, []
        def mv(a, b, **kw):
            orig(a, b, **kw)
            calls.append(b)
            if len(calls) == 2:  # some files published, manifest entry not yet
                print("MOVED", flush=True)
                time.sleep(120)
        st.fs.mv = mv
    n = 400_000  # about 9 months, one part file each
    t = pd.date_range("2016-01-01", periods=n, freq="1min", tz="UTC")
    df = pd.DataFrame({"series_id": "big", "time_utc": t, "value": np.arange(n, dtype=float),
                       "unit": "kWh", "source": "big@0"})
    print("WRITING", flush=True)
    st.write("electric_interval", df, src)
    print("DONE", flush=True)
""")


@pytest.mark.parametrize("mode", ["hook", "timed"])
def test_killed_mid_write_leaves_the_store_as_before(tmp_path, mode):
    root = str(tmp_path / "store")
    store = MeasurementStore(root)
    store.write("electric_interval", frame(), raw_file(tmp_path, "first"))
    before = store.read("electric_interval")
    src = raw_file(tmp_path, "second")
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    proc = subprocess.Popen([sys.executable, str(script), root, src, mode],
                            stdout=subprocess.PIPE, text=True)
    try:
        if mode == "hook":
            assert proc.stdout.readline().strip() == "WRITING"
            assert proc.stdout.readline().strip() == "MOVED"
        else:  # kill as soon as the batch is being staged
            assert proc.stdout.readline().strip() == "WRITING"
            deadline = time.monotonic() + 60
            staging = os.path.join(root, "_staging")
            while not (os.path.isdir(staging) and os.listdir(staging)):
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    if mode == "timed" and proc.returncode == 0:  # pragma: no cover - a very loaded machine
        pytest.skip("the writer committed before the kill landed; the hook variant covers it")
    assert proc.returncode == -signal.SIGKILL
    after = MeasurementStore(root)
    pd.testing.assert_frame_equal(after.read("electric_interval"), before)
    assert len(after.manifest()) == 1
    assert file_sha256(src) not in after.checksums()
    removed = after.vacuum()
    assert removed  # the staging folder (and any published part) is cleaned up
    assert not os.path.exists(os.path.join(root, "_staging"))
    pd.testing.assert_frame_equal(after.read("electric_interval"), before)


def test_failed_readings_without_value_are_stored(store, tmp_path):
    df = frame(n=3)
    df.loc[1, "value"] = np.nan
    df["quality_flag"] = ["valid", "failed", "valid"]
    store.write("electric_interval", df, raw_file(tmp_path, "nan"))
    out = store.read("electric_interval")
    assert np.isnan(out["value"].iloc[1]) and out["quality_flag"].iloc[1] == "failed"
