"""One DMA and the tanks over time from an extended-period simulation."""

from __future__ import annotations

import pandas as pd
import wntr
import xarray as xr

from twin.water.dma import net_inflow_l_s


def _times(ds: xr.Dataset, start_utc: pd.Timestamp) -> pd.DatetimeIndex:
    seconds = pd.to_timedelta(ds["time"].to_numpy(), unit="s")
    return pd.DatetimeIndex(start_utc + seconds, name="time")


def dma_series(ds: xr.Dataset, meters: pd.DataFrame, zones: pd.Series, junctions: list[str],
               dma: str, start_utc: pd.Timestamp) -> pd.DataFrame:
    """Net inflow and pressure spread of one DMA at every step of a simulation.

    Parameters
    ----------
    ds : Dataset
        :func:`twin.water.hydraulics.simulate` result (``time`` in seconds from the start).
    meters : DataFrame
        Boundary meters ``meter_id``, ``link``, ``from_zone``, ``to_zone`` (``city.dma_meters``).
    zones : Series
        Zone of every node (``city.dmas``).
    junctions : list of str
        Demand junctions (``city.demand_junctions``): the pressures are theirs.
    dma : str
    start_utc : Timestamp
        UTC time of the simulation's time 0.

    Returns
    -------
    DataFrame
        Indexed by UTC ``time``: ``inflow_l_s`` [L/s], ``pressure_min_m``,
        ``pressure_mean_m``, ``pressure_max_m`` [m].

    Raises
    ------
    KeyError
        For a DMA the city does not have.
    """
    if dma not in set(zones):
        raise KeyError(f"no DMA {dma!r}; the city's DMAs are "
                       f"{', '.join(sorted(z for z in set(zones) if z.startswith('DMA')))}")
    times = _times(ds, start_utc)
    flows = ds["flow_m3s"].sel(link=meters.link.astype(str).to_list()).to_numpy() * 1000.0
    inflow = net_inflow_l_s(pd.DataFrame(flows, index=times, columns=meters.meter_id.to_list()),
                            meters)
    nodes = [j for j in junctions if zones.get(j) == dma]
    p = ds["pressure_m"].sel(node=nodes)
    return pd.DataFrame({
        "inflow_l_s": inflow[dma].to_numpy() if dma in inflow else 0.0,
        "pressure_min_m": p.min("node").to_numpy(), "pressure_mean_m": p.mean("node").to_numpy(),
        "pressure_max_m": p.max("node").to_numpy()}, index=times)


def tank_levels_m(ds: xr.Dataset, wn: wntr.network.WaterNetworkModel,
                  start_utc: pd.Timestamp) -> pd.DataFrame:
    """Water level of every tank above its bottom [m] (time × tank): head minus elevation."""
    tanks = wn.tank_name_list
    head = ds["head_m"].sel(node=tanks).to_numpy()
    elev = [wn.get_node(t).elevation for t in tanks]
    return pd.DataFrame(head - elev, index=_times(ds, start_utc), columns=tanks)
