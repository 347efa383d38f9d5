"""``twin water simulate | balance | night-flow`` on the sample city, and their bad input."""

from __future__ import annotations

import wntr
import xarray as xr
from typer.testing import CliRunner

from twin.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["water", *args], env={"COLUMNS": "200"})


def test_simulate_saves_netcdf_and_summarises(tmp_path):
    out = tmp_path / "day.nc"
    r = invoke("simulate", "--days", "1", "--pda", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "PDA" in r.output and "pressure min / mean" in r.output
    ds = xr.open_dataset(out)
    assert ds.sizes["time"] == 25 and ds["pressure_m"].attrs["units"] == "m"
    r = invoke("simulate", "--days", "1", "--required-pressure-m", "45")
    assert r.exit_code == 0 and "low pressure at:" in r.output


def test_simulate_keeps_the_networks_own_demand_model(tmp_path):
    """Without --pda a network whose file says PDA runs PDA (it was forced to DDA)."""
    from twin.water.network import read_inp, shipped_network_path

    wn = read_inp(shipped_network_path("Net1"))
    wn.options.hydraulic.demand_model = "PDA"
    path = tmp_path / "pda.inp"
    wntr.network.write_inpfile(wn, str(path))
    out = tmp_path / "pda.nc"
    r = invoke("simulate", "--inp", str(path), "--days", "1", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "1 days, PDA" in r.output
    assert xr.open_dataset(out).attrs["pressure_driven"] == 1
    wn.options.hydraulic.demand_model = "DDA"
    wntr.network.write_inpfile(wn, str(path))
    r = invoke("simulate", "--inp", str(path), "--days", "1")
    assert r.exit_code == 0 and "1 days, DDA" in r.output


def test_simulate_bad_network_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.inp"
    bad.write_text("[JUNCTIONS]\n J1 10 x\n[END]\n")
    r = invoke("simulate", "--inp", str(bad))
    assert r.exit_code == 2 and "bad.inp" in r.output and "Traceback" not in r.output
    island = tmp_path / "island.inp"
    wn = wntr.network.WaterNetworkModel()
    wn.add_reservoir("R", base_head=100)
    for j in ("J1", "J2", "J3"):
        wn.add_junction(j, base_demand=0.001, elevation=10)
    wn.add_pipe("P1", "R", "J1", length=100, diameter=0.2, roughness=100)
    wn.add_pipe("P2", "J2", "J3", length=100, diameter=0.2, roughness=100)
    wntr.network.write_inpfile(wn, str(island))
    r = invoke("simulate", "--inp", str(island))
    assert r.exit_code == 2 and "J2, J3" in r.output and "cannot be reached" in r.output


def test_balance_and_night_flow_on_the_sample_store(sample_store, tmp_path):
    csv = tmp_path / "balance.csv"
    r = invoke("balance", "--start", "2016-07-09", "--days", "6", "--store", sample_store.url,
               "--measured-only", "--csv", str(csv))
    assert r.exit_code == 0, r.output
    for word in ("DMA-1", "DMA-4", "city", "SIV", "NRW %", "CARL", "UARL", "ILI"):
        assert word in r.output
    assert csv.exists()
    r = invoke("night-flow", "--start", "2016-07-04", "--days", "21", "--store",
               sample_store.url)
    assert r.exit_code == 0, r.output
    assert "DMA-3" in r.output and "NNF" in r.output
    r = invoke("balance", "--start", "2016-13-40", "--store", sample_store.url)
    assert r.exit_code == 2 and "is not a time" in r.output
    r = invoke("balance", "--start", "2015-01-01", "--days", "2", "--store", sample_store.url)
    assert r.exit_code == 2 and "no SCADA values" in r.output


def test_leaks_options_default_to_the_settings_of_the_library():
    """``twin water leaks`` spells its defaults out (the library is imported only when the
    command runs); each must be the :class:`twin.water.leaks.LeakSettings` default of the
    setting it fills, or the CLI and the library locate leaks differently."""
    import dataclasses
    import inspect

    from twin.cli.water import leaks
    from twin.water.leaks import LeakSettings

    fields = {f.name: f.default for f in dataclasses.fields(LeakSettings)}
    setting_of = {"tanks_measured": "pressure_at_measured_levels"}
    options = {setting_of.get(n, n): p.default
               for n, p in inspect.signature(leaks).parameters.items()}
    shared = sorted(set(options) & set(fields))
    assert len(shared) >= 18  # every tuning option, not a lucky few
    assert {n: options[n] for n in shared} == {n: fields[n] for n in shared}
