"""The older commands' questions as scenarios (``twin simulate``, ``twin water outage``),
checked against the direct computations they replaced."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from pydantic import ValidationError

from twin import coupling as cp
from twin.scenario import (
    Base,
    Scenario,
    ScenarioError,
    run_moment,
    run_supply_outage,
    snapshot,
)
from twin.scenario.changes import Outage
from twin.water.hydraulics import MIN_SERVICE_PRESSURE_M


@pytest.mark.slow
def test_moment_matches_the_direct_snapshot(city):
    # January: local midnight is standard midnight, so both water clocks agree
    at = "2016-01-14 18:15"
    ref = snapshot(city, at)
    snap = run_moment(city, Scenario(name="moment", base=Base(
        at=datetime(2016, 1, 14, 18, 15), water_step_min=15, hosting_capacity=False)))
    assert snap.at_utc == ref.at_utc and snap.at_local == ref.at_local
    for key in ("load_mw", "generation_mw", "grid_import_mw", "losses_mw", "vm_min_pu",
                "vm_max_pu", "line_loading_max_percent", "trafo_loading_max_percent",
                "pump_kw"):
        assert snap.summary[key] == pytest.approx(ref.summary[key], rel=1e-4, abs=1e-4), key
    # the scenario runs EPANET pressure-driven (its default), the snapshot demand-driven
    for key in ("pressure_min_m", "pressure_mean_m", "demand_l_s"):
        assert snap.summary[key] == pytest.approx(ref.summary[key], rel=0.02), key
    assert snap.summary["violations"] == ref.summary["violations"]
    assert sorted(snap.violations.kind) == sorted(ref.violations.kind)


def test_moment_bad_input(city):
    with pytest.raises(ValidationError, match="outside the period"):
        Base(at=datetime(2016, 1, 14, 18), start="2016-01-16", days=1)
    with pytest.raises(ScenarioError, match="base.at is not set"):
        run_moment(city, Scenario(name="period", base=Base(start="2016-01-14", days=1)))
    with pytest.raises(ScenarioError, match="outside the city's year"):
        run_moment(city, Scenario(name="late", base=Base(at=datetime(2031, 1, 1))))
    base = Base(at=datetime(2016, 3, 2, 7, 30))
    assert (base.start.isoformat(), base.days) == ("2016-03-02", 1)


@pytest.mark.slow
def test_supply_outage_matches_the_direct_outage_run(city):
    feeder = city.net.bus.feeder[int(city.pumps.set_index("pump").loc["335", "bus"])]
    scenario = Scenario(name="trip", base=Base(start="2016-07-14", days=3,
                                               hosting_capacity=False),
                        changes=[Outage(kind="feeder", element=feeder,
                                        start=datetime(2016, 7, 14, 20), hours=6)])
    found = run_supply_outage(city, scenario)
    assert found.pumps_out == cp.pumps_fed_by(city.net, city.pumps, feeders=[feeder])
    # the direct run: 20:00 EDT is 19 h after local standard midnight, where the period starts
    base, out = cp.pump_outage_hydraulics(city.wn, found.pumps_out, 19, 6, 19 + 6 + 24)
    ref = cp.pressure_loss_by_dma(base, out, city.dmas, city.wn.junction_name_list,
                                  MIN_SERVICE_PRESSURE_M)
    got = found.by_dma.set_index("dma")
    ref = ref.set_index("dma")
    assert list(got.index) == list(ref.index)
    np.testing.assert_array_equal(got.junctions_low, ref.junctions_low)
    np.testing.assert_array_equal(got.hours_low, ref.hours_low)
    np.testing.assert_array_equal(got.first_low_h, ref.first_low_h)
    np.testing.assert_allclose(got.min_pressure_m, ref.min_pressure_m, atol=0.05)
    assert ref.junctions_low.sum() > 0
    assert found.start_local.strftime("%Y-%m-%d %H:%M") == "2016-07-14 01:00"  # EDT of EST 0:00
    with pytest.raises(ScenarioError, match="F999"):
        run_supply_outage(city, scenario.model_copy(update={"changes": [
            Outage(kind="feeder", element="F999", start=datetime(2016, 7, 14, 20), hours=6)]}))
