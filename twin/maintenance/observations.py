"""The year the twin simulates for the maintenance models: loading, hot spots, pressures and
pump duty of a city, computed once and shared by the models and the failure generator.

:func:`observe` runs the engines that exist (the city's year of profiles, QSTS, the IEC
thermal model, an EPANET EPS) and returns their per-element summaries.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from twin.maintenance import condition, thermal

#: Length of the EPANET run whose pressures and pump duty stand for the year [h].
EPS_HOURS = 7 * 24
#: Its hydraulic and report step [s].
EPS_STEP_S = 3600
#: HV-side voltage from which a ``net.trafo`` is a power transformer (ONAN power
#: characteristics) rather than a distribution transformer [kV].
POWER_TRAFO_KV = 60.0
#: Columns of :func:`twin.maintenance.condition.transformer_condition`'s table.
TRANSFORMER_COLUMNS = ["max_utilisation_pct", "mean_utilisation_pct", "loss_of_life_h",
                       "mean_ageing_rate", "max_hot_spot_c", "hours_above_120c",
                       "hours_above_140c"]


@dataclass
class Observations:
    """Per-element summaries of a simulated year.

    Attributes
    ----------
    distribution_transformers : DataFrame
        By ``net.load`` index: :func:`condition.transformer_condition` columns and
        ``rating_kva``.
    hv_transformers : DataFrame
        By ``net.trafo`` index (every transformer of ``net.trafo``, HV/MV and, in grids that
        model them so, MV/LV), the same columns.
    lines : DataFrame
        By ``net.line`` index: :func:`condition.line_condition` columns.
    pipe_pressure_m : Series
        By pipe name [m].
    pumps : DataFrame
        By pump name: :func:`condition.pump_duty` columns.
    daily_hot_spot_c : DataFrame
        day × ``DT-<load>`` / ``TR-<trafo>`` daily maximum hot spot [°C].
    weekly_line_loading_pct : DataFrame
        week × line maximum loading [%].
    hydraulics : Dataset
        The EPS the pipe and pump figures come from.
    """

    distribution_transformers: pd.DataFrame
    hv_transformers: pd.DataFrame
    lines: pd.DataFrame
    pipe_pressure_m: pd.Series
    pumps: pd.DataFrame
    daily_hot_spot_c: pd.DataFrame
    weekly_line_loading_pct: pd.DataFrame
    hydraulics: object = field(repr=False, default=None)


def observe(city, profiles: dict | None = None, progress: Callable[[str], None] | None = None
            ) -> Observations:
    """Simulate the city's year for the maintenance models.

    Parameters
    ----------
    city : City
        The city (networks and asset register).
    profiles : dict of DataFrame, optional
        ``load_p_mw``, ``load_q_mvar``, ``sgen_p_mw`` (time UTC × element); default
        :func:`twin.electric.profiles.city_profiles`.
    progress : callable, optional
        ``progress(stage)`` before each stage.
    """
    from twin.electric.profiles import city_profiles
    from twin.electric.qsts import run_qsts
    from twin.water.hydraulics import simulate

    say = progress or (lambda stage: None)
    say("profiles")
    profiles = city_profiles(city) if profiles is None else profiles
    times = profiles["load_p_mw"].index
    ambient = condition.ambient_temperature_c(times)

    say("distribution transformers (IEC 60076-7)")
    dts = city.assets[city.assets.asset_class.eq("distribution_transformer")
                      & city.assets.element_table.eq("load")]
    loads = pd.Index(dts.element.astype(int).unique(), dtype=int)
    loads = loads[loads.isin(profiles["load_p_mw"].columns)]
    rating = (dts.drop_duplicates("element").set_index(dts.drop_duplicates("element")
                                                       .element.astype(int)).rating
              .reindex(loads).astype(float))
    if len(loads):
        kva = condition.lv_net_apparent_power_kva(profiles, city.net, loads)
        dt_table, dt_daily = condition.transformer_condition(kva / rating.to_numpy(), ambient)
        dt_table["rating_kva"] = rating
    else:  # grids whose MV/LV transformers are net.trafo elements (see hv_transformers)
        dt_table = pd.DataFrame(columns=[*TRANSFORMER_COLUMNS, "rating_kva"], dtype=float)
        dt_daily = pd.DataFrame(index=pd.DatetimeIndex([]))

    say("QSTS (power flows over the profiles)")
    ds = run_qsts(city.net, profiles, variables=["line_loading_percent", "trafo_loading_percent"],
                  dtype=np.float32)
    step_h = float((times[1] - times[0]).total_seconds() / 3600.0)
    line_pct = pd.DataFrame(ds["line_loading_percent"].to_numpy(), index=times,
                            columns=ds["line"].to_numpy())
    lines = condition.line_condition(line_pct, step_h)
    weekly = line_pct.resample("7D").max()
    trafo_pu = pd.DataFrame(ds["trafo_loading_percent"].to_numpy() / 100.0, index=times,
                            columns=ds["trafo"].to_numpy())
    # power transformers (HV side at 60 kV or more) and distribution transformers modelled as
    # net.trafo (MV/LV grids) each with their own IEC 60076-7 characteristics
    power = city.net.trafo.vn_hv_kv.reindex(trafo_pu.columns).to_numpy() >= POWER_TRAFO_KV
    parts = [condition.transformer_condition(trafo_pu.loc[:, mask], ambient, params)
             for mask, params in ((power, thermal.ONAN_POWER),
                                  (~power, thermal.ONAN_DISTRIBUTION)) if mask.any()]
    hv_table = pd.concat([p[0] for p in parts]).reindex(trafo_pu.columns)
    hv_daily = pd.concat([p[1] for p in parts], axis=1)[list(trafo_pu.columns)]

    say("EPANET (pressures, pump duty)")
    hyd = simulate(city.wn, EPS_HOURS * 3600, EPS_STEP_S)
    pressure = condition.pipe_pressure_m(hyd, city.wn)
    design = city.pumps.set_index(city.pumps.pump.astype(str)).design_flow_m3s
    design = design[design.index.isin(city.wn.pump_name_list)]
    pumps = condition.pump_duty(hyd, design, EPS_STEP_S) if len(design) else pd.DataFrame(
        columns=["running_hours_per_year", "starts_per_year", "edge_hours_per_year"])
    daily = pd.concat([dt_daily.add_prefix("DT-"), hv_daily.add_prefix("TR-")], axis=1)
    return Observations(dt_table, hv_table, lines, pressure, pumps, daily, weekly, hyd)
