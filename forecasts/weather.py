"""Weather for the load models, read from the measurement store (kind ``weather``).

Ingestion writes one series per station and variable, ``WX.<station>.<variable>``
(:mod:`twin.ingest.weather`). :func:`station_weather` reads a station's temperature and
irradiance onto a forecast's time grid, in °C and W/m². Measured weather and forecasts are
kept apart: a :class:`WeatherInputs` carries the measured record (the history the models fit
on) and, separately, an archive of forecasts issued before each target day (what the models
see over the horizon); without such an archive the measured values stand in for their own
forecast, and ``ex_post`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Store kind of weather readings and the prefix of their series ids.
KIND = "weather"
PREFIX = "WX."
#: Variables the load models read and the unit each is kept in.
MODEL_VARIABLES = {"temp_air": "degC", "ghi": "W/m2"}
#: Temperature units converted to °C: unit as stored → (scale, offset) of °C = (x + offset)·scale.
TEMPERATURE_UNITS = {"degC": (1.0, 0.0), "°C": (1.0, 0.0), "C": (1.0, 0.0),
                     "degF": (5.0 / 9.0, -32.0), "°F": (5.0 / 9.0, -32.0), "F": (5.0 / 9.0, -32.0),
                     "K": (1.0, -273.15)}
#: Longest hole in a weather series filled by time interpolation [Timedelta]; longer holes stay
#: empty, and a model that needs the values there fails (and falls back, recorded).
MAX_WEATHER_GAP = pd.Timedelta("6h")


class WeatherError(ValueError):
    """Weather that cannot be used; the message names the station, variable and why."""


@dataclass(frozen=True)
class WeatherInputs:
    """Weather of one station for a forecast: measured, and forecasts kept apart.

    Attributes
    ----------
    measured : DataFrame
        time (UTC) × ``temp_air`` [°C], ``ghi`` [W/m²]: what was measured.
    forecast : DataFrame, optional
        The same columns from forecasts issued before each target day; None when no archive
        of forecasts was given (then the measured values stand in, ex post).
    notes : list of str
        What was done to the data (units converted, gaps filled).
    station : str
    """

    measured: pd.DataFrame
    forecast: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    station: str = ""

    @property
    def ex_post(self) -> bool:
        """True when the horizon gets the measured weather (no forecast archive)."""
        return self.forecast is None

    def describe(self) -> str:
        """One line for tables."""
        ahead = ("measured values as their own forecast (ex post)" if self.ex_post
                 else "forecasts issued before the target day")
        cols = ", ".join(self.measured.columns)
        extra = f"; {'; '.join(self.notes)}" if self.notes else ""
        return f"station {self.station} ({cols}); over the horizon: {ahead}{extra}"


def split_exog(exog) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """``(history weather, horizon weather)`` of a model's input.

    ``exog`` is None, one DataFrame for both, or a :class:`WeatherInputs` (measured for the
    history; the forecast archive, else the measured record, for the horizon).
    """
    if exog is None or isinstance(exog, pd.DataFrame):
        return exog, exog
    if isinstance(exog, WeatherInputs):
        return exog.measured, exog.forecast if exog.forecast is not None else exog.measured
    raise WeatherError(f"weather must be a DataFrame or WeatherInputs, not {type(exog)}")


def stations(store) -> list[str]:
    """Stations with weather in the store (from the ``WX.<station>.<variable>`` ids)."""
    if KIND not in store.kinds():
        return []
    names: set[str] = set()
    for part in store.iter_columns(KIND, ["series_id"]):
        ids = part["series_id"].astype(str).unique()
        names.update(i[len(PREFIX):].rsplit(".", 1)[0] for i in ids if i.startswith(PREFIX))
    return sorted(names)


def to_celsius(values: pd.Series, unit: str, what: str) -> tuple[pd.Series, str]:
    """Temperatures in °C, and a note when converted.

    Raises
    ------
    WeatherError
        For a unit that is not a temperature.
    """
    if unit not in TEMPERATURE_UNITS:
        raise WeatherError(f"{what}: unit {unit!r} is not a temperature unit "
                           f"({', '.join(TEMPERATURE_UNITS)})")
    scale, offset = TEMPERATURE_UNITS[unit]
    if (scale, offset) == (1.0, 0.0):
        return values, ""
    return (values + offset) * scale, f"{what} converted from {unit} to °C"


def on_grid(values: pd.Series, grid: pd.DatetimeIndex, max_gap: pd.Timedelta = MAX_WEATHER_GAP
            ) -> tuple[pd.Series, int]:
    """A weather series at the grid's times, holes up to ``max_gap`` interpolated in time.

    Returns the series and the number of grid times left empty (longer holes, or outside
    the record).
    """
    values = values.dropna().sort_index()
    values = values[~values.index.duplicated(keep="last")]
    if values.empty:
        return pd.Series(np.nan, index=grid), len(grid)
    both = values.index.union(grid)
    filled = values.reindex(both).interpolate(method="time", limit_area="inside")
    # leave holes longer than max_gap empty: distance to the nearest real reading
    known = pd.Series(values.index, index=values.index).reindex(both)
    before = known.ffill()
    after = known.bfill()
    hole = (after - before) > max_gap
    filled[hole.to_numpy() & ~both.isin(values.index)] = np.nan
    out = filled.reindex(grid)
    return out, int(out.isna().sum())


def station_weather(store, station: str, start, end, step: pd.Timedelta,
                    variables=tuple(MODEL_VARIABLES)) -> tuple[pd.DataFrame, list[str]]:
    """A station's weather on the UTC grid ``start <= t < end`` every ``step``.

    Parameters
    ----------
    store : MeasurementStore
    station : str
        The ``<station>`` of the ``WX.<station>.<variable>`` series.
    variables : sequence of str
        Of :data:`MODEL_VARIABLES`; a variable the station lacks is left out (noted).

    Returns
    -------
    DataFrame
        time × variable [°C, W/m²]; NaN where the record has holes longer than
        :data:`MAX_WEATHER_GAP`.
    list of str
        Notes: conversions, filled and missing values.

    Raises
    ------
    WeatherError
        When the store holds no weather of the station in the window (naming the stations
        it does hold), or a unit that cannot be converted.
    """
    ids = [f"{PREFIX}{station}.{v}" for v in variables]
    start, end = _utc(start), _utc(end)
    pad = pd.Timedelta("1D")
    lo, hi = pd.Timestamp(start) - pad, pd.Timestamp(end) + pad
    long = store.read(KIND, ids, lo, hi) if KIND in store.kinds() else None
    if long is None or long.empty:
        held = stations(store)
        raise WeatherError(
            f"the store holds no weather of station {station!r} between {start} and {end} "
            f"(stations held: {', '.join(held) or 'none'}); ingest its weather file "
            "(`twin ingest <file>`) or name another with --weather")
    grid = pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq=step,
                         inclusive="left")
    long = long[long["quality_flag"].astype(str) != "failed"]
    columns, notes = {}, []
    for var in variables:
        sid = f"{PREFIX}{station}.{var}"
        rows = long[long["series_id"].astype(str) == sid]
        if rows.empty:
            notes.append(f"station {station} has no {var}")
            continue
        values = pd.Series(rows["value"].to_numpy(float),
                           index=pd.DatetimeIndex(rows["time_utc"]).tz_convert("UTC")
                           if pd.DatetimeIndex(rows["time_utc"]).tz is not None
                           else pd.DatetimeIndex(rows["time_utc"]).tz_localize("UTC"))
        unit = str(rows["unit"].iloc[0])
        if var == "temp_air":
            values, note = to_celsius(values, unit, sid)
            if note:
                notes.append(note)
        elif unit not in ("W/m2", "W/m²"):
            raise WeatherError(f"{sid}: unit {unit!r}, expected W/m2")
        col, empty = on_grid(values, grid)
        if empty:
            first = col.index[col.isna()][0]
            notes.append(f"{sid}: {empty} of {len(grid)} times without a value "
                         f"(first {first:%Y-%m-%d %H:%M} UTC; holes over "
                         f"{MAX_WEATHER_GAP / pd.Timedelta('1h'):g} h are not filled)")
        columns[var] = col
    if not columns:
        raise WeatherError(f"station {station!r} has none of {list(variables)} in the store")
    return pd.DataFrame(columns, index=grid), notes


def _utc(t) -> pd.Timestamp:
    """A time in UTC (naive times are taken as UTC, the store's clock)."""
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def store_weather(store, station: str, start, end, step: pd.Timedelta,
                  forecast_station: str | None = None) -> WeatherInputs:
    """Measured weather of ``station`` and, when given, the forecast archive of
    ``forecast_station``, on one grid (see :func:`station_weather`)."""
    measured, notes = station_weather(store, station, start, end, step)
    forecast = None
    if forecast_station:
        forecast, more = station_weather(store, forecast_station, start, end, step,
                                         tuple(measured.columns))
        notes += [f"forecast archive {forecast_station}: {n}" for n in more]
    return WeatherInputs(measured, forecast, notes, station)
