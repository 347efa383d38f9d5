"""City clock and UTC: the store keeps UTC; people type and read the city's local time."""

from __future__ import annotations

import pandas as pd


class TimeError(ValueError):
    """A time a user gave that cannot be used; the message says which and why."""


def parse_local_time(text: str | pd.Timestamp, timezone: str) -> pd.Timestamp:
    """Read a time typed in the city's clock (or with an explicit offset) and return it in UTC.

    Parameters
    ----------
    text : str or Timestamp
        For example ``"2016-07-14 18:00"`` (city time) or ``"2016-07-14T22:00Z"``.
    timezone : str
        The city's IANA zone, used when ``text`` carries no offset.

    Raises
    ------
    TimeError
        When the text is not a time, or names a local time that does not exist (the hour
        skipped in spring) or is ambiguous (the hour repeated in autumn) without an offset.
    """
    try:
        ts = pd.Timestamp(text)
    except (ValueError, TypeError) as exc:
        raise TimeError(f"{text!r} is not a time; write it like '2016-07-14 18:00'") from exc
    if ts is pd.NaT:
        raise TimeError(f"{text!r} is not a time; write it like '2016-07-14 18:00'")
    if ts.tzinfo is None:
        try:
            ts = ts.tz_localize(timezone, ambiguous="raise", nonexistent="raise")
        except Exception as exc:  # pytz/zoneinfo raise different types
            raise TimeError(
                f"{text} does not exist or is ambiguous in {timezone} (daylight saving change);"
                " give an explicit UTC offset, e.g. '2016-11-06 01:30-05:00'"
            ) from exc
    return ts.tz_convert("UTC")


def local_period(times, timezone: str, step: pd.Timedelta | str = "15min") -> tuple[str, str]:
    """First and last local day covered by steps starting at ``times`` (UTC): ``YYYY-MM-DD``.

    The last step ends ``step`` after its start; a period ending at local midnight ends
    the day before.
    """
    times = pd.DatetimeIndex(times)
    if times.tz is None:
        times = times.tz_localize("UTC")
    first = times[0].tz_convert(timezone)
    last = (times[-1] + pd.Timedelta(step) - pd.Timedelta("1ns")).tz_convert(timezone)
    return f"{first:%Y-%m-%d}", f"{last:%Y-%m-%d}"
