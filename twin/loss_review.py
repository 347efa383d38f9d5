"""The losses of a period as an engineer reviews them: water and electricity, fit to show.

One call runs the four analyses over the same local days of the store: the IWA water balance
per DMA (:func:`twin.water.balance.balance_from_store`), the night flow
(:func:`twin.water.night_flow.night_flow_from_store`), leak detection and location
(:func:`twin.water.leaks.find_leaks`) and the feeders' non-technical losses
(:func:`twin.electric.losses.non_technical_losses`), the last made fit to show by
:mod:`twin.electric.ntl_report` (pseudonymous meters; feeder sums only where the aggregation
rules hold). The balance and the night flow are made fit to show the same way by
:mod:`twin.water.balance_privacy`: a DMA whose read customers break the aggregation rules keeps
its system input, and its billed use, NRW, real losses, ILI and net night flow are withheld with
a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from twin import config
from twin.electric.losses import non_technical_losses
from twin.electric.ntl_report import (
    meter_energy_kwh,
    publishable_feeder_balance,
    suspicious_meters,
)
from twin.scenario import profiles_of
from twin.timeutil import parse_local_time
from twin.water.balance import balance_from_store, metered_volumes_m3
from twin.water.balance_privacy import publishable_balance, publishable_night_flow
from twin.water.leaks import find_leaks
from twin.water.night_flow import night_flow_from_store

#: Longest period reviewed at once [days].
MAX_DAYS = 92
#: Shortest: leak detection needs 48 hours of residuals, night flow a few nights [days].
MIN_DAYS = 3


@dataclass(frozen=True)
class LossesResult:
    """The losses of one period.

    Attributes
    ----------
    start, end : Timestamp
        UTC bounds ``[start, end)``.
    balance : DataFrame
        Water balance per DMA and the city (NRW, ILI, flags ``consistent``,
        ``ili_indicative``), customer figures withheld (``withheld``) where a zone's read
        customers break the aggregation rules
        (:func:`twin.water.balance_privacy.publishable_balance`).
    night : DataFrame
        Night flow per DMA and night (``nnf_trend_l_s`` [L/s] ...), the customer figures
        withheld for the same DMAs.
    leaks : twin.water.leaks.LeakReport
    feeders : DataFrame
        Feeder energy balance [MWh], customer sums withheld where a rule breaks.
    privacy_notes : list of str
        The rules the feeders break, one note each.
    suspicious : DataFrame
        Flagged meters under pseudonyms (:func:`twin.electric.ntl_report.suspicious_meters`).
    water_privacy_notes : list of str
        The rules the DMAs (and the city) break, and what of their balance is withheld.
    """

    start: pd.Timestamp
    end: pd.Timestamp
    balance: pd.DataFrame
    night: pd.DataFrame
    leaks: object
    feeders: pd.DataFrame
    privacy_notes: list
    suspicious: pd.DataFrame
    water_privacy_notes: list = field(default_factory=list)


def period_utc(city, first_day: date, days: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """UTC bounds of ``days`` local days from ``first_day`` (TimeError for a bad day)."""
    t0 = parse_local_time(f"{first_day:%Y-%m-%d} 00:00", city.timezone)
    t1 = (t0.tz_convert(city.timezone).tz_localize(None) + pd.Timedelta(days=days)) \
        .tz_localize(city.timezone)
    return t0.tz_convert("UTC"), t1.tz_convert("UTC")


def losses_of_period(city, store, first_day: date, days: int, progress=None,
                     cache_dir=None) -> LossesResult:
    """The four analyses over ``days`` local days from ``first_day``.

    Parameters
    ----------
    city : twin.city.City
    store : twin.ingest.store.MeasurementStore
    first_day : date
        First local day.
    days : int
        :data:`MIN_DAYS` to :data:`MAX_DAYS`.
    progress : callable, optional
        ``progress(done, total, label)`` before each analysis.
    cache_dir : path, optional
        Leak sensitivity cache; default ``<data directory>/leak-sensitivity``.

    Raises
    ------
    ValueError
        A period too short or too long, or outside what the store and profiles hold (the
        analyses' own errors name what is missing).
    twin.ingest.privacy.PrivacyError
        Without a pseudonym key (``$TWIN_PSEUDONYM_KEY``).
    """
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise ValueError(f"{days} days: give {MIN_DAYS} to {MAX_DAYS} days (leak detection "
                         "needs 48 hours at least)")
    tick = progress or (lambda *_: None)
    a, b = period_utc(city, first_day, days)
    tick(0, 4, "water balance")
    balance = balance_from_store(store, city, a, b)
    read, _ = metered_volumes_m3(store, pd.Timestamp(balance.attrs["start"]),
                                 pd.Timestamp(balance.attrs["end"]))
    balance, water_notes = publishable_balance(balance, city.customers, city.dmas,
                                               read.set_index("series_id")["value"])
    tick(1, 4, "night flow")
    night = publishable_night_flow(night_flow_from_store(store, city, a, b),
                                   balance.index[balance.withheld])
    tick(2, 4, "leak detection and location")
    leaks = find_leaks(city, store, a, b,
                       cache_dir=cache_dir or config.data_dir() / "leak-sensitivity")
    tick(3, 4, "non-technical losses")
    ntl = non_technical_losses(city, store, profiles_of(city), a, b)
    energy = meter_energy_kwh(ntl.meters.meter_ids, ntl.meters.kwh)
    feeders, notes = publishable_feeder_balance(ntl.balance, city.customers, energy)
    return LossesResult(a, b, balance, night, leaks, feeders, notes,
                        suspicious_meters(ntl.scores), water_notes)


