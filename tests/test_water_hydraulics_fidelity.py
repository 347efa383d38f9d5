"""The twin's hydraulics against a plain EPANET run of the same file.

The anchor is the EPANET 2.2 toolkit run of the unmodified ``.inp`` (``run_inp_file``: the
file is opened by EPANET itself, never by WNTR); the twin is ``simulate(read_inp(path))``,
which goes through WNTR's reader and writer. Demands are also checked against multipliers
computed here by hand from the patterns written into the test's own file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twin.water.hydraulics import (
    junction_demand_m3s,
    pattern_multiplier,
    results_dataset,
    run_epanet,
    run_inp_file,
    set_junction_demands,
    simulate,
    tank_level_m,
    tank_volume_m3,
    tank_volume_series_m3,
)
from twin.water.network import read_inp, shipped_network_path

PUBLIC_WATER = Path(os.environ.get("TWIN_PUBLIC_WATER", "/work/shared/data/water"))
needs_public = pytest.mark.skipif(not PUBLIC_WATER.is_dir(),
                                  reason=f"public EPANET networks not at {PUBLIC_WATER}")

#: Agreement asked of the twin, relative to a variable's largest magnitude [-]: a few
#: float32 units in the last place of EPANET's binary output (most networks: identical).
RELATIVE = 1e-6


def _worst(ds, ref) -> dict[str, float]:
    """Max |twin − anchor| per variable, on the anchor's nodes, links and times."""
    out = {}
    assert np.array_equal(ds.time.values, ref.time.values)
    for var in ("pressure_m", "head_m", "flow_m3s", "demand_m3s"):
        sel = {d: ref[d] for d in ref[var].dims if d != "time"}
        out[var] = float(np.abs(ds[var].sel(sel).values - ref[var].values).max())
    return out


def _scale(ref) -> dict[str, float]:
    return {v: float(np.abs(ref[v]).max()) for v in ("pressure_m", "head_m", "flow_m3s",
                                                      "demand_m3s")}


def _agree(path: Path, hours: int = 24) -> None:
    wn = read_inp(path)
    ref = run_inp_file(path, hours * 3600)
    ds = simulate(wn, hours * 3600, int(ref.time[1] - ref.time[0]))
    worst, scale = _worst(ds, ref), _scale(ref)
    for var, d in worst.items():
        assert d <= RELATIVE * scale[var], (var, d, scale[var])
    levels = tank_level_m(ds, wn) - tank_level_m(ref, wn)
    if levels.size:
        assert float(np.abs(levels).max()) <= RELATIVE * scale["head_m"]


FAST = ["BIN.inp", "BWSN_Network_1.inp", "CTOWN.INP", "GOY.inp"]
SLOW = ["KL.inp", "MICROPOLIS_v1.inp"]


@needs_public
@pytest.mark.parametrize("name", FAST + [pytest.param(n, marks=pytest.mark.slow) for n in SLOW])
def test_public_network_runs_as_plain_epanet(name):
    _agree(PUBLIC_WATER / name)


@pytest.mark.parametrize("name", ["Net1", "Net2", "Net3"] + [
    pytest.param(n, marks=pytest.mark.slow) for n in ("ky4", "ky10", "Net6")])
def test_library_network_runs_as_plain_epanet(name):
    _agree(shipped_network_path(name))


@needs_public
def test_ctown_week_hourly_is_the_plain_15_min_run_every_hour():
    # C-Town reports every 15 min; an hourly twin run keeps EPANET's own reporting step
    # (which ends hydraulic steps) and reads every 4th period. Before, a week differed by
    # up to 27 m (hydraulic step forced to 1 h) and then 0.15 m (reporting step 1 h).
    path = PUBLIC_WATER / "CTOWN.INP"
    ref = run_inp_file(path, 7 * 86400)
    ds = simulate(read_inp(path), 7 * 86400, 3600)
    assert ds.sizes["time"] == 169
    worst = _worst(ds, ref.sel(time=ds.time.values))
    assert max(worst.values()) == 0.0, worst
    # the EpanetSimulator way (quality run, WNTR's result reader) gives the same numbers
    via_wntr = results_dataset(run_epanet(read_inp(path), 7 * 86400, 3600))
    p = np.abs(via_wntr.pressure_m.values - ref.pressure_m.sel(
        time=ds.time.values, node=via_wntr.node.values).values).max()
    assert p == 0.0


# ---------------------------------------------------------------- a network built here

STEP_S, WEEK = 300, 2016  # 5-minute pattern steps, 2016 of them in a week
PATTERN_START_S = 30 * 3600 + 10 * 60  # the patterns start 30 h 10 min in


