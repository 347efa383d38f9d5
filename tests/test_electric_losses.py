"""Technical losses per element and per feeder from QSTS, against independent references.

References: the energy balance of the bus injections (all buses: Σ load − Σ generation −
import = −losses; per feeder: power in at the head minus the feeder's bus powers), and
pandapower's own ``runpp`` at one step.
"""

from __future__ import annotations

import copy

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from twin.electric import losses
from twin.electric.qsts import PROFILE_COLUMNS, run_qsts
from twin.scenario import profiles_of


@pytest.fixture(scope="module")
def day(city):
    """QSTS of the sample city over one summer day (96 steps)."""
    profiles = profiles_of(city)
    times = profiles["load_p_mw"].index[196 * 96:197 * 96]
    return profiles, run_qsts(city.net, profiles, times=times)


def test_total_losses_match_the_bus_energy_balance(day):
    _, ds = day
    assert ds.converged.all()
    # Σ over buses of p (load convention: load − generation − import) is −losses at each step
    balance_mwh = -float(ds.p_mw.sum()) * 0.25
    assert losses.total_losses_mwh(ds) == pytest.approx(balance_mwh, rel=1e-6)


def test_feeder_losses_match_head_minus_bus_powers(city, day):
    _, ds = day
    net = city.net
    fl = losses.feeder_losses(ds, net)
    head = losses.feeder_head_p_mw(ds, net)
    bus_feeder = net.bus.feeder.reindex(ds.bus.values).to_numpy()
    for f in head.columns:
        # what enters at the head and is not taken by the feeder's buses is lost in its lines
        bus_mwh = float(ds.p_mw.sel(bus=ds.bus.values[bus_feeder == f]).sum()) * 0.25
        reference = float(head[f].sum()) * 0.25 - bus_mwh
        assert fl.loc[f, "losses_mwh"] == pytest.approx(reference, rel=1e-6, abs=1e-9), f
        assert fl.loc[f, "delivered_mwh"] == pytest.approx(float(head[f].sum()) * 0.25)
    # elements add up to the feeders, the feeders to the total
    el = losses.element_losses(ds, net)
    assert el.energy_mwh.sum() == pytest.approx(losses.total_losses_mwh(ds), rel=1e-9)
    assert fl.losses_mwh.sum() == pytest.approx(losses.total_losses_mwh(ds), rel=1e-9)
    busy = fl.drop("substation")
    busy = busy[busy.delivered_mwh > 1]
    assert ((busy.losses_percent > 0) & (busy.losses_percent < 5)).all(), busy
    sub = fl.loc["substation"]
    assert sub.losses_mwh == pytest.approx(el[el.element_type == "trafo"].energy_mwh.sum()
                                           + el[(el.element_type == "line")
                                                & (el.feeder == "substation")].energy_mwh.sum())


def test_losses_of_one_step_match_runpp(city, day):
    profiles, ds = day
    k = 75
    at = pd.Timestamp(ds.time.values[k]).tz_localize("UTC")
    net = copy.deepcopy(city.net)
    for name, (table, column, _) in PROFILE_COLUMNS.items():
        row = profiles[name].loc[at]
        net[table].loc[row.index, column] = row.to_numpy()
    pp.runpp(net, calculate_voltage_angles=True, numba=True, tolerance_mva=1e-10)
    # the step itself against pandapower, per feeder [MW]
    feeder = losses.line_feeders(net)
    ref = net.res_line.pl_mw.groupby(feeder).sum()
    ours = losses.feeder_line_losses_mw(ds.isel(time=[k]), city.net).iloc[0]
    np.testing.assert_allclose(ours.reindex(ref.index).to_numpy(), ref.to_numpy(), atol=1e-7)
    head = losses.feeder_head_p_mw(ds.isel(time=[k]), city.net).iloc[0]
    heads = losses.head_lines(net)
    ref_head = np.where(heads.substation_end == "from", net.res_line.p_from_mw.loc[heads.index],
                        net.res_line.p_to_mw.loc[heads.index])
    np.testing.assert_allclose(head.reindex(heads.feeder).to_numpy(), ref_head, atol=1e-6)


def test_feeders_must_be_named(city, day):
    _, ds = day
    net = copy.deepcopy(city.net)
    net.bus = net.bus.drop(columns="feeder")
    with pytest.raises(losses.LossesError, match="feeder"):
        losses.feeder_losses(ds, net)
