"""Leak location: which junction's leak best explains the change the sensors saw.

A sensitivity matrix holds, for every candidate junction, how much each logger pressure [m],
each boundary meter flow [L/s] and each DMA's consumption [L/s] changes per L/s of a leak
there. It is computed once per network (cached on disk by a hash of the network and the
settings) with EPANET snapshots: a standard emitter is opened at one junction at a time, at
a few clock times of a day, through the EPANET toolkit so the network file is parsed once per
batch. The runs are independent, so batches of junctions can be spread over Dask workers
(:func:`twin.parallel.dask_client`).

Candidates are ranked by the weighted least-squares misfit of ``Δ ≈ q · s_j`` between the
observed change Δ (residuals after minus before the alarm's change) and the column s_j of
the junction, with the leak flow q ≥ 0 fitted for each.

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
from pathlib import Path

import numpy as np
import pandas as pd
import wntr
import xarray as xr

from twin.water.leak_detection import CHANGE_WINDOW_H, robust_sigma

#: Emitter coefficient of the standard leak [L/s per m^0.5] (about 2-3 L/s at 50-100 m).
STANDARD_EMITTER_LPS = 0.3
#: Clock times of the snapshots the sensitivity is averaged over [h].
SNAPSHOT_CLOCK_H = (3, 9, 15, 21)
#: Sensor kinds used to rank candidates by default. Chosen on three 21-day builds of the
#: sample city (12 leaks): all three kinds put the best candidate within 300 m for 3 of 11
#: detected leaks, pressures and consumption alone for none.
RANK_KINDS = ("pressure", "flow", "consumption")
#: Junctions per Dask task [-].
BATCH_SIZE = 24
#: Version of the cached matrices' layout; part of the cache key.
CACHE_FORMAT = 2
#: Default cache folder of sensitivity matrices for library calls (the ``twin`` command keeps
#: them under the data directory instead).
CACHE_DIR = Path(tempfile.gettempdir()) / "citytwin-leak-sensitivity"

_EN_PRESSURE, _EN_EMITTER, _EN_FLOW = 11, 3, 8


class LeakLocationError(ValueError):
    """A location request the network cannot answer; the message names the element."""


def snapshot_inp_texts(wn: wntr.network.WaterNetworkModel,
                       clock_h: Sequence[float] = SNAPSHOT_CLOCK_H) -> list[str]:
    """EPANET input texts of single-period runs of ``wn`` at each clock time [h]."""
    texts = []
    for hour in clock_h:
        w = copy.deepcopy(wn)
        w.options.time.duration = 0
        w.options.time.start_clocktime = int(hour * 3600) % 86400
        w.options.time.pattern_start = 0
        with tempfile.TemporaryDirectory(prefix="twin-sens-") as tmp:
            path = Path(tmp) / "snap.inp"
            wntr.network.io.write_inpfile(w, str(path))
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
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pressure and flow change per L/s of leak, for a batch of candidate junctions.

    Runs in any process (a Dask worker): it writes its own temporary files.

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
    from wntr.epanet.toolkit import ENepanet

    dp = np.zeros((len(junctions), len(loggers)))
    dq = np.zeros((len(junctions), len(links)))
    flow = np.zeros(len(junctions))
    with tempfile.TemporaryDirectory(prefix="twin-sens-") as tmp:
        for k, text in enumerate(inp_texts):
            base = Path(tmp) / f"s{k}"
            base.with_suffix(".inp").write_text(text)
            en = ENepanet()
            en.ENopen(str(base.with_suffix(".inp")), str(base.with_suffix(".rpt")),
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
                for r, j in enumerate(junctions):
                    ji = en.ENgetnodeindex(j)
                    en.ENsetnodevalue(ji, _EN_EMITTER, emitter_lps)
                    p1, q1 = solve()
                    pj = max(en.ENgetnodevalue(ji, _EN_PRESSURE), 0.0)
                    en.ENsetnodevalue(ji, _EN_EMITTER, 0.0)
                    leak = emitter_lps * np.sqrt(pj)
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


def observed_change(res: xr.Dataset, change_utc: pd.Timestamp,
                    window_h: int = CHANGE_WINDOW_H) -> tuple[pd.Series, pd.Series]:
    """Change of every sensor's residual at a leak's start, and the residuals' noise.

    Mean over ``window_h`` hours from ``change_utc`` minus the mean over the ``window_h``
    hours before, at hours where the model's pumps ran as measured.

    Returns
    -------
    change, sigma : Series
        Indexed by sensor name as in :func:`sensitivity_dataset` [m or L/s].
    """
    t = pd.DatetimeIndex(res.time.values)
    c = pd.Timestamp(change_utc).tz_convert("UTC").tz_localize(None)
    ok = res["operations_match"].to_numpy() == 1 if "operations_match" in res else True
    after = ok & (t >= c) & (t < c + pd.Timedelta(hours=window_h))
    before = ok & (t < c) & (t >= c - pd.Timedelta(hours=window_h))
    change, sigma = {}, {}
    for var, dim, prefix in (("pressure_residual_m", "logger", "P"),
                             ("flow_residual_l_s", "meter", "Q"),
                             ("inflow_residual_l_s", "dma", "C")):
        for name in res[dim].values:
            x = res[var].sel({dim: name}).to_numpy()
            xs = np.where(ok, x, np.nan)
            key = f"{prefix} {name}"
            change[key] = np.nanmean(x[after]) - np.nanmean(x[before]) if (
                np.isfinite(x[after]).any() and np.isfinite(x[before]).any()) else np.nan
            sigma[key] = robust_sigma(xs)
    return pd.Series(change), pd.Series(sigma)


def rank_candidates(
    change: pd.Series,
    sigma: pd.Series,
    sens: xr.Dataset,
    node_xy: pd.DataFrame,
    top: int = 5,
    min_sigma: float = 0.01,
    kinds: Sequence[str] = RANK_KINDS,
) -> pd.DataFrame:
    """Rank candidate junctions by how well a leak there explains the observed change.

    Sensors of the ``kinds`` given are used (see :data:`RANK_KINDS`), each weighted by 1/σ
    (its residual noise, at least ``min_sigma``); for each
    junction the leak flow q = max(0, s·Δ / s·s) is fitted and the misfit ``|Δ − q s|²``
    computed.

    Returns
    -------
    DataFrame
        ``top`` rows, best first: ``junction``, ``dma``, ``leak_l_s`` (fitted) [L/s],
        ``misfit`` [-], ``distance_m`` from the best candidate [m].
    """
    kind_of = dict(zip(sens.sensor.values, sens.kind.values, strict=True))
    sensors = [s for s in sens.sensor.values if s in change.index and np.isfinite(change[s])
               and np.isfinite(sigma.get(s, np.nan)) and kind_of[s] in kinds]
    if not sensors:
        raise LeakLocationError("no sensor has a residual change to locate the leak from")
    sens = sens.isel(junction=np.flatnonzero(sens["standard_leak_l_s"].to_numpy() > 0))
    w = 1.0 / np.maximum(sigma[sensors].to_numpy(), min_sigma)
    d = change[sensors].to_numpy() * w
    s = sens["sensitivity"].sel(sensor=sensors).to_numpy() * w
    ss = np.einsum("ij,ij->i", s, s)
    q = np.clip(np.where(ss > 0, s @ d / np.where(ss > 0, ss, 1.0), 0.0), 0, None)
    misfit = ((d[None, :] - q[:, None] * s) ** 2).sum(axis=1)
    order = np.argsort(misfit)[:top]
    names = sens.junction.values[order].astype(str)
    xy = node_xy.loc[names, ["x_m", "y_m"]].to_numpy()
    return pd.DataFrame({
        "junction": names,
        "dma": sens.dma.values[order].astype(str),
        "leak_l_s": q[order],
        "misfit": misfit[order],
        "distance_m": np.hypot(*(xy - xy[0]).T),
    })


def locate_leaks(alarms: pd.DataFrame, res: xr.Dataset, sens: xr.Dataset,
                 node_xy: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    """Top candidates of every alarm (:func:`rank_candidates`), with an ``alarm`` number."""
    out = []
    for i, a in enumerate(alarms.itertuples()):
        change, sigma = observed_change(res, a.change_utc)
        ranked = rank_candidates(change, sigma, sens, node_xy, top)
        ranked.insert(0, "rank", np.arange(1, len(ranked) + 1))
        ranked.insert(0, "alarm", i)
        out.append(ranked)
    cols = ["alarm", "rank", "junction", "dma", "leak_l_s", "misfit", "distance_m"]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=cols)
