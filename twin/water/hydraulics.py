"""Hydraulic simulation with the EPANET engine, one private set of temporary files per run.

Two ways in, both EPANET 2.2 as shipped in the WNTR wheel:

* :func:`run_epanet` runs WNTR's ``EpanetSimulator`` and returns its ``SimulationResults``
  (:func:`results_dataset` turns them into a dataset);
* :func:`simulate` drives the EPANET toolkit directly (hydraulics only, no water-quality run,
  no status report) and reads the binary output file with numpy into a dataset. It gives the
  same numbers as the first way in a fraction of the time (``benchmarks/bench_water.py``).

Demands come from the model's patterns, from scenario multipliers
(:func:`scale_demands`) or from customers' meter reads (:func:`junction_use_m3`,
:func:`set_junction_demands`). Leaks are EPANET emitters (:func:`add_leak_emitters`).
"""

from __future__ import annotations

import copy
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import wntr
import xarray as xr

#: Minimum service pressure at a junction [m]; below it customers are short of water.
MIN_SERVICE_PRESSURE_M = 20.0
#: Pressure at or below which a pressure-driven demand is zero [m].
PDA_MINIMUM_PRESSURE_M = 0.0
#: Length and diameter of the pipe joining a leak's emitter node to its junction [m].
LEAK_PIPE_LENGTH_M, LEAK_PIPE_DIAMETER_M = 1.0, 0.5
#: EPANET link status codes in the binary output that mean "closed" (XHEAD, TEMPCLOSED,
#: CLOSED); higher codes are open or active.
_CLOSED_CODES = 2
#: Bytes of the binary output file's epilog: four float averages and three integers.
_EPILOG_BYTES = 28


class HydraulicsError(RuntimeError):
    """EPANET could not solve the network; the message says what to check."""


class MeterDataError(ValueError):
    """Meter reads that cannot drive the model (unknown meter, junction not in the network)."""


# ------------------------------------------------------------------------------ the model

def leak_node_name(junction: str) -> str:
    """Name of the node that carries a leak's emitter at ``junction``."""
    return f"LEAK-{junction}"


def add_leak_emitters(
    wn: wntr.network.WaterNetworkModel,
    junctions: Sequence[str],
    coefficients_m3s: Sequence[float],
    start_s: Sequence[float],
    stop_s: Sequence[float],
) -> list[str]:
    """Add leaks to ``wn`` in place, as the EPANET engine can run them.

    ``EpanetSimulator`` ignores ``junction.add_leak``; instead each leak is an emitter
    (coefficient C, exponent 0.5: Q = C·sqrt(p) [m³/s] at pressure p [m]) at a new node at
    the junction's elevation, joined to the junction by a short, wide pipe
    (:data:`LEAK_PIPE_LENGTH_M`, :data:`LEAK_PIPE_DIAMETER_M`) that is closed until the
    leak starts and closed again when it is repaired (simulation-time controls). The
    pipe's head loss is negligible, so the leak flows C·sqrt(p) at the junction's pressure.

    Parameters
    ----------
    junctions : sequence of str
        Junction of each leak.
    coefficients_m3s : sequence of float
        Emitter coefficient C = Cd·A·sqrt(2g) of each leak [m³/s per m^0.5].
    start_s, stop_s : sequence of float
        Simulation time the leak starts and is repaired [s]; a stop after the run's end
        means never.

    Returns
    -------
    list of str
        The emitter node of each leak (:func:`leak_node_name`).
    """
    from wntr.network.base import LinkStatus
    from wntr.network.controls import Control, ControlAction, SimTimeCondition

    names = []
    for junction, c, t0, t1 in zip(junctions, coefficients_m3s, start_s, stop_s, strict=True):
        if junction not in wn.junction_name_list:
            raise KeyError(f"leak at junction {junction!r}: no such junction in the network")
        j = wn.get_node(junction)
        name = leak_node_name(junction)
        wn.add_junction(name, base_demand=0.0, elevation=j.elevation, coordinates=j.coordinates)
        wn.get_node(name).emitter_coefficient = c
        pipe = f"{name}-P"
        wn.add_pipe(pipe, junction, name, length=LEAK_PIPE_LENGTH_M,
                    diameter=LEAK_PIPE_DIAMETER_M, roughness=140, initial_status="CLOSED")
        link = wn.get_link(pipe)
        wn.add_control(f"{pipe}-open", Control(
            SimTimeCondition(wn, "=", t0), ControlAction(link, "status", LinkStatus.Open)))
        wn.add_control(f"{pipe}-close", Control(
            SimTimeCondition(wn, "=", t1), ControlAction(link, "status", LinkStatus.Closed)))
        names.append(name)
    return names


