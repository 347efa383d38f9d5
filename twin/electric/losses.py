"""Technical and non-technical losses of the grid, per element and per feeder.

Technical losses
    From a QSTS result (:func:`twin.electric.qsts.run_qsts`): the energy lost in every line
    and transformer [MWh], summed per feeder, and as a share of the energy delivered into
    the feeder at its head. A line belongs to the feeder of its from bus, or of its to bus
    when the from bus is in the substation (so the head line is the feeder's); transformers
    belong to the substation.

Non-technical losses (NTL)
    The energy balance of each feeder over a period::

        NTL = head-of-feeder energy (SCADA ELEC.<feeder>.P)
              - customer meters on the feeder (customer -> load -> bus -> feeder)
              - loads without meters (their profiles) - pumps (SCADA pump power)
              + generation on the feeder (its profiles)
              - technical losses

    Technical losses for the balance come from a QSTS driven by the measurements: the
    feeder's loads are its profiles scaled, step by step and feeder by feeder, so that the
    feeder's net load plus its losses equals the head measurement ("allocated from the
    head-of-feeder measurement in proportion to the profiles"); the losses of a first QSTS
    with the plain profiles give the scale, a second QSTS with the scaled loads gives the
    losses. Pumps are set to their measured power in both.

    Meters whose readings cannot be used for the balance (unit errors, no reads: see
    :mod:`twin.electric.meter_anomaly`) are replaced by the estimate from their load peers
    and counted in ``estimated_mwh``; nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandapower as pp
import pandas as pd
import xarray as xr

from twin.electric.violations import step_hours

#: Energy of 1 MW over one 15-min interval [kWh].
KWH_PER_MW_INTERVAL = 250.0
#: Name of the substation in ``net.bus.feeder``.
SUBSTATION = "substation"
#: Less energy delivered than this gives no loss percentage (an idle feeder) [MWh].
MIN_DELIVERED_MWH = 1e-3
#: QSTS variables the feeder balance reads: line losses, and the flow into each feeder head.
BALANCE_VARIABLES = ("line_p_from_mw", "line_pl_mw")
#: Bounds of the per-step load scale of the allocation [-]; outside, the step is clipped and
#: counted in ``allocation_clipped_steps``.
ALLOCATION_SCALE_BOUNDS = (0.0, 5.0)


class LossesError(ValueError):
    """Losses that cannot be computed; the message says what is missing and what to do."""


# ----------------------------------------------------------------------- technical losses

def line_feeders(net: pp.pandapowerNet) -> pd.Series:
    """Feeder of every line: its from bus's, or its to bus's when the from bus is the
    substation's (``net.bus.feeder``)."""
    if "feeder" not in net.bus:
        raise LossesError("net.bus has no 'feeder' column; name the feeders with "
                          "twin.electric.network.feeders(net)")
    f_from = net.bus.feeder.loc[net.line.from_bus].to_numpy(dtype=object)
    f_to = net.bus.feeder.loc[net.line.to_bus].to_numpy(dtype=object)
    return pd.Series(np.where(f_from == SUBSTATION, f_to, f_from), index=net.line.index,
                     name="feeder")


def head_lines(net: pp.pandapowerNet) -> pd.DataFrame:
    """Lines that join the substation to a feeder: ``feeder`` and ``substation_end``
    (``from`` or ``to``), indexed by line."""
    f_from = net.bus.feeder.loc[net.line.from_bus].to_numpy(dtype=object)
    f_to = net.bus.feeder.loc[net.line.to_bus].to_numpy(dtype=object)
    head = (f_from == SUBSTATION) != (f_to == SUBSTATION)
    return pd.DataFrame({"feeder": np.where(f_from == SUBSTATION, f_to, f_from)[head],
                         "substation_end": np.where(f_from[head] == SUBSTATION, "from", "to")},
                        index=net.line.index[head])


def feeder_head_p_mw(ds: xr.Dataset, net: pp.pandapowerNet) -> pd.DataFrame:
    """Active power into each feeder at its head, from a QSTS result [MW] (time × feeder).

    ``p_to = pl - p_from`` for heads whose substation end is the line's to bus.
    """
    heads = head_lines(net)
    p_from = ds.line_p_from_mw.sel(line=heads.index.to_numpy()).values
    pl = ds.line_pl_mw.sel(line=heads.index.to_numpy()).values
    into = np.where((heads.substation_end == "from").to_numpy(), p_from, pl - p_from)
    out = pd.DataFrame(into, index=pd.DatetimeIndex(ds.time.values), columns=heads.feeder)
    return out.T.groupby(level=0).sum(min_count=1).T


