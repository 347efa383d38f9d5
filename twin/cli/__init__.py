"""The ``twin`` command: parses arguments, calls the library, prints. Nothing is computed here."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from twin import config
from twin.cli.common import (
    CityDir,
    console,
    existing_path,
    fail,
    load_city_or_fail,
    option_error,
    progress_bar,
    store_root,
    writable_folder,
)
from twin.cli.electric import app as electric_app
from twin.cli.forecast import app as forecast_app
from twin.cli.maintenance import app as maintenance_app
from twin.cli.scenario import app as scenario_app
from twin.cli.users import app as users_app
from twin.cli.water import app as water_app

app = typer.Typer(
    help="CityTwin: the digital twin of the city's electricity and water networks.\n\n"
    "Example: twin info; twin simulate --at '2016-07-14 18:00'; twin serve",
    no_args_is_help=True, rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
city_app = typer.Typer(help="A city's definition: import a utility's own, or build the sample "
                       "city (see data/CITY-FOLDER.md).", no_args_is_help=True,
                       rich_markup_mode=None)
data_app = typer.Typer(help="A city's generated measurements (its data directory).",
                       no_args_is_help=True, rich_markup_mode=None)
app.add_typer(city_app, name="city")
app.add_typer(data_app, name="data")
app.add_typer(electric_app, name="electric")
app.add_typer(water_app, name="water")
app.add_typer(forecast_app, name="forecast")
app.add_typer(maintenance_app, name="maintenance")
app.add_typer(scenario_app, name="scenario")
app.add_typer(users_app, name="users")


@app.command()
def info(city: CityDir = None) -> None:
    """Show what the city holds: networks, DMAs, customers, assets.

    Example: twin info --city my-city
    """
    city = load_city_or_fail(city)
    r = city.recipe
    table = Table(title=f"{city.name} ({city.timezone}, {r.latitude:.3f}°, {r.longitude:.3f}°, "
                        f"year {r.year})")
    table.add_column("what")
    table.add_column("count", justify="right")
    for name, count in city.figures().items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    classes = city.customers.customer_class.value_counts()
    if len(classes):
        console.print("customers by class: " + ", ".join(f"{k} {v:,}"
                                                         for k, v in classes.items()))
    grid = ("none" if city.net is None else f"SimBench {r.electric_grid}" if r.electric_grid
            else f"{r.grid_source or 'imported'}")
    water = "none" if city.wn is None else f"EPANET {r.water_network or 'network'}"
    profiles = "" if city.net is None else (
        f"; load profiles: {r.profiles}"
        + (f" ({r.standard_profile})" if r.profiles != "simbench" else ""))
    console.print(f"city folder: {city.folder}; electric grid: {grid}; water network: {water}"
                  f"{profiles}; data directory: {city.data_dir}")


@app.command()
def simulate(
    at: Annotated[str, typer.Option(help="City time, e.g. '2016-07-14 18:00'.")] = (
        "2016-07-14 18:00"),
    min_pressure_m: Annotated[float, typer.Option(
        min=0.0, help="Minimum service pressure [m].")] = 20.0,
    v_min_pu: Annotated[float, typer.Option(min=0.0, help="Lower voltage limit [p.u.].")] = 0.90,
    v_max_pu: Annotated[float, typer.Option(min=0.0, help="Upper voltage limit [p.u.].")] = 1.10,
    city: CityDir = None,
) -> None:
    """Solve one power flow and one hydraulic snapshot at a time, and list violations.

    A one-moment scenario (base.at): the water network runs from the day's start up to the
    moment, its pumps' power loads the grid, solved at that step.

    Example: twin simulate --at "2016-07-14 18:00"
    """
    from pydantic import ValidationError

    from twin.electric.powerflow import PowerFlowError
    from twin.scenario import Base, Scenario, ScenarioError, run_moment
    from twin.timeutil import TimeError, parse_local_time
    from twin.water.hydraulics import HydraulicsError

    if not v_min_pu < v_max_pu:
        fail(f"--v-min-pu {v_min_pu} must be below --v-max-pu {v_max_pu}")
    city = load_city_or_fail(city, ("electric", "water"), "twin simulate")
    try:
        moment = parse_local_time(at, city.timezone).tz_convert(city.timezone)
        scenario = Scenario(name=f"moment {at}", base=Base(
            at=moment.tz_localize(None).to_pydatetime(), water_step_min=15,
            voltage_band_pu=(v_min_pu, v_max_pu), min_pressure_m=min_pressure_m,
            hosting_capacity=False))
    except TimeError as exc:
        fail(str(exc))
    except ValidationError as exc:
        fail(option_error(exc))
    start = time.perf_counter()
    with console.status("solving the grid and the water network…"):
        try:
            snap = run_moment(city, scenario)
        except ScenarioError as exc:
            fail(str(exc))
        except (PowerFlowError, HydraulicsError) as exc:
            fail(str(exc), code=1)
        except ValueError as exc:  # a profile source the city cannot give
            fail(str(exc))
    s = snap.summary
    table = Table(title=f"{city.name} at {snap.at_local:%Y-%m-%d %H:%M %Z} "
                        f"(solved in {time.perf_counter() - start:.1f} s)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("load", f"{s['load_mw']:.2f} MW"), ("generation (PV, hydro)", f"{s['generation_mw']:.2f} MW"),
        ("grid import", f"{s['grid_import_mw']:.2f} MW"), ("losses", f"{s['losses_mw'] * 1000:.0f} kW"),
        ("voltage min / max", f"{s['vm_min_pu']:.4f} / {s['vm_max_pu']:.4f} p.u."),
        ("max line loading", f"{s['line_loading_max_percent']:.1f} %"),
        ("max transformer loading", f"{s['trafo_loading_max_percent']:.1f} %"),
        ("water demand", f"{s['demand_l_s']:.0f} L/s"),
        ("pressure min / mean", f"{s['pressure_min_m']:.1f} / {s['pressure_mean_m']:.1f} m"),
        ("pump power", f"{s['pump_kw']:.0f} kW"),
        ("violations", str(s["violations"])),
    ]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    if len(snap.violations):
        console.print(snap.violations.to_string(index=False))
    else:
        console.print(f"no violations (voltage {v_min_pu}–{v_max_pu} p.u., loading ≤ 100 %, "
                      f"pressure ≥ {min_pressure_m} m)")


@city_app.command("build")
def city_build(
    recipe: Annotated[Path | None, typer.Option(
        help="Generator recipe YAML; default the sample city's data/city.yaml.")] = None,
    out: Annotated[Path | None, typer.Option(help="Folder to write; default data/city.")] = None,
) -> None:
    """Build the sample (synthetic) city's definition files from its generator recipe
    (deterministic for a seed). A utility's own city comes from `twin city import`.

    Example: twin city build
    """
    from twin.city import read_recipe, sample_city_dir, sample_recipe_path
    from twin.synthetic.city import build_city

    writable_folder(out, "--out")
    try:
        r = read_recipe(recipe or sample_recipe_path())
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    if not r.electric_grid or not r.water_network:
        fail(f"{recipe}: the generator needs electric_grid (a SimBench code) and water_network "
             "(a WNTR example network); to use your own files run `twin city import`")
    with console.status("building the city…"):
        counts = build_city(r, out or sample_city_dir())
    console.print(f"built {r.name}: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()))


@city_app.command("import")
def city_import(
    out: Annotated[Path, typer.Argument(help="City folder to write.")],
    timezone: Annotated[str, typer.Option(help="IANA time zone of the city, e.g. Europe/Berlin.")],
    latitude: Annotated[float, typer.Option(help="Latitude of the city [deg].")],
    longitude: Annotated[float, typer.Option(help="Longitude of the city [deg].")],
    year: Annotated[int, typer.Option(help="Year of the city's profiles and measurements.")],
    name: Annotated[str | None, typer.Option(help="City name; default the folder name.")] = None,
    grid: Annotated[str | None, typer.Option(
        help="Electric grid: pandapower JSON, MATPOWER .m/.mat, CGMES .xml/.zip/folder, or a "
             "SimBench code.")] = None,
    water: Annotated[Path | None, typer.Option(help="EPANET .inp of the water network.")] = None,
    boundary_meters: Annotated[Path | None, typer.Option(
        help="CSV meter_id,link,direction of the DMA boundary flow meters.")] = None,
    customers: Annotated[Path | None, typer.Option(help="Customer register CSV.")] = None,
    meters: Annotated[Path | None, typer.Option(
        help="Meter register CSV (meter_id,network,customer_id,element,x_m,y_m).")] = None,
    pumps: Annotated[Path | None, typer.Option(
        help="CSV pump,bus,rated_kw[,efficiency]: the bus feeding each water pump.")] = None,
    assets: Annotated[Path | None, typer.Option(help="Asset register CSV.")] = None,
    profile_source: Annotated[str | None, typer.Option(
        help="QSTS loads from: simbench, store (the utility's interval reads) or standard.")
    ] = None,
    standard_profile: Annotated[str, typer.Option(
        help="SimBench standard load profile type for loads without one (H0-A, G0-A, L0-A…).")
    ] = "H0-A",
    overwrite: Annotated[bool, typer.Option("--overwrite",
                                            help="Replace an existing city folder's files.")
                         ] = False,
) -> None:
    """Make a city folder from a utility's own grid, water network and registers.

    DMAs are derived from the boundary meters: the parts of the network they cut apart.
    What maps nowhere is counted; zones no meter bounds are reported.

    Example: twin city import my-city --timezone Europe/Berlin --latitude 48.4
    --longitude 7.8 --year 2016 --grid grid.json --water net.inp --boundary-meters meters.csv
    """
    from twin.importers import CityImportError, import_city

    try:
        with console.status("importing the city…"):
            report = import_city(
                out, timezone=timezone, latitude=latitude, longitude=longitude, year=year,
                name=name, grid=grid, water=water, boundary_meters=boundary_meters,
                customers=customers, meters=meters, pumps=pumps, assets=assets,
                profile_source=profile_source, standard_profile=standard_profile,
                overwrite=overwrite)
    except (CityImportError, ValueError) as exc:
        fail(str(exc))
    console.print(f"imported into {report.folder}: " + "; ".join(
        f"{k} from {v}" for k, v in report.sources.items()))
    table = Table(title="what the city holds")
    table.add_column("what")
    table.add_column("count", justify="right")
    for k, v in report.counts.items():
        table.add_row(k, f"{v:,}")
    console.print(table)
    if len(report.zones):
        zt = Table(title="zones derived from the boundary meters")
        for c in ("zone", "junctions", "with demand", "meters", "bounded"):
            zt.add_column(c, justify="left" if c == "zone" else "right")
        for z, r in report.zones.iterrows():
            zt.add_row(z, str(r.junctions), str(r.demand_junctions), str(r.meters),
                       "yes" if r.bounded else "NO")
        console.print(zt)
    for k, v in report.unmapped.items():
        console.print(f"unmapped: {v:,} {k}")
    for note in report.notes:
        console.print(f"note: {note}")


#: Raw folders of the sample city that hold measurements (``truth/`` is not one).
RAW_MEASUREMENT_FOLDERS = ("mdm", "amr", "pv", "scada", "greenbutton")


@data_app.command("build")
def data_build(
    if_missing: Annotated[bool, typer.Option("--if-missing",
                                             help="Do nothing if the data is already built.")] = False,
    days: Annotated[int | None, typer.Option(
        min=1, help="Only the first N days (for a quick look).")] = None,
    start: Annotated[str | None, typer.Option(
        help="First local day, e.g. 2016-07-04 (default 1 January of the city's year).")] = None,
    customers: Annotated[int | None, typer.Option(
        min=1, help="Only the first N customers (for a quick look).")] = None,
    city: CityDir = None,
) -> None:
    """Generate a city's measurements as raw utility files, and ingest them.

    Writes MDM CSV exports, SCADA CSV, PV inverter CSV, water meter reads, Green Button XML
    and a ground-truth file of injected faults into <data directory>/raw, then ingests the
    measurement folders into the store <data directory>/store (VEE, quarantine).
    With --if-missing, a part that is already there (raw manifest, committed store) is kept.

    The synthetic generator works on any city with both networks, customers with electricity
    and water meters, and DMA boundary meters; it says what a city lacks.

    Example: twin data build --if-missing
    """
    from twin.synthetic.city import generator_city, generator_needs
    from twin.synthetic.measurements import study_period

    c = load_city_or_fail(city)
    if start is not None:
        try:
            study_period(c.recipe.year, c.timezone, start, days)
        except ValueError:
            fail(f"--start {start!r}: not a day of the city's year {c.recipe.year}; give it "
                 f"as YYYY-MM-DD, e.g. {c.recipe.year}-07-04")
    writable_folder(c.data_dir, "the data directory")
    lacking = generator_needs(c)
    if lacking:
        fail(f"{c.folder}: the measurement generator needs {'; '.join(lacking)}")
    c, left_out = generator_city(c)
    if left_out:
        console.print(f"{left_out:,} customers are not mapped to both a load and a junction "
                      "with both meters: the generator leaves them out")
    out = c.data_dir / "raw"
    store_root = c.data_dir / "store"
    raw_done = (out / "manifest.json").exists()
    store_done = store_root.is_dir() and any((store_root / "_manifest").glob("*.json"))
    if if_missing and raw_done and store_done:
        console.print(f"measurements already built in {out} and ingested into {store_root}")
        return
    if not (if_missing and raw_done):
        _build_raw(c, out, days, start, customers)
    _ingest_with_summary(str(store_root), [out / f for f in RAW_MEASUREMENT_FOLDERS
                                           if (out / f).is_dir()], city=c.folder)


def _build_raw(city, out: Path, days: int | None, first_day: str | None = None,
               customers: int | None = None) -> None:
    """Generate the raw measurement files with a progress bar (see ``data_build``)."""
    from twin.scenario import profiles_of
    from twin.synthetic.measurements import build_measurements

    start = time.perf_counter()
    with progress_bar() as bar:
        task = bar.add_task(f"profiles ({city.recipe.profiles})", total=1)
        profiles_of(city)
        bar.update(task, completed=1)
        tasks: dict[str, int] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)

        summary = build_measurements(city, out, days=days, customers=customers,
                                     start=first_day, progress=progress)
    console.print(f"measurements written to {out} in {time.perf_counter() - start:.0f} s")
    for key, value in summary.items():
        console.print(f"  {key}: {value}")


def _ingest_with_summary(store_url: str, paths: list, city: Path | None = None,
                         tag_map: Path | None = None, allow_unknown_ids: bool = False,
                         **kwargs) -> list:
    """Ingest files and folders with a progress bar, print the per-file summary table and
    return the reports (shared by ``twin ingest`` and ``twin data build``).

    The city (``city``, default the sample city) gives the time zone of local times and the
    element names a tag map is checked against; its folder's tag map (``scada_tags.csv``) is
    used unless ``tag_map`` names another."""
    from twin.ingest.greenbutton import GreenButtonError
    from twin.ingest.pipeline import IngestError, ingest_paths
    from twin.ingest.plausible import Checks, known_series
    from twin.ingest.store import MeasurementStore
    from twin.ingest.tag_map import TagMapError, city_elements, city_tag_map_path

    the_city = load_city_or_fail(city)
    tag_map = tag_map or city_tag_map_path(the_city.folder)
    try:
        target = MeasurementStore(store_url)
    except OSError as exc:
        fail(f"--store {store_url}: cannot be used as a measurement store folder ({exc}); "
             "give a folder you can write")
    with progress_bar() as bar:
        task = bar.add_task("ingesting", total=None)

        def progress(done: int, total: int, report) -> None:
            bar.update(task, completed=done, total=total,
                       description=f"ingesting {Path(report.file).name}")

        try:
            reports = ingest_paths(target, [str(p) for p in paths], progress=progress,
                                   timezone=the_city.timezone,
                                   elements=city_elements(the_city),
                                   tag_map=str(tag_map) if tag_map else None,
                                   checks=Checks(known_series(the_city), allow_unknown_ids),
                                   **kwargs)
        except (TagMapError, GreenButtonError, IngestError) as exc:
            fail(str(exc))
    table = Table(title=f"ingested into {target.url}")
    for col in ["file", "rows read", "accepted", "estimated", "quarantined", "duplicates",
                "note"]:
        table.add_column(col, justify="left" if col in ("file", "note") else "right")
    for r in reports:
        note = r.error or ((r.skipped_reason or "already ingested") if r.skipped else "")
        note = "; ".join([note, *r.notes]) if note else "; ".join(r.notes)
        table.add_row(Path(r.file).name, f"{r.rows_read:,}", f"{r.accepted:,}",
                      f"{r.estimated:,}", f"{r.quarantined:,}", f"{r.duplicates:,}", note)
    console.print(table)
    return reports


def _percent(share: float) -> str:
    """A share [-] as a percentage, ``n/a`` for NaN."""
    return "n/a" if share != share else f"{share:.1%}"


@data_app.command("audit")
def data_audit(
    raw: Annotated[Path | None, typer.Option(
        help="Raw build with truth/faults.csv; default <data directory>/raw.")] = None,
    store: Annotated[Path | None, typer.Option(
        help="Measurement store root; default <data directory>/store.")] = None,
    city: CityDir = None,
) -> None:
    """Score VEE against the generator's ground truth: share of faults found per kind.

    A fault is found when at least half of its affected readings are flagged (not valid, a
    VEE rule recorded, quarantined, or counted as a duplicate); theft and drift are
    invisible to VEE by design. Also prints the false-flag rate on fault-free readings.

    Example: twin data audit
    """
    from twin.ingest.audit import FOUND_SHARE, AuditError, audit_build
    from twin.ingest.store import MeasurementStore

    c = load_city_or_fail(city)
    raw = existing_path(raw, "--raw", "folder") or c.data_dir / "raw"
    root = store_root(store, c.data_dir / "store")
    if not (Path(root) / "_manifest").is_dir():
        fail(f"{root}: no measurement store; run 'twin data build' (or twin ingest) first")
    with progress_bar() as bar:
        task = bar.add_task("reading the store", total=None)

        def progress(done: int, total: int, label: str) -> None:
            bar.update(task, completed=done, total=total, description=f"auditing {label}")

        try:
            result = audit_build(raw, MeasurementStore(str(root)), c.timezone,
                                 progress)
        except AuditError as exc:
            fail(str(exc))
    table = Table(title=f"VEE against {Path(raw) / 'truth' / 'faults.csv'} (found: at least "
                        f"{FOUND_SHARE:.0%} of a fault's readings flagged)")
    for col in ["kind", "system", "faults", "found", "share found", "readings", "flagged",
                "share flagged", "note"]:
        table.add_column(col, justify="left" if col in ("kind", "system", "note") else "right")
    for r in result.by_kind.itertuples():
        note = "VEE cannot see it by design" if r.by_design else ""
        table.add_row(r.kind, r.system, f"{r.faults:,}", f"{r.found:,}", _percent(r.share_found),
                      f"{r.readings:,}", f"{r.flagged:,}", _percent(r.share_flagged), note)
    console.print(table)
    for r in result.false_flags.itertuples():
        top = ", ".join(f"{k} {v:,}" for k, v in list(r.rules.items())[:3])
        console.print(f"false flags, {r.kind}: {r.flagged:,} of {r.readings:,} fault-free "
                      f"readings ({r.rate:.3%}){': ' + top if top else ''}")
    for note in result.notes:
        console.print(f"note: {note}")


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest.")],
    kind: Annotated[str | None, typer.Option(help="Measurement kind, if not detected.")] = None,
    format: Annotated[str | None, typer.Option(
        "--format", help="If not detected: mdm_csv, historian, greenbutton_xml, "
        "greenbutton_csv, pv_portal_csv, or a weather file: tmy3, epw, psm, pvgis_tmy, "
        "pvgis_hourly.")] = None,
    store: Annotated[Path | None, typer.Option(
        help="Measurement store root; default the city's <data directory>/store.")] = None,
    city: CityDir = None,
    tag_map: Annotated[Path | None, typer.Option(
        "--tag-map", help="SCADA tag map CSV (tag,element,quantity,unit); default the city "
        "folder's scada_tags.csv.")] = None,
    reading_type: Annotated[Path | None, typer.Option(
        "--reading-type", help="Green Button: an ESPI file holding the ReadingType of "
        "readings whose files declare none.")] = None,
    unit: Annotated[str | None, typer.Option(
        help="Green Button: the unit the values are written in (Wh, kWh, MWh, W, kW, m3, "
        "gal), replacing the declared one.")] = None,
    allow_unknown_ids: Annotated[bool, typer.Option(
        "--allow-unknown-ids", help="Store readings of meters the city's registers do not "
        "list (by default they are quarantined, with the reason).")] = False,
) -> None:
    """Read meter, SCADA and PV files into the measurement store, with VEE and a quarantine.

    Local times are read in the city's time zone (--city); SCADA exports (long or wide, CSV
    or Excel) through the tag map, units converted to the store's. Readings that cannot be
    true (times outside 1970-2200 or off their series' grid, values not finite or beyond
    their kind's bounds, meters the city does not list) are quarantined with the reason; a
    file whose every row is rejected fails (exit 1, nothing stored).

    Example: twin ingest --city data/city data/generated/raw/scada data/generated/raw/mdm
    Example: twin ingest --tag-map tags.csv historian_2024-05.xlsx
    Example: twin ingest --reading-type ReadingType.xml greenbutton/
    """
    from twin.ingest.greenbutton import UNIT_OVERRIDES
    from twin.ingest.pipeline import FORMATS
    from twin.ingest.schema import KINDS

    missing = [str(p) for p in [*paths, tag_map, reading_type] if p and not p.exists()]
    if missing:
        fail(f"no such file or folder: {', '.join(missing)}")
    if kind is not None and kind not in KINDS:
        fail(f"--kind {kind}: one of {', '.join(KINDS)}")
    if format is not None and format not in FORMATS:
        fail(f"--format {format}: one of {', '.join(FORMATS)}")
    if unit is not None and unit not in UNIT_OVERRIDES:
        fail(f"--unit {unit}: one of {', '.join(UNIT_OVERRIDES)}")
    extra = {k: v for k, v in (("reading_type", str(reading_type) if reading_type else None),
                               ("unit", unit)) if v is not None}
    store = writable_folder(store or load_city_or_fail(city).data_dir / "store", "--store")
    reports = _ingest_with_summary(str(store), paths, city=city, tag_map=tag_map, kind=kind,
                                   format=format, allow_unknown_ids=allow_unknown_ids, **extra)
    if any(r.error for r in reports):
        raise typer.Exit(1)


@app.command()
def serve(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to serve on.")] = 5006,
    address: Annotated[str, typer.Option(help="Address to bind.")] = "localhost",
    show: Annotated[bool, typer.Option(help="Open a browser.")] = False,
    city: CityDir = None,
    store: Annotated[str | None, typer.Option(
        help="Measurement store (path or fsspec URL); default <data directory>/store.")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Server processes, each on its own port after --port (--port + 1, + 2, "
                    "...; --port hands each engineer to one); default one a core.")] = None,
    no_auth: Annotated[bool, typer.Option(
        "--no-auth", help="Serve without a login (only for the local sample city).")] = False,
    oauth_provider: Annotated[str | None, typer.Option(
        help="Log in through an identity provider instead (Panel's OAuth providers: "
             "generic, azure, okta, github, google, ...).")] = None,
    oauth_key: Annotated[str | None, typer.Option(
        envvar="TWIN_OAUTH_KEY", help="OAuth client id.")] = None,
    oauth_secret: Annotated[str | None, typer.Option(
        envvar="TWIN_OAUTH_SECRET", help="OAuth client secret (better from $TWIN_OAUTH_SECRET).")]
        = None,
    oauth_redirect_uri: Annotated[str | None, typer.Option(help="OAuth redirect URI.")] = None,
    oauth_extra_params: Annotated[str | None, typer.Option(
        help="OAuth extra parameters, a Python dict literal.")] = None,
    oauth_encryption_key: Annotated[str | None, typer.Option(
        envvar="TWIN_OAUTH_ENCRYPTION_KEY", help="Key that encrypts OAuth tokens in cookies.")]
        = None,
) -> None:
    """Serve the dashboard with `panel serve`, behind a login, at http://localhost:5006.

    Users come from `twin users add NAME` (salted scrypt hashes); the cookie secret is made
    once and kept next to them. --no-auth serves without a login. With more than one worker
    (one a core by default), the ports after --port must be free too.

    Example: twin users add alice; twin serve --port 5006
    """
    from twin.dashboard_server import OAuthSettings, ServeError, ServeSettings, panel_serve_command
    from twin.users import UsersError

    oauth = OAuthSettings(oauth_provider, oauth_key, oauth_secret, oauth_redirect_uri,
                          oauth_extra_params, oauth_encryption_key) if oauth_provider else None
    settings = ServeSettings(port, address, city, store, not no_auth, oauth, show,
                             workers=workers)
    try:
        cmd, env = panel_serve_command(settings)
    except (ServeError, UsersError) as exc:
        fail(str(exc))
    login = "no login" if no_auth else (f"login through {oauth_provider}" if oauth
                                        else "login with a dashboard user")
    console.print(f"serving the dashboard at http://{address}:{port}/dashboard ({login}; "
                  "Ctrl-C stops)")
    raise typer.Exit(subprocess.call(cmd, cwd=config.project_root(), env=env))


def main() -> None:
    """The ``twin`` console script: the app behind the one error path
    (:func:`twin.cli.common.run_app`: an unexpected error is one line and a log file)."""
    from twin.cli.common import run_app

    run_app(app)


if __name__ == "__main__":
    main()
