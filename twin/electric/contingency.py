"""N-1 contingency analysis: every line and transformer outage, what it breaks, whom it cuts off.

For each outage the element is taken out of service (no switching afterwards: the grid as
operated), the buses left without a path to a slack are found from the topology (and which of
them a closed normally-open point could reconnect), and AC power flows at the study hours (by
default the hour of peak load and the hour of peak export) give the voltage-band and thermal
violations it causes on the rest of the grid. Outages are ranked by the customers they leave
unsupplied, then by the worst overload, then by the worst voltage.

Method
------
*Topology.* One depth-first search from the slack buses numbers every bus in preorder and finds
the bridges (Tarjan's low-link): the outage of a bridge cuts off exactly the subtree below it,
a contiguous run of the preorder, so the customers, buses and load it strands are prefix-sum
differences. Parallel branches and closed loops are not bridges. The same search on the grid
with every normally-open switch closed gives what switching could restore.

*Power flow.* Every outage is solved on the base case's factorised admittance matrix (the
implicit Z-bus fixed point of :mod:`twin.electric.qsts`, warm-started from the base case): taking
a branch out changes ``Y`` by a rank-2 term ``E B E^T`` at its two end buses, so each iteration
is one base solve plus the Woodbury correction (Woodbury 1950; Alsac, Stott & Tinney 1983,
"Sparsity-oriented compensation methods for modified network solutions")::

    (A - P B P^T)^-1 r = z + W B (I - P^T W B)^-1 P^T z,   z = A^-1 r,  W = A^-1 P

For a bridge, the cut-off side keeps its own block of ``Y`` (as if grounded through the
outaged branch) with no injections, so its voltages are exactly zero and the rest of the grid
is solved exactly as without it. An outage whose fixed point does not settle is flagged
``converged=False`` with NaN figures, never filled in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numba
import numpy as np
import pandapower as pp
import pandas as pd

from twin.electric.hosting_capacity import DISTRIBUTION_MAX_KV, critical_hours
from twin.electric.powerflow import MAX_LOADING_PERCENT, VOLTAGE_BAND_PU
from twin.electric.qsts import (
    FIXED_POINT_ITERATIONS,
    TOLERANCE_PU,
    AdmittanceModel,
    as_profile_source,
    build_model,
    bus_injections,
    end_loading,
    injected_current,
    mismatch_excess,
    percent_per_pu,
    solve_chunk,
    step_positions,
    triangular_solves,
)

#: Element tables whose outages are studied.
OUTAGE_TABLES = ("line", "trafo")
#: Outages solved per call of the numerical kernel (progress is reported between calls).
OUTAGE_BATCH = 512


class ContingencyError(ValueError):
    """The study cannot be set up (unknown element, no study hours, base case not solved)."""


def study_hours(profiles) -> pd.DatetimeIndex:
    """The hour of peak load and the hour of peak net export (PV minus load) of the profiles
    (a dict of DataFrames or a chunked profile source)."""
    totals = {name: total.to_frame() for name, total in profile_totals(profiles).items()}
    load = totals["load_p_mw"].iloc[:, 0]
    return pd.Index([load.idxmax(), *critical_hours(totals, n=1)]).unique().sort_values()


def profile_totals(profiles, chunk_steps: int = 2048) -> dict[str, pd.Series]:
    """Sum over elements, per step, of each profile table [MW or Mvar], chunk by chunk for a
    profile source."""
    if isinstance(profiles, dict):
        return {name: df.sum(axis=1) for name, df in profiles.items()}
    index = profiles.index
    out = {}
    for name in profiles.names:
        parts = [np.asarray(profiles.chunk(name, np.arange(a, min(a + chunk_steps, len(index)))),
                            dtype=float).sum(axis=1)
                 for a in range(0, len(index), chunk_steps)]
        out[name] = pd.Series(np.concatenate(parts), index=index)
    return out


def outage_list(net: pp.pandapowerNet, tables: Sequence[str] = OUTAGE_TABLES) -> pd.DataFrame:
    """Every in-service element of ``tables`` as an outage to study: ``element_type``, ``element``,
    ``name``."""
    rows = []
    for table in tables:
        live = net[table].index[net[table].in_service]
        rows.append(pd.DataFrame({"element_type": table, "element": live,
                                  "name": net[table].loc[live, "name"].to_numpy()}))
    return pd.concat(rows, ignore_index=True)


def customers_per_bus(net: pp.pandapowerNet, customers: pd.DataFrame | None) -> pd.Series:
    """Customers supplied at each bus [-], from ``customers.load`` (a pandapower load index)."""
    if customers is None or customers.empty:
        return pd.Series(0, index=net.bus.index)
    bus = net.load.bus.reindex(customers["load"]).to_numpy()
    return pd.Series(bus).value_counts().reindex(net.bus.index, fill_value=0)


@dataclass
class TreeIslands:
    """What the outage of each edge of a graph cuts off from its roots (slack buses).

    Nodes reached from a root are numbered in depth-first preorder; a node's subtree is the run
    ``order[first[node]:end[node]]``.
    """

    order: np.ndarray  # reached nodes in preorder
    first: np.ndarray  # per node: its position in ``order`` (-1: no root reaches it)
    end: np.ndarray  # per node: one past the last position of its subtree
    cut_off: np.ndarray  # per edge: the node whose subtree its outage strands (-1: none)

    def island(self, edge: int) -> np.ndarray:
        """Return the nodes the outage of ``edge`` cuts off (empty if it is no bridge)."""
        c = self.cut_off[edge]
        return self.order[self.first[c]:self.end[c]] if c >= 0 else self.order[:0]

    def stranded(self, edges: np.ndarray, per_node: np.ndarray) -> np.ndarray:
        """Return the sum of ``per_node`` (``... × node``) over what each of ``edges`` cuts off
        (``... × edge``; 0 for edges that are no bridge)."""
        values = np.asarray(per_node, dtype=float)[..., self.order]
        cum = np.concatenate([np.zeros((*values.shape[:-1], 1)), np.cumsum(values, axis=-1)],
                             axis=-1)
        c = self.cut_off[np.asarray(edges, dtype=np.int64)]
        hit = c >= 0
        c = np.where(hit, c, 0)
        return np.where(hit, cum[..., self.end[c]] - cum[..., self.first[c]], 0.0)


def bridge_islands(n_nodes: int, ends: np.ndarray, roots: Sequence[int]) -> TreeIslands:
    """Find, for every edge of an undirected multigraph, the nodes its outage cuts off.

    Parameters
    ----------
    n_nodes : int
        Nodes ``0 .. n_nodes-1``.
    ends : ndarray of int, shape (n_edges, 2)
        The two end nodes of each edge; parallel edges and self-loops are allowed.
    roots : sequence of int
        Supply points (slack buses); a node is supplied while a path joins it to any root.

    Returns
    -------
    TreeIslands
        An edge is a bridge when no other path joins its lower end's subtree to the rest
        (Tarjan 1974, low-link of a depth-first search), and then it cuts off that subtree.
    """
    ends = np.asarray(ends, dtype=np.int64).reshape(-1, 2)
    n_edges = len(ends)
    # a virtual root joined to every supply point, by edges that are never outaged
    roots = np.unique(np.asarray(roots, dtype=np.int64))
    a = np.concatenate([ends[:, 0], np.full(len(roots), n_nodes)])
    b = np.concatenate([ends[:, 1], roots])
    eid = np.arange(len(a))
    src = np.concatenate([a, b])
    dst = np.concatenate([b, a])
    edge = np.concatenate([eid, eid])
    by = np.argsort(src, kind="stable")
    ptr = np.searchsorted(src[by], np.arange(n_nodes + 2))
    nbr, nbr_edge = dst[by].tolist(), edge[by].tolist()
    ptr = ptr.tolist()

    first = [-1] * (n_nodes + 1)
    low = [0] * (n_nodes + 1)
    end = [0] * (n_nodes + 1)
    cut_off = np.full(n_edges, -1, dtype=np.int64)
    order: list[int] = []
    root = n_nodes
    first[root] = low[root] = 0
    order.append(root)
    stack = [(root, -1, ptr[root])]  # node, edge it was reached by, next adjacency position
    while stack:
        node, via, k = stack[-1]
        if k < ptr[node + 1]:
            stack[-1] = (node, via, k + 1)
            e, w = nbr_edge[k], nbr[k]
            if e == via:
                continue
            if first[w] < 0:
                first[w] = low[w] = len(order)
                order.append(w)
                stack.append((w, e, ptr[w]))
            elif first[w] < low[node]:
                low[node] = first[w]
            continue
        stack.pop()
        end[node] = len(order)
        if stack:
            parent = stack[-1][0]
            if low[node] < low[parent]:
                low[parent] = low[node]
            if low[node] > first[parent] and via < n_edges:
                cut_off[via] = node
    # drop the virtual root from the numbering
    first_arr = np.asarray(first[:n_nodes], dtype=np.int64)
    reached = first_arr >= 0
    return TreeIslands(order=np.asarray(order[1:], dtype=np.int64),
                       first=np.where(reached, first_arr - 1, -1),
                       end=np.where(reached, np.asarray(end[:n_nodes], dtype=np.int64) - 1, -1),
                       cut_off=cut_off)


def tied_graph(net: pp.pandapowerNet) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """The grid's buses and branches with every switch closed (what switching can reach).

    Returns
    -------
    ends : ndarray of int, shape (n_edges, 2)
        Edges between positions in ``net.bus``: in-service lines, transformers, three-winding
        transformers, impedances, and every bus-bus switch.
    edge_of : dict of ndarray
        For ``line`` and ``trafo``: the edge of each element (by position; -1 if not an edge).
    roots : ndarray of int
        Positions of the in-service ext_grids' buses.
    """
    pos = pd.Index(net.bus.index)
    live_bus = net.bus.in_service.to_numpy()
    parts, edge_of, n = [], {}, 0
    tables = [("line", "from_bus", "to_bus"), ("trafo", "hv_bus", "lv_bus"),
              ("trafo3w", "hv_bus", "mv_bus"), ("trafo3w", "hv_bus", "lv_bus"),
              ("impedance", "from_bus", "to_bus")]
    for table, fb, tb in tables:
        df = net[table] if table in net else None
        if df is None or not len(df):
            if table in OUTAGE_TABLES:
                edge_of[table] = np.zeros(0, dtype=np.int64)
            continue
        f, t = pos.get_indexer(df[fb]), pos.get_indexer(df[tb])
        ok = df.in_service.to_numpy() & live_bus[f] & live_bus[t]
        if table in OUTAGE_TABLES:
            edge_of[table] = np.where(ok, n + np.cumsum(ok) - 1, -1)
        parts.append(np.column_stack([f[ok], t[ok]]))
        n += int(ok.sum())
    sw = net.switch[net.switch.et == "b"]
    f, t = pos.get_indexer(sw.bus), pos.get_indexer(sw.element)
    ok = live_bus[f] & live_bus[t]
    parts.append(np.column_stack([f[ok], t[ok]]))
    eg = net.ext_grid[net.ext_grid.in_service]
    return (np.concatenate(parts).astype(np.int64), edge_of,
            pos.get_indexer(eg.bus).astype(np.int64))


def n_minus_1(
    net: pp.pandapowerNet,
    profiles,
    times: Sequence | None = None,
    outages: pd.DataFrame | None = None,
    customers: pd.DataFrame | None = None,
    voltage_band_pu: tuple[float, float] = VOLTAGE_BAND_PU,
    max_loading_percent: float = MAX_LOADING_PERCENT,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Study every single outage of a line or transformer, ranked by its consequences.

    Parameters
    ----------
    net : pandapowerNet
        The grid as operated (not changed).
    profiles : dict of DataFrame or profile source
        ``load_p_mw`` [MW], ``load_q_mvar`` [Mvar], ``sgen_p_mw`` [MW], time × element; or a
        chunked source (:class:`twin.electric.profiles.SimbenchProfileSource`).
    times : sequence of Timestamp, optional
        Study hours; default :func:`study_hours` (peak load and peak export).
    outages : DataFrame, optional
        ``element_type`` (``line`` / ``trafo``) and ``element`` to study; default
        :func:`outage_list`, every in-service line and transformer.
    customers : DataFrame, optional
        The city's customers (``load`` column) to count those left unsupplied.
    voltage_band_pu : (float, float)
        Allowed band at the distribution buses still supplied [p.u.].
    max_loading_percent : float
        Thermal limit [%].
    progress : callable, optional
        ``progress(done, total)`` after every batch of outages.

    Returns
    -------
    DataFrame
        One row per outage, ranked (``rank`` 1 = worst): ``element_type``, ``element``, ``name``,
        ``customers_unsupplied``, ``customers_restorable`` (of those, how many closing
        normally-open switches could reconnect: a topological check, not a load flow of the
        restored grid), ``buses_unsupplied``, ``load_unsupplied_mw`` [MW, the most
        over the study hours], ``overloads`` (elements above the limit at any study hour),
        ``max_line_loading_percent`` [%], ``worst_line``, ``max_trafo_loading_percent`` [%],
        ``voltage_violations`` (supplied distribution buses outside the band), ``vm_min_pu``,
        ``vm_max_pu`` [p.u.], ``converged``.

    Raises
    ------
    ContingencyError
        Unknown outage elements, no study hours, or a base case that does not converge.
    """
    source = as_profile_source(net, profiles)
    times = pd.Index(study_hours(profiles) if times is None else times)
    if not len(times):
        raise ContingencyError("no study hours given")
    outages = outage_list(net) if outages is None else outages.reset_index(drop=True)
    for table, element in zip(outages.element_type, outages.element, strict=True):
        if table not in OUTAGE_TABLES or element not in net[table].index:
            raise ContingencyError(f"{table} {element} is not in the grid; outages are lines "
                                   "and transformers of the net")
    positions = step_positions(source.index, times)
    model = build_model(net)
    s_pu = bus_injections(net, model, source, positions)
    v_base, ok = solve_chunk(model, s_pu)
    if not ok.all():
        raise ContingencyError(
            f"the grid without outages does not converge at {list(times[~ok])}; N-1 needs a "
            "solvable base case")

    elem_pos = np.array([net[t].index.get_loc(e) for t, e in
                         zip(outages.element_type, outages.element, strict=True)], dtype=np.int64)
    is_trafo = outages.element_type.eq("trafo").to_numpy()
    res = _topology_figures(net, model, source, positions, customers, elem_pos, is_trafo)
    flows = _outage_flows(net, model, s_pu, v_base, elem_pos, is_trafo, res.pop("_island"),
                          voltage_band_pu, max_loading_percent, progress)
    res = pd.concat([outages[["element_type", "element"]],
                     pd.Series(_names(net, outages), name="name"),
                     pd.DataFrame(res), flows], axis=1)
    res = res.sort_values(["customers_unsupplied", "converged", "overloads",
                           "max_line_loading_percent", "voltage_violations"],
                          ascending=[False, True, False, False, False], kind="stable")
    res.insert(0, "rank", np.arange(1, len(res) + 1))
    return res.reset_index(drop=True)


