"""What every dashboard session shares: the read-only city and the threads that solve it.

``panel serve`` runs an app script once per browser session but imports modules once per
server process, so everything here exists once and is shared read-only by all sessions.
Nothing here is loaded at import: the city (a few seconds) and, on a fresh machine, its year
of profiles (about 10 s) are prepared in a solver thread the first time a session asks, so
pages appear at once and show a loading state meanwhile.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from twin.city import City, load_city
from twin.scenario import Snapshot, profiles_of, snapshot

#: Threads that solve snapshots off the server's event loop, shared by all sessions. Each
#: solve works on its own copies of the networks and its own EPANET files.
SOLVERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="twin-solve")

_lock = threading.Lock()
_city: Future | None = None


def city_folder() -> Path | None:
    """The city the server shows: ``$TWIN_CITY`` (``twin serve --city`` sets it), else None
    for the sample city."""
    folder = os.environ.get("TWIN_CITY")
    return Path(folder) if folder else None


def _prepare_city() -> City:
    city = load_city(city_folder())
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
