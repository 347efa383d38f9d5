"""Residuals: what SCADA measured minus what the twin expected, and their baseline.

A DMA's measured consumption is its net boundary inflow minus the rate its tanks fill (a
mass balance on the SCADA flows and levels); its residual is that minus the expected
consumption (:mod:`twin.water.leak_expectation`). A logger's residual is its pressure minus
the expected pressure. A leak shows as a consumption residual above zero and pressure
residuals below.

The twin's model is never exact (diameters, roughness, demand allocation), so residuals
carry a bias that follows the flows. A *baseline* learned on a leak-free period removes
it: per series, a least-squares fit of the residual on the expected flows (a constant,
the DMA's expected consumption, and for pressures the head-loss terms Q^1.852 of every
DMA); what is left is noise plus whatever changed since.

Every function takes its inputs and does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import wntr

from twin.water.balance import zone_storage_m3
from twin.water.dma import SOURCE_ZONE, net_inflow_l_s

#: Hazen-Williams flow exponent of head loss [-].
HEADLOSS_EXPONENT = 1.852


class ResidualError(ValueError):
    """Measurements that give no residual; the message says what is missing."""


def zones_of(meters: pd.DataFrame) -> list[str]:
    """The DMAs the boundary meters bound, sorted (the source zone is not a DMA)."""
    return sorted(str(z) for z in set(meters.from_zone) | set(meters.to_zone)
                  if str(z) != SOURCE_ZONE)


def storage_rate_l_s(level_m: pd.DataFrame, wn: wntr.network.WaterNetworkModel,
                     dmas: pd.Series, zones: list[str],
                     level_end_m: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rate at which each DMA's tanks fill over each SCADA step [L/s] (time × DMA).

    The stored volume's change from a step's time to its end over the step (EPANET's
    reading of a step: flows held from its start, tanks filled by the end). The level at a
    step's end is ``level_end_m``'s where given (a simulation that restarts its tanks from
    measured levels: its own level at the end of the step, not the restarted one at the
    next time; :attr:`twin.water.leak_expectation.ExpectedRun.tank_level_end_m`), else the
    next time's level, the last step repeating the one before. DMAs without tanks store
    nothing (0); a tank with no level at all is left out (its DMA's other tanks still
    count).
    """
    level_m = level_m.loc[:, level_m.notna().any()]
    if level_m.empty or len(level_m) < 2:
        return pd.DataFrame(0.0, index=level_m.index, columns=zones)
    level = level_m.interpolate(limit_direction="both")
    t = level.index.asi8 / 1e9
    v = zone_storage_m3(level, wn, dmas)
    if level_end_m is None:
        dv = np.diff(v.to_numpy(dtype=float), axis=0)
        rate = dv / np.diff(t)[:, None] * 1000.0
        rate = np.vstack([rate, rate[-1:]])
    else:
        end = level_end_m.reindex(index=level.index, columns=level.columns)
        v_end = zone_storage_m3(end.interpolate(limit_direction="both"), wn, dmas)
        dt = np.diff(t)
        dt = np.append(dt, dt[-1])
        rate = (v_end.to_numpy(dtype=float) - v.to_numpy(dtype=float)) / dt[:, None] * 1000.0
    return pd.DataFrame(rate, index=level.index, columns=v.columns).reindex(
        columns=zones, fill_value=0.0)


def measured_consumption_l_s(flow_l_s: pd.DataFrame, level_m: pd.DataFrame,
                             wn: wntr.network.WaterNetworkModel, meters: pd.DataFrame,
                             dmas: pd.Series,
                             level_end_m: pd.DataFrame | None = None) -> pd.DataFrame:
    """Consumption of each DMA as SCADA measured it [L/s] (time × DMA).

    Net inflow through the boundary meters (:func:`twin.water.dma.net_inflow_l_s`) minus
    the rate the DMA's tanks fill (:func:`storage_rate_l_s`, with ``level_end_m`` where a
    simulation read the way SCADA is read gives its own levels at the steps' ends); NaN
    where one of its meters has no reading.

    Raises
    ------
    ResidualError
        A boundary meter without any flow series.
    """
    zones = zones_of(meters)
    try:
        q = net_inflow_l_s(flow_l_s, meters)[zones]
    except KeyError as exc:
        raise ResidualError(f"{exc.args[0]}; every DMA boundary meter needs its SCADA flow "
                            "(add it to the tag map or the export)") from None
    tanks = [t for t in level_m.columns if t in set(wn.tank_name_list)]
    rate = storage_rate_l_s(level_m[tanks], wn, dmas, zones,
                            None if level_end_m is None else level_end_m[tanks])
    return q - rate.reindex(q.index).fillna(0.0)


