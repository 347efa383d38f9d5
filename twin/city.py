"""The City: electric net, water net, DMAs, pump coupling, assets and customers.

A city is a folder (``data/CITY-FOLDER.md``): a manifest ``recipe.yaml`` stating its name,
time zone, location and year, an electric grid and/or a water network, and optional tables.
:func:`read_city` reads any such folder; :func:`load_city` caches it. The sample city in
``data/city/`` of the checkout is only the default of the CLI (``--city``) and of the tests;
nothing here falls back to it. The loaded city is shared read-only: functions that change a
network work on a copy (:meth:`City.electric_copy`, :meth:`City.water_copy`).
"""

from __future__ import annotations

import copy
import functools
import os
import zoneinfo
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandapower as pp
import pandas as pd
import wntr
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from twin import config, schemas
from twin.electric.network import bus_xy
from twin.water.network import NetworkFileError, demand_junctions, node_xy, read_inp

#: File names of a city folder, one place.
FILES = {
    "recipe": "recipe.yaml",
    "electric": "electric_net.json",
    "water": "water_net.inp",
    "dmas": "dmas.csv",
    "dma_meters": "dma_meters.csv",
    "pumps": "pumps.csv",
    "assets": "assets.csv",
    "customers": "customers.csv",
}
#: Zone of the nodes of a water network without DMA files.
UNZONED = "no-dma"


class CityError(ValueError):
    """A city folder that cannot be read, or lacks what an analysis needs; one line."""


