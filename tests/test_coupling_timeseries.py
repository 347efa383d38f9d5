"""Pump power over time for the electric QSTS, and the pump-outage what-if."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from twin import coupling as cp
from twin.cli import app
from twin.electric.qsts import run_qsts
from twin.water.hydraulics import MIN_SERVICE_PRESSURE_M, results_dataset, run_epanet


@pytest.fixture(scope="module")
def eps(city):
    return results_dataset(run_epanet(city.wn, 24 * 3600, 3600))


def test_pump_power_by_hand(city, eps):
    power = cp.pump_power_series_kw(city.wn, eps, city.pumps)
    assert list(power.columns) == list(city.pumps.pump.astype(str))
    for row in city.pumps.itertuples():
        link = city.wn.get_link(str(row.pump))
        for t in (0, 5 * 3600, 12 * 3600):
            q = float(eps.flow_m3s.sel(link=str(row.pump), time=t))
            h = float(eps.head_m.sel(node=link.end_node_name, time=t)
                      - eps.head_m.sel(node=link.start_node_name, time=t))
            hand = 1000.0 * 9.80665 * max(q, 0) * max(h, 0) / row.efficiency / 1000.0
            assert power.loc[t, str(row.pump)] == pytest.approx(hand, rel=1e-12, abs=1e-12)
    on = eps.flow_m3s.sel(link="335").to_numpy() > 1e-6
    assert (power["335"].to_numpy()[~on] == 0).all() and (power["335"].to_numpy()[on] > 100).all()


def test_pump_profiles_load_the_pump_buses_in_qsts(city, eps):
    power = cp.pump_power_series_kw(city.wn, eps, city.pumps).iloc[[0, 6, 12]]
    times = pd.date_range("2016-07-14", periods=3, freq="6h", tz="UTC")
    power.index = times
    on = cp.pump_load_profiles(city.net, power)
    off = cp.pump_load_profiles(city.net, power * 0.0)
    loads = cp.pump_loads(city.net)
    assert list(on["load_p_mw"].columns) == loads.loc[power.columns].tolist()
    ratio = on["load_q_mvar"].to_numpy() / np.where(on["load_p_mw"] > 0, on["load_p_mw"], np.nan)
    np.testing.assert_allclose(ratio[np.isfinite(ratio)], np.tan(np.arccos(0.9)))
    r_on, r_off = run_qsts(city.net, on), run_qsts(city.net, off)
    for row in city.pumps.itertuples():
        dp = (r_on.p_mw - r_off.p_mw).sel(bus=row.bus).to_numpy()
        expected = power[str(row.pump)].to_numpy() / 1000.0
        if (city.pumps.bus == row.bus).sum() == 1:
            np.testing.assert_allclose(dp, expected, atol=1e-9)


def test_feeder_outage_stops_its_pump_and_drains_the_tanks(city):
    pump = "335"
    feeder = city.net.bus.feeder[int(city.pumps.set_index("pump").loc[pump, "bus"])]
    pumps = cp.pumps_fed_by(city.net, city.pumps, feeders=[feeder])
    assert pump in pumps
    start_h, hours = 20, 6  # pump 335 runs from about 22 h in the model's day
    base, out = cp.pump_outage_hydraulics(city.wn, pumps, start_h, hours, 48)
    t = out.time.to_numpy()
    window = (t >= start_h * 3600) & (t < (start_h + hours) * 3600)
    q_out = out.flow_m3s.sel(link=pump).to_numpy()
    q_base = base.flow_m3s.sel(link=pump).to_numpy()
    assert np.all(q_out[window] == 0) and q_base[window].max() > 0.5
    before = t < start_h * 3600
    np.testing.assert_allclose(out.pressure_m.to_numpy()[before],
                               base.pressure_m.to_numpy()[before], atol=1e-6)
    tanks = city.wn.tank_name_list
    lv_out = out.pressure_m.sel(node=tanks).to_numpy()
    lv_base = base.pressure_m.sel(node=tanks).to_numpy()
    end = np.flatnonzero(window)[-1]
    first = np.flatnonzero(window)[0]
    assert lv_out[end].sum() < lv_out[first].sum()  # the tanks fall without the pump
    assert lv_out[end].sum() < lv_base[end].sum() - 1.0
    assert q_out[~window & ~before].max() > 0.5  # the pump restarts after the window
    table = cp.pressure_loss_by_dma(base, out, city.dmas, city.wn.junction_name_list,
                                    MIN_SERVICE_PRESSURE_M)
    # the table again, straight from the two runs
    junctions = city.wn.junction_name_list
    p_o = out.pressure_m.sel(node=junctions).to_pandas()
    p_b = base.pressure_m.sel(node=junctions).to_pandas()
    low = (p_o < MIN_SERVICE_PRESSURE_M) & ~(p_b < MIN_SERVICE_PRESSURE_M)
    for r in table.itertuples():
        cols = [j for j in junctions if city.dmas[j] == r.dma]
        assert r.junctions_low == int(low[cols].any().sum())
        assert r.hours_low == float(low[cols].any(axis=1).sum())
        assert r.min_pressure_m == pytest.approx(float(p_o[cols].min().min()))
    assert table.junctions_low.sum() > 0


def test_outage_cli_and_bad_feeder(city):
    runner = CliRunner()
    r = runner.invoke(app, ["water", "outage", "--feeder", "F83", "--start",
                            "2016-07-14 20:00", "--hours", "6"])
    assert r.exit_code == 0, r.output
    assert "DMA-3" in r.output and "lose service pressure" in r.output
    r = runner.invoke(app, ["water", "outage", "--feeder", "F999"])
    assert r.exit_code == 2 and "F999" in r.output and "Traceback" not in r.output
    with pytest.raises(ValueError, match="no pump"):
        cp.pump_outage_hydraulics(city.wn, ["nope"], 1, 2, 10)
    with pytest.raises(ValueError, match="window"):
        cp.pump_outage_hydraulics(city.wn, ["335"], 9, 4, 10)
