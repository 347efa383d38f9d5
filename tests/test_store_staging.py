"""Stale staging of a killed ingest is cleaned by the next ingest, never a live writer's
(issue 16, item 4).

Real processes, real ``kill -9``: one ingest of a real-format MDM export is killed after it
published a part file into its partition but before its commit; another writer is alive with
a batch staged. The next ``ingest_paths`` removes the dead batch's leftovers (staging folder,
lock file, the published but uncommitted part), leaves the live writer's staging alone, and
the store then holds exactly what a clean store holds after one ingest of the file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from twin.ingest.examples import write_wide
from twin.ingest.pipeline import ingest_paths
from twin.ingest.store import MeasurementStore

TZ = "America/New_York"

# an ingest that stops for good right after its first part file reached its partition
_KILLED_INGEST = textwrap.dedent("""
    import sys, time
    from twin.ingest.pipeline import ingest_paths
    from twin.ingest.store import MeasurementStore
    store = MeasurementStore(sys.argv[1])
    mv = store.fs.mv
    def paused_mv(src, dst, **kw):
        mv(src, dst, **kw)
        if "/electric_interval/" in dst:  # published, the manifest entry not yet moved
            print("PUBLISHED", flush=True)
            time.sleep(300)
    store.fs.mv = paused_mv
    ingest_paths(store, [sys.argv[2]], timezone="America/New_York")
""")

# a writer alive with a batch staged (holding its lock)
_LIVE_WRITER = textwrap.dedent("""
    import sys, time
    import pandas as pd
    from twin.ingest.store import MeasurementStore
    store = MeasurementStore(sys.argv[1])
    staged = store.begin("electric_interval", sys.argv[2], "f" * 64)
    t = pd.date_range("2016-03-02", periods=96, freq="15min", tz="UTC")
    staged.add(pd.DataFrame({"series_id": "LIVE", "time_utc": t, "value": 1.0,
                             "unit": "kWh", "source": "live@0"}))
    print(staged.batch, flush=True)
    time.sleep(300)
""")


def _start(script: str, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)],
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _files(root: Path) -> list[str]:
    """Every file under the store's data folders and staging (relative)."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()
                  and p.relative_to(root).parts[0] not in ("archive",))


def test_killed_ingest_is_cleaned_by_the_next_one_not_a_live_writer(tmp_path):
    export = tmp_path / "interval_wide_2016-03.csv"
    write_wide(export, 3_000, TZ, start="2016-03-01", n_days=3)
    root = tmp_path / "store"
    store = MeasurementStore(root)

    killed = _start(_KILLED_INGEST, root, export)
    live = _start(_LIVE_WRITER, root, export)  # starts meanwhile (imports take seconds)
    try:
        assert killed.stdout.readline().strip() == "PUBLISHED"
    finally:
        _kill(killed)
    assert killed.returncode == -signal.SIGKILL
    try:
        live_batch = live.stdout.readline().strip()
        assert live_batch and (root / "_staging" / live_batch).is_dir()
        dead = [p for p in (root / "_staging").iterdir() if p.is_dir() and p.name != live_batch]
        orphan = [p for p in (root / "electric_interval").rglob("*.parquet")
                  if dead[0].name in p.name]
        assert len(dead) == 1 and (root / "_staging" / f"{dead[0].name}.lock").exists()
        assert len(orphan) == 1  # published, not committed
        assert store.manifest() == []

        reports = ingest_paths(store, [export], timezone=TZ)  # the next ingest
        assert not reports[0].error and not reports[0].skipped

        left = _files(root)
        assert not [f for f in left if dead[0].name in f]  # staging, lock and orphan gone
        assert any(f.startswith(f"_staging/{live_batch}/") for f in left)  # live kept
        assert f"_staging/{live_batch}.lock" in left
    finally:
        _kill(live)

    clean = MeasurementStore(tmp_path / "clean")
    ingest_paths(clean, [export], timezone=TZ)
    pd.testing.assert_frame_equal(store.read("electric_interval"),
                                  clean.read("electric_interval"))
    pd.testing.assert_frame_equal(store.read_quarantine(), clean.read_quarantine())
    committed = {f for e in store.manifest() for f in e["files"]}
    data = [f for f in _files(root) if not f.startswith(("_staging/", "_manifest/"))]
    assert set(data) == committed  # nothing uncommitted left in the partitions
    assert len(data) == len([f for f in _files(Path(clean.root))
                             if not f.startswith(("_staging/", "_manifest/"))])
    assert [e["rows"] for e in store.manifest()] == [e["rows"] for e in clean.manifest()]

    # the live writer died too: now its leftovers go (and the staging folder with them)
    removed = store.vacuum()
    assert any(live_batch in p for p in removed)
    assert not (root / "_staging").exists()
    pd.testing.assert_frame_equal(store.read("electric_interval"),
                                  clean.read("electric_interval"))


def test_a_writer_in_this_process_keeps_its_batch(tmp_path):
    """The lock is per open batch, not per process: vacuum in the writer's own process
    leaves a batch that is still open alone, and cleans it once aborted or committed."""
    store = MeasurementStore(tmp_path / "store")
    src = tmp_path / "x.csv"
    src.write_text("x")
    staged = store.begin("electric_interval", str(src), "e" * 64)
    t = pd.date_range("2016-03-02", periods=4, freq="15min", tz="UTC")
    staged.add(pd.DataFrame({"series_id": "A", "time_utc": t, "value": 1.0, "unit": "kWh",
                             "source": "x@0"}))
    assert store.vacuum() == []
    assert (Path(store.root) / "_staging" / staged.batch).is_dir()
    result = staged.commit()
    assert result.rows == 4 and store.vacuum() == []
    assert len(store.read("electric_interval")) == 4
    assert not (Path(store.root) / "_staging").exists()


@pytest.mark.parametrize("age_h, removed", [(1, False), (48, True)])
def test_object_storage_staging_is_abandoned_after_a_day(age_h, removed):
    """Without file locks (memory://, s3://) a batch counts as abandoned a day after it
    began (its name carries its start)."""
    import time
    import uuid

    store = MeasurementStore(f"memory://staging-{uuid.uuid4().hex}")
    began = time.time_ns() - age_h * 3600 * 1_000_000_000
    folder = store._path("_staging", f"{began:020d}-abcdef01")
    store.fs.makedirs(folder, exist_ok=True)
    with store.fs.open(folder + "/part.parquet", "wb") as f:
        f.write(b"x")
    assert bool(store.vacuum()) is removed
    assert store.fs.exists(folder) is not removed
