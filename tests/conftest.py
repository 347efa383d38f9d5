"""Fixtures shared by the test modules: the sample city and three weeks of its measurements.

``sample_raw`` is a real build of the generator (400 customers, 21 local days from 2016-07-04,
with its four leaks, thefts and meter faults inside the window, listed in ``truth/faults.csv``);
``sample_store`` is that build ingested into a measurement store through the ingestion pipeline.
Both are built once per test session (about 10 s together).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from twin.city import load_city

# The CLI tests give the console's width per call (CliRunner's env COLUMNS). Rich fixes a
# console's width for good when COLUMNS is set as it is made, at import; pytest-xdist's
# workers start with COLUMNS=80, so it is unset before any test module imports the CLI.
os.environ.pop("COLUMNS", None)

#: The window of the shared small build: what the tests of losses, leaks and forecasts use.
SAMPLE_BUILD = {"start": "2016-07-04", "days": 21, "customers": 400}

#: Raw folders that hold measurements (``truth/`` and the manifest are not measurements).
MEASUREMENT_FOLDERS = ("mdm", "amr", "pv", "scada", "greenbutton")


@pytest.fixture(scope="session")
def city():
    """The sample city, as ``twin.city.load_city()`` returns it."""
    return load_city()


@pytest.fixture(scope="session")
def sample_raw(city, tmp_path_factory) -> Path:
    """Folder of raw files of :data:`SAMPLE_BUILD` (``mdm/``, ``amr/``, ``scada/``, ``truth/`` …)."""
    from twin.synthetic.measurements import build_measurements

    out = tmp_path_factory.mktemp("sample_raw")
    build_measurements(city, out, **SAMPLE_BUILD)
    return out


@pytest.fixture(scope="session")
def sample_store(city, sample_raw, tmp_path_factory):
    """A ``MeasurementStore`` holding every measurement file of ``sample_raw``, after VEE."""
    from twin.ingest.pipeline import ingest_paths
    from twin.ingest.store import MeasurementStore

    store = MeasurementStore(str(tmp_path_factory.mktemp("sample_store")))
    reports = ingest_paths(store, [sample_raw / f for f in MEASUREMENT_FOLDERS],
                           timezone=city.timezone)
    errors = [r.error for r in reports if r.error]
    assert not errors, errors
    return store


@pytest.fixture(scope="session")
def pump_tank_network():
    """Builder of the small network of the tank and pump tests: reservoir R (10 m) → pump P
    (40 m at 10 L/s) → J1 → pipe A → J2 (4 L/s × ``pattern``, hourly) → pipe B → tank T (8 m
    across, 3 of 6 m full), 200 m pipes of 200 mm, a 15-min step. ``build(pattern)`` makes a
    new model each call; ``build(pattern, switch_m=(on, off))`` switches the pump by the
    tank's level, on below ``on`` and off above ``off`` [m]."""
    import wntr
    from wntr.network.controls import Control, ControlAction, ValueCondition

    def build(pattern: list[float], switch_m: tuple[float, float] | None = None):
        wn = wntr.network.WaterNetworkModel()
        wn.add_reservoir("R", base_head=10.0)
        wn.add_junction("J1", elevation=0.0)
        wn.add_pattern("USE", list(pattern))
        wn.add_junction("J2", elevation=0.0, base_demand=0.004, demand_pattern="USE")
        wn.add_tank("T", elevation=30.0, init_level=3.0, min_level=0.0, max_level=6.0,
                    diameter=8.0)
        wn.add_curve("H", "HEAD", [(0.01, 40.0)])
        wn.add_pump("P", "R", "J1", "HEAD", "H")
        wn.add_pipe("A", "J1", "J2", length=200.0, diameter=0.2, roughness=120.0)
        wn.add_pipe("B", "J2", "T", length=200.0, diameter=0.2, roughness=120.0)
        wn.options.time.hydraulic_timestep = 900
        wn.options.time.report_timestep = 900
        if switch_m is not None:
            pump, tank = wn.get_link("P"), wn.get_node("T")
            wn.add_control("off", Control(ValueCondition(tank, "level", ">", switch_m[1]),
                                          ControlAction(pump, "status", 0)))
            wn.add_control("on", Control(ValueCondition(tank, "level", "<", switch_m[0]),
                                         ControlAction(pump, "status", 1)))
        return wn

    return build
