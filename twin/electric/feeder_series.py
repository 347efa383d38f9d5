"""One feeder over time from a QSTS result: its loading and its voltage envelope."""

from __future__ import annotations

import pandapower as pp
import pandas as pd
import xarray as xr

from twin.electric.losses import line_feeders


def feeder_names(net: pp.pandapowerNet) -> list[str]:
    """The MV feeders of the net (``net.bus.feeder`` values that name a feeder, ``F…``)."""
    return sorted((f for f in net.bus.feeder.unique() if str(f).startswith("F")),
                  key=lambda f: (len(f), f))


def feeder_series(ds: xr.Dataset, net: pp.pandapowerNet, feeder: str) -> pd.DataFrame:
    """Loading and voltage envelope of one feeder at every step of a QSTS result.

    Parameters
    ----------
    ds : Dataset
        :func:`twin.electric.qsts.run_qsts` result (``vm_pu``, ``line_loading_percent``).
    net : pandapowerNet
        The net it was solved on (``bus.feeder``).
    feeder : str
        Feeder name, e.g. ``"F15"``.

    Returns
    -------
    DataFrame
        Indexed by UTC ``time``: ``loading_max_percent`` (the feeder's most loaded line) [%],
        ``vm_min_pu``, ``vm_max_pu`` (its buses' envelope) [p.u.].

    Raises
    ------
    KeyError
        For a feeder the net does not have.
    """
    if feeder not in set(net.bus.feeder):
        raise KeyError(f"no feeder {feeder!r}; the net's feeders are "
                       f"{', '.join(feeder_names(net))}")
    lines = line_feeders(net)
    lines = lines.index[lines == feeder].to_list()
    buses = net.bus.index[net.bus.feeder == feeder].to_list()
    vm = ds["vm_pu"].sel(bus=buses)
    times = pd.DatetimeIndex(ds["time"].to_numpy(), tz="UTC", name="time")
    out = pd.DataFrame({"vm_min_pu": vm.min("bus").to_numpy(),
                        "vm_max_pu": vm.max("bus").to_numpy()}, index=times)
    loading = ds["line_loading_percent"].sel(line=lines).max("line").to_numpy() if lines else 0.0
    out.insert(0, "loading_max_percent", loading)
    return out
