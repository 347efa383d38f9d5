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
neighbour's answer.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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
    "converged": "1",
}
#: Power mismatch at which a step counts as solved [p.u. of ``net.sn_mva``]; pandapower's
#: default ``tolerance_mva`` is 1e-8.
TOLERANCE_PU = 1e-9
#: Fixed-point sweeps before a step is handed to Newton-Raphson.
FIXED_POINT_ITERATIONS = 60
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
    )


def validate_profiles(net: pp.pandapowerNet, profiles: dict) -> pd.Index:
    """Check that the profiles fit the net; return their common time index.

    Raises
    ------
    ValueError
        Naming the table and element for an unknown table, a table of another length or
        time index, an element not in the net, or NaN values.
    """
    if not isinstance(profiles, dict) or not profiles:
        raise ValueError(f"profiles must be a dict with some of {list(PROFILE_COLUMNS)}")
    unknown = set(profiles) - set(PROFILE_COLUMNS)
    if unknown:
        raise ValueError(
            f"profiles {sorted(unknown)} are not understood; use {list(PROFILE_COLUMNS)}"
        )
    names = [k for k in PROFILE_COLUMNS if k in profiles]
    first = names[0]
    index = profiles[first].index
    for name in names:
        df = profiles[name]
        if not isinstance(df, pd.DataFrame):
            raise ValueError(f"profile '{name}' must be a DataFrame (time x element)")
        if len(df) != len(index):
            raise ValueError(
                f"profile '{name}' has {len(df)} steps but '{first}' has {len(index)}; all "
                "profile tables must cover the same times"
            )
        if not df.index.equals(index):
            raise ValueError(f"profile '{name}' has other times than '{first}'")
        table = PROFILE_COLUMNS[name][0]
        missing = pd.Index(df.columns).difference(net[table].index)
        if len(missing):
            raise ValueError(
                f"profile '{name}': {table} {list(missing[:10])} not in the net"
                f"{' (and more)' if len(missing) > 10 else ''}; drop those columns or use the "
                "matching net"
            )
        values = df.to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            col = int(np.argmax(bad.any(axis=0)))
            row = int(np.argmax(bad[:, col]))
            raise ValueError(
                f"profile '{name}': {table} {df.columns[col]} has {int(bad[:, col].sum())} NaN "
                f"or infinite values, the first at {df.index[row]}; fill them (e.g. by the "
                f"VEE rules) before running QSTS ({int(bad.any(axis=0).sum())} element(s) affected)"
            )
    return index


