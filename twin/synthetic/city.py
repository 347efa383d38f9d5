"""Build the sample city's definition from its recipe (``twin city build``).

Deterministic for a recipe: the same seed writes the same files. Everything random is drawn
from one ``numpy.random.Generator`` seeded by the recipe, in a fixed order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandapower as pp
import pandas as pd
import wntr

from twin import schemas
from twin.city import FILES, CityRecipe, write_recipe
from twin.coupling import add_pump_loads, assign_pumps
from twin.electric.network import (
    bus_xy,
    feeders,
    lonlat_to_local_m,
    set_bus_xy,
    simbench_grid,
)
from twin.water.dma import boundary_meters, partition_dmas
from twin.water.network import (
    daily_controls,
    demand_junctions,
    metres_per_coordinate_unit,
    node_xy,
    read_inp,
    shipped_network_path,
    transform_coordinates,
)

#: Pipe materials by era of installation: (first year, last year, material, weight).
PIPE_ERAS = [
    (1900, 1960, "cast iron", 1.0),
    (1950, 1980, "asbestos cement", 0.8),
    (1965, 2024, "ductile iron", 1.0),
    (1975, 2024, "PVC", 0.9),
    (1995, 2024, "HDPE", 0.6),
]
#: Standard sizes of MV/LV distribution transformers [kVA].
DISTRIBUTION_TRAFO_KVA = np.array([160, 250, 400, 630, 800, 1000, 1250, 1600])
#: Roof tilts [deg] and azimuths [deg, clockwise from north] rooftop PV is drawn from.
ROOF_TILTS_DEG = [15.0, 20.0, 25.0, 30.0, 35.0, 40.0]
ROOF_AZIMUTHS_DEG = [90.0, 135.0, 180.0, 225.0, 270.0]
ROOF_AZIMUTH_WEIGHTS = [0.1, 0.2, 0.4, 0.2, 0.1]
#: Critical services connected at low voltage, drawn from the commercial connections.
CRITICAL_LV_SEGMENTS = ["care home", "clinic", "fire station", "school", "police station",
                        "telecom exchange"]
#: Classes of the MV-connected SimBench loads by profile (BDEW / SimBench profile names).
MV_LOAD_CLASS = {
    "G3-H": ("critical", "hospital"),
    "BL-H": ("industrial", "bakery plant"),
    "WB-H": ("industrial", "works"),
    "G0-A": ("commercial", "shopping centre"),
    "G0-M": ("commercial", "office park"),
    "G4-M": ("commercial", "retail"),
}


def build_city(recipe: CityRecipe, folder: str | Path) -> dict[str, int]:
    """Make the city from ``recipe`` and write its files into ``folder``.

    Returns
    -------
    dict
        What was built, as counts.
    """
    rng = np.random.default_rng(recipe.seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)

    net = simbench_grid(recipe.electric_grid)
    net.profiles = {}
    net.bus["feeder"] = feeders(net)
    wn = _water_network(recipe.water_network, folder)
    _place_grid_over_water(net, wn)

    zones = partition_dmas(wn, recipe.dma_count, recipe.seed)
    meters = boundary_meters(wn, zones)
    pumps = assign_pumps(wn, net, bus_xy(net), node_xy(wn))
    add_pump_loads(net, pumps)
    customers = _customers(net, wn, zones, recipe, rng)
    assets = _assets(net, wn, pumps, meters, customers, rng)

    _sort_columns(net)
    pp.to_json(net, str(folder / FILES["electric"]))
    _write_inp(wn, folder / FILES["water"])
    zones.reset_index().to_csv(folder / FILES["dmas"], index=False)
    meters.to_csv(folder / FILES["dma_meters"], index=False)
    pumps.to_csv(folder / FILES["pumps"], index=False)
    schemas.validate("assets", assets).to_csv(folder / FILES["assets"], index=False)
    schemas.validate("customers", customers).to_csv(folder / FILES["customers"], index=False)
    write_recipe(recipe, folder)
    return {"buses": len(net.bus), "junctions": wn.num_junctions, "customers": len(customers),
            "assets": len(assets)}


def _write_inp(wn: wntr.network.WaterNetworkModel, path: Path) -> None:
    """Write an EPANET file in L/s without WNTR's file-name and clock-time header lines."""
    wntr.network.write_inpfile(wn, str(path), units="LPS")
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(x for x in lines if not x.startswith(("; Filename:", "; Created:"))))


def _sort_columns(net: pp.pandapowerNet) -> None:
    """Order every table's columns by name, in place: SimBench's order varies between runs."""
    for key in list(net.keys()):
        if isinstance(net[key], pd.DataFrame) and len(net[key].columns):
            net[key] = net[key][sorted(net[key].columns)]


