"""Leak detection: what the twin expects against what SCADA measures, and change detection.

The twin's expectation is an extended-period simulation (EPS) of the period with the EPANET
engine: junction demands are driven by the customers' AMR meters of the period, the tanks
start at the levels SCADA measured at the period's first hour. Its DMA inflows (from the
boundary flow meters) and logger pressures are compared with SCADA; a leak shows as an
inflow above, and pressures below, what the twin expects. A one-sided CUSUM on the
normalised inflow residual of each DMA raises an alarm with its time and DMA.

References
----------
Page, E. S. (1954). Continuous inspection schemes. Biometrika 41, 100-115 (CUSUM).
Vrachimis, S. G. et al. (2022). Battle of the Leakage Detection and Isolation Methods.
J. Water Resour. Plann. Manage. 148(12) (BattLeDIM).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import wntr
import xarray as xr
from wntr.network.base import LinkStatus

from twin.water.dma import net_inflow_l_s
from twin.water.hydraulics import results_dataset, run_epanet
from twin.water.night_flow import model_hour, zone_storage_m3

#: SCADA tag of a DMA boundary flow meter [L/s], of a pressure logger [m], of a tank level [m].
FLOW_TAG = re.compile(r"^WATER\.(?P<meter>[^.]+)\.FLOW$")
PRESSURE_TAG = re.compile(r"^WATER\.J-(?P<junction>.+)\.PRESSURE$")
LEVEL_TAG = re.compile(r"^WATER\.TANK-(?P<tank>.+)\.LEVEL$")
POWER_TAG = re.compile(r"^WATER\.PUMP-(?P<pump>.+)\.POWER$")
#: Electrical power above which a pump counts as running [kW].
PUMP_ON_KW = 1.0

#: CUSUM allowance k and decision threshold h, in standard deviations of the residual [-].
CUSUM_K = 0.5
CUSUM_H = 8.0
#: Hours simulated from one set of measured tank levels and pump statuses [h].
SEGMENT_H = 24
#: Standardised residuals are clipped to ± this [-].
Z_CLIP = 4.0
#: Smallest leak worth an alarm [L/s].
MIN_LEAK_L_S = 0.5
#: Changes closer than this in different DMAs are one event [h].
MERGE_H = 3.0
#: Hours after an alarm that set the new reference level of the CUSUM [h].
REBASE_WINDOW_H = 24
#: Hours of residual averaged on each side of a change to measure its size [h].
CHANGE_WINDOW_H = 12


class LeakDetectionError(ValueError):
    """Measurements that do not allow leak detection; the message says what is missing."""


@dataclass(frozen=True)
class Observations:
    """Hourly SCADA and AMR measurements of a period, as leak detection reads them.

    Attributes
    ----------
    times : DatetimeIndex
        UTC hour starts of the period.
    flow_l_s : DataFrame
        time × flow meter id: boundary flows [L/s], NaN where missing.
    pressure_m : DataFrame
        time × junction: logger pressures [m].
    tank_level_m : DataFrame
        time × tank: tank levels [m].
    pump_power_kw : DataFrame
        time × pump: electrical power of the pumps [kW].
    use_m3 : DataFrame
        time × water meter id: customers' volume in the hour starting at the time [m³].
    """

    times: pd.DatetimeIndex
    flow_l_s: pd.DataFrame
    pressure_m: pd.DataFrame
    tank_level_m: pd.DataFrame
    pump_power_kw: pd.DataFrame
    use_m3: pd.DataFrame


def read_observations(store, start, end) -> Observations:
    """Read the period's water SCADA and AMR reads from a measurement store.

    Parameters
    ----------
    store : twin.ingest.store.MeasurementStore
    start, end : time-like
        UTC bounds of the period, ``start <= t < end`` (whole hours).

    Raises
    ------
    LeakDetectionError
        When the store holds no water SCADA or no AMR reads in the period.
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    times = pd.date_range(start.ceil("h"), end, freq="h", inclusive="left")
    kinds = set(store.kinds())
    missing = {"scada", "water_read"} - kinds
    if missing:
        raise LeakDetectionError(
            f"the store at {store.root} holds no {', '.join(sorted(missing))} measurements; "
            "ingest the SCADA historian and AMR water registers first (`twin ingest`)")
    scada = store.read("scada", start=start, end=end)
    scada = scada[scada.series_id.astype(str).str.startswith("WATER.")]
    reads = store.read("water_read", start=start, end=end)
    if scada.empty or reads.empty:
        raise LeakDetectionError(
            f"no water SCADA or AMR reads between {start} and {end} in {store.root}; "
            "choose a period the store covers")
    wide = _wide(scada, times)
    use = _wide(reads, times)
    return Observations(
        times=times,
        flow_l_s=_columns(wide, FLOW_TAG, "meter"),
        pressure_m=_columns(wide, PRESSURE_TAG, "junction"),
        tank_level_m=_columns(wide, LEVEL_TAG, "tank"),
        pump_power_kw=_columns(wide, POWER_TAG, "pump"),
        use_m3=use,
    )


