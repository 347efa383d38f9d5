"""Asset condition from what the twin measures and simulates, one small function per input.

* transformers: load factor over the year (distribution transformers from the load and
  rooftop PV profiles of their LV network, HV/MV transformers from the QSTS run) and the
  ambient temperature, through the IEC 60076-7 thermal model (:mod:`.thermal`);
* cables and lines: utilisation from the QSTS run (maximum, 95th percentile, hours above the
  thermal limit);
* pipes: the mean pressure EPANET gives at their two ends over a day;
* pumps: running hours, starts and hours away from the best-efficiency flow from an EPS;
  wire-to-water efficiency from SCADA power and flow (:func:`pump_efficiency`);
* meters: VEE flags per series in the measurement store (:func:`failing_meters`).

Every function takes the inputs it reads as arguments and returns a table indexed by element.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from twin.maintenance import thermal

#: Utilisation above which a line step counts as overloaded [% of its thermal limit].
OVERLOAD_PERCENT = 100.0
#: Flow band around the design flow outside which a running pump is "at the edge of its
#: curve" [share of design flow] (house value: 70-120 % of the best-efficiency flow).
PUMP_FLOW_BAND = (0.7, 1.2)
#: VEE rules that mark a meter as failing, and the share of a series' readings flagged by any
#: of them above which the meter is listed [-].
METER_FAULT_RULES = ("frozen_register", "zero_run", "spike", "high_low", "negative_value")
METER_FAULT_SHARE = 0.01


def ambient_temperature_c(times_utc: pd.DatetimeIndex) -> pd.Series:
    """Ambient air temperature at ``times_utc`` [°C], from the twin's reference weather year
    (the TMY3 file :func:`twin.electric.pv.reference_weather` reads)."""
    from twin.electric import pv

    year = int(times_utc[len(times_utc) // 2].year)
    hourly, location = pv.reference_weather(year)
    hour = times_utc.floor("h") + pd.Timedelta("30min")
    pos = hourly.index.get_indexer(hour, method="nearest")
    return pd.Series(hourly.temp_air.to_numpy()[pos], index=times_utc, name="ambient_c")


def lv_net_apparent_power_kva(profiles: dict, net, loads: pd.Index) -> pd.DataFrame:
    """Apparent power through each MV/LV substation [kVA]: its LV load minus the rooftop PV
    on the same bus, with the load's reactive power; time × load index.

    Parameters
    ----------
    profiles : dict of DataFrame
        ``load_p_mw``, ``load_q_mvar``, ``sgen_p_mw`` (time × element) [MW], [Mvar].
    loads : Index
        ``net.load`` indices of the substations.
    """
    p = profiles["load_p_mw"][loads].to_numpy(dtype=float)
    q = profiles["load_q_mvar"][loads].to_numpy(dtype=float) if "load_q_mvar" in profiles \
        else np.zeros_like(p)
    if "sgen_p_mw" in profiles and len(net.sgen):
        sg = profiles["sgen_p_mw"]
        bus_of_sgen = net.sgen.bus.reindex(sg.columns)
        pv_by_bus = sg.T.groupby(bus_of_sgen.to_numpy()).sum().T
        buses = net.load.bus.loc[loads].to_numpy()
        pv = pv_by_bus.reindex(columns=buses, fill_value=0.0).to_numpy(dtype=float)
        p = p - pv
    return pd.DataFrame(np.hypot(p, q) * 1000.0, index=profiles["load_p_mw"].index,
                        columns=loads)


def transformer_condition(load_pu: pd.DataFrame, ambient_c: pd.Series,
                          params: thermal.ThermalParameters = thermal.ONAN_DISTRIBUTION,
                          upgraded_paper: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hot spot and insulation ageing of transformers over a loading history.

    Parameters
    ----------
    load_pu : DataFrame
        time × transformer load factor K [p.u. of rating].
    ambient_c : Series
        Ambient temperature at the same times [°C].

    Returns
    -------
    DataFrame
        Per transformer: ``max_utilisation_pct`` [%], ``mean_utilisation_pct`` [%],
        ``loss_of_life_h`` [h], ``mean_ageing_rate`` [-], ``max_hot_spot_c`` [°C],
        ``hours_above_120c``, ``hours_above_140c`` [h].
    DataFrame
        day × transformer daily maximum hot spot [°C] (for plots).
    """
    index = load_pu.index
    step_min = float((index[1] - index[0]).total_seconds() / 60.0) if len(index) > 1 else 15.0
    year = thermal.thermal_year(load_pu.to_numpy(dtype=float), ambient_c.to_numpy(dtype=float),
                                step_min, params, upgraded_paper)
    k = load_pu.to_numpy(dtype=float)
    table = pd.DataFrame({
        "max_utilisation_pct": np.nanmax(k, axis=0) * 100.0,
        "mean_utilisation_pct": np.nanmean(k, axis=0) * 100.0,
        "loss_of_life_h": year.loss_of_life_h,
        "mean_ageing_rate": year.mean_ageing_rate,
        "max_hot_spot_c": year.max_hot_spot_c,
        "hours_above_120c": year.hours_above_c[120.0],
        "hours_above_140c": year.hours_above_c[140.0],
    }, index=load_pu.columns)
    days = pd.date_range(index[0].normalize(), periods=len(year.daily_max_hot_spot_c), freq="D")
    daily = pd.DataFrame(year.daily_max_hot_spot_c, index=days, columns=load_pu.columns)
    return table, daily


