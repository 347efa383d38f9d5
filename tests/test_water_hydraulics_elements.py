"""Reading only some elements out of a stepped EPANET run gives the whole run's numbers.

The anchor is :func:`twin.water.hydraulics.simulate` (EPANET solves, every node and link is
written to the binary output and read back); the twin's :func:`simulate_elements` steps the
same run through the toolkit and reads just the elements asked for. They must agree to the
binary output's float32 round-off (1e-6 of a variable's largest magnitude), at the same
reported times, on networks with tanks, pumps, valves and controls (C-Town, LPS, pressures
in metres), in US units (KL and Net3: GPM, pressures in psi) and through the leak
expectation's segmented runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twin.water.hydraulics import HydraulicsError, simulate, simulate_elements
from twin.water.network import read_inp, shipped_network_path

PUBLIC_WATER = Path(os.environ.get("TWIN_PUBLIC_WATER", "/work/shared/data/water"))
needs_public = pytest.mark.skipif(not PUBLIC_WATER.is_dir(),
                                  reason=f"public EPANET networks not at {PUBLIC_WATER}")
#: Agreement asked, relative to a variable's largest magnitude [-] (float32 round-off).
RELATIVE = 1e-6


def _compare(wn, hours: float, step_s: int, nodes: list[str], links: list[str]) -> None:
    whole = simulate(wn, hours * 3600, step_s)
    part = simulate_elements(wn, hours * 3600, step_s, nodes, links)
    assert np.array_equal(part.time.values, whole.time.values)
    p_ref = whole.pressure_m.sel(node=nodes).values
    q_ref = whole.flow_m3s.sel(link=links).values
    assert np.abs(part.pressure_m.values - p_ref).max() <= RELATIVE * np.abs(p_ref).max()
    assert np.abs(part.flow_m3s.values - q_ref).max() <= RELATIVE * np.abs(q_ref).max()
    assert np.array_equal(part.status.values > 0, whole.status.sel(link=links).values > 0)
    assert part.attrs["demand_model"] == whole.attrs["demand_model"]


@needs_public
def test_ctown_tanks_pumps_valves_two_days_hourly():
    # C-Town reports every 15 min: an hourly run keeps every 4th period, as simulate does
    wn = read_inp(PUBLIC_WATER / "CTOWN.INP")
    nodes = list(wn.tank_name_list) + list(wn.junction_name_list[::40])
    links = list(wn.pump_name_list) + list(wn.valve_name_list) + list(wn.pipe_name_list[::60])
    _compare(wn, 48, 3600, nodes, links)


@needs_public
def test_kl_in_us_units_at_five_minutes():
    wn = read_inp(PUBLIC_WATER / "KL.inp")
    _compare(wn, 12, 300, list(wn.junction_name_list[::25]), list(wn.pipe_name_list[::50]))


def test_net3_pumps_switched_by_its_controls():
    wn = read_inp(shipped_network_path("Net3"))
    nodes = list(wn.tank_name_list) + list(wn.junction_name_list[::10])
    _compare(wn, 48, 3600, nodes, list(wn.pump_name_list) + list(wn.pipe_name_list[::10]))


def test_unknown_element_is_named():
    wn = read_inp(shipped_network_path("Net1"))
    with pytest.raises(HydraulicsError, match="NOPE"):
        simulate_elements(wn, 3600, 3600, ["NOPE"], [])


@needs_public
def test_leak_expectation_reads_only_its_sensors_and_gets_the_whole_runs_numbers():
    """The expectation's segmented runs (tanks restarted from SCADA, pumps driven as
    measured) give the same pressures, flows, tank levels at the steps' ends and pump
    agreement read either way."""
    from twin.water import leak_expectation as exp

    wn = read_inp(PUBLIC_WATER / "CTOWN.INP")
    times = pd.date_range("2020-01-06", periods=2 * 96, freq="900s", tz="UTC")
    pumps = list(wn.pump_name_list)
    on = pd.DataFrame({p: (np.arange(len(times)) // 16 + k) % 2 for k, p in enumerate(pumps)},
                      index=times)
    levels = pd.DataFrame({t: 2.0 + 0.01 * np.arange(len(times)) % 1.5
                           for t in wn.tank_name_list}, index=times)
    obs = exp.Observations(times=times, flow_l_s=pd.DataFrame(index=times),
                           pressure_m=pd.DataFrame(index=times), tank_level_m=levels,
                           pump_power_kw=pd.DataFrame(index=times),
                           use_m3=pd.DataFrame(index=times.floor("h").unique()),
                           pump_status=on)
    seconds = np.arange(len(times)) * 900.0
    ratio = 0.9 + 0.2 * np.sin(seconds / 20000.0)
    nodes = list(wn.junction_name_list[::30]) + list(wn.tank_name_list)
    links = pumps + list(wn.pipe_name_list[::80])
    fast = exp.expected_hydraulics(wn, obs, ratio, seconds, nodes, segment_h=24, links=links)
    whole = exp.expected_hydraulics(wn, obs, ratio, seconds, nodes, segment_h=24, links=links,
                                    whole_network=True)
    for a, b in zip(fast, whole, strict=True):
        assert a.shape == b.shape and (a.index == b.index).all()
    for a, b in zip((fast[0], fast[2], fast[3]), (whole[0], whole[2], whole[3]), strict=True):
        scale = float(np.abs(b.to_numpy()).max())
        assert float(np.abs(a.to_numpy() - b.to_numpy()).max()) <= RELATIVE * scale
    assert (fast[1] == whole[1]).all()


@needs_public
def test_expected_network_set_again_in_place_is_a_fresh_copy(tmp_path):
    """The expectation's segments reuse one copy of the model: the second stretch written
    from the reused copy is the file a fresh copy writes, byte for byte."""
    from wntr.epanet.io import InpFile

    from twin.water import leak_expectation as exp

    wn = read_inp(PUBLIC_WATER / "CTOWN.INP")
    n = 96
    seconds = np.arange(2 * n) * 900.0
    ratio = 0.8 + 0.4 * np.cos(seconds / 30000.0)
    pumps = list(wn.pump_name_list)
    on = pd.DataFrame({p: (np.arange(2 * n) // (8 + k)) % 2 for k, p in enumerate(pumps)})
    levels = pd.DataFrame({t: 1.0 + 0.02 * np.arange(2 * n) for t in wn.tank_name_list})
    first, second = slice(0, n), slice(n, 2 * n)

    def stretch(sl, into=None):
        return exp.expected_network(wn, ratio[sl], seconds[sl], 900.0, levels.iloc[sl.start],
                                    on.iloc[sl], clock_s=seconds[sl.start] % 86400, into=into)

    reused = stretch(second, into=stretch(first))
    fresh = stretch(second)
    InpFile().write(str(tmp_path / "a.inp"), reused)
    InpFile().write(str(tmp_path / "b.inp"), fresh)
    # WNTR stamps each file with the second it was written: that line is left out
    a, b = ("".join(line for line in (tmp_path / f).read_text().splitlines(keepends=True)
                    if not line.startswith("; Created:")) for f in ("a.inp", "b.inp"))
    assert "TWIN-" in a and a == b


@pytest.mark.parametrize("units,pressure", [("LPS", "KPA"), ("CMH", None), ("GPM", "KPA")])
def test_pressure_units_of_the_written_file(units, pressure):
    """EPANET reports pressure in psi with US flow units (whatever the file asks), in kPa
    where an SI file asks for it, else in metres; both ways convert it to metres alike."""
    wn = read_inp(shipped_network_path("Net1"))
    wn.options.hydraulic.inpfile_units = units
    wn.options.hydraulic.inpfile_pressure_units = pressure
    _compare(wn, 24, 3600, list(wn.junction_name_list), list(wn.pump_name_list))
