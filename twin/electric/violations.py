"""Voltage-band and thermal violations over a QSTS result, as events and per-element totals.

A QSTS dataset (:func:`twin.electric.qsts.run_qsts`) holds one solved power flow per step.
This module turns it into what a planner reads:

* **events**: every run of consecutive steps in which one element is outside its limit
  (undervoltage, overvoltage, overload), with its start, end, duration and worst value;
  buses without supply at a solved step (``unsupplied``) and steps whose power flow did not
  converge (``not_converged``) are events of their own, never counted as "no violation";
* **totals** per element: hours outside the band, overload hours, overload energy;
* the **EN 50160 weekly check** of every bus: 95 % of the 10-min mean voltages of each week
  within ±10 % of nominal and all of them within +10 %/−15 %.

Everything is vectorised over time: boolean arrays (time × element) are cut into runs by
comparing each step with its neighbour, with no Python loop per step.

The limits are the twin's one set (:data:`twin.electric.powerflow.VOLTAGE_BAND_PU`,
:data:`twin.electric.powerflow.MAX_LOADING_PERCENT`); both can be overridden per call.
"""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pandas as pd
import xarray as xr

from twin.electric.powerflow import MAX_LOADING_PERCENT, VOLTAGE_BAND_PU

#: EN 50160: share of a week's mean voltages that must lie within the band [-].
EN50160_WEEKLY_SHARE = 0.95
#: EN 50160: band that every mean voltage of the week must lie within [p.u.].
EN50160_ALL_BAND_PU = (0.85, 1.10)
#: Length of an EN 50160 observation period.
EN50160_WEEK = pd.Timedelta("7D")

#: Columns of the event table, in order.
EVENT_COLUMNS = ["element_type", "element", "name", "kind", "start", "end", "duration_h",
                 "steps", "worst", "limit", "unit", "overload_energy_mvah"]


class ViolationError(ValueError):
    """A QSTS result that cannot be checked; the message says what is missing."""


# ------------------------------------------------------------------------------ run lengths

def step_hours(times: np.ndarray) -> float:
    """The dataset's time step [h]: the smallest positive difference of its times.

    A single step counts as 15 min, the step of the city's profiles.
    """
    t = np.asarray(times, dtype="datetime64[ns]")
    if len(t) < 2:
        return 0.25
    d = np.diff(t).astype("timedelta64[s]").astype(float)
    d = d[d > 0]
    if not len(d):
        raise ViolationError("the QSTS result's times do not increase; sort them first")
    return float(d.min()) / 3600.0


def runs(mask: np.ndarray, contiguous: np.ndarray | None = None):
    """Runs of True along axis 0 of a (time × element) boolean array.

    Parameters
    ----------
    mask : ndarray of bool
        time × element (a 1-D array is one element).
    contiguous : ndarray of bool, optional
        ``len(time) - 1`` flags: step k+1 directly follows step k. A run is cut where it is
        False (results of sampled steps). All True by default.

    Returns
    -------
    element, first, stop : ndarray of int
        One entry per run, sorted by element then time: the element's column, the run's first
        step and the step after its last one (exclusive).
    """
    m = np.asarray(mask, dtype=bool)
    if m.ndim == 1:
        m = m[:, None]
    n_t, n_e = m.shape
    link = np.ones(max(n_t - 1, 0), dtype=bool) if contiguous is None else np.asarray(
        contiguous, dtype=bool)
    if len(link) != max(n_t - 1, 0):
        raise ViolationError(f"contiguous has {len(link)} flags for {n_t} steps")
    joined = m[1:] & m[:-1] & link[:, None]  # step k+1 continues the run of step k
    false_row = np.zeros((1, n_e), dtype=bool)
    starts = m & ~np.vstack([false_row, joined])
    ends = m & ~np.vstack([joined, false_row])
    e_start, t_start = np.nonzero(starts.T)
    _, t_end = np.nonzero(ends.T)
    return e_start, t_start, t_end + 1


def _run_reduce(values: np.ndarray, element, first, stop, how) -> np.ndarray:
    """Reduce ``values`` (time × element) over each run with ``how`` (np.minimum or np.maximum)."""
    if not len(element):
        return np.zeros(0)
    n_t = values.shape[0]
    flat = np.append(np.asarray(values, dtype=float).T.ravel(), np.nan)
    bounds = np.empty(2 * len(element), dtype=np.int64)
    bounds[0::2] = element * n_t + first
    bounds[1::2] = element * n_t + stop
    return how.reduceat(flat, bounds)[0::2]


