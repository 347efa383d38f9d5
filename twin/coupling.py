"""Where water meets electricity: pumps draw power from electric buses.

This module is the only place that knows both networks.
"""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pandas as pd
import wntr

from twin.findings import Finding

#: Density of water [kg/m³].
WATER_DENSITY_KG_M3 = 1000.0
#: Standard gravity [m/s²].
GRAVITY_M_S2 = 9.80665
#: ``net.load.profile`` of the loads that stand for pumps.
PUMP_LOAD_PROFILE = "pump"
#: Power factor of pump motors [-].
PUMP_POWER_FACTOR = 0.9


def pump_power_kw(flow_m3s, head_m, efficiency):
    """Electrical power drawn by a pump, P = ρ·g·Q·H/η.

    Parameters
    ----------
    flow_m3s : float or array
        Pumped flow [m³/s]; negative or missing flow counts as zero.
    head_m : float or array
        Head added by the pump [m]; negative head counts as zero.
    efficiency : float or array
        Wire-to-water efficiency [-], in (0, 1].

    Returns
    -------
    float or array
        Power [kW].
    """
    q = np.clip(np.nan_to_num(flow_m3s), 0, None)
    h = np.clip(np.nan_to_num(head_m), 0, None)
    return WATER_DENSITY_KG_M3 * GRAVITY_M_S2 * q * h / np.asarray(efficiency) / 1000.0


