"""N-1: outages checked one by one against plain pandapower power flows and the topology."""

from __future__ import annotations

import copy

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from twin.electric.contingency import ContingencyError, n_minus_1, outage_list, study_hours
from twin.electric.powerflow import apply_profiles
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


def test_each_outage_matches_pandapower_and_the_customer_table(city, profiles, result):
    times = study_hours(profiles)
    for _, row in result.iterrows():
        worst_line, unsupplied = 0.0, None
        for at in times:
            n = copy.deepcopy(city.net)
            apply_profiles(n, profiles, at)
            n[row.element_type].at[row.element, "in_service"] = False
            pp.runpp(n, calculate_voltage_angles=True, numba=True)
            worst_line = max(worst_line, float(np.nanmax(n.res_line.loading_percent)))
            unsupplied = set(n.res_bus.index[n.res_bus.vm_pu.isna()])
        assert row.max_line_loading_percent == pytest.approx(worst_line, abs=1e-3)
        assert row.buses_unsupplied == len(unsupplied)
        loads = n.load.index[n.load.bus.isin(unsupplied)]
        assert row.customers_unsupplied == int(city.customers["load"].isin(loads).sum())


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