def element_losses(ds: xr.Dataset, net: pp.pandapowerNet) -> pd.DataFrame:
    """Energy lost in every line and transformer over the result.

    Returns
    -------
    DataFrame
        ``element_type``, ``element``, ``name``, ``feeder``, ``energy_mwh`` [MWh] and
        ``peak_mw`` [MW] over the converged steps; sorted by energy, descending.
    """
    dt_h = step_hours(ds.time.values)
    frames = []
    for table, feeder in (("line", line_feeders(net)),
                          ("trafo", pd.Series(SUBSTATION, index=net.trafo.index))):
        pl = ds[f"{table}_pl_mw"]
        ids = ds[table].values
        frames.append(pd.DataFrame({
            "element_type": table, "element": ids,
            "name": net[table].name.reindex(ids).to_numpy(dtype=object),
            "feeder": feeder.reindex(ids).to_numpy(dtype=object),
            "energy_mwh": pl.sum("time", skipna=True).values * dt_h,
            "peak_mw": pl.max("time", skipna=True).values,
        }))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values("energy_mwh", ascending=False, ignore_index=True)


def feeder_losses(ds: xr.Dataset, net: pp.pandapowerNet) -> pd.DataFrame:
    """Technical losses per feeder over the result, with the energy delivered into it.

    Returns
    -------
    DataFrame
        Indexed by feeder (and ``substation`` for the transformers and station lines):
        ``losses_mwh`` [MWh], ``delivered_mwh`` [MWh] (net energy into the feeder at its head;
        for the substation, what it passes on to the feeders plus its own losses),
        ``losses_percent`` [%] of delivered (NaN for an idle feeder), ``steps`` and ``steps_not_converged`` [-].
    """
    dt_h = step_hours(ds.time.values)
    elements = element_losses(ds, net)
    losses = elements.groupby("feeder").energy_mwh.sum()
    delivered = feeder_head_p_mw(ds, net).sum(skipna=True) * dt_h
    names = sorted(set(losses.index) | set(delivered.index),
                   key=lambda s: (s == SUBSTATION, len(s), s))
    out = pd.DataFrame(index=pd.Index(names, name="feeder"))
    out["losses_mwh"] = losses.reindex(out.index).fillna(0.0)
    out["delivered_mwh"] = delivered.reindex(out.index)
    if SUBSTATION in out.index:
        out.loc[SUBSTATION, "delivered_mwh"] = (delivered.sum()
                                                + out.loc[SUBSTATION, "losses_mwh"])
    with np.errstate(all="ignore"):
        out["losses_percent"] = np.where(out.delivered_mwh > MIN_DELIVERED_MWH,
                                         100.0 * out.losses_mwh / out.delivered_mwh, np.nan)
    ok = ds.converged.values.astype(bool)
    out["steps"] = int(ok.sum())
    out["steps_not_converged"] = int((~ok).sum())
    return out


def total_losses_mwh(ds: xr.Dataset) -> float:
    """All technical losses of the result (lines and transformers) [MWh]."""
    dt_h = step_hours(ds.time.values)
    return float((ds.line_pl_mw.sum() + ds.trafo_pl_mw.sum()).item() * dt_h)


# ------------------------------------------------------------------ non-technical losses

@dataclass(frozen=True)
class FeederMeasurements:
    """Measured quantities of a period, on one UTC time axis (15-min steps).

    Attributes
    ----------
    head_p_mw : DataFrame
        time × feeder: SCADA ``ELEC.<feeder>.P`` [MW], NaN where missing.
    metered_kwh : DataFrame
        time × load: the sum of the load's usable customer meters [kWh per interval].
    estimated_kwh : DataFrame
        time × load: estimates for meters that could not be used [kWh per interval].
    metered_loads : Index
        Loads with at least one customer meter (used or estimated).
    pump_p_mw : DataFrame
        time × load: measured power of pump loads [MW] (may have no columns); steps without
        a measurement count as 0 and are counted in ``pump_missing_steps``.
    pump_missing_steps : Series
        Steps without a pump power measurement, per pump load.
    """

    head_p_mw: pd.DataFrame
    metered_kwh: pd.DataFrame
    estimated_kwh: pd.DataFrame
    metered_loads: pd.Index
    pump_p_mw: pd.DataFrame
    pump_missing_steps: pd.Series | None = None


