"""Checks of the measurements leak detection runs on: gaps, stuck and drifting loggers,
tank levels in the wrong unit. Each check returns the data to use and flags that explain what
was done; none stops a run. Pure functions, no I/O.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import wntr

#: A value repeated unchanged for this long is a stuck sensor [h].
STUCK_H = 6.0
#: A gap at least this long is reported [h].
GAP_H = 24.0
#: Factors that turn a level in another unit into metres: cm, mm, ft.
LEVEL_UNITS = {"cm": 0.01, "mm": 0.001, "ft": 0.3048}
#: A logger whose residual drifts by more than this many of its noise σ over the period,
#: unlike the other loggers, is flagged as drifting [-].
DRIFT_SIGMAS = 6.0
#: ... and by at least this much [m].
DRIFT_MIN_M = 0.5


def flag(sensor: str, problem: str, detail: str) -> dict:
    """One flag row: which sensor, what problem, what was done."""
    return {"sensor": sensor, "problem": problem, "detail": detail}


def longest_gap_h(x: pd.Series) -> float:
    """Longest run of missing values [h] (from the index spacing)."""
    miss = x.isna().to_numpy()
    if not miss.any():
        return 0.0
    step_h = (np.median(np.diff(x.index.asi8)) / 3.6e12) if len(x) > 1 else 1.0
    best = run = 0
    for m in miss:
        run = run + 1 if m else 0
        best = max(best, run)
    return float(best * step_h)


def mask_stuck(df: pd.DataFrame, stuck_h: float = STUCK_H,
               zero_ok: bool = False) -> tuple[pd.DataFrame, list[dict]]:
    """Set to NaN the runs where a sensor repeats one value for ``stuck_h`` hours or more.

    With ``zero_ok`` a run of exact zeros is not stuck (a flow meter on a closed link).
    Returns the masked frame and one flag per stuck sensor.
    """
    if df.empty or len(df) < 3:
        return df, []
    step_h = np.median(np.diff(df.index.asi8)) / 3.6e12
    need = max(3, int(np.ceil(stuck_h / step_h)))
    out, flags = df.copy(), []
    for c in df.columns:
        x = df[c].to_numpy(dtype=float)
        same = np.r_[False, np.diff(x) == 0]
        # run ids of consecutive equal values
        start = ~same
        rid = np.cumsum(start)
        counts = np.bincount(rid)
        bad = counts[rid] >= need
        bad &= np.isfinite(x)
        if zero_ok:
            bad &= x != 0
        if bad.any():
            out.loc[bad, c] = np.nan
            flags.append(flag(str(c), "stuck", f"{bad.sum() * step_h:.0f} h of one repeated "
                              f"value left out"))
    return out, flags


def gap_flags(df: pd.DataFrame, kind: str, gap_h: float = GAP_H) -> list[dict]:
    """A flag per sensor with a gap of ``gap_h`` hours or more, or no value at all."""
    flags = []
    for c in df.columns:
        x = df[c]
        if x.notna().sum() == 0:
            flags.append(flag(str(c), "missing", f"{kind}: no value in the period"))
            continue
        g = longest_gap_h(x)
        if g >= gap_h:
            flags.append(flag(str(c), "gap", f"{kind}: longest gap {g / 24:.1f} days; its "
                              "hours add nothing to detection"))
    return flags


def tank_level_units(level_m: pd.DataFrame,
                     wn: wntr.network.WaterNetworkModel) -> tuple[pd.DataFrame, list[dict]]:
    """Tank levels checked against the tanks' range; a tag in cm, mm or ft is converted.

    A tank whose median level lies outside [0, max_level + 1 m] is tried in the units of
    :data:`LEVEL_UNITS`; the one that brings the median inside [min_level, max_level] is used
    and flagged. A tank no unit explains is left out (its DMA's storage then counts as
    constant) and flagged.
    """
    out, flags = level_m.copy(), []
    for tank in level_m.columns:
        if tank not in wn.tank_name_list:
            continue
        t = wn.get_node(tank)
        med = float(level_m[tank].median())
        if not np.isfinite(med) or 0.0 <= med <= t.max_level + 1.0:
            continue
        for unit, f in LEVEL_UNITS.items():
            if t.min_level <= med * f <= t.max_level:
                out[tank] = level_m[tank] * f
                flags.append(flag(tank, "unit", f"level median {med:.4g} is outside the tank "
                                  f"(0-{t.max_level:.1f} m); read as {unit} and converted"))
                break
        else:
            out = out.drop(columns=tank)
            flags.append(flag(tank, "unit", f"level median {med:.4g} fits no unit of the tank "
                              f"(0-{t.max_level:.1f} m); left out, its DMA's storage taken as "
                              "constant"))
    return out, flags


def week_change(series: pd.DataFrame, first_utc: pd.Timestamp) -> pd.Series:
    """Each column's change from the first to the last week after ``first_utc``: the median
    of its last seven daily medians less that of its first seven [its unit]."""
    r = series[series.index >= first_utc]
    daily = r.groupby(r.index.floor("D")).median()
    return daily.tail(7).median() - daily.head(7).median()


def drifting_loggers(residual_m: pd.DataFrame, sigma_m: pd.Series, first_utc: pd.Timestamp,
                     dma_of: pd.Series | None = None) -> list[str]:
    """Loggers whose corrected residual drifts over the period when their neighbours do not.

    The drift is the change of the daily median from the first to the last week after
    ``first_utc`` (the end of the baseline, :func:`week_change`) less the median change over
    every logger; a logger drifts when that exceeds :data:`DRIFT_SIGMAS` σ and
    :data:`DRIFT_MIN_M` while no other logger of its DMA (``dma_of``) moved by a third of it
    the same way (a leak moves its neighbours too; a drifting sensor moves alone).
    """
    r = residual_m[residual_m.index >= first_utc]
    if len(r) < 24 * 8 or r.shape[1] < 3:
        return []
    change = week_change(r, first_utc)
    excess = change - change.median()
    lim = np.maximum(DRIFT_SIGMAS * sigma_m.reindex(excess.index).fillna(np.inf), DRIFT_MIN_M)
    out = []
    for c in excess.index[excess.abs() > lim]:
        peers = [p for p in excess.index if p != c and (
            dma_of is None or dma_of.get(p) == dma_of.get(c))]
        moved = [p for p in peers if np.sign(excess[p]) == np.sign(excess[c])
                 and abs(excess[p]) > abs(excess[c]) / 3]
        if not moved:
            out.append(str(c))
    return out


def fell_with_consumption(residual_m: pd.DataFrame, loggers: list[str], first_utc: pd.Timestamp,
                          dma_of: pd.Series, consumption_l_s: pd.DataFrame,
                          min_rise_l_s: float) -> dict[str, float]:
    """Of ``loggers`` that moved alone (:func:`drifting_loggers`), those that fell while their
    DMA's consumption rose: a leak on a small pipe beside a logger lowers it far more than
    its neighbours, as a drift would, but a drift draws no water.

    Measured on ``benchmarks/bench_leaks.py``'s cases (six networks, seeds 0-11, 72 cases;
    the generator draws no drift): 31 loggers in 22 cases moved alone; 12 of them fell while
    their DMA drew more, 41-575 m from a leak of 20-199 m³/h. Kept in location rather than
    left out: 4 leaks gained (20-138 m³/h, BIN seeds 2 and 10, MICROPOLIS seed 9), 4 false
    alarms fewer, none lost.

    Parameters
    ----------
    residual_m : DataFrame
        time × logger: corrected pressure residuals [m].
    loggers : list of str
        The loggers to judge.
    first_utc : Timestamp
        The end of the baseline; changes are from the first to the last week after it
        (:func:`week_change`).
    dma_of : Series
        node → DMA.
    consumption_l_s : DataFrame
        time × DMA: consumption residuals (measured less expected) [L/s].
    min_rise_l_s : float
        The smallest rise of the DMA's consumption taken as a leak [L/s].

    Returns
    -------
    dict
        logger → its DMA's rise of consumption [L/s], for each that fell while it rose.
    """
    if not loggers:
        return {}
    fell = week_change(residual_m[loggers], first_utc)
    fell = fell - week_change(residual_m, first_utc).median()
    rise = week_change(consumption_l_s, first_utc)
    out = {}
    for lg in loggers:
        q = float(rise.get(dma_of.get(lg), np.nan))
        if fell[lg] < 0 and np.isfinite(q) and q >= min_rise_l_s:
            out[lg] = q
    return out
