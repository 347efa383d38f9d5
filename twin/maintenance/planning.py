"""Actions per asset and the budget-constrained programme.

Each asset gets one recommended action (inspect, refurbish, replace, monitor) from its
health band, criticality band and PoF, with its cost and the risk it removes. The programme
chooses the actions that remove the most risk within the budget: a 0/1 knapsack solved
exactly by mixed-integer linear programming (``scipy.optimize.milp``, HiGHS branch and
bound to optimality).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from twin.maintenance import parameters as P
from twin.maintenance.cnaim import pof_curve

ACTIONS = ("replace", "refurbish", "inspect", "monitor")
#: Share of an asset's risk an inspection removes (defects found and fixed early) [-]
#: (house value).
INSPECTION_RISK_REDUCTION = 0.15


def recommend(ranking: pd.DataFrame) -> pd.DataFrame:
    """Add ``action``, ``action_cost`` [money] and ``risk_reduction_money_per_year`` to a
    ranking (it needs ``asset_class``, ``health_band``, ``criticality_band``,
    ``pof_per_year``, ``cof_money``, ``health_index``, ``length_m``, ``k_percent``)."""
    cls = P.asset_classes()
    r = ranking.copy()
    hb = r.health_band.str[2].astype(int)
    cb = r.criticality_band.str[1].astype(int)
    act = np.where((hb >= 5) | ((hb >= 4) & (cb >= 3)), "replace",
                   np.where((hb >= 4) | ((hb >= 3) & (cb >= 4)), "refurbish",
                            np.where((hb >= 3) | (r.pof_per_year > P.INSPECT_POF), "inspect",
                                     "monitor")))
    is_pipe = r.asset_class.eq("pipe").to_numpy()
    # a pipe expected to break about yearly is replaced; pipes are not refurbished here
    act = np.where(is_pipe & (r.pof_per_year > 0.5), "replace", act)
    refurb_cost = r.asset_class.map(cls.refurbish_cost).to_numpy(float)
    act = np.where((act == "refurbish") & (refurb_cost <= 0), "replace", act)
    km = r.length_m.to_numpy(float) / 1000.0
    costs = {
        "replace": r.asset_class.map(cls.replace_cost).to_numpy(float)
        + r.asset_class.map(cls.replace_cost_per_km).to_numpy(float) * km,
        "refurbish": refurb_cost,
        "inspect": r.asset_class.map(cls.inspect_cost).to_numpy(float),
        "monitor": np.zeros(len(r)),
    }
    r["action"] = act
    r["action_cost"] = np.select([act == a for a in ACTIONS], [costs[a] for a in ACTIONS])
    # CNAIM classes: the PoF curve's ratio at the health after the action (scale-free, so
    # per-km cables and calibrated K stay consistent); pipes: a new pipe breaks a tenth as often
    h = r.health_index.to_numpy(float)
    k = r.k_percent.to_numpy(float)
    now = np.maximum(pof_curve(h, k), 1e-300)
    ratio_new = pof_curve(P.H_NEW, k) / now
    ratio_refurb = pof_curve(np.maximum(h * P.REFURBISH_HEALTH_FACTOR, P.H_MIN), k) / now
    pof = r.pof_per_year.to_numpy(float)
    pof_after = np.select(
        [act == "replace", act == "refurbish", act == "inspect"],
        [np.where(is_pipe, pof * 0.1, pof * ratio_new), pof * ratio_refurb,
         pof * (1 - INSPECTION_RISK_REDUCTION)], pof)
    pof_after = np.minimum(pof_after, r.pof_per_year)
    r["risk_reduction_money_per_year"] = (r.pof_per_year - pof_after) * r.cof_money
    return r


@dataclass
class Plan:
    """A budget-constrained programme.

    Attributes
    ----------
    actions : DataFrame
        The chosen actions (``asset_id``, ``asset_class``, ``action``, ``action_cost``,
        ``risk_reduction_money_per_year``, ``year`` of the programme it falls in).
    budget : float
        Budget per year [money].
    years : int
        Programme length [a].
    risk_before, risk_after : float
        Risk of the whole register before and after the programme [money/a].
    spent : float
        Money the programme spends [money].
    optimal : bool
        The solver proved the selection optimal.
    """

    actions: pd.DataFrame
    budget: float
    years: int
    risk_before: float
    risk_after: float
    spent: float
    optimal: bool

    def summary(self) -> str:
        return (f"{len(self.actions)} actions over {self.years} year(s), "
                f"{self.spent:,.0f} of {self.budget * self.years:,.0f} spent; risk "
                f"{self.risk_before:,.0f} -> {self.risk_after:,.0f} per year "
                f"({'optimal' if self.optimal else 'not proved optimal'})")


def plan(ranking: pd.DataFrame, budget: float, years: int = 1) -> Plan:
    """Choose the actions that remove the most risk within ``budget`` per year.

    Over several years each action is placed in at most one year, each year's spending
    within ``budget``, and an action done in year y removes its risk for the ``years - y + 1``
    years left: a multiple knapsack solved exactly as one MILP.

    Raises
    ------
    ValueError
        A budget that is not positive or a ``years`` below 1.
    """
    if not np.isfinite(budget) or budget <= 0:
        raise ValueError(f"budget must be a positive amount of money, not {budget}; with no "
                         "money there is no programme to plan")
    if years < 1:
        raise ValueError(f"years must be at least 1, not {years}")
    from scipy.optimize import Bounds, LinearConstraint, milp

    if "action" not in ranking:
        ranking = recommend(ranking)
    cand = ranking[(ranking.action != "monitor") & (ranking.risk_reduction_money_per_year > 0)
                   & (ranking.action_cost > 0)].reset_index(drop=True)
    total = float(ranking.risk_money_per_year.sum())
    if cand.empty:
        return Plan(cand.assign(year=[]), budget, years, total, total, 0.0, True)
    gain = cand.risk_reduction_money_per_year.to_numpy(float)
    cost = cand.action_cost.to_numpy(float)
    n = len(cand)
    # x[i, y]: action i done in year y; it removes its risk for the years left in the programme
    weight = np.concatenate([gain * (years - y) for y in range(years)])
    per_year = np.zeros((years, n * years))
    once = np.zeros((n, n * years))
    for y in range(years):
        per_year[y, y * n:(y + 1) * n] = cost
        once[np.arange(n), y * n + np.arange(n)] = 1.0
    res = milp(-weight, integrality=np.ones(n * years), bounds=Bounds(0, 1),
               constraints=[LinearConstraint(per_year, 0, budget),
                            LinearConstraint(once, 0, 1)])
    x = np.round(res.x).reshape(years, n) if res.x is not None else np.zeros((years, n))
    done_year = np.where(x.any(axis=0), x.argmax(axis=0) + 1, 0)
    chosen = np.flatnonzero(done_year > 0)
    sel = cand.iloc[chosen].copy()
    sel["year"] = done_year[chosen]
    sel = sel.sort_values(["year", "risk_reduction_money_per_year"], ascending=[True, False])
    cols = ["asset_id", "asset_class", "action", "action_cost", "risk_reduction_money_per_year",
            "risk_money_per_year", "year"]
    return Plan(sel[cols].reset_index(drop=True), budget, years, total,
                total - float(sel.risk_reduction_money_per_year.sum()), float(cost[chosen].sum()),
                bool(res.status == 0))