def _wide(long: pd.DataFrame, times: pd.DatetimeIndex) -> pd.DataFrame:
    """Long measurements → time × series, on the hourly ``times`` (failed reads left out)."""
    ok = long[long.quality_flag.astype(str) != "failed"]
    wide = ok.pivot_table(index="time_utc", columns=ok.series_id.astype(str), values="value",
                          aggfunc="mean", observed=True)
    return wide.reindex(times)


def _columns(wide: pd.DataFrame, pattern: re.Pattern, group: str) -> pd.DataFrame:
    cols = {c: m.group(group) for c in wide.columns if (m := pattern.match(c))}
    return wide[list(cols)].rename(columns=cols).sort_index(axis=1)


# --------------------------------------------------------------------------- the expectation

def daily_multiplier(wn: wntr.network.WaterNetworkModel, pattern: str | None,
                     clock_h: np.ndarray) -> np.ndarray:
    """A junction demand pattern's multiplier at the given clock hours [-] (1 without one)."""
    if pattern is None:
        return np.ones(len(clock_h))
    pat = wn.get_pattern(pattern)
    step_h = wn.options.time.pattern_timestep / 3600.0
    mult = np.asarray(pat.multipliers, dtype=float)
    return mult[(clock_h // step_h).astype(int) % len(mult)]


def _junction_patterns(wn) -> pd.DataFrame:
    rows = []
    for name, j in wn.junctions():
        ts = j.demand_timeseries_list
        base = float(ts[0].base_value) if len(ts) else 0.0
        pat = ts[0].pattern_name if len(ts) and ts[0].pattern_name else None
        rows.append((name, base, pat))
    return pd.DataFrame(rows, columns=["junction", "base_m3s", "pattern"]).set_index("junction")


def metered_demand_ratio(
    wn: wntr.network.WaterNetworkModel,
    customers: pd.DataFrame,
    use_m3: pd.DataFrame,
    clock_h: np.ndarray,
) -> pd.Series:
    """Ratio of the metered use to the use the model's demand patterns predict, per hour [-].

    For customer i at junction j with share s_i of the junction's demand, the model predicts
    ``s_i · base_j · pattern_j(t) · 3600 s`` in hour t. The ratio is the sum over customers
    with a read that hour of what they used, over the sum of what the model predicts for
    them: the day's weather and the season, as the meters saw them.

    Parameters
    ----------
    customers : DataFrame
        ``water_meter_id``, ``junction``, ``water_share`` [-].
    use_m3 : DataFrame
        time × water meter id: volume in the hour [m³].

    Raises
    ------
    LeakDetectionError
        When no meter of the reads is a customer of the network, or reads name junctions the
        network does not have.
    """
    cust = customers.set_index("water_meter_id").reindex(use_m3.columns.astype(str))
    unknown = cust.junction.isna()
    if unknown.all():
        raise LeakDetectionError(
            "none of the AMR water meters in the store is in the customer register; "
            "check that the store and the city belong together")
    cust = cust[~unknown]
    pats = _junction_patterns(wn)
    bad = sorted(set(cust.junction.astype(str)) - set(pats.index))
    if bad:
        raise LeakDetectionError(
            f"customers draw water at junctions the network does not have: {bad[:5]}; "
            "fix customers.csv or the network")
    use = use_m3[cust.index].to_numpy(dtype=float)
    expected = np.zeros_like(use)
    for k, (_, row) in enumerate(cust.iterrows()):
        p = pats.loc[str(row.junction)]
        expected[:, k] = row.water_share * p.base_m3s * 3600.0 * daily_multiplier(
            wn, p.pattern, clock_h)
    seen = ~np.isnan(use)
    num = np.where(seen, use, 0.0).sum(axis=1)
    den = np.where(seen, expected, 0.0).sum(axis=1)
    ratio = pd.Series(np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan),
                      index=use_m3.index, name="demand_ratio")
    if ratio.isna().all():
        raise LeakDetectionError("no usable AMR reads in the period")
    return ratio.interpolate(limit_direction="both")


def pump_status_from_power(power_kw: pd.DataFrame, on_kw: float = PUMP_ON_KW) -> pd.DataFrame:
    """Pump status per hour from SCADA power: 1 when it draws more than ``on_kw`` [kW].

    Missing readings take the last known status (the first known one at the start).
    """
    on = (power_kw > on_kw).astype(float).where(power_kw.notna())
    return on.ffill().bfill().fillna(0.0).astype(int)


def expected_hydraulics(
    wn: wntr.network.WaterNetworkModel,
    customers: pd.DataFrame,
    obs: Observations,
    timezone: str,
    segment_h: int = SEGMENT_H,
) -> xr.Dataset:
    """Simulate the period as the twin expects it (no leaks), hourly.

    The period is run in segments of ``segment_h`` hours; each starts from the tank levels
    and pump statuses SCADA measured at its first hour, then the model's own controls
    act (with EPANET's switching between report steps). A leak drains tanks a little faster,
    so a model run for weeks would drift from the real tank levels and switch its pumps at
    other hours; restarting from the measurements bounds that drift.

    Returns
    -------
    Dataset
        :func:`twin.water.hydraulics.results_dataset` of the run, with ``time`` the period's
        UTC hours (naive), and ``operations_match (time)``: 1 where every pump's simulated
        status equals the measured one at that hour and the hour before.
    """
    clock_h = model_hour(obs.times, timezone).astype(float)
    ratio = metered_demand_ratio(wn, customers, obs.use_m3, clock_h)
    pump_on = pump_status_from_power(obs.pump_power_kw)
    parts = []
    for first in range(0, len(obs.times), segment_h):
        sl = slice(first, min(first + segment_h, len(obs.times)))
        levels = obs.tank_level_m.iloc[sl].ffill().bfill().iloc[0]
        model = expected_network(wn, ratio.iloc[sl], clock_h[sl], levels,
                                 pump_on.iloc[sl].iloc[0])
        hours = sl.stop - sl.start
        ds = results_dataset(run_epanet(model, (hours - 1) * 3600, 3600)).isel(
            time=slice(0, hours))
        parts.append(ds.assign_coords(time=obs.times[sl].tz_localize(None)))
    ds = xr.concat(parts, dim="time")
    pumps = [p for p in pump_on.columns if p in set(ds.link.values)]
    same = (ds["status"].sel(link=pumps).to_numpy() > 0) == (pump_on[pumps].to_numpy() > 0)
    same = same.all(axis=1)
    same[1:] &= same[:-1]
    ds["operations_match"] = ("time", same.astype(int),
                              {"units": "1 model pumps as measured, 0 not"})
    return ds


def expected_network(
    wn: wntr.network.WaterNetworkModel,
    ratio: pd.Series,
    clock_h: np.ndarray,
    tank_level_m: pd.Series | None = None,
    pump_on: pd.Series | None = None,
) -> wntr.network.WaterNetworkModel:
    """Copy of ``wn`` set up to simulate a stretch of the period as the meters saw it.

    Every demand pattern becomes an hourly pattern: its daily multiplier at the model clock
    times the metered demand ratio; the clock starts at the stretch's first hour (so
    ``CLOCKTIME`` pump controls act at the right hours); tanks start at ``tank_level_m``
    [m] and pumps at the status ``pump_on`` (1 on) where given.
    """
    wn = copy.deepcopy(wn)
    r = ratio.to_numpy(dtype=float)
    for name in {p for p in _junction_patterns(wn).pattern if p is not None}:
        pat = wn.get_pattern(name)
        pat.multipliers = (daily_multiplier(wn, name, clock_h) * r).tolist()
    wn.options.time.pattern_timestep = 3600
    wn.options.time.start_clocktime = int(round(clock_h[0] * 3600)) % 86400
    for tank, level in (tank_level_m.dropna().items() if tank_level_m is not None else ()):
        t = wn.get_node(str(tank))
        t.init_level = float(np.clip(level, t.min_level, t.max_level))
    for pump, on in (pump_on.items() if pump_on is not None else ()):
        if str(pump) in wn.pump_name_list:
            wn.get_link(str(pump)).initial_status = LinkStatus.Open if on else LinkStatus.Closed
    return wn


def zones_of(meters: pd.DataFrame) -> list[str]:
    """The DMAs the boundary meters bound, sorted."""
    return sorted(z for z in set(meters.from_zone) | set(meters.to_zone) if z.startswith("DMA"))


def dma_net_inflow_l_s(flow_l_s: pd.DataFrame, meters: pd.DataFrame) -> pd.DataFrame:
    """Net inflow of each DMA [L/s] (time × DMA): :func:`twin.water.dma.net_inflow_l_s`
    without the source zone; NaN at hours where one of the DMA's meters has no reading."""
    try:
        return net_inflow_l_s(flow_l_s, meters)[zones_of(meters)]
    except KeyError as exc:
        raise LeakDetectionError(f"{exc.args[0]}; every DMA boundary meter needs its SCADA "
                                 "flow (WATER.<meter>.FLOW)") from None


def dma_storage_change_l_s(
    level_m: pd.DataFrame, wn: wntr.network.WaterNetworkModel, dmas: pd.Series
) -> pd.DataFrame:
    """Rate at which each DMA's tanks fill [L/s] (time × DMA), from hourly tank levels [m].

    A central difference over two hours of the stored volume
    (:func:`twin.water.night_flow.zone_storage_m3`); a DMA without tanks stores nothing (0).
    """
    level = level_m.interpolate(limit_direction="both")
    stored = zone_storage_m3(level, wn, dmas)
    rate = pd.DataFrame(np.gradient(stored.to_numpy(dtype=float), 3600.0, axis=0) * 1000.0,
                        index=stored.index, columns=stored.columns) if len(stored) > 1 else (
        stored * 0.0)
    return rate.reindex(columns=sorted(z for z in dmas.unique() if str(z).startswith("DMA")),
                        fill_value=0.0)


def model_meter_flows_l_s(ds: xr.Dataset, meters: pd.DataFrame) -> pd.DataFrame:
    """Boundary meter flows of a simulation [L/s] (time × meter id)."""
    flow = ds["flow_m3s"].sel(link=meters.link.astype(str).to_list()).to_numpy() * 1000.0
    return pd.DataFrame(flow, index=pd.DatetimeIndex(ds.time.values, tz="UTC"),
                        columns=meters.meter_id.to_list())


def residuals(ds: xr.Dataset, obs: Observations, meters: pd.DataFrame,
              wn: wntr.network.WaterNetworkModel, dmas: pd.Series) -> xr.Dataset:
    """Measured minus expected: DMA consumption [L/s], meter flows [L/s], logger pressures [m].

    A DMA's consumption is its net inflow minus the rate its tanks fill
    (:func:`dma_storage_change_l_s`), measured (SCADA flows and levels) and expected (the
    simulation's flows and levels) alike; while a pump feeds a DMA at a fixed rate, a leak
    is paid from its tank, not from its inflow, and only the consumption shows it.

    Returns
    -------
    Dataset
        ``inflow_residual_l_s (time × dma)`` (consumption residual),
        ``flow_residual_l_s (time × meter)``, ``pressure_residual_m (time × logger)``,
        ``operations_match (time)``; positive consumption and negative pressure residuals
        point to water leaving the network unseen.
    """
    t0 = obs.times[: ds.sizes["time"]]
    model_flow = model_meter_flows_l_s(ds, meters).set_index(t0)
    obs_flow = obs.flow_l_s.reindex(model_flow.index)
    tanks = [t for t in obs.tank_level_m.columns if t in set(ds.node.values)]
    model_level = pd.DataFrame(ds["pressure_m"].sel(node=tanks).to_numpy(), index=t0,
                               columns=tanks)
    obs_level = obs.tank_level_m[tanks].reindex(t0)
    inflow = (dma_net_inflow_l_s(obs_flow, meters)
              - dma_storage_change_l_s(obs_level, wn, dmas).reindex(columns=zones_of(meters),
                                                                      fill_value=0.0)
              - dma_net_inflow_l_s(model_flow, meters)
              + dma_storage_change_l_s(model_level, wn, dmas).reindex(columns=zones_of(meters),
                                                                        fill_value=0.0))
    ops = ds["operations_match"].to_numpy() if "operations_match" in ds else np.ones(len(t0))
    loggers = [j for j in obs.pressure_m.columns if j in set(ds.node.values)]
    p_model = ds["pressure_m"].sel(node=loggers).to_numpy()
    p_res = obs.pressure_m[loggers].reindex(model_flow.index).to_numpy() - p_model
    t = model_flow.index.tz_localize(None)
    return xr.Dataset(
        {"inflow_residual_l_s": (("time", "dma"), inflow.to_numpy(), {"units": "L/s"}),
         "flow_residual_l_s": (("time", "meter"), (obs_flow - model_flow).to_numpy(),
                               {"units": "L/s"}),
         "pressure_residual_m": (("time", "logger"), p_res, {"units": "m"}),
         "operations_match": ("time", ops, {"units": "1 model pumps as measured, 0 not"})},
        coords={"time": t, "dma": inflow.columns.to_numpy(dtype=str),
                "meter": model_flow.columns.to_numpy(dtype=str),
                "logger": np.asarray(loggers, dtype=str)},
    )


# ------------------------------------------------------------------------ change detection

def robust_sigma(x: np.ndarray) -> float:
    """Noise standard deviation of a series that may hold steps: MAD of its first differences.

    ``1.4826 · median|Δx − median Δx| / √2``; steps and the odd outlier barely move it.
    """
    d = np.diff(x[~np.isnan(x)])
    if len(d) < 3:
        return float("nan")
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2))


