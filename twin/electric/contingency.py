"""N-1 contingency analysis: every line and transformer outage, what it breaks, whom it cuts off.

For each outage the element is taken out of service (no switching afterwards: the grid as
operated), the buses left without a path to a slack are found from the topology (and which of
them a closed normally-open point could reconnect), and AC power
flows at the study hours (by default the hour of peak load and the hour of peak export) give
the voltage-band and thermal violations it causes on the rest of the grid. Outages are ranked
by the customers they leave unsupplied, then by the worst overload, then by the worst voltage.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
import pandapower as pp
import pandapower.topology as top
import pandas as pd

from twin.electric.hosting_capacity import DISTRIBUTION_MAX_KV, critical_hours
from twin.electric.powerflow import MAX_LOADING_PERCENT, VOLTAGE_BAND_PU
from twin.electric.qsts import run_qsts

#: Element tables whose outages are studied.
OUTAGE_TABLES = ("line", "trafo")


class ContingencyError(ValueError):
    """The study cannot be set up (unknown element, no study hours)."""


def study_hours(profiles: dict) -> pd.DatetimeIndex:
    """The hour of peak load and the hour of peak net export (PV minus load) of the profiles."""
    load = profiles["load_p_mw"].sum(axis=1)
    return pd.Index([load.idxmax(), *critical_hours(profiles, n=1)]).unique().sort_values()


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


def _outage_result(net, ds, unsupplied: set, cust: pd.Series, dist: np.ndarray,
                   load_p_mw: pd.DataFrame, band, max_loading) -> dict:
    vm = ds["vm_pu"].sel(bus=dist).to_numpy()
    live = ~np.isin(dist, list(unsupplied))
    vm = vm[:, live]
    lines = ds["line_loading_percent"].to_numpy()
    trafos = ds["trafo_loading_percent"].to_numpy()
    with np.errstate(invalid="ignore"), np.testing.suppress_warnings() as sup:
        sup.filter(RuntimeWarning)
        vmin = float(np.nanmin(vm)) if vm.size else np.nan
        vmax = float(np.nanmax(vm)) if vm.size else np.nan
        line_max = np.nanmax(lines, axis=0) if lines.size else np.zeros(0)
        trafo_max = np.nanmax(trafos, axis=0) if trafos.size else np.zeros(0)
    worst_line = int(np.nanargmax(line_max)) if np.isfinite(line_max).any() else None
    cut = net.load.index[net.load.bus.isin(unsupplied) & net.load.in_service]
    cut_p = load_p_mw.reindex(columns=cut).sum(axis=1)
    return {
        "converged": bool(ds["converged"].all()),
        "buses_unsupplied": len(unsupplied),
        "customers_unsupplied": int(cust.reindex(list(unsupplied), fill_value=0).sum()),
        "load_unsupplied_mw": float(cut_p.max()) if len(cut) else 0.0,
        "vm_min_pu": vmin,
        "vm_max_pu": vmax,
        "max_line_loading_percent": float(np.nanmax(line_max)) if worst_line is not None
        else np.nan,
        "worst_line": int(ds["line"][worst_line]) if worst_line is not None else -1,
        "max_trafo_loading_percent": float(np.nanmax(trafo_max))
        if np.isfinite(trafo_max).any() else np.nan,
        "overloads": int((line_max > max_loading).sum() + (trafo_max > max_loading).sum()),
        "voltage_violations": int(((vm < band[0]) | (vm > band[1])).any(axis=0).sum()),
    }


def n_minus_1(
    net: pp.pandapowerNet,
    profiles: dict,
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
    profiles : dict of DataFrame
        ``load_p_mw`` [MW], ``load_q_mvar`` [Mvar], ``sgen_p_mw`` [MW], time × element.
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
        ``progress(done, total)`` after every outage.

    Returns
    -------
    DataFrame
        One row per outage, ranked (``rank`` 1 = worst): ``element_type``, ``element``, ``name``,
        ``customers_unsupplied``, ``customers_restorable`` (of those, how many closing
        normally-open switches could reconnect: a topological check, not a load flow of the
        restored grid), ``buses_unsupplied``, ``load_unsupplied_mw`` [MW, the most
        over the study hours], ``overloads`` (elements above the limit at any study hour),
        ``max_line_loading_percent`` [%], ``worst_line``, ``max_trafo_loading_percent`` [%],
        ``voltage_violations`` (supplied buses outside the band), ``vm_min_pu``, ``vm_max_pu``
        [p.u.], ``converged``.
    """
    times = study_hours(profiles) if times is None else pd.Index(times)
    if not len(times):
        raise ContingencyError("no study hours given")
    outages = outage_list(net) if outages is None else outages.reset_index(drop=True)
    for table, element in zip(outages.element_type, outages.element, strict=True):
        if table not in OUTAGE_TABLES or element not in net[table].index:
            raise ContingencyError(f"{table} {element} is not in the grid; outages are lines "
                                   "and transformers of the net")
    profs = {k: v.loc[times] for k, v in profiles.items()}
    study = copy.deepcopy(net)
    tied = copy.deepcopy(net)  # every normally-open point closed: what switching can restore
    tied.switch["closed"] = True
    cust = customers_per_bus(net, customers)
    dist = np.asarray(net.bus.index[net.bus.vn_kv <= DISTRIBUTION_MAX_KV])
    before = set(top.unsupplied_buses(study))
    rows = []
    for i, (table, element) in enumerate(zip(outages.element_type, outages.element,
                                             strict=True)):
        study[table].at[element, "in_service"] = False
        tied[table].at[element, "in_service"] = False
        try:
            unsupplied = set(top.unsupplied_buses(study)) - before
            stranded = set(top.unsupplied_buses(tied)) - before
            ds = run_qsts(study, profs)
            row = _outage_result(study, ds, unsupplied, cust, dist, profs["load_p_mw"],
                                 voltage_band_pu, max_loading_percent)
            row["customers_restorable"] = int(cust.reindex(list(unsupplied - stranded),
                                                           fill_value=0).sum())
            rows.append(row)
        finally:
            study[table].at[element, "in_service"] = True
            tied[table].at[element, "in_service"] = True
        if progress is not None:
            progress(i + 1, len(outages))
    res = pd.concat([outages[["element_type", "element"]],
                     pd.Series(net.line.name.reindex(outages.element).where(
                         outages.element_type.eq("line").to_numpy()).to_numpy(), name="name"),
                     pd.DataFrame(rows)], axis=1)
    trafo_names = net.trafo.name.reindex(outages.element).to_numpy()
    res["name"] = np.where(outages.element_type.eq("trafo"), trafo_names, res["name"])
    res = res.sort_values(["customers_unsupplied", "overloads", "max_line_loading_percent",
                           "voltage_violations"], ascending=False, kind="stable")
    res.insert(0, "rank", np.arange(1, len(res) + 1))
    return res.reset_index(drop=True)
