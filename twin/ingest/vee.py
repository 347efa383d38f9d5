"""VEE: validation, estimation and editing of meter readings.

Validation is a declared list of rules (:data:`RULES`). Each rule is a small pure function
of a :class:`Readings` view (the arrays of one series, or of many series sorted by series and
time) that returns a boolean mask of the readings it objects to; a rule's ``severity`` says
what happens to them:

``fail``
    The value cannot be used: the reading becomes ``failed`` (value NaN) and estimation
    tries to replace it (then ``estimated``).
``warn``
    The value is kept and stays ``valid``; the rule's name is recorded in ``vee_rule``.

Estimation fills failed readings and missing intervals (gaps): linear interpolation in time
between the valid neighbours when the hole is at most ``max_interpolation`` long (default
1 h), otherwise the like-day method: the mean of the same time of the same weekday in up to
``like_day_weeks`` previous weeks (following weeks when there are no previous ones).
Weeks are shifted in UTC, so within a week of a DST change the like-day reading is one local
hour off.

Every reading keeps ``raw_value`` (the value as read; NaN for an inserted gap), its
``quality_flag`` and ``vee_rule``: the rules that touched it, ``;``-joined, e.g.
``"spike;estimate_linear"``. Everything is vectorised over all series at once (numpy on
series codes), with no Python loop per reading or per series.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from twin.ingest import schema

_NS_PER_S = 1_000_000_000
#: Smallest spike of an hourly water volume [m3]: more than a service meter passes in an
#: hour (ISO 4064-1: overload flow Q4 = 1.25·Q3; a DN20 meter's Q3 is 4 m3/h, so Q4 is
#: 5 m3/h), so below it a single hour of use is always possible; above it, the electric
#: rule's ratio and scales decide (a bigger meter's own history). On the sample city's year
#: of AMR reads (2.2 M hourly volumes a month) it flags none.
WATER_SPIKE_MIN_M3 = 5.0
_WEEK_NS = 7 * 86400 * _NS_PER_S


@dataclass(frozen=True)
class VeeSettings:
    """Thresholds of the VEE rules; defaults suit 15-min to hourly interval energy.

    Attributes
    ----------
    interval : Timedelta, optional
        Interval length of every series; inferred per series (median step) when None.
    max_interpolation : Timedelta
        Longest hole filled by linear interpolation [h]; longer ones use like-day.
    max_gap_fill : Timedelta
        Longer gaps are left open (not filled with estimated readings) [d].
    like_day_weeks : int
        Weeks looked back (or ahead) for like-day estimates [-].
    spike_ratio : float
        A spike exceeds both neighbours by this factor [-] ...
    spike_scales : float
        ... and by this many robust scales (1.4826 MAD) of its series [-] ...
    spike_min_step : float
        ... and by at least this much [unit] (a floor for series that mostly read 0).
    frozen_min_run : int
        This many identical non-zero consecutive readings are a frozen register [-].
    zero_min_span : Timedelta, optional
        Zero readings in a row lasting this long, in a series whose own 99th percentile is
        positive, are a stopped or cut-off meter (warn) [h]; None switches the rule off.
    high_low_ranges : float
        A reading beyond the series' 1st-99th percentile range by this many times the
        range is high/low [-] (warn).
    future_tolerance : Timedelta
        Readings starting later than ``now`` plus this are in the future.
    allow_negative : bool
        Negative values are valid (export, temperatures); otherwise they fail.
    sum_tolerance : float
        Relative mismatch allowed between summed intervals and register delta [-].
    """

    interval: pd.Timedelta | None = None
    max_interpolation: pd.Timedelta = pd.Timedelta("1h")
    max_gap_fill: pd.Timedelta = pd.Timedelta("7D")
    like_day_weeks: int = 4
    spike_ratio: float = 5.0
    spike_scales: float = 10.0
    spike_min_step: float = 0.0
    frozen_min_run: int = 8
    zero_min_span: pd.Timedelta | None = None
    high_low_ranges: float = 3.0
    future_tolerance: pd.Timedelta = pd.Timedelta("1h")
    allow_negative: bool = False
    sum_tolerance: float = 0.02


@dataclass
class Readings:
    """Arrays of readings sorted by series and time; what rules look at.

    Attributes
    ----------
    codes : ndarray of int64
        Series code of each reading (equal codes are one series).
    t : ndarray of int64
        Interval start, UTC [ns].
    v : ndarray of float64
        Value [unit].
    interval : ndarray of int64
        The reading's series interval [ns].
    median, scale : ndarray of float64
        The series' median and robust scale (1.4826 MAD) [unit], or from history.
    now : int
        Current time, UTC [ns].
    q01, q99 : ndarray of float64
        The series' 1st and 99th percentiles [unit], or from history.
    """

    codes: np.ndarray
    t: np.ndarray
    v: np.ndarray
    interval: np.ndarray
    median: np.ndarray
    scale: np.ndarray
    now: int
    q01: np.ndarray
    q99: np.ndarray
    first: np.ndarray = field(init=False)  # first reading of its series
    last: np.ndarray = field(init=False)  # last reading of its series

    def __post_init__(self):
        n = len(self.codes)
        self.first = np.ones(n, bool)
        self.first[1:] = self.codes[1:] != self.codes[:-1]
        self.last = np.ones(n, bool)
        self.last[:-1] = self.first[1:]

    def prev(self, x: np.ndarray, fill=np.nan) -> np.ndarray:
        """Return each reading's predecessor of ``x`` within its series (``fill`` at start)."""
        out = np.empty_like(x, dtype=np.result_type(x, type(fill)))
        out[1:] = x[:-1]
        out[self.first] = fill
        return out

    def next(self, x: np.ndarray, fill=np.nan) -> np.ndarray:
        """Return each reading's successor of ``x`` within its series (``fill`` at end)."""
        out = np.empty_like(x, dtype=np.result_type(x, type(fill)))
        out[:-1] = x[1:]
        out[self.last] = fill
        return out


