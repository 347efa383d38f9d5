"""Violation events, totals and the EN 50160 weekly check of QSTS results.

A hand-built result with known runs checks the run-length logic, durations, worst values
and overload energy by hand; a QSTS of the sample city is checked step by step against
pandapower's own ``runpp`` and the snapshot check ``twin.electric.powerflow.violations``.
"""

from __future__ import annotations

import copy

import numpy as np
import pandapower as pp
import pandas as pd
import pytest
import xarray as xr

from twin.electric import powerflow, violations
from twin.electric.qsts import PROFILE_COLUMNS, run_qsts
from twin.scenario import profiles_of

T0 = pd.Timestamp("2016-07-04 04:00")


def tiny_net():
    """Three buses, two lines and a transformer: names and ratings for the hand-built result."""
    net = pp.create_empty_network()
    b = [pp.create_bus(net, vn_kv=kv, name=f"b{i}") for i, kv in enumerate([110.0, 10.0, 10.0])]
    pp.create_ext_grid(net, b[0])
    pp.create_transformer(net, b[0], b[1], std_type="25 MVA 110/10 kV", name="t0")
    pp.create_line_from_parameters(net, b[1], b[2], 1.0, 0.1, 0.1, 10.0, max_i_ka=0.2,
                                   name="l0")
    pp.create_line_from_parameters(net, b[1], b[2], 1.0, 0.1, 0.1, 10.0, max_i_ka=0.3,
                                   name="l1")
    return net


def hand_dataset(times):
    n = len(times)
    vm = np.full((n, 3), 1.0)
    vm[2:5, 1] = [0.89, 0.87, 0.88]  # undervoltage, 3 steps, worst 0.87
    vm[9:12, 2] = [1.11, 1.12, 1.105]  # overvoltage to the end, worst 1.12
    vm[5, 0] = np.nan  # converged step without voltage: unsupplied
    line = np.full((n, 2), 50.0)
    line[0:2, 0] = [120.0, 130.0]  # overload from the first step
    trafo = np.full((n, 1), 40.0)
    trafo[6, 0] = 150.0  # one step, but step 7 did not converge: runs do not bridge it
    ok = np.ones(n, dtype=bool)
    ok[7] = False
    vm[7] = np.nan
    line[7] = np.nan
    trafo[7] = np.nan
    return xr.Dataset(
        {"vm_pu": (("time", "bus"), vm), "line_loading_percent": (("time", "line"), line),
         "trafo_loading_percent": (("time", "trafo"), trafo), "converged": (("time",), ok)},
        coords={"time": times, "bus": [0, 1, 2], "line": [0, 1], "trafo": [0]})


def test_events_of_a_hand_built_result():
    net = tiny_net()
    times = pd.date_range(T0, periods=12, freq="15min")
    ds = hand_dataset(times)
    ev = violations.find_violations(ds, net)
    got = {(r.element_type, r.element, r.kind): r for r in ev.itertuples()}
    assert len(ev) == 6, ev

    uv = got[("bus", 1, "undervoltage")]
    assert (uv.start, uv.end, uv.steps) == (times[2], times[5], 3)
    assert uv.duration_h == pytest.approx(0.75) and uv.worst == pytest.approx(0.87)
    assert uv.name == "b1" and uv.limit == 0.90

    ov = got[("bus", 2, "overvoltage")]
    assert (ov.start, ov.end, ov.steps) == (times[9], times[11] + pd.Timedelta("15min"), 3)
    assert ov.worst == pytest.approx(1.12)

    assert got[("bus", 0, "unsupplied")].steps == 1  # not the non-converged step 7

    ol = got[("line", 0, "overload")]
    rating = np.sqrt(3) * 10.0 * 0.2  # [MVA]
    assert ol.steps == 2 and ol.worst == 130.0
    assert ol.overload_energy_mvah == pytest.approx((0.2 + 0.3) * rating * 0.25)

    tr = got[("trafo", 0, "overload")]
    assert tr.steps == 1 and tr.overload_energy_mvah == pytest.approx(0.5 * 25.0 * 0.25)

    nc = got[("step", -1, "not_converged")]
    assert (nc.start, nc.steps) == (times[7], 1)

    totals = violations.violation_totals(ds, net).set_index(["element_type", "element"])
    assert totals.loc[("bus", 1), "hours_outside_band"] == pytest.approx(0.75)
    assert totals.loc[("bus", 1), "vm_min_pu"] == pytest.approx(0.87)
    assert totals.loc[("line", 0), "overload_hours"] == pytest.approx(0.5)
    assert ("line", 1) not in totals.index


