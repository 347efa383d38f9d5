"""``twin maintenance …``: asset risk ranking, the budget plan and the PDF report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.cli.common import CityDir

app = typer.Typer(help="Predictive maintenance: which assets fail first, what it costs, what to "
                  "do within a budget.\n\nExample: twin maintenance report --out report.pdf",
                  no_args_is_help=True, rich_markup_mode=None)

#: Short names of the asset classes in printed tables.
SHORT_CLASS = {"hv_mv_transformer": "HV/MV trafo", "distribution_transformer": "dist. trafo",
               "flow_meter": "flow meter"}
#: Stages :func:`twin.maintenance.assess` reports, for the progress bar's length.
STAGES = 9

History = Annotated[Path | None, typer.Option(
    help="Work-order (CMMS) export CSV; default <data dir>/maintenance/work_orders.csv "
    "(the sample's, from `twin maintenance history`).")]
Store = Annotated[Path | None, typer.Option(
    help="Measurement store for SCADA pump efficiency and VEE meter flags (optional).")]


def _run(fn, *args, **kwargs):
    """Call the library with a progress bar over its stages; user errors as one line."""
    from twin.cli.common import fail, progress_bar
    from twin.maintenance import HistoryError, RegisterError

    with progress_bar() as bar:
        task = bar.add_task("maintenance", total=STAGES)

        def stage(name: str) -> None:
            bar.update(task, advance=1, description=name)

        try:
            out = fn(*args, progress=stage, **kwargs)
        except (HistoryError, RegisterError, ValueError, FileNotFoundError) as exc:
            fail(str(exc))
        bar.update(task, completed=STAGES, description="done")
    return out


def _inputs(city: Path | None, history: Path | None, store: Path | None):
    from twin.cli.common import fail, load_city_or_fail, store_root
    from twin.maintenance import default_history_path

    h = history or default_history_path()
    if history is not None and history.is_file():  # a missing one: the library says what to do
        try:
            with open(h, encoding="utf-8") as f:
                f.read(1 << 16)
        except UnicodeDecodeError:
            fail(f"--history {h}: not a text (UTF-8) CSV file; give the CMMS work-order "
                 "export as CSV")
    s = None
    if store is not None:
        from twin.ingest.store import MeasurementStore

        s = MeasurementStore(store_root(store))
    c = load_city_or_fail(city)
    return c, h, s


@app.command("rank")
def rank(
    city: CityDir = None,
    history: History = None,
    store: Store = None,
    csv: Annotated[Path | None, typer.Option(help="Write the whole ranking as CSV.")] = None,
    parquet: Annotated[Path | None, typer.Option(help="Write it as Parquet.")] = None,
    top: Annotated[int, typer.Option(min=1, help="Rows printed.")] = 15,
) -> None:
    """Rank every asset by risk = PoF × CoF [money/yr], with health, consequence and action.

    Example: twin maintenance rank --csv ranking.csv
    """
    from rich.table import Table

    from twin.cli.common import console, writable_file
    from twin.maintenance import assess

    writable_file(csv, "--csv")
    writable_file(parquet, "--parquet")
    c, h, s = _inputs(city, history, store)
    a = _run(assess, c, history=h, store=s)
    r = a.ranking
    t = Table(title=f"{c.name}: asset risk for {a.as_of_year} (top {min(top, len(r))} of "
                    f"{len(r)})", box=None, pad_edge=False)
    for col in ("rank", "asset", "class", "age", "HI", "PoF/yr", "CoF", "risk/yr", "action"):
        t.add_column(col, no_wrap=True)
    for x in r.head(top).itertuples():
        t.add_row(str(x.rank), x.asset_id, SHORT_CLASS.get(x.asset_class, x.asset_class),
                  f"{x.age_years:.0f}",
                  f"{x.health_index:.1f} {x.health_band}", f"{x.pof_per_year:.3f}",
                  f"{x.cof_money:,.0f}", f"{x.risk_money_per_year:,.0f}", x.action)
    console.print(t)
    console.print(f"money at risk {r.risk_money_per_year.sum():,.0f} per year; "
                  f"{r.pof_per_year.sum():.1f} failures expected; {a.break_model_reason}")
    flagged = int((r["flag"] != "").sum())
    if flagged:
        console.print(f"{flagged} register rows flagged (column 'flag')")
    for path, fmt in ((csv, "csv"), (parquet, "parquet")):
        if path is not None:
            (r.to_csv(path, index=False) if fmt == "csv" else r.to_parquet(path, index=False))
            console.print(f"wrote {path}")


@app.command("plan")
def plan_cmd(
    budget: Annotated[float, typer.Option(help="Budget per year [money].")],
    years: Annotated[int, typer.Option(help="Programme length [years].")] = 1,
    city: CityDir = None,
    history: History = None,
    store: Store = None,
    csv: Annotated[Path | None, typer.Option(help="Write the chosen actions as CSV.")] = None,
) -> None:
    """Choose the actions that remove the most risk within a budget (exact knapsack).

    Example: twin maintenance plan --budget 2e6 --years 5
    """
    from twin.cli.common import console, fail, writable_file
    from twin.maintenance import assess, plan

    if not budget > 0:
        fail(f"--budget must be a positive amount of money, not {budget}")
    if years < 1:
        fail(f"--years must be at least 1, not {years}")
    writable_file(csv, "--csv")
    c, h, s = _inputs(city, history, store)
    a = _run(assess, c, history=h, store=s)
    p = plan(a.ranking, budget, years)
    console.print(p.summary())
    by = p.actions.groupby(["year", "action"]).action_cost.agg(["size", "sum"])
    console.print(by.rename(columns={"size": "assets", "sum": "cost"}).to_string())
    if csv is not None:
        p.actions.to_csv(csv, index=False)
        console.print(f"wrote {csv}")


@app.command("report")
def report_cmd(
    out: Annotated[Path, typer.Option(help="PDF file to write.")],
    budget: Annotated[float, typer.Option(help="Budget per year [money].")] = 2e6,
    top: Annotated[int, typer.Option(help="Assets with a page of their own.")] = 20,
    city: CityDir = None,
    history: History = None,
    store: Store = None,
) -> None:
    """Write the PDF a maintenance lead acts on: summary, risk matrix, map, ranked table,
    programme, a page per top asset.

    Example: twin maintenance report --out report.pdf --budget 2e6 --top 20
    """
    from twin.cli.common import console, fail, writable_file
    from twin.maintenance import report

    if not budget > 0:
        fail(f"--budget must be a positive amount of money, not {budget}")
    if top < 1:
        fail(f"--top must be at least 1, not {top}")
    writable_file(out, "--out")
    c, h, s = _inputs(city, history, store)
    a, path = _run(report, c, history=h, path=out, budget=budget, top=top, store=s)
    r = a.ranking
    console.print(f"wrote {path}: {len(r)} assets, money at risk "
                  f"{r.risk_money_per_year.sum():,.0f} per year, top {top} on their own pages")


@app.command("history")
def history_cmd(
    out: Annotated[Path | None, typer.Option(
        help="Folder; default <data dir>/maintenance.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the draws.")] = 14,
    city: CityDir = None,
) -> None:
    """Build the sample city's work-order history from a hidden failure hazard (and the
    held-out year under truth/), for testing the models.

    Example: twin maintenance history --seed 14
    """
    from twin.cli.common import console, load_city_or_fail, writable_folder
    from twin.maintenance import default_history_path
    from twin.synthetic.failures import build_failures

    folder = writable_folder(out, "--out") or default_history_path().parent
    c = load_city_or_fail(city)
    with console.status("simulating the year and drawing failures"):
        counts = build_failures(c, folder, seed=seed)
    console.print(f"wrote {folder / 'work_orders.csv'}: {counts['history_failures']} failures, "
                  f"{counts['inspections']} inspections; held-out year "
                  f"{counts['future_failures']} failures in {folder / 'truth'}")
