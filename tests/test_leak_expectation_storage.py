"""The expected consumption of a DMA with a tank, read the way SCADA is read, across the
expectation's segments: each segment restarts its tank from the measured level, and the rate
its tank fills over a segment's last step must still be the simulation's own."""

import numpy as np
import pandas as pd
import pytest

STEP_S = 900.0
AREA_M2 = np.pi * 4.0**2  # tank of 8 m diameter
DAY = [0.5, 0.4, 0.4, 0.5, 0.7, 1.0, 1.4, 1.6, 1.4, 1.2, 1.1, 1.0,
       1.0, 1.0, 0.9, 0.9, 1.0, 1.2, 1.5, 1.6, 1.3, 1.0, 0.8, 0.6]


def _tank_dma(build):
    """Reservoir → pump → J1 → pipe A (the DMA's boundary meter) → J2 (a daily demand) → pipe
    B → tank T (``pump_tank_network``); the DMA is J2 and T."""
    wn = build(DAY)
    dmas = pd.Series({"J1": "source", "J2": "D", "T": "D"})
    meters = pd.DataFrame({"meter_id": ["FM"], "link": ["A"], "link_type": ["Pipe"],
                           "from_zone": ["source"], "to_zone": ["D"]})
    return wn, dmas, meters


@pytest.fixture(scope="module")
def expected_day(pump_tank_network):
    """A day at 15 min in 6-h segments; the pump runs as measured (3 h on, 3 h off in each
    segment) and SCADA's tank level is a flat 3 m, so every segment restarts the tank away
    from where the one before left it."""
    from twin.water import leak_expectation as exp

    wn, dmas, meters = _tank_dma(pump_tank_network)
    times = pd.date_range("2020-01-06", periods=96, freq="900s", tz="UTC")
    on = ((np.arange(96) % 24) < 12).astype(int)
    obs = exp.Observations(
        times=times, flow_l_s=pd.DataFrame(index=times), pressure_m=pd.DataFrame(index=times),
        tank_level_m=pd.DataFrame({"T": 3.0}, index=times),
        pump_power_kw=pd.DataFrame(index=times),
        use_m3=pd.DataFrame(index=times.floor("h").unique()),
        pump_status=pd.DataFrame({"P": on}, index=times))
    seconds = np.arange(96) * STEP_S
    run = exp.expected_hydraulics(wn, obs, np.ones(96), seconds, ["T"], segment_h=6,
                                  links=["A", "B"])
    return wn, dmas, meters, times, run


def test_storage_rate_at_every_step_is_the_flow_into_the_tank(expected_day):
    """EPANET's own flow into the tank through pipe B is the independent reference: the rate
    from the levels (volume from the tank's geometry) must equal it at every step, the last of
    each segment included; taken across the restart (the next row's level) it does not."""
    from twin.water import leak_residuals as rs

    wn, dmas, meters, times, run = expected_day
    level = run.pressure_m[["T"]]
    ends = run.tank_level_end_m
    assert list(ends.columns) == ["T"] and ends.index.equals(times)
    # the level at a step's end is the next step's start within a segment
    within = (np.arange(96) % 24) != 23
    assert np.allclose(ends["T"].to_numpy()[within], level["T"].to_numpy()[1:][within[:-1]],
                       atol=1e-6)
    rate = rs.storage_rate_l_s(level, wn, dmas, ["D"], level_end_m=ends)["D"].to_numpy()
    hand = AREA_M2 * (ends["T"].to_numpy() - level["T"].to_numpy()) / STEP_S * 1000.0
    into = run.flow_l_s["B"].to_numpy()
    assert np.allclose(rate, hand, atol=1e-6)
    assert np.abs(rate - into).max() < 0.01
    assert np.abs(into).min() > 1.0  # the tank fills and empties at every step
    # the way it was read before: across the restart at each segment's last step
    across = rs.storage_rate_l_s(level, wn, dmas, ["D"])["D"].to_numpy()
    last = np.flatnonzero(~within)[:-1]  # the last step of the day has no next row
    assert (np.abs(across[last] - into[last]) > 1.0).all()


def test_expected_consumption_is_the_demand_across_segments(expected_day):
    """The DMA's inflow less its tank's filling, read from the simulation, is J2's demand:
    base × the hour's multiplier, computed by hand, at every step."""
    from twin.water import leak_residuals as rs

    wn, dmas, meters, times, run = expected_day
    flow = run.flow_l_s[["A"]].set_axis(["FM"], axis=1)
    c = rs.measured_consumption_l_s(flow, run.pressure_m[["T"]], wn, meters, dmas,
                                    level_end_m=run.tank_level_end_m)["D"].to_numpy()
    demand = 4.0 * np.array([DAY[int(h)] for h in np.arange(96) * STEP_S / 3600.0])
    assert np.abs(c - demand).max() < 0.01


