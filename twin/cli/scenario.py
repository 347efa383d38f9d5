"""``twin scenario …``: planner what-if studies from YAML: run, sweep, compare, list, validate."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from twin import config
from twin.cli.common import (
    CityDir,
    console,
    fail,
    load_city_or_fail,
    progress_bar,
    reachable_scheduler,
    writable_file,
    writable_folder,
)

app = typer.Typer(help="Planner what-if studies (scenario files in YAML): run, sweep, compare."
                  "\n\nExample: twin scenario run scenarios/ev_2030.yaml", no_args_is_help=True,
                  rich_markup_mode=None)

_OUT = Annotated[Path | None, typer.Option(
    help="Folder of the results (<hash>.nc); default <data dir>/scenarios.")]


def default_out() -> Path:
    """Where scenario results go by default: ``<data dir>/scenarios``."""
    return config.data_dir() / "scenarios"


def _read(files: list[Path]) -> list:
    from twin.scenario import ScenarioFileError, load_scenario_file

    out = []
    for f in files:
        try:
            out.extend(load_scenario_file(f))
        except ScenarioFileError as exc:
            fail(str(exc))
        except UnicodeDecodeError:
            fail(f"{f}: not a text file; give a scenario file in YAML")
    return out


def _errors():
    from twin.electric.powerflow import PowerFlowError
    from twin.electric.qsts import QstsError
    from twin.scenario import ScenarioError
    from twin.water.hydraulics import HydraulicsError

    return (ScenarioError, QstsError), (PowerFlowError, HydraulicsError)


def _metrics_table(metrics, title: str) -> Table:
    """Metric × scenario table of values (``metrics``: scenario × metric)."""
    from twin.scenario import METRICS

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("unit")
    for name in metrics.index:
        table.add_column(escape(str(name)), justify="right")
    for metric in metrics.columns:
        table.add_row(metric, METRICS[metric][0],
                      *[_fmt(v) for v in metrics[metric].to_numpy()])
    return table


def _fmt(v: float) -> str:
    if v != v:
        return "n/a"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.4g}"


@app.command("run")
def run(
    files: Annotated[list[Path], typer.Argument(help="Scenario files (YAML).")],
    out: _OUT = None,
    city: CityDir = None,
) -> None:
    """Run the scenarios of the files one after the other, save each result, print metrics.

    Example: twin scenario run scenarios/ev_2030.yaml scenarios/rooftop_pv_40.yaml
    """
    from twin.scenario import result_metrics, run_scenarios

    scenarios = _read(files)
    out = writable_folder(out or default_out(), "--out")
    town = load_city_or_fail(city)
    user, engine = _errors()
    with progress_bar() as bar:
        task = bar.add_task("scenarios", total=len(scenarios))

        def tick(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done,
                       description=f"running {escape(name)}" if name else "done")

        try:
            paths = run_scenarios(town, scenarios, out, progress=tick)
        except user as exc:
            fail(str(exc))
        except engine as exc:
            fail(str(exc), code=1)
    import pandas as pd

    metrics = pd.DataFrame({n: result_metrics(p).value for n, p in paths.items()}).T
    console.print(_metrics_table(metrics, f"{len(paths)} scenario(s) on {town.name}"))
    for name, path in paths.items():
        console.print(f"{name}: {path}", markup=False)


@app.command("sweep")
def sweep(
    file: Annotated[Path, typer.Argument(help="Scenario file with a sweep (grid or list).")],
    out: _OUT = None,
    scheduler: Annotated[str | None, typer.Option(
        help="Dask scheduler address (default $TWIN_DASK_SCHEDULER, else a local cluster).")]
    = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Local cluster workers.")] = None,
    city: CityDir = None,
) -> None:
    """Run every scenario of a sweep as a Dask task; results stream to disk as they finish.

    Example: twin scenario sweep scenarios/ev_pv_sweep.yaml --workers 2
    """
    from twin.scenario import run_sweep

    scenarios = _read([file])
    out = writable_folder(out or default_out(), "--out")
    reachable_scheduler(scheduler)
    town = load_city_or_fail(city)
    user, engine = _errors()
    with progress_bar() as bar:
        task = bar.add_task("sweep", total=len(scenarios))

        def tick(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done,
                       description=f"done {escape(name)}" if name else "sweep")

        try:
            result = run_sweep(town, scenarios, out, scheduler=scheduler, n_workers=workers,
                               progress=tick)
        except user as exc:
            fail(str(exc))
        except engine as exc:
            fail(str(exc), code=1)
    console.print(_metrics_table(result.metrics, f"sweep of {len(scenarios)} scenarios"))
    memory = ", ".join(f"{v:.0f}" for v in result.worker_memory_mib.values())
    console.print(f"{len(result.files)} results in {out} (manifest sweep.json); "
                  f"{len(result.skipped)} already there; worker memory [MiB]: {memory}")


@app.command("compare")
def compare_cmd(
    results: Annotated[list[Path], typer.Argument(help="Result files (.nc) or folders of them.")],
    base: Annotated[str | None, typer.Option(
        help="Name of the base scenario (default: the one without changes, else the "
             "first result).")] = None,
    figures: Annotated[Path | None, typer.Option(
        help="Folder for the PNG figures; default <first result's folder>/figures.")] = None,
    csv: Annotated[Path | None, typer.Option(help="Also write the table as CSV.")] = None,
) -> None:
    """Compare results: metric × scenario table against the base (value and change) and
    figures (feeder loading duration curves, voltage and pressure envelopes, monthly losses).

    Example: twin scenario compare data/generated/scenarios/
    """
    from twin.scenario import ScenarioError, compare, comparison_figures, open_result

    paths = []
    for p in results:
        if p.is_dir():
            paths.extend(sorted(p.glob("*.nc")))
        elif p.exists():
            paths.append(p)
        else:
            fail(f"{p}: no such file or folder")
    if not paths:
        fail(f"no result files (.nc) in {', '.join(map(str, results))}")
    writable_file(csv, "--csv")
    writable_folder(figures, "--figures")
    try:
        loaded = [open_result(p) for p in paths]
        table = compare(loaded, base)
        figs = comparison_figures(loaded, figures or paths[0].parent / "figures", base)
    except ScenarioError as exc:
        fail(str(exc))
    out = Table(title=escape(f"{len(loaded)} scenarios against {table.attrs['base']} "
                             "(value, change)"))
    out.add_column("metric")
    out.add_column("unit")
    names = list(dict.fromkeys(table.columns.get_level_values(0)))
    for name in names:
        out.add_column(escape(name), justify="right")
    for (metric, unit), row in table.iterrows():
        cells = []
        for name in names:
            v, d = row[(name, "value")], row[(name, "delta")]
            cells.append(_fmt(v) if name == table.attrs["base"] or d != d or d == 0
                         else f"{_fmt(v)} ({'+' if d > 0 else ''}{_fmt(d)})")
        out.add_row(metric, unit, *cells)
    console.print(out)
    if csv:
        table.to_csv(csv)
        console.print(f"table written to {csv}")
    for name, path in figs.items():
        console.print(f"figure {name}: {path}")


@app.command("list")
def list_cmd(
    folder: Annotated[Path | None, typer.Argument(
        help="Folder of scenario files; default the project's scenarios/.")] = None,
) -> None:
    """List the scenario files of a folder: scenarios, period and changes.

    Example: twin scenario list
    """
    from twin.scenario import ScenarioFileError, load_scenario_file

    folder = folder or config.project_root() / "scenarios"
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not files:
        fail(f"{folder}: no scenario files (*.yaml)")
    table = Table(title=f"scenario files in {folder}")
    for col in ("file", "scenarios", "period", "changes", "description"):
        table.add_column(col)
    for f in files:
        try:
            ss = load_scenario_file(f)
        except ScenarioFileError as exc:
            table.add_row(f.name, "error", "", "", escape(str(exc)))
            continue
        s = ss[-1]
        period = f"{s.base.start or 'year'}" + (f" +{s.base.days} d" if s.base.days else "")
        changes = ", ".join(dict.fromkeys(c.type for x in ss for c in x.changes)) or "none"
        table.add_row(f.name, str(len(ss)), period, changes,
                      escape(s.description.strip()[:70]))
    console.print(table)


@app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="Scenario files (YAML).")],
    city: CityDir = None,
) -> None:
    """Check scenario files: the schema (file, line, field, what is allowed) and that every
    element, DMA and period exists in the city.

    Example: twin scenario validate scenarios/*.yaml
    """
    from twin.scenario import validate_scenarios

    scenarios = _read(files)
    town = load_city_or_fail(city)
    user, _ = _errors()
    try:
        notes = validate_scenarios(town, scenarios)
    except user as exc:
        fail(str(exc))
    for s, n in zip(scenarios, notes, strict=True):
        console.print(f"ok {s.name} ({len(s.changes)} changes)"
                      f"{': ' + '; '.join(n) if n else ''}", markup=False)
    console.print(f"{len(scenarios)} scenario(s) in {len(files)} file(s) are valid for "
                  f"{town.name}")


@app.command("schema")
def schema(
    out: Annotated[Path | None, typer.Option(help="Write the JSON schema to this file.")] = None,
) -> None:
    """Print (or write) the JSON schema of scenario files, for editors.

    Example: twin scenario schema --out scenario.schema.json
    """
    from twin.scenario import scenario_schema

    writable_file(out, "--out")
    text = json.dumps(scenario_schema(), indent=1)
    if out:
        out.write_text(text)
        console.print(f"schema written to {out}")
    else:
        print(text)
