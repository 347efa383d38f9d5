"""Health index and probability of failure in the CNAIM way.

CNAIM: DNO Common Network Asset Indices Methodology v2.1 (Ofgem, 2021), section 6; the R
package Utiligize/CNAIM is its reference implementation. Every function takes numbers or
numpy arrays and returns the same shape.

The chain::

    expected life      EL = normal expected life / (duty factor × location factor)     (eq. 1)
    initial ageing     β1 = ln(H_cap / H_new) / EL = ln(5.5 / 0.5) / EL                 (eq. 2)
    initial health     H0 = min(5.5, 0.5·exp(β1·age))                                   (eq. 3)
    current health     H  = clip(H0 × health-score factor × reliability factor, 0.5, 10) (eq. 5-7)
    PoF                K·(1 + C·H + (C·H)²/2! + (C·H)³/3!)                              (eq. 8)
    forecast ageing    β2 = ln(H / 0.5) / age, at most 2·β1 (β1 when H = 0.5)           (6.1.8)
    ageing reduction   r = 1 (H < 2), 1 + (H - 2)/7 (2 <= H <= 5.5), 1.5 (H > 5.5)       (6.1.9)
    future health      H_t = H·exp(β2 / r · t), held within 4 .. 15 in the PoF curve
"""

from __future__ import annotations

import numpy as np

from twin.maintenance.parameters import (
    C_VALUE,
    DUTY_CABLE_UTILISATION,
    DUTY_CABLE_VOLTAGE,
    DUTY_DISTRIBUTION_TRANSFORMER,
    H_FUTURE_MAX,
    H_FUTURE_MIN,
    H_INITIAL_CAP,
    H_MAX,
    H_MIN,
    H_NEW,
    HEALTH_BANDS,
)


def band_factor(value, table) -> np.ndarray:
    """Look a value up in a banded table of ``(upper bound, factor)`` rows (lower bound
    exclusive, upper inclusive, as CNAIM's tables); NaN (not known) is the neutral 1.0."""
    value = np.asarray(value, dtype=float)
    uppers = np.array([u for u, _ in table])
    factors = np.array([f for _, f in table])
    pos = np.searchsorted(uppers, np.nan_to_num(value, nan=0.0), side="left")
    return np.where(np.isnan(value), 1.0, factors[np.minimum(pos, len(table) - 1)])


def duty_factor_transformer(utilisation_pct) -> np.ndarray:
    """Duty factor of a distribution transformer from its maximum utilisation [% of rating]
    (CNAIM v2.1 Table 17); NaN (not known) is 1.0."""
    return band_factor(utilisation_pct, DUTY_DISTRIBUTION_TRANSFORMER)


def duty_factor_cable(utilisation_pct, operating_voltage_pct=np.nan) -> np.ndarray:
    """Duty factor of a cable: the mean of the utilisation factor (maximum utilisation [%]) and
    the voltage factor (operating/design voltage [%]) (CNAIM v2.1 6.6, as the R package's
    ``duty_factor_cables``)."""
    return 0.5 * (band_factor(utilisation_pct, DUTY_CABLE_UTILISATION)
                  + band_factor(operating_voltage_pct, DUTY_CABLE_VOLTAGE))


def expected_life(normal_expected_life_years, duty_factor=1.0, location_factor=1.0):
    """Expected life [a] = normal expected life [a] / (duty factor × location factor)."""
    return np.asarray(normal_expected_life_years, dtype=float) / (
        np.asarray(duty_factor, dtype=float) * np.asarray(location_factor, dtype=float))


def beta_1(expected_life_years):
    """Initial ageing rate β1 = ln(5.5 / 0.5) / expected life [1/a]."""
    return np.log(H_INITIAL_CAP / H_NEW) / np.asarray(expected_life_years, dtype=float)


def initial_health(b1, age_years):
    """Initial health score H0 = min(5.5, 0.5·exp(β1·age)) [-]."""
    age = np.maximum(np.asarray(age_years, dtype=float), 0.0)
    return np.minimum(H_INITIAL_CAP, H_NEW * np.exp(np.asarray(b1, dtype=float) * age))


