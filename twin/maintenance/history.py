"""The failure and inspection history: a CMMS work-order export, read and checked.

Columns (the export of :mod:`twin.synthetic.failures` and of most CMMS): ``work_order``,
``asset_id``, ``work_type`` (``CM`` corrective = a failure, ``PM`` preventive = an
inspection), ``failure_code``, ``problem``, ``reported_local``, ``completed_local``,
``status``, ``condition_grade`` (1 as new .. 5 very poor, inspections only), ``labour_hours``,
``cost``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED_COLUMNS = ("work_order", "asset_id", "work_type", "reported_local")
#: Work types that record a failure.
FAILURE_WORK_TYPES = ("CM", "EM")


class HistoryError(ValueError):
    """The work-order history cannot be used as it is."""


@dataclass
class History:
    """Failures and inspections per asset.

    Attributes
    ----------
    failures : DataFrame
        ``asset_id``, ``time`` (reported, local) of every corrective work order.
    inspections : DataFrame
        ``asset_id``, ``time``, ``condition_grade`` of graded inspections.
    first_year, last_year : int
        Years the records cover (records begin on 1 January of ``first_year``).
    rejected : DataFrame
        Rows not used, with ``line`` and ``reason`` (unknown asset, unreadable date).
    """

    failures: pd.DataFrame
    inspections: pd.DataFrame
    first_year: int
    last_year: int
    rejected: pd.DataFrame

    def failures_per_asset(self) -> pd.Series:
        """Failures recorded per asset_id [-]."""
        return self.failures.asset_id.value_counts()

    def latest_grade(self) -> pd.Series:
        """The latest inspection grade per asset_id [1-5]."""
        if self.inspections.empty:
            return pd.Series(dtype=float)
        return self.inspections.sort_values("time").groupby("asset_id").condition_grade.last()

    @property
    def years(self) -> int:
        return self.last_year - self.first_year + 1


def read_work_orders(path: str | Path, asset_ids: pd.Index,
                     first_year: int | None = None) -> History:
    """Read a work-order export and check it against the asset register.

    Parameters
    ----------
    path : path
        CSV file.
    asset_ids : Index
        The register's asset ids.
    first_year : int, optional
        Year records began; default the year of the earliest work order.

    Raises
    ------
    HistoryError
        Missing file or columns, or no work order at all (an empty history cannot calibrate
        anything: say so rather than rank on nothing).
    """
    path = Path(path)
    if not path.exists():
        raise HistoryError(f"{path}: no work-order history here; pass the CMMS export "
                           "(--history) or build the sample city's (`twin maintenance history`)")
    df = pd.read_csv(path, dtype={"asset_id": str, "work_order": str})
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise HistoryError(f"{path}: columns {missing} missing; a work-order export needs "
                           f"{list(REQUIRED_COLUMNS)}")
    if df.empty:
        raise HistoryError(f"{path}: the work-order history is empty (no failures or "
                           "inspections recorded); PoF cannot be calibrated on it")
    df["line"] = np.arange(2, len(df) + 2)
    df["time"] = pd.to_datetime(df["reported_local"], errors="coerce")
    rejected = []
    bad_time = df.time.isna()
    rejected.append(df.loc[bad_time, ["line"]].assign(
        reason="reported_local is not a date: " + df.loc[bad_time, "reported_local"].astype(str)))
    unknown = ~df.asset_id.isin(asset_ids)
    rejected.append(df.loc[unknown & ~bad_time, ["line"]].assign(
        reason="asset_id " + df.loc[unknown & ~bad_time, "asset_id"].astype(str)
        + " is not in the asset register"))
    ok = df[~bad_time & ~unknown]
    if ok.empty:
        raise HistoryError(f"{path}: none of the {len(df)} work orders names an asset of the "
                           "register with a readable date (first problem: "
                           f"line {pd.concat(rejected).iloc[0].line}: "
                           f"{pd.concat(rejected).iloc[0].reason})")
    years = ok.time.dt.year
    first = int(first_year if first_year is not None else years.min())
    last = int(years.max())
    is_failure = ok.work_type.astype(str).str.upper().isin(FAILURE_WORK_TYPES)
    failures = ok.loc[is_failure, ["asset_id", "time"]].reset_index(drop=True)
    grade = pd.to_numeric(ok.get("condition_grade"), errors="coerce") \
        if "condition_grade" in ok else pd.Series(np.nan, index=ok.index)
    graded = ~is_failure & grade.between(1, 5)
    inspections = ok.loc[graded, ["asset_id", "time"]].assign(
        condition_grade=grade[graded].astype(float)).reset_index(drop=True)
    return History(failures, inspections, first, last,
                   pd.concat(rejected, ignore_index=True))
