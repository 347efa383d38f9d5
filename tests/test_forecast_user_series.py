"""A utility's own series, in its own zone and year, from `twin ingest` to `twin forecast`.

The city is a folder whose recipe puts it in Europe/London in 2019 (not the sample city's
America/New_York, 2016); its load is the hourly MW of one grid supply point from its SCADA historian that
follows the heating degrees of its own weather station (ingested as kind ``weather``), over
the spring daylight-saving change (31 March 2019).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from typer.testing import CliRunner

from forecasts.place import Place
from forecasts.stored import backtest_stored, stored_series
from twin import config
from twin.cli import app
from twin.ingest.store import MeasurementStore

runner = CliRunner()
TZ = "Europe/London"
START, DAYS = "2019-01-28", 12 * 7


def _local_times(start: str, days: int) -> pd.DatetimeIndex:
    local = pd.date_range(pd.Timestamp(start, tz=TZ), pd.Timestamp(start, tz=TZ)
                          + pd.Timedelta(days=days), freq="1h", inclusive="left")
    return local


def user_load_and_weather(seed: int = 19) -> tuple[pd.Series, pd.Series]:
    """Hourly mean load [MW] of a heated town and its air temperature [°C], Jan–Apr 2019.

    Load = local-time daily profile (working days and weekends differ) + 0.9 MW per heating
    degree below 15.5 °C + noise; the temperature has a seasonal rise, a daily cycle and
    weather spells (AR(1) over hours).
    """
    rng = np.random.default_rng(seed)
    times = _local_times(START, DAYS)
    n = len(times)
    spell = np.zeros(n)
    for t in range(1, n):
        spell[t] = 0.995 * spell[t - 1] + rng.normal(0, 0.35)
    day_of_run = np.arange(n) / 24.0
    temp = 3.0 + 0.09 * day_of_run + 3.0 * np.sin(2 * np.pi * (times.hour - 9) / 24) + spell
    hour = np.asarray(times.hour)
    working = np.asarray(times.weekday < 5)
    profile = 20 + 8 * np.exp(-((hour - 18.5) / 2.5) ** 2) + np.where(
        working, 6 * ((hour >= 7) & (hour <= 18)), 2 * ((hour >= 9) & (hour <= 20)))
    load = profile + 0.9 * np.clip(15.5 - temp, 0, None) + rng.normal(0, 0.6, n)
    utc = times.tz_convert("UTC")
    return pd.Series(load, index=utc, name="GSP_NORTH"), pd.Series(temp, index=utc)


def long_csv(path: Path, name: str, values: pd.Series, unit: str) -> Path:
    """The long MDM layout: local ISO time with its UTC offset, value, unit."""
    local = values.index.tz_convert(TZ)
    stamps = [t.isoformat() for t in local]
    pd.DataFrame({"meter_id": name, "timestamp_local": stamps,
                  "value": np.round(values.to_numpy(), 4), "unit": unit}).to_csv(path,
                                                                                index=False)
    return path


@pytest.fixture(scope="module")
def user_city(tmp_path_factory) -> Path:
    """A city folder in Europe/London, 2019 (the sample city's networks, its own recipe)."""
    folder = tmp_path_factory.mktemp("london_city")
    for f in config.city_dir().iterdir():
        shutil.copy(f, folder / f.name)
    recipe = (folder / "recipe.yaml").read_text()
    recipe = recipe.replace("America/New_York", TZ).replace("year: 2016", "year: 2019")
    recipe = recipe.replace("latitude: 36.1", "latitude: 53.8").replace(
        "longitude: -79.95", "longitude: -1.55")
    (folder / "recipe.yaml").write_text(recipe)
    return folder


@pytest.fixture(scope="module")
def user_store(tmp_path_factory) -> MeasurementStore:
    """The user's load and temperature (°F, as the station exports it), ingested by the CLI."""
    raw = tmp_path_factory.mktemp("user_raw")
    load, temp = user_load_and_weather()
    long_csv(raw / "gsp_load.csv", "GSP_NORTH", load, "MW")
    long_csv(raw / "station_leeds.csv", "WX.LEEDS.temp_air", temp * 9 / 5 + 32, "degF")
    root = tmp_path_factory.mktemp("user_store")
    for name, kind in (("gsp_load.csv", "scada"), ("station_leeds.csv", "weather")):
        result = runner.invoke(app, ["ingest", str(raw / name), "--kind", kind,
                                     "--store", str(root)])
        assert result.exit_code == 0, result.output
    return MeasurementStore(str(root))


def test_stored_user_series_reads_only_what_is_asked(user_store):
    load, _ = user_load_and_weather()
    got = stored_series(user_store, ["GSP_NORTH"], start="2019-03-01", end="2019-03-08")
    assert got.kind == "scada" and got.unit == "MW"  # a power: averaged per step
    assert got.values.index[0] == pd.Timestamp("2019-03-01", tz="UTC")
    assert len(got.values) == 7 * 24
    np.testing.assert_allclose(got.values["GSP_NORTH"].to_numpy(),
                               load.loc["2019-03-01":"2019-03-07 23:00"].round(4), rtol=1e-9)
    # 3-hour steps: the mean of the three hours
    coarse = stored_series(user_store, ["GSP_NORTH"], step="3h", start="2019-03-01",
                           end="2019-03-02")
    np.testing.assert_allclose(coarse.values["GSP_NORTH"].iloc[0],
                               load.loc["2019-03-01 00:00":"2019-03-01 02:00"].round(4).mean())


@pytest.mark.slow
def test_backtest_of_a_user_series_in_its_own_zone_and_year(user_store):
    place = Place(TZ, 53.8, -1.55, "GB")
    result = backtest_stored(user_store, ["GSP_NORTH"], place, ["combination"], weeks=2,
                             weather="LEEDS")
    table = result.table
    # the table is about the user's series, in 2019, in London time
    assert set(table.index.get_level_values("series")) == {"GSP_NORTH"}
    first, last = result.test_days
    assert first.year == 2019 and str(first.tz) == TZ and (last - first).days == 13
    assert "converted from degF to °C" in result.weather and "LEEDS" in result.weather
    combo = table.loc[("GSP_NORTH", "combination")]
    naive = table.loc[("GSP_NORTH", "seasonal_naive_weekly")]
    assert combo["mase"] <= 0.7 * naive["mase"], (combo["mase"], naive["mase"])
    assert combo["failed"] == 0
    assert 0.6 <= combo["coverage"] <= 0.95  # 336 correlated values, nominal 0.80


@pytest.mark.slow
def test_cli_backtest_and_run_of_a_user_series(user_store, user_city):
    common = ["--series", "GSP_NORTH", "--city", str(user_city), "--store", user_store.url]
    result = runner.invoke(app, ["forecast", "backtest", *common, "--weeks", "1",
                                 "--calibration-days", "7", "--weather", "GSP_NORTH=LEEDS"])
    out = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert "GSP_NORTH" in out and "Europe/London" in out and "holidays GB" in out
    assert "model combination (the default" in out and "GSP_NORTH: station LEEDS" in out
    result = runner.invoke(app, ["forecast", "run", *common, "--weather", "LEEDS",
                                 "--target-day", "2019-04-10",
                                 "--workers", "1", "--calibration-days", "3"])
    assert result.exit_code == 0, result.output
    path = Path(user_store.url) / "forecasts" / "scada-series-day-ahead-2019-04-10.nc"
    with xr.open_dataset(path) as ds:
        assert "Europe/London" in ds.attrs["place"] and "LEEDS" in ds.attrs["weather"]
        assert str(ds["model_used"].values.ravel()[0]) == "combination"
        # issued 10:00 BST on 9 April = 09:00 UTC; the target day starts at 23:00 UTC
        assert pd.Timestamp(ds.issue_time.values[0]) == pd.Timestamp("2019-04-09 09:00")
        load, _ = user_load_and_weather()
        day = load.loc["2019-04-09 23:00":"2019-04-10 22:00"]
        valid = pd.DatetimeIndex(ds.valid_time.values[0]).tz_localize("UTC")
        mean = pd.Series(ds["mean"].values[0, 0], index=valid).reindex(day.index)
        assert np.mean(np.abs(mean - day)) / day.mean() < 0.08  # within 8 % of the day's load
    # without weather the default is the benchmark's best without weather, and it says so
    result = runner.invoke(app, ["forecast", "run", *common, "--weather", "none",
                                 "--target-day", "2019-04-11", "--workers", "1",
                                 "--calibration-days", "0"])
    assert result.exit_code == 0, result.output
    assert "model mstl_ets (the default without weather" in " ".join(result.output.split())
    path = Path(user_store.url) / "forecasts" / "scada-series-day-ahead-2019-04-11.nc"
    with xr.open_dataset(path) as ds:
        assert str(ds["model_used"].values.ravel()[0]) == "mstl_ets"


def test_user_series_bad_input_is_one_line(user_store, user_city):
    base = ["forecast", "backtest", "--city", str(user_city), "--store", user_store.url]
    for args, words in [
        (["--series", "GSP_SOUTH"], "not in the store: GSP_SOUTH"),
        (["--series", "GSP_NORTH", "--end", "2016-01-01"], "no reading of GSP_NORTH"),
        (["--series", "GSP_NORTH", "--weather", "HEATHROW"], "not a station of the store"),
        (["--series", "GSP_NORTH", "--weather", "GSP_NORTH=HEATHROW"], "HEATHROW not a station"),
        (["--series", "GSP_NORTH", "--weather", "GSP_SOUTH=LEEDS"], "not forecast: GSP_SOUTH"),
        (["--series", "GSP_NORTH", "--weather", "forecast"], "not the weather at 53.80"),
        (["--series", "GSP_NORTH", "--country", "XX"], "holidays"),
        (["--series", "GSP_NORTH", "--kind", "water_read"], "no such readings"),
    ]:
        result = runner.invoke(app, [*base, *args])
        out = " ".join(result.output.split())
        assert result.exit_code == 2, (args, result.output)
        assert words in out and "Traceback" not in out, (args, out)
        assert out.count("error:") == 1


def test_station_weather_from_the_store_in_celsius(user_store):
    from forecasts.weather import station_weather, stations, store_weather

    _, temp = user_load_and_weather()
    assert stations(user_store) == ["LEEDS"]
    got, notes = station_weather(user_store, "LEEDS", "2019-03-01", "2019-03-02",
                                 pd.Timedelta("1h"))
    np.testing.assert_allclose(got["temp_air"], temp.loc["2019-03-01":"2019-03-01 23:00"],
                               atol=1e-3)  # written in °F with 4 decimals
    assert any("degF" in n for n in notes) and any("no ghi" in n for n in notes)
    both = store_weather(user_store, "LEEDS", "2019-03-01", "2019-03-02", pd.Timedelta("1h"),
                         forecast_station="LEEDS")
    assert not both.ex_post and "forecasts issued before the target day" in both.describe()


def test_lookahead_reads_the_store_weather_like_forecasts_do(user_store, tmp_path):
    """The look-ahead's load weather is the store's station (°F converted), not TMY3."""
    from forecasts.data import ForecastDataError
    from forecasts.lookahead import lookahead_weather

    _, temp = user_load_and_weather()
    place = Place(TZ, 53.8, -1.55, "GB")
    start, end = pd.Timestamp("2019-03-20", tz="UTC"), pd.Timestamp("2019-03-22", tz="UTC")
    exog, note = lookahead_weather(user_store, place, "auto", start, end)
    assert "station LEEDS" in note and "ex post" in note
    got = exog.measured["temp_air"].loc[start:end - pd.Timedelta("1h")]
    want = temp.loc[start:end - pd.Timedelta("1h")]
    np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), atol=1e-3)  # °F had 4 digits
    assert lookahead_weather(user_store, place, "none", start, end) == (None, "none")
    with pytest.raises(ForecastDataError, match="LEEDS"):
        lookahead_weather(user_store, place, "EGLL", start, end)
    empty = MeasurementStore(str(tmp_path / "empty"))  # no weather, not at the TMY3 station
    assert lookahead_weather(empty, place, "auto", start, end)[0] is None