def _water_network(name: str, folder: Path) -> wntr.network.WaterNetworkModel:
    """Read a shipped network with daily pump schedules, coordinates in metres from (0, 0)."""
    tmp = folder / f".{name}.daily.inp"
    tmp.write_text(daily_controls(shipped_network_path(name).read_text()))
    try:
        wn = read_inp(tmp)
    finally:
        tmp.unlink()
    scale = metres_per_coordinate_unit(wn)
    xy = node_xy(wn)
    transform_coordinates(wn, scale, -scale * xy.x_m.min(), -scale * xy.y_m.min())
    return wn


def _place_grid_over_water(net: pp.pandapowerNet, wn: wntr.network.WaterNetworkModel) -> None:
    """Project the grid's geodata to metres and lay it over the water service area.

    The SimBench feeders are drawn 2 km × 4 km; they are turned a quarter so their long side
    runs east-west, and stretched uniformly to the width of the water network's area. Line
    lengths stay those of the grid model; the map is a schematic in one frame for both nets.
    """
    lonlat = bus_xy(net)
    x, y = lonlat_to_local_m(lonlat.x_m.to_numpy(), lonlat.y_m.to_numpy())
    x, y = y, -x  # a quarter turn
    water = node_xy(wn)
    wx0, wx1 = water.x_m.quantile([0.02, 0.98])
    wy0, wy1 = water.y_m.quantile([0.02, 0.98])
    scale = min((wx1 - wx0) / np.ptp(x), (wy1 - wy0) / np.ptp(y))
    cx, cy = (wx0 + wx1) / 2, (wy0 + wy1) / 2
    xs = cx + scale * (x - (x.min() + x.max()) / 2)
    ys = cy + scale * (y - (y.min() + y.max()) / 2)
    set_bus_xy(net, pd.DataFrame({"x_m": xs, "y_m": ys}, index=net.bus.index))


def _customers(net, wn, zones, recipe: CityRecipe, rng: np.random.Generator) -> pd.DataFrame:
    """Draw the service connections: each with an electric load, a water junction and maybe PV."""
    bxy = bus_xy(net)
    loads = net.load[net.load.profile != "pump"]
    lv = loads[loads.profile.str.startswith("lv_")]
    mv = loads[~loads.profile.str.startswith("lv_")]
    n_lv = recipe.customers - len(mv)
    counts = np.maximum(3, np.round(n_lv * lv.p_mw / lv.p_mw.sum())).astype(int)
    counts.iloc[-1] += n_lv - counts.sum()

    rows = []
    for load_idx, n in counts.items():
        shares = rng.dirichlet(np.full(n, 4.0))
        is_commercial = rng.random(n) < 0.12
        for share, commercial in zip(shares, is_commercial, strict=True):
            cls, seg = ("commercial", "shop or office") if commercial else (
                "residential", rng.choice(["multi-family building", "terraced row",
                                           "detached house"], p=[0.5, 0.3, 0.2]))
            rows.append((cls, seg, load_idx, share))
    for load_idx, load in mv.iterrows():
        cls, seg = MV_LOAD_CLASS.get(load.profile, ("industrial", "works"))
        rows.append((cls, seg, load_idx, 1.0))
    df = pd.DataFrame(rows, columns=["customer_class", "segment", "load", "load_share"])
    commercial = df.index[df.customer_class == "commercial"]
    for k, seg in zip(rng.choice(commercial, size=len(CRITICAL_LV_SEGMENTS), replace=False),
                      CRITICAL_LV_SEGMENTS, strict=True):
        df.loc[k, ["customer_class", "segment"]] = ["critical", seg]
    df["bus"] = net.load.loc[df["load"], "bus"].to_numpy()
    df["feeder"] = net.bus.loc[df["bus"], "feeder"].to_numpy()
    spread = rng.normal(0, 120.0, size=(len(df), 2))
    df["x_m"] = (bxy.loc[df["bus"], "x_m"].to_numpy() + spread[:, 0]).round(1)
    df["y_m"] = (bxy.loc[df["bus"], "y_m"].to_numpy() + spread[:, 1]).round(1)

    df["junction"] = _nearest_demand_junctions(wn, df[["x_m", "y_m"]].to_numpy())
    weight = df.customer_class.map({"residential": 1.0, "commercial": 3.0,
                                    "industrial": 10.0, "critical": 8.0})
    weight = weight * rng.lognormal(0, 0.3, len(df))
    df["water_share"] = weight / weight.groupby(df.junction).transform("sum")
    df["dma"] = zones.loc[df.junction].to_numpy()

    df["pv_kwp"], df["sgen"], df["pv_tilt_deg"], df["pv_azimuth_deg"] = 0.0, -1, 0.0, 0.0
    pv_sgens = net.sgen[net.sgen.type.str.startswith("lv_")]
    for sgen_idx, sgen in pv_sgens.iterrows():
        here = df.index[(df.bus == sgen.bus) & df.customer_class.isin(["residential",
                                                                         "commercial"])]
        if len(here) == 0:
            continue
        k = max(1, int(round(recipe.pv_adoption * len(here))))
        chosen = rng.choice(here, size=k, replace=False)
        kwp = rng.dirichlet(np.full(k, 3.0)) * sgen.p_mw * 1000.0
        df.loc[chosen, "pv_kwp"] = kwp.round(3)
        df.loc[chosen, "sgen"] = sgen_idx
        df.loc[chosen, "pv_tilt_deg"] = rng.choice(ROOF_TILTS_DEG, size=k)
        df.loc[chosen, "pv_azimuth_deg"] = rng.choice(ROOF_AZIMUTHS_DEG, size=k,
                                                      p=ROOF_AZIMUTH_WEIGHTS)

    n = len(df)
    order = rng.permutation(n)
    df["customer_id"] = [f"C{i:05d}" for i in range(1, n + 1)]
    df["electric_meter_id"] = [f"EM{10_000_000 + 7919 * k:08d}" for k in order]
    df["water_meter_id"] = [f"WM{20_000_000 + 6271 * k:08d}" for k in order]
    cols = list(schemas.CUSTOMERS.columns)
    df["load_share"] = df.load_share.round(6)
    df["water_share"] = df.water_share.round(6)
    return df[cols]