def robust_sd(x: np.ndarray) -> float:
    """Robust standard deviation of ``x``: 1.4826 times its median absolute deviation (the
    standard deviation for Gaussian values; the odd outlier or step barely moves it) [units
    of ``x``]."""
    x = np.asarray(x, dtype=float)
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def level_noise_m(level_m: pd.DataFrame, mask: np.ndarray | None = None) -> pd.Series:
    """Standard deviation of each tank level's reading noise [m], from the level itself.

    White reading noise η makes the second difference ``η_{t+1} − 2η_t + η_{t−1}``, of
    variance 6σ²; the water's own level bends only where the rate it fills at changes
    (a pump switching: a few steps a day, which the median leaves out), so
    σ = 1.4826·MAD(Δ²L)/√6 over the rows in ``mask`` (the leak-free period; all rows when
    None). A tank with fewer than 8 second differences gets NaN.
    """
    out = {}
    for tank in level_m.columns:
        x = level_m[tank].to_numpy(dtype=float)
        if mask is not None:
            x = np.where(mask, x, np.nan)
        d2 = x[2:] - 2 * x[1:-1] + x[:-2]
        d2 = d2[np.isfinite(d2)]
        out[tank] = robust_sd(d2) / np.sqrt(6.0) if len(d2) >= 8 else np.nan
    return pd.Series(out, dtype=float)


def storage_noise_m3(level_m: pd.DataFrame, wn: wntr.network.WaterNetworkModel,
                     dmas: pd.Series, zones: list[str],
                     mask: np.ndarray | None = None) -> pd.Series:
    """Standard deviation of the volume each DMA's tanks are read to hold [m³] (per DMA).

    Each tank's level noise (:func:`level_noise_m`) times its cross-section at its median
    level (the change of :func:`twin.water.hydraulics.tank_volume_m3` over ±5 cm, so a
    volume curve counts), summed in quadrature over the DMA's tanks; 0 for a DMA without
    measured tanks.
    """
    from twin.water.hydraulics import tank_volume_m3

    tanks = [t for t in level_m.columns
             if t in set(wn.tank_name_list) and level_m[t].notna().any()]
    sigma = level_noise_m(level_m[tanks], mask)
    var = dict.fromkeys(zones, 0.0)
    for tank in tanks:
        zone = str(dmas.get(tank, ""))
        if zone not in var or not np.isfinite(sigma[tank]):
            continue
        mid = float(np.nanmedian(level_m[tank].to_numpy(dtype=float)))
        area = float(tank_volume_m3(wn, tank, mid + 0.05) - tank_volume_m3(wn, tank, mid - 0.05)
                     ) / 0.1
        var[zone] += (area * sigma[tank]) ** 2
    return pd.Series({z: float(np.sqrt(v)) for z, v in var.items()}, dtype=float)


#: Process noises tried for :func:`mass_balance_filter`, as multiples of the raw residual's
#: robust spread at its step: the rate's white noise, and the random walk of its level per
#: step [-]. The likelihood on the leak-free period chooses among them.
FILTER_WHITE_FACTORS = (0.025, 0.05, 0.1, 0.2, 0.4)
FILTER_WALK_FACTORS = (0.0003, 0.003, 0.03)
#: Standardised innovation beyond which the likelihood of :func:`volume_balance_filter`
#: grows linearly (Huber's), so that a few jumps of the volume (a pump or a tank's inlet
#: switching between two samples of the flow) do not choose the filter's noises [-].
FILTER_JUMP_SD = 3.0


