"""The changes a scenario makes, each a small typed object that applies itself to a Study.

Every change is a pydantic model with a ``type`` tag (the discriminator of :data:`Change`), an
optional ``id`` (how a sweep names it: ``ev.share``) and fields declared once with their unit
(``json_schema_extra={"unit": …}``, shown in ``twin scenario schema``). ``apply(study)`` acts
on a :class:`twin.scenario.study.Study`; changes run in the order of their ``phase`` (weather,
demand, new demand, generation, network, storage), so a file's order does not matter.

Coupling needs no change of its own: the runner turns an electric outage at a pump's bus into
the pump stopping, and pump power from the water run into load on its bus.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Annotated, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy.special import ndtr

from twin.scenario.study import ScenarioError, Study, Window


def quantity(default, unit: str, description: str, **constraints):
    """A field with its unit as data (JSON schema ``unit``) and in its description."""
    text = f"{description} [{unit}]" if unit else description
    return Field(default, description=text, json_schema_extra={"unit": unit}, **constraints)


Share = Annotated[float, Field(ge=0.0, le=1.0)]
CUSTOMER_CLASSES = ("residential", "commercial", "industrial", "critical")
CustomerClass = Literal["residential", "commercial", "industrial", "critical"]


class ChangeBase(BaseModel):
    """What every change has: its ``type`` tag and an optional ``id``."""

    model_config = ConfigDict(extra="forbid")
    id: str | None = Field(None, description="name of the change in a sweep (default: its type)")
    #: Order in which changes apply (0 weather … 5 storage).
    phase: ClassVar[int] = 4

    @property
    def key(self) -> str:
        return self.id or self.type

    def label(self) -> str:
        return f"change {self.key!r} ({self.type})"

    def apply(self, study: Study) -> None:  # pragma: no cover - every change overrides it
        raise NotImplementedError


class Windowed(ChangeBase):
    """A change that may hold only over a window of the period."""

    start: datetime | date | None = Field(
        None, description="local city time the change starts, e.g. 2016-07-14 17:00 "
        "(default: the period's start)")
    hours: float | None = quantity(None, "h", "how long it lasts (default: to the period's end)",
                                   gt=0)

    def span(self, study: Study) -> tuple[pd.Timestamp, pd.Timestamp]:
        return study.window(self.start, self.hours, self.label())


# ---------------------------------------------------------------------------------- weather

class Heatwave(Windowed):
    """Hotter days: air temperature up by ``delta_c`` over the window.

    The shift feeds the electric loads' cooling response (``load_percent_per_degc`` per
    degree above ``cooling_base_c``), heat pumps and rooftop PV (cell temperature) through the
    weather, and the water demand (``water_percent_per_degc`` per degree of shift).
    """

    type: Literal["heatwave"] = "heatwave"
    phase: ClassVar[int] = 0
    delta_c: float = quantity(5.0, "°C", "air temperature shift", ge=-30, le=30)
    days: float | None = quantity(7.0, "d", "length of the heatwave when hours is not given",
                                  gt=0)
    load_percent_per_degc: float = quantity(2.5, "%/°C", "electric load rise per degree above "
                                            "cooling_base_c", ge=0, le=20)
    cooling_base_c: float = quantity(22.0, "°C", "temperature above which loads cool")
    water_percent_per_degc: float = quantity(1.5, "%/°C", "water demand rise per degree of "
                                             "shift", ge=0, le=20)

    def apply(self, study: Study) -> None:
        hours = self.hours if self.hours is not None else (
            self.days * 24 if self.days is not None else None)
        t0, t1 = study.window(self.start, hours, self.label())
        mask = study.in_window(t0, t1)
        w = study.weather
        t_old = w["temp_air"].to_numpy().copy()
        w.loc[mask, "temp_air"] = t_old[mask] + self.delta_c
        cool = (np.maximum(w["temp_air"].to_numpy() - self.cooling_base_c, 0)
                - np.maximum(t_old - self.cooling_base_c, 0))
        factor = 1.0 + self.load_percent_per_degc / 100.0 * cool
        study.flush()
        for name in ("load_p_mw", "load_q_mvar"):
            df = study.profiles[name]
            cols = df.columns[study.net.load.profile.reindex(df.columns) != "pump"]
            df.loc[:, cols] = df[cols].to_numpy() * factor[:, None]
        water = 1.0 + self.water_percent_per_degc / 100.0 * self.delta_c
        study.scale_water(pd.Series(water, index=study.city.demand_junctions), t0, t1)
        study.notes.append(f"heatwave +{self.delta_c:g} °C over {(t1 - t0) / pd.Timedelta('1D'):g}"
                           f" days: peak load factor {factor.max():.3f}, water ×{water:.3f}")


class IrradianceChange(Windowed):
    """Sunnier or cloudier: global, direct and diffuse irradiance scaled over the window."""

    type: Literal["irradiance"] = "irradiance"
    phase: ClassVar[int] = 0
    factor: float = quantity(0.9, "-", "irradiance multiplier", ge=0, le=2)

    def apply(self, study: Study) -> None:
        t0, t1 = self.span(study)
        mask = study.in_window(t0, t1)
        w = study.weather
        for col in ("ghi", "dni", "dhi"):
            w.loc[mask, col] = w.loc[mask, col] * self.factor


# ---------------------------------------------------------------------------------- demand

class LoadGrowth(ChangeBase):
    """Electric demand growth: every load (or those of ``feeders``) × (1 + g)^years."""

    type: Literal["load_growth"] = "load_growth"
    phase: ClassVar[int] = 1
    percent_per_year: float = quantity(1.0, "%/a", "growth rate", ge=-20, le=50)
    years: float = quantity(10.0, "a", "years of growth", ge=0, le=50)
    feeders: list[str] | None = Field(None, description="feeders it applies to (default all)")

    def apply(self, study: Study) -> None:
        net = study.net
        chosen = net.load.profile != "pump"
        if self.feeders:
            known = set(net.bus.feeder.astype(str))
            bad = sorted(set(self.feeders) - known)
            if bad:
                raise ScenarioError(f"{self.label()}: no feeder {bad}; feeders are "
                                    f"{sorted(f for f in known if f.startswith('F'))}")
            chosen &= net.bus.feeder.reindex(net.load.bus).isin(self.feeders).to_numpy()
        k = (1 + self.percent_per_year / 100.0) ** self.years
        study.flush()
        for name in ("load_p_mw", "load_q_mvar"):
            df = study.profiles[name]
            cols = df.columns.intersection(net.load.index[chosen])
            df.loc[:, cols] = df[cols].to_numpy() * k
        study.notes.append(f"load growth ×{k:.4f} on {int(chosen.sum())} loads")


class WaterDemand(Windowed):
    """Water demand changed by a factor: growth (> 1) or a drought restriction (< 1), for
    some DMAs and customer classes, over a window."""

    type: Literal["water_demand"] = "water_demand"
    phase: ClassVar[int] = 1
    factor: float = quantity(0.8, "-", "demand multiplier", ge=0, le=5)
    dmas: list[str] | None = Field(None, description="DMAs it applies to (default all)")
    customer_class: list[CustomerClass] | None = Field(
        None, description="customer classes it applies to (default all): a junction's demand "
        "changes by the classes' share of it")

    def apply(self, study: Study) -> None:
        city = study.city
        junctions = pd.Index(city.demand_junctions)
        zone = city.dmas.reindex(junctions)
        if self.dmas:
            known = sorted(z for z in city.dmas.unique() if str(z).startswith("DMA"))
            bad = sorted(set(self.dmas) - set(known))
            if bad:
                raise ScenarioError(f"{self.label()}: no DMA {bad}; DMAs are {known}")
            junctions = junctions[zone.isin(self.dmas).to_numpy()]
        share = pd.Series(1.0, index=junctions)
        if self.customer_class:
            c = city.customers
            share = (c[c.customer_class.isin(self.customer_class)].groupby("junction")
                     .water_share.sum().reindex(junctions, fill_value=0.0).clip(0, 1))
        t0, t1 = self.span(study)
        study.scale_water(1.0 + (self.factor - 1.0) * share, t0, t1)
        study.notes.append(f"water demand ×{self.factor:g} at {int((share > 0).sum())} junctions")


# ---------------------------------------------------------------------------------- new demand

def _arrival_profile(hours: np.ndarray, arrive_h: float, spread_h: float,
                     duration_h: float) -> np.ndarray:
    """Share of vehicles charging at local clock ``hours`` [-]: arrivals normal around
    ``arrive_h`` (sd ``spread_h``), each charging ``duration_h`` at full power.

    P(A <= h < A + d) = Φ((h − μ)/σ) − Φ((h − d − μ)/σ), summed over the days before and
    after so that a charge past midnight counts.
    """
    out = np.zeros_like(hours, dtype=float)
    for shift in (-24.0, 0.0, 24.0, 48.0):
        h = hours + shift
        out += ndtr((h - arrive_h) / spread_h) - ndtr((h - duration_h - arrive_h) / spread_h)
    return np.clip(out, 0.0, 1.0)


class EvAdoption(ChangeBase):
    """Electric vehicles: a share of residential customers own one and charge it at home, or
    (``workplace_share``) at work, on commercial customers' connections on weekdays.

    Each EV needs ``energy_kwh_per_day``, drawn at ``charger_kw`` from an arrival time normal
    around ``home_arrival_h`` (``workplace_arrival_h``); the profile is the expected power of
    the fleet, so its daily energy is exactly EVs × energy.
    """

    type: Literal["ev"] = "ev"
    phase: ClassVar[int] = 2
    share: Share = quantity(0.3, "-", "share of residential customers with an EV")
    charger_kw: float = quantity(7.4, "kW", "charger power", gt=0, le=350)
    energy_kwh_per_day: float = quantity(9.0, "kWh/d", "energy per EV and day", gt=0, le=200)
    workplace_share: Share = quantity(0.0, "-", "share of EVs charging at work instead")
    home_arrival_h: float = quantity(18.5, "h", "mean local arrival time at home", ge=0, lt=24)
    workplace_arrival_h: float = quantity(8.5, "h", "mean local arrival time at work",
                                          ge=0, lt=24)
    arrival_spread_h: float = quantity(1.5, "h", "standard deviation of arrival times",
                                       gt=0, le=6)

    def apply(self, study: Study) -> None:
        duration = self.energy_kwh_per_day / self.charger_kw
        if duration > 24:
            raise ScenarioError(f"{self.label()}: {self.energy_kwh_per_day} kWh a day at "
                                f"{self.charger_kw} kW takes over 24 h; raise charger_kw")
        hours = study.local_hours()
        home = self.charger_kw / 1000.0 * _arrival_profile(
            hours, self.home_arrival_h, self.arrival_spread_h, duration)
        work = self.charger_kw / 1000.0 * _arrival_profile(
            hours, self.workplace_arrival_h, self.arrival_spread_h, duration) * study.weekdays()
        # a weekday's workplace energy only: weekend drives are charged at home
        work_home_weekend = home * ~study.weekdays()
        residential = study.customer_counts(("residential",))
        evs = residential * self.share
        buses, cols, names = [], [], []

        def add(counts: pd.Series, shape: np.ndarray, where: str) -> None:
            for load, n in counts[counts > 0].items():
                buses.append(int(study.net.load.at[load, "bus"]))
                cols.append(n * shape)
                names.append(f"EV {where} {self.key} at load {load}")

        add(evs * (1 - self.workplace_share), home, "home")
        n_work_total = float(evs.sum() * self.workplace_share)
        if n_work_total > 0:
            commercial = study.customer_counts(("commercial",))
            if commercial.sum() == 0:
                raise ScenarioError(f"{self.label()}: workplace_share > 0 but the city has no "
                                    "commercial customers to charge at")
            add(commercial / commercial.sum() * n_work_total, work, "work")
            add(evs * self.workplace_share, work_home_weekend, "home-weekend")
        if buses:
            p = np.column_stack(cols)
            study.add_loads(buses, p, np.zeros_like(p), names, "ev")
        study.notes.append(f"{evs.sum():.0f} EVs ({self.share:.0%} of {residential.sum()} "
                           f"residential customers) on {int((evs > 0).sum())} loads")


class HeatPumps(ChangeBase):
    """Heat pumps in a share of residential homes, driven by the air temperature.

    Heat demand falls linearly from ``design_heat_kw`` at ``design_temp_c`` to zero at
    ``balance_temp_c``; electric power is heat / COP, with COP = ``cop_at_7c`` +
    ``cop_per_degc`` × (T − 7 °C) (at least 1.5).
    """

    type: Literal["heat_pumps"] = "heat_pumps"
    phase: ClassVar[int] = 2
    share: Share = quantity(0.2, "-", "share of residential customers with a heat pump")
    design_heat_kw: float = quantity(6.0, "kW", "heat demand of a home at design_temp_c", gt=0)
    design_temp_c: float = quantity(-10.0, "°C", "design outdoor temperature")
    balance_temp_c: float = quantity(15.5, "°C", "outdoor temperature of no heat demand")
    cop_at_7c: float = quantity(3.2, "-", "coefficient of performance at 7 °C", gt=1)
    cop_per_degc: float = quantity(0.07, "1/°C", "COP change per degree", ge=0)
    power_factor: float = quantity(0.95, "-", "power factor", gt=0, le=1)

    @model_validator(mode="after")
    def _temps(self):
        if not self.design_temp_c < self.balance_temp_c:
            raise ValueError("design_temp_c must be below balance_temp_c")
        return self

    def electric_kw(self, temp_c: np.ndarray) -> np.ndarray:
        """Electric power of one heat pump at air temperature ``temp_c`` [kW]."""
        heat = self.design_heat_kw * np.clip((self.balance_temp_c - temp_c)
                                             / (self.balance_temp_c - self.design_temp_c), 0, None)
        cop = np.maximum(self.cop_at_7c + self.cop_per_degc * (temp_c - 7.0), 1.5)
        return heat / cop

    def apply(self, study: Study) -> None:
        unit = self.electric_kw(study.weather["temp_air"].to_numpy()) / 1000.0
        tan = np.tan(np.arccos(self.power_factor))
        counts = study.customer_counts(("residential",)) * self.share
        counts = counts[counts > 0]
        if len(counts):
            p = np.outer(unit, counts.to_numpy())
            study.add_loads(study.net.load.bus.loc[counts.index].to_numpy(), p, p * tan,
                            [f"heat pumps {self.key} at load {k}" for k in counts.index],
                            "heat_pump")
        study.notes.append(f"{counts.sum():.0f} heat pumps, peak {unit.max() * 1000:.2f} kW each")


class NewLoad(ChangeBase):
    """A new load at a bus: flat, or shaped like an existing load's profile."""

    type: Literal["new_load"] = "new_load"
    phase: ClassVar[int] = 2
    bus: int = Field(..., description="bus index in the electric net")
    p_mw: float = quantity(1.0, "MW", "peak (or flat) active power", gt=0)
    power_factor: float = quantity(0.95, "-", "power factor", gt=0, le=1)
    like_load: int | None = Field(None, description="existing load whose profile it follows, "
                                  "scaled to p_mw at its peak (default: flat)")

    def apply(self, study: Study) -> None:
        study.check_bus(self.bus, self.label())
        n = len(study.times)
        if self.like_load is None:
            p = np.full(n, self.p_mw)
        else:
            study.flush()
            prof = study.profiles["load_p_mw"]
            if self.like_load not in prof.columns:
                raise ScenarioError(f"{self.label()}: like_load {self.like_load} is not a load "
                                    f"with a profile (loads 0–{prof.columns.max()})")
            shape = prof[self.like_load].to_numpy()
            peak = float(np.max(np.abs(shape))) or 1.0
            p = shape / peak * self.p_mw
        study.add_load(self.bus, p, p * np.tan(np.arccos(self.power_factor)),
                       f"new load {self.key}", "new_load")


