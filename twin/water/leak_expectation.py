"""What the twin expects a DMA network to do: demands, consumption and pressures.

The twin's expectation of a period, at the SCADA's own step, with no leak in it:

* every junction's demand is its model demand (every demand category with its own pattern,
  played on the EPANET pattern clock) times the *metered demand ratio* of the hour: what
  the customers' AMR meters used over what the model predicts for them (the day's weather
  and season, as the meters saw them);
* a DMA's expected consumption [L/s] is the sum of its junctions' expected demands: a mass
  balance, with no hydraulic model in it;
* logger pressures come from an extended-period simulation (EPANET) of the twin's model with
  those demands, in segments that each restart from the tank levels and pump statuses SCADA
  measured (so a model run for months cannot drift away from the real tanks); pumps and
  valves SCADA does not measure go on as the segment before left them, and every segment
  runs one step past its end, so the tanks' filling over each step is the simulation's own;
* the loggers' expected pressures come from a second such run with every tank SCADA
  measures set to its measured level at every SCADA step
  (:func:`pressure_at_measured_levels`): within a segment the first run's tanks drift from
  the real ones, and their head error shows at every logger they feed.

Every function takes its inputs and does no I/O.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
import wntr
import xarray as xr
from wntr.network.base import LinkStatus
from wntr.network.controls import Control, ControlAction, SimTimeCondition

from twin.water.hydraulics import pattern_multiplier

#: Electrical power above which a pump counts as running [kW].
PUMP_ON_KW = 1.0
#: Hours simulated from one set of measured tank levels and pump statuses [h].
SEGMENT_H = 24
#: Coarsest SCADA step at which the pumps are run as measured through a segment [s]; at
#: coarser steps a switch is known only to the step, and the model's own controls place it
#: better. Measured on the sample city (hourly SCADA, pumps switched by tank levels within
#: the hour): driven by the hourly statuses, 2 of its 4 leaks raised an alarm, left to the
#: model's controls from each segment's measured start 4 of 4.
DRIVE_PUMPS_MAX_STEP_S = 900.0


class ExpectationError(ValueError):
    """Inputs the twin cannot form an expectation from; the message says what is wrong."""


@dataclass(frozen=True)
class Observations:
    """SCADA and AMR measurements of a period, each at its own step.

    Attributes
    ----------
    times : DatetimeIndex
        UTC times of the SCADA steps of the period.
    flow_l_s : DataFrame
        time × boundary flow meter id: flows [L/s], NaN where missing.
    pressure_m : DataFrame
        time × junction: logger pressures [m].
    tank_level_m : DataFrame
        time × tank: tank levels [m].
    pump_power_kw : DataFrame
        time × pump: electrical power of the pumps [kW] (may have no columns).
    use_m3 : DataFrame
        hour (UTC) × water meter id: customers' volume in the hour starting at the time [m³].
    pump_status : DataFrame
        time × pump: running status SCADA measured (1 running, 0 stopped) [-] (may have no
        columns); where a pump has one, it is used rather than its power.
    metered : MeteredUse, optional
        The AMR reads already reduced (read from a store a group of meters at a time); when
        given, it is used and ``use_m3`` only gives the hours (it may have no columns).
    """

    times: pd.DatetimeIndex
    flow_l_s: pd.DataFrame
    pressure_m: pd.DataFrame
    tank_level_m: pd.DataFrame
    pump_power_kw: pd.DataFrame
    use_m3: pd.DataFrame
    pump_status: pd.DataFrame = field(default_factory=pd.DataFrame)
    metered: MeteredUse | None = None

    @property
    def step_s(self) -> float:
        """The SCADA step [s]: the median spacing of :attr:`times`."""
        return scada_step_s(self.times)


def scada_step_s(times: pd.DatetimeIndex) -> float:
    """Median spacing of SCADA times [s] (3600 for fewer than two times)."""
    if len(times) < 2:
        return 3600.0
    return float(np.median(np.diff(times.asi8)) / 1e9)


# ------------------------------------------------------------------------ the pattern clock

def pattern_seconds(times_utc: pd.DatetimeIndex, timezone: str,
                    origin_local: pd.Timestamp | None = None) -> np.ndarray:
    """Seconds on the model's pattern clock at the given UTC times [s].

    The clock :func:`twin.water.hydraulics.pattern_multiplier` plays patterns on (it adds
    the network's pattern start). A model's time zero is placed at local standard-time
    midnight (patterns do not follow daylight saving time). ``origin_local`` is the local
    standard time of the model's time zero (it matters for weekly patterns); by default the
    first local standard midnight at or before the first time.
    """
    standard = pd.Timestamp("2001-01-15", tz=timezone).utcoffset()
    naive = times_utc.tz_convert("UTC").tz_localize(None) + standard
    origin = (naive[0].normalize() if origin_local is None
              else pd.Timestamp(origin_local).tz_localize(None))
    return np.asarray((naive - origin).total_seconds(), dtype=float)


def demand_categories(wn: wntr.network.WaterNetworkModel) -> pd.DataFrame:
    """Every demand category of every junction: ``junction``, ``base_m3s`` [m³/s], ``pattern``.

    A category without a pattern (or naming one the network does not have, as WNTR names the
    default ``1`` of a network without it) takes the model's default pattern where it has
    one (EPANET's rule), else none (constant).
    """
    have = set(wn.pattern_name_list)
    default = wn.options.hydraulic.pattern
    default = default if default in have else None
    rows = [(name, float(d.base_value), d.pattern_name if d.pattern_name in have else default)
            for name, j in wn.junctions() for d in j.demand_timeseries_list]
    return pd.DataFrame(rows, columns=["junction", "base_m3s", "pattern"])


def pattern_table(wn: wntr.network.WaterNetworkModel, seconds: np.ndarray) -> pd.DataFrame:
    """time × pattern: every pattern's multiplier at the pattern-clock times; column ``""`` is
    the constant 1 of categories without a pattern."""
    cats = demand_categories(wn)
    names = sorted({p for p in cats.pattern if p is not None})
    out = {name: pattern_multiplier(wn, name, seconds) for name in names}
    out[""] = np.ones(len(seconds))
    return pd.DataFrame(out)


def grouped_base_m3s(wn: wntr.network.WaterNetworkModel, groups: pd.Series) -> pd.DataFrame:
    """Base demand summed per group of junctions and pattern [m³/s] (group × pattern).

    ``groups`` maps junction → group (e.g. the DMA); junctions not in it are left out.
    """
    cats = demand_categories(wn).assign(pattern=lambda d: d.pattern.fillna(""))
    cats["group"] = cats.junction.map(groups)
    cats = cats.dropna(subset=["group"])
    return cats.pivot_table(index="group", columns="pattern", values="base_m3s",
                            aggfunc="sum", fill_value=0.0)


# ---------------------------------------------------------------------- the demand ratio

@dataclass(frozen=True)
class MeteredUse:
    """Customers' AMR reads of a period, reduced to what the demand ratio needs.

    Sums over meters, so the reads can be taken a group of meters at a time
    (:func:`metered_use` of each group, added with ``+``) and a year of a utility's meters
    is never held at once.

    Attributes
    ----------
    hours : DatetimeIndex
        UTC start of each AMR hour.
    use_m3 : ndarray
        hour: volume read by the registered meters that read in the hour [m³].
    model_m3s : DataFrame
        hour × pattern: Σ over the same meters of share × their junction's base demand of
        each pattern (``""`` the categories without one) [m³/s].
    meters : frozenset of str
        Registered meters in the reads.
    unregistered : frozenset of str
        Meters with reads that are not in the customer register (left out).
    """

    hours: pd.DatetimeIndex
    use_m3: np.ndarray
    model_m3s: pd.DataFrame
    meters: frozenset = frozenset()
    unregistered: frozenset = frozenset()

    def __add__(self, other: MeteredUse) -> MeteredUse:
        if not self.hours.equals(other.hours):
            raise ValueError("metered use of different hours cannot be added")
        cols = self.model_m3s.columns.union(other.model_m3s.columns)
        model = self.model_m3s.reindex(columns=cols, fill_value=0.0) + \
            other.model_m3s.reindex(columns=cols, fill_value=0.0)
        return MeteredUse(self.hours, self.use_m3 + other.use_m3, model,
                          self.meters | other.meters, self.unregistered | other.unregistered)


def junction_base_m3s(wn: wntr.network.WaterNetworkModel) -> pd.DataFrame:
    """Base demand of every junction per pattern [m³/s] (junction × pattern; ``""`` the
    categories without a pattern): :func:`grouped_base_m3s` with each junction its own
    group."""
    names = list(wn.junction_name_list)
    return grouped_base_m3s(wn, pd.Series(names, index=names))


def metered_use(
    base_m3s: pd.DataFrame,
    customers: pd.DataFrame,
    use_m3: pd.DataFrame,
    hours: pd.DatetimeIndex | None = None,
) -> MeteredUse:
    """Reduce AMR reads (hour × meter) to a :class:`MeteredUse`.

    Parameters
    ----------
    base_m3s : DataFrame
        Junction × pattern base demand [m³/s] (:func:`junction_base_m3s`).
    customers : DataFrame
        ``water_meter_id``, ``junction``, optional ``water_share`` [-] (1 by default).
    use_m3 : DataFrame
        hour × water meter id: volume in the hour [m³], NaN where a meter did not read.
    hours : DatetimeIndex, optional
        The period's hours (the reads are placed on them); default ``use_m3``'s index.

    Raises
    ------
    ExpectationError
        When meters with reads are customers at junctions the network does not have.
    """
    hours = use_m3.index if hours is None else hours
    reg = customers.assign(water_meter_id=customers.water_meter_id.astype(str),
                           junction=customers.junction.astype(str))
    reg = reg.drop_duplicates("water_meter_id").set_index("water_meter_id")
    cols = use_m3.columns.astype(str)
    unknown = set(cols) - set(reg.index)
    known = [c for c in cols if c in reg.index]
    bad = sorted(set(reg.junction[known]) - set(base_m3s.index))
    if bad:
        raise ExpectationError(f"customers draw water at junctions the network does not have: "
                               f"{bad[:5]}; fix customers.csv or the network")
    share = (reg["water_share"] if "water_share" in reg else pd.Series(1.0, index=reg.index))
    # weight of each meter per pattern [m³/s]
    w = base_m3s.reindex(reg.junction[known].to_numpy()).fillna(0.0).to_numpy() * share[
        known].to_numpy(float)[:, None]
    use = use_m3.set_axis(cols, axis=1)[known].reindex(hours).to_numpy(dtype=float)
    seen = np.isfinite(use)
    return MeteredUse(hours, np.where(seen, use, 0.0).sum(axis=1),
                      pd.DataFrame(seen.astype(float) @ w, index=hours,
                                   columns=base_m3s.columns),
                      frozenset(known), frozenset(unknown))


def demand_ratio(
    wn: wntr.network.WaterNetworkModel,
    metered: MeteredUse,
    seconds: np.ndarray,
) -> pd.Series:
    """Ratio of metered use to the use the model's demands predict, per AMR hour [-].

    Customer i at junction j with share s_i is predicted ``s_i · Σ_c base_jc · m_c(t)``
    (every category c of the junction) over the hour; the ratio of an hour is what the
    customers with a read that hour used over what the model predicts for them.

    Parameters
    ----------
    metered : MeteredUse
        The period's reads (:func:`metered_use`).
    seconds : ndarray
        Pattern-clock time of each hour's start [s] (:func:`pattern_seconds`).

    Returns
    -------
    Series
        The ratio per hour (gaps interpolated).

    Raises
    ------
    ExpectationError
        When no meter is a customer of the network, or no hour has a usable read.
    """
    if not metered.meters:
        raise ExpectationError(
            "none of the AMR water meters is in the customer register; check that the "
            "measurements and the city belong together")
    model = metered.model_m3s
    mult = pattern_table(wn, seconds + 1800.0)[model.columns].to_numpy()  # mid-hour
    den = np.einsum("tp,tp->t", model.to_numpy(), mult) * 3600.0 * float(
        wn.options.hydraulic.demand_multiplier)
    num = metered.use_m3
    ratio = pd.Series(np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan),
                      index=metered.hours, name="demand_ratio")
    if ratio.isna().all():
        raise ExpectationError("no usable AMR reads in the period")
    return ratio.interpolate(limit_direction="both")


def metered_demand_ratio(
    wn: wntr.network.WaterNetworkModel,
    customers: pd.DataFrame,
    use_m3: pd.DataFrame,
    seconds: np.ndarray,
) -> tuple[pd.Series, list[str]]:
    """:func:`demand_ratio` of reads held whole (hour × meter, volume in the hour [m³]).

    Returns
    -------
    (Series, list of str)
        The ratio per hour (gaps interpolated), and the meters left out (not in the
        register).
    """
    metered = metered_use(junction_base_m3s(wn), customers, use_m3)
    return demand_ratio(wn, metered, seconds), sorted(metered.unregistered)


def ratio_at(ratio: pd.Series, times: pd.DatetimeIndex) -> np.ndarray:
    """The hourly demand ratio at each SCADA time (the hour's value) [-]."""
    hours = times.floor("h")
    return ratio.reindex(hours).interpolate(limit_direction="both").to_numpy(dtype=float)


def expected_consumption_l_s(
    wn: wntr.network.WaterNetworkModel,
    dmas: pd.Series,
    ratio_t: np.ndarray,
    seconds: np.ndarray,
    times: pd.DatetimeIndex,
) -> pd.DataFrame:
    """Expected consumption of each DMA [L/s] (time × DMA): Σ junction demands × ratio."""
    base = grouped_base_m3s(wn, dmas)
    mult = pattern_table(wn, seconds)[base.columns].to_numpy()
    factor = float(wn.options.hydraulic.demand_multiplier)
    q = (mult @ base.to_numpy().T) * ratio_t[:, None] * 1000.0 * factor
    return pd.DataFrame(q, index=times, columns=base.index.astype(str))


# ------------------------------------------------------------------- the hydraulic run

def pump_status_from_power(power_kw: pd.DataFrame, on_kw: float = PUMP_ON_KW) -> pd.DataFrame:
    """Pump status per step from SCADA power: 1 when it draws more than ``on_kw`` [kW].

    Missing readings take the last known status (the first known one at the start).
    """
    on = (power_kw > on_kw).astype(float).where(power_kw.notna())
    return on.ffill().bfill().fillna(0.0).astype(int)


def measured_pump_status(obs: Observations) -> pd.DataFrame:
    """time × pump: running status per SCADA step (1 on) [-], from the measured status where
    a pump has one, else from its power (:func:`pump_status_from_power`); gaps take the last
    known status."""
    parts = []
    if len(obs.pump_power_kw.columns):
        parts.append(pump_status_from_power(obs.pump_power_kw.reindex(obs.times)))
    if len(obs.pump_status.columns):
        st = (obs.pump_status.reindex(obs.times) > 0.5).astype(float).where(
            obs.pump_status.reindex(obs.times).notna())
        parts = [p.drop(columns=[c for c in st.columns if c in p.columns]) for p in parts]
        parts.append(st.ffill().bfill().fillna(0.0).astype(int))
    if not parts:
        return pd.DataFrame(index=obs.times)
    return pd.concat(parts, axis=1).sort_index(axis=1)


def drive_pumps(wn: wntr.network.WaterNetworkModel, status: pd.DataFrame,
                step_s: float) -> list[str]:
    """Make ``wn``'s pumps run as measured: each pump of ``status`` (step × pump, 1 on,
    rows ``step_s`` apart from the simulation's time zero) starts in its first status and
    switches at every change, and the model's own controls and rules on it are removed.

    Returns the names of the controls removed (a rule that also acts on other elements goes
    with them).
    """
    removed = []
    pumps = [str(p) for p in status.columns if str(p) in set(wn.pump_name_list)]
    for name, ctrl in list(wn.controls()):
        if any(str(getattr(a.target()[0], "name", "")) in pumps for a in ctrl.actions()):
            wn.remove_control(name)
            removed.append(name)
    for pump in pumps:
        x = status[pump].to_numpy(dtype=int)
        link = wn.get_link(pump)
        link.initial_status = LinkStatus.Open if x[0] else LinkStatus.Closed
        for i in np.flatnonzero(np.diff(x)) + 1:
            value = LinkStatus.Open if x[i] else LinkStatus.Closed
            cond = SimTimeCondition(wn, "=", int(round(i * step_s)))
            wn.add_control(f"TWIN-{pump}-{i}", Control(cond, ControlAction(link, "status",
                                                                              value)))
    return removed


def expected_network(
    wn: wntr.network.WaterNetworkModel,
    ratio_t: np.ndarray,
    seconds: np.ndarray,
    step_s: float,
    tank_level_m: pd.Series | None = None,
    pump_on: pd.Series | pd.DataFrame | None = None,
    clock_s: float | None = None,
    into: wntr.network.WaterNetworkModel | None = None,
) -> wntr.network.WaterNetworkModel:
    """Copy of ``wn`` that simulates a stretch of the period as the meters saw it.

    Every pattern becomes a pattern at ``step_s``: its multiplier on the pattern clock
    ``seconds`` times the demand ratio ``ratio_t``; tanks start at ``tank_level_m`` [m];
    pumps start at ``pump_on`` (1 on; a Series) or run as measured over the whole stretch
    (a DataFrame, step × pump: :func:`drive_pumps`); ``clock_s`` sets the start clock time
    (for ``CLOCKTIME`` controls).

    ``into``: an earlier result of this function for the same ``wn`` (and the same tanks
    and pumps given), set again in place for another stretch instead of copying ``wn``
    anew; what it then simulates is what a fresh copy simulates (a deep copy of a
    935-junction model takes 0.1-0.3 s, more than EPANET takes for a day of it).
    """
    out = copy.deepcopy(wn) if into is None else into
    cats = demand_categories(wn)
    names = sorted({p for p in cats.pattern if p is not None})
    for name in names:
        out.get_pattern(name).multipliers = (pattern_multiplier(wn, name, seconds)
                                             * ratio_t).round(6).tolist()
    if (cats.pattern.isna()).any():
        if RATIO_PATTERN in out.pattern_name_list:
            out.get_pattern(RATIO_PATTERN).multipliers = np.round(ratio_t, 6).tolist()
        else:
            out.add_pattern(RATIO_PATTERN, np.round(ratio_t, 6).tolist())
        have = set(out.pattern_name_list)
        for _, j in out.junctions():
            for d in j.demand_timeseries_list:
                if d.pattern_name not in have:
                    d.pattern_name = RATIO_PATTERN
    out.options.time.pattern_timestep = int(step_s)
    out.options.time.pattern_start = 0
    if clock_s is not None:
        out.options.time.start_clocktime = int(round(clock_s)) % 86400
    for tank, level in (tank_level_m.dropna().items() if tank_level_m is not None else ()):
        t = out.get_node(str(tank))
        t.init_level = float(np.clip(level, t.min_level, t.max_level))
    if isinstance(pump_on, pd.DataFrame):
        drive_pumps(out, pump_on, step_s)  # also removes an earlier stretch's switches
    else:
        for pump, on in (pump_on.items() if pump_on is not None else ()):
            if str(pump) in out.pump_name_list:
                out.get_link(str(pump)).initial_status = (LinkStatus.Open if on
                                                          else LinkStatus.Closed)
    return out


#: The pattern :func:`expected_network` gives demand categories that have none: the
#: demand ratio alone.
RATIO_PATTERN = "TWIN-RATIO"


def expected_hydraulics(
    wn: wntr.network.WaterNetworkModel,
    obs: Observations,
    ratio_t: np.ndarray,
    seconds: np.ndarray,
    nodes: list[str],
    segment_h: float = SEGMENT_H,
    progress=None,
    links: list[str] | None = None,
    whole_network: bool = False,
    hold_measured_tanks: bool = False,
) -> ExpectedRun:
    """Simulate the period as the twin expects it (no leaks), at the SCADA step.

    A network without tanks and pumps is run in one go; otherwise in segments of
    ``segment_h`` hours, each starting from the tank levels and pump statuses SCADA measured
    at its first step; a tank, pump or valve SCADA does not measure (a pump or valve the
    model's controls switch, :func:`controlled_links`) starts a segment as the segment
    before left it, as in one continuous run, not as the model's file starts it. At a
    SCADA step of :data:`DRIVE_PUMPS_MAX_STEP_S` or finer, every pump SCADA measures
    (status, or power) runs as measured through the segment (:func:`drive_pumps`);
    otherwise, and for the other pumps, the model's controls run them.

    Only ``nodes``, ``links`` and the pumps are read out of EPANET, as it steps
    (:func:`twin.water.hydraulics.simulate_elements`); ``whole_network`` writes and reads
    every node and link instead (:func:`twin.water.hydraulics.simulate`, the same numbers
    to float32 round-off; on KL, a year at 5 min, it writes 5.9 GB and took 7x longer).

    ``hold_measured_tanks`` sets every tank SCADA measures to its measured level [m] at
    every SCADA step (``tank_levels_m`` of :func:`twin.water.hydraulics.simulate_elements`;
    EPANET's own filling between steps, and over the steps whose level is missing), so the heads the tanks give the network are the
    measured ones, not the segment's drift from them, and the model's controls that read a
    tank's level read the measured one. Its pressures are the pressure expectation of
    :func:`pressure_at_measured_levels`; its tanks' levels are the measured ones, and its
    storage over a step not a water balance's.

    Each segment is run one step past its end, so that the level every tank reaches at the
    end of each step, the segment's last included, comes from the same continuous run as the
    flows that filled it (the next segment restarts from the measured levels: a rate taken
    across that restart is the simulation's drift over the segment, not a storage rate; on
    CTOWN, 70 days at 5 min, up to 6,540 L/s at 23:55 in one DMA against a median of 0).

    Returns
    -------
    ExpectedRun
        Pressures, pump agreement, link flows and the tanks' levels at the end of each step.
    """
    from twin.water.hydraulics import simulate, simulate_elements

    if hold_measured_tanks and whole_network:
        raise ValueError("tanks are held at their measured levels in the stepped run only "
                         "(whole_network=False)")
    step = obs.step_s
    n = len(obs.times)
    has_state = bool(wn.tank_name_list or wn.pump_name_list)
    per = max(1, int(round(segment_h * 3600 / step))) if has_state else n
    pump_on = measured_pump_status(obs)
    levels = obs.tank_level_m.ffill().bfill()
    p_parts, s_parts, q_parts = [], [], []
    links = [x for x in (links or []) if x in set(wn.link_name_list)]
    keep = [x for x in nodes if x in set(wn.node_name_list)]
    pumps = [p for p in pump_on.columns if p in set(wn.pump_name_list)]
    tanks = list(wn.tank_name_list)
    read = list(dict.fromkeys(keep + tanks))
    carried = controlled_links(wn, pumps)
    carry: dict[str, LinkStatus] = {}
    measured = measured_tanks(wn, obs)
    unmeasured = [t for t in tanks if t not in set(measured)]
    carry_level: dict[str, float] = {}
    e_parts = []
    model = None
    for first in range(0, n, per):
        sl = slice(first, min(first + per, n))
        m = sl.stop - sl.start
        model = expected_network(
            wn, ratio_t[sl], seconds[sl], step,
            levels.iloc[sl.start] if len(levels.columns) else None,
            (pump_on[pumps].iloc[sl] if step <= DRIVE_PUMPS_MAX_STEP_S
             else pump_on[pumps].iloc[sl.start]) if pumps else None,
            clock_s=seconds[sl.start] % 86400, into=model)
        for name, status in carry.items():
            model.get_link(name).initial_status = status
        for tank, level in carry_level.items():
            node = model.get_node(tank)
            node.init_level = float(np.clip(level, node.min_level, node.max_level))
        # one step past the segment: the tanks' levels at the end of its last step
        if whole_network:
            ds = simulate(model, m * step, step)
        else:
            held = None
            if hold_measured_tanks and measured:
                # as measured, gaps left: a tank whose sensor is out fills as EPANET runs it
                held = obs.tank_level_m[measured].iloc[sl.start:min(sl.stop + 1, n)]
                held = held.set_axis(np.arange(len(held)) * step, axis=0)
            ds = simulate_elements(model, m * step, step, read,
                                   list(dict.fromkeys(links + pumps + carried)),
                                   tank_levels_m=held)
        e_parts.append(_levels_at_step_ends(ds, tanks, m))
        carry = _statuses_at_end(ds, wn, carried, m)
        carry_level = {t: float(e_parts[-1][-1, tanks.index(t)]) for t in unmeasured}
        ds = ds.isel(time=slice(0, m))
        p_parts.append(ds["pressure_m"].sel(node=keep).to_numpy())
        q_parts.append(ds["flow_m3s"].sel(link=links).to_numpy() * 1000.0)
        if pumps:
            s_parts.append(ds["status"].sel(link=pumps).to_numpy() > 0)
        if progress:
            progress(sl.stop, n)
    pressure = pd.DataFrame(np.vstack(p_parts), index=obs.times, columns=keep)
    if pumps:
        sim_on = np.vstack(s_parts)
        same = (sim_on == (pump_on[pumps].to_numpy() > 0)).all(axis=1)
        same[1:] &= same[:-1]
    else:
        same = np.ones(n, dtype=bool)
    flow = pd.DataFrame(np.vstack(q_parts), index=obs.times, columns=links)
    ends = pd.DataFrame(np.vstack(e_parts), index=obs.times, columns=tanks)
    return ExpectedRun(pressure, pd.Series(same, index=obs.times, name="operations_match"),
                       flow, ends)


def pressure_at_measured_levels(
    wn: wntr.network.WaterNetworkModel,
    obs: Observations,
    ratio_t: np.ndarray,
    seconds: np.ndarray,
    nodes: list[str],
    segment_h: float = SEGMENT_H,
    progress=None,
) -> pd.DataFrame | None:
    """Expected pressures with every tank SCADA measures held at its measured level [m].

    The run of :func:`expected_hydraulics` (same demands, segments, pumps and valves) with
    ``hold_measured_tanks``: within a segment the simulated tanks drift from the measured
    ones (their filling is the model's, off by the model's errors in demands, pipes and
    pump switching), and the head error shows at every logger a tank feeds, for hours; held
    at the measured levels, the tanks' heads are the measured ones and the model's controls
    that read the tanks switch pumps and valves as the levels SCADA saw would. Leak
    location's sensitivities are snapshots with the tanks at fixed heads: a pressure
    residual against this expectation has no tank head in it either. On C-Town (seeds 0-2,
    70 days at 5 min, the 14 leak-free days) the loggers' hourly residual spread went from
    1.8-2.2 m to 0.4-0.9 m (median over loggers), the spread of their day means from
    0.20-0.32 m to 0.12-0.33 m. Where a tank's sampled levels turn back just short of a
    control's level (the tank reached it between samples), the control does not fire and
    its pump runs on until the opposite control (seed 2: one pump 12 h); moving the controls'
    levels by the samples' shortfall (the steps' change and the noise, or the noise alone)
    made the pumps switch early instead and located worse (bench_leaks.py).

    Parameters
    ----------
    nodes : list of str
        Nodes whose pressure is expected (the loggers).
    Other parameters as for :func:`expected_hydraulics`.

    Returns
    -------
    DataFrame or None
        time × node: expected pressure [m]; None when no tank has a measured level (the
        run would be :func:`expected_hydraulics`' own).
    """
    if not measured_tanks(wn, obs):
        return None
    run = expected_hydraulics(wn, obs, ratio_t, seconds, nodes, segment_h, progress=progress,
                              hold_measured_tanks=True)
    return run.pressure_m


def measured_tanks(wn: wntr.network.WaterNetworkModel, obs: Observations) -> list[str]:
    """The model's tanks SCADA measured a level of at least once in the period."""
    levels = obs.tank_level_m
    return [t for t in wn.tank_name_list
            if t in set(levels.columns) and levels[t].notna().any()]


def controlled_links(wn: wntr.network.WaterNetworkModel, measured: list[str]) -> list[str]:
    """Links whose status the model's controls or rules set and SCADA does not measure (a
    segment of :func:`expected_hydraulics` starts them as the segment before left them)."""
    out = set()
    for _, ctrl in wn.controls():
        for action in ctrl.actions():
            target, attribute = action.target()
            name = str(getattr(target, "name", ""))
            if attribute == "status" and name in set(wn.link_name_list) and \
                    name not in set(measured):
                out.add(name)
    return sorted(out)


def _statuses_at_end(ds: xr.Dataset, wn: wntr.network.WaterNetworkModel, carried: list[str],
                     m: int) -> dict[str, LinkStatus]:
    """The status each of ``carried`` had at the end of a segment of ``m`` steps: closed, or
    open (a valve whose model status is not closed goes back to it: active)."""
    if not carried or not ds.sizes.get("time", 0):
        return {}
    st = ds["status"].sel(link=carried).to_numpy()[min(m, ds.sizes["time"] - 1)]
    out = {}
    for name, x in zip(carried, st, strict=True):
        own = wn.get_link(name).initial_status
        opened = own if (own != LinkStatus.Closed and name in set(wn.valve_name_list)) \
            else LinkStatus.Open
        out[name] = opened if x > 0 else LinkStatus.Closed
    return out


class ExpectedRun(NamedTuple):
    """What :func:`expected_hydraulics` simulated, at the SCADA steps.

    Attributes
    ----------
    pressure_m : DataFrame
        time × node: expected pressure at the nodes asked for [m] (tank nodes: level [m]).
    operations_match : Series
        per time: True where every model pump ran as measured at that step and the one
        before.
    flow_l_s : DataFrame
        time × link: expected flow in the links asked for [L/s].
    tank_level_end_m : DataFrame
        time × tank: every tank's level at the end of the step that starts at the time [m],
        from the same run as the step's flows (also at a segment's last step).
    """

    pressure_m: pd.DataFrame
    operations_match: pd.Series
    flow_l_s: pd.DataFrame
    tank_level_end_m: pd.DataFrame


def _levels_at_step_ends(ds: xr.Dataset, tanks: list[str], m: int) -> np.ndarray:
    """step × tank: the level at the end of each of a run's first ``m`` steps [m] (the run
    reports ``m + 1`` times; a run EPANET ended early repeats its last level)."""
    if not tanks:
        return np.zeros((m, 0))
    run = ds["pressure_m"].sel(node=tanks).to_numpy()
    lv = run[1:m + 1]
    if len(lv) < m:
        lv = np.vstack([lv, np.repeat(run[-1:], m - len(lv), axis=0)])
    return lv


def expected_dataset(pressure: pd.DataFrame, operations: pd.Series,
                     consumption: pd.DataFrame) -> xr.Dataset:
    """The expectation as one dataset: ``pressure_m (time × node)``,
    ``consumption_l_s (time × dma)``, ``operations_match (time)``."""
    t = pressure.index.tz_convert("UTC").tz_localize(None)
    return xr.Dataset(
        {"pressure_m": (("time", "node"), pressure.to_numpy(), {"units": "m"}),
         "consumption_l_s": (("time", "dma"), consumption.to_numpy(), {"units": "L/s"}),
         "operations_match": ("time", operations.to_numpy().astype(int),
                              {"units": "1 model pumps as measured, 0 not"})},
        coords={"time": t, "node": pressure.columns.astype(str).to_numpy(),
                "dma": consumption.columns.astype(str).to_numpy()})
