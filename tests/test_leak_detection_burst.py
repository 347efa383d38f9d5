"""The burst test beside the joint CUSUM: it raises an alarm of the CUSUM sooner and never
makes, moves or drops one of the CUSUM's changes; what it alone saw is reported as such."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twin.synthetic.leak_benchmark import _ar1  # the benchmark's AR(1) noise
from twin.water import leak_detection as det
from twin.water.leaks import NEW_KINDS, burst_alarms, dma_pressure

STEP = pd.Timedelta(minutes=15)
ARL = 730 * 4 / 0.33  # the twin's budget: 0.33 false alarms per DMA-month, in 15-min steps


def _burst_case(seed=0, days=40, at_day=30, size=2.0):
    """Three DMAs at 15 min sharing an AR(1) error by size, each with an AR(1) noise of its
    own (sd 0.5 L/s, φ 0.9: a whitening CUSUM sees a lasting step at a tenth of its size
    after the first step), and a burst of ``size`` L/s in B from ``at_day``."""
    n = 4 * 24 * days
    rng = np.random.default_rng(seed)
    t = pd.date_range("2020-01-06", periods=n, freq="15min", tz="UTC")
    common = _ar1(rng, n, 3.0, 0.8)
    own = np.column_stack([_ar1(rng, n, 0.5, 0.9) for _ in range(3)])
    r = pd.DataFrame(common[:, None] * np.array([1.0, 0.4, 0.25]) + own, index=t,
                     columns=["A", "B", "C"])
    at = 4 * 24 * at_day + 37
    r.iloc[at:, 1] += size
    return r, at


def test_burst_raises_the_cusums_alarm_sooner_and_changes_no_event():
    """A 2 L/s burst in B: the CUSUM raises it 2.25 h after it began, the burst test's
    crossing 0.75 h after (its 1-h window at 4 σ of its own noise); the CUSUM's changes are
    the same with the burst test's sums read as without, and the crossing confirms B's
    alarm, whose change lies before it."""
    r, at = _burst_case()
    base = np.asarray(r.index < r.index[0] + pd.Timedelta(days=14))
    s = det.calibrate_joint(r, base, min_leak=0.8, target_arl=ARL, rebase=48, step_s=900)
    alone, e_alone = det.detect_joint(r, s)
    up = np.zeros(r.shape)
    changes, e = det.detect_joint(r, s, up_sums=up)
    pd.testing.assert_frame_equal(changes, alone)
    pd.testing.assert_frame_equal(e, e_alone)
    assert up.max() > 1.0  # the sums that crossed were read
    changes["alarm_utc"] = changes.alarm_utc + STEP  # known at the end of its step
    burst = det.calibrate_burst(e, base, 900.0, 0.8, ARL)
    assert (burst.threshold > 3.0).all() and burst.target_arl == pytest.approx(ARL)
    crossings = det.burst_crossings(e, burst, up)
    ups = changes[(changes.direction == "up") & (changes.explained_by < 0)]
    told = det.confirm_bursts(crossings, ups, STEP, pd.Timedelta(hours=24))
    start = r.index[at]
    b = ups[(ups.series == "B") & (ups.alarm_utc > start)].iloc[0]
    assert (b.alarm_utc - start) / pd.Timedelta(hours=1) == pytest.approx(2.25)
    sooner = told[told.event == b.name]
    assert sooner.status.tolist() == ["sooner"]
    delay_h = (sooner.alarm_utc.iloc[0] - start) / pd.Timedelta(hours=1)
    assert 0.0 < delay_h <= 1.0
    assert b.change_utc <= sooner.alarm_utc.iloc[0]
    assert sooner["size"].iloc[0] >= 0.8


def test_burst_alarms_keep_the_cusums_time_and_report_the_unconfirmed():
    """The alarm a crossing confirmed is raised at the crossing, its CUSUM time kept; a
    crossing no alarm confirmed is an alarm of its own, scored as a new leak's, with no
    position; one the CUSUM had first adds nothing."""
    t0 = pd.Timestamp("2020-02-01 10:00", tz="UTC")
    alarms = pd.DataFrame({
        "alarm": [0], "dma": ["B"], "alarm_utc": [t0 + pd.Timedelta(hours=3)],
        "change_utc": [t0], "rebased_utc": [t0 + pd.Timedelta(hours=15)], "step_l_s": [2.0],
        "leak_m3h": [7.2], "element": ["J1"], "x_m": [10.0], "y_m": [20.0],
        "located_utc": [t0 + pd.Timedelta(days=2)], "flag": [""], "rising": [False],
        "kind": ["new"], "growth_of": [-1]})
    ups = pd.DataFrame({"series": ["B"], "alarm_utc": alarms.alarm_utc,
                        "change_utc": alarms.change_utc})
    crossings = pd.DataFrame({
        "series": ["B", "C", "B"], "step": [0, 0, 0],
        "time_utc": [t0 + pd.Timedelta(hours=1), t0 + pd.Timedelta(days=3),
                     t0 + pd.Timedelta(hours=2)],
        "window": [4, 8, 4], "size": [3.0, 2.5, 3.0], "z": [5.0, 6.0, 5.0]})
    told = det.confirm_bursts(crossings, ups, STEP, pd.Timedelta(hours=24))
    assert told.status.tolist() == ["sooner", "unconfirmed", "unconfirmed"]
    # the third, after the alarm was taken by the first: the CUSUM's alarm is used once
    out = burst_alarms(alarms, told.iloc[:2], STEP)
    first = out.iloc[0]
    assert first.alarm_utc == t0 + pd.Timedelta(hours=1, minutes=15)
    assert first.cusum_alarm_utc == t0 + pd.Timedelta(hours=3)
    assert (first.change_utc, first.element, first.kind) == (t0, "J1", "new")
    assert "burst test" in first.flag
    extra = out.iloc[1]
    assert extra.kind == "burst, unconfirmed" and extra.kind in NEW_KINDS
    assert (extra.dma, extra.alarm) == ("C", 1) and np.isnan(extra.x_m)
    assert extra.alarm_utc == t0 + pd.Timedelta(days=3, minutes=15)
    assert extra.change_utc == extra.alarm_utc - 8 * STEP
    assert extra.leak_m3h == pytest.approx(9.0)
    # a crossing after the CUSUM's own alarm: the CUSUM was first, nothing is added
    late = crossings.iloc[[0]].assign(time_utc=t0 + pd.Timedelta(hours=4))
    assert det.confirm_bursts(late, ups, STEP, pd.Timedelta(hours=24)).status.tolist() == [
        "cusum first"]


def test_window_step_and_upcrossing_level_by_hand():
    """The window's mean less the reference's, by hand; the up-crossing level of a white
    series is the Gaussian tail's (ρ = 0: P(z ≤ u < z') = Φ(u)·Q(u))."""
    x = np.r_[np.zeros(8), np.full(4, 3.0)]
    st = det.window_step(x, 2, 8)
    assert np.isnan(st[:9]).all()
    assert st[9] == pytest.approx(3.0)  # the last 2 (3, 3) less the 8 zeros before
    assert st[11] == pytest.approx(3.0 - 6.0 / 8)  # the 8 before: 6 zeros, 3, 3
    u = det.upcrossing_level(1e-3, 0.0)
    from scipy.stats import norm
    assert norm.cdf(u) * norm.sf(u) == pytest.approx(1e-3, rel=1e-3)


def _calibrated_burst_case(size=2.0):
    """The burst case's residual less the common mode, its CUSUM's sums and the burst
    test's settings."""
    r, at = _burst_case(size=size)
    base = np.asarray(r.index < r.index[0] + pd.Timedelta(days=14))
    s = det.calibrate_joint(r, base, min_leak=0.8, target_arl=ARL, rebase=48, step_s=900)
    up = np.zeros(r.shape)
    changes, e = det.detect_joint(r, s, up_sums=up)
    return e, up, base, det.calibrate_burst(e, base, 900.0, 0.8, ARL), at


