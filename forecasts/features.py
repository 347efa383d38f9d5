"""Features of load and solar forecasts: calendar, Fourier terms, temperature, lags, sun.

Pure functions of a UTC ``DatetimeIndex`` (and a Series where one is needed) that return
DataFrames on that index. The city's place and clock come from its recipe
(:func:`twin.city.read_recipe`); its temperature from the real TMY3 record pvlib ships
(:func:`twin.electric.pv.reference_weather`).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pvlib
from pandas.tseries.holiday import USFederalHolidayCalendar

#: Balance temperature of heating and cooling degrees [°C] (65 °F, the US convention).
BALANCE_TEMPERATURE_C = 18.3
#: Clear-sky GHI below which the clear-sky index is not defined (dawn, dusk, night) [W/m²].
MIN_CLEAR_GHI_W_M2 = 50.0
#: Largest clear-sky index kept (cloud enhancement allows a little over 1) [-].
MAX_CLEARSKY_INDEX = 1.5


def local_times(index: pd.DatetimeIndex, timezone: str) -> pd.DatetimeIndex:
    """The index in the city's clock."""
    return index.tz_convert(timezone)


def us_federal_holidays(index: pd.DatetimeIndex, timezone: str) -> np.ndarray:
    """True where the local day is a US federal holiday (observed dates) [bool].

    Only for US time zones (``America/…``, ``US/…``); elsewhere no day is flagged, since
    another country's holidays are not known here.
    """
    if not timezone.startswith(("America/", "US/")):
        return np.zeros(len(index), bool)
    local = local_times(index, timezone)
    days = local.tz_localize(None).normalize()
    holidays = USFederalHolidayCalendar().holidays(days.min(), days.max())
    return np.asarray(days.isin(holidays))


def calendar_features(index: pd.DatetimeIndex, timezone: str) -> pd.DataFrame:
    """Local hour, weekday and day-type flags.

    Returns
    -------
    DataFrame
        ``hour`` [h, 0–23 local, with fractions for sub-hourly steps], ``weekday`` [0 = Monday],
        ``is_weekend``, ``is_holiday`` (US federal), ``is_day_off`` (weekend or holiday) [0/1].
    """
    local = local_times(index, timezone)
    weekday = np.asarray(local.weekday)
    holiday = us_federal_holidays(index, timezone)
    weekend = weekday >= 5
    return pd.DataFrame(
        {
            "hour": np.asarray(local.hour + local.minute / 60.0, float),
            "weekday": weekday,
            "is_weekend": weekend.astype(int),
            "is_holiday": holiday.astype(int),
            "is_day_off": (weekend | holiday).astype(int),
        },
        index=index,
    )


def day_type(index: pd.DatetimeIndex, timezone: str) -> np.ndarray:
    """Local day type: 0 working day, 1 Saturday, 2 Sunday or US federal holiday [-]."""
    cal = calendar_features(index, timezone)
    kind = np.where(cal["weekday"] == 5, 1, 0)
    return np.where((cal["weekday"] == 6) | (cal["is_holiday"] == 1), 2, kind)