def read_feeder_heads(store, feeders, start, end) -> pd.DataFrame:
    """Head-of-feeder active power [MW] from the store's ``scada`` kind (time × feeder).

    The series is the feeder's ``active_power`` tag in the tag map the SCADA was ingested
    with (the sample historian's ``ELEC.<feeder>.P`` without one), the mean over the 15 min
    starting at its timestamp. Times are UTC (naive); intervals the store does not hold are
    NaN.
    """
    from twin.ingest.tag_map import element_tags

    tags = {t: f for f, t in element_tags(store.scada_tags(), "active_power", feeders).items()}
    df = store.read("scada", series=list(tags), start=start, end=end)
    if not len(df):
        raise LossesError(f"the store holds no head-of-feeder power (scada tags "
                          f"{sorted(tags)[:3]}…) from {start} to {end}; ingest the SCADA "
                          "historian export first")
    df = df.assign(feeder=df.series_id.astype(str).map(tags),
                   time=df.time_utc.dt.tz_convert("UTC").dt.tz_localize(None))
    return df.pivot_table(index="time", columns="feeder", values="value", aggfunc="mean")


def read_pump_power(store, net: pp.pandapowerNet, start, end) -> pd.DataFrame:
    """Measured power of the pump loads [MW] (time × load), from each pump's SCADA
    ``pump_power`` [kW] (the tag map's tag, the sample historian's ``WATER.PUMP-<pump>.POWER``
    without one), each value held for up to an hour.

    Pump loads are the loads named ``pump <pump>`` (:func:`twin.coupling.add_pump_loads`).
    """
    from twin.coupling import pump_loads
    from twin.ingest.tag_map import element_tags

    loads = pump_loads(net)
    if not len(loads):
        return pd.DataFrame()
    of_pump = element_tags(store.scada_tags(), "pump_power", loads.index)
    tags = {of_pump[str(p)]: load for p, load in loads.items()}
    df = store.read("scada", series=list(tags), start=start, end=end)
    if not len(df):
        return pd.DataFrame(columns=loads.to_numpy())
    df = df.assign(load=df.series_id.astype(str).map(tags),
                   time=df.time_utc.dt.tz_convert("UTC").dt.tz_localize(None))
    kw = df.pivot_table(index="time", columns="load", values="value", aggfunc="mean")
    return kw / 1000.0


def _on_steps(df: pd.DataFrame, times: pd.DatetimeIndex, hold: str | None = None):
    if hold:
        return df.reindex(df.index.union(times)).ffill(limit=int(pd.Timedelta(hold) /
                                                                  pd.Timedelta("15min")) - 1
                                                       ).reindex(times)
    return df.reindex(times)


def allocate_loads(net: pp.pandapowerNet, profiles: dict, head_p_mw: pd.DataFrame,
                   pump_p_mw: pd.DataFrame, losses_mw: pd.DataFrame) -> tuple[dict, pd.Series]:
    """Scale each feeder's load profiles so that its net load plus losses meets the head.

    ``k_f(t) = (P_head,f(t) - pumps_f(t) + generation_f(t) - losses_f(t)) / Σ loads_f(t)``
    multiplies the feeder's load P and Q (power factors kept). Where the head is missing
    the profiles stay as they are; scales beyond :data:`ALLOCATION_SCALE_BOUNDS` are clipped.

    Returns
    -------
    (dict, Series)
        Profiles for QSTS (``load_p_mw``, ``load_q_mvar``, ``sgen_p_mw``, pump loads
        included) and the number of clipped steps per feeder.
    """
    times = head_p_mw.index
    lp = profiles["load_p_mw"].loc[_utc(times)].set_axis(times)
    lq = profiles["load_q_mvar"].loc[_utc(times)].set_axis(times)
    sg = profiles["sgen_p_mw"].loc[_utc(times)].set_axis(times)
    load_feeder = net.bus.feeder.loc[net.load.loc[lp.columns, "bus"]].to_numpy(dtype=object)
    sgen_feeder = net.bus.feeder.loc[net.sgen.loc[sg.columns, "bus"]].to_numpy(dtype=object)
    pump_feeder = (net.bus.feeder.loc[net.load.loc[pump_p_mw.columns, "bus"]].to_numpy(
        dtype=object) if len(pump_p_mw.columns) else np.array([], dtype=object))
    scale = pd.DataFrame(1.0, index=times, columns=lp.columns)
    clipped = {}
    lo, hi = ALLOCATION_SCALE_BOUNDS
    for f in head_p_mw.columns:
        cols = lp.columns[load_feeder == f]
        if not len(cols):
            continue
        load = lp[cols].sum(axis=1).to_numpy()
        gen = sg.loc[:, sg.columns[sgen_feeder == f]].sum(axis=1).to_numpy()
        pump = pump_p_mw.loc[:, pump_p_mw.columns[pump_feeder == f]].sum(axis=1).to_numpy()
        loss = losses_mw[f].to_numpy() if f in losses_mw else 0.0
        need = head_p_mw[f].to_numpy() - pump + gen - loss
        with np.errstate(divide="ignore", invalid="ignore"):
            k = need / load
        k = np.where(np.isfinite(k), k, 1.0)
        clipped[f] = int(((k < lo) | (k > hi)).sum())
        scale.loc[:, cols] = np.repeat(np.clip(k, lo, hi)[:, None], len(cols), axis=1)
    out_p = lp * scale
    out_q = lq * scale
    if len(pump_p_mw.columns):
        from twin.coupling import pump_q_mvar

        out_p[pump_p_mw.columns] = pump_p_mw.to_numpy()
        out_q[pump_p_mw.columns] = pump_q_mvar(pump_p_mw.to_numpy())
    idx = _utc(times)
    return ({"load_p_mw": out_p.set_axis(idx), "load_q_mvar": out_q.set_axis(idx),
             "sgen_p_mw": sg.set_axis(idx)}, pd.Series(clipped, name="clipped_steps"))


