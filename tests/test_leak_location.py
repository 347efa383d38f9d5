"""Leak location: candidates of the alarming DMA with its boundary, the re-ranking with a
leak of the fitted size against full EPANET runs, and the benchmark's logger layout by length
of main."""

from __future__ import annotations

import copy
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import wntr
import xarray as xr

from twin.synthetic import leak_benchmark as lb
from twin.water import leak_location as loc
from twin.water.dma import mains_length_km, partition_dmas
from twin.water.hydraulics import results_dataset, run_epanet

KL = next((p / "shared" / "data" / "water" / "KL.inp" for p in Path(__file__).resolve().parents
           if (p / "shared" / "data" / "water" / "KL.inp").exists()), None)


def _dma_with_boundary(city):
    counts = city.dma_meters.from_zone.value_counts() + city.dma_meters.to_zone.value_counts()
    return next(z for z in counts.sort_values(ascending=False).index if z.startswith("DMA"))


def test_candidates_are_the_dma_and_the_far_ends_of_its_meters(city):
    dma = _dma_with_boundary(city)
    cand = loc.candidate_junctions(city.wn, city.dmas, city.dma_meters, dma)
    own = {j for j in city.wn.junction_name_list if city.dmas[j] == dma}
    far = set()
    for m in city.dma_meters.itertuples():
        if dma in (m.from_zone, m.to_zone):
            link = city.wn.get_link(m.link)
            far |= {n for n in (link.start_node_name, link.end_node_name)
                    if city.dmas[n] != dma and n in city.wn.junction_name_list}
    assert far, "the chosen DMA has metered links to other DMAs' junctions"
    assert set(cand) == own | far and len(cand) == len(own | far)
    assert set(loc.candidate_junctions(city.wn, city.dmas, city.dma_meters, dma,
                                       boundary=False)) == own


def _epanet_snapshot(wn, hour, node=None, emitter_m3s=0.0):
    w = copy.deepcopy(wn)
    w.options.time.pattern_start = hour * 3600
    w.options.time.start_clocktime = hour * 3600
    if node is not None:
        w.get_node(node).emitter_coefficient = emitter_m3s
    return results_dataset(run_epanet(w, 0))


def test_sized_leak_change_matches_an_epanet_run_of_that_leak(city):
    """A leak sized to about 15 L/s: the toolkit's change per L/s times the leak equals the
    pressure change of a full EPANET run (WNTR EpanetSimulator) with that emitter."""
    wn = city.wn
    loggers, j, hour = ["15", "115", "203"], "121", 9
    texts = loc.snapshot_inp_texts(wn, [hour])
    dp, _, leak = loc.sensitivity_batch(texts, [j], loggers, [], leak_l_s=15.0)
    base = _epanet_snapshot(wn, hour)
    p0 = float(base.pressure_m.sel(node=j)[0])
    coef_l_s = 15.0 / np.sqrt(p0)  # L/s per m^0.5, as the toolkit sized it
    leaky = _epanet_snapshot(wn, hour, j, coef_l_s / 1000.0)
    q_ref = coef_l_s * np.sqrt(float(leaky.pressure_m.sel(node=j)[0]))
    assert leak[0] == pytest.approx(q_ref, rel=1e-3)
    assert 10.0 < leak[0] <= 15.0  # the pressure at the leak falls, so does its flow
    ref = (leaky.pressure_m - base.pressure_m).sel(node=loggers)[0].to_numpy()
    np.testing.assert_allclose(dp[0] * leak[0], ref, rtol=3e-3, atol=1e-4)


def test_refine_with_size_places_and_sizes_a_large_leak(city):
    """The loggers' change from full EPANET runs of a 20 L/s leak (mean over the snapshot
    clock times): re-ranked with a leak of the fitted size, the leak's junction comes first
    and its flow is found within 5 %."""
    wn = city.wn
    dma = _dma_with_boundary(city)
    cand = loc.candidate_junctions(wn, city.dmas, city.dma_meters, dma)
    loggers = [j for j in wn.junction_name_list[::4] if j in set(city.dmas.index)]
    j = next(c for c in cand if c not in loggers and city.dmas[c] == dma
             and wn.get_node(c).elevation < np.median([wn.get_node(x).elevation
                                                       for x in cand]))
    dp = np.zeros(len(loggers))
    q_true = 0.0
    for hour in loc.SNAPSHOT_CLOCK_H:
        base = _epanet_snapshot(wn, hour)
        coef = 20.0 / np.sqrt(float(base.pressure_m.sel(node=j)[0]))
        leaky = _epanet_snapshot(wn, hour, j, coef / 1000.0)
        q_true += coef * np.sqrt(float(leaky.pressure_m.sel(node=j)[0])) / len(
            loc.SNAPSHOT_CLOCK_H)
        dp += (leaky.pressure_m - base.pressure_m).sel(node=loggers)[0].to_numpy() / len(
            loc.SNAPSHOT_CLOCK_H)
    dp_m = pd.Series(dp, index=loggers)
    sigma = pd.Series(0.01, index=loggers)
    sens = loc.leak_sensitivity(wn, loggers, city.dma_meters, city.dmas, junctions=cand,
                                cache_dir=None)
    first = loc.rank_locations(dp_m, sigma, q_true, sens, cand, city.node_xy, None, top=10)
    texts = loc.snapshot_inp_texts(wn)
    sized = loc.refine_with_size(first, dp_m, sigma, q_true, texts, city.node_xy, None,
                                 top=5, leak_rel_sd=10.0)
    assert sized.element.iloc[0] == j
    assert sized.leak_l_s.iloc[0] == pytest.approx(q_true, rel=0.05)
    assert sized.misfit.iloc[0] <= first.misfit.iloc[0] + 1e-9