def _names(net: pp.pandapowerNet, outages: pd.DataFrame) -> np.ndarray:
    """The ``name`` of each outaged element."""
    return np.array([net[t].at[e, "name"] for t, e in
                     zip(outages.element_type, outages.element, strict=True)], dtype=object)


def _branch_table(model: AdmittanceModel, is_trafo: bool):
    return model.trafos if is_trafo else model.lines


def _topology_figures(net, model: AdmittanceModel, source, positions, customers, elem_pos,
                      is_trafo) -> dict:
    """Buses, customers and load each outage cuts off, and the customers switching restores.

    Returns columns (one value per outage) and ``_island``: per outage, the preorder run
    ``(first, end)`` of the ppci buses it cuts off and the ppci branch row it removes.
    """
    n_ppci = model.ybus.shape[0]
    grid = bridge_islands(n_ppci, model.branch_ends, model.ref)
    rows = np.array([_branch_table(model, tr).row[p] if _branch_table(model, tr) is not None
                     else -1 for p, tr in zip(elem_pos, is_trafo, strict=True)], dtype=np.int64)
    supplied = model.bus_ppci >= 0
    at = model.bus_ppci[supplied]
    cust = customers_per_bus(net, customers).to_numpy(dtype=float)
    buses_ppci = np.bincount(at, minlength=n_ppci)
    cust_ppci = np.bincount(at, weights=cust[supplied], minlength=n_ppci)
    edges = np.where(rows >= 0, rows, 0)
    cut = np.where(rows >= 0, grid.cut_off[edges], -1)

    # load cut off [MW]: in-service loads (profile value, else the net's, times scaling) at
    # their supplied buses, per study hour
    p_mw = np.repeat(net.load.p_mw.to_numpy(dtype=float)[None, :], len(positions), axis=0)
    if "load_p_mw" in source.names:
        cols = net.load.index.get_indexer(source.elements("load_p_mw"))
        p_mw[:, cols] = np.asarray(source.chunk("load_p_mw", positions), dtype=float)
    p_mw *= net.load.scaling.to_numpy(dtype=float)
    bus = model.bus_ppci[pd.Index(net.bus.index).get_indexer(net.load.bus)]
    take = net.load.in_service.to_numpy(dtype=bool) & (bus >= 0)
    load_ppci = np.array([np.bincount(bus[take], weights=p_mw[h, take], minlength=n_ppci)
                          for h in range(len(positions))]).reshape(len(positions), n_ppci)

    tied_ends, edge_of, roots = tied_graph(net)
    tied = bridge_islands(len(net.bus), tied_ends, roots)
    tied_edge = np.array([edge_of["trafo" if tr else "line"][p]
                          for p, tr in zip(elem_pos, is_trafo, strict=True)], dtype=np.int64)
    stranded = np.where(tied_edge >= 0, tied.stranded(np.maximum(tied_edge, 0), cust), 0.0)
    unsupplied = np.where(rows >= 0, grid.stranded(edges, cust_ppci), 0.0)
    hit = cut >= 0
    cut0 = np.where(hit, cut, 0)
    return {
        "customers_unsupplied": np.rint(unsupplied).astype(np.int64),
        "customers_restorable": np.rint(unsupplied - stranded).astype(np.int64),
        "buses_unsupplied": np.rint(np.where(rows >= 0, grid.stranded(edges, buses_ppci),
                                             0)).astype(np.int64),
        "load_unsupplied_mw": np.where(rows >= 0, grid.stranded(edges, load_ppci), 0.0)
        .max(axis=0),
        "_island": (np.where(hit, grid.first[cut0], 0), np.where(hit, grid.end[cut0], 0),
                    grid.order, rows),
    }


