"""PV hosting capacity per bus: the extra PV a bus takes before a limit is broken.

The extra PV is a new static generator at unity power factor at the bus. For every candidate
bus and every critical hour, the largest extra PV [kW] that keeps

- every distribution bus (at or below 35 kV) inside the voltage band [p.u.],
- every line and transformer at or below its thermal limit [%],
- and the power flow converging,

is found by bisection. All (bus, hour) cases of one bisection round are independent AC power
flows on the same admittance matrix (a generator adds an injection, not a branch), so a round is
one batched run of the QSTS engine (:func:`twin.electric.qsts.run_qsts`) with one "step" per case.
The hosting capacity of a bus is the smallest such value over the critical hours.

Critical hours for PV are those with the most net export: high PV output and low load.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
import pandapower as pp
import pandas as pd

from twin.electric.powerflow import MAX_LOADING_PERCENT, VOLTAGE_BAND_PU
from twin.electric.qsts import run_qsts

#: Buses above this nominal voltage are transmission side, not checked nor offered [kV].
DISTRIBUTION_MAX_KV = 35.0


class HostingCapacityError(ValueError):
    """The study cannot be set up (unknown bus, empty profiles, bad limits)."""


def critical_hours(profiles: dict, n: int = 6) -> pd.DatetimeIndex:
    """Pick the ``n`` steps with the highest net export (PV minus load), one per day.

    Parameters
    ----------
    profiles : dict of DataFrame
        ``load_p_mw`` [MW] and ``sgen_p_mw`` [MW], time × element.
    n : int
        Number of steps to return [-].

    Returns
    -------
    DatetimeIndex
        The chosen steps, sorted in time. One step per calendar day (UTC) so that the hours are
        not all from one sunny, empty afternoon.
    """
    load = profiles["load_p_mw"].sum(axis=1)
    gen = profiles["sgen_p_mw"].sum(axis=1) if "sgen_p_mw" in profiles else 0.0 * load
    export = (gen - load).sort_values(ascending=False)
    days = export.index.normalize() if isinstance(export.index, pd.DatetimeIndex) else export.index
    first_of_day = ~pd.Index(days).duplicated()
    return pd.Index(export.index[first_of_day][:n]).sort_values()


def _case_profiles(profiles: dict, times: pd.Index, new_sgens: pd.Index,
                   case_bus: np.ndarray, case_time: np.ndarray, extra_mw: np.ndarray) -> dict:
    """Profiles with one row per case: the base values at its hour plus its bus's extra PV."""
    index = pd.RangeIndex(len(case_bus), name="case")
    out = {}
    for name in ("load_p_mw", "load_q_mvar"):
        if name in profiles:
            base = profiles[name].loc[times].to_numpy()[case_time]
            out[name] = pd.DataFrame(base, index=index, columns=profiles[name].columns)
    base_sgen = (profiles["sgen_p_mw"].loc[times].to_numpy()[case_time]
                 if "sgen_p_mw" in profiles else np.zeros((len(index), 0)))
    extra = np.zeros((len(index), len(new_sgens)))
    extra[np.arange(len(index)), case_bus] = extra_mw
    columns = (list(profiles["sgen_p_mw"].columns) if "sgen_p_mw" in profiles else []) + list(
        new_sgens)
    out["sgen_p_mw"] = pd.DataFrame(np.hstack([base_sgen, extra]), index=index, columns=columns)
    return out


def _limit_broken(ds, dist_buses: np.ndarray, band: tuple[float, float],
                  max_loading: float) -> tuple[np.ndarray, np.ndarray]:
    """Per case: is any limit broken, and which one first (a label)."""
    vm = ds["vm_pu"].sel(bus=dist_buses).to_numpy()
    lines = ds["line_loading_percent"].to_numpy()
    trafos = ds["trafo_loading_percent"].to_numpy()
    converged = ds["converged"].to_numpy().astype(bool)
    with np.errstate(invalid="ignore"):
        over_v = np.nanmax(vm, axis=1) > band[1]
        under_v = np.nanmin(vm, axis=1) < band[0]
        over_line = (np.nanmax(lines, axis=1) > max_loading) if lines.shape[1] else False
        over_trafo = (np.nanmax(trafos, axis=1) > max_loading) if trafos.shape[1] else False
    label = np.full(len(converged), "", dtype=object)
    for mask, name in ((over_trafo, "transformer overload"), (over_line, "line overload"),
                       (under_v, "undervoltage"), (over_v, "overvoltage"),
                       (~converged, "no convergence")):
        label = np.where(mask, name, label)
    broken = ~converged | over_v | under_v | over_line | over_trafo
    return broken, label


