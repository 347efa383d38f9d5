"""VEE audit against ground truth: definitions on a hand-built store, then the real build.

The hand-built store holds readings whose flags are set here, so every share below is
counted by hand. The sample build (``sample_raw``) goes through ``twin data build`` (its
ingest step) and ``twin data audit``, and is scored against its own ``truth/faults.csv``.
"""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from twin.cli import app
from twin.ingest.audit import audit_build, audit_vee, read_faults
from twin.ingest.store import MeasurementStore

TZ = "America/New_York"
DAY = pd.date_range("2016-07-05T04:00Z", periods=96, freq="15min")  # local day 2016-07-05


def readings(meter: str, flags: dict | None = None, drop=()) -> pd.DataFrame:
    """96 valid readings of one meter on DAY; ``flags`` maps time -> (quality, rule)."""
    t = DAY[~DAY.isin(pd.DatetimeIndex(list(drop)))]
    df = pd.DataFrame({"series_id": meter, "time_utc": t, "value": 0.2, "unit": "kWh",
                       "quality_flag": "valid", "vee_rule": "", "raw_value": 0.2})
    for when, (quality, rule) in (flags or {}).items():
        m = df["time_utc"] == pd.Timestamp(when)
        df.loc[m, ["quality_flag", "vee_rule"]] = quality, rule
    return df


def write(store, name, df, sha, quarantine=None, duplicates=0):
    df = df.assign(source=f"{name}@{sha[:12]}")
    store.write("electric_interval", df, name, sha256=sha, quarantine=quarantine,
                report={"file": name, "duplicates": duplicates})


def fault(fid, kind, series="", start="2016-07-05T12:00Z", end="2016-07-05T12:15Z",
          file="", **details) -> dict:
    return {"fault_id": fid, "kind": kind, "system": "electricity", "series_id": series,
            "start_utc": pd.Timestamp(start), "end_utc": pd.Timestamp(end), "size": 1.0,
            "file": file, "details": details}


@pytest.fixture
def hand_store(tmp_path):
    store = MeasurementStore(tmp_path / "store")
    write(store, "a.csv", pd.concat([
        readings("M1", {"2016-07-05T12:00Z": ("estimated", "spike;estimate_linear")}),
        readings("M2", {"2016-07-05T10:00Z": ("estimated", "gap;estimate_linear"),
                        "2016-07-05T10:15Z": ("estimated", "gap;estimate_linear"),
                        "2016-07-05T20:00Z": ("valid", "high_low")},  # a false flag
                 drop=["2016-07-05T10:30Z", "2016-07-05T10:45Z"])]), "a" * 64)
    write(store, "b.csv", readings("M3"), "b" * 64, duplicates=1)
    wrong = readings("M4", {t: ("valid", "high_low") for t in DAY[:60]})
    q = pd.DataFrame({"kind": "electric_interval", "file": "w.csv", "line": [7],
                      "reason": ["unknown unit"],
                      "raw_text": ["M5,2016-07-05,kWh,15,96,1.0,2.0"]})
    write(store, "w.csv", wrong, "c" * 64, quarantine=q)
    dst = pd.concat([readings("M6", {"2016-07-05T05:00Z": ("valid", "dst_autumn_split")}),
                     readings("M8")])
    q = pd.DataFrame({"kind": "electric_interval", "file": "d.csv", "line": [3, 9],
                      "reason": ["interval_count 96 for a day of 100 intervals",
                                 "DST day 2016-07-05 exported as wall-clock slots"],
                      "raw_text": ["M7,2016-07-05,kWh,15,96,0.1", "i009-i012=0,0,0,0"]})
    write(store, "d.csv", dst, "d" * 64, quarantine=q)
    return store


def hand_faults() -> pd.DataFrame:
    return pd.DataFrame([
        fault("F1", "spike", "M1"),  # flagged
        fault("F2", "spike", "M1", "2016-07-05T13:00Z", "2016-07-05T13:15Z"),  # missed
        fault("F3", "gap", "M2", "2016-07-05T10:00Z", "2016-07-05T11:00Z", length="short"),
        fault("F4", "duplicate", "M3", "2016-07-05T09:00Z", "2016-07-05T09:15Z",
              disagree=False, layout="long"),  # b.csv counted one duplicate: credited
        fault("F5", "duplicate", "M3", "2016-07-05T09:15Z", "2016-07-05T09:30Z",
              disagree=False, layout="long"),  # ... but only one
        fault("F6", "theft", "M3", "2016-07-05T04:00Z", "2016-07-06T04:00Z"),
        fault("F7", "wrong_unit", start="2016-07-05T04:00Z", end="2016-07-06T04:00Z",
              file="mdm/w.csv"),
        fault("F8", "dst_autumn_summed", start="2016-07-05T04:00Z", end="2016-07-06T04:00Z",
              file="mdm/d.csv", true_intervals=100),
    ])