# ---------------------------------------------------------------------------------- generation

def _stable_rank(ids: pd.Series, seed: int) -> np.ndarray:
    """A reproducible pseudo-random order of ``ids`` (hash of id and seed)."""
    keys = [hashlib.sha256(f"{seed}:{i}".encode()).hexdigest() for i in ids]
    return np.argsort(np.asarray(keys), kind="stable")


class RooftopPV(ChangeBase):
    """More rooftop PV: residential and commercial customers with PV reach ``share``.

    New roofs (chosen reproducibly by ``seed``) get ``kwp`` each, facing ``tilt_deg`` and
    ``azimuth_deg``, modelled with pvlib in the scenario's weather; one new generator per bus.
    """

    type: Literal["rooftop_pv"] = "rooftop_pv"
    phase: ClassVar[int] = 3
    share: Share = quantity(0.4, "-", "share of residential and commercial customers with PV")
    kwp: float = quantity(5.0, "kWp", "peak power per new roof", gt=0, le=1000)
    tilt_deg: float = quantity(25.0, "deg", "roof tilt from horizontal", ge=0, le=90)
    azimuth_deg: float = quantity(180.0, "deg", "roof azimuth clockwise from north", ge=0,
                                  lt=360)
    seed: int = Field(0, description="which roofs come first")

    def apply(self, study: Study) -> None:
        c = study.city.customers
        eligible = c[c.customer_class.isin(["residential", "commercial"])]
        today = int((eligible.pv_kwp > 0).sum())
        target = int(round(self.share * len(eligible)))
        if target < today:
            raise ScenarioError(
                f"{self.label()}: share {self.share:g} is below today's "
                f"{today / len(eligible):.3f} ({today} of {len(eligible)} roofs); give a share "
                "at or above it (removing PV is not modelled)")
        free = eligible[eligible.pv_kwp <= 0]
        new = free.iloc[_stable_rank(free.customer_id, self.seed)[: target - today]]
        unit = study.pv_kw_per_kwp(self.tilt_deg, self.azimuth_deg) / 1000.0
        per_bus = new.groupby("bus").size() * self.kwp
        if len(per_bus):
            study.add_sgens(per_bus.index, np.outer(unit, per_bus.to_numpy()),
                            [f"rooftop PV {self.key} bus {b}" for b in per_bus.index],
                            "scenario_pv")
        study.notes.append(f"rooftop PV {self.share:.0%}: {len(new)} new roofs "
                           f"({len(new) * self.kwp / 1000:.2f} MWp) on {len(per_bus)} buses")


