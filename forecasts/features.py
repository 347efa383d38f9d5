"""Features of load and solar forecasts: calendar, Fourier terms, temperature, lags, sun.

Pure functions of a UTC ``DatetimeIndex`` (and a Series where one is needed) that return
DataFrames on that index. The clock, location and holidays are arguments
(:class:`forecasts.place.Place`); nothing here reads a city file. The last section emulates
the weather of the one station whose record pvlib ships (TMY3 Greensboro NC, where the sample
city stands); it refuses any other place (:func:`tmy3_weather`).
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pvlib

from forecasts.place import Place, as_place

#: Balance temperature of heating and cooling degrees [°C] (65 °F, the US convention).
BALANCE_TEMPERATURE_C = 18.3
#: Clear-sky GHI below which the clear-sky index is not defined (dawn, dusk, night) [W/m²].
MIN_CLEAR_GHI_W_M2 = 50.0
#: Largest clear-sky index kept (cloud enhancement allows a little over 1) [-].
MAX_CLEARSKY_INDEX = 1.5


def local_times(index: pd.DatetimeIndex, timezone: str) -> pd.DatetimeIndex:
    """The index in the city's clock."""
    return index.tz_convert(timezone)


def calendar_features(index: pd.DatetimeIndex, place: Place | str) -> pd.DataFrame:
    """Local hour, weekday and day-type flags.

    Parameters
    ----------
    place : Place or str
        Clock and holiday calendar (a bare zone name: no holidays).

    Returns
    -------
    DataFrame
        ``hour`` [h, 0–23 local, with fractions for sub-hourly steps], ``weekday`` [0 = Monday],
        ``is_weekend``, ``is_holiday`` (the place's calendar), ``is_day_off`` (weekend or
        holiday) [0/1].
    """
    place = as_place(place)
    local = local_times(index, place.timezone)
    weekday = np.asarray(local.weekday)
    holiday = place.holiday_flags(index)
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


def day_type(index: pd.DatetimeIndex, place: Place | str) -> np.ndarray:
    """Local day type: 0 working day, 1 Saturday, 2 Sunday or public holiday [-]."""
    cal = calendar_features(index, place)
    kind = np.where(cal["weekday"] == 5, 1, 0)
    return np.where((cal["weekday"] == 6) | (cal["is_holiday"] == 1), 2, kind)


