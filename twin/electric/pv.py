"""Rooftop PV output modelled with pvlib from the real TMY3 irradiance file pvlib ships.

The hourly TMY3 record of Greensboro NC (``pvlib/data/723170TYA.CSV``) is brought to 15-min
steps through its clear-sky index: the hour's measured/clear-sky ratio times the 15-min
clear-sky irradiance (Ineichen with pvlib's offline Linke turbidity). Plane-of-array
irradiance, cell temperature (SAPM, open rack on roofs) and PVWatts DC/AC follow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pvlib

#: System losses of PVWatts (soiling, wiring, mismatch, availability) [%].
PVWATTS_LOSSES_PERCENT = 14.0
#: DC temperature coefficient of crystalline modules [1/°C].
GAMMA_PDC = -0.004
#: Ratio of DC to AC rating of a rooftop inverter [-].
DC_AC_RATIO = 1.1


def tmy3_path() -> Path:
    """Path of the real TMY3 file shipped with pvlib (Greensboro NC)."""
    return Path(pvlib.__file__).parent / "data" / "723170TYA.CSV"


def reference_weather(year: int) -> tuple[pd.DataFrame, pvlib.location.Location]:
    """Read the shipped TMY3 file, placed in ``year``, hourly and in UTC.

    TMY3 stamps each hour at its end in local standard time; the values are re-stamped at the
    hour's middle. A leap year's 29 February, absent from TMY3, repeats 28 February.

    Returns
    -------
    DataFrame
        ``ghi``, ``dni``, ``dhi`` [W/m²], ``temp_air`` [°C], ``wind_speed`` [m/s].
    Location
        The station's location.
    """
    data, meta = pvlib.iotools.read_tmy3(tmy3_path(), coerce_year=year, map_variables=True)
    data = data[["ghi", "dni", "dhi", "temp_air", "wind_speed"]].astype(float)
    data.index = data.index - pd.Timedelta("30min")
    data = data.sort_index()
    if pd.Timestamp(year=year, month=2, day=28).is_leap_year:
        feb28 = data[(data.index.month == 2) & (data.index.day == 28)]
        feb29 = feb28.copy()
        feb29.index = feb29.index + pd.Timedelta("1D")
        data = pd.concat([data, feb29]).sort_index()
    data.index = data.index.tz_convert("UTC")
    location = pvlib.location.Location(meta["latitude"], meta["longitude"], tz="UTC",
                                       altitude=meta["altitude"], name=meta["Name"].strip('"'))
    return data, location


def weather_at(
    hourly: pd.DataFrame, location: pvlib.location.Location, times_utc: pd.DatetimeIndex
) -> pd.DataFrame:
    """Bring hourly weather to ``times_utc`` through the clear-sky index.

    Returns
    -------
    DataFrame
        ``ghi``, ``dni``, ``dhi`` [W/m²], ``temp_air`` [°C], ``wind_speed`` [m/s] and
        ``solar_zenith``, ``solar_azimuth`` [deg] at each time.
    """
    clear_h = location.get_clearsky(hourly.index, model="ineichen")
    kt = (hourly.ghi / clear_h.ghi.where(clear_h.ghi > 20)).clip(0, 1.5).fillna(0.0)
    hour = times_utc.floor("h") + pd.Timedelta("30min")
    pos = hourly.index.get_indexer(hour, method="nearest")
    clear = location.get_clearsky(times_utc, model="ineichen")
    sun = location.get_solarposition(times_utc)
    ghi = kt.to_numpy()[pos] * clear.ghi.to_numpy()
    parts = pvlib.irradiance.erbs(ghi, sun.zenith.to_numpy(), times_utc)
    return pd.DataFrame(
        {"ghi": ghi, "dni": np.nan_to_num(parts["dni"]), "dhi": np.nan_to_num(parts["dhi"]),
         "temp_air": hourly.temp_air.to_numpy()[pos],
         "wind_speed": hourly.wind_speed.to_numpy()[pos],
         "solar_zenith": sun.apparent_zenith.to_numpy(), "solar_azimuth": sun.azimuth.to_numpy()},
        index=times_utc,
    )


def ac_kw_per_kwp(weather: pd.DataFrame, tilt_deg: float, azimuth_deg: float) -> pd.Series:
    """AC output of 1 kWp of rooftop PV for one orientation (PVWatts) [kW/kWp].

    Parameters
    ----------
    weather : DataFrame
        As returned by :func:`weather_at`.
    tilt_deg, azimuth_deg : float
        Roof tilt from horizontal and azimuth clockwise from north [deg].
    """
    poa = pvlib.irradiance.get_total_irradiance(
        tilt_deg, azimuth_deg, weather.solar_zenith, weather.solar_azimuth,
        weather.dni, weather.ghi, weather.dhi, model="isotropic",
    )["poa_global"].fillna(0.0)
    params = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["close_mount_glass_glass"]
    cell = pvlib.temperature.sapm_cell(poa, weather.temp_air, weather.wind_speed, **params)
    pdc = pvlib.pvsystem.pvwatts_dc(poa, cell, 1.0, GAMMA_PDC)
    pdc = pdc * (1 - PVWATTS_LOSSES_PERCENT / 100)
    pac = pvlib.inverter.pvwatts(pdc, 1.0 / DC_AC_RATIO)
    return pd.Series(np.clip(np.nan_to_num(pac), 0, None), index=weather.index, name="kw_per_kwp")


def rooftop_pv_kw(
    weather: pd.DataFrame, kwp: pd.Series, tilt_deg: pd.Series, azimuth_deg: pd.Series
) -> pd.DataFrame:
    """AC output of many rooftop systems [kW], one column per system.

    Systems sharing an orientation share one model run, so a few thousand roofs cost a few
    dozen PVWatts evaluations.
    """
    orient = pd.DataFrame({"tilt": tilt_deg, "azimuth": azimuth_deg})
    out = np.zeros((len(weather), len(kwp)))
    for (tilt, az), members in orient.groupby(["tilt", "azimuth"]).groups.items():
        unit = ac_kw_per_kwp(weather, tilt, az).to_numpy()
        cols = kwp.index.get_indexer(members)
        out[:, cols] = unit[:, None] * kwp.loc[members].to_numpy()[None, :]
    return pd.DataFrame(out, index=weather.index, columns=kwp.index)
