"""Quasi-static time series (QSTS): an AC power flow for every step of a year of profiles.

The admittance model is taken from pandapower itself: one ``pp.runpp`` of the net builds its
internal ``ppc`` (switches merged or opened, out-of-service elements and isolated buses dropped,
transformer taps, shunts, line charging), and :func:`run_qsts` solves every profile step on that
very model, so its answers are pandapower's answers.

Numerical core
--------------
With the topology and taps fixed, the bus admittance matrix does not change from step to step.
Its PQ block ``Y_pp`` is factorised once (sparse complex LU) and all steps of a time chunk are
solved together by the implicit Z-bus (fixed-point) iteration::

    V_pq <- Y_pp^-1 (conj(S_pq / V_pq) - Y_pr V_ref)

one multi-right-hand-side triangular solve per iteration for the whole chunk. After an update
the power mismatch is exactly ``S (V_new / V_old - 1)``, so convergence is checked at no extra
cost against the same tolerance as pandapower's Newton-Raphson. Steps the fixed point does not
settle within ``FIXED_POINT_ITERATIONS`` fall back, one by one, to a full Newton-Raphson; a step
where that fails too is flagged ``converged=False`` with NaN results -- never filled with a
neighbour's answer. The blocks of a chunk (``FIXED_POINT_BLOCK`` steps, each block warm-started
step after step) run in parallel threads; the split depends on the chunk only, so results do not
depend on the number of threads.

Transformer on-load tap changers (``tap_control``) follow pandapower's ``DiscreteTapControl``:
while a controlled bus voltage is outside its band, its transformer moves one tap step (within
``tap_min``/``tap_max``) and the step is solved again, until no tap moves; taps carry over from
step to step. The model (and its factorisation) is built once per tap combination and cached.

Profiles come either as DataFrames or as a chunked source
(:class:`twin.electric.profiles.SimbenchProfileSource`) that builds each chunk's values from
the profile types, so a city-scale year never sits in memory; results can stream to NetCDF
(``out=``), and chunks can be spread over Dask workers (``client=``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
import pandapower as pp
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import xarray as xr
from pandapower.pypower.dSbus_dV import dSbus_dV
from pandapower.pypower.idx_brch import F_BUS, T_BUS
from pandapower.pypower.idx_bus import BASE_KV, PD, QD

from twin.electric.powerflow import PowerFlowError


class QstsError(ValueError):
    """Input the QSTS engine cannot use; the message names the table, element and the fix."""

#: Profile tables understood by the engine: (element table, column, sign of the injection).
PROFILE_COLUMNS = {
    "load_p_mw": ("load", "p_mw", -1.0),
    "load_q_mvar": ("load", "q_mvar", -1.0),
    "sgen_p_mw": ("sgen", "p_mw", 1.0),
}
#: Units of every result variable, one place.
RESULT_UNITS = {
    "vm_pu": "p.u.",
    "va_degree": "degree",
    "p_mw": "MW",
    "q_mvar": "Mvar",
    "line_loading_percent": "%",
    "line_p_from_mw": "MW",
    "line_q_from_mvar": "Mvar",
    "line_pl_mw": "MW",
    "trafo_loading_percent": "%",
    "trafo_pl_mw": "MW",
    "trafo_tap_pos": "1",
    "converged": "1",
    "tap_settled": "1",
}
#: Dimension of every ``time × element`` result variable, one place.
RESULT_DIMS = {
    "vm_pu": "bus", "va_degree": "bus", "p_mw": "bus", "q_mvar": "bus",
    "line_loading_percent": "line", "line_p_from_mw": "line", "line_q_from_mvar": "line",
    "line_pl_mw": "line", "trafo_loading_percent": "trafo", "trafo_pl_mw": "trafo",
    "trafo_tap_pos": "trafo",
}
#: Power mismatch at which a step counts as solved [p.u. of ``net.sn_mva``]; pandapower's
#: default ``tolerance_mva`` is 1e-8.
TOLERANCE_PU = 1e-9
#: Fixed-point sweeps before a step is handed to Newton-Raphson.
FIXED_POINT_ITERATIONS = 60
#: Steps solved in sequence (each warm-started from the last); blocks of a chunk run in parallel.
FIXED_POINT_BLOCK = 1024
#: Control rounds per step before the taps count as hunting (pandapower's run_control max_iter).
TAP_ITERATIONS = 30
#: Steps solved at once between tap decisions when tap control is on.
TAP_BLOCK = 96
#: Result values (steps × elements) from which result kernels share rows between threads.
PARALLEL_VALUES = 200_000
#: Rows per thread task of the result kernels.
ROW_BLOCK = 256
#: Newton-Raphson iterations of the fallback.
NEWTON_ITERATIONS = 30
#: Complex values held per array and chunk when ``chunk_steps`` is not given.
CHUNK_VALUES = 1_500_000
#: Element tables whose voltage-dependent or voltage-controlling behaviour the engine does not
#: model (yet); an in-service element of these makes :func:`run_qsts` refuse the net.
UNSUPPORTED_TABLES = ("gen", "ward", "xward", "svc", "ssc", "tcsc", "vsc", "dcline")


@dataclass
class AdmittanceModel:
    """pandapower's internal model of a net, ready for many solves.

    Bus arrays are over pandapower's internal (``ppci``) buses; ``*_ppci`` arrays map net
    elements to them (-1: not supplied).
    """

    ybus: sp.csr_matrix
    yf: sp.csr_matrix
    yt: sp.csr_matrix
    base_mva: float
    ref: np.ndarray
    pq: np.ndarray
    v0: np.ndarray
    s0_pu: np.ndarray
    factors: tuple
    i_ref: np.ndarray
    bus_ppci: np.ndarray
    lines: _Branches | None
    trafos: _Branches | None
    static_p_mw: np.ndarray
    static_q_mvar: np.ndarray
    ext_grid_bus: np.ndarray
    ext_grid_ppci: np.ndarray
    shunt_bus: np.ndarray
    shunt_p_mw: np.ndarray
    shunt_q_mvar: np.ndarray
    branch_ends: np.ndarray  # (internal branch × 2) ppci buses at the from and to ends


def build_model(net: pp.pandapowerNet) -> AdmittanceModel:
    """Run pandapower once on a copy of ``net`` and keep its internal admittance model.

    Raises
    ------
    NotImplementedError
        For in-service elements the engine does not model (see ``UNSUPPORTED_TABLES``) and
        voltage-dependent loads.
    PowerFlowError
        If pandapower cannot solve the net as it stands.
    """
    for table in UNSUPPORTED_TABLES:
        if table in net and len(net[table]) and net[table]["in_service"].any():
            raise NotImplementedError(
                f"net has in-service '{table}' elements; QSTS handles ext_grid, load, sgen, "
                "storage, shunt, line, trafo, trafo3w, impedance and switch only"
            )
    vd = [c for c in net.load.columns if c.startswith("const_") and c.endswith("_percent")]
    dependent = net.load.index[net.load.in_service & (net.load[vd].fillna(0).abs().sum(axis=1) > 0)]
    if len(dependent):
        raise NotImplementedError(
            f"loads {list(dependent[:5])} are voltage dependent (const_z/const_i); QSTS models "
            "constant-power loads only"
        )
    work = copy.deepcopy(net)
    try:
        pp.runpp(work, algorithm="nr", calculate_voltage_angles=True, numba=True, init="auto",
                 max_iteration=NEWTON_ITERATIONS, tolerance_mva=1e-10)
    except pp.LoadflowNotConverged as exc:
        raise PowerFlowError(
            "the net's own power flow (its element values as set) does not converge, so QSTS "
            "has no model to start from; check islands, open switches and element values"
        ) from exc
    ppc = work._ppc
    internal = ppc["internal"]
    ybus = sp.csr_matrix(internal["Ybus"])
    n = ybus.shape[0]
    ref = np.asarray(internal["ref"], dtype=np.int64)
    pq = np.asarray(internal["pq"], dtype=np.int64)
    if len(internal["pv"]):
        raise NotImplementedError("net has voltage-controlled (PV) buses; QSTS handles PQ only")
    base_mva = float(internal["baseMVA"])
    bus = internal["bus"]
    s0 = -(bus[:, PD] + 1j * bus[:, QD]) / base_mva
    v0 = np.asarray(internal["V"], dtype=complex).copy()

    lookup = work._pd2ppc_lookups["bus"]
    bus_ppci = np.full(len(work.bus), -1, dtype=np.int64)
    pos = lookup[work.bus.index.to_numpy()]
    bus_ppci[pos < n] = pos[pos < n]
    bus_ppci[~work.bus.in_service.to_numpy()] = -1

    branch_is = np.asarray(internal["branch_is"], dtype=bool)
    ppci_row = np.where(branch_is, np.cumsum(branch_is) - 1, -1)
    branches = work._pd2ppc_lookups["branch"]
    rows, dead_nan = {}, {}
    full_branch = ppc["branch"]
    for table in ("line", "trafo"):
        if table in branches:
            f, t = branches[table]
            rows[table] = ppci_row[f:t]
            # runpp reports 0 flow for an out-of-service branch, but NaN loading when one of
            # its ends is not supplied (its voltage is NaN)
            ends = full_branch[f:t][:, [F_BUS, T_BUS]].real.astype(np.int64)
            dead_nan[table] = (ppci_row[f:t] < 0) & (ends >= n).any(axis=1)
        else:
            rows[table] = np.full(len(work[table]), -1, dtype=np.int64)
            dead_nan[table] = np.zeros(len(work[table]), dtype=bool)
    br = internal["branch"]
    base_kv = bus[:, BASE_KV].real.astype(float)
    i_max = (work.line.max_i_ka * work.line.df * work.line.parallel).to_numpy(dtype=float)
    tr = work.trafo
    rated = (tr.sn_mva * tr.parallel * tr.df).to_numpy(dtype=float)

    # Bus powers pandapower reports (load convention) that do not depend on the solution:
    # everything except the ext_grids' and shunts' share, which are added back per step.
    bus_pos = pd.Index(work.bus.index)
    static_p = work.res_bus.p_mw.to_numpy(dtype=float).copy()
    static_q = work.res_bus.q_mvar.to_numpy(dtype=float).copy()
    eg = work.ext_grid[work.ext_grid.in_service]
    eg_bus = bus_pos.get_indexer(eg.bus)
    eg_ppci = bus_ppci[eg_bus]
    if len(np.unique(eg_ppci)) != len(eg_ppci):
        raise NotImplementedError("several ext_grids share one bus; QSTS needs one per bus")
    np.add.at(static_p, eg_bus, work.res_ext_grid.loc[eg.index, "p_mw"].to_numpy())
    np.add.at(static_q, eg_bus, work.res_ext_grid.loc[eg.index, "q_mvar"].to_numpy())
    sh = work.shunt[work.shunt.in_service] if len(work.shunt) else work.shunt
    sh_bus = bus_pos.get_indexer(sh.bus) if len(sh) else np.zeros(0, dtype=np.int64)
    sh_p = (sh.p_mw * sh.step).to_numpy(dtype=float) if len(sh) else np.zeros(0)
    sh_q = (sh.q_mvar * sh.step).to_numpy(dtype=float) if len(sh) else np.zeros(0)
    if len(sh):
        np.subtract.at(static_p, sh_bus, work.res_shunt.loc[sh.index, "p_mw"].to_numpy())
        np.subtract.at(static_q, sh_bus, work.res_shunt.loc[sh.index, "q_mvar"].to_numpy())

    with np.errstate(divide="ignore"):  # a line rated 0 kA is loaded inf %, as in runpp
        per_ka = 1.0 / i_max
    ycsc = ybus.tocsc()
    lu = spla.splu(ycsc[pq][:, pq].tocsc())
    return AdmittanceModel(
        ybus=ybus, yf=sp.csr_matrix(internal["Yf"]), yt=sp.csr_matrix(internal["Yt"]),
        base_mva=base_mva, ref=ref, pq=pq, v0=v0, s0_pu=s0, factors=_lu_factors(lu),
        i_ref=np.asarray(ycsc[pq][:, ref] @ v0[ref]).ravel(), bus_ppci=bus_ppci,
        lines=_branches(rows["line"], dead_nan["line"], internal["Yf"], internal["Yt"], br,
                        base_kv, per_ka, per_ka),
        trafos=_branches(rows["trafo"], dead_nan["trafo"], internal["Yf"], internal["Yt"], br,
                         base_kv,
                         tr.vn_hv_kv.to_numpy(dtype=float) * np.sqrt(3) / rated,
                         tr.vn_lv_kv.to_numpy(dtype=float) * np.sqrt(3) / rated),
        static_p_mw=static_p, static_q_mvar=static_q,
        ext_grid_bus=eg_bus, ext_grid_ppci=eg_ppci,
        shunt_bus=sh_bus, shunt_p_mw=sh_p, shunt_q_mvar=sh_q,
        branch_ends=br[:, [F_BUS, T_BUS]].real.astype(np.int64),
    )


def validate_profiles(net: pp.pandapowerNet, profiles: dict) -> pd.Index:
    """Check that the profiles fit the net; return their common time index.

    Raises
    ------
    QstsError
        (a ``ValueError``) naming the table and element for an unknown table, a table of another length or
        time index, an element not in the net, or NaN values.
    """
    if not isinstance(profiles, dict) or not profiles:
        raise QstsError(f"profiles must be a dict with some of {list(PROFILE_COLUMNS)}")
    unknown = set(profiles) - set(PROFILE_COLUMNS)
    if unknown:
        raise QstsError(
            f"profiles {sorted(unknown)} are not understood; use {list(PROFILE_COLUMNS)}"
        )
    names = [k for k in PROFILE_COLUMNS if k in profiles]
    first = names[0]
    index = profiles[first].index
    for name in names:
        df = profiles[name]
        if not isinstance(df, pd.DataFrame):
            raise QstsError(f"profile '{name}' must be a DataFrame (time x element)")
        if len(df) != len(index):
            raise QstsError(
                f"profile '{name}' has {len(df)} steps but '{first}' has {len(index)}; all "
                "profile tables must cover the same times"
            )
        if not df.index.equals(index):
            raise QstsError(f"profile '{name}' has other times than '{first}'")
        table = PROFILE_COLUMNS[name][0]
        missing = pd.Index(df.columns).difference(net[table].index)
        if len(missing):
            raise QstsError(
                f"profile '{name}': {table} {list(missing[:10])} not in the net"
                f"{' (and more)' if len(missing) > 10 else ''}; drop those columns or use the "
                "matching net"
            )
        values = df.to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            col = int(np.argmax(bad.any(axis=0)))
            row = int(np.argmax(bad[:, col]))
            raise QstsError(
                f"profile '{name}': {table} {df.columns[col]} has {int(bad[:, col].sum())} NaN "
                f"or infinite values, the first at {df.index[row]}; fill them (e.g. by the "
                f"VEE rules) before running QSTS ({int(bad.any(axis=0).sum())} element(s) affected)"
            )
    return index


def run_qsts(
    net: pp.pandapowerNet,
    profiles,
    times: Sequence | pd.Index | None = None,
    chunk_steps: int | None = None,
    tap_control: bool = False,
    progress: Callable[[int, int], None] | None = None,
    *,
    tap_band_pu: tuple[float, float] | None = None,
    out: str | Path | None = None,
    variables: Sequence[str] | None = None,
    dtype=np.float64,
    client=None,
) -> xr.Dataset:
    """Solve an AC power flow for every step of the profiles.

    Parameters
    ----------
    net : pandapowerNet
        The grid; not changed. Its switches, out-of-service elements, taps and shunts are
        honoured; loads and generators not in the profiles keep their values in ``net``.
    profiles : dict of DataFrame or profile source
        ``load_p_mw`` [MW], ``load_q_mvar`` [Mvar], ``sgen_p_mw`` [MW]: time × element index,
        as from :func:`twin.electric.profiles.city_profiles` (any subset of the three); or a
        chunked source such as :class:`twin.electric.profiles.SimbenchProfileSource`.
    times : sequence of Timestamp, optional
        Steps to solve (all of the profiles' index by default).
    chunk_steps : int, optional
        Steps solved together; bounds memory. Default: about 1.5 million complex values per
        array.
    tap_control : bool
        On-load tap changers act per step as pandapower's ``DiscreteTapControl``: the band is
        ``tap_band_pu`` for every tapped transformer's low-voltage bus, or, without it, the
        in-service ``DiscreteTapControl`` controllers in ``net.controller``.
    progress : callable, optional
        Called as ``progress(steps_done, steps_total)`` after every chunk.
    tap_band_pu : (float, float), optional
        ``(vm_lower_pu, vm_upper_pu)`` [p.u.] of the controlled buses.
    out : path, optional
        NetCDF file the results are appended to chunk by chunk (memory stays bounded); the
        returned dataset is then opened lazily from it.
    variables : sequence of str, optional
        Result variables to keep (default all of ``RESULT_DIMS``); ``converged`` is always kept.
    dtype : numpy dtype
        Float type of the stored results (``np.float32`` halves memory and disk).
    client : distributed.Client, optional
        Spread the time chunks over its workers (from :func:`twin.parallel.dask_client`);
        results are identical to the serial run. Not with ``tap_control`` (taps carry over
        from step to step).

    Returns
    -------
    Dataset
        ``time × bus``: ``vm_pu``, ``va_degree``, ``p_mw``, ``q_mvar`` (load convention, as
        ``net.res_bus``); ``time × line``: ``line_loading_percent``, ``line_p_from_mw``,
        ``line_q_from_mvar``, ``line_pl_mw``; ``time × trafo``: ``trafo_loading_percent``,
        ``trafo_pl_mw``, ``trafo_tap_pos``; ``converged (time)`` and, with tap control,
        ``tap_settled (time)``; ``bus_supplied (bus)``. Steps that do not converge are NaN;
        buses no ext_grid reaches (islands) are NaN at every step.

    Raises
    ------
    QstsError
        Profiles that do not fit the net (length, times, unknown elements, NaN), unknown
        variables or times, a tap band without tapped transformers.
    """
    source = as_profile_source(net, profiles)
    index = source.index
    positions = step_positions(index, times)
    keep = _variables(variables)
    model = build_model(net)
    n_ppci = model.ybus.shape[0]
    if chunk_steps is None:
        chunk_steps = int(np.clip(CHUNK_VALUES // max(n_ppci, 1), 96, 35_136))
    if chunk_steps < 1:
        raise QstsError(f"chunk_steps must be at least 1, not {chunk_steps}")
    controllers = tap_controllers(net, tap_band_pu) if tap_control else None
    if controllers is not None and client is not None:
        raise QstsError("tap_control runs the year in time order (taps carry over from step "
                        "to step), so it cannot be split over Dask workers; drop client=")
    sizes = {"bus": len(net.bus), "line": len(net.line), "trafo": len(net.trafo)}
    base_taps = net.trafo.tap_pos.to_numpy(dtype=float) if len(net.trafo) else np.zeros(0)
    job = _ChunkJob(model=model, injections=_injection_maps(net, source), sizes=sizes,
                    keep=keep, dtype=np.dtype(dtype), base_taps=base_taps)
    times_out = index[positions]
    writer = (_NetCDFWriter(Path(out), times_out, net, keep, job.dtype, controllers is not None)
              if out is not None else
              _MemoryWriter(len(positions), sizes, keep, job.dtype, controllers is not None))
    chunks = [positions[a:a + chunk_steps] for a in range(0, len(positions), chunk_steps)]
    done = 0
    if controllers is not None:
        taps = base_taps.copy()
        cache = _ModelCache(net, model)
        for sel in chunks:
            result, taps = _tap_chunk(job, cache, controllers, source, sel, taps)
            writer.write(done, result)
            done += len(sel)
            if progress is not None:
                progress(done, len(positions))
    elif client is None:
        for sel in chunks:
            writer.write(done, _chunk(job, source, sel, writer.view(done, len(sel))))
            done += len(sel)
            if progress is not None:
                progress(done, len(positions))
    else:
        from distributed import as_completed

        job_f, source_f = client.scatter([job, source], broadcast=True)
        starts = np.cumsum([0] + [len(c) for c in chunks])[:-1]
        futures = {client.submit(_chunk, job_f, source_f, sel, pure=False): int(a)
                   for sel, a in zip(chunks, starts, strict=True)}
        for fut in as_completed(futures):
            result = fut.result()
            writer.write(futures[fut], result)
            done += len(result["converged"])
            if progress is not None:
                progress(done, len(positions))
            fut.release()
    return writer.finish(times_out, net, model)


def step_positions(index: pd.Index, times) -> np.ndarray:
    """Positions of ``times`` in the profiles' ``index`` (all of them when None).

    Raises
    ------
    QstsError
        For times that are not in the profiles.
    """
    if times is None:
        return np.arange(len(index))
    wanted = pd.Index(times)
    positions = index.get_indexer(wanted)
    if (positions < 0).any():
        bad = wanted[positions < 0]
        raise QstsError(
            f"times {list(bad[:3])} are not in the profiles ({index[0]} to {index[-1]})"
        )
    return positions


def _variables(variables) -> tuple[str, ...]:
    if variables is None:
        return tuple(RESULT_DIMS)
    unknown = set(variables) - set(RESULT_DIMS)
    if unknown:
        raise QstsError(f"variables {sorted(unknown)} unknown; choose from {list(RESULT_DIMS)}")
    return tuple(v for v in RESULT_DIMS if v in variables)


# --------------------------------------------------------------------------------------------
# profile sources


class _TableSource:
    """Profiles held as DataFrames (time × element), behind the chunked-source interface."""

    def __init__(self, tables: dict, index: pd.Index):
        self.index = index
        self._values = {name: df.to_numpy(dtype=float) for name, df in tables.items()}
        self._elements = {name: pd.Index(df.columns) for name, df in tables.items()}
        self.names = tuple(self._values)

    def elements(self, name: str) -> pd.Index:
        return self._elements[name]

    def chunk(self, name: str, positions: np.ndarray) -> np.ndarray:
        return self._values[name][positions]


def as_profile_source(net: pp.pandapowerNet, profiles):
    """Return ``profiles`` as a chunked source (``index``, ``names``, ``elements(name)``,
    ``chunk(name, positions)``), validated against ``net``.

    Raises
    ------
    QstsError
        As :func:`validate_profiles`; for a source, unknown tables or elements.
    """
    if isinstance(profiles, dict):
        return _TableSource({k: profiles[k] for k in PROFILE_COLUMNS if k in profiles},
                            validate_profiles(net, profiles))
    if not hasattr(profiles, "chunk"):
        raise QstsError("profiles must be a dict of DataFrames or a profile source with "
                        f"chunk(name, positions); got {type(profiles).__name__}")
    unknown = set(profiles.names) - set(PROFILE_COLUMNS)
    if unknown:
        raise QstsError(f"profiles {sorted(unknown)} are not understood; use "
                        f"{list(PROFILE_COLUMNS)}")
    for name in profiles.names:
        table = PROFILE_COLUMNS[name][0]
        missing = profiles.elements(name).difference(net[table].index)
        if len(missing):
            raise QstsError(f"profile '{name}': {table} {list(missing[:10])} not in the net; "
                            "use the source built from this net")
    return profiles


# --------------------------------------------------------------------------------------------
# chunks


@dataclass
class _ChunkJob:
    """Everything a worker needs to turn a chunk of steps into results."""

    model: AdmittanceModel
    injections: list
    sizes: dict
    keep: tuple
    dtype: np.dtype
    base_taps: np.ndarray


def _chunk(job: _ChunkJob, source, sel: np.ndarray, result: dict | None = None) -> dict:
    """Solve the steps ``sel`` (positions in the profiles) with the net's taps; return results
    (written into ``result``, arrays step × element, when given)."""
    s_pu, bus_dp, bus_dq = _chunk_injections(job.injections, job.model, source, sel,
                                             job.sizes["bus"])
    v, ok = solve_chunk(job.model, s_pu)
    if result is None:
        result = _empty_results(len(sel), job.sizes, job.keep, job.dtype, False)
    _store_results(result, slice(0, len(sel)), job, job.model, v, ok, s_pu, bus_dp, bus_dq)
    if "trafo_tap_pos" in result:
        result["trafo_tap_pos"][:] = job.base_taps
    return result


def _tap_chunk(job: _ChunkJob, cache, ctrl, source, sel: np.ndarray, taps: np.ndarray):
    """Solve a chunk in time order under tap control; return results and the taps at its end.

    Steps are solved ``TAP_BLOCK`` at a time with the taps of the moment; at the first step
    where a controller acts, that step is re-solved tap move by tap move until no tap moves
    (pandapower's ``run_control``), and the next block starts after it with the new taps.
    """
    n = len(sel)
    s_pu, bus_dp, bus_dq = _chunk_injections(job.injections, job.model, source, sel,
                                             job.sizes["bus"])
    result = _empty_results(n, job.sizes, job.keep, job.dtype, True)
    taps = taps.copy()
    i = 0
    while i < n:
        model = cache.get(taps)
        stop = min(n, i + TAP_BLOCK)
        v, ok = solve_chunk(model, s_pu[i:stop])
        acts = np.flatnonzero(
            _tap_increment(_controlled_vm(model, ctrl, v), taps, ctrl).any(axis=-1))
        calm = int(acts[0]) if len(acts) else stop - i
        if calm:
            _store_segment(result, job, model, v[:calm], ok[:calm], s_pu, bus_dp, bus_dq,
                           i, i + calm, taps, True)
        if not len(acts):
            i = stop
            continue
        t = i + calm
        vt, okt = v[calm:calm + 1], ok[calm:calm + 1]
        settled = False
        for _ in range(TAP_ITERATIONS):
            move = _tap_increment(_controlled_vm(model, ctrl, vt[0]), taps, ctrl)
            if not move.any():
                settled = True
                break
            taps[ctrl.trafo_pos] += move
            model = cache.get(taps)
            vt, okt = solve_chunk(model, s_pu[t:t + 1])
        _store_segment(result, job, model, vt, okt, s_pu, bus_dp, bus_dq, t, t + 1, taps,
                       settled)
        i = t + 1
    return result, taps


def _store_segment(result, job, model, v, ok, s_pu, bus_dp, bus_dq, a, b, taps, settled):
    rows = slice(a, b)
    _store_results(result, rows, job, model, v, ok, s_pu[rows], bus_dp[rows], bus_dq[rows])
    if "trafo_tap_pos" in result:
        result["trafo_tap_pos"][rows] = taps
    result["tap_settled"][rows] = settled


# --------------------------------------------------------------------------------------------
# tap control


@dataclass
class TapControllers:
    """On-load tap changers under control, one entry per controlled transformer.

    ``direction`` is +1 where raising the tap raises the controlled voltage, else -1
    (pandapower's ``tap_side_coeff * tap_sign`` is ``-direction``).
    """

    trafo_pos: np.ndarray  # position in net.trafo
    bus_pos: np.ndarray  # controlled bus, position in net.bus
    vm_lower_pu: np.ndarray
    vm_upper_pu: np.ndarray
    direction: np.ndarray
    tap_min: np.ndarray
    tap_max: np.ndarray


def tap_controllers(net: pp.pandapowerNet,
                    tap_band_pu: tuple[float, float] | None = None) -> TapControllers:
    """The transformers whose taps act per step, with their bands.

    Parameters
    ----------
    tap_band_pu : (float, float), optional
        Band [p.u.] at the low-voltage bus of every in-service transformer with a tap changer.
        Without it, the in-service ``DiscreteTapControl`` objects of ``net.controller`` are
        used (element ``trafo``).

    Raises
    ------
    QstsError
        No transformer to control, a band with lower >= upper, or taps without limits.
    """
    tr = net.trafo
    rows = []  # (trafo index, side, lower, upper)
    if tap_band_pu is not None:
        lower, upper = (float(x) for x in tap_band_pu)
        if not lower < upper:
            raise QstsError(f"tap_band_pu {tap_band_pu}: the lower limit must be below the upper")
        tapped = tr.index[tr.in_service & tr.tap_step_percent.fillna(0).ne(0)
                          & tr.tap_changer_type.notna()]
        rows = [(t, "lv", lower, upper) for t in tapped]
    else:
        from pandapower.control import DiscreteTapControl

        ctrl = net.controller if "controller" in net else pd.DataFrame()
        for _, row in ctrl.iterrows():
            obj = row["object"]
            if not (isinstance(obj, DiscreteTapControl) and row.get("in_service", True)
                    and getattr(obj, "element", "trafo") == "trafo"):
                continue
            for t in np.atleast_1d(obj.element_index):
                rows.append((int(t), obj.side, float(obj.vm_lower_pu), float(obj.vm_upper_pu)))
    if not rows:
        raise QstsError("tap_control=True but there is nothing to control: give tap_band_pu="
                        "(lower, upper) or add DiscreteTapControl controllers to the net, and "
                        "check that the transformers have tap_step_percent and tap_changer_type")
    idx = np.array([r[0] for r in rows])
    missing = pd.Index(idx).difference(tr.index)
    if len(missing):
        raise QstsError(f"tap controller for trafo {list(missing)}: not in net.trafo")
    sel = tr.loc[idx]
    if sel[["tap_min", "tap_max", "tap_pos"]].isna().any(axis=None):
        bad = sel.index[sel[["tap_min", "tap_max", "tap_pos"]].isna().any(axis=1)]
        raise QstsError(f"trafo {list(bad)}: tap_min, tap_max or tap_pos missing; set them")
    side = np.array([r[1] for r in rows])
    bus = np.where(side == "hv", sel.hv_bus.to_numpy(), sel.lv_bus.to_numpy())
    # pandapower: coeff = (+1 if tap on hv else -1) * (-1 if hv side controlled)
    #             * (-1 if tap_step_percent < 0) * sign(cos(tap_step_degree))
    coeff = np.where(sel.tap_side.to_numpy() == "hv", 1.0, -1.0)
    coeff = np.where(side == "hv", -coeff, coeff)
    coeff = np.where(sel.tap_step_percent.to_numpy(dtype=float) < 0, -coeff, coeff)
    degree = sel.tap_step_degree.to_numpy(dtype=float) if "tap_step_degree" in sel \
        else np.zeros(len(sel))
    sign = np.sign(np.cos(np.deg2rad(np.nan_to_num(degree))))
    coeff = coeff * np.where(sign == 0, 1.0, sign)
    return TapControllers(
        trafo_pos=tr.index.get_indexer(idx), bus_pos=net.bus.index.get_indexer(bus),
        vm_lower_pu=np.array([r[2] for r in rows]), vm_upper_pu=np.array([r[3] for r in rows]),
        direction=-coeff, tap_min=sel.tap_min.to_numpy(dtype=float),
        tap_max=sel.tap_max.to_numpy(dtype=float))


def _controlled_vm(model: AdmittanceModel, ctrl: TapControllers, v: np.ndarray) -> np.ndarray:
    """|V| [p.u.] at the controlled buses (NaN where unsupplied); ``v`` is (step ×) ppci bus."""
    at = model.bus_ppci[ctrl.bus_pos]
    return np.where(at >= 0, np.abs(v[..., np.maximum(at, 0)]), np.nan)


def _tap_increment(vm: np.ndarray, taps: np.ndarray, ctrl: TapControllers) -> np.ndarray:
    """One control round of ``DiscreteTapControl``: the tap move (-1, 0, +1) per controller."""
    pos = taps[ctrl.trafo_pos]
    low = vm < ctrl.vm_lower_pu  # NaN (unsupplied, failed step): no move
    high = vm > ctrl.vm_upper_pu
    raise_v = low & np.where(ctrl.direction > 0, pos < ctrl.tap_max, pos > ctrl.tap_min)
    lower_v = high & np.where(ctrl.direction > 0, pos > ctrl.tap_min, pos < ctrl.tap_max)
    return (raise_v.astype(float) - lower_v.astype(float)) * ctrl.direction


class _ModelCache:
    """Admittance models (and their LU factors) per tap vector, built when first needed."""

    def __init__(self, net: pp.pandapowerNet, model: AdmittanceModel):
        self._net = copy.deepcopy(net)
        self._models = {self._key(net.trafo.tap_pos.to_numpy(dtype=float)): model}

    @staticmethod
    def _key(taps: np.ndarray) -> tuple:
        return tuple(np.round(taps).astype(int).tolist())

    def get(self, taps: np.ndarray) -> AdmittanceModel:
        key = self._key(taps)
        if key not in self._models:
            self._net.trafo["tap_pos"] = taps
            self._models[key] = build_model(self._net)
        return self._models[key]


# --------------------------------------------------------------------------------------------
# injections


@dataclass
class _Injection:
    name: str  # profile table
    base: np.ndarray  # the net's own value per element, already in the model
    bus: np.ndarray  # position of each element's bus in net.bus
    factor: np.ndarray  # load-convention sign × scaling × in service
    reactive: bool


def _injection_maps(net, source) -> list[_Injection]:
    bus_pos = pd.Index(net.bus.index)
    maps = []
    for name, (table, column, sign) in PROFILE_COLUMNS.items():
        if name not in source.names:
            continue
        elements = net[table].loc[source.elements(name)]
        factor = -sign * (elements.scaling.to_numpy(dtype=float)
                          * elements.in_service.to_numpy(dtype=float))
        maps.append(_Injection(
            name, elements[column].to_numpy(dtype=float),
            bus_pos.get_indexer(elements.bus).astype(np.int64), factor, column == "q_mvar"))
    return maps


def bus_injections(net: pp.pandapowerNet, model: AdmittanceModel, source,
                   positions: np.ndarray) -> np.ndarray:
    """Complex bus injections [p.u.] (step × ppci bus) of the profile steps ``positions``,
    for :func:`solve_chunk` on ``model`` (built from ``net``)."""
    return _chunk_injections(_injection_maps(net, source), model, source, positions,
                             len(net.bus))[0]


def _chunk_injections(injections, model: AdmittanceModel, source, sel: np.ndarray, n_bus: int):
    """Return complex injections [p.u.] (step × ppci bus) and bus power changes [MW], [Mvar]
    (step × net bus) against the net's own values."""
    dp = np.zeros((len(sel), n_bus))
    dq = np.zeros((len(sel), n_bus))
    for inj in injections:
        values = np.ascontiguousarray(source.chunk(inj.name, sel), dtype=float)
        _scatter_profiles(values, inj.base, inj.bus, inj.factor, dq if inj.reactive else dp)
    s = np.empty((len(sel), len(model.s0_pu)), dtype=complex)
    _ppci_injections(dp, dq, model.bus_ppci, model.s0_pu, model.base_mva, s)
    return s, dp, dq


@numba.njit(cache=True)
def _scatter_profiles(values, base, bus, factor, out):  # pragma: no cover
    for r in range(values.shape[0]):
        for k in range(len(base)):
            out[r, bus[k]] += factor[k] * (values[r, k] - base[k])


@numba.njit(cache=True)
def _ppci_injections(dp, dq, bus_ppci, s0, base_mva, s):  # pragma: no cover
    for r in range(dp.shape[0]):
        for i in range(len(s0)):
            s[r, i] = s0[i]
        for b in range(len(bus_ppci)):
            i = bus_ppci[b]
            if i >= 0:
                s[r, i] -= (dp[r, b] + 1j * dq[r, b]) / base_mva


# --------------------------------------------------------------------------------------------
# numerical core


def solve_chunk(model: AdmittanceModel, s_pu: np.ndarray, tol: float = TOLERANCE_PU):
    """Solve all steps of a chunk; return voltages (step × ppci bus) and a converged flag.

    ``s_pu`` is step × ppci bus. Voltages of steps that did not converge are NaN.
    """
    n_t = s_pu.shape[0]
    v = np.empty((n_t, model.ybus.shape[0]), dtype=complex)
    ok = np.zeros(n_t, dtype=bool)
    if len(model.pq) and n_t <= FIXED_POINT_BLOCK:  # one block: no thread start-up
        _fixed_point_steps(*model.factors, s_pu, model.pq, model.i_ref, model.v0, tol,
                           FIXED_POINT_ITERATIONS, 0, n_t, v, ok)
    elif len(model.pq):
        _fixed_point_blocks(*model.factors, s_pu, model.pq, model.i_ref, model.v0, tol,
                            FIXED_POINT_ITERATIONS, FIXED_POINT_BLOCK, v, ok)
    else:
        v[:] = model.v0
        ok[:] = True
    for k in np.flatnonzero(~ok):
        start = v[k] if np.isfinite(v[k]).all() else model.v0
        v[k], ok[k] = newton_raphson(model, s_pu[k], start, tol)
        if not ok[k]:
            v[k], ok[k] = newton_raphson(model, s_pu[k], model.v0, tol)
    v[~ok] = np.nan
    return v, ok


def _lu_factors(lu) -> tuple:
    """Split a SuperLU factorisation into flat arrays for :func:`_fixed_point_blocks`."""
    lower, upper = lu.L.tocsc(), lu.U.tocsc()
    out = []
    for tri, is_lower in ((lower, True), (upper, False)):
        tri.sort_indices()
        diag = tri.diagonal().astype(complex)
        coo = tri.tocoo()
        keep = coo.row > coo.col if is_lower else coo.row < coo.col
        off = sp.csc_matrix((coo.data[keep], (coo.row[keep], coo.col[keep])), shape=tri.shape)
        out += [off.indptr.astype(np.int64), off.indices.astype(np.int64),
                off.data.astype(complex), diag]
    return (*out, lu.perm_r.astype(np.int64), lu.perm_c.astype(np.int64))


@numba.njit(cache=True, parallel=True)
def _fixed_point_blocks(l_ptr, l_idx, l_val, l_diag, u_ptr, u_idx, u_val, u_diag, perm_r,
                        perm_c, s, pq, i_ref, v0, tol, max_iter, block, v_out,
                        ok):  # pragma: no cover
    """Z-bus fixed point over blocks of ``block`` steps, the blocks in parallel."""
    n_t = s.shape[0]
    n_blocks = (n_t + block - 1) // block
    for bi in numba.prange(n_blocks):
        _fixed_point_steps(l_ptr, l_idx, l_val, l_diag, u_ptr, u_idx, u_val, u_diag, perm_r,
                           perm_c, s, pq, i_ref, v0, tol, max_iter, bi * block,
                           min(n_t, (bi + 1) * block), v_out, ok)


@numba.njit(cache=True)
def _fixed_point_steps(l_ptr, l_idx, l_val, l_diag, u_ptr, u_idx, u_val, u_diag, perm_r, perm_c,
                       s, pq, i_ref, v0, tol, max_iter, first, stop, v_out,
                       ok):  # pragma: no cover
    """Z-bus fixed point for steps ``first..stop-1``, each warm-started from the last
    converged one; writes full ppci voltages (slack buses at ``v0``).

    The mismatch after an update is exactly ``|S| |V_new - V_old| / |V_old|`` per bus.
    """
    n = len(pq)
    v_start = np.empty(n, dtype=np.complex128)
    for i in range(n):
        v_start[i] = v0[pq[i]]
    v = v_start.copy()
    b = np.empty(n, dtype=np.complex128)
    s_pq = np.empty(n, dtype=np.complex128)
    u_inv = 1.0 / u_diag
    l_inv = 1.0 / l_diag
    tol2 = tol * tol
    for t in range(first, stop):
        for i in range(n):
            s_pq[i] = s[t, pq[i]]
        converged = False
        for _ in range(max_iter):
            for i in range(n):
                b[perm_r[i]] = injected_current(s_pq[i], v[i]) - i_ref[i]
            triangular_solves(l_ptr, l_idx, l_val, l_inv, u_ptr, u_idx, u_val, u_inv, b)
            worst = 0.0
            for i in range(n):
                xi = b[perm_c[i]]
                m = mismatch_excess(s_pq[i], xi - v[i], v[i], tol2)
                if not m <= worst:  # larger, or NaN
                    worst = m if m == m else np.inf
                v[i] = xi
            if worst <= 0.0:
                converged = True
                break
            if not np.isfinite(worst):
                break
        ok[t] = converged
        for i in range(v0.shape[0]):
            v_out[t, i] = v0[i]
        for i in range(n):
            v_out[t, pq[i]] = v[i]
        if not converged:
            for i in range(n):
                v[i] = v_start[i]


@numba.njit(cache=True, inline="always")
def injected_current(s, v):  # pragma: no cover
    """Current a constant-power injection ``s`` draws at voltage ``v``, ``conj(s / v)``
    [p.u.], computed as ``conj(s) v / |v|^2``."""
    return (s.conjugate() * v) / (v.real * v.real + v.imag * v.imag)


@numba.njit(cache=True, inline="always")
def mismatch_excess(s, dv, v, tol2):  # pragma: no cover
    """``|s|^2 |dv|^2 - tol^2 |v|^2``: positive when the power mismatch ``|s| |dv| / |v|`` left
    by a fixed-point update ``dv`` of ``v`` exceeds the tolerance (``tol2`` = tol^2)."""
    return (s.real * s.real + s.imag * s.imag) * (dv.real * dv.real + dv.imag * dv.imag) \
        - tol2 * (v.real * v.real + v.imag * v.imag)


@numba.njit(cache=True, inline="always")
def end_loading(i_f, i_t, ka_f, ka_t):  # pragma: no cover
    """Loading [%] of a branch from its end currents [p.u.] and each end's percent of rating
    per p.u. of current (:func:`percent_per_pu`): the larger end; inf for a branch rated 0."""
    if np.isinf(ka_f):
        return np.inf
    a = np.sqrt(i_f.real * i_f.real + i_f.imag * i_f.imag) * ka_f
    b = np.sqrt(i_t.real * i_t.real + i_t.imag * i_t.imag) * ka_t
    return a if a > b else b


@numba.njit(cache=True)
def percent_per_pu(base_mva, kv, scale):  # pragma: no cover
    """Loading [%] per p.u. of branch current at ends of voltage ``kv`` [kV], with ``scale``
    the loading [1] per kA (1 / rated kA): base current [kA] × scale × 100."""
    out = np.empty(len(kv))
    for j in range(len(kv)):
        out[j] = base_mva / (kv[j] * np.sqrt(3.0)) * scale[j] * 100.0
    return out


@numba.njit(cache=True)
def triangular_solves(l_ptr, l_idx, l_val, l_inv, u_ptr, u_idx, u_val, u_inv,
                      b):  # pragma: no cover
    """Solve ``L U x = b`` in place (``b`` row-permuted in, ``x`` column-permuted out), with
    the off-diagonal factors column-oriented and the inverse diagonals, as from
    :func:`_lu_factors`."""
    n = len(b)
    for j in range(n):  # L y = b (column oriented)
        bj = b[j] * l_inv[j]
        b[j] = bj
        for k in range(l_ptr[j], l_ptr[j + 1]):
            b[l_idx[k]] -= l_val[k] * bj
    for j in range(n - 1, -1, -1):  # U x = y
        bj = b[j] * u_inv[j]
        b[j] = bj
        for k in range(u_ptr[j], u_ptr[j + 1]):
            b[u_idx[k]] -= u_val[k] * bj


def newton_raphson(model: AdmittanceModel, s_pu: np.ndarray, v_start: np.ndarray,
                   tol: float = TOLERANCE_PU, max_iteration: int = NEWTON_ITERATIONS):
    """Polar Newton-Raphson of one step (slack and PQ buses); return ``(V, converged)``."""
    pq = model.pq
    v = v_start.astype(complex).copy()
    v[model.ref] = model.v0[model.ref]
    vm, va = np.abs(v), np.angle(v)
    npq = len(pq)
    with np.errstate(all="ignore"):
        for it in range(max_iteration + 1):
            mis = v * np.conj(model.ybus @ v) - s_pu
            f = np.r_[mis[pq].real, mis[pq].imag]
            if not np.isfinite(f).all():
                return v, False
            if np.abs(f).max(initial=0.0) < tol:
                return v, True
            if it == max_iteration:
                break
            ds_dvm, ds_dva = dSbus_dV(model.ybus, v)
            ds_dvm, ds_dva = ds_dvm.tocsr()[pq][:, pq], ds_dva.tocsr()[pq][:, pq]
            jac = sp.bmat([[ds_dva.real, ds_dvm.real], [ds_dva.imag, ds_dvm.imag]], format="csc")
            try:
                dx = spla.spsolve(jac, -f)
            except RuntimeError:
                return v, False
            va[pq] += dx[:npq]
            vm[pq] += dx[npq:]
            v = vm * np.exp(1j * va)
    return v, False


# --------------------------------------------------------------------------------------------
# results


def _empty_results(n_t: int, sizes: dict, keep: tuple, dtype, taps: bool) -> dict:
    """Arrays (step × element) for a chunk's results; every row gets written."""
    out = {k: np.empty((n_t, sizes[RESULT_DIMS[k]]), dtype=dtype) for k in keep}
    out["converged"] = np.zeros(n_t, dtype=bool)
    if taps:
        out["tap_settled"] = np.ones(n_t, dtype=bool)
    return out


def _store_results(out: dict, rows: slice, job: _ChunkJob, model: AdmittanceModel, v, ok,
                   s_pu, bus_dp, bus_dq):
    """Write the results of steps ``v`` (step × ppci bus) into ``out`` at ``rows``.

    Kernels write straight into ``out`` where it holds float64; elsewhere through scratch.
    """
    n_t = v.shape[0]
    n_bus = job.sizes["bus"]
    out["converged"][rows] = ok

    def target(name, width):
        arr = out.get(name)
        if arr is not None and arr.dtype == np.float64:
            return arr[rows]
        return np.empty((n_t, width))

    def put(name, arr):
        if name in out and out[name].dtype != np.float64:
            out[name][rows] = arr

    if "vm_pu" in out or "va_degree" in out:
        vm, va = target("vm_pu", n_bus), target("va_degree", n_bus)
        _bus_voltages(v, ok, model.bus_ppci, vm, va)
        put("vm_pu", vm)
        put("va_degree", va)
    if "p_mw" in out or "q_mvar" in out:
        p, q = _bus_powers(model, v, ok, s_pu, bus_dp, bus_dq)
        for name, arr in (("p_mw", p), ("q_mvar", q)):
            if name in out:
                out[name][rows] = arr
    # branches: flows of pandapower's in-service branches, 0 for the others (as runpp)
    for table, br in (("line", model.lines), ("trafo", model.trafos)):
        names = [f"{table}_{x}" for x in ("loading_percent", "pl_mw", "p_from_mw",
                                          "q_from_mvar")]
        if br is None or not any(n in out for n in names):
            continue
        arrs = [target(name, len(br.f)) for name in names]
        _branch_results(v, ok, br.f, br.t, br.yff, br.yft, br.ytf, br.ytt, br.kv_f, br.kv_t,
                        br.scale_f, br.scale_t, br.live, br.dead_nan, model.base_mva, *arrs)
        for name, arr in zip(names, arrs, strict=True):
            put(name, arr)


def _bus_powers(model: AdmittanceModel, v, ok, s_pu, bus_dp, bus_dq):
    """Bus powers [MW], [Mvar] in load convention, as ``net.res_bus`` reports them."""
    base = model.base_mva
    supplied = model.bus_ppci >= 0
    p = bus_dp + model.static_p_mw
    q = bus_dq + model.static_q_mvar
    p[:, ~supplied] = model.static_p_mw[~supplied]  # what runpp reports for unsupplied buses
    q[:, ~supplied] = model.static_q_mvar[~supplied]
    if len(model.ext_grid_ppci):
        r = model.ext_grid_ppci
        i_inj = (model.ybus[r] @ v.T).T  # sparse product: no BLAS threads for a thin matmul
        s_inj = v[:, r] * np.conj(i_inj) - s_pu[:, r]  # ext_grid's share [p.u.]
        p[:, model.ext_grid_bus] -= s_inj.real * base
        q[:, model.ext_grid_bus] -= s_inj.imag * base
    if len(model.shunt_bus):
        at = model.bus_ppci[model.shunt_bus]
        vm2 = np.where(at >= 0, np.abs(v[:, np.maximum(at, 0)]), np.nan) ** 2
        np.add.at(p.T, model.shunt_bus, model.shunt_p_mw[:, None] * vm2.T)
        np.add.at(q.T, model.shunt_bus, model.shunt_q_mvar[:, None] * vm2.T)
    p[~ok] = np.nan
    q[~ok] = np.nan
    return p, q


def _bus_voltages(v, ok, bus_ppci, vm, va):
    """|V| [p.u.] and angle [degree] per net bus; NaN for unsupplied buses and failed steps.

    Threads share the rows of large chunks; small ones run in this thread.
    """
    if v.shape[0] * len(bus_ppci) < PARALLEL_VALUES:
        _bus_voltage_rows(v, ok, bus_ppci, vm, va, 0, v.shape[0])
    else:
        _bus_voltages_parallel(v, ok, bus_ppci, vm, va, ROW_BLOCK)


@numba.njit(cache=True, parallel=True)
def _bus_voltages_parallel(v, ok, bus_ppci, vm, va, block):  # pragma: no cover
    n_blocks = (v.shape[0] + block - 1) // block
    for bi in numba.prange(n_blocks):
        _bus_voltage_rows(v, ok, bus_ppci, vm, va, bi * block, min(v.shape[0], (bi + 1) * block))


@numba.njit(cache=True)
def _bus_voltage_rows(v, ok, bus_ppci, vm, va, first, stop):  # pragma: no cover
    to_deg = 180.0 / np.pi
    for r in range(first, stop):
        for b in range(len(bus_ppci)):
            i = bus_ppci[b]
            if i < 0 or not ok[r]:
                vm[r, b] = np.nan
                va[r, b] = np.nan
            else:
                x = v[r, i]
                vm[r, b] = np.sqrt(x.real * x.real + x.imag * x.imag)
                va[r, b] = np.arctan2(x.imag, x.real) * to_deg


@dataclass
class _Branches:
    """Branch data of one element table for :func:`_branch_results`."""

    f: np.ndarray
    t: np.ndarray
    yff: np.ndarray
    yft: np.ndarray
    ytf: np.ndarray
    ytt: np.ndarray
    kv_f: np.ndarray
    kv_t: np.ndarray
    scale_f: np.ndarray  # loading [1] per kA at the from end
    scale_t: np.ndarray
    live: np.ndarray
    dead_nan: np.ndarray  # out of service with an unsupplied end: NaN loading, as runpp
    row: np.ndarray  # internal (ppci) branch row of each element, -1 if not in service


def _branches(ppci_rows, dead_nan, yf, yt, branch, base_kv, scale_f,
              scale_t) -> _Branches | None:
    if not len(ppci_rows):
        return None
    live = ppci_rows >= 0
    r = np.where(live, ppci_rows, 0)
    f = branch[r, F_BUS].real.astype(np.int64)
    t = branch[r, T_BUS].real.astype(np.int64)
    yf, yt = yf.tocsr(), yt.tocsr()

    def entries(m, cols):
        return np.asarray(m[r, cols]).ravel().astype(complex) if len(r) else np.zeros(0, complex)

    return _Branches(f, t, entries(yf, f), entries(yf, t), entries(yt, f), entries(yt, t),
                     base_kv[f].astype(float), base_kv[t].astype(float),
                     np.asarray(scale_f, dtype=float), np.asarray(scale_t, dtype=float), live,
                     dead_nan, np.asarray(ppci_rows, dtype=np.int64))


def _branch_results(v, ok, f, t, yff, yft, ytf, ytt, kv_f, kv_t, scale_f, scale_t, live,
                    dead_nan, base_mva, loading, pl, p_from, q_from):
    """Loading [%], losses [MW] and from-end flows [MW], [Mvar] of branches, step × branch."""
    args = (v, ok, f, t, yff, yft, ytf, ytt, kv_f, kv_t, scale_f, scale_t, live, dead_nan,
            base_mva, loading, pl, p_from, q_from)
    if v.shape[0] * len(f) < PARALLEL_VALUES:
        _branch_rows(*args, 0, v.shape[0])
    else:
        _branch_results_parallel(*args, ROW_BLOCK)


@numba.njit(cache=True, parallel=True)
def _branch_results_parallel(v, ok, f, t, yff, yft, ytf, ytt, kv_f, kv_t, scale_f, scale_t,
                             live, dead_nan, base_mva, loading, pl, p_from, q_from,
                             block):  # pragma: no cover
    n_blocks = (v.shape[0] + block - 1) // block
    for bi in numba.prange(n_blocks):
        _branch_rows(v, ok, f, t, yff, yft, ytf, ytt, kv_f, kv_t, scale_f, scale_t, live,
                     dead_nan, base_mva, loading, pl, p_from, q_from, bi * block,
                     min(v.shape[0], (bi + 1) * block))


@numba.njit(cache=True)
def _branch_rows(v, ok, f, t, yff, yft, ytf, ytt, kv_f, kv_t, scale_f, scale_t, live,
                 dead_nan, base_mva, loading, pl, p_from, q_from, first,
                 stop):  # pragma: no cover
    ka_f = percent_per_pu(base_mva, kv_f, scale_f)  # loading [%] per p.u. of current
    ka_t = percent_per_pu(base_mva, kv_t, scale_t)
    for r in range(first, stop):
        for j in range(len(f)):
            if not ok[r]:
                loading[r, j] = np.nan
                pl[r, j] = np.nan
                p_from[r, j] = np.nan
                q_from[r, j] = np.nan
                continue
            if not live[j]:
                loading[r, j] = np.nan if dead_nan[j] else 0.0
                pl[r, j] = 0.0
                p_from[r, j] = 0.0
                q_from[r, j] = 0.0
                continue
            vf = v[r, f[j]]
            vt = v[r, t[j]]
            i_f = yff[j] * vf + yft[j] * vt  # [p.u.]
            i_t = ytf[j] * vf + ytt[j] * vt
            sf = vf * i_f.conjugate()
            st = vt * i_t.conjugate()
            loading[r, j] = end_loading(i_f, i_t, ka_f[j], ka_t[j])
            pl[r, j] = (sf.real + st.real) * base_mva
            p_from[r, j] = sf.real * base_mva
            q_from[r, j] = sf.imag * base_mva


class _MemoryWriter:
    """Collects chunk results in arrays for the whole horizon."""

    def __init__(self, n_t: int, sizes: dict, keep: tuple, dtype, taps: bool):
        self.data = _empty_results(n_t, sizes, keep, dtype, taps)

    def view(self, start: int, n: int) -> dict:
        """The rows ``start..start+n-1`` of every array, to be written in place."""
        return {name: arr[start:start + n] for name, arr in self.data.items()}

    def write(self, start: int, chunk: dict) -> None:
        for name, arr in chunk.items():
            rows = self.data[name][start:start + len(arr)]
            if not np.may_share_memory(rows, arr):  # else written in place already
                rows[...] = arr

    def finish(self, times, net, model) -> xr.Dataset:
        return _dataset(self.data, times, net, model)


class _NetCDFWriter:
    """Appends chunk results to a NetCDF file; the full horizon never sits in memory."""

    def __init__(self, path: Path, times, net, keep: tuple, dtype, taps: bool):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        n_t = len(times)
        sizes = {"bus": len(net.bus), "line": len(net.line), "trafo": len(net.trafo)}
        empty = _empty_results(0, sizes, keep, dtype, taps)
        skeleton = _dataset(empty, times[:0], net, None)
        self.tmp = path.with_suffix(path.suffix + ".part")
        encoding = {k: {"chunksizes": (min(max(n_t, 1), 1024), max(1, sizes[RESULT_DIMS[k]]))}
                    for k in keep}
        encoding["time"] = {"units": "seconds since 1970-01-01", "dtype": "int64",
                            "calendar": "proleptic_gregorian"}
        skeleton.to_netcdf(self.tmp, unlimited_dims=["time"], encoding=encoding)
        import netCDF4

        self.nc = netCDF4.Dataset(self.tmp, "a")
        epoch = np.datetime64("1970-01-01T00:00:00", "ns")
        self.time_values = ((_utc_naive(times).astype("datetime64[ns]") - epoch)
                            // np.timedelta64(1, "s")).astype(np.int64)

    def view(self, start: int, n: int) -> None:
        return None  # chunks are built in memory, then appended

    def write(self, start: int, chunk: dict) -> None:
        n = len(chunk["converged"])
        self.nc["time"][start:start + n] = self.time_values[start:start + n]
        for name, arr in chunk.items():
            self.nc[name][start:start + n] = arr.astype(np.int8) if arr.dtype == bool else arr

    def finish(self, times, net, model) -> xr.Dataset:
        if model is not None:
            self.nc["bus_supplied"][:] = (model.bus_ppci >= 0).astype(np.int8)
        self.nc.close()
        self.tmp.replace(self.path)
        ds = xr.open_dataset(self.path)
        for name in ("converged", "tap_settled", "bus_supplied"):
            if name in ds:
                ds[name] = ds[name].astype(bool)
        return ds


def _utc_naive(times) -> np.ndarray:
    if isinstance(times, pd.DatetimeIndex) and times.tz is not None:
        times = times.tz_convert("UTC").tz_localize(None)
    return np.asarray(times)


def _dataset(out: dict, times: pd.Index, net, model: AdmittanceModel | None) -> xr.Dataset:
    data = {k: (("time", RESULT_DIMS[k]), out[k], {"units": RESULT_UNITS[k]})
            for k in RESULT_DIMS if k in out}
    data["converged"] = (("time",), out["converged"],
                         {"units": RESULT_UNITS["converged"],
                          "description": "power flow converged; results are NaN where not"})
    if "tap_settled" in out:
        data["tap_settled"] = (("time",), out["tap_settled"], {
            "units": RESULT_UNITS["tap_settled"],
            "description": f"tap control reached a fixed point within {TAP_ITERATIONS} rounds"})
    supplied = (model.bus_ppci >= 0) if model is not None else np.ones(len(net.bus), bool)
    data["bus_supplied"] = (("bus",), supplied, {
        "units": "1", "description": "bus reached from an ext_grid; NaN results where not"})
    ds = xr.Dataset(
        data,
        coords={"time": _utc_naive(times), "bus": net.bus.index.to_numpy(),
                "line": net.line.index.to_numpy(), "trafo": net.trafo.index.to_numpy()},
    )
    ds["time"].attrs["timezone"] = "UTC"
    ds.attrs["engine"] = "twin.electric.qsts (Z-bus fixed point, Newton-Raphson fallback)"
    ds.attrs["tolerance_pu"] = TOLERANCE_PU
    return ds