# ------------------------------------------------------------------------ validation rules
def future_timestamp(r: Readings, s: VeeSettings) -> np.ndarray:
    """Readings that start after now plus the tolerance."""
    return r.t > r.now + int(s.future_tolerance.value)


def negative_value(r: Readings, s: VeeSettings) -> np.ndarray:
    """Negative readings where the kind allows none."""
    if s.allow_negative:
        return np.zeros(len(r.v), bool)
    return r.v < 0


def spike(r: Readings, s: VeeSettings) -> np.ndarray:
    """A single reading far above both neighbours (by ratio, by robust scales and by at
    least ``spike_min_step``)."""
    nb = np.fmax(r.prev(r.v), r.next(r.v))
    step = np.maximum(s.spike_scales * r.scale, s.spike_min_step)
    with np.errstate(invalid="ignore"):
        return (r.v > s.spike_ratio * np.abs(nb)) & (r.v - nb > step) & (
            r.v > r.median + step)


def frozen_register(r: Readings, s: VeeSettings) -> np.ndarray:
    """Runs of at least ``frozen_min_run`` identical non-zero readings (all but the first)."""
    change = r.first | (r.v != r.prev(r.v))
    run = np.cumsum(change) - 1
    length = np.bincount(run)[run]
    return (length >= s.frozen_min_run) & ~change & (r.v != 0) & ~np.isnan(r.v)


def zero_run(r: Readings, s: VeeSettings) -> np.ndarray:
    """Runs of zero readings lasting at least ``zero_min_span`` in a series that does record
    consumption (its 99th percentile is positive): a stopped register, a meter that stopped
    counting or a premise cut off. Vacant premises read zero too, so this only warns."""
    out = np.zeros(len(r.v), bool)
    idx = np.flatnonzero(r.v == 0)  # work on the zeros only: few, and memory stays small
    if s.zero_min_span is None or not len(idx):
        return out
    new = np.ones(len(idx), bool)
    new[1:] = (np.diff(idx) != 1) | r.first[idx[1:]]
    run = np.cumsum(new) - 1
    span = np.bincount(run)[run] * r.interval[idx]  # [ns]
    out[idx[(span >= s.zero_min_span.value) & (r.q99[idx] > 0)]] = True
    return out


def high_low(r: Readings, s: VeeSettings) -> np.ndarray:
    """Readings outside the meter's own range: beyond its 1st-99th percentiles by more than
    ``high_low_ranges`` times their distance (a kWh file written in Wh, a stuck-high sensor)."""
    span = np.maximum(r.q99 - r.q01, 1e-9 * np.abs(r.median) + 1e-12)
    with np.errstate(invalid="ignore"):
        return (r.v > r.q99 + s.high_low_ranges * span) | (
            r.v < r.q01 - s.high_low_ranges * span)


@dataclass(frozen=True)
class Rule:
    """A declared VEE rule: a pure function of readings, and what a hit means."""

    name: str
    check: Callable[[Readings, VeeSettings], np.ndarray]
    severity: str  # "fail" or "warn"
    description: str


#: The validation rules, in the order they are applied. Structural rules come first, in
#: :func:`run_vee` itself: duplicates keep the best-quality copy (then the last read);
#: ``duplicate_disagree`` (fail) when copies of that same quality disagree,
#: ``duplicate_superseded`` (warn) when only a lower-quality copy disagreed; ``gap`` marks
#: inserted missing intervals.
RULES: tuple[Rule, ...] = (
    Rule("future_timestamp", future_timestamp, "fail", "interval starts in the future"),
    Rule("negative_value", negative_value, "fail", "negative where the kind allows none"),
    Rule("spike", spike, "fail", "single reading far above both neighbours"),
    Rule("frozen_register", frozen_register, "fail", "identical non-zero readings in a row"),
    Rule("zero_run", zero_run, "warn", "zero readings for a long time where use is normal"),
    Rule("high_low", high_low, "warn", "far from the meter's own history"),
)

