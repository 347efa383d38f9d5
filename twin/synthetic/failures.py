"""Asset failures of the sample city from a hidden hazard: a CMMS work-order export of the past
years and a held-out future year, to judge the maintenance models against.

Each asset fails as a Poisson process whose yearly rate depends on its age, its duty (the
transformer hot-spot ageing and cable utilisation the twin simulates), the pipe pressure
EPANET gives, its material, size and length, and a hidden frailty (log-normal, per asset)::

    rate = base(class, material) × length × exp(a·(age - age0)) × duty × pressure × frailty

The coefficients and frailties are the truth, written only to ``truth/hazard.csv``; the
models read ``work_orders.csv`` (what a utility's CMMS exports: corrective work orders of
failures, preventive inspection orders with a condition grade 1-5 that sees the frailty
through noise) and never ``truth/``. Deterministic for a seed.

Files written into the folder::

    work_orders.csv               history, first_year .. last_year (records begin first_year)
    truth/work_orders_future.csv  the held-out year last_year + 1, same format
    truth/hazard.csv              asset_id, rate_per_year (in the future year), frailty
    manifest.json                 seed, years, counts
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

#: Columns of the work-order export, in order.
WORK_ORDER_COLUMNS = ["work_order", "asset_id", "work_type", "failure_code", "problem",
                      "reported_local", "completed_local", "status", "condition_grade",
                      "labour_hours", "cost"]
#: Failure code and problem text per asset class.
FAILURE_CODES = {
    "hv_mv_transformer": ("TRF-FAIL", "transformer tripped on Buchholz, internal fault"),
    "distribution_transformer": ("TRF-FAIL", "distribution transformer failed, supply lost"),
    "cable": ("CBL-FAULT", "cable fault, section isolated"),
    "switch": ("SW-FAIL", "switch failed to operate"),
    "pipe": ("PIPE-BREAK", "main break, repair clamp fitted"),
    "pump": ("PMP-FAIL", "pump tripped, bearing or seal failure"),
    "tank": ("TNK-LEAK", "tank leak or structural defect"),
    "valve": ("VLV-FAIL", "valve seized or passing"),
    "flow_meter": ("MTR-FAIL", "flow meter failed or out of tolerance"),
}
#: Hidden base rate at the reference age [1/a, per km for linear assets], the age slope [1/a],
#: the reference age [a] and the frailty's log-sd [-], per class.
HAZARD = {
    "hv_mv_transformer": (0.03, 0.05, 30.0, 0.8),
    "distribution_transformer": (0.025, 0.05, 30.0, 0.9),
    "cable": (0.06, 0.045, 25.0, 0.6),
    "switch": (0.006, 0.03, 20.0, 0.5),
    "pipe": (1.0, 0.015, 50.0, 1.0),
    "pump": (0.10, 0.05, 20.0, 0.5),
    "tank": (0.01, 0.02, 40.0, 0.3),
    "valve": (0.02, 0.03, 30.0, 0.4),
    "flow_meter": (0.04, 0.10, 8.0, 0.4),
}
#: Hidden pipe break rate per km and year at age 50, 45 m and 300 mm, by material [1/(km·a)].
PIPE_MATERIAL_RATE = {"cast iron": 0.45, "asbestos cement": 0.35, "ductile iron": 0.12,
                      "PVC": 0.15, "HDPE": 0.06}
#: Hidden pressure effect [1/m] around 45 m and diameter exponent around 300 mm.
PIPE_PRESSURE_SLOPE, PIPE_REFERENCE_PRESSURE_M = 0.05, 45.0
PIPE_DIAMETER_EXPONENT, PIPE_REFERENCE_DIAMETER_MM = 0.7, 300.0
#: Classes that get preventive inspections with a condition grade, and the interval [a].
INSPECTED = {"hv_mv_transformer": 2, "distribution_transformer": 4, "pump": 2, "switch": 6}
#: Noise of the inspection grade around what the frailty and age say [grade].
GRADE_NOISE = 0.6


def hidden_rates(assets: pd.DataFrame, ages: np.ndarray, duty: pd.Series, pressure_m: pd.Series,
                 frailty: np.ndarray) -> np.ndarray:
    """The hidden failure rate of each asset at ``ages`` [1/a] (the truth; models never call it).

    ``duty`` is a multiplier per asset_id (transformer thermal ageing, cable utilisation, pump
    running hours), ``pressure_m`` the pipe pressure per asset_id.
    """
    cls = assets.asset_class.to_numpy()
    base = np.array([HAZARD[c][0] for c in cls])
    slope = np.array([HAZARD[c][1] for c in cls])
    age0 = np.array([HAZARD[c][2] for c in cls])
    rate = base * np.exp(slope * (ages - age0)) * frailty
    rate *= duty.reindex(assets.asset_id).fillna(1.0).to_numpy()
    km = assets.length_m.to_numpy() / 1000.0
    is_pipe = cls == "pipe"
    mat = assets.type_material.map(PIPE_MATERIAL_RATE).fillna(0.2).to_numpy()
    p = pressure_m.reindex(assets.asset_id).fillna(PIPE_REFERENCE_PRESSURE_M).to_numpy()
    d = np.maximum(assets.rating.to_numpy(), 50.0)
    pipe_factor = (mat * km * np.exp(PIPE_PRESSURE_SLOPE * (p - PIPE_REFERENCE_PRESSURE_M))
                   * (PIPE_REFERENCE_DIAMETER_MM / d) ** PIPE_DIAMETER_EXPONENT)
    rate = np.where(is_pipe, rate * pipe_factor, rate)
    rate = np.where(cls == "cable", rate * np.maximum(km, 0.05), rate)
    return rate


def duty_multipliers(assets: pd.DataFrame, observations) -> pd.Series:
    """Hidden duty effect per asset_id from the twin's simulated year (thermal ageing of
    transformers, utilisation of cables, running hours of pumps) [-]."""
    out = {}
    dt = observations.distribution_transformers
    hv = observations.hv_transformers
    for a in assets.itertuples():
        if a.asset_class == "distribution_transformer" and int(a.element) in dt.index:
            r = dt.loc[int(a.element)]
            out[a.asset_id] = 1.0 + 2.0 * min(r.mean_ageing_rate, 3.0) + r.hours_above_120c / 500
        elif a.asset_class == "hv_mv_transformer" and int(a.element) in hv.index:
            out[a.asset_id] = 1.0 + 2.0 * min(hv.loc[int(a.element)].mean_ageing_rate, 3.0)
        elif a.asset_class == "cable" and int(a.element) in observations.lines.index:
            u = observations.lines.loc[int(a.element)].max_utilisation_pct / 100.0
            out[a.asset_id] = 1.0 + 3.0 * max(u - 0.5, 0.0)
        elif a.asset_class == "pump" and a.element in observations.pumps.index:
            out[a.asset_id] = np.sqrt(observations.pumps.loc[a.element].running_hours_per_year
                                      / 4000.0)
    return pd.Series(out, dtype=float)


def build_failures(city, folder: str | Path, seed: int = 14, first_year: int = 2015,
                   last_year: int = 2024, observations=None) -> dict:
    """Write the work-order history, the held-out year and the truth into ``folder``.

    Parameters
    ----------
    city : City
        The city whose asset register fails.
    seed : int
        Seed of every draw.
    first_year, last_year : int
        Years of the history (records begin on 1 January of ``first_year``); the held-out
        year is ``last_year + 1``.
    observations : Observations, optional
        The twin's simulated year (:func:`twin.maintenance.observations.observe`).

    Returns
    -------
    dict
        Counts: ``history_failures``, ``future_failures``, ``inspections``, per class.
    """
    from twin.maintenance.observations import observe

    if last_year < first_year:
        raise ValueError(f"last_year {last_year} is before first_year {first_year}")
    folder = Path(folder)
    (folder / "truth").mkdir(parents=True, exist_ok=True)
    obs = observations if observations is not None else observe(city)
    assets = city.assets.reset_index(drop=True)
    rng = np.random.default_rng(seed)
    sd = assets.asset_class.map(lambda c: HAZARD[c][3]).to_numpy()
    z = rng.normal(0.0, 1.0, len(assets))
    frailty = np.exp(sd * z - sd**2 / 2)
    duty = duty_multipliers(assets, obs)
    pipe_ids = assets.asset_class.eq("pipe")
    pressure = pd.Series(obs.pipe_pressure_m.reindex(assets.element[pipe_ids]).to_numpy(),
                         index=assets.asset_id[pipe_ids])

    rows, future = [], []
    years = list(range(first_year, last_year + 2))
    for year in years:
        ages = year + 0.5 - assets.install_year.to_numpy(dtype=float)
        live = ages > 0
        rate = np.where(live, hidden_rates(assets, np.maximum(ages, 0.0), duty, pressure,
                                           frailty), 0.0)
        counts = rng.poisson(rate)
        target = future if year == last_year + 1 else rows
        for i in np.flatnonzero(counts):
            for _ in range(counts[i]):
                target.append(_work_order(assets.iloc[i], year, rng, "CM"))
        if year <= last_year:
            for i in np.flatnonzero(live):
                a = assets.iloc[i]
                every = INSPECTED.get(a.asset_class)
                if every and (year - a.install_year) % every == every - 1:
                    grade = _grade(z[i], ages[i], a.asset_class, rng)
                    rows.append(_work_order(a, year, rng, "PM", grade))
    history = _frame(rows, "WO")
    held_out = _frame(future, "WF")
    history.to_csv(folder / "work_orders.csv", index=False)
    held_out.to_csv(folder / "truth" / "work_orders_future.csv", index=False)
    future_age = last_year + 1.5 - assets.install_year.to_numpy(dtype=float)
    truth = pd.DataFrame({"asset_id": assets.asset_id,
                          "rate_per_year": np.where(
                              future_age > 0, hidden_rates(assets, np.maximum(future_age, 0),
                                                           duty, pressure, frailty), 0.0),
                          "frailty": frailty})
    truth.to_csv(folder / "truth" / "hazard.csv", index=False)
    counts = {
        "history_failures": int((history.work_type == "CM").sum()),
        "future_failures": len(held_out),
        "inspections": int((history.work_type == "PM").sum()),
        "by_class": history[history.work_type == "CM"].asset_id.map(
            assets.set_index("asset_id").asset_class).value_counts().to_dict(),
    }
    (folder / "manifest.json").write_text(json.dumps(
        {"seed": seed, "first_year": first_year, "last_year": last_year,
         "future_year": last_year + 1, **counts}, indent=1))
    return counts


def _grade(z: float, age: float, asset_class: str, rng: np.random.Generator) -> int:
    """Inspection condition grade 1 (as new) .. 5 (very poor): sees frailty and age, noisily."""
    age0 = HAZARD[asset_class][2]
    g = 2.5 + 1.0 * z + 0.03 * (age - age0) + rng.normal(0.0, GRADE_NOISE)
    return int(np.clip(np.rint(g), 1, 5))


def _work_order(asset, year: int, rng: np.random.Generator, work_type: str,
                grade: int | None = None) -> dict:
    day = pd.Timestamp(f"{year}-01-01") + pd.Timedelta(days=float(rng.uniform(0, 364.99)))
    day = day.floor("min")
    if work_type == "CM":
        code, problem = FAILURE_CODES[asset.asset_class]
        hours = float(np.round(rng.gamma(2.0, 4.0), 1))
        cost = float(np.round(rng.lognormal(np.log(4000), 0.6), -1))
    else:
        code, problem = "INSP", "routine inspection, condition graded"
        hours = float(np.round(rng.uniform(1, 3), 1))
        cost = float(np.round(rng.uniform(150, 600), -1))
    return {"asset_id": asset.asset_id, "work_type": work_type, "failure_code": code,
            "problem": problem, "reported_local": day,
            "completed_local": day + pd.Timedelta(hours=hours), "status": "COMP",
            "condition_grade": grade, "labour_hours": hours, "cost": cost}


def _frame(rows: list[dict], prefix: str) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=WORK_ORDER_COLUMNS[1:])
    df = df.sort_values(["reported_local", "asset_id"], kind="stable").reset_index(drop=True)
    df.insert(0, "work_order", [f"{prefix}{i:07d}" for i in range(1, len(df) + 1)])
    for col in ("reported_local", "completed_local"):
        df[col] = pd.to_datetime(df[col]).dt.strftime("%Y-%m-%d %H:%M")
    df["condition_grade"] = df["condition_grade"].astype("Int64")
    return df[WORK_ORDER_COLUMNS]
