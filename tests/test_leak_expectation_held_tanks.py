"""The pressure expectation with the tanks held at their measured levels: the loggers'
expected pressures follow the tank heads SCADA measured, not the levels the model's own run
would reach, and the model's controls that read a tank read the measured level."""

import numpy as np
import pandas as pd
import pytest

STEP_S = 900.0
N = 96  # a day at 15 min
DAY = [0.5, 0.4, 0.4, 0.5, 0.7, 1.0, 1.4, 1.6, 1.4, 1.2, 1.1, 1.0,
       1.0, 1.0, 0.9, 0.9, 1.0, 1.2, 1.5, 1.6, 1.3, 1.0, 0.8, 0.6]
#: The tank's elevation in ``pump_tank_network`` [m].
TANK_ELEVATION_M = 30.0


def _observations(times, level_m, pump_on):
    from twin.water import leak_expectation as exp

    return exp.Observations(
        times=times, flow_l_s=pd.DataFrame(index=times), pressure_m=pd.DataFrame(index=times),
        tank_level_m=pd.DataFrame({"T": level_m}, index=times),
        pump_power_kw=pd.DataFrame(index=times),
        use_m3=pd.DataFrame(index=times.floor("h").unique()),
        pump_status=pd.DataFrame({"P": pump_on}, index=times) if pump_on is not None
        else pd.DataFrame(index=times))


def test_pressures_follow_a_measured_level_the_model_does_not_reach(pump_tank_network):
    """The pump stopped all day (as measured) and the tank feeding J2: the model's tank
    drains, while SCADA measured it rising from 1 to 5.5 m. Held at the measured levels,
    the expected pressures at J1 and J2 must be those of the same network with the tank
    replaced by a reservoir whose head follows tank elevation + measured level (EPANET's own
    fixed-head node, the independent reference), at every step, across the 6-h segments;
    the ordinary run is metres away."""
    from twin.water import leak_expectation as exp
    from twin.water.hydraulics import simulate_elements

    quarter = [m for m in DAY for _ in range(4)]  # the hourly pattern at 15 min
    wn = pump_tank_network(quarter)
    wn.options.time.pattern_timestep = int(STEP_S)
    times = pd.date_range("2020-01-06", periods=N, freq="900s", tz="UTC")
    level = np.linspace(1.0, 5.5, N)
    obs = _observations(times, level, np.zeros(N, dtype=int))
    seconds = np.arange(N) * STEP_S
    held = exp.pressure_at_measured_levels(wn, obs, np.ones(N), seconds, ["J1", "J2"],
                                           segment_h=6)
    plain = exp.expected_hydraulics(wn, obs, np.ones(N), seconds, ["J1", "J2", "T"],
                                    segment_h=6)
    # the reference: T a reservoir with a head pattern, the pump closed
    ref = pump_tank_network(quarter)
    ref.options.time.pattern_timestep = int(STEP_S)
    ref.remove_link("B")
    ref.remove_node("T")
    heads = TANK_ELEVATION_M + level
    ref.add_pattern("HEADS", list(heads / heads[0]))
    ref.add_reservoir("T", base_head=float(heads[0]), head_pattern="HEADS")
    ref.add_pipe("B", "J2", "T", length=200.0, diameter=0.2, roughness=120.0)
    ref.get_link("P").initial_status = 0
    run = simulate_elements(ref, (N - 1) * STEP_S, STEP_S, ["J1", "J2"], ["P", "B"])
    want = run["pressure_m"].to_pandas().to_numpy()
    assert (run["status"].sel(link="P").to_numpy() == 0).all()
    assert held.index.equals(times) and list(held.columns) == ["J1", "J2"]
    assert np.abs(held.to_numpy() - want).max() < 1e-3
    # the model's own tank drains (the pump is off): its pressures are far from it
    assert plain.pressure_m["T"].iloc[23] < level[23] - 1.0
    assert np.abs(plain.pressure_m[["J1", "J2"]].to_numpy() - want).max() > 1.0