def _run_sum(values: np.ndarray, element, first, stop) -> np.ndarray:
    """Sum ``values`` (time × element) over each run."""
    if not len(element):
        return np.zeros(0)
    c = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(np.nan_to_num(values), axis=0)])
    return c[stop, element] - c[first, element]


# --------------------------------------------------------------------------------- events

def _contiguity(times: np.ndarray, dt_h: float) -> np.ndarray:
    t = np.asarray(times, dtype="datetime64[ns]")
    gaps = np.diff(t).astype("timedelta64[s]").astype(float) / 3600.0
    return np.isclose(gaps, dt_h)


def _events(kind: str, element_type: str, mask, values, ids, names, times, contiguous, dt_h,
            worst_how, limit, unit, excess=None) -> pd.DataFrame:
    element, first, stop = runs(mask, contiguous)
    t = pd.DatetimeIndex(np.asarray(times))
    worst = (_run_reduce(values, element, first, stop, worst_how) if values is not None
             else np.full(len(element), np.nan))
    return pd.DataFrame({
        "element_type": element_type,
        "element": np.asarray(ids)[element],
        "name": np.asarray(names, dtype=object)[element],
        "kind": kind,
        "start": t[first],
        "end": t[stop - 1] + pd.Timedelta(hours=dt_h),
        "duration_h": (stop - first) * dt_h,
        "steps": stop - first,
        "worst": worst,
        "limit": limit,
        "unit": unit,
        "overload_energy_mvah": (_run_sum(excess, element, first, stop) * dt_h
                                 if excess is not None else np.nan),
    }, columns=EVENT_COLUMNS)


def rated_mva(net: pp.pandapowerNet, table: str) -> np.ndarray:
    """Thermal rating of each line or transformer as apparent power [MVA].

    Lines: √3 · ``vn_kv`` of the from bus · ``max_i_ka`` · ``df`` · ``parallel``;
    transformers: ``sn_mva`` · ``parallel`` · ``df`` (the ratings pandapower's loading uses).
    """
    if table == "line":
        ln = net.line
        kv = net.bus.vn_kv.loc[ln.from_bus].to_numpy(dtype=float)
        return (np.sqrt(3) * kv * ln.max_i_ka * ln.df * ln.parallel).to_numpy(dtype=float)
    tr = net.trafo
    df = tr.df if "df" in tr else 1.0
    return (tr.sn_mva * tr.parallel * df).to_numpy(dtype=float)


def _check(ds: xr.Dataset, names: list[str]) -> None:
    missing = [n for n in names if n not in ds]
    if missing:
        raise ViolationError(
            f"the QSTS result lacks {missing}; give a dataset from twin.electric.qsts.run_qsts"
        )


def find_violations(
    ds: xr.Dataset,
    net: pp.pandapowerNet,
    voltage_band_pu: tuple[float, float] = VOLTAGE_BAND_PU,
    max_loading_percent: float = MAX_LOADING_PERCENT,
) -> pd.DataFrame:
    """Every violation event of a QSTS result.

    Parameters
    ----------
    ds : Dataset
        QSTS result (``vm_pu``, ``line_loading_percent``, ``trafo_loading_percent``,
        ``converged``).
    net : pandapowerNet
        The grid it was solved on (element names and ratings).
    voltage_band_pu : (float, float)
        Allowed voltage band [p.u.].
    max_loading_percent : float
        Thermal limit of lines and transformers [%].

    Returns
    -------
    DataFrame
        One row per event (:data:`EVENT_COLUMNS`), sorted by start: ``kind`` is
        ``undervoltage``, ``overvoltage``, ``overload``, ``unsupplied`` (bus without voltage
        at a solved step) or ``not_converged`` (``element_type`` ``step``); ``start`` and
        ``end`` [UTC] bound the event, ``duration_h`` [h]; ``worst`` is the lowest or highest
        value in ``unit``; ``overload_energy_mvah`` the apparent energy carried above the
        rating during an overload [MVAh].
    """
    _check(ds, ["vm_pu", "line_loading_percent", "trafo_loading_percent", "converged"])
    lo, hi = voltage_band_pu
    if not lo < hi:
        raise ViolationError(f"voltage band {voltage_band_pu}: the lower limit must be below "
                             "the upper one")
    times = ds.time.values
    dt_h = step_hours(times)
    contiguous = _contiguity(times, dt_h)
    ok = ds.converged.values.astype(bool)
    vm = ds.vm_pu.values
    bus_ids = ds.bus.values
    bus_names = net.bus.name.reindex(bus_ids).to_numpy(dtype=object)
    frames = [
        _events("undervoltage", "bus", vm < lo, vm, bus_ids, bus_names, times, contiguous,
                dt_h, np.fmin, lo, "p.u."),
        _events("overvoltage", "bus", vm > hi, vm, bus_ids, bus_names, times, contiguous,
                dt_h, np.fmax, hi, "p.u."),
        _events("unsupplied", "bus", np.isnan(vm) & ok[:, None], None, bus_ids, bus_names,
                times, contiguous, dt_h, None, np.nan, "p.u."),
    ]
    for table in ("line", "trafo"):
        loading = ds[f"{table}_loading_percent"].values
        ids = ds[table].values
        names = net[table].name.reindex(ids).to_numpy(dtype=object)
        rating = pd.Series(rated_mva(net, table), index=net[table].index).reindex(ids)
        over = loading > max_loading_percent
        excess = np.where(over, (loading - max_loading_percent) / 100.0, 0.0) * rating.to_numpy()
        frames.append(_events("overload", table, over, loading, ids, names, times, contiguous,
                              dt_h, np.fmax, max_loading_percent, "%", excess))
    frames.append(_events("not_converged", "step", ~ok, None, np.array([-1]),
                          np.array(["power flow"], dtype=object), times, contiguous, dt_h,
                          None, np.nan, ""))
    found = [f for f in frames if len(f)]
    if not found:
        return pd.DataFrame({c: pd.Series(dtype=frames[0][c].dtype) for c in EVENT_COLUMNS})
    out = pd.concat(found, ignore_index=True)
    return out.sort_values(["start", "element_type", "element"], kind="stable",
                           ignore_index=True)


