"""``twin electric qsts | violations | losses`` through typer's CliRunner on a short period."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from typer.testing import CliRunner

from twin.cli import app
from twin.electric import violations as vio
from twin.electric.qsts import run_qsts
from twin.scenario import profiles_of

runner = CliRunner()


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    out = tmp_path_factory.mktemp("qsts") / "day.nc"
    res = runner.invoke(app, ["electric", "qsts", "--start", "2016-07-18", "--days", "1",
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out, res.output


def test_qsts_saves_the_result_and_summarises(saved, city):
    out, text = saved
    assert "converged" in text and "96 (100.00 %)" in text
    with xr.open_dataset(out) as ds:
        ds = ds.load()
    assert ds.sizes["time"] == 96
    # local midnight of 18 July (EDT) is 04:00 UTC
    assert pd.Timestamp(ds.time.values[0]) == pd.Timestamp("2016-07-18 04:00")
    profiles = profiles_of(city)
    direct = run_qsts(city.net, profiles, times=profiles["load_p_mw"].index[[0]].append(
        pd.DatetimeIndex([pd.Timestamp("2016-07-18 04:00", tz="UTC")])))
    np.testing.assert_allclose(ds.vm_pu.isel(time=0).values, direct.vm_pu.isel(time=1).values,
                               atol=1e-9)
    assert ds.vm_pu.attrs["units"] == "p.u."


def test_violations_reads_the_saved_result(saved, city):
    out, _ = saved
    with xr.open_dataset(out) as ds:
        ds = ds.load()
    hi = float(ds.vm_pu.quantile(0.9))
    res = runner.invoke(app, ["electric", "violations", "--result", str(out), "--v-max-pu",
                              f"{hi:.4f}", "--top", "3"])
    assert res.exit_code == 0, res.output
    events = vio.find_violations(ds.assign(converged=ds.converged.astype(bool)), city.net,
                                 (0.9, float(f"{hi:.4f}")))
    assert len(events) > 0
    assert f"of {len(events):,} events" in res.output
    assert "overvoltage" in res.output and "EN 50160" in res.output


def test_losses_with_the_store(saved, sample_store):
    out, _ = saved
    res = runner.invoke(app, ["electric", "losses", "--result", str(out), "--store",
                              sample_store.url, "--top", "3"])
    assert res.exit_code == 0, res.output
    assert "technical losses" in res.output
    assert "non-technical" in res.output and "suspicious meters" in res.output
    assert "F0" in res.output and "F94" in res.output


@pytest.mark.parametrize("args, words", [
    (["qsts", "--start", "2020-01-01", "--days", "1"], "outside the city's year"),
    (["violations", "--result", "no/such/file.nc"], "no QSTS result here"),
    (["violations", "--v-min-pu", "1.2", "--start", "2016-07-18"], "must be below"),
    (["qsts", "--start", "2016-13-45"], "is not a time"),
])
def test_user_errors_are_one_line(args, words):
    res = runner.invoke(app, ["electric", *args])
    assert res.exit_code == 2, res.output
    assert words in res.output
    assert "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) <= 2
