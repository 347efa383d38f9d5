"""Hydraulic simulation with the EPANET engine, one private set of temporary files per run.

Two ways in, both EPANET 2.2 as shipped in the WNTR wheel:

* :func:`run_epanet` runs WNTR's ``EpanetSimulator`` and returns its ``SimulationResults``
  (:func:`results_dataset` turns them into a dataset);
* :func:`simulate` drives the EPANET toolkit directly (hydraulics only, no water-quality run,
  no status report) and reads the binary output file with numpy into a dataset. It gives the
  same numbers as the first way in a fraction of the time (``benchmarks/bench_water.py``).

Both run the network as its ``.inp`` gives it (every demand category and pattern, the
pattern step, length and start, controls and rules, headloss formula, demand model, units);
:func:`simulate` gives what a plain EPANET run of the file gives (:func:`run_inp_file`, the
anchor; ``benchmarks/bench_water_fidelity.py``).

Demands come from the model's patterns, from scenario multipliers
(:func:`scale_demands`) or from customers' meter reads (:func:`junction_use_m3`,
:func:`set_junction_demands`). Leaks are EPANET emitters (:func:`add_leak_emitters`).

Shared helpers for the analyses (no I/O, no simulation): the EPANET pattern clock
(:func:`pattern_period`, :func:`pattern_multiplier`), a junction's total demand from all
its categories at any time (:func:`junction_demand_m3s`), tank levels and volumes
(:func:`tank_level_m`, :func:`tank_volume_m3` through WNTR's ``Tank.get_volume``,
:func:`tank_volume_series_m3`).
"""

from __future__ import annotations