class NewPV(ChangeBase):
    """A new PV plant at a bus (pvlib in the scenario's weather)."""

    type: Literal["new_pv"] = "new_pv"
    phase: ClassVar[int] = 3
    bus: int = Field(..., description="bus index in the electric net")
    mwp: float = quantity(1.0, "MWp", "peak power", gt=0, le=500)
    tilt_deg: float = quantity(25.0, "deg", "module tilt", ge=0, le=90)
    azimuth_deg: float = quantity(180.0, "deg", "module azimuth clockwise from north", ge=0,
                                  lt=360)

    def apply(self, study: Study) -> None:
        study.check_bus(self.bus, self.label())
        unit = study.pv_kw_per_kwp(self.tilt_deg, self.azimuth_deg)  # kW/kWp = MW/MWp
        study.add_sgen(self.bus, unit * self.mwp, f"PV plant {self.key}", "scenario_pv")


# ---------------------------------------------------------------------------------- network

ElementKind = Literal["line", "trafo", "feeder", "bus", "pump", "pipe", "tank"]


class Outage(Windowed):
    """An element out of service over a window: line, transformer, feeder (all its buses),
    bus, or in the water network a pump, pipe or tank (its links closed). A pump whose bus
    loses supply stops with it."""

    type: Literal["outage"] = "outage"
    kind: ElementKind = Field(..., description="what is out")
    element: str | int = Field(..., description="its index (line, trafo, bus), feeder name "
                               "(F…) or water element name")

    def apply(self, study: Study) -> None:
        t0, t1 = self.span(study)
        label = f"{self.kind} {self.element} out"
        if self.kind in ("line", "trafo", "bus"):
            idx = _element_index(study.net, self.kind, self.element, self.label())
            study.windows.append(Window(t0, t1, label,
                                        electric=_set_column(self.kind, [idx], "in_service",
                                                             False)))
        elif self.kind == "feeder":
            feeders = study.net.bus.feeder.astype(str)
            if str(self.element) not in set(feeders):
                raise ScenarioError(f"{self.label()}: no feeder {self.element!r}; feeders are "
                                    f"{sorted(f for f in set(feeders) if f.startswith('F'))}")
            buses = list(study.net.bus.index[feeders == str(self.element)])
            study.windows.append(Window(t0, t1, label,
                                        electric=_set_column("bus", buses, "in_service", False)))
        else:
            wn = study.wn
            names = {"pump": wn.pump_name_list, "pipe": wn.pipe_name_list,
                     "tank": wn.tank_name_list}[self.kind]
            name = str(self.element)
            if name not in names:
                raise ScenarioError(f"{self.label()}: no {self.kind} {name!r} in the water "
                                    f"network; {self.kind}s are {names[:12]}")
            if self.kind == "tank":
                links = [lk for lk, _ in wn.links() if name in (
                    wn.get_link(lk).start_node_name, wn.get_link(lk).end_node_name)]
            else:
                links = [name]
            study.windows.append(Window(t0, t1, label, water=_close_links(links)))


