"""The figures a scenario is judged by, declared once with their units.

:data:`METRICS` names every metric, its unit, what it means and which way is better;
:func:`scenario_metrics` computes them from a scenario's electric and water series (pure: it
takes arrays and frames, reads no files). Non-converged power-flow steps are counted
(``steps_not_converged``) and left out of every sum and extreme, never filled.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: name -> (unit, description, better: "lower" or "higher")
METRICS: dict[str, tuple[str, str, str]] = {
    "voltage_violations": ("1", "undervoltage and overvoltage events at distribution buses",
                           "lower"),
    "voltage_violation_hours": ("h", "bus-hours outside the voltage band", "lower"),
    "voltage_min_pu": ("p.u.", "lowest voltage at a supplied distribution bus", "higher"),
    "voltage_max_pu": ("p.u.", "highest voltage at a distribution bus", "lower"),
    "thermal_violations": ("1", "overload events of lines and transformers", "lower"),
    "overload_hours": ("h", "element-hours above the thermal limit", "lower"),
    "line_loading_max_percent": ("%", "highest line loading", "lower"),
    "losses_mwh": ("MWh", "technical losses in lines and transformers", "lower"),
    "losses_percent": ("%", "losses over the energy into the grid", "lower"),
    "energy_mwh": ("MWh", "energy served to loads, pumps included", "higher"),
    "peak_import_mw": ("MW", "highest import from the upstream grid", "lower"),
    "min_import_mw": ("MW", "lowest import (negative: export upstream)", "higher"),
    "trafo_loading_max_percent": ("%", "highest transformer loading", "lower"),
    "trafo_hours_over_100": ("h", "hours with a transformer above its rating", "lower"),
    "energy_not_supplied_mwh": ("MWh", "load at buses without supply", "lower"),
    "customers_interrupted": ("1", "customers whose bus lost supply at some step", "lower"),
    "customer_hours_interrupted": ("h", "customer-hours without supply", "lower"),
    "hosting_capacity_min_mw": ("MW", "extra PV the weakest distribution bus can take",
                                "higher"),
    "hosting_capacity_median_mw": ("MW", "extra PV the median distribution bus can take",
                                   "higher"),
    "pump_energy_mwh": ("MWh", "electric energy of the water pumps", "lower"),
    "pump_cost": ("currency", "pump energy at base.energy_price_per_mwh", "lower"),
    "junction_hours_low_pressure": ("h", "demand-junction-hours below the service pressure",
                                    "lower"),
    "water_not_delivered_m3": ("m3", "demand not met (pressure-driven run)", "lower"),
    "water_delivered_m3": ("m3", "water delivered to demand junctions", "higher"),
    "leak_volume_m3": ("m3", "water lost through scenario leaks", "lower"),
    "tank_min_level_m": ("m", "lowest tank level above its bottom", "higher"),
    "tank_min_percent": ("%", "lowest tank level as a share of its operating range", "higher"),
    "steps_not_converged": ("1", "power-flow steps that did not converge (left out)", "lower"),
}


def metrics_frame(values: dict[str, float]) -> pd.DataFrame:
    """Metric values as a table: ``value``, ``unit``, ``description`` indexed by metric."""
    unknown = set(values) - set(METRICS)
    if unknown:
        raise KeyError(f"metrics {sorted(unknown)} are not declared in METRICS")
    rows = [(name, float(values.get(name, np.nan)), unit, text)
            for name, (unit, text, _) in METRICS.items()]
    return pd.DataFrame(rows, columns=["metric", "value", "unit", "description"]).set_index(
        "metric")


def electric_metrics(events: pd.DataFrame, vm_dist: np.ndarray, line_loading: np.ndarray,
                     trafo_loading: np.ndarray, converged: np.ndarray, losses_mw: np.ndarray,
                     served_mw: np.ndarray, import_mw: np.ndarray, unsupplied_mw: np.ndarray,
                     customers_out: np.ndarray, customers_ever: int, step_h: float,
                     max_loading_percent: float) -> dict[str, float]:
    """Electric metrics from a QSTS run (arrays over time, or time × element).

    Parameters
    ----------
    events : DataFrame
        :func:`twin.electric.violations.find_violations` of the distribution buses and all
        branches.
    vm_dist : ndarray
        time × distribution bus voltages [p.u.] (NaN: unsupplied or not converged).
    line_loading, trafo_loading : ndarray
        time × element loading [%].
    converged : ndarray of bool
    losses_mw, served_mw, import_mw, unsupplied_mw : ndarray
        Per step [MW]: losses, load served, import from upstream, load without supply.
    customers_out : ndarray
        Customers without supply per step [-].
    customers_ever : int
        Customers without supply at some step.
    step_h : float
        Step [h].
    """
    ok = np.asarray(converged, dtype=bool)
    volt = events[events.kind.isin(["undervoltage", "overvoltage"])]
    over = events[events.kind == "overload"]
    losses = float(np.nansum(losses_mw[ok]) * step_h)
    served = float(np.nansum(served_mw[ok]) * step_h)
    with np.errstate(all="ignore"):
        trafo_over = np.nanmax(trafo_loading[ok], axis=1, initial=-np.inf) > max_loading_percent \
            if trafo_loading.shape[1] else np.zeros(int(ok.sum()), bool)
    return {
        "voltage_violations": float(len(volt)),
        "voltage_violation_hours": float(volt.duration_h.sum()),
        "voltage_min_pu": _nan(np.nanmin, vm_dist[ok]),
        "voltage_max_pu": _nan(np.nanmax, vm_dist[ok]),
        "thermal_violations": float(len(over)),
        "overload_hours": float(over.duration_h.sum()),
        "line_loading_max_percent": _nan(np.nanmax, line_loading[ok]),
        "losses_mwh": losses,
        "losses_percent": 100.0 * losses / (served + losses) if served + losses > 0 else np.nan,
        "energy_mwh": served,
        "peak_import_mw": _nan(np.nanmax, import_mw[ok]),
        "min_import_mw": _nan(np.nanmin, import_mw[ok]),
        "trafo_loading_max_percent": _nan(np.nanmax, trafo_loading[ok]),
        "trafo_hours_over_100": float(trafo_over.sum() * step_h),
        "energy_not_supplied_mwh": float(np.nansum(unsupplied_mw[ok]) * step_h),
        "customers_interrupted": float(customers_ever),
        "customer_hours_interrupted": float(np.sum(customers_out[ok]) * step_h),
        "steps_not_converged": float((~ok).sum()),
    }


def water_metrics(pressure_m: np.ndarray, expected_m3s: np.ndarray, delivered_m3s: np.ndarray,
                  leak_m3s: np.ndarray, pump_kw: np.ndarray, price_per_mwh: np.ndarray | float,
                  tank_level_m: np.ndarray, tank_min_m: np.ndarray, tank_max_m: np.ndarray,
                  step_h: float,
                  min_pressure_m: float) -> dict[str, float]:
    """Water metrics from an EPS at a fixed step.

    Parameters
    ----------
    pressure_m : ndarray
        time × demand junction pressure [m].
    expected_m3s, delivered_m3s, leak_m3s : ndarray
        Per step: demand asked, demand met, leak outflow, summed over junctions [m³/s].
    pump_kw : ndarray
        time × pump electric power [kW].
    price_per_mwh : float or ndarray
        Energy price [currency/MWh], one or per step.
    tank_level_m : ndarray
        time × tank level above its bottom [m]; ``tank_min_m``, ``tank_max_m`` each tank's
        operating levels [m].
    step_h : float
        Report step [h]; each report stands for the step that follows it (the last is left out).
    """
    w = np.ones(len(pressure_m))
    w[-1] = 0.0  # the final report closes the period
    pump_mw = pump_kw.sum(axis=1) / 1000.0 if pump_kw.size else np.zeros(len(w))
    price = np.broadcast_to(np.asarray(price_per_mwh, dtype=float), w.shape)
    sec = step_h * 3600.0
    short = np.clip(expected_m3s - delivered_m3s, 0, None)
    level = tank_level_m if tank_level_m.size else np.full((len(w), 1), np.nan)
    return {
        "pump_energy_mwh": float(np.sum(pump_mw * w) * step_h),
        "pump_cost": float(np.sum(pump_mw * price * w) * step_h),
        "junction_hours_low_pressure": float(np.sum((pressure_m < min_pressure_m) * w[:, None])
                                             * step_h),
        "water_not_delivered_m3": float(np.sum(short * w) * sec),
        "water_delivered_m3": float(np.sum(delivered_m3s * w) * sec),
        "leak_volume_m3": float(np.sum(leak_m3s * w) * sec),
        "tank_min_level_m": _nan(np.nanmin, level),
        "tank_min_percent": _nan(np.nanmin, 100.0 * (level - tank_min_m)
                                 / (np.asarray(tank_max_m) - tank_min_m))
        if tank_level_m.size else np.nan,
    }


def _nan(fn, a) -> float:
    a = np.asarray(a, dtype=float)
    return float(fn(a)) if a.size and np.isfinite(a).any() else np.nan