def test_no_location_from_an_alarm_in_the_first_hours():
    """An alarm in a run's first hours has nothing before its change to compare with: no
    logger has a change, and location says so (the run flags the alarm and goes on)."""
    t = pd.date_range("2020-01-01", periods=48, freq="h", tz="UTC")
    res = pd.DataFrame(np.random.default_rng(1).normal(0, 0.01, (48, 3)), index=t,
                       columns=["a", "b", "c"])
    dp = loc.pressure_change(res, t[0], t[10], t[0], 24)
    assert dp.isna().all()
    with pytest.raises(loc.LeakLocationError, match="no pressure logger has a residual change"):
        loc.rank_locations(dp, pd.Series(0.01, index=dp.index), 1.0, None, ["a"],
                           pd.DataFrame())


@pytest.mark.skipif(KL is None, reason="the public KL network is not beside the checkout")
def test_benchmark_loggers_by_length_of_main_as_l_town():
    """KL (252 km of main, 935 junctions): one logger per 1,291 m of main per DMA (L-Town's
    42.6 km / 33) gives about 197 loggers and a median junction-to-nearest-logger distance
    of 162 m; L-Town's per-junction density (782 / 33) only about 40 and 417 m."""
    wn = lb.published_model(str(KL))
    dmas = partition_dmas(wn, 3, seed=0)
    km = mains_length_km(wn, dmas)
    xy = pd.DataFrame([wn.get_node(n).coordinates for n in wn.node_name_list],
                      index=wn.node_name_list, columns=["x_m", "y_m"])
    by_len = lb.place_loggers(lb.BenchmarkSpec(str(KL)), wn, dmas, np.random.default_rng(0))
    by_jn = lb.place_loggers(lb.BenchmarkSpec(str(KL), logger_density="junctions"), wn, dmas,
                             np.random.default_rng(0))
    for z in km.index[km.index.str.startswith("DMA")]:
        n = sum(dmas[lg] == z for lg in by_len)
        assert n == int(np.ceil(km[z] * 1000 / (42_600 / 33)))
    assert len(set(by_len)) == len(by_len) and len(by_jn) < len(by_len) / 4
    near_len = np.median(loc.nearest_logger_m(xy, wn.junction_name_list, by_len))
    near_jn = np.median(loc.nearest_logger_m(xy, wn.junction_name_list, by_jn))
    assert near_len < 200 < 350 < near_jn
    with pytest.raises(ValueError, match="logger_density"):
        lb.logger_count(lb.BenchmarkSpec(str(KL), logger_density="area"), 10, 1000.0)


def test_distance_along_pipes_is_the_shortest_path(city):
    g = nx.Graph()
    for _, link in city.wn.links():
        g.add_edge(link.start_node_name, link.end_node_name,
                   w=max(float(getattr(link, "length", 1.0) or 1.0), 1e-3))
    nodes = city.wn.junction_name_list[:6]
    d = lb.pipe_distance_m(city.wn, nodes)
    for a in range(len(nodes)):
        for b in range(len(nodes)):
            assert d[a, b] == pytest.approx(
                nx.shortest_path_length(g, nodes[a], nodes[b], weight="w"))


