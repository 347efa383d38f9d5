"""Change detection on standardised residuals: a two-sided CUSUM that restarts after alarms.

The twin runs :func:`joint_cusum` (below, "DMAs together"): the CUSUM of every DMA at
once, at a detection step of 15 minutes, on its residual less what all DMAs' residuals
share. The single-series CUSUM it builds on:

Each DMA's corrected consumption residual (:mod:`twin.water.leak_residuals`), hourly,
divided by its long-run noise, runs through a two-sided CUSUM (Page 1954)::

    S+_t = max(0, S+_{t-1} + z_t - mu - k)       (consumption rises: a leak)
    S-_t = max(0, S-_{t-1} - (z_t - mu) - k)     (consumption falls: a repair, a meter)

An alarm is raised when either sum exceeds h. The change is dated at the last step where
that sum was zero. After an alarm the reference level mu moves to the median of z over the
``rebase`` steps after the alarm (the new normal: an unrepaired leak stays in it; after a
false alarm the level found is the old one, so one false alarm does not breed another), both
sums restart from zero (the level is measured again over four times as many steps, once
they have passed), and detection goes on: a second leak on top of the first raises
its own alarm, a growing leak raises alarms while it grows. A departure z − mu is clipped
to ``±clip`` so that one outlier cannot raise an alarm by itself.

The threshold h comes from a target mean time between false alarms (the in-control average
run length ARL0) through Siegmund's approximation, for the allowance k that the smallest
leak worth finding sets (Montgomery, *Introduction to Statistical Quality Control*, 8th ed.,
ch. 9; Siegmund 1985). The residuals' lag-1 autocorrelation ρ is accounted for by
standardising with the long-run deviation σ·sqrt((1+ρ)/(1−ρ)).

DMAs together (:func:`calibrate_joint`, :func:`joint_cusum`). Measured on
``benchmarks/bench_leaks.py`` cases (KL, 3 DMAs, 5-min SCADA, 14 leak-free days; seed 0's
leak-free days): the DMAs' hourly residuals correlate 0.76-0.79 with each other (the demand ratio comes from a sample
of meters; the patterns are hourly steps where real use is smooth: within an hour the
5-min residual had a spread of 10.7 L/s in a DMA of 185 L/s, hourly 3.9 L/s), so each
DMA's residual less its least-squares fit on the others' (:func:`common_mode_weights`) has
about half the spread (fitted on the first week, scored on the second: 4.0 to 2.3 L/s
hourly, 1.6 to 1.0 and 1.2 to 0.65 in the smaller DMAs). A leak in one DMA shows
in the others' with the opposite sign until it is found; the others then take its level
out and its alarms undo theirs. Each residual is whitened by an autoregression of up to
an hour's lags (Alwan & Roberts 1988) so that Siegmund's threshold holds, its noise
measured over 6-hour blocks (memory the whitening left). Offline on the residuals of 6 KL
cases of 70 days (48 leaks; an alarm in the leak's DMA inside its window, rises of at least
the smallest leak; found, alarms per DMA-month with no open leak in the DMA, median delay of
abrupt leaks): each DMA alone hourly (the detector before) 42/48, 0.10, 6.0 h; together
hourly 45/48, 0.56, 5.8 h; together at 15 min 44/48, 0.34, 2.2 h; at 5 min (the SCADA's
step, where the generator's 15-min demand noise is not white) 46/48, 0.56, 1.8 h; at 15 min
with the noise scaled by the expected consumption (demand noise grows with demand) 45/48,
0.51, 2.4 h; at 15 min with a rise measured above the level before a recent fall
(:func:`detect_joint`'s ``rise``) 43/48, 0.24, 2.0 h. In the twin (its baseline with the
within-hour ramp, 3 of those cases, ``benchmarks/bench_leaks.py``) the scaling by expected
consumption went the other way: 20/24 found in their DMA and 0.43 alarms per DMA-month
with no open leak without it, 22/24 and 0.24 with it, so the twin scales. The false-alarm target
barely moves the alarms with no open leak (0.05 to 0.33 per month: 0.24 each): they come
from leaks and repairs in other DMAs and levels measured after a change, not from the
threshold.

The burst test (:func:`burst_crossings`) runs beside the joint CUSUM and only raises its
alarms sooner: per DMA, the mean of the last 1, 2 and 3 hours of the same residual less the
day before them, standardised by that statistic's own spread on the leak-free period, at
the levels of the CUSUM's own false-alarm budget, while the CUSUM's upward sum is at least
half its threshold; a crossing counts once it held a second detection step and when the
DMA's loggers fell with it against the other loggers (:func:`burst_pressure_falls`: a
burst draws its DMA's pressure down, a flow meter's noise does not). A crossing that an
upward alarm of the CUSUM of its DMA then confirms (its change before the crossing, within
a day, :func:`confirm_bursts`) raises that alarm at the crossing's time; the CUSUM's
changes, rebases and everything located from them are the same with it or without. A
crossing no alarm confirms is an alarm of its own, without a position. The earlier ways to
burst sooner (a second pair of sums with a larger allowance, a GLR in place of the CUSUM)
made their alarms events of their own that rebased the detector and moved small leaks'
location windows: see ``benchmarks/bench_leaks.py``.

References
----------
Alwan, L. C. & Roberts, H. V. (1988). Time-series modeling for statistical process
control. J. Business & Economic Statistics 6(1), 87-95.
Basseville, M. & Nikiforov, I. V. (1993). Detection of Abrupt Changes: Theory and
Application. Prentice Hall.
Page, E. S. (1954). Continuous inspection schemes. Biometrika 41, 100-115.
Siegmund, D. (1985). Sequential Analysis. Springer.
Vrachimis, S. G. et al. (2022). Battle of the Leakage Detection and Isolation Methods.
J. Water Resour. Plann. Manage. 148(12) (BattLeDIM).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

#: Default allowance k of the CUSUM, in long-run standard deviations [-].
CUSUM_K = 0.5
#: Bounds of the allowance when it is set from the smallest leak [-]. Where the smallest
#: leak is under half a long-run deviation, the allowance stays at the lower bound. A
#: lower bound of 0.15 (a larger threshold, waiting longer for such leaks) found 595 of
#: the 864 leaks of ``benchmarks/bench_leaks.py`` (six networks, seeds 0-17) against 607
#: (seeds 0-5 / 6-11 / 12-17: 204 / 194 / 197 against 217 / 190 / 200), 146 of the 324
#: of 3-10 m³/h against 153; those no alarm was matched to went from 64 to 74.
K_RANGE = (0.25, 1.0)
#: Default mean time between false alarms of one DMA's detector [h] (three months).
TARGET_ARL_H = 24 * 91
#: Steps after an alarm whose median sets the new reference level [-] (hours).
REBASE_H = 12
#: Hours of residual on each side of a change that measure its size [h].
CHANGE_WINDOW_H = 12
#: A rise within ``4 · rebase`` steps of a fall of its DMA is read as the fall's level
#: measured again (:func:`detect_joint`) when its step is below ``SETTLING_SHARE`` of the
#: fall (the level just after a large fall settling) or at least ``RECOVERY_SHARE`` of it
#: (the level coming back); in between it is a change of its own: a repair, then a new
#: leak the next day. Before, every such rise was read against the level before the fall,
#: so a new leak smaller than a repair made the day before was never raised (KL seed 6: a
#: 49 m³/h burst 15 h after a 46 L/s leak's repair). On ``benchmarks/bench_leaks.py``
#: (six networks, seeds 0-5, 36 cases, and seeds 6-8, 18 cases): found 204 to 205 of 288 and
#: 84 to 86 of 144, false alarms 0.71 to 0.74 and 0.77 to 0.78 per DMA-month; with no
#: lower share 205 and 87, at 0.76 and 0.81 (the eleven rises it adds, of 0.8-4.6 L/s
#: after falls of 6-46 L/s, none placed within 300 m of a leak) [-].
SETTLING_SHARE = 0.2
RECOVERY_SHARE = 0.5
#: An alarm goes to another DMA than the one whose sum crossed when a step there explains
#: the two DMAs' innovations better by this chi-square (1 degree of freedom, 1 % level) [-]
#: (:func:`mirror_of`).
ATTRIBUTE_CHI2 = 6.63
#: A change within a rebase after an alarm (a leak that began while the level was being
#: set) is raised at the rebase's end when the split of those steps into before and after
#: it differs by this many standard errors of the difference of their means [-]
#: (:func:`split_change`). In white Gaussian noise the largest such statistic of 60 to 100
#: steps passes 4.5 once in 5,000 to 10,000 rebases (simulated, 20,000 each); real
#: residuals have heavier tails. Set before measuring, not tuned.
SPLIT_Z = 4.5
#: The fewest steps on either side of such a split [-] (an hour at 15 min).
SPLIT_MIN_STEPS = 4
#: A DMA's consumption may fall by at most its level above the leak-free one (its leaks
#: found, not repaired) over this share [-] (:func:`mirror_of`): the share of a leak's step
#: a fall must reach to be its repair in :data:`twin.water.leaks.REPAIR_SHARE`.
FALL_ROOM_SHARE = 0.5


@dataclass(frozen=True)
class CusumSettings:
    """Settings of one detector, with where they came from.

    Attributes
    ----------
    k : float
        Allowance [σ].
    h : float
        Decision threshold [σ].
    clip : float
        Standardised values are clipped to ±clip [σ].
    rebase : int
        Steps after an alarm that set the new reference level.
    sigma : float
        Long-run noise of the residual [units of the residual].
    target_arl : float
        The in-control average run length h was chosen for [steps].
    """

    k: float
    h: float
    clip: float
    rebase: int
    sigma: float
    target_arl: float

    def as_dict(self) -> dict:
        return asdict(self)


def siegmund_arl(k: float, h: float) -> float:
    """In-control average run length of a one-sided CUSUM on N(0,1) values [steps].

    ``ARL0 ≈ (exp(2kb) − 2kb − 1) / (2k²)`` with ``b = h + 1.166`` (Siegmund 1985).
    """
    b = h + 1.166
    return float((np.exp(2 * k * b) - 2 * k * b - 1) / (2 * k * k))


def threshold_for_arl(k: float, arl: float) -> float:
    """The threshold h whose two-sided CUSUM has an in-control run length of ``arl`` [σ].

    Two one-sided sums, each with run length 2·arl, raise false alarms at the rate 1/arl.
    """
    lo, hi = 0.1, 100.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if siegmund_arl(k, mid) < 2 * arl else (lo, mid)
    return hi


def calibrate(sigma: float, rho: float, min_leak: float, target_arl: float = TARGET_ARL_H,
              rebase: int = REBASE_H) -> CusumSettings:
    """Detector settings from a residual's noise and the smallest leak worth finding.

    Parameters
    ----------
    sigma : float
        Robust standard deviation of the corrected residual on the leak-free period.
    rho : float
        Its lag-1 autocorrelation [-].
    min_leak : float
        Smallest leak the detector is tuned for, in the units of the residual.
    target_arl : float
        Mean steps between false alarms wanted.
    """
    long_run = sigma * np.sqrt((1 + rho) / (1 - rho))
    k = float(np.clip(0.5 * min_leak / long_run, *K_RANGE)) if long_run > 0 else CUSUM_K
    h = threshold_for_arl(k, target_arl)
    return CusumSettings(k=k, h=h, clip=max(h / 2, 3.0), rebase=rebase, sigma=float(long_run),
                         target_arl=float(target_arl))


def cusum_two_sided(z: np.ndarray, k: float = CUSUM_K, h: float = 8.0, clip: float = 4.0,
                    rebase: int = REBASE_H, mu0: float = 0.0) -> list[dict]:
    """Changes of the mean of a standardised series, up and down, with restarts.

    Parameters
    ----------
    z : ndarray
        Standardised residuals (NaN where missing: they add nothing).
    k, h, clip : float
        Allowance, threshold and clip [σ].
    rebase : int
        Steps after an alarm whose values set the new reference (0: the reference stays).
    mu0 : float
        Reference level at the start [σ].

    Returns
    -------
    list of dict
        ``alarm`` (index), ``change`` (index of the estimated start), ``direction`` (+1 up,
        −1 down), ``level_before`` and ``level_after`` (reference levels) [σ].
    """
    z = np.asarray(z, dtype=float)
    n = len(z)
    out: list[dict] = []
    mu, sp, sm, zp, zm = mu0, 0.0, 0.0, -1, -1
    refine_at, refine_from = -1, 0
    t = 0
    while t < n:
        if t == refine_at:
            # the reference again, from four times as many steps since the alarm: the
            # level found from the first few carries their noise
            seg = z[refine_from:t]
            seg = seg[np.isfinite(seg)]
            if len(seg):
                out[-1]["level_after"] = mu = float(np.median(seg))
        v = z[t] - mu
        if np.isfinite(v):
            v = min(max(v, -clip), clip)  # about the reference: one outlier cannot alarm
            sp = max(0.0, sp + v - k)
            sm = max(0.0, sm - v - k)
        if sp == 0.0:
            zp = t
        if sm == 0.0:
            zm = t
        if sp > h or sm > h:
            up = sp > h
            change = (zp if up else zm) + 1
            stop = min(n, t + 1 + rebase)
            seg = np.asarray(z[t + 1:stop], dtype=float)
            seg = seg[np.isfinite(seg)]
            new = float(np.median(seg)) if len(seg) else mu
            out.append({"alarm": t, "change": change, "direction": 1 if up else -1,
                        "level_before": mu, "level_after": new})
            mu, sp, sm = new, 0.0, 0.0
            refine_from, refine_at = t + 1, t + 1 + 4 * rebase if rebase else -1
            t = stop
            zp = zm = t - 1
            continue
        t += 1
    return out


def robust_sigma(x: np.ndarray) -> float:
    """Noise standard deviation of a series that may hold steps: MAD of first differences.

    ``1.4826 · median|Δx − median Δx| / √2``; steps and the odd outlier barely move it.
    """
    x = np.asarray(x, dtype=float)
    d = np.diff(x[np.isfinite(x)])
    if len(d) < 3:
        return float("nan")
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2))


def change_step(x: np.ndarray, change: int, stop: int, window: int = CHANGE_WINDOW_H,
                first: int = 0) -> float:
    """Median of ``x`` over [change, stop) minus the median of the ``window`` steps before
    the change (not before ``first``): a level shift that an hour or two of outliers does
    not move. NaN when either side has no value."""
    after = np.asarray(x[change:max(stop, change + 1)], dtype=float)
    before = np.asarray(x[max(first, change - window):change], dtype=float)
    if not np.isfinite(after).any() or not np.isfinite(before).any():
        return float("nan")
    return float(np.nanmedian(after) - np.nanmedian(before))


def detect_changes(residual: pd.DataFrame, settings: dict[str, CusumSettings],
                   mask: np.ndarray | None = None) -> pd.DataFrame:
    """Run :func:`cusum_two_sided` on each column of an hourly corrected residual.

    Parameters
    ----------
    residual : DataFrame
        hour (UTC) × series (a DMA): corrected residual in its units.
    settings : dict
        Detector settings per series (:func:`calibrate`).
    mask : ndarray of bool, optional
        Hours to leave out (e.g. where the model's pumps did not run as measured).

    Returns
    -------
    DataFrame
        One row per change: ``series``, ``alarm_utc``, ``change_utc``, ``direction``
        (``up``/``down``), ``step`` (the change of level, in the series' units),
        ``rebased_utc`` (when the new reference was set).
    """
    rows = []
    times = residual.index
    for name in residual.columns:
        s = settings.get(name)
        if s is None or not np.isfinite(s.sigma) or s.sigma <= 0:
            continue
        x = residual[name].to_numpy(dtype=float).copy()
        if mask is not None:
            x[mask] = np.nan
        events = cusum_two_sided(x / s.sigma, s.k, s.h, s.clip, s.rebase)
        prev_stop = 0
        for ev in events:
            stop = min(len(x), ev["alarm"] + 1 + s.rebase)
            rows.append({
                "series": str(name), "alarm_utc": times[ev["alarm"]],
                "change_utc": times[min(ev["change"], len(x) - 1)],
                "direction": "up" if ev["direction"] > 0 else "down",
                "step": (ev["level_after"] - ev["level_before"]) * s.sigma,
                "rebased_utc": times[stop - 1],
                "first_utc": times[prev_stop]})
            prev_stop = stop
    cols = ["series", "alarm_utc", "change_utc", "direction", "step", "rebased_utc",
            "first_utc"]
    return pd.DataFrame(rows, columns=cols).sort_values("alarm_utc", ignore_index=True)


def refine_change(x: pd.Series, change_utc, alarm_utc, first_utc=None,
                  window_h: int = 72) -> pd.Timestamp:
    """The most likely start of a step in ``x`` before an alarm.

    Over the hours from ``window_h`` before the CUSUM's change estimate (not before
    ``first_utc``) to the alarm, the split τ maximising the two-sample statistic
    ``|mean(after) − mean(before)|·sqrt(n_a·n_b/(n_a+n_b))`` (a least-squares single step).
    The CUSUM's own estimate, the last time its sum was zero, comes early when the
    allowance is small.
    """
    lo = pd.Timestamp(change_utc) - pd.Timedelta(hours=window_h)
    if first_utc is not None:
        lo = max(lo, pd.Timestamp(first_utc))
    seg = x[(x.index >= lo) & (x.index <= alarm_utc)].dropna()
    if len(seg) < 4:
        return pd.Timestamp(change_utc)
    v = seg.to_numpy(dtype=float)
    n = len(v)
    c = np.cumsum(v)
    k = np.arange(1, n)
    mb = c[:-1] / k
    ma = (c[-1] - c[:-1]) / (n - k)
    stat = np.abs(ma - mb) * np.sqrt(k * (n - k) / n)
    stat[ma < mb] = 0.0  # a rise
    return seg.index[int(np.argmax(stat)) + 1]


# ------------------------------------------------ DMAs together, at the SCADA's own step

#: Longest lag of the whitening autoregression [h] (whatever the step: at 5 min, 12 lags).
AR_MAX_LAG_H = 1.0


@dataclass(frozen=True)
class JointSettings:
    """Settings of the joint detector of a set of DMAs, with where they came from.

    Attributes
    ----------
    series : list of str
        The DMAs, in the order of the arrays below.
    common : ndarray
        series × series: weight of each other DMA's residual in a DMA's common-mode part
        (zero diagonal), fitted on the leak-free period [-].
    offset : ndarray
        Per series: the constant of that fit [units of the residual].
    phi : list of ndarray
        Per series: the whitening autoregression's coefficients (lag 1 first) [-].
    sigma_u : ndarray
        Per series: robust standard deviation of the whitened residual (the innovations) on
        the leak-free period [units of the residual].
    sigma_e : ndarray
        Per series: that of the residual less its common mode, before whitening.
    sigma_raw : ndarray
        Per series: that of the residual alone (for the report: what the common mode took).
    rho : ndarray
        Per series: lag-1 autocorrelation of the residual less the common mode [-].
    k, h, clip : ndarray
        Per series: allowance, threshold and clip of the CUSUM on the innovations [σ_u].
    rebase : int
        Steps after an alarm that set the new reference level.
    target_arl : float
        In-control run length h was chosen for [steps].
    scale_q, scale_f : list of ndarray
        Per series: expected consumption at the centre of each of :data:`LOAD_BINS` bins
        [L/s] and the innovations' spread there over ``sigma_u`` [-] (demand noise grows
        with demand); empty when no load was given (constant spread).
    """

    series: list
    common: np.ndarray
    offset: np.ndarray
    phi: list
    sigma_u: np.ndarray
    sigma_e: np.ndarray
    sigma_raw: np.ndarray
    rho: np.ndarray
    k: np.ndarray
    h: np.ndarray
    clip: np.ndarray
    rebase: int
    target_arl: float
    scale_q: list = field(default_factory=list)
    scale_f: list = field(default_factory=list)

    def scale(self, load: np.ndarray | None) -> np.ndarray:
        """The innovations' spread at each step over ``sigma_u`` (time × series) [-]."""
        if load is None or not self.scale_q:
            return np.ones((0 if load is None else len(load), len(self.series)))
        out = np.ones(load.shape)
        for j, (q, f) in enumerate(zip(self.scale_q, self.scale_f, strict=True)):
            if len(q):
                out[:, j] = np.interp(np.nan_to_num(load[:, j], nan=float(np.median(q))), q, f)
        return out

    @property
    def gain(self) -> np.ndarray:
        """Per series: the share of a lasting step that stays in the innovations, 1 − Σφ [-]."""
        return np.array([1.0 - float(np.sum(p)) for p in self.phi])

    def table(self) -> pd.DataFrame:
        """One row per series: the calibration as reported."""
        return pd.DataFrame({
            "series": self.series, "sigma": self.sigma_raw, "sigma_common_out": self.sigma_e,
            "rho": self.rho,
            "sigma_innovation": self.sigma_u, "ar_lags": [len(p) for p in self.phi],
            "long_run_sigma": self.sigma_u / np.maximum(self.gain, 1e-3),
            "k": self.k, "h": self.h, "clip": self.clip,
            "mean_steps_between_false_alarms": self.target_arl})