def line_condition(line_loading_percent: pd.DataFrame, step_h: float = 0.25) -> pd.DataFrame:
    """Utilisation of lines and cables from a QSTS run.

    Parameters
    ----------
    line_loading_percent : DataFrame
        time × line loading [% of the thermal limit], as ``run_qsts`` gives.
    step_h : float
        Step length [h].

    Returns
    -------
    DataFrame
        ``max_utilisation_pct``, ``p95_utilisation_pct``, ``mean_utilisation_pct`` [%],
        ``overload_hours`` [h above :data:`OVERLOAD_PERCENT`].
    """
    x = line_loading_percent.to_numpy(dtype=float)
    return pd.DataFrame({
        "max_utilisation_pct": np.nanmax(x, axis=0),
        "p95_utilisation_pct": np.nanpercentile(x, 95, axis=0),
        "mean_utilisation_pct": np.nanmean(x, axis=0),
        "overload_hours": (x > OVERLOAD_PERCENT).sum(axis=0) * step_h,
    }, index=line_loading_percent.columns)


def pipe_pressure_m(ds, wn) -> pd.Series:
    """Mean pressure over a hydraulic run at each pipe's two end nodes [m], per pipe."""
    p = ds["pressure_m"].mean("time").to_series()
    names = wn.pipe_name_list
    a = [wn.get_link(n).start_node_name for n in names]
    b = [wn.get_link(n).end_node_name for n in names]
    return pd.Series(0.5 * (p.reindex(a).to_numpy() + p.reindex(b).to_numpy()), index=names,
                     name="pressure_m")


def pump_duty(ds, design_flow_m3s: pd.Series, step_s: float) -> pd.DataFrame:
    """Running hours, starts and hours away from the design flow of each pump over an EPS,
    scaled to a year.

    Parameters
    ----------
    ds : Dataset
        Hydraulic results with ``flow_m3s`` and ``status`` over ``link`` (from
        :func:`twin.water.hydraulics.simulate`).
    design_flow_m3s : Series
        Best-efficiency (design) flow per pump [m³/s].
    step_s : float
        Report step of ``ds`` [s].

    Returns
    -------
    DataFrame
        ``running_hours_per_year``, ``starts_per_year``, ``edge_hours_per_year`` [h/a, 1/a].
    """
    pumps = list(design_flow_m3s.index)
    status = ds["status"].sel(link=pumps).to_pandas().astype(float) > 0
    flow = ds["flow_m3s"].sel(link=pumps).to_pandas()
    span_h = len(status) * step_s / 3600.0
    per_year = 8760.0 / span_h if span_h else np.nan
    share = flow / design_flow_m3s
    edge = status & ((share < PUMP_FLOW_BAND[0]) | (share > PUMP_FLOW_BAND[1]))
    starts = (status.astype(int).diff() > 0).sum()
    return pd.DataFrame({
        "running_hours_per_year": status.sum() * step_s / 3600.0 * per_year,
        "starts_per_year": starts * per_year,
        "edge_hours_per_year": edge.sum() * step_s / 3600.0 * per_year,
    })


def wire_to_water_efficiency(power_kw: pd.Series, flow_m3s: pd.Series,
                             head_m: pd.Series) -> pd.Series:
    """Wire-to-water efficiency ρ·g·Q·H / P_electric [-] at each time the pump runs."""
    from twin.coupling import pump_power_kw

    hydraulic_kw = pump_power_kw(flow_m3s, head_m, 1.0)
    eff = hydraulic_kw / power_kw.where(power_kw > 0.05 * power_kw.max())
    return eff.where((eff > 0) & (eff < 1.2)).dropna()


def efficiency_trend(eff: pd.Series) -> tuple[float, float]:
    """Mean efficiency [-] and its least-squares drift [1/a] over the series' times."""
    if len(eff) < 24:
        return float(eff.mean()) if len(eff) else np.nan, np.nan
    t = (eff.index - eff.index[0]).total_seconds().to_numpy() / (365.25 * 86400)
    slope = np.polyfit(t, eff.to_numpy(), 1)[0] if np.ptp(t) > 0 else np.nan
    return float(eff.mean()), float(slope)


def failing_meters(flags: pd.DataFrame, share: float = METER_FAULT_SHARE) -> pd.DataFrame:
    """Meters whose readings VEE flagged, from a store's readings.

    Parameters
    ----------
    flags : DataFrame
        ``series_id`` and ``vee_rule`` of readings (``MeasurementStore.iter_columns``).

    Returns
    -------
    DataFrame
        Per series with any fault rule: ``readings``, one count column per rule of
        :data:`METER_FAULT_RULES`, ``flagged_share`` [-] and ``failing`` (share above
        ``share``).
    """
    sid = flags["series_id"].astype(str)
    rules = flags["vee_rule"].astype(str)
    out = pd.DataFrame({"readings": sid.value_counts()})
    any_rule = pd.Series(False, index=flags.index)
    for rule in METER_FAULT_RULES:
        hit = rules.str.contains(rule, regex=False)
        any_rule |= hit
        out[rule] = sid[hit].value_counts().reindex(out.index, fill_value=0)
    out["flagged_share"] = sid[any_rule].value_counts().reindex(out.index, fill_value=0) \
        / out["readings"]
    out["failing"] = out["flagged_share"] > share
    return out[out[list(METER_FAULT_RULES)].sum(axis=1) > 0].sort_index()