def test_a_logger_missing_over_the_change_is_left_out_not_fatal():
    """A logger with no data over the change (missing for days) is left out of the fit: the
    ranking is the one of the other loggers, and the leak's junction still comes first."""
    juncs, loggers = ["j1", "j2", "j3"], ["a", "b", "c", "d"]
    s = np.array([[-0.30, -0.05, -0.02, -0.01],
                  [-0.04, -0.25, -0.06, -0.02],
                  [-0.01, -0.03, -0.08, -0.28]])
    sens = xr.Dataset({"sensitivity": (("junction", "sensor"), s),
                       "standard_leak_l_s": ("junction", np.ones(3))},
                      coords={"junction": juncs, "sensor": [f"P {n}" for n in loggers]})
    xy = pd.DataFrame({"x_m": [0.0, 500.0, 1000.0], "y_m": 0.0}, index=juncs)
    dp = pd.Series(2.0 * s[1], index=loggers)  # 2 L/s at j2
    sigma = pd.Series(0.01, index=loggers)
    gap = dp.copy()
    gap["b"] = np.nan
    full = loc.rank_locations(dp, sigma, 2.0, sens, juncs, xy, common_mode=False)
    missing = loc.rank_locations(gap, sigma, 2.0, sens, juncs, xy, common_mode=False)
    dropped = loc.rank_locations(dp.drop("b"), sigma, 2.0, sens, juncs, xy, common_mode=False)
    assert full.element.iloc[0] == missing.element.iloc[0] == "j2"
    pd.testing.assert_frame_equal(missing, dropped)
    assert missing.leak_l_s.iloc[0] == pytest.approx(2.0, rel=1e-6)


def test_candidates_near_the_logger_that_fell_most():
    """Candidates within the radius of the area's logger with the largest fall against the
    median of all loggers; everything when no area logger has a change."""
    xy = pd.DataFrame({"x_m": [0.0, 100.0, 400.0, 900.0, 1000.0, 0.0],
                       "y_m": [0.0, 0.0, 0.0, 0.0, 0.0, 500.0]},
                      index=["a", "b", "c", "d", "e", "far"])
    dp = pd.Series({"a": -0.02, "d": -0.30, "far": -0.01, "b": -0.03})
    cand = ["a", "b", "c", "d", "e"]
    # d falls most (0.30 m against a median of 0.025 m): c, d, e lie within 600 m of it
    assert loc.near_largest_drop(dp, cand, ["a", "b", "d"], xy, 600.0) == ["c", "d", "e"]
    assert loc.near_largest_drop(dp, cand, ["a", "b", "d"], xy, 0.0) == cand
    assert loc.near_largest_drop(dp.drop("d") * np.nan, cand, ["a", "b"], xy, 600.0) == cand


def _line_sensitivity(xs, loggers_x):
    """Junctions on a line at ``xs`` [m], pressure loggers at ``loggers_x`` [m]: a leak's
    drop at a logger falls off with the distance between them [m per L/s]."""
    names = [f"j{k}" for k in range(len(xs))]
    d = np.abs(np.subtract.outer(np.asarray(xs, float), np.asarray(loggers_x, float)))
    sens = xr.Dataset(
        {"sensitivity": (("junction", "sensor"), -0.5 / (1.0 + d / 150.0)),
         "standard_leak_l_s": ("junction", np.ones(len(xs)))},
        coords={"junction": names, "sensor": [f"P L{i}" for i in range(len(loggers_x))]})
    xy = pd.DataFrame({"x_m": list(xs) + list(loggers_x), "y_m": 0.0},
                      index=names + [f"L{i}" for i in range(len(loggers_x))])
    return names, sens, xy


def test_the_narrowing_is_dropped_when_the_loggers_rule_it_out():
    """A 2 L/s leak at the line's far end (j4) whose loggers' change is told exactly: the
    junctions near the other end (j0, j1, as a noisy logger there would narrow to) hold
    next to none of the posterior, so the whole DMA is ranked and the leak placed at j4;
    a leak at j0 keeps the narrowing."""
    names, sens, xy = _line_sensitivity([0.0, 100.0, 400.0, 900.0, 1000.0],
                                        [0.0, 300.0, 700.0, 1000.0])
    sigma = pd.Series(0.01, index=[f"L{i}" for i in range(4)])
    at = {j: pd.Series(2.0 * sens["sensitivity"].sel(junction=j).to_numpy(), index=sigma.index)
          for j in ("j0", "j4")}
    cand, share = loc.narrowing_kept(at["j4"], sigma, 2.0, sens, names, ["j0", "j1"], xy, 0.05)
    assert cand == names and share < 1e-3
    ranked = loc.rank_locations(at["j4"], sigma, 2.0, sens, cand, xy)
    assert ranked.element.iloc[0] == "j4"
    cand, share = loc.narrowing_kept(at["j0"], sigma, 2.0, sens, names, ["j0", "j1"], xy, 0.05)
    assert cand == ["j0", "j1"] and share > 0.95
    # the check off: the narrowed junctions, whatever the loggers say
    assert loc.narrowing_kept(at["j4"], sigma, 2.0, sens, names, ["j0", "j1"], xy, 0.0) == (
        ["j0", "j1"], 1.0)