def scale_demands(
    wn: wntr.network.WaterNetworkModel, multiplier: float | dict[str, float]
) -> wntr.network.WaterNetworkModel:
    """Return a copy of ``wn`` with junction base demands scaled (a scenario's demand change).

    Parameters
    ----------
    multiplier : float or dict
        One factor for every junction, or a factor per junction name [-] (others keep 1).
    """
    wn = copy.deepcopy(wn)
    factors = multiplier if isinstance(multiplier, dict) else None
    if factors is not None:
        unknown = sorted(set(factors) - set(wn.junction_name_list))
        if unknown:
            raise KeyError(f"demand multipliers for junctions not in the network: {unknown[:5]}")
    for name, j in wn.junctions():
        k = float(factors.get(name, 1.0)) if factors is not None else float(multiplier)
        for d in j.demand_timeseries_list:
            d.base_value = d.base_value * k
    return wn


def junction_use_m3(
    reads: pd.DataFrame, customers: pd.DataFrame, junctions: Iterable[str] | None = None
) -> pd.DataFrame:
    """Aggregate customers' hourly meter volumes to their junctions.

    Parameters
    ----------
    reads : DataFrame
        Store rows of kind ``water_read``: ``series_id`` (water meter id), ``time_utc``
        (start of the hour), ``value`` (volume in the hour [m³]).
    customers : DataFrame
        The customer register: ``water_meter_id``, ``junction``.
    junctions : iterable of str, optional
        Junctions of the network; a customer at a junction not listed is an error.

    Returns
    -------
    DataFrame
        Hours (UTC) × junction, volume used in the hour [m³]; hours where no meter of a
        junction reported are NaN.

    Raises
    ------
    MeterDataError
        Reads of meters not in the register, or customers at junctions not in the network.
    """
    where = customers.set_index("water_meter_id")["junction"].astype(str)
    ids = reads["series_id"].astype(str)
    unknown = sorted(set(ids.unique()) - set(where.index))
    if unknown:
        raise MeterDataError(
            f"{len(unknown)} water meters in the reads are not in the customer register "
            f"(e.g. {unknown[:3]}); add them to customers.csv or remove their reads")
    junction = ids.map(where)
    if junctions is not None:
        missing = sorted(set(junction.unique()) - set(junctions))
        if missing:
            raise MeterDataError(
                f"meter reads for junctions that do not exist in the network: {missing[:5]}; "
                "fix the customers' junction in customers.csv")
    df = pd.DataFrame({"junction": junction.to_numpy(), "time_utc": reads["time_utc"].to_numpy(),
                       "value": reads["value"].to_numpy(dtype=float)})
    return df.pivot_table(index="time_utc", columns="junction", values="value", aggfunc="sum")


def set_junction_demands(
    wn: wntr.network.WaterNetworkModel, use_m3: pd.DataFrame
) -> wntr.network.WaterNetworkModel:
    """Return a copy of ``wn`` whose junctions draw what their meters recorded.

    Each junction in ``use_m3`` gets base demand = its mean use [m³/s] and a pattern of
    hourly multipliers (use / mean) starting at the simulation's time 0; missing hours take
    the junction's mean. Junctions not in ``use_m3`` keep their model demand.

    Parameters
    ----------
    use_m3 : DataFrame
        Hours × junction volume per hour [m³] (:func:`junction_use_m3`), contiguous hours.
    """
    wn = copy.deepcopy(wn)
    unknown = sorted(set(use_m3.columns) - set(wn.junction_name_list))
    if unknown:
        raise MeterDataError(f"meter data for junctions that do not exist: {unknown[:5]}")
    wn.options.time.pattern_timestep = 3600
    flow = use_m3 / 3600.0
    for name in use_m3.columns:
        q = flow[name].to_numpy(dtype=float)
        mean = float(np.nanmean(q)) if np.isfinite(q).any() else 0.0
        mult = np.where(np.isfinite(q), q / mean, 1.0) if mean > 0 else np.zeros(len(q))
        pattern = f"METER-{name}"
        wn.add_pattern(pattern, mult.round(6).tolist())
        j = wn.get_node(name)
        j.demand_timeseries_list.clear()
        j.add_demand(mean, pattern)
    return wn


