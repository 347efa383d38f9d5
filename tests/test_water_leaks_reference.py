"""Leaks injected into a real EPANET run of a public DMA network (KL, 935 junctions), found
and located by the twin given the published model (pipes and demands off by up to 10 %)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twin.synthetic.leak_benchmark import BenchmarkSpec, draw_leaks, make_case, published_model
from twin.water import leak_location as loc
from twin.water import leak_scoring as sc
from twin.water.dma import boundary_meters, partition_dmas
from twin.water.leaks import (
    LeakNetwork,
    LeakSettings,
    detect_and_locate,
    location_loggers,
    signature_positions,
)

KL = next((p / "shared" / "data" / "water" / "KL.inp" for p in Path(__file__).resolve().parents
           if (p / "shared" / "data" / "water" / "KL.inp").exists()), None)


def _kl_case(second_pipe: str | None = None, second_start_h: float = 52.0):
    """KL's published model with two abrupt leaks of 40 and 30 m³/h in one DMA, the first
    on day 15 at 10:00, the second ``second_start_h`` later (on a drawn pipe of the DMA, or
    ``second_pipe``), neither repaired: the case, the DMA and its junctions' sensitivities."""
    if KL is None:
        pytest.skip("the public KL network is not beside the checkout")
    spec = BenchmarkSpec(str(KL), seed=1, days=19, leak_free_days=14, step_s=900, n_leaks=0)
    wn = published_model(spec.network)
    dmas = partition_dmas(wn, spec.n_dmas, seed=spec.seed)
    drawn = draw_leaks(BenchmarkSpec(str(KL), seed=1, n_leaks=8), wn, dmas,
                       boundary_meters(wn, dmas), np.random.default_rng(4))
    dma = drawn.dma.value_counts().index[0]
    two = drawn[drawn.dma == dma].head(2).reset_index(drop=True)
    if second_pipe is not None:
        two.loc[1, "pipe"] = second_pipe
    day = 86400.0
    start = 15 * day + 3600 * 10
    two = two.assign(start_s=[start, start + 3600 * second_start_h], end_s=[19 * day] * 2,
                     flow=[40.0, 30.0], kind="abrupt", ramp_s=0.0)
    case = make_case(spec, leaks=two)
    cand = [j for j in case.wn.junction_name_list if case.dmas[j] == dma]
    sens = loc.leak_sensitivity(case.wn, case.loggers, case.meters, case.dmas, junctions=cand,
                                cache_dir=None)
    return case, dma, sens


@pytest.fixture(scope="module")
def two_leaks():
    return _kl_case()


def _run(case, sens, **settings):
    net = LeakNetwork(case.wn, case.dmas, case.meters, case.customers, case.node_xy, "UTC")
    return detect_and_locate(net, case.obs, LeakSettings(baseline_days=14, **settings),
                             sens=sens)


def _placed_alarms(case, alarms: pd.DataFrame, dma: str | None = None) -> list:
    """Each leak's new alarm, asserted to be the only one (of ``dma``) within 6 h of the
    leak's start and placed within BattLeDIM's 300 m of it; in the truth's order."""
    new = alarms[(alarms.kind == "new") & ((alarms.dma == dma) if dma else True)]
    seg = sc.leak_segments(case.truth.assign(junction=""), case.node_xy,
                           loc.pipe_table(case.wn))
    placed = []
    for k, lk in enumerate(case.truth.itertuples()):
        hit = new[(new.alarm_utc >= lk.start) & (new.alarm_utc <= lk.start
                                                 + pd.Timedelta(hours=6))]
        assert len(hit) == 1, (lk, alarms)
        a = hit.iloc[0]
        err = sc.distance_to_segment(a.x_m, a.y_m, seg[k])
        assert err < sc.HIT_RADIUS_M, (lk.leak_id, err)
        placed.append(a)
    return placed


@pytest.mark.slow
def test_two_unrepaired_leaks_in_one_dma_both_found_and_located(two_leaks):
    """The CUSUM restarts after the first leak and alarms for the second; each alarm lies
    inside its leak's window within 6 h, and both are located within BattLeDIM's 300 m and
    sized; measured with loggers at L-Town's density per length of main (197 on KL): delays
    0.75 and 1.0 h, location errors 0 and 0 m (the best fits 0 and 23 m), sizes 39.6 and
    29.6 m³/h (an earlier session, 40 loggers by junction: 551 and 415 m)."""
    case, dma, sens = two_leaks
    placed = _placed_alarms(case, _run(case, sens).alarms, dma)
    for a, lk in zip(placed, case.truth.itertuples(), strict=True):
        assert a.leak_m3h == pytest.approx(lk.flow, rel=0.2)