class Switch(Windowed):
    """A switch opened or closed, for the period or a window."""

    type: Literal["switch"] = "switch"
    element: int = Field(..., description="switch index in the electric net")
    closed: bool = Field(False, description="true: closed; false: opened")

    def apply(self, study: Study) -> None:
        idx = _element_index(study.net, "switch", self.element, self.label())
        t0, t1 = self.span(study)
        study.windows.append(Window(t0, t1, f"switch {idx} {'closed' if self.closed else 'open'}",
                                    electric=_set_column("switch", [idx], "closed",
                                                         self.closed)))


class Upgrade(ChangeBase):
    """A conductor or transformer upgrade: a pandapower standard type, or ratings × factor
    (a line's ``max_i_ka``, a transformer's ``sn_mva``)."""

    type: Literal["upgrade"] = "upgrade"
    kind: Literal["line", "trafo"] = Field(..., description="what is upgraded")
    elements: list[int] = Field(..., min_length=1, description="element indices")
    std_type: str | None = Field(None, description="new pandapower standard type")
    rating_factor: float | None = quantity(None, "-", "rating multiplier", gt=0, le=10)

    @model_validator(mode="after")
    def _one(self):
        if (self.std_type is None) == (self.rating_factor is None):
            raise ValueError("give exactly one of std_type and rating_factor")
        return self

    def apply(self, study: Study) -> None:
        import pandapower as pp

        net = study.net
        for e in self.elements:
            idx = _element_index(net, self.kind, e, self.label())
            if self.std_type is not None:
                if not pp.std_type_exists(net, self.std_type, element=self.kind):
                    known = sorted(pp.available_std_types(net, element=self.kind).index)
                    raise ScenarioError(f"{self.label()}: unknown {self.kind} std_type "
                                        f"{self.std_type!r}; e.g. {known[:6]}")
                pp.change_std_type(net, idx, self.std_type, element=self.kind)
            elif self.kind == "line":
                net.line.loc[idx, "max_i_ka"] *= self.rating_factor
            else:
                net.trafo.loc[idx, "sn_mva"] *= self.rating_factor


