"""Forecast models on synthetic series with known seasonality, and their bad-input errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasts import features, metrics
from forecasts.models import (
    MODELS,
    ForecastError,
    day_ahead_origin,
    day_ahead_window,
    deleted_block_residuals,
    forecast,
    horizon_plan,
)
from forecasts.place import Place

TZ = "America/New_York"
#: The sample city's place (Greensboro NC, US holidays), passed to every model as an argument.
PLACE = Place(TZ, 36.1, -79.95, "US")
HOUR = pd.Timedelta("1h")


def hourly(n_days: int, start: str = "2016-05-02") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=24 * n_days, freq="h", tz="UTC", name="time_utc")


def seasonal(idx: pd.DatetimeIndex) -> np.ndarray:
    """Daily sine plus a weekly weekend dip [MW]."""
    t = np.arange(len(idx))
    return 10 + 3 * np.sin(2 * np.pi * t / 24) + 1.5 * np.cos(2 * np.pi * t / 168)


def test_perfect_daily_sine_seasonal_naive_is_exact():
    idx = hourly(21)
    truth = pd.Series(5 + 2 * np.sin(2 * np.pi * np.arange(len(idx) + 48) / 24))
    y = pd.Series(truth.iloc[:len(idx)].to_numpy(), index=idx, name="sine")
    fc = forecast(y, 48, "seasonal_naive_daily", place=PLACE)
    assert list(fc.columns) == ["mean", 0.1, 0.5, 0.9]
    assert fc.index[0] == idx[-1] + HOUR and len(fc) == 48
    future = truth.iloc[len(idx):].to_numpy()
    scale = metrics.seasonal_naive_scale(y.to_numpy(), m=12)  # half-day naive: non-zero scale
    assert metrics.mase(future, fc["mean"], scale=scale) == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(fc[0.1], fc[0.9], atol=1e-12)  # no past error, no width


def test_weekly_naive_intervals_cover_gaussian_noise_at_nominal_rate():
    rng = np.random.default_rng(7)
    idx = hourly(7 * 16)
    y = pd.Series(seasonal(idx) + rng.normal(0, 1.0, len(idx)), index=idx, name="noisy")
    inside, n = 0, 0
    for origin in range(24 * 7 * 8, len(idx) - 24, 24 * 3):
        fc = forecast(y.iloc[:origin], 24, "seasonal_naive_weekly", quantiles=(0.1, 0.9), place=PLACE)
        actual = y.iloc[origin:origin + 24].to_numpy()
        inside += int(((actual >= fc[0.1]) & (actual <= fc[0.9])).sum())
        n += 24
    assert 0.72 <= inside / n <= 0.88  # nominal 0.80, n ≈ 430 correlated values


def test_mstl_ets_beats_weekly_naive_on_seasonal_noise():
    rng = np.random.default_rng(3)
    idx = hourly(7 * 6 + 4)
    y = pd.Series(seasonal(idx) + rng.normal(0, 0.5, len(idx)), index=idx, name="feeder")
    model_err, naive_err, inside = [], [], []
    for end in (len(idx) - 96, len(idx) - 48):
        hist, future = y.iloc[:end], y.iloc[end:end + 48].to_numpy()
        fc = forecast(hist, 48, "mstl_ets", place=PLACE)
        naive = forecast(hist, 48, "seasonal_naive_weekly", place=PLACE)
        model_err.append(np.abs(future - fc["mean"]))
        naive_err.append(np.abs(future - naive["mean"]))
        inside.append((future >= fc[0.1]) & (future <= fc[0.9]))
        assert (fc[0.9] > fc[0.1]).all()
    # weekly naive error sd is sqrt(2)·σ; a model that knows the seasons approaches σ
    assert np.mean(model_err) < 0.9 * np.mean(naive_err)
    assert 0.6 <= np.mean(inside) <= 0.95


def test_stl_arima_and_regression_follow_the_profile():
    rng = np.random.default_rng(5)
    idx = hourly(7 * 4 + 2, "2016-04-04")  # no federal holiday inside: MSTL knows none
    day_off = features.day_type(idx, PLACE) > 0
    hour = features.calendar_features(idx, PLACE)["hour"].to_numpy()
    truth = 10 + 3 * np.sin(2 * np.pi * hour / 24) - 2.0 * day_off
    y = pd.Series(truth + rng.normal(0, 0.3, len(idx)), index=idx, name="f")
    parts = []
    for model in ("stl_arima", "regression_profile"):
        fc = forecast(y.iloc[:-24], 24, model, place=PLACE)
        assert np.mean(np.abs(fc["mean"] - truth[-24:])) < 0.4, model
        parts.append(fc)
    combined = forecast(y.iloc[:-24], 24, "combination", place=PLACE)
    pd.testing.assert_frame_equal(combined, (parts[0] + parts[1]) / 2, check_freq=False,
                                  rtol=1e-6)


def test_sarimax_fourier_learns_cooling_response():
    idx = hourly(17, "2016-07-01")
    full = idx.append(pd.date_range(idx[-1] + HOUR, periods=24, freq="h", tz="UTC"))
    temp = features.tmy3_temperature(full)
    cdd = features.degree_hours(temp)["cdd"].to_numpy()
    rng = np.random.default_rng(1)
    load = 5 + 0.4 * cdd + np.sin(2 * np.pi * np.arange(len(full)) / 24)
    load = load + rng.normal(0, 0.05, len(full))
    y = pd.Series(load[:len(idx)], index=idx, name="f")
    exog = temp.to_frame()
    fc = forecast(y, 24, "sarimax_fourier", exog=exog, exog_future=exog, place=PLACE)
    assert np.mean(np.abs(fc["mean"].to_numpy() - load[len(idx):])) < 0.3
    with pytest.raises(ForecastError, match="needs exog"):
        forecast(y, 24, "sarimax_fourier", place=PLACE)
    with pytest.raises(ForecastError, match="no \\['temp_air'\\]"):
        forecast(y, 24, "sarimax_fourier", exog=exog, exog_future=exog.iloc[:-5], place=PLACE)


def test_pv_models_on_a_steady_clear_sky_index():
    idx = pd.date_range("2016-06-01", periods=24 * 4 * 10, freq="15min", tz="UTC")
    cs = features.clear_sky_reference(idx.append(
        pd.date_range(idx[-1] + pd.Timedelta("15min"), periods=96, freq="15min", tz="UTC")),
        36.1, -79.95)
    pv = 0.004 * cs * 0.7  # kW, steady clear-sky index 0.7
    y = pd.Series(pv.iloc[:len(idx)].to_numpy(), index=idx, name="pv")
    truth = pv.iloc[len(idx):].to_numpy()
    for model in ("pv_smart_persistence", "pv_climatology", "pv_csi_statsmodels"):
        fc = forecast(y, 96, model, place=PLACE)
        assert MODELS[model].kind == "pv"
        assert (fc.to_numpy() >= 0).all(), model
        assert np.abs(fc["mean"].to_numpy() - truth).max() < 0.03 * truth.max(), model
        night = truth == 0
        assert (fc.loc[night, "mean"] == 0).all(), model


def test_bad_input_raises_clear_forecast_errors():
    idx = hourly(21)
    y = pd.Series(seasonal(idx), index=idx, name="f9")
    with pytest.raises(ForecastError, match="too short for seasonal_naive_weekly"):
        forecast(y.iloc[:24 * 5], 24, "seasonal_naive_weekly", place=PLACE)
    with pytest.raises(ForecastError, match="all NaN"):
        forecast(y * np.nan, 24, "seasonal_naive_daily", place=PLACE)
    const = pd.Series(4.0, index=idx, name="flat")
    with pytest.raises(ForecastError, match="constant"):
        forecast(const, 24, "mstl_ets", place=PLACE)
    assert (forecast(const, 24, "seasonal_naive_daily", place=PLACE)["mean"] == 4.0).all()
    with pytest.raises(ForecastError, match="unknown model"):
        forecast(y, 24, "prophet", place=PLACE)
    with pytest.raises(ForecastError, match="horizon"):
        forecast(y, 0, "seasonal_naive_daily", place=PLACE)
    with pytest.raises(ForecastError, match="strictly between"):
        forecast(y, 24, "seasonal_naive_daily", quantiles=(0.1, 1.5), place=PLACE)
    with pytest.raises(ForecastError, match="time-zone aware"):
        forecast(y.tz_localize(None), 24, "seasonal_naive_daily", place=PLACE)
    holey = y.copy()
    holey.iloc[100:140] = np.nan
    fc = forecast(holey.dropna(), 24, "seasonal_naive_daily", place=PLACE)
    assert fc.attrs["filled"] == 40
    holey.iloc[:200] = np.nan
    holey.iloc[0] = 1.0
    with pytest.raises(ForecastError, match="missing"):
        forecast(holey, 24, "seasonal_naive_daily", place=PLACE)


def test_day_ahead_horizons_across_daylight_saving():
    # autumn change: 6 November 2016 has 25 local hours
    start, end = day_ahead_window("2016-11-06", TZ)
    assert (end - start) == pd.Timedelta("25h")
    assert day_ahead_origin("2016-11-06", TZ) == pd.Timestamp("2016-11-05T14:00Z")  # 10:00 EDT
    plan = horizon_plan("day-ahead", HOUR, TZ, target_day="2016-11-06")
    assert plan.horizon == 14 + 25  # 10:00 to midnight EDT, then the 25-hour day
    spring = horizon_plan("day-ahead", pd.Timedelta("15min"), TZ, target_day="2016-03-13")
    assert spring.end - spring.start == pd.Timedelta("23h")
    assert spring.horizon == (14 + 23) * 4
    intra = horizon_plan("intraday", HOUR, TZ, origin=pd.Timestamp("2016-07-01T08:00Z"), hours=6)
    assert intra.horizon == 6 and intra.end == pd.Timestamp("2016-07-01T14:00Z")
    with pytest.raises(ForecastError, match="1–6 h"):
        horizon_plan("intraday", HOUR, TZ, origin=pd.Timestamp("2016-07-01T08:00Z"), hours=9)


def test_registry_metadata():
    assert {"seasonal_naive_daily", "seasonal_naive_weekly", "mstl_ets", "stl_arima",
            "sarimax_fourier", "pv_smart_persistence", "pv_climatology",
            "pv_csi_statsmodels"} <= set(MODELS)
    assert MODELS["sarimax_fourier"].needs_exog == ("temp_air",)
    assert MODELS["seasonal_naive_weekly"].min_history >= pd.Timedelta("7D")


def test_deleted_block_residuals_equal_refits_without_the_block():
    rng = np.random.default_rng(11)
    n, p = 96, 5
    x = np.column_stack([np.ones(n), rng.normal(size=(n, p - 1))])
    y = x @ rng.normal(size=p) + rng.normal(0, 0.5, n)
    w = 0.5 ** (np.arange(n)[::-1] / 40.0)
    blocks = np.repeat(np.arange(n // 24), 24)
    sw = np.sqrt(w)
    beta = np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)[0]
    fast = deleted_block_residuals(x, y - x @ beta, w, blocks)
    for b in np.unique(blocks):
        out = blocks == b
        # the reference: weighted least squares refitted on the other blocks only
        beta_b = np.linalg.lstsq(x[~out] * sw[~out, None], y[~out] * sw[~out], rcond=None)[0]
        np.testing.assert_allclose(fast[out], y[out] - x[out] @ beta_b, atol=1e-9)


def test_load_models_learn_net_load_response_to_irradiance():
    """Net load = profile − PV ∝ GHI: with the GHI given, the cloudy day is forecast."""
    rng = np.random.default_rng(8)
    idx = hourly(7 * 5 + 1, "2016-06-06")
    clear = features.clear_sky_reference(idx, 36.1, -79.95).to_numpy()
    kt = np.repeat(rng.uniform(0.2, 1.0, len(idx) // 24), 24)  # one cloudiness a day
    kt[-24:] = 0.25  # the day forecast is cloudy
    ghi = pd.Series(kt * clear, index=idx, name="ghi")
    hour = features.calendar_features(idx, TZ)["hour"].to_numpy()
    truth = 3 + np.sin(2 * np.pi * hour / 24) - 0.002 * ghi.to_numpy()  # 2 MW per kW/m²
    y = pd.Series(truth + rng.normal(0, 0.05, len(idx)), index=idx, name="feeder")
    exog = ghi.to_frame()
    for model in ("regression_profile", "stl_arima", "combination"):
        blind = forecast(y.iloc[:-24], 24, model, place=PLACE)
        told = forecast(y.iloc[:-24], 24, model, exog=exog, exog_future=exog, place=PLACE)
        err_blind = np.mean(np.abs(blind["mean"] - truth[-24:]))
        err_told = np.mean(np.abs(told["mean"] - truth[-24:]))
        assert err_told < 0.1 and err_told < 0.3 * err_blind, (model, err_told, err_blind)


def test_deleted_block_residuals_keep_a_block_the_fit_cannot_do_without():
    rng = np.random.default_rng(12)
    blocks = np.repeat(np.arange(4), 6)
    only_in_block_0 = (blocks == 0).astype(float)
    x = np.column_stack([np.ones(24), rng.normal(size=24), only_in_block_0])
    y = x @ np.array([1.0, 2.0, 3.0]) + rng.normal(0, 0.1, 24)
    beta = np.linalg.lstsq(x, y, rcond=None)[0]
    resid = y - x @ beta
    out = deleted_block_residuals(x, resid, np.ones(24), blocks)
    np.testing.assert_allclose(out[blocks == 0], resid[blocks == 0])
    for b in (1, 2, 3):  # the other blocks: the errors of the refit without them
        out_b = blocks == b
        beta_b = np.linalg.lstsq(x[~out_b], y[~out_b], rcond=None)[0]
        np.testing.assert_allclose(out[out_b], y[out_b] - x[out_b] @ beta_b, atol=1e-9)


def test_seasonal_naive_keeps_local_time_across_daylight_saving():
    """A load that follows the local clock: the week after the spring change is forecast
    exactly by the weekly naive in local time (a 168-step UTC shift is an hour off)."""
    idx = pd.date_range("2016-02-22", "2016-03-21", freq="h", tz="UTC", inclusive="left")
    local_hour = np.asarray(idx.tz_convert(TZ).hour)
    y = pd.Series(10 + local_hour, index=idx, name="clock", dtype=float)
    hist = y[y.index < pd.Timestamp("2016-03-14T04:00Z")]  # to local midnight after the change
    truth = y[y.index >= pd.Timestamp("2016-03-14T04:00Z")].iloc[:48]
    fc = forecast(hist, 48, "seasonal_naive_weekly", place=PLACE)
    np.testing.assert_allclose(fc["mean"].to_numpy(), truth.to_numpy())
    utc_shift = hist.to_numpy()[len(hist) - 168:len(hist) - 120]
    assert (utc_shift != truth.to_numpy()).all()  # the UTC naive is an hour off at every step


def test_daily_naive_issued_at_ten_uses_d_minus_2_for_hours_not_known():
    idx = pd.date_range("2016-05-02T04:00Z", periods=24 * 10, freq="h")
    day_number = np.asarray((idx.tz_convert(TZ).normalize() - pd.Timestamp("2016-05-02",
                                                                           tz=TZ)).days)
    y = pd.Series(day_number.astype(float), index=idx, name="days")
    plan = horizon_plan("day-ahead", HOUR, TZ, target_day="2016-05-11")
    fc = forecast(y[y.index < plan.origin], plan.horizon, "seasonal_naive_daily", place=PLACE)
    day = fc.loc[plan.start:plan.end - HOUR, "mean"]
    local = day.index.tz_convert(TZ).hour
    assert (day[local < 10] == 8).all()  # 10 May (D-1), known before 10:00 on 10 May
    assert (day[local >= 10] == 7).all()  # 9 May (D-2): 10 May's were not known yet


def test_explosive_forecasts_are_refused_and_scored_with_a_named_fallback(monkeypatch):
    """A fit alternating ±2.9e12 (seen from sarimax) is outside the history's band."""
    from forecasts import backtest as bt
    from forecasts.models import ModelSpec, check_plausible, plausible_band

    assert plausible_band(np.array([2.0, 4.0])) == (0.0, 6.0)
    idx = hourly(7 * 6)
    y = pd.Series(seasonal(idx), index=idx, name="feeder")

    def explosive(y, horizon, quantiles, exog, exog_future, step, place):
        mean = 2.9e12 * (-1.0) ** np.arange(horizon)
        from forecasts.models import frame, future_index
        return frame(future_index(y, step, horizon), mean, {q: mean for q in quantiles})

    monkeypatch.setitem(MODELS, "exploding", ModelSpec("exploding", explosive, "load",
                                                       pd.Timedelta("1D")))
    with pytest.raises(ForecastError, match="outside the plausible band"):
        forecast(y, 24, "exploding", place=PLACE)
    good = forecast(y, 24, "seasonal_naive_weekly", place=PLACE)
    check_plausible(good, y, "seasonal_naive_weekly")  # a sane forecast passes
    table, failures, _ = bt.backtest_forecasts({"F": y}, ["exploding"], weeks=1, place=PLACE,
                                               calibration_days=0)
    assert len(failures) == 7 and (failures["fallback"] == "seasonal_naive_weekly").all()
    assert failures["error"].str.contains("explosive fit").all()
    assert (table["used"] == "seasonal_naive_weekly").all() and len(table) == 7 * 24
    scored = bt.score(table, failures, {"F": 1.0})
    assert scored.loc[("F", "exploding"), "fallbacks"] == 7


