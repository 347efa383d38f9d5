"""The one place that creates or connects a Dask client.

Work is spread over a ``distributed.LocalCluster`` on this machine by default, or over a real
cluster when a scheduler address is given (``--scheduler tcp://host:8786`` on the command line or
the ``TWIN_DASK_SCHEDULER`` environment variable). Workers run one thread each with BLAS and
OpenMP pinned to one thread: statsmodels and numpy fits run 5-8x slower when their thread pools
fight over the cores.

Tasks should be batched (tens to hundreds of series, or a slice of time, per task); the
scheduler costs a few milliseconds per task. :func:`batches` cuts a sequence into such batches.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence

#: Environment variable naming the scheduler of a running Dask cluster.
SCHEDULER_ENV = "TWIN_DASK_SCHEDULER"

#: BLAS / OpenMP thread pools pinned to one thread in every worker and in this process. They
#: are read when numpy loads, so workers get them before they start (Dask's nanny sets them
#: in this process's environment to spawn a worker, harmless here).
BLAS_SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
#: Set in each worker once it runs (numba is imported later, by the tasks): one numba
#: thread per worker. Never in this process: numba re-reads the variable whenever it compiles
#: and refuses a new value once its threads run.
WORKER_ENV = {"NUMBA_NUM_THREADS": "1"}


def pin_threads() -> None:
    """Pin BLAS / OpenMP thread pools of this process to one thread (unless already set).

    Numba's pool is left alone here (see :data:`WORKER_ENV`).
    """
    for key, value in BLAS_SINGLE_THREAD_ENV.items():
        os.environ.setdefault(key, value)


def scheduler_address(scheduler: str | None = None) -> str | None:
    """Return the scheduler address to connect to: the argument, else ``$TWIN_DASK_SCHEDULER``.

    ``None`` means "start a local cluster".
    """
    return scheduler or os.environ.get(SCHEDULER_ENV) or None


@contextlib.contextmanager
def dask_client(
    scheduler: str | None = None,
    n_workers: int | None = None,
    threads_per_worker: int = 1,
    memory_limit: str = "auto",
) -> Iterator:
    """Yield a ``distributed.Client``: connected to ``scheduler`` or to a new ``LocalCluster``.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler, e.g. ``tcp://10.0.0.5:8786``. Default: the
        ``TWIN_DASK_SCHEDULER`` environment variable, else a local cluster is started.
    n_workers : int, optional
        Worker processes of the local cluster; default one per core.
    threads_per_worker : int
        Threads per local worker [-]; keep 1 for statsmodels / numpy fits.
    memory_limit : str
        Memory limit per local worker, as Dask understands it (``"4GiB"``, ``"auto"``).

    The local cluster and the client are closed when the block ends; a remote cluster is left
    running (only the client closes).
    """
    from distributed import Client, LocalCluster

    pin_threads()
    address = scheduler_address(scheduler)
    if address:
        client = Client(address)
        try:
            yield client
        finally:
            client.close()
        return
    import dask

    workers = n_workers or os.cpu_count() or 1
    with dask.config.set({"distributed.nanny.pre-spawn-environ": dict(BLAS_SINGLE_THREAD_ENV)}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker,
                               processes=True, memory_limit=memory_limit,
                               dashboard_address=None, env=dict(WORKER_ENV))
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def batches(items: Sequence, size: int) -> list[Sequence]:
    """Cut ``items`` into consecutive batches of at most ``size`` (the last may be shorter).

    Examples
    --------
    >>> batches(list(range(5)), 2)
    [[0, 1], [2, 3], [4]]
    """
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    return [items[i:i + size] for i in range(0, len(items), size)]