BLOCK_H = 6.0


def block_sigma(u: np.ndarray, block: int) -> float:
    """Standard deviation of a series' sums over blocks of ``block`` steps, per step
    (``sd(block mean)·√block``): the noise a CUSUM sums, memory and all."""
    u = u[np.isfinite(u)]
    nb = len(u) // block
    if nb < 4:
        return float("nan")
    m = u[:nb * block].reshape(nb, block).mean(axis=1)
    return float(np.std(m, ddof=1) * np.sqrt(block))


def _mad(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(1.4826 * np.median(np.abs(x - np.median(x)))) if len(x) > 3 else float("nan")


def common_mode_weights(r: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares weights of the other series that explain each series on ``mask``.

    The twin's demand model is off in the same way in every DMA at once (its demand ratio
    comes from a sample of meters; its patterns are steps where real use is smooth), so
    the DMAs' residuals move together; what one DMA's residual does that the others' do
    not is its own. The others are taken one at a time, the one that most lowers the
    residual's spread out of sample first (two-fold: each half of ``mask`` fitted, the
    other scored, 1.4826·MAD), as long as one lowers it: a DMA whose residual is mostly its
    own noise (tanks) is not made noisier by the others'.

    Parameters
    ----------
    r : ndarray
        time × series residuals.
    mask : ndarray of bool
        Rows of the leak-free period.

    Returns
    -------
    (ndarray, ndarray)
        series × series weights (zero diagonal) and the constant of each fit.
    """
    n_s = r.shape[1]
    w, c = np.zeros((n_s, n_s)), np.zeros(n_s)
    rows = np.flatnonzero(mask & np.isfinite(r).all(axis=1))
    halves = (rows[:len(rows) // 2], rows[len(rows) // 2:])

    def fit(j, cols, at):
        x = np.c_[np.ones(len(at)), r[np.ix_(at, cols)]]
        return np.linalg.lstsq(x, r[at, j], rcond=None)[0]

    def cv_spread(j, cols):
        out = []
        for a, b in (halves, halves[::-1]):
            beta = fit(j, cols, a)
            pred = np.c_[np.ones(len(b)), r[np.ix_(b, cols)]] @ beta
            out.append(_mad(r[b, j] - pred))
        return float(np.mean(out))

    for j in range(n_s):
        chosen: list[int] = []
        if len(rows) >= 8 * n_s + 16:
            best = cv_spread(j, [])
            while True:
                trial = {o: cv_spread(j, chosen + [o]) for o in range(n_s)
                         if o != j and o not in chosen}
                if not trial:
                    break
                o, spread = min(trial.items(), key=lambda kv: kv[1])
                if not spread < best:
                    break
                chosen.append(o)
                best = spread
        if chosen:
            beta = fit(j, chosen, rows)
            c[j] = beta[0]
            w[j, chosen] = beta[1:]
        else:
            c[j] = float(np.nanmedian(r[mask, j])) if mask.any() else 0.0
    return w, c


def fit_whitening(e: np.ndarray, max_lag: int) -> np.ndarray:
    """Autoregression of a leak-free residual, its order chosen by AIC up to ``max_lag``.

    Returns the coefficients φ (lag 1 first); ``e_t − Σ φ_i e_{t−i}`` is then close to
    white, so the CUSUM's threshold from Siegmund's formula holds (Alwan & Roberts 1988:
    control charts on the residuals of a time-series model).
    """
    x = np.asarray(e, dtype=float)
    x = x - np.nanmedian(x) if np.isfinite(x).any() else x
    best, best_aic = np.zeros(0), np.inf
    for p in range(0, max(0, max_lag) + 1):
        if p == 0:
            y = x[np.isfinite(x)]
            if len(y) < 8:
                return np.zeros(0)
            aic, phi = len(y) * np.log(np.mean(y * y) + 1e-12), np.zeros(0)
        else:
            lagged = np.column_stack([x[p - i:len(x) - i] for i in range(1, p + 1)])
            y = x[p:]
            ok = np.isfinite(y) & np.isfinite(lagged).all(axis=1)
            if ok.sum() < 10 * p:
                break
            phi = np.linalg.lstsq(lagged[ok], y[ok], rcond=None)[0]
            res = y[ok] - lagged[ok] @ phi
            aic = ok.sum() * np.log(np.mean(res * res) + 1e-12) + 2 * p
        if aic < best_aic:
            best, best_aic = phi, aic
    # a whitening filter that removed a lasting step entirely could not see it
    if 1.0 - best.sum() < 0.05:
        best = best * (0.95 / max(best.sum(), 1e-9))
    return best


def load_scale(u: np.ndarray, load: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Spread of innovations by bins of equal count of the expected consumption, relative to
    their overall spread: bin centres [L/s] and factors [-] (robust: 1.4826·MAD)."""
    ok = np.isfinite(u) & np.isfinite(load)
    if ok.sum() < 20 * bins:
        return np.zeros(0), np.zeros(0)
    q, v = load[ok], u[ok]
    edges = np.quantile(q, np.linspace(0, 1, bins + 1))
    where = np.clip(np.searchsorted(edges, q, side="right") - 1, 0, bins - 1)
    overall = _mad(v)
    centre = np.array([np.median(q[where == b]) for b in range(bins)])
    factor = np.array([_mad(v[where == b]) / overall for b in range(bins)])
    keep = np.isfinite(factor) & (factor > 0)
    order = np.argsort(centre[keep])
    return centre[keep][order], factor[keep][order]