def profile_dummies(index: pd.DatetimeIndex, timezone: str, step: pd.Timedelta) -> pd.DataFrame:
    """One-hot local time-of-day slot × day type: the typical daily profile of each day type.

    Columns ``d<type>_s<slot>`` with slot the local step of the day (0…steps per day − 1)
    [0/1]; their coefficients in a regression are the three mean daily profiles.
    """
    local = local_times(index, timezone)
    per_day = int(pd.Timedelta("1D") / step)
    slot = ((local.hour * 3600 + local.minute * 60) // int(step.total_seconds())) % per_day
    code = day_type(index, timezone) * per_day + np.asarray(slot)
    onehot = np.zeros((len(index), 3 * per_day))
    onehot[np.arange(len(index)), code] = 1.0
    names = [f"d{d}_s{k}" for d in range(3) for k in range(per_day)]
    return pd.DataFrame(onehot, index=index, columns=names)


def fourier_terms(
    index: pd.DatetimeIndex, period: pd.Timedelta | str, order: int, timezone: str = "UTC",
    prefix: str | None = None,
) -> pd.DataFrame:
    """Sine and cosine pairs of a period, in the city's clock.

    ``sin(2πk·t/P)``, ``cos(2πk·t/P)`` for k = 1…order, with t the local wall-clock time since
    1970-01-05 (a Monday), so the weekly terms are phased on local Mondays.

    Parameters
    ----------
    period : Timedelta or str
        ``"1D"``, ``"7D"`` or any Timedelta.
    order : int
        Number of harmonics K [-].
    """
    period = pd.Timedelta(period)
    local = local_times(index, timezone).tz_localize(None)
    t = (local - pd.Timestamp("1970-01-05")) / period
    name = prefix or {pd.Timedelta("1D"): "daily", pd.Timedelta("7D"): "weekly"}.get(
        period, f"p{period}")
    cols = {}
    for k in range(1, order + 1):
        angle = 2.0 * np.pi * k * np.asarray(t, float)
        cols[f"{name}_sin{k}"] = np.sin(angle)
        cols[f"{name}_cos{k}"] = np.cos(angle)
    return pd.DataFrame(cols, index=index)


def degree_hours(temp_air_c: pd.Series, balance_c: float = BALANCE_TEMPERATURE_C) -> pd.DataFrame:
    """Heating and cooling degrees, the piecewise-linear response of load to temperature.

    ``hdd = max(balance − T, 0)``, ``cdd = max(T − balance, 0)`` [°C]; per time step, so summed
    over a day's 24 hours and divided by 24 they give degree days.
    """
    temp = temp_air_c.astype(float)
    return pd.DataFrame(
        {"hdd": (balance_c - temp).clip(lower=0.0), "cdd": (temp - balance_c).clip(lower=0.0)},
        index=temp.index,
    )


def lagged(y: pd.Series, lags_steps: list[int]) -> pd.DataFrame:
    """Lagged copies of a series: column ``lag<k>`` holds ``y`` k steps earlier."""
    return pd.DataFrame({f"lag{k}": y.shift(k) for k in lags_steps}, index=y.index)


def city_location() -> tuple[float, float, str]:
    """Latitude, longitude [deg] and time zone of the city, from its recipe."""
    from twin.city import read_recipe

    recipe = read_recipe()
    return recipe.latitude, recipe.longitude, recipe.timezone


def city_temperature(index: pd.DatetimeIndex) -> pd.Series:
    """Air temperature at the city at each time [°C], from the TMY3 record pvlib ships.

    The hourly record (:func:`twin.electric.pv.reference_weather`) is placed in each year the
    index touches and interpolated in time; the twin's generator uses the same weather, so
    this stands in for the weather service's observations and forecast.
    """
    parts = [_tmy3_temperature(int(year)) for year in
             sorted(set(index.year) | {index.min().year - 1, index.max().year + 1})]
    hourly = pd.concat(parts).sort_index()
    hourly = hourly[~hourly.index.duplicated()]
    both = hourly.index.union(index)
    temp = hourly.reindex(both).interpolate(method="time").reindex(index)
    temp.name = "temp_air"
    return temp


@functools.lru_cache(maxsize=8)
def _tmy3_temperature(year: int) -> pd.Series:
    """The TMY3 air temperature placed in ``year``, hourly, UTC [°C] (read once per year)."""
    from twin.electric.pv import reference_weather

    weather, _ = reference_weather(year)
    return weather["temp_air"]


def load_features(
    index: pd.DatetimeIndex,
    timezone: str,
    temp_air_c: pd.Series | None = None,
    daily_order: int = 4,
    weekly_order: int = 3,
) -> pd.DataFrame:
    """Regressors of a load model: Fourier terms, day-off flag and, if given, HDD/CDD.

    Returns
    -------
    DataFrame
        Daily and weekly Fourier pairs, ``is_day_off`` [0/1], and ``hdd``, ``cdd`` [°C] when
        ``temp_air_c`` is given.
    """
    parts = [
        fourier_terms(index, "1D", daily_order, timezone),
        fourier_terms(index, "7D", weekly_order, timezone),
        calendar_features(index, timezone)[["is_day_off"]],
    ]
    if temp_air_c is not None:
        parts.append(degree_hours(temp_air_c.reindex(index)))
    return pd.concat(parts, axis=1).astype(float)


def sun_position(index: pd.DatetimeIndex, latitude: float, longitude: float) -> pd.DataFrame:
    """Apparent zenith, elevation and azimuth of the sun at each time [deg] (pvlib SPA)."""
    pos = pvlib.solarposition.get_solarposition(index, latitude, longitude)
    return pos[["apparent_zenith", "apparent_elevation", "azimuth"]]


def clear_sky(index: pd.DatetimeIndex, latitude: float, longitude: float) -> pd.DataFrame:
    """Clear-sky GHI, DNI, DHI [W/m²] (Ineichen, pvlib's offline Linke turbidity)."""
    location = pvlib.location.Location(latitude, longitude, tz="UTC")
    return location.get_clearsky(index, model="ineichen")[["ghi", "dni", "dhi"]]


def clear_sky_reference(
    index: pd.DatetimeIndex, latitude: float | None = None, longitude: float | None = None,
) -> pd.Series:
    """Clear-sky GHI at the place (the city's when not given), the shape of clear-sky PV [W/m²].

    For a step longer than a few minutes, the value is the mean over the interval starting
    at each time (sampled every 5 minutes), matching interval-mean measurements.
    """
    if latitude is None or longitude is None:
        latitude, longitude, _ = city_location()
    step = pd.Timedelta(index.freq) if index.freq is not None else (
        pd.Timedelta(index[1] - index[0]) if len(index) > 1 else pd.Timedelta("5min"))
    sub = max(int(step / pd.Timedelta("5min")), 1)
    fine = pd.date_range(index[0], periods=len(index) * sub, freq=step / sub)
    if (step / sub) == pd.Timedelta("5min") and fine[0] == fine[0].floor("5min"):
        months = pd.period_range(fine[0].tz_convert("UTC").tz_localize(None),
                                 fine[-1].tz_convert("UTC").tz_localize(None), freq="M")
        table = pd.concat([_clear_ghi_month(str(m), latitude, longitude) for m in months])
        ghi = table.reindex(fine.tz_convert("UTC")).to_numpy()
    else:
        ghi = clear_sky(fine, latitude, longitude)["ghi"].to_numpy()
    ghi = ghi.reshape(len(index), sub)
    return pd.Series(ghi.mean(axis=1), index=index, name="ghi_clear")


@functools.lru_cache(maxsize=64)
def _clear_ghi_month(month: str, latitude: float, longitude: float) -> pd.Series:
    """Clear-sky GHI every 5 minutes of one UTC month (cached: backtests ask again) [W/m²]."""
    start = pd.Timestamp(month, tz="UTC")
    times = pd.date_range(start, start + pd.offsets.MonthBegin(1), freq="5min",
                          inclusive="left")
    return clear_sky(times, latitude, longitude)["ghi"]


def clearsky_power_scale(power: pd.Series, ghi_clear: pd.Series, quantile: float = 0.95) -> float:
    """Power per W/m² of clear-sky GHI of a PV system, from its own history [unit/(W/m²)].

    The ``quantile`` of the ratio over daylight times: the clearest moments, robust to a
    few outliers. With this scale, ``scale · ghi_clear`` is the system's clear-sky output.
    """
    day = ghi_clear > 3 * MIN_CLEAR_GHI_W_M2
    ratio = (power[day] / ghi_clear[day]).replace([np.inf, -np.inf], np.nan).dropna()
    if ratio.empty or float(ratio.quantile(quantile)) <= 0.0:
        raise ValueError("no daylight output to scale the clear-sky reference with")
    return float(ratio.quantile(quantile))


#: Quantile of output over clear-sky GHI taken as the clear-sky scale of a PV system [-].
CLEARSKY_SCALE_QUANTILE = 0.9


def clearsky_power_scale_by_slot(
    power: pd.Series, ghi_clear: pd.Series, index: pd.DatetimeIndex,
    future: pd.DatetimeIndex, step: pd.Timedelta, quantile: float = CLEARSKY_SCALE_QUANTILE,
) -> tuple[np.ndarray, np.ndarray]:
    """Clear-sky output per W/m² of clear-sky GHI for each UTC time-of-day slot.

    The ``quantile`` of output over clear-sky GHI among the slot's daylight values, smoothed
    over three neighbouring slots; slots without enough daylight take the system-wide scale
    (:func:`clearsky_power_scale`).

    Returns
    -------
    ndarray, ndarray
        The scale at each time of ``index`` and of ``future`` [unit/(W/m²)].
    """
    overall = clearsky_power_scale(power, ghi_clear, quantile)
    per_day = int(pd.Timedelta("1D") / step)

    def slot(times):
        return np.asarray((times.hour * 3600 + times.minute * 60) // int(step.total_seconds()))

    day = (ghi_clear > MIN_CLEAR_GHI_W_M2).to_numpy()
    ratio = pd.Series((power / ghi_clear).to_numpy()[day]).replace([np.inf, -np.inf], np.nan)
    by_slot = ratio.groupby(slot(power.index)[day]).quantile(quantile)
    counts = ratio.groupby(slot(power.index)[day]).count()
    by_slot = by_slot[counts >= 5].reindex(range(per_day))
    wrapped = pd.concat([by_slot, by_slot, by_slot], ignore_index=True)
    smooth = wrapped.rolling(3, center=True, min_periods=1).mean().iloc[per_day:2 * per_day]
    table = smooth.fillna(overall).clip(lower=0.0).to_numpy()
    return table[slot(index)], table[slot(future)]


def clearsky_index(
    power: pd.Series, clearsky_power: pd.Series, min_clear: float | None = None
) -> pd.Series:
    """Clear-sky index of PV output: measured over clear-sky output [-].

    NaN where the clear-sky output is below ``min_clear`` (default: the output at
    :data:`MIN_CLEAR_GHI_W_M2` of GHI, scaled like ``clearsky_power``); clipped to
    [0, :data:`MAX_CLEARSKY_INDEX`].
    """
    if min_clear is None:
        min_clear = 0.05 * float(clearsky_power.max())
    csi = power / clearsky_power.where(clearsky_power >= min_clear)
    return csi.clip(0.0, MAX_CLEARSKY_INDEX)
