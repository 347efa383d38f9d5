"""One power flow and one hydraulic snapshot, checked against independent solvers and formulas."""

from __future__ import annotations

import copy

import numpy as np
import pandapower as pp
import pandas as pd
import pytest
import wntr

from twin.city import load_city
from twin.config import city_dir
from twin.scenario import profiles_of, snapshot
from twin.timeutil import TimeError, parse_local_time

AT = "2016-07-14 18:00"


@pytest.fixture(scope="module")
def city():
    return load_city()


@pytest.fixture(scope="module")
def snap(city):
    return snapshot(city, AT)


def test_power_flow_matches_plain_pandapower(city, snap):
    """Rebuild the case by hand from the committed net and the profile files; solve with runpp."""
    net = pp.from_json(str(city_dir() / "electric_net.json"))
    at_utc = pd.Timestamp(AT, tz="America/New_York").tz_convert("UTC")
    profiles = profiles_of(city)
    for table, column, name in [("load", "p_mw", "load_p_mw"), ("load", "q_mvar", "load_q_mvar"),
                                ("sgen", "p_mw", "sgen_p_mw")]:
        row = profiles[name].loc[at_utc]
        net[table].loc[row.index, column] = row.to_numpy()
    for pump, kw in snap.pumps.power_kw.items():
        idx = net.load.index[net.load.name == f"pump {pump}"][0]
        net.load.loc[idx, ["p_mw", "q_mvar"]] = [kw / 1000, kw / 1000 * np.tan(np.arccos(0.9))]
    pp.runpp(net, numba=False)
    vm = snap.electric.vm_pu.to_series()
    np.testing.assert_allclose(vm, net.res_bus.vm_pu.loc[vm.index], atol=1e-9)
    loading = snap.electric.line_loading_percent.to_series()
    np.testing.assert_allclose(loading, net.res_line.loading_percent.loc[loading.index], atol=1e-6)
    # the demand that was solved is the SimBench profile value, not the nominal one
    assert net.res_load.p_mw.sum() == pytest.approx(snap.summary["load_mw"], rel=1e-9)


def test_energy_balance_closes(snap):
    s = snap.summary
    assert s["grid_import_mw"] + s["generation_mw"] == pytest.approx(
        s["load_mw"] + s["losses_mw"], abs=1e-6)
    assert 0 < s["losses_mw"] < 0.05 * s["load_mw"]


def test_hydraulics_match_wntr_own_solver(city, snap):
    """EPANET (the twin's engine) against WNTR's Python solver on the same day to 18:00."""
    wn = copy.deepcopy(city.wn)
    wn.options.time.duration = 18 * 3600
    wn.options.time.hydraulic_timestep = 900
    wn.options.time.report_timestep = 900
    ref = wntr.sim.WNTRSimulator(wn).run_sim().node["pressure"].iloc[-1]
    mine = snap.water.pressure_m.to_series()
    junctions = city.demand_junctions
    np.testing.assert_allclose(mine[junctions], ref[junctions], atol=1e-2)


def test_pump_power_is_rho_g_q_h_over_eta(city):
    night = snapshot(city, "2016-01-14 03:00")
    heads = night.water.head_m.to_series()
    running = night.pumps[night.pumps.flow_m3s > 1e-6]
    assert len(running) >= 1
    for name, row in running.iterrows():
        link = city.wn.get_link(name)
        head = heads[link.end_node_name] - heads[link.start_node_name]
        eta = city.pumps.set_index("pump").efficiency[name]
        assert row.power_kw == pytest.approx(1000 * 9.80665 * row.flow_m3s * head / eta / 1000)
    # the pump's power is load on its bus in the power flow
    assert night.summary["pump_kw"] == pytest.approx(running.power_kw.sum())


def test_violations_follow_the_limits(city):
    tight = snapshot(city, AT, min_pressure_m=40.0, voltage_band_pu=(0.95, 1.03))
    v = tight.violations
    assert {"overvoltage", "low pressure"} <= set(v.kind)
    p = tight.water.pressure_m.to_series()[city.demand_junctions]
    assert set(v.loc[v.kind == "low pressure", "element"]) == set(p.index[p < 40.0])
    vm = tight.electric.vm_pu.to_series()
    assert set(v.loc[v.kind == "overvoltage", "element"]) == set(vm.index[vm > 1.03])


@pytest.mark.parametrize("text, fragment", [
    ("2017-07-14 18:00", "outside the city's year"),
    ("tomorrow-ish", "is not a time"),
    ("2016-03-13 02:30", "does not exist or is ambiguous"),
    ("2016-11-06 01:30", "does not exist or is ambiguous"),
])
def test_bad_times_are_refused_clearly(city, text, fragment):
    with pytest.raises(TimeError, match=fragment):
        snapshot(city, text)


def test_local_time_with_offset_is_accepted():
    assert parse_local_time("2016-11-06 01:30-05:00", "America/New_York") == pd.Timestamp(
        "2016-11-06 06:30", tz="UTC")
    assert parse_local_time("2016-07-14 18:00", "America/New_York") == pd.Timestamp(
        "2016-07-14 22:00", tz="UTC")