def test_probability_within_a_radius_sums_the_positions_inside_it():
    """Positions at 0, 100, 200 and 1000 m with posteriors 0.2, 0.2, 0.2, 0.4: within 150 m
    of each lie the positions 100 m off, by hand 0.4, 0.6, 0.4 and 0.4."""
    xy = np.array([[0.0, 0.0], [100.0, 0.0], [200.0, 0.0], [1000.0, 0.0]])
    p = np.array([0.2, 0.2, 0.2, 0.4])
    assert loc.probability_within(xy, p, 150.0) == pytest.approx([0.4, 0.6, 0.4, 0.4])
    assert loc.probability_within(xy, p, 1.0) == pytest.approx(p)


def test_probability_within_against_every_pair_compared():
    """The k-d tree's pairs against every pair's distance, on 600 scattered positions with
    two of them at one place: those two, whose circles hold the same positions, get the
    very same sum (a tie, not two sums in another order)."""
    rng = np.random.default_rng(3)
    xy = rng.uniform(0.0, 2000.0, (600, 2))
    xy[1] = xy[0]
    p = rng.random(600)
    p /= p.sum()
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    np.testing.assert_allclose(loc.probability_within(xy, p, 150.0), (d <= 150.0) @ p,
                               rtol=1e-12, atol=1e-15)
    w = loc.probability_within(xy, p, 150.0)
    assert w[0] == w[1]


def test_a_search_radius_reports_the_cluster_not_the_lone_best_fit():
    """A lone junction j3 fits the loggers' change best (45 % of the posterior), but three
    junctions 100 m apart that each fit a little worse hold the rest (55 %) together: with a
    150 m search radius the middle one, whose circle holds all three, is reported first;
    without, j3."""
    juncs, loggers = ["j0", "j1", "j2", "j3"], ["a", "b", "c"]
    s = np.array([[-0.10, -0.02, -0.05], [-0.10, -0.03, -0.05], [-0.10, -0.04, -0.05],
                  [-0.10, -0.03, -0.03]])
    sens = xr.Dataset({"sensitivity": (("junction", "sensor"), s),
                       "standard_leak_l_s": ("junction", np.ones(4))},
                      coords={"junction": juncs, "sensor": [f"P {n}" for n in loggers]})
    xy = pd.DataFrame({"x_m": [0.0, 100.0, 200.0, 2000.0], "y_m": 0.0}, index=juncs)
    dp = pd.Series(2.0 * np.array([-0.10, -0.03, -0.038]), index=loggers)
    sigma = pd.Series(0.01, index=loggers)
    best = loc.rank_locations(dp, sigma, 2.0, sens, juncs, xy, common_mode=False, top=4)
    assert best.element.iloc[0] == "j3" and best.probability.iloc[0] < 0.5
    assert (best.probability_within == best.probability).all()
    p = best.set_index("element").probability
    r = loc.rank_locations(dp, sigma, 2.0, sens, juncs, xy, common_mode=False, top=4,
                           search_radius_m=150.0).set_index("element")
    assert r.index[0] == "j1"
    assert r.probability_within["j1"] == pytest.approx(p["j0"] + p["j1"] + p["j2"])
    assert r.probability_within["j0"] == pytest.approx(p["j0"] + p["j1"])
    assert r.probability_within["j3"] == pytest.approx(p["j3"])


def test_what_the_baseline_expects_from_the_leak_is_taken_out_of_the_positions():
    """A baseline regressing pressures on a DMA's head-loss term (0.5 m per unit) sees the
    leak's 2 L/s raise that term from 1.00 to 1.08: it takes 0.02 m per L/s out of the
    logger's change, and ranking with that share recovers the leak and its size exactly."""
    coef = pd.DataFrame({"const": [0.1, 0.1], "hl DMA-1": [0.5, 0.0]}, index=["a", "b"])
    share = loc.baseline_share(coef, pd.Series({"const": 1.0, "hl DMA-1": 1.08}),
                               pd.Series({"const": 1.0, "hl DMA-1": 1.00}), 2.0)
    assert share["a"] == pytest.approx(0.5 * 0.08 / 2.0) and share["b"] == 0.0
    juncs, loggers = ["j1", "j2"], ["a", "b", "c"]
    s = np.array([[-0.10, -0.02, -0.01], [-0.03, -0.12, -0.02]])
    sens = xr.Dataset({"sensitivity": (("junction", "sensor"), s),
                       "standard_leak_l_s": ("junction", np.ones(2))},
                      coords={"junction": juncs, "sensor": [f"P {n}" for n in loggers]})
    xy = pd.DataFrame({"x_m": [0.0, 500.0], "y_m": 0.0}, index=juncs)
    reg = share.reindex(loggers).fillna(0.0)
    dp = pd.Series(2.0 * (s[1] - reg.to_numpy()), index=loggers)
    r = loc.rank_locations(dp, pd.Series(0.01, index=loggers), 2.0, sens, juncs, xy,
                           common_mode=False, regressed_m=reg)
    assert r.element.iloc[0] == "j2" and r.misfit.iloc[0] == pytest.approx(0.0, abs=1e-9)
    assert r.leak_l_s.iloc[0] == pytest.approx(2.0)


