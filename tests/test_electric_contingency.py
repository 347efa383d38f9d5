"""N-1: outages checked one by one against plain pandapower power flows and the topology."""

from __future__ import annotations

import copy

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from twin.electric.contingency import (
    ContingencyError,
    bridge_islands,
    n_minus_1,
    outage_list,
    study_hours,
)
from twin.electric.hosting_capacity import DISTRIBUTION_MAX_KV
from twin.electric.powerflow import VOLTAGE_BAND_PU, apply_profiles
from twin.scenario import profiles_of


@pytest.fixture(scope="module")
def profiles(city):
    return profiles_of(city)


@pytest.fixture(scope="module")
def sample_outages(city):
    """Both transformers, a feeder-head line and two lines deep in feeders."""
    lines = city.net.line.index[city.net.line.in_service]
    chosen = [("trafo", 0), ("trafo", 1), ("line", int(lines[0])), ("line", int(lines[25])),
              ("line", int(lines[-1]))]
    return pd.DataFrame(chosen, columns=["element_type", "element"])


@pytest.fixture(scope="module")
def result(city, profiles, sample_outages):
    return n_minus_1(city.net, profiles, outages=sample_outages, customers=city.customers)


def runpp_outage(net, profiles, times, element_type, element):
    """pandapower's own answer for one outage: per study hour, the solved copy of the net."""
    solved = []
    for at in times:
        n = copy.deepcopy(net)
        apply_profiles(n, profiles, at)
        n[element_type].at[element, "in_service"] = False
        pp.runpp(n, calculate_voltage_angles=True, numba=True, tolerance_mva=1e-10)
        solved.append(n)
    return solved


def assert_matches_runpp(row, solved):
    """The row's figures against runpp's results at every study hour."""
    dist = solved[0].bus.index[solved[0].bus.vn_kv <= DISTRIBUTION_MAX_KV]
    vm = np.array([n.res_bus.vm_pu.reindex(dist).to_numpy() for n in solved])
    # branches of a cut-off part have no loading (NaN): as not loaded, for the per-element max
    lines = np.array([n.res_line.loading_percent.fillna(-1).to_numpy() for n in solved])
    trafos = np.array([n.res_trafo.loading_percent.fillna(-1).to_numpy() for n in solved])
    assert row.converged
    assert row.vm_min_pu == pytest.approx(np.nanmin(vm), abs=1e-8)
    assert row.vm_max_pu == pytest.approx(np.nanmax(vm), abs=1e-8)
    band = VOLTAGE_BAND_PU
    assert row.voltage_violations == int(((vm < band[0]) | (vm > band[1])).any(axis=0).sum())
    assert row.max_line_loading_percent == pytest.approx(lines.max(), abs=1e-6)
    assert row.max_trafo_loading_percent == pytest.approx(trafos.max(), abs=1e-6)
    assert row.worst_line == solved[0].line.index[np.argmax(lines.max(axis=0))]
    assert row.overloads == int((lines.max(axis=0) > 100).sum()
                                + (trafos.max(axis=0) > 100).sum())


def test_each_outage_matches_pandapower_and_the_customer_table(city, profiles, result):
    times = study_hours(profiles)
    for _, row in result.iterrows():
        solved = runpp_outage(city.net, profiles, times, row.element_type, row.element)
        assert_matches_runpp(row, solved)
        n = solved[-1]
        unsupplied = set(n.res_bus.index[n.res_bus.vm_pu.isna()])
        assert row.buses_unsupplied == len(unsupplied)
        loads = n.load.index[n.load.bus.isin(unsupplied) & n.load.in_service]
        assert row.customers_unsupplied == int(city.customers["load"].isin(loads).sum())
        cut = max(float((m.load.p_mw * m.load.scaling).reindex(loads).sum()) for m in solved)
        assert row.load_unsupplied_mw == pytest.approx(cut, abs=1e-9)


def test_outages_in_closed_rings_match_pandapower(city, profiles):
    """With every normally-open point closed, ring lines are no bridges: the outage changes the
    meshed grid's admittance matrix (the compensated solve), and nobody is cut off."""
    meshed = copy.deepcopy(city.net)
    meshed.switch["closed"] = True
    times = study_hours(profiles)
    every = n_minus_1(meshed, profiles, times=times)
    in_rings = every[(every.element_type == "line") & (every.buses_unsupplied == 0)]
    assert len(in_rings) > 20
    for _, row in in_rings.iloc[[0, len(in_rings) // 2, -1]].iterrows():
        assert_matches_runpp(row, runpp_outage(meshed, profiles, times, "line", row.element))


def test_bridges_and_what_they_cut_off_by_hand():
    """Root 0; a loop 1-2-3, parallel lines 4=5, a spur 5-6: only 0-1, 1-4 and 5-6 cut."""
    ends = np.array([[0, 1], [1, 2], [2, 3], [3, 1], [1, 4], [4, 5], [5, 4], [5, 6]])
    tree = bridge_islands(8, ends, roots=[0])  # node 7 is on its own: never supplied
    cut = {e: sorted(tree.island(e).tolist()) for e in range(len(ends))}
    assert cut == {0: [1, 2, 3, 4, 5, 6], 1: [], 2: [], 3: [], 4: [4, 5, 6], 5: [], 6: [],
                   7: [6]}
    weights = np.arange(8.0)  # sum over what each edge strands
    assert tree.stranded(np.arange(8), weights).tolist() == [21, 0, 0, 0, 15, 0, 0, 6]
    assert tree.first[7] == -1


def test_ranking_puts_the_most_customers_first(result):
    assert list(result["rank"]) == list(range(1, len(result) + 1))
    assert result.customers_unsupplied.is_monotonic_decreasing
    assert result.iloc[0].element_type == "trafo"  # each transformer feeds its own busbar


def test_every_in_service_line_and_transformer_is_an_outage(city):
    outages = outage_list(city.net)
    assert len(outages) == int(city.net.line.in_service.sum() + city.net.trafo.in_service.sum())


def test_unknown_element_is_refused(city, profiles):
    bad = pd.DataFrame({"element_type": ["line"], "element": [10_000]})
    with pytest.raises(ContingencyError, match="line 10000 is not in the grid"):
        n_minus_1(city.net, profiles, outages=bad)


def test_restorable_customers_come_back_when_the_open_points_close(city, result):
    """Closing every normally-open switch reconnects what a line outage strands, except what
    hangs only on the outaged line (checked with the topology directly)."""
    import pandapower.topology as top

    assert (result.customers_restorable <= result.customers_unsupplied).all()
    for _, row in result.iterrows():
        tied = copy.deepcopy(city.net)
        tied.switch["closed"] = True
        tied[row.element_type].at[row.element, "in_service"] = False
        stranded = set(top.unsupplied_buses(tied))
        loads = tied.load.index[tied.load.bus.isin(stranded)]
        assert row.customers_unsupplied - row.customers_restorable == int(
            city.customers["load"].isin(loads).sum())