def test_a_crossing_counts_once_it_held_a_second_step():
    """The burst's crossing comes one step later when the statistic must hold two steps; a
    statistic over its level for a single step makes no crossing."""
    e, up, _, burst, at = _calibrated_burst_case()
    once = det.burst_crossings(e, burst, up, persist=0)
    twice = det.burst_crossings(e, burst, up)  # the default: held a second step
    b1 = once[(once.series == "B") & (once.step >= at)].iloc[0]
    b2 = twice[(twice.series == "B") & (twice.step >= at)].iloc[0]
    assert b2.step == b1.step + det.BURST_PERSIST_STEPS == b1.step + 1
    hit = np.array([0, 1, 0, 1, 1, 1, 0, 1], dtype=bool)
    np.testing.assert_array_equal(det.held_for(hit, 1), [0, 0, 0, 0, 1, 1, 0, 0])
    np.testing.assert_array_equal(det.held_for(hit, 2), [0, 0, 0, 0, 0, 1, 0, 0])


def test_a_crossing_is_kept_only_where_its_dmas_loggers_fell():
    """The same crossing of B is kept when B's loggers fell with the burst (their fall
    stated in σ of the leak-free days), dropped when they did not move or rose, and a DMA
    with no logger keeps none."""
    e, up, base, burst, at = _calibrated_burst_case()
    crossings = det.burst_crossings(e, burst, up)
    b = crossings[(crossings.series == "B") & (crossings.step >= at)]
    assert len(b) == 1
    rng = np.random.default_rng(5)
    noise = pd.DataFrame(rng.normal(0.0, 0.05, (len(e), 3)), index=e.index,
                         columns=["A", "B", "C"])
    fell = noise.copy()
    fell.iloc[at:, 1] -= 0.3  # B's loggers 0.3 m lower from the burst on
    kept = det.burst_pressure_falls(b, fell, base, burst.reference)
    assert len(kept) == 1 and kept.pressure_fall.iloc[0] > 3.0
    rose = noise.copy()
    rose.iloc[at:, 1] += 0.3
    assert not len(det.burst_pressure_falls(b, rose, base, burst.reference))
    # unmoved: its fall is the leak-free days' noise, kept only at half a σ or more
    any_fall = det.burst_pressure_falls(b, noise, base, burst.reference, min_fall=-np.inf)
    assert abs(any_fall.pressure_fall.iloc[0]) < 4.0
    assert len(det.burst_pressure_falls(b, noise, base, burst.reference)) == int(
        any_fall.pressure_fall.iloc[0] >= det.BURST_PRESSURE_FALL)
    assert not len(det.burst_pressure_falls(b, noise.drop(columns="B"), base, burst.reference))