def _hours(days: float) -> pd.DatetimeIndex:
    return pd.date_range("2026-01-05", periods=int(days * 24), freq="h", tz="UTC")


def test_signature_of_a_growing_leak_is_its_sensitivity_and_leaves_an_earlier_one_out():
    """Pressures that fall by s·q with the leak flow q (a ramp: an incipient leak), on a
    daily cycle in both: the day's running means cancel the cycle and the slope is s, exact,
    for every logger (one with a day of gaps). An earlier leak of another signature that
    began before the window is in the constant, not in the slope."""
    t = _hours(12)
    h = np.arange(len(t), dtype=float)
    q = np.clip((h - 96) / 96, 0, 1) * 10.0  # 0 until day 4, 10 L/s at day 8 [L/s]
    early = np.where(h >= 24, 4.0, 0.0)  # another leak from day 1
    cycle = np.sin(2 * np.pi * h / 24)
    s = {"a": -0.30, "b": -0.05, "c": -0.12}
    s_early = {"a": -0.01, "b": -0.40, "c": -0.02}
    p = pd.DataFrame({n: 40.0 + s[n] * q + s_early[n] * early + 0.2 * cycle for n in s},
                     index=t)
    p.loc[t[120:144], "c"] = np.nan
    flow = pd.Series(q + early + 1.5 * np.cos(2 * np.pi * h / 24), index=t)
    g = loc.leak_signature(p, flow, t[60], t[240])
    for n in s:
        assert g[n] == pytest.approx(s[n], abs=1e-9)
    # the step of medians over the day after the alarm sees a fraction of the final leak
    step = loc.pressure_change(p, t[110], t[134], None, 24)
    assert abs(step["a"]) < 0.3 * abs(s["a"]) * 10.0
    # a window that takes in the earlier leak's start mixes the two signatures
    mixed = loc.leak_signature(p, flow, t[0], t[240])
    assert mixed["b"] < s["b"] - 0.02  # pulled towards the earlier leak's -0.40
    # a flow that does not change over the window gives no signature
    assert loc.leak_signature(p, flow, t[40], t[80]).isna().all()


def test_signature_on_a_step_leaves_out_the_demand_that_moves_the_balance():
    """An abrupt 2 L/s leak at day 5 while the DMA's demand is off by ±1.5 L/s from day to
    day (symmetric about the start over the 48 h either side), the demand's own pressure
    shape s_d in the loggers: regressed on the consumption residual (the leak plus that
    demand) the signature is pulled towards s_d; on a step at the start it is the leak's s
    (within the running means' half-hour asymmetry)."""
    t = _hours(12)
    h = np.arange(len(t), dtype=float)
    q = np.where(h >= 120, 2.0, 0.0)  # [L/s]
    demand = np.repeat([0, 0, 0, 1.5, -1.5, -1.5, 1.5, 0, 0, 0, 0, 0], 24)  # [L/s]
    s = {"a": -0.30, "b": -0.05, "c": -0.12}
    s_d = {"a": -0.02, "b": -0.20, "c": -0.02}
    p = pd.DataFrame({n: 40.0 + s[n] * q + s_d[n] * demand for n in s}, index=t)
    course = loc.step_course(t, t[120], 2.0)
    assert course.iloc[119] == 0.0 and course.iloc[120] == 2.0
    on_step = loc.leak_signature(p, course, t[72], t[167])
    on_flow = loc.leak_signature(p, pd.Series(q + demand, index=t), t[72], t[167])
    for n in s:
        assert on_step[n] == pytest.approx(s[n], abs=0.005)
    assert on_flow["b"] < s["b"] - 0.05  # towards the demand's -0.20
    assert on_flow["a"] > s["a"] + 0.1


def test_an_unknown_signature_course_is_refused_by_name():
    """A course other than the known ones (here ``"ramp"``) is refused with the known ones
    listed, not taken as a step."""
    from twin.water.leaks import LeakDetectionError, measured_signature

    t = _hours(4)
    p = pd.DataFrame({"a": np.zeros(len(t))}, index=t)
    with pytest.raises(LeakDetectionError, match="'ramp': give one of step, flow"):
        measured_signature(p, pd.Series(0.0, index=t), t[48], t[0], t[-1], 1.0, "ramp")


