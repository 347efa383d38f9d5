"""What every dashboard session shares: the read-only city, the store and the solver threads.

``panel serve`` runs an app script once per browser session but imports modules once per
server process, so everything here exists once a process and is shared read-only by its
sessions. ``twin serve`` starts the server through ``apps/serve.py``, which loads the city with
its profiles (:func:`load_city_here`) and solves the opening view before it forks one worker
process a core, which inherit all of it copy-on-write; each worker has its own event loop and
threads, and "once per server" below means once per worker process. Served otherwise
(``panel serve``, a test), nothing here is loaded at import: the city (a few seconds) and, on
a fresh machine, its year of profiles (about 10 s) are prepared in a solver thread the first
time a session asks, so pages appear at once and show a loading state meanwhile.

Results that are the same for every session (a snapshot at a time and its map layers, the base
timeline around a time, the base run of a what-if's period, the losses review of a period, the
maintenance assessment) are computed once per server by :class:`SharedResults`, keyed by all
their inputs, and shared read-only: no session's own change (a what-if's knobs) is part of
them. What-ifs, which are each session's own, queue in :data:`WHATIFS`, a pool sized to the
process's share of the cores that runs them in the order they were asked for and tells each
its place in the queue.

The city folder is ``$TWIN_CITY`` (``twin serve --city``), the store ``$TWIN_STORE``
(``twin serve --store``, default ``<data directory>/store``).
"""

from __future__ import annotations

import ctypes
import gc
import os
import sys
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from twin import config
from twin.city import FILES, City, load_city, read_recipe, sample_city_dir
from twin.dashboard_server import CITY_ENV, STORE_ENV
from twin.scenario import Snapshot, profiles_of, snapshot

#: Threads that solve the shared results off the server's event loop (city, snapshots,
#: timelines, losses, look-ahead). Each solve works on its own copies of the networks and its
#: own EPANET files.
SOLVERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="twin-solve")

#: How long a thread holds the interpreter lock before one that waits gets it [s] (Python's
#: default 0.005). The event loop gives the lock up at every write to a socket, and then waits
#: that long for a worker thread to hand it back: a turn of some 60 ms of work with a hundred
#: writes took 400-750 ms under 10 sessions' solves and figures (the convoy effect)
#: and 300 ms at 0.5 ms.
SWITCH_INTERVAL_S = 0.0005
sys.setswitchinterval(SWITCH_INTERVAL_S)


class FairPool:
    """A first-come first-served pool of worker threads that knows each waiting job's place.

    Each session runs one what-if at a time (its Run button is disabled meanwhile), so serving
    the queue in order is fair between sessions: nobody's run waits for a later one.

    Parameters
    ----------
    workers : int
        Threads running at once (the machine's cores).
    """

    def __init__(self, workers: int, name: str):
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._waiting: list[Future] = []
        self._lock = threading.Lock()

    def submit(self, func: Callable, *args, **kwargs) -> Future:
        """Queue ``func(*args, **kwargs)``; its future leaves the queue when it starts."""
        ticket: list[Future] = []

        def started():
            with self._lock:
                if ticket[0] in self._waiting:
                    self._waiting.remove(ticket[0])
            return func(*args, **kwargs)

        with self._lock:
            fut = self._pool.submit(started)
            ticket.append(fut)
            if not fut.running() and not fut.done():
                self._waiting.append(fut)
        fut.add_done_callback(self._forget)
        return fut

    def _forget(self, fut: Future) -> None:
        with self._lock:
            if fut in self._waiting:  # cancelled while waiting
                self._waiting.remove(fut)

    def position(self, fut: Future) -> int:
        """How many jobs wait before ``fut`` plus one; 0 when it runs or has finished."""
        with self._lock:
            return self._waiting.index(fut) + 1 if fut in self._waiting else 0


