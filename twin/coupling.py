"""Where water meets electricity: pumps draw power from electric buses.

This module is the only place that knows both networks.
"""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pandas as pd
import wntr

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
