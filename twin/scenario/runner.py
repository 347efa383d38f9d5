"""Run a scenario: its changes applied, the water network (EPANET) and the grid (QSTS) solved
over its period, coupled through the pumps, reduced to metrics; the result kept as a dataset.

Order of a run (:func:`run_scenario`):

1. :func:`prepare`: the period's profiles and copies of both networks; every change applies
   itself (:mod:`twin.scenario.changes`), weather first; rooftop PV follows a weather change.
2. The electric windows (outages, switching) cut the period into segments; buses a segment
   leaves without supply stop the pumps they feed (:func:`twin.coupling.pumps_fed_by`).
3. The water network runs its period (``twin.water.hydraulics.simulate``), cut where a water
   window (a pump, pipe or tank out, a leak, a stopped pump) begins or ends; each part starts
   from the tank levels and pump states where the previous one ended.
4. Pump power from that run (:func:`twin.coupling.pump_power_series_kw`) becomes load on the
   pumps' buses, and the grid is solved for every step of each segment
   (:func:`twin.electric.qsts.run_qsts`). Steps that do not converge stay NaN and are flagged.
5. Metrics (:mod:`twin.scenario.metrics`) and the :class:`ScenarioResult`.
"""

from __future__ import annotations

import copy
import os
import tempfile
import time as _time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from twin.scenario import metrics as m
from twin.scenario.schema import Scenario, parse_scenarios, scenario_yaml
from twin.scenario.study import ScenarioError, Study, Window, join_columns, period_bounds

#: QSTS result variables a scenario keeps per element.
ELECTRIC_VARIABLES = ("vm_pu", "p_mw", "line_loading_percent", "line_pl_mw",
                      "trafo_loading_percent", "trafo_pl_mw")
#: Critical hours and search settings of the hosting-capacity metric.
HOSTING_HOURS, HOSTING_MAX_KW, HOSTING_RESOLUTION_KW = 3, 8_000.0, 250.0
#: Storage type of the per-element time series in a saved result.
SERIES_DTYPE = np.float32


class ScenarioCancelled(RuntimeError):
    """The run was cancelled (its ``cancel`` callable returned True)."""


Progress = Callable[[str, int, int], None]


# ------------------------------------------------------------------------------ result

@dataclass
class ScenarioResult:
    """One scenario's answer.

    Attributes
    ----------
    scenario : Scenario
    metrics : DataFrame
        ``value``, ``unit``, ``description`` indexed by metric (:data:`METRICS`).
    dataset : Dataset
        Time series with a ``scenario`` dimension of length 1: electric (``time`` UTC × bus,
        line, trafo; per-step totals), water (``water_time`` UTC × node, pump, tank), the
        metrics, and the attributes ``scenario_yaml``, ``scenario_hash``, ``city``, ``notes``.
    notes : list of str
        What the changes did, in words.
    """

    scenario: Scenario
    metrics: pd.DataFrame
    dataset: xr.Dataset
    notes: list = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def hash(self) -> str:
        return self.scenario.hash

    def save(self, path: str | Path) -> Path:
        """Write the result as NetCDF, atomically; a folder gets ``<hash>.nc`` inside it.

        Returns
        -------
        Path
            The file written.
        """
        path = Path(path)
        if path.is_dir() or not path.suffix:
            path.mkdir(parents=True, exist_ok=True)
            path = path / result_file_name(self.scenario)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
        os.close(fd)
        encoding = {k: {"zlib": True, "complevel": 1} for k, v in self.dataset.data_vars.items()
                    if v.dtype.kind == "f" and v.ndim > 1}
        try:
            self.dataset.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path


def result_file_name(scenario: Scenario) -> str:
    """File name of a scenario's result: its hash (names can hold any character)."""
    return f"{scenario.hash}.nc"


def open_result(path: str | Path) -> ScenarioResult:
    """Reopen a saved result (:meth:`ScenarioResult.save`).

    Raises
    ------
    ScenarioError
        For a file that is not a scenario result.
    """
    path = Path(path)
    try:
        ds = xr.load_dataset(path, engine="netcdf4")
    except (OSError, ValueError) as exc:
        raise ScenarioError(f"{path}: cannot open it as a scenario result ({exc})") from None
    if "scenario_yaml" not in ds.attrs:
        raise ScenarioError(f"{path}: not a scenario result (no scenario_yaml attribute); "
                            "give files written by twin scenario run")
    scenario = parse_scenarios(ds.attrs["scenario_yaml"], str(path))[0]
    for name in ("converged", "bus_supplied"):
        if name in ds:
            ds[name] = ds[name].astype(bool)
    return ScenarioResult(scenario, _metrics_of(ds), ds,
                          [n for n in ds.attrs.get("notes", "").split("\n") if n])


