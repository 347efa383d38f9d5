"""The city's electric network: a SimBench grid made ready for the twin.

Functions here take and return pandapower nets and plain tables; nothing reads files
except :func:`simbench_grid`.
"""

from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pandapower as pp
import pandapower.topology as top
import pandas as pd

#: Tap changer type given to SimBench transformers, which ship with ``tap_changer_type=None``
#: so that pandapower 3 ignores their tap position (simbench issue 69).
TAP_CHANGER_TYPE = "Ratio"


def simbench_grid(code: str) -> pp.pandapowerNet:
    """Load a SimBench grid with its transformer taps honoured.

    Parameters
    ----------
    code : str
        SimBench code, for example ``"1-MV-urban--0-sw"``.

    Returns
    -------
    pandapowerNet
        The grid, profiles included in ``net.profiles``.
    """
    import simbench

    net = simbench.get_simbench_net(code)
    honour_taps(net)
    return net


def honour_taps(net: pp.pandapowerNet) -> None:
    """Give every transformer with a tap step a tap changer type, in place.

    pandapower 3 ignores ``tap_pos`` of a transformer whose ``tap_changer_type`` is empty,
    which puts SimBench voltages about 0.016 p.u. off.
    """
    for table in ("trafo", "trafo3w"):
        df = net[table]
        if df.empty or "tap_changer_type" not in df:
            continue
        has_taps = df["tap_step_percent"].fillna(0) != 0
        missing = df["tap_changer_type"].isna() | (df["tap_changer_type"].astype(str) == "None")
        df.loc[has_taps & missing, "tap_changer_type"] = TAP_CHANGER_TYPE


def bus_xy(net: pp.pandapowerNet) -> pd.DataFrame:
    """Return bus coordinates from ``net.bus.geo`` as columns ``x_m`` and ``y_m``.

    Returns
    -------
    DataFrame
        Indexed like ``net.bus``; coordinates in the city frame [m] (or in whatever
        frame the GeoJSON holds, for a grid not yet placed).
    """
    coords = net.bus["geo"].map(lambda s: json.loads(s)["coordinates"])
    xy = np.array(coords.tolist(), dtype=float)
    return pd.DataFrame({"x_m": xy[:, 0], "y_m": xy[:, 1]}, index=net.bus.index)


def lonlat_to_local_m(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project longitude/latitude [deg] to a local east/north frame [m] (equirectangular).

    Good to well under 1 % over a city of a few kilometres.
    """
    lat0 = np.deg2rad(np.mean(lat))
    x = (lon - np.mean(lon)) * 111_320.0 * np.cos(lat0)
    y = (lat - np.mean(lat)) * 110_540.0
    return x, y


def set_bus_xy(net: pp.pandapowerNet, xy: pd.DataFrame) -> None:
    """Write bus coordinates [m] into ``net.bus.geo`` as GeoJSON points and drop line geodata.

    Line geometry is drawn from its end buses, so stale line geodata would only mislead.
    """
    net.bus["geo"] = [
        json.dumps({"type": "Point", "coordinates": [round(x, 2), round(y, 2)]})
        for x, y in zip(xy["x_m"], xy["y_m"], strict=True)
    ]
    if "geo" in net.line:
        net.line["geo"] = None


def feeders(net: pp.pandapowerNet) -> pd.Series:
    """Name the feeder every bus is supplied through.

    A feeder starts at a line leaving a substation busbar (a bus on the low-voltage side of an
    HV/MV transformer, or coupled to one by closed bus-bus switches). Open switches are
    respected, so in a radially operated grid every bus belongs to one feeder.

    Returns
    -------
    Series
        Feeder name per bus (``"F<line index>"``); ``"substation"`` for buses of the
        substation itself and ``"unsupplied"`` for buses no feeder reaches.
    """
    graph = top.create_nxgraph(net, respect_switches=True, include_out_of_service=False)
    lv_buses = set(net.trafo.loc[net.trafo.in_service, "lv_bus"])
    hv_buses = set(net.trafo.loc[net.trafo.in_service, "hv_bus"]) | set(net.ext_grid.bus)
    line_edges = set()
    for u, v, key in graph.edges(keys=True):
        if key[0] == "line":
            line_edges.add((u, v, key))
    station_graph = graph.copy()
    station_graph.remove_edges_from(line_edges)
    station = set()
    for bus in lv_buses:
        station |= nx.node_connected_component(station_graph, bus)
    station -= hv_buses
    result = pd.Series("unsupplied", index=net.bus.index, dtype=object)
    result.loc[list(station | hv_buses)] = "substation"
    for u, v, key in sorted(line_edges, key=lambda e: e[2][1]):
        if (u in station) == (v in station):
            continue
        start = v if u in station else u
        name = f"F{key[1]}"
        reach = _reach_without(graph, start, station)
        result.loc[list(reach)] = name
    return result


def _reach_without(graph: nx.MultiGraph, start: int, blocked: set) -> set:
    """Return the buses reachable from ``start`` without entering ``blocked``."""
    seen = {start}
    stack = [start]
    while stack:
        node = stack.pop()
        for nb in graph.neighbors(node):
            if nb not in seen and nb not in blocked:
                seen.add(nb)
                stack.append(nb)
    return seen