# ---------------------------------------------------------------------------- simulation

def _set_times(wn, duration_s: float, step_s: float, pressure_driven: bool) -> None:
    opts = wn.options
    opts.time.duration = int(duration_s)
    opts.time.hydraulic_timestep = int(step_s)
    opts.time.report_timestep = int(step_s)
    opts.time.pattern_start = 0
    opts.hydraulic.demand_model = "PDA" if pressure_driven else "DDA"


def run_epanet(
    wn: wntr.network.WaterNetworkModel,
    duration_s: float,
    step_s: float = 3600,
    pressure_driven: bool = False,
) -> wntr.sim.results.SimulationResults:
    """Run an extended-period simulation with WNTR's ``EpanetSimulator`` on a copy of ``wn``.

    Parameters
    ----------
    duration_s : float
        Simulated time from the model's start clock time [s].
    step_s : float
        Hydraulic and report time step [s].
    pressure_driven : bool
        Pressure-driven demands (PDA) instead of demand-driven (DDA), with the model's own
        pressure options.

    Notes
    -----
    EPANET writes ``.inp``, ``.rpt`` and ``.bin`` files; each run gets its own temporary
    folder so runs in parallel never overwrite each other. :func:`simulate` is the faster
    way to the same numbers.
    """
    wn = copy.deepcopy(wn)
    _set_times(wn, duration_s, step_s, pressure_driven)
    with tempfile.TemporaryDirectory(prefix="twin-epanet-") as tmp:
        try:
            return wntr.sim.EpanetSimulator(wn).run_sim(file_prefix=str(Path(tmp) / "run"))
        except Exception as exc:
            raise HydraulicsError(f"EPANET failed on {wn.name or 'the network'}: {exc}") from exc


def simulate(
    wn: wntr.network.WaterNetworkModel,
    duration_s: float,
    step_s: float = 3600,
    pressure_driven: bool = False,
    required_pressure_m: float = MIN_SERVICE_PRESSURE_M,
    minimum_pressure_m: float = PDA_MINIMUM_PRESSURE_M,
) -> xr.Dataset:
    """Run an extended-period simulation through the EPANET toolkit; return a dataset.

    Hydraulics only: no water-quality run and no status report (in a model such as ky10,
    whose own options ask for a water-age run at a 5-min quality step and a full status
    report, those take most of a plain run's time). ``wn`` is written to an ``.inp`` as is
    (not copied, not changed); duration, steps and demand model are set through the
    toolkit; EPANET's binary output is read with numpy and converted to SI units.

    Parameters
    ----------
    duration_s : float
        Simulated time [s].
    step_s : float
        Hydraulic and report time step [s].
    pressure_driven : bool
        Pressure-driven analysis (EPANET 2.2 PDA, exponent 0.5): a junction gets its full
        demand at ``required_pressure_m`` and none at ``minimum_pressure_m``; otherwise
        demand-driven (DDA), where unmet pressure shows as negative pressure.
    required_pressure_m, minimum_pressure_m : float
        PDA pressures [m].

    Returns
    -------
    Dataset
        As :func:`results_dataset`, with attributes ``demand_model``, ``epanet_warning``
        (EPANET's warning flag, non-zero when it reported e.g. negative pressures or a pump
        that cannot deliver its head; the messages are in the run's report) and
        ``epanet_solve_s``, ``epanet_solve_cpu_s`` (wall and CPU time of EPANET's own
        hydraulic solve, ``ENsolveH`` [s]; the rest of the call is writing the model, saving
        and reading the output).
    """
    import ctypes

    from wntr.epanet.io import InpFile
    from wntr.epanet.toolkit import ENepanet

    with tempfile.TemporaryDirectory(prefix="twin-epanet-", dir=_scratch_dir()) as tmp:
        inp, rpt, out = (os.path.join(tmp, f"run.{x}") for x in ("inp", "rpt", "bin"))
        InpFile().write(inp, wn, units=wn.options.hydraulic.inpfile_units)
        en = ENepanet(version=2.2)
        try:
            en.ENopen(inp, rpt, out)
            for code, value in ((0, duration_s), (1, step_s), (5, step_s), (4, 0), (6, 0)):
                en.ENsettimeparam(code, int(value))  # duration, hyd./report step, starts
            lib, ph = en.ENlib, en._project
            lib.EN_setstatusreport(ph, ctypes.c_int(0))
            pressure_m = (minimum_pressure_m, required_pressure_m) if pressure_driven else (
                wn.options.hydraulic.minimum_pressure, wn.options.hydraulic.required_pressure)
            scale = _pressure_scale(wn.options.hydraulic.inpfile_units)
            err = lib.EN_setdemandmodel(ph, ctypes.c_int(int(pressure_driven)),
                                        ctypes.c_double(pressure_m[0] / scale),
                                        ctypes.c_double(pressure_m[1] / scale),
                                        ctypes.c_double(0.5))
            if err:
                raise HydraulicsError(f"EPANET error {err} setting the demand model")
            n_nodes, n_links = en.ENgetcount(0), en.ENgetcount(2)
            nodes = [en.ENgetnodeid(i) for i in range(1, n_nodes + 1)]
            links = _link_ids(en, wn, n_links)
            t0, c0 = time.perf_counter(), time.process_time()
            en.ENsolveH()
            solve_s, solve_cpu_s = time.perf_counter() - t0, time.process_time() - c0
            en.ENsaveH()
            en.ENclose()
        except HydraulicsError:
            raise
        except Exception as exc:
            raise HydraulicsError(
                f"EPANET failed on {wn.name or 'the network'}: {exc}; check the network's "
                "controls, pump curves and that every node is connected to a source") from exc
        ds = read_binary_output(out, nodes, links)
    ds.attrs["demand_model"] = "PDA" if pressure_driven else "DDA"
    ds.attrs["epanet_solve_s"], ds.attrs["epanet_solve_cpu_s"] = solve_s, solve_cpu_s
    return ds


