"""A consumption residual whose storage rate comes from noisy tank levels carries
differenced noise; the baseline must see its negative autocorrelation."""

import numpy as np
import pandas as pd


def test_differenced_level_noise_has_negative_lag1_and_a_smaller_long_run_spread():
    """Residual = a·(η_{t+1} − η_t) + ε with η, ε white (sd 1 and 2, a = 3): by hand its
    variance is 2a² + 4 = 22 and its lag-1 autocovariance −a² = −9, so ρ₁ = −9/22; the sum
    over a day telescopes η to its two ends, variance 24·4 + 2a² = 114, far below 24·22. The
    detector's long-run spread must lie between ε's (2) and the step spread, well below the
    latter."""
    from twin.water import leak_detection as det
    from twin.water import leak_residuals as rs

    rng = np.random.default_rng(11)
    n = 24 * 400
    eta, eps = rng.normal(0, 1, n + 1), rng.normal(0, 2, n)
    r = 3.0 * np.diff(eta) + eps
    t = pd.date_range("2020-01-01", periods=n, freq="h", tz="UTC")
    res = pd.DataFrame({"D": r}, index=t)
    const = pd.DataFrame({"const": np.ones(n)}, index=t)
    base = rs.fit_baseline(res, const, np.ones(n, dtype=bool))
    assert abs(base.rho["D"] - (-9 / 22)) < 0.03
    assert abs(base.sigma["D"] - np.sqrt(22)) < 0.2
    day_sums = r.reshape(-1, 24).sum(axis=1)
    assert abs(day_sums.std() - np.sqrt(114)) < 1.2
    cal = det.calibrate(float(base.sigma["D"]), float(base.rho["D"]), 1.0)
    assert 2.0 < cal.sigma < 0.75 * np.sqrt(22)


def test_positive_autocorrelation_is_kept():
    """An AR(1) residual with φ = 0.6: ρ₁ ≈ 0.6, as before."""
    from twin.water import leak_residuals as rs

    rng = np.random.default_rng(5)
    n = 5000
    x = np.zeros(n)
    for i in range(1, n):
        x[i] = 0.6 * x[i - 1] + rng.normal()
    assert abs(rs._lag1(x) - 0.6) < 0.03
    assert rs._lag1(np.array([1.0, -1.0] * 50)) == -0.95


def test_each_alone_noise_is_measured_over_blocks_as_the_joint_detectors():
    """The chooser's noise of the hourly detectors (:func:`twin.water.leaks._noise_alone`)
    on x_t = u_t + u_{t−1} + u_{t−2}, u white of sd 1: a 6-hour sum holds u with weights
    1, 2, 3, 3, 3, 3, 2, 1, so its variance is 46 and the spread per √h √(46/6) = 2.77
    (the lag-1 figure, ρ₁ = 2/3, would say √3·√5 = 3.87); the margin is the relative
    standard error of a spread over n = 1600 blocks, 1/√(2(n − 1)). Hours outside the
    leak-free mask are not counted; with fewer than 4 blocks the hourly detectors' own
    figure is used."""
    from twin.water import leak_detection as det
    from twin.water.leaks import _noise_alone

    rng = np.random.default_rng(2)
    n = 24 * 400
    u = rng.normal(0, 1, n + 2)
    x = u[2:] + u[1:-1] + u[:-2]
    t = pd.date_range("2020-01-01", periods=n, freq="h", tz="UTC")
    e_h = pd.DataFrame({"D": x, "E": x}, index=t)
    mask = np.ones(n, dtype=bool)
    alone = {"D": det.calibrate(1.7, 0.6, 1.0), "E": det.calibrate(1.7, 0.6, 1.0)}
    noise, margin = _noise_alone(e_h, mask, alone)
    assert abs(noise - np.sqrt(46 / 6)) < 0.06 * np.sqrt(46 / 6)
    assert margin == 1 / np.sqrt(2 * (n // 6 - 1))
    # a wild stretch outside the mask changes nothing
    wild = e_h.copy()
    wild.iloc[: n // 2] *= 10
    half = np.arange(n) >= n // 2
    noise_half, _ = _noise_alone(wild, half, alone)
    assert abs(noise_half - np.sqrt(46 / 6)) < 0.09 * np.sqrt(46 / 6)
    short, no_margin = _noise_alone(e_h, np.arange(n) < 20, alone)
    assert short == alone["D"].sigma and no_margin == 0.0
