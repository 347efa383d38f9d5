"""The library behind the dashboard's pages, against independent references.

The day around a time (:mod:`twin.timeline`) against pandapower's own Newton-Raphson at sampled
steps; a DMA's inflow against EPANET's mass balance; the what-if knobs through the scenario
schema and back; customers affected against the scenario layer's own interruption count; the
privacy of the NTL tables against the aggregation rules by hand.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from twin.coupling import set_pump_power
from twin.electric import powerflow
from twin.electric.feeder_series import feeder_names, feeder_series
from twin.electric.losses import line_feeders
from twin.electric.ntl_report import publishable_feeder_balance, suspicious_meters
from twin.ingest.privacy import pseudonymise
from twin.scenario import (
    ScenarioFileError,
    parse_scenarios,
    profiles_of,
    run_scenario,
    scenario_yaml,
)
from twin.scenario_impact import customers_affected, element_differences, metric_table
from twin.timeline import base_timeline, window_bounds
from twin.timeutil import TimeError
from twin.water.zone_series import dma_series, tank_levels_m
from twin.whatif import WhatIfKnobs, base_scenario, knobs_scenario

AT = "2016-07-14 18:00"


@pytest.fixture(scope="module")
def day(city):
    return base_timeline(city, profiles_of(city), AT, 1)


def test_window_bounds_are_local_days_inside_the_year(city):
    index = profiles_of(city)["load_p_mw"].index
    a, b = window_bounds("2016-03-13 12:00", city.timezone, 1, index)  # spring forward
    assert (b - a) == pd.Timedelta(hours=23)
    assert a.tz_convert(city.timezone).hour == 0
    a, b = window_bounds("2016-01-01 05:00", city.timezone, 7, index)  # moved inside the year
    assert a >= index[0] and (b - a) >= pd.Timedelta(days=7) - pd.Timedelta(hours=1)
    with pytest.raises(TimeError, match="outside"):
        window_bounds("2017-05-01 00:00", city.timezone, 1, index)
    with pytest.raises(TimeError, match="1 to 31"):
        window_bounds(AT, city.timezone, 40, index)


@pytest.mark.parametrize("hour", [3, 18])
def test_timeline_equals_pandapower_at_sampled_steps(city, day, hour):
    """QSTS of the window, with the EPS's pump power, against runpp of the same state."""
    t = pd.Timestamp(f"2016-07-14 {hour:02d}:00", tz=city.timezone).tz_convert("UTC")
    net = city.electric_copy()
    powerflow.apply_profiles(net, profiles_of(city), t)
    set_pump_power(net, day.pump_kw.loc[t])
    pp.runpp(net, calculate_voltage_angles=True, init="dc", tolerance_mva=1e-10)
    step = day.electric.sel(time=t.tz_localize(None))
    assert np.allclose(step.vm_pu.to_numpy(), net.res_bus.vm_pu.to_numpy(), atol=1e-6)
    feeder = feeder_names(city.net)[2]
    f = feeder_series(day.electric, city.net, feeder).loc[t]
    lines = line_feeders(city.net) == feeder
    assert f.loading_max_percent == pytest.approx(
        net.res_line.loading_percent[lines].max(), abs=1e-4)
    buses = net.bus.feeder == feeder
    assert f.vm_min_pu == pytest.approx(net.res_bus.vm_pu[buses].min(), abs=1e-6)
    if hour == 3:
        assert day.pump_kw.loc[t].sum() > 0  # a night with pumps running is coupled


def test_dma_inflow_closes_epanets_mass_balance(city, day):
    """Net inflow of a DMA equals the demand of its nodes, tanks filling included."""
    demand = day.water["demand_m3s"].to_pandas() * 1000.0  # time × node [L/s]
    for dma in sorted(z for z in set(city.dmas) if z.startswith("DMA")):
        d = dma_series(day.water, city.dma_meters, city.dmas, city.demand_junctions, dma,
                       day.start_utc)
        nodes = [n for n in demand.columns if city.dmas.get(n) == dma]
        assert np.allclose(d.inflow_l_s.to_numpy(), demand[nodes].sum(axis=1).to_numpy(),
                           atol=1e-3), dma
        assert (d.pressure_min_m <= d.pressure_mean_m).all()
    levels = tank_levels_m(day.water, city.wn, day.start_utc)
    pressure = day.water["pressure_m"].sel(node=city.wn.tank_name_list).to_numpy()
    assert np.allclose(levels.to_numpy(), pressure, atol=1e-3)  # EPANET: tank pressure = level
    with pytest.raises(KeyError, match="no DMA 'DMA-9'"):
        dma_series(day.water, city.dma_meters, city.dmas, city.demand_junctions, "DMA-9",
                   day.start_utc)


