"""``twin forecast`` commands on the sample store: a real run, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import xarray as xr
from typer.testing import CliRunner

from twin.cli import app

runner = CliRunner()


def test_forecast_run_city_day_ahead(sample_store):
    result = runner.invoke(app, ["forecast", "run", "--level", "city", "--horizon", "day-ahead",
                                 "--target-day", "2016-07-24", "--model",
                                 "seasonal_naive_weekly", "--workers", "1",
                                 "--store", sample_store.url])
    assert result.exit_code == 0, result.output
    assert "city" in result.output and "saved:" in result.output
    path = Path(sample_store.url) / "forecasts" / "electric-city-day-ahead-2016-07-24.nc"
    ds = xr.open_dataset(path)
    assert ds.sizes["series"] == 1 and ds["mean"].attrs["units"] == "kWh per 1h"
    assert str(ds["model_used"].values.ravel()[0]) == "seasonal_naive_weekly"
    ds.close()


def test_forecast_errors_are_one_line(sample_store, tmp_path):
    for args, words in [
        (["--level", "street"], "unknown level"),
        (["--model", "crystal_ball"], "--model"),
        (["--horizon", "next-year"], "--horizon"),
        (["--weather", "foggy"], "--weather"),
        (["--target-day", "2016-13-45"], "YYYY-MM-DD"),
    ]:
        result = runner.invoke(app, ["forecast", "run", *args, "--store", sample_store.url])
        assert result.exit_code == 2, result.output
        assert words in " ".join(result.output.split()) and "Traceback" not in result.output
        assert result.output.count("error:") == 1  # one message (rich wraps it at 80 columns)
    result = runner.invoke(app, ["forecast", "lookahead", "--store", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "no measurement store" in " ".join(result.output.split())
