"""The water network of a city being imported (any EPANET ``.inp``, read by
:func:`twin.water.network.read_inp`) and its DMAs, derived from the boundary meters the utility
has: the connected parts of the network once the metered links are cut."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pandas as pd
import wntr

from twin import schemas
from twin.importers.report import CityImportError
from twin.water.dma import SOURCE_ZONE
from twin.water.network import NetworkFileError, demand_junctions, read_inp

#: Zone name prefix of a part of the network that no boundary meter bounds.
UNMETERED_ZONE = "unmetered"


def read_water(path: str | Path) -> wntr.network.WaterNetworkModel:
    """Read an EPANET network; a file it cannot read is one error naming the line."""
    path = Path(path)
    if not path.exists():
        raise CityImportError(f"{path}: no such EPANET file")
    try:
        return read_inp(path)
    except NetworkFileError as exc:
        raise CityImportError(str(exc)) from None


def read_boundary_meters(path: str | Path, wn: wntr.network.WaterNetworkModel) -> pd.DataFrame:
    """Read the boundary meter list (``meter_id``, ``link``, ``direction``) and check every
    link is in the network.

    Raises
    ------
    CityImportError
        Naming the file, line and column of a bad row or unknown link.
    """
    try:
        meters = schemas.read_table("boundary_meters", path)
    except schemas.TableError as exc:
        raise CityImportError(str(exc)) from None
    known = set(wn.link_name_list)
    bad = meters.index[~meters.link.isin(known)]
    if len(bad):
        i = bad[0]
        raise CityImportError(f"{path}, line {i + 2}, column link: no link "
                              f"{meters.at[i, 'link']!r} in the water network ({len(bad)} "
                              "such rows); name a pipe, pump or valve of the .inp")
    dup = meters.index[meters.link.duplicated()]
    if len(dup):
        i = dup[0]
        raise CityImportError(f"{path}, line {i + 2}, column link: link "
                              f"{meters.at[i, 'link']!r} has a meter already; one per link")
    return meters


def dma_zones(wn: wntr.network.WaterNetworkModel, meters: pd.DataFrame
              ) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame, list[str]]:
    """Derive DMAs from boundary meters: connected parts of the network once metered links
    are cut.

    A part with no demand junction that holds a reservoir is the ``source`` zone; a part
    that no meter bounds is ``unmetered-<k>``; every other part is ``DMA-<k>``, numbered by
    decreasing number of junctions.

    Parameters
    ----------
    wn : WaterNetworkModel
    meters : DataFrame
        ``meter_id``, ``link``, ``direction`` (:func:`read_boundary_meters`).

    Returns
    -------
    (Series, DataFrame, DataFrame, list of str)
        Zone per node; the meters with ``link_type``, ``from_zone`` and ``to_zone`` (in the
        meter's positive direction) and ``direction``; a table per zone (``junctions``,
        ``demand_junctions``, ``meters``, ``bounded``); notes.
    """
    metered = set(meters.link)
    graph = nx.Graph()
    graph.add_nodes_from(wn.node_name_list)
    for name, link in wn.links():
        if name not in metered:
            graph.add_edge(link.start_node_name, link.end_node_name)
    junctions = set(wn.junction_name_list)
    demand = set(demand_junctions(wn))
    reservoirs = set(wn.reservoir_name_list)
    parts = sorted(nx.connected_components(graph),
                   key=lambda c: (-len(c & junctions), min(c)))
    ends = {m: (wn.get_link(m).start_node_name, wn.get_link(m).end_node_name) for m in metered}
    touching = {}
    for i, part in enumerate(parts):
        touching[i] = sum(1 for a, b in ends.values() if (a in part) != (b in part))
    zone_of_part, k_dma, k_unm = {}, 0, 0
    for i, part in enumerate(parts):
        if not part & demand and part & reservoirs:
            zone_of_part[i] = SOURCE_ZONE
        elif touching[i] == 0:
            k_unm += 1
            zone_of_part[i] = f"{UNMETERED_ZONE}-{k_unm}"
        else:
            k_dma += 1
            zone_of_part[i] = f"DMA-{k_dma}"
    zone = {n: zone_of_part[i] for i, part in enumerate(parts) for n in part}
    zones = pd.Series(zone, name="dma").rename_axis("node").loc[wn.node_name_list]

    notes = []
    rows = []
    for m in meters.itertuples():
        a, b = ends[m.link]
        za, zb = zones[a], zones[b]
        if za == zb:
            notes.append(f"meter {m.meter_id} on link {m.link} bounds nothing: both ends are "
                         f"in {za} (water can go round it)")
        frm, to = (za, zb) if m.direction == "forward" else (zb, za)
        rows.append((m.meter_id, m.link, wn.get_link(m.link).link_type, frm, to, m.direction))
    dma_meters = schemas.validate("dma_meters", pd.DataFrame(
        rows, columns=["meter_id", "link", "link_type", "from_zone", "to_zone", "direction"]))
    table = pd.DataFrame({
        "junctions": zones[list(junctions)].value_counts(),
        "demand_junctions": zones[list(demand)].value_counts() if demand else 0,
    }).reindex(sorted(set(zones))).fillna(0).astype(int)
    table["meters"] = [int(((dma_meters.from_zone == z) ^ (dma_meters.to_zone == z)).sum())
                       for z in table.index]
    table["bounded"] = table["meters"] > 0
    table.index.name = "zone"
    for z in table.index[~table.bounded & (table.index != SOURCE_ZONE)]:
        notes.append(f"zone {z} ({table.at[z, 'junctions']} junctions) is bounded by no "
                     "meter: it is not a DMA; its inflow cannot be measured")
    return zones, dma_meters, table, notes
