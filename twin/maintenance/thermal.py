"""Transformer hot-spot temperature and insulation ageing (IEC 60076-7:2018 loading guide).

Steady state (IEC 60076-7 eq. 1-2)::

    θh = θa + Δθor·((1 + R·K²) / (1 + R))^x + H·gr·K^y

Dynamic: the standard's difference equations (Annex C), top-oil rise and the two-part
hot-spot rise, each a first-order lag::

    Δθo += Dt / (k11·τo) · (((1 + K²R)/(1 + R))^x · Δθor - Δθo)
    Δθh1 += Dt / (k22·τw) · (k21·Hgr·K^y - Δθh1)
    Δθh2 += Dt / (τo / k22) · ((k21 - 1)·Hgr·K^y - Δθh2)
    θh = θa + Δθo + Δθh1 - Δθh2

with the step Dt no longer than half the smallest time constant (the 15-min loading steps are
split accordingly). Relative ageing rate: V = 2^((θh - 98)/6) for normal Kraft paper (eq. 3)
and V = exp(15000/(110 + 273) - 15000/(θh + 273)) for thermally upgraded paper (eq. 4);
loss of life L = ∫ V dt [h].
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

#: Hot spot of normal paper ageing at rate 1 [°C] and its doubling step [K] (IEC 60076-7 eq. 3).
REFERENCE_HOT_SPOT_C, DOUBLING_K = 98.0, 6.0
#: Reference hot spot of thermally upgraded paper [°C] and its activation term [K] (eq. 4).
UPGRADED_REFERENCE_C, UPGRADED_ACTIVATION_K = 110.0, 15000.0
#: Hot-spot thresholds the year is counted above [°C] (IEC 60076-7 Table 1 limits for
#: normal cyclic loading 120 °C, long-time emergency 140 °C).
HOT_SPOT_LIMITS_C = (120.0, 140.0)


@dataclass(frozen=True)
class ThermalParameters:
    """Thermal characteristics of a transformer (IEC 60076-7 Table 4 form).

    Attributes
    ----------
    top_oil_rise_k : float
        Top-oil rise over ambient at rated load Δθor [K].
    winding_gradient_k : float
        Average winding to average oil gradient at rated load gr [K].
    hot_spot_factor : float
        H [-].
    loss_ratio : float
        Load losses at rated current / no-load losses R [-].
    oil_exponent, winding_exponent : float
        x, y [-].
    tau_oil_min, tau_winding_min : float
        Oil and winding time constants τo, τw [min].
    k11, k21, k22 : float
        Thermal model constants [-].
    """

    top_oil_rise_k: float
    winding_gradient_k: float
    hot_spot_factor: float
    loss_ratio: float
    oil_exponent: float
    winding_exponent: float
    tau_oil_min: float
    tau_winding_min: float
    k11: float
    k21: float
    k22: float

    @property
    def hot_spot_gradient_k(self) -> float:
        """H·gr, the hot-spot to top-oil gradient at rated load [K]."""
        return self.hot_spot_factor * self.winding_gradient_k


#: ONAN distribution transformer: Δθor 60 K, gr 23 K, H 1.2, x 0.8, y 1.6, τo 180 min,
#: τw 4 min (FIELD-NOTES, from IEC 60076-7); R 5 and k11 1.0, k21 1.0, k22 2.0 as IEC 60076-7
#: Table 4 gives for distribution transformers.
ONAN_DISTRIBUTION = ThermalParameters(60.0, 23.0, 1.2, 5.0, 0.8, 1.6, 180.0, 4.0, 1.0, 1.0, 2.0)
#: ONAN medium and large power transformer (IEC 60076-7 Table 4): Δθor 52 K, gr 26 K,
#: H 1.3, R 6, x 0.8, y 1.3, τo 210 min, τw 10 min, k11 0.5, k21 2.0, k22 2.0.
ONAN_POWER = ThermalParameters(52.0, 26.0, 1.3, 6.0, 0.8, 1.3, 210.0, 10.0, 0.5, 2.0, 2.0)


def steady_hot_spot_c(load_pu, ambient_c, p: ThermalParameters = ONAN_DISTRIBUTION):
    """Steady-state hot-spot temperature [°C] at load factor K [p.u. of rated] and ambient θa
    [°C] (IEC 60076-7 eq. 1-2)."""
    k = np.asarray(load_pu, dtype=float)
    r = p.loss_ratio
    oil = p.top_oil_rise_k * ((1 + r * k**2) / (1 + r)) ** p.oil_exponent
    return np.asarray(ambient_c, dtype=float) + oil + p.hot_spot_gradient_k * k**p.winding_exponent


def ageing_rate(hot_spot_c, upgraded_paper: bool = False):
    """Relative ageing rate V [-] at hot spot θh [°C]: 2^((θh-98)/6) for normal paper,
    exp(15000/383 - 15000/(θh + 273)) for thermally upgraded paper."""
    h = np.asarray(hot_spot_c, dtype=float)
    if upgraded_paper:
        return np.exp(UPGRADED_ACTIVATION_K / (UPGRADED_REFERENCE_C + 273.0)
                      - UPGRADED_ACTIVATION_K / (h + 273.0))
    return 2.0 ** ((h - REFERENCE_HOT_SPOT_C) / DOUBLING_K)


@dataclass
class ThermalYear:
    """What a year of loading did to each transformer's insulation.

    Attributes
    ----------
    loss_of_life_h : ndarray
        ∫ V dt over the period [h].
    mean_ageing_rate : ndarray
        Loss of life / period length [-] (1.0 = ages as the calendar).
    max_hot_spot_c : ndarray
        Highest hot spot [°C].
    hours_above_c : dict
        Hours above each of :data:`HOT_SPOT_LIMITS_C` [h].
    daily_max_hot_spot_c : ndarray
        day × transformer, highest hot spot of each day (for plots) [°C].
    """

    loss_of_life_h: np.ndarray
    mean_ageing_rate: np.ndarray
    max_hot_spot_c: np.ndarray
    hours_above_c: dict
    daily_max_hot_spot_c: np.ndarray


def thermal_year(load_pu: np.ndarray, ambient_c: np.ndarray, step_min: float = 15.0,
                 p: ThermalParameters = ONAN_DISTRIBUTION, upgraded_paper: bool = False,
                 steps_per_day: int | None = None) -> ThermalYear:
    """Run the IEC 60076-7 difference equations over a loading history.

    Parameters
    ----------
    load_pu : ndarray, time × transformer
        Load factor K = apparent power / rated power [p.u.].
    ambient_c : ndarray, time
        Ambient temperature [°C].
    step_min : float
        Step of the history [min]; split internally into steps of at most τw/2.
    p : ThermalParameters
        Transformer thermal characteristics.
    upgraded_paper : bool
        Ageing of thermally upgraded paper instead of normal Kraft paper.
    steps_per_day : int, optional
        History steps per day for ``daily_max_hot_spot_c`` (default 24·60/step_min).

    Notes
    -----
    The start is the steady state of the first step's load and ambient.
    """
    k = np.ascontiguousarray(np.nan_to_num(np.asarray(load_pu, dtype=np.float64)))
    if k.ndim == 1:
        k = k[:, None]
    amb = np.ascontiguousarray(np.asarray(ambient_c, dtype=np.float64))
    sub = max(1, int(np.ceil(step_min / (0.5 * min(p.tau_winding_min, p.tau_oil_min)))))
    per_day = steps_per_day or int(round(24 * 60 / step_min))
    n_days = int(np.ceil(len(k) / per_day))
    lol, vmax, above, daily = _difference_equations(
        k, amb, step_min / sub, sub, per_day, n_days, p.top_oil_rise_k, p.hot_spot_gradient_k,
        p.loss_ratio, p.oil_exponent, p.winding_exponent, p.tau_oil_min, p.tau_winding_min,
        p.k11, p.k21, p.k22, np.array(HOT_SPOT_LIMITS_C), upgraded_paper)
    hours = len(k) * step_min / 60.0
    return ThermalYear(loss_of_life_h=lol, mean_ageing_rate=lol / hours, max_hot_spot_c=vmax,
                       hours_above_c={lim: above[i] for i, lim in enumerate(HOT_SPOT_LIMITS_C)},
                       daily_max_hot_spot_c=daily)


@numba.njit(cache=True)
def _difference_equations(k, amb, dt, sub, per_day, n_days, d_or, hgr, r, x, y, tau_o, tau_w,
                          k11, k21, k22, limits, upgraded):  # pragma: no cover (numba)
    n_t, n = k.shape
    lol = np.zeros(n)
    vmax = np.full(n, -np.inf)
    above = np.zeros((len(limits), n))
    daily = np.full((n_days, n), -np.inf)
    d_o = np.empty(n)
    h1 = np.empty(n)
    h2 = np.empty(n)
    for j in range(n):  # steady state of the first step
        d_o[j] = d_or * ((1 + r * k[0, j] ** 2) / (1 + r)) ** x
        h1[j] = k21 * hgr * k[0, j] ** y
        h2[j] = (k21 - 1) * hgr * k[0, j] ** y
    step_h = dt * sub / 60.0
    for t in range(n_t):
        day = t // per_day
        for j in range(n):
            kk = k[t, j]
            oil_target = d_or * ((1 + r * kk * kk) / (1 + r)) ** x
            hs = hgr * kk ** y
            v_sum = 0.0
            hot_max = -np.inf
            for _ in range(sub):
                d_o[j] += dt / (k11 * tau_o) * (oil_target - d_o[j])
                h1[j] += dt / (k22 * tau_w) * (k21 * hs - h1[j])
                h2[j] += dt / (tau_o / k22) * ((k21 - 1) * hs - h2[j])
                hot = amb[t] + d_o[j] + h1[j] - h2[j]
                if upgraded:
                    v_sum += np.exp(15000.0 / 383.0 - 15000.0 / (hot + 273.0))
                else:
                    v_sum += 2.0 ** ((hot - 98.0) / 6.0)
                if hot > hot_max:
                    hot_max = hot
            lol[j] += v_sum / sub * step_h
            if hot_max > vmax[j]:
                vmax[j] = hot_max
            if hot_max > daily[day, j]:
                daily[day, j] = hot_max
            for i in range(len(limits)):
                if hot_max > limits[i]:
                    above[i, j] += step_h
    return lol, vmax, above, daily
