"""Sweeps on a real Dask cluster: separate ``dask scheduler`` and ``dask worker`` processes,
one worker killed in the middle; no scenario is lost or written twice."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from twin import config
from twin.scenario import parse_scenarios, result_metrics, run_scenario, run_sweep

SWEEP = """
name: sw
base: {start: 2016-07-14, days: 1, hosting_capacity: false}
changes: [{type: ev, share: 0.1}, {type: rooftop_pv, id: pv, share: 0.4}]
sweep:
  grid: {ev.share: [0, 0.4], pv.share: [0.4, 0.6]}
"""


def _dask(*args: str, env: dict, log: Path) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("dask")
    return subprocess.Popen([str(exe), *args], env=env, stdout=log.open("w"),
                            stderr=subprocess.STDOUT, start_new_session=True)


@pytest.mark.slow
def test_sweep_on_separate_scheduler_and_workers_survives_a_killed_worker(city, tmp_path):
    from distributed import Client

    env = {**os.environ, "PYTHONPATH": str(config.project_root()), "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    sched_file = tmp_path / "scheduler.json"
    procs = [_dask("scheduler", "--scheduler-file", str(sched_file), "--port", "0",
                   "--dashboard-address", ":0", env=env, log=tmp_path / "scheduler.log")]
    try:
        for _ in range(30 * 4):
            if sched_file.exists():
                break
            time.sleep(0.25)
        for k in range(2):
            procs.append(_dask("worker", "--scheduler-file", str(sched_file), "--nthreads", "1",
                               "--no-nanny", "--name", f"w{k}", env=env,
                               log=tmp_path / f"worker{k}.log"))
        scenarios = parse_scenarios(SWEEP)
        out = tmp_path / "results"
        with Client(scheduler_file=str(sched_file), timeout="60s") as client:
            client.wait_for_workers(2, timeout=180)
            killed = []

            def progress(done: int, total: int, name: str) -> None:
                if done >= 1 and not killed:  # a worker dies with tasks still to do
                    os.kill(procs[2].pid, signal.SIGKILL)
                    killed.append(name)

            outcome = run_sweep(city, scenarios, out, client=client, progress=progress)
        assert killed and procs[2].wait(timeout=30) == -signal.SIGKILL
        files = sorted(out.glob("*.nc"))
        assert len(files) == len(scenarios) == 4
        assert {p.stem for p in files} == {s.hash for s in scenarios}
        assert not list(out.glob("*.part")) and not list(out.glob(".*"))
        assert list(outcome.metrics.index) == [s.name for s in scenarios]
        assert len(outcome.worker_memory_mib) == 1  # the survivor
        # a scenario from the cluster equals the same scenario run here
        here = run_scenario(city, scenarios[3])
        pd.testing.assert_series_equal(result_metrics(out / f"{scenarios[3].hash}.nc").value,
                                       here.metrics.value, rtol=1e-12)
        # run again: everything is on disk, nothing runs twice
        with Client(scheduler_file=str(sched_file), timeout="60s") as client:
            again = run_sweep(city, scenarios, out, client=client)
        assert sorted(again.skipped) == sorted(s.name for s in scenarios)
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        shutil.rmtree(tmp_path / "results", ignore_errors=True)