def result_metrics(path: str | Path) -> pd.DataFrame:
    """The metrics of a saved result, read without loading its time series."""
    with xr.open_dataset(path, engine="netcdf4") as ds:
        if "metric_value" not in ds:
            raise ScenarioError(f"{path}: not a scenario result (no metric_value)")
        return _metrics_of(ds[["metric_value"]].load())


def _metrics_of(ds: xr.Dataset) -> pd.DataFrame:
    values = ds["metric_value"].isel(scenario=0).to_series()
    return m.metrics_frame({k: float(v) for k, v in values.items() if k in m.METRICS})


# ------------------------------------------------------------------------------ prepare

def prepare(city, scenario: Scenario, profiles: dict | None = None) -> Study:
    """Apply a scenario's changes to copies of the city's networks and profiles.

    Raises
    ------
    ScenarioError
        A base that does not fit the city (its name, a period outside the year) or a change
        naming elements, DMAs or values the city does not have.
    """
    from twin.scenario.snapshot import profiles_of

    base = scenario.base
    if base.city is not None and base.city != city.name:
        raise ScenarioError(f"scenario {scenario.name!r} is written for city {base.city!r}, "
                            f"not {city.name!r}; run it with --city of that city or drop "
                            "base.city")
    profiles = profiles if profiles is not None else profiles_of(city)
    index = profiles["load_p_mw"].index
    year = city.recipe.year
    if base.start is not None and base.start.year != year:
        raise ScenarioError(f"scenario {scenario.name!r}: base.start {base.start} is outside "
                            f"the city's year {year}")
    start, end = period_bounds(year, city.timezone, base.start, base.days)
    last = index[-1] + (index[1] - index[0])
    if start < index[0] or end > last:
        raise ScenarioError(
            f"scenario {scenario.name!r}: the period {base.start or f'{year}-01-01'} + "
            f"{base.days} days ends after the city's year ({year}-12-31); shorten base.days")
    step = pd.Timedelta(minutes=base.step_min)
    times = pd.date_range(start, end, freq=step, inclusive="left", name="time")
    period = {k: v.loc[times].copy() for k, v in profiles.items()}
    study = Study(city=city, base=base, times=times, start_utc=start, end_utc=end,
                  net=city.electric_copy(), wn=city.water_copy(), profiles=period,
                  water_hours=int(np.ceil((end - start) / pd.Timedelta("1h"))))
    changes = sorted(scenario.changes, key=lambda c: c.phase)
    weather_done = False
    for change in changes:
        if change.phase > 0 and not weather_done:
            _follow_weather(study)
            weather_done = True
        change.apply(study)
    if not weather_done:
        _follow_weather(study)
    study.flush()
    return study


def _follow_weather(study: Study) -> None:
    """Rooftop PV already in the city follows a changed weather (its output scaled by the
    change of a south-facing 25° roof's output, step by step)."""
    if not study.weather_changed:
        return
    new = study.pv_kw_per_kwp(25.0, 180.0)
    old = study.pv_kw_per_kwp(25.0, 180.0, base=True)
    ratio = np.where(old > 1e-6, new / np.where(old > 1e-6, old, 1.0), 1.0)
    study.flush()
    sgen = study.profiles["sgen_p_mw"]
    roofs = sgen.columns.intersection(study.net.sgen.index[study.net.sgen.type.astype(str)
                                                            .str.startswith("lv_")])
    sgen.loc[:, roofs] = sgen[roofs].to_numpy() * ratio[:, None]
    study.notes.append("rooftop PV follows the changed weather")


# ------------------------------------------------------------------------------ run

