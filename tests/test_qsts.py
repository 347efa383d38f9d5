"""QSTS engine against pandapower's own power flow, on the sample city."""

from __future__ import annotations

import copy
import re

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from twin.city import load_city
from twin.electric import qsts
from twin.electric.profiles import city_profiles

VM_TOL_PU = 1e-6
LOADING_TOL_PERCENT = 1e-3
POWER_TOL_MW = 1e-5


@pytest.fixture(scope="module")
def city():
    return load_city()


@pytest.fixture(scope="module")
def profiles(city):
    return city_profiles(city)


def _set_step(net, profiles, k):
    for name, (table, column, _) in qsts.PROFILE_COLUMNS.items():
        row = profiles[name].iloc[k]
        net[table].loc[row.index, column] = row.to_numpy()


def _runpp(net, profiles, k):
    work = copy.deepcopy(net)
    _set_step(work, profiles, k)
    pp.runpp(work, calculate_voltage_angles=True, numba=True, tolerance_mva=1e-10)
    return work


def _assert_matches_runpp(step, ref):
    """One time step of the QSTS dataset against a solved pandapower net."""
    pairs = [
        (step.vm_pu, ref.res_bus.vm_pu, VM_TOL_PU),
        (step.va_degree, ref.res_bus.va_degree, 1e-4),
        (step.p_mw, ref.res_bus.p_mw, POWER_TOL_MW),
        (step.q_mvar, ref.res_bus.q_mvar, POWER_TOL_MW),
        (step.line_loading_percent, ref.res_line.loading_percent, LOADING_TOL_PERCENT),
        (step.line_p_from_mw, ref.res_line.p_from_mw, POWER_TOL_MW),
        (step.line_q_from_mvar, ref.res_line.q_from_mvar, POWER_TOL_MW),
        (step.line_pl_mw, ref.res_line.pl_mw, POWER_TOL_MW),
        (step.trafo_loading_percent, ref.res_trafo.loading_percent, LOADING_TOL_PERCENT),
        (step.trafo_pl_mw, ref.res_trafo.pl_mw, POWER_TOL_MW),
    ]
    for ours, theirs, tol in pairs:
        np.testing.assert_allclose(ours.values, theirs.to_numpy(dtype=float), rtol=0, atol=tol,
                                   equal_nan=True, err_msg=ours.name)


def test_agrees_with_runpp_on_sampled_steps(city, profiles):
    index = profiles["load_p_mw"].index
    rng = np.random.default_rng(7)
    picks = np.sort(rng.choice(len(index), 50, replace=False))
    ds = qsts.run_qsts(city.net, profiles, times=index[picks], chunk_steps=16)
    assert ds.converged.all()
    assert (city.net.trafo.tap_pos != city.net.trafo.tap_neutral).any(), "taps not in play"
    for j, k in enumerate(picks):
        _assert_matches_runpp(ds.isel(time=j), _runpp(city.net, profiles, k))


def test_units_and_dims(city, profiles):
    ds = qsts.run_qsts(city.net, profiles, times=profiles["load_p_mw"].index[:4])
    for name, var in ds.data_vars.items():
        assert var.attrs.get("units"), f"{name} has no units"
    assert ds.vm_pu.dims == ("time", "bus")
    assert ds.line_loading_percent.dims == ("time", "line")
    assert ds.trafo_pl_mw.dims == ("time", "trafo")
    assert ds.converged.dims == ("time",) and ds.converged.dtype == bool
    assert ds.sizes["bus"] == len(city.net.bus)


def test_non_converging_step_is_flagged_not_filled(city, profiles):
    block = {k: v.iloc[1000:1005].copy() for k, v in profiles.items()}
    for name in ("load_p_mw", "load_q_mvar"):
        block[name].iloc[2] *= 50.0
    with pytest.raises(pp.LoadflowNotConverged):
        _runpp(city.net, block, 2)
    ds = qsts.run_qsts(city.net, block)
    assert ds.converged.values.tolist() == [True, True, False, True, True]
    bad = ds.isel(time=2)
    for name in ("vm_pu", "p_mw", "line_loading_percent", "trafo_loading_percent"):
        assert np.isnan(bad[name].values).all(), name
    for k in (1, 3):
        _assert_matches_runpp(ds.isel(time=k), _runpp(city.net, block, k))