def test_a_leak_growing_between_two_alarms_continues_an_abrupt_second_does_not():
    """The rule that makes two alarms one episode: the residual keeps rising from the first
    change to the second (a ramp) - not when it is level in between (two steps), nor after a
    fall (a repair) between them."""
    from twin.water.leaks import continues

    t = _hours(6)
    h = np.arange(len(t), dtype=float)
    ramp = pd.Series(np.clip((h - 24) / 72, 0, 1) * 6.0, index=t)
    steps = pd.Series(np.where(h >= 24, 2.0, 0.0) + np.where(h >= 60, 2.0, 0.0), index=t)
    none = pd.DataFrame(columns=["series", "alarm_utc", "direction"])
    first = pd.Series({"series": "DMA-1", "alarm_utc": t[30], "step": 2.0})
    second = pd.Series({"series": "DMA-1", "alarm_utc": t[66], "step": 2.0})
    assert continues(ramp, none, first, t[24], second, t[60])
    assert not continues(steps, none, first, t[24], second, t[60])
    fall = pd.DataFrame({"series": ["DMA-1"], "alarm_utc": [t[50]], "direction": ["down"]})
    assert not continues(ramp, fall, first, t[24], second, t[60])
    assert not continues(ramp, none, first, t[24], second, t[27])  # 3 h apart: too few


def test_an_episode_is_located_until_a_day_after_its_last_growth_or_the_next_change():
    from twin.water.leaks import locate_until

    t0 = pd.Timestamp("2026-01-05", tz="UTC")
    hr = pd.Timedelta(hours=1)
    ch = pd.DataFrame({"change_utc": [t0, t0 + 20 * hr, t0 + 90 * hr]})
    end = t0 + 1000 * hr
    # the growth at 20 h is the episode's own: the window runs to 20 h + 48 h
    assert locate_until(ch, t0, [t0, t0 + 20 * hr], t0 + 20 * hr, 48 * hr, end) == t0 + 68 * hr
    # not its own: another series' change at 20 h ends it
    assert locate_until(ch, t0, [t0], t0, 48 * hr, end) == t0 + 20 * hr
    assert locate_until(ch, t0, [t0, t0 + 20 * hr], t0 + 20 * hr, 48 * hr,
                        t0 + 30 * hr) == t0 + 30 * hr


def test_rises_are_grouped_into_episodes_a_ramp_is_one_a_rise_after_a_repair_is_another():
    """A leak ramping up over three days raises two alarms: one episode, started on the
    ramp. After its repair (a fall) a new abrupt leak is an episode of its own, as is a rise
    of another DMA, and a rise several times the episode's largest (a burst beside the small
    leak still growing)."""
    from twin.water.leaks import rise_episodes

    t = _hours(10)
    h = np.arange(len(t), dtype=float)
    dma1 = np.clip((h - 24) / 72, 0, 1) * 6.0  # ramp to 6 L/s over hours 24-96
    dma1 = np.where(h >= 150, 0.0, dma1) + np.where(h >= 180, 3.0, 0.0)  # repair, new leak
    dma2 = np.clip((h - 60) / 72, 0, 1) * 2.0 + np.where(h >= 100, 20.0, 0.0)  # burst
    e_c = pd.DataFrame({"DMA-1": dma1, "DMA-2": dma2}, index=t)
    ups = pd.DataFrame({
        "series": ["DMA-1", "DMA-2", "DMA-1", "DMA-2", "DMA-1"],
        "alarm_utc": [t[40], t[70], t[72], t[102], t[186]],
        "change_utc": [t[30], t[62], t[58], t[100], t[181]],
        "rebased_utc": [t[52], t[82], t[84], t[114], t[198]],
        "step": [2.0, 0.6, 2.0, 19.0, 3.0]})
    down = pd.DataFrame({"series": ["DMA-1"], "alarm_utc": [t[153]], "change_utc": [t[150]],
                         "rebased_utc": [t[165]], "direction": ["down"]})
    events = pd.concat([ups.assign(direction="up"), down]).sort_values("alarm_utc")
    firsts, starts, head = rise_episodes(ups, events, e_c, t[0])
    assert head == [0, 1, 0, 3, 4]
    # a single step fitted to a ramp's first hours lies on the ramp (hours 24-40 before the
    # alarm); the new leak's step is found where it is
    assert t[24] <= starts[0] < t[40]
    assert starts[4] == t[180] and starts[3] == t[100]
    # a rise's start is looked for after the last rebase before it: the repair's
    assert firsts[4] == t[165] and firsts[0] == t[0]