def violation_totals(ds: xr.Dataset, net: pp.pandapowerNet,
                     voltage_band_pu: tuple[float, float] = VOLTAGE_BAND_PU,
                     max_loading_percent: float = MAX_LOADING_PERCENT,
                     events: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per element totals over the result: only elements with at least one violation.

    ``events`` are those :func:`find_violations` returned for the same limits, if already
    found (else they are found here).

    Returns
    -------
    DataFrame
        ``element_type``, ``element``, ``name``, ``events``, ``hours_outside_band`` [h]
        (buses: under- or overvoltage), ``overload_hours`` [h], ``overload_energy_mvah``
        [MVAh], ``vm_min_pu``, ``vm_max_pu`` [p.u.] (buses), ``loading_max_percent`` [%]
        (branches); sorted by hours outside, then overload hours, descending.
    """
    if events is None:
        events = find_violations(ds, net, voltage_band_pu, max_loading_percent)
    events = events[events.kind.isin(["undervoltage", "overvoltage", "overload"])]
    cols = ["element_type", "element", "name", "events", "hours_outside_band",
            "overload_hours", "overload_energy_mvah", "vm_min_pu", "vm_max_pu",
            "loading_max_percent"]
    if not len(events):
        return pd.DataFrame(columns=cols)
    voltage = events.kind != "overload"
    g = events.assign(
        band_h=np.where(voltage, events.duration_h, 0.0),
        over_h=np.where(voltage, 0.0, events.duration_h),
        vmin=np.where(events.kind == "undervoltage", events.worst, np.nan),
        vmax=np.where(events.kind == "overvoltage", events.worst, np.nan),
        lmax=np.where(voltage, np.nan, events.worst),
    ).groupby(["element_type", "element"], sort=False)
    out = pd.DataFrame({
        "name": g.name.first(), "events": g.size(), "hours_outside_band": g.band_h.sum(),
        "overload_hours": g.over_h.sum(),
        "overload_energy_mvah": g.overload_energy_mvah.sum(min_count=1).fillna(0.0),
        "vm_min_pu": g.vmin.min(), "vm_max_pu": g.vmax.max(), "loading_max_percent": g.lmax.max(),
    }).reset_index()
    # the extremes of a bus over the whole result, not only within its events
    buses = out.element_type == "bus"
    if buses.any():
        vm = ds.vm_pu.sel(bus=out.loc[buses, "element"].to_numpy())
        out.loc[buses, "vm_min_pu"] = vm.min("time").values
        out.loc[buses, "vm_max_pu"] = vm.max("time").values
    return out[cols].sort_values(["hours_outside_band", "overload_hours"], ascending=False,
                                 ignore_index=True)


# ------------------------------------------------------------------------------ EN 50160

def en50160_weekly(ds: xr.Dataset, voltage_band_pu: tuple[float, float] = VOLTAGE_BAND_PU,
                   start: pd.Timestamp | None = None) -> xr.Dataset:
    """EN 50160 weekly voltage check of every bus.

    EN 50160 asks that in every week 95 % of the 10-min mean r.m.s. voltages lie within
    ±10 % of nominal and all within +10 %/−15 %. The twin's results are means over their own
    step (15 min for the city's profiles), which stand in for the 10-min means: the step is
    recorded in the ``mean_interval_min`` attribute.

    Weeks are consecutive 7-day periods from ``start`` (the first time of ``ds`` by
    default); a week the result does not cover completely is marked ``complete=False``.
    Steps that did not converge have no voltage: they are counted in ``steps_missing`` and
    a week with any of them is not passed (it cannot be shown to comply).

    Returns
    -------
    Dataset
        ``week × bus``: ``share_in_band_percent`` [%], ``vm_min_pu``, ``vm_max_pu`` [p.u.],
        ``steps`` and ``steps_missing`` [-], ``passes`` [-]; ``week`` is the week's start
        (UTC) and ``complete`` (week) says whether the week is fully covered.
    """
    _check(ds, ["vm_pu", "converged"])
    lo, hi = voltage_band_pu
    times = pd.DatetimeIndex(ds.time.values)
    dt_h = step_hours(ds.time.values)
    t0 = pd.Timestamp(start) if start is not None else times[0]
    if t0.tzinfo is not None:
        t0 = t0.tz_convert("UTC").tz_localize(None)
    week = np.floor((times - t0) / EN50160_WEEK).astype(int)
    if (week < 0).any():
        raise ViolationError(f"start {t0} is after the result's first time {times[0]}")
    vm = ds.vm_pu.values
    ok = ds.converged.values.astype(bool)
    n_weeks = int(week.max()) + 1
    onehot = np.zeros((n_weeks, len(times)))
    onehot[week, np.arange(len(times))] = 1.0
    valid = ~np.isnan(vm) & ok[:, None]
    inside = valid & (vm >= lo) & (vm <= hi)
    all_band = valid & (vm >= EN50160_ALL_BAND_PU[0]) & (vm <= EN50160_ALL_BAND_PU[1])
    steps = onehot @ valid
    missing = onehot @ (~valid & ~ok[:, None])
    share = np.divide(onehot @ inside, steps, out=np.full(steps.shape, np.nan),
                      where=steps > 0)
    outside_all = onehot @ (valid & ~all_band)
    vm_w = np.where(valid, vm, np.nan)
    vmin = np.full((n_weeks, vm.shape[1]), np.nan)
    vmax = vmin.copy()
    for w in range(n_weeks):  # one reduction per week, vectorised over steps and buses
        rows = vm_w[week == w]
        if len(rows) and np.isfinite(rows).any():
            with np.errstate(all="ignore"):
                vmin[w] = np.nanmin(np.where(np.isfinite(rows), rows, np.inf), axis=0)
                vmax[w] = np.nanmax(np.where(np.isfinite(rows), rows, -np.inf), axis=0)
    vmin[~np.isfinite(vmin)] = np.nan
    vmax[~np.isfinite(vmax)] = np.nan
    expected = EN50160_WEEK / pd.Timedelta(hours=dt_h)
    counts = onehot.sum(axis=1)
    passes = (share >= EN50160_WEEKLY_SHARE) & (outside_all == 0) & (missing == 0)
    week_start = t0 + np.arange(n_weeks) * EN50160_WEEK
    out = xr.Dataset(
        {
            "share_in_band_percent": (("week", "bus"), share * 100.0, {"units": "%"}),
            "vm_min_pu": (("week", "bus"), vmin, {"units": "p.u."}),
            "vm_max_pu": (("week", "bus"), vmax, {"units": "p.u."}),
            "steps": (("week", "bus"), steps.astype(int), {"units": "1"}),
            "steps_missing": (("week", "bus"), missing.astype(int), {"units": "1"}),
            "passes": (("week", "bus"), passes, {"units": "1"}),
            "complete": (("week",), counts >= expected - 0.5, {"units": "1"}),
        },
        coords={"week": np.asarray(week_start, dtype="datetime64[ns]"), "bus": ds.bus.values},
    )
    out.attrs.update({
        "standard": "EN 50160 supply voltage variations",
        "band_pu": list(voltage_band_pu), "all_steps_band_pu": list(EN50160_ALL_BAND_PU),
        "required_share": EN50160_WEEKLY_SHARE, "mean_interval_min": dt_h * 60.0,
        "note": (f"{dt_h * 60:.0f}-min means stand in for EN 50160's 10-min means"
                 if not np.isclose(dt_h * 60, 10) else "10-min means"),
    })
    return out
