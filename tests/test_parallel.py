"""twin.parallel: a real LocalCluster with BLAS pinned in its workers, and batching."""

from __future__ import annotations

import os

import pytest

from twin.parallel import SCHEDULER_ENV, batches, dask_client, scheduler_address


def _worker_env(_):
    import numba

    return (os.getpid(), os.environ.get("OMP_NUM_THREADS"),
            os.environ.get("OPENBLAS_NUM_THREADS"), numba.config.NUMBA_NUM_THREADS)


def test_local_cluster_workers_are_separate_processes_with_blas_pinned():
    """Workers: BLAS and numba on one thread each. This process: numba's setting untouched
    (numba refuses to compile after it changes once its threads run)."""
    before = os.environ.get("NUMBA_NUM_THREADS")
    with dask_client(n_workers=2) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        seen = client.gather(client.map(_worker_env, range(8)))
        assert os.environ.get("NUMBA_NUM_THREADS") == before
    assert {pid for pid, *_ in seen} - {os.getpid()}
    assert all(omp == "1" and blas == "1" and nb == 1 for _, omp, blas, nb in seen)


def test_scheduler_address_from_argument_or_environment(monkeypatch):
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    assert scheduler_address(None) is None
    monkeypatch.setenv(SCHEDULER_ENV, "tcp://10.0.0.5:8786")
    assert scheduler_address(None) == "tcp://10.0.0.5:8786"
    assert scheduler_address("tcp://other:1") == "tcp://other:1"


def test_batches_cover_every_item_once_in_order():
    items = list(range(103))
    cut = batches(items, 25)
    assert [len(b) for b in cut] == [25, 25, 25, 25, 3]
    assert [x for b in cut for x in b] == items
    with pytest.raises(ValueError, match="at least 1"):
        batches(items, 0)