def test_out_of_service_line_and_open_switch_are_honoured(city, profiles):
    net = city.electric_copy()
    closed_line_switch = net.switch.index[(net.switch.et == "l") & net.switch.closed][3]
    net.switch.loc[closed_line_switch, "closed"] = False
    net.line.loc[net.line.index[20], "in_service"] = False
    block = {k: v.iloc[[30000, 30040]] for k, v in profiles.items()}
    ds = qsts.run_qsts(net, block)
    assert ds.converged.all()
    for k in range(2):
        ref = _runpp(net, block, k)
        _assert_matches_runpp(ds.isel(time=k), ref)
    base = qsts.run_qsts(city.net, block)
    assert np.nanmax(np.abs(ds.vm_pu.values - base.vm_pu.values)) > 1e-4, "change had no effect"


def test_unsupplied_buses_are_nan_as_in_runpp(city, profiles):
    net = city.electric_copy()
    # a line out of service in a radial feeder cuts off the buses behind it
    net.line.loc[net.line.index[5], "in_service"] = False
    block = {k: v.iloc[[20000]] for k, v in profiles.items()}
    ref = _runpp(net, block, 0)
    ds = qsts.run_qsts(net, block)
    _assert_matches_runpp(ds.isel(time=0), ref)


def test_nan_in_profile_names_element_and_time(city, profiles):
    bad = dict(profiles)
    load = profiles["load_p_mw"].iloc[:96].copy()
    load.iloc[10, 3] = np.nan
    bad = {k: v.iloc[:96] for k, v in profiles.items()} | {"load_p_mw": load}
    element = load.columns[3]
    with pytest.raises(ValueError, match=rf"load_p_mw.*load {element} has 1 NaN.*{re.escape(str(load.index[10]))}"):
        qsts.run_qsts(city.net, bad)


def test_wrong_length_profile_is_refused(city, profiles):
    bad = {k: v.iloc[:96] for k, v in profiles.items()}
    bad["sgen_p_mw"] = profiles["sgen_p_mw"].iloc[:90]
    with pytest.raises(ValueError, match=r"'sgen_p_mw' has 90 steps but 'load_p_mw' has 96"):
        qsts.run_qsts(city.net, bad)


def test_unknown_element_is_refused(city, profiles):
    bad = {k: v.iloc[:4].copy() for k, v in profiles.items()}
    bad["load_q_mvar"][99999] = 0.0
    with pytest.raises(ValueError, match=r"load_q_mvar.*load \[99999\] not in the net"):
        qsts.run_qsts(city.net, bad)


def test_times_outside_profiles_are_refused(city, profiles):
    with pytest.raises(ValueError, match="not in the profiles"):
        qsts.run_qsts(city.net, profiles, times=[pd.Timestamp("1999-01-01", tz="UTC")])


def test_net_is_not_changed(city, profiles):
    before = city.net.load.p_mw.copy()
    qsts.run_qsts(city.net, profiles, times=profiles["load_p_mw"].index[:2])
    pd.testing.assert_series_equal(city.net.load.p_mw, before)


# --------------------------------------------------------------------------------------------
# streaming, chunked profiles, Dask, islands


def test_netcdf_stream_equals_memory_run(city, profiles, tmp_path):
    block = {k: v.iloc[5000:5100] for k, v in profiles.items()}
    mem = qsts.run_qsts(city.net, block, chunk_steps=30)
    path = tmp_path / "qsts.nc"
    disk = qsts.run_qsts(city.net, block, chunk_steps=30, out=path)
    assert path.exists() and not path.with_suffix(".nc.part").exists()
    for name in mem.data_vars:
        np.testing.assert_array_equal(disk[name].values, mem[name].values, err_msg=name)
        assert disk[name].attrs["units"] == mem[name].attrs["units"]
    np.testing.assert_array_equal(disk.time.values, mem.time.values)
    disk.close()
    small = qsts.run_qsts(city.net, block, out=tmp_path / "small.nc", dtype=np.float32,
                          variables=["vm_pu", "line_loading_percent"])
    assert set(small.data_vars) == {"vm_pu", "line_loading_percent", "converged", "bus_supplied"}
    assert small.vm_pu.dtype == np.float32
    np.testing.assert_allclose(small.vm_pu.values, mem.vm_pu.values, rtol=1e-6)
    small.close()


