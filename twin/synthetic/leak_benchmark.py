"""A BattLeDIM-style leak benchmark on any public DMA network.

Given an EPANET network (e.g. KL, 935 junctions, from the Water Benchmark Hub), one case:

* the *published* model, which the twin is given: the network with its coordinates in
  metres and, where it has no demand patterns, a weekly residential and a weekday
  commercial pattern (hourly), split into DMAs with a flow meter on every boundary link
  (:func:`twin.water.dma.partition_dmas`, :func:`twin.water.dma.boundary_meters`), pressure
  loggers spread over each DMA along its pipes at BattLeDIM's density per length of main
  (``main_m_per_logger``; or, with ``logger_density="junctions"``, one per
  ``junctions_per_logger`` junctions), AMR meters on a share of the demand junctions;
* the *real* network that makes the data: every pipe's diameter and roughness off by up to
  ``param_uncertainty`` (uniform), every junction's demand off by a fixed factor up to
  ``demand_uncertainty`` (uniform) and by a noise of that size (AR(1), 15-min) shared by a
  noise group of junctions, a common day factor (weather), patterns interpolated between
  their hours, and leaks: demands at the middle of a pipe of their own (split there), abrupt
  (full flow at once) or incipient (growing linearly over days), 3 to 200 m³/h, several at
  once, some repaired within the period;
* SCADA from one EPANET run of the real network at ``step_s``, read only at its sensors
  (:func:`sensor_run`): boundary flows with 1 % noise, logger pressures with
  ``pressure_noise_m``, tank levels with ``level_noise_m``; AMR hourly volumes with 1 %
  noise;
* the truth: ``leak_id``, ``pipe``, ``start``, ``end``, ``flow`` [m³/h] (the format
  ``twin water leaks --truth`` reads), with ``kind``, ``dma``, ``x_m``, ``y_m``.

The first ``leak_free_days`` days hold no leak (BattLeDIM gave a leak-free year; here a few
weeks), as the twin's baseline needs.

References
----------
Vrachimis, S. G. et al. (2022). Battle of the Leakage Detection and Isolation Methods.
J. Water Resour. Plann. Manage. 148(12).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import pandas as pd
import wntr

from twin.water.dma import boundary_meters, dma_names, mains_length_km, partition_dmas
from twin.water.hydraulics import junction_demand_m3s, simulate_elements
from twin.water.leak_expectation import Observations
from twin.water.network import metres_per_coordinate_unit, read_inp, transform_coordinates

#: Hourly residential multipliers of a weekday and of a weekend day [-] (morning and
#: evening peaks; weekend later and flatter).
RESIDENTIAL_WEEKDAY = [0.45, 0.35, 0.3, 0.3, 0.35, 0.6, 1.2, 1.7, 1.5, 1.2, 1.0, 1.0,
                       1.05, 1.0, 0.9, 0.9, 1.0, 1.2, 1.5, 1.6, 1.4, 1.1, 0.8, 0.6]
RESIDENTIAL_WEEKEND = [0.5, 0.4, 0.35, 0.3, 0.3, 0.4, 0.6, 0.9, 1.3, 1.5, 1.5, 1.4,
                       1.3, 1.2, 1.1, 1.0, 1.1, 1.2, 1.4, 1.5, 1.3, 1.1, 0.9, 0.6]
#: Hourly commercial multipliers of a weekday; weekends at 0.3 [-].
COMMERCIAL_WEEKDAY = [0.2] * 6 + [0.6, 1.2, 1.8, 1.9, 1.9, 1.8, 1.6, 1.8, 1.8, 1.7, 1.5, 1.0,
                                  0.6] + [0.3] * 5
#: Leak size classes [m³/h] drawn in turn.
SIZE_CLASSES_M3H = ((3.0, 10.0), (10.0, 50.0), (50.0, 200.0))
#: Step of the real network's demand noise [s].
NOISE_STEP_S = 900
#: L-Town (BattLeDIM 2020): total length of its pipes [m], pressure loggers [-] and
#: junctions [-], as published (Vrachimis et al. 2022; the Water Benchmark Hub's L-Town page:
#: "a network of pipes with a total length of 42.6km"; 33 pressure sensors, 782 junctions).
L_TOWN_MAIN_M, L_TOWN_LOGGERS, L_TOWN_JUNCTIONS = 42_600.0, 33, 782
#: Ways to set how many loggers a DMA gets: by its length of main or by its junctions.
LOGGER_DENSITIES = ("length", "junctions")


@dataclass(frozen=True)
class BenchmarkSpec:
    """One benchmark case.

    Attributes
    ----------
    network : str
        Path of the EPANET ``.inp``.
    seed : int
    start : str
        UTC start of the period (a Monday midnight: the model's time zero).
    days, leak_free_days : int
        Length of the period and of its leak-free start [day].
    step_s : int
        SCADA and hydraulic step [s].
    n_dmas : int
    logger_density : str
        ``"length"`` (default): one pressure logger per ``main_m_per_logger`` of a DMA's main;
        ``"junctions"``: one per ``junctions_per_logger`` of its junctions. A location
        radius (BattLeDIM's 300 m) is a length, so the density that keeps a case comparable
        with L-Town is the one per length: a network with longer pipes between its junctions
        (KL: 252 km for 935 junctions, against L-Town's 42.6 km for 782) gets about five
        times fewer loggers per km by junctions.
    main_m_per_logger : float
        Length of main per pressure logger [m] (L-Town: 42,600 m / 33 ≈ 1,291 m).
    junctions_per_logger : int
        Junctions per pressure logger [-] (L-Town: 782/33 ≈ 24).
    amr_share : float
        Share of demand junctions with an AMR meter [-] (BattLeDIM: 82/782 ≈ 0.1).
    n_leaks : int
    incipient_share : float
    demand_uncertainty, param_uncertainty : float
        Relative errors of demands and of pipe diameters and roughness [-].
    noise_groups : int
        Junction groups that share one demand-noise series [-].
    pressure_noise_m : float
        Logger noise standard deviation [m].
    flow_noise : float
        Flow meter noise, relative standard deviation [-].
    level_noise_m : float
        Tank level noise standard deviation [m].
    amr_noise : float
        AMR volume noise, relative standard deviation [-].
    """

    network: str
    seed: int = 0
    start: str = "2019-01-07"
    days: int = 70
    leak_free_days: int = 14
    step_s: int = 300
    n_dmas: int = 3
    logger_density: str = "length"
    main_m_per_logger: float = L_TOWN_MAIN_M / L_TOWN_LOGGERS
    junctions_per_logger: int = 24
    amr_share: float = 0.1
    n_leaks: int = 8
    incipient_share: float = 0.4
    demand_uncertainty: float = 0.10
    param_uncertainty: float = 0.10
    noise_groups: int = 96
    pressure_noise_m: float = 0.05
    flow_noise: float = 0.01
    level_noise_m: float = 0.01
    amr_noise: float = 0.01


@dataclass(frozen=True)
class BenchmarkCase:
    """The twin's inputs of one case and its truth."""

    spec: BenchmarkSpec
    wn: wntr.network.WaterNetworkModel
    dmas: pd.Series
    meters: pd.DataFrame
    customers: pd.DataFrame
    loggers: list[str]
    node_xy: pd.DataFrame
    obs: Observations
    truth: pd.DataFrame
    real_wn: wntr.network.WaterNetworkModel
    simulate_s: float


def published_model(path: str) -> wntr.network.WaterNetworkModel:
    """The network as a utility publishes it: coordinates in metres, demand patterns.

    A network without patterns gets :data:`RESIDENTIAL_WEEKDAY`/``WEEKEND`` as a weekly
    pattern on four of five junctions (by name order) and :data:`COMMERCIAL_WEEKDAY` on the
    fifth; pattern step one hour, time zero a Monday midnight.
    """
    wn = read_inp(path)
    scale = metres_per_coordinate_unit(wn)
    if abs(scale - 1.0) > 0.05:
        transform_coordinates(wn, scale, 0.0, 0.0)
        for _, link in wn.links():
            link.vertices = [(x * scale, y * scale) for x, y in link.vertices]
    wn.options.time.pattern_start = 0
    if not wn.pattern_name_list:
        res = RESIDENTIAL_WEEKDAY * 5 + RESIDENTIAL_WEEKEND * 2
        com = COMMERCIAL_WEEKDAY * 5 + [0.3] * 48
        wn.add_pattern("RES", res)
        wn.add_pattern("COM", com)
        wn.options.time.pattern_timestep = 3600
        for k, (_, j) in enumerate(wn.junctions()):
            for d in j.demand_timeseries_list:
                d.pattern_name = "COM" if k % 5 == 4 else "RES"
    return wn


def spread_loggers(wn, junctions: list[str], count: int, rng,
                   distance: np.ndarray | None = None) -> list[str]:
    """``count`` junctions spread over a set by farthest-point sampling (random first).

    ``distance`` (junctions × junctions [m], e.g. :func:`pipe_distance_m`) measures the
    spread along the pipes; default the straight line between coordinates.
    """
    if distance is None:
        xy = np.array([wn.get_node(j).coordinates for j in junctions], dtype=float)

        def dist(i):
            return np.hypot(*(xy - xy[i]).T)
    else:
        def dist(i):
            return distance[i]
    chosen = [int(rng.integers(len(junctions)))]
    d = dist(chosen[0]).copy()
    while len(chosen) < min(count, len(junctions)):
        nxt = int(np.argmax(d))
        chosen.append(nxt)
        d = np.minimum(d, dist(nxt))
    return [junctions[i] for i in chosen]


def pipe_distance_m(wn, nodes: list[str]) -> np.ndarray:
    """Shortest distances along the pipes between ``nodes`` [m] (pumps and valves count
    1 m; nodes not connected: ``inf``)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import dijkstra

    index = {n: i for i, n in enumerate(wn.node_name_list)}
    rows, cols, w = [], [], []
    for _, link in wn.links():
        rows.append(index[link.start_node_name])
        cols.append(index[link.end_node_name])
        w.append(max(float(getattr(link, "length", 1.0) or 1.0), 1e-3))
    n = len(index)
    graph = coo_matrix((w, (rows, cols)), shape=(n, n)).tocsr()
    at = [index[x] for x in nodes]
    return dijkstra(graph, directed=False, indices=at)[:, at]


def logger_count(spec: BenchmarkSpec, n_junctions: int, main_m: float) -> int:
    """Pressure loggers a DMA gets at the spec's density (at least 2) [-].

    Parameters
    ----------
    n_junctions : int
        Junctions of the DMA.
    main_m : float
        Its length of main [m] (:func:`twin.water.dma.mains_length_km`).
    """
    if spec.logger_density not in LOGGER_DENSITIES:
        raise ValueError(f"logger_density {spec.logger_density!r}: use one of "
                         f"{', '.join(LOGGER_DENSITIES)}")
    if spec.logger_density == "length":
        return max(2, int(np.ceil(main_m / spec.main_m_per_logger)))
    return max(2, int(np.ceil(n_junctions / spec.junctions_per_logger)))


def place_loggers(spec: BenchmarkSpec, wn, dmas: pd.Series, rng) -> list[str]:
    """Pressure loggers of a case: per DMA, :func:`logger_count` junctions spread along its
    pipes (farthest-point sampling over the distances along pipes)."""
    km = mains_length_km(wn, dmas)
    loggers = []
    for z in dma_names(dmas):
        js = [n for n in wn.junction_name_list if dmas[n] == z]
        count = logger_count(spec, len(js), 1000.0 * float(km.get(z, 0.0)))
        loggers += spread_loggers(wn, js, count, rng, pipe_distance_m(wn, js))
    return loggers


def _ar1(rng, n: int, sd: float, rho: float = 0.8) -> np.ndarray:
    e = rng.normal(0, sd * np.sqrt(1 - rho**2), n)
    x = np.empty(n)
    x[0] = rng.normal(0, sd)
    for i in range(1, n):
        x[i] = rho * x[i - 1] + e[i]
    return x


def draw_leaks(spec: BenchmarkSpec, wn, dmas: pd.Series, meters: pd.DataFrame,
               rng) -> pd.DataFrame:
    """The leaks of a case: pipe, start and end [s from the start], flow [m³/h], kind, ramp.

    Each leak is on a pipe of its own: a pipe drawn twice is drawn again (a seed that draws
    none twice gets the same leaks as before this rule).
    """
    boundary = set(meters.link)
    pipes = [n for n, p in wn.pipes() if n not in boundary and p.length > 10
             and dmas.get(p.start_node_name) == dmas.get(p.end_node_name)
             and p.start_node_name in wn.junction_name_list]
    t_end = spec.days * 86400
    rows, used = [], set()
    for i in range(spec.n_leaks):
        lo, hi = SIZE_CLASSES_M3H[i % len(SIZE_CLASSES_M3H)]
        flow = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        start = float(rng.uniform((spec.leak_free_days + 1) * 86400, t_end - 4 * 86400))
        start = round(start / NOISE_STEP_S) * NOISE_STEP_S
        incipient = rng.random() < spec.incipient_share
        ramp = float(rng.uniform(2, 10) * 86400) if incipient else 0.0
        end = start + float(rng.uniform(7, 40) * 86400)
        end = min(t_end, round(end / NOISE_STEP_S) * NOISE_STEP_S)
        pipe = pipes[int(rng.integers(len(pipes)))]
        while pipe in used and len(used) < len(pipes):
            pipe = pipes[int(rng.integers(len(pipes)))]
        used.add(pipe)
        rows.append({"leak_id": f"L{i + 1:02d}", "pipe": pipe, "start_s": start,
                     "end_s": end, "flow": flow, "kind": "incipient" if incipient else "abrupt",
                     "ramp_s": ramp, "dma": str(dmas[wn.get_link(pipe).start_node_name])})
    return pd.DataFrame(rows)


def real_network(spec: BenchmarkSpec, wn, leaks: pd.DataFrame, rng) -> tuple:
    """The network that makes the data (see the module's description).

    Returns
    -------
    (WaterNetworkModel, dict)
        The real network, and the leak node of each leak id.
    """
    real = copy.deepcopy(wn)
    p = spec.param_uncertainty
    for _, pipe in real.pipes():
        pipe.diameter *= rng.uniform(1 - p, 1 + p)
        pipe.roughness *= rng.uniform(1 - p, 1 + p)
    n = spec.days * 86400 // NOISE_STEP_S
    t = np.arange(n) * NOISE_STEP_S
    day = (t // 86400).astype(int)
    day_factor = 1 + rng.normal(0, 0.03, spec.days + 1)[day]
    hours = t / 3600.0
    d = spec.demand_uncertainty
    base_pats = {}
    for name in wn.pattern_name_list:
        m = np.asarray(wn.get_pattern(name).multipliers, dtype=float)
        step_h = wn.options.time.pattern_timestep / 3600
        k = hours / step_h  # position on the pattern, interpolated between its steps
        i0 = np.floor(k).astype(int)
        frac = k - i0
        base_pats[name] = (1 - frac) * m[i0 % len(m)] + frac * m[(i0 + 1) % len(m)]
    groups = {}
    for _, j in real.junctions():
        g = int(rng.integers(spec.noise_groups))
        factor = rng.uniform(1 - d, 1 + d)
        for dem in j.demand_timeseries_list:
            pname = dem.pattern_name
            if not pname:  # no pattern (CTOWN: ''): a constant demand, off by its factor
                dem.base_value *= factor
                continue
            key = (pname, g)
            if key not in groups:
                noise = np.clip(1 + _ar1(rng, n, d), 0.2, None)
                real.add_pattern(f"N{len(groups)}", np.round(base_pats[pname] * day_factor
                                                             * noise, 5).tolist())
                groups[key] = f"N{len(groups)}"
            dem.base_value *= factor
            dem.pattern_name = groups[key]
    real.options.time.pattern_timestep = NOISE_STEP_S
    leak_nodes = {}
    multiplier = float(real.options.hydraulic.demand_multiplier)
    if len(leaks) and multiplier <= 0:
        raise ValueError(f"{spec.network}: [OPTIONS] Demand Multiplier {multiplier:g}: no "
                         "demand, a leak's included, can be drawn; set it above 0")
    for lk in leaks.itertuples():
        node = f"LEAK-{lk.leak_id}"
        # the piece from the pipe's start node keeps its name: a second leak given on the
        # same pipe splits that piece again (at a quarter of the pipe, and so on)
        wntr.morph.split_pipe(real, lk.pipe, f"{lk.pipe}-{lk.leak_id}", node,
                              split_at_point=0.5, return_copy=False)
        q = np.zeros(n)
        on = (t >= lk.start_s) & (t < lk.end_s)
        ramp = np.clip((t - lk.start_s + NOISE_STEP_S) / lk.ramp_s, 0, 1) if lk.ramp_s > 0 else 1.0
        q[on] = (np.ones(n) * ramp)[on]
        real.add_pattern(f"P-{lk.leak_id}", np.round(q, 5).tolist())
        # EPANET scales every demand by the network's demand multiplier (BIN's is 0.45):
        # the leak's base is divided by it, so that the network leaks the flow drawn
        real.get_node(node).add_demand(lk.flow / 3600.0 / multiplier, f"P-{lk.leak_id}")
        leak_nodes[lk.leak_id] = node
    return real, leak_nodes


def sensor_run(real, duration_s: float, step_s: float, nodes: list[str], links: list[str],
               amr: list[str]) -> dict[str, np.ndarray]:
    """What the case's sensors see of one EPANET run of the real network, noiseless.

    Only ``nodes`` and ``links`` are read as EPANET steps
    (:func:`twin.water.hydraulics.simulate_elements`; no binary output of every element).
    The AMR junctions' demands are the demand-driven ones EPANET meets in full
    (:func:`twin.water.hydraulics.junction_demand_m3s` at the run's times). Measured on a
    70-day KL case at 5 min (seed 0, 197 loggers, 8 boundary links, 62 AMR junctions;
    2026-12-05, load 0.3-1.2): :func:`make_case` 10.4 s and 0.48 GB peak RSS, against
    20.9 s and 2.45 GB reading every element out of EPANET's binary output; a 365-day case
    53.5 s and 1.49 GB.

    Parameters
    ----------
    real : WaterNetworkModel
        The network that makes the data (demand-driven).
    duration_s, step_s : float
        Run length and reporting step [s].
    nodes, links : list of str
        Nodes whose pressure (a tank's: its level) and links whose flow are read.
    amr : list of str
        Junctions whose demand is returned.

    Returns
    -------
    dict
        ``time_s`` [s from the start], ``pressure_m`` (time × nodes) [m], ``flow_m3s``
        (time × links) [m³/s], ``demand_m3s`` (time × amr) [m³/s].

    Raises
    ------
    ValueError
        A pressure-driven network (its delivered demands are not read).
    """
    model = str(real.options.hydraulic.demand_model).upper()
    if model not in ("DDA", "DD"):
        raise ValueError(f"{real.name or 'the network'}: demand model {model}; the benchmark "
                         "generator needs a demand-driven network (set [OPTIONS] DEMAND "
                         "MODEL DDA)")
    ds = simulate_elements(real, duration_s, step_s, nodes, links)
    t = ds["time"].to_numpy()
    return {"time_s": t, "pressure_m": ds["pressure_m"].to_numpy(),
            "flow_m3s": ds["flow_m3s"].to_numpy(),
            "demand_m3s": junction_demand_m3s(real, t, amr).to_numpy()}


def make_case(spec: BenchmarkSpec, leaks: pd.DataFrame | None = None) -> BenchmarkCase:
    """Build one benchmark case (one EPANET run of the real network).

    ``leaks`` (as :func:`draw_leaks` returns them: ``leak_id``, ``pipe``, ``start_s``,
    ``end_s``, ``flow`` [m³/h], ``kind``, ``ramp_s``, ``dma``) replaces the drawn ones.
    """
    import time

    rng = np.random.default_rng(spec.seed)
    wn = published_model(spec.network)
    dmas = partition_dmas(wn, spec.n_dmas, seed=spec.seed)
    meters = boundary_meters(wn, dmas)
    demand_j = [n for n, j in wn.junctions() if j.base_demand > 0]
    loggers = place_loggers(spec, wn, dmas, rng)
    amr = sorted(rng.choice(demand_j, max(1, int(spec.amr_share * len(demand_j))),
                            replace=False).tolist())
    customers = pd.DataFrame({"water_meter_id": [f"AMR-{j}" for j in amr], "junction": amr,
                              "water_share": 1.0})
    drawn = draw_leaks(spec, wn, dmas, meters, rng) if spec.n_leaks else None
    leaks = drawn if leaks is None else leaks
    real, leak_nodes = real_network(spec, wn, leaks, rng)
    tanks = wn.tank_name_list
    t0 = time.perf_counter()
    run = sensor_run(real, spec.days * 86400 - spec.step_s, spec.step_s, loggers + tanks,
                     list(meters.link), amr)
    sim_s = time.perf_counter() - t0
    times = pd.date_range(pd.Timestamp(spec.start, tz="UTC"), periods=run["time_s"].size,
                          freq=f"{spec.step_s}s")
    pr = run["pressure_m"][:, :len(loggers)]
    pr = pr + rng.normal(0, spec.pressure_noise_m, pr.shape)
    fl = run["flow_m3s"] * 1000
    fl = fl * (1 + rng.normal(0, spec.flow_noise, fl.shape))
    lv = run["pressure_m"][:, len(loggers):] + rng.normal(0, spec.level_noise_m,
                                                          (len(times), len(tanks)))
    dem = pd.DataFrame(run["demand_m3s"], index=times, columns=amr)
    use = dem.groupby(dem.index.floor("h")).mean() * 3600.0
    use = use * (1 + rng.normal(0, spec.amr_noise, use.shape))
    obs = Observations(
        times=times,
        flow_l_s=pd.DataFrame(fl, index=times, columns=list(meters.meter_id)),
        pressure_m=pd.DataFrame(pr, index=times, columns=loggers),
        tank_level_m=pd.DataFrame(lv, index=times, columns=tanks),
        pump_power_kw=pd.DataFrame(index=times),
        use_m3=use.set_axis([f"AMR-{j}" for j in amr], axis=1))
    node_xy = pd.DataFrame([wn.get_node(n).coordinates for n in wn.node_name_list],
                           index=pd.Index(wn.node_name_list, name="node"), columns=["x_m", "y_m"])
    t_start = pd.Timestamp(spec.start, tz="UTC")
    truth = pd.DataFrame({
        "leak_id": leaks.leak_id, "pipe": leaks["pipe"],
        "start": [t_start + pd.Timedelta(seconds=s) for s in leaks.start_s],
        "end": [t_start + pd.Timedelta(seconds=s) for s in leaks.end_s],
        "flow": leaks.flow.round(2), "kind": leaks.kind, "dma": leaks.dma,
        "x_m": [real.get_node(leak_nodes[i]).coordinates[0] for i in leaks.leak_id],
        "y_m": [real.get_node(leak_nodes[i]).coordinates[1] for i in leaks.leak_id]})
    return BenchmarkCase(spec, wn, dmas, meters, customers, loggers, node_xy, obs, truth,
                         real, sim_s)