# ---------------------------------------------------------------------------------- storage

class Battery(ChangeBase):
    """A battery at a bus with a simple dispatch.

    ``self_consumption``: charges from the bus's surplus (generation above load), discharges
    into its deficit. ``peak_shaving``: discharges while the net load of the bus's feeder is
    above ``threshold_mw``, charges while it is below ``charge_below_mw``. Power within
    ``p_mw``, energy within [0, ``e_mwh``], round-trip ``efficiency`` taken on charging.
    """

    type: Literal["battery"] = "battery"
    phase: ClassVar[int] = 5
    bus: int = Field(..., description="bus index in the electric net")
    p_mw: float = quantity(1.0, "MW", "power rating", gt=0)
    e_mwh: float = quantity(2.0, "MWh", "energy capacity", gt=0)
    mode: Literal["self_consumption", "peak_shaving"] = "peak_shaving"
    threshold_mw: float | None = quantity(None, "MW", "peak shaving: feeder net load above "
                                          "which it discharges (default 80 % of its peak)")
    charge_below_mw: float | None = quantity(None, "MW", "peak shaving: feeder net load below "
                                             "which it charges (default 60 % of its peak)")
    efficiency: float = quantity(0.9, "-", "round-trip efficiency", gt=0, le=1)
    soc_start: Share = quantity(0.5, "-", "state of charge at the start")

    def apply(self, study: Study) -> None:
        study.check_bus(self.bus, self.label())
        net = study.net
        if self.mode == "self_consumption":
            signal = study.bus_net_load_mw([self.bus])
            high, low = 0.0, 0.0
        else:
            feeder = net.bus.feeder.get(self.bus, "substation")
            buses = net.bus.index[net.bus.feeder == feeder]
            signal = study.bus_net_load_mw(buses)
            peak = float(np.max(signal)) if len(signal) else 0.0
            high = self.threshold_mw if self.threshold_mw is not None else 0.8 * peak
            low = self.charge_below_mw if self.charge_below_mw is not None else 0.6 * peak
        p = dispatch(signal, high, low, self.p_mw, self.e_mwh, self.efficiency,
                     self.soc_start, study.step_h)
        study.add_sgen(self.bus, p, f"battery {self.key}", "battery")
        study.notes.append(f"battery at bus {self.bus}: {np.sum(p[p > 0]) * study.step_h:.1f} "
                           f"MWh discharged")


