"""Scenarios: what the city looks like at a time, and under changes a planner asks for.

The simplest scenario is the base case at one moment, :func:`snapshot`: the water network's
state from EPANET gives the pumps' power, which becomes load on their buses for one AC power
flow of the grid.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
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


# --------------------------------------------------------------------------------------------
# Look-ahead: the next 48 hours of both networks under the forecasts


@dataclass(frozen=True)
class Lookahead:
    """Both networks over the look-ahead hours, driven by the forecasts.

    Attributes
    ----------
    forecasts : forecasts.lookahead.LookaheadForecasts
    profiles : dict
        The QSTS profiles made from them (time × element [MW], [Mvar]), pumps included.
    electric : Dataset
        QSTS result (``twin.electric.qsts.run_qsts``).
    water : Dataset
        EPANET result (``time`` in seconds from the issue time).
    violations : DataFrame
        Voltage and thermal violation events (``twin.electric.violations.find_violations``).
    low_pressure : DataFrame
        Junction-hours below the minimum service pressure, with their UTC ``time``.
    demand_factors : DataFrame
        time × DMA factor applied to the water model's demands [-].
    """

    forecasts: object
    profiles: dict
    electric: xr.Dataset
    water: xr.Dataset
    violations: pd.DataFrame
    low_pressure: pd.DataFrame
    demand_factors: pd.DataFrame


def _lookahead_patterns(city: City, local_hour: int, hours: int) -> dict[str, list[float]]:
    """Each demand junction's pattern multipliers over the look-ahead hours, from its clock."""
    wn = city.wn
    default = wn.options.hydraulic.pattern
    out = {}
    for j in city.demand_junctions:
        demand = wn.get_node(j).demand_timeseries_list[0]
        name = demand.pattern_name or default
        mult = wn.get_pattern(name).multipliers if name else [1.0]
        out[j] = [float(mult[(local_hour + k) % len(mult)]) for k in range(hours)]
    return out


def _modelled_metered_use(city: City, patterns: dict, metered: pd.Index,
                          times: pd.DatetimeIndex) -> pd.DataFrame:
    """The metered customers' use the water model assumes, per DMA node [m3/h]."""
    wn = city.wn
    mult = wn.options.hydraulic.demand_multiplier
    cust = city.customers.set_index(city.customers.water_meter_id.astype(str))
    ids = [m.split(":", 1)[1] for m in metered]
    cust = cust.loc[[i for i in ids if i in cust.index]]
    cols = {}
    for dma, group in cust.groupby("dma"):
        use = np.zeros(len(times))
        for junction, share in zip(group.junction.astype(str), group.water_share, strict=True):
            if junction in patterns:
                base = wn.get_node(junction).demand_timeseries_list[0].base_value
                use += share * base * mult * np.asarray(patterns[junction]) * 3600.0
        cols[f"dma:{dma}"] = use
    return pd.DataFrame(cols, index=times)


def lookahead(
    city: City,
    store,
    issue_time=None,
    hours: int = 48,
    models: dict | None = None,
    min_pressure_m: float = MIN_SERVICE_PRESSURE_M,
    voltage_band_pu: tuple[float, float] = VOLTAGE_BAND_PU,
    client=None,
    scheduler: str | None = None,
    progress=None,
) -> Lookahead:
    """Forecast the next ``hours`` and run both networks on them: what will break?

    Every load point, rooftop PV unit and DMA is forecast from the store
    (:func:`forecasts.lookahead.lookahead_forecasts`). The water model runs with each DMA's
    demands scaled by forecast / modelled metered use, from the issue hour's clock (tanks
    start at their initial levels); its pumps' power per hour becomes load on their buses;
    the grid is solved for every hour by the QSTS engine.

    Returns
    -------
    Lookahead
    """
    from forecasts import lookahead as la
    from twin.coupling import pump_loads, pump_q_mvar
    from twin.electric.qsts import run_qsts
    from twin.electric.violations import find_violations

    profiles = profiles_of(city)
    fc = la.lookahead_forecasts(store, city, profiles, issue_time, hours, models,
                                client=client, scheduler=scheduler, progress=progress)
    times = fc.times
    local_hour = int(times[0].tz_convert(city.timezone).hour)

    # ---- water: demands scaled per DMA, clock from the issue hour
    patterns = _lookahead_patterns(city, local_hour, hours)
    metered = fc.water_series.bottom.columns
    modelled = _modelled_metered_use(city, patterns, metered, times)
    factors = la.dma_demand_factors(fc, modelled)
    wn = city.water_copy()
    for j, values in patterns.items():
        dma = city.dmas.get(j)
        f = factors[dma].to_numpy() if dma in factors.columns else np.ones(hours)
        wn.add_pattern(f"lookahead-{j}", list(np.asarray(values) * f))
        wn.get_node(j).demand_timeseries_list[0].pattern_name = f"lookahead-{j}"
    wn.options.time.start_clocktime = local_hour * 3600
    water = hydraulics.results_dataset(hydraulics.run_epanet(wn, (hours - 1) * 3600, 3600))
    lows = []
    for i, t in enumerate(times[: water.sizes["time"]]):
        low = hydraulics.low_pressure(water.isel(time=i), city.demand_junctions, min_pressure_m)
        lows.append(low.assign(time=t))
    low_pressure = pd.concat(lows, ignore_index=True)

    # ---- electricity: forecast loads and PV, pumps from the water run
    prof = la.electric_profiles(fc, city, profiles)
    power = pd.DataFrame({t: pump_state(city, water.isel(time=i))["power_kw"]
                          for i, t in enumerate(times[: water.sizes["time"]])}).T
    power = power.reindex(times).ffill()
    loads = pump_loads(city.net)
    pump_p = power[loads.index].set_axis(loads.to_numpy(), axis=1) / 1000.0
    prof["load_p_mw"] = pd.concat([prof["load_p_mw"], pump_p], axis=1)
    prof["load_q_mvar"] = pd.concat([prof["load_q_mvar"], pump_p * pump_q_mvar(1.0)], axis=1)
    net = city.electric_copy()
    electric = run_qsts(net, prof)
    violations = find_violations(electric, net, voltage_band_pu)
    return Lookahead(fc, prof, electric, water, violations, low_pressure, factors)