def test_knobs_make_a_scenario_that_reads_back_the_same():
    knobs = WhatIfKnobs(start=date(2016, 7, 14), days=1, ev_share_percent=30,
                        pv_share_percent=40, heatwave_days=2, outage_kind="line",
                        outage_element="5", leak_junction="15", leak_flow_l_s=4.0,
                        drought_restriction_percent=20, pump_out="10")
    s = knobs_scenario(knobs)
    again = parse_scenarios(scenario_yaml(s), "saved")[0]
    assert again.hash == s.hash
    assert {c.type for c in s.changes} == {"ev", "rooftop_pv", "heatwave", "outage", "leak",
                                            "water_demand"}
    assert s.change("drought").factor == pytest.approx(0.8)
    assert s.change("outage").element == 5 and s.change("pump-out").element == "10"
    assert base_scenario(s).changes == [] and base_scenario(s).base == s.base


@pytest.mark.parametrize(("knobs", "message"), [
    ({"ev_share_percent": 120}, "EV share 120 %: give 0 to 100 %"),
    ({"drought_restriction_percent": -5}, "drought restriction -5 %"),
    ({"outage_kind": "line", "outage_element": "five"}, "give the line's index"),
    ({"outage_kind": "line"}, "needs both"),
    ({"heatwave_days": -2}, "heatwave.days"),
    ({"days": 400}, "base.days"),
])
def test_bad_knobs_are_named(knobs, message):
    with pytest.raises(ScenarioFileError, match=message.replace(".", r"\.")):
        knobs_scenario(WhatIfKnobs(start=date(2016, 7, 14), **knobs))


def test_customers_affected_agree_with_the_scenario_layer(city):
    knobs = WhatIfKnobs(start=date(2016, 7, 14), days=1, outage_kind="feeder",
                        outage_element="F15")
    s = knobs_scenario(knobs)
    base, result = run_scenario(city, base_scenario(s)), run_scenario(city, s)
    affected = customers_affected(result, city)
    assert affected.loc["all", "without_electricity"] == \
        result.metrics.value["customers_interrupted"] > 0
    on_f15 = city.customers[city.customers.feeder == "F15"]
    assert affected.loc["all", "without_electricity"] == len(on_f15)
    for cls, n in on_f15.customer_class.value_counts().items():
        assert affected.loc[cls, "without_electricity"] == n
    table = metric_table(base, result).set_index("metric")
    assert table.loc["energy_not_supplied_mwh", "delta"] > 0
    assert np.allclose(table.scenario - table.base, table.delta, equal_nan=True)
    same = element_differences(base, base)
    assert all((d.delta.dropna() == 0).all() for d in same.values())
    diff = element_differences(base, result)
    dead = city.net.bus.index[city.net.bus.feeder == "F15"]
    assert diff["bus"].loc[dead, "scenario"].isna().all()  # no voltage without supply


def test_ntl_tables_show_pseudonyms_and_withhold_small_groups():
    scores = pd.DataFrame({"meter_id": ["EM1", "EM2", "EM3"], "flagged": [True, False, True],
                           "rank": [2, 3, 1], "feeder": ["F1", "F1", "F2"],
                           "score": [6.0, 1.0, 9.0], "reason": ["zero", "", "step"],
                           "change_day": [None] * 3, "missing_kwh": [5.0, 0.0, 9.0]})
    key = "k" * 32
    shown = suspicious_meters(scores, key)
    assert list(shown.meter) == list(pseudonymise(["EM3", "EM1"], key))
    assert "meter_id" not in shown and not shown.astype(str).apply(
        lambda c: c.str.contains("EM")).any().any()
    customers = pd.DataFrame({
        "electric_meter_id": [f"M{i}" for i in range(105)],
        "customer_class": ["residential"] * 105,
        "feeder": ["F1"] * 100 + ["F2"] * 5})
    energy = pd.Series(1.0, index=customers.electric_meter_id)
    balance = pd.DataFrame({"head_mwh": [10.0, 2.0], "metered_mwh": [8.0, 1.5],
                            "estimated_mwh": [0.5, 0.1], "ntl_mwh": [1.0, 0.3],
                            "ntl_percent": [10.0, 15.0]}, index=["F1", "F2"])
    out, notes = publishable_feeder_balance(balance, customers, energy)
    assert out.loc["F1"].equals(balance.loc["F1"])  # 100 residential: may be shown
    assert out.loc["F2", ["metered_mwh", "ntl_mwh", "ntl_percent"]].isna().all()
    assert out.loc["F2", "head_mwh"] == 2.0  # SCADA at the feeder head is no customer's
    assert len(notes) == 1 and "'F2'" in notes[0] and "5 residential" in notes[0]
