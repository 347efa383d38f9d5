"""The twin's older questions asked as scenarios: the state at one moment, and a supply outage.

``twin simulate`` and ``twin water outage`` build a :class:`~twin.scenario.schema.Scenario`
and call one function here, which runs it with :func:`~twin.scenario.runner.run_scenario`
and reduces the result to the figures those commands print:

- :func:`run_moment`: a scenario whose base is one moment (``base.at``) → a
  :class:`~twin.scenario.snapshot.Snapshot` (summary figures and violations at that step);
- :func:`run_supply_outage`: a scenario with electric outages, run beside its base (the same
  scenario without changes) → the pumps that lost supply and, per DMA, the junctions that fall
  below service pressure because of it (:func:`twin.coupling.pressure_loss_by_dma`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from twin.scenario.runner import Progress, ScenarioResult, run_scenario
from twin.scenario.schema import Scenario
from twin.scenario.snapshot import Snapshot
from twin.scenario.study import ScenarioError

#: Nominal voltage at or below which buses are distribution buses [kV] (the summary's voltage
#: extremes are over them, as :func:`twin.electric.powerflow.summary` does).
DISTRIBUTION_KV = 35.0


# ------------------------------------------------------------------------------ one moment

def run_moment(city, scenario: Scenario, *, progress: Progress | None = None) -> Snapshot:
    """Run a one-moment scenario (``base.at``) and give the state of both networks then.

    Returns
    -------
    Snapshot
        ``electric`` and ``water`` at the moment (the water at the same UTC time), ``pumps``
        (``power_kw`` [kW] and ``bus``), ``violations`` (``element_type``, ``element``,
        ``name``, ``kind``, ``value``, ``limit``, ``unit``) against the base's voltage band,
        thermal limit and minimum service pressure, and ``summary`` (the keys of
        :func:`twin.scenario.snapshot`'s summary).

    Raises
    ------
    ScenarioError
        When the scenario's base has no ``at``, or as :func:`run_scenario` does.
    """
    if scenario.base.at is None:
        raise ScenarioError(f"scenario {scenario.name!r}: base.at is not set; a moment needs "
                            "base.at (a local time)")
    result = run_scenario(city, scenario, progress=progress)
    return moment_of(city, result)


def moment_of(city, result: ScenarioResult) -> Snapshot:
    """The :class:`Snapshot` of a one-moment result (see :func:`run_moment`)."""
    base = result.scenario.base
    ds = result.dataset.isel(scenario=0)
    at_utc = pd.Timestamp(ds.time.values[0]).tz_localize("UTC")
    electric = ds.isel(time=0)
    water = ds.sel(water_time=at_utc.tz_localize(None))
    net = city.net
    vm = electric.vm_pu.to_series()
    vm_dist = vm[(electric.bus_vn_kv <= DISTRIBUTION_KV).values].dropna()
    junctions = [j for j in city.demand_junctions if j in set(ds.node.values)]
    pressure = water.pressure_m.sel(node=junctions).to_series()
    pump_kw = water.pump_kw.to_series()
    pumps = pd.DataFrame({"power_kw": pump_kw,
                          "bus": city.pumps.set_index("pump").bus.reindex(pump_kw.index)})
    violations = moment_violations(net, electric, pressure, base.voltage_band_pu,
                                   base.max_loading_percent, base.min_pressure_m)
    summary = {
        "load_mw": float(electric.load_mw), "generation_mw": float(electric.generation_mw),
        "grid_import_mw": float(electric.grid_import_mw),
        "losses_mw": float(electric.losses_mw),
        "vm_min_pu": float(vm_dist.min()), "vm_max_pu": float(vm_dist.max()),
        "line_loading_max_percent": float(np.nanmax(electric.line_loading_percent)),
        "trafo_loading_max_percent": float(np.nanmax(electric.trafo_loading_percent)),
        "pressure_min_m": float(pressure.min()), "pressure_mean_m": float(pressure.mean()),
        "demand_l_s": float(water.demand_m3s) * 1000.0,
        "pump_kw": float(pump_kw.sum()), "violations": len(violations),
    }
    return Snapshot(at_utc, at_utc.tz_convert(city.timezone), electric, water, pumps,
                    violations, summary)


def moment_violations(net, electric: xr.Dataset, pressure_m: pd.Series,
                      voltage_band_pu: tuple[float, float], max_loading_percent: float,
                      min_pressure_m: float) -> pd.DataFrame:
    """Voltage-band, thermal and pressure violations at one step.

    Parameters
    ----------
    electric : Dataset
        ``vm_pu`` [p.u.] per bus, ``line_loading_percent``, ``trafo_loading_percent`` [%].
    pressure_m : Series
        Pressure per demand junction [m].

    Returns
    -------
    DataFrame
        ``element_type``, ``element``, ``name``, ``kind`` (``undervoltage``, ``overvoltage``,
        ``overload``, ``low pressure``), ``value`` and ``limit`` in ``unit``.
    """
    lo, hi = voltage_band_pu
    vm = electric.vm_pu.to_series().dropna()
    rows = [("bus", i, net.bus.name.get(i, ""), "undervoltage", v, lo, "p.u.")
            for i, v in vm[vm < lo].items()]
    rows += [("bus", i, net.bus.name.get(i, ""), "overvoltage", v, hi, "p.u.")
             for i, v in vm[vm > hi].items()]
    for table in ("line", "trafo"):
        loading = electric[f"{table}_loading_percent"].to_series()
        rows += [(table, i, net[table].name.get(i, ""), "overload", v, max_loading_percent, "%")
                 for i, v in loading[loading > max_loading_percent].items()]
    rows += [("junction", j, j, "low pressure", p, min_pressure_m, "m")
             for j, p in pressure_m[pressure_m < min_pressure_m].items()]
    return pd.DataFrame(rows, columns=["element_type", "element", "name", "kind", "value",
                                       "limit", "unit"])


# ------------------------------------------------------------------------------ supply outage

@dataclass(frozen=True)
class SupplyOutage:
    """A supply outage's effect on the water network, beside its base.

    Attributes
    ----------
    result, base : ScenarioResult
        The scenario and the same scenario without changes.
    start_local : Timestamp
        Local start of the period; the table's hours count from it.
    pumps_out : list of str
        Pumps whose bus lost supply at some step.
    by_dma : DataFrame
        :func:`twin.coupling.pressure_loss_by_dma` (hours from ``start_local``).
    min_pressure_m : float
        The service pressure the table is measured against [m].
    """

    result: ScenarioResult
    base: ScenarioResult
    start_local: pd.Timestamp
    pumps_out: list
    by_dma: pd.DataFrame
    min_pressure_m: float


def run_supply_outage(city, scenario: Scenario, *,
                      progress: Progress | None = None) -> SupplyOutage:
    """Run a scenario and its base (no changes), and say which DMAs lose service pressure.

    A junction-step counts when the scenario's pressure is below ``base.min_pressure_m`` and
    the base's is not; pumps count as out when their bus is without supply at some step of
    the scenario and supplied throughout the base.
    """
    from twin.coupling import pressure_loss_by_dma

    base_scenario = scenario.model_copy(update={"name": f"{scenario.name} (base)",
                                                "changes": []})
    result = run_scenario(city, scenario, progress=progress)  # its mistakes show first
    base = run_scenario(city, base_scenario, progress=progress)
    ds_out, ds_base = (_water_seconds(r) for r in (result, base))
    step_s = scenario.base.water_step_min * 60
    limit = scenario.base.min_pressure_m
    table = pressure_loss_by_dma(ds_base, ds_out, city.dmas, city.wn.junction_name_list,
                                 limit, step_s)
    pumps_out = pumps_without_supply(city, result, base)
    start = pd.Timestamp(result.dataset.water_time.values[0]).tz_localize("UTC")
    return SupplyOutage(result, base, start.tz_convert(city.timezone), pumps_out, table, limit)


def pumps_without_supply(city, result: ScenarioResult, base: ScenarioResult) -> list[str]:
    """Pumps whose bus is unsupplied at some step of ``result`` but at none of ``base``."""
    def ever_out(r):
        sup = r.dataset.bus_supplied.isel(scenario=0)
        return set(sup.bus.values[~sup.values.all(axis=0)].tolist())

    lost = ever_out(result) - ever_out(base)
    return [str(p.pump) for p in city.pumps.itertuples() if int(p.bus) in lost]


def _water_seconds(result: ScenarioResult) -> xr.Dataset:
    """The result's water series with ``time`` in seconds from the period's start."""
    ds = result.dataset.isel(scenario=0)[["pressure_m"]]
    t = pd.DatetimeIndex(ds.water_time.values)
    ds = ds.rename({"water_time": "time"})
    return ds.assign_coords(time=((t - t[0]) / pd.Timedelta("1s")).to_numpy())
