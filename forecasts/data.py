"""Series to forecast, per level of the city's hierarchies, and their summing matrix.

Three hierarchies, each built from the city's registers (``city.customers``, ``net.load``,
``net.bus.feeder``, ``city.dmas``) and filled from the measurement store
(:class:`twin.ingest.store.MeasurementStore`), or from the city's profiles
(:func:`twin.scenario.profiles_of` is passed in as ``profiles``) where no meter exists:

==========  ==================================================  ============================
name        levels, bottom to top                               bottom series from
==========  ==================================================  ============================
electric    meter → load (LV load point) → feeder → city        ``electric_interval`` [kWh];
                                                                a load without any metered
                                                                customer: its ``load_p_mw``
                                                                profile
pv          inverter → sgen (rooftop unit) → feeder → city      ``pv`` [kWh]; a unit without
                                                                metered roofs: ``sgen_p_mw``
water       meter → DMA → city                                  ``water_read`` [m3]
==========  ==================================================  ============================

Every node is named ``<level>:<name>`` (``meter:EM10158380``, ``load:12``, ``feeder:F0``)
and the top node is ``city``. A load fed by its profile is a bottom node at the ``load``
level itself. Values are energy (or volume) per step [kWh] or [m3], so upper levels are
plain sums: ``y_all = S · y_bottom`` with the summing matrix ``S`` (nodes × bottom nodes).

Series the store holds but the register does not place (e.g. Green Button feeds that
duplicate a meter) are listed in ``unmapped``, never silently used or dropped; pump loads
are not forecast (their power follows the water network, see the look-ahead).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Levels of each hierarchy, bottom to top.
LEVELS: dict[str, tuple[str, ...]] = {
    "electric": ("meter", "load", "feeder", "city"),
    "pv": ("inverter", "sgen", "feeder", "city"),
    "water": ("meter", "dma", "city"),
}
#: Store kind and native step of each hierarchy's measurements.
STORE_KIND = {"electric": "electric_interval", "pv": "pv", "water": "water_read"}
NATIVE_STEP = {"electric": pd.Timedelta("15min"), "pv": pd.Timedelta("15min"),
               "water": pd.Timedelta("1h")}
UNIT = {"electric": "kWh", "pv": "kWh", "water": "m3"}
#: The top node of every hierarchy.
CITY = "city"
#: Longest gap in a bottom series filled by interpolation before summing up a level.
MAX_FILLED_GAP = pd.Timedelta("6h")
#: Prefix of the PV inverter series in the store (``INV-<customer_id>``).
INVERTER_PREFIX = "INV-"


class ForecastDataError(ValueError):
    """Series that cannot be assembled; the message names them and says what to do."""


def node_id(level: str, name) -> str:
    """Name of a node: ``<level>:<name>``, or ``city`` for the top level."""
    return CITY if level == CITY else f"{level}:{name}"


@dataclass(frozen=True)
class Hierarchy:
    """Which bottom node adds into which node of every upper level.

    Attributes
    ----------
    parents : DataFrame
        Index: bottom node ids; one column per level above the bottom, low to high (the last
        is ``city``); values: node ids. A bottom node that is itself a node of an upper level
        (a load fed by its profile) names itself in that column.
    levels : tuple of str
        Level names, bottom to top.
    """

    parents: pd.DataFrame
    levels: tuple[str, ...]

    @property
    def bottom(self) -> pd.Index:
        return self.parents.index

    def nodes(self) -> pd.Series:
        """Level of every node, top level first, then each lower level, bottom nodes last."""
        out: dict[str, str] = {}
        for level in reversed(self.levels[1:]):
            for node in pd.unique(self.parents[level].to_numpy()):
                out.setdefault(node, level)
        for node in self.bottom:
            out.setdefault(node, level_of(node, self.levels[0]))
        return pd.Series(out, name="level")

    def summing_matrix(self) -> pd.DataFrame:
        """``S`` [-]: 1 where a bottom node (column) adds into a node (row), else 0."""
        nodes = self.nodes().index
        pos = pd.Series(np.arange(len(nodes)), index=nodes)
        s = np.zeros((len(nodes), len(self.bottom)))
        cols = np.arange(len(self.bottom))
        s[pos[self.bottom].to_numpy(), cols] = 1.0
        for level in self.levels[1:]:
            s[pos[self.parents[level].to_numpy()].to_numpy(), cols] = 1.0
        return pd.DataFrame(s, index=nodes, columns=self.bottom)


def level_of(node: str, default: str) -> str:
    """The level named in a node id (``load:12`` → ``load``)."""
    return node.split(":", 1)[0] if ":" in node else (CITY if node == CITY else default)


@dataclass(frozen=True)
class HierarchicalSeries:
    """Bottom series on one time grid, their hierarchy and where each came from.

    Attributes
    ----------
    name : str
        ``electric``, ``pv`` or ``water``.
    bottom : DataFrame
        time (UTC) × bottom node: energy or volume per step [``unit``]; NaN where missing.
    hierarchy : Hierarchy
    unit : str
        ``kWh`` or ``m3`` (per ``step``).
    step : Timedelta
    source : Series
        Per bottom node: ``store:<kind>`` or ``profile:<table>``.
    unmapped : list of str
        Store series the register does not place (not used).
    """

    name: str
    bottom: pd.DataFrame
    hierarchy: Hierarchy
    unit: str
    step: pd.Timedelta
    source: pd.Series
    unmapped: list[str] = field(default_factory=list)

    def filled_bottom(self, max_gap: pd.Timedelta = MAX_FILLED_GAP) -> pd.DataFrame:
        """Bottom series without holes, so that upper levels can be summed at every time.

        Interior gaps up to ``max_gap`` are interpolated in time; longer gaps (a meter out for
        days) and missing edges take the series' own mean at that hour of the day. A series
        with no reading at all stays NaN. :meth:`filled_counts` says how many were filled.
        """
        limit = max(int(pd.Timedelta(max_gap) / self.step), 1)
        short = self.bottom.interpolate(method="time", limit=limit, limit_area="inside")
        hour = short.index.hour + short.index.minute / 60.0
        by_hour = short.groupby(hour).transform("mean")
        return short.fillna(by_hour)

    def filled_counts(self, max_gap: pd.Timedelta = MAX_FILLED_GAP) -> pd.Series:
        """Values filled per bottom series by :meth:`filled_bottom` [-] (non-zero only)."""
        filled = self.bottom.isna() & self.filled_bottom(max_gap).notna()
        n = filled.sum()
        return n[n > 0]

    def all_levels(self, max_gap: pd.Timedelta = MAX_FILLED_GAP) -> pd.DataFrame:
        """time × every node (``S · y``) of :meth:`filled_bottom` [``unit`` per step]."""
        s = self.hierarchy.summing_matrix()
        values = self.filled_bottom(max_gap)[s.columns].to_numpy()
        return pd.DataFrame(values @ s.to_numpy().T, index=self.bottom.index, columns=s.index)

    def level(self, level: str, max_gap: pd.Timedelta = MAX_FILLED_GAP) -> pd.DataFrame:
        """time × the nodes of one level."""
        nodes = self.hierarchy.nodes()
        if level not in self.hierarchy.levels:
            raise ForecastDataError(f"level {level!r} is not one of the {self.name} hierarchy's "
                                    f"levels {list(self.hierarchy.levels)}")
        return self.all_levels(max_gap)[nodes.index[nodes == level]]

    @property
    def units_label(self) -> str:
        """Unit with its step, e.g. ``kWh per 1h``."""
        return f"{self.unit} per {_step_label(self.step)}"


def _step_label(step: pd.Timedelta) -> str:
    minutes = int(step / pd.Timedelta("1min"))
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}min"


# --------------------------------------------------------------------------------------------
# Reading the store onto a time grid


def time_grid(start, end, step: pd.Timedelta) -> pd.DatetimeIndex:
    """UTC times ``start <= t < end`` every ``step``; ``start`` is floored to the step."""
    lo = _utc(start).floor(step)
    return pd.date_range(lo, _utc(end), freq=step, inclusive="left", name="time")


def _utc(t) -> pd.Timestamp:
    ts = pd.Timestamp(t)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def read_wide(store, kind: str, series=None, start=None, end=None) -> pd.DataFrame:
    """Readings of one kind as time (UTC) × series [the kind's unit per interval].

    Readings flagged ``failed`` by VEE become NaN (a failed read is not a value). Only the
    values are pivoted (no dense copy of flags or raw values), so memory is about one float
    per reading beyond the store's own read.
    """
    long = store.read(kind, series, start, end)
    if long.empty:
        return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC", name="time"))
    value = long["value"].to_numpy(float, copy=True)
    value[(long["quality_flag"].astype(str) == "failed").to_numpy()] = np.nan
    sid, names = pd.factorize(long["series_id"].astype(str), sort=True)
    tid, times = pd.factorize(long["time_utc"], sort=True)
    del long
    wide = np.full((len(times), len(names)), np.nan)
    wide[tid, sid] = value
    index = pd.DatetimeIndex(times, name="time")
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return pd.DataFrame(wide, index=index, columns=pd.Index(names, dtype=object))


def to_step(df: pd.DataFrame, native: pd.Timedelta, step: pd.Timedelta,
            grid: pd.DatetimeIndex) -> pd.DataFrame:
    """Sum per-interval energy onto a coarser ``step``; a bin with a missing interval is NaN.

    Raises
    ------
    ForecastDataError
        When ``step`` is finer than the data's ``native`` step or not a multiple of it.
    """
    if step < native or step % native != pd.Timedelta(0):
        raise ForecastDataError(f"step {step} cannot be made from {native} readings; use a "
                                f"multiple of {native}")
    fine = df.reindex(pd.date_range(grid[0], grid[-1] + step, freq=native, inclusive="left"))
    if step == native:
        return fine.set_axis(grid)
    n = int(step / native)
    out = fine.resample(step, origin=grid[0]).sum(min_count=n)
    return out.reindex(grid)


def profile_energy(profile_mw: pd.DataFrame, step: pd.Timedelta,
                   grid: pd.DatetimeIndex) -> pd.DataFrame:
    """Energy per step [kWh] of 15-min power profiles [MW] on ``grid``.

    Raises
    ------
    ForecastDataError
        When the profiles do not cover the grid.
    """
    p = profile_mw.loc[grid[0]:grid[-1] + step - pd.Timedelta("1ns")]
    native = pd.Timedelta("15min")
    kwh = p * 1000.0 * (native / pd.Timedelta("1h"))
    out = to_step(kwh, native, step, grid)
    if out.isna().any().any():
        raise ForecastDataError(f"the city's profiles cover {profile_mw.index[0]} to "
                                f"{profile_mw.index[-1]}, not all of {grid[0]} to {grid[-1]}")
    return out


#: Series read from the store at once when a level is assembled (readings are streamed in
#: batches of this many series, each summed onto the forecast step before the next is read).
#: Measured on the sample city's store (381 meters ingested, 10 weeks, hourly), process peak
#: RSS over the read: 648 → 1,363 MiB with all 381 at once (400), 612 → 839 MiB with 100.
READ_BATCH = 100


@dataclass(frozen=True)
class StoreScan:
    """Which series of a kind the store holds in a window, and their first and last time."""

    ids: pd.Index
    first: pd.Timestamp | None
    last: pd.Timestamp | None


def scan_store(store, kind: str, start=None, end=None) -> StoreScan:
    """Series ids and time span of a kind in ``[start, end)``, reading two columns in
    record batches (no reading is kept)."""
    ids: set[str] = set()
    first = last = None
    for part in store.iter_columns(kind, ["series_id", "time_utc"], None, start, end):
        ids.update(part["series_id"].astype(str).unique())
        lo, hi = part["time_utc"].min(), part["time_utc"].max()
        first = lo if first is None or lo < first else first
        last = hi if last is None or hi > last else last
    return StoreScan(pd.Index(sorted(ids), dtype=object),
                     None if first is None else _utc(first), None if last is None else _utc(last))


def read_stepped(store, kind: str, ids, native: pd.Timedelta, step: pd.Timedelta,
                 grid: pd.DatetimeIndex, batch: int = READ_BATCH) -> pd.DataFrame:
    """time × ``ids`` on ``grid`` [per ``step``], read and summed :data:`READ_BATCH` series at a
    time, so the readings of a whole level are never in memory at once (:func:`to_step`)."""
    ids = [str(i) for i in ids]
    parts = []
    end = grid[-1] + step
    for i in range(0, len(ids), batch):
        chunk = ids[i:i + batch]
        raw = read_wide(store, kind, chunk, grid[0], end).reindex(columns=chunk)
        parts.append(to_step(raw, native, step, grid))
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=grid)


def _grid_of(scan: StoreScan, start, end, step: pd.Timedelta, what: str):
    if start is None or end is None:
        if scan.first is None:
            raise ForecastDataError(f"the store holds no {what} readings; give start and end "
                                    "to use the city's profiles instead")
        start = scan.first if start is None else start
        end = (scan.last + pd.Timedelta("1ns")) if end is None else end
    grid = time_grid(start, end, step)
    if len(grid) == 0:
        raise ForecastDataError(f"no whole {step} step between {start} and {end}")
    return grid


# --------------------------------------------------------------------------------------------
# The three hierarchies


def feeder_of_loads(net) -> pd.Series:
    """Feeder node of every load, from the feeder of its bus (``net.bus.feeder``)."""
    return net.bus.feeder.reindex(net.load.bus.to_numpy()).set_axis(net.load.index)


def forecast_loads(net) -> pd.Index:
    """Loads whose demand is forecast: every load but the pumps (driven by the water network)."""
    return net.load.index[net.load.profile.astype(str) != "pump"]


def electric_series(store, city, profiles: dict, step="1h", start=None,
                    end=None) -> HierarchicalSeries:
    """Meter → load → feeder → city series of electricity use [kWh per step].

    Parameters
    ----------
    store : MeasurementStore
    city : City
    profiles : dict
        The city's profiles (``twin.scenario.profiles_of(city)``); ``load_p_mw`` [MW] fills
        the loads without metered customers.
    step : str or Timedelta
        ``"15min"`` or ``"1h"``.
    start, end : time-like, optional
        UTC window; default the store's readings.
    """
    step = pd.Timedelta(step)
    cust = city.customers
    register = pd.Series(cust["load"].to_numpy(), index=cust.electric_meter_id.astype(str))
    loads = forecast_loads(city.net)
    scan = scan_store(store, STORE_KIND["electric"], start, end)
    grid = _grid_of(scan, start, end, step, "electricity")
    metered_ids = scan.ids[scan.ids.isin(register.index)]
    unmapped = sorted(scan.ids.difference(register.index))
    meter_load = register[metered_ids]
    meter_load = meter_load[meter_load.isin(loads)]
    unmetered = loads.difference(pd.Index(meter_load.unique()))
    meters = read_stepped(store, STORE_KIND["electric"], meter_load.index,
                          NATIVE_STEP["electric"], step, grid)
    meters.columns = [node_id("meter", m) for m in meters.columns]
    from_profile = profile_energy(profiles["load_p_mw"][unmetered], step, grid)
    from_profile.columns = [node_id("load", i) for i in unmetered]
    load_of = pd.Series([*meter_load.to_numpy(), *unmetered], index=[*meters.columns,
                                                                       *from_profile.columns])
    feeder = feeder_of_loads(city.net)
    parents = pd.DataFrame({
        "load": [node_id("load", i) for i in load_of],
        "feeder": [node_id("feeder", f) for f in feeder[load_of.to_numpy()]],
        CITY: CITY}, index=load_of.index)
    source = pd.Series(["store:electric_interval"] * meters.shape[1]
                       + ["profile:load_p_mw"] * from_profile.shape[1], index=load_of.index)
    bottom = pd.concat([meters, from_profile], axis=1)
    return HierarchicalSeries("electric", bottom, Hierarchy(parents, LEVELS["electric"]),
                              UNIT["electric"], step, source, unmapped)


def pv_series(store, city, profiles: dict, step="1h", start=None,
              end=None) -> HierarchicalSeries:
    """Inverter → rooftop unit (sgen) → feeder → city series of PV output [kWh per step].

    A unit with metered roofs is the sum of its metered inverters (what is measured of it);
    a rooftop unit without any is fed by its ``sgen_p_mw`` profile.
    """
    step = pd.Timedelta(step)
    net, cust = city.net, city.customers
    rooftop = net.sgen.index[net.sgen.type.astype(str).str.startswith("lv_")]
    register = pd.Series(cust.sgen.to_numpy(),
                         index=INVERTER_PREFIX + cust.customer_id.astype(str))
    scan = scan_store(store, STORE_KIND["pv"], start, end)
    grid = _grid_of(scan, start, end, step, "PV")
    known = scan.ids[scan.ids.isin(register.index)]
    inv_sgen = register[known]
    inv_sgen = inv_sgen[inv_sgen.isin(rooftop)]
    unmapped = sorted(scan.ids.difference(inv_sgen.index))
    unmetered = rooftop.difference(pd.Index(inv_sgen.unique()))
    inverters = read_stepped(store, STORE_KIND["pv"], inv_sgen.index, NATIVE_STEP["pv"], step,
                             grid)
    inverters.columns = [node_id("inverter", c) for c in inverters.columns]
    from_profile = profile_energy(profiles["sgen_p_mw"][unmetered], step, grid)
    from_profile.columns = [node_id("sgen", i) for i in unmetered]
    sgen_of = pd.Series([*inv_sgen.to_numpy(), *unmetered],
                        index=[*inverters.columns, *from_profile.columns])
    feeder = net.bus.feeder.reindex(net.sgen.bus.to_numpy()).set_axis(net.sgen.index)
    parents = pd.DataFrame({
        "sgen": [node_id("sgen", i) for i in sgen_of],
        "feeder": [node_id("feeder", f) for f in feeder[sgen_of.to_numpy()]],
        CITY: CITY}, index=sgen_of.index)
    source = pd.Series(["store:pv"] * inverters.shape[1]
                       + ["profile:sgen_p_mw"] * from_profile.shape[1], index=sgen_of.index)
    bottom = pd.concat([inverters, from_profile], axis=1)
    return HierarchicalSeries("pv", bottom, Hierarchy(parents, LEVELS["pv"]), UNIT["pv"], step,
                              source, unmapped)


def water_series(store, city, step="1h", start=None, end=None) -> HierarchicalSeries:
    """Meter → DMA → city series of metered water use [m3 per step]."""
    step = pd.Timedelta(step)
    cust = city.customers
    register = pd.Series(cust.dma.astype(str).to_numpy(), index=cust.water_meter_id.astype(str))
    scan = scan_store(store, STORE_KIND["water"], start, end)
    if scan.first is None:
        raise ForecastDataError("the store holds no water_read readings; ingest the AMR files "
                                "(twin ingest <raw>/amr) first")
    grid = _grid_of(scan, start, end, step, "water")
    known = scan.ids[scan.ids.isin(register.index)]
    unmapped = sorted(scan.ids.difference(known))
    meters = read_stepped(store, STORE_KIND["water"], known, NATIVE_STEP["water"], step, grid)
    meters.columns = [node_id("meter", m) for m in known]
    parents = pd.DataFrame({"dma": [node_id("dma", d) for d in register[known]], CITY: CITY},
                           index=meters.columns)
    source = pd.Series("store:water_read", index=meters.columns)
    return HierarchicalSeries("water", meters, Hierarchy(parents, LEVELS["water"]),
                              UNIT["water"], step, source, unmapped)


def hierarchical_series(name: str, store, city, profiles: dict | None = None, step="1h",
                        start=None, end=None) -> HierarchicalSeries:
    """One of the three hierarchies by name (``electric``, ``pv``, ``water``)."""
    if name == "water":
        return water_series(store, city, step, start, end)
    builders = {"electric": electric_series, "pv": pv_series}
    if name not in builders:
        raise ForecastDataError(f"unknown hierarchy {name!r}; use one of {sorted(LEVELS)}")
    if profiles is None:
        raise ForecastDataError(f"the {name} hierarchy needs the city's profiles")
    return builders[name](store, city, profiles, step, start, end)


def hierarchy_of_level(level: str) -> str:
    """The hierarchy a level belongs to (``feeder`` → ``electric``, ``dma`` → ``water``).

    ``feeder`` and ``city`` are taken as electricity use; ask ``pv`` explicitly for PV.
    """
    for name in ("electric", "water", "pv"):
        if level in LEVELS[name]:
            return name
    every = sorted({lv for lvs in LEVELS.values() for lv in lvs})
    raise ForecastDataError(f"unknown level {level!r}; use one of {every}")


def select_series(frame: pd.DataFrame, ids) -> pd.DataFrame:
    """Columns ``ids`` of ``frame``; raise naming every id that does not exist."""
    ids = [str(i) for i in ids]
    missing = [i for i in ids if i not in frame.columns]
    if missing:
        sample = ", ".join(map(str, list(frame.columns[:5])))
        raise ForecastDataError(
            f"{len(missing)} series do not exist: {', '.join(missing[:10])}"
            f"{' …' if len(missing) > 10 else ''}; known series look like {sample}")
    return frame[ids]
