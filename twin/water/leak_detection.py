"""Change detection on standardised residuals: a two-sided CUSUM that restarts after alarms.

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

References
----------
Page, E. S. (1954). Continuous inspection schemes. Biometrika 41, 100-115.
Siegmund, D. (1985). Sequential Analysis. Springer.
Vrachimis, S. G. et al. (2022). Battle of the Leakage Detection and Isolation Methods.
J. Water Resour. Plann. Manage. 148(12) (BattLeDIM).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

#: Default allowance k of the CUSUM, in long-run standard deviations [-].
CUSUM_K = 0.5
#: Bounds of the allowance when it is set from the smallest leak [-].
K_RANGE = (0.25, 1.0)
#: Default mean time between false alarms of one DMA's detector [h] (three months).
TARGET_ARL_H = 24 * 91
#: Steps after an alarm whose median sets the new reference level [-] (hours).
REBASE_H = 12
#: Hours of residual on each side of a change that measure its size [h].
CHANGE_WINDOW_H = 12


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
