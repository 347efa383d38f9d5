"""On-load tap changers in the QSTS engine against pandapower's own DiscreteTapControl."""

from __future__ import annotations

import copy

import numpy as np
import pandapower as pp
import pytest
from pandapower.control import ConstControl, DiscreteTapControl
from pandapower.timeseries import DFData, OutputWriter, run_timeseries

from twin.city import load_city
from twin.electric import qsts
from twin.electric.profiles import city_profiles

VM_TOL_PU = 1e-6
LOADING_TOL_PERCENT = 1e-3
#: Band of the controlled low-voltage buses [p.u.]: 1.6 % wide (a tap step is 1.5 %) and placed
#: so that the day's voltage swing crosses its edges and the taps move both ways.
BAND_PU = (1.008, 1.024)
#: 64 steps (16 h) of a January day, loads and PV scaled up so the voltages swing.
FIRST, STEPS = 20 * 96, 64


@pytest.fixture(scope="module")
def city():
    return load_city()


@pytest.fixture(scope="module")
def block(city):
    profiles = city_profiles(city)
    out = {k: v.iloc[FIRST:FIRST + STEPS].copy() for k, v in profiles.items()}
    out["sgen_p_mw"] *= 3.0
    out["load_p_mw"] *= 1.3
    out["load_q_mvar"] *= 1.3
    return out


def _controlled_net(net):
    net = copy.deepcopy(net)
    for t in net.trafo.index:
        DiscreteTapControl(net, element_index=t, vm_lower_pu=BAND_PU[0], vm_upper_pu=BAND_PU[1],
                           side="lv")
    return net


@pytest.fixture(scope="module")
def pandapower_run(city, block):
    """pandapower's run_timeseries with DiscreteTapControl and ConstControl profiles."""
    net = _controlled_net(city.net)
    for name, (table, column, _) in qsts.PROFILE_COLUMNS.items():
        df = block[name].reset_index(drop=True)
        ConstControl(net, element=table, variable=column, element_index=df.columns,
                     data_source=DFData(df), profile_name=df.columns)
    ow = OutputWriter(net, time_steps=range(STEPS), output_path=None)
    for table, column in (("res_bus", "vm_pu"), ("res_line", "loading_percent"),
                          ("res_trafo", "loading_percent"), ("trafo", "tap_pos")):
        ow.log_variable(table, column)
    run_timeseries(net, time_steps=range(STEPS), verbose=False, numba=True,
                   calculate_voltage_angles=True, tolerance_mva=1e-10)
    return ow.output


def test_taps_and_results_match_pandapower_discrete_tap_control(city, block, pandapower_run):
    net = _controlled_net(city.net)
    ds = qsts.run_qsts(net, block, tap_control=True, chunk_steps=40)  # controllers from net
    ref = pandapower_run
    taps = ref["trafo.tap_pos"].to_numpy()
    assert (taps[0] != city.net.trafo.tap_pos.to_numpy()).any(), "first step must move taps"
    assert (np.diff(taps, axis=0) != 0).sum() >= 3, "taps must move within the horizon"
    np.testing.assert_array_equal(ds.trafo_tap_pos.values, taps)
    assert ds.converged.all() and ds.tap_settled.all()
    np.testing.assert_allclose(ds.vm_pu.values, ref["res_bus.vm_pu"].to_numpy(), rtol=0,
                               atol=VM_TOL_PU, equal_nan=True)
    np.testing.assert_allclose(ds.line_loading_percent.values,
                               ref["res_line.loading_percent"].to_numpy(), rtol=0,
                               atol=LOADING_TOL_PERCENT, equal_nan=True)
    np.testing.assert_allclose(ds.trafo_loading_percent.values,
                               ref["res_trafo.loading_percent"].to_numpy(), rtol=0,
                               atol=LOADING_TOL_PERCENT)


def test_band_argument_equals_controllers_and_taps_end_in_band(city, block):
    ds = qsts.run_qsts(city.net, block, tap_control=True, tap_band_pu=BAND_PU)
    from_net = qsts.run_qsts(_controlled_net(city.net), block, tap_control=True)
    np.testing.assert_array_equal(ds.trafo_tap_pos.values, from_net.trafo_tap_pos.values)
    lv = ds.vm_pu.sel(bus=city.net.trafo.lv_bus.to_numpy()).values
    taps = ds.trafo_tap_pos.values
    at_limit = (taps == city.net.trafo.tap_min.to_numpy()) | (taps == city.net.trafo.tap_max.to_numpy())
    inside = (lv >= BAND_PU[0]) & (lv <= BAND_PU[1])
    assert (inside | at_limit).all()
    fixed = qsts.run_qsts(city.net, block)
    assert (fixed.trafo_tap_pos.values == city.net.trafo.tap_pos.to_numpy()).all()
    assert not ((fixed.vm_pu.sel(bus=city.net.trafo.lv_bus.to_numpy()).values
                 <= BAND_PU[1]).all()), "without control the band is left"


def test_tap_control_without_band_or_controllers_is_refused(city, block):
    with pytest.raises(qsts.QstsError, match="nothing to control"):
        qsts.run_qsts(city.net, block, tap_control=True)
    with pytest.raises(qsts.QstsError, match="lower limit must be below"):
        qsts.run_qsts(city.net, block, tap_control=True, tap_band_pu=(1.02, 1.0))


def test_single_steps_match_runpp_with_the_chosen_taps(city, block):
    ds = qsts.run_qsts(city.net, block, tap_control=True, tap_band_pu=BAND_PU)
    for k in (0, 17, 40):
        work = copy.deepcopy(city.net)
        work.trafo["tap_pos"] = ds.trafo_tap_pos.values[k]
        for name, (table, column, _) in qsts.PROFILE_COLUMNS.items():
            row = block[name].iloc[k]
            work[table].loc[row.index, column] = row.to_numpy()
        pp.runpp(work, calculate_voltage_angles=True, numba=True, tolerance_mva=1e-10)
        np.testing.assert_allclose(ds.vm_pu.values[k], work.res_bus.vm_pu.to_numpy(), rtol=0,
                                   atol=VM_TOL_PU)
        np.testing.assert_allclose(ds.trafo_pl_mw.values[k], work.res_trafo.pl_mw.to_numpy(),
                                   rtol=0, atol=1e-5)