def test_conformal_factor_by_hand_and_only_from_the_past():
    from forecasts.calibration import RollingCalibration, conformal_factor, scale_intervals

    mean = np.zeros(9)
    lower, upper = -np.ones(9), np.ones(9)
    actual = np.array([0.5, -0.5, 2.0, -3.0, 0.1, 1.5, -0.2, 0.0, 4.0])
    # needed factors |a| (half-width 1): 0.5 .5 2 3 .1 1.5 .2 0 4; ceil(10·0.8)/9 → 8th of 9
    assert conformal_factor(actual, mean, lower, upper, 0.8) == pytest.approx(3.0)
    fc = pd.DataFrame({"mean": [10.0], 0.1: [9.0], 0.9: [12.0]})
    scaled = scale_intervals(fc, 2.0)
    assert scaled.loc[0, 0.1] == 8.0 and scaled.loc[0, 0.9] == 14.0 and scaled.loc[0, "mean"] == 10
    calib = RollingCalibration(min_origins=2)
    t0 = pd.Timestamp("2016-05-02", tz="UTC")
    calib.add(t0, [0.5], [0.0], [-1.0], [1.0])
    calib.add(t0 + pd.Timedelta("1D"), [2.0], [0.0], [-1.0], [1.0])
    calib.add(t0 + pd.Timedelta("2D"), [9.0], [0.0], [-1.0], [1.0])
    assert np.isnan(calib.factor(t0, 0.8))  # one known origin: too few
    assert calib.factor(t0 + pd.Timedelta("1D"), 0.5) == pytest.approx(2.0)  # not the 9


