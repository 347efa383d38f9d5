"""Consequence of failure from the networks themselves, in money per failure.

* Lines and HV/MV transformers: the N-1 engine (:func:`twin.electric.contingency.n_minus_1`)
  gives the customers and critical customers an outage cuts off, how many switching restores,
  and the load lost. Restorable customers wait ``restore_hours``, the rest ``repair_hours``.
* Distribution transformers: their own LV customers, out until repaired.
* Switches on a line: as the line, restored by switching.
* Pipes: a pressure-driven EPANET run with the pipe closed; customers at junctions that fall
  below the service pressure (and were not below without the outage), for the repair time.
* Pumps: the pump stopped over its repair window (:func:`twin.coupling.pump_outage_hydraulics`).
* Pump coupling: an electric outage that cuts a pump's bus also costs the pump's water
  consequence (:func:`twin.coupling.pumps_fed_by`).

Money: customers interrupted × cost per interruption (critical ones weighted), energy not
supplied × value of lost load, customer-hours below service pressure × their cost, plus the
repair cost of the class (:mod:`.parameters`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from twin.maintenance import parameters as P


def electric_outages(city, profiles: dict) -> pd.DataFrame:
    """N-1 figures of every line and transformer, with critical customers cut: indexed by
    (``element_type``, ``element``)."""
    from twin.electric.contingency import n_minus_1

    res = n_minus_1(city.net, profiles, customers=city.customers)
    res = res.set_index(["element_type", "element"])
    res["critical_unsupplied"] = 0
    critical = city.customers[city.customers.customer_class == "critical"]
    cutting = res.index[res.customers_unsupplied > 0]
    if len(critical) and len(cutting):  # only outages that cut someone can cut them
        crit = n_minus_1(city.net, profiles, customers=critical,
                         outages=cutting.to_frame(index=False))
        res.loc[cutting, "critical_unsupplied"] = crit.set_index(
            ["element_type", "element"]).customers_unsupplied.reindex(cutting).to_numpy()
    return res


def buses_cut(net, element_type: str, element: int) -> set:
    """Buses an outage of one line or transformer leaves without a path to a slack (as
    operated)."""
    import pandapower.topology as top

    g = top.create_nxgraph(net, respect_switches=True, nogobuses=None)
    table = net[element_type]
    a, b = (table.at[element, "from_bus"], table.at[element, "to_bus"]) \
        if element_type == "line" else (table.at[element, "hv_bus"], table.at[element, "lv_bus"])
    for key in list(g.get_edge_data(a, b, default={}).keys()):
        if key[0] == element_type and key[1] == element:
            g.remove_edge(a, b, key)
    slack = set(net.ext_grid.bus)
    reached = set()
    for s in slack:
        if s in g:
            reached |= set(top.connected_component(g, s))
    return set(net.bus.index) - reached


def pipe_outage_low_pressure(city, pipes: list[str], hours: int = 24,
                             progress=None) -> pd.DataFrame:
    """Customers below service pressure with each pipe closed, pressure-driven, over ``hours``.

    Returns
    -------
    DataFrame
        By pipe: ``customers_low`` (customers at junctions below service pressure at any hour
        only because of the outage), ``customer_hours_low`` [h].
    """
    from wntr.network.base import LinkStatus

    from twin.water.hydraulics import MIN_SERVICE_PRESSURE_M, simulate

    wn = city.water_copy()
    junctions = city.demand_junctions
    per_junction = city.customers.junction.value_counts().reindex(junctions, fill_value=0)
    base = simulate(wn, hours * 3600, 3600, pressure_driven=True)
    p0 = base["pressure_m"].sel(node=junctions).to_numpy()
    rows = []
    for i, name in enumerate(pipes):
        link = wn.get_link(name)
        old = link.initial_status
        link.initial_status = LinkStatus.Closed
        try:
            ds = simulate(wn, hours * 3600, 3600, pressure_driven=True)
            p = ds["pressure_m"].sel(node=junctions).to_numpy()
            low = (p < MIN_SERVICE_PRESSURE_M) & ~(p0 < MIN_SERVICE_PRESSURE_M)
            n = per_junction.to_numpy()
            rows.append((name, int(n[low.any(axis=0)].sum()), float((low * n).sum())))
        except Exception:
            rows.append((name, np.nan, np.nan))
        finally:
            link.initial_status = old
        if progress is not None:
            progress(i + 1, len(pipes))
    return pd.DataFrame(rows, columns=["pipe", "customers_low", "customer_hours_low"]
                        ).set_index("pipe")


def pump_outage_low_pressure(city, pump: str, hours: int) -> tuple[int, float]:
    """Customers below service pressure, and customer-hours, with ``pump`` stopped for
    ``hours`` from 06:00 in a two-day run."""
    from twin.coupling import pump_outage_hydraulics
    from twin.water.hydraulics import MIN_SERVICE_PRESSURE_M

    hours = int(min(max(hours, 1), 36))
    base, out = pump_outage_hydraulics(city.wn, [pump], 6, hours, 48)
    junctions = city.demand_junctions
    per_junction = city.customers.junction.value_counts().reindex(junctions, fill_value=0)
    p0 = base["pressure_m"].sel(node=junctions).to_numpy()
    p = out["pressure_m"].sel(node=junctions).to_numpy()
    m = min(len(p0), len(p))
    low = (p[:m] < MIN_SERVICE_PRESSURE_M) & ~(p0[:m] < MIN_SERVICE_PRESSURE_M)
    n = per_junction.to_numpy()
    return int(n[low.any(axis=0)].sum()), float((low * n).sum())


def money(customers: float, critical: float, ens_kwh: float, customer_hours_low: float,
          repair_cost: float) -> float:
    """Consequence of one failure [money]."""
    return (P.COST_PER_CUSTOMER_INTERRUPTION * (customers + (P.CRITICAL_CUSTOMER_WEIGHT - 1)
                                                * critical)
            + P.VALUE_OF_LOST_LOAD_PER_KWH * ens_kwh
            + P.COST_PER_CUSTOMER_HOUR_LOW_PRESSURE * customer_hours_low + repair_cost)