def cusum_changes(
    z: np.ndarray, k: float = CUSUM_K, h: float = CUSUM_H, window: int = REBASE_WINDOW_H
) -> list[tuple[int, int]]:
    """Upward changes of the mean of a standardised series by a one-sided CUSUM.

    ``S_t = max(0, S_{t−1} + z_t − μ − k)``; an alarm is raised when ``S_t > h``. The change
    is dated at the last step where S was zero. After an alarm the reference level μ moves to
    the mean of z over the ``window`` steps from the alarm, and the sum restarts, so a
    second, later leak in the same DMA raises its own alarm. Missing values add nothing.

    Returns
    -------
    list of (alarm_index, change_index)
    """
    out, s, mu, last_zero = [], 0.0, 0.0, -1
    t = 0
    while t < len(z):
        v = z[t]
        if not np.isnan(v):
            s = max(0.0, s + v - mu - k)
        if s == 0.0:
            last_zero = t
        if s > h:
            change = last_zero + 1
            out.append((t, change))
            seg = z[t: t + window]
            mu = float(np.nanmean(seg)) if np.isfinite(seg).any() else mu
            s, last_zero = 0.0, t
        t += 1
    return out


def detect_leaks(
    res: xr.Dataset,
    k: float = CUSUM_K,
    h: float = CUSUM_H,
    min_step_l_s: float = MIN_LEAK_L_S,
    merge_h: float = MERGE_H,
) -> pd.DataFrame:
    """Raise leak alarms from the DMA inflow residuals.

    Each DMA's inflow residual is standardised by its noise (:func:`robust_sigma`), clipped
    to ±:data:`Z_CLIP` (so a lone spike cannot raise an alarm by itself), left out at hours
    where the model's pumps did not run as measured (``operations_match`` of the
    residuals, when present) and run through :func:`cusum_changes`. Alarms whose step is
    below ``min_step_l_s`` [L/s] are dropped; alarms in several DMAs whose changes lie within
    ``merge_h`` hours of each other are one event (a leak moves the flows of its neighbours
    too), kept in the DMA where the step is largest against its noise.

    Returns
    -------
    DataFrame
        One row per alarm: ``dma``, ``alarm_utc`` (when the CUSUM crossed ``h``),
        ``change_utc`` (the estimated start), ``step_l_s`` (median inflow residual over
        :data:`CHANGE_WINDOW_H` hours after minus before the change) [L/s], ``sigma_l_s``.
    """
    rows = []
    times = pd.DatetimeIndex(res.time.values).tz_localize("UTC")
    for dma in res.dma.values:
        r = res["inflow_residual_l_s"].sel(dma=dma).to_numpy().copy()
        if "operations_match" in res:
            r[res["operations_match"].to_numpy() == 0] = np.nan
        sigma = robust_sigma(r)
        if not np.isfinite(sigma) or sigma <= 0:
            continue
        for alarm, change in cusum_changes(np.clip(r / sigma, -Z_CLIP, Z_CLIP), k, h):
            rows.append({"dma": str(dma), "alarm_utc": times[alarm],
                         "change_utc": times[change],
                         "step_l_s": change_step(r, change), "sigma_l_s": sigma})
    cols = ["dma", "alarm_utc", "change_utc", "step_l_s", "sigma_l_s"]
    alarms = pd.DataFrame(rows, columns=cols)
    alarms = alarms[alarms.step_l_s >= min_step_l_s]
    return merge_events(alarms, merge_h).sort_values("alarm_utc", ignore_index=True)


def merge_events(alarms: pd.DataFrame, merge_h: float = MERGE_H) -> pd.DataFrame:
    """Keep one alarm per group of changes within ``merge_h`` hours: the largest step/sigma."""
    if alarms.empty:
        return alarms
    a = alarms.sort_values("change_utc").reset_index(drop=True)
    gap = a.change_utc.diff() > pd.Timedelta(hours=merge_h)
    group = gap.cumsum()
    score = a.step_l_s / a.sigma_l_s
    return a.loc[score.groupby(group).idxmax().to_numpy()]


def change_step(x: np.ndarray, change: int, window: int = CHANGE_WINDOW_H) -> float:
    """Median of ``x`` over ``window`` steps from ``change`` minus the median of the
    ``window`` steps before: a level shift, which an hour or two of outliers on either side
    (a tank level glitch, a burst of demand) does not move."""
    after = x[change: change + window]
    before = x[max(0, change - window): change]
    if not np.isfinite(after).any():
        return float("nan")
    base = float(np.nanmedian(before)) if np.isfinite(before).any() else 0.0
    return float(np.nanmedian(after)) - base
