"""Build a city folder from what a utility has (``twin city import``).

The grid comes from a pandapower JSON file, a SimBench code, a MATPOWER case (``.m`` or
``.mat``, through pandapower's converter) or CGMES/CIM files pandapower reads; the water
network from an EPANET ``.inp`` (:func:`twin.water.network.read_inp`), copied as given. DMAs
are derived from the boundary flow meters the utility really has: the zones are the connected
parts of the pipe graph once the metered links are cut, and a zone no meter bounds is reported
as such. Optional customer, meter, pump and asset registers are mapped to loads and junctions
by id or, failing that, to the nearest node; what maps nowhere is counted in the report.

Every user error is a :class:`CityImportError` naming the file, line and column.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx
import numpy as np
import pandapower as pp
import pandas as pd
import wntr

from twin import schemas
from twin.city import (
    FILES,
    CityRecipe,
    complete_customers,
    prepare_electric,
    read_city,
    write_recipe,
)
from twin.electric.network import bus_xy
from twin.water.dma import SOURCE_ZONE
from twin.water.network import NetworkFileError, node_xy, read_inp

#: Grid file formats by suffix.
GRID_FORMATS = {".json": "pandapower JSON", ".m": "MATPOWER case", ".mat": "MATPOWER case",
                ".xml": "CGMES/CIM", ".zip": "CGMES/CIM"}
#: Zone name prefix of a part of the network that no boundary meter bounds.
UNMETERED_ZONE = "unmetered"


class CityImportError(ValueError):
    """Input ``twin city import`` cannot use; the message names file, line and column."""


@dataclass
class ImportReport:
    """What :func:`import_city` read, derived and could not map.

    Attributes
    ----------
    folder : Path
        The city folder written.
    sources : dict
        What each part was read from (``electric``, ``water``, registers).
    counts : dict
        What the city holds (buses, loads, junctions, DMAs, customers, …).
    zones : DataFrame
        Per zone: ``junctions``, ``demand_junctions``, ``meters`` (bounding it) and
        ``bounded`` (False for a zone no meter bounds).
    unmapped : dict
        Rows of a register mapped to no element, counted by what they lacked.
    notes : list of str
        Everything else worth knowing (meters that bound nothing, pumps not coupled, …).
    """

    folder: Path
    sources: dict = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    zones: pd.DataFrame = field(default_factory=pd.DataFrame)
    unmapped: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)


# ------------------------------------------------------------------------------ electric grid

def read_grid(source: str | Path) -> tuple[pp.pandapowerNet, str | None, str]:
    """Read a grid from a file or a SimBench code.

    Returns
    -------
    (pandapowerNet, str or None, str)
        The grid made ready for the twin (:func:`twin.city.prepare_electric`, coordinates
        in metres), its SimBench code (None for a file) and what it was read from.

    Raises
    ------
    CityImportError
        For a missing or unreadable file, or a name that is neither a file nor a SimBench code.
    """
    path = Path(source)
    if path.exists():
        kind = GRID_FORMATS.get(path.suffix.lower())
        if kind is None and path.is_dir():
            kind = "CGMES/CIM"
        if kind is None:
            raise CityImportError(f"{path}: unknown grid format {path.suffix!r}; give a "
                                  f"pandapower JSON, a MATPOWER .m/.mat case, CGMES XML/zip "
                                  "or a SimBench code")
        try:
            net = _read_grid_file(path, kind)
        except CityImportError:
            raise
        except Exception as exc:  # converters raise many kinds for a bad file
            raise CityImportError(f"{path}: cannot read it as a {kind} "
                                  f"({type(exc).__name__}: {str(exc)[:200]})") from None
        code, what = None, f"{kind} {path.name}"
    elif str(source).endswith("-sw") and "/" not in str(source):
        from twin.electric.network import simbench_grid

        try:
            net = simbench_grid(str(source))
        except Exception as exc:  # simbench names the unknown code
            raise CityImportError(f"{source}: not a SimBench code ({str(exc)[:160]})") from None
        net.profiles = {}
        code, what = str(source), f"SimBench {source}"
    else:
        raise CityImportError(f"{source}: no such grid file, and not a SimBench code such as "
                              "1-MV-urban--0-sw")
    if not len(net.bus):
        raise CityImportError(f"{source}: the grid has no buses")
    _coordinates_in_metres(net)
    return prepare_electric(net), code, what


def reset_scaling(net: pp.pandapowerNet) -> list[str]:
    """Set every load's and generator's ``scaling`` to 1, in place; return a note per table
    whose scaling was not 1.

    A grid file's scaling is a study-case setting (pandapower's ``mv_oberrhein`` ships loads at
    0.6 and generators at 0); the twin's profiles give each element's power over time, with
    ``p_mw`` as its rating, so a scaling left in place would scale the profiles again.
    """
    notes = []
    for table in ("load", "sgen", "storage"):
        df = net[table] if table in net else None
        if df is None or not len(df) or "scaling" not in df:
            continue
        off = df.scaling.fillna(1.0) != 1.0
        if off.any():
            values = ", ".join(f"{v:g}" for v in sorted(df.scaling[off].unique())[:4])
            notes.append(f"{int(off.sum())} {table} elements had scaling {values} (a study case "
                         "setting): reset to 1, the profiles give their power over time")
            df["scaling"] = 1.0
    return notes


def _read_grid_file(path: Path, kind: str) -> pp.pandapowerNet:
    if kind == "pandapower JSON":
        return pp.from_json(str(path))
    if kind == "MATPOWER case":
        from pandapower.converter.matpower.from_mpc import from_mpc

        return from_mpc(str(path))
    from pandapower.converter.cim.cim2pp.from_cim import from_cim

    files = sorted(str(p) for p in path.glob("*.xml")) if path.is_dir() else [str(path)]
    return from_cim(file_list=files)


def _coordinates_in_metres(net: pp.pandapowerNet) -> None:
    """Bus coordinates as GeoJSON points in metres, in place.

    Longitude/latitude (every |x| ≤ 180, |y| ≤ 90 over a span under 5°) are projected to a
    local east/north frame; a bus without coordinates gets NaN.
    """
    from twin.electric.network import lonlat_to_local_m, set_bus_xy

    geo = net.bus["geo"] if "geo" in net.bus else pd.Series(None, index=net.bus.index)

    def xy(s):
        try:
            return json.loads(s)["coordinates"][:2]
        except (TypeError, ValueError, KeyError):
            return [np.nan, np.nan]

    arr = np.array([xy(s) for s in geo], dtype=float).reshape(-1, 2)
    x, y = arr[:, 0], arr[:, 1]
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.any() and (np.abs(x[ok]) <= 180).all() and (np.abs(y[ok]) <= 90).all() and \
            np.ptp(x[ok]) < 5 and np.ptp(y[ok]) < 5:
        x[ok], y[ok] = lonlat_to_local_m(x[ok], y[ok])
    set_bus_xy(net, pd.DataFrame({"x_m": x, "y_m": y}, index=net.bus.index))


# ------------------------------------------------------------------------------ water and DMAs

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
    demand = {j for j, node in wn.junctions() if node.base_demand > 0}
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


# ------------------------------------------------------------------------------ registers

def _xy_or_none(fn) -> pd.DataFrame | None:
    """Coordinates from ``fn()``, or None for a network without any."""
    try:
        xy = fn()
    except Exception:  # networks without coordinates
        return None
    return xy if np.isfinite(xy.to_numpy()).any() else None


def _nearest(points: np.ndarray, targets: pd.DataFrame) -> np.ndarray:
    """Label of the nearest target row to every point (same frame) [m]."""
    from scipy.spatial import cKDTree

    ok = np.isfinite(targets.to_numpy()).all(axis=1)
    t = targets[ok]
    _, idx = cKDTree(t.to_numpy()).query(points)
    return t.index.to_numpy()[idx]


def _resolve_load(value: str, net: pp.pandapowerNet) -> int | None:
    """A load given by index or name; None if the grid has no such load."""
    value = str(value).strip()
    if value.lstrip("-").isdigit() and int(value) in net.load.index:
        return int(value)
    named = net.load.index[net.load["name"].astype(str) == value]
    return int(named[0]) if len(named) else None


def read_customers(path: str | Path, net, wn) -> pd.DataFrame:
    """Read a customer register; ids must exist, rows may leave load/junction to coordinates.

    Raises
    ------
    CityImportError
        For a malformed file or a load/junction the networks lack (file, line, column).
    """
    try:
        df = schemas.read_table("customers", path)
    except schemas.TableError as exc:
        raise CityImportError(str(exc)) from None
    loads = net.load.index if net is not None else pd.Index([])
    bad = df.index[(df["load"] >= 0) & ~df["load"].isin(loads)]
    if len(bad):
        i = bad[0]
        raise CityImportError(f"{path}, line {i + 2}, column load: no load {df.at[i, 'load']} "
                              f"in the grid ({len(bad)} such rows); give a load index of the "
                              "grid, or leave it empty and give x_m, y_m")
    nodes = wn.node_name_list if wn is not None else []
    bad = df.index[(df["junction"] != "") & ~df["junction"].isin(nodes)]
    if len(bad):
        i = bad[0]
        raise CityImportError(f"{path}, line {i + 2}, column junction: no junction "
                              f"{df.at[i, 'junction']!r} in the water network ({len(bad)} such "
                              "rows)")
    return df


def meters_as_customers(path: str | Path, customers: pd.DataFrame, net, wn) -> pd.DataFrame:
    """Merge a meter register into the customers: a meter names its customer (or is one) and
    the load or junction it serves (or has coordinates for the nearest).

    Raises
    ------
    CityImportError
        For a malformed file, or an element the networks lack (file, line, column).
    """
    try:
        meters = schemas.read_table("meters", path)
    except schemas.TableError as exc:
        raise CityImportError(str(exc)) from None
    rows = {r["customer_id"]: r for r in customers.to_dict("records")}
    blank = schemas.with_defaults("customers", pd.DataFrame({"customer_id": [""]})).iloc[0]
    nodes = set(wn.node_name_list) if wn is not None else set()
    for i, m in zip(meters.index, meters.itertuples(), strict=True):
        electric = m.network == "electric"
        element = None
        if m.element:
            element = _resolve_load(m.element, net) if electric and net is not None else (
                m.element if not electric and m.element in nodes else None)
            if element is None:
                what = "load (index or name) in the grid" if electric else \
                    "junction in the water network"
                raise CityImportError(f"{path}, line {i + 2}, column element: no {what} "
                                      f"named {m.element!r}")
        cid = m.customer_id or m.meter_id
        row = rows.setdefault(cid, {**blank.to_dict(), "customer_id": cid})
        row["electric_meter_id" if electric else "water_meter_id"] = m.meter_id
        if element is not None:
            row["load" if electric else "junction"] = element
        if np.isfinite(m.x_m) and not np.isfinite(row["x_m"]):
            row["x_m"], row["y_m"] = m.x_m, m.y_m
    return pd.DataFrame(list(rows.values()), columns=customers.columns)


def map_customers(customers: pd.DataFrame, net, wn) -> tuple[pd.DataFrame, dict]:
    """Map customers without a load or junction to the nearest one by their coordinates.

    Electricity customers go to the load of the nearest bus that has one (pump loads
    excepted), water customers to the nearest junction with demand.

    Returns
    -------
    (DataFrame, dict)
        The customers, and counts of those mapped to no load / no junction.
    """
    df = customers.copy()
    has_xy = np.isfinite(df[["x_m", "y_m"]].to_numpy(dtype=float)).all(axis=1)
    unmapped = {}
    if net is not None:
        loads = net.load[net.load.profile.astype(str) != "pump"]
        need = (df["load"] < 0) & (df["electric_meter_id"] != "")
        xy = _xy_or_none(lambda: bus_xy(net).loc[loads.bus.unique()])
        if xy is not None and (need & has_xy).any():
            bus = _nearest(df.loc[need & has_xy, ["x_m", "y_m"]].to_numpy(float), xy)
            first_load = loads.reset_index().groupby("bus")["index"].first()
            df.loc[need & has_xy, "load"] = first_load.loc[bus].to_numpy()
        unmapped["electricity meters with no load"] = int(((df["load"] < 0)
                                                           & (df["electric_meter_id"] != "")).sum())
    if wn is not None:
        demand = [j for j, node in wn.junctions() if node.base_demand > 0] or \
            wn.junction_name_list
        need = (df["junction"] == "") & (df["water_meter_id"] != "")
        xy = _xy_or_none(lambda: node_xy(wn).loc[demand])
        if xy is not None and (need & has_xy).any():
            df.loc[need & has_xy, "junction"] = _nearest(
                df.loc[need & has_xy, ["x_m", "y_m"]].to_numpy(float), xy)
        unmapped["water meters with no junction"] = int(((df["junction"] == "")
                                                         & (df["water_meter_id"] != "")).sum())
    return df, unmapped


def read_pumps(path: str | Path, net, wn) -> pd.DataFrame:
    """Read the pump-to-bus list (``pump``, ``bus``, ``rated_kw``, ``efficiency``)."""
    try:
        pumps = schemas.read_table("pumps", path)
    except schemas.TableError as exc:
        raise CityImportError(str(exc)) from None
    for i, p in pumps.iterrows():
        if wn is None or p.pump not in wn.pump_name_list:
            raise CityImportError(f"{path}, line {i + 2}, column pump: no pump {p.pump!r} in "
                                  "the water network")
        if net is None or p.bus not in net.bus.index:
            raise CityImportError(f"{path}, line {i + 2}, column bus: no bus {p.bus} in the "
                                  "grid")
    return pumps


def read_assets(path: str | Path, net, wn) -> pd.DataFrame:
    """Read an asset register and check every element exists in its network."""
    try:
        assets = schemas.read_table("assets", path)
    except schemas.TableError as exc:
        raise CityImportError(str(exc)) from None
    water_names = {"pipe": "pipe_name_list", "pump": "pump_name_list",
                   "tank": "tank_name_list", "valve": "valve_name_list"}
    for i, a in assets.iterrows():
        if a.network == "electric":
            ok = net is not None and a.element_table in net and \
                str(a.element).lstrip("-").isdigit() and int(a.element) in net[a.element_table].index
        else:
            ok = wn is not None and a.element_table in water_names and \
                a.element in getattr(wn, water_names[a.element_table])
        if not ok:
            raise CityImportError(f"{path}, line {i + 2}, column element: no "
                                  f"{a.element_table} {a.element!r} in the {a.network} network")
    return assets


# ------------------------------------------------------------------------------ the import

def import_city(
    out: str | Path,
    *,
    timezone: str,
    latitude: float,
    longitude: float,
    year: int,
    name: str | None = None,
    grid: str | Path | None = None,
    water: str | Path | None = None,
    boundary_meters: str | Path | None = None,
    customers: str | Path | None = None,
    meters: str | Path | None = None,
    pumps: str | Path | None = None,
    assets: str | Path | None = None,
    profile_source: str | None = None,
    standard_profile: str = "H0-A",
    overwrite: bool = False,
) -> ImportReport:
    """Build a city folder from a utility's own files, check it reads back, and report.

    Parameters
    ----------
    out : str or Path
        City folder to write (see ``data/CITY-FOLDER.md``).
    timezone : str
        IANA time zone of the city's clock.
    latitude, longitude : float
        Location [deg].
    year : int
        Year of the city's profiles [a].
    name : str, optional
        City name; default the folder name.
    grid : str or Path, optional
        pandapower JSON, MATPOWER ``.m``/``.mat``, CGMES ``.xml``/``.zip``/folder, or a
        SimBench code.
    water : str or Path, optional
        EPANET ``.inp``.
    boundary_meters : str or Path, optional
        CSV ``meter_id, link, direction`` of the DMA boundary flow meters.
    customers, meters, pumps, assets : str or Path, optional
        Registers (CSV); see ``data/CITY-FOLDER.md`` for their columns.
    profile_source : {"simbench", "store", "standard"}, optional
        Where QSTS loads come from; default simbench for a SimBench grid, else standard.
    standard_profile : str
        SimBench standard load profile type for loads without a profile of their own.
    overwrite : bool
        Replace the files of an existing city folder.

    Returns
    -------
    ImportReport

    Raises
    ------
    CityImportError
        For any input that cannot be used, naming the file, line and column.
    """
    out = Path(out)
    if grid is None and water is None:
        raise CityImportError("give --grid, --water or both: a city needs a network")
    if boundary_meters is not None and water is None:
        raise CityImportError(f"{boundary_meters}: boundary meters need a water network "
                              "(--water)")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise CityImportError(f"{out}: folder exists and is not empty; give --overwrite or "
                              "another folder")
    try:
        recipe = CityRecipe(name=name or out.name, timezone=timezone, latitude=latitude,
                            longitude=longitude, year=year, standard_profile=standard_profile,
                            profile_source=profile_source)
    except Exception as exc:  # pydantic names the field
        errors = getattr(exc, "errors", lambda: [])()
        raise CityImportError("; ".join(f"--{e['loc'][0].replace('_', '-')}: {e['msg']}"
                                        for e in errors) or str(exc)) from None
    report = ImportReport(out)

    net = wn = None
    if grid is not None:
        net, code, what = read_grid(grid)
        report.notes += reset_scaling(net)
        recipe.electric_grid = code
        recipe.grid_source = what
        report.sources["electric"] = what
        if recipe.profiles == "simbench" and code is None:
            raise CityImportError(f"--profile-source simbench needs a SimBench grid; {grid} "
                                  "is a file: use store or standard")
    if water is not None:
        wn = read_water(water)
        recipe.water_network = Path(water).name
        report.sources["water"] = f"EPANET {Path(water).name}"

    zones = None
    dma_meters = schemas.validate("dma_meters", pd.DataFrame(
        columns=schemas.required_columns("dma_meters")))
    if wn is not None:
        if boundary_meters is not None:
            bm = read_boundary_meters(boundary_meters, wn)
            zones, dma_meters, report.zones, notes = dma_zones(wn, bm)
            report.notes += notes
            report.sources["boundary meters"] = f"{Path(boundary_meters).name} ({len(bm)})"
        else:
            zones, dma_meters, report.zones, _ = dma_zones(wn, dma_meters.iloc[:0])
            report.notes.append("no boundary meters: the network is one zone, not a DMA "
                                "(give --boundary-meters)")

    cust = schemas.validate("customers", pd.DataFrame({"customer_id": pd.Series(dtype=str)}))
    if customers is not None:
        cust = read_customers(customers, net, wn)
        report.sources["customers"] = Path(customers).name
    if meters is not None:
        cust = meters_as_customers(meters, cust, net, wn)
        report.sources["meters"] = Path(meters).name
    if len(cust):
        cust, report.unmapped = map_customers(cust, net, wn)
        metered = (cust.electric_meter_id != "") | (cust.water_meter_id != "")
        mapped = (cust["load"] >= 0) | (cust["junction"] != "")
        if metered.any() and not (metered & mapped).any():
            src = meters or customers
            raise CityImportError(f"{src}: none of its {int(metered.sum())} meters maps to a "
                                  "load or junction; give each row a load/junction id or "
                                  "x_m, y_m in the networks' frame")
        report.unmapped["customers mapped to no element (left out)"] = int((~mapped).sum())
        cust = cust[mapped].reset_index(drop=True)
        cust = complete_customers(schemas.validate("customers", cust), net, zones)
        if net is not None:
            no_meter = net.load.index[(net.load.profile != "pump")
                                      & ~net.load.index.isin(cust["load"])]
            report.unmapped["loads with no meter"] = len(no_meter)

    pump_table = schemas.validate("pumps", pd.DataFrame(
        columns=schemas.required_columns("pumps")))
    if pumps is not None:
        pump_table = read_pumps(pumps, net, wn)
        from twin.coupling import add_pump_loads

        add_pump_loads(net, pump_table)
        report.sources["pumps"] = Path(pumps).name
    if wn is not None and net is not None:
        loose = sorted(set(wn.pump_name_list) - set(pump_table.pump))
        if loose:
            report.notes.append(f"{len(loose)} water pumps are fed from no bus ({', '.join(loose[:5])}"
                                f"{' …' if len(loose) > 5 else ''}): give --pumps "
                                "(pump,bus,rated_kw) to couple them to the grid")
    asset_table = None
    if assets is not None:
        asset_table = read_assets(assets, net, wn)
        report.sources["assets"] = Path(assets).name

    out.mkdir(parents=True, exist_ok=True)
    for name_ in FILES.values():
        (out / name_).unlink(missing_ok=True)
    if net is not None:
        pp.to_json(net, str(out / FILES["electric"]))
    if wn is not None:
        shutil.copyfile(water, out / FILES["water"])
        zones.reset_index().to_csv(out / FILES["dmas"], index=False)
        dma_meters.to_csv(out / FILES["dma_meters"], index=False)
    if len(pump_table):
        pump_table.to_csv(out / FILES["pumps"], index=False)
    if asset_table is not None:
        asset_table.to_csv(out / FILES["assets"], index=False)
    if len(cust):
        cust.to_csv(out / FILES["customers"], index=False)
    write_recipe(recipe, out)

    city = read_city(out)  # what the twin will read, checked now
    report.counts = city.figures()
    if recipe.profiles == "store" and not len(cust):
        report.notes.append("profile source 'store' without customers: every load takes the "
                            f"standard profile {standard_profile}")
    return report