#: Bins of expected consumption over which the innovations' spread is measured [-].
LOAD_BINS = 5


def calibrate_joint(r: pd.DataFrame, mask: np.ndarray, min_leak: float, target_arl: float,
                    rebase: int, step_s: float,
                    load: pd.DataFrame | None = None) -> JointSettings:
    """Settings of :func:`joint_cusum` from a leak-free period's residuals.

    Parameters
    ----------
    r : DataFrame
        time × DMA: residual less its baseline, at the SCADA step [L/s].
    mask : ndarray of bool
        Rows of the leak-free period.
    min_leak : float
        Smallest leak the detectors are tuned for [L/s]; sets the allowance.
    target_arl : float
        Mean steps between false alarms wanted, per DMA.
    rebase : int
        Steps after an alarm that set the new reference level.
    step_s : float
        The step of ``r`` [s].
    load : DataFrame, optional
        time × DMA: expected consumption [L/s]; the innovations' spread is then measured
        by its bins (:func:`load_scale`), as demand noise grows with demand.
    """
    x = r.to_numpy(dtype=float)
    ld = load[list(r.columns)].to_numpy(dtype=float) if load is not None else None
    sq, sf = [], []
    w, c = common_mode_weights(x, mask)
    dev = np.where(np.isfinite(x), x, 0.0)
    e = x - dev @ w.T - c
    max_lag = max(1, int(round(AR_MAX_LAG_H * 3600.0 / step_s)))
    from twin.water.leak_residuals import _lag1

    phis, su, se, sr, ks, hs, cl, rh = [], [], [], [], [], [], [], []
    for j in range(x.shape[1]):
        eb = np.where(mask, e[:, j], np.nan)
        phi = fit_whitening(eb, max_lag)
        u = _innovations(eb - np.nanmedian(eb), phi)
        s_u = _mad(u[mask])
        rel = np.ones(len(u))
        if ld is not None:
            q, f = load_scale(u[mask], ld[mask, j], LOAD_BINS)
            sq.append(q)
            sf.append(f)
            if len(q):
                rel = np.interp(np.nan_to_num(ld[:, j], nan=float(np.median(q))), q, f)
        gain = 1.0 - float(phi.sum())
        if BLOCK_H and s_u > 0:
            # the CUSUM sums the standardised innovations, clipped: their spread over
            # blocks, memory left by the whitening and all (clipped as the CUSUM clips, so
            # that a few wild steps, e.g. a pump switching within a step, do not set it)
            k0 = float(np.clip(0.5 * min_leak * gain / s_u, *K_RANGE))
            c0 = max(threshold_for_arl(k0, target_arl) / 2, 3.0)
            z = np.clip(u[mask] / (s_u * rel[mask]), -c0, c0)
            s_u *= max(1.0, block_sigma(z, max(2, int(round(BLOCK_H * 3600.0 / step_s)))))
        k = float(np.clip(0.5 * min_leak * gain / s_u, *K_RANGE)) if s_u > 0 else CUSUM_K
        h = threshold_for_arl(k, target_arl)
        phis.append(phi)
        su.append(s_u)
        se.append(_mad(e[mask, j]))
        sr.append(_mad(x[mask, j]))
        rh.append(_lag1(e[mask, j]))
        ks.append(k)
        hs.append(h)
        cl.append(max(h / 2, 3.0))
    return JointSettings(list(r.columns), w, c, phis, np.array(su), np.array(se),
                         np.array(sr), np.array(rh), np.array(ks), np.array(hs), np.array(cl),
                         int(rebase), float(target_arl), sq if ld is not None else [],
                         sf if ld is not None else [])


