"""Weather for the load models: units, holes, and what a model does without it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasts.backtest import backtest_forecasts
from forecasts.place import Place, PlaceError, place_of_city, zone_country
from forecasts.weather import WeatherError, WeatherInputs, on_grid, split_exog, to_celsius


def test_fahrenheit_and_kelvin_become_celsius_and_other_units_are_refused():
    f = pd.Series([32.0, 212.0, -40.0])
    c, note = to_celsius(f, "degF", "WX.X.temp_air")
    np.testing.assert_allclose(c, [0.0, 100.0, -40.0])
    assert "converted from degF" in note
    k, _ = to_celsius(pd.Series([273.15]), "K", "t")
    assert k.iloc[0] == pytest.approx(0.0)
    assert to_celsius(f, "degC", "t") == (f, "")
    with pytest.raises(WeatherError, match="not a temperature unit"):
        to_celsius(f, "W/m2", "WX.X.temp_air")


def test_short_holes_are_interpolated_long_ones_stay_empty():
    t = pd.date_range("2019-01-01", periods=48, freq="1h", tz="UTC")
    values = pd.Series(np.arange(48.0), index=t)
    values.iloc[5:8] = np.nan  # 3 h: filled
    values.iloc[20:30] = np.nan  # 10 h: left empty
    got, empty = on_grid(values, t)
    np.testing.assert_allclose(got.iloc[5:8], [5.0, 6.0, 7.0])
    assert got.iloc[20:30].isna().all() and empty == 10
    half = t[:4] + pd.Timedelta("30min")  # between readings: time interpolation
    np.testing.assert_allclose(on_grid(values, half)[0], [0.5, 1.5, 2.5, 3.5])


def test_measured_and_forecast_weather_are_kept_apart():
    t = pd.date_range("2019-01-01", periods=4, freq="1h", tz="UTC")
    measured = pd.DataFrame({"temp_air": [1.0, 2, 3, 4]}, index=t)
    forecast = measured + 10
    past, ahead = split_exog(WeatherInputs(measured, forecast, [], "S"))
    assert past is measured and ahead is forecast
    ex_post = WeatherInputs(measured, None, [], "S")
    assert split_exog(ex_post) == (measured, measured) and ex_post.ex_post
    assert "ex post" in ex_post.describe()


def test_a_model_without_its_weather_falls_back_and_says_so():
    idx = pd.date_range("2019-01-07", periods=24 * 7 * 5, freq="1h", tz="UTC")
    rng = np.random.default_rng(2)
    y = pd.Series(10 + np.sin(2 * np.pi * np.arange(len(idx)) / 24) + rng.normal(0, .1, len(idx)),
                  index=idx)
    temp = pd.DataFrame({"temp_air": 5.0 + rng.normal(0, 1, len(idx))}, index=idx)
    temp.iloc[-24 * 3:] = np.nan  # the station stopped three days before the end
    table, failures, _ = backtest_forecasts({"L": y}, ["sarimax_fourier"], weeks=1,
                                            exog=temp, place="Europe/Berlin",
                                            calibration_days=0)
    failed = failures[failures["model"] == "sarimax_fourier"]
    assert len(failed) >= 3 and (failed["fallback"] == "seasonal_naive_weekly").all()
    assert failed["error"].str.contains("temp_air").all()
    scored = table[table["model"] == "sarimax_fourier"]
    assert scored["origin"].nunique() == 7  # every day scored, the failed ones by the baseline
    assert set(scored["used"]) == {"sarimax_fourier", "seasonal_naive_weekly"}


def test_place_of_a_city_and_its_holidays(city):
    place = place_of_city(city)
    assert place.timezone == "America/New_York" and place.country == "US"
    days = pd.DatetimeIndex(["2016-07-04T16:00Z", "2016-07-05T16:00Z"])
    assert place.holiday_flags(days).tolist() == [True, False]
    uk = Place("Europe/London", country="GB", subdiv="ENG")
    assert uk.holiday_flags(pd.DatetimeIndex(["2019-08-26T12:00Z"])).tolist() == [True]
    assert zone_country("Europe/London") == "GB" and zone_country("UTC") is None
    with pytest.raises(PlaceError, match="IANA"):
        Place("Mars/Olympus")
    with pytest.raises(PlaceError, match="holidays"):
        Place("Europe/London", country="XX")
