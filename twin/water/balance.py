"""IWA / AWWA water balance per DMA and for the city, with CARL, UARL and the ILI.

The standard water balance (IWA, Alegre et al. 2006, *Performance Indicators for Water
Supply Services*; AWWA Manual M36, *Water Audits and Loss Control Programs*, 4th ed. 2016)::

    system input volume (SIV)
      = authorised consumption + water losses
    authorised consumption
      = billed metered + billed unmetered + unbilled authorised
    water losses = apparent losses + real losses
    apparent losses = unauthorised consumption + customer meter under-registration
                      + systematic data handling errors
    real losses = SIV − authorised consumption − apparent losses
    non-revenue water (NRW) = SIV − billed authorised consumption

Real losses are what is left: every uncertainty of the other terms lands in them.

Performance indicators (Lambert et al. 1999, *A Review of Performance Indicators for Real
Losses from Water Supply Systems*, AQUA 48(6); IWA Op24 and Op25):

* CARL, current annual real losses, as a rate per connection [L/connection/day]
  = real losses [L] / days / Nc;
* UARL, unavoidable annual real losses [L/day] = (18·Lm + 0.8·Nc + 25·Lp)·P, with Lm the
  length of mains [km], Nc the number of service connections, Lp the length of private
  pipe from the property line to the meter [km] and P the average operating pressure [m];
* ILI, infrastructure leakage index = CARL / UARL [-] (both as L/day).

The UARL formula was derived for systems of at least 3000 connections and pressures above
25 m (Lambert 2001); for a DMA below that the ILI is indicative only and flagged so.

Volumes here come from measurements through the store: SIV from the DMA boundary meters'
signed SCADA flows [L/s] (for the city, the flows out of the sources) less the change of
water stored in the zone's tanks (SCADA levels); billed metered consumption from the AMR
hourly volumes. Connections in the register with no reads in the period get an estimate
(see :func:`billed_metered_m3`), reported apart.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import wntr

from twin.findings import Finding, flags_by_element
from twin.water.dma import SOURCE_ZONE, dma_names, net_inflow_l_s, water_customers
from twin.water.hydraulics import tank_volume_m3

#: Name of the whole-system row of a balance table.
CITY = "city"
#: Connections from which the UARL formula is considered reliable [-] (Lambert 2001).
UARL_MIN_CONNECTIONS = 3000
#: Pressure from which the UARL formula is considered reliable [m] (Lambert 2001).
UARL_MIN_PRESSURE_M = 25.0
#: UARL coefficients: per km of mains, per connection, per km of private pipe
#: [L/day per m of pressure] (Lambert et al. 1999).
UARL_MAINS, UARL_CONNECTION, UARL_PRIVATE = 18.0, 0.8, 25.0


class BalanceError(ValueError):
    """Input a water balance cannot be made from; the message says what is missing."""


@dataclass(frozen=True)
class BalanceParameters:
    """The parts of the balance that are not measured, with their sources.

    Defaults follow the AWWA Free Water Audit Software (v5/v6) and AWWA M36 practice; set
    them to the utility's own estimates where it has them.
    """

    #: Billed unmetered consumption per connection [m³/connection/day]; 0 in a fully
    #: metered city.
    billed_unmetered_m3_per_connection_day: float = field(default=0.0)
    #: Unbilled authorised consumption (fire fighting, flushing) as a share of SIV [-];
    #: AWWA Free Water Audit Software default 1.25 % of water supplied.
    unbilled_authorised_share: float = field(default=0.0125)
    #: Unauthorised consumption (theft) as a share of SIV [-]; AWWA Free Water Audit
    #: Software default 0.25 % of water supplied.
    unauthorised_share: float = field(default=0.0025)
    #: Customer meter under-registration: share of the true use the meters miss [-];
    #: AWWA M36 reports typical customer-meter inaccuracy of 1–5 %; 2 % assumed.
    meter_under_registration: float = field(default=0.02)
    #: Systematic data handling errors as a share of billed metered [-]; AWWA Free Water
    #: Audit Software default 0.25 %.
    data_handling_share: float = field(default=0.0025)
    #: Private pipe from the property line to the meter per connection [m]; 0 when meters
    #: sit at the property line (Lp of the UARL formula).
    private_pipe_m_per_connection: float = field(default=0.0)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


#: No unmeasured terms at all: what the generator of the sample city simulates (its meters
#: neither under-register nor are bypassed; leaks are the only losses).
MEASURED_ONLY = BalanceParameters(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


# -------------------------------------------------------------------------- volumes in

#: How a historian records a flow: ``"mean"`` over the step starting at the stamp (a
#: totaliser's advance over the step, as the sample city's historian writes DMA flows), or
#: ``"instantaneous"``, a sample at the stamp.
FLOW_READINGS = ("mean", "instantaneous")


def flow_volume_l(flow_l_s: pd.DataFrame, reading: str) -> pd.Series:
    """Volume that passed over [t0, tN] of flows given at times t0 … tN [L].

    A ``"mean"`` is held from its stamp to the next (EPANET's reading of a step and a
    totaliser's), Σ q_k·(t_{k+1} − t_k) over k < N, exact for step means; an
    ``"instantaneous"`` sample is integrated with the trapezoidal rule (a pump switching
    within a step then counts half the step on average, instead of a whole step or none).

    Parameters
    ----------
    flow_l_s : DataFrame
        Times (UTC, increasing) × series [L/s].
    reading : {"mean", "instantaneous"}

    Returns
    -------
    Series
        Litres per column [L].
    """
    if reading not in FLOW_READINGS:
        raise BalanceError(f"flow reading {reading!r}: give one of {FLOW_READINGS}")
    if len(flow_l_s) < 2:
        return pd.Series(0.0, index=flow_l_s.columns)
    dt_s = np.asarray((flow_l_s.index[1:] - flow_l_s.index[:-1]).total_seconds(), dtype=float)
    q = flow_l_s.to_numpy(dtype=float)
    if reading == "mean":
        v = (q[:-1] * dt_s[:, None]).sum(axis=0)
    else:
        v = ((q[:-1] + q[1:]) / 2 * dt_s[:, None]).sum(axis=0)
    return pd.Series(v, index=flow_l_s.columns)


def zone_storage_m3(levels_m: pd.DataFrame, wn: wntr.network.WaterNetworkModel,
                    zones: pd.Series) -> pd.DataFrame:
    """Water stored in each zone's tanks at each time [m³] (times × zone), by
    :func:`twin.water.hydraulics.tank_volume_m3`."""
    out = pd.DataFrame(index=levels_m.index)
    for tank in levels_m.columns:
        z = str(zones[tank])
        v = tank_volume_m3(wn, tank, levels_m[tank].to_numpy())
        out[z] = out[z] + v if z in out else v
    return out


def system_input_m3(
    flows_l_s: pd.DataFrame,
    meters: pd.DataFrame,
    levels_m: pd.DataFrame,
    wn: wntr.network.WaterNetworkModel,
    zones: pd.Series,
    flow_reading: str = "instantaneous",
) -> pd.Series:
    """System input volume per DMA and for the city over [t0, tN) [m³].

    SIV of a DMA = the time integral of its net boundary inflow [L/s] − the increase of
    water stored in its tanks; for the city, the flow out of the sources less the increase
    in every tank. Flows are integrated by :func:`flow_volume_l` as ``flow_reading`` says
    they were recorded. Flows sampled instantaneously miss a pump or tank inlet switching
    within the step: over three weeks, hourly samples misstated the sample city's DMA-3
    input by −7.4 thousand m³ (−2.7 %, more than its leaks), which
    :func:`balance_findings` names as a likely cause when real losses come out negative.

    Parameters
    ----------
    flows_l_s : DataFrame
        Times t0 … tN (both included, regular) × meter id, gap-free [L/s].
    levels_m : DataFrame
        Tank levels [m] at t0 and tN (two rows, first and last), columns tank names.
    flow_reading : {"instantaneous", "mean"}
        How the historian recorded the flows (:data:`FLOW_READINGS`).

    Returns
    -------
    Series
        SIV [m³] per DMA and ``city``.
    """
    q = net_inflow_l_s(flows_l_s, meters)
    inflow = flow_volume_l(q, flow_reading) / 1000.0
    stored = pd.Series(0.0, index=inflow.index)
    city_stored = 0.0
    for tank in levels_m.columns:
        v = tank_volume_m3(wn, tank, levels_m[tank].to_numpy()[[0, -1]])
        dv = float(v[1] - v[0])
        stored[zones[tank]] = stored.get(zones[tank], 0.0) + dv
        city_stored += dv
    siv = (inflow - stored).drop(SOURCE_ZONE, errors="ignore")
    siv[CITY] = -inflow.get(SOURCE_ZONE, 0.0) - city_stored
    return siv


def mean_demand_m3s(wn: wntr.network.WaterNetworkModel) -> pd.Series:
    """Each junction's model demand averaged over its patterns [m³/s]."""
    default = wn.options.hydraulic.pattern
    out = {}
    for name, j in wn.junctions():
        q = 0.0
        for d in j.demand_timeseries_list:
            pat = d.pattern if d.pattern is not None else (
                wn.get_pattern(default) if default in wn.pattern_name_list else None)
            q += d.base_value * (float(np.mean(pat.multipliers)) if pat is not None else 1.0)
        out[name] = q
    return pd.Series(out, name="demand_m3s")


def billed_metered_m3(
    reads: pd.DataFrame,
    customers: pd.DataFrame,
    zones: pd.Series,
    model_demand_m3s: pd.Series,
) -> pd.DataFrame:
    """Billed metered consumption per DMA over the reads' period [m³], and the estimate for
    connections without reads. Customers without a junction (electricity-only) are no
    connection: they are left out and counted in ``attrs["customers_without_junction"]``.

    A connection of the register with no read in the period is billed on an estimate: the
    zone's read volume scaled by the model's demand allocation, V_unread = V_read ·
    Σ_unread w / Σ_read w with w = the customer's ``water_share`` × its junction's mean model
    demand (the city's read connections when the zone has none). Over whole days of
    daily demand patterns this ratio is exact for the model's demand.

    Parameters
    ----------
    reads : DataFrame
        Store rows of kind ``water_read`` in the period: ``series_id`` (meter), ``value``
        (volume in the hour [m³]).
    customers : DataFrame
        Register: ``water_meter_id``, ``junction``, optionally ``water_share``.

    Returns
    -------
    DataFrame
        Index DMAs and ``city``; ``billed_metered_m3`` (read), ``billed_estimated_m3``,
        ``connections_read``, ``connections_estimated``.

    Raises
    ------
    BalanceError
        Reads of meters that are not in the register.
    """
    ids = reads["series_id"].astype(str)
    water = water_customers(customers)
    register = water.assign(water_meter_id=water.water_meter_id.astype(str),
                            junction=water.junction.astype(str))
    unknown = sorted(set(ids.unique()) - set(register.water_meter_id))
    if unknown:
        raise BalanceError(f"{len(unknown)} water meters with reads are not in the customer "
                           f"register (e.g. {unknown[:3]}); add them to customers.csv")
    bad = sorted(set(register.junction) - set(zones.index))
    if bad:
        raise BalanceError(f"customers at junctions not in the network: {bad[:5]}")
    volume = reads.assign(series_id=ids).groupby("series_id")["value"].sum()
    share = register["water_share"] if "water_share" in register else 1.0 / register.groupby(
        "junction").junction.transform("size")
    register = register.assign(
        zone=register.junction.map(zones),
        weight=np.asarray(share, dtype=float) * register.junction.map(model_demand_m3s).fillna(0.0),
        read_m3=register.water_meter_id.map(volume))
    register["is_read"] = register.read_m3.notna()
    rows = {}
    city_ratio = _ratio(register)
    for zone in dma_names(zones):
        r = register[register.zone == zone]
        ratio = _ratio(r) if r.is_read.any() else city_ratio
        read = float(r.read_m3.sum())
        est = ratio * float(r.weight[~r.is_read].sum())
        rows[zone] = (read, est, int(r.is_read.sum()), int((~r.is_read).sum()))
    out = pd.DataFrame.from_dict(rows, orient="index", columns=[
        "billed_metered_m3", "billed_estimated_m3", "connections_read", "connections_estimated"])
    out.loc[CITY] = out.sum()
    out.attrs["customers_without_junction"] = len(customers) - len(water)
    return out


def _ratio(register: pd.DataFrame) -> float:
    """Read volume per unit of model weight among read connections [m³ per m³/s]."""
    w = float(register.weight[register.is_read].sum())
    return float(register.read_m3.sum()) / w if w > 0 else 0.0


# ------------------------------------------------------------------------- the balance

def water_balance(
    siv_m3: pd.Series,
    billed: pd.DataFrame,
    zone_table: pd.DataFrame,
    days: float,
    params: BalanceParameters = BalanceParameters(),
) -> pd.DataFrame:
    """The IWA / AWWA water balance and its indicators per DMA and for the city.

    Parameters
    ----------
    siv_m3 : Series
        System input volume per zone and ``city`` [m³] (:func:`system_input_m3`).
    billed : DataFrame
        ``billed_metered_m3`` and ``billed_estimated_m3`` per zone and ``city``
        (:func:`billed_metered_m3`); the estimate counts as billed metered.
    zone_table : DataFrame
        Per zone and ``city``: ``mains_km`` [km], ``connections`` [-], ``pressure_m`` [m]
        (:func:`twin.water.dma.dma_table`).
    days : float
        Length of the period [day].
    params : BalanceParameters
        The unmeasured terms.

    Returns
    -------
    DataFrame
        Index zones then ``city``. Volumes [m³]: ``siv_m3``, ``billed_metered_m3``,
        ``billed_unmetered_m3``, ``unbilled_authorised_m3``, ``authorised_m3``,
        ``unauthorised_m3``, ``meter_under_registration_m3``, ``data_handling_m3``,
        ``apparent_losses_m3``, ``real_losses_m3``, ``water_losses_m3``, ``nrw_m3``;
        ``nrw_percent`` [%], ``real_losses_l_s`` [L/s], ``carl_l_conn_day``
        [L/connection/day], ``uarl_l_day`` and ``carl_l_day`` [L/day], ``ili`` [-],
        ``ili_indicative`` (True where the UARL formula is outside its range),
        ``consistent`` (False where the unmeasured terms exceed the measured NRW, so real
        losses come out negative: a balance to revise, whose ILI is left NaN).

    Notes
    -----
    Meter under-registration u: the meters record (1 − u) of the true use, so the volume
    missed is billed·u/(1 − u) (AWWA M36). UARL = (18·Lm + 0.8·Nc + 25·Lp)·P [L/day];
    CARL = real losses / days [L/day]; ILI = CARL/UARL (Lambert et al. 1999).
    """
    if days <= 0:
        raise BalanceError(f"the balance period must be positive, got {days} days")
    p = params
    idx = list(siv_m3.index)
    t = zone_table.reindex(idx)
    missing = [c for c in ("mains_km", "connections", "pressure_m") if c not in t]
    if missing:
        raise BalanceError(f"zone table lacks {missing}")
    siv = siv_m3.astype(float)
    b = billed.reindex(idx)
    metered = b["billed_metered_m3"] + b["billed_estimated_m3"]
    nc = t["connections"].astype(float)
    unmetered = p.billed_unmetered_m3_per_connection_day * nc * days
    unbilled = p.unbilled_authorised_share * siv
    authorised = metered + unmetered + unbilled
    unauthorised = p.unauthorised_share * siv
    under = metered * p.meter_under_registration / (1 - p.meter_under_registration)
    handling = p.data_handling_share * metered
    apparent = unauthorised + under + handling
    real = siv - authorised - apparent
    nrw = siv - (metered + unmetered)
    lp_km = p.private_pipe_m_per_connection * nc / 1000.0
    uarl = (UARL_MAINS * t["mains_km"] + UARL_CONNECTION * nc + UARL_PRIVATE * lp_km) * t[
        "pressure_m"]
    carl = real * 1000.0 / days
    out = pd.DataFrame({
        "siv_m3": siv, "billed_metered_m3": metered, "billed_estimated_m3":
        b["billed_estimated_m3"], "billed_unmetered_m3": unmetered,
        "unbilled_authorised_m3": unbilled, "authorised_m3": authorised,
        "unauthorised_m3": unauthorised, "meter_under_registration_m3": under,
        "data_handling_m3": handling, "apparent_losses_m3": apparent,
        "real_losses_m3": real, "water_losses_m3": apparent + real, "nrw_m3": nrw,
        "nrw_percent": 100 * nrw / siv, "real_losses_l_s": real * 1000 / (days * 86400),
        "carl_l_conn_day": carl / nc.where(nc > 0), "carl_l_day": carl,
        "uarl_l_day": uarl, "ili": (carl / uarl.where(uarl > 0)).where(real >= 0),
        "ili_indicative": (nc < UARL_MIN_CONNECTIONS) | (t["pressure_m"] < UARL_MIN_PRESSURE_M),
        "consistent": real >= 0,
        "mains_km": t["mains_km"], "connections": nc.astype(int), "pressure_m": t["pressure_m"],
    }, index=pd.Index(idx, name="zone"))
    out.attrs["days"] = days
    out.attrs["parameters"] = p.as_dict()
    return out


# ----------------------------------------------------------------- from the measurements

def scada_tags_of(store, meters: pd.DataFrame, wn) -> tuple[list[str], list[str]]:
    """The store's series of the boundary meters' flows [L/s] (in ``meters`` order) and of
    the tanks' levels [m] (in ``wn.tank_name_list`` order), by the tag map the SCADA was
    ingested with (``store.scada_tags()``), else the sample historian's tags."""
    from twin.ingest.tag_map import element_tags
    from twin.water.dma import boundary_flow_tags

    rows = store.scada_tags()
    flows = boundary_flow_tags(rows, meters)
    levels = element_tags(rows, "level", wn.tank_name_list)
    return [flows[str(m)] for m in meters.meter_id], [levels[t] for t in wn.tank_name_list]


def scada_hourly(store, tags: list[str], start, end) -> tuple[pd.DataFrame, pd.Series]:
    """Hourly SCADA values of ``tags`` on every hour of [start, end], gaps interpolated
    (:func:`scada_on_grid` with a 1 h step)."""
    return scada_on_grid(store, tags, start, end, "1h")


def scada_on_grid(store, tags: list[str], start, end,
                  step: str | pd.Timedelta | None = None) -> tuple[pd.DataFrame, pd.Series]:
    """SCADA values of ``tags`` on a regular grid over [start, end], gaps interpolated.

    Parameters
    ----------
    step : str or Timedelta, optional
        Grid step; default the export's own: the finest median spacing of the tags'
        readings (SCADA kept at 5 or 15 min is used at 5 or 15 min).

    Returns
    -------
    (DataFrame, Series)
        Grid times (UTC) × tag values; the number of grid times filled by interpolation
        per tag.

    Raises
    ------
    BalanceError
        A tag with no value at all in the period.
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    df = store.read("scada", series=tags, start=start, end=end + pd.Timedelta("1s"))
    wide = df.assign(series_id=df.series_id.astype(str)).pivot_table(
        index="time_utc", columns="series_id", values="value", aggfunc="mean")
    absent = [t for t in tags if t not in wide.columns or wide[t].notna().sum() == 0]
    if absent:
        raise BalanceError(f"no SCADA values between {start} and {end} for {absent}; ingest "
                           "the historian export of the period (`twin ingest`)")
    if step is None:
        spacing = [wide[t].dropna().index.to_series().diff().median() for t in tags]
        step = max(min(s for s in spacing if s == s), pd.Timedelta("1min"))
    hours = pd.date_range(start, end, freq=pd.Timedelta(step))
    wide = wide.reindex(hours)[tags]
    filled = wide.isna().sum()
    wide = wide.interpolate(method="time", limit_direction="both")
    return wide, filled


def zone_pressure_m(wn: wntr.network.WaterNetworkModel, zones: pd.Series,
                    customers: pd.DataFrame, days: int = 1) -> pd.Series:
    """Average zone pressure per DMA and for the city from the hydraulic model [m].

    The model runs ``days`` days hourly (its daily patterns); the city's pressure is the
    connection-weighted mean over every DMA junction.
    """
    from twin.water.dma import average_zone_pressure
    from twin.water.hydraulics import simulate

    ds = simulate(wn, days * 86400, 3600)
    p = ds["pressure_m"].isel(time=slice(0, -1)).to_pandas()
    per_dma = average_zone_pressure(p, zones, customers)
    city = average_zone_pressure(p, zones.where(zones == SOURCE_ZONE, CITY), customers)
    per_dma[CITY] = city[CITY]
    return per_dma


def balance_inputs(store, city, start, end, flow_reading: str | None = None) -> dict:
    """Read and prepare everything a balance over [start, end) needs from the store.

    Parameters
    ----------
    start, end : time-like
        UTC bounds of the period (whole hours).
    flow_reading : {"instantaneous", "mean"}, optional
        How the historian recorded the DMA flows; default the city's ``scada_flow_reading``.

    Returns
    -------
    dict
        ``siv_m3`` (Series), ``billed`` (DataFrame), ``hours`` [h], ``days`` [day],
        ``start``, ``end`` (UTC, the end possibly earlier than asked when the data stop),
        ``scada_filled`` (hours interpolated per tag), ``reads`` (count).
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    if start.tzinfo is None:
        start, end = start.tz_localize("UTC"), end.tz_localize("UTC")
    flow_reading = flow_reading or city.recipe.scada_flow_reading
    meters, wn, zones = city.dma_meters, city.wn, city.dmas
    ftags, ltags = scada_tags_of(store, meters, wn)
    values, filled = scada_hourly(store, ftags + ltags, start, end)
    last = store.read("scada", series=ftags[:1], start=start, end=end + pd.Timedelta("1s"))
    stop = min(end, last.time_utc.max()) if len(last) else end
    values = values.loc[:stop]
    span = read_time_span(store, "water_read", start, values.index[-1])
    if span is None:
        raise BalanceError(f"no water meter reads between {start} and {values.index[-1]}; "
                           "ingest the AMR exports of the period (`twin ingest`)")
    a, b = aligned_period(values.index, pd.Series(span))
    cut = len(values) - len(values.loc[a:b])
    values = values.loc[a:b]
    if len(values) < 2:
        raise BalanceError(f"fewer than two hours of SCADA data from {start}; choose a "
                           "longer period")
    flows = values[ftags].rename(columns=dict(zip(ftags, meters.meter_id, strict=True)))
    levels = values[ltags].iloc[[0, -1]].rename(columns=dict(zip(ltags, wn.tank_name_list,
                                                                 strict=True)))
    siv = system_input_m3(flows, meters, levels, wn, zones, flow_reading)
    t0, t1 = values.index[0], values.index[-1]
    volumes, n_reads = metered_volumes_m3(store, t0, t1)
    billed = billed_metered_m3(volumes, city.customers, zones, mean_demand_m3s(wn))
    hours = len(flows) - 1
    return {"siv_m3": siv, "billed": billed, "hours": hours, "days": hours / 24,
            "start": t0, "end": t1, "scada_filled": filled, "reads": n_reads,
            "hours_cut_for_reads": cut}


def read_time_span(store, kind: str, start, end) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """First and last reading time (UTC) of ``kind`` in [start, end), one column read a
    batch at a time; None when there is none."""
    first = last = None
    for batch in store.iter_columns(kind, ["time_utc"], start=start, end=end):
        lo, hi = batch.time_utc.min(), batch.time_utc.max()
        first = lo if first is None else min(first, lo)
        last = hi if last is None else max(last, hi)
    return None if first is None else (pd.Timestamp(first), pd.Timestamp(last))


def metered_volumes_m3(store, start, end) -> tuple[pd.DataFrame, int]:
    """Each water meter's read volume over [start, end) [m³] and the number of reads.

    Summed a month and a group of meters at a time
    (:meth:`~twin.ingest.store.MeasurementStore.iter_read`), so a year of hourly reads is
    never held at once; the frame (``series_id``, ``value``: one row per meter) is what
    :func:`billed_metered_m3` takes in place of the reads themselves.
    """
    sums, count = [], 0
    for chunk in store.iter_read("water_read", ["series_id", "value"], start=start, end=end):
        count += len(chunk)
        sums.append(chunk.groupby(chunk.series_id.astype(str))["value"].sum())
    volume = pd.concat(sums).groupby(level=0).sum() if sums else pd.Series(dtype=float)
    return pd.DataFrame({"series_id": volume.index.astype(str),
                         "value": volume.to_numpy(float)}), count


def aligned_period(times: pd.DatetimeIndex, read_times: pd.Series) -> tuple:
    """The part of [times[0], times[-1]] that the reads' hours cover: (start, end) [UTC].

    A meter's volume is stamped at the start of its hour, and the first read of a store
    gives none (no read before it), so reads may start an hour or more after the SCADA:
    the system input is then cut to the hours billed, or the balance would count an hour
    of input against no billed use (read timing).
    """
    first = pd.Timestamp(read_times.min())
    last = pd.Timestamp(read_times.max()) + pd.Timedelta("1h")
    return max(times[0], first), min(times[-1], last)


def city_zone_table(city, pressure_m: pd.Series | None = None) -> pd.DataFrame:
    """Mains, connections and average pressure per DMA and for the city (row ``city``)."""
    from twin.water.dma import dma_table

    zones = city.dmas
    pressure_m = zone_pressure_m(city.wn, zones, city.customers) if pressure_m is None else (
        pressure_m)
    t = dma_table(city.wn, zones, city.customers, city.dma_meters)
    whole = dma_table(city.wn, zones.where(zones == SOURCE_ZONE, CITY), city.customers,
                      city.dma_meters.iloc[0:0])
    t.loc[CITY, ["mains_km", "connections"]] = whole.loc[CITY, ["mains_km", "connections"]]
    t["pressure_m"] = pressure_m.reindex(t.index)
    return t


def balance_from_store(store, city, start, end,
                       params: BalanceParameters = BalanceParameters(),
                       pressure_m: pd.Series | None = None,
                       flow_reading: str | None = None) -> pd.DataFrame:
    """The water balance per DMA and for the city over [start, end) (UTC) from the store.

    ``flow_reading`` says how the historian recorded the DMA flows (:data:`FLOW_READINGS`);
    default the city's declaration (``scada_flow_reading`` of its manifest; the sample
    city's are hourly means). ``attrs["findings"]`` lists the inconsistencies
    (:func:`balance_findings`), ``flags`` names them per zone.

    See :func:`water_balance` for the columns; ``attrs`` also carry the period actually
    covered (``start``, ``end``), the connections estimated and the SCADA hours filled.
    """
    inputs = balance_inputs(store, city, start, end, flow_reading)
    table = city_zone_table(city, pressure_m)
    out = water_balance(inputs["siv_m3"], inputs["billed"], table, inputs["days"], params)
    out["connections_estimated"] = inputs["billed"]["connections_estimated"].reindex(out.index)
    out.attrs.update({"start": str(inputs["start"]), "end": str(inputs["end"]),
                      "scada_hours_filled": int(inputs["scada_filled"].sum()),
                      "customers_without_junction": inputs["billed"].attrs[
                          "customers_without_junction"],
                      "reads": inputs["reads"],
                      "hours_cut_for_reads": inputs["hours_cut_for_reads"]})
    findings = balance_findings(out)
    out["flags"] = out.index.map(flags_by_element(findings)).fillna("")
    out.attrs["findings"] = findings
    return out


#: Shortest period whose balance is read without a warning [day]: over a few days the
#: error of the boundary meters and of storage is not averaged out (AWWA M36 audits a year;
#: DMA balances need weeks).
MIN_BALANCE_DAYS = 7.0
#: Share of connections estimated above which billed use is mostly an estimate [-].
MAX_ESTIMATED_SHARE = 0.5
#: Accuracy of a DMA boundary (magnetic flow) meter in service [-]: ±2 % is typical
#: (AWWA M36 counts production-meter error as a balance term of its own).
BOUNDARY_METER_ACCURACY = 0.02


def balance_findings(table: pd.DataFrame) -> list[Finding]:
    """Consistency checks of a water balance: a zone whose real losses come out negative.

    Two ways a balance contradicts itself, each flagged with its likely causes:

    * ``billed_above_input``: billed metered use exceeds the system input (NRW < 0), which
      no network can do. Causes looked for, most likely first: read timing (reads and
      SCADA not covering the same hours), meter coverage (connections billed on an
      estimate), a period too short (:data:`MIN_BALANCE_DAYS`), SCADA hours interpolated,
      and boundary meter error or instantaneous flow samples that miss pumps and tank
      inlets switching within the step (within :data:`BOUNDARY_METER_ACCURACY` of SIV);
    * ``assumed_terms_above_nrw``: NRW is positive but smaller than the assumed unbilled
      use and apparent losses (``BalanceParameters``), so the defaults do not fit.

    Parameters
    ----------
    table : DataFrame
        A balance (:func:`water_balance`); ``connections_estimated`` and the attrs of
        :func:`balance_from_store` (``days``, ``scada_hours_filled``,
        ``hours_cut_for_reads``) are used where present.

    Returns
    -------
    list of Finding
        One per inconsistent zone (``city`` included).
    """
    out = []
    days = float(table.attrs.get("days", np.nan))
    filled = int(table.attrs.get("scada_hours_filled", 0))
    cut = int(table.attrs.get("hours_cut_for_reads", 0))
    for zone, r in table.iterrows():
        if not r["real_losses_m3"] < 0:
            continue
        siv = float(r["siv_m3"])
        if r["nrw_m3"] < 0:
            excess = -float(r["nrw_m3"])
            causes = []
            if cut:
                causes.append(f"read timing ({cut} h of SCADA without reads were cut)")
            est = float(r.get("connections_estimated", 0) or 0)
            if r["connections"] > 0 and est / r["connections"] > MAX_ESTIMATED_SHARE:
                causes.append(f"meter coverage ({est:.0f} of {r['connections']:.0f} "
                              "connections without reads, billed on an estimate)")
            if days == days and days < MIN_BALANCE_DAYS:
                causes.append(f"a period too short ({days:.1f} days)")
            if filled:
                causes.append(f"{filled} SCADA hours interpolated")
            causes.append("boundary meter error or flows sampled instantaneously, missing "
                          "pumps and tank inlets that switch within the step"
                          + (" (the excess is within a meter's "
                             f"±{100 * BOUNDARY_METER_ACCURACY:.0f} %)"
                             if excess <= BOUNDARY_METER_ACCURACY * siv else ""))
            out.append(Finding(
                "billed_above_input", str(zone),
                f"billed use {float(r['billed_metered_m3']):,.0f} m³ exceeds the system input "
                f"{siv:,.0f} m³ by {excess:,.0f} m³ ({100 * excess / siv:.2f} %), so real "
                f"losses cannot be computed; likely: {'; '.join(causes)}"))
        else:
            assumed = float(r["unbilled_authorised_m3"] + r["apparent_losses_m3"])
            out.append(Finding(
                "assumed_terms_above_nrw", str(zone),
                f"the assumed unbilled use and apparent losses ({assumed:,.0f} m³, "
                f"{100 * assumed / siv:.2f} % of SIV) exceed the measured NRW "
                f"({float(r['nrw_m3']):,.0f} m³, {float(r['nrw_percent']):.2f} %), so real "
                "losses cannot be computed; give the utility's own estimates "
                "(BalanceParameters) or measure only (--measured-only)"))
    return out