def _two_inlet_line():
    """A reservoir feeding a line of five junctions (a DMA) from both ends through metered
    pipes of equal length: a mirror-symmetric DMA with a logger at its middle."""
    wn = wntr.network.WaterNetworkModel()
    wn.add_reservoir("R", base_head=60.0, coordinates=(600.0, -600.0))
    for k in range(1, 6):
        wn.add_junction(f"J{k}", base_demand=0.001, elevation=0.0, coordinates=(200.0 * k, 0.0))
    wn.add_pipe("PA", "R", "J1", length=800.0, diameter=0.2, roughness=120)
    wn.add_pipe("PB", "R", "J5", length=800.0, diameter=0.2, roughness=120)
    for k in range(1, 5):
        wn.add_pipe(f"L{k}", f"J{k}", f"J{k + 1}", length=200.0, diameter=0.15, roughness=120)
    wn.options.time.duration = 0
    dmas = pd.Series({"R": "source", **{f"J{k}": "DMA-1" for k in range(1, 6)}})
    meters = pd.DataFrame({"meter_id": ["FA", "FB"], "link": ["PA", "PB"],
                           "from_zone": ["source", "source"], "to_zone": ["DMA-1", "DMA-1"]})
    xy = pd.DataFrame([wn.get_node(n).coordinates for n in wn.node_name_list],
                      index=wn.node_name_list, columns=["x_m", "y_m"])
    return wn, dmas, meters, xy


def test_the_split_of_a_leak_among_the_inlets_tells_mirror_positions_apart():
    """A leak of about 3 L/s at J2, beside inlet A, from full EPANET runs (WNTR's
    EpanetSimulator, an emitter at J2): the middle logger sees J2 and its mirror J4 alike,
    so the pressure alone ties them; with the inlets' flow change J2 comes first, and A
    carries more of the leak than B, as the shorter path from the reservoir says."""
    wn, dmas, meters, xy = _two_inlet_line()
    base = results_dataset(run_epanet(wn, 0))
    leaky_wn = copy.deepcopy(wn)
    leaky_wn.get_node("J2").emitter_coefficient = 0.003 / np.sqrt(
        float(base.pressure_m.sel(node="J2")[0]))
    leaky = results_dataset(run_epanet(leaky_wn, 0))
    # EPANET reports an emitter's outflow in its node's demand
    leak_l_s = 1000.0 * float((leaky.demand_m3s - base.demand_m3s).sel(node="J2")[0])
    d_flow = 1000.0 * (leaky.flow_m3s - base.flow_m3s).sel(link=["PA", "PB"])[0].to_numpy()
    assert d_flow.sum() == pytest.approx(leak_l_s, rel=1e-3) and d_flow[0] > 1.2 * d_flow[1]
    dp = pd.Series((leaky.pressure_m - base.pressure_m).sel(node=["J3"])[0].to_numpy(),
                   index=["J3"])
    sens = loc.leak_sensitivity(wn, ["J3"], meters, dmas, cache_dir=None)
    cand = [f"J{k}" for k in range(5, 0, -1)]  # the mirror first: a tie would rank it first
    sigma = pd.Series(0.01, index=["J3"])
    alone = loc.rank_locations(dp, sigma, leak_l_s, sens, cand, xy, top=5, common_mode=False)
    mis = alone.set_index("element").misfit
    assert mis["J2"] == pytest.approx(mis["J4"], rel=1e-6)
    flow = loc.FlowSignature(pd.Series(d_flow, index=["FA", "FB"]),
                             pd.Series(0.0, index=["FA", "FB"]),
                             pd.DataFrame(np.diag([1e-4, 1e-4]), index=["FA", "FB"],
                                          columns=["FA", "FB"]),
                             meters.set_index("meter_id").link)
    both = loc.rank_locations(dp, sigma, leak_l_s, sens, cand, xy, top=5, common_mode=False,
                              flow=flow)
    assert both.element.iloc[0] == "J2"
    assert both.leak_l_s.iloc[0] == pytest.approx(leak_l_s, rel=0.1)


def test_flow_noise_covariance_keeps_the_series_as_they_are():
    """Without the common mode, two meters' covariance has their sample variances on its
    diagonal (numpy's) and its correlation shrunk toward none, not flipped or grown."""
    rng = np.random.default_rng(3)
    a = rng.normal(0, 0.2, 400)
    x = pd.DataFrame({"FA": a, "FB": 0.5 * a + rng.normal(0, 0.1, 400)})
    cov = loc.noise_covariance(x, common_mode=False)
    np.testing.assert_allclose(np.diag(cov), x.var(ddof=1), rtol=1e-9)
    r_sample = np.corrcoef(x.FA, x.FB)[0, 1]
    r = cov.loc["FA", "FB"] / np.sqrt(cov.loc["FA", "FA"] * cov.loc["FB", "FB"])
    assert 0 < r <= r_sample + 1e-12 and r > 0.9 * r_sample
    assert np.isnan(loc.noise_covariance(x).to_numpy()).all()  # common mode needs 3 loggers


