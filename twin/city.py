"""The City: electric net, water net, DMAs, pump coupling, assets and customers.

``load_city()`` reads the sample city's committed files in ``data/city/`` (made from the
recipe ``data/city.yaml`` by ``twin city build``). The loaded city is shared read-only:
functions that change a network work on a copy (:meth:`City.electric_copy`,
:meth:`City.water_copy`).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from pathlib import Path

import pandapower as pp
import pandas as pd
import wntr
import yaml
from pydantic import BaseModel, ConfigDict, Field

from twin import config, schemas
from twin.electric.network import bus_xy
from twin.water.network import node_xy, read_inp

#: File names of a city folder, one place.
FILES = {
    "electric": "electric_net.json",
    "water": "water_net.inp",
    "dmas": "dmas.csv",
    "dma_meters": "dma_meters.csv",
    "pumps": "pumps.csv",
    "assets": "assets.csv",
    "customers": "customers.csv",
}


class CityRecipe(BaseModel):
    """What the sample city is made of (``data/city.yaml``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = "Sample City"
    seed: int = 2016
    year: int = 2016
    timezone: str = "America/New_York"
    latitude: float = Field(36.1, description="[deg]")
    longitude: float = Field(-79.95, description="[deg]")
    electric_grid: str = "1-MV-urban--0-sw"
    water_network: str = "Net3"
    customers: int = Field(3000, gt=0)
    dma_count: int = Field(4, gt=0)
    pv_adoption: float = Field(0.3, ge=0, le=1)


def read_recipe(path: str | Path | None = None) -> CityRecipe:
    """Read a city recipe YAML; the default is the sample city's ``data/city.yaml``."""
    path = Path(path) if path else config.recipe_path()
    try:
        data = yaml.safe_load(path.read_text()) or {}
        return CityRecipe(**data)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no city recipe here") from None
    except Exception as exc:
        raise ValueError(f"{path}: not a valid city recipe: {exc}") from None


@dataclass(frozen=True)
class City:
    """A city's networks and registers. Treat every attribute as read-only."""

    recipe: CityRecipe
    net: pp.pandapowerNet
    wn: wntr.network.WaterNetworkModel
    dmas: pd.Series
    dma_meters: pd.DataFrame
    pumps: pd.DataFrame
    assets: pd.DataFrame
    customers: pd.DataFrame

    @property
    def name(self) -> str:
        return self.recipe.name

    @property
    def timezone(self) -> str:
        return self.recipe.timezone

    @functools.cached_property
    def bus_xy(self) -> pd.DataFrame:
        """Bus coordinates ``x_m``, ``y_m`` in the city frame [m]."""
        return bus_xy(self.net)

    @functools.cached_property
    def node_xy(self) -> pd.DataFrame:
        """Water node coordinates ``x_m``, ``y_m`` in the city frame [m]."""
        return node_xy(self.wn)

    @functools.cached_property
    def demand_junctions(self) -> list[str]:
        """Junctions with a base demand, where customers draw water."""
        return [name for name, j in self.wn.junctions() if j.base_demand > 0]

    def electric_copy(self) -> pp.pandapowerNet:
        """Return a deep copy of the electric net, free to change and to solve."""
        return copy.deepcopy(self.net)

    def water_copy(self) -> wntr.network.WaterNetworkModel:
        """Return a deep copy of the water network, free to change and to simulate."""
        return copy.deepcopy(self.wn)

    def figures(self) -> dict[str, int]:
        """Count what the city holds, for ``twin info`` and reports."""
        net, wn = self.net, self.wn
        return {
            "buses": len(net.bus),
            "lines": len(net.line),
            "transformers": len(net.trafo),
            "switches": len(net.switch),
            "loads": int((net.load.profile != "pump").sum()),
            "rooftop PV units": int(net.sgen.type.str.startswith("lv_").sum()),
            "other generators": int((~net.sgen.type.str.startswith("lv_")).sum()),
            "feeders": int(net.bus.feeder.str.startswith("F").groupby(net.bus.feeder).any().sum()),
            "junctions": wn.num_junctions,
            "tanks": wn.num_tanks,
            "reservoirs": wn.num_reservoirs,
            "pipes": wn.num_pipes,
            "pumps": wn.num_pumps,
            "valves": wn.num_valves,
            "DMAs": int(self.dmas.str.startswith("DMA").groupby(self.dmas).any().sum()),
            "flow meters": len(self.dma_meters),
            "customers": len(self.customers),
            "rooftop PV customers": int((self.customers.pv_kwp > 0).sum()),
            "assets": len(self.assets),
        }


def read_city(folder: str | Path) -> City:
    """Read a city folder written by :func:`twin.synthetic.city.build_city`."""
    folder = Path(folder)
    missing = [f for f in FILES.values() if not (folder / f).exists()]
    if missing:
        raise FileNotFoundError(
            f"{folder}: city files missing ({', '.join(missing)}); run `twin city build`"
        )
    net = pp.from_json(str(folder / FILES["electric"]))
    wn = read_inp(folder / FILES["water"])
    dmas = pd.read_csv(folder / FILES["dmas"], dtype={"node": str}).set_index("node")["dma"]
    dma_meters = pd.read_csv(folder / FILES["dma_meters"], dtype={"link": str})
    pumps = pd.read_csv(folder / FILES["pumps"], dtype={"pump": str})
    assets = schemas.validate(
        "assets", pd.read_csv(folder / FILES["assets"], dtype={"element": str})
    )
    customers = schemas.validate(
        "customers", pd.read_csv(folder / FILES["customers"], dtype={"junction": str})
    )
    recipe = read_recipe(folder / "recipe.yaml") if (folder / "recipe.yaml").exists() else (
        read_recipe()
    )
    return City(recipe, net, wn, dmas, dma_meters, pumps, assets, customers)


@functools.lru_cache(maxsize=4)
def load_city(folder: str | None = None) -> City:
    """Load a city, by default the sample city; cached, so callers share one read-only copy.

    Parameters
    ----------
    folder : str, optional
        A city folder; default ``data/city`` of the checkout.
    """
    return read_city(folder or config.city_dir())
