"""Minimum night flow per DMA, net night flow, its trend, and leakage estimated from it.

At night (02:00–04:00 local) customers use least and pressure is highest, so most of a
DMA's inflow is leakage. The method (UKWIR / WRc 1994, *Managing Leakage*, Reports E and F;
Lambert 2001; AWWA M36 ch. 5)::

    MNF  = water used in the DMA over the night window / its length [L/s]
           (∫ net boundary inflow − increase of water in the DMA's tanks)
    NNF  = MNF − legitimate night use [L/s]
    daily leakage [m³/day] = NNF · NDF · 3.6,  NDF = Σ_h (P_h / P_night)^N1  [h/day]

Legitimate night use is what the customers' own AMR reads show over the window; connections
without reads get the read connections' use scaled by the model's demand allocation (as in
:func:`twin.water.balance.billed_metered_m3`), or, in a DMA without any reads, the
city's read connections scaled the same way; only with no reads at all the per-connection
allowance :data:`NIGHT_USE_L_CONN_H`. NDF, the night-day factor (FAVAD,
May 1994; Lambert 2001), turns the night leakage rate into a daily volume with the pressure
over the day measured by the DMA's pressure loggers; N1 = 1.0 is the usual default for a
mix of leak types (Thornton & Lambert 2005), 0.5 for fixed-area holes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from twin.findings import Finding, flags_by_element
from twin.water.balance import flow_volume_l, scada_on_grid, scada_tags_of, zone_storage_m3
from twin.water.dma import SOURCE_ZONE, dma_names, net_inflow_l_s, water_customers

#: Night window, local clock hours [start, end) [h].
NIGHT_HOURS = (2, 4)
#: Legitimate night use per connection where no reads exist [L/connection/h]:
#: UKWIR/WRc *Managing Leakage* Report E (1994) household night use, 1.7 L/property/h.
NIGHT_USE_L_CONN_H = 1.7
#: FAVAD leakage exponent N1 used for the night-day factor [-] (Thornton & Lambert 2005).
FAVAD_N1 = 1.0
#: Nights of the rolling trend [-].
TREND_NIGHTS = 7


def minimum_night_flow(inflow_l_s: pd.DataFrame, stored_m3: pd.DataFrame, timezone: str,
                       hours: tuple[int, int] = NIGHT_HOURS,
                       flow_reading: str = "instantaneous") -> pd.DataFrame:
    """Minimum night flow per local night and zone [L/s]: water used in the night window.

    Used = ∫ net inflow dt − the increase of water stored in the zone's tanks over the
    window, divided by the window's length; the flows at t0 … t1 are integrated as
    ``flow_reading`` says they were recorded (:func:`twin.water.balance.flow_volume_l`).
    Nights without a value at the window's start and end are left out.

    Hourly instantaneous values alias pumped inflows: a pump switched by its tank's level
    within the hour is seen on or off for the whole hour, while the tank's level change is
    exact. On C-Town (every DMA fed by pumps, every DMA with a tank) the MNF from hourly
    values was off by −29 to +12 L/s against the true use over seven nights; from 15-min
    values by ±2.6 L/s, from 5-min values by ±1.2 L/s. On the sample city, whose flows are
    hourly means, the trapezoidal rule (which takes half of the hour after the window)
    put DMA-4's MNF 9 L/s below its customers' own use; held values (``"mean"``) give it.

    Parameters
    ----------
    inflow_l_s : DataFrame
        Net inflow per zone [L/s] (:func:`twin.water.dma.net_inflow_l_s`) on a regular UTC
        grid (hourly or finer).
    stored_m3 : DataFrame
        Stored volume per zone with tanks [m³] on the same times.
    """
    local = inflow_l_s.index.tz_convert(timezone)
    width_s = (hours[1] - hours[0]) * 3600.0
    rows = {}
    for night in sorted(set(local.date)):
        t0 = pd.Timestamp(night).tz_localize(timezone) + pd.Timedelta(hours=hours[0])
        t1 = t0 + pd.Timedelta(seconds=width_s)
        if t0 not in inflow_l_s.index or t1 not in inflow_l_s.index:
            continue
        inside = np.asarray((inflow_l_s.index >= t0) & (inflow_l_s.index <= t1))
        volume_l = flow_volume_l(inflow_l_s[inside], flow_reading)
        for zone in stored_m3.columns:
            volume_l[zone] -= (stored_m3.loc[t1, zone] - stored_m3.loc[t0, zone]) * 1e3
        rows[night] = volume_l / width_s
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("night")


def night_mean(series: pd.DataFrame, timezone: str,
               hours: tuple[int, int] = NIGHT_HOURS) -> pd.DataFrame:
    """Mean of hourly values whose local hour is in ``hours`` = [start, end), per local night.

    The index is the local date of the night (02:00 of that date).
    """
    local = series.index.tz_convert(timezone)
    mask = (local.hour >= hours[0]) & (local.hour < hours[1])
    night = series[mask]
    return night.groupby(local[mask].date).mean().rename_axis("night")


def hourly_model_demand_m3s(wn) -> pd.DataFrame:
    """Each junction's model demand at each hour of the pattern day (0–23) [m³/s]."""
    default = wn.options.hydraulic.pattern
    step_h = max(1, int(wn.options.time.pattern_timestep // 3600))
    hours = np.arange(24)
    out = {}
    for name, j in wn.junctions():
        q = np.zeros(24)
        for d in j.demand_timeseries_list:
            pat = d.pattern if d.pattern is not None else (
                wn.get_pattern(default) if default in wn.pattern_name_list else None)
            if pat is None:
                q += d.base_value
            else:
                m = np.asarray(pat.multipliers, dtype=float)
                q += d.base_value * m[(hours // step_h) % len(m)]
        out[name] = q
    return pd.DataFrame(out, index=pd.Index(hours, name="hour"))


def model_hour(times_utc: pd.DatetimeIndex, timezone: str) -> np.ndarray:
    """Hour of the model's pattern day: the local standard-time hour (patterns start at local
    standard midnight and do not follow daylight saving time)."""
    standard = pd.Timestamp("2001-01-15", tz=timezone).utcoffset()
    return np.asarray((times_utc + standard).hour)


def night_use_l_s(reads: pd.DataFrame, customers: pd.DataFrame, zones: pd.Series,
                  model_demand: pd.DataFrame, timezone: str,
                  hours: tuple[int, int] = NIGHT_HOURS) -> pd.DataFrame:
    """Legitimate night use per night and DMA [L/s] from the customers' hourly reads.

    Read connections count what they recorded in the window. Unread connections of a DMA
    with reads get the read use scaled, hour by hour, by the model's demand allocation at
    that hour: use × Σ_unread w(h) / Σ_read w(h), w(h) = ``water_share`` × junction demand
    at model hour h (:func:`hourly_model_demand_m3s`). A DMA without reads takes the city's
    read use per unit of w(h); with no reads at all, the allowance
    :data:`NIGHT_USE_L_CONN_H` per connection.
    """
    reg = customers.assign(water_meter_id=customers.water_meter_id.astype(str),
                           junction=customers.junction.astype(str)).reset_index(drop=True)
    reg["zone"] = reg.junction.map(zones)
    share = reg["water_share"].to_numpy(float) if "water_share" in reg else np.ones(len(reg))
    r = reads.assign(series_id=reads.series_id.astype(str))
    times = pd.DatetimeIndex(r.time_utc)
    local = times.tz_convert(timezone)
    mask = np.asarray((local.hour >= hours[0]) & (local.hour < hours[1]))
    r = r[mask].assign(night=local[mask].date, mhour=model_hour(times[mask], timezone))
    r["zone"] = r.series_id.map(reg.set_index("water_meter_id").zone)
    reg["is_read"] = reg.water_meter_id.isin(set(r.series_id))
    # weight of each customer at each model hour, summed per zone and read/unread
    w = model_demand.reindex(columns=reg.junction).to_numpy() * share[None, :]  # hour × cust
    zone_list = dma_names(zones)
    w_read = {z: w[:, ((reg.zone == z) & reg.is_read).to_numpy()].sum(axis=1) for z in zone_list}
    w_all = {z: w[:, (reg.zone == z).to_numpy()].sum(axis=1) for z in zone_list}
    hourly = r.groupby(["night", "mhour", "zone"])["value"].sum().unstack("zone")
    nights = sorted(set(r.night))
    city_read = w[:, reg.is_read.to_numpy()].sum(axis=1)
    scale = 1000 / (3600 * (hours[1] - hours[0]))  # m³ over the window → L/s
    out = pd.DataFrame(index=pd.Index(nights, name="night"))
    if not len(hourly):
        for z in zone_list:
            out[z] = NIGHT_USE_L_CONN_H * int((reg.zone == z).sum()) / 3600.0
        return out
    mh = hourly.index.get_level_values("mhour").to_numpy()
    city_use = hourly.sum(axis=1).to_numpy()
    for z in zone_list:
        if w_read[z].sum() > 0 and z in hourly:
            f = w_all[z][mh] / np.where(w_read[z][mh] > 0, w_read[z][mh], np.nan)
            v = hourly[z].fillna(0.0).to_numpy() * f
        else:
            v = city_use * w_all[z][mh] / np.where(city_read[mh] > 0, city_read[mh], np.nan)
        per = pd.Series(v, index=hourly.index).groupby(level="night").sum() * scale
        out[z] = per.reindex(nights)
    return out


def night_reads(store, start, end, timezone: str,
                hours: tuple[int, int] = NIGHT_HOURS) -> pd.DataFrame:
    """The water reads (``series_id``, ``time_utc``, ``value`` [m³]) of the local night
    hours over [start, end), read a month and a group of meters at a time so that a year
    of hourly reads is never held at once (:func:`night_use_l_s` reads no other hour)."""
    parts = []
    for chunk in store.iter_read("water_read", ["series_id", "time_utc", "value"],
                                 start=start, end=end):
        hour = pd.DatetimeIndex(chunk.time_utc).tz_convert(timezone).hour
        night = chunk[np.asarray((hour >= hours[0]) & (hour < hours[1]))]
        parts.append(night.assign(series_id=night.series_id.astype(str)))
    if not parts:
        return pd.DataFrame({"series_id": pd.Series(dtype=str),
                             "time_utc": pd.Series(dtype="datetime64[ns, UTC]"),
                             "value": pd.Series(dtype=float)})
    return pd.concat(parts, ignore_index=True)


def night_day_factor(pressure_m: pd.Series, timezone: str, n1: float = FAVAD_N1,
                     hours: tuple[int, int] = NIGHT_HOURS) -> pd.Series:
    """Night-day factor per local day [h/day]: Σ over the day's hours of (P_h / P_night)^N1.

    Parameters
    ----------
    pressure_m : Series
        Hourly pressure at the DMA's average-zone-pressure point (a logger) [m].
    """
    p_night = night_mean(pressure_m.to_frame("p"), timezone, hours)["p"]
    local = pressure_m.index.tz_convert(timezone)
    day = pd.Series(local.date, index=pressure_m.index)
    ratio = pressure_m / day.map(p_night).to_numpy()
    return (ratio.clip(lower=0) ** n1).groupby(day.to_numpy()).sum().rename_axis("night")


def night_flow_from_store(store, city, start, end, n1: float = FAVAD_N1,
                          flow_reading: str | None = None) -> pd.DataFrame:
    """Minimum and net night flow per DMA and night over [start, end) (UTC), with leakage.

    ``flow_reading``: how the historian recorded the DMA flows
    (:data:`twin.water.balance.FLOW_READINGS`); default the city's ``scada_flow_reading``
    (the sample city's are hourly means).

    Returns
    -------
    DataFrame
        Long table, one row per DMA and night: ``dma``, ``night`` (local date), ``mnf_l_s``,
        ``night_use_l_s``, ``nnf_l_s`` [L/s], ``nnf_trend_l_s`` (rolling median over
        :data:`TREND_NIGHTS` nights) [L/s], ``ndf_h`` [h/day], ``leakage_m3_day`` [m³/day]
        and ``pressure_logger`` (the junction whose pressure gave the NDF, empty when none:
        then NDF = 24 h).
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    flow_reading = flow_reading or city.recipe.scada_flow_reading
    meters, wn, zones, tz = city.dma_meters, city.wn, city.dmas, city.timezone
    ftags, ltags = scada_tags_of(store, meters, wn)
    values, _ = scada_on_grid(store, ftags + ltags, start, end)
    flows = values[ftags].set_axis(list(meters.meter_id), axis=1)
    levels = values[ltags].set_axis(list(wn.tank_name_list), axis=1)
    inflow = net_inflow_l_s(flows, meters).drop(columns=SOURCE_ZONE, errors="ignore")
    mnf = minimum_night_flow(inflow, zone_storage_m3(levels, wn, zones), tz,
                             flow_reading=flow_reading)
    reads = night_reads(store, start, end, tz)
    legit = night_use_l_s(reads, water_customers(city.customers), zones,
                          hourly_model_demand_m3s(wn), tz)
    loggers = _pressure_loggers(store, zones, start, end)
    rows = []
    for dma in dma_names(zones):
        nnf = (mnf[dma] - legit[dma].reindex(mnf.index)).rename("nnf")
        logger = loggers.get(dma)
        if logger is not None:
            ndf = night_day_factor(logger[1], tz, n1).reindex(mnf.index)
        else:
            ndf = pd.Series(24.0, index=mnf.index)
        trend = nnf.rolling(TREND_NIGHTS, min_periods=1).median()
        rows.append(pd.DataFrame({
            "dma": dma, "night": mnf.index, "mnf_l_s": mnf[dma].to_numpy(),
            "night_use_l_s": legit[dma].reindex(mnf.index).to_numpy(),
            "nnf_l_s": nnf.to_numpy(), "nnf_trend_l_s": trend.to_numpy(),
            "ndf_h": ndf.to_numpy(), "leakage_m3_day": (nnf * ndf * 3.6).to_numpy(),
            "pressure_logger": logger[0] if logger is not None else ""}))
    out = pd.concat(rows, ignore_index=True)
    out = out.dropna(subset=["mnf_l_s", "night_use_l_s"]).reset_index(drop=True)
    step_s = float(np.median(np.diff(values.index.asi8))) / 1e9 if len(values) > 1 else 3600.0
    water = water_customers(city.customers)
    unread = ~water.water_meter_id.astype(str).isin(set(reads.series_id.astype(str)))
    zone_of = water.junction.astype(str).map(zones)
    tanks = {str(zones[t]) for t in wn.tank_name_list}
    context = {dma: {"has_tank": dma in tanks, "connections": int((zone_of == dma).sum()),
                     "connections_estimated": int((unread & (zone_of == dma)).sum())}
               for dma in dma_names(zones)}
    out.attrs.update({"scada_step_s": step_s, "flow_reading": flow_reading,
                      "zones": context})
    findings = night_flow_findings(out)
    out["flags"] = out.dma.map(flags_by_element(findings)).fillna("")
    out.attrs["findings"] = findings
    return out


def _negative_window(night_of_dma: pd.DataFrame, nights: int):
    """``(which, rows)`` of the last or else the first ``nights`` nights of one DMA whose
    median leakage is negative, or None."""
    for which, rows in (("last", night_of_dma.tail(nights)), ("first", night_of_dma.head(nights))):
        if float(rows.leakage_m3_day.median()) < 0:
            return which, rows
    return None


def night_flow_findings(night: pd.DataFrame, nights: int = TREND_NIGHTS) -> list[Finding]:
    """Consistency check of night flow: a DMA whose leakage comes out negative.

    Leakage cannot be below zero; a negative one (median of the first or the last ``nights``
    nights, what the CLI shows) means the legitimate night use subtracted is larger than the water the
    DMA took at night. Likely causes, looked for in this order: tanks filling at night not
    (fully) subtracted (a DMA with tanks), hourly snapshots of flows read as instantaneous
    (a pump or tank inlet switching within the step is missed), legitimate night use
    over-estimated (most connections estimated from the model's allocation).

    Parameters
    ----------
    night : DataFrame
        :func:`night_flow_from_store`'s table (its ``attrs`` give the SCADA step, the flow
        reading and, per DMA, tanks and estimated connections, where present).

    Returns
    -------
    list of Finding
        ``negative_leakage`` per DMA.
    """
    out = []
    context = night.attrs.get("zones", {})
    step_s = float(night.attrs.get("scada_step_s", np.nan))
    reading = night.attrs.get("flow_reading", "")
    for dma, g in night.groupby("dma", sort=True):
        negative = _negative_window(g, nights)
        if negative is None:
            continue
        which, recent = negative
        leak = float(recent.leakage_m3_day.median())
        c = context.get(dma, {})
        causes = []
        if c.get("has_tank"):
            causes.append("tanks filling at night not subtracted (check the DMA's tank "
                          "level tags)")
        if step_s >= 3600 and reading != "mean":
            causes.append(f"{step_s / 60:.0f}-min snapshots of the boundary flows, which "
                          "miss pumps and tank inlets switching within the step")
        n, est = c.get("connections", 0), c.get("connections_estimated", 0)
        causes.append("legitimate night use over-estimated" + (
            f" ({est} of {n} connections without reads, estimated)" if n and est else ""))
        out.append(Finding(
            "negative_leakage", str(dma),
            f"leakage {leak:,.0f} m³/day < 0 (median of the {which} {len(recent)} nights): "
            f"legitimate night use "
            f"{float(recent.night_use_l_s.median()):.1f} L/s exceeds the minimum night flow "
            f"{float(recent.mnf_l_s.median()):.1f} L/s ({(recent.nnf_l_s < 0).sum()} of "
            f"{len(recent)} nights); likely: {'; '.join(causes)}"))
    return out


def _pressure_loggers(store, zones: pd.Series, start, end) -> dict:
    """The first pressure logger of each DMA (by tag): {dma: (junction, pressure [m])}.

    Loggers are the series of quantity ``pressure`` (the store's tag map, else the sample
    historian's tags; :func:`twin.ingest.tag_map.series_elements`)."""
    from twin.ingest.tag_map import series_elements

    df = store.read("scada", start=start, end=end)
    what = series_elements(df.series_id.astype(str).unique(), store.scada_tags())
    what = what[what.quantity == "pressure"].sort_values("tag")
    out = {}
    for tag, junction in zip(what.tag, what.element, strict=True):
        dma = zones.get(junction)
        if dma is None or dma == SOURCE_ZONE or dma in out:
            continue
        s = df[df.series_id.astype(str) == tag].set_index("time_utc")["value"].sort_index()
        s = s.resample("1h").mean().dropna()  # NDF sums hourly values: a 15-min logger too
        out[dma] = (junction, s)
    return out


def leak_step_l_s(night: pd.DataFrame, dma: str, at, nights: int = 3) -> float:
    """Change of NNF in ``dma`` across a date ``at`` [L/s]: median of the ``nights`` nights
    after it minus median of the ``nights`` nights before it (the night of ``at`` excluded)."""
    d = night[night.dma == dma].set_index("night")["nnf_l_s"]
    at = pd.Timestamp(at).date()
    before = d[[n < at for n in d.index]].tail(nights)
    after = d[[n > at for n in d.index]].head(nights)
    return float(after.median() - before.median())


def night_flow_step_alarms(consumption_l_s: pd.DataFrame, timezone: str, baseline_end,
                           nights: int = TREND_NIGHTS, n_sigma: float = 3.0,
                           min_step_l_s: float = 0.0,
                           hours: tuple[int, int] = NIGHT_HOURS) -> pd.DataFrame:
    """The simple leak detector of practice: a step of a DMA's minimum night flow.

    Each night's mean consumption over ``hours`` is compared with the median of the
    ``nights`` nights before; an alarm is raised at the end of the night window when it is
    higher by more than ``n_sigma`` standard deviations of the night-to-night change on the
    leak-free nights before ``baseline_end`` (robust: 1.4826·MAD) and ``min_step_l_s``. After
    an alarm the reference is the nights from the alarm on (the new normal).

    Parameters
    ----------
    consumption_l_s : DataFrame
        Hourly measured consumption per DMA [L/s] (UTC index).

    Returns
    -------
    DataFrame
        ``dma``, ``alarm_utc``, ``step_l_s`` [L/s].
    """
    nightly = night_mean(consumption_l_s, timezone, hours)
    base_end = pd.Timestamp(baseline_end)
    end_of = {n: (pd.Timestamp(n).tz_localize(timezone) + pd.Timedelta(hours=hours[1]))
              .tz_convert("UTC") for n in nightly.index}
    rows = []
    for dma in nightly.columns:
        x = nightly[dma]
        base = x[[end_of[n] <= base_end for n in x.index]]
        d = base.diff().dropna()
        sigma = 1.4826 * float((d - d.median()).abs().median()) if len(d) > 2 else np.nan
        ref_from = 0
        vals = x.to_numpy(dtype=float)
        for i, night in enumerate(x.index):
            if end_of[night] <= base_end or not np.isfinite(vals[i]):
                continue
            ref = vals[max(ref_from, i - nights):i]
            ref = ref[np.isfinite(ref)]
            if len(ref) < 2 or not np.isfinite(sigma):
                continue
            step = vals[i] - float(np.median(ref))
            if step > max(n_sigma * sigma, min_step_l_s):
                rows.append({"dma": str(dma), "alarm_utc": end_of[night], "step_l_s": step})
                ref_from = i
    return pd.DataFrame(rows, columns=["dma", "alarm_utc", "step_l_s"])