def test_storage_rate_from_measured_levels_and_given_ends():
    """Hand-computed: a cylinder of 50.27 m² whose level rises 0.09 m in 15 min fills at
    5.03 L/s; with the ends given, the last step has its own rate instead of the one before."""
    import wntr

    from twin.water import leak_residuals as rs

    wn = wntr.network.WaterNetworkModel()
    wn.add_tank("T", elevation=0.0, init_level=2.0, min_level=0.0, max_level=6.0,
                diameter=8.0)
    dmas = pd.Series({"T": "D"})
    t = pd.date_range("2020-01-06", periods=4, freq="900s", tz="UTC")
    level = pd.DataFrame({"T": [2.0, 2.09, 2.18, 2.0]}, index=t)
    rate = rs.storage_rate_l_s(level, wn, dmas, ["D", "E"])
    expect = AREA_M2 * 0.09 / 900.0 * 1000.0
    assert rate["D"].to_numpy()[:2] == pytest.approx([expect, expect], rel=1e-9)
    assert rate["D"].iloc[3] == pytest.approx(rate["D"].iloc[2])  # the one before repeated
    assert (rate["E"] == 0.0).all()
    ends = pd.DataFrame({"T": [2.09, 2.18, 2.27, 2.09]}, index=t)
    rate = rs.storage_rate_l_s(level, wn, dmas, ["D"], level_end_m=ends)
    assert rate["D"].to_numpy() == pytest.approx([expect] * 4, rel=1e-9)
    # a second tank of the DMA whose level tag gave nothing: the first still counts
    wn.add_tank("U", elevation=0.0, init_level=2.0, min_level=0.0, max_level=6.0,
                diameter=8.0)
    both = level.assign(U=np.nan)
    rate = rs.storage_rate_l_s(both, wn, pd.Series({"T": "D", "U": "D"}), ["D"])
    assert rate["D"].to_numpy()[:2] == pytest.approx([expect, expect], rel=1e-9)


@pytest.mark.parametrize("level_measured", [True, False])
def test_segments_of_a_continuous_history_are_that_history(level_measured, pump_tank_network):
    """A pump switched by its tank's level (on below 2 m, off above 5 m) and not measured by
    SCADA: the expectation run in 6-h segments, each restarting the tank from the measured
    level, must be the one continuous EPANET run those levels came from (the independent
    reference), pump status and tank filling at every step: each segment starts the pump as
    the one before left it, not as the model's file starts it. With no level measured, the
    tank too goes on from where the segment before left it."""
    from wntr.network.controls import Control, ControlAction, ValueCondition

    from twin.water import leak_expectation as exp
    from twin.water.hydraulics import simulate_elements

    wn, dmas, meters = _tank_dma(pump_tank_network)
    pump, tank = wn.get_link("P"), wn.get_node("T")
    wn.add_control("off", Control(ValueCondition(tank, "level", ">", 5.0),
                                  ControlAction(pump, "status", 0)))
    wn.add_control("on", Control(ValueCondition(tank, "level", "<", 2.0),
                                 ControlAction(pump, "status", 1)))
    assert exp.controlled_links(wn, []) == ["P"] and exp.controlled_links(wn, ["P"]) == []
    n = 2 * 96
    ref = simulate_elements(wn, n * STEP_S, STEP_S, ["T"], ["P"])
    ref_on = ref["status"].sel(link="P").to_numpy()[:n] > 0
    ref_level = ref["pressure_m"].sel(node="T").to_numpy()
    assert 10 < ref_on.sum() < n - 10  # it switches, more than once
    assert (np.diff(ref_on.astype(int)) != 0).sum() >= 4
    times = pd.date_range("2020-01-06", periods=n, freq="900s", tz="UTC")
    obs = exp.Observations(
        times=times, flow_l_s=pd.DataFrame(index=times), pressure_m=pd.DataFrame(index=times),
        tank_level_m=(pd.DataFrame({"T": ref_level[:n]}, index=times) if level_measured
                      else pd.DataFrame(index=times)),
        pump_power_kw=pd.DataFrame(index=times),
        use_m3=pd.DataFrame(index=times.floor("h").unique()))
    run = exp.expected_hydraulics(wn, obs, np.ones(n), np.arange(n) * STEP_S, ["T"],
                                  segment_h=6, links=["P"])
    on = run.flow_l_s["P"].to_numpy() > 1e-6
    assert (on == ref_on).all()
    assert np.abs(run.tank_level_end_m["T"].to_numpy() - ref_level[1:n + 1]).max() < 1e-3

