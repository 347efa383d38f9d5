"""The base case at one moment, and the city's year of profiles shared by every study.

The simplest scenario is the base case at one moment, :func:`snapshot`: the water network's
state from EPANET gives the pumps' power, which becomes load on their buses for one AC power
flow of the grid.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pandas as pd
import xarray as xr

from twin.city import City
from twin.coupling import pump_power_kw, set_pump_power
from twin.electric import powerflow
from twin.electric.profiles import STEP, city_profiles
from twin.timeutil import TimeError, parse_local_time
from twin.water import hydraulics


@dataclass(frozen=True)
class Snapshot:
    """The state of both networks at one moment."""

    at_utc: pd.Timestamp
    at_local: pd.Timestamp
    electric: xr.Dataset
    water: xr.Dataset
    pumps: pd.DataFrame
    violations: pd.DataFrame
    summary: dict = field(default_factory=dict)


#: Limits a snapshot is checked against by default, re-exported for apps and scripts.
VOLTAGE_BAND_PU = powerflow.VOLTAGE_BAND_PU
MAX_LOADING_PERCENT = powerflow.MAX_LOADING_PERCENT
MIN_SERVICE_PRESSURE_M = hydraulics.MIN_SERVICE_PRESSURE_M

_PROFILES: dict[int, tuple[City, dict]] = {}
_PROFILES_LOCK = threading.Lock()


def profiles_of(city: City) -> dict:
    """The city's year of profiles, read once per process and shared read-only (thread-safe)."""
    with _PROFILES_LOCK:
        if id(city) not in _PROFILES:  # the city is kept alive with its profiles: ids stay unique
            _PROFILES[id(city)] = (city, city_profiles(city))
        return _PROFILES[id(city)][1]


def snapshot(
    city: City,
    at: str | pd.Timestamp,
    min_pressure_m: float = MIN_SERVICE_PRESSURE_M,
    voltage_band_pu: tuple[float, float] = VOLTAGE_BAND_PU,
) -> Snapshot:
    """Solve both networks at one moment of the city's year.

    Parameters
    ----------
    city : City
    at : str or Timestamp
        City time, e.g. ``"2016-07-14 18:00"``; rounded down to the 15-min step.
    min_pressure_m : float
        Minimum service pressure [m].
    voltage_band_pu : (float, float)
        Allowed voltage band [p.u.].

    Raises
    ------
    TimeError
        When ``at`` is not a time or lies outside the city's year of profiles.
    """
    profiles = profiles_of(city)
    at_utc = parse_local_time(at, city.timezone).floor(STEP)
    index = profiles["load_p_mw"].index
    if not index[0] <= at_utc <= index[-1]:
        first = index[0].tz_convert(city.timezone)
        last = index[-1].tz_convert(city.timezone)
        raise TimeError(f"{at} is outside the city's year: give a time from {first:%Y-%m-%d %H:%M}"
                        f" to {last:%Y-%m-%d %H:%M} ({city.timezone})")
    at_local = at_utc.tz_convert(city.timezone)

    water = hydraulics.state_at_clock(city.wn, at_local.tz_localize(None))
    pumps = pump_state(city, water)

    net = city.electric_copy()
    powerflow.apply_profiles(net, profiles, at_utc)
    set_pump_power(net, pumps["power_kw"])
    powerflow.solve(net)
    electric = powerflow.results_dataset(net)

    frames = [powerflow.violations(net, voltage_band_pu),
              hydraulics.low_pressure(water, city.demand_junctions, min_pressure_m)]
    found = pd.concat([f for f in frames if not f.empty] or frames[:1], ignore_index=True)
    summary = {**powerflow.summary(net), **hydraulics.summary(water, city.demand_junctions),
               "pump_kw": float(pumps["power_kw"].sum()), "violations": len(found)}
    return Snapshot(at_utc, at_local, electric, water, pumps, found, summary)


def pump_state(city: City, water: xr.Dataset) -> pd.DataFrame:
    """Flow, head gain and electrical power of every pump in a hydraulic state.

    Returns
    -------
    DataFrame
        Indexed by pump: ``flow_m3s``, ``head_m``, ``power_kw`` and ``bus``.
    """
    rows = {}
    heads = water["head_m"].to_series()
    flows = water["flow_m3s"].to_series()
    for p in city.pumps.itertuples():
        link = city.wn.get_link(p.pump)
        flow = flows[p.pump]
        # a stopped pump adds no head; the difference across it is the closed valve's
        head = heads[link.end_node_name] - heads[link.start_node_name] if flow > 0 else 0.0
        rows[p.pump] = (flow, head, float(pump_power_kw(flow, head, p.efficiency)), p.bus)
    return pd.DataFrame.from_dict(rows, orient="index",
                                  columns=["flow_m3s", "head_m", "power_kw", "bus"])
