"""District metered areas (DMAs): zones of the water network bounded by flow meters."""

from __future__ import annotations

import networkx as nx
import pandas as pd
import wntr

#: Zone given to reservoirs: water enters the city there, outside every DMA.
SOURCE_ZONE = "source"


def partition_dmas(
    wn: wntr.network.WaterNetworkModel, count: int, seed: int
) -> pd.Series:
    """Split the network into ``count`` connected DMAs with few boundary links.

    Louvain communities of the pipe graph are merged, smallest first, into the neighbour
    they share most links with, until ``count`` remain; DMAs are then numbered ``DMA-1``…
    by decreasing size. Reservoirs form the zone ``"source"``.

    Parameters
    ----------
    wn : WaterNetworkModel
    count : int
        Number of DMAs wanted.
    seed : int
        Seed of the community detection, so the split is reproducible.

    Returns
    -------
    Series
        Zone name per node name (index ``node``).
    """
    graph = nx.Graph()
    inner = [n for n in wn.node_name_list if n not in wn.reservoir_name_list]
    graph.add_nodes_from(inner)
    for _, link in wn.links():
        a, b = link.start_node_name, link.end_node_name
        if a in graph and b in graph:
            graph.add_edge(a, b)
    groups = [set(c) for c in nx.community.louvain_communities(graph, seed=seed, resolution=1.0)]
    if len(groups) < count:
        raise ValueError(f"the network splits into only {len(groups)} zones, fewer than {count}")
    while len(groups) > count:
        groups.sort(key=len)
        smallest = groups.pop(0)
        shared = [
            sum(1 for u in smallest for v in graph.neighbors(u) if v in g) for g in groups
        ]
        groups[max(range(len(groups)), key=shared.__getitem__)] |= smallest
    groups.sort(key=lambda g: (-len(g), min(g)))
    zone = {n: f"DMA-{i + 1}" for i, g in enumerate(groups) for n in g}
    zone.update({r: SOURCE_ZONE for r in wn.reservoir_name_list})
    return pd.Series(zone, name="dma").rename_axis("node").loc[wn.node_name_list]


def boundary_meters(wn: wntr.network.WaterNetworkModel, zones: pd.Series) -> pd.DataFrame:
    """List the links that cross a zone boundary; each carries a flow meter.

    Returns
    -------
    DataFrame
        One row per meter: ``meter_id``, ``link``, ``link_type``, ``from_zone`` (zone of the
        link's start node) and ``to_zone``. A positive link flow [m³/s] runs from
        ``from_zone`` into ``to_zone``.
    """
    rows = []
    for name, link in wn.links():
        a, b = zones[link.start_node_name], zones[link.end_node_name]
        if a != b:
            rows.append((name, link.link_type, a, b))
    df = pd.DataFrame(rows, columns=["link", "link_type", "from_zone", "to_zone"])
    df.insert(0, "meter_id", [f"FM-{i + 1:02d}" for i in range(len(df))])
    return df


#: Link types that hold a downstream pressure zone apart (pressure reducing, sustaining,
#: breaker valves).
PRESSURE_VALVES = ("PRV", "PSV", "PBV")


def dma_names(zones: pd.Series) -> list[str]:
    """The DMAs of a zoning, sorted (the ``source`` zone is not a DMA)."""
    return sorted(z for z in set(zones) if z != SOURCE_ZONE)


def mains_length_km(wn: wntr.network.WaterNetworkModel, zones: pd.Series) -> pd.Series:
    """Length of mains per zone [km]: pipes inside it, plus half of each pipe on its boundary.

    Pipes to nodes outside ``zones`` (e.g. a leak's emitter pipe) are not mains and are left
    out.
    """
    km: dict[str, float] = {}
    for _, pipe in wn.pipes():
        a, b = zones.get(pipe.start_node_name), zones.get(pipe.end_node_name)
        if a is None or b is None:
            continue
        for z in {a, b}:
            km[z] = km.get(z, 0.0) + pipe.length / 1000.0 / (1 if a == b else 2)
    return pd.Series(km, name="mains_km").rename_axis("dma")


def water_customers(customers: pd.DataFrame) -> pd.DataFrame:
    """The customers with a water connection: those whose ``junction`` is not empty.

    A customer with no junction (an electricity-only account) is no service connection of
    the water network; water figures leave it out (and say how many they left out).
    """
    junction = customers["junction"].fillna("").astype(str).str.strip()
    return customers[junction != ""]


def connections(customers: pd.DataFrame, zones: pd.Series) -> pd.Series:
    """Service connections (customers) per zone [-], by each customer's junction.

    Customers without a junction (:func:`water_customers`) are left out; their number is in
    the result's ``attrs["customers_without_junction"]``.

    Raises
    ------
    KeyError
        A customer's junction is not a node of the zoning.
    """
    water = water_customers(customers)
    junction = water["junction"].astype(str)
    unknown = sorted(set(junction) - set(zones.index))
    if unknown:
        raise KeyError(f"customers at junctions not in the network: {unknown[:5]}; fix "
                       "customers.csv")
    out = junction.map(zones).value_counts().rename("connections").rename_axis("dma")
    out.attrs["customers_without_junction"] = len(customers) - len(water)
    return out