def test_dma_pressure_is_its_loggers_less_what_all_share():
    """Each logger less the median over all loggers at the step, averaged over the DMA's."""
    t = pd.date_range("2020-01-01", periods=2, freq="5min", tz="UTC")
    p = pd.DataFrame({"n1": [1.0, 2.0], "n2": [3.0, 2.0], "n3": [5.0, 8.0]}, index=t)
    dmas = pd.Series({"n1": "A", "n2": "A", "n3": "B", "j9": "C"})
    out = dma_pressure(p, dmas)
    assert list(out.columns) == ["A", "B"]  # C has no logger
    np.testing.assert_allclose(out.A, [(1 - 3 + 3 - 3) / 2, (2 - 2 + 2 - 2) / 2])
    np.testing.assert_allclose(out.B, [2.0, 6.0])


def _mirror_case(seed=1, days=40, at_day=30, size=3.0):
    """Three DMAs at 15 min whose shared error A carries at −3 times C's (A regresses on C
    with a weight of about −3, as BWSN's DMAs on its DMA-3 of small residual), each with
    an AR(1) noise of its own (sd 1, 0.5 and 0.2 L/s), and a burst of ``size`` L/s in C."""
    n = 4 * 24 * days
    rng = np.random.default_rng(seed)
    t = pd.date_range("2020-01-06", periods=n, freq="15min", tz="UTC")
    common = _ar1(rng, n, 3.0, 0.8)
    own = np.column_stack([_ar1(rng, n, sd, 0.5) for sd in (1.0, 0.5, 0.2)])
    r = pd.DataFrame(common[:, None] * np.array([-3.0, 0.4, 1.0]) + own, index=t,
                     columns=["A", "B", "C"])
    at = 4 * 24 * at_day + 37
    r.iloc[at:, 2] += size
    return r, at


def test_another_dmas_change_seen_mirrored_is_no_burst():
    """A 3 L/s burst in C stands about +9 L/s in A (−w·L) until C's alarm takes C's new
    level out of A's common mode: read as it ran, the burst test crossed in A at C's alarm
    with no alarm of A to confirm it (a false alarm of its own); with the steps that carry
    C's change left out (:func:`mirror_spans`), A has no crossing and C keeps its own."""
    r, at = _mirror_case()
    base = np.asarray(r.index < r.index[0] + pd.Timedelta(days=14))
    s = det.calibrate_joint(r, base, min_leak=0.8, target_arl=ARL, rebase=48, step_s=900)
    assert s.common[0, 2] == pytest.approx(-3.0, abs=0.1)
    up = np.zeros(r.shape)
    changes, e = det.detect_joint(r, s, up_sums=up)
    c = changes[(changes.series == "C") & (changes.alarm_utc >= r.index[at])].iloc[0]
    assert c.explained_by < 0 and c.step == pytest.approx(3.0, abs=0.3)
    assert not ((changes.series == "A") & (changes.alarm_utc >= r.index[at])).any()
    ups = changes[(changes.direction == "up") & (changes.explained_by < 0)].copy()
    ups["alarm_utc"] += STEP

    def told(e_read):
        burst = det.calibrate_burst(e_read, base, 900.0, 0.8, ARL)
        crossings = det.burst_crossings(e_read, burst, up)
        return det.confirm_bursts(crossings, ups, STEP, pd.Timedelta(hours=24))

    as_run = told(e)
    a = as_run[as_run.series == "A"]
    assert a.status.tolist() == ["unconfirmed"] and a["size"].iloc[0] > 5.0
    assert abs(a.time_utc.iloc[0] - c.alarm_utc) <= pd.Timedelta(hours=1)
    spans = det.mirror_spans(changes, s.common, s.sigma_e, s.series, e.index, 0.8, s.rebase)
    left_out = told(e.mask(spans))
    assert not (left_out.series == "A").any()
    assert left_out[left_out.series == "C"].status.tolist() == ["cusum first"]