def hosting_capacity(
    net: pp.pandapowerNet,
    profiles: dict,
    buses: Sequence[int] | None = None,
    times: Sequence | None = None,
    voltage_band_pu: tuple[float, float] = VOLTAGE_BAND_PU,
    max_loading_percent: float = MAX_LOADING_PERCENT,
    max_kw: float = 20_000.0,
    resolution_kw: float = 10.0,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Extra PV each bus can host before a voltage or thermal limit is broken.

    Parameters
    ----------
    net : pandapowerNet
        The grid (not changed).
    profiles : dict of DataFrame
        ``load_p_mw`` [MW], ``load_q_mvar`` [Mvar], ``sgen_p_mw`` [MW], time × element.
    buses : sequence of int, optional
        Candidate buses; default every in-service bus at or below 35 kV.
    times : sequence of Timestamp, optional
        Steps to check; default :func:`critical_hours` of the profiles.
    voltage_band_pu : (float, float)
        Allowed voltage band [p.u.]; EN 50160 ±10 % by default.
    max_loading_percent : float
        Thermal limit of lines and transformers [%].
    max_kw : float
        Largest extra PV tried [kW]; a bus that takes it is reported as ``>= max_kw``.
    resolution_kw : float
        Bisection stops when the bracket is this narrow [kW].
    progress : callable, optional
        ``progress(round, rounds)`` after every bisection round.

    Returns
    -------
    DataFrame
        Indexed by bus: ``hosting_capacity_kw`` [kW] (lower end of the final bracket),
        ``limited_by`` (what breaks just above it, or ``"not reached"``), ``critical_time``
        (the step where it binds), ``base_violation`` (True where the base case already breaks
        a limit: the capacity is then 0).
    """
    if resolution_kw <= 0 or max_kw <= resolution_kw:
        raise HostingCapacityError(
            f"need 0 < resolution_kw ({resolution_kw}) < max_kw ({max_kw})")
    lo_v, hi_v = voltage_band_pu
    if not lo_v < 1.0 < hi_v:
        raise HostingCapacityError(f"voltage band {voltage_band_pu} must contain 1.0 p.u.")
    dist = net.bus.index[(net.bus.vn_kv <= DISTRIBUTION_MAX_KV) & net.bus.in_service]
    if buses is None:
        cand = np.asarray(dist)
    else:
        cand = np.asarray(list(buses))
        unknown = pd.Index(cand).difference(net.bus.index)
        if len(unknown):
            raise HostingCapacityError(f"buses {list(unknown[:5])} are not in the grid")
    times = critical_hours(profiles) if times is None else pd.Index(times)
    missing = times.difference(profiles["load_p_mw"].index)
    if len(missing):
        raise HostingCapacityError(f"times {list(missing[:3])} are not in the profiles")

    study = copy.deepcopy(net)
    new_sgens = pd.Index(pp.create_sgens(study, cand, p_mw=0.0, q_mvar=0.0,
                                         name=[f"HC-{b}" for b in cand], type="PV"))
    n_bus, n_time = len(cand), len(times)
    case_bus = np.repeat(np.arange(n_bus), n_time)
    case_time = np.tile(np.arange(n_time), n_bus)
    dist_buses = np.asarray(dist)

    def solve(extra_kw: np.ndarray):
        profs = _case_profiles(profiles, times, new_sgens, case_bus, case_time, extra_kw / 1e3)
        ds = run_qsts(study, profs)
        return _limit_broken(ds, dist_buses, voltage_band_pu, max_loading_percent)

    rounds = int(np.ceil(np.log2(max_kw / resolution_kw))) + 2
    base_broken, base_label = solve(np.zeros(len(case_bus)))
    lo = np.zeros(len(case_bus))
    hi = np.full(len(case_bus), float(max_kw))
    top_broken, top_label = solve(hi)
    label = np.where(top_broken, top_label, "not reached").astype(object)
    lo[~top_broken] = max_kw
    active = top_broken & ~base_broken
    if progress:
        progress(2, rounds)
    for r in range(3, rounds + 1):
        if not active.any() or np.all(hi[active] - lo[active] <= resolution_kw):
            break
        mid = np.where(active, 0.5 * (lo + hi), 0.0)
        broken, what = solve(mid)
        up = active & ~broken
        down = active & broken
        lo[up] = mid[up]
        hi[down] = mid[down]
        label[down] = what[down]
        if progress:
            progress(r, rounds)
    lo[base_broken] = 0.0
    label[base_broken] = base_label[base_broken]

    per_case = pd.DataFrame({"bus": cand[case_bus], "time": times[case_time],
                             "hosting_capacity_kw": lo, "limited_by": label,
                             "base_violation": base_broken})
    worst = per_case.loc[per_case.groupby("bus", sort=False).hosting_capacity_kw.idxmin()]
    out = worst.set_index("bus").rename(columns={"time": "critical_time"})
    out["base_violation"] = per_case.groupby("bus", sort=False).base_violation.any()
    return out[["hosting_capacity_kw", "limited_by", "critical_time", "base_violation"]]
