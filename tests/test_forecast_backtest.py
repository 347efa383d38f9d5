"""Accuracy metrics against hand-computed values; rolling-origin backtests on known series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasts import metrics
from forecasts.backtest import BASELINES, backtest, backtest_forecasts, origins, score
from forecasts.models import ForecastError

TZ = "America/New_York"


def test_metrics_hand_computed():
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    fc = np.array([2.0, 2.0, 2.0, 2.0])
    assert metrics.mae(actual, fc) == pytest.approx(1.0)
    # 100·(1/1 + 0/2 + 1/3 + 2/4)/4
    assert metrics.mape(actual, fc) == pytest.approx(100 * (1 + 0 + 1 / 3 + 0.5) / 4)
    # in-sample y = 1,3,2,4,3,5 with m = 2: |y_t − y_{t−2}| = 1,1,1,1 → scale 1
    assert metrics.seasonal_naive_scale([1, 3, 2, 4, 3, 5], m=2) == pytest.approx(1.0)
    assert metrics.mase(actual, fc, [1, 3, 2, 4, 3, 5], m=2) == pytest.approx(1.0)
    # pinball at q = 0.9: a − f = −1, 0, 1, 2 → 0.1, 0, 0.9, 1.8
    assert metrics.pinball_loss(actual, fc, 0.9) == pytest.approx(2.8 / 4)
    assert metrics.pinball_loss(actual, fc, 0.5) == pytest.approx(0.5 * metrics.mae(actual, fc))
    assert metrics.interval_coverage(actual, [0, 0, 3.5, 3], [1, 3, 4, 5]) == pytest.approx(0.75)
    assert metrics.mape([0.0, 2.0], [1.0, 1.0]) == pytest.approx(50.0)  # zero actual skipped


def test_pinball_loss_matches_quantile_minimiser():
    # the q-quantile of a sample minimises its mean pinball loss (Koenker & Bassett 1978)
    sample = np.random.default_rng(0).normal(size=2001)
    q = 0.8
    best = np.quantile(sample, q)
    loss = [metrics.pinball_loss(sample, np.full_like(sample, c), q)
            for c in (best - 0.05, best, best + 0.05)]
    assert loss[1] < loss[0] and loss[1] < loss[2]


def test_metric_errors():
    with pytest.raises(metrics.MetricError, match="every actual value is zero"):
        metrics.mape([0.0, 0.0], [1.0, 1.0])
    with pytest.raises(metrics.MetricError, match="repeats exactly"):
        metrics.seasonal_naive_scale(np.tile([1.0, 2.0], 10), m=2)
    with pytest.raises(metrics.MetricError, match="must match"):
        metrics.mae([1, 2], [1, 2, 3])


def _daily_sine_with_noise(weeks: int, sd: float, seed: int = 0) -> pd.Series:
    idx = pd.date_range("2016-04-04", periods=24 * 7 * weeks, freq="h", tz="UTC", name="time_utc")
    t = np.arange(len(idx))
    rng = np.random.default_rng(seed)
    return pd.Series(10 + 3 * np.sin(2 * np.pi * t / 24) + rng.normal(0, sd, len(idx)), idx)


def test_day_ahead_backtest_of_baselines_on_gaussian_noise():
    series = {"F1": _daily_sine_with_noise(8, 0.5, 1), "F2": _daily_sine_with_noise(8, 0.5, 2),
              "flat": pd.Series(3.0, index=_daily_sine_with_noise(8, 0.5).index)}
    levels = {"F1": "feeder", "F2": "feeder", "flat": "feeder"}
    table, failures, scales = backtest_forecasts(series, list(BASELINES), weeks=4, place=TZ)
    per_series = score(table, failures, scales)
    assert set(per_series.index.get_level_values("model")) == {
        "seasonal_naive_weekly", "seasonal_naive_daily"}
    f1 = per_series.loc[("F1", "seasonal_naive_weekly")]
    assert f1["n_origins"] == 28
    # stationary noise: the weekly naive scores about its own in-sample scale on the test weeks
    assert 0.85 <= f1["mase"] <= 1.15
    assert 0.72 <= f1["coverage"] <= 0.88
    # a daily naive is as good as the weekly on a series without weekly pattern
    daily = per_series.loc[("F1", "seasonal_naive_daily")]
    assert daily["mase"] == pytest.approx(f1["mase"], rel=0.15)
    # the flat series cannot be scaled: reported, not dropped, and the others go on
    flat = per_series.loc[("flat", "seasonal_naive_weekly")]
    assert flat["failed"] == 1 and "repeats exactly" in flat["first_error"]
    assert set(failures["series"]) == {"flat"}
    # MASE by hand from the long forecast table
    rows = table[(table.series == "F1") & (table.model == "seasonal_naive_weekly")]
    y = series["F1"]
    first = rows["origin"].min()
    scale = metrics.seasonal_naive_scale(y[y.index < first].to_numpy()[-8 * 168:], 168)
    assert f1["mase"] == pytest.approx(np.mean(np.abs(rows["actual"] - rows["mean"])) / scale)
    # every forecast kept lies in its local target day, issued the morning before
    local_day = rows["time"].dt.tz_convert(TZ).dt.normalize()
    issue_local = rows["origin"].dt.tz_convert(TZ)
    assert ((local_day - issue_local.dt.normalize()) == pd.Timedelta("1D")).all()
    assert (issue_local.dt.hour == 10).all()
    by_level = score(table, failures, scales, levels=levels)
    lvl = by_level.loc[("feeder", "seasonal_naive_weekly")]
    assert lvl["n_series"] == 2 and lvl["failed"] == 1
    assert lvl["mase"] == pytest.approx(
        per_series.loc[[("F1", "seasonal_naive_weekly"), ("F2", "seasonal_naive_weekly")],
                       "mase"].mean())


def test_intraday_backtest_with_a_model_against_baselines():
    y = _daily_sine_with_noise(7, 0.3, 4)
    result = backtest({"F": y}, ["regression_profile"], horizon="intraday", weeks=1, place=TZ)
    reg = result.loc[("F", "regression_profile")]
    naive = result.loc[("F", "seasonal_naive_weekly")]
    assert reg["n_values"] == reg["n_origins"] * 6
    assert reg["mase"] < naive["mase"]


def test_backtest_rejects_short_series_and_unknown_models():
    y = _daily_sine_with_noise(3, 0.3)
    with pytest.raises(ForecastError, match="unknown model"):
        backtest({"F": y}, ["nope"], place=TZ)
    with pytest.raises(ForecastError, match="too short for 4 test weeks"):
        origins(y.index, "day-ahead", 4, TZ, pd.Timedelta("1h"))


def test_backtest_with_nothing_scored_returns_the_columns_and_a_note():
    # two flat series: no MASE scale, so no forecast of any model is scored
    idx = _daily_sine_with_noise(8, 0.5).index
    series = {"flat_a": pd.Series(3.0, index=idx), "flat_b": pd.Series(5.0, index=idx)}
    levels = {"flat_a": "feeder", "flat_b": "feeder"}
    by_level = backtest(series, ["mstl_ets"], weeks=4, levels=levels, place=TZ)
    for col in ("mape_percent", "mase", "pinball_scaled", "coverage"):
        assert col in by_level.columns and by_level[col].isna().all()
    assert (by_level["n_origins"] == 0).all() and (by_level["n_series"] == 0).all()
    # every failed fit is still counted: 2 series × (2 baselines + mstl_ets)
    assert by_level["failed"].sum() == 6
    assert set(by_level.index.get_level_values("model")) == {"mstl_ets", *BASELINES}
    assert by_level.attrs["note"].startswith("no forecast was scored: all 6 fits failed")
    per_series = backtest(series, ["mstl_ets"], weeks=4, place=TZ)
    assert {"mape_percent", "mase", "coverage", "failed", "first_error"} <= set(per_series.columns)
    assert per_series["first_error"].str.contains("repeats exactly").all()
    assert "no forecast was scored" in per_series.attrs["note"]
    # and when something is scored there is no note
    scored = backtest({"F": _daily_sine_with_noise(8, 0.5, 3)}, [], weeks=1, place=TZ)
    assert scored.attrs["note"] == "" and scored["mase"].notna().all()
    # no series at all: the table is empty but has its columns
    empty, table, fails = backtest({}, ["mstl_ets"], weeks=4, return_forecasts=True, place=TZ)
    assert empty.empty and "mase" in empty.columns and table.empty and fails.empty
    assert "no series and model" in empty.attrs["note"]