class CityRecipe(BaseModel):
    """A city's manifest (``recipe.yaml`` of a city folder; ``data/city.yaml`` is the sample
    city's generator recipe, which has the same fields).

    ``timezone``, ``latitude``, ``longitude`` and ``year`` are required: nothing assumes
    them. ``seed``, ``customers``, ``dma_count`` and ``pv_adoption`` are read only by the
    sample city's generator (``twin city build``).
    """

    model_config = ConfigDict(extra="forbid")

    format_version: int = Field(schemas.CITY_FORMAT_VERSION,
                                description="version of the city folder layout")
    name: str = "City"
    year: int = Field(ge=1900, le=2200, description="year of the city's profiles [a]")
    timezone: str = Field(description="IANA time zone of the city's clock")
    latitude: float = Field(ge=-90, le=90, description="[deg]")
    longitude: float = Field(ge=-180, le=180, description="[deg]")
    electric_grid: str | None = Field(
        None, description="SimBench code of the grid, when it is one (its profiles are used)")
    grid_source: str | None = Field(None, description="what the grid was imported from")
    water_network: str | None = Field(None, description="name or file of the water network")
    profile_source: Literal["simbench", "store", "standard"] | None = Field(
        None, description="where QSTS loads come from; default simbench when electric_grid "
        "is a SimBench code, else standard")
    standard_profile: str = Field(
        "H0-A", description="SimBench standard load profile type for loads without a "
        "profile of their own (e.g. H0-A household, G0-A commercial, L0-A farm)")
    scada_flow_reading: Literal["instantaneous", "mean"] = Field(
        "instantaneous", description="how the SCADA historian records flows: a sample at the "
        "time stamp (instantaneous) or the mean over the step starting at the stamp (a "
        "totaliser's advance); the water balance and night flow integrate them accordingly")
    seed: int = 2016
    customers: int = Field(3000, gt=0)
    dma_count: int = Field(4, gt=0)
    pv_adoption: float = Field(0.3, ge=0, le=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; give an IANA name such as "
                             "'Europe/Berlin'") from None
        return value

    @field_validator("format_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value > schemas.CITY_FORMAT_VERSION:
            raise ValueError(f"city folder format {value} is newer than this twin's "
                             f"({schemas.CITY_FORMAT_VERSION}); update the twin")
        return value

    @property
    def profiles(self) -> str:
        """The profile source in effect (``profile_source`` or its default)."""
        return self.profile_source or ("simbench" if self.electric_grid else "standard")


def read_recipe(path: str | Path) -> CityRecipe:
    """Read a city manifest or generator recipe (YAML) at ``path``.

    There is no default: a loaded city's own manifest is ``city.recipe``.

    Raises
    ------
    CityError
        Naming the file and the field that is missing or wrong.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise CityError(f"{path}: no city manifest here; see data/CITY-FOLDER.md") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise CityError(f"{path}{at}: not valid YAML ({getattr(exc, 'problem', exc)})") from None
    if not isinstance(data, dict):
        raise CityError(f"{path}: a city manifest is a mapping of fields (name: …, timezone: …)")
    try:
        return CityRecipe(**data)
    except Exception as exc:  # pydantic's ValidationError: name each field
        errors = getattr(exc, "errors", lambda: [])()
        what = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'manifest'}: {e['msg']}"
                         for e in errors) or str(exc)
        raise CityError(f"{path}: {what}") from None


def write_recipe(recipe: CityRecipe, folder: str | Path) -> Path:
    """Write a city's manifest ``recipe.yaml`` into ``folder``."""
    path = Path(folder) / FILES["recipe"]
    path.write_text(yaml.safe_dump(recipe.model_dump(exclude_none=True), sort_keys=False))
    return path


def sample_city_dir() -> Path:
    """The sample city's folder ``data/city`` (the CLI's and the tests' default city)."""
    return config.city_dir()


def sample_recipe_path() -> Path:
    """The sample city generator's recipe ``data/city.yaml`` (``twin city build``'s default).

    The only place that names it: nothing else reads the sample recipe.
    """
    return config.project_root() / "data" / "city.yaml"


@dataclass(frozen=True)
class City:
    """A city's networks and registers. Treat every attribute as read-only.

    ``net`` is None for a water-only city, ``wn`` for an electricity-only one; an analysis
    that needs the missing network calls :meth:`require`.
    """

    recipe: CityRecipe
    net: pp.pandapowerNet | None
    wn: wntr.network.WaterNetworkModel | None
    dmas: pd.Series
    dma_meters: pd.DataFrame
    pumps: pd.DataFrame
    assets: pd.DataFrame
    customers: pd.DataFrame
    folder: Path | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return self.recipe.name

    @property
    def timezone(self) -> str:
        return self.recipe.timezone

    @property
    def is_sample(self) -> bool:
        """Whether this is the checkout's sample city."""
        return self.folder is not None and self.folder.resolve() == sample_city_dir().resolve()

    @property
    def data_dir(self) -> Path:
        """Where this city's generated files go (raw measurements, store, results).

        ``$TWIN_DATA_DIR`` when set; else the checkout's data directory for the sample city
        and ``<city folder>/generated`` for any other.
        """
        if os.environ.get(config.DATA_DIR_ENV) or self.folder is None or self.is_sample:
            return config.data_dir()
        return self.folder / "generated"

    def has(self, network: str) -> bool:
        """Whether the city has the ``"electric"`` or ``"water"`` network."""
        return (self.net if network == "electric" else self.wn) is not None

    def require(self, *networks: str, what: str = "this analysis") -> None:
        """Raise :class:`CityError` in one line if a network ``what`` needs is missing."""
        for network in networks:
            if not self.has(network):
                raise CityError(f"{self.folder or self.name}: {self.name} has no {network} "
                                f"network ({FILES[network]}); {what} needs one")

    @functools.cached_property
    def bus_xy(self) -> pd.DataFrame:
        """Bus coordinates ``x_m``, ``y_m`` in the city frame [m]."""
        self.require("electric", what="bus coordinates")
        return bus_xy(self.net)

    @functools.cached_property
    def node_xy(self) -> pd.DataFrame:
        """Water node coordinates ``x_m``, ``y_m`` in the city frame [m]."""
        self.require("water", what="node coordinates")
        return node_xy(self.wn)

    @functools.cached_property
    def demand_junctions(self) -> list[str]:
        """Junctions with a base demand in any demand category, where customers draw water."""
        if self.wn is None:
            return []
        return demand_junctions(self.wn)

    def electric_copy(self) -> pp.pandapowerNet:
        """Return a deep copy of the electric net, free to change and to solve."""
        self.require("electric", what="a power flow")
        return copy.deepcopy(self.net)

    def water_copy(self) -> wntr.network.WaterNetworkModel:
        """Return a deep copy of the water network, free to change and to simulate."""
        self.require("water", what="a hydraulic simulation")
        return copy.deepcopy(self.wn)

    def figures(self) -> dict[str, int]:
        """Count what the city holds, for ``twin info`` and reports."""
        out: dict[str, int] = {}
        net, wn = self.net, self.wn
        if net is not None:
            profile = net.load.get("profile", pd.Series("", index=net.load.index)).astype(str)
            sgen_type = net.sgen.get("type", pd.Series("", index=net.sgen.index)).astype(str)
            feeder = net.bus.get("feeder", pd.Series("", index=net.bus.index)).astype(str)
            out.update({
                "buses": len(net.bus), "lines": len(net.line), "transformers": len(net.trafo),
                "switches": len(net.switch), "loads": int((profile != "pump").sum()),
                "pump loads": int((profile == "pump").sum()),
                "rooftop PV units": int(sgen_type.str.startswith("lv_").sum()),
                "other generators": int((~sgen_type.str.startswith("lv_")).sum()),
                "feeders": int(feeder[feeder.str.match(r"^F\d")].nunique()),
            })
        if wn is not None:
            out.update({
                "junctions": wn.num_junctions, "tanks": wn.num_tanks,
                "reservoirs": wn.num_reservoirs, "pipes": wn.num_pipes, "pumps": wn.num_pumps,
                "valves": wn.num_valves,
                "DMAs": int(pd.Series(self.dmas.unique()).astype(str).str.startswith("DMA")
                            .sum()),
                "flow meters": len(self.dma_meters),
            })
        out.update({
            "customers": len(self.customers),
            "electricity meters": int((self.customers.electric_meter_id != "").sum()),
            "water meters": int((self.customers.water_meter_id != "").sum()),
            "rooftop PV customers": int((self.customers.pv_kwp > 0).sum()),
            "assets": len(self.assets),
        })
        return out


def _empty(name: str) -> pd.DataFrame:
    return schemas.validate(name, pd.DataFrame({c: pd.Series(dtype=object)
                                                for c in schemas.required_columns(name)}))


def _read_electric(path: Path) -> pp.pandapowerNet:
    try:
        net = pp.from_json(str(path))
    except Exception as exc:  # pandapower raises many kinds for a bad file
        raise CityError(f"{path}: not a pandapower JSON network ({type(exc).__name__}: "
                        f"{str(exc)[:160]}); write it with pandapower.to_json or use "
                        "`twin city import --grid`") from None
    return prepare_electric(net)


def prepare_electric(net: pp.pandapowerNet) -> pp.pandapowerNet:
    """Give a grid the columns the twin reads, in place: ``bus.feeder`` (from
    :func:`twin.electric.network.feeders`), ``load.profile`` and ``sgen.type`` (empty text
    where absent), and transformer taps honoured. Returns ``net``."""
    from twin.electric.network import feeders, honour_taps

    honour_taps(net)
    if "profile" not in net.load:
        net.load["profile"] = ""
    net.load["profile"] = net.load["profile"].fillna("").astype(str)
    if "type" not in net.sgen:
        net.sgen["type"] = ""
    net.sgen["type"] = net.sgen["type"].fillna("").astype(str)
    if "feeder" not in net.bus or net.bus["feeder"].isna().any():
        net.bus["feeder"] = feeders(net) if len(net.bus) else pd.Series(dtype=object)
    return net


def zones_of_nodes(wn: wntr.network.WaterNetworkModel) -> pd.Series:
    """Every node in one zone :data:`UNZONED` (a water network without DMA files)."""
    return pd.Series(UNZONED, index=pd.Index(wn.node_name_list, name="node"), name="dma")


def complete_customers(customers: pd.DataFrame, net, zones: pd.Series | None) -> pd.DataFrame:
    """Derive the customer columns a register may leave out, from the networks.

    ``bus`` and ``feeder`` from ``load``; ``dma`` from ``junction``; ``load_share`` and
    ``water_share`` as equal shares of the load's / junction's customers where empty.
    """
    df = customers.copy()
    if net is not None and len(df):
        has_load = df["load"] >= 0
        bus = net.load["bus"].reindex(df.loc[has_load, "load"]).to_numpy()
        df.loc[has_load & (df["bus"] < 0), "bus"] = bus[(df.loc[has_load, "bus"] < 0)
                                                        .to_numpy()]
        if "feeder" in net.bus:
            empty = (df["feeder"] == "") & (df["bus"] >= 0)
            df.loc[empty, "feeder"] = net.bus["feeder"].reindex(df.loc[empty, "bus"]).fillna(
                "").astype(str).to_numpy()
    if zones is not None and len(df):
        empty = (df["dma"] == "") & (df["junction"] != "")
        df.loc[empty, "dma"] = zones.reindex(df.loc[empty, "junction"]).fillna("").to_numpy()
    for key, share in (("load", "load_share"), ("junction", "water_share")):
        linked = df[key].astype(str) != (str(schemas.NO_ELEMENT) if key == "load" else "")
        n = df.groupby(key)[key].transform("size")
        fill = df[share].isna()
        df.loc[fill & linked, share] = (1.0 / n[fill & linked]).round(6)
        df.loc[fill & ~linked, share] = 0.0
    return df


def _check_links(city_folder: Path, customers: pd.DataFrame, net, wn) -> None:
    """Customers pointing at a load or junction the networks lack: one error naming the line."""
    path = city_folder / FILES["customers"]
    if net is not None:
        bad = customers.index[(customers["load"] >= 0) & ~customers["load"].isin(net.load.index)]
        if len(bad):
            i = bad[0]
            raise CityError(f"{path}, line {i + 2}, column load: no load "
                            f"{customers.at[i, 'load']} in {FILES['electric']} "
                            f"({len(bad)} such rows); fix the register")
    if wn is not None:
        known = set(wn.node_name_list)
        bad = customers.index[(customers["junction"] != "") & ~customers["junction"].isin(known)]
        if len(bad):
            i = bad[0]
            raise CityError(f"{path}, line {i + 2}, column junction: no junction "
                            f"{customers.at[i, 'junction']!r} in {FILES['water']} "
                            f"({len(bad)} such rows); fix the register")


def read_city(folder: str | Path) -> City:
    """Read a city folder (see ``data/CITY-FOLDER.md``).

    Required: ``recipe.yaml`` and at least one of ``electric_net.json`` and
    ``water_net.inp``. Optional tables take their declared empty or derived values.

    Raises
    ------
    CityError
        One line naming the file (and line, column) that is missing or wrong.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CityError(f"{folder}: no such city folder; give --city a folder made by "
                        "`twin city import` (see data/CITY-FOLDER.md)")
    recipe = read_recipe(folder / FILES["recipe"])
    has_e, has_w = (folder / FILES["electric"]).exists(), (folder / FILES["water"]).exists()
    if not (has_e or has_w):
        raise CityError(f"{folder}: neither {FILES['electric']} nor {FILES['water']} is here; "
                        "a city needs at least one network (`twin city import`)")
    net = _read_electric(folder / FILES["electric"]) if has_e else None
    try:
        wn = read_inp(folder / FILES["water"]) if has_w else None
    except NetworkFileError as exc:
        raise CityError(str(exc)) from None

    def table(name: str) -> pd.DataFrame:
        path = folder / FILES[name]
        return schemas.read_table(name, path) if path.exists() else _empty(name)

    try:
        if wn is not None and (folder / FILES["dmas"]).exists():
            dmas = table("dmas").set_index("node")["dma"]
        elif wn is not None:
            dmas = zones_of_nodes(wn)
        else:
            dmas = pd.Series(dtype=object, name="dma").rename_axis("node")
        dma_meters, pumps, assets = table("dma_meters"), table("pumps"), table("assets")
        customers = table("customers")
    except schemas.TableError as exc:
        raise CityError(str(exc)) from None
    _check_links(folder, customers, net, wn)
    customers = complete_customers(customers, net, dmas if wn is not None else None)
    return City(recipe, net, wn, dmas, dma_meters, pumps, assets, customers, folder)


@functools.lru_cache(maxsize=4)
def _load(folder: str) -> City:
    return read_city(folder)


def load_city(folder: str | Path | None = None) -> City:
    """Load a city folder, cached, so callers share one read-only copy.

    Parameters
    ----------
    folder : str or Path, optional
        A city folder. None is the sample city ``data/city`` (the default of the CLI's
        ``--city`` and of the tests).
    """
    return _load(str(Path(folder or sample_city_dir()).resolve()))


load_city.cache_clear = _load.cache_clear  # type: ignore[attr-defined]