def profile_dummies(index: pd.DatetimeIndex, place: Place | str,
                    step: pd.Timedelta) -> pd.DataFrame:
    """One-hot local time-of-day slot × day type: the typical daily profile of each day type.

    Columns ``d<type>_s<slot>`` with slot the local step of the day (0…steps per day − 1)
    [0/1]; their coefficients in a regression are the three mean daily profiles.
    """
    place = as_place(place)
    local = local_times(index, place.timezone)
    per_day = int(pd.Timedelta("1D") / step)
    slot = ((local.hour * 3600 + local.minute * 60) // int(step.total_seconds())) % per_day
    code = day_type(index, place) * per_day + np.asarray(slot)
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


def load_features(
    index: pd.DatetimeIndex,
    place: Place | str,
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
    place = as_place(place)
    parts = [
        fourier_terms(index, "1D", daily_order, place.timezone),
        fourier_terms(index, "7D", weekly_order, place.timezone),
        calendar_features(index, place)[["is_day_off"]],
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
    index: pd.DatetimeIndex, latitude: float, longitude: float,
) -> pd.Series:
    """Clear-sky GHI at a place [deg], the shape of clear-sky PV [W/m²].

    For a step longer than a few minutes, the value is the mean over the interval starting
    at each time (sampled every 5 minutes), matching interval-mean measurements.
    """
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


# --------------------------------------------------------------------------------------------
# Weather of the TMY3 station pvlib ships (Greensboro NC, the sample city's site): measured
# (ex-post) and an emulated day-ahead NWP forecast. Only for a place at that station.
# --------------------------------------------------------------------------------------------

#: Farthest a place may be from the TMY3 station and still be given its weather [deg].
TMY3_STATION_TOLERANCE_DEG = 0.25

#: Skill of the day-ahead GHI forecast over smart persistence of the clear-sky index,
#: ``1 − RMSE_forecast / RMSE_persistence`` [-]. Perez et al. (2013), "Comparison of numerical
#: weather prediction solar irradiance forecasts in the US, Canada and Europe", Solar Energy
#: 94, 305–326, found the best NWP-based models at about 50 % over persistence at 34 sites;
#: 0.4 is taken here, below the best, as a utility's forecast service need not be the best.
NWP_GHI_SKILL = 0.4
#: Lag-one-hour autocorrelation of the emulated forecast's clear-sky index error [-]
#: (an assumption: a missed cloud field stays missed for some hours).
NWP_ERROR_AR1 = 0.8
#: Seed of the emulated forecast errors (fixed: one archive of forecasts per year).
NWP_ERROR_SEED = 2016


@functools.lru_cache(maxsize=1)
def tmy3_station() -> tuple[float, float, str]:
    """Latitude, longitude [deg] and name of the TMY3 station whose record pvlib ships."""
    from twin.electric.pv import reference_weather

    _, location = reference_weather(2001)
    return float(location.latitude), float(location.longitude), str(location.name)


def require_tmy3_station(place: Place) -> None:
    """Raise ``ValueError`` unless ``place`` is at the TMY3 station (its weather is not
    another place's)."""
    lat, lon, name = tmy3_station()
    if not place.has_location or max(abs(place.latitude - lat), abs(place.longitude - lon)) \
            > TMY3_STATION_TOLERANCE_DEG:
        where = (f"{place.latitude:.2f}, {place.longitude:.2f}" if place.has_location
                 else "an unknown location")
        raise ValueError(f"the TMY3 weather pvlib ships is {name} ({lat:.2f}, {lon:.2f}), "
                         f"not the weather at {where}; ingest this place's weather "
                         "(`twin ingest <file> --format tmy3|epw|psm…`) and name its station")


@functools.lru_cache(maxsize=8)
def _tmy3_temperature(year: int) -> pd.Series:
    """The TMY3 air temperature placed in ``year``, hourly, UTC [°C] (read once per year)."""
    from twin.electric.pv import reference_weather

    weather, _ = reference_weather(year)
    return weather["temp_air"]


def tmy3_temperature(index: pd.DatetimeIndex) -> pd.Series:
    """Air temperature of the TMY3 station at each time [°C], interpolated in time.

    The hourly record is placed in each year the index touches.
    """
    parts = [_tmy3_temperature(int(year)) for year in
             sorted(set(index.year) | {index.min().year - 1, index.max().year + 1})]
    hourly = pd.concat(parts).sort_index()
    hourly = hourly[~hourly.index.duplicated()]
    both = hourly.index.union(index)
    temp = hourly.reindex(both).interpolate(method="time").reindex(index)
    temp.name = "temp_air"
    return temp


def _station_clear_sky(index: pd.DatetimeIndex) -> pd.Series:
    lat, lon, _ = tmy3_station()
    return clear_sky_reference(index, lat, lon)


@functools.lru_cache(maxsize=8)
def _tmy3_clearsky_index(year: int) -> pd.Series:
    """Hourly clear-sky index of the TMY3 GHI placed in ``year`` at the station [-].

    Indexed by the UTC start of each TMY3 hour (its values are re-stamped at the hour's
    middle by :func:`twin.electric.pv.reference_weather`): measured GHI over the hour's mean
    clear-sky GHI (:func:`clear_sky_reference`); 0 where the sky's clear GHI is below
    :data:`MIN_CLEAR_GHI_W_M2` / 2; clipped to [0, :data:`MAX_CLEARSKY_INDEX`].
    """
    from twin.electric.pv import reference_weather

    weather, _ = reference_weather(year)
    start = weather.index - pd.Timedelta("30min")
    hours = pd.date_range(start[0], start[-1], freq="1h")
    ghi = pd.Series(weather["ghi"].to_numpy(), index=start).reindex(hours).fillna(0.0)
    clear = _station_clear_sky(hours).to_numpy()
    lit = clear >= MIN_CLEAR_GHI_W_M2 / 2
    kt = np.divide(ghi.to_numpy(), clear, out=np.zeros(len(hours)), where=lit)
    return pd.Series(np.clip(kt, 0.0, MAX_CLEARSKY_INDEX), index=hours, name="kt")


def _hourly_by_year(index: pd.DatetimeIndex, table) -> np.ndarray:
    """Value of a per-year hourly table (``table(year)``) for the UTC hour of each time."""
    years = sorted(set(index.year) | {index.min().year - 1, index.max().year + 1})
    hourly = pd.concat([table(int(y)) for y in years]).sort_index()
    hourly = hourly[~hourly.index.duplicated()]
    return hourly.reindex(index.tz_convert("UTC").floor("1h")).fillna(0.0).to_numpy()


def tmy3_irradiance(index: pd.DatetimeIndex) -> pd.Series:
    """Measured GHI at the TMY3 station at each time [W/m²], from the TMY3 record pvlib ships.

    The clear-sky index of the TMY3 hour that holds each time times the interval-mean
    clear-sky GHI (:func:`clear_sky_reference`). The twin's rooftop PV is modelled from the
    same record, so this is the observed irradiance: used as a forecast it is ex-post (the
    weather as it turned out), an upper bound of what an irradiance forecast can give.
    """
    kt = _hourly_by_year(index, _tmy3_clearsky_index)
    return pd.Series(kt * _station_clear_sky(index).to_numpy(), index=index, name="ghi")


def ar1_noise(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """Stationary AR(1) noise of unit variance, ``e_t = φ·e_{t−1} + sqrt(1 − φ²)·w_t`` [-]."""
    w = rng.standard_normal(n)
    e = np.empty(n)
    e[0] = w[0]
    innov = np.sqrt(1.0 - phi**2)
    for t in range(1, n):
        e[t] = phi * e[t - 1] + innov * w[t]
    return e


def forecast_clearsky_index(kt: np.ndarray, noise: np.ndarray, sd: float) -> np.ndarray:
    """Forecast clear-sky index: the measured one plus ``sd`` times the noise, clipped [-]."""
    return np.clip(kt + sd * noise, 0.0, MAX_CLEARSKY_INDEX)


def _rmse_daylight(kt_fc: np.ndarray, kt: np.ndarray, clear: np.ndarray) -> float:
    """RMSE of the GHI [W/m²] of a clear-sky index forecast over daylight hours."""
    lit = clear >= MIN_CLEAR_GHI_W_M2
    return float(np.sqrt(np.mean(((kt_fc - kt) * clear)[lit] ** 2)))


@functools.lru_cache(maxsize=8)
def _nwp_clearsky_index(year: int, skill: float = NWP_GHI_SKILL,
                        phi: float = NWP_ERROR_AR1, seed: int = NWP_ERROR_SEED) -> pd.Series:
    """Emulated day-ahead forecast of the hourly clear-sky index in ``year`` [-].

    The measured index plus seeded AR(1) noise whose size is set (bisection) so that the
    forecast GHI's daylight RMSE over the year is ``(1 − skill)`` times that of day-ahead
    smart persistence (yesterday's clear-sky index at the same hour).
    """
    kt = _tmy3_clearsky_index(year)
    clear = _station_clear_sky(kt.index).to_numpy()
    k = kt.to_numpy()
    persistence = _rmse_daylight(np.r_[k[:24], k[:-24]], k, clear)
    target = (1.0 - skill) * persistence
    noise = ar1_noise(np.random.default_rng([seed, year]), len(k), phi)
    lo, hi = 0.0, 2.0
    for _ in range(40):
        sd = 0.5 * (lo + hi)
        if _rmse_daylight(forecast_clearsky_index(k, noise, sd), k, clear) < target:
            lo = sd
        else:
            hi = sd
    return pd.Series(forecast_clearsky_index(k, noise, 0.5 * (lo + hi)), index=kt.index,
                     name="kt_forecast")


def tmy3_irradiance_forecast(index: pd.DatetimeIndex, skill: float = NWP_GHI_SKILL) -> pd.Series:
    """Day-ahead GHI forecast at the TMY3 station at each time [W/m²], emulated from the TMY3 record.

    What a numerical weather prediction service would have said the day before: the
    measured clear-sky index (:func:`tmy3_irradiance`) with a seeded, autocorrelated error
    (:data:`NWP_ERROR_AR1`) sized so that the hourly daylight GHI RMSE over the year is
    ``1 − skill`` times that of day-ahead smart persistence, ``skill`` from the literature
    (:data:`NWP_GHI_SKILL`). One forecast per hour (the archive of issued forecasts): the
    same hour asked twice gets the same value.
    """
    kt = _hourly_by_year(index, lambda year: _nwp_clearsky_index(year, skill))
    return pd.Series(kt * _station_clear_sky(index).to_numpy(), index=index, name="ghi")


def irradiance_forecast_rmse(year: int, skill: float = NWP_GHI_SKILL) -> dict[str, float]:
    """Daylight hourly GHI RMSE [W/m²] of the emulated forecast and of smart persistence.

    Also ``mean_ghi`` [W/m²], the daylight mean measured GHI, to state both relative.
    """
    kt = _tmy3_clearsky_index(year)
    clear = _station_clear_sky(kt.index).to_numpy()
    k = kt.to_numpy()
    lit = clear >= MIN_CLEAR_GHI_W_M2
    return {
        "forecast": _rmse_daylight(_nwp_clearsky_index(year, skill).to_numpy(), k, clear),
        "persistence": _rmse_daylight(np.r_[k[:24], k[:-24]], k, clear),
        "mean_ghi": float(np.mean((k * clear)[lit])),
    }


#: Weather set-ups of the TMY3 station (see :func:`tmy3_weather`).
WEATHER_SETUPS = {
    "forecast": "day-ahead GHI forecast (emulated NWP, skill {skill:.1f}) + TMY3 temperature",
    "measured": "measured TMY3 GHI (ex-post) + TMY3 temperature (ex-post)",
    "none": "clear-sky GHI only, no temperature",
}


def tmy3_weather(index: pd.DatetimeIndex, place: Place,
                 setup: str = "forecast") -> pd.DataFrame | None:
    """Weather of a place at the TMY3 station: ``temp_air`` [°C] and ``ghi`` [W/m²] by time.

    ``setup`` is a key of :data:`WEATHER_SETUPS`: ``forecast`` the emulated day-ahead GHI
    forecast (:func:`tmy3_irradiance_forecast`), ``measured`` the TMY3 GHI as it turned out
    (ex-post), both with the TMY3 temperature standing in for its forecast; ``none`` gives
    no weather at all (None).

    Raises
    ------
    ValueError
        For an unknown set-up, or a place that is not at the station
        (:func:`require_tmy3_station`): no place gets another place's weather.
    """
    if setup not in WEATHER_SETUPS:
        raise ValueError(f"weather {setup!r}: choose from {sorted(WEATHER_SETUPS)}")
    if setup == "none":
        return None
    require_tmy3_station(place)
    ghi = {"forecast": tmy3_irradiance_forecast, "measured": tmy3_irradiance}[setup](index)
    return pd.DataFrame({"temp_air": tmy3_temperature(index), "ghi": ghi})
