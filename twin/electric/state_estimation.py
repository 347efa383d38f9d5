"""State estimation of the grid from SCADA and pseudo-measurements, with bad-data detection.

An MV grid has few real-time measurements: the substation busbar voltage and the active and
reactive power into each feeder at its head (SCADA). That is far from enough to estimate the
state, so every load and generator gets a pseudo-measurement of its injection from its meters
or its forecast, with a wide standard deviation (30 % by default). Buses with nothing connected
are zero-injection buses, which pandapower's estimator handles exactly.

The weighted-least-squares estimator is pandapower's (``pandapower.estimation``). Bad data is
detected with the chi² test of the weighted residual sum J(x) against its
chi²(m − n) quantile, and identified and removed one measurement at a time by the largest
normalised residual test (r_N,i = |r_i| / sqrt(Ω_ii) above 3, the textbook threshold; Abur and
Expósito, *Power System State Estimation*, 2004, ch. 5).

Measurements are a table (:data:`MEASUREMENT_COLUMNS`) so that callers can build them from the
store, a forecast or a power flow, and so flagged ones can be reported by name.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np
import pandapower as pp
import pandas as pd
from pandapower.estimation.state_estimation import StateEstimation
from scipy.stats import chi2

#: Columns of a measurement table; powers follow pandapower's measurement convention
#: (bus injections in the load reference: consumption positive; line flows into the line at
#: ``side``).
MEASUREMENT_COLUMNS = ["name", "meas_type", "element_type", "element", "side", "value",
                       "std_dev", "source"]
#: Standard deviations of SCADA instruments: voltage [p.u.], power as a fraction of the value
#: with a floor [MW / Mvar].
SCADA_V_STD_PU = 0.004
SCADA_POWER_REL_STD = 0.01
SCADA_POWER_MIN_STD_MW = 0.005
#: Standard deviation of a smart meter's voltage read referred to its MV bus [p.u.].
AMI_V_STD_PU = 0.01
#: Standard deviation of pseudo-measurements as a fraction of the value, with a floor [MW].
PSEUDO_REL_STD = 0.30
PSEUDO_MIN_STD_MW = 0.002


class StateEstimationError(RuntimeError):
    """The estimator could not solve: too few measurements, or inconsistent ones."""


@dataclass(frozen=True)
class StateEstimate:
    """What the estimator found.

    Attributes
    ----------
    vm_pu, va_degree : Series
        Estimated voltage magnitude [p.u.] and angle [degree] per bus.
    bad_data_detected : bool
        The chi² test or the largest normalised residual test rejected the measurements as
        first given.
    chi2_alarm : bool
        The chi² test alone rejected them (J(x) above its quantile).
    flagged : DataFrame
        Measurements removed by the largest normalised residual test, in removal order.
    measurements_used : int
        Measurements left in the final estimate.
    objective : float
        Weighted residual sum J(x) of the final estimate [-].
    chi2_threshold : float
        The chi² quantile J(x) is tested against [-].
    """

    vm_pu: pd.Series
    va_degree: pd.Series
    bad_data_detected: bool
    chi2_alarm: bool
    flagged: pd.DataFrame
    measurements_used: int
    objective: float
    chi2_threshold: float


def _power_std(value, rel: float, floor: float) -> np.ndarray:
    return np.maximum(np.abs(np.asarray(value, dtype=float)) * rel, floor)


def scada_measurements(
    net: pp.pandapowerNet,
    feeder_p_mw: pd.Series,
    feeder_q_mvar: pd.Series | None = None,
    busbar_vm_pu: pd.Series | None = None,
) -> pd.DataFrame:
    """SCADA points as measurements: feeder-head power flows and busbar voltages.

    Parameters
    ----------
    feeder_p_mw, feeder_q_mvar : Series
        Power into each feeder at its head [MW], [Mvar], indexed by feeder name ``F<line>``
        (the names of :func:`twin.electric.network.feeders`, the head line's index).
    busbar_vm_pu : Series, optional
        Measured voltage per bus [p.u.] (substation busbars).
    """
    rows = []
    for quantity, series in (("p", feeder_p_mw), ("q", feeder_q_mvar)):
        if series is None:
            continue
        for feeder, value in series.items():
            line = int(str(feeder).lstrip("F"))
            if line not in net.line.index:
                raise StateEstimationError(
                    f"feeder {feeder}: head line {line} is not in the grid; feeder names are "
                    "F<head line index> as twin.electric.network.feeders gives them")
            bus = net.line.at[line, "from_bus"]
            side = "from" if net.bus.at[bus, "feeder"] == "substation" else "to"
            rows.append((f"{feeder}.{quantity.upper()}", quantity, "line", line, side,
                         float(value), float(_power_std(value, SCADA_POWER_REL_STD,
                                                        SCADA_POWER_MIN_STD_MW)), "scada"))
    flows = pd.DataFrame(rows, columns=MEASUREMENT_COLUMNS)
    if busbar_vm_pu is None:
        return flows
    return pd.concat([flows, voltage_measurements(busbar_vm_pu, SCADA_V_STD_PU, "scada")],
                     ignore_index=True)


def voltage_measurements(vm_pu: pd.Series, std_pu: float, source: str) -> pd.DataFrame:
    """Bus voltage magnitudes as measurements (busbar VTs, or smart meters' voltage reads).

    Parameters
    ----------
    vm_pu : Series
        Measured voltage per bus index [p.u.].
    std_pu : float
        Standard deviation of the instrument [p.u.] (:data:`SCADA_V_STD_PU`,
        :data:`AMI_V_STD_PU`).
    source : str
        ``"scada"``, ``"ami"``, … recorded with each measurement.
    """
    return pd.DataFrame([(f"BUS{bus}.V", "v", "bus", int(bus), None, float(v), float(std_pu),
                          source) for bus, v in vm_pu.items()], columns=MEASUREMENT_COLUMNS)


def pseudo_measurements(
    net: pp.pandapowerNet,
    load_p_mw: pd.Series,
    load_q_mvar: pd.Series,
    sgen_p_mw: pd.Series | None = None,
    rel_std: float = PSEUDO_REL_STD,
) -> pd.DataFrame:
    """Bus injection pseudo-measurements from meters or forecasts of loads and generators.

    Parameters
    ----------
    load_p_mw, load_q_mvar : Series
        Expected consumption per load index [MW], [Mvar].
    sgen_p_mw : Series, optional
        Expected generation per static generator index [MW] (unity power factor).
    rel_std : float
        Standard deviation as a fraction of the bus's gross injection [-].
    """
    bus_of_load = net.load.bus.reindex(load_p_mw.index)
    p = load_p_mw.groupby(bus_of_load.to_numpy()).sum()
    q = load_q_mvar.groupby(net.load.bus.reindex(load_q_mvar.index).to_numpy()).sum()
    gross = load_p_mw.abs().groupby(bus_of_load.to_numpy()).sum()
    if sgen_p_mw is not None and len(sgen_p_mw):
        bus_of_sgen = net.sgen.bus.reindex(sgen_p_mw.index).to_numpy()
        g = sgen_p_mw.groupby(bus_of_sgen).sum()
        p = p.sub(g, fill_value=0.0)
        q = q.reindex(p.index, fill_value=0.0)
        gross = gross.add(sgen_p_mw.abs().groupby(bus_of_sgen).sum(), fill_value=0.0)
    rows = []
    for quantity, series in (("p", p), ("q", q.reindex(p.index, fill_value=0.0))):
        std = _power_std(gross.reindex(series.index).to_numpy(), rel_std, PSEUDO_MIN_STD_MW)
        for (bus, value), s in zip(series.items(), std, strict=True):
            rows.append((f"BUS{bus}.{quantity.upper()}", quantity, "bus", int(bus), None,
                         float(value), float(s), "pseudo"))
    return pd.DataFrame(rows, columns=MEASUREMENT_COLUMNS)


def _with_measurements(net: pp.pandapowerNet, measurements: pd.DataFrame) -> pp.pandapowerNet:
    study = copy.deepcopy(net)
    study.measurement = study.measurement.iloc[0:0]
    for i, m in measurements.iterrows():
        kwargs = {"side": m.side} if isinstance(m.side, str) else {}
        pp.create_measurement(study, m.meas_type, m.element_type, m.value, m.std_dev,
                              int(m.element), name=m["name"], index=int(i), **kwargs)
    return study


@dataclass(frozen=True)
class _Wls:
    """One WLS solution: objective J, degrees of freedom, normalised residual per measurement."""

    objective: float
    dof: int
    normalised_residual: pd.Series
    vm_pu: pd.Series
    va_degree: pd.Series


def _dense(a) -> np.ndarray:
    return np.asarray(a.toarray() if hasattr(a, "toarray") else a, dtype=float)


def _solve_wls(study: pp.pandapowerNet) -> _Wls:
    """Estimate with pandapower's WLS and compute J, its dof and the normalised residuals.

    The zero-injection buses enter the estimate as extra virtual measurements, so they count
    in the degrees of freedom m − n (pandapower's own chi² test leaves them out and gets a
    negative m − n on a sparsely measured distribution grid).
    """
    se = StateEstimation(study, tolerance=1e-6, maximum_iterations=50, algorithm="wls",
                         recycle=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            se.estimate(v_start="flat", delta_start="flat", zero_injection="aux_bus")
        except UserWarning as exc:  # pandapower's way of saying "not observable"
            raise StateEstimationError(
                f"too few measurements to estimate the state ({exc}); add pseudo-measurements "
                "for every load and generator") from exc
        solver = se.solver
        if not solver.successful:
            raise StateEstimationError(
                f"the estimator did not converge with {len(study.measurement)} measurements; "
                "add pseudo-measurements for every load and generator, or check for an "
                "unobservable island")
        r = np.asarray(solver.r, dtype=float).ravel()
        r_inv = _dense(solver.R_inv)
        h, gain = _dense(solver.H), _dense(solver.Gm)
        pp_index = np.asarray(solver.pp_meas_indices)
    objective = float(r @ r_inv @ r)
    n_states = len(solver.eppci.v) + len(solver.eppci.delta) - 1
    variance = np.diag(np.linalg.inv(r_inv))
    omega = variance - np.einsum("ij,ji->i", h, np.linalg.solve(gain, h.T))
    # A critical measurement (omega ~ 0) has no redundancy: its residual is zero by
    # construction and says nothing, so it gets no normalised residual.
    critical = omega <= 1e-9 * variance
    rn = np.where(critical, 0.0, np.abs(r) / np.sqrt(np.where(critical, 1.0, omega)))
    real = np.isin(pp_index, study.measurement.index.to_numpy())  # zero injections are virtual
    rn_real = pd.Series(rn[real], index=pp_index[real]).groupby(level=0).max()
    res = study.res_bus_est
    return _Wls(objective, len(r) - n_states, rn_real, res.vm_pu.copy(), res.va_degree.copy())


def estimate_state(
    net: pp.pandapowerNet,
    measurements: pd.DataFrame,
    detect_bad_data: bool = True,
    rn_max_threshold: float = 3.0,
    chi2_prob_false: float = 0.05,
    max_removals: int = 10,
) -> StateEstimate:
    """Weighted-least-squares state estimate, with chi² detection and LNR removal of bad data.

    Parameters
    ----------
    net : pandapowerNet
        The grid (not changed); its topology and taps as operated.
    measurements : DataFrame
        :data:`MEASUREMENT_COLUMNS`, e.g. :func:`scada_measurements` and
        :func:`pseudo_measurements` concatenated.
    detect_bad_data : bool
        Test for bad data: the chi² test of J(x), and the largest normalised residual test,
        which also identifies: while the largest normalised residual is above
        ``rn_max_threshold``, that measurement is removed and the state estimated again. (With
        hundreds of degrees of freedom the global chi² test misses single gross errors that the
        normalised residuals show, so both are run.)
    rn_max_threshold : float
        Normalised residual above which a measurement is bad [-].
    chi2_prob_false : float
        False-alarm probability of the chi² test [-].
    max_removals : int
        Most measurements removed before giving up [-].

    Notes
    -----
    A measurement whose removal would leave part of the grid unobservable is kept (bad data
    detected but not identified). A measurement whose error can be explained equally well by
    others (a critical set, e.g. a feeder-head flow and the pseudo-injections that sum to it,
    with nothing else on that feeder) gets the same normalised residual as they do: bad data
    there is detected but cannot be told apart without more redundancy.
    """
    missing = set(MEASUREMENT_COLUMNS) - set(measurements.columns)
    if missing:
        raise StateEstimationError(f"measurement table lacks columns {sorted(missing)}")
    table = measurements.reset_index(drop=True)
    study = _with_measurements(net, table)
    wls = _solve_wls(study)
    threshold = chi2.ppf(1.0 - chi2_prob_false, max(wls.dof, 1))
    chi2_alarm = bool(wls.objective > threshold)
    removed: list[int] = []
    residuals: list[float] = []
    while detect_bad_data and len(removed) < max_removals:
        worst = wls.normalised_residual.idxmax()
        if wls.normalised_residual[worst] <= rn_max_threshold:
            break
        kept = study.measurement
        study.measurement = kept.drop(worst)
        try:
            wls_next = _solve_wls(study)
        except StateEstimationError:  # removing it leaves part of the grid unobservable
            study.measurement = kept
            break
        removed.append(int(worst))
        residuals.append(float(wls.normalised_residual[worst]))
        wls = wls_next
        threshold = chi2.ppf(1.0 - chi2_prob_false, max(wls.dof, 1))
    flagged = table.loc[removed].assign(normalised_residual=residuals)
    return StateEstimate(wls.vm_pu, wls.va_degree, chi2_alarm or bool(removed), chi2_alarm,
                         flagged, len(study.measurement), wls.objective, float(threshold))