def pump_design_point(pump: wntr.network.elements.HeadPump) -> tuple[float, float]:
    """Return a head pump's design point (flow [m³/s], head [m]).

    EPANET's one- and three-point curves carry the design point as their single or middle
    point; for longer curves the middle point is taken.
    """
    points = pump.get_pump_curve().points
    flow, head = points[len(points) // 2] if len(points) > 1 else points[0]
    return float(flow), float(head)


def pump_efficiency(wn: wntr.network.WaterNetworkModel, pump) -> float:
    """Return a pump's efficiency [-] at its design point, or the network's global efficiency."""
    curve = getattr(pump, "efficiency", None)
    if curve is not None and len(curve.points):
        flow, _ = pump_design_point(pump)
        xs, ys = zip(*curve.points, strict=True)
        return float(np.interp(flow, xs, ys)) / 100.0
    return float(wn.options.energy.global_efficiency or 75.0) / 100.0


def assign_pumps(
    wn: wntr.network.WaterNetworkModel,
    net: pp.pandapowerNet,
    bus_xy: pd.DataFrame,
    node_xy: pd.DataFrame,
    max_kv: float = 35.0,
) -> pd.DataFrame:
    """Connect every pump to the nearest medium-voltage busbar or node by map distance.

    Parameters
    ----------
    bus_xy, node_xy : DataFrame
        Coordinates ``x_m``, ``y_m`` [m] of buses and water nodes in the city frame.
    max_kv : float
        Only buses at or below this nominal voltage [kV] can feed a pump.

    Returns
    -------
    DataFrame
        One row per pump: ``pump``, ``bus``, ``distance_m``, ``design_flow_m3s``,
        ``design_head_m``, ``efficiency`` and ``rated_kw``.
    """
    candidates = net.bus[(net.bus.vn_kv <= max_kv) & (net.bus.type == "b") & net.bus.in_service]
    cxy = bus_xy.loc[candidates.index].to_numpy()
    rows = []
    for name, pump in wn.pumps():
        site = node_xy.loc[pump.end_node_name].to_numpy()
        dist = np.hypot(*(cxy - site).T)
        k = int(np.argmin(dist))
        flow, head = pump_design_point(pump)
        eta = pump_efficiency(wn, pump)
        rows.append(
            (name, int(candidates.index[k]), float(dist[k]), flow, head, eta,
             float(pump_power_kw(flow, head, eta)))
        )
    return pd.DataFrame(
        rows,
        columns=["pump", "bus", "distance_m", "design_flow_m3s", "design_head_m", "efficiency",
                 "rated_kw"],
    )


def pump_q_mvar(p_mw):
    """Reactive power of a pump motor at :data:`PUMP_POWER_FACTOR` [Mvar] for ``p_mw`` [MW]."""
    return np.asarray(p_mw) * np.tan(np.arccos(PUMP_POWER_FACTOR))


def add_pump_loads(net: pp.pandapowerNet, pumps: pd.DataFrame) -> pd.Series:
    """Add one load per pump at its bus, at rated power, in place.

    Returns
    -------
    Series
        The new load index per pump name.
    """
    index = {}
    for row in pumps.itertuples():
        p_mw = row.rated_kw / 1000.0
        index[row.pump] = pp.create_load(
            net, bus=row.bus, p_mw=p_mw, q_mvar=float(pump_q_mvar(p_mw)), name=f"pump {row.pump}",
            type="pump",
        )
        net.load.loc[index[row.pump], "profile"] = PUMP_LOAD_PROFILE
    return pd.Series(index, name="load")


def set_pump_power(net: pp.pandapowerNet, power_kw: pd.Series) -> None:
    """Set the pumps' loads to their electrical power [kW], indexed by pump name, in place."""
    loads = pump_loads(net).loc[power_kw.index]
    p_mw = power_kw.to_numpy() / 1000.0
    net.load.loc[loads.to_numpy(), "p_mw"] = p_mw
    net.load.loc[loads.to_numpy(), "q_mvar"] = pump_q_mvar(p_mw)


def pump_loads(net: pp.pandapowerNet) -> pd.Series:
    """Return the load index of every pump, by pump name."""
    pumps = net.load[net.load.profile == PUMP_LOAD_PROFILE]
    return pd.Series(pumps.index, index=pumps["name"].str.removeprefix("pump "), name="load")


# ----------------------------------------------------------------------- coupling over time

def pump_power_series_kw(
    wn: wntr.network.WaterNetworkModel, ds, pumps: pd.DataFrame
) -> pd.DataFrame:
    """Electrical power of every pump at every step of an EPS [kW] (time × pump).

    P = ρ·g·Q·H/η with Q the pump's flow [m³/s] and H the head it adds (head at its end node
    minus head at its start node) [m], from a :func:`twin.water.hydraulics.results_dataset`;
    η is the pump's ``efficiency`` in ``pumps`` (``city.pumps``). A stopped pump draws 0.
    """
    out = {}
    for row in pumps.itertuples():
        link = wn.get_link(str(row.pump))
        head = (ds["head_m"].sel(node=link.end_node_name)
                - ds["head_m"].sel(node=link.start_node_name)).to_numpy()
        flow = ds["flow_m3s"].sel(link=str(row.pump)).to_numpy()
        out[str(row.pump)] = pump_power_kw(flow, head, row.efficiency)
    return pd.DataFrame(out, index=pd.Index(ds["time"].to_numpy(), name="time"))


def pump_load_profiles(net: pp.pandapowerNet, power_kw: pd.DataFrame) -> dict:
    """Pump power over time as QSTS profiles of the pumps' loads.

    Parameters
    ----------
    net : pandapowerNet
        A net with pump loads (:func:`add_pump_loads`, as ``city.net`` has).
    power_kw : DataFrame
        time × pump name, electrical power [kW] (:func:`pump_power_series_kw`), indexed by the
        times the QSTS should solve.

    Returns
    -------
    dict
        ``load_p_mw`` [MW] and ``load_q_mvar`` [Mvar] (at :data:`PUMP_POWER_FACTOR`), time ×
        load index, for :func:`twin.electric.qsts.run_qsts`.
    """
    loads = pump_loads(net)
    missing = sorted(set(power_kw.columns) - set(loads.index))
    if missing:
        raise ValueError(f"pumps {missing} have no load in the electric net; "
                         "add them with twin.coupling.add_pump_loads")
    p_mw = power_kw / 1000.0
    p_mw.columns = loads.loc[power_kw.columns].to_numpy()
    q_mvar = pd.DataFrame(pump_q_mvar(p_mw.to_numpy()), index=p_mw.index, columns=p_mw.columns)
    return {"load_p_mw": p_mw, "load_q_mvar": q_mvar}


def pumps_fed_by(net: pp.pandapowerNet, pumps: pd.DataFrame, feeders=(), buses=()) -> list[str]:
    """Pumps whose bus lies on one of ``feeders`` (``net.bus.feeder``) or is one of ``buses``.

    Raises
    ------
    ValueError
        For a feeder or bus the net does not have.
    """
    known = set(net.bus.feeder.astype(str))
    bad = sorted(set(map(str, feeders)) - known)
    if bad:
        raise ValueError(f"no feeder {bad} in the electric net; feeders are "
                         f"{sorted(f for f in known if f.startswith('F'))}")
    bad = sorted(set(map(int, buses)) - set(net.bus.index))
    if bad:
        raise ValueError(f"no bus {bad} in the electric net")
    out = set(map(int, buses)) | set(net.bus.index[net.bus.feeder.astype(str).isin(
        list(map(str, feeders)))])
    return [str(p.pump) for p in pumps.itertuples() if int(p.bus) in out]


def network_starting_at(wn: wntr.network.WaterNetworkModel, offset_s: int):
    """Copy of ``wn`` whose clock and demand patterns start ``offset_s`` [s] later.

    Every pattern is turned by whole pattern steps and the start clock time moved on, so
    that a run of the copy from 0 continues the original run at ``offset_s``.
    """
    import copy

    wn = copy.deepcopy(wn)
    step = int(wn.options.time.pattern_timestep)
    for name in wn.pattern_name_list:
        pat = wn.get_pattern(name)
        mult = list(pat.multipliers)
        k = (offset_s // step) % len(mult) if mult else 0
        pat.multipliers = mult[k:] + mult[:k]
    wn.options.time.start_clocktime = (int(wn.options.time.start_clocktime) + offset_s) % 86400
    return wn


def hot_start(wn, ds, pumps_status: dict) -> None:
    """Start ``wn`` (in place) where a run ended (a hot start): tank levels and pump statuses.

    Parameters
    ----------
    ds : Dataset
        The previous run (:func:`twin.water.hydraulics.results_dataset`); each tank starts
        at its last level [m], kept within the tank's limits.
    pumps_status : dict
        Pump name -> True (open) or False (closed) at the start.
    """
    from wntr.network.base import LinkStatus

    for tank in wn.tank_name_list:
        t = wn.get_node(tank)
        t.init_level = float(np.clip(ds["pressure_m"].sel(node=tank).to_numpy()[-1],
                                     t.min_level, t.max_level))
    for name, on in pumps_status.items():
        wn.get_link(name).initial_status = LinkStatus.Open if on else LinkStatus.Closed


def pump_outage_hydraulics(
    wn: wntr.network.WaterNetworkModel,
    pumps_out: list[str],
    start_h: int,
    hours: int,
    duration_h: int,
    step_s: int = 3600,
):
    """EPS with some pumps stopped over a window, as when their electric supply is lost.

    The run is cut in three: before the window (the model as it is), the window (the pumps
    closed and their controls removed) and after (the model again). Each part starts from
    the tank levels where the previous one ended, its clock and demand patterns continuing;
    pumps restart after the window in the state the model's own controls give them then.

    Parameters
    ----------
    pumps_out : list of str
        Pumps without supply.
    start_h, hours : int
        Window start after the model's start [h] and its length [h].
    duration_h : int
        Length of the whole run [h].

    Returns
    -------
    base, outage : Dataset
        :func:`twin.water.hydraulics.results_dataset` of the run without and with the outage,
        ``time`` in seconds from the start.
    """
    import xarray as xr

    from twin.water.hydraulics import results_dataset, run_epanet

    bad = sorted(set(pumps_out) - set(wn.pump_name_list))
    if bad:
        raise ValueError(f"no pump {bad} in the water network")
    if not (0 <= start_h and start_h + hours <= duration_h and hours > 0):
        raise ValueError(f"the outage window {start_h} h + {hours} h must lie inside the "
                         f"{duration_h} h run and last at least 1 h")
    base = results_dataset(run_epanet(wn, duration_h * 3600, step_s))
    parts = []
    cuts = [(0, start_h, False), (start_h, start_h + hours, True),
            (start_h + hours, duration_h, False)]
    prev = None
    for a, b, down in cuts:
        if b <= a:
            continue
        seg = network_starting_at(wn, a * 3600)
        if prev is not None:
            status = {}
            for p in seg.pump_name_list:
                status[p] = bool(base["status"].sel(link=p).sel(time=a * 3600).item())
            hot_start(seg, prev, status)
        if down:
            for name, control in list(seg.controls()):
                if any(act.target()[0].name in pumps_out for act in control.actions()):
                    seg.remove_control(name)
            from wntr.network.base import LinkStatus

            for p in pumps_out:
                seg.get_link(p).initial_status = LinkStatus.Closed
        last = b == duration_h
        prev = results_dataset(run_epanet(seg, (b - a) * 3600, step_s))
        keep = prev.time.values <= (b - a) * 3600 if last else prev.time.values < (b - a) * 3600
        ds = prev.isel(time=np.flatnonzero(keep))
        parts.append(ds.assign_coords(time=ds.time.values + a * 3600))
    outage = xr.concat(parts, dim="time")
    outage["time"].attrs["units"] = "s"
    return base, outage


def pressure_loss_by_dma(
    base, outage, dmas: pd.Series, junctions: list[str], min_pressure_m: float,
    step_s: int = 3600,
) -> pd.DataFrame:
    """Which DMAs lose service pressure in an outage run, and for how long.

    A junction-step counts when the outage run's pressure is below ``min_pressure_m`` [m]
    and the base run's is not.

    Returns
    -------
    DataFrame
        One row per DMA: ``junctions`` (count), ``junctions_low`` (ever below because of the
        outage), ``hours_low`` [h] (steps with any such junction × step), ``first_low_h``,
        ``last_low_h`` [h from the start] and ``min_pressure_m`` [m] in the outage run, and
        ``base_min_pressure_m`` [m]; ``junctions_low_in_base`` (below the limit in the base
        run already at some step: low, but not because of the outage) and
        ``junctions_negative`` (below 0 m in the outage run at some step: water cannot
        reach them, a demand-driven run shows it as negative pressure). So a DMA's minimum
        below the limit always comes with a low junction, of one kind or the other
        (:func:`outage_pressure_findings`).
    """
    p_out = outage["pressure_m"].sel(node=junctions).to_pandas()
    p_base = base["pressure_m"].sel(node=junctions).to_pandas().reindex(p_out.index)
    low = (p_out < min_pressure_m) & ~(p_base < min_pressure_m)
    rows = []
    zone = dmas.reindex(junctions)
    for dma in sorted(z for z in zone.unique() if str(z).startswith("DMA")):
        cols = zone.index[zone == dma]
        any_low = low[cols].any(axis=1)
        hours = np.asarray(p_out.index, dtype=float)[any_low.to_numpy()] / 3600
        rows.append({
            "dma": dma, "junctions": len(cols), "junctions_low": int(low[cols].any().sum()),
            "hours_low": float(any_low.sum() * step_s / 3600),
            "first_low_h": float(hours.min()) if len(hours) else np.nan,
            "last_low_h": float(hours.max()) if len(hours) else np.nan,
            "min_pressure_m": float(p_out[cols].min().min()),
            "base_min_pressure_m": float(p_base[cols].min().min()),
            "junctions_low_in_base": int((p_base[cols] < min_pressure_m).any().sum()),
            "junctions_negative": int((p_out[cols] < 0).any().sum()),
            "worst_junction": str(p_out[cols].min().idxmin()),
        })
    out = pd.DataFrame(rows)
    out.attrs["min_pressure_m"] = min_pressure_m
    return out


def outage_pressure_findings(by_dma: pd.DataFrame, min_pressure_m: float) -> list[Finding]:
    """Consistency check of an outage table: a DMA whose minimum pressure is below the
    service limit while no junction is counted low because of the outage.

    That happens when the junctions below the limit are low in the base run too (an
    outage cannot take service away that was not there), or they are below 0 m, which in a
    demand-driven run means water does not reach them (disconnected or emptied: a
    pressure-driven run serves them less). Each such DMA is named with what its minimum is.

    Returns
    -------
    list of Finding
        ``low_without_outage`` per DMA.
    """
    out = []
    for r in by_dma.itertuples():
        if not (r.min_pressure_m < min_pressure_m and r.junctions_low == 0):
            continue
        what = [f"{r.junctions_low_in_base} junction(s) are below {min_pressure_m:g} m in "
                "the run without the outage too (not counted as lost to it)"]
        if r.junctions_negative:
            what.append(f"{r.junctions_negative} below 0 m: water does not reach them "
                        "(disconnected or emptied; a pressure-driven run serves them less)")
        out.append(Finding(
            "low_without_outage", str(r.dma),
            f"minimum {r.min_pressure_m:.1f} m at {r.worst_junction} (base "
            f"{r.base_min_pressure_m:.1f} m) beside 0 junctions low because of the outage: "
            + "; ".join(what)))
    return out
