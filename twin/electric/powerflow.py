"""One AC power flow of the city grid at a moment of the year, with results as xarray."""

from __future__ import annotations

import numpy as np
import pandapower as pp
import pandas as pd
import xarray as xr

#: EN 50160 supply voltage band, ±10 % of nominal [p.u.].
VOLTAGE_BAND_PU = (0.90, 1.10)
#: Thermal limit of lines and transformers [%].
MAX_LOADING_PERCENT = 100.0


class PowerFlowError(RuntimeError):
    """The power flow did not converge; the message says at what and what to check."""


def apply_profiles(net: pp.pandapowerNet, profiles: dict, at_utc: pd.Timestamp) -> None:
    """Set load and generation of ``net`` to the profile values at one time, in place.

    Parameters
    ----------
    profiles : dict of DataFrame
        ``load_p_mw``, ``load_q_mvar`` and ``sgen_p_mw`` indexed by UTC time, columns element
        index, as returned by :func:`twin.electric.profiles.simbench_profiles`.
    at_utc : Timestamp
        A time (UTC) present in the profiles' index.
    """
    index = profiles["load_p_mw"].index
    if at_utc not in index:
        raise KeyError(
            f"{at_utc} is outside the profiles ({index[0]} to {index[-1]}) or not on their "
            f"{index.freq or '15 min'} step"
        )
    for name, (table, column) in {"load_p_mw": ("load", "p_mw"),
                                  "load_q_mvar": ("load", "q_mvar"),
                                  "sgen_p_mw": ("sgen", "p_mw")}.items():
        row = profiles[name].loc[at_utc]
        net[table].loc[row.index, column] = row.to_numpy()


def solve(net: pp.pandapowerNet) -> None:
    """Run a Newton-Raphson AC power flow in place; raise :class:`PowerFlowError` if it fails."""
    try:
        pp.runpp(net, algorithm="nr", calculate_voltage_angles=True, numba=True,
                 init="auto", max_iteration=30)
    except pp.LoadflowNotConverged as exc:
        total = net.load.loc[net.load.in_service, "p_mw"].sum()
        raise PowerFlowError(
            f"power flow did not converge (load {total:.2f} MW); check for islands without a"
            " slack, switched-off feeders or loads far beyond the grid's capacity"
        ) from exc


def results_dataset(net: pp.pandapowerNet) -> xr.Dataset:
    """Turn a solved net's result tables into an ``xarray.Dataset`` with units.

    Dimensions are ``bus``, ``line`` and ``trafo`` (element indices).
    """
    bus, line, trafo = net.res_bus, net.res_line, net.res_trafo
    data = {
        "vm_pu": (("bus",), bus.vm_pu.to_numpy(), "p.u."),
        "va_degree": (("bus",), bus.va_degree.to_numpy(), "degree"),
        "p_mw": (("bus",), bus.p_mw.to_numpy(), "MW"),
        "q_mvar": (("bus",), bus.q_mvar.to_numpy(), "Mvar"),
        "line_loading_percent": (("line",), line.loading_percent.to_numpy(), "%"),
        "line_p_from_mw": (("line",), line.p_from_mw.to_numpy(), "MW"),
        "line_pl_mw": (("line",), line.pl_mw.to_numpy(), "MW"),
        "trafo_loading_percent": (("trafo",), trafo.loading_percent.to_numpy(), "%"),
        "trafo_pl_mw": (("trafo",), trafo.pl_mw.to_numpy(), "MW"),
    }
    ds = xr.Dataset(
        {k: (dims, values, {"units": unit}) for k, (dims, values, unit) in data.items()},
        coords={"bus": bus.index.to_numpy(), "line": line.index.to_numpy(),
                "trafo": trafo.index.to_numpy()},
    )
    return ds


def violations(
    net: pp.pandapowerNet,
    voltage_band_pu: tuple[float, float] = VOLTAGE_BAND_PU,
    max_loading_percent: float = MAX_LOADING_PERCENT,
) -> pd.DataFrame:
    """List voltage-band and thermal violations of a solved net.

    Returns
    -------
    DataFrame
        ``element_type``, ``element``, ``name``, ``kind`` (``undervoltage``, ``overvoltage``,
        ``overload``), ``value`` and ``limit`` (in the unit of ``unit``).
    """
    lo, hi = voltage_band_pu
    rows = []
    vm = net.res_bus.vm_pu
    supplied = vm.notna()
    for idx in vm.index[supplied & (vm < lo)]:
        rows.append(("bus", idx, net.bus.at[idx, "name"], "undervoltage", vm[idx], lo, "p.u."))
    for idx in vm.index[supplied & (vm > hi)]:
        rows.append(("bus", idx, net.bus.at[idx, "name"], "overvoltage", vm[idx], hi, "p.u."))
    for table in ("line", "trafo"):
        loading = net[f"res_{table}"].loading_percent
        for idx in loading.index[loading > max_loading_percent]:
            rows.append((table, idx, net[table].at[idx, "name"], "overload", loading[idx],
                         max_loading_percent, "%"))
    return pd.DataFrame(
        rows, columns=["element_type", "element", "name", "kind", "value", "limit", "unit"]
    )


def summary(net: pp.pandapowerNet) -> dict[str, float]:
    """Headline figures of a solved net, with units in the keys.

    Voltage extremes are over the distribution buses (at or below 35 kV), where customers are
    supplied; the transmission side sits at the slack's set point.
    """
    vm = net.res_bus.vm_pu[net.bus.vn_kv <= 35.0].dropna()
    load = net.res_load.p_mw.sum()
    return {
        "load_mw": float(load),
        "generation_mw": float(net.res_sgen.p_mw.sum()),
        "grid_import_mw": float(net.res_ext_grid.p_mw.sum()),
        "losses_mw": float(net.res_line.pl_mw.sum() + net.res_trafo.pl_mw.sum()),
        "vm_min_pu": float(vm.min()),
        "vm_max_pu": float(vm.max()),
        "line_loading_max_percent": float(np.nanmax(net.res_line.loading_percent)),
        "trafo_loading_max_percent": float(np.nanmax(net.res_trafo.loading_percent)),
    }
