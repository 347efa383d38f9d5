"""Hydraulic simulation with the EPANET engine, one private set of temporary files per run."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import wntr
import xarray as xr

#: Minimum service pressure at a junction [m]; below it customers are short of water.
MIN_SERVICE_PRESSURE_M = 20.0


class HydraulicsError(RuntimeError):
    """EPANET could not solve the network; the message says what to check."""


def run_epanet(
    wn: wntr.network.WaterNetworkModel,
    duration_s: float,
    step_s: float = 3600,
    pressure_driven: bool = False,
) -> wntr.sim.results.SimulationResults:
    """Run an extended-period simulation with the EPANET 2.2 engine on a copy of ``wn``.

    Parameters
    ----------
    duration_s : float
        Simulated time from the model's start clock time [s].
    step_s : float
        Hydraulic and report time step [s].
    pressure_driven : bool
        Pressure-driven demands (PDA) instead of demand-driven (DDA).

    Notes
    -----
    EPANET writes ``.inp``, ``.rpt`` and ``.bin`` files; each run gets its own temporary
    folder so runs in parallel never overwrite each other.
    """
    wn = copy.deepcopy(wn)
    opts = wn.options
    opts.time.duration = int(duration_s)
    opts.time.hydraulic_timestep = int(step_s)
    opts.time.report_timestep = int(step_s)
    opts.time.pattern_start = 0
    opts.hydraulic.demand_model = "PDA" if pressure_driven else "DDA"
    with tempfile.TemporaryDirectory(prefix="twin-epanet-") as tmp:
        try:
            return wntr.sim.EpanetSimulator(wn).run_sim(file_prefix=str(Path(tmp) / "run"))
        except Exception as exc:
            raise HydraulicsError(f"EPANET failed on {wn.name or 'the network'}: {exc}") from exc


def results_dataset(results: wntr.sim.results.SimulationResults) -> xr.Dataset:
    """Turn WNTR results into an ``xarray.Dataset`` (``time × node``, ``time × link``) with units.

    ``time`` is seconds from the start of the simulation.
    """
    node, link = results.node, results.link
    time = node["pressure"].index.to_numpy()
    data = {
        "pressure_m": (("time", "node"), node["pressure"], "m"),
        "head_m": (("time", "node"), node["head"], "m"),
        "demand_m3s": (("time", "node"), node["demand"], "m3/s"),
        "flow_m3s": (("time", "link"), link["flowrate"], "m3/s"),
        "velocity_ms": (("time", "link"), link["velocity"], "m/s"),
        "status": (("time", "link"), link["status"], "1 open, 0 closed"),
    }
    return xr.Dataset(
        {k: (dims, np.asarray(df, dtype=float), {"units": u}) for k, (dims, df, u) in data.items()},
        coords={"time": ("time", time, {"units": "s"}),
                "node": node["pressure"].columns.to_numpy(dtype=str),
                "link": link["flowrate"].columns.to_numpy(dtype=str)},
    )


def state_at_clock(
    wn: wntr.network.WaterNetworkModel, local_time: pd.Timestamp, step_s: float = 900
) -> xr.Dataset:
    """Simulate a day from local midnight up to ``local_time`` and return the state then.

    The model's demand patterns are daily and start at midnight; tanks start at their
    initial levels.

    Returns
    -------
    Dataset
        One time (``local_time``'s seconds after midnight, rounded down to ``step_s``).
    """
    seconds = (local_time - local_time.normalize()).total_seconds()
    duration = int(seconds // step_s * step_s)
    ds = results_dataset(run_epanet(wn, duration, step_s))
    return ds.isel(time=-1)


def low_pressure(
    ds: xr.Dataset, junctions: list[str], min_pressure_m: float = MIN_SERVICE_PRESSURE_M
) -> pd.DataFrame:
    """List junctions whose pressure is below the service minimum at a single time.

    Returns
    -------
    DataFrame
        ``element_type``, ``element``, ``name``, ``kind``, ``value``, ``limit``, ``unit``.
    """
    p = ds["pressure_m"].sel(node=junctions).to_series()
    low = p[p < min_pressure_m]
    return pd.DataFrame(
        {"element_type": "junction", "element": low.index, "name": low.index,
         "kind": "low pressure", "value": low.to_numpy(), "limit": min_pressure_m, "unit": "m"}
    )


def summary(ds: xr.Dataset, junctions: list[str]) -> dict[str, float]:
    """Headline figures of a hydraulic state at a single time, units in the keys."""
    p = ds["pressure_m"].sel(node=junctions)
    demand = ds["demand_m3s"].sel(node=junctions)
    return {
        "pressure_min_m": float(p.min()),
        "pressure_mean_m": float(p.mean()),
        "demand_l_s": float(demand.sum() * 1000),
    }
