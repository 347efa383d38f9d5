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
