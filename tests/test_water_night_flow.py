"""Minimum and net night flow: hand-computed cases, and the NNF step at a true leak's start."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from twin.water.night_flow import (
    leak_step_l_s,
    minimum_night_flow,
    night_day_factor,
    night_flow_from_store,
)

TZ = "America/New_York"


def test_minimum_night_flow_by_hand():
    times = pd.date_range("2016-07-10 00:00", periods=28, freq="1h", tz=TZ).tz_convert("UTC")
    inflow = pd.DataFrame({"A": 10.0, "B": 4.0}, index=times)
    inflow.loc[times[3], "A"] = 16.0  # 03:00 local: trapezoid weight 1 → +6 L/s·h
    # zone A's tanks gain 3.6 m³ from 02:00 to 04:00: 0.5 L/s of the inflow is stored
    stored = pd.DataFrame({"A": np.where(np.arange(28) >= 4, 3.6, 0.0)}, index=times)
    mnf = minimum_night_flow(inflow, stored, TZ)
    first = mnf.iloc[0]
    assert first["A"] == pytest.approx((10 * 0.5 + 16 + 10 * 0.5) / 2 - 0.5)  # 12.5 L/s
    assert first["B"] == pytest.approx(4.0)
    assert len(mnf) == 1  # the second night ends at 03:00: left out


def test_night_day_factor_constant_pressure_is_24_hours():
    times = pd.date_range("2016-07-10 00:00", periods=24, freq="1h", tz=TZ).tz_convert("UTC")
    assert night_day_factor(pd.Series(40.0, index=times), TZ).iloc[0] == pytest.approx(24.0)
    day = pd.Series(np.where(np.arange(24) < 6, 40.0, 30.0), index=times)
    # N1 = 1: 6 h at ratio 1, 18 h at 0.75
    assert night_day_factor(day, TZ, n1=1.0).iloc[0] == pytest.approx(6 + 18 * 0.75)


def test_net_night_flow_steps_up_by_the_leak(city, sample_store, sample_raw):
    start = pd.Timestamp("2016-07-04 04:00", tz="UTC")
    night = night_flow_from_store(sample_store, city, start, start + pd.Timedelta(days=21))
    assert set(night.dma) == {"DMA-1", "DMA-2", "DMA-3", "DMA-4"}
    assert night.groupby("dma").size().min() >= 20
    assert (night.night_use_l_s > 0).all() and night.nnf_trend_l_s.notna().all()
    truth = pd.read_csv(sample_raw / "truth" / "faults.csv")
    leak = [json.loads(d) | {"start": s} for d, s, k in zip(truth.details, truth.start_utc,
                                                            truth.kind, strict=True)
            if k == "leak" and json.loads(d)["dma"] == "DMA-4"][0]
    at = pd.Timestamp(leak["start"]).tz_convert(city.timezone)
    # DMA-4 has no tank, so its night inflow is what its customers and the leak use; its
    # NNF must rise by the leak's flow (night pressure is a little above the day's: +25 %)
    step = leak_step_l_s(night, "DMA-4", at)
    assert leak["mean_flow_l_s"] * 0.85 < step < leak["mean_flow_l_s"] * 1.25
    # and move far less across a date without any leak event
    calm = leak_step_l_s(night, "DMA-4", pd.Timestamp("2016-07-09"))
    assert abs(calm) < 0.25 * leak["mean_flow_l_s"]
