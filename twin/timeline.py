"""The base case over the day or week around a moment: both networks, coupled by pump power.

The water network runs an extended-period simulation from local midnight (its patterns are on
the city's clock); its pumps' electrical power at every 15-min step becomes load on their buses
in the grid's QSTS (:mod:`twin.coupling`). What the dashboard's *Now* page plots beside the map.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import xarray as xr

from twin.city import City
from twin.coupling import pump_load_profiles, pump_power_series_kw
from twin.electric.profiles import STEP
from twin.electric.qsts import run_qsts
from twin.timeutil import TimeError, parse_local_time
from twin.water.hydraulics import simulate

#: Windows the dashboard offers [days].
WINDOW_DAYS = (1, 7)


@dataclass(frozen=True)
class Timeline:
    """Both networks over a window.

    Attributes
    ----------
    start_utc, end_utc : Timestamp
        The window ``[start, end)``, local midnights in UTC.
    electric : Dataset
        QSTS result at every 15-min step (``twin.electric.qsts.run_qsts``).
    water : Dataset
        EPANET result at every 15-min step, ``time`` in seconds from ``start_utc``.
    pump_kw : DataFrame
        UTC time × pump, electrical power [kW].
    """

    start_utc: pd.Timestamp
    end_utc: pd.Timestamp
    electric: xr.Dataset
    water: xr.Dataset
    pump_kw: pd.DataFrame


def window_bounds(around, timezone: str, days: int, index: pd.DatetimeIndex):
    """``(start, end)`` in UTC: ``days`` local days centred on the day of ``around``.

    Raises
    ------
    TimeError
        ``around`` not a time, ``days`` not 1 to 31, or a window outside the profiles' year.
    """
    if not 1 <= days <= 31:
        raise TimeError(f"a window of {days} days: give 1 to 31")
    at = parse_local_time(around, timezone).tz_convert(timezone)
    if not index[0] <= at <= index[-1]:
        first, last = index[0].tz_convert(timezone), index[-1].tz_convert(timezone)
        raise TimeError(f"{around} is outside the city's year: give a time from "
                        f"{first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} ({timezone})")
    day0 = at.tz_localize(None).normalize() - pd.Timedelta(days=days // 2)
    first = index[0].tz_convert(timezone).tz_localize(None).ceil("D")
    last = (index[-1] + STEP).tz_convert(timezone).tz_localize(None).floor("D")
    day0 = min(max(day0, first), last - pd.Timedelta(days=days))
    if day0 < first:
        raise TimeError(f"the city's year holds no {days} whole days")
    start = day0.tz_localize(timezone)
    end = (day0 + pd.Timedelta(days=days)).tz_localize(timezone)
    return start.tz_convert("UTC"), end.tz_convert("UTC")


def base_timeline(city: City, profiles: dict, around, days: int = 1) -> Timeline:
    """Run the base case over the ``days`` local days around ``around``.

    Parameters
    ----------
    city : City
    profiles : dict
        The city's year of profiles (``twin.scenario.profiles_of``).
    around : str or Timestamp
        City time, e.g. ``"2016-07-14 18:00"``; the window holds its local day.
    days : int
        1 (the day) or 7 (the week around it); a window that would leave the year is moved
        inside it.

    Raises
    ------
    TimeError
        See :func:`window_bounds`.
    """
    index = profiles["load_p_mw"].index
    start, end = window_bounds(around, city.timezone, days, index)
    keep = (index >= start) & (index < end)
    duration_s = (end - start).total_seconds()
    water = simulate(city.water_copy(), duration_s - STEP.total_seconds(), STEP.total_seconds())
    power = pump_power_series_kw(city.wn, water, city.pumps)
    power.index = start + pd.to_timedelta(power.index, unit="s")
    times = index[keep]
    power = power.reindex(times, method="ffill")
    pumps = pump_load_profiles(city.net, power)
    window = {k: v.loc[keep] for k, v in profiles.items()}
    for key, frame in pumps.items():
        window[key] = pd.concat([window[key], frame], axis=1)
    electric = run_qsts(city.electric_copy(), window)
    return Timeline(start, end, electric, water, power)
