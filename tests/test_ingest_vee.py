"""VEE: each rule flags what it should, estimates fill short and long gaps, raw values stay."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.ingest import vee

NOW = pd.Timestamp("2017-01-01", tz="UTC")
STEP = pd.Timedelta("15min")


def daily_profile(series="m1", weeks=3, seed=0) -> pd.DataFrame:
    """A smooth 15-min load with a daily shape and a little noise [kWh]."""
    t = pd.date_range("2016-01-04", periods=96 * 7 * weeks, freq=STEP, tz="UTC")
    rng = np.random.default_rng(seed)
    k = np.arange(len(t))
    v = 0.5 + 0.3 * np.sin(2 * np.pi * k / 96) + 0.02 * rng.random(len(t))
    return pd.DataFrame({"series_id": series, "time_utc": t, "value": v, "unit": "kWh",
                         "source": "test@0"})


def by_time(out: pd.DataFrame, series="m1") -> pd.DataFrame:
    return out[out["series_id"].astype(str) == series].set_index("time_utc")


def rules_of(out, t, series="m1") -> set[str]:
    return set(str(by_time(out, series).loc[t, "vee_rule"]).split(";")) - {""}


def test_rules_are_declared_data():
    names = [r.name for r in vee.RULES]
    assert names == ["future_timestamp", "negative_value", "spike", "frozen_register",
                     "zero_run", "high_low"]
    assert all(r.severity in ("fail", "warn") for r in vee.RULES)
    assert all(callable(r.check) and r.description for r in vee.RULES)


def test_clean_data_is_untouched():
    df = daily_profile()
    out, summary = vee.run_vee(df, now=NOW)
    assert (out["quality_flag"].astype(str) == "valid").all()
    assert (out["vee_rule"].astype(str) == "").all()
    np.testing.assert_array_equal(out["value"], df["value"])
    assert summary.gaps_inserted == 0 and summary.estimated == 0


def test_injected_faults_are_flagged_estimated_and_raw_kept():
    df = daily_profile()
    t = df["time_utc"]
    spike_t, neg_t = t[1000], t[1200]
    df.loc[1000, "value"] = 40.0  # spike
    df.loc[1200, "value"] = -2.0  # negative
    df.loc[1500:1519, "value"] = 0.777  # frozen run of 20
    short = t[1700:1703].tolist()  # 45 min gap -> linear
    long_ = t[1800:1840].tolist()  # 10 h gap -> like-day
    df = df.drop(index=list(range(1700, 1703)) + list(range(1800, 1840)))
    out, summary = vee.run_vee(df, now=NOW)
    o = by_time(out)
    assert len(out) == 96 * 21  # every interval is back
    assert summary.gaps_inserted == 43

    assert rules_of(out, spike_t) >= {"spike", "estimate_linear"}
    assert o.loc[spike_t, "raw_value"] == 40.0
    assert o.loc[spike_t, "quality_flag"] == "estimated"
    assert abs(o.loc[spike_t, "value"] - 0.5) < 0.35

    assert rules_of(out, neg_t) >= {"negative_value", "estimate_linear"}
    assert o.loc[neg_t, "raw_value"] == -2.0 and o.loc[neg_t, "value"] > 0

    frozen = o.loc[t[1501]:t[1519]]
    assert (frozen["vee_rule"].astype(str).str.contains("frozen_register")).all()
    assert (frozen["raw_value"] == 0.777).all()
    assert o.loc[t[1500], "quality_flag"] == "valid"  # the first of the run may be real

    for ts in short:
        assert rules_of(out, ts) == {"gap", "estimate_linear"}
        assert np.isnan(o.loc[ts, "raw_value"])
    # linear: on the straight line between the neighbours
    a, b = o.loc[t[1699], "value"], o.loc[t[1703], "value"]
    np.testing.assert_allclose(o.loc[short, "value"], a + (b - a) * np.array([1, 2, 3]) / 4)

    for ts in long_:
        assert rules_of(out, ts) == {"gap", "estimate_like_day"}
    # like-day: the mean of the same time in previous weeks
    ts = long_[5]
    prev = [o.loc[ts - pd.Timedelta(weeks=w), "value"] for w in (1, 2)
            if ts - pd.Timedelta(weeks=w) in o.index]
    assert o.loc[ts, "value"] == pytest.approx(np.mean(prev))
    assert (out["quality_flag"].astype(str) != "failed").all()


def test_a_day_of_zeros_warns_six_hours_do_not():
    """A meter that reads 0 for 30 h is flagged (value kept, valid); 6 h of zeros and a meter
    that never records anything are not."""
    df = pd.concat([daily_profile("m1"), daily_profile("m2", seed=1).assign(value=0.0)])
    df = df.reset_index(drop=True)
    df.loc[200:319, "value"] = 0.0  # 30 h
    df.loc[1000:1023, "value"] = 0.0  # 6 h
    settings = vee.VeeSettings(zero_min_span=pd.Timedelta("1D"))
    out, summary = vee.run_vee(df, settings, now=NOW)
    m1 = by_time(out)
    hit = m1["vee_rule"].astype(str) == "zero_run"
    assert hit.sum() == 120 and summary.by_rule["zero_run"] == 120
    assert (m1.index[hit] == df["time_utc"][200:320].to_numpy()).all()
    assert (m1["quality_flag"].astype(str) == "valid").all() and (m1["value"][hit] == 0).all()
    assert (by_time(out, "m2")["vee_rule"].astype(str) == "").all()
    off, _ = vee.run_vee(df, now=NOW)  # the rule is off by default
    assert (off["vee_rule"].astype(str) == "").all()


def test_future_timestamps_fail_and_are_not_estimated():
    df = daily_profile(weeks=1)
    out, _ = vee.run_vee(df, now=df["time_utc"].iloc[500])
    o = by_time(out)
    late = o.loc[df["time_utc"].iloc[600]]
    assert late["quality_flag"] == "failed" and np.isnan(late["value"])
    assert late["vee_rule"] == "future_timestamp"
    assert o.loc[df["time_utc"].iloc[400], "quality_flag"] == "valid"


def test_disagreeing_duplicates_fail_agreeing_ones_collapse():
    df = daily_profile(weeks=1)
    dup_same = df.iloc[[10]]
    dup_diff = df.iloc[[20]].assign(value=9.99)
    out, summary = vee.run_vee(pd.concat([df, dup_same, dup_diff]), now=NOW)
    assert len(out) == len(df) and summary.duplicates_dropped == 2
    assert rules_of(out, df["time_utc"].iloc[10]) == set()
    assert "duplicate_disagree" in rules_of(out, df["time_utc"].iloc[20])


def test_many_series_at_once_match_one_at_a_time():
    a = daily_profile("a", weeks=2, seed=1)
    b = daily_profile("b", weeks=2, seed=2)
    b.loc[300, "value"] = 50.0
    a = a.drop(index=range(100, 110))
    both, _ = vee.run_vee(pd.concat([b, a]).sample(frac=1, random_state=0), now=NOW)
    one_a, _ = vee.run_vee(a, now=NOW)
    one_b, _ = vee.run_vee(b, now=NOW)
    for one, s in ((one_a, "a"), (one_b, "b")):
        got = by_time(both, s)
        exp = one.set_index("time_utc")
        np.testing.assert_allclose(got["value"], exp["value"])
        assert (got["vee_rule"].astype(str) == exp["vee_rule"].astype(str)).all()


def test_high_low_against_history_warns_only():
    df = daily_profile(weeks=1)
    history = pd.DataFrame({"median": [5.0], "scale": [0.01], "q01": [4.9], "q99": [5.1]},
                           index=["m1"])
    out, _ = vee.run_vee(df, history=history, now=NOW)
    assert (out["vee_rule"].astype(str) == "high_low").all()
    assert (out["quality_flag"].astype(str) == "valid").all()


def test_sum_check_compares_intervals_with_register_deltas():
    df = daily_profile(weeks=1)
    day = df["time_utc"].dt.floor("D")
    cum = df.groupby(day)["value"].sum().cumsum()
    reg = pd.DataFrame({"series_id": "m1", "time_utc": cum.index + pd.Timedelta("1D"),
                        "value": cum.to_numpy()})
    reg = pd.concat([pd.DataFrame({"series_id": ["m1"], "time_utc": [day.iloc[0]],
                                   "value": [0.0]}), reg], ignore_index=True)
    reg.loc[reg.index[3], "value"] += 5.0  # register day 3 disagrees with days 2 and 3
    hit = vee.sum_check(df, reg)
    bad_days = set(day[hit].dt.strftime("%m-%d"))
    assert bad_days == {"01-06", "01-07"}
    out, summary = vee.run_vee(df, registers=reg, now=NOW)
    assert summary.by_rule["sum_check"] == 192


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 96 * 7 - 1), max_size=60, unique=True))
def test_vee_keeps_every_interval_and_every_raw_value(drop):
    df = daily_profile(weeks=1)
    kept = df.drop(index=drop)
    out, summary = vee.run_vee(kept, now=NOW)
    first, last = kept["time_utc"].min(), kept["time_utc"].max()
    assert len(out) == (last - first) / STEP + 1
    o = out.set_index("time_utc")
    np.testing.assert_array_equal(o.loc[kept["time_utc"], "raw_value"], kept["value"])
    assert o["raw_value"].isna().sum() == summary.gaps_inserted
    assert (o["value"].notna() | (o["quality_flag"] == "failed")).all()


def test_a_resent_estimate_does_not_replace_the_actual_read():
    df = daily_profile(weeks=1)
    resent = df.iloc[[30]].assign(value=7.0, quality_flag="estimated")
    df["quality_flag"] = "valid"
    out, summary = vee.run_vee(pd.concat([df, resent]), now=NOW)
    o = by_time(out).loc[df["time_utc"].iloc[30]]
    assert o["value"] == df["value"].iloc[30] and o["quality_flag"] == "valid"
    assert o["vee_rule"] == "duplicate_superseded"
    assert summary.duplicates_dropped == 1


def test_sum_check_pairs_interval_reads_with_the_meters_register_reads(tmp_path):
    """A hand-made register export and an interval export of one meter and day: the one hour
    whose register delta disagrees with its four intervals is flagged, nothing else."""
    from twin.ingest.pipeline import ingest_file
    from twin.ingest.store import MeasurementStore

    tz = "America/New_York"
    vals = [0.2 + 0.01 * (k % 4) for k in range(96)]  # 0.86 kWh per hour
    hourly = np.add.reduceat(vals, np.arange(0, 96, 4))
    reg = 100.0 + np.cumsum(hourly)  # read at the END of each local hour (h01..h24)
    reg[4:] += 0.5  # the register advanced 0.5 kWh more in 04:00-05:00 than the intervals
    regs = tmp_path / "registers.csv"
    regs.write_text(
        "meter_id,read_date,uom,read_count," + ",".join(f"h{k:02d}" for k in range(1, 26))
        + "\nEM1,2016-07-14,kWh,24," + ",".join(f"{x:.3f}" for x in reg) + ",\n")
    ints = tmp_path / "intervals.csv"
    ints.write_text("meter_id,date,unit,interval_minutes," + ",".join(
        f"i{k:03d}" for k in range(1, 101)) + "\nEM1,2016-07-14,kWh,15,"
        + ",".join(f"{v:.3f}" for v in vals) + ",,,,\n")
    store = MeasurementStore(tmp_path / "store")
    now = pd.Timestamp("2017-01-01", tz="UTC")
    r1 = ingest_file(store, regs, kind="electric_register", timezone=tz, now=now)
    assert r1.balanced and r1.readings_written == 24
    r2 = ingest_file(store, ints, timezone=tz, now=now)
    assert r2.balanced and r2.vee["by_rule"]["sum_check"] == 4
    df = store.read("electric_interval")
    hit = df[df["vee_rule"].astype(str).str.contains("sum_check")]
    # local 04:00-04:45 EDT = 08:00-08:45 UTC
    assert hit["time_utc"].tolist() == list(pd.date_range("2016-07-14 08:00", periods=4,
                                                          freq="15min", tz="UTC"))
    assert (hit["quality_flag"] == "valid").all()  # a warning: the values are kept


def test_unit_doubt_needs_an_interval_and_finite_readings():
    """Without history, a median demand above 1 MW raises the Wh-as-kWh doubt only when the
    interval is measured: 251 kWh every 15 min is 1,004 kW (251 / 0.25 h); one reading alone
    has no interval, and ``inf`` readings are not demand."""
    t = pd.Timestamp("2016-07-04 04:00", tz="UTC")
    two = pd.DataFrame({"series_id": "m1", "time_utc": [t, t + STEP], "value": [251.0, 251.0]})
    factor, why = vee.unit_scale(two)
    assert factor == 1.0 and "1,004 kW" in why
    assert vee.unit_scale(two.iloc[:1]) == (1.0, "")
    small = two.assign(value=[1.0, 1.0])  # 4 kW, with four inf rows beside them
    infs = pd.DataFrame({"series_id": "m1", "time_utc": [t] * 4, "value": np.inf})
    assert vee.unit_scale(pd.concat([infs, small], ignore_index=True)) == (1.0, "")
