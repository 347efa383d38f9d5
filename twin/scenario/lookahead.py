"""Look-ahead: the next hours of both networks under the forecasts (electricity and water meet
here, through the pumps)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from twin.city import City
from twin.scenario.snapshot import (
    MIN_SERVICE_PRESSURE_M,
    VOLTAGE_BAND_PU,
    profiles_of,
    pump_state,
)
from twin.water import hydraulics


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
    weather: str = "auto",
    weather_forecast: str | None = None,
) -> Lookahead:
    """Forecast the next ``hours`` and run both networks on them: what will break?

    Every load point, rooftop PV unit and DMA is forecast from the store
    (:func:`forecasts.lookahead.lookahead_forecasts`), the loads with ``weather``: the
    store's station when it holds weather, as ``twin forecast run`` reads it
    (``weather_forecast``: its archive of forecasts for the hours ahead). The water model runs with each DMA's
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
                                client=client, scheduler=scheduler, progress=progress,
                                weather=weather, weather_forecast=weather_forecast)
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