import copy
import math
import os
import shutil
import struct
import tempfile
import threading
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

    Each junction in ``use_m3`` gets one demand (its other categories are replaced): base
    demand = its mean use [m³/s] (divided by the network's demand multiplier, which EPANET
    applies) and a pattern whose multipliers (use / mean) play hour ``h`` of ``use_m3``
    during the simulation's hour ``h``, on the network's pattern clock: where the pattern
    step does not divide an hour it becomes the largest step that divides both (every
    other pattern is repeated to keep playing as before), and the pattern start is
    allowed for. Missing hours take the junction's mean. Junctions not in ``use_m3`` keep
    their model demand.

    Parameters
    ----------
    use_m3 : DataFrame
        Hours × junction volume per hour [m³] (:func:`junction_use_m3`), contiguous hours.
    """
    wn = copy.deepcopy(wn)
    unknown = sorted(set(use_m3.columns) - set(wn.junction_name_list))
    if unknown:
        raise MeterDataError(f"meter data for junctions that do not exist: {unknown[:5]}")
    start = int(wn.options.time.pattern_start)
    step = refine_pattern_step(wn, math.gcd(3600, start))  # each period within one hour
    # the hour of use_m3 each pattern period k plays: (k·step − start) // 3600; periods
    # before the start are played only after the data (the pattern wraps), at the mean
    periods = (start + len(use_m3) * 3600 + step - 1) // step
    hour = (np.arange(periods) * step - start) // 3600
    played = hour >= 0
    flow = use_m3 / 3600.0
    factor = float(wn.options.hydraulic.demand_multiplier) or 1.0
    for name in use_m3.columns:
        q = flow[name].to_numpy(dtype=float)
        mean = float(np.nanmean(q)) if np.isfinite(q).any() else 0.0
        mult = np.where(np.isfinite(q), q / mean, 1.0) if mean > 0 else np.zeros(len(q))
        pattern = f"METER-{name}"
        wn.add_pattern(pattern, np.where(played, mult[np.clip(hour, 0, None)], 1.0).tolist())
        j = wn.get_node(name)
        j.demand_timeseries_list.clear()
        j.add_demand(mean / factor, pattern)
    return wn


def refine_pattern_step(wn: wntr.network.WaterNetworkModel, step_s: int) -> int:
    """Make ``wn``'s pattern step divide ``step_s``, in place, without changing what plays.

    The new step is the greatest common divisor of the two; each multiplier of every
    pattern is repeated (old step / new step) times, so every pattern plays the same
    multiplier at every time (the pattern start is in seconds and is kept).

    Returns
    -------
    int
        The pattern step now [s].
    """
    old = int(wn.options.time.pattern_timestep)
    new = math.gcd(old, int(step_s))
    if new != old:
        r = old // new
        for name in wn.pattern_name_list:
            pat = wn.get_pattern(name)
            pat.multipliers = np.repeat(np.asarray(pat.multipliers, dtype=float), r).tolist()
        wn.options.time.pattern_timestep = new
        wn.options.time.hydraulic_timestep = min(int(wn.options.time.hydraulic_timestep), new)
    return new


# ------------------------------------------------------- the EPANET pattern clock, tanks

def pattern_period(wn: wntr.network.WaterNetworkModel, times_s) -> np.ndarray:
    """Index of the pattern period EPANET plays at simulation times ``times_s``.

    EPANET's pattern clock: at simulation time t [s] a pattern of n multipliers plays
    multiplier ``((t + pattern_start) // pattern_step) mod n`` (no interpolation); the
    step and start are the network's own (``wn.options.time``), so a 5-minute weekly
    pattern (2016 multipliers) and a pattern started at 06:00 play as EPANET plays them.
    This returns the period, ``(t + pattern_start) // pattern_step``, before the modulo.

    Parameters
    ----------
    times_s : array-like
        Seconds since the start of the simulation [s].
    """
    opts = wn.options.time
    t = np.asarray(times_s, dtype=np.int64)
    return (t + int(opts.pattern_start)) // max(1, int(opts.pattern_timestep))


def pattern_multiplier(
    wn: wntr.network.WaterNetworkModel, pattern: str | None, times_s
) -> np.ndarray:
    """Multipliers of ``pattern`` at simulation times ``times_s`` [-], as EPANET plays them.

    ``pattern`` ``None`` (a demand without its own pattern) plays the network's default
    pattern (``[OPTIONS] PATTERN``, or the pattern named ``1``) where there is one, else a
    constant 1. See :func:`pattern_period` for the clock.
    """
    if pattern is None:
        default = wn.options.hydraulic.pattern
        pattern = default if default in wn.pattern_name_list else None
    period = pattern_period(wn, times_s)
    if pattern is None:
        return np.ones(period.shape)
    mult = np.asarray(wn.get_pattern(pattern).multipliers, dtype=float)
    if mult.size == 0:
        return np.ones(period.shape)
    return mult[period % mult.size]


def junction_demand_m3s(
    wn: wntr.network.WaterNetworkModel, times_s, junctions: Sequence[str] | None = None
) -> pd.DataFrame:
    """Each junction's total demand at simulation times ``times_s`` [m³/s].

    The sum over all the junction's demand categories of base demand × its pattern's
    multiplier (:func:`pattern_multiplier`, on the network's pattern step and start), times
    the network's demand multiplier: what a demand-driven EPANET run asks of the junction
    (emitters, leaks and pressure-driven shortfalls not included).

    Parameters
    ----------
    times_s : array-like
        Seconds since the start of the simulation [s] (the run starts at the network's
        ``START CLOCKTIME``; for timestamps ``t`` of a run started at ``t0``, pass
        ``(t - t0).total_seconds()``).
    junctions : sequence of str, optional
        Junctions to return; default all.

    Returns
    -------
    DataFrame
        Index ``time`` (``times_s``), one column per junction [m³/s].
    """
    times = np.asarray(times_s)
    names = list(wn.junction_name_list if junctions is None else junctions)
    factor = float(wn.options.hydraulic.demand_multiplier)
    cache: dict[str | None, np.ndarray] = {}
    out = np.zeros((times.size, len(names)))
    for col, name in enumerate(names):
        for d in wn.get_node(name).demand_timeseries_list:
            key = d.pattern_name or None
            if key not in cache:
                cache[key] = pattern_multiplier(wn, key, times)
            out[:, col] += d.base_value * cache[key]
    return pd.DataFrame(out * factor, index=pd.Index(times, name="time"), columns=names)


def tank_volume_m3(wn: wntr.network.WaterNetworkModel, tank: str, level_m) -> np.ndarray:
    """Water stored in ``tank`` at ``level_m`` above its bottom [m³].

    WNTR's ``Tank.get_volume``: the tank's volume curve where it has one, else the
    cylinder's cross-section × level. Differences of volume (storage change between two
    levels) are exact either way; an absolute volume leaves out a ``min_vol`` the network
    may give below the minimum level.

    Parameters
    ----------
    level_m : float or array-like
        Water level above the tank bottom [m] (head − elevation).
    """
    node = wn.get_node(tank)
    if node.node_type != "Tank":
        raise KeyError(f"{tank!r} is a {node.node_type.lower()}, not a tank")
    return np.asarray(node.get_volume(np.asarray(level_m, dtype=float)), dtype=float)


def tank_level_m(ds: xr.Dataset, wn: wntr.network.WaterNetworkModel) -> xr.DataArray:
    """Tanks' water levels in a result dataset: head − tank elevation [m], time × node."""
    tanks = list(wn.tank_name_list)
    elevation = xr.DataArray([wn.get_node(t).elevation for t in tanks],
                             coords={"node": tanks}, dims="node")
    level = ds["head_m"].sel(node=tanks) - elevation
    level.attrs["units"] = "m"
    return level.rename("level_m")


def tank_volume_series_m3(ds: xr.Dataset, wn: wntr.network.WaterNetworkModel) -> xr.DataArray:
    """Tanks' stored volumes in a result dataset [m³], time × node (:func:`tank_volume_m3`)."""
    level = tank_level_m(ds, wn)
    vol = np.column_stack([tank_volume_m3(wn, t, level.sel(node=t).values)
                           for t in level.node.values]) if level.sizes["node"] else (
        np.zeros(level.shape))
    return xr.DataArray(vol, coords=level.coords, dims=level.dims, name="volume_m3",
                        attrs={"units": "m3"})


# ---------------------------------------------------------------------------- simulation

def run_steps(own_hydraulic_s: int, own_report_s: int, step_s: float) -> tuple[int, int, int]:
    """The steps of a run reported every ``step_s`` of a network with its own steps.

    The network's hydraulic step is kept, cut to the reporting step where it is longer.
    Where ``step_s`` is a multiple of the network's own reporting step, EPANET reports at
    its own step and every k-th period is kept: EPANET ends a hydraulic step at each
    reporting time, so a longer reporting step alone changes the steps taken after a
    control acts or a tank fills, and over a week moved C-Town's pressures by up to 0.15 m.

    Returns
    -------
    (int, int, int)
        Hydraulic step [s], EPANET's reporting step [s], k (keep every k-th period) [-].
    """
    step = int(step_s)
    report = own_report_s if 0 < own_report_s < step and step % own_report_s == 0 else step
    hydraulic = min(own_hydraulic_s, report) if own_hydraulic_s > 0 else report
    return int(hydraulic), int(report), step // report


def _set_times(wn, duration_s: float, step_s: float, pressure_driven: bool | None) -> int:
    """Set a run's duration and steps on ``wn`` (:func:`run_steps`); the demand model only
    when ``pressure_driven`` is not None. Returns k, to keep every k-th reported period."""
    opts = wn.options.time
    hydraulic, report, every = run_steps(int(opts.hydraulic_timestep),
                                         int(opts.report_timestep), step_s)
    opts.duration = int(duration_s)
    opts.hydraulic_timestep, opts.report_timestep = hydraulic, report
    if opts.report_start > duration_s:
        opts.report_start = 0
    if pressure_driven is not None:
        wn.options.hydraulic.demand_model = "PDA" if pressure_driven else "DDA"
    return every


def run_epanet(
    wn: wntr.network.WaterNetworkModel,
    duration_s: float,
    step_s: float = 3600,
    pressure_driven: bool | None = None,
) -> wntr.sim.results.SimulationResults:
    """Run an extended-period simulation with WNTR's ``EpanetSimulator`` on a copy of ``wn``.

    Parameters
    ----------
    duration_s : float
        Simulated time from the model's start clock time [s].
    step_s : float
        Reporting time step [s]; also the longest hydraulic step (the network's own
        shorter step is kept).
    pressure_driven : bool, optional
        ``None``: the network's own demand model; ``True`` pressure-driven (PDA) with the
        model's own pressure options; ``False`` demand-driven (DDA). Pattern step and
        start, controls and rules are the network's.

    Notes
    -----
    EPANET writes ``.inp``, ``.rpt`` and ``.bin`` files; each run gets its own temporary
    folder so runs in parallel never overwrite each other. As ``EpanetSimulator`` runs, with
    the model's exact pattern multipliers (WNTR's writer keeps 6 decimals). :func:`simulate` is the faster
    way to the same numbers.
    """
    wn = copy.deepcopy(wn)
    every = _set_times(wn, duration_s, step_s, pressure_driven)
    with tempfile.TemporaryDirectory(prefix="twin-epanet-") as tmp:
        try:
            res = _epanet_simulator_run(wn, str(Path(tmp) / "run"))
        except Exception as exc:
            raise HydraulicsError(f"EPANET failed on {wn.name or 'the network'}: {exc}") from exc
    if every > 1:
        res.node = {k: v.iloc[::every] for k, v in res.node.items()}
        res.link = {k: v.iloc[::every] for k, v in res.link.items()}
    return res


def _epanet_simulator_run(wn, prefix: str) -> wntr.sim.results.SimulationResults:
    """What ``wntr.sim.EpanetSimulator(wn).run_sim()`` does (write the ``.inp``, solve
    hydraulics and quality, report, read the binary output), with the model's exact
    pattern multipliers and curves given to EPANET before solving
    (:func:`_set_exact_patterns_and_curves`)."""
    from wntr.epanet.io import BinFile

    inp, rpt, out = (f"{prefix}.{x}" for x in ("inp", "rpt", "bin"))
    wntr.network.write_inpfile(wn, inp, units=wn.options.hydraulic.inpfile_units, version=2.2)
    en = open_epanet(inp, rpt, out)
    _set_exact_patterns_and_curves(en, wn)
    en.ENsolveH()
    en.ENsolveQ()
    en.ENreport()
    en.ENclose()
    return BinFile().read(out, False, wn.options.hydraulic.headloss == "D-W")


def simulate(
    wn: wntr.network.WaterNetworkModel,
    duration_s: float,
    step_s: float = 3600,
    pressure_driven: bool | None = None,
    required_pressure_m: float = MIN_SERVICE_PRESSURE_M,
    minimum_pressure_m: float = PDA_MINIMUM_PRESSURE_M,
) -> xr.Dataset:
    """Run an extended-period simulation through the EPANET toolkit; return a dataset.

    The network runs as its ``.inp`` says: every demand category with its pattern, the
    pattern step, length and start, controls and rules, headloss formula, demand model
    and units, tanks from their initial levels. Only the duration and the reporting step
    are set here, and the hydraulic step is cut to the reporting step where the network's
    own is longer (EPANET does the same); a model's own shorter hydraulic step is kept, as
    a tank's level is integrated over it. The run is the one a plain EPANET run of the
    file gives (``benchmarks/bench_water_fidelity.py``: identical to ~1e-6 on the public
    networks).

    Hydraulics only: no water-quality run and no status report (in a model such as ky10,
    whose own options ask for a water-age run at a 5-min quality step and a full status
    report, those take most of a plain run's time). ``wn`` is written to an ``.inp`` as is
    (not copied, not changed); EPANET's binary output is read with numpy and converted to
    SI units.

    Parameters
    ----------
    duration_s : float
        Simulated time [s].
    step_s : float
        Reporting time step [s]; also the longest hydraulic step.
    pressure_driven : bool, optional
        ``None`` (default): the network's own demand model. ``True``: pressure-driven
        analysis (EPANET 2.2 PDA, the network's pressure exponent): a junction gets its
        full demand at ``required_pressure_m`` and none at ``minimum_pressure_m``.
        ``False``: demand-driven (DDA), where unmet pressure shows as negative pressure.
    required_pressure_m, minimum_pressure_m : float
        PDA pressures [m], used when ``pressure_driven`` is True.

    Returns
    -------
    Dataset
        As :func:`results_dataset`, times from the network's report start, with
        attributes ``demand_model`` (``"DDA"`` or ``"PDA"``, as run), ``epanet_warning``
        (EPANET's warning flag, non-zero when it reported e.g. negative pressures or a pump
        that cannot deliver its head; the messages are in the run's report) and
        ``epanet_solve_s``, ``epanet_solve_cpu_s`` (wall and CPU time of EPANET's own
        hydraulic solve, ``ENsolveH`` [s]; the rest of the call is writing the model, saving
        and reading the output).
    """
    from wntr.epanet.io import InpFile

    configure = _run_configuration(wn, duration_s, step_s, pressure_driven,
                                   required_pressure_m, minimum_pressure_m)
    with tempfile.TemporaryDirectory(prefix="twin-epanet-", dir=_scratch_dir()) as tmp:
        inp = os.path.join(tmp, "run.inp")
        InpFile().write(inp, wn, units=wn.options.hydraulic.inpfile_units)
        return _toolkit_run(inp, configure, wn.name or "the network")


def _run_configuration(wn, duration_s: float, step_s: float, pressure_driven: bool | None,
                       required_pressure_m: float, minimum_pressure_m: float):
    """What :func:`simulate` and :func:`simulate_elements` set in the open EPANET project
    before solving: exact patterns and curves, the demand model when asked, the run's
    times. The returned ``configure(en)`` returns k, to keep every k-th reported period."""
    def configure(en) -> int:
        _set_exact_patterns_and_curves(en, wn)
        if pressure_driven is not None:
            _set_demand_model(en, wn, pressure_driven, minimum_pressure_m, required_pressure_m)
        return _set_run_times(en, duration_s, step_s)

    return configure


def simulate_elements(
    wn: wntr.network.WaterNetworkModel,
    duration_s: float,
    step_s: float = 3600,
    nodes: Sequence[str] = (),
    links: Sequence[str] = (),
    pressure_driven: bool | None = None,
    required_pressure_m: float = MIN_SERVICE_PRESSURE_M,
    minimum_pressure_m: float = PDA_MINIMUM_PRESSURE_M,
    tank_levels_m: pd.DataFrame | None = None,
) -> xr.Dataset:
    """The run :func:`simulate` makes, reading only some nodes and links.

    The EPANET toolkit steps the hydraulics (``ENrunH``/``ENnextH``, what ``ENsolveH``
    does) and reads the pressure at ``nodes`` and the flow and status of ``links`` at each
    reported time; nothing is written for the other elements (a year at 5-min steps of
    a 935-junction network writes a 5.9 GB binary output in :func:`simulate`, read back
    whole). Same network, options, steps and reported times as :func:`simulate`; values in
    double precision where the binary output keeps float32 (they agree to its ~1e-7
    relative round-off: ``tests/test_water_hydraulics_elements.py``).

    Parameters
    ----------
    duration_s, step_s, pressure_driven, required_pressure_m, minimum_pressure_m
        As for :func:`simulate`.
    nodes : sequence of str
        Nodes whose pressure is read (a tank's: its level [m] where the specific gravity
        is 1).
    links : sequence of str
        Links whose flow and status are read.
    tank_levels_m : DataFrame, optional
        Levels the tanks are held at [m]: index the time from the start of the run [s]
        (e.g. every SCADA step), a column per tank. When EPANET reaches one of these times,
        each of these tanks is set to its level then (clipped to the tank's minimum and
        maximum level, :func:`_held_levels`) before the time is solved, so its head is the
        level given, not its own filling, and the model's controls read that level; a
        missing level (NaN: the tank's sensor out) sets nothing, and the tank fills as
        EPANET runs it from the last level set. Between the times the run is EPANET's own: a control on a tank's level is placed between
        them where the tank's filling from the level given reaches it. (Set at EPANET's
        intermediate times too, C-Town's tanks held at levels sampled every 5 min never
        reached the level that stops their pumps: 4 pumps and a valve ran otherwise than the
        network that made the levels for 1,179-2,916 of 5,760 steps.)

    Returns
    -------
    Dataset
        ``pressure_m (time × node)`` [m], ``flow_m3s (time × link)`` [m³/s], ``status (time
        × link)`` (0 closed, 1 open or active); ``time`` in seconds from the start, as
        :func:`simulate`; attributes ``demand_model`` and ``epanet_warning`` (the last
        warning code EPANET returned, 0 when none).

    Raises
    ------
    HydraulicsError
        An element not in the network, or EPANET failing to solve.
    """
    from wntr.epanet.io import InpFile

    nodes, links = [str(n) for n in nodes], [str(x) for x in links]
    missing = sorted(set(nodes) - set(wn.node_name_list)) + sorted(
        set(links) - set(wn.link_name_list))
    if missing:
        raise HydraulicsError(f"elements not in {wn.name or 'the network'}: {missing[:5]}")
    configure = _run_configuration(wn, duration_s, step_s, pressure_driven,
                                   required_pressure_m, minimum_pressure_m)

    held = _held_levels(wn, tank_levels_m)

    def stepped(en, every: int) -> xr.Dataset:
        to_m3s = FLOW_UNITS_M3S[en.ENgetflowunits()]
        times, p, q, st, warning = _step_and_read(
            en, [en.ENgetnodeindex(n) for n in nodes], [en.ENgetlinkindex(x) for x in links],
            en.ENgettimeparam(EN_REPORTSTART), en.ENgettimeparam(EN_REPORTSTEP), every,
            None if held is None else ([en.ENgetnodeindex(t) for t in held[0]],) + held[1:])
        data = {"pressure_m": (("time", "node"), p * _pressure_unit_m(wn), {"units": "m"}),
                "flow_m3s": (("time", "link"), q * to_m3s, {"units": "m3/s"}),
                "status": (("time", "link"), st, {"units": "0 closed, 1 open or active"})}
        return xr.Dataset(data, coords={"time": ("time", times, {"units": "s"}),
                                        "node": np.asarray(nodes, dtype=str),
                                        "link": np.asarray(links, dtype=str)},
                          attrs={"epanet_warning": int(warning)})

    with tempfile.TemporaryDirectory(prefix="twin-epanet-", dir=_scratch_dir()) as tmp:
        inp = os.path.join(tmp, "run.inp")
        InpFile().write(inp, wn, units=wn.options.hydraulic.inpfile_units)
        return _toolkit_run(inp, configure, wn.name or "the network", stepped)


def _held_levels(wn: wntr.network.WaterNetworkModel, levels_m: pd.DataFrame | None
                 ) -> tuple[list[str], np.ndarray, np.ndarray] | None:
    """The tank levels :func:`simulate_elements` holds, in EPANET's units: the tanks, the
    times [s] and time × tank levels [ft with US flow units, else m], each clipped to its
    tank's minimum and maximum level (EPANET refuses a level outside them), NaN where
    missing; None when no tank of ``wn`` has a level given."""
    if levels_m is None:
        return None
    have = set(wn.tank_name_list)
    tanks = [str(t) for t in levels_m.columns if str(t) in have]
    if not tanks or not len(levels_m):
        return None
    lv = levels_m.set_axis([str(t) for t in levels_m.columns], axis=1)[tanks]
    low = np.array([wn.get_node(t).min_level for t in tanks])
    high = np.array([wn.get_node(t).max_level for t in tanks])
    unit = FOOT_M if wn.options.hydraulic.inpfile_units.upper() in US_FLOW_UNITS else 1.0
    values = np.clip(lv.to_numpy(dtype=float), low, high) / unit
    return tanks, lv.index.to_numpy(dtype=float), values


def _step_and_read(en, ni: list[int], li: list[int], start: int, report: int, every: int,
                   held: tuple[list[int], np.ndarray, np.ndarray] | None = None):
    """Step an open project's hydraulics to its end; at each k-th reporting time (from
    ``start``, every ``report`` s) read the nodes' pressures and the links' flows and
    statuses (EPANET units). ``held``: tank node indices, times [s] and time × tank levels
    (EPANET units): at each of those times, before it is solved, each tank whose level is
    not NaN is set to it (``EN_TANKLEVEL``, which also sets its volume and head). Returns times [s], the
    three arrays and the last warning."""
    import ctypes

    lib, ph = en.ENlib, en._project
    t, dt, v = ctypes.c_long(), ctypes.c_long(), ctypes.c_double()
    ref_t, ref_dt, ref_v = ctypes.byref(t), ctypes.byref(dt), ctypes.byref(v)
    node_args = [ctypes.c_int(i) for i in ni]
    link_args = [ctypes.c_int(i) for i in li]
    c_p, c_q, c_s = ctypes.c_int(EN_PRESSURE), ctypes.c_int(EN_FLOW), ctypes.c_int(EN_STATUS)
    get_node, get_link = lib.EN_getnodevalue, lib.EN_getlinkvalue
    times, rows_p, rows_q, rows_s = [], [], [], []
    warning, period = 0, 0
    err = lib.EN_openH(ph) or lib.EN_initH(ph, ctypes.c_int(0))
    if err >= 100:
        raise HydraulicsError(f"EPANET error {err} opening the hydraulics")
    set_node, c_level = lib.EN_setnodevalue, ctypes.c_int(EN_TANKLEVEL)
    tank_idx, held_rows, values = ([], {}, None) if held is None else (
        held[0], {int(t): r for r, t in enumerate(held[1])}, held[2])
    clock = 0
    while True:
        row = held_rows.get(clock)
        if row is not None:
            for k, index in enumerate(tank_idx):
                level = float(values[row, k])
                if level != level:  # missing: the tank fills as EPANET runs it
                    continue
                err = set_node(ph, ctypes.c_int(index), c_level, ctypes.c_double(level))
                if err >= 100:
                    raise HydraulicsError(f"EPANET error {err} setting a tank's level to "
                                          f"{level:.3f} at {clock} s")
        err = lib.EN_runH(ph, ref_t)
        if err >= 100:
            raise HydraulicsError(f"EPANET error {err} solving the hydraulics at "
                                  f"{t.value} s")
        warning = err or warning
        now = t.value
        if now >= start and (now - start) % report == 0:
            if period % every == 0:
                times.append(now)
                row = []
                for a in node_args:
                    get_node(ph, a, c_p, ref_v)
                    row.append(v.value)
                rows_p.append(row)
                row_q, row_s = [], []
                for a in link_args:
                    get_link(ph, a, c_q, ref_v)
                    row_q.append(v.value)
                    get_link(ph, a, c_s, ref_v)
                    row_s.append(v.value)
                rows_q.append(row_q)
                rows_s.append(row_s)
            period += 1
        err = lib.EN_nextH(ph, ref_dt)
        if err >= 100:
            raise HydraulicsError(f"EPANET error {err} stepping the hydraulics at {now} s")
        if dt.value <= 0:
            break
        clock = now + dt.value
    lib.EN_closeH(ph)
    n = len(times)
    return (np.asarray(times, dtype=float),
            np.asarray(rows_p, dtype=float).reshape(n, len(ni)),
            np.asarray(rows_q, dtype=float).reshape(n, len(li)),
            (np.asarray(rows_s, dtype=float).reshape(n, len(li)) > 0).astype(float), warning)


def _pressure_unit_m(wn: wntr.network.WaterNetworkModel) -> float:
    """Metres of water per pressure unit EPANET reports for ``wn`` as written by WNTR
    [m/unit]: psi with US flow units, else kPa where the network asks for it, else metres
    (EPANET's own rule)."""
    hyd = wn.options.hydraulic
    if hyd.inpfile_units.upper() in US_FLOW_UNITS:
        return PRESSURE_UNITS_M[0]
    unit = str(hyd.inpfile_pressure_units or "").upper()
    return PRESSURE_UNITS_M[1] if unit.startswith("KPA") else PRESSURE_UNITS_M[2]


def run_inp_file(path: str | Path, duration_s: float | None = None) -> xr.Dataset:
    """Run an ``.inp`` file as it is through the EPANET 2.2 toolkit: a plain EPANET run.

    The file is opened by EPANET itself (not read by WNTR); only the duration may be set.
    Steps, pattern start, report start, demand model, controls and rules are the file's.
    It is the anchor the twin's :func:`simulate` of ``read_inp(path)`` is compared to.

    Parameters
    ----------
    duration_s : float, optional
        Simulated time [s]; default the file's own duration.

    Returns
    -------
    Dataset
        As :func:`simulate` (hydraulics only, SI units, the file's reporting times).
    """
    def configure(en) -> int:
        if duration_s is not None:
            en.ENsettimeparam(EN_DURATION, int(duration_s))
        return 1

    from twin.water.network import epanet_path

    with tempfile.TemporaryDirectory(prefix="twin-inp-") as tmp:
        return _toolkit_run(epanet_path(path, tmp), configure, str(path))


#: EPANET's input parser keeps its place in a line in C's ``strtok`` state, one for the
#: process: two threads opening networks at once can read each other's tokens (seen as
#: ``Error 200`` on a valid file in ``test_runs_in_parallel_do_not_collide``). Opening is
#: serialized; solving stays parallel.
_EPANET_OPEN = threading.Lock()


def open_epanet(inp: str, rpt: str, out: str = ""):
    """An EPANET 2.2 toolkit project with ``inp`` opened (``rpt`` its report, ``out`` its
    binary output, "" for none), one thread at a time (:data:`_EPANET_OPEN`)."""
    from wntr.epanet.toolkit import ENepanet

    en = ENepanet(version=2.2)
    with _EPANET_OPEN:
        en.ENopen(inp, rpt, out)
    return en


def _toolkit_run(inp: str, configure, name: str, stepped=None) -> xr.Dataset:
    """Open ``inp`` with the EPANET toolkit, let ``configure(en)`` set what the run
    changes (it returns k, to keep every k-th reported period), solve the hydraulics (no
    status report, no quality) and read the output; or, with ``stepped(en, k)``, let it
    step the hydraulics and return the dataset (nothing written)."""
    import ctypes


    with tempfile.TemporaryDirectory(prefix="twin-epanet-", dir=_scratch_dir()) as tmp:
        rpt, out = os.path.join(tmp, "run.rpt"), os.path.join(tmp, "run.bin")
        try:
            en = open_epanet(inp, rpt, out if stepped is None else "")
            en.ENlib.EN_setstatusreport(en._project, ctypes.c_int(0))
            every = configure(en)
            demand_model = _demand_model(en)
            if stepped is not None:
                ds = stepped(en, every)
            else:
                nodes = [_element_id(en, "node", i) for i in range(1, en.ENgetcount(0) + 1)]
                links = [_element_id(en, "link", i) for i in range(1, en.ENgetcount(2) + 1)]
                t0, c0 = time.perf_counter(), time.process_time()
                en.ENsolveH()
                solve_s, solve_cpu_s = time.perf_counter() - t0, time.process_time() - c0
                en.ENsaveH()
            en.ENclose()
        except HydraulicsError:
            raise
        except Exception as exc:
            raise HydraulicsError(
                f"EPANET failed on {name}: {exc}; check the network's controls, pump "
                "curves and that every node is connected to a source") from exc
        if stepped is None:
            ds = read_binary_output(out, nodes, links, every)
            ds.attrs["epanet_solve_s"], ds.attrs["epanet_solve_cpu_s"] = solve_s, solve_cpu_s
    ds.attrs["demand_model"] = demand_model
    return ds


def _element_id(en, kind: str, index: int) -> str:
    """ID of node or link ``index`` (1-based) of an open EPANET project, decoded as the
    ``.inp`` was (UTF-8, else latin-1)."""
    import ctypes

    buf = ctypes.create_string_buffer(64)
    get = en.ENlib.EN_getnodeid if kind == "node" else en.ENlib.EN_getlinkid
    err = get(en._project, ctypes.c_int(index), ctypes.byref(buf))
    if err:
        raise HydraulicsError(f"EPANET error {err} reading {kind} {index}'s ID")
    try:
        return buf.value.decode("utf-8")
    except UnicodeDecodeError:
        return buf.value.decode("latin-1")


#: EPANET toolkit time parameter codes (``EN_settimeparam``): duration, hydraulic step,
#: pattern step, pattern start, report step, report start.
EN_DURATION, EN_HYDSTEP, EN_PATTERNSTEP, EN_PATTERNSTART, EN_REPORTSTEP, EN_REPORTSTART = (
    0, 1, 3, 4, 5, 6)


def _set_run_times(en, duration_s: float, step_s: float) -> int:
    """Set a run's duration and steps (:func:`run_steps`) in an open EPANET project; pattern
    step and start and report start stay the network's (a report start after the end
    becomes 0). Returns k, to keep every k-th reported period."""
    hydraulic, report, every = run_steps(en.ENgettimeparam(EN_HYDSTEP),
                                         en.ENgettimeparam(EN_REPORTSTEP), step_s)
    en.ENsettimeparam(EN_DURATION, int(duration_s))
    # EPANET refuses a reporting step shorter than the hydraulic step, and cuts the
    # hydraulic step to the reporting step: hydraulic, reporting, then hydraulic again
    en.ENsettimeparam(EN_HYDSTEP, hydraulic)
    en.ENsettimeparam(EN_REPORTSTEP, report)
    en.ENsettimeparam(EN_HYDSTEP, hydraulic)
    if en.ENgettimeparam(EN_REPORTSTART) > duration_s:
        en.ENsettimeparam(EN_REPORTSTART, 0)
    return every


def _set_exact_patterns_and_curves(en, wn: wntr.network.WaterNetworkModel) -> None:
    """Give EPANET the model's pattern multipliers and curve points at full precision.

    WNTR's ``.inp`` writer keeps 6 decimals of a multiplier (``0.56915`` for
    ``0.5691504``) and of a curve point; over a week the tank levels of C-Town drift by
    millimetres from a run of the original file. Patterns are set through
    ``EN_setpattern``; a curve through ``EN_setcurve`` only where a point differs by more
    than unit-conversion round-off (``EN_setcurve`` stops EPANET fitting a power curve to a
    3-point pump curve: resetting every curve moved Micropolis's pressures by 46 m).
    """
    import ctypes

    from wntr.epanet.util import FlowUnits, HydParam, from_si

    lib, ph = en.ENlib, en._project
    index = ctypes.c_int()
    for name in wn.pattern_name_list:
        if lib.EN_getpatternindex(ph, name.encode(), ctypes.byref(index)):
            continue
        mult = np.asarray(wn.get_pattern(name).multipliers, dtype=np.float64)
        if mult.size:
            values = (ctypes.c_double * mult.size)(*mult)
            lib.EN_setpattern(ph, index, values, ctypes.c_int(mult.size))
    units = FlowUnits[wn.options.hydraulic.inpfile_units.upper()]
    params = {"VOLUME": (HydParam.Length, HydParam.Volume),
              "HEAD": (HydParam.Flow, HydParam.HydraulicHead),
              "EFFICIENCY": (HydParam.Flow, None),
              "HEADLOSS": (HydParam.Flow, HydParam.HydraulicHead)}
    for name in wn.curve_name_list:
        curve = wn.get_curve(name)
        if curve.curve_type not in params or not curve.points or lib.EN_getcurveindex(
                ph, name.encode(), ctypes.byref(index)):
            continue
        px, py = params[curve.curve_type]
        pts = np.asarray(curve.points, dtype=np.float64)
        x = np.asarray(from_si(units, pts[:, 0], px), dtype=np.float64)
        y = pts[:, 1] if py is None else np.asarray(from_si(units, pts[:, 1], py),
                                                    dtype=np.float64)
        have = np.array([_curve_point(lib, ph, index, k) for k in range(1, len(x) + 1)])
        if have.shape == (len(x), 2) and np.allclose(have, np.column_stack([x, y]), rtol=1e-9,
                                                     atol=0):
            continue  # the written curve is the model's (to unit-conversion round-off)
        lib.EN_setcurve(ph, index, (ctypes.c_double * len(x))(*x),
                        (ctypes.c_double * len(y))(*y), ctypes.c_int(len(x)))


def _curve_point(lib, ph, index, k: int) -> tuple[float, float]:
    import ctypes

    x, y = ctypes.c_double(), ctypes.c_double()
    lib.EN_getcurvevalue(ph, index, ctypes.c_int(k), ctypes.byref(x), ctypes.byref(y))
    return x.value, y.value


def _set_demand_model(en, wn, pressure_driven: bool, minimum_pressure_m: float,
                      required_pressure_m: float) -> None:
    """Set DDA or PDA (with the network's pressure exponent) through ``EN_setdemandmodel``."""
    import ctypes

    hyd = wn.options.hydraulic
    pressure_m = (minimum_pressure_m, required_pressure_m) if pressure_driven else (
        hyd.minimum_pressure, hyd.required_pressure)
    scale = _pressure_scale(hyd.inpfile_units)
    err = en.ENlib.EN_setdemandmodel(en._project, ctypes.c_int(int(pressure_driven)),
                                     ctypes.c_double(pressure_m[0] / scale),
                                     ctypes.c_double(pressure_m[1] / scale),
                                     ctypes.c_double(hyd.pressure_exponent))
    if err:
        raise HydraulicsError(f"EPANET error {err} setting the demand model; check the "
                              "minimum and required pressures (minimum < required)")


def _demand_model(en) -> str:
    """``"DDA"`` or ``"PDA"``: the demand model of an open EPANET project."""
    import ctypes

    model, pmin, preq, pexp = ctypes.c_int(), *(ctypes.c_double() for _ in range(3))
    en.ENlib.EN_getdemandmodel(en._project, *(ctypes.byref(v) for v in (model, pmin, preq,
                                                                         pexp)))
    return "PDA" if model.value == 1 else "DDA"


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


def read_binary_output(
    path: str | Path, nodes: list[str], links: list[str], every: int = 1
) -> xr.Dataset:
    """Read an EPANET 2.2 binary output file into a dataset in SI units.

    The file starts with a prolog of integers (magic number, version, node, tank, link,
    pump and valve counts, quality option, trace node, flow units, pressure units,
    statistics flag, report start, report step, duration) and ends with the epilog (four
    float averages, the number of reporting periods, the warning flag, the magic number).
    Just before the epilog are the periods' results, float32: per node demand, head,
    pressure, quality; per link flow, velocity, head loss, quality, status, setting,
    reaction rate, friction factor. ``every`` keeps every k-th reported period [-].
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
    values = np.memmap(path, dtype="<f4", mode="r", offset=offset,
                       shape=(periods, width))[::every]
    kept = values.shape[0]
    node_v = values[:, : 4 * n_nodes].reshape(kept, 4, n_nodes)
    link_v = values[:, 4 * n_nodes:].reshape(kept, 8, n_links)
    times = head[12] + head[13] * every * np.arange(kept)

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
    """Simulate from the network's start clock time up to ``local_time``'s clock time and
    return the state then.

    The run starts at the network's ``START CLOCKTIME`` (midnight in most files) with its
    own pattern start, controls and rules, tanks at their initial levels, and lasts until
    the clock next shows ``local_time``'s time of day (less than a day).

    Returns
    -------
    Dataset
        One time: seconds from the run's start, rounded down to ``step_s``.
    """
    seconds = (local_time - local_time.normalize()).total_seconds()
    ahead = (seconds - float(wn.options.time.start_clocktime)) % 86400
    duration = int(ahead // step_s * step_s)
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


#: EPANET toolkit value codes: a link's flow, a node's demand, a node's pressure, a link's
#: status (``EN_getlinkvalue``, ``EN_getnodevalue``).
EN_FLOW, EN_DEMAND, EN_PRESSURE, EN_STATUS = 8, 9, 11, 11
#: EPANET toolkit node value code of a tank's level (``EN_setnodevalue``).
EN_TANKLEVEL = 8


def step_volumes_m3(
    wn: wntr.network.WaterNetworkModel,
    duration_s: float,
    step_s: float = 3600,
    links: Sequence[str] = (),
    nodes: Sequence[str] = (),
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Volume through ``links`` and drawn at ``nodes`` in each reporting step [m³], exactly.

    EPANET holds flows constant over each hydraulic step and ends a step at every control,
    tank event and reporting time; the volumes here sum flow × length of every hydraulic
    step of a run stepped through the toolkit (``ENrunH``/``ENnextH``), so a pump or tank
    inlet that switches within the reporting step is counted for the time it ran — what a
    flow meter's totaliser records, where a flow sampled at the reporting times is not. The
    run is the one :func:`run_epanet` makes (same steps, exact patterns and curves).

    Parameters
    ----------
    duration_s : float
        Simulated time [s].
    step_s : float
        Reporting step [s]: the volumes' bins.
    links, nodes : sequence of str
        Links whose signed flow, and nodes whose demand (an emitter's outflow included),
        are integrated.

    Returns
    -------
    (DataFrame, DataFrame)
        Bins (start time [s] from the run's start) × link [m³], and × node [m³].
    """

    wn = copy.deepcopy(wn)
    _set_times(wn, duration_s, step_s, None)
    bins = int(math.ceil(duration_s / step_s))
    vol_link, vol_node = np.zeros((bins, len(links))), np.zeros((bins, len(nodes)))
    with tempfile.TemporaryDirectory(prefix="twin-epanet-", dir=_scratch_dir()) as tmp:
        inp, rpt = os.path.join(tmp, "run.inp"), os.path.join(tmp, "run.rpt")
        wntr.network.write_inpfile(wn, inp, units=wn.options.hydraulic.inpfile_units,
                                   version=2.2)
        try:
            en = open_epanet(inp, rpt)
            _set_exact_patterns_and_curves(en, wn)
            to_m3s = FLOW_UNITS_M3S[en.ENgetflowunits()]
            li = [en.ENgetlinkindex(name) for name in links]
            ni = [en.ENgetnodeindex(name) for name in nodes]
            en.ENopenH()
            en.ENinitH(0)
            while True:
                t = en.ENrunH()
                dt = en.ENnextH()
                if t >= duration_s:
                    break
                q_link = [en.ENgetlinkvalue(i, EN_FLOW) * to_m3s for i in li]
                q_node = [en.ENgetnodevalue(i, EN_DEMAND) * to_m3s for i in ni]
                a, b = t, min(t + dt, duration_s)
                while a < b:  # EPANET ends its steps at reporting times; split if not
                    k = min(int(a // step_s), bins - 1)
                    end = min(b, (k + 1) * step_s) if k < bins - 1 else b
                    vol_link[k] += np.multiply(q_link, end - a)
                    vol_node[k] += np.multiply(q_node, end - a)
                    a = end
                if dt <= 0:
                    break
            en.ENcloseH()
            en.ENclose()
        except Exception as exc:
            raise HydraulicsError(f"EPANET failed stepping {wn.name or 'the network'}: "
                                  f"{exc}") from exc
    index = pd.Index(np.arange(bins) * step_s, name="time_s")
    return (pd.DataFrame(vol_link, index=index, columns=list(links)),
            pd.DataFrame(vol_node, index=index, columns=list(nodes)))