#: All rule names, with their bit in the rule mask; structural and estimation steps last.
RULE_NAMES: tuple[str, ...] = ("duplicate_disagree", "duplicate_superseded", "gap",
                               *(r.name for r in RULES),
                               "sum_check", "estimate_linear", "estimate_like_day")
_BIT = {name: np.uint32(1 << i) for i, name in enumerate(RULE_NAMES)}
_NOT_ESTIMABLE = _BIT["future_timestamp"]


_Q = {flag: np.int8(i) for i, flag in enumerate(schema.QUALITY_FLAGS)}


def _quality_codes(flags: pd.Series) -> np.ndarray:
    """Codes of quality flags into ``schema.QUALITY_FLAGS`` (unknown -> valid)."""
    cat = flags.astype("category").cat
    lookup = np.array([_Q.get(str(c), _Q["valid"]) for c in cat.categories] + [_Q["valid"]],
                      np.int8)
    return lookup[cat.codes.to_numpy()]


@dataclass
class VeeSummary:
    """What VEE did to a batch: counts [readings]."""

    readings_in: int = 0
    duplicates_dropped: int = 0
    gaps_inserted: int = 0
    failed: int = 0
    estimated: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)


# ------------------------------------------------------------------------ building blocks
def series_stats(df: pd.DataFrame) -> pd.DataFrame:
    """Return each series' median, robust scale (1.4826 MAD) and 1st/99th percentiles [unit]
    of its valid readings (a regular subsample of each series, see :func:`_series_sample`).

    Use on a meter's stored history and pass to :func:`run_vee` as ``history``.
    """
    flags = df["quality_flag"].astype("category")
    good = np.isin(np.asarray(flags.cat.categories.astype(str)), ["valid", "edited"])
    fc = flags.cat.codes.to_numpy()
    ok = (fc >= 0) & np.append(good, False)[fc] & df["value"].notna().to_numpy()
    codes, names = pd.factorize(df["series_id"].to_numpy()[ok] if not isinstance(
        df["series_id"].dtype, pd.CategoricalDtype) else df["series_id"].array[ok])
    order = np.argsort(codes, kind="stable")
    c, v = codes[order], df["value"].to_numpy()[ok][order]
    med, scale, q01, q99 = _group_stat(c, v, len(names), _series_sample(c))
    return pd.DataFrame({"median": med, "scale": scale, "q01": q01, "q99": q99},
                        index=pd.Index(np.asarray(names, dtype=object).astype(str),
                                       name="series_id"))


