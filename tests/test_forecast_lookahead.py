"""Look-ahead: forecasts of every load, PV unit and DMA drive the QSTS and EPANET runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasts import lookahead as la
from twin.parallel import dask_client

FAST = {"electric": "seasonal_naive_daily", "pv": "pv_smart_persistence",
        "water": "seasonal_naive_daily"}
HOURS = 6


@pytest.fixture(scope="module")
def result(sample_store, city):
    from twin.scenario import lookahead

    with dask_client(n_workers=2) as client:
        return lookahead(city, sample_store, hours=HOURS, models=FAST, client=client)


def test_issue_time_is_the_hour_after_the_data(result, sample_store):
    last = sample_store.read("electric_interval").time_utc.max()
    assert result.forecasts.issue_time == (last + pd.Timedelta("15min")).ceil("1h")
    assert len(result.forecasts.times) == HOURS


def test_loads_follow_the_seasonal_naive_rule(result):
    """Daily seasonal naive: each hour's load is the same hour a day earlier [kWh] / 1000."""
    fc = result.forecasts
    history = fc.electric.level("load")
    p = result.profiles["load_p_mw"]
    for hour in fc.times:
        day_before = history.loc[hour - pd.Timedelta("1D")]
        ids = [int(c.split(":")[1]) for c in day_before.index]
        np.testing.assert_allclose(p.loc[hour, ids].to_numpy(), day_before.to_numpy() / 1000.0,
                                   rtol=1e-9)


def test_pumps_run_on_the_water_results(result, city):
    from twin.coupling import pump_loads

    loads = pump_loads(city.net)
    p = result.profiles["load_p_mw"][loads.to_numpy()]
    flows = result.water["flow_m3s"].sel(link=list(loads.index)).values
    assert ((p.to_numpy() > 0) == (flows > 0)).all()  # a pump draws power exactly when it runs
    assert np.isfinite(result.electric["vm_pu"].sel(time=result.electric.time[0])).any()
    assert result.electric.sizes["time"] == HOURS


def test_water_demands_are_scaled_to_the_forecast(result, city):
    """Junction demands of a DMA over the model's own (pattern × base) equal its factor."""
    factors = result.demand_factors
    assert (factors > 0).all().all()
    demand = result.water["demand_m3s"]
    dma = factors.columns[0]
    junction = next(j for j in city.demand_junctions if city.dmas[j] == dma)
    wn = city.wn
    d = wn.get_node(junction).demand_timeseries_list[0]
    mult = wn.get_pattern(d.pattern_name or wn.options.hydraulic.pattern).multipliers
    hour0 = result.forecasts.times[0].tz_convert(city.timezone).hour
    modelled = np.array([d.base_value * mult[(hour0 + k) % len(mult)] for k in range(HOURS)])
    got = demand.sel(node=junction).values[:HOURS]
    np.testing.assert_allclose(got, modelled * factors[dma].to_numpy()[: len(got)], rtol=1e-4)


def test_low_pressure_list_matches_the_pressures(result, city):
    p = result.water["pressure_m"].sel(node=city.demand_junctions).values[:HOURS]
    assert len(result.low_pressure) == int((p < 20.0).sum())
    if len(result.violations):
        times = result.electric.time.values
        assert result.violations.start.min() >= times[0]


def test_bad_issue_time_is_refused(sample_store, city):
    from twin.scenario import profiles_of

    with pytest.raises(la.LookaheadError, match="whole hour"):
        la.lookahead_forecasts(sample_store, city, profiles_of(city), "2016-07-20 10:30",
                               client=object())
