"""One year of the sample city's measurements, written as the raw files utilities hand over.

``build_measurements`` draws, reproducibly from the recipe seed, what the city's meters and
sensors would have recorded in 2016 and writes it in the formats of ``data/RAW-FORMATS.md``:

* ``mdm/``: smart-meter 15-min energy [kWh] as meter data management exports, wide (one
  row per meter and local day) for residential meters, long for the others;
* ``amr/``: hourly water register reads [m3] of every customer;
* ``pv/``: rooftop inverter AC power [W], 15-min averages;
* ``scada/``: historian export of feeder-head P [MW] and Q [Mvar], DMA boundary flows
  [L/s], tank levels [m], pressures [m] and pump power [kW];
* ``greenbutton/``: Green Button ESPI XML of a few residential customers;
* ``truth/faults.csv``: every injected fault and event; ``manifest.json``: seed and files.

The model (draw → model → write):

* Electricity: customer i at load L uses ``share_i(t)·P_L(t)·0.25 h`` where ``share_i`` is its
  ``load_share`` times lognormal noise (AR(1) from day to day and from interval to interval),
  renormalised per load and interval so that a load's customers add up exactly to the
  SimBench profile of the load. Meter faults change the recorded values only.
* Water: one EPANET extended-period run from 1 January to the end of the period, hourly, on
  the city network with a seasonal demand multiplier and the leaks (emitters) of the ground
  truth. A customer's use is ``water_share`` times its junction's demand less the
  background leakage before the meters (:data:`WATER_BACKGROUND_LEAKAGE_SHARE`); leaks
  are not metered by customers. DMA boundary flows are hourly means from the meters' totalisers
  (exact volumes of the run's hydraulic steps), so a zone's boundary volumes add up to its
  customers' use, its leaks and its change of storage in every hour.
* Feeder heads: the feeder's loads (customers' true use, pumps) minus its generation plus
  technical losses. Losses come from AC power flows (pandapower) at a sample of intervals
  spread over the period, fitted per feeder as ``loss = a·P² + b·Q² + c`` of the feeder's net
  load and applied to every interval.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.signal import lfilter

from twin.coupling import pump_power_kw, pump_q_mvar
from twin.electric.profiles import city_profiles, profile_index, rooftop_pv_profiles
from twin.synthetic import faults as flt
from twin.synthetic import raw_formats as raw
from twin.water.hydraulics import pattern_multiplier, run_epanet, step_volumes_m3

#: Energy of 1 MW over one 15-min interval [kWh].
KWH_PER_MW_INTERVAL = 250.0
#: Intervals per hour [-].
PER_HOUR = 4
#: Lognormal noise of customers' shares: day-to-day sd and AR(1) coefficient [-].
DAY_SIGMA, DAY_PHI = 0.25, 0.7
#: Lognormal noise of customers' shares within the day: sd and 15-min AR(1) coefficient [-].
INTRA_SIGMA, INTRA_PHI = 0.35, 0.85
#: Number of parts (head-end export groups) the wide electricity export is split into.
WIDE_PARTS = 4
#: Residential customers given a Green Button feed.
GREEN_BUTTON_CUSTOMERS = 4
#: Seasonal swing of water demand around its mean, peaking mid-July [-].
WATER_SEASONAL_AMPLITUDE = 0.12
#: Share of each junction's model demand lost as background leakage on the service pipes
#: before the customers' meters [-]: real losses no meter sees and no alarm finds (small,
#: long-running leaks, below what the leak detectors are tuned for). A model's junction
#: demand is the water delivered at the node; customers' meters record (1 − share) of it.
#: Without it the sample city's only real losses were its few detectable leaks, and a
#: leak-free zone's balance was 0 ± the errors of SCADA and of billing estimates, negative
#: about half the time. 1 % keeps every zone's real losses above those errors (at most
#: 0.33 % of SIV over a week of the 400-customer test build) while the twin's leak
#: detectors, which expect the metered use, still see the loggers at their noise (the
#: worst logger's residual 0.08 m; 0.19 m at 2 %, 0.52 m at 5 %). It is below the AWWA
#: default unmeasured terms (3.8 % of SIV): a balance with those defaults is flagged.
WATER_BACKGROUND_LEAKAGE_SHARE = 0.01
#: Number of pressure sensors [-].
PRESSURE_SENSORS = 5
#: Power flows sampled to fit the feeders' losses, at most and at least [-].
LOSS_SAMPLES = (160, 12)

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Period:
    """The simulated span: whole local days of the city's year.

    ``times`` are the UTC starts of its 15-min intervals, ``hours`` of its hours; ``first``
    is the position of the first interval in the year's profiles (``first_hour`` in the
    hydraulic run, which starts at local standard midnight on 1 January).
    """

    times: pd.DatetimeIndex
    first: int
    hours: pd.DatetimeIndex
    first_hour: int

    @property
    def end(self) -> pd.Timestamp:
        return self.times[-1] + pd.Timedelta("15min")


def study_period(year: int, timezone: str, start: str | None = None,
                 days: int | None = None) -> Period:
    """The period from local midnight of ``start`` (default 1 January), ``days`` long."""
    year_index = profile_index(year, timezone, 366 * 96 if pd.Timestamp(year, 1, 1).is_leap_year
                               else 365 * 96)
    t0 = pd.Timestamp(start or f"{year}-01-01").tz_localize(timezone).tz_convert("UTC")
    if t0 not in year_index:
        raise ValueError(f"start {start} is not a local midnight of {year}")
    first = int(year_index.get_loc(t0))
    stop = len(year_index)
    if days is not None:
        t1 = (pd.Timestamp(start or f"{year}-01-01") + pd.Timedelta(days=days)).tz_localize(
            timezone).tz_convert("UTC")
        stop = min(stop, int(np.searchsorted(year_index, t1)))
    times = year_index[first:stop]
    return Period(times, first, times[::PER_HOUR], first // PER_HOUR)


def select_customers(customers: pd.DataFrame, limit: int | None) -> pd.DataFrame:
    """The first ``limit`` customers by id (all when ``None``), sorted by load then id."""
    df = customers.sort_values("customer_id")
    if limit is not None:
        df = df.head(limit)
    return df.sort_values(["load", "customer_id"], kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------- electricity

def day_factors(rng: np.random.Generator, n: int, days: int) -> np.ndarray:
    """Log day-to-day factors of ``n`` customers, AR(1) over ``days`` [-] (n × days)."""
    e = rng.standard_normal((n, days))
    z = lfilter([np.sqrt(1 - DAY_PHI**2)], [1, -DAY_PHI], e, axis=1)
    return DAY_SIGMA * z - DAY_SIGMA**2 / 2


def customer_energy(p_mw: np.ndarray, base_share: np.ndarray, group_starts: np.ndarray,
                    log_noise: np.ndarray) -> np.ndarray:
    """True energy of customers per interval [kWh], adding up exactly to their loads.

    Parameters
    ----------
    p_mw : ndarray
        Loads × intervals active power of the SimBench loads [MW].
    base_share : ndarray
        Customers' mean shares of their load [-], customers sorted by load.
    group_starts : ndarray
        Row of the first customer of each load (customers sorted by load).
    log_noise : ndarray
        Customers × intervals log noise of the share [-].

    Returns
    -------
    ndarray
        Customers × intervals [kWh].
    """
    raw_share = base_share[:, None] * np.exp(log_noise)
    sums = np.add.reduceat(raw_share, group_starts, axis=0)
    sizes = np.diff(np.r_[group_starts, len(base_share)])
    scale = np.repeat(p_mw * KWH_PER_MW_INTERVAL / sums, sizes, axis=0)
    return raw_share * scale


class _IntraDayNoise:
    """Stateful AR(1) log noise at 15-min steps, drawn chunk by chunk in a fixed order."""

    def __init__(self, rng: np.random.Generator, n: int):
        self.rng, self.state = rng, np.zeros((n, 1))

    def next(self, steps: int) -> np.ndarray:
        e = self.rng.standard_normal((self.state.shape[0], steps))
        z, zf = lfilter([np.sqrt(1 - INTRA_PHI**2)], [1, -INTRA_PHI], e, axis=1,
                        zi=self.state)
        self.state = zf
        return INTRA_SIGMA * z - INTRA_SIGMA**2 / 2


# ----------------------------------------------------------------------------------- water

def seasonal_water_network(wn, year: int, hours: int):
    """Copy of ``wn`` whose demands run ``hours`` from 1 January with a seasonal swing.

    Every pattern a demand category plays (the network's default pattern for categories
    without one) becomes one long pattern over the run, on the network's own pattern step
    and start: the multiplier EPANET would play at that time
    (:func:`twin.water.hydraulics.pattern_multiplier`) times ``1 + A·cos(2π(doy − 196)/366)``
    with A = :data:`WATER_SEASONAL_AMPLITUDE` (peak mid-July) and doy the day of the run.
    Categories without any pattern get one of the swing alone. So every category keeps its
    own pattern, whatever its step (5-minute, weekly) and start.
    """
    import copy

    wn = copy.deepcopy(wn)
    opts = wn.options.time
    step, begin = max(1, int(opts.pattern_timestep)), int(opts.pattern_start)
    # pattern periods p played over [0, hours·3600): EPANET plays period (t + start) // step
    periods = np.arange((hours * 3600 + begin + step - 1) // step)
    times_s = periods * step - begin
    doy = np.clip(times_s, 0, None) // 86400
    season = 1 + WATER_SEASONAL_AMPLITUDE * np.cos(2 * np.pi * (doy - 196) / 366)
    default = wn.options.hydraulic.pattern
    default = default if default in wn.pattern_name_list else None
    seasonal: dict[str | None, str] = {}
    for _, junction in wn.junctions():
        for demand in junction.demand_timeseries_list:
            played = demand.pattern_name or default
            if played not in seasonal:
                name = f"SEASON-{played}" if played else "SEASON"
                wn.add_pattern(name, (pattern_multiplier(wn, played, times_s)
                                      * season).tolist())
                seasonal[played] = name
            demand.pattern_name = seasonal[played]
    return wn


def simulate_water(city, leaks: pd.DataFrame, period: Period) -> dict:
    """Run EPANET hourly from 1 January to the period's end, with ``leaks``; cut the period.

    Returns
    -------
    dict
        ``demand_m3s`` (hours × node, constant over each hour), ``pressure_m`` and ``head_m``
        (hours × node), ``flow_m3s`` (hours × link), each at the period's hour starts (UTC);
        ``meter_flow_m3s`` (hours × DMA meter link), the mean flow through each DMA boundary
        meter over the hour (its totaliser's advance / 3600 s); and ``leak_m3s`` (hours ×
        leak junction), the leaks' mean emitter flows over the hour. Means are exact
        (:func:`twin.water.hydraulics.step_volumes_m3`): a pump or tank inlet switching
        within an hour is counted for the time it ran, so the hourly boundary volumes add
        up to the customers' use plus the leaks plus the change of storage.
    """
    hours_total = period.first_hour + len(period.hours)
    wn = seasonal_water_network(city.wn, city.recipe.year, hours_total)
    flt.add_leaks(wn, leaks, hour_offset=period.first_hour)
    res = run_epanet(wn, hours_total * 3600, 3600)
    cut = slice(period.first_hour, hours_total)
    demand = res.node["demand"].iloc[cut]
    names = [flt.leak_node(j) for j in leaks.series_id]
    links = [str(x) for x in city.dma_meters.link]
    through, drawn = step_volumes_m3(wn, hours_total * 3600, 3600, links, names)
    meter = pd.DataFrame(through.iloc[cut].to_numpy() / 3600.0, index=demand.index,
                         columns=links)
    leak = pd.DataFrame(drawn.iloc[cut].to_numpy() / 3600.0, index=demand.index,
                        columns=list(leaks.series_id))
    return {"demand_m3s": demand, "pressure_m": res.node["pressure"].iloc[cut],
            "head_m": res.node["head"].iloc[cut], "flow_m3s": res.link["flowrate"].iloc[cut],
            "meter_flow_m3s": meter, "leak_m3s": leak}


def pump_power(city, water: dict) -> pd.DataFrame:
    """Electrical power of each pump at each hour [kW] (hours × pump)."""
    out = {}
    for p in city.pumps.itertuples():
        link = city.wn.get_link(p.pump)
        head = water["head_m"][link.end_node_name] - water["head_m"][link.start_node_name]
        out[p.pump] = pump_power_kw(water["flow_m3s"][p.pump].to_numpy(), head.to_numpy(),
                                    p.efficiency)
    return pd.DataFrame(out)


def dma_inflow_l_s(city, flow_m3s: pd.DataFrame) -> pd.DataFrame:
    """Net inflow of each DMA from its boundary meters' flows [L/s] (hours × DMA)."""
    out = {}
    meters = city.dma_meters
    for dma in sorted(set(meters.from_zone) | set(meters.to_zone)):
        if not dma.startswith("DMA"):
            continue
        q = np.zeros(len(flow_m3s))
        for m in meters.itertuples():
            if m.to_zone == dma:
                q += flow_m3s[m.link].to_numpy()
            if m.from_zone == dma:
                q -= flow_m3s[m.link].to_numpy()
        out[dma] = q * 1000.0
    return pd.DataFrame(out, index=flow_m3s.index)


