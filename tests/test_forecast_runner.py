"""The Dask forecast runner on a real 2-worker LocalCluster: fallbacks, a killed worker, saving."""

from __future__ import annotations

import os
import signal
import threading

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from forecasts import data, models, runner
from forecasts.place import place_of_city
from twin.parallel import dask_client


@pytest.fixture(scope="module")
def client():
    with dask_client(n_workers=2) as c:
        yield c


@pytest.fixture(scope="module")
def feeders(sample_store, city):
    from twin.scenario import profiles_of

    return data.electric_series(sample_store, city, profiles_of(city), step="1h")


@pytest.fixture(scope="module")
def place(city):
    return place_of_city(city)


@pytest.fixture(scope="module")
def plan(city):
    return models.horizon_plan("day-ahead", pd.Timedelta("1h"), city.timezone,
                               target_day="2016-07-24")


def test_bad_series_fall_back_and_never_fail_the_batch(client, feeders, plan, place):
    values = feeders.level("feeder").iloc[:, :2].copy()
    values["bad:all_nan"] = np.nan
    values["bad:constant"] = 5.0
    recent = values.index >= plan.origin - pd.Timedelta("5D")  # 5 days: daily naive only
    values["bad:too_short"] = np.where(recent, values.iloc[:, 0], np.nan)
    ds = runner.run_forecasts(values, [plan.origin], plan.horizon, "mstl_ets",
                              unit=feeders.units_label, batch_size=2, client=client,
                              place=place)
    used = ds["model_used"].isel(issue_time=0).to_series()
    reason = ds["fallback_reason"].isel(issue_time=0).to_series()
    assert (used.iloc[:2] == "mstl_ets").all() and (reason.iloc[:2] == "").all()
    assert used["bad:all_nan"] == "none" and "no values" in reason["bad:all_nan"]
    assert np.isnan(ds["mean"].sel(series="bad:all_nan")).all()
    assert used["bad:constant"] == "seasonal_naive_weekly" and "constant" in reason["bad:constant"]
    np.testing.assert_allclose(ds["mean"].sel(series="bad:constant"), 5.0)
    assert used["bad:too_short"] == "seasonal_naive_daily"
    assert "too short" in reason["bad:too_short"]
    # a forecast made on a worker equals the model called here directly
    first = values.columns[0]
    direct = models.forecast(values[first][values.index < plan.origin], plan.horizon,
                             "mstl_ets", place=place)
    np.testing.assert_allclose(ds["mean"].sel(series=first).values[0], direct["mean"], rtol=1e-9)
    np.testing.assert_allclose(ds["forecast"].sel(series=first).values[0],
                               direct[[0.1, 0.5, 0.9]], rtol=1e-9)
    for name in ds.data_vars:
        assert "units" in ds[name].attrs
    assert ds.valid_time.values[0, 0] == np.datetime64(plan.origin.tz_localize(None))


def test_weather_reaches_the_models_on_the_workers(client, feeders, plan, place):
    """With the day-ahead weather, a worker's forecast equals the model given the same
    weather here, and differs from the forecast without it."""
    from forecasts import features

    values = feeders.level("feeder").iloc[:, :2]
    index = pd.date_range(values.index[0], plan.origin + plan.horizon * pd.Timedelta("1h"),
                          freq="1h")
    weather = features.tmy3_weather(index, place, "forecast")
    ds = runner.run_forecasts(values, [plan.origin], plan.horizon, "regression_profile",
                              batch_size=1, client=client, exog=weather, place=place)
    first = values.columns[0]
    hist = values[first][values.index < plan.origin]
    direct = models.forecast(hist, plan.horizon, "regression_profile", exog=weather,
                             exog_future=weather, place=place)
    blind = models.forecast(hist, plan.horizon, "regression_profile", place=place)
    np.testing.assert_allclose(ds["mean"].sel(series=first).values[0], direct["mean"], rtol=1e-9)
    assert np.abs(direct["mean"].to_numpy() - blind["mean"].to_numpy()).max() > 1e-3


def test_killed_worker_loses_and_duplicates_nothing(client, feeders, plan, place):
    values = feeders.level("load").iloc[:, :12]
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    killed = threading.Event()

    def kill():  # once tasks are running: SIGKILL one worker process
        os.kill(victim, signal.SIGKILL)
        killed.set()

    ds = runner.run_forecasts(values, [plan.origin], plan.horizon, "mstl_ets", batch_size=2,
                              client=client, on_running=kill, place=place)
    assert killed.is_set()
    assert list(ds.series.values) == list(values.columns)  # each once, in order
    assert ds.attrs["duplicates_ignored"] >= 0
    assert np.isfinite(ds["mean"].values).all()
    # identical to the serial loop of the same work
    serial = runner.run_serial(values.iloc[:, [0, 11]], [plan.origin], plan.horizon,
                               "mstl_ets", place=place)
    np.testing.assert_allclose(ds["mean"].sel(series=serial.series).values,
                               serial["mean"].values, rtol=1e-9)
    assert victim not in client.run(os.getpid).values()


def test_saved_next_to_the_store_and_reopened(client, feeders, plan, place, tmp_path):
    values = feeders.level("city")
    ds = runner.run_forecasts(values, [plan.origin, plan.origin - pd.Timedelta("1D")],
                              plan.horizon, "seasonal_naive_weekly", client=client,
                              place=place)
    url = runner.save_forecasts(ds, str(tmp_path / "store"), "city-day-ahead")
    assert url.endswith("store/forecasts/city-day-ahead.nc")
    back = runner.open_forecasts(url)
    xr.testing.assert_allclose(back[["mean", "forecast"]], ds[["mean", "forecast"]])
    assert back["mean"].attrs["units"] == ds["mean"].attrs["units"]
    mem = runner.save_forecasts(ds, "memory://h9store", "x")
    assert runner.open_forecasts(mem)["model_used"].values.tolist() == \
        ds["model_used"].values.tolist()
    with pytest.raises(runner.ForecastRunError, match="no forecast saved"):
        runner.open_forecasts(str(tmp_path / "nothing.nc"))


def test_input_errors_are_clear(feeders, plan, place):
    values = feeders.level("city")
    with pytest.raises(runner.ForecastRunError, match="unknown model"):
        runner.run_forecasts(values, [plan.origin], 24, "crystal_ball", client=object(),
                             place=place)
    with pytest.raises(runner.ForecastRunError, match="horizon"):
        runner.run_serial(values, [plan.origin], 0, place=place)
    with pytest.raises(runner.ForecastRunError, match="place of the series"):
        runner.run_serial(values, [plan.origin], 24)