def run_qsts(
    net: pp.pandapowerNet,
    profiles: dict,
    times: Sequence | pd.Index | None = None,
    chunk_steps: int | None = None,
    tap_control: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> xr.Dataset:
    """Solve an AC power flow for every step of the profiles.

    Parameters
    ----------
    net : pandapowerNet
        The grid; not changed. Its switches, out-of-service elements, taps and shunts are
        honoured; loads and generators not in the profiles keep their values in ``net``.
    profiles : dict of DataFrame
        ``load_p_mw`` [MW], ``load_q_mvar`` [Mvar], ``sgen_p_mw`` [MW]: time × element index,
        as from :func:`twin.electric.profiles.city_profiles`. Any subset of the three.
    times : sequence of Timestamp, optional
        Steps to solve (all of the profiles' index by default).
    chunk_steps : int, optional
        Steps solved together; bounds memory. Default: about 1.5 million complex values per
        array.
    tap_control : bool
        OLTC control per step; not implemented yet (taps stay where ``net`` has them).
    progress : callable, optional
        Called as ``progress(steps_done, steps_total)`` after every chunk.

    Returns
    -------
    Dataset
        ``time × bus``: ``vm_pu``, ``va_degree``, ``p_mw``, ``q_mvar`` (load convention, as
        ``net.res_bus``); ``time × line``: ``line_loading_percent``, ``line_p_from_mw``,
        ``line_q_from_mvar``, ``line_pl_mw``; ``time × trafo``: ``trafo_loading_percent``,
        ``trafo_pl_mw``; ``converged (time)``. Steps that do not converge are NaN.
    """
    if tap_control:
        raise NotImplementedError(
            "tap_control=True (OLTC per step) is not implemented yet; taps stay at net.trafo.tap_pos"
        )
    index = validate_profiles(net, profiles)
    if times is None:
        positions = np.arange(len(index))
    else:
        wanted = pd.Index(times)
        positions = index.get_indexer(wanted)
        if (positions < 0).any():
            bad = wanted[positions < 0]
            raise ValueError(
                f"times {list(bad[:3])} are not in the profiles ({index[0]} to {index[-1]})"
            )
    model = build_model(net)
    n_ppci = model.ybus.shape[0]
    if chunk_steps is None:
        chunk_steps = int(np.clip(CHUNK_VALUES // max(n_ppci, 1), 96, 35_136))
    if chunk_steps < 1:
        raise ValueError(f"chunk_steps must be at least 1, not {chunk_steps}")

    injections = _injection_maps(net, profiles)
    n_t = len(positions)
    out = _allocate(n_t, len(net.bus), len(net.line), len(net.trafo))
    for start in range(0, n_t, chunk_steps):
        sel = positions[start:start + chunk_steps]
        s_pu, bus_dp, bus_dq = _chunk_injections(injections, model, sel, len(net.bus))
        v, ok = solve_chunk(model, s_pu)
        _store_results(out, slice(start, start + len(sel)), net, model, v, ok, s_pu,
                       bus_dp, bus_dq)
        if progress is not None:
            progress(min(start + chunk_steps, n_t), n_t)
    return _dataset(out, index[positions], net)


# --------------------------------------------------------------------------------------------
# injections


@dataclass
class _Injection:
    values: np.ndarray  # time × element, the profile [MW] or [Mvar]
    base: np.ndarray  # the net's own value per element, already in the model
    bus: np.ndarray  # position of each element's bus in net.bus
    factor: np.ndarray  # load-convention sign × scaling × in service
    reactive: bool


def _injection_maps(net, profiles: dict) -> list[_Injection]:
    bus_pos = pd.Index(net.bus.index)
    maps = []
    for name, (table, column, sign) in PROFILE_COLUMNS.items():
        if name not in profiles:
            continue
        df = profiles[name]
        elements = net[table].loc[df.columns]
        factor = -sign * (elements.scaling.to_numpy(dtype=float)
                          * elements.in_service.to_numpy(dtype=float))
        maps.append(_Injection(
            df.to_numpy(dtype=float), elements[column].to_numpy(dtype=float),
            bus_pos.get_indexer(elements.bus).astype(np.int64), factor, column == "q_mvar"))
    return maps


def _chunk_injections(injections, model: AdmittanceModel, sel: np.ndarray, n_bus: int):
    """Return complex injections [p.u.] (step × ppci bus) and bus power changes [MW], [Mvar]
    (step × net bus) against the net's own values."""
    dp = np.zeros((len(sel), n_bus))
    dq = np.zeros((len(sel), n_bus))
    for inj in injections:
        _scatter_profiles(inj.values, sel.astype(np.int64), inj.base, inj.bus, inj.factor,
                          dq if inj.reactive else dp)
    s = np.empty((len(sel), len(model.s0_pu)), dtype=complex)
    _ppci_injections(dp, dq, model.bus_ppci, model.s0_pu, model.base_mva, s)
    return s, dp, dq


@numba.njit(cache=True)
def _scatter_profiles(values, sel, base, bus, factor, out):  # pragma: no cover
    for r in range(len(sel)):
        row = sel[r]
        for k in range(len(base)):
            out[r, bus[k]] += factor[k] * (values[row, k] - base[k])


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
    pq = model.pq
    v = np.empty((n_t, model.ybus.shape[0]), dtype=complex)
    v[:] = model.v0
    ok = np.zeros(n_t, dtype=bool)
    if len(pq):
        v_pq = np.empty((n_t, len(pq)), dtype=complex)
        _fixed_point_steps(*model.factors, np.ascontiguousarray(s_pu[:, pq]), model.i_ref,
                           model.v0[pq], tol, FIXED_POINT_ITERATIONS, v_pq, ok)
        v[:, pq] = v_pq
    else:
        ok[:] = True
    for k in np.flatnonzero(~ok):
        start = v[k] if np.isfinite(v[k]).all() else model.v0
        v[k], ok[k] = newton_raphson(model, s_pu[k], start, tol)
        if not ok[k]:
            v[k], ok[k] = newton_raphson(model, s_pu[k], model.v0, tol)
    v[~ok] = np.nan
    return v, ok


def _lu_factors(lu) -> tuple:
    """Split a SuperLU factorisation into flat arrays for :func:`_fixed_point_steps`."""
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


@numba.njit(cache=True)
def _fixed_point_steps(l_ptr, l_idx, l_val, l_diag, u_ptr, u_idx, u_val, u_diag, perm_r, perm_c,
                       s_pq, i_ref, v_start, tol, max_iter, v_out, ok):  # pragma: no cover
    """Z-bus fixed point, step after step, each warm-started from the last converged one.

    The mismatch after an update is exactly ``|S| |V_new - V_old| / |V_old|`` per bus.
    """
    n_t, n = s_pq.shape
    v = v_start.copy()
    b = np.empty(n, dtype=np.complex128)
    u_inv = 1.0 / u_diag
    l_inv = 1.0 / l_diag
    tol2 = tol * tol
    for t in range(n_t):
        converged = False
        for _ in range(max_iter):
            for i in range(n):
                vi = v[i]
                si = s_pq[t, i]
                # conj(S / V) = conj(S) V / |V|^2
                b[perm_r[i]] = (si.conjugate() * vi) / (vi.real * vi.real + vi.imag * vi.imag) \
                    - i_ref[i]
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
            worst = 0.0
            for i in range(n):
                xi = b[perm_c[i]]
                vi = v[i]
                si = s_pq[t, i]
                d = xi - vi
                m = (si.real * si.real + si.imag * si.imag) * (d.real * d.real + d.imag * d.imag) \
                    - tol2 * (vi.real * vi.real + vi.imag * vi.imag)
                if not m <= worst:  # larger, or NaN
                    worst = m if m == m else np.inf
                v[i] = xi
            if worst <= 0.0:
                converged = True
                break
            if not np.isfinite(worst):
                break
        ok[t] = converged
        for i in range(n):
            v_out[t, i] = v[i]
        if not converged:
            for i in range(n):
                v[i] = v_start[i]


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


def _allocate(n_t: int, n_bus: int, n_line: int, n_trafo: int) -> dict:
    shapes = {"vm_pu": n_bus, "va_degree": n_bus, "p_mw": n_bus, "q_mvar": n_bus,
              "line_loading_percent": n_line, "line_p_from_mw": n_line,
              "line_q_from_mvar": n_line, "line_pl_mw": n_line,
              "trafo_loading_percent": n_trafo, "trafo_pl_mw": n_trafo}
    out = {k: np.empty((n_t, n)) for k, n in shapes.items()}  # every row is written
    out["converged"] = np.zeros(n_t, dtype=bool)
    return out


def _store_results(out, rows: slice, net, model: AdmittanceModel, v, ok, s_pu, bus_dp, bus_dq):
    """Write a chunk's results (arrays step × element) into ``out`` at ``rows``."""
    base = model.base_mva
    failed = ~ok
    # buses: NaN where pandapower has none (unsupplied buses)
    supplied = model.bus_ppci >= 0
    v_bus = np.full((v.shape[0], len(net.bus)), np.nan, dtype=complex)
    v_bus[:, supplied] = v[:, model.bus_ppci[supplied]]
    vm = np.abs(v_bus)
    p = bus_dp + model.static_p_mw
    q = bus_dq + model.static_q_mvar
    p[:, ~supplied] = model.static_p_mw[~supplied]  # what runpp reports for unsupplied buses
    q[:, ~supplied] = model.static_q_mvar[~supplied]
    if len(model.ext_grid_ppci):
        r = model.ext_grid_ppci
        s_inj = v[:, r] * np.conj(v @ model.ybus[r].T) - s_pu[:, r]  # ext_grid's share [p.u.]
        p[:, model.ext_grid_bus] -= s_inj.real * base
        q[:, model.ext_grid_bus] -= s_inj.imag * base
    if len(model.shunt_bus):
        vm2 = vm[:, model.shunt_bus] ** 2
        np.add.at(p.T, model.shunt_bus, model.shunt_p_mw[:, None] * vm2.T)
        np.add.at(q.T, model.shunt_bus, model.shunt_q_mvar[:, None] * vm2.T)
    p[failed] = np.nan
    q[failed] = np.nan
    out["vm_pu"][rows] = vm
    out["va_degree"][rows] = np.degrees(np.angle(v_bus))
    out["p_mw"][rows] = p
    out["q_mvar"][rows] = q
    out["converged"][rows] = ok

    # branches: flows of pandapower's in-service branches, 0 for the others (as runpp)
    for table, br in (("line", model.lines), ("trafo", model.trafos)):
        if br is None:
            continue
        scratch = np.empty((v.shape[0], len(br.f)))
        _branch_results(v, ok, br.f, br.t, br.yff, br.yft, br.ytf, br.ytt, br.kv_f, br.kv_t,
                        br.scale_f, br.scale_t, br.live, br.dead_nan, model.base_mva,
                        out[f"{table}_loading_percent"][rows], out[f"{table}_pl_mw"][rows],
                        out[f"{table}_p_from_mw"][rows] if table == "line" else scratch,
                        out[f"{table}_q_from_mvar"][rows] if table == "line" else scratch)


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
                     dead_nan)


@numba.njit(cache=True)
def _branch_results(v, ok, f, t, yff, yft, ytf, ytt, kv_f, kv_t, scale_f, scale_t, live,
                    dead_nan, base_mva, loading, pl, p_from, q_from):  # pragma: no cover
    sq3 = np.sqrt(3.0)
    for r in range(v.shape[0]):
        row = r
        for j in range(len(f)):
            if not ok[r]:
                loading[row, j] = np.nan
                pl[row, j] = np.nan
                p_from[row, j] = np.nan
                q_from[row, j] = np.nan
                continue
            if not live[j]:
                loading[row, j] = np.nan if dead_nan[j] else 0.0
                pl[row, j] = 0.0
                p_from[row, j] = 0.0
                q_from[row, j] = 0.0
                continue
            vf = v[r, f[j]]
            vt = v[r, t[j]]
            sf = vf * (yff[j] * vf + yft[j] * vt).conjugate() * base_mva
            st = vt * (ytf[j] * vf + ytt[j] * vt).conjugate() * base_mva
            i_f = abs(sf) / (abs(vf) * kv_f[j] * sq3)  # [kA]
            i_t = abs(st) / (abs(vt) * kv_t[j] * sq3)
            if np.isinf(scale_f[j]):
                loading[row, j] = np.inf
            else:
                loading[row, j] = max(i_f * scale_f[j], i_t * scale_t[j]) * 100.0
            pl[row, j] = sf.real + st.real
            p_from[row, j] = sf.real
            q_from[row, j] = sf.imag


def _dataset(out: dict, times: pd.Index, net) -> xr.Dataset:
    dims = {"vm_pu": "bus", "va_degree": "bus", "p_mw": "bus", "q_mvar": "bus",
            "line_loading_percent": "line", "line_p_from_mw": "line",
            "line_q_from_mvar": "line", "line_pl_mw": "line",
            "trafo_loading_percent": "trafo", "trafo_pl_mw": "trafo"}
    data = {k: (("time", d), out[k], {"units": RESULT_UNITS[k]}) for k, d in dims.items()}
    data["converged"] = (("time",), out["converged"],
                         {"units": RESULT_UNITS["converged"],
                          "description": "power flow converged; results are NaN where not"})
    if isinstance(times, pd.DatetimeIndex) and times.tz is not None:
        times = times.tz_convert("UTC").tz_localize(None)
    ds = xr.Dataset(
        data,
        coords={"time": np.asarray(times), "bus": net.bus.index.to_numpy(),
                "line": net.line.index.to_numpy(), "trafo": net.trafo.index.to_numpy()},
    )
    ds["time"].attrs["timezone"] = "UTC"
    ds.attrs["engine"] = "twin.electric.qsts (Z-bus fixed point, Newton-Raphson fallback)"
    ds.attrs["tolerance_pu"] = TOLERANCE_PU
    return ds