#: Free space ``/dev/shm`` must have to hold EPANET's scratch files [bytes].
SCRATCH_MIN_FREE_BYTES = 2 * 1024**3


def _scratch_dir() -> str | None:
    """Folder for a run's EPANET files: memory-backed ``/dev/shm`` where there is one.

    A week at 15-min steps on ky10 writes ~40 MB of binary output that is read once and
    deleted; on tmpfs that never reaches a disk. ``None`` (the system's temporary folder)
    elsewhere, and where ``/dev/shm`` has less than :data:`SCRATCH_MIN_FREE_BYTES` free (a
    container's default 64 MB would overflow with a few runs in parallel).
    """
    shm = "/dev/shm"
    if not (os.path.isdir(shm) and os.access(shm, os.W_OK)):
        return None
    return shm if shutil.disk_usage(shm).free >= SCRATCH_MIN_FREE_BYTES else None


def _pressure_scale(units: str) -> float:
    """Metres of water per pressure unit of an ``.inp`` written in ``units`` [m/unit]."""
    return PSI_M if units.upper() in US_FLOW_UNITS else 1.0


def _link_ids(en, wn, n_links: int) -> list[str]:
    """Link names in EPANET's order (pipes, pumps, valves in the order WNTR wrote them)."""
    names = wn.pipe_name_list + wn.pump_name_list + wn.valve_name_list
    order = {en.ENgetlinkindex(n): n for n in names}
    return [order[i] for i in range(1, n_links + 1)]


#: EPANET flow units codes of the binary output, and each unit in [m³/s].
FLOW_UNITS_M3S = {0: 0.028316846592, 1: 6.30901964e-5, 2: 0.0438126364, 3: 0.0526167824,
                  4: 0.0142764102, 5: 1e-3, 6: 1e-3 / 60, 7: 1e3 / 86400, 8: 1 / 3600,
                  9: 1 / 86400}
#: US customary flow units (heads in ft, pressures in psi, velocities in ft/s).
US_FLOW_UNITS = {"CFS", "GPM", "MGD", "IMGD", "AFD"}
#: A foot [m] and a psi of water head [m] (EPANET's own factor, 0.4333 psi per ft).
FOOT_M = 0.3048
PSI_M = FOOT_M / 0.4333
#: EPANET pressure unit codes (PSI, KPA, METERS), each in [m of water].
PRESSURE_UNITS_M = {0: PSI_M, 1: 1 / 9.80665, 2: 1.0}


