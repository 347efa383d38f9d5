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

import shutil
from pathlib import Path

import pandapower as pp
import pandas as pd

from twin import schemas
from twin.city import FILES, CityRecipe, complete_customers, read_city, write_recipe
from twin.importers.grid import GRID_FORMATS, read_grid, reset_scaling
from twin.importers.registers import (
    map_customers,
    meters_as_customers,
    read_assets,
    read_customers,
    read_pumps,
)
from twin.importers.report import CityImportError, ImportReport
from twin.importers.water import UNMETERED_ZONE, dma_zones, read_boundary_meters, read_water

__all__ = ["GRID_FORMATS", "UNMETERED_ZONE", "CityImportError", "ImportReport", "dma_zones",
           "import_city", "map_customers", "meters_as_customers", "read_assets",
           "read_boundary_meters", "read_customers", "read_grid", "read_pumps", "read_water",
           "reset_scaling"]


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