def average_zone_pressure(
    pressure_m: pd.DataFrame, zones: pd.Series, customers: pd.DataFrame
) -> pd.Series:
    """Average zone pressure per zone [m]: mean over time of the connection-weighted mean
    pressure of the zone's junctions (junctions without customers count once).

    This is the pressure P of the UARL formula (Lambert et al. 1999): the average
    pressure at the customers' connections while the system is pressurised.

    Parameters
    ----------
    pressure_m : DataFrame
        Times × node pressure [m] (e.g. ``simulate(...)["pressure_m"].to_pandas()``).
    """
    weight = customers["junction"].astype(str).value_counts()
    junctions = [n for n in pressure_m.columns if n in zones.index and zones[n] != SOURCE_ZONE
                 and not str(n).startswith("LEAK-")]
    w = weight.reindex(junctions).fillna(0).to_numpy() + 1e-9
    mean_p = pressure_m[junctions].mean().to_numpy()
    df = pd.DataFrame({"zone": zones[junctions].to_numpy(), "wp": w * mean_p, "w": w})
    g = df.groupby("zone")[["wp", "w"]].sum()
    return (g["wp"] / g["w"]).rename("pressure_m").rename_axis("dma")


def dma_table(
    wn: wntr.network.WaterNetworkModel,
    zones: pd.Series,
    customers: pd.DataFrame,
    meters: pd.DataFrame,
    pressure_m: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """What the water balance needs of each DMA.

    Returns
    -------
    DataFrame
        Index ``dma``; ``junctions`` (count), ``junction_names`` (comma separated),
        ``mains_km`` [km], ``connections`` [-], ``boundary_meters`` (ids), and
        ``pressure_m`` [m] (average zone pressure) when ``pressure_m`` is given.
    """
    names = dma_names(zones)
    junctions = {d: sorted(n for n in wn.junction_name_list if zones.get(n) == d) for d in names}
    out = pd.DataFrame(index=pd.Index(names, name="dma"))
    out["junctions"] = [len(junctions[d]) for d in names]
    out["junction_names"] = [",".join(junctions[d]) for d in names]
    out["mains_km"] = mains_length_km(wn, zones).reindex(names).fillna(0.0)
    out["connections"] = connections(customers, zones).reindex(names).fillna(0).astype(int)
    out["boundary_meters"] = [",".join(meters.meter_id[(meters.from_zone == d)
                                                      | (meters.to_zone == d)]) for d in names]
    if pressure_m is not None:
        out["pressure_m"] = average_zone_pressure(pressure_m, zones, customers).reindex(names)
    return out


def pressure_zones(wn: wntr.network.WaterNetworkModel) -> tuple[pd.Series, int]:
    """Pressure zones: parts of the network held apart by pressure-control valves.

    The pipe graph is cut at every PRV, PSV and PBV; each connected part is a zone
    (``PZ-1``… by decreasing size). A network without such valves (Net3 has none) is a
    single pressure zone per connected part.

    Returns
    -------
    (Series, int)
        Zone per node name; the number of pressure-control valves found.
    """
    graph = nx.Graph()
    graph.add_nodes_from(wn.node_name_list)
    valves = 0
    for _, link in wn.links():
        if link.link_type == "Valve" and link.valve_type in PRESSURE_VALVES:
            valves += 1
            continue
        graph.add_edge(link.start_node_name, link.end_node_name)
    parts = sorted(nx.connected_components(graph), key=lambda c: (-len(c), min(c)))
    zone = {n: f"PZ-{i + 1}" for i, part in enumerate(parts) for n in part}
    return pd.Series(zone, name="pressure_zone").rename_axis("node").loc[
        wn.node_name_list], valves


def net_inflow_l_s(flows_l_s: pd.DataFrame, meters: pd.DataFrame) -> pd.DataFrame:
    """Net inflow of each zone from its boundary meters' signed flows [L/s].

    A meter's flow is positive from its ``from_zone`` into its ``to_zone``: it adds to the
    ``to_zone`` and subtracts from the ``from_zone``.

    Parameters
    ----------
    flows_l_s : DataFrame
        Times × meter id, flow [L/s].
    meters : DataFrame
        ``meter_id``, ``from_zone``, ``to_zone`` (``city.dma_meters``).

    Returns
    -------
    DataFrame
        Times × zone (every zone named by a meter, ``source`` included) [L/s].
    """
    missing = sorted(set(meters.meter_id) - set(flows_l_s.columns))
    if missing:
        raise KeyError(f"no flow series for boundary meters {missing}")
    zones = sorted(set(meters.from_zone) | set(meters.to_zone))
    out = pd.DataFrame(0.0, index=flows_l_s.index, columns=zones)
    for m in meters.itertuples():
        q = flows_l_s[m.meter_id]
        out[m.to_zone] += q
        out[m.from_zone] -= q
    return out


def boundary_flow_tags(tag_rows: pd.DataFrame, meters: pd.DataFrame) -> dict[str, str]:
    """The SCADA series (tag) of each boundary meter's flow: meter id → tag.

    A utility's tag map may name the meter (``FM-07``) or the link it sits on; a store read
    without a tag map has the sample historian's tags (see
    :func:`twin.ingest.tag_map.element_tags`).

    Parameters
    ----------
    tag_rows : DataFrame
        ``tag``, ``element``, ``quantity``: the store's tag map rows (``store.scada_tags()``).
    meters : DataFrame
        ``meter_id``, ``link`` (``city.dma_meters``).
    """
    from twin.ingest.tag_map import element_tags

    named = set(tag_rows.loc[tag_rows["quantity"].astype(str) == "flow", "element"].astype(str))
    out = {}
    for m in meters.itertuples():
        element = str(m.link) if str(m.meter_id) not in named and str(m.link) in named else (
            str(m.meter_id))
        out[str(m.meter_id)] = element_tags(tag_rows, "flow", [element])[element]
    return out
