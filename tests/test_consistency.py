"""Answers that cannot all be true are flagged with their cause, and the sample city's own
water balance closes: real losses ≥ 0 in every window, against its true leaks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twin.findings import Finding, flags_by_element
from twin.water.balance import (
    CITY,
    MEASURED_ONLY,
    balance_findings,
    balance_from_store,
    flow_volume_l,
    system_input_m3,
    water_balance,
)
from twin.water.night_flow import night_flow_findings

ZONE = pd.DataFrame({"mains_km": [10.0, 10.0], "connections": [500, 500],
                     "pressure_m": [40.0, 40.0]}, index=["A", CITY])


def _balance(siv: float, billed: float, days: float, params=MEASURED_ONLY) -> pd.DataFrame:
    b = pd.DataFrame({"billed_metered_m3": [billed, billed],
                      "billed_estimated_m3": [0.0, 0.0]}, index=["A", CITY])
    return water_balance(pd.Series({"A": siv, CITY: siv}), b, ZONE, days, params)


def test_billed_above_input_is_flagged_with_its_causes():
    """10,000 m³ in, 10,150 m³ billed over 3 days with 400 of 500 connections estimated:
    negative real losses, flagged with the short period and the meter coverage."""
    t = _balance(10_000.0, 10_150.0, 3.0)
    t["connections_estimated"] = [400, 400]
    t.attrs.update({"scada_hours_filled": 5, "hours_cut_for_reads": 0})
    found = balance_findings(t)
    assert [f.kind for f in found] == ["billed_above_input"] * 2
    a = next(f for f in found if f.element == "A")
    assert "exceeds the system input 10,000 m³ by 150 m³ (1.50 %)" in a.reason
    for cause in ("meter coverage (400 of 500", "a period too short (3.0 days)",
                  "5 SCADA hours interpolated", "within a meter's ±2 %"):
        assert cause in a.reason, a.reason
    assert str(a).startswith("! A: billed use 10,150 m³")
    assert flags_by_element(found) == {"A": "billed_above_input", CITY: "billed_above_input"}


def test_read_timing_is_named_and_a_sound_balance_has_no_finding():
    t = _balance(10_000.0, 10_050.0, 21.0)
    t.attrs["hours_cut_for_reads"] = 1
    (a, _) = balance_findings(t)
    assert "read timing (1 h of SCADA without reads were cut)" in a.reason
    assert "period too short" not in a.reason and "meter coverage" not in a.reason
    assert balance_findings(_balance(10_000.0, 9_900.0, 21.0)) == []


def test_default_terms_above_the_measured_nrw_are_named_as_such():
    """1 % NRW measured; AWWA defaults put 4.25 % of SIV in unbilled and apparent terms."""
    from twin.water.balance import BalanceParameters

    t = _balance(10_000.0, 9_900.0, 21.0, BalanceParameters())
    (a, _) = balance_findings(t)
    assert a.kind == "assumed_terms_above_nrw"
    assert "exceed the measured NRW (100 m³, 1.00 %)" in a.reason


def test_flow_volume_by_hand():
    """Flows 1, 3, 5 L/s at 0, 1, 2 h: held means 4 h·L/s, the trapezoid 6 h·L/s."""
    q = pd.DataFrame({"x": [1.0, 3.0, 5.0]},
                     index=pd.date_range("2016-07-04", periods=3, freq="h", tz="UTC"))
    assert flow_volume_l(q, "mean")["x"] == pytest.approx((1 + 3) * 3600)
    assert flow_volume_l(q, "instantaneous")["x"] == pytest.approx((2 + 4) * 3600)


def test_negative_leakage_is_flagged_not_shown():
    nights = pd.date_range("2016-07-04", periods=7, freq="D").date
    t = pd.DataFrame({"dma": "DMA-9", "night": nights, "mnf_l_s": 10.0, "night_use_l_s": 12.0,
                      "nnf_l_s": -2.0, "leakage_m3_day": -2.0 * 24 * 3.6})
    t.attrs.update({"scada_step_s": 3600.0, "flow_reading": "instantaneous",
                    "zones": {"DMA-9": {"has_tank": True, "connections": 100,
                                        "connections_estimated": 80}}})
    (f,) = night_flow_findings(t)
    assert f == Finding("negative_leakage", "DMA-9", f.reason)
    for part in ("leakage -173 m³/day < 0", "12.0 L/s exceeds the minimum night flow 10.0",
                 "tanks filling at night", "60-min snapshots",
                 "(80 of 100 connections without reads"):
        assert part in f.reason, f.reason
    assert night_flow_findings(t.assign(leakage_m3_day=5.0)) == []
    # negative over the first week only (the last week positive): flagged, naming the window
    fortnight = pd.concat([t, t.assign(night=nights + pd.Timedelta("7D"), leakage_m3_day=5.0)],
                          ignore_index=True)
    fortnight.attrs = t.attrs
    (f,) = night_flow_findings(fortnight)
    assert "median of the first 7 nights" in f.reason, f.reason


def _leaks_and_run(city, start: str, days: int):
    """The generator's leaks of a build from ``start`` and its EPANET run (the truth)."""
    from twin.synthetic import faults as flt
    from twin.synthetic.measurements import simulate_water, study_period

    period = study_period(city.recipe.year, city.timezone, start, days)
    by_dma = {}
    for j in city.demand_junctions:
        by_dma.setdefault(city.dmas[j], []).append(j)
    leaks = flt.draw_leaks(np.random.default_rng([city.recipe.seed, 7]), by_dma,
                           len(period.hours))
    return period, by_dma, leaks, simulate_water(city, leaks, period)