def test_runs_break_at_gaps_in_time_and_at_custom_limits():
    net = tiny_net()
    times = pd.date_range(T0, periods=12, freq="15min")
    # steps 0-5 and 6-11 are two separate days: a run cannot bridge them
    times = times[:6].append(times[6:] + pd.Timedelta("1D"))
    ds = hand_dataset(times)
    ds["line_loading_percent"][:, 1] = 95.0
    ds["line_loading_percent"][7, 1] = np.nan  # as QSTS leaves a step that did not converge
    ev = violations.find_violations(ds, net, voltage_band_pu=(0.95, 1.05),
                                    max_loading_percent=90.0)
    l1 = ev[(ev.element_type == "line") & (ev.element == 1)]
    assert list(l1.steps) == [6, 1, 4]  # 0-5 | 6 | 8-11 (a day apart; 7 did not converge)
    l1_runs = violations.runs(ds.line_loading_percent.values[:, 1] > 90.0,
                              violations._contiguity(ds.time.values, 0.25))
    assert list(l1_runs[1]) == [0, 6, 8] and list(l1_runs[2]) == [6, 7, 12]
    with pytest.raises(violations.ViolationError, match="lower limit"):
        violations.find_violations(ds, net, voltage_band_pu=(1.1, 0.9))
    with pytest.raises(violations.ViolationError, match="lacks"):
        violations.find_violations(ds.drop_vars("converged"), net)


def test_en50160_weekly_counts_by_hand():
    times = pd.date_range(T0, periods=2 * 7 * 96, freq="15min")
    n = len(times)
    vm = np.full((n, 3), 1.0)
    week1 = np.arange(7 * 96)
    vm[week1[:26], 0] = 0.88  # 26 of 672 = 3.9 % outside: passes
    vm[week1[:41], 1] = 0.88  # 41 of 672 = 6.1 % outside: fails
    vm[7 * 96 + 5, 0] = 0.84  # one mean below −15 % in week 2: fails
    ok = np.ones(n, dtype=bool)
    ok[7 * 96 + 10] = False  # a step without result: week 2 cannot be shown to pass
    vm[7 * 96 + 10] = np.nan
    ds = xr.Dataset({"vm_pu": (("time", "bus"), vm), "converged": (("time",), ok)},
                    coords={"time": times, "bus": [0, 1, 2]})
    w = violations.en50160_weekly(ds)
    share = w.share_in_band_percent.values
    assert share[0, 0] == pytest.approx(100 * (672 - 26) / 672)
    assert share[0, 1] == pytest.approx(100 * (672 - 41) / 672)
    assert w.passes.values[0].tolist() == [True, False, True]
    assert w.passes.values[1].tolist() == [False, False, False]
    assert w.steps_missing.values[1].tolist() == [1, 1, 1]
    assert w.vm_min_pu.values[1, 0] == pytest.approx(0.84)
    assert w.complete.values.tolist() == [True, True]
    assert "15-min means" in w.attrs["note"]


@pytest.fixture(scope="module")
def peak_result(city):
    """QSTS of the sample city over four hours of a summer evening."""
    profiles = profiles_of(city)
    times = profiles["load_p_mw"].index[(196 * 96 + 68):(196 * 96 + 84)]
    return profiles, run_qsts(city.net, profiles, times=times)


def test_events_agree_with_runpp_at_steps(city, peak_result):
    profiles, ds = peak_result
    # a band tight enough that the evening peak breaks it, and a low thermal limit
    band = (float(ds.vm_pu.quantile(0.2)), float(ds.vm_pu.quantile(0.8)))
    limit = float(ds.line_loading_percent.quantile(0.9))
    events = violations.find_violations(ds, city.net, band, limit)
    assert len(events) > 10
    for k in (3, 11):
        at = pd.Timestamp(ds.time.values[k])
        net = copy.deepcopy(city.net)
        for name, (table, column, _) in PROFILE_COLUMNS.items():
            row = profiles[name].loc[at.tz_localize("UTC")]
            net[table].loc[row.index, column] = row.to_numpy()
        pp.runpp(net, calculate_voltage_angles=True, numba=True, tolerance_mva=1e-10)
        ref = powerflow.violations(net, band, limit)
        ref = ref[ref.element_type != "trafo"] if not (net.res_trafo.loading_percent
                                                       > limit).any() else ref
        expected = set(zip(ref.element_type, ref.element.astype(int), ref.kind, strict=True))
        active = events[(events.start <= at) & (events.end > at)]
        found = set(zip(active.element_type, active.element.astype(int), active.kind,
                        strict=True))
        assert found == expected, at
        assert len(expected) > 0