def _patterns() -> dict[str, np.ndarray]:
    k = np.arange(WEEK)
    hour = (k * STEP_S / 3600) % 24
    day = k * STEP_S // 86400
    homes = 1 + 0.6 * np.sin(2 * np.pi * (hour - 7) / 24) + 0.05 * day
    shops = np.where((day < 5) & (hour >= 8) & (hour < 18), 1.8, 0.2)
    return {"HOMES": np.round(homes, 6), "SHOPS": np.round(shops, 6)}


def _inp_text(patterns: dict[str, np.ndarray], options: str = "") -> str:
    lines = ["[TITLE]", "two demand categories, 5-minute weekly patterns", "",
             "[JUNCTIONS]", " J1  10  0", " J2  12  0", " J3   8  0", "",
             "[RESERVOIRS]", " R1  75", "", "[TANKS]",
             " T1  40  5  1  9  12", "",
             "[PIPES]", " P1  R1  J1  500  300  0.05", " P2  J1  J2  400  200  0.05",
             " P3  J2  J3  300  150  0.1", " P4  J3  T1  200  200  0.05",
             " P5  J1  J3  600  150  0.1", "",
             "[DEMANDS]", " J1  2.0  HOMES  ;residential", " J1  1.5  SHOPS  ;commercial",
             " J2  3.0  HOMES", " J2  0.8  SHOPS", " J3  1.2", "",
             "[PATTERNS]"]
    for name, mult in patterns.items():
        for i in range(0, len(mult), 12):
            lines.append(f" {name} " + " ".join(f"{m:.6f}" for m in mult[i:i + 12]))
    lines += ["", "[CONTROLS]", " LINK P5 CLOSED AT CLOCKTIME 2 AM",
              " LINK P5 OPEN AT CLOCKTIME 5.5 AM", "",
              "[RULES]", "RULE FULL", "IF TANK T1 LEVEL ABOVE 8.5",
              "THEN PIPE P1 STATUS IS CLOSED", "PRIORITY 1", "",
              "RULE LOW", "IF TANK T1 LEVEL BELOW 6",
              "THEN PIPE P1 STATUS IS OPEN", "PRIORITY 1", "",
              "[TIMES]", " Duration 192:00", " Hydraulic Timestep 0:05",
              " Pattern Timestep 0:05", " Pattern Start 30:10", " Report Timestep 0:05",
              " Report Start 0:00", " Start ClockTime 12 am", "",
              "[OPTIONS]", " Units LPS", " Headloss D-W", options, "", "[END]"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def weekly(tmp_path_factory):
    patterns = _patterns()
    path = tmp_path_factory.mktemp("weekly") / "weekly.inp"
    path.write_text(_inp_text(patterns))
    return path, patterns


def _hand_demand_l_s(patterns, times_s) -> dict[str, np.ndarray]:
    k = ((np.asarray(times_s) + PATTERN_START_S) // STEP_S) % WEEK
    h, s = patterns["HOMES"][k], patterns["SHOPS"][k]
    return {"J1": 2.0 * h + 1.5 * s, "J2": 3.0 * h + 0.8 * s, "J3": np.full(k.size, 1.2)}


def test_two_categories_5_minute_weekly_patterns_give_epanets_answer(weekly):
    path, patterns = weekly
    wn = read_inp(path)
    assert len(wn.get_node("J1").demand_timeseries_list) == 2
    ref = run_inp_file(path)  # the file's own 8 days at 5 min: the week wraps
    ds = simulate(wn, 8 * 86400, STEP_S)
    assert ds.sizes["time"] == 8 * 288 + 1
    worst = _worst(ds, ref)
    assert max(worst.values()) == 0.0, worst
    hand = _hand_demand_l_s(patterns, ds.time.values)
    for j, q in hand.items():  # demand-driven and every pressure positive: demand as asked
        np.testing.assert_allclose(ds.demand_m3s.sel(node=j).values * 1000, q, rtol=2e-6)
    assert float(ds.pressure_m.sel(node=["J1", "J2", "J3"]).min()) > 0
    # the controls and rules acted: P5 closed 02:00–05:30 each day; the supply pipe P1
    # closed when the tank is full, opened again when it has drained
    status = ds.status.to_pandas()
    clock_h = (ds.time.values % 86400) / 3600
    assert (status["P5"][(clock_h >= 2) & (clock_h < 5.5)] == 0).all()
    assert (status["P5"][(clock_h >= 5.5) | (clock_h < 2)] == 1).all()
    assert (status["P1"].diff() == -1).sum() >= 4 and (status["P1"].diff() == 1).sum() >= 4


def test_pattern_clock_and_junction_demand_are_epanets(weekly):
    path, patterns = weekly
    wn = read_inp(path)
    times = np.arange(0, 9 * 86400, 450)  # off the pattern grid, beyond the week
    k = ((times + PATTERN_START_S) // STEP_S) % WEEK
    np.testing.assert_array_equal(pattern_multiplier(wn, "SHOPS", times), patterns["SHOPS"][k])
    np.testing.assert_array_equal(pattern_multiplier(wn, None, times), np.ones(times.size))
    got = junction_demand_m3s(wn, times)
    for j, q in _hand_demand_l_s(patterns, times).items():
        np.testing.assert_allclose(got[j].to_numpy() * 1000, q, rtol=1e-12)
    # C-Town: several patterns, the default pattern "1" for junctions without one
    ctown = PUBLIC_WATER / "CTOWN.INP"
    if ctown.exists():
        wn = read_inp(ctown)
        ds = simulate(wn, 86400, 900)
        junctions = [j for j in wn.junction_name_list if wn.get_node(j).base_demand > 0]
        ours = junction_demand_m3s(wn, ds.time.values, junctions).to_numpy()
        np.testing.assert_allclose(ds.demand_m3s.sel(node=junctions).values, ours,
                                   rtol=2e-6, atol=1e-9)


def test_tank_volume_follows_tank_inflow(weekly):
    path, _ = weekly
    wn = read_inp(path)
    ds = simulate(wn, 2 * 86400, STEP_S)
    area = np.pi / 4 * 12.0**2
    assert float(tank_volume_m3(wn, "T1", 5.0)) == pytest.approx(area * 5.0)
    vol = tank_volume_series_m3(ds, wn).sel(node="T1").values
    np.testing.assert_allclose(vol, area * tank_level_m(ds, wn).sel(node="T1").values)
    # EPANET integrates a tank over each step with the inflow at the step's start (steps
    # in which a rule switched the supply pipe are cut short, so left out)
    dv = np.diff(vol)
    inflow = ds.demand_m3s.sel(node="T1").values[:-1] * STEP_S
    p1 = ds.status.sel(link="P1").values
    whole = p1[:-1] == p1[1:]
    assert whole.sum() > 500 and (inflow[whole] > 1).any() and (inflow[whole] < -1).any()
    np.testing.assert_allclose(dv[whole], inflow[whole], rtol=1e-4, atol=1e-3)
    with pytest.raises(KeyError, match="not a tank"):
        tank_volume_m3(wn, "J1", 1.0)


def test_network_demand_model_and_pattern_start_are_honoured(weekly, tmp_path):
    _, patterns = weekly
    path = tmp_path / "pda.inp"
    path.write_text(_inp_text(patterns, options=" Demand Model PDA\n Minimum Pressure 0\n"
                                                 " Required Pressure 60"))
    wn = read_inp(path)
    ref = run_inp_file(path, 86400)
    ds = simulate(wn, 86400, STEP_S)
    assert ds.attrs["demand_model"] == "PDA" == ref.attrs["demand_model"]
    assert max(_worst(ds, ref).values()) == 0.0
    dda = simulate(wn, 86400, STEP_S, pressure_driven=False)
    assert dda.attrs["demand_model"] == "DDA"
    short = float((dda.demand_m3s - ds.demand_m3s).sel(node=["J1", "J2"]).sum())
    assert short > 0  # below 60 m the PDA run delivers less
    # a pattern start of 0 (what the twin forced before) plays other multipliers
    wn.options.time.pattern_start = 0
    moved = simulate(wn, 86400, STEP_S)
    assert float(np.abs(moved.demand_m3s - ds.demand_m3s).max()) > 1e-4


@pytest.mark.parametrize("pattern_step", ["0:05", "2:00"])
def test_meter_demands_play_on_the_networks_pattern_clock(weekly, tmp_path, pattern_step):
    _, patterns = weekly
    path = tmp_path / "meters.inp"
    path.write_text(_inp_text(patterns).replace(" Pattern Timestep 0:05",
                                                f" Pattern Timestep {pattern_step}"))
    wn = read_inp(path)
    step = int(wn.options.time.pattern_timestep)
    hours = np.arange(30)
    use = pd.DataFrame({"J1": 10 + 5 * np.sin(hours / 3)})  # m³ in each hour
    metered = set_junction_demands(wn, use)
    assert 3600 % int(metered.options.time.pattern_timestep) == 0
    ds = simulate(metered, 29 * 3600, 3600)
    np.testing.assert_allclose(ds.demand_m3s.sel(node="J1").values * 3600, use["J1"],
                               rtol=2e-6)
    # J2 keeps its own two categories on the network's own step and start
    k = ((ds.time.values + PATTERN_START_S) // step) % WEEK
    want = 3.0 * patterns["HOMES"][k] + 0.8 * patterns["SHOPS"][k]
    np.testing.assert_allclose(ds.demand_m3s.sel(node="J2").values * 1000, want, rtol=2e-6)