def test_flow_signature_is_the_meters_share_of_the_leak_less_what_demand_explains():
    """A meter that carries 0.3 of its DMA's demand and 0.7 of a 2 L/s leak that starts on
    day 14: learned on 10 leak-free days, the baseline takes a share b of the consumption
    (0.3, less what its small ridge penalty shrinks), so the meter's change is (0.7 − b)·2
    and change + b·2 is the meter's own share of the leak, 1.4 L/s (by hand)."""
    from twin.water.leaks import flow_inputs, flow_signature

    t = pd.date_range("2026-01-05", periods=24 * 21, freq="h", tz="UTC")
    rng = np.random.default_rng(11)
    demand = 10 + 6 * np.sin(2 * np.pi * np.arange(len(t)) / 24) + rng.normal(0, 0.5, len(t))
    leak = np.where(t >= t[0] + pd.Timedelta(days=14), 2.0, 0.0)
    consumption = pd.DataFrame({"DMA-1": demand + leak}, index=t)
    flow = pd.DataFrame({"FA": 0.3 * demand + 0.7 * leak + rng.normal(0, 0.02, len(t)),
                         "FB": 0.7 * demand + 0.3 * leak}, index=t)
    meters = pd.DataFrame({"meter_id": ["FA", "FB"], "link": ["PA", "PB"],
                           "from_zone": ["source", "source"], "to_zone": ["DMA-1", "DMA-1"]})
    mask = np.asarray(t < t[0] + pd.Timedelta(days=10))
    f = flow_inputs(flow, consumption, meters, mask)
    start = t[0] + pd.Timedelta(days=14)
    fs = flow_signature(f, "DMA-1", consumption["DMA-1"] - 10.0, start,
                        start - pd.Timedelta(days=3), start + pd.Timedelta(days=3), 2.0, "step",
                        0.2, {})
    assert 0.0 < fs.regressed["FA"] <= 0.301 and 0.0 < fs.regressed["FB"] <= 0.701
    assert fs.change_l_s["FA"] + 2.0 * fs.regressed["FA"] == pytest.approx(1.4, abs=0.05)
    assert fs.change_l_s["FB"] + 2.0 * fs.regressed["FB"] == pytest.approx(0.6, abs=0.05)
    assert fs.links["FB"] == "PB" and np.isfinite(fs.noise_cov.to_numpy()).all()


def test_a_meter_without_leak_free_data_is_left_out_and_the_others_still_read():
    """A second meter silent over the leak-free days has no baseline or noise to be read
    by: it is listed as unlearned and left out, and the first meter's change is still
    measured (0.7 of a 2 L/s leak, less the share its baseline takes out)."""
    from twin.water.leaks import flow_inputs, flow_signature

    t = pd.date_range("2026-01-05", periods=24 * 21, freq="h", tz="UTC")
    rng = np.random.default_rng(12)
    demand = 10 + 6 * np.sin(2 * np.pi * np.arange(len(t)) / 24) + rng.normal(0, 0.5, len(t))
    leak = np.where(t >= t[0] + pd.Timedelta(days=14), 2.0, 0.0)
    mask = np.asarray(t < t[0] + pd.Timedelta(days=10))
    flow = pd.DataFrame({"FA": 0.3 * demand + 0.7 * leak + rng.normal(0, 0.02, len(t)),
                         "FB": np.where(mask, np.nan, 0.7 * demand + 0.3 * leak)}, index=t)
    meters = pd.DataFrame({"meter_id": ["FA", "FB"], "link": ["PA", "PB"],
                           "from_zone": ["source", "source"], "to_zone": ["DMA-1", "DMA-1"]})
    f = flow_inputs(flow, pd.DataFrame({"DMA-1": demand + leak}, index=t), meters, mask)
    assert f.unlearned() == ["FB"]
    start = t[0] + pd.Timedelta(days=14)
    fs = flow_signature(f, "DMA-1", pd.Series(leak, index=t), start,
                        start - pd.Timedelta(days=3), start + pd.Timedelta(days=3), 2.0, "step",
                        0.2, {})
    assert list(fs.change_l_s.index) == ["FA"] and np.isfinite(fs.noise_cov.to_numpy()).all()
    assert fs.change_l_s["FA"] + 2.0 * fs.regressed["FA"] == pytest.approx(1.4, abs=0.05)