@pytest.fixture(scope="module")
def simbench_net(city):
    from twin.electric.network import simbench_grid

    return simbench_grid(city.recipe.electric_grid)


def test_simbench_profile_source_equals_simbench_absolute_values(simbench_net):
    import simbench

    from twin.electric.profiles import SimbenchProfileSource

    source = SimbenchProfileSource(simbench_net, year=2016, timezone="UTC")
    absolute = simbench.get_absolute_values(simbench_net, profiles_instead_of_study_cases=True)
    picks = np.array([0, 1, 777, 20_000, 35_135])
    for name, key in (("load_p_mw", ("load", "p_mw")), ("load_q_mvar", ("load", "q_mvar")),
                      ("sgen_p_mw", ("sgen", "p_mw"))):
        ref = absolute[key]
        assert source.elements(name).equals(pd.Index(ref.columns))
        np.testing.assert_allclose(source.chunk(name, picks), ref.to_numpy()[picks], rtol=1e-12)
    # the engine gives the same answer from the source as from the tables
    tables = {name: source.table(name, slice(100, 110)) for name in source.names}
    from_tables = qsts.run_qsts(simbench_net, tables)
    from_source = qsts.run_qsts(simbench_net, source, times=source.index[100:110])
    np.testing.assert_array_equal(from_source.vm_pu.values, from_tables.vm_pu.values)


def test_profile_source_of_another_net_is_refused(simbench_net):
    from twin.electric.profiles import SimbenchProfileSource

    other = copy.deepcopy(simbench_net)
    other.load.index = other.load.index + 100_000
    with pytest.raises(qsts.QstsError, match=r"load_p_mw.*load \[100000.*not in the net"):
        qsts.run_qsts(simbench_net, SimbenchProfileSource(other))
    broken = copy.deepcopy(simbench_net)
    column = f"{broken.load.profile.iloc[0]}_pload"
    broken.profiles["load"].loc[5, column] = np.nan
    with pytest.raises(ValueError, match=rf"profile type {column} has NaN"):
        SimbenchProfileSource(broken)


def test_dask_split_by_time_chunk_equals_serial_run(city, profiles):
    from twin.parallel import dask_client

    block = {k: v.iloc[12000:12160] for k, v in profiles.items()}
    serial = qsts.run_qsts(city.net, block, chunk_steps=40)
    seen = []
    with dask_client(n_workers=2) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        split = qsts.run_qsts(city.net, block, chunk_steps=40, client=client,
                              progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (160, 160) and len(seen) == 4
    for name in serial.data_vars:
        np.testing.assert_array_equal(split[name].values, serial[name].values, err_msg=name)
    with pytest.raises(qsts.QstsError, match="cannot be split over Dask"):
        qsts.run_qsts(city.net, block, tap_control=True, tap_band_pu=(0.95, 1.05),
                      client=object())


def test_island_is_flagged_unsupplied(city, profiles):
    net = city.electric_copy()
    line = net.line.index[5]
    net.line.loc[line, "in_service"] = False
    block = {k: v.iloc[[20000, 20001]] for k, v in profiles.items()}
    ds = qsts.run_qsts(net, block)
    ref = _runpp(net, block, 0)
    cut = ref.res_bus.vm_pu.isna().to_numpy()
    assert cut.sum() >= 1, "the outage must cut buses off"
    np.testing.assert_array_equal(ds.bus_supplied.values, ~cut)
    assert ds.converged.all()
    assert np.isnan(ds.vm_pu.values[:, cut]).all() and np.isfinite(ds.vm_pu.values[:, ~cut]).all()


def test_unknown_variable_is_refused(city, profiles):
    block = {k: v.iloc[:2] for k, v in profiles.items()}
    with pytest.raises(qsts.QstsError, match=r"variables \['vm'\] unknown"):
        qsts.run_qsts(city.net, block, variables=["vm"])