#: What-if runs of all sessions: one worker per core, served in the order asked.
WHATIFS = FairPool(max(1, os.cpu_count() or 1), "twin-whatif")
#: This process's place among the server's worker processes (0 when it is the only one).
WORKER_INDEX = 0


def serve_as_worker(index: int, workers: int) -> None:
    """Make this process worker ``index`` of ``workers`` (``apps/serve.py``, after the fork,
    before Panel starts): :data:`WHATIFS` sized to its share of the cores, and its place for
    :func:`release_memory_soon`."""
    global WHATIFS, WORKER_INDEX
    WHATIFS = FairPool(max(1, (os.cpu_count() or 1) // workers), "twin-whatif")
    WORKER_INDEX = index


class SharedResults:
    """Read-only results computed once per server for each key and kept for the last few keys.

    Called in a worker thread. Callers asking for the same key at the same time wait for one
    computation (which no caller can cancel: others may be waiting for it); a failed one is
    retried by the next caller. The key must hold every input of the computation (the city
    by :func:`id`: one city lives as long as the server).

    Parameters
    ----------
    keep : int
        Results kept; the oldest is dropped first.
    """

    def __init__(self, keep: int):
        self.keep = keep
        self._results: dict[Hashable, Future] = {}

    def get(self, key: Hashable, compute: Callable[[], object]):
        """The result for ``key``, computed by ``compute()`` if nobody has yet."""
        with _lock:
            fut = self._results.get(key)
            owner = fut is None or (fut.done() and fut.exception() is not None)
            if owner:
                fut = self._results[key] = Future()
                while len(self._results) > self.keep:
                    del self._results[next(iter(self._results))]
        if owner:
            try:
                fut.set_result(compute())
            except BaseException as exc:
                fut.set_exception(exc)
        return fut.result()

    def peek(self, key: Hashable):
        """The result for ``key`` if it has been computed without error, else None (never
        waits, never computes: for the event loop)."""
        with _lock:
            fut = self._results.get(key)
        if fut is None or not fut.done() or fut.exception() is not None:
            return None
        return fut.result()

    def clear(self) -> None:
        with _lock:
            self._results.clear()


def _quiet(progress):
    """A session's progress callback for shared work: it reports, but its session's cancel
    (or a closed page) cannot stop work other sessions wait for."""
    if progress is None:
        return None

    def report(*args):
        try:
            progress(*args)
        except Exception:  # noqa: BLE001  (the session's cancel; the shared work goes on)
            pass

    return report

_lock = threading.Lock()
_city: Future | None = None
_client = None


def city_folder() -> Path | None:
    """The city folder the server was given (``$TWIN_CITY``), None for the sample city."""
    folder = os.environ.get(CITY_ENV)
    return Path(folder) if folder else None


def recipe():
    """The served city's recipe (name, year, time zone): a small YAML read."""
    return read_recipe((city_folder() or sample_city_dir()) / FILES["recipe"])


def _prepare_city() -> City:
    folder = city_folder()
    city = load_city(str(folder) if folder else None)
    profiles_of(city)  # read from the Parquet cache, or built there on a fresh machine
    freeze_shared()
    return city


#: The garbage collector's thresholds while the server runs (Python's: 700, 10, 10). A
#: session's page build makes tens of thousands of short-lived objects; with a young
#: generation of 700 many lived through a young collection and were promoted, and the full
#: collections that followed every 1-3 s while sessions ran (0.1-0.3 s each, holding every
#: thread, the event loop's too) were the longest waits of ``/liveness``. With these, none
#: ran while 10 sessions did; what is left of the sessions' cycles once they close
#: (:func:`untangle_session`) is collected once after a burst of them closed
#: (:func:`release_memory_soon`, and Panel's collection a few seconds after the last).
COLLECTOR_THRESHOLDS = (20_000, 50, 1_000)


def freeze_shared() -> None:
    """Put what exists now (the city, its profiles, shared results, imported modules: what
    lives as long as the server) out of the garbage collector's sight, so its full collections
    (which hold every thread, the event loop's too) only go through what sessions made since
    (0.33 s a collection before), and set :data:`COLLECTOR_THRESHOLDS`."""
    release_memory()
    gc.freeze()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


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


def load_city_here() -> City:
    """Load the city with its profiles in the calling thread, once: the server's start, before
    it forks its worker processes (``apps/serve.py``), which then share it copy-on-write.
    Never after a solver thread has started (a fork keeps no thread)."""
    global _city
    with _lock:
        if not city_is_ready():
            done: Future[City] = Future()
            done.set_result(_prepare_city())
            _city = done
        return _city.result()


def city_is_ready() -> bool:
    """Whether the city has been loaded without error."""
    return _city is not None and _city.done() and _city.exception() is None


#: Snapshots with their map layers, shared by the sessions showing the same time.
SNAPSHOTS = SharedResults(keep=16)
#: Base timelines around a time (the *Now* page's series), shared likewise.
TIMELINES = SharedResults(keep=8)


def _snapshot_and_layers(city: City, at: str) -> tuple[Snapshot, dict]:
    from apps.network_map import map_layers

    snap = snapshot(city, at)
    return snap, map_layers(city, snap)


def snapshot_and_layers(city: City, at: str | pd.Timestamp) -> tuple[Snapshot, dict]:
    """Both networks solved at a city time (:func:`twin.scenario.snapshot`) and the map layers
    that show it (:func:`apps.network_map.map_layers`), once per server and time, in the
    calling thread."""
    key = str(at).strip()
    return SNAPSHOTS.get((id(city), key), lambda: _snapshot_and_layers(city, key))


def solve(city: City, at: str | pd.Timestamp) -> Future[tuple[Snapshot, dict]]:
    """:func:`snapshot_and_layers` in a solver thread."""
    return SOLVERS.submit(snapshot_and_layers, city, at)


def solved(at: str) -> tuple[City, Snapshot, dict] | None:
    """The city, the snapshot at a city time and its map layers if the server holds them
    already (a warm server at a time some session has shown), else None. Never waits: a page
    being built on the event loop can show them in its first render."""
    if not city_is_ready():
        return None
    city = _city.result()
    hit = SNAPSHOTS.peek((id(city), str(at).strip()))
    return None if hit is None else (city, *hit)


def timeline(city: City, at: str, days: int):
    """The base timeline around a city time (:func:`twin.timeline.base_timeline`), once per
    server, time and window. Called in a solver thread."""
    from twin.timeline import base_timeline

    return TIMELINES.get((id(city), str(at).strip(), days),
                         lambda: base_timeline(city, profiles_of(city), at, days))


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


#: Base runs of the what-if page, shared by every session (one per period and limits).
BASES = SharedResults(keep=4)


def base_result(city: City, scenario, progress=None):
    """The base run of a what-if's period, run once per server and shared read-only.

    Called in a worker thread; sessions asking for the same base at the same time wait for
    one run.
    """
    from twin.scenario import run_scenario
    from twin.whatif import base_scenario

    base = base_scenario(scenario)
    return BASES.get((id(city), base.hash), lambda: run_scenario(city, base, progress=_quiet(progress)))


#: Losses reviews of a period, shared by every session.
LOSSES = SharedResults(keep=4)


def losses_review(city: City, first, days: int, progress=None):
    """The losses review of ``days`` days from ``first`` (:func:`twin.loss_review.
    losses_of_period`), once per server, period and store version. Called in a worker thread.
    """
    from twin.loss_review import losses_of_period

    store = open_store()
    return LOSSES.get((id(city), store_url(), str(first), int(days), _store_version()),
                      lambda: losses_of_period(city, store, first, days,
                                                       _quiet(progress)))


def _store_version() -> int | None:
    """When the store last changed (its manifest's modification time [ns]), None if remote."""
    manifest = Path(store_url()) / "_manifest"
    return manifest.stat().st_mtime_ns if manifest.exists() else None


_trim_timer: threading.Timer | None = None


#: Seconds between the worker processes' releases of memory after a burst of closed sessions
#: (:func:`release_memory_soon`): a release collects the sessions' objects, which holds its
#: worker's event loop (0.1-0.3 s after 5 sessions); one worker at a time, the others answer.
RELEASE_STAGGER_S = 2.0


def release_memory_soon(delay_s: float = 0.5) -> None:
    """:func:`release_memory` once, ``delay_s`` after the last of a burst of closed sessions
    (in a timer thread, off the event loop), and :data:`RELEASE_STAGGER_S` later for each
    worker process before this one (:data:`WORKER_INDEX`)."""
    global _trim_timer
    delay_s += RELEASE_STAGGER_S * WORKER_INDEX
    with _lock:
        if _trim_timer is not None:
            _trim_timer.cancel()
        _trim_timer = threading.Timer(delay_s, release_memory)
        _trim_timer.daemon = True
        _trim_timer.start()


def untangle_session(roots: list) -> None:
    """Break the reference cycles of a closed session's components, ``roots`` and every
    component under them: their Bokeh models by root, their watchers and their own copies of
    parameters (with :func:`untangle_destroyed_models`). Reference counting then frees most
    of the session as it closes, one session at a time in its own turn of the event loop, and
    the collection after a burst of closed sessions (:func:`release_memory_soon`) has less
    to go through. Measured with 10 sessions on two workers, quiet, before ``_internal_callbacks``
    was cleared too: 47-79 thousand objects left to the collector per worker and 120-137 ms,
    against 97-175 thousand and 170-242 ms."""
    for root in roots:
        for component in root.select():
            for held in ("_models", "_callbacks", "_internal_callbacks"):
                if isinstance(getattr(component, held, None), dict | list):
                    getattr(component, held).clear()
            private = getattr(component, "_param__private", None)
            if private is not None:
                private.watchers = {}
                private.dynamic_watchers.clear()
                private.ref_watchers = []
                private.params.clear()


def untangle_destroyed_models() -> None:
    """Make a Bokeh model that a closed session's document destroys also drop the default
    and themed values it made on first read and its callbacks. Bokeh's ``Model.destroy``
    drops its document and property values only; those values are containers that point back
    at the model, and the callbacks are methods of the components that hold the model, so
    each model of a closed session stayed in a cycle. Done once per process."""
    from bokeh.model import Model

    if getattr(Model.destroy, "untangles", False):
        return
    destroy = Model.destroy

    def destroy_untangled(model: Model) -> None:
        destroy(model)
        model._unstable_default_values.clear()
        model._unstable_themed_values.clear()
        model._callbacks.clear()
        model._event_callbacks.clear()

    destroy_untangled.untangles = True
    Model.destroy = destroy_untangled


def release_memory() -> None:
    """Give memory freed by closed sessions back to the system (collect cycles, trim the C
    heap), so the server's resident size returns to its level."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def results_dir() -> Path:
    """Where the what-if page saves results and scenario files (``<data dir>/scenario-results``)."""
    return config.data_dir() / "scenario-results"


#: Environment variable naming the work-order history (a CMMS export) the Maintenance page
#: assesses; default ``<data directory>/maintenance/work_orders.csv``.
WORK_ORDERS_ENV = "TWIN_WORK_ORDERS"
ASSESSMENTS = SharedResults(keep=1)  # an older version of the file is not wanted again


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
    key = (id(city), str(path), path.stat().st_mtime_ns)
    return ASSESSMENTS.get(key, lambda: assess(city, history=path, store=_store_or_none(),
                                               profiles=profiles_of(city),
                                               progress=_quiet(progress)))


def _store_or_none():
    try:
        return open_store()
    except FileNotFoundError:
        return None