def _outage_flows(net, model: AdmittanceModel, s_pu, v_base, elem_pos, is_trafo, island, band,
                  max_loading, progress) -> pd.DataFrame:
    """AC power flow of every outage at the study hours; the violations it causes."""
    first, end, order, rows = island
    n_out = len(elem_pos)
    n_lines = len(net.line)
    # the outaged branch: its ppci ends and admittance change B (Y_new = Y - E B E^T)
    ends = np.full((n_out, 2), -1, dtype=np.int64)
    b_mat = np.zeros((n_out, 2, 2), dtype=complex)
    out_branch = np.full(n_out, -1, dtype=np.int64)
    n_ppci = model.ybus.shape[0]
    preorder = np.zeros(n_ppci, dtype=np.int64)  # each ppci bus's place in the preorder
    preorder[order] = np.arange(len(order))
    for o, (p, tr) in enumerate(zip(elem_pos, is_trafo, strict=True)):
        br = _branch_table(model, tr)
        out_branch[o] = n_lines + p if tr else p
        if br is None or rows[o] < 0 or br.f[p] == br.t[p]:
            continue  # nothing to take out (not in service, or both ends on one bus)
        ends[o] = br.f[p], br.t[p]
        b_mat[o] = [[br.yff[p], br.yft[p]], [br.ytf[p], br.ytt[p]]]
        for e in range(2):  # a bridge: the cut-off end keeps its own self-admittance
            if first[o] <= preorder[ends[o, e]] < end[o]:
                b_mat[o, e, e] = 0.0
    pq_of = np.full(n_ppci, -1, dtype=np.int64)
    pq_of[model.pq] = np.arange(len(model.pq))
    branch = _all_branches(model, n_lines, len(net.trafo))
    dist_pos = np.flatnonzero(net.bus.vn_kv.to_numpy() <= DISTRIBUTION_MAX_KV)
    dist = model.bus_ppci[dist_pos]
    dist = dist[dist >= 0]

    out = {k: np.empty(n_out) for k in ("vm_min_pu", "vm_max_pu", "max_line_loading_percent",
                                        "max_trafo_loading_percent")}
    counts = {k: np.zeros(n_out, dtype=np.int64) for k in ("overloads", "voltage_violations",
                                                          "worst_line")}
    converged = np.zeros(n_out, dtype=bool)
    for a in range(0, n_out, OUTAGE_BATCH):
        sl = slice(a, min(n_out, a + OUTAGE_BATCH))
        _solve_outages(*model.factors, pq_of, model.pq, model.i_ref, model.v0, s_pu, v_base,
                       ends[sl], b_mat[sl], first[sl], end[sl], order, out_branch[sl],
                       *branch, n_lines, dist, band[0], band[1], max_loading, TOLERANCE_PU,
                       FIXED_POINT_ITERATIONS, converged[sl], out["vm_min_pu"][sl],
                       out["vm_max_pu"][sl], counts["voltage_violations"][sl],
                       out["max_line_loading_percent"][sl], counts["worst_line"][sl],
                       out["max_trafo_loading_percent"][sl], counts["overloads"][sl])
        if progress is not None:
            progress(sl.stop, n_out)
    worst = counts.pop("worst_line")
    res = pd.DataFrame({**counts, **out, "converged": converged})
    res["worst_line"] = np.where(worst >= 0, net.line.index.to_numpy()[np.maximum(worst, 0)]
                                 if n_lines else -1, -1)
    return res[["overloads", "max_line_loading_percent", "worst_line",
                "max_trafo_loading_percent", "voltage_violations", "vm_min_pu", "vm_max_pu",
                "converged"]]