def _nearest_demand_junctions(wn, xy: np.ndarray) -> np.ndarray:
    """Map every point to its nearest junction with demand; give every such junction one point.

    A junction left without a customer takes the nearest customer from a junction that has
    more than one, so every demand in the model is metered by someone.
    """
    names = demand_junctions(wn)
    jxy = node_xy(wn).loc[names].to_numpy()
    dist = np.hypot(xy[:, None, 0] - jxy[None, :, 0], xy[:, None, 1] - jxy[None, :, 1])
    choice = dist.argmin(axis=1)
    for j in range(len(names)):
        if (choice == j).any():
            continue
        counts = np.bincount(choice, minlength=len(names))
        movable = np.flatnonzero(counts[choice] > 1)
        k = movable[dist[movable, j].argmin()]
        choice[k] = j
    return np.array(names, dtype=object)[choice]


def _assets(net, wn, pumps, meters, customers, rng: np.random.Generator) -> pd.DataFrame:
    """Draw the asset register: one row per physical asset, mapped to its network element."""
    rows = []
    served = customers.groupby("bus").size()
    critical_buses = set(customers.loc[customers.customer_class == "critical", "bus"])

    for idx, t in net.trafo.iterrows():
        rows.append(("hv_mv_transformer", "electric", "trafo", idx,
                     int(rng.integers(1972, 2006)), str(t.std_type), float(t.sn_mva), "MVA",
                     0.0, 5))
    feeder_load = net.load.groupby(net.bus.feeder.loc[net.load.bus].to_numpy()).p_mw.sum()
    for idx, load in net.load[net.load.profile.str.startswith("lv_")].iterrows():
        peak_kva = load.p_mw * 1000 / 0.95
        size = DISTRIBUTION_TRAFO_KVA[np.searchsorted(DISTRIBUTION_TRAFO_KVA, peak_kva * 0.8)
                                      .clip(0, len(DISTRIBUTION_TRAFO_KVA) - 1)]
        year = int(np.clip(rng.normal(1992, 12), 1960, 2024))
        crit = 4 if load.bus in critical_buses else 1 + min(3, int(served.get(load.bus, 0) / 10))
        rows.append(("distribution_transformer", "electric", "load", idx, year,
                     "oil-immersed 10/0.4 kV", float(size), "kVA", 0.0, crit))
    for idx, line in net.line.iterrows():
        feeder = net.bus.feeder.get(line.from_bus, "")
        share = feeder_load.get(feeder, 0.0) / max(feeder_load.max(), 1e-9)
        crit = int(np.clip(1 + round(4 * share), 1, 5))
        if line.from_bus in critical_buses or line.to_bus in critical_buses:
            crit = 5
        rows.append(("cable", "electric", "line", idx, int(rng.integers(1978, 2023)),
                     str(line.std_type), float(line.max_i_ka), "kA",
                     float(line.length_km * 1000), crit))
    for idx, sw in net.switch.iterrows():
        rows.append(("switch", "electric", "switch", idx, int(rng.integers(1980, 2024)),
                     "load-break switch" if sw.et == "l" else "bus coupler", 630.0, "A", 0.0,
                     3 if sw.et == "b" else 2))

    diam = np.array([p.diameter for _, p in wn.pipes()])
    for name, pipe in wn.pipes():
        first, last, material, _ = _draw_era(rng)
        year = int(rng.integers(first, last + 1))
        d_mm = pipe.diameter * 1000
        crit = int(np.clip(1 + np.searchsorted(np.quantile(diam, [0.4, 0.7, 0.9, 0.97]),
                                               pipe.diameter), 1, 5))
        rows.append(("pipe", "water", "pipe", name, year, material, round(d_mm, 1), "mm",
                     round(pipe.length, 1), crit))
    for p in pumps.itertuples():
        rows.append(("pump", "water", "pump", p.pump, int(rng.integers(1985, 2016)),
                     "centrifugal", round(p.rated_kw, 1), "kW", 0.0, 5))
    for name, tank in wn.tanks():
        vol = np.pi / 4 * tank.diameter**2 * (tank.max_level - tank.min_level)
        rows.append(("tank", "water", "tank", name, int(rng.integers(1950, 2000)),
                     "steel standpipe", round(vol, 1), "m3", 0.0, 4))
    for name, valve in wn.valves():
        rows.append(("valve", "water", "valve", name, int(rng.integers(1960, 2020)),
                     str(valve.valve_type), round(valve.diameter * 1000, 1), "mm", 0.0, 3))
    for m in meters.itertuples():
        link = wn.get_link(m.link)
        table = "pump" if m.link_type == "Pump" else "pipe"
        size = link.diameter * 1000 if table == "pipe" else 0.0
        rows.append(("flow_meter", "water", table, m.link, int(rng.integers(2005, 2024)),
                     "electromagnetic flow meter", round(size, 1), "mm", 0.0, 3))

    df = pd.DataFrame(rows, columns=["asset_class", "network", "element_table", "element",
                                     "install_year", "type_material", "rating", "rating_unit",
                                     "length_m", "criticality"])
    df["element"] = df["element"].astype(str)
    prefix = df.asset_class.map({"hv_mv_transformer": "TR", "distribution_transformer": "DT",
                                 "cable": "CB", "switch": "SW", "pipe": "PI", "pump": "PU",
                                 "tank": "TK", "valve": "VA", "flow_meter": "FM"})
    df.insert(0, "asset_id", [f"{p}-{i:05d}" for i, p in enumerate(prefix, start=1)])
    return df


