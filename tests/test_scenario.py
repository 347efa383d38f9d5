"""Scenarios: schema and files, the coupled runner against independent references."""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from twin.coupling import pump_load_profiles, pump_loads, pump_power_series_kw
from twin.electric.qsts import run_qsts
from twin.scenario import (
    Scenario,
    ScenarioError,
    ScenarioFileError,
    open_result,
    parse_scenarios,
    prepare,
    profiles_of,
    run_scenario,
    scenario_yaml,
)
from twin.water.hydraulics import simulate

DAY = "2016-07-14"


def one(text: str) -> Scenario:
    return parse_scenarios(text)[0]


@pytest.fixture(scope="module")
def base_day(city):
    s = one(f"name: base\nbase: {{start: {DAY}, days: 1, hosting_capacity: false}}\n")
    return run_scenario(city, s)


def test_no_changes_reproduce_the_base_exactly(city, base_day):
    """The engines called directly, without the scenario layer, give the same numbers."""
    profiles = profiles_of(city)
    start = pd.Timestamp(DAY) + pd.Timedelta(hours=5)  # local standard midnight in UTC
    times = pd.date_range(start.tz_localize("UTC"), periods=96, freq="15min")
    water = simulate(city.wn, 86400, 3600, pressure_driven=True, required_pressure_m=20.0)
    power = pump_power_series_kw(city.wn, water, city.pumps)
    power.index = times[0] + pd.to_timedelta(power.index, unit="s")
    pumps = pump_load_profiles(city.net, power.reindex(times, method="ffill"))
    prof = {k: v.loc[times] for k, v in profiles.items()}
    for k, v in pumps.items():
        prof[k] = pd.concat([prof[k], v], axis=1)
    ds = run_qsts(city.net, prof)
    got = base_day.dataset.isel(scenario=0)
    np.testing.assert_array_equal(got.vm_pu.values, ds.vm_pu.values.astype(np.float32))
    np.testing.assert_array_equal(got.pressure_m.sel(node=list(city.wn.junction_name_list)).values,
                                  water.pressure_m.sel(node=city.wn.junction_name_list).values
                                  .astype(np.float32))
    losses = (ds.line_pl_mw.sum("line") + ds.trafo_pl_mw.sum("trafo")).values
    assert base_day.metrics.value["losses_mwh"] == pytest.approx(losses.sum() * 0.25, rel=1e-12)
    # import from the slack equals load - generation + losses (power balance)
    load = prof["load_p_mw"].sum(axis=1).to_numpy()
    gen = prof["sgen_p_mw"].sum(axis=1).to_numpy()
    np.testing.assert_allclose(got.grid_import_mw.values, load - gen + losses, atol=1e-6)


def test_neutral_changes_give_the_base_metrics(city, base_day):
    s = one(f"""
name: neutral
base: {{start: {DAY}, days: 1, hosting_capacity: false}}
changes:
  - {{type: load_growth, percent_per_year: 0, years: 10}}
  - {{type: ev, share: 0}}
  - {{type: water_demand, factor: 1.0}}
""")
    r = run_scenario(city, s)
    pd.testing.assert_series_equal(r.metrics.value, base_day.metrics.value, rtol=1e-9)


def test_yaml_round_trip_keeps_the_hash(tmp_path, city):
    s = one(f"""
name: mixed
base: {{start: {DAY}, days: 2}}
changes:
  - {{type: heatwave, start: {DAY}, days: 1, delta_c: 4}}
  - {{type: outage, kind: feeder, element: F83, start: "{DAY} 17:00", hours: 6}}
  - {{type: ev, share: 0.3, charger_kw: 11}}
""")
    again = one(scenario_yaml(s))
    assert again == s and again.hash == s.hash


@pytest.mark.parametrize("text, expected", [
    ("name: x\nchanges:\n  - {type: evs, share: 0.1}\n", r"<text>:3: changes.0: unknown change "
     r"type 'evs'; allowed: .*ev"),
    ("name: x\nchanges:\n  - type: ev\n    share: 1.4\n", r"<text>:4: changes.0.ev.share: "
     r"Input should be less than or equal to 1"),
    ("name: x\nchanges:\n  - type: ev\n    colour: red\n", r"<text>:4: changes.0.ev.colour: "
     r"unknown field"),
    ("name: x\nbase:\n  step_min: 20\n", r"<text>:3: base.step_min: step_min 20 must be a "
     r"multiple of 15"),
    ("name: x\nchanges: [{type: ev}]\nsweep:\n  grid: {ev.share: [0, 0.1, 0.2, 0.3, 0.4, 0.5, "
     "0.6, 0.7, 0.8, 0.9, 1.0], ev.charger_kw: [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, "
     "16, 17, 18, 19, 20, 21, 22, 23, 24, 25]}\n", r"<text>:4: sweep.grid makes 253"),
])
def test_file_mistakes_name_line_field_and_what_is_allowed(text, expected):
    if "253" in expected:  # 11 x 23 = 253 fits; one more value does not
        text = text.replace("25]}", "25, 26]}")
        expected = r"<text>:4: sweep.grid makes 264 scenarios \(11 x 24\), more than the limit"
    with pytest.raises(ScenarioFileError, match=expected):
        parse_scenarios(text)


def test_sweep_grid_expands_every_combination():
    out = parse_scenarios("""
name: s
changes: [{type: ev, share: 0.1}, {type: rooftop_pv, id: pv, share: 0.4}]
sweep:
  grid: {ev.share: [0, 0.2], pv.share: [0.4, 0.6]}
""")
    assert [(s.change("ev").share, s.change("pv").share) for s in out] == [
        (0, 0.4), (0, 0.6), (0.2, 0.4), (0.2, 0.6)]
    assert len({s.hash for s in out}) == 4
    assert out[0].name == "s[ev.share=0,pv.share=0.4]"