def test_audit_definitions_on_a_hand_built_store(hand_store):
    result = audit_vee(hand_store, hand_faults(), TZ)
    f = result.by_fault.set_index("fault_id")
    assert f.loc["F1", ["readings", "flagged", "found"]].tolist() == [1, 1, True]
    assert f.loc["F2", ["readings", "flagged", "found"]].tolist() == [1, 0, False]
    assert f.loc["F3", ["readings", "flagged", "absent", "found"]].tolist() == [4, 4, 2, True]
    assert f.loc["F4", "found"] and not f.loc["F5", "found"]
    assert f.loc["F6", ["readings", "flagged", "found"]].tolist() == [96, 0, False]
    # 96 stored readings of w.csv (60 flagged) + M5's quarantined line = 96 intervals
    assert f.loc["F7", ["readings", "flagged", "quarantined"]].tolist() == [192, 156, 96]
    assert f.loc["F7", "share_flagged"] == pytest.approx(156 / 192)
    # DST faults count meter-day rows: M6 repaired (rule), M7 quarantined, and one entry
    # naming the day without a meter (dropped slots) credits one more row
    assert f.loc["F8", ["readings", "flagged", "quarantined", "found"]].tolist() == [
        3, 3, 2, True]
    k = result.by_kind.set_index("kind")
    assert k.loc["spike", "share_found"] == 0.5 and k.loc["duplicate", "found"] == 1
    assert k.loc["theft", "by_design"] and not k.loc["spike", "by_design"]
    ff = result.false_flags.set_index("kind").loc["electric_interval"]
    # fault-free: M1 94 (96 less F1, F2), M2 92 (94 stored less 2 gap rows), M3 and M4 none
    assert (ff["readings"], ff["flagged"]) == (186, 1)
    assert ff["rules"] == {"high_low": 1}


def test_read_faults_names_a_missing_file(tmp_path):
    with pytest.raises(ValueError, match="faults.csv: no ground-truth file"):
        read_faults(tmp_path / "truth" / "faults.csv")


def test_data_build_ingests_then_audit_scores_the_sample_build(sample_raw, tmp_path,
                                                               monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(sample_raw, data / "raw")
    monkeypatch.setenv("TWIN_DATA_DIR", str(data))
    runner = CliRunner()
    res = runner.invoke(app, ["data", "build", "--if-missing"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "ingested into" in res.output and "interval_long_2016-07.csv" in res.output
    store = MeasurementStore(data / "store")
    assert set(store.kinds()) >= {"electric_interval", "water_read", "scada", "pv"}
    manifest = json.loads((data / "raw" / "manifest.json").read_text())
    n_files = sum(f["file"].split("/")[0] in ("mdm", "amr", "pv", "scada", "greenbutton")
                  for f in manifest["files"])
    assert len(store.manifest()) == n_files

    t0 = time.perf_counter()
    again = runner.invoke(app, ["data", "build", "--if-missing"], env={"COLUMNS": "200"})
    assert again.exit_code == 0 and "already built" in again.output
    assert time.perf_counter() - t0 < 2.0

    result = audit_build(data / "raw", store, TZ)
    truth = read_faults(data / "raw" / "truth" / "faults.csv")
    k = result.by_kind.set_index(["kind", "system"])
    assert k["faults"].sum() == len(truth)
    # what VEE must find in the three weeks: every gap, spike, stuck meter and duplicate
    for kind, system in [("gap", "electricity"), ("gap", "water"), ("gap", "scada"),
                         ("spike", "electricity"), ("stuck", "electricity"),
                         ("duplicate", "electricity")]:
        if (kind, system) in k.index:
            assert k.loc[(kind, system), "share_found"] == 1.0, (kind, system)
    assert k.loc[("theft", "electricity"), "by_design"]
    assert np.isnan(k.loc[("leak", "water"), "share_found"])
    ff = result.false_flags.set_index("kind")
    assert (ff["rate"] < 1e-3).all(), ff
    assert ff.loc["electric_interval", "readings"] > 500_000


def test_twin_data_audit_prints_the_table(hand_store, tmp_path):
    faults = hand_faults()
    faults["details"] = faults["details"].map(json.dumps)
    for c in ("start_utc", "end_utc"):
        faults[c] = faults[c].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    (tmp_path / "raw" / "truth").mkdir(parents=True)
    faults.to_csv(tmp_path / "raw" / "truth" / "faults.csv", index=False)
    res = CliRunner().invoke(app, ["data", "audit", "--raw", str(tmp_path / "raw"),
                                   "--store", hand_store.url], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    rows = {line.split()[1]: line for line in res.output.splitlines()
            if line.startswith("│") and len(line.split()) > 3}
    assert "50.0%" in rows["spike"] and "by design" in rows["theft"]
    assert "false flags, electric_interval: 1 of 186" in res.output


def test_data_audit_without_a_store_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TWIN_DATA_DIR", str(tmp_path))
    res = CliRunner().invoke(app, ["data", "audit"], env={"COLUMNS": "200"})
    assert res.exit_code == 2 and "no measurement store" in res.output
