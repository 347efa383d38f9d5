"""Series per level and their reconciliation: hand-computed cases and the sample city."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecasts import data, hierarchy

# total = a + b: rows (total, a, b), columns (a, b)
S3 = np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
BASE3 = np.array([10.0, 4.0, 5.0])  # incoherent by 1


def test_three_series_by_hand():
    # OLS: S'S = [[2,1],[1,2]], S'ŷ = [14, 15] -> b = [13/3, 16/3], total 29/3
    ols = hierarchy.reconcile_matrix(BASE3[:, None], S3, "ols")[:, 0]
    np.testing.assert_allclose(ols, [29 / 3, 13 / 3, 16 / 3], rtol=1e-12)
    # WLS structural: W = diag(2,1,1) -> S'W⁻¹S = [[1.5,.5],[.5,1.5]], S'W⁻¹ŷ = [9, 10]
    wls = hierarchy.reconcile_matrix(BASE3[:, None], S3, "wls_struct")[:, 0]
    np.testing.assert_allclose(wls, [9.5, 4.25, 5.25], rtol=1e-12)
    bu = hierarchy.reconcile_matrix(BASE3[:, None], S3, "bottom_up")[:, 0]
    np.testing.assert_allclose(bu, [9.0, 4.0, 5.0])


def test_projection_is_a_projection_onto_coherent_forecasts():
    rng = np.random.default_rng(1)
    errors = rng.standard_normal((200, 3)) @ np.array([[1, 0.5, 0.5], [0, 1, 0.2], [0, 0, 1]])
    w = hierarchy.weights("mint_shrink", S3, errors)
    p = hierarchy.projection(S3, w)
    np.testing.assert_allclose(p @ p, p, atol=1e-12)
    np.testing.assert_allclose(p @ S3, S3, atol=1e-12)  # coherent forecasts are kept


def test_shrinkage_of_independent_errors_is_strong():
    rng = np.random.default_rng(2)
    cov, lam = hierarchy.shrunk_covariance(rng.standard_normal((60, 20)))
    assert lam > 0.5  # sample correlations of independent series are noise
    strong = rng.standard_normal((500, 1)) + 0.1 * rng.standard_normal((500, 3))
    _, lam_strong = hierarchy.shrunk_covariance(strong)
    assert lam_strong < 0.05


def test_bad_base_forecasts_are_named():
    with pytest.raises(hierarchy.ReconciliationError, match="base forecasts for"):
        hierarchy.reconcile_matrix(np.ones((2, 1)), S3)
    with pytest.raises(hierarchy.ReconciliationError, match="not finite"):
        hierarchy.reconcile_matrix(np.array([[1.0], [np.nan], [1.0]]), S3)
    with pytest.raises(hierarchy.ReconciliationError, match="unknown"):
        hierarchy.reconcile_matrix(BASE3[:, None], S3, "magic")


@pytest.fixture(scope="module")
def electric(sample_store, city):
    from twin.scenario import profiles_of

    return data.electric_series(sample_store, city, profiles_of(city), step="1h")


def test_electric_levels_match_the_store_and_the_register(electric, sample_store, city):
    levels = electric.hierarchy.nodes()
    assert set(levels) == {"meter", "load", "feeder", "city"}
    # store series the register does not place are reported as unmapped, not used
    cust = city.customers
    stored = set(sample_store.read("electric_interval").series_id.astype(str))
    assert set(electric.unmapped) == stored - set(cust.electric_meter_id)
    assert len(stored) == len(electric.unmapped) + int(electric.source.str.startswith("store").sum())
    # a metered load, summed independently from the raw store rows and the customer register
    meters = [m for m in cust[cust["load"] == 1].electric_meter_id
              if f"meter:{m}" in electric.bottom.columns]
    assert len(meters) >= 5
    rows = sample_store.read("electric_interval", series=meters)
    rows = rows[rows.quality_flag != "failed"]
    hour = rows.time_utc.dt.floor("1h")
    hourly = rows.groupby(hour)["value"].sum()
    complete = rows.groupby(hour).size()
    full = complete.index[complete == 4 * len(meters)]
    ours = electric.level("load")["load:1"]
    # nodes the interpolation did not touch equal the plain sum of the store's readings
    touched = electric.bottom[[f"meter:{m}" for m in meters]].isna().any(axis=1)
    keep = full[~touched.reindex(full).to_numpy()]
    assert len(keep) > 400
    np.testing.assert_allclose(ours[keep], hourly[keep], rtol=1e-9)
    # feeders from net.bus.feeder agree with the register's feeder of every customer
    feeder_of = electric.hierarchy.parents["feeder"]
    for m, f in zip(cust.electric_meter_id, cust.feeder, strict=True):
        if f"meter:{m}" in feeder_of.index:
            assert feeder_of[f"meter:{m}"] == f"feeder:{f}"


def test_reconciled_sample_city_forecasts_add_up_exactly(electric):
    history = electric.all_levels()
    s = electric.hierarchy.summing_matrix()
    rng = np.random.default_rng(3)
    truth = history.iloc[-24:].to_numpy().T  # nodes × 24 "forecasts"
    base = truth * (1 + 0.05 * rng.standard_normal(truth.shape))
    ds = xr.Dataset(
        {"mean": (("series", "issue_time", "horizon"), base[:, None, :], {"units": "kWh"}),
         "forecast": (("series", "issue_time", "horizon", "quantile"),
                      np.stack([base * 0.9, base, base * 1.1], -1)[:, None], {"units": "kWh"})},
        coords={"series": np.asarray(s.index), "issue_time": [0], "horizon": np.arange(24),
                "quantile": [0.1, 0.5, 0.9]})
    hist = history.iloc[:-24]
    for method in hierarchy.METHODS:
        out = hierarchy.reconcile(ds, s, method, history=hist)
        mean = out["mean"].isel(issue_time=0).values
        bottom = out["mean"].sel(series=list(s.columns)).isel(issue_time=0).values
        np.testing.assert_allclose(mean, s.to_numpy() @ bottom, rtol=1e-9, atol=1e-6)
        width = (out["forecast"].sel(quantile=0.9) - out["forecast"].sel(quantile=0.1))
        width0 = ds["forecast"].sel(quantile=0.9) - ds["forecast"].sel(quantile=0.1)
        np.testing.assert_allclose(width.values, width0.values, atol=1e-6)
        assert out["mean"].attrs["units"] == "kWh"
    city_err = abs(out["mean"].sel(series="city").values[0] - truth[0]).mean()
    base_err = abs(base[0] - truth[0]).mean()
    assert city_err < 2 * base_err  # reconciliation does not wreck the top level


def test_missing_series_are_named():
    frame = pd.DataFrame({"load:1": [1.0], "load:2": [2.0]})
    with pytest.raises(data.ForecastDataError, match="load:99"):
        data.select_series(frame, ["load:1", "load:99"])
    with pytest.raises(data.ForecastDataError, match="unknown level"):
        data.hierarchy_of_level("street")