def test_mirror_spans_by_hand():
    """From a kept change's start to the step after its alarm where its mirror is at least
    the smallest step, then the steps its new level takes to be read to within it: with
    |w| = 2, σ = 0.5 and 0.8 L/s, ⌊(1.2533·2·0.5/0.8)²⌋ = 2 steps, from the second after
    the alarm (the first still carries the change); none for a DMA of no weight, nor for a
    change undone as another's mirror."""
    t = pd.date_range("2020-01-01", periods=40, freq="15min", tz="UTC")
    w = np.array([[0.0, 2.0], [0.0, 0.0]])  # A regresses on B; B on nothing
    changes = pd.DataFrame({
        "series": ["B", "B", "A", "B"], "alarm_utc": t[[10, 25, 30, 35]],
        "change_utc": t[[6, 22, 28, 33]], "step": [1.0, 0.2, 5.0, 3.0],
        "explained_by": [-1, -1, -1, 2]})
    spans = det.mirror_spans(changes, w, np.array([1.0, 0.5]), ["A", "B"], t, 0.8, 48)
    assert not spans.B.any()  # B regresses on no one
    expected = np.zeros(40, dtype=bool)
    expected[6:12] = True  # the mirror of B's 1 L/s (2 L/s in A), its change to alarm + 1
    expected[12:14] = True  # its level read from 1, then 2 steps
    expected[27:29] = True  # B's 0.2 L/s: a mirror of 0.4 L/s, left in; its level read
    np.testing.assert_array_equal(spans.A.to_numpy(), expected)
    assert det.MEDIAN_SE == pytest.approx(1.2533, abs=1e-4)


def test_the_burst_test_reads_a_window_against_the_spread_at_its_demand():
    """Noise twice as large by day (06-18 h) as on average and half at night, no common
    mode, a 1.5 L/s burst in B at 03:00: read against one spread for the whole day, the
    burst test crossed six times in A by day and missed the burst at night; read against
    the spread at each window (:func:`window_spread`), it crossed once, in B, within the
    hour after the burst."""
    n = 4 * 24 * 60
    rng = np.random.default_rng(1)
    t = pd.date_range("2020-01-06", periods=n, freq="15min", tz="UTC")
    hour = t.hour.to_numpy()
    spread = np.where((hour >= 6) & (hour < 18), 2.0, 0.5)
    e = pd.DataFrame(np.column_stack([_ar1(rng, n, 0.5, 0.5) * spread for _ in range(2)]),
                     index=t, columns=["A", "B"])
    at = 4 * 24 * 40 + 4 * 3
    e.iloc[at:, 1] += 1.5
    base = np.asarray(t < t[0] + pd.Timedelta(days=14))
    one = det.calibrate_burst(e, base, 900.0, 0.8, ARL)
    flat = det.burst_crossings(e, one, None)
    assert (flat.series == "A").sum() == 6
    assert not ((flat.step >= at) & (flat.step < at + 4 * 6)).any()
    both = np.column_stack([spread, spread])
    read = det.burst_crossings(e, det.calibrate_burst(e, base, 900.0, 0.8, ARL, scale=both),
                               None, scale=both)
    assert read.series.tolist() == ["B"]
    assert 0 < read.step.iloc[0] - at <= 4
    np.testing.assert_allclose(det.window_spread(spread[:8], 8, 4),
                               [0.5] * 8)  # the first night's steps
    np.testing.assert_allclose(det.window_spread(np.r_[1.0, 3.0, 1.0], 3, 2), [1.0, 2.0, 2.0])