def _all_branches(model: AdmittanceModel, n_lines: int, n_trafos: int) -> tuple:
    """Lines then transformers as flat arrays: ends, admittances, loading [%] per p.u. of
    current at each end (:func:`~twin.electric.qsts.percent_per_pu`), live."""
    dtypes = {"f": np.int64, "t": np.int64, "yff": complex, "yft": complex, "ytf": complex,
              "ytt": complex, "ka_f": float, "ka_t": float, "live": bool}
    cols = {k: [] for k in dtypes}
    for br, n in ((model.lines, n_lines), (model.trafos, n_trafos)):
        if br is None:
            for k, dtype in dtypes.items():
                cols[k].append(np.zeros(n, dtype=dtype))
            continue
        for k in ("f", "t", "yff", "yft", "ytf", "ytt", "live"):
            cols[k].append(getattr(br, k))
        cols["ka_f"].append(percent_per_pu(model.base_mva, br.kv_f, br.scale_f))
        cols["ka_t"].append(percent_per_pu(model.base_mva, br.kv_t, br.scale_t))
    return tuple(np.ascontiguousarray(np.concatenate(cols[k])) for k in cols)


@numba.njit(cache=True, parallel=True)
def _solve_outages(l_ptr, l_idx, l_val, l_diag, u_ptr, u_idx, u_val, u_diag, perm_r, perm_c,
                   pq_of, pq, i_ref, v0, s, v_base, ends, b_mat, isl_first, isl_end, order,
                   out_branch, bf, bt, byff, byft, bytf, bytt, ka_f, ka_t, blive, n_lines,
                   dist, vm_lo, vm_hi, max_loading, tol, max_iter, converged, vm_min, vm_max,
                   n_vviol, max_line, worst_line, max_trafo, n_over):  # pragma: no cover
    """Solve each outage at every study hour by the compensated Z-bus fixed point; write its
    figures (the study hours' worst) into the output arrays."""
    n = len(pq)
    n_bus = len(v0)
    n_h = s.shape[0]
    n_br = len(bf)
    l_inv = 1.0 / l_diag
    u_inv = 1.0 / u_diag
    tol2 = tol * tol
    for o in numba.prange(ends.shape[0]):
        isl = np.zeros(n_bus, dtype=np.bool_)
        for k in range(isl_first[o], isl_end[o]):
            isl[order[k]] = True
        # the outaged branch's PQ ends, and the change of Y_pr V_ref at them
        p = np.zeros(2, dtype=np.int64)
        side = np.zeros(2, dtype=np.int64)
        k_p = 0
        for e in range(2):
            bus = ends[o, e]
            if bus >= 0 and pq_of[bus] >= 0:
                p[k_p] = pq_of[bus]
                side[k_p] = e
                k_p += 1
        d_ref = np.zeros(2, dtype=np.complex128)
        for a in range(k_p):
            for e in range(2):
                bus = ends[o, e]
                if bus >= 0 and pq_of[bus] < 0:
                    d_ref[a] += b_mat[o, side[a], e] * v0[bus]
        # Woodbury: W = A^-1 P, K = I - P^T W B, M = W B K^-1
        w = np.zeros((n, 2), dtype=np.complex128)
        col = np.empty(n, dtype=np.complex128)
        for a in range(k_p):
            col[:] = 0.0
            col[perm_r[p[a]]] = 1.0
            triangular_solves(l_ptr, l_idx, l_val, l_inv, u_ptr, u_idx, u_val, u_inv, col)
            for i in range(n):
                w[i, a] = col[perm_c[i]]
        bpp = np.zeros((2, 2), dtype=np.complex128)
        kk = np.eye(2).astype(np.complex128)
        for a in range(k_p):
            for c in range(k_p):
                bpp[a, c] = b_mat[o, side[a], side[c]]
        for a in range(k_p):
            for c in range(k_p):
                for m in range(k_p):
                    kk[a, c] -= w[p[a], m] * bpp[m, c]
        det = kk[0, 0] * kk[1, 1] - kk[0, 1] * kk[1, 0] if k_p == 2 else kk[0, 0]
        if abs(det) < 1e-12:
            converged[o] = False
            continue
        k_inv = np.zeros((2, 2), dtype=np.complex128)
        if k_p == 2:
            k_inv[0, 0] = kk[1, 1] / det
            k_inv[1, 1] = kk[0, 0] / det
            k_inv[0, 1] = -kk[0, 1] / det
            k_inv[1, 0] = -kk[1, 0] / det
        elif k_p == 1:
            k_inv[0, 0] = 1.0 / det
        g = np.zeros((2, 2), dtype=np.complex128)
        for a in range(k_p):
            for c in range(k_p):
                for m in range(k_p):
                    g[a, c] += bpp[a, m] * k_inv[m, c]
        mm = np.zeros((n, 2), dtype=np.complex128)
        for i in range(n):
            for c in range(k_p):
                for a in range(k_p):
                    mm[i, c] += w[i, a] * g[a, c]

        v = np.empty(n, dtype=np.complex128)
        b = np.empty(n, dtype=np.complex128)
        zp = np.zeros(2, dtype=np.complex128)
        du = np.zeros(2, dtype=np.complex128)
        vfull = np.empty(n_bus, dtype=np.complex128)
        bmax = np.full(n_br, -1.0)
        viol = np.zeros(len(dist), dtype=np.bool_)
        lo = np.inf
        hi = -np.inf
        ok_all = True
        for h in range(n_h):
            # start from the base case plus its first-order change, A_new^-1 P (B V_p + dI_ref)
            for a in range(k_p):
                zp[a] = d_ref[a]
                for c in range(k_p):
                    zp[a] += bpp[a, c] * v_base[h, pq[p[c]]]
            for a in range(k_p):
                du[a] = 0.0
                for c in range(k_p):
                    du[a] += w[p[a], c] * zp[c]
            for i in range(n):
                if isl[pq[i]]:
                    v[i] = 0.0
                    continue
                vi = v_base[h, pq[i]]
                for a in range(k_p):
                    vi += w[i, a] * zp[a] + mm[i, a] * du[a]
                v[i] = vi
            settled = False
            for _ in range(max_iter):
                for i in range(n):
                    b[perm_r[i]] = 0.0 if isl[pq[i]] else \
                        injected_current(s[h, pq[i]], v[i]) - i_ref[i]
                for a in range(k_p):
                    if not isl[pq[p[a]]]:
                        b[perm_r[p[a]]] += d_ref[a]
                triangular_solves(l_ptr, l_idx, l_val, l_inv, u_ptr, u_idx, u_val, u_inv, b)
                for a in range(k_p):
                    zp[a] = b[perm_c[p[a]]]
                worst = 0.0
                for i in range(n):
                    if isl[pq[i]]:
                        continue
                    xi = b[perm_c[i]]
                    for a in range(k_p):
                        xi += mm[i, a] * zp[a]
                    m2 = mismatch_excess(s[h, pq[i]], xi - v[i], v[i], tol2)
                    if not m2 <= worst:
                        worst = m2 if m2 == m2 else np.inf
                    v[i] = xi
                if worst <= 0.0:
                    settled = True
                    break
                if not np.isfinite(worst):
                    break
            if not settled:
                ok_all = False
                break
            for i in range(n_bus):
                vfull[i] = v0[i]
            for i in range(n):
                vfull[pq[i]] = v[i]
            for q in range(len(dist)):
                if isl[dist[q]]:
                    continue
                vm = abs(vfull[dist[q]])
                lo = min(lo, vm)
                hi = max(hi, vm)
                if vm < vm_lo or vm > vm_hi:
                    viol[q] = True
            for j in range(n_br):
                if j == out_branch[o]:
                    bmax[j] = max(bmax[j], 0.0)
                    continue
                if not blive[j] or isl[bf[j]] or isl[bt[j]]:
                    continue
                vf = vfull[bf[j]]
                vt = vfull[bt[j]]
                load = end_loading(byff[j] * vf + byft[j] * vt, bytf[j] * vf + bytt[j] * vt,
                                   ka_f[j], ka_t[j])
                if load > bmax[j]:
                    bmax[j] = load
        converged[o] = ok_all
        if not ok_all:
            vm_min[o] = np.nan
            vm_max[o] = np.nan
            max_line[o] = np.nan
            max_trafo[o] = np.nan
            worst_line[o] = -1
            n_vviol[o] = 0
            n_over[o] = 0
            continue
        vm_min[o] = lo if lo <= hi else np.nan
        vm_max[o] = hi if lo <= hi else np.nan
        n_vviol[o] = viol.sum()
        over = 0
        best = -1.0
        best_j = -1
        top_trafo = -1.0
        for j in range(n_br):
            if bmax[j] > max_loading:
                over += 1
            if j < n_lines:
                if bmax[j] > best:
                    best = bmax[j]
                    best_j = j
            elif bmax[j] > top_trafo:
                top_trafo = bmax[j]
        n_over[o] = over
        max_line[o] = best if best_j >= 0 else np.nan
        worst_line[o] = best_j
        max_trafo[o] = top_trafo if top_trafo >= 0 else np.nan