def run_scenario(city, scenario: Scenario, *, profiles: dict | None = None,
                 progress: Progress | None = None,
                 cancel: Callable[[], bool] | None = None) -> ScenarioResult:
    """Run one scenario over its period, coupled, and reduce it to metrics.

    Parameters
    ----------
    city : City
    scenario : Scenario
    profiles : dict, optional
        The city's year of profiles (default :func:`twin.scenario.profiles_of`).
    progress : callable, optional
        ``progress(stage, done, total)`` as the run moves through its stages.
    cancel : callable, optional
        Checked between stages; when it returns True the run stops with
        :class:`ScenarioCancelled`.

    Returns
    -------
    ScenarioResult
    """
    from twin import coupling

    stages = ["changes", "water", "grid", "metrics"]
    t_start = _time.perf_counter()

    def stage(i: int) -> None:
        if cancel is not None and cancel():
            raise ScenarioCancelled(f"scenario {scenario.name!r} cancelled at {stages[i]}")
        if progress is not None:
            progress(stages[i], i, len(stages))

    stage(0)
    study = prepare(city, scenario, profiles)
    segments = electric_segments(study)
    for a, b, net in segments:  # electric outages stop the pumps they leave without supply
        out = _unsupplied_buses(net)
        if out:
            pumps = coupling.pumps_fed_by(study.net, city.pumps, buses=sorted(out))
            if pumps:
                study.windows.append(Window(a, b, f"pumps {pumps} without supply",
                                            water=_stop_pumps(pumps)))
                study.notes.append(f"pumps {', '.join(pumps)} without supply "
                                   f"{a.tz_convert(city.timezone):%m-%d %H:%M}–"
                                   f"{b.tz_convert(city.timezone):%m-%d %H:%M}")
    stage(1)
    wn = water_network(study)
    water = water_run(study, wn)
    power_kw = coupling.pump_power_series_kw(wn, water, city.pumps)
    stage(2)
    water_utc = study.start_utc + pd.to_timedelta(water.time.values, unit="s")
    power_kw.index = water_utc
    pump_prof = coupling.pump_load_profiles(
        study.net, power_kw.reindex(study.times, method="ffill").fillna(0.0))
    for name, df in pump_prof.items():
        study.profiles[name] = join_columns(study.profiles[name],
                                            {c: df[c].to_numpy() for c in df.columns})
    electric = grid_run(study, segments)
    stage(3)
    result = _result(study, scenario, electric, water, wn, power_kw, segments)
    result.dataset.attrs["run_seconds"] = _time.perf_counter() - t_start
    if progress is not None:
        progress("done", len(stages), len(stages))
    return result


def electric_segments(study: Study) -> list[tuple[pd.Timestamp, pd.Timestamp, object]]:
    """The period cut at electric windows' bounds: ``(start, end, net)`` per part, ``net`` the
    study's net with the windows active then (the study's own net where none is)."""
    wins = [w for w in study.windows if w.electric is not None]
    cuts = sorted({study.start_utc, study.end_utc}
                  | {t for w in wins for t in (w.start_utc, w.end_utc)
                     if study.start_utc < t < study.end_utc})
    out = []
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        active = [w for w in wins if w.start_utc <= a and w.end_utc >= b]
        net = study.net
        if active:
            net = copy.deepcopy(study.net)
            for w in active:
                w.electric(net)
        if not study.in_window(a, b).any():
            continue
        out.append((a, b, net))
    return out


def _unsupplied_buses(net) -> set:
    import pandapower.topology as top

    return set(top.unsupplied_buses(net)) | set(net.bus.index[~net.bus.in_service])


def _stop_pumps(pumps: list[str]):
    from twin.scenario.changes import _close_links

    return _close_links(pumps)


# ------------------------------------------------------------------------------ water

