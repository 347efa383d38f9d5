"""The shipped studies in scenarios/, the scripts, and the ``twin scenario`` commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from twin import config
from twin.cli import app
from twin.scenario import (
    load_scenario_file,
    open_result,
    scenario_schema,
    validate_scenarios,
)

FOLDER = config.project_root() / "scenarios"
FILES = sorted(FOLDER.glob("*.yaml"))
runner = CliRunner()


def test_every_study_the_issue_names_is_shipped():
    names = {f.stem for f in FILES}
    assert {"ev_2030", "rooftop_pv_40", "rooftop_pv_60", "heatwave_week", "feeder_outage_peak",
            "drought_restriction", "pump_station_outage", "combined_2035"} <= names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_shipped_files_validate_on_the_sample_city(city, path):
    scenarios = load_scenario_file(path)
    assert scenarios and all(s.description for s in scenarios)
    notes = validate_scenarios(city, scenarios)
    assert len(notes) == len(scenarios)


def test_committed_schema_is_the_generated_one():
    committed = json.loads((FOLDER / "scenario.schema.json").read_text())
    assert committed == json.loads(json.dumps(scenario_schema()))
    ev = committed["$defs"]["EvAdoption"]["properties"]
    assert ev["charger_kw"]["unit"] == "kW" and ev["share"]["maximum"] == 1.0


def test_cli_runs_and_compares_the_pump_station_outage(tmp_path):
    out = tmp_path / "results"
    r = runner.invoke(app, ["scenario", "run", str(FOLDER / "pump_station_outage.yaml"),
                            "--out", str(out)])
    assert r.exit_code == 0, r.output
    files = sorted(out.glob("*.nc"))
    assert len(files) == 2
    res = {x.name: x for x in map(open_result, files)}
    base, outage = res["base-pump-station-days"], res["pump-station-outage"]
    # pump 335 is off for its 12-hour window and tank 1 runs lower than in the base
    ds = outage.dataset.isel(scenario=0)
    kw = ds.pump_kw.sel(pump="335").to_series()
    t0 = np.datetime64("2016-07-15T01:00")  # 21:00 EDT
    assert (kw[(kw.index >= t0) & (kw.index < t0 + np.timedelta64(12, "h"))] == 0).all()
    base_kw = base.dataset.isel(scenario=0).pump_kw.sel(pump="335").to_series()
    assert (base_kw.loc[t0:t0 + np.timedelta64(5, "h")] > 0).any()
    assert outage.metrics.value["tank_min_level_m"] < base.metrics.value["tank_min_level_m"]
    r = runner.invoke(app, ["scenario", "compare", str(out), "--base", "base-pump-station-days",
                            "--figures", str(tmp_path / "figs"), "--csv",
                            str(tmp_path / "t.csv")])
    assert r.exit_code == 0, r.output
    assert "tank_min_level_m" in r.output and (tmp_path / "t.csv").exists()
    assert sorted(p.name for p in (tmp_path / "figs").glob("*.png")) == [
        "dma_pressure_envelope.png", "feeder_loading_duration.png",
        "feeder_voltage_envelope.png", "monthly_losses.png"]


def test_cli_validate_names_file_line_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nchanges:\n  - type: heat_pump\n    share: 0.2\n")
    r = runner.invoke(app, ["scenario", "validate", str(bad)])
    assert r.exit_code == 2
    assert f"{bad}:3: changes.0: unknown change type 'heat_pump'; allowed:" in " ".join(
        r.output.split())
    bad.write_text("name: x\nbase: {start: 2016-07-01, days: 1}\nchanges:\n"
                   "  - {type: outage, kind: feeder, element: F7}\n")
    r = runner.invoke(app, ["scenario", "validate", str(bad)])
    assert r.exit_code == 2 and "no feeder 'F7'" in " ".join(r.output.split())
    r = runner.invoke(app, ["scenario", "schema"])
    assert r.exit_code == 0 and json.loads(r.output)["title"] == "CityTwin scenario"
    r = runner.invoke(app, ["scenario", "list"])
    assert r.exit_code == 0 and "combined_2035" in r.output


@pytest.mark.slow
def test_planner_scripts_run_as_written(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(config.project_root()), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(FOLDER / "planner_ev_pv.py"), "--days", "2",
                          "--out", str(tmp_path)], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "ev-30+pv-60" in out.stdout and len(list(Path(tmp_path).glob("*.nc"))) == 4
    out = subprocess.run([sys.executable, str(FOLDER / "planner_feeder_outages.py"), "--hours",
                          "6"], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "F83 out" in out.stdout and "customers interrupted" in out.stdout
