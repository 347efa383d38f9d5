"""Hosting capacity per bus, checked bus by bus against plain pandapower power flows."""

from __future__ import annotations

import copy

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from twin.electric.hosting_capacity import (
    HostingCapacityError,
    critical_hours,
    hosting_capacity,
)
from twin.electric.powerflow import apply_profiles, violations
from twin.scenario import profiles_of

RESOLUTION_KW = 20.0


@pytest.fixture(scope="module")
def profiles(city):
    return profiles_of(city)


@pytest.fixture(scope="module")
def study(city, profiles):
    """Hosting capacity of a handful of buses spread over the feeders, at three hours."""
    feeders = city.net.bus.feeder
    buses = [int(feeders[feeders == f].index[-1]) for f in sorted(set(feeders) - {"substation",
                                                                              "unsupplied"})][:5]
    times = critical_hours(profiles, n=3)
    return buses, times, hosting_capacity(city.net, profiles, buses=buses, times=times,
                                          resolution_kw=RESOLUTION_KW)


def _breaks(net, profiles, at, bus, extra_kw) -> pd.DataFrame:
    """Violations of a plain pandapower power flow with ``extra_kw`` of PV at ``bus``."""
    n = copy.deepcopy(net)
    apply_profiles(n, profiles, at)
    pp.create_sgen(n, bus, p_mw=extra_kw / 1e3)
    pp.runpp(n, calculate_voltage_angles=True, numba=True)
    v = violations(n)
    hv_bus = (v.element_type == "bus") & v.element.map(n.bus.vn_kv).gt(35).to_numpy()
    return v[~hv_bus]


def test_capacity_is_feasible_and_one_step_more_is_not_in_pandapower(city, profiles, study):
    buses, times, hc = study
    assert list(hc.index) == buses
    for bus, row in hc.iterrows():
        if row.limited_by == "not reached":
            continue
        at = row.critical_time
        assert _breaks(city.net, profiles, at, bus, row.hosting_capacity_kw).empty
        over = _breaks(city.net, profiles, at, bus, row.hosting_capacity_kw + 2 * RESOLUTION_KW)
        assert not over.empty
        expected = {"line overload": ("line", "overload"),
                    "transformer overload": ("trafo", "overload"),
                    "overvoltage": ("bus", "overvoltage")}[row.limited_by]
        assert expected in set(zip(over.element_type, over.kind, strict=True))


def test_capacity_is_the_minimum_over_the_hours(city, profiles, study):
    buses, times, hc = study
    bus = buses[0]
    per_hour = [hosting_capacity(city.net, profiles, buses=[bus], times=[t],
                                 resolution_kw=RESOLUTION_KW).hosting_capacity_kw.iloc[0]
                for t in times]
    assert hc.loc[bus, "hosting_capacity_kw"] == pytest.approx(min(per_hour), abs=RESOLUTION_KW)


def test_critical_hours_export_most_one_per_day(profiles):
    hours = critical_hours(profiles, n=4)
    export = profiles["sgen_p_mw"].sum(axis=1) - profiles["load_p_mw"].sum(axis=1)
    assert len(set(hours.normalize())) == 4
    assert export[hours].min() >= export.quantile(0.99)


def test_bad_requests_are_refused(city, profiles):
    with pytest.raises(HostingCapacityError, match="not in the grid"):
        hosting_capacity(city.net, profiles, buses=[999_999])
    with pytest.raises(HostingCapacityError, match="resolution"):
        hosting_capacity(city.net, profiles, resolution_kw=0)
    with pytest.raises(HostingCapacityError, match="not in the profiles"):
        hosting_capacity(city.net, profiles, times=[pd.Timestamp("2030-01-01", tz="UTC")])


def test_base_case_violation_gives_zero(city, profiles):
    """A band that the base case already breaks leaves no room at all."""
    at = critical_hours(profiles, n=1)
    n = copy.deepcopy(city.net)
    apply_profiles(n, profiles, at[0])
    pp.runpp(n, numba=True)
    vmax = n.res_bus.vm_pu[n.bus.vn_kv <= 35].max()
    hc = hosting_capacity(city.net, profiles, buses=[int(n.bus.index[-1])], times=at,
                          voltage_band_pu=(0.5, float(vmax) - 1e-3))
    assert hc.hosting_capacity_kw.iloc[0] == 0.0
    assert bool(hc.base_violation.iloc[0])
    assert np.isfinite(vmax)
