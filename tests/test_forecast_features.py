"""Forecast features against hand-computed values and published formulas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasts import features
from forecasts.place import Place
from twin.electric.pv import reference_weather

TZ = "America/New_York"
#: The sample city's clock with the US holiday calendar.
US = Place(TZ, country="US")


def test_calendar_local_hour_weekday_and_federal_holiday():
    # 2016-07-04 16:00 UTC is noon EDT on Independence Day, a Monday
    idx = pd.DatetimeIndex(["2016-07-04T16:00Z", "2016-07-05T03:30Z", "2016-07-09T16:00Z"])
    cal = features.calendar_features(idx, US)
    assert cal["hour"].tolist() == [12.0, 23.5, 12.0]
    assert cal["weekday"].tolist() == [0, 0, 5]  # 23:30 local on 4 July is still Monday
    assert cal["is_holiday"].tolist() == [1, 1, 0]
    assert cal["is_day_off"].tolist() == [1, 1, 1]
    assert features.day_type(idx, US).tolist() == [2, 2, 1]


def test_thanksgiving_and_ordinary_day():
    idx = pd.DatetimeIndex(["2016-11-24T17:00Z", "2016-11-23T17:00Z"])  # Thu, Wed
    assert features.calendar_features(idx, US)["is_holiday"].tolist() == [1, 0]


def test_fourier_terms_phase_and_orthogonality():
    idx = pd.date_range("2016-07-04 04:00", periods=24 * 7, freq="h", tz="UTC")  # local Monday 0h
    daily = features.fourier_terms(idx, "1D", 2, TZ)
    assert daily.iloc[0]["daily_sin1"] == pytest.approx(0.0, abs=1e-9)
    assert daily.iloc[0]["daily_cos1"] == pytest.approx(1.0)
    assert daily.iloc[6]["daily_sin1"] == pytest.approx(1.0)  # 06:00 local = quarter day
    gram = daily.T.to_numpy() @ daily.to_numpy() / len(daily)
    np.testing.assert_allclose(gram, 0.5 * np.eye(4), atol=1e-9)
    weekly = features.fourier_terms(idx, "7D", 1, TZ)
    assert weekly.iloc[0]["weekly_cos1"] == pytest.approx(1.0)  # Monday local midnight


def test_degree_hours_around_balance_temperature():
    temp = pd.Series([10.0, 18.3, 25.0])
    dh = features.degree_hours(temp)
    np.testing.assert_allclose(dh["hdd"], [8.3, 0.0, 0.0])
    np.testing.assert_allclose(dh["cdd"], [0.0, 0.0, 6.7])


def test_lagged_load():
    y = pd.Series(np.arange(5.0))
    lag = features.lagged(y, [1, 2])
    assert lag["lag2"].tolist()[2:] == [0.0, 1.0, 2.0]
    assert np.isnan(lag["lag1"].iloc[0])


def test_profile_dummies_one_slot_each():
    idx = pd.date_range("2016-07-01", periods=24 * 7, freq="h", tz="UTC")
    d = features.profile_dummies(idx, US, pd.Timedelta("1h"))
    assert d.shape == (len(idx), 72)
    assert (d.sum(axis=1) == 1).all()
    assert d.loc["2016-07-04T16:00Z", "d2_s12"] == 1  # holiday noon


def test_sun_elevation_at_solar_noon_matches_declination_formula():
    # at solar noon on the June solstice the elevation is 90° − |latitude − 23.44°|
    lat, lon = 36.1, -79.95
    noon = pd.Timestamp("2016-06-20T12:00Z") + pd.Timedelta(hours=-lon / 15)
    idx = pd.date_range(noon - pd.Timedelta("20min"), noon + pd.Timedelta("20min"), freq="1min")
    elevation = features.sun_position(idx, lat, lon)["apparent_elevation"].max()
    assert elevation == pytest.approx(90 - abs(lat - 23.44), abs=0.3)


def test_clear_sky_zero_at_night_and_plausible_at_noon():
    idx = pd.date_range("2016-06-20", periods=24, freq="h", tz="UTC")
    ghi = features.clear_sky_reference(idx, 36.1, -79.95)
    assert ghi.loc["2016-06-20T06:00Z"] == 0.0  # 02:00 local
    assert 850 < ghi.max() < 1100  # clear-sky GHI at a mid-latitude noon in June


def test_clearsky_index_of_a_scaled_clear_sky_output():
    idx = pd.date_range("2016-06-20", periods=24 * 4, freq="15min", tz="UTC")
    cs = features.clear_sky_reference(idx, 36.1, -79.95) * 0.005
    csi = features.clearsky_index(0.6 * cs, cs)
    day = cs > 0.2 * cs.max()
    np.testing.assert_allclose(csi[day], 0.6)
    assert csi[cs == 0].isna().all()
    assert features.clearsky_power_scale(cs, cs / 0.005) == pytest.approx(0.005)


def test_tmy3_temperature_is_the_record():
    weather, _ = reference_weather(2016)
    idx = weather.index[4000:4010]  # TMY3 hours, stamped at the half hour
    np.testing.assert_allclose(features.tmy3_temperature(idx), weather["temp_air"].iloc[4000:4010])
    mid = idx[:-1] + pd.Timedelta("30min")
    between = features.tmy3_temperature(mid).to_numpy()
    expected = (weather["temp_air"].iloc[4000:4009].to_numpy()
                + weather["temp_air"].iloc[4001:4010].to_numpy()) / 2
    np.testing.assert_allclose(between, expected)


def test_load_features_columns():
    idx = pd.date_range("2016-07-01", periods=48, freq="h", tz="UTC")
    x = features.load_features(idx, US, pd.Series(20.0, index=idx))
    assert {"daily_sin4", "weekly_cos3", "is_day_off", "hdd", "cdd"} <= set(x.columns)
    assert x["cdd"].iloc[0] == pytest.approx(1.7)


def test_tmy3_irradiance_is_the_ghi_of_each_hour():
    weather, _ = reference_weather(2016)
    tmy = weather["ghi"].iloc[4000:4048]  # two days, stamped at the half hour
    idx = tmy.index - pd.Timedelta("30min")  # hourly means labelled by their start
    clear = features.clear_sky_reference(idx, *features.tmy3_station()[:2]).to_numpy()
    ghi = features.tmy3_irradiance(idx).to_numpy()
    lit = clear >= features.MIN_CLEAR_GHI_W_M2
    assert lit.sum() > 15
    np.testing.assert_allclose(ghi[lit], tmy.to_numpy()[lit], atol=1e-6)
    # a quarter-hour inside an hour carries that hour's clear-sky index
    quarters = pd.date_range(idx[lit][3], periods=4, freq="15min")
    kt = tmy.to_numpy()[lit][3] / clear[lit][3]
    np.testing.assert_allclose(features.tmy3_irradiance(quarters),
                               kt * features.clear_sky_reference(quarters, *features.tmy3_station()[:2]))


def test_ar1_noise_has_unit_variance_and_its_lag_one_correlation():
    e = features.ar1_noise(np.random.default_rng(1), 200_000, 0.8)
    assert e.var() == pytest.approx(1.0, abs=0.03)
    assert np.corrcoef(e[1:], e[:-1])[0, 1] == pytest.approx(0.8, abs=0.01)


def test_irradiance_forecast_error_is_sized_by_its_skill_over_persistence():
    idx = pd.date_range("2016-01-01", "2016-12-31 23:00", freq="h", tz="UTC")
    measured = features.tmy3_irradiance(idx).to_numpy()
    forecast = features.tmy3_irradiance_forecast(idx).to_numpy()
    clear = features.clear_sky_reference(idx, *features.tmy3_station()[:2]).to_numpy()
    lit = clear >= features.MIN_CLEAR_GHI_W_M2
    kt = np.divide(measured, clear, out=np.zeros_like(clear), where=lit)
    persistence = np.r_[kt[:24], kt[:-24]] * clear  # yesterday's clear-sky index, today's sun
    rmse_fc = np.sqrt(np.mean((forecast - measured)[lit] ** 2))
    rmse_p = np.sqrt(np.mean((persistence - measured)[lit] ** 2))
    assert 1 - rmse_fc / rmse_p == pytest.approx(features.NWP_GHI_SKILL, abs=0.02)
    # one archived forecast per hour: the same hour asked in another window is the same
    part = idx[5000:5100]
    np.testing.assert_allclose(features.tmy3_irradiance_forecast(part), forecast[5000:5100])
    assert (forecast >= 0).all() and (forecast[~lit] <= 3 * features.MIN_CLEAR_GHI_W_M2).all()
