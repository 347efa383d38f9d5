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
