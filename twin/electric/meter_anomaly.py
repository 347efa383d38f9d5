"""Per-meter anomaly score: meters that point at theft or at a failing meter.

Customers of one SimBench load share its profile: each uses about its ``load_share`` of the
load, with day-to-day and within-day noise. A meter is compared with its **load peers**
(the other meters of the same load) day by day::

    x_i(d) = log( E_i(d) / s_i ) - median_j log( E_j(d) / s_j )

with ``E`` the daily energy [kWh] and ``s`` the customer's share of the load among the
metered customers. An honest meter's ``x`` wanders around 0; theft (a fraction of the use
recorded) is a lasting step down; a drifting meter a slope down; a stuck meter repeats one
value; a dead meter records zeros. The signals, each on a z-like scale (robust noise scale
``σ`` of ``x`` pooled over all meters, widened for the day-to-day correlation φ of ``x``:
``σ·sqrt((1+φ)/(1−φ))`` for means over days):

``step_z``
    the largest downward mean shift of ``x`` at one change day (two-sample t statistic);
``level_z``
    how far the meter's mean ``x`` lies below its peers' (theft from the first day);
``slope_z``
    a downward trend of ``x`` (least-squares slope over its standard error);
``flat_days`` / ``zero_hours``
    days with more than half of the intervals repeating the previous raw value (non-zero),
    and hours of raw zero readings while the peers consume.

``score`` is the largest of ``step_z``, ``level_z``, ``slope_z`` and the flat and zero
evidence turned into the same scale (:data:`FLAT_DAY_SCORE` per flat day,
:data:`ZERO_HOUR_SCORE` per zero hour); ``reason`` names the signal that gave it. Meters
whose readings are hundreds of times their peers' (``unit_error``: Wh written as kWh) are a
data fault, not a customer's: they are listed with that reason and left out of the score.

The scorer reads only measurements (the store) and the city's registers, never the ground
truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandapower as pp
import pandas as pd

from twin.electric.losses import KWH_PER_MW_INTERVAL, LossesError
from twin.findings import Finding
from twin.ingest.store import READ_CHUNK_ROWS

#: Score from which a meter is flagged for inspection [-] (measured on the sample city, see
#: ``tests/test_electric_meter_anomaly.py``).
SCORE_THRESHOLD = 5.0
#: Score of one day with a frozen register [-].
FLAT_DAY_SCORE = 6.0
#: Score of one hour of zero readings while the peers consume [-].
ZERO_HOUR_SCORE = 0.5
#: A meter reading more than this many times its peers is taken as a unit error [-].
UNIT_ERROR_RATIO = 30.0
#: Peers needed for a peer reference; with fewer the load's profile is the reference [-].
MIN_PEERS = 3
#: Share of a day's intervals that must be read for its daily energy to count [-].
MIN_DAY_COVERAGE = 0.5
#: Floor of the ratio to peers, so a day of zeros has a finite log ratio [-].
RATIO_FLOOR = 1e-3


@dataclass(frozen=True)
class MeterReadings:
    """Customer meter readings of a period on one time axis.

    Attributes
    ----------
    times : DatetimeIndex
        Interval starts (UTC, naive), 15-min.
    meter_ids : ndarray
        Meter ids (columns of the arrays).
    kwh : ndarray
        time × meter energy after VEE [kWh per interval], NaN where nothing is held.
    flat_per_day, zero_per_day : ndarray
        day × meter counts of raw readings equal to the previous raw reading (non-zero) and
        of raw zero readings [-].
    days : DatetimeIndex
        The UTC days of ``*_per_day``.
    meter_load, meter_share : Series
        Load of each meter and its share of the load among the read meters [-].
    unmapped : Series
        Readings per series id of the store that is no customer's electricity meter (e.g. a
        Green Button usage point); left out.
    not_read : int
        Customers' meters without a single reading in the period.
    """

    times: pd.DatetimeIndex
    meter_ids: np.ndarray
    kwh: np.ndarray
    flat_per_day: np.ndarray
    zero_per_day: np.ndarray
    days: pd.DatetimeIndex
    meter_load: pd.Series
    meter_share: pd.Series
    unmapped: pd.Series
    not_read: int = 0


#: Store columns :func:`read_meters` reads.
READ_COLUMNS = ("series_id", "time_utc", "value", "raw_value")


def read_meters(store, customers: pd.DataFrame, times: pd.DatetimeIndex,
                chunk_rows: int | None = READ_CHUNK_ROWS) -> MeterReadings:
    """Read the customers' interval energy from the store, streamed: a UTC month and a group
    of meters at a time (:meth:`~twin.ingest.store.MeasurementStore.iter_read`), only the
    columns needed.

    Parameters
    ----------
    store : MeasurementStore
        With kind ``electric_interval`` [kWh per interval].
    customers : DataFrame
        ``electric_meter_id``, ``load``, ``load_share`` per customer.
    times : DatetimeIndex
        The 15-min interval starts to read (UTC, naive).
    chunk_rows : int, optional
        Stored rows read at once; None reads a month whole (the same result, more memory).

    Raises
    ------
    LossesError
        When the store holds no reading of any customer meter in the period.
    """
    times = pd.DatetimeIndex(times)
    t_ns = times.asi8
    reg = customers.drop_duplicates("electric_meter_id").set_index("electric_meter_id")
    col_of = pd.Index(reg.index)
    days = times.floor("D").unique()
    day_of = days.get_indexer(times.floor("D"))
    kwh = np.full((len(times), len(col_of)), np.nan, dtype=np.float32)
    flat = np.zeros((len(days), len(col_of)), dtype=np.int32)
    zero = np.zeros_like(flat)
    unmapped: dict[str, int] = {}
    months = pd.date_range(times[0].floor("D").replace(day=1), times[-1], freq="MS")
    bounds = [times[0], *[m for m in months if m > times[0]], times[-1] + pd.Timedelta("15min")]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        for df in store.iter_read("electric_interval", READ_COLUMNS, start=a, end=b,
                                  chunk_rows=chunk_rows):
            _add_chunk(df, col_of, t_ns, day_of, kwh, flat, zero, unmapped)
    seen = ~np.isnan(kwh).all(axis=0)
    if not seen.any():
        raise LossesError(f"the store holds no customer meter reading from {times[0]} to "
                          f"{times[-1]} (kind electric_interval); ingest the MDM exports first")
    meter_ids = col_of.to_numpy(dtype=object)[seen]
    load = reg.loc[meter_ids, "load"].astype(int)
    share = reg.loc[meter_ids, "load_share"].astype(float)
    share = share / share.groupby(load.to_numpy()).transform("sum").to_numpy()
    return MeterReadings(times, meter_ids, _columns_in_place(kwh, seen), flat[:, seen],
                         zero[:, seen], days, load.rename("load"), share.rename("share"),
                         pd.Series(unmapped, dtype=int, name="readings"),
                         int((~seen).sum()))


def _columns_in_place(a: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``a[:, keep]`` without a second copy of ``a`` (a year of 3,000 meters is 0.4 GB): the
    kept columns are moved to the front and a view of them returned."""
    if keep.all():
        return a
    cols = np.flatnonzero(keep)
    for j, c in enumerate(cols):
        if j != c:
            a[:, j] = a[:, c]
    return a[:, :len(cols)]


