"""The assessment: every asset's health, PoF, consequence, risk and recommended action.

Thin orchestration of the modules of this package: observations of the simulated year
(:mod:`.observations`), the work-order history (:mod:`.history`), pipe break models
(:mod:`.pipes`), CNAIM health and PoF (:mod:`.cnaim`), consequences from the networks
(:mod:`.consequence`) and actions (:mod:`.planning`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from twin.maintenance import cnaim, condition, consequence
from twin.maintenance import parameters as P
from twin.maintenance import pipes as pipe_models
from twin.maintenance.history import History
from twin.maintenance.planning import recommend
from twin.maintenance.register import check_register

#: Fault-history factor per recorded failure per decade, and its cap [-] (house values). It
#: applies to assets with no condition grade on record: a failure was repaired, and the
#: inspections since see the condition it left (counting both counts one frailty twice; on the
#: history's own years, inputs 2015-2021 scored on 2022-2024, the distribution transformers'
#: C-index was 0.774 with both and 0.781 with the grades alone, cables unchanged at 0.788).
FAULT_FACTOR_PER_DECADE, FAULT_FACTOR_CAP = 0.3, 2.0
#: Thermal factor per unit of mean relative ageing rate, and its cap [-] (house values).
THERMAL_FACTOR_SLOPE, THERMAL_FACTOR_CAP = 0.5, 2.0
#: Years of future risk in ``pv_future_risk_money`` [a].
FUTURE_YEARS = 5
#: Load factor the thermal model is run up to; above, the register's rating is suspect [p.u.].
MAX_MODEL_LOAD_PU = 2.0

#: Evidence columns of the consequence of failure (counts and energy, no customer data).
CONSEQUENCE_COLUMNS = ["customers_cut", "critical_cut", "customers_restorable", "ens_kwh",
                       "customers_low_pressure", "customer_hours_low", "pumps_cut"]

RANKING_COLUMNS = ["rank", "asset_id", "asset_class", "network", "element", "age_years",
                   "health_index", "health_band", "pof_per_year", "cof_money",
                   "risk_money_per_year", "criticality_band", "action", "action_cost",
                   "evidence", "flag"]


@dataclass
class Assessment:
    """The result of :func:`assess`.

    Attributes
    ----------
    ranking : DataFrame
        One row per asset, riskiest first: :data:`RANKING_COLUMNS` then evidence figures
        (``max_utilisation_pct``, ``mean_ageing_rate``, ``max_hot_spot_c``,
        ``hours_above_120c``, ``failures_recorded``, ``latest_grade``, ``mean_grade``,
        ``pressure_m``,
        ``customers_cut``, ``critical_cut``, ``ens_kwh``, ``customer_hours_low`` ...) and
        ``pv_future_risk_money`` (present value of the next 5 years' risk, CNAIM future PoF).
    break_models : DataFrame
        Held-out scores of the pipe break models; ``break_model_reason`` says which won.
    as_of_year : int
        The year the assessment looks ahead from (the history's last year + 1).
    observations : Observations
        The simulated year behind it (daily hot spots, weekly line loading ...).
    history : History
        The work orders it read.
    city_name : str
    meters : DataFrame
        Failing-meter list from the store's VEE flags (empty without a store).
    notes : list of str
    pump_efficiency : DataFrame
        Per pump with a SCADA power and flow tag: ``mean_efficiency`` [-],
        ``drift_per_year`` [1/a], ``hours`` [h] (empty without a store).
    city : City
    """

    ranking: pd.DataFrame
    break_models: pd.DataFrame
    break_model_reason: str
    as_of_year: int
    observations: object = field(repr=False)
    history: History = field(repr=False)
    city_name: str = ""
    meters: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list = field(default_factory=list)
    pump_efficiency: pd.DataFrame = field(default_factory=pd.DataFrame)
    city: object = field(default=None, repr=False)


#: The measured inputs the ranking can use; ``assess(inputs=...)`` leaves some out to show
#: what each adds (``benchmarks/bench_maintenance.py``).
INPUTS = frozenset({"loading", "pressure", "breaks", "inspections"})


def assess(city, history: History, *, store=None, profiles: dict | None = None,
           observations=None, progress: Callable[[str], None] | None = None,
           inputs: frozenset = INPUTS, consequences: pd.DataFrame | None = None) -> Assessment:
    """Rank every asset of the city by risk.

    Parameters
    ----------
    city : City
    history : History
        Work orders (:func:`twin.maintenance.history.read_work_orders`).
    store : MeasurementStore, optional
        For pump wire-to-water efficiency (SCADA) and failing meters (VEE flags).
    profiles : dict, optional
        The year of electric profiles; default the city's.
    observations : Observations, optional
        A simulated year already computed.
    progress : callable, optional
        ``progress(stage)`` as each stage starts.
    inputs : frozenset
        Measured inputs to use, of :data:`INPUTS`: ``loading`` (duty factors, hot-spot
        ageing, overload hours, pump duty), ``pressure`` (the pipe break models' pressure),
        ``breaks`` (failures recorded: fault-history factor, pipes' earlier breaks),
        ``inspections`` (condition grades). Age and the networks' consequences always count.
    consequences : DataFrame, optional
        Consequences already computed for this city (``asset_id``, ``cof_money`` and the
        :data:`CONSEQUENCE_COLUMNS` of an earlier ranking): they depend on the networks, not
        on the history, so studies of many histories compute them once.
    """
    from twin.electric.profiles import city_profiles
    from twin.maintenance.observations import observe

    say = progress or (lambda stage: None)
    as_of = history.last_year + 1
    reg = check_register(city.assets, city.net, city.wn, as_of)
    profiles = city_profiles(city) if profiles is None else profiles
    obs = observations if observations is not None else observe(city, profiles, say)
    cls = P.asset_classes()
    reg["k_percent"] = reg.asset_class.map(cls.k_percent)
    ev = _evidence(reg, obs, history)
    use = _inputs_used(ev, inputs)

    say("health and PoF (CNAIM)")
    life = reg.asset_class.map(cls.normal_expected_life_years).astype(float)
    mat_life = reg.type_material.map(P.pipe_materials().normal_expected_life_years)
    life = np.where(reg.asset_class.eq("pipe") & mat_life.notna(), mat_life, life)
    duty = np.ones(len(reg))
    tr = reg.asset_class.isin(["distribution_transformer", "hv_mv_transformer"]).to_numpy()
    duty[tr] = cnaim.duty_factor_transformer(use.max_utilisation_pct.to_numpy()[tr])
    cb = reg.asset_class.eq("cable").to_numpy()
    duty[cb] = cnaim.duty_factor_cable(use.max_utilisation_pct.to_numpy()[cb])
    b1 = cnaim.beta_1(cnaim.expected_life(life, duty))
    h0 = cnaim.initial_health(b1, reg.age_years.to_numpy())
    factor = _health_factor(reg, use, history)
    health = cnaim.current_health(h0, factor)
    pof = cnaim.pof_curve(health, reg.k_percent.to_numpy(float))
    # a cable's CNAIM PoF is per km of its length (R package: "per annum per kilometer")
    pof = np.where(cb, pof * np.maximum(reg.length_m.to_numpy(float), 1.0) / 1000.0, pof)
    pof, notes = _calibrate(reg, pof, history)

    say("pipe break models (lifelines)")
    pipes = reg[reg.asset_class.eq("pipe")]
    scores, reason = pd.DataFrame(), "no pipes in the register"
    if len(pipes):
        x = pipe_models.pipe_covariates(pipes, obs.pipe_pressure_m)
        if "pressure" not in inputs:
            x = x.drop(columns="pressure_m")
        breaks = history.failures[history.failures.asset_id.isin(pipes.asset_id)]
        if len(breaks) >= 5:
            if "breaks" in inputs:
                x["log_prior_breaks"] = pipe_models.prior_breaks(
                    breaks, pd.Index(pipes.asset_id), as_of).to_numpy()
            try:
                choice = pipe_models.choose_break_model(pipes, breaks, x, history.first_year,
                                                        history.last_year)
            except pipe_models.BreakModelError as exc:
                choice, reason = None, f"{exc}; pipe PoF from CNAIM ageing alone"
                notes.append(reason)
            if choice is not None:
                mu = choice.chosen.expected_breaks(x, pipes.age_years.to_numpy())
                # a pipe's PoF is its expected breaks per year (a rate, as CNAIM's PoF), so
                # that risk counts every break of a pipe that breaks more than once a year
                pof[pipes.index] = np.where(pipes.age_years > 0, mu, 0.0)
                ev.loc[pipes.index, "expected_breaks_next_year"] = mu
                scores, reason = choice.scores, choice.reason
        else:
            reason = (f"only {len(breaks)} pipe breaks recorded: too few to fit a break model; "
                      "pipe PoF from CNAIM ageing alone")
            notes.append(reason)

    say("consequence of failure (N-1, EPANET)")
    if consequences is None:
        cof = _consequences(city, reg, profiles, ev, say)
    else:
        known = consequences.set_index("asset_id").reindex(reg.asset_id)
        for col in CONSEQUENCE_COLUMNS:
            ev[col] = known[col].to_numpy()
        cof = known.cof_money.to_numpy(float)
    ranking = reg[["asset_id", "asset_class", "network", "element", "element_table",
                   "age_years", "length_m", "k_percent", "flag"]].copy()
    ranking["health_index"] = health
    ranking["health_band"] = cnaim.health_band(health)
    ranking["pof_per_year"] = pof
    ranking["cof_money"] = cof
    ranking["risk_money_per_year"] = pof * cof
    ranking["pv_future_risk_money"] = _future_risk(reg, health, b1, pof, cof)
    ref = ranking.groupby("asset_class").cof_money.transform("median").replace(0, np.nan)
    rel = (ranking.cof_money / ref).fillna(1.0).to_numpy()
    uppers = np.array([u for _, _, u in P.CRITICALITY_BANDS])
    names = np.array([b for b, _, _ in P.CRITICALITY_BANDS])
    ranking["criticality_band"] = names[np.minimum(np.searchsorted(uppers, rel, side="right"),
                                                   len(names) - 1)]
    ranking = pd.concat([ranking, ev.drop(columns=[c for c in ev.columns
                                                   if c in ranking.columns])], axis=1)
    ranking["evidence"] = _evidence_text(ranking)
    ranking = recommend(ranking)
    ranking = ranking.sort_values(["risk_money_per_year", "asset_id"],
                                  ascending=[False, True]).reset_index(drop=True)
    ranking.insert(0, "rank", np.arange(1, len(ranking) + 1))
    rest = [c for c in ranking.columns if c not in RANKING_COLUMNS]
    meters, eff = pd.DataFrame(), pd.DataFrame()
    if store is not None:
        say("meters and pumps from the store (VEE flags, SCADA)")
        meters = _failing_meters(store)
        eff = _pump_efficiency(city, store)
    return Assessment(ranking[RANKING_COLUMNS + rest], scores, reason, as_of, obs, history,
                      city.name, meters, notes, eff, city)


def _future_risk(reg, health, b1, pof, cof) -> np.ndarray:
    """Present value of the next :data:`FUTURE_YEARS` years' risk [money]: CNAIM future PoF
    (β2 and the ageing-reduction factor, the score kept at least its own rather than the R
    package's 4) scaled to each asset's PoF today; pipes keep their expected breaks per
    year."""
    years = np.arange(1, FUTURE_YEARS + 1)
    k = reg.k_percent.to_numpy(float)
    now = np.maximum(cnaim.pof_curve(health, k), 1e-300)
    ratio = cnaim.future_pof(health, reg.age_years.to_numpy(float), b1, k, years,
                             floor=P.H_MIN) / now[:, None]
    ratio = np.where(reg.asset_class.eq("pipe").to_numpy()[:, None] | (k[:, None] <= 0), 1.0,
                     np.maximum(ratio, 1.0))
    return cnaim.present_value_future_risk(pof[:, None] * ratio, cof, P.DISCOUNT_RATE)


def _evidence(reg: pd.DataFrame, obs, history: History) -> pd.DataFrame:
    """Per asset the measured inputs: utilisation, hot spot, pressure, pump duty, history."""
    ev = pd.DataFrame(index=reg.index, dtype=float)
    for col in ("max_utilisation_pct", "mean_ageing_rate", "max_hot_spot_c", "hours_above_120c",
                "hours_above_140c", "overload_hours", "pressure_m", "running_hours_per_year",
                "starts_per_year", "edge_hours_per_year", "expected_breaks_next_year"):
        ev[col] = np.nan
    el = reg.element.astype(str)
    is_trafo = reg.element_table.eq("trafo")
    for m, table in ((reg.asset_class.eq("distribution_transformer") & ~is_trafo,
                      obs.distribution_transformers),
                     (reg.asset_class.isin(["hv_mv_transformer", "distribution_transformer"])
                      & is_trafo, obs.hv_transformers)):
        t = table.copy()
        t.index = t.index.astype(str)
        for col in ("max_utilisation_pct", "mean_ageing_rate", "max_hot_spot_c",
                    "hours_above_120c", "hours_above_140c"):
            ev.loc[m, col] = el[m].map(t[col]).to_numpy()
    m = reg.asset_class.eq("cable")
    lines = obs.lines.copy()
    lines.index = lines.index.astype(str)
    ev.loc[m, "max_utilisation_pct"] = el[m].map(lines.max_utilisation_pct).to_numpy()
    ev.loc[m, "overload_hours"] = el[m].map(lines.overload_hours).to_numpy()
    m = reg.asset_class.eq("pipe")
    ev.loc[m, "pressure_m"] = el[m].map(obs.pipe_pressure_m).to_numpy()
    m = reg.asset_class.eq("pump")
    for col in ("running_hours_per_year", "starts_per_year", "edge_hours_per_year"):
        if col in obs.pumps:
            ev.loc[m, col] = el[m].map(obs.pumps[col]).to_numpy()
    ev["failures_recorded"] = reg.asset_id.map(history.failures_per_asset()).fillna(0).to_numpy()
    ev["latest_grade"] = reg.asset_id.map(history.latest_grade()).to_numpy()
    ev["mean_grade"] = reg.asset_id.map(history.mean_grade()).to_numpy()
    return ev


def _inputs_used(ev: pd.DataFrame, inputs: frozenset) -> pd.DataFrame:
    """The evidence with the inputs left out set to 'not known' (NaN or 0)."""
    use = ev.copy()
    if "loading" not in inputs:
        use[["max_utilisation_pct", "mean_ageing_rate", "overload_hours",
             "edge_hours_per_year"]] = np.nan
    if "breaks" not in inputs:
        use["failures_recorded"] = 0.0
    if "inspections" not in inputs:
        use[["latest_grade", "mean_grade"]] = np.nan
    return use


def _health_factor(reg, ev, history: History) -> np.ndarray:
    """Health-score factor from the condition inputs (product of the modifiers): the observed
    condition of the mean inspection grade, the fault history where no grade is on record,
    hot-spot ageing, pump hours off the design flow and cable overload hours."""
    graded = ev.mean_grade.notna().to_numpy()
    grade = cnaim.condition_grade_factor(ev.mean_grade.to_numpy(float))
    per_decade = ev.failures_recorded.to_numpy() / max(history.years, 1) * 10
    faults = np.where(graded, 1.0,
                      np.minimum(1 + FAULT_FACTOR_PER_DECADE * per_decade, FAULT_FACTOR_CAP))
    thermal = np.minimum(1 + THERMAL_FACTOR_SLOPE * ev.mean_ageing_rate.fillna(0).to_numpy(),
                         THERMAL_FACTOR_CAP)
    edge = 1 + 0.2 * (ev.edge_hours_per_year.fillna(0).to_numpy() / 8760.0)
    overload = np.minimum(1 + 0.001 * ev.overload_hours.fillna(0).to_numpy(), 1.3)
    return grade * faults * thermal * edge * overload


def _calibrate(reg, pof: np.ndarray, history: History) -> tuple[np.ndarray, list]:
    """Scale each class's CNAIM PoF (its K) so that the class's expected failures per year
    match the failures recorded per year (CNAIM allows a DNO to calibrate K on its own
    fault data); classes without recorded failures keep CNAIM's K."""
    notes = []
    pof = pof.copy()
    rec = history.failures.asset_id.map(reg.set_index("asset_id").asset_class).value_counts()
    models = P.asset_classes().model
    for cls_name, idx in reg.groupby("asset_class").groups.items():
        if models.get(cls_name) != "cnaim":
            continue
        n = rec.get(cls_name, 0)
        expected = pof[idx].sum()
        if n > 0 and expected > 0:
            scale = n / history.years / expected
            pof[idx] = np.minimum(pof[idx] * scale, 0.999)
            reg.loc[idx, "k_percent"] = reg.loc[idx, "k_percent"] * scale
        else:
            notes.append(f"{cls_name}: no failures recorded; CNAIM's K used uncalibrated")
    return pof, notes


def _consequences(city, reg, profiles, ev, say) -> np.ndarray:
    """Consequence of one failure of each asset [money]; fills evidence columns in ``ev``."""
    from twin.coupling import pumps_fed_by

    cls = P.asset_classes()
    repair = reg.asset_class.map(cls.repair_cost).to_numpy(float)
    repair_h = reg.asset_class.map(cls.repair_hours).to_numpy(float)
    restore_h = reg.asset_class.map(cls.restore_hours).to_numpy(float)
    cols = CONSEQUENCE_COLUMNS
    figures = np.zeros((len(reg), len(cols)))
    out = repair.copy()
    customers = city.customers
    mean_load_mw = profiles["load_p_mw"].mean()
    try:
        nm1 = consequence.electric_outages(city, profiles)
    except Exception as exc:  # an N-1 that cannot run leaves the register's criticality
        nm1 = None
        say(f"N-1 skipped: {exc}")
    pump_water = {}
    for p in city.wn.pump_name_list:
        hours = int(cls.loc["pump", "repair_hours"])
        pump_water[p] = consequence.pump_outage_low_pressure(city, p, hours)
    pipe_names = reg.loc[reg.asset_class.eq("pipe") & reg.mapped, "element"].astype(str).tolist()
    low = consequence.pipe_outage_low_pressure(city, pipe_names) if pipe_names else None

    for i, a in enumerate(reg.itertuples()):
        if not a.mapped:
            continue
        cut = crit = rest = ens = lowc = lowh = 0.0
        pumps = []
        if a.asset_class == "distribution_transformer" and a.element_table == "load":
            here = customers[customers["load"] == int(a.element)]
            cut, crit = len(here), float((here.customer_class == "critical").sum())
            ens = float(mean_load_mw.get(int(a.element), 0.0)) * 1000 * repair_h[i]
        elif a.asset_class in ("cable", "hv_mv_transformer", "distribution_transformer",
                               "switch") and nm1 is not None:
            key = None
            if a.asset_class == "cable":
                key = ("line", int(a.element))
            elif a.element_table == "trafo":
                key = ("trafo", int(a.element))
            else:
                sw = city.net.switch.loc[int(a.element)]
                key = ("line", int(sw.element)) if sw.et == "l" else None
            if key is not None and key in nm1.index:
                r = nm1.loc[key]
                cut, crit = float(r.customers_unsupplied), float(r.critical_unsupplied)
                rest = float(r.customers_restorable)
                share_rest = rest / cut if cut else 0.0
                hours = (share_rest * restore_h[i] + (1 - share_rest) * repair_h[i])
                if a.asset_class == "switch":
                    hours = restore_h[i]
                ens = float(r.load_unsupplied_mw) * 1000 * hours
                if cut > 0 and len(city.pumps):
                    pumps = pumps_fed_by(city.net, city.pumps,
                                         buses=consequence.buses_cut(city.net, *key))
        elif a.asset_class == "pipe" and low is not None and a.element in low.index:
            lowc, lowh = low.loc[a.element, ["customers_low", "customer_hours_low"]]
            lowh *= repair_h[i] / 24.0
        elif a.asset_class == "pump" and a.element in pump_water:
            lowc, lowh = pump_water[a.element]
        for p in pumps:
            c, h = pump_water.get(p, (0, 0.0))
            lowc, lowh = lowc + c, lowh + h
        figures[i] = (cut, crit, rest, ens, np.nan_to_num(lowc), np.nan_to_num(lowh),
                      len(pumps))
        out[i] = consequence.money(cut, crit, ens, np.nan_to_num(lowh), repair[i])
    for k, col in enumerate(cols):
        ev[col] = figures[:, k]
    return out


def _evidence_text(r: pd.DataFrame) -> list[str]:
    """One line per asset naming what drives its risk (counts only, no customer data)."""
    out = []
    for a in r.itertuples():
        parts = [f"age {a.age_years:.0f} a"]
        if a.asset_class in ("distribution_transformer", "hv_mv_transformer") and \
                np.isfinite(a.max_hot_spot_c):
            parts.append(f"peak load {a.max_utilisation_pct:.0f} %, hot spot max "
                         f"{a.max_hot_spot_c:.0f} °C, relative ageing rate {a.mean_ageing_rate:.2g}")
            if a.max_utilisation_pct > MAX_MODEL_LOAD_PU * 100:
                parts.append("load far above rating: check the register's rating")
        if a.asset_class == "cable" and np.isfinite(a.max_utilisation_pct):
            parts.append(f"peak utilisation {a.max_utilisation_pct:.0f} %")
        if a.asset_class == "pipe" and np.isfinite(a.pressure_m):
            parts.append(f"pressure {a.pressure_m:.0f} m")
            if np.isfinite(a.expected_breaks_next_year):
                parts.append(f"{a.expected_breaks_next_year:.2f} breaks expected next year")
        if a.asset_class == "pump" and np.isfinite(a.running_hours_per_year):
            parts.append(f"{a.running_hours_per_year:.0f} h/a running, "
                         f"{a.starts_per_year:.0f} starts/a, "
                         f"{a.edge_hours_per_year:.0f} h/a off the design flow")
        if a.failures_recorded:
            parts.append(f"{a.failures_recorded:.0f} failures recorded")
        if np.isfinite(a.latest_grade):
            parts.append(f"inspection grades mean {a.mean_grade:.1f}, last "
                         f"{a.latest_grade:.0f}")
        if a.customers_cut:
            parts.append(f"cuts {a.customers_cut:.0f} customers ({a.critical_cut:.0f} critical)")
        if a.customers_low_pressure:
            parts.append(f"{a.customers_low_pressure:.0f} customers below service pressure")
        out.append("; ".join(parts))
    return out


def _failing_meters(store) -> pd.DataFrame:
    """Failing meters from the VEE flags of every kind in the store."""
    parts = []
    for kind in store.kinds():
        chunks = list(store.iter_columns(kind, ["series_id", "vee_rule"]))
        if chunks:
            parts.append(condition.failing_meters(pd.concat(chunks)).assign(kind=kind))
    return pd.concat(parts) if parts else pd.DataFrame()


def _pump_efficiency(city, store) -> pd.DataFrame:
    """Wire-to-water efficiency of each pump whose SCADA has its power and a flow meter on
    its link: ρgQH/P with H the pump curve's head at the measured flow."""
    rows = []
    meters = city.dma_meters[city.dma_meters.link_type.eq("Pump")]
    for m in meters.itertuples():
        pump = str(m.link)
        power = store.read("scada", f"WATER.PUMP-{pump}.POWER")
        flow = store.read("scada", f"WATER.{m.meter_id}.FLOW")
        if power.empty or flow.empty:
            continue
        p = power.set_index("time_utc").value
        q = flow.set_index("time_utc").value.reindex(p.index) / 1000.0
        link = city.wn.get_link(pump)
        head = pd.Series(np.asarray([link.get_head_curve_coefficients()[0]
                                     - link.get_head_curve_coefficients()[1]
                                     * max(v, 0.0) ** link.get_head_curve_coefficients()[2]
                                     for v in q.fillna(0).to_numpy()]), index=q.index)
        eff = condition.wire_to_water_efficiency(p, q, head)
        mean, drift = condition.efficiency_trend(eff)
        rows.append((pump, mean, drift, float(len(eff))))
    return pd.DataFrame(rows, columns=["pump", "mean_efficiency", "drift_per_year", "hours"]
                        ).set_index("pump")


def risk_matrix(ranking: pd.DataFrame, value: str = "count") -> pd.DataFrame:
    """The 5×4 risk matrix: health band (rows HI1..HI5) × criticality band (C1..C4).

    ``value`` ``count`` gives assets per cell, ``risk`` the sum of risk [money/a].
    """
    rows = [b for b, _, _ in P.HEALTH_BANDS]
    cols = [b for b, _, _ in P.CRITICALITY_BANDS]
    if value == "risk":
        m = ranking.pivot_table(index="health_band", columns="criticality_band",
                                values="risk_money_per_year", aggfunc="sum")
    else:
        m = ranking.groupby(["health_band", "criticality_band"]).size().unstack()
    m = m.reindex(index=rows, columns=cols).fillna(0)
    return m if value == "risk" else m.astype(int)  # a count of assets is whole
