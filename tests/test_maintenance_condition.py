"""Condition inputs and pipe break models on small hand-made cases with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twin.maintenance import condition, pipes


def test_failing_meters_counts_rules():
    flags = pd.DataFrame({
        "series_id": ["m1"] * 100 + ["m2"] * 100 + ["m3"] * 10,
        "vee_rule": [""] * 98 + ["frozen_register", "spike;estimate_linear"]
        + [""] * 100 + ["zero_run"] * 10})
    out = condition.failing_meters(flags)
    assert list(out.index) == ["m1", "m3"]  # m2 has nothing
    assert out.loc["m1", "frozen_register"] == 1 and out.loc["m1", "spike"] == 1
    assert out.loc["m1", "flagged_share"] == pytest.approx(0.02)
    assert out.loc["m3", "zero_run"] == 10 and out.loc["m3", "failing"]


def test_wire_to_water_efficiency_by_hand():
    t = pd.date_range("2016-01-01", periods=3, freq="h", tz="UTC")
    power = pd.Series([50.0, 50.0, 0.0], index=t)  # [kW]
    flow = pd.Series([0.1, 0.12, 0.0], index=t)  # [m3/s]
    head = pd.Series([30.0, 25.0, 0.0], index=t)  # [m]
    eff = condition.wire_to_water_efficiency(power, flow, head)
    hand = 1000 * 9.80665 * np.array([0.1 * 30, 0.12 * 25]) / 1000 / 50.0
    assert eff.to_numpy() == pytest.approx(hand)
    assert len(eff) == 2  # the stopped hour is not an efficiency


def test_line_condition_and_pump_duty():
    t = pd.date_range("2016-01-01", periods=8, freq="15min")
    loading = pd.DataFrame({0: [50, 60, 110, 120, 90, 40, 30, 20.0], 1: np.full(8, 10.0)},
                           index=t)
    lc = condition.line_condition(loading, 0.25)
    assert lc.loc[0, "max_utilisation_pct"] == 120 and lc.loc[0, "overload_hours"] == 0.5
    assert lc.loc[1, "overload_hours"] == 0

    import xarray as xr

    status = np.array([[1, 1, 0, 1]]).T.astype(float)
    flow = np.array([[0.10, 0.2, 0.0, 0.1]]).T
    ds = xr.Dataset({"status": (("time", "link"), status), "flow_m3s": (("time", "link"), flow)},
                    coords={"time": [0, 3600, 7200, 10800], "link": ["p"]})
    duty = condition.pump_duty(ds, pd.Series({"p": 0.1}), 3600)
    per_year = 8760 / 4
    assert duty.loc["p", "running_hours_per_year"] == pytest.approx(3 * per_year)
    assert duty.loc["p", "starts_per_year"] == pytest.approx(1 * per_year)  # off -> on once
    assert duty.loc["p", "edge_hours_per_year"] == pytest.approx(1 * per_year)  # 200 %


def test_breslow_with_entry_matches_lifelines_without_late_entry():
    from lifelines import CoxPHFitter

    rng = np.random.default_rng(3)
    n = 200
    x = rng.normal(size=n)
    t = rng.exponential(10 / np.exp(0.5 * x))
    ev = (t < 15).astype(int)
    df = pd.DataFrame({"start": 0.0, "stop": np.minimum(t, 15), "event": ev, "x": x})
    f = CoxPHFitter().fit(df.drop(columns="start"), "stop", "event")
    times, cum = pipes._breslow_with_entry(df, f.predict_partial_hazard(df[["x"]]).to_numpy())
    ref = f.baseline_cumulative_hazard_.iloc[:, 0]
    assert np.interp(times, ref.index, ref.to_numpy()) == pytest.approx(cum, rel=1e-6)


def test_survival_intervals_left_truncation_and_recurrence():
    reg = pd.DataFrame({"asset_id": ["a", "b"], "install_year": [1950, 2018]})
    breaks = pd.DataFrame({"asset_id": ["a", "a"],
                           "time": pd.to_datetime(["2016-07-01", "2020-01-01"])})
    rows = pipes.survival_intervals(reg, breaks, 2015, 2025.0)
    a = rows[rows.asset_id == "a"]
    assert a.start.iat[0] == 65  # seen from 2015 on, laid in 1950
    assert list(a.event) == [1, 1, 0] and a.stop.iat[-1] == 75
    assert list(a.log_prior_breaks) == pytest.approx([0, np.log(2), np.log(3)])
    b = rows[rows.asset_id == "b"]
    assert b.start.iat[0] == 0 and b.stop.iat[0] == 7 and b.event.iat[0] == 0