def _add_chunk(df: pd.DataFrame, col_of: pd.Index, t_ns: np.ndarray, day_of: np.ndarray,
               kwh: np.ndarray, flat: np.ndarray, zero: np.ndarray, unmapped: dict) -> None:
    """Put one chunk of stored readings (whole meters of one month) into the period's
    arrays: energy ``kwh`` (time × meter), raw repeats ``flat`` and raw zeros ``zero`` (day ×
    meter); readings of series that are no customer's meter are counted in ``unmapped``."""
    sid = df.series_id.astype("category")
    col = col_of.get_indexer(sid.cat.categories.astype(str))
    col = np.append(col, -1)[sid.cat.codes.to_numpy()]
    if (col < 0).any():
        for s, n in df.series_id[col < 0].astype(str).value_counts().items():
            unmapped[s] = unmapped.get(s, 0) + int(n)
    t = df.time_utc.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype(
        "datetime64[ns]").astype(np.int64)
    row = np.searchsorted(t_ns, t)
    ok = (col >= 0) & (row < len(t_ns))
    ok[ok] &= t_ns[row[ok]] == t[ok]
    if not ok.any():
        return
    row, col = row[ok], col[ok]
    kwh[row, col] = df.value.to_numpy(dtype=float)[ok]
    cols, local = np.unique(col, return_inverse=True)  # the chunk's meters only
    r0, r1 = int(row.min()), int(row.max()) + 1
    raw = np.full((r1 - r0, len(cols)), np.nan)
    raw[row - r0, local] = df.raw_value.to_numpy(dtype=float)[ok]
    same = np.zeros(raw.shape, dtype=np.int32)
    same[1:] = (raw[1:] == raw[:-1]) & (raw[1:] > 0)
    d = day_of[r0:r1]
    first = np.flatnonzero(np.r_[True, d[1:] != d[:-1]])
    flat[np.ix_(d[first], cols)] += np.add.reduceat(same, first, axis=0)
    zero[np.ix_(d[first], cols)] += np.add.reduceat((raw == 0).astype(np.int32), first,
                                                     axis=0)