@pytest.fixture(scope="module")
def sample_truth(city, sample_raw):
    """True real losses of the conftest build per hour and DMA [m³]: its leaks' emitter
    volumes plus the background leakage before the customers' meters."""
    from conftest import SAMPLE_BUILD

    from twin.synthetic.measurements import WATER_BACKGROUND_LEAKAGE_SHARE

    period, by_dma, leaks, w = _leaks_and_run(city, SAMPLE_BUILD["start"], SAMPLE_BUILD["days"])
    faults = pd.read_csv(sample_raw / "truth" / "faults.csv")
    assert sorted(faults[faults.kind == "leak"].series_id.astype(str)) == sorted(
        leaks.series_id.astype(str))  # the same leaks as the build
    out = {}
    for dma, junctions in by_dma.items():
        mine = [j for j in leaks.series_id if city.dmas[j] == dma]
        out[dma] = (w["leak_m3s"][mine].sum(axis=1).to_numpy() + WATER_BACKGROUND_LEAKAGE_SHARE
                    * w["demand_m3s"][junctions].sum(axis=1).to_numpy()) * 3600
    return pd.DataFrame(out, index=period.hours)


@pytest.mark.parametrize("first_day, days", [(0, 21), (0, 7), (7, 7), (14, 7)])
def test_sample_city_balance_is_never_negative(city, sample_store, sample_truth, first_day,
                                               days):
    """The generator's boundary flows are its meters' hourly means and its customers'
    meters sit after the background leakage, so its own balance closes: real losses > 0 in
    every DMA, equal to the true ones to 0.5 % of SIV.
    Before: hourly samples put DMA-3's input 7.4 thousand m³ (2.7 %) low over these three
    weeks, and billed use equalled delivered use, so real losses came out below 0."""
    from twin.water.balance import BalanceParameters

    a = pd.Timestamp("2016-07-04 04:00", tz="UTC") + pd.Timedelta(days=first_day)
    b = a + pd.Timedelta(days=days)
    t = balance_from_store(sample_store, city, a, b, MEASURED_ONLY)
    assert t.attrs["findings"] == [] and (t["flags"] == "").all()
    assert (t.real_losses_m3 > 0).all(), t.real_losses_m3
    a1, b1 = pd.Timestamp(t.attrs["start"]), pd.Timestamp(t.attrs["end"])
    # the store's first read gives no volume: the balance starts an hour later (read timing);
    # the SCADA's last hour is 03:00 UTC of 25 July
    assert a1 == a + pd.Timedelta(hours=int(first_day == 0))
    assert b1 == min(b, pd.Timestamp("2016-07-25 03:00", tz="UTC"))
    truth = sample_truth[(sample_truth.index >= a1) & (sample_truth.index < b1)].sum()
    dmas = list(truth.index)
    err = (t.loc[dmas, "real_losses_m3"] - truth) / t.loc[dmas, "siv_m3"]
    assert err.abs().max() < 0.005, err
    # the AWWA default unmeasured terms (3.8 % of SIV) exceed what this city loses: said so
    default = balance_from_store(sample_store, city, a, b, BalanceParameters(),
                                 pressure_m=t["pressure_m"])
    found = default.attrs["findings"]
    assert {f.kind for f in found} == {"assumed_terms_above_nrw"} and CITY in {
        f.element for f in found}
    assert (default.real_losses_m3[default["flags"] == ""] >= 0).all()