def test_held_at_the_levels_of_a_continuous_run_is_that_run(pump_tank_network):
    """A pump switched by its tank's level (on below 2 m, off above 5 m), not measured by
    SCADA, and the tank's measured levels those of one continuous EPANET run: held at them at
    each SCADA step, the expectation is that run (the pump switches where it did, between
    SCADA steps as EPANET's controls place it), pressures and pump at every step. Levels set
    at the times between SCADA steps too would hold the tank below 5 m and the pump on."""
    from twin.water import leak_expectation as exp
    from twin.water.hydraulics import simulate_elements

    wn = pump_tank_network(DAY, switch_m=(2.0, 5.0))
    n = 2 * N
    ref = simulate_elements(wn, n * STEP_S, STEP_S, ["T", "J1", "J2"], ["P"])
    ref_on = ref["status"].sel(link="P").to_numpy()[:n] > 0
    assert (np.diff(ref_on.astype(int)) != 0).sum() >= 4  # it switches, more than once
    times = pd.date_range("2020-01-06", periods=n, freq="900s", tz="UTC")
    level = ref["pressure_m"].sel(node="T").to_numpy()[:n]
    obs = _observations(times, level, None)
    seconds = np.arange(n) * STEP_S
    run = exp.expected_hydraulics(wn, obs, np.ones(n), seconds, ["J1", "J2"], segment_h=6,
                                  links=["P"], hold_measured_tanks=True)
    want = ref["pressure_m"].sel(node=["J1", "J2"]).to_numpy()[:n]
    assert np.abs(run.pressure_m.to_numpy() - want).max() < 1e-4
    assert ((run.flow_l_s["P"].to_numpy() > 1e-3) == ref_on).all()


def test_a_gap_in_the_measured_levels_fills_the_tank_as_epanet_runs_it(pump_tank_network):
    """The tank's sensor out for 2.75 h inside a segment (its levels those of one continuous
    run, the pump on and off by the tank's level): over the gap the tank fills as EPANET runs
    it from the last level held, so the expectation is still that run at every step; held at
    the last measured level instead, its pressures froze metres off."""
    from twin.water import leak_expectation as exp
    from twin.water.hydraulics import simulate_elements

    wn = pump_tank_network(DAY, switch_m=(2.0, 5.0))
    ref = simulate_elements(wn, N * STEP_S, STEP_S, ["T", "J1", "J2"], ["P"])
    times = pd.date_range("2020-01-06", periods=N, freq="900s", tz="UTC")
    level = ref["pressure_m"].sel(node="T").to_numpy()[:N].copy()
    gap = slice(30, 41)  # inside the second 6-h segment (steps 24-47)
    assert np.ptp(level[gap]) > 0.5  # the tank moves over the gap
    level[gap] = np.nan
    run = exp.expected_hydraulics(wn, _observations(times, level, None), np.ones(N),
                                  np.arange(N) * STEP_S, ["J1", "J2"], segment_h=6,
                                  hold_measured_tanks=True)
    want = ref["pressure_m"].sel(node=["J1", "J2"]).to_numpy()[:N]
    assert np.abs(run.pressure_m.to_numpy() - want).max() < 1e-4


def test_no_measured_level_no_second_run(pump_tank_network):
    """No tank has a measured level: there is nothing to hold (None)."""
    from twin.water import leak_expectation as exp

    wn = pump_tank_network(DAY)
    times = pd.date_range("2020-01-06", periods=8, freq="900s", tz="UTC")
    obs = _observations(times, np.full(8, np.nan), None)
    assert exp.pressure_at_measured_levels(wn, obs, np.ones(8), np.arange(8) * STEP_S,
                                           ["J2"]) is None


def test_held_levels_clipped_to_the_tank_and_in_its_units():
    """Levels outside a tank's range are clipped to it (EPANET refuses them); a network
    written in SI units takes them in metres, in US units (WNTR's default, GPM) in feet."""
    import wntr

    from twin.water.hydraulics import FOOT_M, _held_levels

    wn = wntr.network.WaterNetworkModel()
    wn.add_tank("T", elevation=0.0, init_level=2.0, min_level=0.5, max_level=6.0,
                diameter=8.0)
    wn.options.hydraulic.inpfile_units = "LPS"
    lv = pd.DataFrame({"T": [0.0, 3.0, 9.0], "X": [1.0, 1.0, 1.0]}, index=[0.0, 900.0, 1800.0])
    tanks, at, values = _held_levels(wn, lv)
    assert tanks == ["T"] and list(at) == [0.0, 900.0, 1800.0]
    assert values[:, 0] == pytest.approx([0.5, 3.0, 6.0])
    wn.options.hydraulic.inpfile_units = "GPM"
    assert _held_levels(wn, lv)[2][:, 0] == pytest.approx(np.array([0.5, 3.0, 6.0]) / FOOT_M)
    assert _held_levels(wn, None) is None and _held_levels(wn, lv[["X"]]) is None