# ------------------------------------------------------------------------------- feeders

def feeder_of_buses(net) -> pd.Series:
    """MV feeder of each bus (``None`` for the substation)."""
    f = net.bus.feeder.astype(str)
    return f.where(f.str.startswith("F"))


def feeder_net_load(net, profiles: dict, period: Period, pump_kw: pd.DataFrame,
                    pumps: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Net P [MW] and Q [Mvar] of each feeder's loads, pumps and generators per interval."""
    feeder = feeder_of_buses(net)
    names = sorted(feeder.dropna().unique(), key=lambda s: int(s[1:]))
    sl = slice(period.first, period.first + len(period.times))
    p = pd.DataFrame(0.0, index=period.times, columns=names)
    q = p.copy()
    lp, lq, sg = profiles["load_p_mw"], profiles["load_q_mvar"], profiles["sgen_p_mw"]
    load_feeder = feeder.loc[net.load.loc[lp.columns, "bus"]].to_numpy()
    sgen_feeder = feeder.loc[net.sgen.loc[sg.columns, "bus"]].to_numpy()
    for f in names:
        cols = lp.columns[load_feeder == f]
        p[f] += lp.iloc[sl][cols].to_numpy().sum(axis=1)
        q[f] += lq.iloc[sl][cols].to_numpy().sum(axis=1)
        cols = sg.columns[sgen_feeder == f]
        p[f] -= sg.iloc[sl][cols].to_numpy().sum(axis=1)
    for row in pumps.itertuples():
        f = feeder.get(row.bus)
        if isinstance(f, str):
            kw = np.repeat(pump_kw[row.pump].to_numpy(), PER_HOUR)[: len(period.times)]
            p[f] += kw / 1000.0
            q[f] += pump_q_mvar(kw / 1000.0)
    return p, q


def fit_feeder_losses(city, profiles: dict, period: Period, p_net: pd.DataFrame,
                      q_net: pd.DataFrame, pump_kw: pd.DataFrame) -> dict[str, np.ndarray]:
    """Fit each feeder's line losses to its net load from sampled AC power flows.

    Power flows (pandapower Newton-Raphson, profiles and pump power applied) are solved at
    :data:`LOSS_SAMPLES` intervals spread evenly over the period; each feeder's active and
    reactive line losses are fitted by least squares as ``a·P² + b·Q² + c`` of its net load
    P [MW], Q [Mvar]. Cheap and physical: losses grow with the square of the current.

    Returns
    -------
    dict
        Per feeder, ``(coef_p, coef_q)``: coefficients ``[a, b, c]`` for P losses [MW] and
        Q losses [Mvar].
    """
    from twin.coupling import set_pump_power
    from twin.electric import powerflow

    net = city.electric_copy()
    feeder = feeder_of_buses(net)
    line_feeder = feeder.loc[net.line.from_bus].to_numpy()
    to_feeder = feeder.loc[net.line.to_bus].to_numpy()
    line_feeder = np.where(pd.isna(line_feeder), to_feeder, line_feeder)
    n = int(np.clip(len(period.times) // 200, LOSS_SAMPLES[1], LOSS_SAMPLES[0]))
    picks = np.unique(np.linspace(0, len(period.times) - 1, n).round().astype(int))
    rows_p, rows_q, keep = [], [], []
    for k in picks:
        powerflow.apply_profiles(net, profiles, period.times[k])
        set_pump_power(net, pump_kw.iloc[k // PER_HOUR])
        try:
            powerflow.solve(net)
        except powerflow.PowerFlowError:
            continue
        rows_p.append(net.res_line.pl_mw.groupby(line_feeder).sum())
        rows_q.append(net.res_line.ql_mvar.groupby(line_feeder).sum())
        keep.append(k)
    lp, lq = pd.DataFrame(rows_p).fillna(0.0), pd.DataFrame(rows_q).fillna(0.0)
    out = {}
    for f in p_net.columns:
        P, Q = p_net[f].to_numpy()[keep], q_net[f].to_numpy()[keep]
        A = np.column_stack([P**2, Q**2, np.ones_like(P)])
        yp = lp[f].to_numpy() if f in lp else np.zeros(len(keep))
        yq = lq[f].to_numpy() if f in lq else np.zeros(len(keep))
        out[f] = (np.linalg.lstsq(A, yp, rcond=None)[0], np.linalg.lstsq(A, yq, rcond=None)[0])
    return out


def feeder_head(p_net: pd.DataFrame, q_net: pd.DataFrame, coefs: dict) -> tuple:
    """Feeder-head P [MW] and Q [Mvar]: net load plus fitted losses (P losses ≥ 0)."""
    p, q = p_net.copy(), q_net.copy()
    for f in p.columns:
        (ap, bp, cp), (aq, bq, cq) = coefs[f]
        P, Q = p_net[f].to_numpy(), q_net[f].to_numpy()
        p[f] = P + np.clip(ap * P**2 + bp * Q**2 + cp, 0, None)
        q[f] = Q + aq * P**2 + bq * Q**2 + cq
    return p, q


# ------------------------------------------------------------------------------- writing

def _months(days: pd.DataFrame) -> list[tuple[str, int, int, pd.DataFrame]]:
    """Split local days into months: (``YYYY-MM``, first, stop, days of the month)."""
    out = []
    key = days.read_date.str[:7]
    for month in sorted(key.unique()):
        d = days[key == month]
        out.append((month, int(d["first"].iloc[0]), int(d["stop"].iloc[-1]),
                    d.assign(first=d["first"] - d["first"].iloc[0],
                             stop=d["stop"] - d["first"].iloc[0])))
    return out


class _Files:
    """Keeps the files a build writes, with their row counts, for the manifest."""

    def __init__(self, root: Path):
        self.root, self.rows = root, {}

    def table(self, rel: str, header: list[str], table: pa.Table) -> None:
        self.rows[rel] = raw.write_table(self.root / rel, header, table)

    def text(self, rel: str, text: str, rows: int) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())
        self.rows[rel] = rows


def _wide_rows(ids: np.ndarray, month_days: pd.DataFrame, values: np.ndarray):
    """Meter-day rows of a month: ids, dates, counts and slots (meter-major)."""
    slots = raw.wide_day_matrix(values, month_days, raw.WIDE_INTERVAL_COLUMNS)
    n, d = len(ids), len(month_days)
    return (np.repeat(ids, d), np.tile(month_days.read_date.to_numpy(), n),
            np.tile(month_days["count"].to_numpy(), n), slots.reshape(n * d, -1))


def write_electricity_month(files: _Files, month: str, offset: int, month_days: pd.DataFrame,
                            recorded: np.ndarray, meter_ids: np.ndarray, is_long: np.ndarray,
                            part: np.ndarray, local_iso: np.ndarray, faults: pd.DataFrame,
                            file_faults: list[dict]) -> int:
    """Write one month of recorded reads [kWh]: wide parts and the long file.

    ``faults`` gives the duplicates (appended at the end of the file they belong to);
    ``file_faults`` the DST and unit faults of whole files (their ``file`` and ``kind``).

    Returns
    -------
    int
        Number of interval values written (duplicates included).
    """
    written = 0
    dups = faults[(faults.kind == "duplicate") & (faults["first"] >= offset)
                  & (faults["first"] < offset + recorded.shape[1])]
    row_of = {m: i for i, m in enumerate(meter_ids)}
    for k in range(1, WIDE_PARTS + 1):
        sel = np.flatnonzero(~is_long & (part == k))
        if not len(sel):
            continue
        rel = f"mdm/interval_wide_{month}_part{k}.csv"
        ids, dates, counts, slots = _wide_rows(meter_ids[sel], month_days, recorded[sel])
        for ff in (f for f in file_faults if f["file"] == rel):
            if ff["kind"] == "wrong_unit":
                slots = slots * 1000.0
            else:
                date = ff["read_date"]
                fix = raw.dst_spring_as_96 if ff["kind"] == "dst_spring_96" else (
                    raw.dst_autumn_summed)
                for r in np.flatnonzero(dates == date):
                    slots[r] = fix(slots[r])
                    counts[r] = 96
        extra = []
        day_pos = np.searchsorted(month_days["stop"].to_numpy(), dups["first"] - offset,
                                  side="right")
        index = {(m, d): i for i, (m, d) in enumerate(zip(ids, dates, strict=True))}
        for f, dpos in zip(dups.itertuples(), day_pos, strict=True):
            key = (f.series_id, month_days.read_date.iloc[dpos])
            if key in index:
                extra.append((index[key], f.size))
        if extra:
            rows = np.array([i for i, _ in extra])
            factor = np.array([s for _, s in extra])
            ids = np.r_[ids, ids[rows]]
            dates = np.r_[dates, dates[rows]]
            counts = np.r_[counts, counts[rows]]
            slots = np.vstack([slots, np.round(slots[rows] * factor[:, None], 3)])
        files.table(rel, raw.WIDE_HEADER, raw.wide_table(ids, dates, "kWh", counts, slots, 3))
        written += int(np.count_nonzero(~np.isnan(slots)))

    sel = np.flatnonzero(is_long)
    if not len(sel):
        return written
    n, t = len(sel), recorded.shape[1]
    values = recorded[sel].ravel()
    meter_pos = np.repeat(np.arange(n), t)
    time_pos = np.tile(np.arange(t), n)
    quality = np.zeros(n * t, dtype=np.int64)
    present = ~np.isnan(values)
    meter_pos, time_pos, values, quality = (meter_pos[present], time_pos[present],
                                            values[present], quality[present])
    long_row = {m: i for i, m in enumerate(meter_ids[sel])}
    extra = [(long_row[f.series_id], f.first - offset, f.size) for f in dups.itertuples()
             if f.series_id in long_row and not np.isnan(recorded[row_of[f.series_id],
                                                                  f.first - offset])]
    if extra:
        em, et, ef = (np.array(x) for x in zip(*extra, strict=True))
        base = np.round(recorded[sel][em, et], 3)
        meter_pos = np.r_[meter_pos, em]
        time_pos = np.r_[time_pos, et]
        values = np.r_[values, np.round(base * ef, 3)]
        quality = np.r_[quality, (ef != 1.0).astype(np.int64)]
    table = raw.long_table({
        "meter_id": raw.take_strings(meter_ids[sel], meter_pos),
        "interval_start": raw.take_strings(local_iso, time_pos),
        "value": raw.fixed_decimals(values, 3),
        "uom": raw.take_strings(np.array(["kWh"], dtype=object), np.zeros(len(values), int)),
        "quality": raw.take_strings(np.array(["A", "E"], dtype=object), quality),
    })
    files.table(f"mdm/interval_long_{month}.csv", raw.LONG_HEADER, table)
    return written + len(values)


def _scada_table(tags: list[tuple[str, str, np.ndarray, np.ndarray, int]]) -> pa.Table:
    """Long SCADA table from (tag, unit, time strings, values, decimals), sorted by tag."""
    cols = {"tag": [], "timestamp_utc": [], "value": [], "unit": [], "quality": []}
    for tag, unit, stamps, values, decimals in sorted(tags, key=lambda x: x[0]):
        ok = ~np.isnan(values)
        n = int(ok.sum())
        cols["tag"].append(pa.array(np.full(n, tag, dtype=object), pa.string()))
        cols["timestamp_utc"].append(pa.array(stamps[ok], pa.string()))
        cols["value"].append(raw.fixed_decimals(values[ok], decimals).cast(pa.string()))
        cols["unit"].append(pa.array(np.full(n, unit, dtype=object), pa.string()))
        cols["quality"].append(pa.array(np.full(n, "GOOD", dtype=object), pa.string()))
    return pa.table({k: pa.concat_arrays(v) for k, v in cols.items()})


# ---------------------------------------------------------------------------------- build

def build_measurements(city, out_dir, seed: int | None = None, days: int | None = None,
                       customers: int | None = None, progress: Progress | None = None,
                       start: str | None = None) -> dict:
    """Generate the city's measurements for its year and write them as raw files.

    Parameters
    ----------
    city : City
        The city (``twin.city.load_city()``).
    out_dir : str or Path
        Folder to write into (the CLI uses ``twin.config.data_dir() / "raw"``).
    seed : int, optional
        Seed of every random draw; default the recipe's seed. Same seed, same bytes.
    days : int, optional
        Limit the period to this many local days (for tests).
    customers : int, optional
        Limit to the first customers by id (for tests); a load's customers then add up to
        the whole load.
    progress : callable, optional
        ``progress(step_name, done, total)``, called as the build advances.
    start : str, optional
        First local day, ``YYYY-MM-DD`` (default 1 January of the city's year).

    Returns
    -------
    dict
        ``files``, ``bytes``, ``electricity_reads``, ``water_reads``, ``pv_values``,
        ``scada_values``, ``faults`` (count per kind), ``seconds``.
    """
    t_start = time.perf_counter()
    tick = progress or (lambda *a: None)
    r = city.recipe
    seed = r.seed if seed is None else int(seed)
    tz = r.timezone
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    files = _Files(root)
    rng = {k: np.random.default_rng([seed, i]) for i, k in enumerate(
        ["faults", "day", "intra", "pv", "water", "sensors", "scada", "leaks", "gb"])}

    period = study_period(r.year, tz, start, days)
    steps, hours = len(period.times), len(period.hours)
    days_table = raw.local_days(period.times, tz)
    tick("profiles", 0, 1)
    profiles = city_profiles(city)
    cust = select_customers(city.customers, customers)
    tick("profiles", 1, 1)

    # ---- draw faults
    meter_ids = cust.electric_meter_id.to_numpy(dtype=object)
    is_long = cust.customer_class.isin(["commercial", "industrial", "critical"]).to_numpy()
    load_cols = cust["load"].to_numpy()
    mean_p = profiles["load_p_mw"][np.unique(load_cols)].mean()
    typical = cust.load_share.to_numpy() * mean_p.loc[load_cols].to_numpy() * KWH_PER_MW_INTERVAL
    efaults = flt.draw_meter_faults(rng["faults"], meter_ids, steps, typical, is_long)
    efaults = _widen_wide_duplicates(efaults, days_table)
    junctions_by_dma = {}
    for j in city.demand_junctions:
        junctions_by_dma.setdefault(city.dmas[j], []).append(j)
    leaks = flt.draw_leaks(rng["leaks"], junctions_by_dma, hours)
    wfaults = flt.draw_water_meter_faults(rng["faults"], cust.water_meter_id.to_numpy(
        dtype=object), hours)

    # ---- wide parts and file-level faults
    order = np.argsort(meter_ids[~is_long], kind="stable")
    part = np.zeros(len(cust), dtype=int)
    part[np.flatnonzero(~is_long)[order]] = np.arange(len(order)) % WIDE_PARTS + 1
    file_faults = _draw_file_faults(rng["faults"], days_table, period, part)

    # ---- water
    tick("water", 0, 1)
    water = simulate_water(city, leaks, period)
    pump_kw = pump_power(city, water)
    tick("water", 1, 1)

    # ---- electricity, month by month
    months = _months(days_table)
    local_iso = raw.local_iso(period.times, tz)
    starts = np.flatnonzero(np.r_[True, load_cols[1:] != load_cols[:-1]])
    base_share = cust.load_share.to_numpy(dtype=float)
    day_of_step = np.repeat(np.arange(len(days_table)), days_table["count"].to_numpy())
    dayf = day_factors(rng["day"], len(cust), len(days_table))
    intra = _IntraDayNoise(rng["intra"], len(cust))
    order_ids = np.argsort(meter_ids, kind="stable")
    position = {m: i for i, m in enumerate(meter_ids[order_ids])}
    gb = _green_button_customers(rng["gb"], cust, efaults)
    gb_rows = np.array([int(np.flatnonzero(cust.customer_id.to_numpy() == c)[0]) for c in gb],
                       dtype=int)
    gb_kwh = np.zeros((len(gb), steps))
    reads = 0
    lp = profiles["load_p_mw"]
    load_sel = lp[load_cols[starts]].to_numpy()
    for i, (month, a, b, mdays) in enumerate(months):
        tick("electricity", i, len(months))
        p = load_sel[period.first + a: period.first + b].T
        noise = dayf[:, day_of_step[a:b]] + intra.next(b - a)
        truth = customer_energy(p, base_share, starts, noise)
        gb_kwh[:, a:b] = truth[gb_rows]
        rec = flt.apply_meter_faults(truth[order_ids], efaults, position, a)
        reads += write_electricity_month(files, month, a, mdays, rec, meter_ids[order_ids],
                                is_long[order_ids], part[order_ids], local_iso[a:b], efaults,
                                file_faults)
    tick("electricity", len(months), len(months))

    # ---- water meters
    tick("water meters", 0, 1)
    water_reads = _write_water(files, cust, water, period, wfaults, rng["water"], tz)
    tick("water meters", 1, 1)

    # ---- PV
    tick("pv", 0, 1)
    _write_pv(files, cust, period, months, tz)
    tick("pv", 1, 1)

    # ---- SCADA
    tick("scada", 0, 1)
    sfaults = _write_scada(files, city, profiles, period, water, pump_kw, months, rng)
    tick("scada", 1, 1)

    # ---- Green Button
    for k, cid in enumerate(gb):
        row = cust.loc[gb_rows[k]]
        wh = np.round(np.round(gb_kwh[k], 3) * 1000.0)
        xml = raw.green_button_xml(cid, row.electric_meter_id, period.times, wh, tz, period.end)
        files.text(f"greenbutton/greenbutton_{cid}.xml", xml, int((~np.isnan(wh)).sum()))

    # ---- truth and manifest
    leak_flow = water["leak_m3s"]
    leaks = leaks.copy()
    details = []
    for f in leaks.itertuples():
        d = json.loads(f.details)
        on = leak_flow[f.series_id].to_numpy()[f.first:f.stop]
        d["mean_flow_l_s"] = round(float(on.mean() * 1000), 4) if len(on) else 0.0
        details.append(json.dumps(d, sort_keys=True))
    leaks["details"] = details
    ff = pd.DataFrame([{k: v for k, v in f.items() if k != "read_date"} for f in file_faults])
    allf = pd.concat([x for x in (efaults, wfaults, leaks, sfaults, ff) if len(x)],
                     ignore_index=True)
    times = {"15min": period.times.append(pd.DatetimeIndex([period.end])),
             "hour": period.hours.append(pd.DatetimeIndex([period.end]))}
    truth = flt.truth_table(allf, times)
    path = root / "truth" / "faults.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    truth.to_csv(path, index=False, lineterminator="\n")
    files.rows["truth/faults.csv"] = len(truth)

    manifest = {
        "generator": "twin.synthetic.measurements.build_measurements",
        "city": r.name, "seed": seed, "timezone": tz,
        "period_start_utc": period.times[0].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "period_end_utc": period.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "customers": len(cust),
        "files": [{"file": rel, "sha256": raw.sha256_of(root / rel), "rows": files.rows[rel],
                   "bytes": (root / rel).stat().st_size} for rel in sorted(files.rows)],
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return {
        "files": len(manifest["files"]) + 1,
        "bytes": int(sum(f["bytes"] for f in manifest["files"])),
        "electricity_reads": reads,
        "water_reads": water_reads,
        "pv_values": int((cust.pv_kwp > 0).sum() * steps),
        "faults": truth.kind.value_counts().sort_index().to_dict(),
        "seconds": round(time.perf_counter() - t_start, 1),
    }


def _widen_wide_duplicates(faults: pd.DataFrame, days: pd.DataFrame) -> pd.DataFrame:
    """A duplicate in the wide layout repeats a whole meter-day: span it over that day."""
    faults = faults.copy()
    wide = (faults.kind == "duplicate") & faults.details.str.contains('"layout": "wide"')
    stops = days["stop"].to_numpy()
    pos = np.searchsorted(stops, faults.loc[wide, "first"].to_numpy(), side="right")
    faults.loc[wide, "first"] = days["first"].to_numpy()[pos]
    faults.loc[wide, "stop"] = stops[pos]
    return faults


def _draw_file_faults(rng: np.random.Generator, days: pd.DataFrame, period: Period,
                      part: np.ndarray) -> list[dict]:
    """DST and unit faults of whole wide files: which file, which day or month.

    One part's March export keeps 96 wall-clock slots on the spring day (the skipped hour
    zero); another part's November export sums the repeated hour into 96 slots; a third
    part's export of one month is written in Wh while its ``uom`` says kWh.
    """
    parts = [int(k) for k in rng.permutation(np.arange(2, WIDE_PARTS + 1))]
    present = set(part[part > 0].tolist())
    out = []
    year = period.times[0].tz_convert("UTC").year
    for kind, date, k in (("dst_spring_96", f"{year}-03-13", parts[0]),
                          ("dst_autumn_summed", f"{year}-11-06", parts[1 % len(parts)])):
        d = days[days.read_date == date]
        if len(d) and k in present:
            out.append(flt._row(kind, "electricity", "", d["first"].iloc[0], d["stop"].iloc[0],
                                96, "intervals written",
                                file=f"mdm/interval_wide_{date[:7]}_part{k}.csv",
                                true_intervals=int(d["count"].iloc[0]))
                       | {"read_date": date})
    months = sorted(days.read_date.str[:7].unique())
    month = months[int(rng.integers(0, len(months)))]
    k = parts[2 % len(parts)]
    if k in present:
        d = days[days.read_date.str[:7] == month]
        out.append(flt._row("wrong_unit", "electricity", "", d["first"].iloc[0],
                            d["stop"].iloc[-1], 1000.0, "Wh per kWh",
                            file=f"mdm/interval_wide_{month}_part{k}.csv", written_unit="Wh",
                            declared_unit="kWh") | {"read_date": ""})
    return out


def _green_button_customers(rng: np.random.Generator, cust: pd.DataFrame,
                            faults: pd.DataFrame) -> list[str]:
    """A few residential customers whose meters have no fault, sorted by id."""
    faulty = set(faults.series_id)
    ok = cust[(cust.customer_class == "residential") & ~cust.electric_meter_id.isin(faulty)]
    ids = sorted(ok.customer_id)
    k = min(GREEN_BUTTON_CUSTOMERS, len(ids))
    return sorted(rng.choice(ids, size=k, replace=False).tolist()) if k else []


def _write_water(files: _Files, cust: pd.DataFrame, water: dict, period: Period,
                 faults: pd.DataFrame, rng: np.random.Generator, timezone: str) -> int:
    """Hourly register reads [m3] of every customer's water meter, a file per month.

    Use in hour h is ``water_share × (1 − b) × demand(junction, h) × 3600 s``, b the
    background leakage before the meters (:data:`WATER_BACKGROUND_LEAKAGE_SHARE`); the
    register starts at a random reading and advances by the use (not while the meter is
    stuck); it is read at the end of every hour and truncated to the litre.
    """
    ids = cust.water_meter_id.to_numpy(dtype=object)
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    c = cust.iloc[order]
    demand = water["demand_m3s"][c.junction.to_numpy()].to_numpy().T
    use = demand * c.water_share.to_numpy()[:, None] * (
        1.0 - WATER_BACKGROUND_LEAKAGE_SHARE) * 3600.0
    position = {m: i for i, m in enumerate(ids)}
    stuck = faults[faults.kind == "stuck"]
    flt.apply_meter_faults(use, stuck, position, 0)
    start = np.round(rng.uniform(50, 3000, len(ids)), 3)
    register = np.floor((start[:, None] + np.cumsum(use, axis=1)) * 1000.0) / 1000.0
    gaps = faults[faults.kind == "gap"]
    flt.apply_meter_faults(register, gaps, position, 0)
    hdays = raw.local_days(period.hours, timezone)
    for month, a, b, mdays in _months(hdays):
        slots = raw.wide_day_matrix(register[:, a:b], mdays, raw.WIDE_HOUR_COLUMNS)
        n, d = len(ids), len(mdays)
        table = raw.wide_table(np.repeat(ids, d), np.tile(mdays.read_date.to_numpy(), n), "m3",
                               np.tile(mdays["count"].to_numpy(), n), slots.reshape(n * d, -1),
                               3, slot_prefix="h", interval_min=None)
        files.table(f"amr/water_register_{month}.csv", raw.WATER_HEADER, table)
    return int(np.count_nonzero(~np.isnan(register)))


_PV_CACHE: dict = {}


def _rooftop_pv(roofs: pd.DataFrame, year: int, timezone: str) -> pd.DataFrame:
    """Year of rooftop AC power [kW] of ``roofs``, remembered for the last set of roofs."""
    key = (year, timezone, pd.util.hash_pandas_object(
        roofs[["customer_id", "pv_kwp", "pv_tilt_deg", "pv_azimuth_deg"]], index=False).sum())
    if key not in _PV_CACHE:
        _PV_CACHE.clear()
        _PV_CACHE[key] = rooftop_pv_profiles(roofs, year, timezone)
    return _PV_CACHE[key]


def _write_pv(files: _Files, cust: pd.DataFrame, period: Period, months: list,
              timezone: str) -> None:
    """Inverter AC power [W], 15-min averages stamped at the interval's END (UTC), a file per
    month, one column per inverter (``INV-<customer_id>``)."""
    roofs = cust[cust.pv_kwp > 0].sort_values("customer_id")
    if not len(roofs):
        return
    kw = _rooftop_pv(roofs, period.times[0].year, timezone)
    sl = slice(period.first, period.first + len(period.times))
    w = np.rint(kw.to_numpy()[sl] * 1000.0).astype(np.int64)
    ends = raw.utc_iso(period.times + pd.Timedelta("15min"))
    header = ["timestamp_utc"] + [f"INV-{c}" for c in roofs.customer_id]
    for month, a, b, _ in months:
        cols = {"timestamp_utc": pa.array(ends[a:b], pa.string())}
        for k, name in enumerate(header[1:]):
            cols[name] = pa.array(w[a:b, k])
        files.table(f"pv/pv_inverters_{month}.csv", header, pa.table(cols))


def _write_scada(files: _Files, city, profiles: dict, period: Period, water: dict,
                 pump_kw: pd.DataFrame, months: list, rng: dict) -> pd.DataFrame:
    """The SCADA historian export, a file per month; returns its gap faults.

    Tags (``<system>.<element>.<quantity>``): ``ELEC.<feeder>.P`` [MW] and ``.Q`` [Mvar],
    15-min averages; ``WATER.<meter>.FLOW`` [L/s], ``WATER.TANK-<tank>.LEVEL`` [m],
    ``WATER.J-<junction>.PRESSURE`` [m] and ``WATER.PUMP-<pump>.POWER`` [kW], hourly
    instantaneous values. Instrument noise (sd 0.2 % of the value, 0.01 m for levels and
    pressures) is added; gaps are rows left out.
    """
    p_net, q_net = feeder_net_load(city.net, profiles, period, pump_kw, city.pumps)
    coefs = fit_feeder_losses(city, profiles, period, p_net, q_net, pump_kw)
    p_head, q_head = feeder_head(p_net, q_net, coefs)
    noise = rng["scada"]
    series: dict[str, tuple[str, str, np.ndarray, int]] = {}
    for f in p_head.columns:
        v = p_head[f].to_numpy()
        series[f"ELEC.{f}.P"] = ("MW", "15min", v + noise.normal(0, 0.002, len(v)) * np.abs(v), 4)
        v = q_head[f].to_numpy()
        series[f"ELEC.{f}.Q"] = ("Mvar", "15min", v + noise.normal(0, 0.002, len(v)) * np.abs(v),
                                 4)
    flow = water["meter_flow_m3s"]
    for m in city.dma_meters.itertuples():
        v = flow[str(m.link)].to_numpy() * 1000.0
        series[f"WATER.{m.meter_id}.FLOW"] = ("L/s", "hour",
                                              v + noise.normal(0, 0.002, len(v)) * np.abs(v), 2)
    for t in city.wn.tank_name_list:
        v = water["pressure_m"][t].to_numpy()
        series[f"WATER.TANK-{t}.LEVEL"] = ("m", "hour", v + noise.normal(0, 0.01, len(v)), 3)
    for j in pressure_sensors(city, rng["sensors"]):
        v = water["pressure_m"][j].to_numpy()
        series[f"WATER.J-{j}.PRESSURE"] = ("m", "hour", v + noise.normal(0, 0.01, len(v)), 2)
    for pump in pump_kw.columns:
        series[f"WATER.PUMP-{pump}.POWER"] = ("kW", "hour", pump_kw[pump].to_numpy(), 1)

    years = len(period.times) / (366 * 96)
    etags = sorted(k for k, v in series.items() if v[1] == "15min")
    wtags = sorted(k for k, v in series.items() if v[1] == "hour")
    gaps = pd.concat([
        flt.draw_series_gaps(noise, etags, len(period.times), "scada", max(1, round(6 * years)),
                             96),
        flt.draw_series_gaps(noise, wtags, len(period.hours), "scada", max(1, round(4 * years)),
                             24, axis="hour")], ignore_index=True)
    for g in gaps.itertuples():
        unit, axis, v, dec = series[g.series_id]
        v = v.copy()
        v[g.first:g.stop] = np.nan
        series[g.series_id] = (unit, axis, v, dec)

    stamps = raw.utc_iso(period.times)
    hour_stamps = stamps[::PER_HOUR]
    for month, a, b, _ in months:
        ha, hb = a // PER_HOUR, b // PER_HOUR
        tags = []
        for tag, (unit, axis, v, dec) in series.items():
            if axis == "15min":
                tags.append((tag, unit, stamps[a:b], v[a:b], dec))
            else:
                tags.append((tag, unit, hour_stamps[ha:hb], v[ha:hb], dec))
        files.table(f"scada/historian_{month}.csv", raw.SCADA_HEADER, _scada_table(tags))
    return gaps


def pressure_sensors(city, rng: np.random.Generator) -> list[str]:
    """Junctions with a pressure sensor: one per DMA plus one more, sorted by name."""
    by_dma: dict[str, list[str]] = {}
    for j in city.demand_junctions:
        by_dma.setdefault(city.dmas[j], []).append(j)
    chosen = [names[int(rng.integers(0, len(names)))] for _, names in sorted(by_dma.items())]
    rest = sorted(set(city.demand_junctions) - set(chosen))
    chosen += [rest[int(rng.integers(0, len(rest)))] for _ in range(PRESSURE_SENSORS
                                                                    - len(chosen))]
    return sorted(set(chosen))
