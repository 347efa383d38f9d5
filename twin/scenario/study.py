"""The working state of one scenario while its changes are applied: period, profiles, networks.

A :class:`Study` holds copies of everything a change may touch: the electric net, the water
network, the period's QSTS profiles, the period's weather, per-junction water demand factors,
and the changes that hold only over a window of time. Changes (:mod:`twin.scenario.changes`)
act on it through the few methods here; the runner (:mod:`twin.scenario.runner`) then solves it.

Clocks: the period starts at a local *standard-time* midnight, where the SimBench profiles and
the water model's daily patterns both start (:func:`twin.water.night_flow.model_hour`); water
time ``t`` [s] is UTC ``start_utc + t``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pandapower as pp
import pandas as pd

from twin.electric.profiles import STEP, standard_utc_offset


class ScenarioError(ValueError):
    """A scenario that cannot run on this city; the message names the change, element and fix."""


@dataclass
class Window:
    """A change that holds from ``start_utc`` (inclusive) to ``end_utc`` (exclusive).

    ``electric(net)`` changes a copy of the net in place for the window; ``water(wn, active,
    length_s)`` is called on every part of a cut water run (``active`` in the window, the
    part ``length_s`` long), so that elements it adds (a leak's node) exist in every part.
    Either may be None; ``label`` says what it is, for notes and errors.
    """

    start_utc: pd.Timestamp
    end_utc: pd.Timestamp
    label: str
    electric: Callable | None = None
    water: Callable | None = None


@dataclass
class Study:
    """Mutable state of one scenario over its period (see the module docstring).

    Attributes
    ----------
    city : City
    base : twin.scenario.schema.Base
    times : DatetimeIndex
        UTC steps of the electric QSTS (the scenario's step).
    start_utc, end_utc : Timestamp
        The period [start, end) in UTC.
    net, wn
        Copies of the networks, changed in place by permanent changes.
    profiles : dict of DataFrame
        ``load_p_mw``, ``load_q_mvar``, ``sgen_p_mw`` over ``times`` [MW], [Mvar].
    water_times_s : ndarray
        Water model times [s from ``start_utc``] at the water step.
    water_factor : DataFrame
        Water time (hours, from 0) × junction demand multiplier [-]; all ones at first.
    windows : list of Window
    notes : list of str
        What the changes did, in words (counts of new roofs, EVs …).
    """

    city: object
    base: object
    times: pd.DatetimeIndex
    start_utc: pd.Timestamp
    end_utc: pd.Timestamp
    net: pp.pandapowerNet
    wn: object
    profiles: dict
    water_hours: int
    windows: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    water_factor: pd.DataFrame | None = None
    _new: dict = field(default_factory=dict)
    _weather: pd.DataFrame | None = None
    _weather_base: pd.DataFrame | None = None

    # ------------------------------------------------------------------ time
    @property
    def timezone(self) -> str:
        return self.city.timezone

    @property
    def step_h(self) -> float:
        """Electric step [h]."""
        return float((self.times[1] - self.times[0]) / pd.Timedelta("1h")) if len(
            self.times) > 1 else STEP / pd.Timedelta("1h")

    def local_time(self, value) -> pd.Timestamp:
        """A naive datetime in the city's clock (as written in scenario files), in UTC.

        A date alone means that day's local standard-time midnight, where the period's days
        begin (the profiles' and the water patterns' clock).
        """
        if isinstance(value, date) and not isinstance(value, datetime):
            year = self.city.recipe.year
            return (pd.Timestamp(value) - standard_utc_offset(self.timezone, year)).tz_localize(
                "UTC")
        ts = pd.Timestamp(value)
        if ts.tzinfo is None:
            ts = ts.tz_localize(self.timezone, ambiguous=True, nonexistent="shift_forward")
        return ts.tz_convert("UTC")

    def window(self, start, hours: float | None, what: str) -> tuple[pd.Timestamp, pd.Timestamp]:
        """[start, end) in UTC of a change's window; the whole period when ``start`` is None.

        Raises
        ------
        ScenarioError
            A window that starts outside the period.
        """
        if start is None:
            return self.start_utc, self.end_utc
        t0 = self.local_time(start)
        if not self.start_utc <= t0 < self.end_utc:
            tz = self.timezone
            raise ScenarioError(
                f"{what}: start {start} is outside the scenario's period "
                f"{self.start_utc.tz_convert(tz):%Y-%m-%d %H:%M} to "
                f"{self.end_utc.tz_convert(tz):%Y-%m-%d %H:%M}; move it or widen base.start/days")
        t1 = self.end_utc if hours is None else min(self.end_utc, t0 + pd.Timedelta(hours=hours))
        return t0, t1

    def in_window(self, t0: pd.Timestamp, t1: pd.Timestamp) -> np.ndarray:
        """Boolean mask of the electric steps within [t0, t1)."""
        return np.asarray((self.times >= t0) & (self.times < t1))

    def local_hours(self) -> np.ndarray:
        """Local clock hour of each electric step's middle, with daylight saving [h]."""
        mid = (self.times + pd.Timedelta(hours=self.step_h / 2)).tz_convert(self.timezone)
        return np.asarray(mid.hour + mid.minute / 60.0)

    def weekdays(self) -> np.ndarray:
        """True on Monday to Friday (local) for each electric step."""
        return np.asarray(self.times.tz_convert(self.timezone).dayofweek < 5)

    # ------------------------------------------------------------------ weather
    @property
    def weather(self) -> pd.DataFrame:
        """The period's weather at the electric steps (pvlib, the city's TMY3 file), as changed
        by weather changes: ``ghi``, ``dni``, ``dhi`` [W/m²], ``temp_air`` [°C] …"""
        if self._weather is None:
            self._weather_base = _reference_weather(self.city.recipe.year,
                                                    self.city.timezone).loc[self.times]
            self._weather = self._weather_base.copy()
        return self._weather

    @property
    def weather_changed(self) -> bool:
        return self._weather is not None and not self._weather.equals(self._weather_base)

    def pv_kw_per_kwp(self, tilt_deg: float, azimuth_deg: float, base: bool = False) -> np.ndarray:
        """AC output of 1 kWp facing ``tilt_deg``/``azimuth_deg`` in the (changed) weather
        [kW/kWp], through :func:`twin.electric.pv.ac_kw_per_kwp`."""
        from twin.electric.pv import ac_kw_per_kwp

        weather = self.weather
        return ac_kw_per_kwp(self._weather_base if base else weather, tilt_deg,
                             azimuth_deg).to_numpy()

    # ------------------------------------------------------------------ electric
    def customer_counts(self, classes: tuple[str, ...]) -> pd.Series:
        """Customers of ``classes`` per net load index [-]."""
        c = self.city.customers
        return c[c.customer_class.isin(classes)].groupby("load").size()

    def add_loads(self, buses, p_mw: np.ndarray, q_mvar: np.ndarray, names, kind: str) -> list:
        """Add loads at ``buses`` with their profiles over the period (time × load) [MW],
        [Mvar]; their indices."""
        idx = list(pp.create_loads(self.net, buses=[int(b) for b in buses], p_mw=0.0,
                                   q_mvar=0.0, name=list(names), type=kind))
        self.net.load.loc[idx, "profile"] = kind
        p_mw, q_mvar = np.atleast_2d(p_mw), np.atleast_2d(q_mvar)
        for k, i in enumerate(idx):
            self._new.setdefault("load_p_mw", {})[i] = np.asarray(p_mw[:, k], dtype=float)
            self._new.setdefault("load_q_mvar", {})[i] = np.asarray(q_mvar[:, k], dtype=float)
        return idx

    def add_sgens(self, buses, p_mw: np.ndarray, names, kind: str) -> list:
        """Add static generators at ``buses`` with their profiles (time × generator) [MW]."""
        idx = list(pp.create_sgens(self.net, buses=[int(b) for b in buses], p_mw=0.0,
                                   q_mvar=0.0, name=list(names), type=kind))
        self.net.sgen.loc[idx, "profile"] = kind
        p_mw = np.atleast_2d(p_mw)
        for k, i in enumerate(idx):
            self._new.setdefault("sgen_p_mw", {})[i] = np.asarray(p_mw[:, k], dtype=float)
        return idx

    def add_load(self, bus: int, p_mw: np.ndarray, q_mvar: np.ndarray, name: str,
                 kind: str) -> int:
        """Add one load (see :meth:`add_loads`)."""
        return self.add_loads([bus], np.asarray(p_mw)[:, None], np.asarray(q_mvar)[:, None],
                              [name], kind)[0]

    def add_sgen(self, bus: int, p_mw: np.ndarray, name: str, kind: str) -> int:
        """Add one static generator (see :meth:`add_sgens`)."""
        return self.add_sgens([bus], np.asarray(p_mw)[:, None], [name], kind)[0]

    def flush(self) -> None:
        """Join the profiles of the elements added since the last call to ``profiles``."""
        for name, cols in self._new.items():
            if cols:
                self.profiles[name] = join_columns(self.profiles[name], cols)
        self._new = {}

    def bus_net_load_mw(self, buses) -> np.ndarray:
        """Loads minus generation at ``buses`` over the period [MW] (pump loads excluded:
        their power is known only after the water run)."""
        self.flush()
        buses = set(map(int, buses))
        loads = self.net.load.index[self.net.load.bus.isin(buses)
                                    & (self.net.load.profile != "pump")]
        sgens = self.net.sgen.index[self.net.sgen.bus.isin(buses)]
        p = self.profiles["load_p_mw"]
        g = self.profiles["sgen_p_mw"]
        return (p[p.columns.intersection(loads)].sum(axis=1).to_numpy()
                - g[g.columns.intersection(sgens)].sum(axis=1).to_numpy())

    def check_bus(self, bus: int, what: str) -> None:
        if int(bus) not in self.net.bus.index:
            raise ScenarioError(f"{what}: no bus {bus} in the electric net (buses "
                                f"{self.net.bus.index.min()}–{self.net.bus.index.max()})")

    # ------------------------------------------------------------------ water
    def scale_water(self, factor: pd.Series, t0: pd.Timestamp, t1: pd.Timestamp) -> None:
        """Multiply junctions' demands by ``factor`` (per junction [-]) over [t0, t1)."""
        hours = (np.arange(self.water_hours) * pd.Timedelta("1h") + self.start_utc)
        mask = (hours >= t0) & (hours < t1)
        if self.water_factor is None:
            self.water_factor = pd.DataFrame(1.0, index=np.arange(self.water_hours),
                                             columns=self.city.demand_junctions)
        cols = factor.index.intersection(self.water_factor.columns)
        self.water_factor.loc[mask, cols] *= factor[cols].to_numpy()[None, :]


def join_columns(df: pd.DataFrame, cols: dict) -> pd.DataFrame:
    """``df`` with the columns ``cols`` (name -> array) added or replaced, as one block of
    float64 (pandas keeps many small blocks otherwise, and copies them on every use)."""
    keep = df.columns.difference(pd.Index(list(cols)), sort=False)
    values = np.column_stack([df[keep].to_numpy(dtype=float)]
                             + [np.asarray(v, dtype=float) for v in cols.values()])
    return pd.DataFrame(values, index=df.index, columns=keep.append(pd.Index(list(cols))))


@functools.lru_cache(maxsize=2)
def _reference_weather(year: int, timezone: str) -> pd.DataFrame:
    """The city's weather at every 15-min step of its year (computed once per process)."""
    from twin.electric import pv
    from twin.electric.profiles import profile_index

    hourly, location = pv.reference_weather(year)
    steps = (366 if pd.Timestamp(year=year, month=1, day=1).is_leap_year else 365) * 96
    return pv.weather_at(hourly, location, profile_index(year, timezone, steps))


def period_bounds(year: int, timezone: str, start, days: int | None) -> tuple[pd.Timestamp,
                                                                                pd.Timestamp]:
    """UTC bounds of ``days`` days from local standard midnight of ``start`` (default: the
    whole year)."""
    offset = standard_utc_offset(timezone, year)
    first = pd.Timestamp(f"{year}-01-01")
    day0 = pd.Timestamp(start) if start is not None else first
    end = day0 + pd.Timedelta(days=days) if days else pd.Timestamp(f"{year + 1}-01-01")
    return ((day0 - offset).tz_localize("UTC"), (end - offset).tz_localize("UTC"))
