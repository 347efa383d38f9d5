"""Predictive maintenance: asset health, probability and consequence of failure, risk, the
plan within a budget, and the PDF report a maintenance lead acts on.

Public API (what the CLI and the dashboard call)::

    from twin.maintenance import assess, risk_matrix, plan, write_report, read_work_orders

    history = read_work_orders("work_orders.csv", city.assets.asset_id)
    a = assess(city, history=history, store=None, progress=print)  # -> Assessment
    a.ranking            # one row per asset, riskiest first (see RANKING_COLUMNS)
    risk_matrix(a.ranking)                    # 5 health bands × 4 criticality bands
    p = plan(a.ranking, budget=2e6, years=1)  # -> Plan (p.actions, p.risk_after, p.summary())
    write_report(a, "report.pdf", budget=2e6, top=20)

Modules, one idea each: :mod:`.cnaim` (health index and PoF), :mod:`.thermal` (IEC 60076-7),
:mod:`.condition` (condition inputs), :mod:`.observations` (the simulated year),
:mod:`.history` (work orders), :mod:`.pipes` (break models), :mod:`.consequence`,
:mod:`.planning`, :mod:`.register`, :mod:`.report`; parameters as data in
:mod:`.parameters` (``asset_classes.csv``, ``pipe_materials.csv``).
"""

from __future__ import annotations

from pathlib import Path

from twin.maintenance.assess import INPUTS, RANKING_COLUMNS, Assessment, risk_matrix
from twin.maintenance.assess import assess as _assess
from twin.maintenance.history import History, HistoryError, read_work_orders
from twin.maintenance.planning import Plan, plan
from twin.maintenance.register import RegisterError

__all__ = ["assess", "risk_matrix", "plan", "write_report", "report", "read_work_orders",
           "default_history_path", "Assessment", "INPUTS",
           "Plan", "History", "HistoryError", "RegisterError", "RANKING_COLUMNS"]


def assess(city, *, history: History | str | Path, store=None, progress=None,
           profiles: dict | None = None, observations=None, inputs=INPUTS,
           consequences=None) -> Assessment:
    """Rank every asset of ``city`` by risk = PoF × CoF [money/a].

    Parameters
    ----------
    city : City
        The city (``twin.city.load_city()`` or any city folder).
    history : History or path
        The work-order history (a CMMS export CSV, or what :func:`read_work_orders` read).
    store : MeasurementStore, optional
        SCADA and VEE flags (failing meters).
    progress : callable, optional
        ``progress(stage: str)`` as each stage starts.
    profiles, observations : optional
        A year of electric profiles, or a simulated year already computed
        (:func:`twin.maintenance.observations.observe`).
    inputs : frozenset
        Measured inputs used (default all of :data:`INPUTS`: loading, pressure, breaks,
        inspections); fewer show what each adds.
    consequences : DataFrame, optional
        The consequence columns of an earlier ranking of the same city, reused.

    Returns
    -------
    Assessment
        ``ranking`` (DataFrame, :data:`RANKING_COLUMNS` then evidence columns),
        ``break_models`` and ``break_model_reason``, ``as_of_year``, ``meters``, ``notes``.
    """
    if not isinstance(history, History):
        history = read_work_orders(history, city.assets.asset_id)
    return _assess(city, history, store=store, profiles=profiles, observations=observations,
                   progress=progress, inputs=inputs, consequences=consequences)


def write_report(assessment: Assessment, path: str | Path, *, budget: float = 2e6,
                 top: int = 20) -> Path:
    """Write the PDF report (summary, risk matrix, maps, ranked table, a page per top asset);
    byte-identical for the same inputs. Returns the path."""
    from twin.maintenance.report import build_report

    return build_report(assessment, Path(path), budget=budget, top=top)


def default_history_path() -> Path:
    """Where ``twin maintenance history`` writes the sample city's work orders (under the
    data directory)."""
    from twin import config

    return config.data_dir() / "maintenance" / "work_orders.csv"


def report(city, *, history: History | str | Path, path: str | Path, budget: float = 2e6,
           top: int = 20, store=None, progress=None) -> tuple[Assessment, Path]:
    """Assess ``city`` and write its PDF report in one call (what ``twin maintenance report``
    runs); returns the assessment and the PDF's path."""
    if not (budget > 0):
        raise ValueError(f"budget must be a positive amount of money, not {budget}")
    a = assess(city, history=history, store=store, progress=progress)
    if progress is not None:
        progress("PDF report")
    return a, write_report(a, path, budget=budget, top=top)