def _daily(meters: MeterReadings) -> tuple[np.ndarray, np.ndarray]:
    """Daily energy [kWh] (day × meter), NaN for days read less than
    :data:`MIN_DAY_COVERAGE`, and the number of intervals of each day."""
    day_of = meters.days.get_indexer(meters.times.floor("D"))
    n_days = len(meters.days)
    steps = np.bincount(day_of, minlength=n_days).astype(float)
    first = np.flatnonzero(np.r_[True, day_of[1:] != day_of[:-1]])
    total = np.zeros((n_days, meters.kwh.shape[1]))
    count = np.zeros_like(total)
    for a, b in zip(first, np.r_[first[1:], len(day_of)], strict=True):  # one day at a time
        block = meters.kwh[a:b].astype(float)
        total[day_of[a]] += np.nansum(block, axis=0)
        count[day_of[a]] += (~np.isnan(block)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        energy = total / count * steps[:, None]
    energy[count < MIN_DAY_COVERAGE * steps[:, None]] = np.nan
    return energy, steps


def _profile_daily(meters: MeterReadings, profiles: dict) -> pd.DataFrame:
    """Daily energy of every load of the meters from its profile [kWh] (day × load)."""
    idx = meters.times.tz_localize("UTC")
    p = profiles["load_p_mw"].loc[idx, sorted(meters.meter_load.unique())]
    return (p * KWH_PER_MW_INTERVAL).set_axis(meters.times).groupby(
        meters.times.floor("D")).sum().reindex(meters.days)


def relative_use(meters: MeterReadings, profiles: dict) -> tuple[np.ndarray, np.ndarray]:
    """Daily log ratio of each meter to its load peers (day × meter) and unit-error flags.

    Meters whose median ratio exceeds :data:`UNIT_ERROR_RATIO` are taken as unit errors:
    they are left out of the peer reference and their ``x`` is taken after dividing their
    readings by the power of ten nearest to that ratio (1000 for Wh written as kWh).

    Returns
    -------
    (ndarray, ndarray)
        ``x`` (see the module doc; NaN where the day is not read) and each meter's unit
        factor (1 for a meter without unit error) [-].
    """
    energy, _ = _daily(meters)
    share = meters.meter_share.to_numpy()
    load = meters.meter_load.to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        lu = np.log(np.maximum(energy / share, RATIO_FLOOR * 1e-3))
    ref = np.full_like(lu, np.nan)
    prof = np.log(_profile_daily(meters, profiles))
    unit_error = np.zeros(len(share), dtype=bool)
    for _ in range(2):  # the second pass leaves the unit errors out of the reference
        for L in np.unique(load):
            cols = np.flatnonzero((load == L) & ~unit_error)
            all_cols = np.flatnonzero(load == L)
            if len(cols) > MIN_PEERS:
                with np.errstate(all="ignore"):
                    ref[:, all_cols] = np.nanmedian(lu[:, cols], axis=1)[:, None]
            else:
                ref[:, all_cols] = prof[L].to_numpy()[:, None]
        x = lu - ref
        with np.errstate(all="ignore"):
            unit_error = np.nanmedian(x, axis=0) > np.log(UNIT_ERROR_RATIO)
    with np.errstate(all="ignore"):
        unit_factor = np.where(unit_error, 10.0 ** np.round(np.nanmedian(x, axis=0)
                                                             / np.log(10.0)), 1.0)
    x = np.maximum(x - np.log(unit_factor), np.log(RATIO_FLOOR))
    return x, unit_factor


def _shift_stats(x: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Largest downward mean shift (z) of each column and the day it starts."""
    d, n = x.shape
    filled = np.where(np.isnan(x), 0.0, x)
    read = (~np.isnan(x)).astype(float)
    cs = np.vstack([np.zeros((1, n)), np.cumsum(filled, axis=0)])
    cn = np.vstack([np.zeros((1, n)), np.cumsum(read, axis=0)])
    best = np.full(n, -np.inf)
    at = np.zeros(n, dtype=int)
    for k in range(1, d):
        n1, n2 = cn[k], cn[d] - cn[k]
        with np.errstate(all="ignore"):
            m1 = cs[k] / n1
            m2 = (cs[d] - cs[k]) / n2
            z = (m1 - m2) / (sigma * np.sqrt(1.0 / n1 + 1.0 / n2))
        z = np.where((n1 > 0) & (n2 > 0), z, -np.inf)
        better = z > best
        best[better] = z[better]
        at[better] = k
    return np.where(np.isfinite(best), best, 0.0), at


def day_to_day_correlation(x: np.ndarray) -> float:
    """Pooled lag-1 autocorrelation of the daily log ratios (day × meter) [-], in [0, 0.95]."""
    a, b = x[1:], x[:-1]
    ok = ~np.isnan(a) & ~np.isnan(b)
    if ok.sum() < 10:
        return 0.0
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    return float(np.clip((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()), 0.0, 0.95))


def score_meters(meters: MeterReadings, net: pp.pandapowerNet, profiles: dict,
                 threshold: float = SCORE_THRESHOLD) -> pd.DataFrame:
    """Anomaly score of every meter (see the module doc).

    Returns
    -------
    DataFrame
        One row per meter, highest score first: ``meter_id``, ``load``, ``feeder``,
        ``score`` [-], ``reason``, ``step_z``, ``level_z``, ``slope_z`` [-], ``flat_days``
        [d], ``zero_hours`` [h], ``change_day`` (UTC day of the step), ``ratio_after``
        (use relative to the peers after the change [-]), ``missing_kwh`` (energy below the
        peers' expectation since the change [kWh]), ``flagged`` and ``rank``.
    """
    x, unit_factor = relative_use(meters, profiles)
    unit_error = unit_factor != 1.0
    energy = _daily(meters)[0] / unit_factor
    d = x.shape[0]
    centred = x - np.nanmedian(x, axis=0)
    sigma = float(1.4826 * np.nanmedian(np.abs(centred[:, ~unit_error])))
    if not np.isfinite(sigma) or sigma <= 0:
        sigma = 1.0
    phi = day_to_day_correlation(centred[:, ~unit_error])
    # means of d AR(1) days vary (1 + φ)/(1 − φ) times more than of d independent ones
    sigma_mean = sigma * np.sqrt((1.0 + phi) / (1.0 - phi))
    step_z, k = _shift_stats(x, sigma_mean)
    n_read = (~np.isnan(x)).sum(axis=0)
    with np.errstate(all="ignore"):
        level_z = -np.nanmean(x, axis=0) * np.sqrt(n_read) / sigma_mean
        day = np.arange(d, dtype=float)[:, None] * np.ones_like(x)
        day[np.isnan(x)] = np.nan
        dm = day - np.nanmean(day, axis=0)
        sxx = np.nansum(dm**2, axis=0)
        slope = np.nansum(dm * (x - np.nanmean(x, axis=0)), axis=0) / sxx
        slope_z = -slope / (sigma_mean / np.sqrt(sxx))
    steps_per_day = 96.0
    flat_days = (meters.flat_per_day > steps_per_day / 2).sum(axis=0)
    zero_hours = meters.zero_per_day.sum(axis=0) / 4.0
    # zero readings every day at a few intervals are rounding of a small use, not a fault
    typical_zero_h = np.median(meters.zero_per_day, axis=0) / 4.0
    zero_hours = np.maximum(zero_hours - typical_zero_h * len(meters.days), 0.0)
    parts = np.vstack([np.nan_to_num(step_z), np.nan_to_num(level_z),
                       np.nan_to_num(slope_z), flat_days * FLAT_DAY_SCORE,
                       zero_hours * ZERO_HOUR_SCORE])
    names = np.array(["step down (theft-like)", "low against peers", "downward drift",
                      "frozen register (stuck)", "zero readings"])
    score = parts.max(axis=0)
    reason = names[parts.argmax(axis=0)].astype(object)
    reason[unit_error] = [f"unit error (x{f:g}); {r}" for f, r in
                          zip(unit_factor[unit_error], reason[unit_error], strict=True)]
    after = np.arange(d)[:, None] >= k[None, :]
    with np.errstate(all="ignore"):
        ratio_after = np.exp(np.nanmean(np.where(after, x, np.nan), axis=0))
        expected = energy / np.exp(x)
    missing = np.nansum(np.where(after, expected - energy, 0.0), axis=0)
    feeder = net.bus.feeder.loc[net.load.bus.loc[meters.meter_load.to_numpy()]].to_numpy()
    out = pd.DataFrame({
        "meter_id": meters.meter_ids, "load": meters.meter_load.to_numpy(), "feeder": feeder,
        "score": score, "reason": reason, "step_z": step_z, "level_z": level_z,
        "slope_z": slope_z, "flat_days": flat_days, "zero_hours": zero_hours,
        "change_day": meters.days[k], "ratio_after": ratio_after,
        "missing_kwh": missing, "unit_factor": unit_factor,
    })
    out["flagged"] = out.score >= threshold
    out = out.sort_values("score", ascending=False, ignore_index=True)
    out["rank"] = np.arange(1, len(out) + 1)
    out.attrs["sigma"] = sigma
    out.attrs["day_to_day_correlation"] = phi
    out.attrs["threshold"] = threshold
    return out


def missing_energy_findings(scores: pd.DataFrame) -> list[Finding]:
    """Consistency check of the meter scores: flagged meters whose "missing" energy is < 0.

    ``missing_kwh`` is the energy below the peers' expectation since the meter's change;
    below zero the meter recorded *more* than expected, which is no energy missing. Such a
    meter is flagged for another sign (stuck, zeros, a drift before the change) or its
    change is a step up (a new load, a meter replaced or re-scaled): it is named with its
    surplus, never counted as missing energy.

    Returns
    -------
    list of Finding
        ``negative_missing_energy`` per flagged meter with ``missing_kwh`` < 0.
    """
    bad = scores[scores.flagged & (scores.missing_kwh < 0)]
    out = []
    for r in bad.itertuples():
        deficit = any(w in str(r.reason) for w in ("step down", "low against", "drift"))
        why = ("likely the change is misplaced or use stepped up (new load, meter replaced or "
               "re-scaled)" if deficit else f"it is flagged for '{r.reason}', a fault that "
               "lost no energy over the period: inspect the meter, bill nothing")
        out.append(Finding(
            "negative_missing_energy", str(r.meter_id),
            f"recorded {-r.missing_kwh:,.0f} kWh more than its peers' expectation since "
            f"{pd.Timestamp(r.change_day):%Y-%m-%d} (use vs peers {r.ratio_after:.2f}): a "
            f"surplus, not missing energy; {why}"))
    return out


def load_energy(meters: MeterReadings, scores: pd.DataFrame) -> tuple[pd.DataFrame,
                                                                       pd.DataFrame]:
    """Metered energy per load and estimates for what the meters do not give [kWh].

    Readings are summed per load. The readings of meters taken as unit errors are divided
    by their unit factor and counted as estimated; unread intervals are estimated from the
    load's other meters: the meter's share times those meters' energy per share at that
    interval (ratio estimator).

    Returns
    -------
    (DataFrame, DataFrame)
        time × load: metered and estimated energy [kWh per interval].
    """
    factor = scores.set_index("meter_id").unit_factor.reindex(meters.meter_ids).fillna(
        1.0).to_numpy(dtype=float)
    share = meters.meter_share.to_numpy()
    load = meters.meter_load.to_numpy()
    loads = np.unique(load)
    metered = np.zeros((len(meters.times), len(loads)))
    estimated = np.zeros_like(metered)
    for j, L in enumerate(loads):  # one load at a time: memory stays at one load's meters
        cols = np.flatnonzero(load == L)
        kwh = meters.kwh[:, cols].astype(float)
        unread = np.isnan(kwh)
        ok_unit = factor[cols] == 1.0
        u = ~unread & ok_unit[None, :]
        e = np.where(u, kwh, 0.0)
        s_used = (u * share[cols]).sum(axis=1)
        with np.errstate(all="ignore"):
            per_share = np.where(s_used > 0, e.sum(axis=1) / s_used, 0.0)
        metered[:, j] = e.sum(axis=1)
        rescaled = np.where(unread, 0.0, kwh / factor[cols])[:, ~ok_unit].sum(axis=1)
        estimated[:, j] = (unread * share[cols]).sum(axis=1) * per_share + rescaled
    return (pd.DataFrame(metered, index=meters.times, columns=loads),
            pd.DataFrame(estimated, index=meters.times, columns=loads))