@pytest.mark.parametrize("start", ["2016-01-11", "2016-03-21"])
def test_generator_hourly_boundary_volumes_close_on_use_leaks_and_storage(city, start):
    """Other three-week windows of the year: the generator's DMA inflow (hourly means) less
    its tanks' filling is its customers' use plus its leaks, to the litre per hour, so the
    balance it makes is never negative; hourly samples of the same run are off by up to
    thousands of m³."""
    from twin.water.dma import net_inflow_l_s

    period, by_dma, leaks, w = _leaks_and_run(city, start, 21)
    meters = city.dma_meters
    flows = (w["meter_flow_m3s"][list(meters.link.astype(str))] * 1000).set_axis(
        list(meters.meter_id), axis=1).set_axis(period.hours)
    n = len(period.hours) - 1
    levels = w["pressure_m"][city.wn.tank_name_list].iloc[[0, n]]
    siv = system_input_m3(flows, meters, levels, city.wn, city.dmas, "mean")
    samples = (w["flow_m3s"][list(meters.link.astype(str))] * 1000).set_axis(
        list(meters.meter_id), axis=1).set_axis(period.hours)
    sampled = system_input_m3(samples, meters, levels, city.wn, city.dmas, "instantaneous")
    use = w["demand_m3s"].iloc[:n] * 3600
    leak = w["leak_m3s"].iloc[:n].sum() * 3600
    for dma, junctions in by_dma.items():
        true_use = use[junctions].to_numpy().sum()
        true_leak = sum(leak[j] for j in leaks.series_id if city.dmas[j] == dma)
        assert siv[dma] - true_use == pytest.approx(true_leak, abs=1.0)
        assert siv[dma] - true_use >= 0
    assert (sampled - siv).abs().max() > 500  # m³: what hourly samples would have missed
    q = net_inflow_l_s(flows, meters)
    assert q.notna().all().all()


def test_outage_minimum_below_the_limit_comes_with_its_low_junctions(city):
    """A DMA whose junction is at −11 m in the outage run and −0.7 m without it: the table
    counts it low in the base, and the finding says it is not lost to the outage."""
    import xarray as xr

    from twin.coupling import outage_pressure_findings, pressure_loss_by_dma

    nodes = ["a", "b", "c"]
    zones = pd.Series({"a": "DMA-1", "b": "DMA-1", "c": "DMA-2"})

    def run(p):
        return xr.Dataset({"pressure_m": (("time", "node"), np.array(p, dtype=float))},
                          coords={"time": [0, 3600], "node": nodes})

    base = run([[30, -0.7, 30], [30, 25, 30]])
    out = run([[30, -11.3, 30], [30, 25, 15]])
    t = pressure_loss_by_dma(base, out, zones, nodes, 20.0).set_index("dma")
    assert t.loc["DMA-1", ["junctions_low", "junctions_low_in_base", "junctions_negative"]
                 ].tolist() == [0, 1, 1]
    assert t.loc["DMA-2", "junctions_low"] == 1  # 15 m only in the outage
    (f,) = outage_pressure_findings(t.reset_index(), 20.0)
    assert f.kind == "low_without_outage" and f.element == "DMA-1"
    assert "minimum -11.3 m at b (base -0.7 m)" in f.reason and "below 0 m" in f.reason


def test_negative_missing_energy_is_a_surplus_not_missing():
    from twin.electric.meter_anomaly import missing_energy_findings

    s = pd.DataFrame({"meter_id": ["EM1", "EM2", "EM3"], "flagged": [True, True, False],
                      "missing_kwh": [-250.0, 300.0, -40.0], "ratio_after": [1.3, 0.4, 1.1],
                      "change_day": pd.to_datetime(["2016-07-10"] * 3),
                      "reason": ["zero readings", "step down (theft-like)", "low"]})
    (f,) = missing_energy_findings(s)
    assert f.kind == "negative_missing_energy" and f.element == "EM1"
    assert "recorded 250 kWh more than its peers' expectation since 2016-07-10" in f.reason
    assert "not missing energy" in f.reason and "flagged for 'zero readings'" in f.reason
    (g,) = missing_energy_findings(s.assign(reason="step down (theft-like)"))
    assert "use stepped up" in g.reason


def test_short_qsts_is_said_clipped_and_never_replaces_the_years_result(tmp_path, monkeypatch):
    """Three days from 31 December: one day is left, the run says so in one line, saves to
    a file named by its period (not the year's qsts.nc), and violations names the period
    it read."""
    from typer.testing import CliRunner

    from twin import config
    from twin.cli import app

    profiles = config.data_dir() / "profiles"
    if profiles.exists():
        (tmp_path / "profiles").symlink_to(profiles.resolve())
    monkeypatch.setenv(config.DATA_DIR_ENV, str(tmp_path))
    runner = CliRunner()
    year = tmp_path / "results" / "qsts.nc"
    res = runner.invoke(app, ["electric", "qsts", "--start", "2016-12-31", "--days", "3"])
    assert res.exit_code == 0, res.output
    assert "! --days 3 clipped to 1 days (2016-12-31 to 2016-12-31)" in res.output
    saved = tmp_path / "results" / "qsts_2016-12-31_2016-12-31.nc"
    assert saved.exists() and not year.exists()
    # a result of another period at an explicit --out is replaced, and it is said
    year.write_bytes(saved.read_bytes())
    other = runner.invoke(app, ["electric", "qsts", "--start", "2016-12-30", "--days", "1",
                                "--out", str(year)])
    assert other.exit_code == 0, other.output
    assert "held the QSTS of 2016-12-31 to 2016-12-31: replaced" in " ".join(
        other.output.split())
    read = runner.invoke(app, ["electric", "violations", "--top", "1"])
    assert read.exit_code == 0, read.output
    assert "QSTS of 2016-12-30 to 2016-12-30 (96 steps)" in " ".join(read.output.split())