def dispatch(signal_mw: np.ndarray, high_mw: float, low_mw: float, p_mw: float, e_mwh: float,
             efficiency: float, soc_start: float, step_h: float) -> np.ndarray:
    """Battery output per step [MW] (+ discharge, − charge) following a net-load signal.

    Discharge brings ``signal_mw`` down to ``high_mw``; charging takes it up to ``low_mw``
    (for self-consumption both are 0: surplus charges, deficit discharges). Charging energy is
    multiplied by ``efficiency`` on the way in.
    """
    soc = soc_start * e_mwh
    out = np.zeros(len(signal_mw))
    for k, s in enumerate(signal_mw):
        if s > high_mw:
            p = min(s - high_mw, p_mw, soc / step_h)
            soc -= p * step_h
        elif s < low_mw:
            p = -min(low_mw - s, p_mw, (e_mwh - soc) / (efficiency * step_h))
            soc -= p * efficiency * step_h
        else:
            p = 0.0
        out[k] = p
    return out


# ---------------------------------------------------------------------------------- water

class Leak(Windowed):
    """A leak at a junction, as an EPANET emitter (:func:`twin.water.hydraulics.
    add_leak_emitters`): give ``emitter_coefficient`` or the ``flow_l_s`` it has at the
    junction's mean pressure in the base run."""

    type: Literal["leak"] = "leak"
    phase: ClassVar[int] = 1
    junction: str = Field(..., description="junction name")
    flow_l_s: float | None = quantity(None, "L/s", "leak flow at the base mean pressure", gt=0)
    emitter_coefficient: float | None = quantity(None, "m3/s/m^0.5", "emitter coefficient C "
                                                 "(Q = C·sqrt(p))", gt=0)

    @model_validator(mode="after")
    def _one(self):
        if (self.flow_l_s is None) == (self.emitter_coefficient is None):
            raise ValueError("give exactly one of flow_l_s and emitter_coefficient")
        return self

    def apply(self, study: Study) -> None:
        from twin.water.hydraulics import add_leak_emitters

        wn = study.wn
        junction = str(self.junction)
        if junction not in wn.junction_name_list:
            raise ScenarioError(f"{self.label()}: no junction {junction!r} in the water network")
        c = self.emitter_coefficient
        if c is None:
            p = max(_base_mean_pressure_m(study.city, junction), 1.0)
            c = self.flow_l_s / 1000.0 / np.sqrt(p)
        t0, t1 = self.span(study)

        def leak_on(w, active: bool, length_s: int) -> None:
            start, stop = (0, length_s + 3600) if active else (length_s + 3600, length_s + 7200)
            add_leak_emitters(w, [junction], [c], [start], [stop])
            if active:  # open from the first instant, not only once its control fires
                from wntr.network.base import LinkStatus
                w.get_link(f"LEAK-{junction}-P").initial_status = LinkStatus.Open
        study.windows.append(Window(t0, t1, f"leak at {junction}", water=leak_on))
        study.notes.append(f"leak at junction {junction}: C = {c:.3g} m3/s/m^0.5")


