"""Minimum night flow at the SCADA's own step, against the true use of an EPANET run.

C-Town (every DMA fed by pump stations, every DMA with a tank, pumps switched by tank
levels): the night's use computed from boundary flows and tank levels at 5-min steps is the
DMAs' demand to about a litre per second; from hourly instantaneous values it is off by
tens of L/s, because a pump switched within the hour is seen on or off for the whole hour
while the tank level change is exact.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_city_import import CTOWN, ctown_boundary_meters

from twin import schemas
from twin.importers.water import dma_zones
from twin.water.balance import zone_storage_m3
from twin.water.dma import dma_names, net_inflow_l_s
from twin.water.hydraulics import simulate
from twin.water.network import read_inp
from twin.water.night_flow import minimum_night_flow

TZ, NIGHTS = "Europe/Berlin", 3


@pytest.fixture(scope="module")
def ctown_run(tmp_path_factory):
    wn = read_inp(CTOWN)
    meters = schemas.read_table("boundary_meters", ctown_boundary_meters(
        tmp_path_factory.mktemp("ctown") / "m.csv"))
    zones, dma_meters, _, _ = dma_zones(wn, meters)
    ds = simulate(wn, NIGHTS * 86400, 300)
    times = pd.Timestamp("2016-01-11", tz=TZ).tz_convert("UTC") + pd.to_timedelta(
        ds.time.values, unit="s")
    flow = ds.flow_m3s.to_pandas().set_axis(times) * 1000
    flows = pd.DataFrame({m.meter_id: flow[m.link] for m in dma_meters.itertuples()})
    inflow = net_inflow_l_s(flows, dma_meters)
    elevation = np.array([wn.get_node(t).elevation for t in wn.tank_name_list])
    levels = ds.head_m.to_pandas().set_axis(times)[wn.tank_name_list] - elevation
    stored = zone_storage_m3(levels, wn, zones)
    demand = ds.demand_m3s.to_pandas().set_axis(times)[wn.junction_name_list] * 1000
    use = demand.T.groupby(zones[wn.junction_name_list].to_numpy()).sum().T
    local = use.index.tz_convert(TZ)
    night = use[(local.hour >= 2) & (local.hour < 4)]
    true = night.groupby(night.index.tz_convert(TZ).date).mean()
    return inflow, stored, true, dma_names(zones)


def test_night_flow_at_5_min_is_the_true_use_hourly_snapshots_are_not(ctown_run):
    inflow, stored, true, dmas = ctown_run
    fine = minimum_night_flow(inflow, stored, TZ)
    hours = inflow.index[inflow.index.minute == 0]
    coarse = minimum_night_flow(inflow.loc[hours], stored.loc[hours], TZ)
    assert len(fine) == NIGHTS and len(coarse) == NIGHTS
    err_fine = (fine[dmas] - true.loc[fine.index, dmas]).abs().to_numpy()
    err_coarse = (coarse[dmas] - true.loc[coarse.index, dmas]).abs().to_numpy()
    assert err_fine.max() < 1.5, err_fine  # L/s
    assert err_coarse.max() > 5 * err_fine.max(), (err_coarse, err_fine)