def _utc(times) -> pd.DatetimeIndex:
    t = pd.DatetimeIndex(times)
    return t.tz_localize("UTC") if t.tz is None else t.tz_convert("UTC")


def feeder_line_losses_mw(ds: xr.Dataset, net: pp.pandapowerNet) -> pd.DataFrame:
    """Line losses of each feeder per step [MW] (time × feeder)."""
    feeder = line_feeders(net).reindex(ds.line.values)
    pl = pd.DataFrame(ds.line_pl_mw.values, index=pd.DatetimeIndex(ds.time.values),
                      columns=feeder.to_numpy())
    return pl.T.groupby(level=0).sum(min_count=1).T


def qsts_on_measurements(net: pp.pandapowerNet, profiles: dict, head_p_mw: pd.DataFrame,
                         pump_p_mw: pd.DataFrame, progress: Callable | None = None):
    """QSTS with loads allocated from the head-of-feeder measurements (two passes).

    Only the line results the balance needs are kept (:data:`BALANCE_VARIABLES`): a year of
    every variable of both passes would take ~0.6 GB.

    Returns
    -------
    (Dataset, Series)
        The second pass's QSTS result (:data:`BALANCE_VARIABLES` and ``converged``) and the
        clipped allocation steps per feeder.
    """
    from twin.electric.qsts import run_qsts

    heads = head_p_mw.copy()
    first, _ = allocate_loads(net, profiles, heads.iloc[:, :0], pump_p_mw, pd.DataFrame())
    ds0 = run_qsts(net, first, progress=progress, variables=BALANCE_VARIABLES)
    del first
    losses0 = feeder_line_losses_mw(ds0, net)
    filled = heads.fillna(feeder_head_p_mw(ds0, net).reindex(columns=heads.columns))
    del ds0
    second, clipped = allocate_loads(net, profiles, filled, pump_p_mw, losses0)
    ds = run_qsts(net, second, progress=progress, variables=BALANCE_VARIABLES)
    return ds, clipped


