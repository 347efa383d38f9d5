"""The joint detector of DMAs at the detection step: common mode out, whitened, calibrated
on a leak-free period; against hand-made series with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from twin.synthetic.leak_benchmark import _ar1  # the benchmark's AR(1) noise
from twin.water import leak_detection as det
from twin.water import leak_residuals as rs


def _dmas(seed, n=4 * 24 * 60, common_sd=3.0, own_sd=0.5):
    """Three DMAs whose residuals share a common AR(1) error scaled by their size (as a
    demand ratio off for all at once), each with a small noise of its own; 15-min steps."""
    rng = np.random.default_rng(seed)
    t = pd.date_range("2020-01-06", periods=n, freq="15min", tz="UTC")
    common = _ar1(rng, n, common_sd, 0.8)
    size = np.array([1.0, 0.4, 0.25])
    r = common[:, None] * size + rng.normal(0, own_sd, (n, 3))
    return pd.DataFrame(r, index=t, columns=["A", "B", "C"])


def test_common_mode_weights_recover_the_shared_error():
    """B and C carry 0.4 and 0.25 of the shared error (sd 3) with noise of their own (sd
    0.5): the least-squares weights of A on them give back the shared error shrunk by
    what their own noise hides, by hand: information 0.4²/0.25 + 0.25²/0.25 = 0.89 per
    unit variance, so 0.4·wB + 0.25·wC = 9·0.89 / (9·0.89 + 1) = 0.889."""
    r = _dmas(0)
    mask = np.ones(len(r), dtype=bool)
    w, _ = det.common_mode_weights(r.to_numpy(), mask)
    assert w[0, 0] == 0.0
    assert 0.4 * w[0, 1] + 0.25 * w[0, 2] == pytest.approx(0.889, abs=0.03)
    assert w[0, 1] / w[0, 2] == pytest.approx(1.6, rel=0.15)  # 0.4/0.25 over 0.25/0.25
    e = r.A.to_numpy() - r[["B", "C"]].to_numpy() @ w[0, 1:]
    # what is left, by hand: A's own 0.25, B's and C's own noise through wB = 1.60 and
    # wC = 1.00, and the shared error's unexplained 0.111: sqrt(0.25 + 3.55·0.25 + 0.111)
    assert np.std(e) == pytest.approx(1.118, rel=0.05)


def test_step_in_one_dma_alarms_there_only_and_soon():
    """A 2 L/s step in B (4 σ of its own noise, 0.5 of the shared error's sd in A): the
    joint detector raises one up alarm, in B, within 3 h, measured as 2 L/s; a detector
    on B alone (the shared error left in) needs longer. The drop that A and C see until
    B's alarm is not raised as theirs."""
    r = _dmas(1)
    base = np.asarray(r.index < r.index[0] + pd.Timedelta(days=14))
    at = 4 * 24 * 30 + 37
    r.iloc[at:, 1] += 2.0
    s = det.calibrate_joint(r, base, min_leak=0.8, target_arl=730 * 4 / 0.33, rebase=48,
                            step_s=900)
    assert s.sigma_e[0] < 0.5 * s.sigma_raw[0]  # the common mode was most of A's noise
    ch, e = det.detect_joint(r, s)
    near = ch[(ch.alarm_utc >= r.index[at] - pd.Timedelta(days=1))
              & (ch.alarm_utc <= r.index[at] + pd.Timedelta(days=1))]
    raised = near[(near.direction == "up") & (near.explained_by < 0)]
    assert raised.series.tolist() == ["B"], near
    first = raised.iloc[0]
    assert (first.alarm_utc - r.index[at]) <= pd.Timedelta(hours=3)
    assert abs(first.change_utc - r.index[at]) <= pd.Timedelta(hours=1)
    assert first.step == pytest.approx(2.0, abs=0.5)
    # what A and C saw of it before B's alarm went down, and is B's, not theirs
    assert not ((near.series != "B") & (near.explained_by < 0)).any(), near
    # B alone: the shared error stays in its residual
    alone = det.calibrate_joint(r[["B"]], base, 0.8, 730 * 4 / 0.33, 48, 900)
    ch1, _ = det.detect_joint(r[["B"]], alone)
    ups = ch1[(ch1.direction == "up") & (ch1.alarm_utc >= r.index[at])]
    assert len(ups) == 0 or ups.alarm_utc.iloc[0] > first.alarm_utc


def test_whitened_cusum_keeps_its_false_alarm_rate_on_autocorrelated_noise():
    """One series of AR(1) noise (ρ = 0.6 per step) for 200,000 steps, the detector
    calibrated on its first 2,000 for a mean of 2,000 steps between false alarms: about
    100 alarms (measured 70-130 over seeds); without whitening (ρ ignored), several times
    as many."""
    rng = np.random.default_rng(5)
    x = _ar1(rng, 200_000, 1.0, 0.6)
    t = pd.date_range("2020-01-01", periods=len(x), freq="15min", tz="UTC")
    r = pd.DataFrame({"A": x}, index=t)
    mask = np.zeros(len(x), dtype=bool)
    mask[:2000] = True
    s = det.calibrate_joint(r, mask, min_leak=1.0, target_arl=2000, rebase=0, step_s=900)
    assert len(s.phi[0]) >= 1 and s.phi[0][0] == pytest.approx(0.6, abs=0.1)
    ch, _ = det.detect_joint(r, s)
    assert 40 <= len(ch) <= 250, len(ch)
    naive = det.cusum_two_sided(x / np.std(x[:2000]), float(s.k[0]), float(s.h[0]),
                                float(s.clip[0]), rebase=0)
    assert len(naive) > 2 * len(ch)


def test_within_hour_ramp_by_hand():
    """A model consumption of 10, 20, 40 L/s in three hours (ratio 1): in the middle hour
    the slope is (40 − 10)/2 = 15 L/s per hour, so the 5-min step starting at :00 (centre
    2.5 min) is 15·(2.5/60 − 0.5) = −6.875 L/s and the one at :55 is +6.875."""
    t = pd.date_range("2020-01-01", periods=36, freq="5min", tz="UTC")
    q = pd.DataFrame({"A": np.repeat([10.0, 20.0, 40.0], 12)}, index=t)
    ramp = rs.within_hour_ramp(q, np.ones(len(t)))
    mid = ramp.A.iloc[12:24].to_numpy()
    assert mid[0] == pytest.approx(-6.875) and mid[-1] == pytest.approx(6.875)
    assert mid.mean() == pytest.approx(0.0)


def _one_dma(seed: int) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """40 days of one DMA's residual at 15 min: white noise of 0.3 L/s."""
    n = 4 * 24 * 40
    t = pd.date_range("2020-01-06", periods=n, freq="15min", tz="UTC")
    return t, np.random.default_rng(seed).normal(0, 0.3, n)


def _changes(t: pd.DatetimeIndex, x: np.ndarray) -> pd.DataFrame:
    """The joint detector's changes of one DMA ``x``, calibrated on its first 14 days."""
    r = pd.DataFrame({"A": x}, index=t)
    base = np.asarray(t < t[0] + pd.Timedelta(days=14))
    s = det.calibrate_joint(r, base, min_leak=0.8, target_arl=730 * 4 / 0.33, rebase=48,
                            step_s=900)
    return det.detect_joint(r, s)[0]


def test_return_after_a_fall_is_no_rise():
    """A fall of 2 L/s for 30 hours, then back to where it was (a meter's outage, a level
    measured low): the detector sees the fall and the way back up, the way back's ``rise``
    (above the level before the fall) is about 0, so it is no leak; a later 2 L/s rise
    counts in full."""
    t, x = _one_dma(9)
    x[4 * 24 * 20:4 * 24 * 20 + 120] -= 2.0
    x[4 * 24 * 30:] += 2.0
    ch = _changes(t, x)
    fall = ch[ch.direction == "down"]
    assert len(fall) >= 1 and fall.step.iloc[0] == pytest.approx(-2.0, abs=0.3)
    back = ch[(ch.direction == "up") & (ch.alarm_utc > fall.alarm_utc.iloc[0])
              & (ch.alarm_utc < t[4 * 24 * 30])]
    assert len(back) == 1 and back.step.iloc[0] == pytest.approx(2.0, abs=0.3)
    assert abs(back.rise.iloc[0]) < 0.3
    leak = ch[(ch.direction == "up") & (ch.alarm_utc >= t[4 * 24 * 30])]
    assert leak.rise.iloc[0] == pytest.approx(2.0, abs=0.3)


def _after_a_repair(later_l_s: float):
    """A 10 L/s leak from day 18, repaired on day 25 (a fall of 10 L/s), and a rise of
    ``later_l_s`` 15 hours after the repair; noise 0.3 L/s at 15 min."""
    t, x = _one_dma(11)
    x[4 * 24 * 18:4 * 24 * 25] += 10.0
    later = 4 * 24 * 25 + 4 * 15
    x[later:] += later_l_s
    ch = _changes(t, x)
    fall = ch[ch.direction == "down"]
    assert len(fall) == 1 and fall.step.iloc[0] == pytest.approx(-10.0, abs=0.5)
    rise = ch[(ch.direction == "up") & (ch.change_utc >= t[later] - pd.Timedelta(hours=2))]
    assert len(rise) == 1 and rise.step.iloc[0] == pytest.approx(later_l_s, abs=0.4)
    return rise.iloc[0]


def test_new_leak_after_a_repair_is_a_rise():
    """A 3 L/s leak 15 h after a 10 L/s leak's repair is 0.3 of the fall, between
    ``SETTLING_SHARE`` and ``RECOVERY_SHARE``: a change of its own, its rise its step (read
    against the level before the repair it would be 3 − 10 = −7 L/s, never raised). A
    1 L/s rise, 0.1 of the fall, is the level after the repair settling: read against the
    level before the fall, 1 − 10 = −9 L/s."""
    assert det.SETTLING_SHARE < 0.3 < det.RECOVERY_SHARE
    assert _after_a_repair(3.0).rise == pytest.approx(3.0, abs=0.4)
    assert det.SETTLING_SHARE > 0.1
    assert _after_a_repair(1.0).rise == pytest.approx(-9.0, abs=0.5)


def test_step_response_by_hand():
    """Whitening with φ = (0.5, 0.2) passes 1, then 1 − 0.5, then 1 − 0.7 of a step."""
    assert det.step_response(np.array([0.5, 0.2]), 5) == pytest.approx([1, 0.5, 0.3, 0.3,
                                                                        0.3])
    assert det.step_response(np.array([0.5, 0.2]), 2) == pytest.approx([1, 0.5])
    assert det.step_response(np.zeros(0), 3) == pytest.approx([1, 1, 1])


def test_attribute_change_by_hand():
    """Two series, series 0 regressing on 1 with w = 0.5 and 1 on 0 with 0.8. A step of 2
    in series 1 leaves shifts (−1, 2): a step in 1 fits them exactly (L = 2); a step in 0
    has the signature (1, −0.8), so L = (−1 − 1.6)/1.64 = −1.585 and its misfit
    (−1 + 1.585)² + (2 − 1.268)² = 0.878 (equal weights)."""
    sig = det.step_signatures(np.array([[0.0, 0.5], [0.8, 0.0]]), np.ones(2))
    assert sig == pytest.approx(np.array([[1.0, -0.5], [-0.8, 1.0]]))
    size, misfit = det.attribute_change(np.array([-1.0, 2.0]), np.ones(2), sig)
    assert size == pytest.approx([-2.6 / 1.64, 2.0])
    assert misfit == pytest.approx([0.8780, 0.0], abs=1e-3)
    # the misfit is a chi-square with n values of unit noise per mean: 10 against 5
    # values each, 8.78 and 4.39 against the 1 % level (6.63)
    assert det.mirror_of(0, np.array([-1.0, 2.0]), np.full(2, 10.0), sig, [1]) == (
        1, pytest.approx(2.0))
    assert det.mirror_of(0, np.array([-1.0, 2.0]), np.full(2, 5.0), sig, [1]) is None
    # a fall of series 0 with nothing to fall from (no leak found there): series 1's rise
    # need only not fit worse
    assert det.mirror_of(0, np.array([-1.0, 2.0]), np.full(2, 5.0), sig, [1],
                         room=np.zeros(2)) == (1, pytest.approx(2.0))
    # ...but must show in series 1 itself: 2 values of a shift of 1.5 (chi-square 4.5)
    assert det.mirror_of(0, np.array([-1.0, 1.5]), np.array([30.0, 2.0]), sig, [1],
                         room=np.zeros(2)) is None


def _two(seed, n=4 * 24 * 40):
    """Two DMAs sharing an AR(1) error (sd 3, shares 1.0 and 0.4), A with a noise of its
    own of sd 1.0, B of 0.2: B regresses on A with a small weight and A on B with a large
    one, so a step in A shows in B's residual less its common mode mirrored, in B's
    units as large as in A's."""
    rng = np.random.default_rng(seed)
    t = pd.date_range("2020-01-06", periods=n, freq="15min", tz="UTC")
    common = _ar1(rng, n, 3.0, 0.8)
    r = common[:, None] * np.array([1.0, 0.4]) + rng.normal(0, 1, (n, 2)) * [1.0, 0.2]
    return pd.DataFrame(r, index=t, columns=["A", "B"])


def test_step_seen_mirrored_is_raised_in_its_own_dma_in_time():
    """A 3 L/s step in A: the alarm is A's rise, within Page's delay of a CUSUM for a step
    of δ = 3·(1 − Σφ)/σ_u (whitened) against allowance k and threshold h, by Wald's
    approximation h/(δ − k) steps plus one (a step's first innovations pass it whole, so
    the alarm comes sooner). Without the attribution, in 2 of these 5 seeds (measured)
    B's mirrored fall was raised first, and A's rise later or never."""
    mirrored = 0
    for seed in range(5):
        r = _two(seed)
        base = np.asarray(r.index < r.index[0] + pd.Timedelta(days=14))
        at = 4 * 24 * 25 + 37
        r.iloc[at:, 0] += 3.0
        s = det.calibrate_joint(r, base, min_leak=0.8, target_arl=730 * 4 / 0.33,
                                rebase=48, step_s=900)
        delta = 3.0 * s.gain[0] / s.sigma_u[0]
        wald = int(np.ceil(s.h[0] / (delta - s.k[0]))) + 1
        ch, _ = det.detect_joint(r, s)
        near = ch[(ch.alarm_utc >= r.index[at])
                  & (ch.alarm_utc <= r.index[at] + pd.Timedelta(days=1))]
        first = near.iloc[0]
        assert (first.series, first.direction) == ("A", "up"), near
        assert first.alarm_utc - r.index[at] <= wald * pd.Timedelta(minutes=15)
        assert first.step == pytest.approx(3.0, abs=1.0)
        old, _ = det.detect_joint(r, s, attribute=False)
        o = old[old.alarm_utc >= r.index[at]].iloc[0]
        mirrored += (o.series, o.direction) == ("B", "down")
    assert mirrored >= 2


def test_another_dmas_alarm_keeps_a_small_leaks_sum_from_before_its_change():
    """No noise, by hand (k = 0.25, h = 8, no whitening, B's common mode 0.1 of A's
    residual). B steps up 0.5 at step 100: its sum grows 0.25 a step, 2.0 by step 107. A
    falls 10 at step 108 (a repair) and alarms at 110; B saw +1 of it from 108 to 110, and
    once more at 111 (A's level is set from 111 on). A's alarm takes B's upward sum back to
    its 2.0 of step 107: 3.25 after 111, over 8 at step 131, its change dated at step 100.
    Restarted from zero at 110, it would alarm at 139 with its change dated at 111."""
    n = 300
    t = pd.date_range("2020-01-06", periods=n, freq="15min", tz="UTC")
    r = pd.DataFrame(0.0, index=t, columns=["A", "B"])
    r.iloc[100:, 1] += 0.5
    r.iloc[108:, 0] -= 10.0
    s = det.JointSettings(series=["A", "B"], common=np.array([[0.0, 0.0], [0.1, 0.0]]),
                          offset=np.zeros(2), phi=[np.zeros(0), np.zeros(0)],
                          sigma_u=np.ones(2), sigma_e=np.ones(2), sigma_raw=np.ones(2),
                          rho=np.zeros(2), k=np.full(2, 0.25), h=np.full(2, 8.0),
                          clip=np.full(2, 4.0), rebase=8, target_arl=1e4)
    ev, _ = det.joint_cusum(r, s, attribute=False)
    assert ev[["series", "alarm", "change", "direction"]].values.tolist() == [
        ["A", 110, 108, -1], ["B", 131, 100, 1]]


def test_split_change_by_hand():
    """Forty steps at 0 and thirty at 5 (σ of a step's mean 1): split at step 40, where the
    means differ by 5 over √(1/40 + 1/30) = 0.242, z = 20.7 (at 35: 4.29 over 0.239, 17.9).
    A series alternating ±1 holds no change, nor one whose step is under ``min_step``. With
    ``first`` = 50, the step at 40 is known: 20 more steps at 5 then 10 at 9 split at 60,
    the level before it from step 40 on. A ramp is no step."""
    seg = np.r_[np.zeros(40), np.full(30, 5.0)]
    assert det.split_change(seg, 1.0, min_step=1.0) == (40, 0.0, 5.0)
    assert det.split_change(np.tile([1.0, -1.0], 35), 1.0, min_step=1.0) is None
    assert det.split_change(seg, 1.0, min_step=6.0) is None
    assert det.split_change(seg, 1.0, min_step=1.0, first=50) is None  # nothing after 50
    two = np.r_[np.zeros(40), np.full(20, 5.0), np.full(10, 9.0)]
    assert det.split_change(two, 1.0, min_step=1.0, first=50) == (60, 5.0, 9.0)
    # a ramp from 0 to 10 over 70 steps splits at z = 21 in its middle, but a line
    # explains it wholly: no change (a growing leak)
    assert det.split_change(np.linspace(0.0, 10.0, 70), 1.0, min_step=1.0) is None


def test_a_leak_that_begins_while_the_level_is_set_is_raised():
    """A 1.5 L/s rise (raised within about an hour at 0.3 L/s of noise), then a 6 L/s leak
    7 h after it, inside the 12 h the level is set over after the alarm: two rises, each
    its own step and change, not one of 7.5 L/s."""
    t, x = _one_dma(5)
    first, second = 4 * 24 * 20, 4 * 24 * 20 + 4 * 7
    x[first:] += 1.5
    x[second:] += 6.0
    ch = _changes(t, x)
    ups = ch[(ch.direction == "up") & (ch.change_utc >= t[first] - pd.Timedelta(hours=2))]
    assert len(ups) == 2, ch
    assert ups.step.tolist() == pytest.approx([1.5, 6.0], abs=0.4)
    assert abs(ups.change_utc.iloc[1] - t[second]) <= pd.Timedelta(hours=1)
    assert ups.alarm_utc.iloc[1] <= ups.alarm_utc.iloc[0] + pd.Timedelta(hours=12, minutes=15)