def step_signatures(common: np.ndarray, response: np.ndarray) -> np.ndarray:
    """What a unit step in each series' own consumption leaves in every series' residual
    less its common mode (series × step's series) [-].

    A step in series c moves c's residual less the common mode by 1 and every other series
    o's by −w_oc (o's common mode regresses on c); ``response`` scales each series' row
    (e.g. the mean share of a step that stays in its whitened innovations, 1 for the
    residual itself).
    """
    w = np.asarray(common, dtype=float)
    sig = -w.copy()
    np.fill_diagonal(sig, 1.0)
    return sig * np.asarray(response, dtype=float)[:, None]


def attribute_change(shift: np.ndarray, weight: np.ndarray,
                     signatures: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How well a step of each series' own explains the mean shifts of every series: the
    step fitted and the misfit, per hypothesis (isolation by signatures: Basseville &
    Nikiforov 1993, ch. 7).

    For the hypothesis "a step in c" with signature column s_c (:func:`step_signatures`),
    by weighted least squares::

        L_c = Σ_o ω_o m_o s_oc / Σ_o ω_o s_oc²,   misfit_c = Σ_o ω_o (m_o − L_c s_oc)²

    With m_o the mean of n_o values of unit-variance white noise and ω_o = n_o, each
    misfit is a chi-square and misfit_a − misfit_b a chi-square statistic of b against a.

    Parameters
    ----------
    shift : ndarray
        Per series: the mean shift since the change (NaN where unknown: left out).
    weight : ndarray
        Per series: its weight, the inverse variance of the shift [-].
    signatures : ndarray
        series × hypothesis: the shift a unit step of each leaves in each series.

    Returns
    -------
    (ndarray, ndarray)
        Per hypothesis: the step fitted and the misfit (NaN where it cannot be fitted).
    """
    m = np.asarray(shift, dtype=float)
    wt = np.asarray(weight, dtype=float)
    sg = np.asarray(signatures, dtype=float)
    ok = np.isfinite(m) & np.isfinite(wt) & (wt > 0)
    n = sg.shape[1]
    size, misfit = np.full(n, np.nan), np.full(n, np.nan)
    for c in range(n):
        col = sg[:, c]
        den = float(np.sum(col[ok] ** 2 * wt[ok]))
        if den <= 0 or not ok[c]:
            continue
        size[c] = float(np.sum(m[ok] * col[ok] * wt[ok]) / den)
        misfit[c] = float(np.sum((m[ok] - size[c] * col[ok]) ** 2 * wt[ok]))
    return size, misfit


def mirror_of(j: int, shift: np.ndarray, weight: np.ndarray, signatures: np.ndarray,
              others: list[int], room: np.ndarray | None = None,
              chi2: float = ATTRIBUTE_CHI2) -> tuple[int, float] | None:
    """Whether series j's change is another series' own step seen mirrored in j.

    For each other series c, the hypotheses "a step in j" and "a step in c" are compared
    on the shifts of j and c alone (:func:`attribute_change` on the pair: a third series
    may carry a change of its own). A fall is possible only where there is something to
    fall from: a DMA's consumption falls back by what its leaks added (a repair), not below
    its leak-free level, so with ``room`` (per series: its level above the leak-free one,
    the leaks found and not repaired) a fall of more than ``room / FALL_ROOM_SHARE`` is
    ruled out. j's change is c's when c's step is possible, c's own shift shows it by
    itself (its sign, and ``weight · shift² > chi2``), and

    * j's is not, and c's fits the pair not worse by ``chi2``; or
    * both are, and c's fits the pair better by more than ``chi2``

    (a chi-square of 1 degree of freedom; 6.63: the 1 % level); of several such c, the one
    that fits best.

    Returns
    -------
    (int, float) or None
        The series whose step it is and the step fitted; None when j's own stands.
    """
    def possible(i: int, size: float) -> bool:
        return room is None or size >= 0 or FALL_ROOM_SHARE * -size <= max(room[i], 0.0)

    best, best_margin = None, -np.inf
    for c in others:
        pair = [j, c]
        size, misfit = attribute_change(shift[pair], weight[pair],
                                        np.asarray(signatures)[np.ix_(pair, pair)])
        if not np.isfinite(misfit).all() or size[1] == 0.0 or not possible(c, size[1]):
            continue
        if not (shift[c] * size[1] > 0 and weight[c] * shift[c] ** 2 > chi2):
            continue  # c's own shift does not show the step by itself
        margin = misfit[0] - misfit[1]
        need = chi2 if possible(j, size[0]) else -chi2
        if margin > need and margin > best_margin:
            best, best_margin = (c, float(size[1])), margin
    return best


def step_response(phi: np.ndarray, n: int) -> np.ndarray:
    """The innovations a unit step leaves through the whitening ``u_t = d_t − Σ φ_i d_{t−i}``
    over its first ``n`` steps: 1, 1 − φ_1, 1 − φ_1 − φ_2, … down to 1 − Σφ [-]."""
    phi = np.asarray(phi, dtype=float)
    out = 1.0 - np.concatenate([[0.0], np.cumsum(phi)])
    if n <= len(out):
        return out[:n]
    return np.concatenate([out, np.full(n - len(out), out[-1])])


def window_evidence(v: np.ndarray, spread: np.ndarray, phis: list[np.ndarray],
                    common: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the DMAs' innovations since a change say about whose step it is, for
    :func:`mirror_of`.

    Parameters
    ----------
    v : ndarray
        steps × DMA: standardised innovations since the change (NaN where left out) [-].
    spread : ndarray
        steps × DMA: the innovations' spread at those steps [L/s].
    phis : list of ndarray
        Per DMA: its whitening's autoregressive coefficients.
    common : ndarray
        DMA × DMA: the common-mode weights (:func:`step_signatures`).

    Returns
    -------
    (ndarray, ndarray, ndarray)
        Per DMA the mean innovation (NaN without one) and how many there were, and the
        step signatures scaled by the share of a unit step that stays in each DMA's
        standardised innovations over the window (:func:`step_response`).
    """
    n_w = np.isfinite(v).sum(axis=0)
    shift = np.where(n_w > 0, np.nansum(v, axis=0) / np.maximum(n_w, 1), np.nan)
    mean_spread = np.where(n_w > 0, np.where(np.isfinite(v), spread, 0.0).sum(axis=0)
                           / np.maximum(n_w, 1), np.nan)
    steps = max(1, len(v))
    resp = np.array([np.mean(step_response(p, steps)) for p in phis]) / mean_spread
    return shift, n_w.astype(float), step_signatures(common, resp)


def _innovations(x: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """``x_t − Σ φ_i x_{t−i}`` (missing values count as zero in the lags)."""
    out = np.array(x, dtype=float)
    z = np.where(np.isfinite(x), x, 0.0)
    for i, p in enumerate(phi, start=1):
        out[i:] -= p * z[:-i]
    return out


def _best_split(seg: np.ndarray, sigma_mean: float, lo: int, min_steps: int
                ) -> tuple[int, float]:
    """The split of ``seg`` at or after step ``lo`` whose means differ most in standard
    errors: (first step after it, z); (−1, 0) when none has ``min_steps`` on either side."""
    n = len(seg)
    ks = np.arange(max(lo, min_steps), n - min_steps + 1)
    if not len(ks):
        return -1, 0.0
    c = np.cumsum(seg)
    diff = (c[-1] - c[ks - 1]) / (n - ks) - c[ks - 1] / ks
    z = np.abs(diff) / (sigma_mean * np.sqrt(1.0 / ks + 1.0 / (n - ks)))
    b = int(np.argmax(z))
    return int(ks[b]), float(z[b])


def split_change(seg: np.ndarray, sigma_mean: float, min_step: float, first: int = 0,
                 z_min: float = SPLIT_Z, min_steps: int = SPLIT_MIN_STEPS
                 ) -> tuple[int, float, float] | None:
    """A change at or after step ``first`` of a series, if it holds one.

    The series is split where its two parts' means differ most in standard errors (the
    change-point's likelihood ratio for a step in Gaussian noise). A split before
    ``first`` is a change already known (an alarm's own step): the steps after it are
    split again, from ``first`` on. A split a straight line explains as well (a growing
    leak's ramp) is none.

    Parameters
    ----------
    seg : ndarray
        The steps (finite) [units of the residual].
    sigma_mean : float
        Standard deviation of the mean of one step's worth of the series, its memory counted
        (the innovations' spread over the whitening's gain) [units].
    min_step : float
        Smallest change raised [units].
    first : int
        The first step a change may begin at [-].
    z_min : float
        Standard errors the means' difference must reach [-].
    min_steps : int
        Fewest steps on either side of a split [-].

    Returns
    -------
    (int, float, float) or None
        The first step after the change, and the medians of the steps before it (from the
        known change on) and after it [units]; None when no split reaches ``z_min`` and
        ``min_step``.
    """
    if not sigma_mean > 0:
        return None
    k, z = _best_split(seg, sigma_mean, min_steps, min_steps)
    start = 0
    if 0 <= k < first:
        start = k
        k, z = _best_split(seg[start:], sigma_mean, first - start, min_steps)
        k = k + start if k >= 0 else -1
    if k < 0 or z < z_min or not _step_beats_line(seg[start:], k - start):
        return None
    before, after = float(np.median(seg[start:k])), float(np.median(seg[k:]))
    return (k, before, after) if abs(after - before) >= min_step else None


def _step_beats_line(seg: np.ndarray, k: int) -> bool:
    """Whether a step at ``k`` leaves less of ``seg`` unexplained than a straight line
    (a growing leak's ramp is a line, not a step, and no change of its own)."""
    x = np.arange(len(seg), dtype=float)
    line = np.polyval(np.polyfit(x, seg, 1), x)
    step = np.r_[np.full(k, seg[:k].mean()), np.full(len(seg) - k, seg[k:].mean())]
    return float(((seg - step) ** 2).sum()) < float(((seg - line) ** 2).sum())


def joint_cusum(r: pd.DataFrame, s: JointSettings, scale: np.ndarray | None = None,
                attribute: bool = True,
                up_sums: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two-sided CUSUM of every DMA at once, each on its residual less the common mode.

    At each step, DMA j's residual less what the others' residuals say all DMAs share::

        e_j = r_j − c_j − Σ_o w_jo (r_o − l_o)

    where l_o is the level of DMA o's residual set at its last alarm (its leaks found so
    far, so that a known leak in one DMA does not show in the others), is whitened by its
    autoregression and run through a two-sided CUSUM (:func:`cusum_two_sided`'s rules:
    clip, alarm, rebase to the median of the ``rebase`` steps after it, refined over four
    times as many). While a change of one DMA is not yet found, the others see −w times it:
    so an alarm in one DMA takes the others' sums that way back to where they stood before
    its change began (to zero where they alarmed or set their level since), and undoes
    their alarms that way since its change began (``explained_by``: the alarm they came
    from). Taken back, not restarted from zero, a small leak's sum from before the other
    DMA's change is kept, and its start with it: on ``benchmarks/bench_leaks.py``'s 108
    cases (six networks, seeds 0-17, found of 288 per six seeds) 218 / 187 / 198 became
    217 / 190 / 200 (12 leaks gained, 8 lost), false alarms per DMA-month 0.73 / 0.85 /
    0.98 became 0.76 / 0.81 / 0.95; on its year of KL (``--year-only``: seed 99, 20
    leaks) 13 found either way, false alarms 0.53 became 0.67 per DMA-month (five more
    rises of the sensitive detector that the loggers confirmed, 29 September to 15
    October, none near an open leak).

    A DMA's level is not watched while it is set after an alarm: at the end of those
    steps, a change among them an hour or more after the alarm (:func:`split_change`: a
    leak that began while the level was set) is raised then, its level set over the steps
    after it. Before, such a leak went into the level and was never raised
    (``benchmarks/bench_leaks.py``, CTOWN seed 16: a 34 m³/h burst 1.5 h after an alarm of
    its DMA).

    With ``attribute``, an alarm goes to the DMA whose own step explains best what the
    DMAs' innovations did since the change (:func:`mirror_of`): a leak in one DMA shows
    mirrored in a DMA that regresses on it, often as soon or sooner in its units; raised
    there as a fall, it moved that DMA's level, which took the leak out of its own DMA's
    residual, which then alarmed hours later on what was left, or never. On
    ``benchmarks/bench_leaks.py`` (KL, 3 seeds of 70 days) the median delay of the abrupt
    leaks found went from 3.1 to 0.6 h: a 22 m³/h burst in a DMA of 2.3 L/s noise per
    15 min, 6.5 to 0.5 h; a 29 m³/h one, 6.2 to 0.5 h.

    Parameters
    ----------
    r : DataFrame
        time × DMA: residual less its baseline [L/s], NaN where missing or left out.
    s : JointSettings
    scale : ndarray, optional
        time × DMA: the innovations' spread over ``sigma_u`` (:meth:`JointSettings.scale`);
        default 1.
    attribute : bool
        Give each alarm to the DMA whose step explains it best (else to the DMA whose sum
        crossed).
    up_sums : ndarray, optional
        time × DMA, filled in place: each upward sum over its threshold after each step
        (0 while rebasing) [-], for the burst test (:func:`burst_crossings`). Reading them
        changes nothing.

    Returns
    -------
    (DataFrame, DataFrame)
        The changes (``series``, ``alarm`` and ``change`` step indices, ``direction`` ±1,
        ``level_before``, ``level_after`` [L/s], ``rebased`` step index, ``explained_by``:
        −1, or the change whose common-mode share it was), and the residual less the
        common mode (time × DMA) [L/s].
    """
    x = r[s.series].to_numpy(dtype=float)
    n, n_s = x.shape
    w, c = s.common, s.offset
    spread = s.sigma_u[None, :] * (scale if scale is not None and len(scale) else
                                   np.ones((n, n_s)))
    p_max = max([len(p) for p in s.phi] + [0])
    hist = np.zeros((p_max + 1, n_s))  # last deviations from the level, newest first
    level = np.zeros(n_s)  # of e (the own CUSUM's reference)
    raw = np.zeros(n_s)  # of r (what the others take out of the common mode)
    sp, sm = np.zeros(n_s), np.zeros(n_s)
    zp, zm = np.full(n_s, -1), np.full(n_s, -1)
    hold = np.full(n_s, -1)  # rebasing until this step
    since = np.zeros(n_s, dtype=int)  # step after the last alarm
    refine = np.full(n_s, -1)
    last = np.full(n_s, -1)  # each DMA's last event
    e_out = np.full((n, n_s), np.nan)
    v_all = np.full((n, n_s), np.nan)  # standardised innovations, before the clip
    events: list[dict] = []
    sums = np.zeros((n, 2, n_s))  # each step's upward and downward sums, as it ended
    dates = np.zeros((n, 2, n_s), dtype=int)  # and their last zeros

    def rebase(j: int, t: int) -> None:
        # the level from e (the common mode out: less noise); an own change moves r as
        # much as e, so r's level moves by the same step
        seg = e_out[since[j]:t + 1, j]
        seg = seg[np.isfinite(seg)]
        if len(seg):
            ev = events[last[j]]
            level[j] = float(np.median(seg))
            raw[j] = ev["raw_before"] + level[j] - ev["level_before"]
            ev["level_after"] = level[j]

    def restart_others(j: int, up: bool, change: int, t: int) -> None:
        for o in range(n_s):
            if o == j or w[o, j] == 0.0:
                continue
            # o saw −w_oj times j's change until now: its sum that way goes back to where
            # it stood before j's change began (what o summed of its own is kept, j's
            # mirror dropped; to zero when o alarmed or set its level since), and its
            # alarms that way since j's change began were that
            way = -1 if (up == (w[o, j] > 0)) else 1
            back = change - 1 if (since[o] <= change - 1 and hold[o] < change - 1) else -1
            i, sum_way, zero_way = (1, sm, zm) if way < 0 else (0, sp, zp)
            sum_way[o], zero_way[o] = ((sums[back, i, o], dates[back, i, o]) if back >= 0
                                       else (0.0, t))
            k = last[o]
            if k >= 0 and events[k]["direction"] == way and events[k]["alarm"] >= change \
                    and events[k]["explained_by"] < 0:
                events[k]["explained_by"] = len(events) - 1
                level[o] = events[k]["level_before"]
                raw[o] = events[k]["raw_before"]
                hold[o] = refine[o] = -1
                sp[o] = sm[o] = 0.0
                zp[o] = zm[o] = t

    gains = s.gain

    def split_rebase(j: int, t: int) -> None:
        # a change among the steps that set the level, an hour or more after the alarm
        # (the steps from its own change on are split: its own step, still climbing when
        # it was raised, is not a change of its own): raised now, its level set after it
        ev = events[last[j]]
        at = np.arange(ev["change"], t + 1)
        seg = e_out[at, j]
        ok = np.isfinite(seg)
        # not the steps another DMA's change moved through the common mode before its
        # level was set again (from its change to its rebase)
        for o_ev in events:
            o = s.series.index(o_ev["series"])
            if o != j and w[j, o] != 0.0:
                ok &= (at < o_ev["change"]) | (at > o_ev["rebased"])
        gain = max(float(gains[j]), 0.1)
        sd = float(np.mean(spread[at[ok], j])) / gain if ok.any() else 0.0
        smallest = 2.0 * float(s.k[j]) * float(s.sigma_u[j]) / gain  # the allowance's leak
        found = split_change(seg[ok], sd, smallest,
                             first=int(np.searchsorted(at[ok], since[j] + SPLIT_MIN_STEPS)))
        if found is None:
            return
        k, before, after = found
        change = int(at[ok][k])
        ev["level_after"] = before
        raw_before = ev["raw_before"] + before - ev["level_before"]
        up = after > before
        events.append({"series": s.series[j], "alarm": t, "change": change,
                       "direction": 1 if up else -1, "level_before": before,
                       "level_after": after, "raw_before": raw_before,
                       "rebased": t, "explained_by": -1})
        last[j] = len(events) - 1
        since[j] = change
        level[j] = after
        raw[j] = raw_before + after - before
        refine[j] = change + 4 * s.rebase if s.rebase else -1
        restart_others(j, up, change, t)

    for t in range(n):
        xt = x[t]
        dev = np.where(np.isfinite(xt), xt - raw, 0.0)
        e = xt - c - w @ dev
        e_out[t] = e
        alarms = []
        for j in range(n_s):
            if t <= hold[j] or t == refine[j]:
                rebase(j, t if t <= hold[j] else t - 1)
                if t == hold[j]:
                    split_rebase(j, t)
                    zp[j] = zm[j] = t
            d = e[j] - level[j]
            hist[1:, j] = hist[:-1, j]
            hist[0, j] = d if np.isfinite(d) else 0.0
            if t <= hold[j] or not np.isfinite(d):
                if sp[j] == 0.0:
                    zp[j] = t
                if sm[j] == 0.0:
                    zm[j] = t
                continue
            phi = s.phi[j]
            u = d - float(phi @ hist[1:len(phi) + 1, j]) if len(phi) else d
            v_all[t, j] = u / spread[t, j]
            v = min(max(v_all[t, j], -s.clip[j]), s.clip[j])
            sp[j] = max(0.0, sp[j] + v - s.k[j])
            sm[j] = max(0.0, sm[j] - v - s.k[j])
            if sp[j] == 0.0:
                zp[j] = t
            if sm[j] == 0.0:
                zm[j] = t
            if up_sums is not None:
                up_sums[t, j] = sp[j] / s.h[j]
            if sp[j] > s.h[j] or sm[j] > s.h[j]:
                alarms.append((max(sp[j], sm[j]) / s.h[j], j))
        for _, j in sorted(alarms, reverse=True):
            if not (sp[j] > s.h[j] or sm[j] > s.h[j]):
                continue  # restarted by a larger alarm of another DMA this step
            up = sp[j] > s.h[j]
            change = int((zp[j] if up else zm[j]) + 1)
            if attribute:
                # whose own step is it: every DMA's innovations since the change against
                # what a step of each would leave in them (its mirror in the others)
                shift, n_w, sig = window_evidence(v_all[change:t + 1], spread[change:t + 1],
                                                  s.phi, w)
                who = mirror_of(j, shift, n_w, sig,
                                [o for o in range(n_s) if o != j and t > hold[o]],
                                raw, ATTRIBUTE_CHI2)
                if who is not None:
                    j, up = who[0], who[1] > 0
            events.append({"series": s.series[j], "alarm": t, "change": change,
                           "direction": 1 if up else -1, "level_before": float(level[j]),
                           "level_after": float(level[j]), "raw_before": float(raw[j]),
                           "rebased": min(n - 1, t + s.rebase), "explained_by": -1})
            last[j] = len(events) - 1
            sp[j] = sm[j] = 0.0
            hold[j] = t + s.rebase
            since[j] = t + 1
            refine[j] = t + 1 + 4 * s.rebase if s.rebase else -1
            restart_others(j, up, change, t)
        sums[t, 0], sums[t, 1] = sp, sm
        dates[t, 0], dates[t, 1] = zp, zm
    cols = ["series", "alarm", "change", "direction", "level_before", "level_after",
            "raw_before", "rebased", "explained_by"]
    return (pd.DataFrame(events, columns=cols),
            pd.DataFrame(e_out, index=r.index, columns=s.series))


def detect_joint(residual: pd.DataFrame, settings: JointSettings,
                 mask: np.ndarray | None = None,
                 load: pd.DataFrame | None = None,
                 attribute: bool = True,
                 up_sums: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run :func:`joint_cusum` on the DMAs' residuals at the detection step.

    Parameters
    ----------
    residual : DataFrame
        time (UTC, the step's start) × DMA: residual less its baseline [L/s].
    settings : JointSettings
        (:func:`calibrate_joint`).
    mask : ndarray of bool, optional
        Steps to leave out (e.g. where the model's pumps did not run as measured).
    load : DataFrame, optional
        time × DMA: expected consumption [L/s], as given to :func:`calibrate_joint`.
    attribute : bool
        Each alarm to the DMA whose own step explains it best (:func:`joint_cusum`).
    up_sums : ndarray, optional
        time × DMA (``settings.series``), filled in place (:func:`joint_cusum`).

    Returns
    -------
    (DataFrame, DataFrame)
        One row per change as :func:`detect_changes` gives them (``alarm_utc`` the start
        of the step that raised it), with ``explained_by`` (−1, or the row of the change in
        another DMA whose common-mode share it was) and ``rise`` [L/s]: the step, or for a
        rise that began within ``4 · rebase`` steps of an alarm of a fall of the same
        series, what it adds above the level before that fall (a level measured low after
        a fall, then found again, is no leak: on 6 KL cases of 70 days this took alarms
        with no open leak in their DMA from 0.34 to 0.24 per DMA-month and lost one of 48
        leaks), unless its step lies between :data:`SETTLING_SHARE` and
        :data:`RECOVERY_SHARE` of the fall (a new leak after a repair); and the residual
        less the common mode (time × DMA) [L/s].
    """
    x = residual[settings.series].copy()
    if mask is not None:
        x[np.asarray(mask)] = np.nan
    scale = settings.scale(load[settings.series].to_numpy(dtype=float)
                           if load is not None else None)
    ev, e = joint_cusum(x, settings, scale, attribute, up_sums)
    times = residual.index
    n = len(times)
    rows, prev, fall = [], {}, {}
    for a in ev.itertuples():
        step = a.level_after - a.level_before
        rise = step
        f = fall.get(a.series)
        if a.direction > 0 and f is not None and a.change - f[0] <= 4 * settings.rebase \
                and not SETTLING_SHARE * f[2] <= step < RECOVERY_SHARE * f[2]:
            # back up after a fall not yet measured again: a rise only above the level
            # before the fall
            rise = a.level_after - max(a.level_before, f[1])
        rows.append({
            "series": a.series, "alarm_utc": times[a.alarm],
            "change_utc": times[min(a.change, n - 1)],
            "direction": "up" if a.direction > 0 else "down", "step": step, "rise": rise,
            "rebased_utc": times[a.rebased], "first_utc": times[prev.get(a.series, 0)],
            "explained_by": int(a.explained_by)})
        prev[a.series] = min(n - 1, a.rebased + 1)
        if a.explained_by < 0:
            # the fall's alarm, the level before it and its size [L/s]
            fall[a.series] = (a.alarm, a.level_before, -step) if a.direction < 0 else None
    cols = ["series", "alarm_utc", "change_utc", "direction", "step", "rise", "rebased_utc",
            "first_utc", "explained_by"]
    return pd.DataFrame(rows, columns=cols), e


# --- the burst test: an earlier alarm for the joint CUSUM's events, never an event itself ---

#: Windows of the burst test [h]: the mean of the last 1, 2 and 3 hours of a DMA's
#: residual against the day before them. A burst is a step of the full leak flow at once;
#: a window of hours sees it at its full size where the CUSUM, whose allowance is set for
#: the smallest leak, sums it up over hours (Wald: h/(δ − k) steps).
BURST_WINDOWS_H = (1.0, 2.0, 3.0)
#: Hours before the window whose mean is the burst test's reference level [h] (a day: the
#: level a burst steps up from, over enough hours that its own noise is small).
BURST_REFERENCE_H = 24.0
#: Hours after a burst crossing within which an upward alarm of the joint CUSUM of the
#: same DMA must confirm it; unconfirmed, the crossing is reported as an alarm of its own
#: [h] (two rebase periods: the CUSUM's delay for a step the burst test sees is hours).
BURST_CONFIRM_H = 24.0
#: A confirming event's change may come this many hours after the crossing [h] (the
#: CUSUM dates a change at its sum's last zero, which noise can put a step or two late).
BURST_CHANGE_AFTER_H = 1.0
#: The burst test's share of the joint CUSUM's false-alarm budget [-]: the whole of it, the
#: crossings' levels those of the CUSUM's own budget. Its crossings that no event confirms
#: are false alarms of their own, on top of the CUSUM's, and the window statistics have
#: heavier tails after the leak-free period than in it (KL on ``benchmarks/bench_leaks.py``:
#: crossings of 4-8 σ that no event followed); what keeps them down is a crossing's second
#: step (:data:`BURST_PERSIST_STEPS`) and the DMA's loggers (:data:`BURST_PRESSURE_FALL`), not a
#: smaller share: a tenth of the budget and neither of them took KL 3-5's false alarms from
#: 0.68 to 0.97 per DMA-month, the whole budget with both to 0.82 (see the bench's docstring).
BURST_BUDGET_SHARE = 1.0
#: Steps a DMA's window statistic must stay over its level before the crossing counts [-]
#: (one more detection step, 15 min: a burst's step stays, an excursion of meter noise is
#: often over within it; same bench, the whole budget: KL 0-2's unconfirmed crossings 16 to
#: 10, KL 3-5's 16 to 6).
BURST_PERSIST_STEPS = 1
#: How far the DMA's loggers must have fallen, against the other loggers, over the crossing's
#: window [σ of that fall on the leak-free steps]: a burst draws the DMA's pressure down, a
#: flow meter's noise does not move it. Half a σ asks only that the fall lean the burst's way
#: (by chance a third of the time, Gaussian); over the crossings that raised a CTOWN 0-2
#: alarm sooner it was 0.7-206 σ. Same bench, with the two above: at 0 σ KL 0-2's false
#: alarms 0.77 and KL 3-5's 0.87 per DMA-month, at 0.5 σ 0.63 and 0.82, at 1 σ the same but
#: CTOWN 0-2's 22 m³/h burst (0.7 σ) raised at the CUSUM's time again (abrupt delay 3.5 h).
#: KL's loggers barely see its bursts (its crossings that raised an alarm sooner fell -3.2
#: to 6.2 σ): there the gate thins its crossings more than it tells them apart.
BURST_PRESSURE_FALL = 0.5
#: Share of its threshold the joint CUSUM's upward sum of a DMA must have reached for a
#: burst crossing of that DMA to count [-]: a burst moves the CUSUM's sum at once too; a
#: window statistic that crossed while the sum stayed low was a short excursion the CUSUM's
#: allowance absorbed (kept from branch leakburst's first version; its figures in
#: ``benchmarks/bench_leaks.py``).
BURST_SUPPORT = 0.5


#: Columns of :func:`burst_crossings`.
BURST_COLUMNS = ("series", "step", "time_utc", "window", "size", "z")


@dataclass(frozen=True)
class BurstSettings:
    """Settings of the burst test of a set of DMAs (:func:`calibrate_burst`).

    Attributes
    ----------
    series : list of str
        The DMAs, in the order of the arrays below.
    windows : tuple of int
        Window lengths [steps].
    reference : int
        Steps of the reference level before each window.
    sigma : ndarray
        series × window: robust standard deviation of the window statistic
        (:func:`window_step`, over its window's spread factor when one is given:
        :func:`window_spread`) on the leak-free period [L/s].
    rho : ndarray
        series × window: its lag-1 autocorrelation there [-].
    threshold : ndarray
        series × window: the crossing level [σ].
    min_step : float
        Smallest step a crossing must show [L/s] (the smallest leak worth finding).
    target_arl : float
        Mean steps between false crossings wanted per DMA, all windows together.
    """

    series: list
    windows: tuple
    reference: int
    sigma: np.ndarray
    rho: np.ndarray
    threshold: np.ndarray
    min_step: float
    target_arl: float


def window_step(x: np.ndarray, window: int, reference: int) -> np.ndarray:
    """The step of a series' mean at each step: the mean of its last ``window`` values less
    the mean of the ``reference`` values before them, NaN where fewer than half of either
    are finite [units of ``x``].

    Parameters
    ----------
    x : ndarray
        One series, NaN where missing or left out.
    window, reference : int
        Lengths of the window ending at each step and of the reference before it [steps].
    """
    x = np.asarray(x, dtype=float)
    ok = np.isfinite(x)
    cs = np.concatenate([[0.0], np.cumsum(np.where(ok, x, 0.0))])
    cn = np.concatenate([[0], np.cumsum(ok)])
    out = np.full(len(x), np.nan)
    t = np.arange(window + reference - 1, len(x))
    if not len(t):
        return out
    a, b, c = t + 1 - window - reference, t + 1 - window, t + 1
    n_w, n_r = cn[c] - cn[b], cn[b] - cn[a]
    good = (n_w * 2 >= window) & (n_r * 2 >= reference)
    mean_w = (cs[c] - cs[b]) / np.maximum(n_w, 1)
    mean_r = (cs[b] - cs[a]) / np.maximum(n_r, 1)
    out[t] = np.where(good, mean_w - mean_r, np.nan)
    return out


def upcrossing_level(rate: float, rho: float) -> float:
    """The level u that a stationary standard Gaussian series with lag-1 autocorrelation
    ``rho`` crosses upward with probability ``rate`` per step [σ].

    ``P(z_{t−1} ≤ u < z_t) = Q(u) − P(z_{t−1} > u, z_t > u)``, the second term the
    bivariate normal's: a window statistic's values overlap, so its crossings are far rarer
    than its exceedances.
    """
    from scipy.stats import multivariate_normal, norm

    rho = float(np.clip(rho, -0.999, 0.9999))
    cov = [[1.0, rho], [rho, 1.0]]

    def p(u: float) -> float:
        both = multivariate_normal.cdf([-u, -u], mean=[0.0, 0.0], cov=cov)
        return float(norm.sf(u) - both)

    lo, hi = 0.0, 12.0
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if p(mid) > rate else (lo, mid)
    return hi


def window_spread(scale: np.ndarray | None, n: int, window: int) -> np.ndarray:
    """The burst test's spread at each step relative to its mean: ``scale`` (the
    innovations' spread over its mean, :meth:`JointSettings.scale`) averaged over the
    window ending at the step; 1 without it [-].

    Demand noise grows with demand, and a window's statistic with it: on
    ``benchmarks/bench_leaks.py`` (BIN, seeds 1 and 2, 3-h bins) the 1-h statistic's
    spread over 06-12 h was 0.9-1.6 times its spread over the whole day (1.3-1.6 in
    DMA-1), over 00-06 h 0.4-0.7 times;
    read against one spread, most of BIN's burst crossings that no alarm confirmed came in
    the morning peak, while a burst at night stood fewer σ than it was.

    Parameters
    ----------
    scale : ndarray or None
        One DMA's spread factor per step [-].
    n : int
        Steps.
    window : int
        The window [steps].
    """
    if scale is None:
        return np.ones(n)
    x = np.asarray(scale, dtype=float)
    return pd.Series(x).rolling(window, min_periods=1).mean().to_numpy()


def calibrate_burst(e: pd.DataFrame, mask: np.ndarray, step_s: float, min_step: float,
                    target_arl: float, share: float = BURST_BUDGET_SHARE,
                    windows_h: tuple = BURST_WINDOWS_H,
                    reference_h: float = BURST_REFERENCE_H,
                    scale: np.ndarray | None = None) -> BurstSettings:
    """Settings of :func:`burst_crossings` from the leak-free period.

    Each window's statistic (:func:`window_step`) is standardised by its robust spread on
    the leak-free period (1.4826·MAD), memory and all. Its threshold is the higher of

    * the level whose Gaussian up-crossing rate per step, for its lag-1 autocorrelation
      there, is the budget ``share / target_arl`` shared equally by the windows
      (:func:`upcrossing_level`), and
    * the leak-free period's own largest value carried to the budget's run length by the
      Gaussian tail's shape, ``√(max² + 2 ln(run length / leak-free steps))`` (the
      statistics' tails are heavier than the Gaussian's).

    Parameters
    ----------
    e : DataFrame
        time × DMA: the joint detector's residual less the common mode, at the detection
        step [L/s].
    mask : ndarray of bool
        Steps of the leak-free period.
    step_s : float
        The step of ``e`` [s].
    min_step : float
        Smallest step a crossing must show [L/s].
    target_arl : float
        The joint CUSUM's mean steps between false alarms per DMA.
    share : float
        The burst test's share of that budget [-] (:data:`BURST_BUDGET_SHARE`).
    windows_h, reference_h : tuple of float, float
        Window lengths and the reference before them [h].
    scale : ndarray, optional
        time × DMA (``e``'s columns): the spread at each step over its mean
        (:meth:`JointSettings.scale`); each window's statistic is read over its mean over
        the window (:func:`window_spread`), here and in :func:`burst_crossings` [-].
    """
    per_h = 3600.0 / step_s
    windows = tuple(max(1, int(round(w * per_h))) for w in windows_h)
    reference = max(1, int(round(reference_h * per_h)))
    n_s, n_w = e.shape[1], len(windows)
    sig, rho, thr = (np.full((n_s, n_w), np.nan) for _ in range(3))
    arl = max(target_arl, 1.0) / max(share, 1e-9)
    for j, col in enumerate(e.columns):
        x = np.where(mask, e[col].to_numpy(dtype=float), np.nan)
        for i, w in enumerate(windows):
            st = window_step(x, w, reference)  # wholly inside the leak-free period
            st = st / window_spread(None if scale is None else scale[:, j], len(st), w)
            ok = np.isfinite(st)
            if ok.sum() < 4 * (w + reference):
                continue
            sig[j, i] = _mad(st)
            if not sig[j, i] > 0:
                continue
            pair = ok[1:] & ok[:-1]
            rho[j, i] = float(np.corrcoef(st[1:][pair], st[:-1][pair])[0, 1])
            top = max(float(np.nanmax(st)) / sig[j, i], 0.0)
            carried = np.sqrt(top ** 2 + 2.0 * np.log(max(arl * n_w / float(ok.sum()), 1.0)))
            thr[j, i] = max(upcrossing_level(1.0 / (arl * n_w), rho[j, i]), carried)
    return BurstSettings(list(e.columns), windows, reference, sig, rho, thr, float(min_step),
                         float(arl))


def burst_crossings(e: pd.DataFrame, s: BurstSettings, up_sums: np.ndarray | None = None,
                    support: float = BURST_SUPPORT, scale: np.ndarray | None = None,
                    persist: int = BURST_PERSIST_STEPS) -> pd.DataFrame:
    """Upward crossings of the burst test: steps where a DMA's window statistic
    (:func:`window_step`) first exceeds its threshold [σ] and the smallest leak [L/s],
    while the joint CUSUM's upward sum of that DMA is at least ``support`` of its
    threshold.

    A DMA's crossings within ``reference`` steps of its last one are the same rise and
    dropped (its step stays in the statistic that long).

    Parameters
    ----------
    e : DataFrame
        time (the step's start, UTC) × DMA: the residual :func:`calibrate_burst` was
        calibrated on, over the whole period [L/s].
    s : BurstSettings
    up_sums : ndarray, optional
        time × DMA (the order of ``s.series``): the joint CUSUM's upward sum over its
        threshold after each step (:func:`joint_cusum`'s ``up_sums``) [-]; without it no
        support is asked.
    support : float
        See :data:`BURST_SUPPORT` [-].
    persist : int
        Steps before the crossing's own that the statistic must have been over its level
        too (with the support): the crossing is the last of them [-]
        (:data:`BURST_PERSIST_STEPS`).
    scale : ndarray, optional
        time × DMA (the order of ``s.series``): the spread factor :func:`calibrate_burst`
        was given; ``z`` is the window's step over σ times its mean over the window [-].

    Returns
    -------
    DataFrame
        ``series``, ``step`` (row of ``e``), ``time_utc`` (its start), ``window`` [steps],
        ``size`` (the window's step) [L/s] and ``z`` (it over σ) [-], in time order.
    """
    rows = []
    for j, col in enumerate(s.series):
        x = e[col].to_numpy(dtype=float)
        hit = np.zeros(len(x), dtype=bool)
        size, zmax = np.full(len(x), np.nan), np.full(len(x), -np.inf)
        wins = np.zeros(len(x), dtype=int)
        for i, w in enumerate(s.windows):
            if not (np.isfinite(s.sigma[j, i]) and s.sigma[j, i] > 0):
                continue
            st = np.nan_to_num(window_step(x, w, s.reference), nan=-np.inf)
            z = st / s.sigma[j, i] / window_spread(None if scale is None else scale[:, j],
                                                   len(st), w)
            over = (z > s.threshold[j, i]) & (st >= s.min_step)
            better = over & (z > zmax)
            size[better], zmax[better], wins[better] = st[better], z[better], w
            hit |= over
        if up_sums is not None:
            hit &= np.asarray(up_sums)[:, j] >= support
        hit = held_for(hit, persist)
        last = -np.inf
        for t in np.flatnonzero(hit & ~np.r_[False, hit[:-1]]):
            if t - last > s.reference:
                rows.append({"series": col, "step": int(t), "time_utc": e.index[t],
                             "window": int(wins[t]), "size": float(size[t]),
                             "z": float(zmax[t])})
                last = t
    out = pd.DataFrame(rows, columns=list(BURST_COLUMNS))
    return out.sort_values("time_utc", kind="stable").reset_index(drop=True)


def confirm_bursts(crossings: pd.DataFrame, alarms: pd.DataFrame, step: pd.Timedelta,
                   reference: pd.Timedelta, confirm_h: float = BURST_CONFIRM_H,
                   after_h: float = BURST_CHANGE_AFTER_H) -> pd.DataFrame:
    """Which alarm of the joint CUSUM each burst crossing tells sooner.

    A crossing of DMA d known at t (the end of its step) confirms the first upward alarm
    of d whose change lies in ``[t − window − reference, t + after_h]`` (the step the
    crossing saw: before that, the step was in its reference) and that comes after t,
    within ``confirm_h`` hours. When such an alarm came by t, the CUSUM raised it first and
    the crossing says nothing new. The alarms themselves are not touched.

    Parameters
    ----------
    crossings : DataFrame
        :func:`burst_crossings`.
    alarms : DataFrame
        The CUSUM's upward alarms the twin raises (``series``, ``alarm_utc``: when it was
        known, ``change_utc``), indexed by their alarm number.
    step : Timedelta
        The detection step (a crossing is known at its step's end).
    reference : Timedelta
        The burst test's reference length.
    confirm_h, after_h : float
        See :data:`BURST_CONFIRM_H`, :data:`BURST_CHANGE_AFTER_H` [h].

    Returns
    -------
    DataFrame
        The crossings with ``alarm_utc`` (known at), ``event`` (the label in ``alarms`` of
        the alarm told sooner; −1 when the CUSUM had it first or none confirmed it) and
        ``status`` (``sooner``, ``cusum first`` or ``unconfirmed``).
    """
    out = crossings.copy()
    out["alarm_utc"] = out.time_utc + step
    ev, status = [], []
    used: set = set()
    for c in out.itertuples():
        t = c.alarm_utc
        mine = alarms[(alarms.series == c.series)
                      & (alarms.change_utc >= t - c.window * step - reference)
                      & (alarms.change_utc <= t + pd.Timedelta(hours=after_h))
                      & (alarms.alarm_utc <= t + pd.Timedelta(hours=confirm_h))]
        later = mine[(mine.alarm_utc > t) & ~mine.index.isin(list(used))]
        if (mine.alarm_utc <= t).any():
            ev.append(-1)
            status.append("cusum first")
        elif len(later):
            k = later.alarm_utc.idxmin()
            used.add(k)
            ev.append(k)
            status.append("sooner")
        else:
            ev.append(-1)
            status.append("unconfirmed")
    return out.assign(event=ev, status=status)


#: Standard error of the median of n independent Gaussian values, times √n [σ]: √(π/2).
MEDIAN_SE = float(np.sqrt(np.pi / 2.0))


def mirror_spans(changes: pd.DataFrame, common: np.ndarray, sigma: np.ndarray,
                 series: list, index: pd.Index, min_step: float,
                 rebase: int) -> pd.DataFrame:
    """Steps of each DMA's residual less the common mode that carry what another DMA's
    change left in it, for the burst test to leave out (:func:`burst_crossings`).

    :func:`joint_cusum` takes DMA c's level out of the others' common mode only once c
    alarmed, so DMA j's residual carries

    * the change's mirror, −w_jc·L for a step L of c (``common``), from c's change to
      the step after its alarm, marked where it is at least ``min_step`` (a smaller one
      cannot cross the burst test's smallest step by itself); and
    * after any alarm of c, its new level's error while it is read: the median of the n
      steps since the alarm, off by ``MEDIAN_SE``·σ_c/√n, seen as w_jc times that in j at
      the step after them; marked while that is at least ``min_step``, for
      n = 1 … ``⌊(MEDIAN_SE·|w_jc|·σ_c / min_step)²⌋``, at most ``rebase``.

    On ``benchmarks/bench_leaks.py`` (BWSN, whose DMA-3 has two tanks and two pumps and
    a residual of 0.3-0.6 L/s the others regress on with weights of 1.8-3.7), a repair of
    8-11 L/s in DMA-3 or DMA-2 stood 33-40 L/s in another DMA for the 45-60 min to its
    alarm, and the first steps of a new level read from one or two steps moved the other
    DMA's residual by 10 L/s: the burst test read both as bursts of their own, which no
    alarm of the CUSUM confirmed (it had given the change to its DMA).
    Only the changes the CUSUM kept (``explained_by`` −1) are taken.

    Parameters
    ----------
    changes : DataFrame
        :func:`detect_joint`'s changes (``series``, ``alarm_utc`` and ``change_utc``: the
        starts of their steps in ``index``, ``step`` [L/s], ``explained_by``).
    common : ndarray
        DMA × DMA: the common-mode weights (:attr:`JointSettings.common`) [-].
    sigma : ndarray
        Per DMA: the spread of its residual less the common mode per step
        (:attr:`JointSettings.sigma_e`) [L/s].
    series : list of str
        The DMAs, in ``common``'s order.
    index : Index
        The steps of the residual (their starts).
    min_step : float
        The burst test's smallest step [L/s].
    rebase : int
        Steps over which a new level is read (:attr:`JointSettings.rebase`).

    Returns
    -------
    DataFrame
        index × ``series``: True where a step is left out.
    """
    w = np.asarray(common, dtype=float)
    out = np.zeros((len(index), len(series)), dtype=bool)
    pos = {d: i for i, d in enumerate(series)}
    for c in changes[changes.explained_by < 0].itertuples():
        k = pos.get(c.series)
        if k is None:
            continue
        first = int(index.searchsorted(c.change_utc))
        after = int(index.searchsorted(c.alarm_utc)) + 1  # the step after the alarm
        for j in range(len(series)):
            if j == k or w[j, k] == 0.0:
                continue
            if abs(w[j, k] * c.step) >= min_step:
                out[first:after + 1, j] = True
            # the level read from the median of the n steps since the alarm is used from
            # the step after them: steps after + 1 … after + m
            m = np.floor((MEDIAN_SE * abs(w[j, k]) * sigma[k] / min_step) ** 2)
            m = int(min(m, rebase)) if np.isfinite(m) else int(rebase)
            out[after + 1:after + 1 + m, j] = True
    return pd.DataFrame(out, index=index, columns=list(series))


def held_for(hit: np.ndarray, steps: int) -> np.ndarray:
    """Where ``hit`` holds at a step and at each of the ``steps`` steps before it."""
    out = np.asarray(hit, dtype=bool).copy()
    for k in range(1, steps + 1):
        out[k:] &= hit[:-k]
        out[:k] = False
    return out


def burst_pressure_falls(crossings: pd.DataFrame, p: pd.DataFrame, mask: np.ndarray,
                         reference: int,
                         min_fall: float = BURST_PRESSURE_FALL) -> pd.DataFrame:
    """The burst crossings whose DMA's loggers fell with them, as a second, independent
    evidence of a burst.

    For each crossing, the fall of its DMA's pressure over the crossing's window against the
    ``reference`` steps before it (:func:`window_step`, negated), standardised by that
    statistic's robust spread (1.4826·MAD) on the leak-free steps. A crossing is kept when
    the fall is at least ``min_fall``; a DMA with no logger (no column, or no spread) keeps
    none: nothing backs its crossings.

    Parameters
    ----------
    crossings : DataFrame
        :func:`burst_crossings` (``series``, ``step``: row of ``p``, ``window`` [steps]).
    p : DataFrame
        time × DMA, the same rows as the residual the crossings were read on: the DMA's
        loggers' pressure residual, less what all loggers share [m].
    mask : ndarray of bool
        The leak-free steps.
    reference : int
        The burst test's reference length [steps].
    min_fall : float
        See :data:`BURST_PRESSURE_FALL` [σ].

    Returns
    -------
    DataFrame
        The crossings kept, with ``pressure_fall`` [σ].
    """
    falls, seen = [], {}  # (DMA, window) -> its fall at every step [σ]
    for c in crossings.itertuples():
        if c.series not in p:
            falls.append(np.nan)
            continue
        key = (c.series, int(c.window))
        if key not in seen:
            x = p[c.series].to_numpy(dtype=float)
            sd = _mad(window_step(np.where(mask, x, np.nan), key[1], reference))
            seen[key] = (-window_step(x, key[1], reference) / sd if sd > 0
                         else np.full(len(x), np.nan))
        falls.append(float(seen[key][int(c.step)]))
    out = crossings.assign(pressure_fall=np.asarray(falls, dtype=float))
    return out[out.pressure_fall >= min_fall].reset_index(drop=True)


def two_window_change(x: pd.DataFrame, window: int) -> pd.DataFrame:
    """Each column's change at each row: the mean of the ``window`` rows from it on less
    the mean of the ``window`` rows before it (:func:`window_step` read at the window's
    end), NaN where fewer than half of either are finite or the window runs past the end
    [units of ``x``]."""
    return pd.DataFrame({c: np.concatenate([window_step(x[c].to_numpy(dtype=float), window,
                                                        window)[window - 1:],
                                            np.full(window - 1, np.nan)])
                         for c in x.columns}, index=x.index)[list(x.columns)]


def matched_filter_energy(u: np.ndarray, signatures: np.ndarray) -> np.ndarray:
    """The largest one-sided matched-filter energy over a set of signatures, per row.

    For whitened departures ``u`` (row × sensor) and whitened signatures (signature ×
    sensor), the energy of the departure along each signature, ⟨u, s⟩² / |s|² where
    ⟨u, s⟩ > 0 (0 where the departure points away from it): the GLR of a change of
    unknown size along a known direction, in white noise of unit variance (Basseville &
    Nikiforov 1993, §7.2).

    Returns
    -------
    ndarray
        Per row of ``u``, the largest energy over the signatures [-]; 0 without any.
    """
    u = np.nan_to_num(np.asarray(u, dtype=float))
    if not signatures.size:
        return np.zeros(len(u))
    b = u @ signatures.T
    a = np.maximum((signatures * signatures).sum(axis=1), 1e-300)
    return np.where(b > 0, b * b / a[None, :], 0.0).max(axis=1)