def test_adaptive_level_moves_by_the_misses_of_calibrated_origins():
    """ACI (Gibbs & Candès 2021) by hand: level = 0.8 + γ·Σ(0.8 − covered) over the known
    origins issued with a factor; the factor is then the ceil((n+1)·level)-th needed one."""
    from forecasts.calibration import RollingCalibration

    t0 = pd.Timestamp("2016-05-02", tz="UTC")
    calib = RollingCalibration(origins=3, min_origins=1, rate=0.1)
    half = [-1.0] * 4, [1.0] * 4
    # issued unscaled (NaN factor): not part of the adaptation
    calib.add(t0, [0.5, 0.5, 0.5, 0.5], [0.0] * 4, *half)
    assert calib.level(t0, 0.8) == pytest.approx(0.8)
    # issued with factor 1: |a| = 0.5, 2, 3, 0.2 -> 2 of 4 inside: level 0.8 + 0.1·0.3
    calib.add(t0 + pd.Timedelta("1D"), [0.5, 2.0, -3.0, 0.2], [0.0] * 4, *half, 1.0)
    assert calib.level(t0 + pd.Timedelta("1D"), 0.8) == pytest.approx(0.83)
    assert calib.level(t0, 0.8) == pytest.approx(0.8)  # not known yet at t0
    # issued with factor 4: all 4 inside -> level 0.83 + 0.1·(0.8 − 1) = 0.81
    calib.add(t0 + pd.Timedelta("2D"), [1.0, 2.0, 3.0, 3.5], [0.0] * 4, *half, 4.0)
    issue = t0 + pd.Timedelta("2D")
    assert calib.level(issue, 0.8) == pytest.approx(0.81)
    # the last 3 origins: 12 needed factors; k = ceil(13·0.81) = 11th smallest
    need = np.sort([0.5] * 4 + [0.5, 2.0, 3.0, 0.2] + [1.0, 2.0, 3.0, 3.5])
    assert calib.factor(issue, 0.8) == pytest.approx(need[10])