def volume_balance_filter(rate_l_s: np.ndarray, step_s: float, volume_noise_l: float,
                          white_l_s: float, walk_l_s: float,
                          rows: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Kalman filter of a DMA's consumption residual on its water balance [L/s].

    The residual at step t is ``(S_{t+1} − S_t)/Δt`` with ``S`` the volume the DMA took
    in less what it was expected to use, less what its tanks were read to gain: its
    running sum ``y_t = Σ_{s<t} r_s·Δt`` is the true such volume ``X_t`` plus the tanks'
    reading noise at ``t`` alone (a level read once, not differenced), so::

        X_{t+1} = X_t + Δt·(m_t + w_t)      w: white [L/s], sd ``white_l_s``
        m_{t+1} = m_t + v_t                   v: random walk [L/s], sd ``walk_l_s``
        y_t     = X_t + ε_t                   ε: the tanks' volume noise, sd ``volume_noise_l``

    and the filtered rate is ``(X̂_{t+1|t+1} − X̂_{t|t})/Δt``, known at ``t+1`` as the raw
    one is. A pump filling a tank moves the inflow and the level together and is not in
    the residual, so the filter does not smear it. A missing step leaves ``X`` unknown
    (NaN out, the filter re-anchors on the next reading).

    Parameters
    ----------
    rate_l_s : ndarray
        The raw residual at each step [L/s].
    step_s : float
        Δt [s].
    volume_noise_l, white_l_s, walk_l_s : float
        The noises above [L], [L/s], [L/s per step].
    rows : ndarray of bool, optional
        Steps whose innovations count in the log-likelihood (all when None).

    Returns
    -------
    (ndarray, float)
        The filtered rate [L/s] and the mean Gaussian log-likelihood of the innovations
        over ``rows`` [-].
    """
    r = np.asarray(rate_l_s, dtype=float)
    n = len(r)
    out = np.full(n, np.nan)
    dt = float(step_s)
    big_r = float(volume_noise_l) ** 2
    q_x, q_m = (dt * white_l_s) ** 2, float(walk_l_s) ** 2
    first = r[np.isfinite(r)][:12]
    x, m = 0.0, float(np.median(first)) if len(first) else 0.0
    p00, p01, p11 = big_r, 0.0, (10.0 * white_l_s) ** 2 + 1.0
    y, ll, n_ll, gap = 0.0, 0.0, 0, False
    use = np.ones(n, dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
    for t in range(n):
        x_before = x
        x += dt * m
        p00, p01, p11 = p00 + 2 * dt * p01 + dt * dt * p11 + q_x, p01 + dt * p11, p11 + q_m
        rt = r[t]
        if rt != rt:  # NaN: the volume taken in is unknown from here
            y = x
            p00 += 1e6 * (big_r + q_x + 1.0)
            gap = True
            continue
        y += rt * dt
        e = y - x
        s = p00 + big_r
        k0, k1 = p00 / s, p01 / s
        x += k0 * e
        m += k1 * e
        p00, p01, p11 = p00 - k0 * p00, p01 - k0 * p01, p11 - k1 * p01
        out[t] = (x - x_before) / dt
        if use[t] and not gap:
            z = abs(e) / np.sqrt(s)
            ll -= 0.5 * np.log(s) + (0.5 * z * z if z <= FILTER_JUMP_SD
                                     else FILTER_JUMP_SD * (z - 0.5 * FILTER_JUMP_SD))
            n_ll += 1
        gap = False
    return out, ll / max(n_ll, 1)


def mass_balance_filter(residual_l_s: pd.DataFrame, storage_noise: pd.Series,
                        mask: np.ndarray, step_s: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each DMA's consumption residual with its tanks' level noise filtered out [L/s].

    A storage rate differenced from levels read with noise σ_V [m³] adds
    ``(ε_{t+1} − ε_t)/Δt`` to the residual: on CTOWN at 1 cm and 5 min, 37 L/s in its
    largest DMA, against about 9 L/s of everything else. The residual is run through
    :func:`volume_balance_filter` with the tanks' volume noise σ_V
    (:func:`storage_noise_m3`), its white and random-walk noises chosen by the (Huber)
    likelihood on the rows in ``mask`` (the leak-free period) among
    :data:`FILTER_WHITE_FACTORS` × :data:`FILTER_WALK_FACTORS` of the raw residual's
    robust spread there. The filter is linear and the pumps' flows into the tanks are in
    both terms of the balance, so a pump switching leaves the filtered residual as it
    leaves the raw one (a filter of the storage rate alone would smear its step into the
    residual), and measured and expected stay alike (the expectation's balance has no
    level noise: filtering the difference is filtering both). DMAs whose tanks have no
    noise (or no tanks) are returned as they are.

    Returns
    -------
    (DataFrame, DataFrame)
        The filtered residual (time × DMA) [L/s]; per DMA filtered, the noises chosen
        (``volume_noise_m3``, ``white_l_s``, ``walk_l_s``) and the residual's robust spread
        before and after on ``mask`` (``sigma_raw``, ``sigma_filtered``) [L/s].
    """
    out = residual_l_s.copy()
    rows = []
    mask = np.asarray(mask, dtype=bool)
    for dma in residual_l_s.columns:
        sv = float(storage_noise.get(dma, 0.0))
        r = residual_l_s[dma].to_numpy(dtype=float)
        base = r[mask & np.isfinite(r)]
        if not sv > 0 or len(base) < 48:
            continue
        spread = robust_sd(base)
        noise_l = 1000.0 * sv
        leak_free = np.where(mask, r, np.nan)[:np.flatnonzero(mask)[-1] + 1]
        best = None
        for fw in FILTER_WHITE_FACTORS:
            for fv in FILTER_WALK_FACTORS:
                _, ll = volume_balance_filter(leak_free, step_s, noise_l, fw * spread,
                                              fv * spread)
                if best is None or ll > best[0]:
                    best = (ll, fw * spread, fv * spread)
        f, _ = volume_balance_filter(r, step_s, noise_l, best[1], best[2])
        out[dma] = f
        fb = f[mask & np.isfinite(f)]
        rows.append({"dma": dma, "volume_noise_m3": sv, "white_l_s": best[1],
                     "walk_l_s": best[2], "sigma_raw": spread,
                     "sigma_filtered": robust_sd(fb)})
    return out, pd.DataFrame(rows, columns=["dma", "volume_noise_m3", "white_l_s", "walk_l_s",
                                            "sigma_raw", "sigma_filtered"])


def hourly(df: pd.DataFrame, min_share: float = 0.5) -> pd.DataFrame:
    """Hourly means of a SCADA-step frame; an hour with less than ``min_share`` of its steps
    measured is NaN."""
    return step_means(df, pd.Timedelta(hours=1), min_share)


def step_means(df: pd.DataFrame, step: pd.Timedelta, min_share: float = 0.5) -> pd.DataFrame:
    """Means of a SCADA-step frame over steps of ``step`` (labelled by their start); a step
    with less than ``min_share`` of its SCADA steps measured is NaN."""
    g = df.groupby(df.index.floor(step))
    mean, count = g.mean(), g.count()
    full = g.size().max() if len(df) else 1
    return mean.where(count >= max(1, min_share * full))


def within_hour_ramp(pattern_l_s: pd.DataFrame, ratio_t: np.ndarray) -> pd.DataFrame:
    """How an hour's demand moves within it where the model holds it flat [L/s].

    Demand patterns give a value per hour (its mean) while real use moves smoothly from
    one hour to the next; within hour i the difference is about the pattern's slope there
    times the time from the hour's middle::

        ramp(t) = ratio(t) · (q̄_{i+1} − q̄_{i−1}) / 2 · ((t − t_i) / 1 h − 1/2)

    with q̄ the hourly means of the model's consumption at the pattern's own values
    (``pattern_l_s``, demand ratio 1: no AMR read of a later hour in it). A regressor of the
    residuals' baseline, whose fit says how much of it the data show.

    Parameters
    ----------
    pattern_l_s : DataFrame
        time (SCADA steps, UTC) × DMA: expected consumption with demand ratio 1 [L/s].
    ratio_t : ndarray
        The demand ratio at each of those times [-].
    """
    t = pattern_l_s.index
    hour = t.floor("h")
    qh = pattern_l_s.groupby(hour).mean()
    slope = ((qh.shift(-1) - qh.shift(1)) / 2).bfill().ffill().reindex(hour).to_numpy()
    step = (t[1] - t[0]) if len(t) > 1 else pd.Timedelta(hours=1)
    pos = ((t - hour) + step / 2) / pd.Timedelta(hours=1) - 0.5
    return pd.DataFrame(slope * np.asarray(pos, dtype=float)[:, None]
                        * np.asarray(ratio_t, dtype=float)[:, None],
                        index=t, columns=pattern_l_s.columns)


@dataclass(frozen=True)
class Baseline:
    """A per-series linear baseline of residuals: ``r ≈ X @ coef`` on a leak-free period.

    Attributes
    ----------
    coef : DataFrame
        series × regressor coefficients.
    sigma : Series
        Robust standard deviation of the corrected residual on the baseline period, per
        series (1.4826·MAD) [units of the series].
    rho : Series
        Lag-1 autocorrelation of the corrected residual on the baseline period [-].
    start, end : Timestamp
        The period it was learned on (UTC).
    robust : bool
        True when learned on the whole period by a robust fit (no leak-free period long
        enough was given).
    """

    coef: pd.DataFrame
    sigma: pd.Series
    rho: pd.Series
    start: pd.Timestamp
    end: pd.Timestamp
    robust: bool


def regressors(expected_l_s: pd.DataFrame, pressure: bool,
               ramp_l_s: pd.Series | None = None) -> pd.DataFrame:
    """The baseline's regressors at each time: a constant and the expected DMA flows
    (``pressure``: the head-loss terms Q^1.852 of each DMA's and the system's flow), and the
    DMA's within-hour ramp when given (:func:`within_hour_ramp`) [-]."""
    q = expected_l_s.clip(lower=0) / 100.0  # hundreds of L/s: coefficients of order one
    cols = {"const": np.ones(len(q))}
    if ramp_l_s is not None:
        cols["ramp"] = ramp_l_s.reindex(expected_l_s.index).fillna(0.0).to_numpy() / 100.0
    if pressure:
        for d in q.columns:
            cols[f"hl {d}"] = q[d].to_numpy() ** HEADLOSS_EXPONENT
        cols["hl system"] = q.sum(axis=1).to_numpy() ** HEADLOSS_EXPONENT
    else:
        for d in q.columns:
            cols[f"q {d}"] = q[d].to_numpy()
    return pd.DataFrame(cols, index=expected_l_s.index)


def fit_baseline(residual: pd.DataFrame, x: pd.DataFrame | dict[str, pd.DataFrame],
                 mask: np.ndarray, robust: bool = False, ridge: float = 1e-3) -> Baseline:
    """Learn a per-series linear baseline of residuals on the rows in ``mask``.

    Parameters
    ----------
    residual : DataFrame
        time × series residuals.
    x : DataFrame or dict
        time × regressor (one for all series), or a regressor frame per series.
    mask : ndarray of bool
        Rows of the baseline period.
    robust : bool
        Iteratively reweighted (Huber, 3 rounds) so that leaks inside the period weigh
        little.
    ridge : float
        Small ridge penalty on the non-constant terms [-], so that collinear regressors stay
        bounded.
    """
    coefs, sig, rho = {}, {}, {}
    for name in residual.columns:
        xs = x[name] if isinstance(x, dict) else x
        X = xs.to_numpy(dtype=float)
        y = residual[name].to_numpy(dtype=float)
        ok = mask & np.isfinite(y) & np.isfinite(X).all(axis=1)
        beta = np.zeros(X.shape[1])
        if ok.sum() > 2 * X.shape[1]:
            w = np.ones(ok.sum())
            pen = np.eye(X.shape[1]) * ridge * ok.sum()
            pen[0, 0] = 0.0
            for _ in range(4 if robust else 1):
                Xw = X[ok] * w[:, None]
                beta = np.linalg.solve(Xw.T @ X[ok] + pen, Xw.T @ y[ok])
                e = y[ok] - X[ok] @ beta
                s = robust_sd(e) + 1e-12
                w = np.minimum(1.0, 1.5 * s / np.maximum(np.abs(e), 1e-12))
        elif ok.any():
            beta[0] = float(np.median(y[ok]))
        e = y - X @ beta
        eb = e[ok]
        coefs[name] = pd.Series(beta, index=xs.columns)
        sig[name] = robust_sd(eb) if len(eb) > 3 else np.nan
        rho[name] = _lag1(eb)
    t = residual.index[mask] if mask.any() else residual.index[:1]
    return Baseline(pd.DataFrame(coefs).T, pd.Series(sig), pd.Series(rho),
                    t.min(), t.max(), robust)


def _lag1(e: np.ndarray) -> float:
    """Lag-1 autocorrelation [-], within ±0.95.

    Negative where the residual carries differenced noise: a storage rate taken from two
    noisy tank levels, (η_{t+1} − η_t)·A/Δt, whose sum over hours stays bounded (on
    CTOWN at 1 cm of level noise, 3.1 of the 4.0 L/s of a DMA's hourly residual); a
    detector calibrated on the residual's own step spread would take it for noise that
    accumulates.
    """
    e = e[np.isfinite(e)]
    if len(e) < 4:
        return 0.0
    e = e - e.mean()
    den = float(e @ e)
    return float(np.clip((e[1:] @ e[:-1]) / den, -0.95, 0.95)) if den > 0 else 0.0


def corrected(residual: pd.DataFrame, x: pd.DataFrame | dict[str, pd.DataFrame],
              base: Baseline) -> pd.DataFrame:
    """Residual minus its baseline (time × series), in the units of the series."""
    out = {}
    for name in residual.columns:
        xs = x[name] if isinstance(x, dict) else x
        beta = base.coef.loc[name, xs.columns].to_numpy(dtype=float)
        out[name] = residual[name].to_numpy(dtype=float) - xs.to_numpy(dtype=float) @ beta
    return pd.DataFrame(out, index=residual.index)


def reference_logger_residuals(pressure_m: pd.DataFrame, mask: np.ndarray,
                               reference: str | None = None) -> tuple[pd.DataFrame, str]:
    """LILA's data-driven pressure residuals: each logger less its linear model on a
    reference logger, learned on the leak-free rows (no hydraulic model in it).

    ``p_i(t) ≈ a_i + b_i · p_ref(t)`` is fitted by least squares on the rows in ``mask``; a
    leak lowers the loggers near it more than the reference, so their residual falls.

    Parameters
    ----------
    pressure_m : DataFrame
        time × logger: measured pressures [m] (hourly).
    mask : ndarray of bool
        Rows of the leak-free period.
    reference : str, optional
        The reference logger; default the one with the highest mean pressure on the
        leak-free rows (nearest the source, least moved by a leak in the network).

    Returns
    -------
    (DataFrame, str)
        time × logger (the reference left out): residual [m]; and the reference.

    References
    ----------
    Daniel, I. et al. (2022). A sequential pressure-based algorithm for data-driven leakage
    identification and model-based localization in water distribution networks (LILA).
    J. Water Resour. Plann. Manage. 148(6).
    """
    base = pressure_m[mask]
    ref = reference if reference is not None else str(base.mean().idxmax())
    x = pressure_m[ref].to_numpy(dtype=float)
    out = {}
    for name in pressure_m.columns:
        if name == ref:
            continue
        y = pressure_m[name].to_numpy(dtype=float)
        ok = mask & np.isfinite(x) & np.isfinite(y)
        if ok.sum() < 3:
            out[name] = np.full(len(y), np.nan)
            continue
        a = np.c_[np.ones(ok.sum()), x[ok]]
        coef = np.linalg.lstsq(a, y[ok], rcond=None)[0]
        out[name] = y - (coef[0] + coef[1] * x)
    return pd.DataFrame(out, index=pressure_m.index), ref
