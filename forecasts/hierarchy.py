"""Coherent forecasts over a hierarchy: bottom-up and reconciliation with the summing matrix.

Base forecasts ``ŷ`` of every node (nodes × anything: issue times, horizons) are made
coherent -- every node equal to the sum of the bottom nodes under it -- by the projection

    ỹ = S (S' W⁻¹ S)⁻¹ S' W⁻¹ ŷ                     (Wickramasuriya, Athanasopoulos, Hyndman 2019)

with the summing matrix ``S`` (nodes × bottom nodes, :meth:`forecasts.data.Hierarchy.summing_matrix`)
and a weight matrix ``W``:

* ``ols``: ``W = I``;
* ``wls_struct``: ``W = diag(S·1)``, the number of bottom nodes under each node;
* ``wls_var``: ``W = diag(σ²)``, the variance of each node's in-sample errors;
* ``mint_shrink``: the in-sample error covariance shrunk towards its diagonal with the
  Schäfer–Strimmer intensity (MinT-shrink).

The in-sample errors used by ``wls_var`` and ``mint_shrink`` are those of the one-day seasonal
naive forecast over the history, ``e_t = y_t − y_{t−m}``: available for every node without
refitting, and carrying the cross-correlation of the nodes that MinT exploits.

``bottom_up`` is the special case that keeps the bottom forecasts and sums them up.
Quantiles are moved with their node's mean: a node's interval keeps its own base width and
is shifted by the change the reconciliation made to its mean.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

#: Reconciliation methods understood by :func:`reconcile`.
METHODS = ("bottom_up", "ols", "wls_struct", "wls_var", "mint_shrink")


class ReconciliationError(ValueError):
    """Forecasts that cannot be reconciled; the message says which and why."""


def projection(s: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """``P = S (S' W⁻¹ S)⁻¹ S' W⁻¹`` [-] (nodes × nodes); ``W`` a vector means a diagonal.

    Parameters
    ----------
    s : ndarray
        Summing matrix, nodes × bottom nodes.
    w : ndarray, optional
        Weight matrix (nodes × nodes), or its diagonal (nodes,); identity when None.
    """
    s = np.asarray(s, float)
    n = s.shape[0]
    if w is None:
        w_inv_s = s
    elif np.ndim(w) == 1:
        w = np.asarray(w, float)
        if (w <= 0).any() or not np.isfinite(w).all():
            raise ReconciliationError("weights must be positive and finite")
        w_inv_s = s / w[:, None]
    else:
        w_inv_s = np.linalg.solve(np.asarray(w, float), s)
    if w_inv_s.shape[0] != n:
        raise ReconciliationError(f"W is {np.shape(w)} but S has {n} rows")
    gram = s.T @ w_inv_s  # S' W⁻¹ S (bottom × bottom), symmetric positive definite
    g = np.linalg.solve(gram, w_inv_s.T)  # (S' W⁻¹ S)⁻¹ S' W⁻¹
    return s @ g


def shrunk_covariance(errors: np.ndarray) -> tuple[np.ndarray, float]:
    """Error covariance shrunk towards its diagonal (Schäfer & Strimmer 2005).

    Parameters
    ----------
    errors : ndarray
        time × nodes in-sample errors; rows with a NaN are left out.

    Returns
    -------
    ndarray
        nodes × nodes covariance.
    float
        Shrinkage intensity λ [-] in [0, 1].
    """
    e = np.asarray(errors, float)
    e = e[np.isfinite(e).all(axis=1)]
    t = e.shape[0]
    if t < 3:
        raise ReconciliationError(f"{t} complete rows of in-sample errors; MinT needs at least 3")
    e = e - e.mean(axis=0)
    cov = e.T @ e / t
    sd = np.sqrt(np.diag(cov))
    sd = np.where(sd > 0, sd, 1.0)
    x = e / sd  # standardised errors
    corr = x.T @ x / t
    # variance of the correlation estimates: Var(r_ij) ≈ t/(t−1)³ Σ_t (w_tij − mean w_ij)²
    w2 = (x ** 2).T @ (x ** 2) / t  # mean of w_tij²
    var_r = (w2 - corr ** 2) * t / (t - 1) ** 3 * t
    off = ~np.eye(len(corr), dtype=bool)
    denom = float((corr[off] ** 2).sum())
    lam = 0.0 if denom == 0 else float(np.clip(var_r[off].sum() / denom, 0.0, 1.0))
    shrunk = cov * (1 - lam)
    np.fill_diagonal(shrunk, np.diag(cov))
    return shrunk, lam


def naive_errors(history: np.ndarray, season: int) -> np.ndarray:
    """In-sample errors of the seasonal naive forecast, ``y_t − y_{t−m}`` (time × nodes)."""
    h = np.asarray(history, float)
    if h.shape[0] <= season:
        raise ReconciliationError(f"history of {h.shape[0]} steps is not longer than one "
                                  f"season ({season}); give more history for {season}-step errors")
    return h[season:] - h[:-season]


def weights(method: str, s: np.ndarray, errors: np.ndarray | None = None):
    """The ``W`` of a method: None (identity), a diagonal vector or a full matrix."""
    if method not in METHODS or method == "bottom_up":
        raise ReconciliationError(f"unknown weighting {method!r}; use one of {METHODS[1:]}")
    if method == "ols":
        return None
    if method == "wls_struct":
        return s.sum(axis=1)
    if errors is None:
        raise ReconciliationError(f"{method} needs in-sample errors (give the history)")
    if method == "wls_var":
        var = np.nanvar(errors, axis=0)
        floor = max(float(np.nanmax(var)) * 1e-9, 1e-12)
        return np.where(np.isfinite(var) & (var > floor), var, floor)
    if method == "mint_shrink":
        cov, _ = shrunk_covariance(errors)
        floor = max(float(np.max(np.diag(cov))) * 1e-9, 1e-12)
        return cov + floor * np.eye(len(cov))  # nodes with no variation (e.g. PV at night)
    raise ReconciliationError(f"unknown reconciliation method {method!r}; use one of {METHODS}")


def reconcile_matrix(base: np.ndarray, s: np.ndarray, method: str = "mint_shrink",
                     errors: np.ndarray | None = None) -> np.ndarray:
    """Coherent forecasts from base forecasts (nodes × k) with summing matrix ``S``.

    ``bottom_up`` sums the bottom rows (the rows of ``S`` that are unit vectors, in column
    order); the other methods project with :func:`projection`.
    """
    base = np.asarray(base, float)
    s = np.asarray(s, float)
    if base.shape[0] != s.shape[0]:
        raise ReconciliationError(f"{base.shape[0]} base forecasts for {s.shape[0]} nodes")
    if not np.isfinite(base).all():
        bad = np.flatnonzero(~np.isfinite(base).all(axis=1))
        raise ReconciliationError(f"base forecasts of node rows {bad[:10].tolist()} are not "
                                  "finite; fill or drop them before reconciling")
    if method == "bottom_up":
        return s @ base[bottom_rows(s)]
    if method not in METHODS:
        raise ReconciliationError(f"unknown reconciliation method {method!r}; use one of "
                                  f"{METHODS}")
    return projection(s, weights(method, s, errors)) @ base


def bottom_rows(s: np.ndarray) -> np.ndarray:
    """Row of ``S`` that is each bottom node itself (the unit vector of its column)."""
    s = np.asarray(s)
    unit = (s.sum(axis=1) == 1)
    rows = np.full(s.shape[1], -1)
    for r in np.flatnonzero(unit):
        c = int(np.argmax(s[r]))
        if rows[c] < 0:
            rows[c] = r
    if (rows < 0).any():
        raise ReconciliationError(f"bottom nodes {np.flatnonzero(rows < 0)[:10].tolist()} have "
                                  "no row of their own in S")
    return rows


def reconcile(ds: xr.Dataset, s: pd.DataFrame, method: str = "mint_shrink",
              history: pd.DataFrame | None = None, season: int = 24) -> xr.Dataset:
    """Reconcile a forecast dataset of every node of a hierarchy.

    Parameters
    ----------
    ds : Dataset
        From :func:`forecasts.runner.run_forecasts` over every node of the hierarchy: ``mean``
        (series × issue_time × horizon) and ``forecast`` (… × quantile).
    s : DataFrame
        Summing matrix (nodes × bottom nodes); its index names the series of ``ds``.
    method : str
        One of :data:`METHODS`.
    history : DataFrame, optional
        time × node history, for the in-sample errors of ``wls_var`` and ``mint_shrink``.
    season : int
        Lag of the in-sample naive errors [steps] (24 for hourly data: one day).

    Returns
    -------
    Dataset
        Same layout, coherent ``mean`` and shifted ``forecast``; ``attrs['reconciliation']``
        names the method.
    """
    if method not in METHODS:
        raise ReconciliationError(f"unknown reconciliation method {method!r}; use one of "
                                  f"{METHODS}")
    nodes = [str(n) for n in s.index]
    missing = sorted(set(nodes) - set(ds.series.values.astype(str)))
    if missing:
        raise ReconciliationError(f"{len(missing)} nodes of the hierarchy have no base forecast:"
                                  f" {missing[:10]}")
    ds = ds.sel(series=nodes)
    errors = None
    if method in ("wls_var", "mint_shrink"):
        if history is None:
            raise ReconciliationError(f"{method} needs the history of every node")
        errors = naive_errors(history[nodes].to_numpy(), season)
    mean = ds["mean"].transpose("series", ...)
    flat = mean.values.reshape(len(nodes), -1)
    coherent = reconcile_matrix(flat, s.to_numpy(), method, errors).reshape(mean.shape)
    out = ds.copy()
    out["mean"] = mean.copy(data=coherent)
    shift = out["mean"] - ds["mean"]
    out["forecast"] = ds["forecast"] + shift
    for name in ("mean", "forecast"):
        out[name].attrs = dict(ds[name].attrs)
    out.attrs["reconciliation"] = method
    return out
