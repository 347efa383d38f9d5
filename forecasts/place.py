"""Where and on whose clock a series is forecast: time zone, location and public holidays.

A :class:`Place` is passed to every model, feature and backtest that needs a calendar or the
sun, as pvlib passes a ``Location``; nothing here reads a city file. :func:`place_of_city`
builds one from a loaded city (its recipe's zone and coordinates), with the holidays of a
country (the ``holidays`` package) that the caller names, or else the country of the zone
(IANA ``zone.tab``) when the zone belongs to exactly one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd


class PlaceError(ValueError):
    """A time zone, location or holiday calendar that cannot be used; says which and why."""


@dataclass(frozen=True)
class Place:
    """Clock, location and holidays of the series being forecast.

    Attributes
    ----------
    timezone : str
        IANA time zone of the local calendar (hour of day, day type, day-ahead windows).
    latitude, longitude : float, optional
        Location [deg] for clear-sky irradiance; None when unknown (no solar regressor).
    country, subdiv : str, optional
        Holiday calendar (``holidays`` package codes, e.g. ``"US"``, ``"GB"`` / ``"ENG"``);
        None: no day is a holiday.
    """

    timezone: str
    latitude: float | None = None
    longitude: float | None = None
    country: str | None = None
    subdiv: str | None = None

    def __post_init__(self):
        try:
            ZoneInfo(str(self.timezone))
        except (ZoneInfoNotFoundError, ValueError):
            raise PlaceError(f"time zone {self.timezone!r} is not an IANA zone (e.g. "
                             "'Europe/London', 'America/Denver')") from None
        if (self.latitude is None) != (self.longitude is None):
            raise PlaceError("give both latitude and longitude, or neither")
        if self.latitude is not None and not (-90 <= self.latitude <= 90
                                              and -180 <= self.longitude <= 180):
            raise PlaceError(f"location {self.latitude}, {self.longitude} is not a latitude "
                             "in [-90, 90] and a longitude in [-180, 180]")
        if self.country is not None:
            _calendar(self.country, self.subdiv, (2000,))  # raises for an unknown code

    @property
    def has_location(self) -> bool:
        """True when latitude and longitude are known."""
        return self.latitude is not None

    def holiday_flags(self, index: pd.DatetimeIndex) -> np.ndarray:
        """True where the local day of each time is a public holiday [bool]."""
        if self.country is None or len(index) == 0:
            return np.zeros(len(index), bool)
        days = index.tz_convert(self.timezone).tz_localize(None).normalize()
        years = tuple(range(int(days.min().year), int(days.max().year) + 1))
        dates = pd.DatetimeIndex(sorted(_calendar(self.country, self.subdiv, years)))
        return np.asarray(days.isin(dates))

    def describe(self) -> str:
        """One line for tables: zone, location and holidays."""
        where = (f"{self.latitude:.3f}, {self.longitude:.3f}" if self.has_location
                 else "no location (no clear-sky regressor)")
        cal = (f"holidays {self.country}{'-' + self.subdiv if self.subdiv else ''}"
               if self.country else "no holidays")
        return f"{self.timezone}; {where}; {cal}"


@functools.lru_cache(maxsize=32)
def _calendar(country: str, subdiv: str | None, years: tuple[int, ...]) -> frozenset:
    """Holiday dates of a country (and subdivision) in ``years`` (``holidays`` package)."""
    import holidays

    try:
        cal = holidays.country_holidays(country, subdiv=subdiv, years=years)
    except NotImplementedError as exc:
        raise PlaceError(f"holidays: {exc}; see `python -m holidays --help` or "
                         "holidays.list_supported_countries() for the codes") from None
    return frozenset(pd.Timestamp(d) for d in cal)


def zone_country(timezone: str) -> str | None:
    """The one country whose IANA zone this is (``America/New_York`` → ``US``), else None."""
    import pytz

    owners = [c for c, zones in pytz.country_timezones.items() if timezone in zones]
    return owners[0] if len(owners) == 1 else None


def place_of_city(city, country: str | None = None, subdiv: str | None = None) -> Place:
    """The place of a loaded city: its recipe's zone and location, and a holiday calendar.

    Parameters
    ----------
    city : City
        With ``timezone`` and ``recipe.latitude`` / ``recipe.longitude`` [deg].
    country, subdiv : str, optional
        Holiday calendar; default the country of the city's zone (:func:`zone_country`),
        none when the zone is shared by several countries.
    """
    recipe = city.recipe
    country = country or zone_country(city.timezone)
    return Place(city.timezone, getattr(recipe, "latitude", None),
                 getattr(recipe, "longitude", None), country, subdiv)


def as_place(place: Place | str) -> Place:
    """A :class:`Place` from a Place or a bare time zone (no location, no holidays)."""
    if isinstance(place, Place):
        return place
    if isinstance(place, str):
        return Place(place)
    raise PlaceError(f"expected a Place or a time zone name, got {type(place).__name__}")