def _series_sample(codes: np.ndarray, per_series: int = 256, every: int = 8) -> np.ndarray:
    """A regular subsample of each series, counted from its first reading [mask].

    Every k-th reading, k = len(series) // ``per_series`` clipped to 1..``every``: plenty
    for medians and percentiles. Counting within each series makes a series' statistics the
    same whether it is validated alone or in a bigger batch (chunks give equal results).
    """
    n = len(codes)
    first = np.ones(n, bool)
    first[1:] = codes[1:] != codes[:-1]
    starts = np.flatnonzero(first)
    lengths = np.diff(np.append(starts, n))
    k = np.clip(lengths // per_series, 1, every)
    pos = np.arange(n) - np.repeat(starts, lengths)
    return pos % np.repeat(k, lengths) == 0


def _group_stat(codes: np.ndarray, v: np.ndarray, n_groups: int,
                sample: np.ndarray) -> tuple[np.ndarray, ...]:
    codes, v = codes[sample], v[sample]
    g = pd.Series(v).groupby(codes)
    med = g.median().reindex(range(n_groups)).to_numpy()
    dev = np.abs(v - med[codes])
    mad = pd.Series(dev).groupby(codes).median().reindex(range(n_groups)).to_numpy()
    q = g.quantile([0.01, 0.99]).unstack().reindex(range(n_groups))  # one sort for both
    q01, q99 = q[0.01].to_numpy(), q[0.99].to_numpy()
    return med, 1.4826 * mad, q01, q99


def _series_interval(codes: np.ndarray, t: np.ndarray, first: np.ndarray, n: int,
                     settings: VeeSettings, sample: np.ndarray) -> np.ndarray:
    if settings.interval is not None:
        return np.full(n, int(pd.Timedelta(settings.interval).value), np.int64)
    step = np.diff(t, prepend=t[:1])
    step[first] = 0
    ok = (step > 0) & sample
    per = pd.Series(step[ok]).groupby(codes[ok]).median()
    per = per.reindex(range(codes.max() + 1 if len(codes) else 0)).fillna(0)
    return per.to_numpy().astype(np.int64)[codes]


def insert_gaps(codes, t, interval, first, max_fill_ns) -> tuple[np.ndarray, np.ndarray]:
    """Return positions and times of missing intervals to insert (vectorised).

    Returns
    -------
    new_pos : ndarray of int64
        Position of each original reading in the filled arrays.
    gap_t : ndarray of int64
        Times of the inserted readings [ns], in order of their positions.
    """
    step = np.diff(t, prepend=t[:1])
    step[first] = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where((interval > 0) & (step > interval) & (step <= max_fill_ns + interval),
                     step // np.maximum(interval, 1) - 1, 0)
    new_pos = np.arange(len(t)) + np.cumsum(k)
    total = int(k.sum())
    if total == 0:
        return new_pos, np.empty(0, np.int64)
    owner = np.repeat(np.arange(len(t)), k)  # the reading after the gap
    j = np.arange(total) - np.repeat(np.cumsum(k) - k, k) + 1
    gap_t = t[owner - 1] + j * interval[owner]
    return new_pos, gap_t


def _neighbours(ok: np.ndarray, codes: np.ndarray,
                sel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Previous and next ``ok`` reading of the same series for each position in ``sel``.

    Returns -1 where there is none. Cost grows with ``len(sel)``, not with all readings.
    """
    ok_idx = np.flatnonzero(ok)
    k = np.searchsorted(ok_idx, sel)
    prev = np.where(k > 0, ok_idx[np.maximum(k - 1, 0)] if len(ok_idx) else -1, -1)
    nxt = np.where(k < len(ok_idx), ok_idx[np.minimum(k, len(ok_idx) - 1)]
                   if len(ok_idx) else -1, -1)
    prev = np.where((prev >= 0) & (codes[np.maximum(prev, 0)] == codes[sel]), prev, -1)
    nxt = np.where((nxt >= 0) & (codes[np.maximum(nxt, 0)] == codes[sel]), nxt, -1)
    return prev, nxt


def estimate_linear(t, v, ok, need, codes, interval, max_interp_ns):
    """Linear interpolation in time for holes of at most ``max_interp_ns`` [ns].

    Returns the estimates (NaN where not estimated) and the mask of estimated readings.
    """
    est = np.full(len(t), np.nan)
    mask = np.zeros(len(t), bool)
    sel = np.flatnonzero(need)
    if len(sel) == 0:
        return est, mask
    prev, nxt = _neighbours(ok, codes, sel)
    can = (prev >= 0) & (nxt >= 0)
    sel, p, q = sel[can], prev[can], nxt[can]
    hole = t[q] - t[p] - interval[sel]
    short = hole <= max_interp_ns
    sel, p, q = sel[short], p[short], q[short]
    w = (t[sel] - t[p]) / (t[q] - t[p])
    est[sel] = v[p] + w * (v[q] - v[p])
    mask[sel] = True
    return est, mask


def estimate_like_day(t, v, ok, need, codes, weeks):
    """Like-day estimate: mean of the same UTC time in previous (else following) weeks."""
    sel = np.flatnonzero(need)
    est = np.full(len(t), np.nan)
    if len(sel) == 0:
        return est, np.zeros(len(t), bool)
    tsec = t // _NS_PER_S
    base = tsec.min() - weeks * 7 * 86400 - 1
    key = (codes.astype(np.int64) << 33) | (tsec - base)
    okkey = key[ok]
    okv = v[ok]

    def look(direction):
        total = np.zeros(len(sel))
        count = np.zeros(len(sel))
        for w in range(1, weeks + 1):  # a loop over weeks, not readings
            target = key[sel] + direction * w * 7 * 86400
            pos = np.searchsorted(okkey, target)
            pos_c = np.minimum(pos, len(okkey) - 1)
            hit = (pos < len(okkey)) & (okkey[pos_c] == target) if len(okkey) else pos < 0
            total[hit] += okv[pos_c[hit]]
            count[hit] += 1
        return total, count

    total, count = look(-1)
    fwd = count == 0
    if fwd.any():
        t2, c2 = look(+1)
        total[fwd], count[fwd] = t2[fwd], c2[fwd]
    got = count > 0
    est[sel[got]] = total[got] / count[got]
    mask = np.zeros(len(t), bool)
    mask[sel[got]] = True
    return est, mask


def sum_check(intervals: pd.DataFrame, registers: pd.DataFrame,
              tolerance: float = 0.02) -> np.ndarray:
    """Flag intervals whose sum between two register reads disagrees with the register delta.

    Parameters
    ----------
    intervals : DataFrame
        ``series_id``, ``time_utc``, ``value`` interval energy [kWh], sorted by series, time.
    registers : DataFrame
        ``series_id``, ``time_utc``, ``value`` cumulative register [kWh] of the same meters.
    tolerance : float
        Relative mismatch allowed [-] (plus 1e-6 kWh absolute).

    Returns
    -------
    ndarray of bool
        Per interval row: it lies in a register window whose sum check fails.
    """
    sid = intervals["series_id"].astype(str).to_numpy()
    cats = pd.Index(np.unique(np.concatenate([sid, registers["series_id"].astype(str)])))
    ci = cats.get_indexer(sid).astype(np.int64)
    reg = registers.assign(series_id=registers["series_id"].astype(str)).sort_values(
        ["series_id", "time_utc"])
    cr = cats.get_indexer(reg["series_id"]).astype(np.int64)
    ti = schema.time_ns(intervals["time_utc"]) // _NS_PER_S
    tr = schema.time_ns(reg["time_utc"]) // _NS_PER_S
    base = min(ti.min(), tr.min()) - 1
    ki = (ci << 33) | (ti - base)
    kr = (cr << 33) | (tr - base)
    # window w of a register series spans [kr[w], kr[w+1]); interval i falls in window pos-1
    pos = np.searchsorted(kr, ki, side="right") - 1
    valid = (pos >= 0) & (pos < len(kr) - 1)
    valid[valid] &= (cr[pos[valid]] == ci[valid]) & (cr[pos[valid] + 1] == ci[valid])
    vals = intervals["value"].to_numpy()
    sums = np.bincount(pos[valid], weights=np.nan_to_num(vals[valid]), minlength=len(kr))
    delta = np.diff(reg["value"].to_numpy(), append=np.nan)
    bad_window = np.abs(sums - delta) > tolerance * np.abs(delta) + 1e-6
    out = np.zeros(len(vals), bool)
    out[valid] = bad_window[pos[valid]]
    return out


def _rule_strings(bits: np.ndarray, existing: pd.Series | None) -> pd.Categorical:
    """Turn rule bit masks into ``;``-joined names, after any rules the reader recorded."""
    nz = np.flatnonzero(bits)
    uniq, inv_nz = np.unique(bits[nz], return_inverse=True)
    uniq = np.concatenate([[0], uniq]).astype(np.uint32)
    inv = np.zeros(len(bits), np.int64)
    inv[nz] = inv_nz.reshape(-1) + 1
    names = [";".join(n for n in RULE_NAMES if u & _BIT[n]) for u in uniq]
    rules = pd.Categorical.from_codes(inv.reshape(-1), categories=names)
    if existing is None:
        return rules
    existing = pd.Series(existing, copy=False).astype("category")
    if not any(str(c) for c in existing.cat.categories):
        return rules
    # join per distinct (existing, new) pair, not per reading (dense lookup, no sort)
    ex_names = [""] + [str(c) for c in existing.cat.categories]
    key = (existing.cat.codes.to_numpy().astype(np.int64) + 1) * len(names) + inv
    used = np.flatnonzero(np.bincount(key, minlength=len(ex_names) * len(names)))
    joined = [";".join(x for x in (ex_names[u // len(names)], names[u % len(names)]) if x)
              for u in used]  # a loop over distinct pairs (a handful)
    cats, code = np.unique(np.asarray(joined, dtype=object), return_inverse=True)
    lookup = np.zeros(len(ex_names) * len(names), np.int64)
    lookup[used] = code.reshape(-1)
    return pd.Categorical.from_codes(lookup[key], categories=cats)


def _blank_where(rules: pd.Series, mask: np.ndarray) -> pd.Categorical:
    """The rules with no rule (missing) where ``mask`` is set."""
    cat = rules.astype("category")
    codes = cat.cat.codes.to_numpy().copy()
    codes[mask] = -1
    return pd.Categorical.from_codes(codes, categories=cat.cat.categories)


# ------------------------------------------------------------------------ file-level repair
#: A meter's median demand above this is impossible for one customer [kW]: the file's
#: kWh values are Wh.
IMPOSSIBLE_MEDIAN_KW = 1000.0
#: Factor from Wh to kWh [-].
WH_FACTOR = 1e-3
#: Ratio of a file's values to the same meters' history that means Wh labelled kWh [-].
WH_RATIO_RANGE = (300.0, 3000.0)


def unit_scale(readings: pd.DataFrame, history: pd.DataFrame | None = None
               ) -> tuple[float, str]:
    """Detect energy values written in Wh under a kWh label (a whole file).

    With history (per series ``median`` from :func:`series_stats`) for at least 3 of the
    file's meters: the median ratio of the file's per-meter medians to their history medians
    lies in :data:`WH_RATIO_RANGE`; the same meters' own values prove the unit wrong and the
    factor is ``1e-3``. Without: a median over meters of their median demand above
    :data:`IMPOSSIBLE_MEDIAN_KW` (the interval measured between a series' readings; none
    judged without two) is only a guess (a grid supply point's MWh export has it
    too), so the factor is ``1.0`` and ``why`` states the doubt for the caller to act on:
    the customer meters it presumes are the caller's to establish (a city's register).

    Returns
    -------
    factor : float
        ``1e-3`` when the meters' history shows the values are Wh, else ``1.0`` [-].
    why : str
        The evidence or the doubt, in words ("" when there is neither).
    """
    d = readings.iloc[:500_000]  # plenty of meters to judge a file by
    d = d.loc[np.isfinite(d["value"]) & (d["value"] > 0), ["series_id", "time_utc", "value"]]
    if d.empty:
        return 1.0, ""
    codes, names = pd.factorize(d["series_id"])
    med = d["value"].groupby(codes).median()
    med.index = pd.Index(np.asarray(names, dtype=object)[med.index].astype(str))
    if history is not None and len(history) and "median" in history:
        h = history["median"].reindex(med.index)
        both = h.notna() & (h > 0)
        if both.sum() >= 3:
            ratio = float((med[both] / h[both]).median())
            lo, hi = WH_RATIO_RANGE
            if lo <= ratio <= hi:
                return WH_FACTOR, (f"values are {ratio:.0f} times the same {int(both.sum())} "
                              "meters' stored history: Wh labelled kWh")
            return 1.0, ""
    t = schema.time_ns(d["time_utc"])
    step = np.diff(t)[np.diff(codes) == 0]
    step = step[step > 0]
    if not len(step):  # no series with two times: no interval to turn energy into demand
        return 1.0, ""
    hours = float(np.median(step)) / 3.6e12
    demand_kw = float(med.median()) / hours
    if demand_kw > IMPOSSIBLE_MEDIAN_KW:
        return 1.0, (f"median series demand {demand_kw:,.0f} kW is more than a customer meter "
                     "draws: Wh labelled kWh, or not a customer meter (a feeder or supply "
                     "point); no stored history of these meters to tell")
    return 1.0, ""


#: Rule name of readings whose file's unit :func:`unit_scale` doubts without the meters'
#: history to prove it: kept as declared, flagged for a person to decide.
UNIT_SUSPECT_RULE = "unit_suspect"


def apply_unit_scale(readings: pd.DataFrame, factor: float) -> pd.DataFrame:
    """Multiply ``value`` and ``raw_value`` by ``factor``; flag ``edited``, rule ``unit_scale``."""
    if factor == 1.0 or readings.empty:
        return readings
    out = readings.copy()
    out["value"] = out["value"] * factor
    out["raw_value"] = out["raw_value"] * factor
    out["quality_flag"] = pd.Categorical.from_codes(
        np.full(len(out), _Q["edited"], np.int8), categories=list(schema.QUALITY_FLAGS))
    out["vee_rule"] = with_rule(out["vee_rule"], "unit_scale")
    return out


def with_rule(rules, rule: str) -> pd.Categorical:
    """Every reading's ``;``-joined rules with ``rule`` appended (per category, not per row)."""
    rules = pd.Series(rules, copy=False).astype("category")
    names = np.array([";".join(x for x in (str(c), rule) if x)
                      for c in rules.cat.categories] + [rule], dtype=object)
    codes = rules.cat.codes.to_numpy()
    codes = np.where(codes < 0, len(names) - 1, codes)
    uniq, inv = np.unique(names, return_inverse=True)
    return pd.Categorical.from_codes(inv.reshape(-1)[codes], categories=uniq)


def flag_unit_suspect(readings: pd.DataFrame) -> pd.DataFrame:
    """Readings kept as the file declares them, with rule :data:`UNIT_SUSPECT_RULE` added."""
    if readings.empty:
        return readings
    return readings.assign(vee_rule=with_rule(readings["vee_rule"], UNIT_SUSPECT_RULE))


def as_read(validated: pd.DataFrame) -> pd.DataFrame:
    """Return validated readings as they were before VEE (to validate them again).

    Inserted gaps (no ``raw_value``) are removed, ``value`` is ``raw_value`` again, and
    ``vee_rule`` keeps only the rules the reader recorded. The reader's flag comes back as
    ``edited`` when a reader rule is left, ``estimated`` when the reading was estimated
    without a VEE estimation rule (the source estimated it), else ``valid``.
    """
    d = validated[validated["raw_value"].notna()].reset_index(drop=True)
    rules = pd.Series(d["vee_rule"], copy=False).astype("category")
    vee_names = set(RULE_NAMES)
    cats = [str(c) for c in rules.cat.categories]
    reader = [";".join(x for x in c.split(";") if x and x not in vee_names) for c in cats]
    estimated_by_vee = np.array([("estimate_linear" in c) or ("estimate_like_day" in c)
                                 for c in cats] + [False])
    has_reader = np.array([bool(r) for r in reader] + [False])
    codes = rules.cat.codes.to_numpy()
    codes = np.where(codes < 0, len(cats), codes)
    flag = d["quality_flag"].astype(str).to_numpy()
    q = np.where(has_reader[codes], _Q["edited"], np.where(
        (flag == "estimated") & ~estimated_by_vee[codes], _Q["estimated"], _Q["valid"]))
    uniq, inv = np.unique(np.asarray(reader + [""], dtype=object), return_inverse=True)
    out = d.copy()
    out["value"] = d["raw_value"]
    out["quality_flag"] = pd.Categorical.from_codes(q.astype(np.int8),
                                                    categories=list(schema.QUALITY_FLAGS))
    out["vee_rule"] = pd.Categorical.from_codes(inv.reshape(-1)[codes], categories=uniq)
    return out


# ------------------------------------------------------------------------ orchestration
def run_vee(
    df: pd.DataFrame,
    settings: VeeSettings | None = None,
    *,
    history: pd.DataFrame | None = None,
    registers: pd.DataFrame | None = None,
    now: pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, VeeSummary]:
    """Validate, estimate and edit readings of many series at once.

    Parameters
    ----------
    df : DataFrame
        Readings in the measurement schema (any order; several series).
    settings : VeeSettings, optional
        Rule thresholds.
    history : DataFrame, optional
        Per series ``median`` and ``scale`` [unit] from :func:`series_stats` of stored
        readings; series without history use the batch's own statistics.
    registers : DataFrame, optional
        Cumulative register reads of the same series, for :func:`sum_check`.
    now : Timestamp, optional
        The current time for ``future_timestamp``; default the wall clock.

    Returns
    -------
    DataFrame
        One row per ``(series_id, time_utc)``, sorted, missing intervals inserted, with
        ``value``, ``quality_flag``, ``vee_rule`` set and ``raw_value`` kept.
    VeeSummary
        Counts of what was done.
    """
    s = settings or VeeSettings()
    df = schema.conform(df)
    summary = VeeSummary(readings_in=len(df))
    if df.empty:
        return df, summary
    sid = df["series_id"]
    raw_codes = sid.cat.codes.to_numpy()
    used = np.bincount(raw_codes[raw_codes >= 0], minlength=len(sid.cat.categories)) > 0
    if not used.all():  # drop unused categories by a remap of the codes (no sort)
        remap = np.append(np.cumsum(used) - 1, -1)  # code -1 (missing) stays -1
        sid = pd.Series(pd.Categorical.from_codes(remap[raw_codes].astype(raw_codes.dtype),
                                                  categories=sid.cat.categories[used]),
                        copy=False)
    codes0 = sid.cat.codes.to_numpy().astype(np.int64)
    t0 = schema.time_ns(df["time_utc"])
    dc = np.diff(codes0)
    is_sorted = bool(np.all((dc > 0) | ((dc == 0) & (np.diff(t0) >= 0))))
    if not is_sorted:
        order = np.lexsort((t0, codes0))
        df = df.iloc[order].reset_index(drop=True)
        codes0, t0 = codes0[order], t0[order]
    v0 = df["value"].to_numpy()

    # duplicates: keep one reading per key, the best quality (then the last one read); when
    # the copies disagree: fail if the kept copy's equals disagree, else record and keep it
    same = np.zeros(len(df), bool)
    same[1:] = (codes0[1:] == codes0[:-1]) & (t0[1:] == t0[:-1])
    bits0 = np.zeros(len(df), np.uint32)
    if same.any():
        rank = _quality_codes(df["quality_flag"])  # codes follow QUALITY_FLAGS = rank order
        order = np.lexsort((np.arange(len(df)), rank, t0, codes0))
        df = df.iloc[order].reset_index(drop=True)
        codes0, t0, rank = codes0[order], t0[order], rank[order]
        v0 = df["value"].to_numpy()
        v_prev = np.roll(v0, 1)
        differ = same & (v0 != v_prev) & ~(np.isnan(v0) & np.isnan(v_prev))
        group = np.cumsum(~same) - 1
        disagree = np.zeros(group[-1] + 1, bool)
        disagree[group[differ]] = True
        keep = np.ones(len(df), bool)
        keep[:-1] = ~same[1:]
        contested = np.zeros(group[-1] + 1, bool)  # the kept copy's equal-rank twin differs
        k = np.flatnonzero(keep & same)
        contested[group[k]] = (rank[k - 1] == rank[k]) & differ[k]
        bits0 = np.where(contested[group], _BIT["duplicate_disagree"],
                         np.where(disagree[group], _BIT["duplicate_superseded"], 0)
                         ).astype(np.uint32)
        summary.duplicates_dropped = int((~keep).sum())
        df = df[keep].reset_index(drop=True)
        codes0, t0, bits0 = codes0[keep], t0[keep], bits0[keep]
    n0 = len(df)

    first0 = np.ones(n0, bool)
    first0[1:] = codes0[1:] != codes0[:-1]
    interval0 = _series_interval(codes0, t0, first0, n0, s, _series_sample(codes0))
    new_pos, gap_t = insert_gaps(codes0, t0, interval0, first0, int(s.max_gap_fill.value))
    n = n0 + len(gap_t)
    summary.gaps_inserted = len(gap_t)
    if len(gap_t) == 0:  # the common case: nothing to insert, no copies
        is_gap = np.zeros(n, bool)
        from_row = None
        codes, t, interval, bits = codes0, t0, interval0, bits0.copy()
        raw, v = df["raw_value"].to_numpy(), df["value"].to_numpy()
    else:
        is_gap = np.ones(n, bool)
        is_gap[new_pos] = False
        src = np.full(n, -1)
        src[new_pos] = np.arange(n0)
        # a gap row copies its series and columns from the reading after it
        owner = np.minimum.accumulate(np.where(~is_gap, np.arange(n), n)[::-1])[::-1]
        from_row = src[owner]
        codes = codes0[from_row]
        t = np.empty(n, np.int64)
        t[new_pos] = t0
        t[is_gap] = gap_t
        raw = np.full(n, np.nan)
        raw[new_pos] = df["raw_value"].to_numpy()
        v = np.full(n, np.nan)
        v[new_pos] = df["value"].to_numpy()
        bits = np.zeros(n, np.uint32)
        bits[new_pos] = bits0
        bits[is_gap] |= _BIT["gap"]
        interval = interval0[from_row]

    n_groups = int(codes.max()) + 1
    vv = v  # gap rows hold NaN already
    med, scale, q01, q99 = _group_stat(codes, vv, n_groups, _series_sample(codes))
    if history is not None and len(history):
        names = np.asarray(sid.cat.categories.astype(str))
        h = history.reindex(names)
        med = np.where(h["median"].notna(), h["median"], med)
        scale = np.where(h["scale"].notna(), h["scale"], scale)
        if "q01" in h and "q99" in h:
            q01 = np.where(h["q01"].notna(), h["q01"], q01)
            q99 = np.where(h["q99"].notna(), h["q99"], q99)
    now_ns = (pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)).value
    r = Readings(codes, t, vv, interval, med[codes], np.nan_to_num(scale[codes]), now_ns,
                 q01[codes], q99[codes])
    fail = np.zeros(n, bool)
    for rule in RULES:
        hit = rule.check(r, s)
        bits[hit] |= _BIT[rule.name]
        if rule.severity == "fail":
            fail |= hit
        summary.by_rule[rule.name] = int(hit.sum())
    fail |= (bits & _BIT["duplicate_disagree"]) > 0
    for name in ("duplicate_disagree", "duplicate_superseded"):
        summary.by_rule[name] = int(((bits & _BIT[name]) > 0).sum())
    if registers is not None and len(registers):
        tmp = pd.DataFrame({"series_id": np.asarray(sid.cat.categories.astype(str))[codes],
                            "time_utc": pd.to_datetime(t, utc=True), "value": v})
        hit = sum_check(tmp, registers, s.sum_tolerance)
        bits[hit] |= _BIT["sum_check"]
        summary.by_rule["sum_check"] = int(hit.sum())

    q_in = np.full(n, _Q["valid"], np.int8)
    q_in[new_pos] = _quality_codes(df["quality_flag"])
    need = fail | is_gap | np.isnan(v)
    ok = ~need & ((q_in == _Q["valid"]) | (q_in == _Q["edited"]))
    estimable = need & ((bits & _NOT_ESTIMABLE) == 0)
    if not estimable.any():
        estimable = np.zeros(n, bool)
    est1, m1 = estimate_linear(t, v, ok, estimable, codes, interval,
                               int(s.max_interpolation.value))
    bits[m1] |= _BIT["estimate_linear"]
    rest = estimable & ~m1
    est2, m2 = estimate_like_day(t, v, ok, rest, codes, s.like_day_weeks)
    bits[m2] |= _BIT["estimate_like_day"]
    value = v.copy()
    value[need] = np.nan
    value[m1] = est1[m1]
    value[m2] = est2[m2]
    estimated = m1 | m2
    flags = np.where(estimated, _Q["estimated"], np.where(need, _Q["failed"], q_in))
    summary.estimated = int(estimated.sum())
    summary.failed = int((need & ~estimated).sum())

    def carry(col):
        if from_row is None:
            return df[col]
        return df[col].take(from_row).reset_index(drop=True)

    out = pd.DataFrame({
        "series_id": pd.Categorical.from_codes(codes, categories=sid.cat.categories),
        "time_utc": schema.utc_times(t),
        "value": value,
        "unit": carry("unit"),
        "quality_flag": pd.Categorical.from_codes(flags, categories=list(schema.QUALITY_FLAGS)),
        "vee_rule": _rule_strings(bits, df["vee_rule"] if from_row is None else
                                  _blank_where(carry("vee_rule"), is_gap)),
        "source": carry("source"),
    })
    out.insert(6, "raw_value", raw)  # inserting, not constructing, skips a block copy
    # the interval a reading covers: as read (Green Button durations), else the series' step
    read_s = carry("interval_s").to_numpy() if "interval_s" in df else np.zeros(n, np.int32)
    out["interval_s"] = np.where(read_s > 0, read_s, interval // _NS_PER_S).astype(np.int32)
    return out, summary