@pytest.mark.parametrize("change, expected", [
    ("{type: outage, kind: feeder, element: F999}", r"no feeder 'F999'; feeders are \['F0'"),
    ("{type: water_demand, dmas: [DMA-9]}", r"no DMA \['DMA-9'\]; DMAs are \['DMA-1'"),
    ("{type: outage, kind: pump, element: P1}", r"no pump 'P1' in the water network"),
    ("{type: leak, junction: J0, flow_l_s: 1}", r"no junction 'J0'"),
    ("{type: battery, bus: 9999}", r"no bus 9999"),
    ("{type: outage, kind: line, element: 5, start: '2016-08-01 10:00'}",
     r"start 2016-08-01 10:00:00 is outside the scenario's period"),
])
def test_elements_the_city_lacks_are_named(city, change, expected):
    s = one(f"name: bad\nbase: {{start: {DAY}, days: 1}}\nchanges:\n  - {change}\n")
    with pytest.raises(ScenarioError, match=expected):
        prepare(city, s)


def test_period_outside_the_year(city):
    with pytest.raises(ScenarioError, match="ends after the city's year"):
        prepare(city, one("name: late\nbase: {start: 2016-12-30, days: 5}\n"))
    with pytest.raises(ScenarioError, match="outside the city's year 2016"):
        prepare(city, one("name: early\nbase: {start: 2015-12-30, days: 2}\n"))


def test_feeder_outage_matches_runpp_and_stops_the_pump(city, tmp_path):
    pump_bus = int(city.pumps.set_index("pump").loc["335", "bus"])
    feeder = city.net.bus.feeder[pump_bus]
    s = one(f"""
name: outage
base: {{start: {DAY}, days: 1, hosting_capacity: false}}
changes:
  - {{type: outage, kind: feeder, element: {feeder}, start: "{DAY} 17:00", hours: 6}}
""")
    r = run_scenario(city, s)
    path = r.save(tmp_path)
    again = open_result(path)
    assert again.scenario == s and again.metrics.value.equals(r.metrics.value)
    ds = again.dataset.isel(scenario=0)
    study = prepare(city, s)
    t0 = pd.Timestamp(f"{DAY} 17:00", tz=city.timezone).tz_convert("UTC").tz_localize(None)
    out_buses = city.net.bus.index[city.net.bus.feeder == feeder]
    # the pump on the feeder draws nothing in the window; energy not supplied is the feeder's load
    window = (ds.time.values >= np.datetime64(t0)) & (
        ds.time.values < np.datetime64(t0 + pd.Timedelta(hours=6)))
    pump_w = ds.pump_kw.sel(pump="335").to_series()
    assert (pump_w[(pump_w.index >= t0) & (pump_w.index < t0 + pd.Timedelta(hours=6))] == 0).all()
    assert np.isnan(ds.vm_pu.sel(bus=out_buses).values[window]).all()
    assert r.metrics.value["customers_interrupted"] == (
        city.customers.bus.isin(out_buses).sum())
    # sampled steps against pandapower's own power flow on the modified net, pumps as loaded
    for k in np.flatnonzero(window)[::8]:
        t = pd.Timestamp(ds.time.values[k]).tz_localize("UTC")
        net = city.electric_copy()
        net.bus.loc[out_buses, "in_service"] = False
        for table, col, name in (("load", "p_mw", "load_p_mw"), ("load", "q_mvar", "load_q_mvar"),
                                 ("sgen", "p_mw", "sgen_p_mw")):
            row = study.profiles[name].loc[t]
            net[table].loc[row.index, col] = row.to_numpy()
        for name, load in pump_loads(net).items():
            kw = float(ds.pump_kw.sel(pump=name).to_series().loc[:t.tz_localize(None)].iloc[-1])
            net.load.loc[load, ["p_mw", "q_mvar"]] = [kw / 1e3, kw / 1e3 * np.tan(np.arccos(0.9))]
        pp.runpp(net, calculate_voltage_angles=True, tolerance_mva=1e-10)
        np.testing.assert_allclose(ds.vm_pu.values[k], net.res_bus.vm_pu.to_numpy(), atol=2e-7)


def test_steps_that_do_not_converge_are_flagged_not_filled(city):
    """A 70 MW load following a load's daily shape breaks the power flow at its peak hours
    only: those steps are flagged and NaN, the metrics come from the others."""
    s = one(f"""
name: too-much
base: {{start: {DAY}, days: 1, hosting_capacity: false}}
changes:
  - {{type: new_load, bus: 90, p_mw: 70, like_load: 1}}
""")
    r = run_scenario(city, s)
    ds = r.dataset.isel(scenario=0)
    ok = ds.converged.values
    assert 0 < (~ok).sum() < len(ok)
    assert np.isnan(ds.vm_pu.values[~ok]).all() and np.isfinite(ds.vm_pu.values[ok][:, 2:]).all()
    assert r.metrics.value["steps_not_converged"] == (~ok).sum()
    assert r.metrics.value["losses_mwh"] == pytest.approx(
        np.nansum(ds.losses_mw.values[ok]) * 0.25, rel=1e-12)


def test_a_cancelled_run_stops(city):
    from twin.scenario import ScenarioCancelled

    stages = []
    with pytest.raises(ScenarioCancelled, match="cancelled at water"):
        run_scenario(city, one(f"name: c\nbase: {{start: {DAY}, days: 1}}\n"),
                     progress=lambda st, d, n: stages.append(st),
                     cancel=lambda: len(stages) >= 1)
    assert stages == ["changes"]