def current_health(initial_health_score, health_score_factor=1.0, reliability_factor=1.0,
                   cap=H_MAX, collar=H_MIN):
    """Current health score: H0 × factor × reliability factor, within the modifier's cap and
    collar and always within 0.5 .. 10 [-]."""
    h = (np.asarray(initial_health_score, dtype=float) * np.asarray(health_score_factor)
         * np.asarray(reliability_factor))
    h = np.maximum(np.minimum(h, cap), collar)
    return np.clip(h, H_MIN, H_MAX)


def pof_curve(health_score, k_percent, c_value=C_VALUE):
    """Probability of failure per year: K·(1 + CH + (CH)²/2! + (CH)³/3!) with K in [%/a]."""
    ch = np.asarray(c_value, dtype=float) * np.asarray(health_score, dtype=float)
    return np.asarray(k_percent, dtype=float) / 100.0 * (1 + ch + ch**2 / 2 + ch**3 / 6)


def beta_2(current_health_score, age_years, b1):
    """Forecast ageing rate β2 = ln(H / 0.5) / age [1/a], at most 2·β1, and β1 for a new
    asset's score (H = 0.5) or age 0."""
    h = np.asarray(current_health_score, dtype=float)
    age = np.asarray(age_years, dtype=float)
    b1 = np.asarray(b1, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        b2 = np.log(h / H_NEW) / age
    b2 = np.where((h <= H_NEW) | (age <= 0) | ~np.isfinite(b2), b1, b2)
    return np.minimum(b2, 2 * b1)


def ageing_reduction_factor(current_health_score):
    """Ageing reduction factor r [-]: 1 below H 2, 1 + (H - 2)/7 up to 5.5, 1.5 above."""
    h = np.asarray(current_health_score, dtype=float)
    return np.where(h < 2, 1.0, np.where(h <= 5.5, 1 + (h - 2) / 7, 1.5))


def future_health(current_health_score, b2, years):
    """Health score ``years`` from now: H·exp(β2 / r · t) [-] (not yet held within bounds)."""
    h = np.asarray(current_health_score, dtype=float)
    r = ageing_reduction_factor(h)
    t = np.asarray(years, dtype=float)
    return h[..., None] * np.exp((np.asarray(b2, dtype=float) / r)[..., None] * t)


def future_pof(current_health_score, age_years, b1, k_percent, years, c_value=C_VALUE):
    """PoF per year in each of ``years`` from now, asset × year [1/a] (CNAIM 6.1.8-6.1.9 as the
    R package's ``pof_future_*``: the future score is held within 4 .. 15)."""
    b2 = beta_2(current_health_score, age_years, b1)
    h = np.clip(future_health(current_health_score, b2, years), H_FUTURE_MIN, H_FUTURE_MAX)
    return pof_curve(h, np.asarray(k_percent, dtype=float)[..., None], c_value)


def present_value_future_risk(pof_by_year, cof, discount_rate):
    """Present value of future risk: Σ_t PoF_t·CoF / (1 + r)^t, t = 1, 2, … [money].

    ``pof_by_year`` is ``... × year`` (year 1 first)."""
    pof = np.asarray(pof_by_year, dtype=float)
    t = np.arange(1, pof.shape[-1] + 1)
    return (pof * np.asarray(cof, dtype=float)[..., None] / (1 + discount_rate) ** t).sum(-1)


def health_band(health_score) -> np.ndarray:
    """Health-index band HI1 .. HI5 of each score (CNAIM v2.1 6.1.10)."""
    h = np.asarray(health_score, dtype=float)
    uppers = np.array([u for _, _, u in HEALTH_BANDS])
    names = np.array([b for b, _, _ in HEALTH_BANDS])
    return names[np.minimum(np.searchsorted(uppers, h, side="left"), len(names) - 1)]
