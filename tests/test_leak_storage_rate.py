"""The tanks' level noise filtered out of a DMA's water balance
(:func:`twin.water.leak_residuals.mass_balance_filter`), against EPANET's own run of a DMA
whose tank a pump fills and empties: the level noise is the one added, the tank's area its
diameter's, the consumption the junction's demand."""

import numpy as np
import pandas as pd
import pytest

STEP_S = 300.0
DAYS = 4
LEVEL_NOISE_M = 0.01
LEAK_L_S = 1.0
DAY = [0.5, 0.4, 0.4, 0.5, 0.7, 1.0, 1.4, 1.6, 1.4, 1.2, 1.1, 1.0,
       1.0, 1.0, 0.9, 0.9, 1.0, 1.2, 1.5, 1.6, 1.3, 1.0, 0.8, 0.6]


@pytest.fixture(scope="module")
def dma_run(pump_tank_network):
    """Four days at 5 min of the pump-and-tank DMA (J2 and T behind meter A), the pump 3 h
    on and 3 h off, and from the third day a leak of 1 L/s at J2 (a demand the twin does
    not expect). Returns the times, A's flow [L/s], T's level [m], J2's demand without the
    leak [L/s], the model, zones and meters, and the step the pump switches at."""
    from twin.water import leak_expectation as exp
    from twin.water.hydraulics import simulate

    wn = pump_tank_network(DAY)
    wn.options.time.hydraulic_timestep = int(STEP_S)
    wn.options.time.report_timestep = int(STEP_S)
    wn.options.time.pattern_timestep = 3600
    n = int(DAYS * 86400 / STEP_S)
    on = ((np.arange(n) // 36) % 2 == 0).astype(int)
    exp.drive_pumps(wn, pd.DataFrame({"P": on}), STEP_S)
    start = int(n // 2)
    wn.add_pattern("LEAK", [0.0] * start + [1.0] * (n - start))
    wn.get_node("J2").demand_timeseries_list.append((LEAK_L_S / 1000.0, wn.get_pattern("LEAK")))
    wn.options.time.pattern_timestep = int(STEP_S)
    hourly = np.repeat(DAY, int(3600 / STEP_S))
    wn.get_pattern("USE").multipliers = list(np.tile(hourly, DAYS))
    ds = simulate(wn, n * STEP_S, STEP_S)
    times = pd.date_range("2020-01-06", periods=n + 1, freq=f"{int(STEP_S)}s", tz="UTC")
    flow = ds["flow_m3s"].sel(link="A").to_numpy()[: n + 1] * 1000.0
    level = ds["head_m"].sel(node="T").to_numpy()[: n + 1] - wn.get_node("T").elevation
    demand = 4.0 * np.tile(hourly, DAYS + 1)[: n + 1]
    dmas = pd.Series({"J1": "source", "J2": "D", "T": "D"})
    meters = pd.DataFrame({"meter_id": ["FM"], "link": ["A"], "link_type": ["Pipe"],
                           "from_zone": ["source"], "to_zone": ["D"]})
    return times, flow, level, demand, wn, dmas, meters, on, start


def _noisy(level: np.ndarray, seed: int = 3) -> np.ndarray:
    return level + np.random.default_rng(seed).normal(0.0, LEVEL_NOISE_M, len(level))


def test_level_noise_and_storage_noise_are_the_noise_added_times_the_tank_area(dma_run):
    """The level noise learned from the level's second differences is the 1 cm added
    (within 10 %) though the pump switches the tank's filling every 3 h; the DMA's volume
    noise is that times the area of an 8 m tank, π·4² m²."""
    from twin.water import leak_residuals as rs

    times, _, level, _, wn, dmas, _, _, _ = dma_run
    noisy = pd.DataFrame({"T": _noisy(level)}, index=times)
    sigma = rs.level_noise_m(noisy)["T"]
    assert abs(sigma - LEVEL_NOISE_M) < 0.1 * LEVEL_NOISE_M
    volume = rs.storage_noise_m3(noisy, wn, dmas, ["D", "E"])
    assert volume["E"] == 0.0
    assert volume["D"] == pytest.approx(np.pi * 16.0 * sigma, rel=1e-3)


def test_filtered_balance_keeps_the_leak_and_the_pump_switches_out(dma_run):
    """The measured consumption (meter A less the noisy tank's filling) less J2's demand.
    Raw, its 15-min means carry the level noise differenced (√2·σ·area/900 s = 0.79 L/s).
    The filter is linear, so what it leaves of the level noise is the filtered noisy
    residual less the same filter's output on the noise-free one: a third of the raw noise
    at most. On the noise-free residual (EPANET's balance: zero but where the tank fills up
    between two samples) the filter adds nothing at the pump's switches (its flow into the
    tank jumps by about 10 L/s there, which a filter of the storage rate alone would smear
    into the residual), keeps the volume of each jump (sums over the leak-free days equal),
    and after the leak its mean over the last day is the 1 L/s EPANET ran, reached to
    90 % within an hour of the leak's start."""
    from twin.water import leak_residuals as rs

    times, flow, level, demand, wn, dmas, meters, on, start = dma_run
    flows = pd.DataFrame({"FM": flow}, index=times)

    def residual(lv):
        c = rs.measured_consumption_l_s(flows, pd.DataFrame({"T": lv}, index=times), wn,
                                        meters, dmas)
        return (c["D"] - demand).iloc[:-1].to_frame("D")

    raw, exact = residual(_noisy(level)), residual(level)
    quiet = np.asarray(raw.index < times[start])
    storage = rs.storage_noise_m3(pd.DataFrame({"T": _noisy(level)}, index=times), wn, dmas,
                                  ["D"], np.asarray(times < times[start]))
    filtered, table = rs.mass_balance_filter(raw, storage, quiet, STEP_S)
    assert list(table.dma) == ["D"]
    same, _ = rs.volume_balance_filter(raw["D"].to_numpy(), STEP_S, 1000 * storage["D"],
                                       table.white_l_s[0], table.walk_l_s[0])
    assert np.allclose(same, filtered["D"].to_numpy(), equal_nan=True)
    clean, _ = rs.volume_balance_filter(exact["D"].to_numpy(), STEP_S, 1000 * storage["D"],
                                        table.white_l_s[0], table.walk_l_s[0])
    free = slice(12, start)  # past the filter's first hour
    groups = np.arange(start - 12) // 3
    raw15 = (raw["D"] - exact["D"]).iloc[free].groupby(groups).mean()
    left15 = pd.Series(same[free] - clean[free]).groupby(groups).mean()
    assert raw15.std() == pytest.approx(np.sqrt(2) * LEVEL_NOISE_M * np.pi * 16 / 900 * 1000,
                                        rel=0.15)
    assert left15.std() < raw15.std() / 3
    switches = np.flatnonzero(np.diff(on[:start])) + 1
    switches = switches[switches > 12]
    assert len(switches) >= 10
    jumps = np.flatnonzero(np.abs(exact["D"].to_numpy()[:start]) > 0.05)
    calm = [s for s in switches if not np.any(np.abs(jumps - s) < 12)]
    assert len(calm) >= 5
    near = np.concatenate([np.arange(s - 2, s + 4) for s in calm])
    assert np.abs(clean[near]).max() < 0.05
    assert clean[:start].sum() == pytest.approx(exact["D"].to_numpy()[:start].sum(), abs=1.0)
    assert abs(filtered["D"].to_numpy()[-288:].mean() - LEAK_L_S) < 0.1
    assert clean[start + 11] > 0.9 * LEAK_L_S


def test_the_filter_follows_a_step_with_no_bias_and_leaves_missing_steps_out():
    """A step of 5 L/s in a residual made only of differenced level noise (σ_V 2 m³, 5 min)
    comes out whole: the filtered rate's mean over the hours after it is 5 L/s, its
    spread a fraction of the raw one's; a missing step stays missing, and the filter goes
    on after it."""
    from twin.water import leak_residuals as rs

    rng = np.random.default_rng(7)
    n = 4000
    eps = rng.normal(0.0, 2000.0, n + 1)
    r = -np.diff(eps) / STEP_S + np.where(np.arange(n) >= 2000, 5.0, 0.0)
    r[2500] = np.nan
    out, ll = rs.volume_balance_filter(r, STEP_S, 2000.0, 0.5, 0.05)
    assert np.isnan(out[2500]) and np.isfinite(out[2501:]).all()
    assert np.isfinite(ll)
    assert abs(np.nanmean(out[2100:4000]) - 5.0) < 0.1
    assert abs(np.nanmean(out[100:2000])) < 0.1
    assert np.nanstd(out[100:2000]) < 0.2 * np.std(r[100:2000])


def test_a_stuck_or_missing_tank_level_is_not_filtered(dma_run):
    """A level tag stuck at one value has no reading noise to learn (0) and a tank never
    read is left out: the DMA's residual passes unfiltered, nothing in the table."""
    from twin.water import leak_residuals as rs

    times, _, _, _, wn, dmas, _, _, _ = dma_run
    stuck = pd.DataFrame({"T": 3.0}, index=times)
    assert rs.storage_noise_m3(stuck, wn, dmas, ["D"])["D"] == 0.0
    unread = pd.DataFrame({"T": np.nan}, index=times)
    assert rs.storage_noise_m3(unread, wn, dmas, ["D"])["D"] == 0.0
    raw = pd.DataFrame({"D": np.random.default_rng(1).normal(0, 2, len(times))}, index=times)
    out, table = rs.mass_balance_filter(raw, pd.Series({"D": 0.0}), np.ones(len(times), bool),
                                        STEP_S)
    assert out.equals(raw) and table.empty
