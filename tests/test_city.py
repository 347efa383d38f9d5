"""The sample city loads, is consistent, and is rebuilt identically from its recipe."""

from __future__ import annotations

import filecmp

import numpy as np
import pandapower as pp
import pytest

from twin.city import (
    FILES,
    load_city,
    read_city,
    read_recipe,
    sample_city_dir,
    sample_recipe_path,
)
from twin.electric.network import feeders, honour_taps


@pytest.fixture(scope="module")
def city():
    return load_city()


def test_every_customer_maps_to_an_existing_load_and_junction(city):
    c = city.customers
    assert len(c) == read_recipe(sample_recipe_path()).customers
    assert c["load"].isin(city.net.load.index).all()
    assert (city.net.load.loc[c["load"], "bus"].to_numpy() == c["bus"].to_numpy()).all()
    assert c["junction"].isin(city.wn.junction_name_list).all()
    assert (city.dmas.loc[c["junction"]].to_numpy() == c["dma"].to_numpy()).all()
    # shares of a load's energy and of a junction's demand add up to one
    np.testing.assert_allclose(c.groupby("load").load_share.sum(), 1.0, atol=1e-4)
    np.testing.assert_allclose(c.groupby("junction").water_share.sum(), 1.0, atol=1e-4)
    # every demand in the water model is metered by somebody
    assert set(city.demand_junctions) == set(c["junction"])
    # meters are unique
    assert c.electric_meter_id.is_unique and c.water_meter_id.is_unique
    assert set(c.customer_class) == {"residential", "commercial", "industrial", "critical"}


def test_rooftop_pv_adds_up_to_the_grid_model(city):
    c = city.customers[city.customers.pv_kwp > 0]
    per_sgen = c.groupby("sgen").pv_kwp.sum() / 1000.0
    np.testing.assert_allclose(per_sgen, city.net.sgen.loc[per_sgen.index, "p_mw"], rtol=1e-3)
    assert (city.net.sgen.loc[c.sgen, "bus"].to_numpy() == c.bus.to_numpy()).all()


def test_every_pump_feeds_from_a_bus_with_its_rated_power(city):
    assert set(city.pumps.pump) == set(city.wn.pump_name_list)
    assert city.pumps.bus.isin(city.net.bus.index).all()
    pump_loads = city.net.load[city.net.load.profile == "pump"]
    for p in city.pumps.itertuples():
        load = pump_loads[pump_loads.name == f"pump {p.pump}"]
        assert len(load) == 1 and load.bus.iloc[0] == p.bus
        # P = rho g Q H / eta at the design point, by hand
        expected_kw = 1000 * 9.80665 * p.design_flow_m3s * p.design_head_m / p.efficiency / 1000
        assert load.p_mw.iloc[0] * 1000 == pytest.approx(expected_kw, rel=1e-6)
        assert p.rated_kw == pytest.approx(expected_kw, rel=1e-6)


def test_every_asset_maps_to_an_element(city):
    a = city.assets
    net, wn = city.net, city.wn
    tables = {
        "trafo": set(net.trafo.index.astype(str)), "line": set(net.line.index.astype(str)),
        "switch": set(net.switch.index.astype(str)), "load": set(net.load.index.astype(str)),
        "pipe": set(wn.pipe_name_list), "pump": set(wn.pump_name_list),
        "tank": set(wn.tank_name_list), "valve": set(wn.valve_name_list),
    }
    for row in a.itertuples():
        assert row.element in tables[row.element_table], row
    # every transformer, line, switch, pipe, pump, tank and valve is in the register
    for table, names in tables.items():
        if table == "load":
            continue
        assert names <= set(a.loc[a.element_table == table, "element"]), table
    assert a.asset_id.is_unique
    assert a.install_year.between(1880, 2030).all()


def test_dmas_are_bounded_by_flow_meters(city):
    zones = city.dmas
    assert zones.str.startswith("DMA").sum() == len(city.wn.junction_name_list) + len(
        city.wn.tank_name_list)
    metered = set(city.dma_meters.link)
    for name, link in city.wn.links():
        crosses = zones[link.start_node_name] != zones[link.end_node_name]
        assert crosses == (name in metered), name


def test_networks_share_one_frame(city):
    b, n = city.bus_xy, city.node_xy
    # the grid's drawing lies inside the water network's area
    assert b.x_m.min() >= n.x_m.min() - 1 and b.x_m.max() <= n.x_m.max() + 1
    assert b.y_m.min() >= n.y_m.min() - 1 and b.y_m.max() <= n.y_m.max() + 1


def test_transformer_taps_are_honoured(city):
    """No-load: the MV busbar sits at V_slack / (1 + tap_pos * step) (tap on the HV side)."""
    net = city.electric_copy()
    net.load.in_service = False
    net.sgen.in_service = False
    pp.runpp(net)
    t = net.trafo.iloc[0]
    assert t.tap_changer_type == "Ratio"
    ratio = 1 + t.tap_pos * t.tap_step_percent / 100
    expected = net.ext_grid.vm_pu.iloc[0] / ratio
    assert net.res_bus.vm_pu.at[t.lv_bus] == pytest.approx(expected, abs=2e-3)
    # ignoring the tap, as pandapower does for a SimBench net out of the box, is 0.015 off
    net.trafo["tap_changer_type"] = None
    pp.runpp(net)
    assert abs(net.res_bus.vm_pu.at[t.lv_bus] - expected) > 0.01
    honour_taps(net)
    assert (net.trafo.tap_changer_type == "Ratio").all()


def test_every_supplied_bus_has_one_feeder(city):
    f = feeders(city.net)
    assert (f == city.net.bus.feeder).all()
    assert "unsupplied" not in set(f)
    # a feeder is a connected set of buses
    assert f.str.startswith("F").sum() > 100


def test_city_rebuilds_identically_from_its_recipe(tmp_path, city):
    from twin.synthetic.city import build_city

    build_city(read_recipe(sample_recipe_path()), tmp_path)
    for name in FILES.values():
        assert filecmp.cmp(tmp_path / name, sample_city_dir() / name, shallow=False), name
    rebuilt = read_city(tmp_path)
    assert rebuilt.figures() == city.figures()

