"""CNAIM health and PoF against the published reference cases of the CNAIM R package
(Utiligize/CNAIM, the methodology's reference implementation), and the IEC 60076-7 thermal
model against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from twin.maintenance import cnaim, thermal
from twin.maintenance.parameters import asset_classes


def sig4(x: float) -> float:
    return float(f"{x:.4g}")


def test_distribution_transformer_age_1_defaults():
    # R: pof_transformer_11_20kv("6.6/11kV Transformer (GM)", age = 1, defaults) = 0.0001340004
    p = asset_classes().loc["distribution_transformer"]
    b1 = cnaim.beta_1(cnaim.expected_life(p.normal_expected_life_years, 1.0, 1.0))
    h0 = cnaim.initial_health(b1, 1)
    assert round(float(h0), 4) == 0.5204  # 0.5·11^(1/60)
    # the package's default condition factors are below 1 and the score lands on the collar
    h = cnaim.current_health(h0, health_score_factor=0.5 / 0.5204)
    assert float(h) == 0.5
    assert sig4(cnaim.pof_curve(h, p.k_percent, p.c_value)) == sig4(0.0001340004)


def test_66kv_transformer_1980_age_43():
    # R: pof_transformer_33_66kv("66kV Transformer (GM)", 1980, age 43) = 0.01244618, H 3.9316.
    # Expected life 50 a: the 60 a normal life over the default duty 1.2 the output implies.
    p = asset_classes().loc["hv_mv_transformer"]
    b1 = cnaim.beta_1(cnaim.expected_life(60, 1.2, 1.0))
    h = cnaim.current_health(cnaim.initial_health(b1, 43))
    assert sig4(h) == 3.932  # 3.9316 to 4 significant figures
    assert sig4(cnaim.pof_curve(3.9316, p.k_percent, p.c_value)) == sig4(0.012446)
    assert sig4(cnaim.pof_curve(h, p.k_percent)) == sig4(0.01244618)


def test_10kv_pex_cable_utilisation_80_age_50():
    # R: pof_cables_10kv_pex(utilisation 80, age 50, K 0.0658, C 1.087, life 80) = 0.00578, 2.2379
    duty = cnaim.duty_factor_cable(80)
    assert float(duty) == 1.0
    b1 = cnaim.beta_1(cnaim.expected_life(80, duty))
    h = cnaim.current_health(cnaim.initial_health(b1, 50))
    assert sig4(h) == 2.238
    assert round(float(h), 4) == 2.2379
    assert round(float(cnaim.pof_curve(h, 0.0658, 1.087)), 5) == 0.00578


def test_10kv_pex_cable_future_pof_year_50():
    # R: pof_future_cables_10kv_pex(utilisation 80, operating voltage 60 %, age 50, K 0.0658,
    # life 80, simulation_end_year 100): PoF in year 50 = 0.12098057
    duty = cnaim.duty_factor_cable(80, 60)
    assert float(duty) == pytest.approx(0.95)
    b1 = cnaim.beta_1(cnaim.expected_life(80, duty))
    h = cnaim.current_health(cnaim.initial_health(b1, 50))
    pof = cnaim.future_pof(h, 50, b1, 0.0658, np.arange(0, 101))
    assert sig4(pof[50]) == sig4(0.12098057)


def test_present_value_of_future_risk():
    # R: the CNAIM package's present value of future risk example: PoF (0.1, 0.2, 0.5),
    # CoF 100, discount 3.5 % -> 73.43
    pv = cnaim.present_value_future_risk([0.1, 0.2, 0.5], 100, 0.035)
    assert round(float(pv), 2) == 73.43


def test_bands_and_reduction_factor():
    assert list(cnaim.health_band([0.5, 3.2, 6.0, 7.9, 9.5])) == ["HI1", "HI2", "HI3", "HI4",
                                                                  "HI5"]
    assert list(cnaim.ageing_reduction_factor([1.0, 2.0, 5.5, 8.0])) == pytest.approx(
        [1.0, 1.0, 1.5, 1.5])
    assert list(cnaim.duty_factor_transformer([40, 60, 90, 120, np.nan])) == [0.9, 0.95, 1.0,
                                                                              1.4, 1.0]


def test_ageing_rate_reference_points():
    # IEC 60076-7 eq. 3: V = 1 at 98 °C, doubles every 6 K; eq. 4: V = 1 at 110 °C
    assert thermal.ageing_rate(98.0) == pytest.approx(1.0)
    assert thermal.ageing_rate(104.0) == pytest.approx(2.0)
    assert thermal.ageing_rate(86.0) == pytest.approx(0.25)
    assert thermal.ageing_rate(110.0, upgraded_paper=True) == pytest.approx(1.0)
    # upgraded paper ages slower than Kraft at the same hot spot
    assert thermal.ageing_rate(110.0, True) < thermal.ageing_rate(110.0)


def test_steady_hot_spot_by_hand():
    p = thermal.ONAN_DISTRIBUTION
    # K = 1: θa + Δθor + H·gr = 20 + 60 + 1.2·23
    assert thermal.steady_hot_spot_c(1.0, 20.0) == pytest.approx(20 + 60 + 27.6)
    # K = 0.5: 20 + 60·((1 + 5·0.25)/6)^0.8 + 27.6·0.5^1.6
    hand = 20 + 60 * (2.25 / 6) ** 0.8 + 27.6 * 0.5**1.6
    assert thermal.steady_hot_spot_c(0.5, 20.0, p) == pytest.approx(hand)


def test_difference_equations_reach_steady_state_and_lag_with_tau_oil():
    p = thermal.ONAN_DISTRIBUTION
    steps = 4 * 24 * 3  # three days of 15-min steps
    load = np.full((steps, 2), 0.5)
    load[4:, 0] = 1.2  # a step up after one hour
    amb = np.full(steps, 25.0)
    year = thermal.thermal_year(load, amb, 15.0, p)
    # after three days at 1.2 p.u. the hot spot is the steady state's
    assert year.max_hot_spot_c[0] == pytest.approx(thermal.steady_hot_spot_c(1.2, 25.0, p),
                                                   abs=0.05)
    # the constant unit is at its steady state throughout, ageing as eq. 3 says
    v = thermal.ageing_rate(thermal.steady_hot_spot_c(0.5, 25.0, p))
    assert year.mean_ageing_rate[1] == pytest.approx(v, rel=1e-9)
    assert year.hours_above_c[120.0][1] == 0.0
    # the top oil follows a first-order lag of k11·τo = 180 min: 63 % of its rise after 3 h
    assert year.hours_above_c[120.0][0] > 0