@pytest.mark.slow
def test_a_second_leak_whose_circle_nears_the_firsts_is_still_a_new_leak():
    """The second leak (pipe 3447, 525 m from the first, 18 h later, inside the growth rule's
    300 m and 48 h) is placed by the centres of the most probable 150 m search circles
    (the default) and judged new or growth on the best fits: measured, both alarms new, as
    with the best fit alone, placed 208 and 61 m from their leaks (best fits 0 and 86 m).
    Judged on the circles' centres (branch searcharea), the second alarm was taken as the
    first leak's growth: the first leak's circle's centre sits 240 m from its best fit,
    toward the second. Located on 48 h either side of the change: on the default 96 h
    (measured; the first leak's hours before it then take in the last 2.6 of the leak-free
    days the baseline was fitted on) the first leak's best fit lies 317 m from it and 183 m
    from the second, and the second is taken as its growth on either placing."""
    case, dma, sens = _kl_case("3447", 18.0)
    circle = _run(case, sens, locate_window_h=48.0)
    fit = _run(case, sens, search_radius_m=0.0, locate_window_h=48.0)
    cols = ["alarm", "dma", "alarm_utc", "change_utc", "kind", "growth_of"]
    pd.testing.assert_frame_equal(circle.alarms[cols], fit.alarms[cols])
    _placed_alarms(case, circle.alarms)


@pytest.mark.slow
def test_a_second_burst_near_a_flat_one_two_days_on_is_a_new_leak():
    """The second leak (pipe 3344, 193 m from the first, 55 h later) comes after the first
    has run flat for more than :data:`twin.water.leaks.SHAPE_KNOWN_H`: a leak that does not
    grow, so the rise near it is a leak of its own, found in its window and placed within
    300 m of it. Measured: both alarms new, placed 0 and 131 m from their leaks; with the
    72 h of main b028da9 the second alarm was the first leak's growth."""
    case, dma, sens = _kl_case("3344", 55.0)
    _placed_alarms(case, _run(case, sens).alarms, dma)


@pytest.mark.slow
def test_the_pressure_change_a_leak_makes_in_the_real_network_is_placed_on_it(two_leaks):
    """Each leak's own pressure change at its DMA's loggers, from EPANET on the network that
    made the data (true pipes and demands, no noise; the leak at its node, at the four
    snapshot clock times), is placed by :func:`signature_positions` on the published model
    within BattLeDIM's 300 m of the leak, by the best fit and by the search circle, and its
    size fitted within 20 %. Measured (67 loggers): both placed 0 m from their leaks by the
    circle, 0 and 23 m by the best fit; fitted 43.8 and 24.6 m³/h where the leaks drew 39.2
    and 29.3; the junctions near the logger that fell most held all of the posterior."""
    case, dma, sens = two_leaks
    net = LeakNetwork(case.wn, case.dmas, case.meters, case.customers, case.node_xy, "UTC")
    group = location_loggers(case.loggers, case.dmas, dma)
    area = [g for g in group if case.dmas[g] == dma]
    pipes = loc.pipe_table(case.wn)
    seg = sc.leak_segments(case.truth.assign(junction=""), case.node_xy, pipes)
    spacing = float(np.median(loc.nearest_logger_m(case.node_xy, case.wn.junction_name_list,
                                                   case.loggers)))
    real = loc.snapshot_inp_texts(case.real_wn)
    model = loc.snapshot_inp_texts(case.wn)
    for k, lk in enumerate(case.truth.itertuples()):
        q = lk.flow / 3.6
        dp, _, flow = loc.sensitivity_batch(real, [f"LEAK-{lk.leak_id}"], group, [],
                                            leak_l_s=q)
        change = pd.Series(dp[0] * flow[0], index=group)
        ranked, fit, share = signature_positions(
            change, pd.Series(0.01, index=group), q, sens, net, dma, area, spacing, pipes,
            model, LeakSettings())
        for best in (ranked.iloc[0], fit.iloc[0]):
            assert sc.distance_to_segment(best.x_m, best.y_m, seg[k]) < sc.HIT_RADIUS_M
        assert fit.leak_l_s.iloc[0] == pytest.approx(flow[0], rel=0.2)
        assert 0.0 <= share <= 1.0
