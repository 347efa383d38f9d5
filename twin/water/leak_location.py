"""Leak location: which junction's leak best explains the change the sensors saw.

A sensitivity matrix holds, for every candidate junction, how much each logger pressure [m],
each boundary meter flow [L/s] and each DMA's consumption [L/s] changes per L/s of a leak
there. It is computed once per network (cached on disk by a hash of the network and the
settings) with EPANET snapshots: a standard emitter is opened at one junction at a time, at
a few clock times of a day, through the EPANET toolkit so the network file is parsed once per
batch. The runs are independent, so batches of junctions can be spread over Dask workers
(:func:`twin.parallel.dask_client`).

Candidates are ranked by the weighted least-squares misfit of ``Δ ≈ q · s_j`` between the
observed change Δ (the loggers' pressures and, with a :class:`FlowSignature`, the alarming
DMA's boundary meters' flows, whose split of the leak says which inlets it is near) and the
column s_j of the junction, with the leak flow q ≥ 0 fitted for
each, or (``metric="correlation"``, what the leak workflow uses) by the angle between Δ and
s_j alone, blind to the leak's size. The observed change is the leak's signature
(:func:`leak_signature`): each logger's pressure regressed on the area's leak flow (a step
of its consumption change at the start, :func:`step_course`, or its consumption residual),
day means on day means, over the hours from before the change to a window after it, times
the leak flow; an earlier leak that began before the window is in the regression's
constant (the differential signature), and a leak that grows is measured over its whole
rise.

References
----------
Pérez, R. et al. (2011). Methodology for leakage isolation using pressure sensitivity
analysis in water distribution networks. Control Engineering Practice 19(10), 1157-1167.
"""

from __future__ import annotations

import copy
import hashlib
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import wntr
import xarray as xr
from scipy import sparse
from scipy.spatial import cKDTree

#: Emitter coefficient of the standard leak [L/s per m^0.5] (about 2-3 L/s at 50-100 m).
STANDARD_EMITTER_LPS = 0.3
#: Clock times of the snapshots the sensitivity is averaged over [h].
SNAPSHOT_CLOCK_H = (3, 9, 15, 21)
#: Relative error of the model's boundary-flow sensitivities [-]: what the split of a
#: leak's flow among a DMA's meters may be off by where the model's diameters and
#: roughness are (the benchmark's cases: up to 10 % each). Measured on seeds 6-11 of
#: ``benchmarks/bench_leaks.py`` (location alone at the true starts): 0.1-0.5 place the
#: same leaks within 2; at 0, the model taken as exact, the real network's noise-free
#: signatures of seeds 6-8 placed 125/144 (a simpler ranker), against 140 on the
#: pressures alone.
FLOW_MODEL_ERROR = 0.2
#: Least noise of a meter's flow change, as a share of the leak flow [-]: a meter whose
#: flow the DMA's consumption alone sets (its only inlet) carries no noise of its own
#: after the baseline, and no information on where either.
FLOW_NOISE_FLOOR = 0.01
#: Hours of the running mean that pressures and leak flow are regressed on when a leak's
#: signature is measured (:func:`leak_signature`): a whole day [h].
SIGNATURE_SMOOTH_H = 24
#: Junctions per Dask task [-].
BATCH_SIZE = 24
#: Version of the cached matrices' layout; part of the cache key.
CACHE_FORMAT = 4
#: Default cache folder of sensitivity matrices for library calls (the ``twin`` command keeps
#: them under the data directory instead).
CACHE_DIR = Path(tempfile.gettempdir()) / "citytwin-leak-sensitivity"

_EN_PRESSURE, _EN_EMITTER, _EN_FLOW = 11, 3, 8


class LeakLocationError(ValueError):
    """A location request the network cannot answer; the message names the element."""


@dataclass(frozen=True)
class FlowSignature:
    """The boundary meters' part of a leak's signature.

    Where a DMA draws its water through several metered links, a leak's flow splits among
    them by where it is: near one inlet it draws mostly through that one. The split is
    read against the model's flow sensitivities (the ``Q`` sensors of
    :func:`leak_sensitivity`), with the model's own error allowed for.

    Attributes
    ----------
    change_l_s : Series
        Per meter id: the meter's flow change for the leak, in the link's direction [L/s].
    regressed : Series
        Per meter id: the flow per L/s of the DMA's consumption that the flows' baseline
        takes out (the leak adds to that consumption) [L/s per L/s].
    noise_cov : DataFrame
        meter × meter: covariance of the change's noise on leak-free days [(L/s)²].
    links : Series
        Per meter id: the metered link (for the sized re-ranking's EPANET runs).
    model_error : float
        Relative error of the model's flow sensitivities [-] (:data:`FLOW_MODEL_ERROR`).
    """

    change_l_s: pd.Series
    regressed: pd.Series
    noise_cov: pd.DataFrame
    links: pd.Series
    model_error: float = FLOW_MODEL_ERROR

    def meters(self, sensors) -> list[str]:
        """The meters with a finite change and noise that ``sensors`` (sensor names of a
        sensitivity dataset) hold."""
        have = set(str(x) for x in sensors)
        cov = self.noise_cov
        return [m for m in self.change_l_s.index if np.isfinite(self.change_l_s[m])
                and f"Q {m}" in have and m in cov.index and np.isfinite(cov.loc[m, m])]


def snapshot_inp_texts(wn: wntr.network.WaterNetworkModel,
                       clock_h: Sequence[float] = SNAPSHOT_CLOCK_H) -> list[str]:
    """EPANET input texts (flow units L/s, pressures m) of single-period runs of ``wn`` at
    each clock time [h]."""
    texts = []
    for hour in clock_h:
        w = copy.deepcopy(wn)
        w.options.time.duration = 0
        w.options.time.start_clocktime = int(hour * 3600) % 86400
        # EPANET plays patterns from the pattern start, not the clock time
        w.options.time.pattern_start = int(hour * 3600)
        with tempfile.TemporaryDirectory(prefix="twin-sens-") as tmp:
            path = Path(tmp) / "snap.inp"
            # in L/s and m, whatever the network's own units: the toolkit's emitter
            # coefficients and pressures are then in the units the sensitivity is kept in
            wntr.network.io.write_inpfile(w, str(path), units="LPS")
            texts.append(path.read_text())
    return texts


