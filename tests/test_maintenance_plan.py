"""Planning (knapsack against brute force), register and history checks of the maintenance
package."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from twin.maintenance import RegisterError, plan, read_work_orders
from twin.maintenance.history import HistoryError
from twin.maintenance.register import check_register


def _ranking(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "asset_id": [f"A{i}" for i in range(n)], "asset_class": "cable",
        "action": "replace", "action_cost": rng.integers(1, 20, n) * 1000.0,
        "risk_reduction_money_per_year": rng.uniform(100, 5000, n),
        "risk_money_per_year": rng.uniform(5000, 9000, n)})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_plan_is_the_best_selection_by_brute_force(seed):
    r = _ranking(12, seed)
    budget = 40_000.0
    p = plan(r, budget, 1)
    best = 0.0
    for k in range(len(r) + 1):
        for combo in itertools.combinations(range(len(r)), k):
            c = list(combo)
            if r.action_cost.iloc[c].sum() <= budget:
                best = max(best, r.risk_reduction_money_per_year.iloc[c].sum())
    got = p.actions.risk_reduction_money_per_year.sum()
    assert got == pytest.approx(best, rel=1e-9)
    assert p.spent <= budget
    assert p.risk_after == pytest.approx(r.risk_money_per_year.sum() - got)
    assert p.optimal


def test_five_year_plan_keeps_each_year_in_budget():
    r = _ranking(30, 7)
    p = plan(r, 25_000.0, 5)
    spent = p.actions.groupby("year").action_cost.sum()
    assert (spent <= 25_000.0 + 1e-6).all() and set(spent.index) <= set(range(1, 6))


@pytest.mark.parametrize("budget", [0, -5, float("nan")])
def test_plan_refuses_no_budget(budget):
    with pytest.raises(ValueError, match="budget"):
        plan(_ranking(3, 1), budget, 1)


def test_register_errors_name_row_and_column(city):
    a = city.assets.copy()
    a.loc[3, "asset_class"] = "windmill"
    a.loc[5, "install_year"] = np.nan
    a.loc[7, "asset_id"] = a.loc[6, "asset_id"]
    with pytest.raises(RegisterError) as e:
        check_register(a, city.net, city.wn, 2025)
    msg = str(e.value)
    assert "row 5, column asset_class" in msg and "windmill" in msg
    assert "row 7, column install_year" in msg
    assert "row 9, column asset_id" in msg and "duplicate" in msg


def test_register_flags_future_years_and_unmapped_assets(city):
    a = city.assets.copy()
    a.loc[0, "install_year"] = 2031
    a.loc[1, "element"] = "999999"
    reg = check_register(a, city.net, city.wn, 2025)
    assert len(reg) == len(a)  # nothing dropped
    assert "after 2025" in reg["flag"].iat[0] and reg.age_years.iat[0] == 0
    assert "no network element" in reg["flag"].iat[1] and not reg.mapped.iat[1]
    assert (reg["flag"].iloc[2:] == "").sum() > 0.95 * (len(a) - 2)


def test_history_errors(city, tmp_path):
    ids = city.assets.asset_id
    with pytest.raises(HistoryError, match="no work-order history"):
        read_work_orders(tmp_path / "none.csv", ids)
    empty = tmp_path / "empty.csv"
    empty.write_text("work_order,asset_id,work_type,reported_local\n")
    with pytest.raises(HistoryError, match="empty"):
        read_work_orders(empty, ids)
    f = tmp_path / "wo.csv"
    f.write_text("work_order,asset_id,work_type,reported_local,condition_grade\n"
                 f"W1,{ids.iat[0]},CM,2020-03-01 10:00,\n"
                 "W2,XX-99999,CM,2020-04-01 10:00,\n"
                 f"W3,{ids.iat[1]},CM,not a date,\n"
                 f"W4,{ids.iat[2]},PM,2021-05-01 08:00,4\n")
    h = read_work_orders(f, ids)
    assert len(h.failures) == 1 and len(h.inspections) == 1
    assert list(h.rejected.line) == [4, 3]
    assert "XX-99999 is not in the asset register" in h.rejected.reason.iat[1]
    assert h.latest_grade()[ids.iat[2]] == 4
