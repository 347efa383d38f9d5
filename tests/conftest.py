"""Fixtures shared by the test modules: the sample city and three weeks of its measurements.

``sample_raw`` is a real build of the generator (400 customers, 21 local days from 2016-07-04,
with its four leaks, thefts and meter faults inside the window, listed in ``truth/faults.csv``);
``sample_store`` is that build ingested into a measurement store through the ingestion pipeline.
Both are built once per test session (about 10 s together).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.city import load_city

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