def read_binary_output(path: str | Path, nodes: list[str], links: list[str]) -> xr.Dataset:
    """Read an EPANET 2.2 binary output file into a dataset in SI units.

    The file starts with a prolog of integers (magic number, version, node, tank, link,
    pump and valve counts, quality option, trace node, flow units, pressure units,
    statistics flag, report start, report step, duration) and ends with the epilog (four
    float averages, the number of reporting periods, the warning flag, the magic number).
    Just before the epilog are the periods' results, float32: per node demand, head,
    pressure, quality; per link flow, velocity, head loss, quality, status, setting,
    reaction rate, friction factor.
    """
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = struct.unpack("<15i", fh.read(60))
        fh.seek(size - 12)
        periods, warning, magic = struct.unpack("<3i", fh.read(12))
    n_nodes, n_links = head[2], head[4]
    if (n_nodes, n_links) != (len(nodes), len(links)) or magic != head[0]:
        raise HydraulicsError(f"{path}: not an EPANET output of this network")
    flow_m3s = FLOW_UNITS_M3S[head[9]]
    length_m = FOOT_M if head[9] <= 4 else 1.0
    pressure_m = PRESSURE_UNITS_M[head[10]]
    width = 4 * n_nodes + 8 * n_links
    offset = size - _EPILOG_BYTES - periods * width * 4
    values = np.memmap(path, dtype="<f4", mode="r", offset=offset, shape=(periods, width))
    node_v = values[:, : 4 * n_nodes].reshape(periods, 4, n_nodes)
    link_v = values[:, 4 * n_nodes:].reshape(periods, 8, n_links)
    times = head[12] + head[13] * np.arange(periods)

    def si(v, factor):  # only the variables asked for are read; float32 maths as WNTR's reader
        return np.asarray(v * np.float32(factor), dtype=float)

    ds = _dataset(times, nodes, links, si(node_v[:, 2], pressure_m), si(node_v[:, 1], length_m),
                  si(node_v[:, 0], flow_m3s), si(link_v[:, 0], flow_m3s),
                  si(link_v[:, 1], length_m), link_status(link_v[:, 4]))
    del values, node_v, link_v
    ds.attrs["epanet_warning"] = int(warning)
    return ds


def link_status(codes: np.ndarray) -> np.ndarray:
    """Map EPANET's link status codes to 0 closed, 1 open, 2 active (as WNTR does)."""
    out = np.ones(codes.shape)
    out[codes <= _CLOSED_CODES] = 0.0
    out[codes == 4] = 2.0
    return out


def _dataset(time, nodes, links, pressure, head, demand, flow, velocity, status) -> xr.Dataset:
    data = {
        "pressure_m": (("time", "node"), pressure, "m"),
        "head_m": (("time", "node"), head, "m"),
        "demand_m3s": (("time", "node"), demand, "m3/s"),
        "flow_m3s": (("time", "link"), flow, "m3/s"),
        "velocity_ms": (("time", "link"), velocity, "m/s"),
        "status": (("time", "link"), status, "0 closed, 1 open, 2 active"),
    }
    return xr.Dataset(
        {k: (dims, np.asarray(v, dtype=float), {"units": u}) for k, (dims, v, u) in data.items()},
        coords={"time": ("time", np.asarray(time), {"units": "s"}),
                "node": np.asarray(nodes, dtype=str), "link": np.asarray(links, dtype=str)},
    )


def results_dataset(results: wntr.sim.results.SimulationResults) -> xr.Dataset:
    """Turn WNTR results into an ``xarray.Dataset`` (``time × node``, ``time × link``) with units.

    ``time`` is seconds from the start of the simulation; ``velocity_ms`` is in [m/s].
    """
    node, link = results.node, results.link
    return _dataset(node["pressure"].index.to_numpy(), node["pressure"].columns.to_numpy(str),
                    link["flowrate"].columns.to_numpy(str), node["pressure"], node["head"],
                    node["demand"], link["flowrate"], link["velocity"], link["status"])


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
