"""What every dashboard session shares: the read-only city, the store and the solver threads.

``panel serve`` runs an app script once per browser session but imports modules once per
server process, so everything here exists once and is shared read-only by all sessions.
Nothing here is loaded at import: the city (a few seconds) and, on a fresh machine, its year
of profiles (about 10 s) are prepared in a solver thread the first time a session asks, so
pages appear at once and show a loading state meanwhile.

The city folder is ``$TWIN_CITY`` (``twin serve --city``), the store ``$TWIN_STORE``
(``twin serve --store``, default ``<data directory>/store``).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from twin import config
from twin.city import City, load_city, read_recipe
from twin.dashboard_server import CITY_ENV, STORE_ENV
from twin.scenario import Snapshot, profiles_of, snapshot

#: Threads that solve off the server's event loop, shared by all sessions. Each solve works on
#: its own copies of the networks and its own EPANET files.
SOLVERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="twin-solve")

_lock = threading.Lock()
_city: Future | None = None
_client = None


def city_folder() -> Path | None:
    """The city folder the server was given (``$TWIN_CITY``), None for the sample city."""
    folder = os.environ.get(CITY_ENV)
    return Path(folder) if folder else None


def recipe():
    """The served city's recipe (name, year, time zone): a small YAML read."""
    folder = city_folder()
    if folder is not None and (folder / "recipe.yaml").exists():
        return read_recipe(folder / "recipe.yaml")
    return read_recipe()


def _prepare_city() -> City:
    folder = city_folder()
    city = load_city(str(folder) if folder else None)
    profiles_of(city)  # read from the Parquet cache, or built there on a fresh machine
    return city


def city_future() -> Future[City]:
    """The city with its profiles, loaded once per server in a solver thread.

    A failed load is retried by the next caller, so fixing the data and reloading the page
    is enough.
    """
    global _city
    with _lock:
        if _city is None or (_city.done() and _city.exception() is not None):
            _city = SOLVERS.submit(_prepare_city)
        return _city


def city_is_ready() -> bool:
    """Whether the city has been loaded without error."""
    return _city is not None and _city.done() and _city.exception() is None


def solve(city: City, at: str | pd.Timestamp) -> Future[Snapshot]:
    """Solve both networks at a city time in a solver thread (:func:`twin.scenario.snapshot`)."""
    return SOLVERS.submit(snapshot, city, at)


def store_url() -> str:
    """The measurement store the server reads (``$TWIN_STORE`` or the data directory's)."""
    return os.environ.get(STORE_ENV) or str(config.data_dir() / "store")


def open_store():
    """The measurement store, or :class:`FileNotFoundError` saying how to make one."""
    from twin.ingest.store import MeasurementStore

    url = store_url()
    if "://" not in url and not (Path(url) / "_manifest").is_dir():
        raise FileNotFoundError(f"{url}: no measurement store; build the sample city's data "
                                "with 'twin data build' or ingest the utility's files with "
                                "'twin ingest'")
    return MeasurementStore(url)


def dask_client():
    """One in-process Dask client (threads) for the server's forecasts, made on first use."""
    global _client
    with _lock:
        if _client is None:
            from distributed import Client, LocalCluster

            _client = Client(LocalCluster(processes=False, n_workers=1, threads_per_worker=2,
                                          dashboard_address=None))
        return _client


#: Base runs kept for the what-if page, shared by every session (one per period and limits).
BASE_RESULTS_KEPT = 4
_bases: dict[str, Future] = {}


def base_result(city: City, scenario, progress=None):
    """The base run of a what-if's period, run once per server and shared read-only.

    Called in a solver thread. Sessions asking for the same base at the same time wait for
    one run (which no session can cancel: others may be waiting for it); only the last
    :data:`BASE_RESULTS_KEPT` bases are kept.
    """
    from twin.scenario import run_scenario
    from twin.whatif import base_scenario

    base = base_scenario(scenario)
    with _lock:
        fut = _bases.get(base.hash)
        owner = fut is None or (fut.done() and fut.exception() is not None)
        if owner:
            fut = _bases[base.hash] = Future()
            while len(_bases) > BASE_RESULTS_KEPT:
                del _bases[next(iter(_bases))]
    if owner:
        try:
            fut.set_result(run_scenario(city, base, progress=progress))
        except BaseException as exc:
            fut.set_exception(exc)
    return fut.result()


def results_dir() -> Path:
    """Where the what-if page saves results and scenario files (``<data dir>/scenario-results``)."""
    return config.data_dir() / "scenario-results"


#: Environment variable naming the work-order history (a CMMS export) the Maintenance page
#: assesses; default ``<data directory>/maintenance/work_orders.csv``.
WORK_ORDERS_ENV = "TWIN_WORK_ORDERS"
_assessments: dict[tuple, Future] = {}


def work_orders_path() -> Path:
    """The work-order history the server assesses."""
    env = os.environ.get(WORK_ORDERS_ENV)
    return Path(env) if env else config.data_dir() / "maintenance" / "work_orders.csv"


def assessment(city: City, progress=None):
    """The maintenance assessment of the city (:func:`twin.maintenance.assess`), made once per
    server and history file version, shared read-only. Called in a solver thread."""
    from twin.maintenance import assess

    path = work_orders_path()
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no work-order history; export the CMMS work orders there (or set "
            f"${WORK_ORDERS_ENV}); for the sample city write them with 'twin maintenance "
            "history'")
    key = (str(path), path.stat().st_mtime_ns)
    with _lock:
        fut = _assessments.get(key)
        owner = fut is None or (fut.done() and fut.exception() is not None)
        if owner:
            _assessments.clear()  # an older version of the file is not wanted again
            fut = _assessments[key] = Future()
    if owner:
        try:
            fut.set_result(assess(city, history=path, store=_store_or_none(),
                                  profiles=profiles_of(city), progress=progress))
        except BaseException as exc:
            fut.set_exception(exc)
    return fut.result()


def _store_or_none():
    try:
        return open_store()
    except FileNotFoundError:
        return None
