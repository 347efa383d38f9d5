"""State estimation against the power flow it should recover, with measurements spoiled on purpose.

The truth is a pandapower power flow of the sample grid at a summer evening; SCADA, smart-meter
voltages and pseudo-measurements are drawn from it with seeded noise of their stated accuracy.
"""

from __future__ import annotations

import copy

import numpy as np
import pandapower as pp
import pandas as pd
import pytest

from twin.electric.powerflow import apply_profiles
from twin.electric.state_estimation import (
    AMI_V_STD_PU,
    PSEUDO_REL_STD,
    SCADA_POWER_REL_STD,
    SCADA_V_STD_PU,
    StateEstimationError,
    estimate_state,
    pseudo_measurements,
    scada_measurements,
    voltage_measurements,
)
from twin.scenario import profiles_of

AT = pd.Timestamp("2016-07-14 22:00", tz="UTC")
#: Largest voltage error expected of the estimate at the distribution buses [p.u.].
VM_TOLERANCE_PU = 0.003


@pytest.fixture(scope="module")
def truth(city):
    net = copy.deepcopy(city.net)
    apply_profiles(net, profiles_of(city), AT)
    pp.runpp(net, calculate_voltage_angles=True)
    return net


@pytest.fixture(scope="module")
def measured(truth):
    """SCADA (feeder heads, substation voltages), 30 % pseudo-injections, meter voltages."""
    n, rng = truth, np.random.default_rng(7)
    feeders = sorted(set(n.bus.feeder) - {"substation", "unsupplied"})
    p, q = {}, {}
    for f in feeders:
        line = int(f[1:])
        side = "from" if n.bus.at[n.line.at[line, "from_bus"], "feeder"] == "substation" else "to"
        p[f], q[f] = n.res_line.at[line, f"p_{side}_mw"], n.res_line.at[line, f"q_{side}_mvar"]
    p, q = pd.Series(p), pd.Series(q)
    station = n.bus.index[n.bus.feeder == "substation"]

    def noisy(s, rel):
        return s * (1 + rel * rng.standard_normal(len(s)))

    scada = scada_measurements(
        n, noisy(p, SCADA_POWER_REL_STD), noisy(q, SCADA_POWER_REL_STD),
        n.res_bus.vm_pu[station] + SCADA_V_STD_PU * rng.standard_normal(len(station)))
    live_load, live_sgen = n.load[n.load.in_service], n.sgen[n.sgen.in_service]
    pseudo = pseudo_measurements(n, noisy(live_load.p_mw, PSEUDO_REL_STD).clip(lower=0),
                                 noisy(live_load.q_mvar, PSEUDO_REL_STD),
                                 noisy(live_sgen.p_mw, PSEUDO_REL_STD).clip(lower=0))
    meters = sorted(set(live_load.bus) - set(station))
    ami = voltage_measurements(
        n.res_bus.vm_pu[meters] + AMI_V_STD_PU * rng.standard_normal(len(meters)),
        AMI_V_STD_PU, "ami")
    return {"scada": scada, "pseudo": pseudo, "ami": ami, "feeders": feeders}


def _error(estimate, truth) -> float:
    dist = truth.bus.index[truth.bus.vn_kv <= 35]
    return float((estimate.vm_pu[dist] - truth.res_bus.vm_pu[dist]).abs().max())


def test_clean_measurements_raise_no_alarm_and_recover_the_power_flow(truth, measured):
    m = pd.concat([measured["scada"], measured["pseudo"], measured["ami"]], ignore_index=True)
    est = estimate_state(truth, m)
    assert not est.bad_data_detected
    assert est.objective < est.chi2_threshold
    assert est.flagged.empty
    assert _error(est, truth) < VM_TOLERANCE_PU


def test_broken_busbar_voltage_transformer_is_found_and_removed(truth, measured):
    m = pd.concat([measured["scada"], measured["pseudo"], measured["ami"]], ignore_index=True)
    broken = m.index[(m.name == "BUS2.V") & (m.source == "scada")][0]
    m.loc[broken, "value"] -= 0.06
    spoiled = estimate_state(truth, m, detect_bad_data=False)
    assert _error(spoiled, truth) > 2 * VM_TOLERANCE_PU  # the bad reading drags the estimate
    est = estimate_state(truth, m)
    assert est.bad_data_detected
    assert list(est.flagged.index) == [broken]
    assert est.flagged.normalised_residual.iloc[0] > 3.0
    assert _error(est, truth) < VM_TOLERANCE_PU


def test_falsified_feeder_head_reading_is_detected_within_its_critical_set(truth, measured):
    """A feeder-head flow reading zero: the chi² test fires; without other measurements on the
    feeder the error can be pinned only to the head reading or the injections summing to it."""
    m = pd.concat([measured["scada"], measured["pseudo"]], ignore_index=True)
    feeder = measured["feeders"][3]
    falsified = m.index[m.name == f"{feeder}.P"][0]
    m.loc[falsified, "value"] = 0.0
    est = estimate_state(truth, m)
    assert est.bad_data_detected
    assert len(est.flagged) >= 1
    first = est.flagged.iloc[0]
    on_feeder = set(truth.bus.index[truth.bus.feeder == feeder])
    assert first.name == falsified or (first.element_type == "bus" and first.element in on_feeder)


def test_too_few_measurements_are_refused_with_advice(truth, measured):
    with pytest.raises(StateEstimationError, match="pseudo-measurements"):
        estimate_state(truth, measured["scada"])
    with pytest.raises(StateEstimationError, match="lacks columns"):
        estimate_state(truth, measured["scada"].drop(columns=["std_dev"]))