def _base_mean_pressure_m(city, junction: str) -> float:
    """Mean pressure [m] of a junction over a day of the unchanged water network."""
    from twin.water.hydraulics import simulate

    ds = simulate(city.wn, 86400, 3600)
    return float(ds.pressure_m.sel(node=junction).mean())


def _close_links(links: list[str]):
    def close(wn, active: bool, length_s: int) -> None:
        from wntr.network.base import LinkStatus

        if not active:
            return
        for name, control in list(wn.controls()):
            if any(act.target()[0].name in links for act in control.actions()):
                wn.remove_control(name)
        for lk in links:
            wn.get_link(lk).initial_status = LinkStatus.Closed
    return close


def _set_column(table: str, index: list, column: str, value):
    def set_(net) -> None:
        net[table].loc[index, column] = value
    return set_


def _element_index(net, table: str, element, what: str) -> int:
    try:
        idx = int(element)
    except (TypeError, ValueError):
        raise ScenarioError(f"{what}: {table} {element!r} must be an index number") from None
    if idx not in net[table].index:
        raise ScenarioError(f"{what}: no {table} {idx} in the electric net ({table} indices "
                            f"{net[table].index.min()}–{net[table].index.max()})")
    return idx


#: Every change type, one place: the discriminated union on ``type``.
Change = Annotated[
    Heatwave | IrradianceChange | LoadGrowth | WaterDemand | EvAdoption | HeatPumps | NewLoad
    | RooftopPV | NewPV | Outage | Switch | Upgrade | Battery | Leak,
    Field(discriminator="type"),
]
CHANGE_TYPES = {cls.model_fields["type"].default: cls for cls in (
    Heatwave, IrradianceChange, LoadGrowth, WaterDemand, EvAdoption, HeatPumps, NewLoad,
    RooftopPV, NewPV, Outage, Switch, Upgrade, Battery, Leak)}
