"""What a what-if did, element by element: events, low pressures, customers, differences.

Reads two :class:`twin.scenario.ScenarioResult` s (a base and a scenario over the same period)
and says what the dashboard's *What-if* page shows beside the metric table: the grid's
violation events, the junctions below the service pressure, the customers (and the critical
ones) that lost supply or pressure, and per element the change from the base (for the
difference maps).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from twin.electric.violations import find_violations

#: Customer class whose customers the page counts apart (hospitals, care homes, ...).
CRITICAL = "critical"


def _one(result):
    return result.dataset.isel(scenario=0)


def grid_events(result, city) -> pd.DataFrame:
    """Voltage, thermal and supply violation events of a result's grid series.

    Uses the result's own limits (``scenario.base``); see
    :func:`twin.electric.violations.find_violations` for the columns.
    """
    base = result.scenario.base
    ds = _one(result)[["vm_pu", "line_loading_percent", "trafo_loading_percent", "converged"]]
    ds = ds.assign(converged=ds.converged.astype(bool))
    return find_violations(ds, city.net, tuple(base.voltage_band_pu), base.max_loading_percent)


def low_pressure_junctions(result, city) -> pd.DataFrame:
    """Demand junctions below the result's minimum service pressure at some water step.

    Returns
    -------
    DataFrame
        Indexed by ``junction``: ``dma``, ``hours_below`` [h], ``pressure_min_m`` [m], worst
        first.
    """
    ds = _one(result)
    limit = result.scenario.base.min_pressure_m
    junctions = [j for j in city.demand_junctions if j in set(ds.node.values.astype(str))]
    p = ds["pressure_m"].sel(node=junctions).to_numpy()
    step_h = result.scenario.base.water_step_min / 60.0
    below = (p < limit).sum(axis=0)
    keep = below > 0
    out = pd.DataFrame({"dma": city.dmas.reindex(np.asarray(junctions)[keep]).to_numpy(),
                        "hours_below": below[keep] * step_h,
                        "pressure_min_m": p.min(axis=0)[keep]},
                       index=pd.Index(np.asarray(junctions)[keep], name="junction"))
    return out.sort_values("pressure_min_m")


def unsupplied_buses(result) -> pd.Index:
    """Buses without voltage at some solved step (lost supply)."""
    ds = _one(result)
    ok = ds["converged"].astype(bool).to_numpy()
    vm = ds["vm_pu"].to_numpy()[ok]
    dead = ~np.isfinite(vm) | (vm <= 0)
    return pd.Index(ds.bus.to_numpy()[dead.any(axis=0)], name="bus")


def customers_affected(result, city) -> pd.DataFrame:
    """Customers who lost electricity or water pressure at some step, by class.

    Returns
    -------
    DataFrame
        Indexed by customer class (the register's, then ``all``): ``customers``,
        ``without_electricity`` (their bus lost supply), ``low_pressure`` (their junction went
        below the minimum service pressure) [-].
    """
    c = city.customers
    off = c.bus.isin(unsupplied_buses(result))
    low = c.junction.astype(str).isin(low_pressure_junctions(result, city).index)
    frame = pd.DataFrame({"customer_class": c.customer_class, "customers": 1,
                          "without_electricity": off.astype(int), "low_pressure": low.astype(int)})
    out = frame.groupby("customer_class").sum()
    out.loc["all"] = out.sum()
    return out


def element_differences(base, scenario) -> dict[str, pd.DataFrame]:
    """Per element, the scenario's worst value, the base's and their difference.

    Returns
    -------
    dict of DataFrame
        ``bus``: minimum voltage [p.u.]; ``line``: maximum loading [%]; ``junction``:
        minimum pressure [m]. Each has ``base``, ``scenario`` and ``delta`` (scenario − base);
        NaN where an element had no value (a bus without supply).
    """
    a, b = _one(base), _one(scenario)
    if a.sizes["time"] != b.sizes["time"] or (a.time.values != b.time.values).any():
        raise ValueError(f"results {base.name!r} and {scenario.name!r} cover different "
                         "periods; compare runs of the same period")

    def frame(var, how, dim, index):
        x = a[var].where(np.isfinite(a[var]) & (a[var] > 0) if var == "vm_pu" else True)
        y = b[var].where(np.isfinite(b[var]) & (b[var] > 0) if var == "vm_pu" else True)
        x, y = getattr(x, how)(dim).to_series(), getattr(y, how)(dim).to_series()
        return pd.DataFrame({"base": x, "scenario": y, "delta": y - x}).rename_axis(index)

    return {"bus": frame("vm_pu", "min", "time", "bus"),
            "line": frame("line_loading_percent", "max", "time", "line"),
            "junction": frame("pressure_m", "min", "water_time", "junction")}


def metric_table(base, scenario) -> pd.DataFrame:
    """The metrics of base and scenario side by side, with the change.

    Returns
    -------
    DataFrame
        ``metric``, ``unit``, ``base``, ``scenario``, ``delta`` (scenario − base) and
        ``description``, one row per metric (:func:`twin.scenario.compare`).
    """
    from twin.scenario import METRICS, compare

    table = compare([base, scenario], base=base.name)
    out = pd.DataFrame({"base": table[(base.name, "value")],
                        "scenario": table[(scenario.name, "value")],
                        "delta": table[(scenario.name, "delta")]}).reset_index()
    out["description"] = [METRICS[m][1] for m in out.metric]
    return out