def _draw_era(rng: np.random.Generator) -> tuple:
    weights = np.array([e[3] for e in PIPE_ERAS])
    return PIPE_ERAS[int(rng.choice(len(PIPE_ERAS), p=weights / weights.sum()))]


def generator_needs(city) -> list[str]:
    """What the measurement generator (``twin data build``) needs that ``city`` lacks.

    It draws meter reads from each customer's share of a load and of a junction, SCADA from
    the feeders and the DMA boundary meters, so it needs both networks, customers mapped to
    loads and junctions with their meters, and boundary meters.

    Returns
    -------
    list of str
        One phrase per missing part; empty when the city has all it needs.
    """
    out = [f"a {n} network ({FILES[n]})" for n in ("electric", "water") if not city.has(n)]
    c = city.customers
    if not ((c.electric_meter_id != "") & (c["load"] >= 0) & (c.water_meter_id != "")
            & (c["junction"] != "")).any():
        out.append("customers with an electricity meter mapped to a load and a water meter "
                   "mapped to a junction (customers.csv)")
    if city.has("water") and not len(city.pumps):
        out.append("water pumps fed from buses (pumps.csv; `twin city import --pumps`)")
    if not len(city.dma_meters):
        out.append("DMA boundary meters (dma_meters.csv; `twin city import --boundary-meters`)")
    if city.has("electric") and not city.net.bus.feeder.astype(str).str.match(r"^F\d").any():
        out.append("feeders (lines leaving a substation busbar below a transformer)")
    return out


def generator_city(city):
    """The city as the measurement generator can draw it: customers mapped to both a load and
    a junction, with both meters (the others are left out and counted).

    Returns
    -------
    (City, int)
        The city to generate for, and the number of customers left out.
    """
    import dataclasses

    c = city.customers
    ok = (c["load"] >= 0) & (c["junction"] != "") & (c.electric_meter_id != "") & \
        (c.water_meter_id != "")
    if ok.all():
        return city, 0
    return dataclasses.replace(city, customers=c[ok].reset_index(drop=True)), int((~ok).sum())