def water_network(study: Study):
    """The study's water network with demand factors as patterns over the period, and its
    patterns turned to the period's start (whole days from 1 January)."""
    from twin.coupling import _shifted_network

    wn = study.wn
    year_start = period_bounds(study.city.recipe.year, study.timezone, None, None)[0]
    offset = int((study.start_utc - year_start).total_seconds())
    if offset:
        wn = _shifted_network(wn, offset)
    factor = study.water_factor
    if factor is None or np.allclose(factor.to_numpy(), 1.0):
        return wn
    step = int(wn.options.time.pattern_timestep)
    default = wn.options.hydraulic.pattern
    hours = np.arange(study.water_hours)
    groups: dict = {}
    for j in factor.columns:
        node = wn.get_node(j)
        for d in node.demand_timeseries_list:
            name = d.pattern_name or default
            key = (name, factor[j].to_numpy().tobytes())
            if key not in groups:
                base = np.ones(len(hours))
                if name:
                    mult = np.asarray(wn.get_pattern(name).multipliers, dtype=float)
                    base = mult[(hours * 3600 // step) % len(mult)]
                pname = f"SCN-{len(groups)}"
                groups[key] = pname
                wn.add_pattern(pname, list(base * factor[j].to_numpy()))
            d.pattern_name = groups[key]
    if step != 3600:
        raise ScenarioError(f"the water model's pattern step is {step} s; demand changes need "
                            "hourly patterns (3600 s)")
    return wn


def water_run(study: Study, wn) -> xr.Dataset:
    """EPS over the study's period, cut where water windows begin or end (see module doc).

    ``time`` is seconds from the period's start.
    """
    from twin.coupling import _continue_from, _shifted_network
    from twin.water.hydraulics import simulate

    base = study.base
    step = base.water_step_min * 60
    duration = study.water_hours * 3600
    kwargs = {"pressure_driven": base.pressure_driven,
              "required_pressure_m": base.min_pressure_m}
    wins = [w for w in study.windows if w.water is not None]

    def seconds(t):
        s = (t - study.start_utc).total_seconds()
        return int(np.clip(round(s / step) * step, 0, duration))

    spans = [(seconds(w.start_utc), seconds(w.end_utc), w) for w in wins]
    cuts = sorted({0, duration} | {s for a, b, _ in spans for s in (a, b) if 0 < s < duration})
    if not wins:
        return simulate(wn, duration, step, **kwargs)
    parts, prev = [], None
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        seg = _shifted_network(wn, a) if a else copy.deepcopy(wn)
        if prev is not None:
            status = {p: bool(prev["status"].sel(link=p).values[-1] > 0)
                      for p in seg.pump_name_list}
            _continue_from(seg, prev, status)
        for s0, s1, w in spans:
            w.water(seg, s0 <= a and s1 >= b and s1 > s0, b - a)
        prev = simulate(seg, b - a, step, **kwargs)
        last = b == duration
        keep = prev.time.values <= (b - a) if last else prev.time.values < (b - a)
        part = prev.isel(time=np.flatnonzero(keep))
        parts.append(part.assign_coords(time=part.time.values + a))
    out = xr.concat(parts, dim="time", join="outer")
    out["time"].attrs["units"] = "s"
    return out


# ------------------------------------------------------------------------------ grid

def grid_run(study: Study, segments) -> xr.Dataset:
    """QSTS over the study's steps, one run per segment; the segments' results joined."""
    from twin.electric.qsts import run_qsts

    parts = []
    for a, b, net in segments:
        rows = study.in_window(a, b)
        prof = {k: v.loc[rows] for k, v in study.profiles.items()}
        ds = run_qsts(net, prof, variables=ELECTRIC_VARIABLES)
        ds["bus_supplied"] = ds["bus_supplied"].expand_dims(time=ds.time.values)
        parts.append(ds)
    return xr.concat(parts, dim="time") if len(parts) > 1 else parts[0]


# ------------------------------------------------------------------------------ result

def expected_demand_m3s(wn, junctions: list[str], times_s: np.ndarray) -> np.ndarray:
    """Demand each junction asks for at ``times_s`` [s from the pattern start], time ×
    junction [m³/s]: base demands × their patterns × the demand multiplier."""
    step = int(wn.options.time.pattern_timestep)
    default = wn.options.hydraulic.pattern
    mult_all = float(wn.options.hydraulic.demand_multiplier)
    cache: dict = {}
    out = np.zeros((len(times_s), len(junctions)))
    for k, j in enumerate(junctions):
        for d in wn.get_node(j).demand_timeseries_list:
            name = d.pattern_name or default
            if name not in cache:
                if name:
                    mult = np.asarray(wn.get_pattern(name).multipliers, dtype=float)
                    cache[name] = mult[(np.asarray(times_s) // step).astype(int) % len(mult)]
                else:
                    cache[name] = np.ones(len(times_s))
            out[:, k] += d.base_value * cache[name]
    return out * mult_all


def _result(study: Study, scenario: Scenario, electric: xr.Dataset, water: xr.Dataset, wn,
            pump_kw: pd.DataFrame, segments) -> ScenarioResult:
    from twin.electric.contingency import customers_per_bus
    from twin.electric.violations import find_violations

    city, net, base = study.city, study.net, scenario.base
    step_h = study.step_h
    ok = electric.converged.values.astype(bool)
    dist = net.bus.index[net.bus.vn_kv <= 35.0].to_numpy()
    vm = electric.vm_pu.sel(bus=dist).values
    supplied = electric.bus_supplied.values.astype(bool)  # time × bus
    bus_pos = pd.Index(electric.bus.values)

    # per-step totals from the profiles the grid was solved with
    lp = study.profiles["load_p_mw"]
    sg = study.profiles["sgen_p_mw"]
    load_bus = bus_pos.get_indexer(net.load.bus.reindex(lp.columns).to_numpy())
    sgen_bus = bus_pos.get_indexer(net.sgen.bus.reindex(sg.columns).to_numpy())
    in_service_load = net.load.in_service.reindex(lp.columns).to_numpy(dtype=bool)
    load_live = supplied[:, load_bus] & in_service_load
    load_v = lp.to_numpy()
    served = np.where(load_live, load_v, 0.0).sum(axis=1)
    unsupplied = np.where(~supplied[:, load_bus] & in_service_load, load_v, 0.0).sum(axis=1)
    gen = np.where(supplied[:, sgen_bus], sg.to_numpy(), 0.0).sum(axis=1)
    losses = (electric.line_pl_mw.sum("line", skipna=False).values
              + electric.trafo_pl_mw.sum("trafo", skipna=False).values)
    eg_bus = net.ext_grid.bus[net.ext_grid.in_service].to_numpy()
    grid_import = -electric.p_mw.sel(bus=eg_bus).sum("bus", skipna=False).values
    per_bus = customers_per_bus(net, city.customers).reindex(bus_pos, fill_value=0).to_numpy()
    out_mask = ~supplied & ok[:, None]
    customers_out = (out_mask * per_bus[None, :]).sum(axis=1)
    customers_ever = int(per_bus[out_mask.any(axis=0)].sum())

    ds_v = electric[["vm_pu", "line_loading_percent", "trafo_loading_percent", "converged"]]
    events = find_violations(ds_v.sel(bus=dist), net, base.voltage_band_pu,
                             base.max_loading_percent)
    values = m.electric_metrics(
        events, vm, electric.line_loading_percent.values, electric.trafo_loading_percent.values,
        ok, losses, served, grid_import, unsupplied, customers_out, customers_ever, step_h,
        base.max_loading_percent)
    values.update(_hosting(study, base) if base.hosting_capacity else {})

    # water
    junctions = [j for j in city.demand_junctions if j in set(water.node.values)]
    tanks = list(wn.tank_name_list)
    expected = expected_demand_m3s(wn, junctions, water.time.values).sum(axis=1)
    demand = water.demand_m3s.sel(node=junctions)
    leak_nodes = [n for n in water.node.values if str(n).startswith("LEAK-")]
    leak = (water.demand_m3s.sel(node=leak_nodes).sum("node").values if leak_nodes
            else np.zeros(water.sizes["time"]))
    levels = water.pressure_m.sel(node=tanks).values if tanks else np.zeros((0, 0))
    tmin = np.array([wn.get_node(t).min_level for t in tanks])
    tmax = np.array([wn.get_node(t).max_level for t in tanks])
    values.update(m.water_metrics(
        water.pressure_m.sel(node=junctions).values,
        expected if base.pressure_driven else demand.sum("node").values,
        demand.sum("node").values, leak, pump_kw.to_numpy(), base.energy_price_per_mwh,
        levels, tmin, tmax, base.water_step_min / 60.0, base.min_pressure_m))
    metrics = m.metrics_frame(values)

    # the dataset
    time = _naive(study.times)
    wtime = _naive(study.start_utc + pd.to_timedelta(water.time.values, unit="s"))
    nodes = [n for n in city.wn.node_name_list if n in set(water.node.values)]
    f32 = SERIES_DTYPE
    feeders = net.bus.feeder.reindex(bus_pos).fillna("").astype(str).to_numpy()
    from twin.electric.losses import line_feeders
    data = {
        "vm_pu": (("time", "bus"), electric.vm_pu.values.astype(f32), "p.u."),
        "line_loading_percent": (("time", "line"),
                                 electric.line_loading_percent.values.astype(f32), "%"),
        "trafo_loading_percent": (("time", "trafo"),
                                  electric.trafo_loading_percent.values.astype(f32), "%"),
        "converged": (("time",), ok, "1"),
        "grid_import_mw": (("time",), grid_import, "MW"),
        "losses_mw": (("time",), losses, "MW"),
        "load_mw": (("time",), served, "MW"),
        "generation_mw": (("time",), gen, "MW"),
        "unsupplied_mw": (("time",), unsupplied, "MW"),
        "pressure_m": (("water_time", "node"),
                       water.pressure_m.sel(node=nodes).values.astype(f32), "m"),
        "demand_m3s": (("water_time",), demand.sum("node").values, "m3/s"),
        "expected_demand_m3s": (("water_time",), expected, "m3/s"),
        "leak_m3s": (("water_time",), leak, "m3/s"),
        "pump_kw": (("water_time", "pump"), pump_kw.to_numpy(), "kW"),
        "tank_level_m": (("water_time", "tank"), levels if tanks else
                         np.zeros((len(wtime), 0)), "m"),
        "metric_value": (("metric",), metrics.value.to_numpy(), "see metric_unit"),
    }
    ds = xr.Dataset(
        {k: (dims, v, {"units": u}) for k, (dims, v, u) in data.items()},
        coords={"time": time, "bus": bus_pos.to_numpy(), "line": electric.line.values,
                "trafo": electric.trafo.values, "water_time": wtime,
                "node": np.asarray(nodes, dtype=str),
                "pump": np.asarray(pump_kw.columns, dtype=str),
                "tank": np.asarray(tanks, dtype=str), "metric": metrics.index.to_numpy(),
                "metric_unit": ("metric", metrics.unit.to_numpy()),
                "bus_feeder": ("bus", feeders),
                "bus_vn_kv": ("bus", net.bus.vn_kv.reindex(bus_pos).to_numpy(dtype=float)),
                "line_feeder": ("line", line_feeders(net).reindex(electric.line.values)
                                .fillna("").astype(str).to_numpy()),
                "node_dma": ("node", city.dmas.reindex(nodes).fillna("").astype(str)
                             .to_numpy()),
                "node_kind": ("node", _node_kinds(city, nodes))},
    )
    ds["time"].attrs["timezone"] = "UTC"
    ds["water_time"].attrs["timezone"] = "UTC"
    ds = ds.expand_dims(scenario=[scenario.name])
    ds.attrs.update({
        "scenario_yaml": scenario_yaml(scenario), "scenario_hash": scenario.hash,
        "city": city.name, "timezone": city.timezone, "notes": "\n".join(study.notes),
        "segments": len(segments), "step_min": base.step_min,
        "water_step_min": base.water_step_min,
        "epanet_warning": int(water.attrs.get("epanet_warning", 0)),
    })
    return ScenarioResult(scenario, metrics, ds, list(study.notes))


def _node_kinds(city, nodes: list[str]) -> np.ndarray:
    """``demand junction``, ``junction``, ``tank`` or ``reservoir`` per node."""
    wn, demand = city.wn, set(city.demand_junctions)
    kinds = {n: "tank" for n in wn.tank_name_list} | {n: "reservoir"
                                                     for n in wn.reservoir_name_list}
    return np.asarray([kinds.get(n, "demand junction" if n in demand else "junction")
                       for n in nodes], dtype=str)


def _hosting(study: Study, base) -> dict[str, float]:
    """Hosting capacity left at the distribution buses, at the scenario's most exporting
    hours (:func:`twin.electric.hosting_capacity.hosting_capacity`) [MW]."""
    from twin.electric.hosting_capacity import critical_hours, hosting_capacity

    prof = study.profiles
    hours = critical_hours(prof, HOSTING_HOURS)
    hc = hosting_capacity(study.net, prof, times=hours, voltage_band_pu=base.voltage_band_pu,
                          max_loading_percent=base.max_loading_percent, max_kw=HOSTING_MAX_KW,
                          resolution_kw=HOSTING_RESOLUTION_KW)
    kw = hc.hosting_capacity_kw
    return {"hosting_capacity_min_mw": float(kw.min()) / 1000.0,
            "hosting_capacity_median_mw": float(kw.median()) / 1000.0}


def _naive(times) -> np.ndarray:
    t = pd.DatetimeIndex(times)
    return np.asarray(t.tz_convert("UTC").tz_localize(None) if t.tz is not None else t)