def feeder_balance(ds: xr.Dataset, net: pp.pandapowerNet, profiles: dict,
                   meas: FeederMeasurements, clipped: pd.Series | None = None) -> pd.DataFrame:
    """The energy balance of each feeder and its non-technical losses over the period.

    Every term is summed over the steps where the feeder's head measurement exists.

    Returns
    -------
    DataFrame
        Indexed by feeder: ``head_mwh`` (SCADA), ``metered_mwh`` (usable customer meters),
        ``estimated_mwh`` (meters replaced by peer estimates), ``unmetered_mwh`` (loads
        without any meter, from their profiles), ``pumps_mwh`` (measured), ``generation_mwh``
        (profiles), ``technical_losses_mwh`` (QSTS), ``ntl_mwh`` and ``ntl_percent`` [%] of
        the head energy, ``head_steps`` and ``head_missing_steps`` [-],
        ``allocation_clipped_steps`` and ``pump_missing_steps`` [-]; all energies [MWh].
    """
    times = meas.head_p_mw.index
    dt_h = 0.25
    have = meas.head_p_mw.notna()
    load_feeder = pd.Series(net.bus.feeder.loc[net.load.bus].to_numpy(dtype=object),
                            index=net.load.index)
    lp = profiles["load_p_mw"].loc[_utc(times)].set_axis(times)
    sg = profiles["sgen_p_mw"].loc[_utc(times)].set_axis(times)
    pumps = set(meas.pump_p_mw.columns)
    unmetered = [c for c in lp.columns if c not in set(meas.metered_loads) and c not in pumps]
    losses = feeder_line_losses_mw(ds, net).set_axis(times)
    rows = {}
    for f in meas.head_p_mw.columns:
        m = have[f].to_numpy()

        def mwh(df, cols, mask=m):
            cols = [c for c in cols if c in df.columns]
            return float(np.nansum(df.loc[mask, cols].to_numpy())) if cols else 0.0

        loads_f = load_feeder.index[load_feeder == f]
        sg_f = net.sgen.index[net.bus.feeder.loc[net.sgen.bus].to_numpy() == f]
        head = float(np.nansum(meas.head_p_mw[f].to_numpy()[m])) * dt_h
        metered = mwh(meas.metered_kwh, loads_f) / 1000.0
        estimated = mwh(meas.estimated_kwh, loads_f) / 1000.0
        unmet = mwh(lp, [c for c in unmetered if c in set(loads_f)]) * dt_h
        pump = mwh(meas.pump_p_mw, loads_f) * dt_h
        gen = mwh(sg, sg_f) * dt_h
        tl = (float(np.nansum(losses[f].to_numpy()[m])) * dt_h if f in losses else 0.0)
        ntl = head - metered - estimated - unmet - pump + gen - tl
        rows[f] = {"head_mwh": head, "metered_mwh": metered, "estimated_mwh": estimated,
                   "unmetered_mwh": unmet, "pumps_mwh": pump, "generation_mwh": gen,
                   "technical_losses_mwh": tl, "ntl_mwh": ntl,
                   "ntl_percent": 100.0 * ntl / head if head > 0 else np.nan,
                   "head_steps": int(m.sum()), "head_missing_steps": int((~m).sum()),
                   "allocation_clipped_steps": int(clipped.get(f, 0)) if clipped is not None
                   else 0,
                   "pump_missing_steps": int(meas.pump_missing_steps.reindex(loads_f).fillna(
                       0).sum()) if meas.pump_missing_steps is not None else 0}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "feeder"
    return out.sort_index(key=lambda s: s.str[1:].astype(int))


def non_technical_losses(city, store, profiles: dict, start, end,
                         progress: Callable | None = None):
    """Feeder energy balances and the meters' anomaly scores over a period.

    Parameters
    ----------
    city : City
        The city (its ``net`` and ``customers``).
    store : MeasurementStore
        Holds ``scada`` (head-of-feeder power, pump power) and ``electric_interval``.
    profiles : dict
        The city's profiles (:func:`twin.scenario.profiles_of`).
    start, end : time-like
        UTC bounds of the period, ``start <= t < end``.
    progress : callable, optional
        ``progress(done, total)`` of the two QSTS passes.

    Returns
    -------
    NtlResult
        ``balance`` (per feeder, see :func:`feeder_balance`), ``scores`` (per meter, see
        :func:`twin.electric.meter_anomaly.score_meters`), ``qsts`` (the QSTS of the
        balance) and ``meters`` (the meter readings used).
    """
    from twin.electric import meter_anomaly

    net = city.net
    feeders = sorted(f for f in net.bus.feeder.unique() if f.startswith("F"))
    heads = read_feeder_heads(store, feeders, start, end)
    index = profiles["load_p_mw"].index
    t0, t1 = _utc([pd.Timestamp(start)])[0], _utc([pd.Timestamp(end)])[0]
    times = index[(index >= t0) & (index < t1)].tz_convert("UTC").tz_localize(None)
    if not len(times):
        raise LossesError(f"the profiles hold no step from {start} to {end}")
    heads = heads.reindex(index=times, columns=feeders)
    pumps = _on_steps(read_pump_power(store, net, start, end), times, hold="1h")
    meters = meter_anomaly.read_meters(store, city.customers, times)
    scores = meter_anomaly.score_meters(meters, net, profiles)
    metered, estimated = meter_anomaly.load_energy(meters, scores)
    meas = FeederMeasurements(heads, metered, estimated, pd.Index(meters.meter_load.unique()),
                              pumps.fillna(0.0), pumps.isna().sum())
    ds, clipped = qsts_on_measurements(net, profiles, heads, meas.pump_p_mw, progress)
    balance = feeder_balance(ds, net, profiles, meas, clipped)
    return NtlResult(balance, scores, ds, meters)


@dataclass(frozen=True)
class NtlResult:
    """What :func:`non_technical_losses` found."""

    balance: pd.DataFrame
    scores: pd.DataFrame
    qsts: xr.Dataset
    meters: object