def network_hash(inp_texts: Sequence[str], *parts) -> str:
    """SHA-256 (16 hex digits) of the network texts (comment lines left out) and ``parts``."""
    h = hashlib.sha256()
    for text in inp_texts:
        for line in text.splitlines():
            if not line.lstrip().startswith(";"):
                h.update(line.encode())
    h.update(repr(parts).encode())
    return h.hexdigest()[:16]


def sensitivity_batch(
    inp_texts: Sequence[str],
    junctions: Sequence[str],
    loggers: Sequence[str],
    links: Sequence[str],
    emitter_lps: float = STANDARD_EMITTER_LPS,
    leak_l_s: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pressure and flow change per L/s of leak, for a batch of candidate junctions.

    Runs in any process (a Dask worker): it writes its own temporary files. With
    ``leak_l_s`` [L/s] each junction's emitter is sized to draw about that flow at its
    pressure before the leak (the change of a leak of that size, not of the small standard
    one: head losses grow with the square of the flow).

    Returns
    -------
    dp : ndarray
        junction × logger: pressure change per leak flow [m per L/s], mean over snapshots.
    dq : ndarray
        junction × link: flow change per leak flow [L/s per L/s].
    leak : ndarray
        junction: flow of the standard leak [L/s], mean over snapshots; 0 where the junction
        has no pressure (no leak can flow there).
    """
    from twin.water.hydraulics import open_epanet

    dp = np.zeros((len(junctions), len(loggers)))
    dq = np.zeros((len(junctions), len(links)))
    flow = np.zeros(len(junctions))
    with tempfile.TemporaryDirectory(prefix="twin-sens-") as tmp:
        for k, text in enumerate(inp_texts):
            base = Path(tmp) / f"s{k}"
            base.with_suffix(".inp").write_text(text)
            en = open_epanet(str(base.with_suffix(".inp")), str(base.with_suffix(".rpt")),
                             str(base.with_suffix(".bin")))
            try:
                en.ENopenH()
                li = [en.ENgetnodeindex(n) for n in loggers]
                ki = [en.ENgetlinkindex(n) for n in links]

                def solve(en=en, li=li, ki=ki):
                    en.ENinitH(10)  # fresh flows: results do not depend on order
                    en.ENrunH()
                    return (np.array([en.ENgetnodevalue(i, _EN_PRESSURE) for i in li]),
                            np.array([en.ENgetlinkvalue(i, _EN_FLOW) for i in ki]))

                p0, q0 = solve()
                # every candidate's pressure without a leak (sizing the emitters)
                p_of = {i: en.ENgetnodevalue(i, _EN_PRESSURE) for i in (
                    en.ENgetnodeindex(j) for j in junctions)} if leak_l_s is not None else {}
                for r, j in enumerate(junctions):
                    ji = en.ENgetnodeindex(j)
                    coef = emitter_lps
                    if leak_l_s is not None:
                        p_before = p_of[ji]
                        coef = leak_l_s / np.sqrt(max(p_before, 1.0))
                    en.ENsetnodevalue(ji, _EN_EMITTER, coef)
                    p1, q1 = solve()
                    pj = max(en.ENgetnodevalue(ji, _EN_PRESSURE), 0.0)
                    en.ENsetnodevalue(ji, _EN_EMITTER, 0.0)
                    leak = coef * np.sqrt(pj)
                    flow[r] += leak / len(inp_texts)
                    if leak > 1e-9:
                        dp[r] += (p1 - p0) / leak / len(inp_texts)
                        dq[r] += (q1 - q0) / leak / len(inp_texts)
                en.ENcloseH()
            finally:
                en.ENclose()
    return dp, dq, flow


def leak_sensitivity(
    wn: wntr.network.WaterNetworkModel,
    loggers: Sequence[str],
    meters: pd.DataFrame,
    dmas: pd.Series,
    junctions: Sequence[str] | None = None,
    client=None,
    batch_size: int = BATCH_SIZE,
    cache_dir: str | Path | None = CACHE_DIR,
    progress=None,
) -> xr.Dataset:
    """Sensitivity of the sensors to a leak at each candidate junction, cached by network.

    Parameters
    ----------
    loggers : sequence of str
        Junctions with a pressure logger.
    meters : DataFrame
        Boundary meters: ``meter_id``, ``link``, ``from_zone``, ``to_zone``.
    dmas : Series
        DMA of each node.
    junctions : sequence of str, optional
        Candidates; default every junction of ``wn``.
    client : distributed.Client, optional
        Spread batches of ``batch_size`` junctions over its workers; default: this process.
    cache_dir : path, optional
        Folder of cached matrices (``<hash>.nc``); ``None`` disables the cache.
    progress : callable, optional
        ``progress(junctions_done, junctions_total)``.

    Returns
    -------
    Dataset
        ``junction × sensor``: ``sensitivity`` [m or L/s per L/s of leak];
        ``standard_leak_l_s (junction)`` [L/s]; coords ``kind``
        (``pressure``, ``flow``, ``consumption``) per sensor and ``dma`` per junction.
    """
    junctions = list(junctions) if junctions is not None else list(wn.junction_name_list)
    unknown = sorted(set(junctions) - set(wn.junction_name_list))
    if unknown:
        raise LeakLocationError(f"candidate junctions not in the network: {unknown[:5]}")
    missing = sorted(set(loggers) - set(wn.node_name_list))
    if missing:
        raise LeakLocationError(f"pressure loggers at nodes not in the network: {missing[:5]}")
    texts = snapshot_inp_texts(wn)
    links = meters.link.astype(str).to_list()
    key = network_hash(texts, sorted(junctions), list(loggers), links, STANDARD_EMITTER_LPS,
                       CACHE_FORMAT)
    path = Path(cache_dir) / f"{key}.nc" if cache_dir is not None else None
    if path is not None and path.exists():
        return xr.load_dataset(path)
    parts = [junctions[i:i + batch_size] for i in range(0, len(junctions), batch_size)]
    if client is None:
        results = []
        for part in parts:
            results.append(sensitivity_batch(texts, part, loggers, links))
            if progress:
                progress(sum(len(p) for p in parts[:len(results)]), len(junctions))
    else:
        from distributed import as_completed

        texts_f = client.scatter(texts, broadcast=True)
        futures = [client.submit(sensitivity_batch, texts_f, part, list(loggers), links,
                                 pure=False) for part in parts]
        order = {f.key: i for i, f in enumerate(futures)}
        results = [None] * len(parts)
        done = 0
        for fut in as_completed(futures):
            results[order[fut.key]] = fut.result()
            done += len(parts[order[fut.key]])
            if progress:
                progress(done, len(junctions))
    dp = np.vstack([r[0] for r in results])
    dq = np.vstack([r[1] for r in results])
    flow = np.concatenate([r[2] for r in results])
    ds = sensitivity_dataset(junctions, loggers, meters, dmas, dp, dq, flow)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{uuid.uuid4().hex}.tmp")
        ds.to_netcdf(tmp)
        tmp.replace(path)
    return ds


def sensitivity_dataset(junctions, loggers, meters, dmas, dp, dq, leak_l_s) -> xr.Dataset:
    """Assemble the sensitivity matrix: pressures, meter flows and DMA consumption.

    ``leak_l_s`` is the standard leak's flow at each junction [L/s]; where it is zero (no
    pressure) the junction's row is all zero.
    """
    zones = sorted(z for z in set(meters.from_zone) | set(meters.to_zone) if z.startswith("DMA"))
    dma_of = [str(dmas.get(j, "")) for j in junctions]
    dc = np.array([[1.0 if d == z and q > 0 else 0.0 for z in zones]
                   for d, q in zip(dma_of, leak_l_s, strict=True)])
    sensors = ([f"P {n}" for n in loggers] + [f"Q {m}" for m in meters.meter_id]
               + [f"C {z}" for z in zones])
    kind = ["pressure"] * len(loggers) + ["flow"] * len(meters) + ["consumption"] * len(zones)
    return xr.Dataset(
        {"sensitivity": (("junction", "sensor"), np.hstack([dp, dq, dc.reshape(len(junctions),
                                                                                -1)]),
                         {"units": "m or L/s per L/s of leak"}),
         "standard_leak_l_s": ("junction", np.asarray(leak_l_s, dtype=float),
                               {"units": "L/s"})},
        coords={"junction": np.asarray(junctions, dtype=str),
                "sensor": np.asarray(sensors, dtype=str),
                "kind": ("sensor", np.asarray(kind, dtype=str)),
                "dma": ("junction", np.asarray(dma_of, dtype=str))},
    )


def candidate_junctions(wn: wntr.network.WaterNetworkModel, dmas: pd.Series,
                        meters: pd.DataFrame, dma: str, boundary: bool = True) -> list[str]:
    """Junctions a leak seen by ``dma``'s balance may be at: the DMA's own, and with
    ``boundary`` the far ends of its metered boundary links (a leak on a pipe that leaves
    the DMA is counted by its meters too, depending on where the meter sits)."""
    own = [j for j in wn.junction_name_list if str(dmas.get(j, "")) == dma]
    if not boundary:
        return own
    mine = meters[(meters.from_zone == dma) | (meters.to_zone == dma)].link.astype(str)
    juncs = set(wn.junction_name_list)
    ends = []
    for name in mine:
        link = wn.get_link(name)
        for n in (link.start_node_name, link.end_node_name):
            if n in juncs and str(dmas.get(n, "")) != dma and n not in ends:
                ends.append(n)
    return own + ends


def nearest_logger_m(node_xy: pd.DataFrame, junctions: Sequence[str],
                     loggers: Sequence[str]) -> np.ndarray:
    """Straight-line distance from each junction to its nearest logger [m] (its median is
    the loggers' spacing, what a location radius is measured against)."""
    a = node_xy.loc[list(junctions), ["x_m", "y_m"]].to_numpy(dtype=float)
    b = node_xy.loc[list(loggers), ["x_m", "y_m"]].to_numpy(dtype=float)
    out = np.full(len(a), np.inf)
    for k in range(0, len(a), 256):
        d = np.hypot(a[k:k + 256, None, 0] - b[None, :, 0], a[k:k + 256, None, 1] - b[None, :, 1])
        out[k:k + 256] = d.min(axis=1)
    return out


def near_largest_drop(dp_m: pd.Series, candidates: Sequence[str], area_loggers: Sequence[str],
                      node_xy: pd.DataFrame, radius_m: float) -> list[str]:
    """The candidates within ``radius_m`` [m] of the area's logger whose pressure fell most
    against the median change of all loggers (where LILA places a leak); all candidates
    when no area logger has a change or none lies that near."""
    lg = [n for n in area_loggers if n in dp_m.index and np.isfinite(dp_m[n])]
    if not lg or not radius_m > 0:
        return list(candidates)
    best = (dp_m[lg] - dp_m.median()).idxmin()
    d = np.hypot(node_xy.loc[list(candidates), "x_m"] - node_xy.loc[best, "x_m"],
                 node_xy.loc[list(candidates), "y_m"] - node_xy.loc[best, "y_m"])
    near = [c for c, dist in zip(candidates, d, strict=True) if dist <= radius_m]
    return near or list(candidates)


def narrowing_kept(dp_m: pd.Series, sigma_m: pd.Series, leak_l_s: float, sens: xr.Dataset,
                   candidates: Sequence[str], narrowed: Sequence[str], node_xy: pd.DataFrame,
                   min_posterior: float, **rank_options) -> tuple[list[str], float]:
    """The narrowed candidates, unless the loggers all but rule them out.

    Narrowing to the logger that fell most (:func:`near_largest_drop`) is a prior drawn from
    one logger's change. Over every candidate junction the signature gives each a posterior
    probability (:func:`rank_locations`, :func:`position_posterior`); when the narrowed
    junctions hold less than ``min_posterior`` of it together, the loggers reject that prior
    at that level and all the candidates are ranked instead.

    Parameters
    ----------
    dp_m, sigma_m, leak_l_s, sens, node_xy, rank_options
        As :func:`rank_locations` (the signature [m], the loggers' noise [m], the leak
        flow's prior [L/s], the sensitivities, the nodes' positions [m], its options).
    candidates : sequence of str
        Every junction the leak may be at (:func:`candidate_junctions`).
    narrowed : sequence of str
        Those near the logger that fell most.
    min_posterior : float
        Least posterior probability the narrowed junctions must hold [-]; 0 keeps them
        always.

    Returns
    -------
    (list of str, float)
        The candidates to rank, and the narrowed junctions' posterior probability over all
        the candidates [-] (1 when nothing was narrowed or the check is off).

    Raises
    ------
    LeakLocationError
        As :func:`rank_locations`, when no logger has a change or no candidate can leak.
    """
    narrowed = list(narrowed)
    if not min_posterior > 0 or set(candidates) <= set(narrowed):
        return narrowed, 1.0
    ranked = rank_locations(dp_m, sigma_m, leak_l_s, sens, candidates, node_xy, None,
                            len(candidates), **rank_options)
    share = float(ranked.probability[ranked.element.isin(set(narrowed))].sum())
    return (narrowed if share >= min_posterior else list(candidates)), share


def baseline_share(coef: pd.DataFrame, x_with: pd.Series, x_without: pd.Series,
                   leak_l_s: float) -> pd.Series:
    """What a residual baseline that regresses on measured flows takes out of a leak's
    pressure change, per L/s of leak [m per L/s].

    A leak adds its flow to the measured inflows the baseline's regressors are made of
    (head-loss terms of the DMA's and the system's flow): the baseline then "expects" part
    of the leak's pressure drop, ``coef @ (x_with − x_without)``, and the residual keeps
    only the rest.

    Parameters
    ----------
    coef : DataFrame
        logger × regressor coefficients of the pressure baseline.
    x_with, x_without : Series
        The regressors at the window's flows with and without the leak's flow.
    leak_l_s : float
        The leak flow [L/s].
    """
    if not leak_l_s > 0:
        return pd.Series(0.0, index=coef.index)
    dx = (x_with - x_without).reindex(coef.columns).fillna(0.0)
    return (coef @ dx) / leak_l_s


def pipe_table(wn: wntr.network.WaterNetworkModel) -> pd.DataFrame:
    """Pipes with their end nodes: index pipe name; ``start``, ``end``."""
    rows = [(n, p.start_node_name, p.end_node_name) for n, p in wn.pipes()]
    return pd.DataFrame(rows, columns=["pipe", "start", "end"]).set_index("pipe")


def pressure_change(residual_m: pd.DataFrame, change_utc, stop_utc, first_utc=None,
                    window_h: int = 24) -> pd.Series:
    """Change of each logger's corrected pressure residual at a leak's start [m] (of any
    residual's columns, in their units).

    Median over [change, stop] minus the median over the ``window_h`` hours before the
    change (not before ``first_utc``, the end of the previous event's rebase, so that an
    earlier leak's change is not counted again).
    """
    t = residual_m.index
    lo = change_utc - pd.Timedelta(hours=window_h)
    if first_utc is not None:
        lo = max(lo, first_utc)
    before = residual_m[(t >= lo) & (t < change_utc)]
    after = residual_m[(t >= change_utc) & (t <= stop_utc)]
    if before.empty or after.empty:
        return pd.Series(np.nan, index=residual_m.columns)
    return after.median() - before.median()


def leak_signature(residual_m: pd.DataFrame, leak_flow_l_s: pd.Series, lo_utc, hi_utc,
                   smooth_h: int = SIGNATURE_SMOOTH_H) -> pd.Series:
    """Each logger's pressure change per L/s of an area's leak flow, regressed over a window
    [m per L/s].

    Over the hours in [``lo_utc``, ``hi_utc``], the centred ``smooth_h``-hour means of each
    logger's residual and of the area's leak flow (its consumption residual) are taken (a
    whole day: what is left of the daily cycle in either cancels), and the least-squares
    slope of the one on the other is returned. Unlike the step of medians before and after
    a change (:func:`pressure_change`) it uses the whole course of a leak that grows: an
    incipient leak's pressure falls as its flow rises, hour by hour, and every hour of the
    rise counts, not only its level at the end. A leak present all through the window,
    or one that only started before it, is in the constant, not in the slope: the window
    is what makes the signature differential.

    Parameters
    ----------
    residual_m : DataFrame
        hour × logger: corrected pressure residuals [m].
    leak_flow_l_s : Series
        hour: the area's consumption residual [L/s].
    lo_utc, hi_utc : Timestamp
        The window, both ends included; the running means at its ends take in up to
        ``smooth_h // 2`` hours beyond them, so the signature is known that long after
        ``hi_utc``'s hour is measured.
    smooth_h : int
        Hours of the centred running mean [h]; 1 or less for none.

    Returns
    -------
    Series
        Per logger [m per L/s]; NaN where fewer than 6 hours of the window have a whole
        day's mean (an hour whose day holds a gap has none) or the leak flow does not vary
        over it.
    """
    t = residual_m.index
    sel = (t >= lo_utc) & (t <= hi_utc)
    # the means at the window's ends take in the half day beyond them
    pad = pd.Timedelta(hours=smooth_h // 2 if smooth_h > 1 else 0)
    near = (t >= lo_utc - pad) & (t <= hi_utc + pad)
    x = leak_flow_l_s.reindex(t)[near]
    y = residual_m[near]
    if smooth_h > 1:
        # a whole day or nothing: a mean over part of a day keeps part of its cycle
        x = x.rolling(smooth_h, center=True, min_periods=smooth_h).mean()
        y = y.rolling(smooth_h, center=True, min_periods=smooth_h).mean()
    x, y = x[sel[near]], y[sel[near]]
    xv = x.to_numpy(dtype=float)[:, None]
    yv = y.to_numpy(dtype=float)
    ok = np.isfinite(xv) & np.isfinite(yv)
    n = ok.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = np.where(ok, xv, 0.0).sum(axis=0) / n
        ym = np.where(ok, yv, 0.0).sum(axis=0) / n
        dx = np.where(ok, xv - xm, 0.0)
        sxx = (dx * dx).sum(axis=0)
        slope = (dx * np.where(ok, yv - ym, 0.0)).sum(axis=0) / sxx
    slope[(n < 6) | ~(sxx > 1e-12)] = np.nan
    return pd.Series(slope, index=residual_m.columns)


def step_course(times: pd.DatetimeIndex, change_utc, leak_l_s: float) -> pd.Series:
    """A leak flow that steps from 0 to ``leak_l_s`` at ``change_utc`` [L/s], at ``times``:
    a course for :func:`leak_signature` to regress on in place of the DMA's consumption
    residual (the leak workflow's default, growing leaks too), so that what else moves that
    residual over the window (its demand's day-to-day noise, another leak still growing)
    does not enter the signature."""
    return pd.Series(np.where(times >= change_utc, float(leak_l_s), 0.0), index=times)


def rank_locations(
    dp_m: pd.Series,
    sigma_m: pd.Series,
    leak_l_s: float,
    sens: xr.Dataset,
    candidates: Sequence[str],
    node_xy: pd.DataFrame,
    pipes: pd.DataFrame | None = None,
    top: int = 5,
    leak_rel_sd: float = 0.3,
    pipe_points: Sequence[float] = (0.25, 0.5, 0.75),
    common_mode: bool = True,
    metric: str = "misfit",
    regressed_m: pd.Series | None = None,
    noise_cov: pd.DataFrame | None = None,
    search_radius_m: float = 0.0,
    flow: FlowSignature | None = None,
) -> pd.DataFrame:
    """Rank leak positions by how well a leak there explains the loggers' pressure change
    and, with ``flow``, the boundary meters' flow change.

    Each candidate position has a sensitivity vector s (m per L/s at every logger): a
    junction's column of ``sens``, or, on a pipe between two candidate junctions, the
    linear blend ``(1−a)·s_start + a·s_end`` at the fractions ``pipe_points`` (the refined
    search, with positions along the pipe). The leak flow q is fitted to the pressure change
    Δp (weights 1/σ) with the flow step of the DMA's consumption as a prior
    (``leak_l_s``, standard deviation ``leak_rel_sd``·q): ``q = (sᵀΔp/σ² + q0/σq²) /
    (sᵀs/σ² + 1/σq²)``; the misfit is ``|Δp − q s|²/σ² + (q − q0)²/σq²``. With
    ``common_mode`` (default) Δp and every s are taken as departures from their median over
    the loggers: a change all loggers see alike (head lost in the mains that feed them all,
    demand noise) says nothing of where the leak is.

    Parameters
    ----------
    dp_m, sigma_m : Series
        Pressure change and its noise per logger junction [m].
    leak_l_s : float
        Leak size from the DMA's consumption step [L/s].
    candidates : sequence of str
        Junctions the leak may be at (the alarming DMA's).
    node_xy : DataFrame
        ``x_m``, ``y_m`` of the nodes [m].
    pipes : DataFrame, optional
        :func:`pipe_table`; without it only junctions are ranked.
    regressed_m : Series, optional
        Per logger, the pressure per L/s of leak that the residuals' baseline takes out
        with the flows it regresses on (:func:`baseline_share`) [m per L/s]; it is taken
        out of every position's change the same way.
    metric : str
        ``"misfit"`` (default) ranks by the misfit above; ``"correlation"`` by ``1 − cos``
        of the angle between the weighted change and each position's weighted sensitivity
        (the ``misfit`` column then holds it), so that the size of the change does not
        matter, only its shape over the loggers.
    noise_cov : DataFrame, optional
        logger × logger covariance of the loggers' residual noise, common mode out
        (:func:`noise_covariance`) [m²]; when it covers every logger, the change and the
        sensitivities are whitened by it (generalised least squares) instead of weighted by
        ``1/σ``: a pattern the loggers share in leak-free hours (a pump or tank the model
        runs otherwise than the network) then counts as noise, not as a leak's shape.
    search_radius_m : float
        When positive, rank by the posterior probability that the leak lies within this
        distance of the position (:func:`probability_within`), not by the misfit: best
        first is where a crew sweeping that radius is most likely to find the leak [m].
    flow : FlowSignature, optional
        The boundary meters' change: appended to the loggers' (whitened by its noise
        covariance plus the model's error, ``model_error`` times the leak flow times each
        meter's root-mean-square sensitivity over the positions, and at least
        :data:`FLOW_NOISE_FLOOR` of the leak flow), each position's flow sensitivities
        less the baseline's share (``regressed``). No common mode is taken out of flows.

    Returns
    -------
    DataFrame
        ``top`` rows, best first: ``rank``, ``element`` (junction or pipe), ``kind``,
        ``at`` (fraction along the pipe, 0 for a junction), ``x_m``, ``y_m`` [m],
        ``leak_l_s`` [L/s], ``misfit`` [-], ``distance_m`` from the best [m],
        ``probability`` [-] (:func:`position_posterior`, over every position ranked),
        ``probability_within`` [-] (of the leak within ``search_radius_m`` of the
        position; its ``probability`` when the radius is 0).
        ``attrs["posterior"]``: the position nearest the posterior mean over every
        position (:func:`posterior_point`): ``element``, ``kind``, ``at``, ``x_m``,
        ``y_m`` [m], ``leak_l_s`` [L/s], and ``effective_positions`` [-] (1/Σp²: how
        many positions fit alike).

    Raises
    ------
    LeakLocationError
        When no logger has a pressure change or no candidate junction can leak.
    """
    if metric not in ("misfit", "correlation"):
        raise LeakLocationError(f"unknown ranking metric {metric!r}: give 'misfit' or "
                                "'correlation'")
    loggers = [n for n in dp_m.index if np.isfinite(dp_m[n]) and np.isfinite(
        sigma_m.get(n, np.nan)) and f"P {n}" in set(sens.sensor.values)]
    if not loggers:
        raise LeakLocationError("no pressure logger has a residual change to locate the leak "
                                "from (loggers missing or flagged over the change)")
    flows = sens["standard_leak_l_s"].to_series()
    cand = [j for j in candidates if j in flows.index and flows[j] > 0]
    if not cand:
        raise LeakLocationError("no candidate junction in the alarming area can leak (no "
                                "pressure at any of them)")
    S = sens["sensitivity"].sel(junction=cand, sensor=[f"P {n}" for n in loggers]).to_numpy()
    if regressed_m is not None:
        S = S - regressed_m.reindex(loggers).fillna(0.0).to_numpy()[None, :]
    meters = flow.meters(sens.sensor.values) if flow is not None else []
    if meters:
        S_f = sens["sensitivity"].sel(junction=cand, sensor=[f"Q {m}" for m in meters])
        S = np.hstack([S, S_f.to_numpy() - flow.regressed.reindex(meters).fillna(
            0.0).to_numpy()[None, :]])
    xy = node_xy.loc[cand, ["x_m", "y_m"]].to_numpy(dtype=float)
    elem, kind, at = list(cand), ["junction"] * len(cand), [0.0] * len(cand)
    vecs, pts = [S], [xy]
    if pipes is not None and len(pipe_points):
        pos = {j: i for i, j in enumerate(cand)}
        inner = pipes[pipes.start.isin(pos) & pipes.end.isin(pos)]
        if len(inner):
            ia = inner.start.map(pos).to_numpy()
            ib = inner.end.map(pos).to_numpy()
            for a in pipe_points:
                vecs.append((1 - a) * S[ia] + a * S[ib])
                pts.append((1 - a) * xy[ia] + a * xy[ib])
                elem += list(inner.index)
                kind += ["pipe"] * len(inner)
                at += [float(a)] * len(inner)
    S_all, P_all = np.vstack(vecs), np.vstack(pts)
    S_all, S_flow = S_all[:, :len(loggers)], S_all[:, len(loggers):]
    if common_mode and len(loggers) > 2:
        # what every logger sees alike (the head lost in the mains feeding them all) tells
        # nothing of where: compare the loggers' departures from their median
        S_all = S_all - np.median(S_all, axis=1, keepdims=True)
        dpv = dp_m[loggers].to_numpy(dtype=float)
        dpv = dpv - np.median(dpv)
    else:
        dpv = dp_m[loggers].to_numpy(dtype=float)
    cov = None
    if noise_cov is not None and set(loggers) <= set(noise_cov.index):
        cov = noise_cov.loc[loggers, loggers].to_numpy(dtype=float)
        cov = cov if np.isfinite(cov).all() else None
    d, Sw = whiten(dpv, S_all, sigma_m[loggers].to_numpy(dtype=float), cov)
    if meters:
        d_f, Sw_f = whiten_flows(flow, meters, S_flow, leak_l_s)
        d, Sw = np.r_[d, d_f], np.hstack([Sw, Sw_f])
    q0 = max(float(leak_l_s), 0.0)
    sq = max(leak_rel_sd * q0, 0.1)
    q = np.clip((Sw @ d + q0 / sq**2) / ((Sw * Sw).sum(axis=1) + 1 / sq**2), 0.0, None)
    misfit = ((d[None, :] - q[:, None] * Sw) ** 2).sum(axis=1) + ((q - q0) / sq) ** 2
    if metric == "correlation":
        # pressure-residual correlation: the angle between the observed change and each
        # position's signature, blind to the model's errors of magnitude (q is still
        # fitted, as the leak's size at that position)
        norm = np.linalg.norm(Sw, axis=1) * max(np.linalg.norm(d), 1e-12)
        misfit = 1.0 - np.where(norm > 0, Sw @ d / np.where(norm > 0, norm, 1.0), 0.0)
    # the misfit as a chi-square in noise units (the correlation's angle with q ≥ 0 fitted
    # freely): what the posterior over the positions is weighed by
    chi2 = misfit if metric == "misfit" else float(d @ d) * (
        1.0 - np.clip(1.0 - misfit, 0.0, None) ** 2)
    prob = position_posterior(chi2, len(loggers) + len(meters))
    within = probability_within(P_all, prob, search_radius_m) if search_radius_m > 0 else prob
    order = np.argsort(-within if search_radius_m > 0 else misfit, kind="stable")[:top]
    best = P_all[order[0]]
    out = pd.DataFrame({
        "rank": np.arange(1, len(order) + 1),
        "element": np.asarray(elem, dtype=object)[order],
        "kind": np.asarray(kind, dtype=object)[order],
        "at": np.asarray(at)[order],
        "x_m": P_all[order, 0], "y_m": P_all[order, 1],
        "leak_l_s": q[order], "misfit": misfit[order],
        "distance_m": np.hypot(*(P_all[order] - best).T),
        "probability": prob[order],
        "probability_within": within[order],
    })
    k = posterior_point(P_all, prob)
    out.attrs["posterior"] = {"element": elem[k], "kind": kind[k], "at": float(at[k]),
                              "x_m": float(P_all[k, 0]), "y_m": float(P_all[k, 1]),
                              "leak_l_s": float(q[k]),
                              "effective_positions": float(1.0 / (prob * prob).sum())}
    return out


def position_posterior(chi2: np.ndarray, n_loggers: int) -> np.ndarray:
    """Posterior probability of each leak position from its misfit [-].

    Every position equally likely beforehand, the loggers' whitened noise Gaussian:
    ``p ∝ exp(−χ²/(2φ))``. The noise model is checked against the best fit: where its χ² is
    above its degrees of freedom (loggers less the common mode and the fitted flow), the
    model's error is larger than the loggers' noise and the scale φ is that ratio (Birge's
    ratio), so that a fit no better than its error does not single out one position.

    Parameters
    ----------
    chi2 : ndarray
        Position: misfit in noise units (a chi-square) [-].
    n_loggers : int
        Loggers fitted [-].

    Returns
    -------
    ndarray
        Position: probabilities summing to 1 [-].
    """
    chi2 = np.asarray(chi2, dtype=float)
    lo = float(np.min(chi2))
    phi = max(1.0, lo / max(n_loggers - 2, 1))
    w = np.exp(-(chi2 - lo) / (2.0 * phi))
    return w / w.sum()


def probability_within(xy: np.ndarray, prob: np.ndarray, radius_m: float) -> np.ndarray:
    """Posterior probability that the leak lies within ``radius_m`` of each position [-].

    The position that maximises it is the Bayes decision for a search of that radius: where
    the signature leaves several places about as likely, the best single fit may stand
    alone while a cluster of positions that each fit a little worse holds more of the
    probability together. The pairs within the radius come from a k-d tree: 30,000
    positions (a large DMA's junctions and points along its pipes) take 0.5 s where
    comparing every pair took 23 s.

    Parameters
    ----------
    xy : ndarray
        Position × 2: coordinates [m].
    prob : ndarray
        Position: posterior probabilities (:func:`position_posterior`) [-].
    radius_m : float
        Search radius [m].

    Returns
    -------
    ndarray
        Position: probability within ``radius_m`` [-], the position's own included.
    """
    xy = np.asarray(xy, dtype=float)
    prob = np.asarray(prob, dtype=float)
    n = len(xy)
    pairs = cKDTree(xy).query_pairs(radius_m, output_type="ndarray")  # i < j, d <= r
    own = np.arange(n)
    near = sparse.csr_matrix((np.ones(2 * len(pairs) + n), (
        np.r_[pairs[:, 0], pairs[:, 1], own], np.r_[pairs[:, 1], pairs[:, 0], own])),
        shape=(n, n))
    # each row summed in the positions' order: positions whose circles hold the same
    # positions get the very same sum, and tie (the first listed then goes first)
    near.sort_indices()
    return near @ prob


def posterior_point(xy: np.ndarray, prob: np.ndarray) -> int:
    """Index of the position nearest the posterior mean of ``xy`` (position × 2) [m] with
    probabilities ``prob``: the point of the network where the leak's expected place is,
    rather than the single most likely position when several fit about as well.

    Not the leak workflow's position (:func:`twin.water.leaks.detect_and_locate` keeps the
    best fit): on ``benchmarks/bench_leaks.py`` it moved CTOWN seeds 0-2 from 185 to 108 m
    (found 11/24 both) but seeds 5-7 from 9 to 8/24 and 290 to 336 m, where the best fit
    was right and the mean drew it toward the middle of the narrowed candidates."""
    xy = np.asarray(xy, dtype=float)
    mean = np.asarray(prob, dtype=float) @ xy
    return int(np.argmin(np.hypot(*(xy - mean).T)))


def whiten(change: np.ndarray, sens: np.ndarray, sigma: np.ndarray,
           cov: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A change (logger) and sensitivities (position × logger) in units of the loggers'
    noise: divided by each logger's ``sigma`` [m], or, with ``cov`` (logger × logger
    [m²]), multiplied by the inverse of its Cholesky factor, so that noise of that
    covariance becomes independent and of unit variance in every direction."""
    if cov is not None:
        floor = np.diag(np.maximum(np.diag(cov), 1e-4))
        chol = np.linalg.cholesky(cov + 1e-9 * floor)
        return (np.linalg.solve(chol, change), np.linalg.solve(chol, sens.T).T)
    w = 1.0 / np.maximum(sigma, 0.01)
    return change * w, sens * w


def whiten_flows(flow: FlowSignature, meters: list[str], sens_flow: np.ndarray,
                 leak_l_s: float) -> tuple[np.ndarray, np.ndarray]:
    """The meters' change and the positions' flow sensitivities (position × meter, less the
    baseline's share) in units of their error: the change's noise on leak-free days
    (``flow.noise_cov``) plus the model's, ``flow.model_error`` times the leak flow
    ``leak_l_s`` [L/s] times each meter's root-mean-square sensitivity over the positions,
    and at least :data:`FLOW_NOISE_FLOOR` of the leak flow (:func:`whiten`)."""
    q = max(float(leak_l_s), 0.1)
    model_sd = flow.model_error * q * np.sqrt((sens_flow ** 2).mean(axis=0))
    cov = flow.noise_cov.loc[meters, meters].to_numpy(dtype=float) + np.diag(
        model_sd ** 2 + (FLOW_NOISE_FLOOR * q) ** 2)
    return whiten(flow.change_l_s[meters].to_numpy(dtype=float), sens_flow, np.ones(
        len(meters)), cov)


def logger_noise_m(residual_m: pd.DataFrame, mask: np.ndarray) -> pd.Series:
    """Each logger's noise as location sees it: the robust standard deviation (1.4826 times
    the median absolute deviation) of its departures from the median over the loggers, on
    the rows of ``mask`` (the leak-free ones) [m].

    Parameters
    ----------
    residual_m : DataFrame
        time × logger: corrected pressure residuals [m].
    mask : ndarray of bool
        The rows to learn the noise on.
    """
    cm = residual_m.sub(residual_m.median(axis=1), axis=0)[np.asarray(mask, dtype=bool)]
    return 1.4826 * (cm - cm.median()).abs().median()


def noise_covariance(residual_m: pd.DataFrame, rows_per_sample: float = 1.0,
                     common_mode: bool = True) -> pd.DataFrame:
    """Covariance of the loggers' leak-free residuals with the correlations shrunk toward
    none, by the amount the data support (Schäfer and Strimmer 2005, target D) [m²].

    With ``common_mode`` each row's median over the loggers is taken out first (the common
    mode location leaves aside, :func:`rank_locations`); without it (boundary flows, in
    their units) the series are taken as they are. Rows with a gap are left out.

    Parameters
    ----------
    residual_m : DataFrame
        time × logger: corrected pressure residuals of a leak-free period [m].
    rows_per_sample : float
        Rows that make one independent sample [-]: running means over ``k`` rows hold
        ``n / k`` samples' worth of information, and the correlations are shrunk as from
        that many.

    Returns
    -------
    DataFrame
        logger × logger; NaN when fewer than 3 whole rows, or, with ``common_mode``,
        fewer than 3 loggers.

    References
    ----------
    Schäfer, J. and Strimmer, K. (2005). A shrinkage approach to large-scale covariance
    matrix estimation and implications for functional genomics. Statistical Applications
    in Genetics and Molecular Biology 4(1), art. 32.
    """
    cols = list(residual_m.columns)
    x = residual_m.to_numpy(dtype=float)
    x = x[np.isfinite(x).all(axis=1)]
    n, p = x.shape
    if n < 3 or p < (3 if common_mode else 1):
        return pd.DataFrame(np.nan, index=cols, columns=cols)
    if common_mode:
        x = x - np.median(x, axis=1, keepdims=True)
    x = x - x.mean(axis=0)
    sd = np.sqrt((x * x).sum(axis=0) / (n - 1))
    sd = np.maximum(sd, 1e-6)
    z = x / sd
    r = z.T @ z / (n - 1)
    # variance of each sample correlation, from the spread of its products
    w = z[:, :, None] * z[:, None, :]
    var_r = n / (n - 1) ** 3 * ((w - w.mean(axis=0)) ** 2).sum(axis=0)
    var_r = var_r * max(rows_per_sample, 1.0)
    off = ~np.eye(p, dtype=bool)
    lam = float(np.clip(var_r[off].sum() / max((r[off] ** 2).sum(), 1e-12), 0.0, 1.0))
    shrunk = np.where(off, (1 - lam) * r, 1.0)
    cov = shrunk * sd[:, None] * sd[None, :]
    out = pd.DataFrame(cov, index=cols, columns=cols)
    out.attrs["shrinkage"] = lam
    return out


def signature_noise_covariance(residual_m: pd.DataFrame, mask: np.ndarray,
                               smooth_h: int = SIGNATURE_SMOOTH_H,
                               common_mode: bool = True) -> pd.DataFrame:
    """The noise covariance of a signature's loggers (:func:`leak_signature`), learned on
    leak-free hours [m²].

    The ``smooth_h``-hour running means of the residuals (what the signature regresses)
    at the hours of ``mask`` go to :func:`noise_covariance`, as ``smooth_h`` rows a sample.

    Parameters
    ----------
    residual_m : DataFrame
        hour × logger: corrected pressure residuals [m].
    mask : ndarray of bool
        The leak-free hours (the baseline's).
    common_mode : bool
        As :func:`noise_covariance` (False for boundary flows).
    """
    x = residual_m
    if smooth_h > 1:
        x = x.rolling(smooth_h, center=True, min_periods=smooth_h).mean()
    return noise_covariance(x[np.asarray(mask, dtype=bool)], max(smooth_h, 1), common_mode)


def refine_with_size(
    ranked: pd.DataFrame,
    dp_m: pd.Series,
    sigma_m: pd.Series,
    leak_l_s: float,
    inp_texts: Sequence[str],
    node_xy: pd.DataFrame,
    pipes: pd.DataFrame | None = None,
    top: int = 5,
    **rank_options,
) -> pd.DataFrame:
    """Rank again the best positions of a first ranking with the change a leak of the
    fitted size makes there (EPANET, the snapshots of :func:`snapshot_inp_texts`), not the
    standard small leak's.

    The junctions of ``ranked`` (and the two ends of its pipes) get their pressure change
    (and, with a ``flow`` option, their meters' flow change) per L/s for a leak of the best
    position's fitted flow; they and the pipes between them
    are then ranked by :func:`rank_locations` (same prior ``leak_l_s`` [L/s], same
    options).

    Returns
    -------
    DataFrame
        As :func:`rank_locations`.
    """
    juncs: list[str] = []
    for r in ranked.itertuples():
        ends = [r.element] if r.kind == "junction" else list(pipes.loc[r.element,
                                                                        ["start", "end"]])
        juncs += [j for j in ends if j not in juncs]
    loggers = [n for n in dp_m.index if np.isfinite(dp_m[n])]
    q = float(ranked.leak_l_s.iloc[0]) if len(ranked) else float(leak_l_s)
    if q <= 0:
        q = float(leak_l_s)
    fs = rank_options.get("flow")
    meters = [m for m in fs.change_l_s.index if np.isfinite(fs.change_l_s[m])] if (
        fs is not None) else []
    links = [str(fs.links[m]) for m in meters]
    dp, dq, leak = sensitivity_batch(inp_texts, juncs, loggers, links, leak_l_s=max(q, 1e-3))
    sized = xr.Dataset(
        {"sensitivity": (("junction", "sensor"), np.hstack([dp, dq])),
         "standard_leak_l_s": ("junction", leak)},
        coords={"junction": np.asarray(juncs, dtype=str),
                "sensor": np.asarray([f"P {n}" for n in loggers]
                                     + [f"Q {m}" for m in meters], dtype=str)})
    return rank_locations(dp_m, sigma_m, leak_l_s, sized, juncs, node_xy, pipes, top,
                          **rank_options)
