"""How ``twin serve`` starts the dashboard: the ``panel serve`` command line and its environment.

With login (the default) the server checks passwords against the credentials file of
:mod:`twin.users` through the auth module ``apps/auth.py``, and signs its login cookie with the
kept cookie secret; with an identity provider the OAuth settings go to Panel's own ``--oauth-*``
handling. Secrets travel in the environment, never on the command line (which every user of the
machine can read in the process list).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from twin import config, users
from twin.ingest.privacy import KEY_ENV as PSEUDONYM_KEY_ENV

#: Environment variable that gives the dashboard its city folder (as ``--city`` does the CLI).
CITY_ENV = "TWIN_CITY"
#: Environment variable that gives the dashboard its measurement store.
STORE_ENV = "TWIN_STORE"
#: glibc heaps (arenas) the server's threads share: each thread would otherwise grow its own
#: and keep it (sessions' memory not given back after they close).
MALLOC_ARENAS = "2"
#: Python's objects from the C heap rather than Python's own allocator: a closed session's
#: objects are then given back page by page (:func:`apps.state.release_memory` trims the
#: heap) instead of keeping every 1 MiB block in which one object of it outlived the session.
#: ``benchmarks/bench_dashboard_load.py``, quiet, 10 sessions twice, 20 s after close: +2.7
#: and +1.5 % against +8.0 and +0.2 % (the first burst after start kept 45 MiB in each
#: worker); the server starts 80 MiB larger (the workers copy the pages they share with
#: the loader as the C heap writes its bookkeeping there), the level the other reached after
#: its first burst.
PYTHON_ALLOCATOR = "malloc"


class ServeError(ValueError):
    """Settings the dashboard cannot be served with."""


@dataclass(frozen=True)
class OAuthSettings:
    """An identity provider for Panel's OAuth login (``panel serve --oauth-*``)."""

    provider: str
    key: str | None = None
    secret: str | None = None
    redirect_uri: str | None = None
    extra_params: str | None = None
    encryption_key: str | None = None


@dataclass(frozen=True)
class ServeSettings:
    """What ``twin serve`` was asked for."""

    port: int = 5006
    address: str = "localhost"
    city: Path | None = None
    store: str | None = None
    auth: bool = True
    oauth: OAuthSettings | None = None
    show: bool = False
    #: Panel's thread pool (``--num-threads``): the sessions' widget events run in it, off the
    #: event loop; their models join the document on the event loop
    #: (:func:`apps.jobs.in_session`), never from the pool's threads. One thread: the events'
    #: work is Python under the one interpreter lock, which more threads only contend for
    #: (with the event loop among them), and Panel's count of busy events is not safe to
    #: change from two threads at once (seen as a lost click under 10 sessions with 4)
    num_threads: int | None = 1
    #: Worker processes, each a ``panel serve`` on its own port behind a front on ``port``
    #: (``apps/serve.py``, :mod:`apps.front`), forked after the city is loaded and sharing
    #: it; None: one a core
    workers: int | None = None


def apps_dir() -> Path:
    return config.project_root() / "apps"


def panel_serve_command(settings: ServeSettings, python: str = sys.executable,
                        environ: dict | None = None) -> tuple[list[str], dict[str, str]]:
    """The ``panel serve`` command and environment for the dashboard.

    Returns
    -------
    (list of str, dict)
        The command line and the environment to run it with.

    Raises
    ------
    ServeError
        Login asked for but no user in the credentials file, or the app missing.
    users.UsersError
        A credentials file that cannot be read.
    """
    app = apps_dir() / "dashboard.py"
    if not app.exists():
        raise ServeError(f"{app}: dashboard app missing")
    s = settings
    workers = s.workers or os.cpu_count() or 1
    cmd = [python, str(apps_dir() / "serve.py"), "--workers", str(workers), str(app),
           "--port", str(s.port),
           "--address", s.address, "--allow-websocket-origin", f"{s.address}:{s.port}",
           "--allow-websocket-origin", f"127.0.0.1:{s.port}",
           "--allow-websocket-origin", f"localhost:{s.port}", "--liveness",
           # look for closed sessions every second (Bokeh's default: 17 s), so a closed
           # session's memory goes back soon after its 15 s grace
           "--check-unused-sessions", "1000"]
    env = dict(os.environ if environ is None else environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("MALLOC_ARENA_MAX", MALLOC_ARENAS)
    env.setdefault("PYTHONMALLOC", PYTHON_ALLOCATOR)
    if s.city is not None:
        env[CITY_ENV] = str(Path(s.city).resolve())
    if s.store is not None:
        env[STORE_ENV] = str(s.store)
    if not env.get(PSEUDONYM_KEY_ENV):  # meter pseudonyms stay the same across restarts
        env[PSEUDONYM_KEY_ENV] = users.kept_secret(users.pseudonym_key_file())
    if s.show:
        cmd.append("--show")
    if s.num_threads:
        cmd += ["--num-threads", str(s.num_threads)]
    cmd += ["--setup", str(apps_dir() / "warm_up.py")]
    if s.auth:
        secret = users.cookie_secret()
        env["BOKEH_COOKIE_SECRET"] = env["PANEL_COOKIE_SECRET"] = secret
        if s.oauth is not None:
            cmd += ["--oauth-provider", s.oauth.provider]
            for name, value in [("KEY", s.oauth.key), ("SECRET", s.oauth.secret),
                                ("REDIRECT_URI", s.oauth.redirect_uri),
                                ("EXTRA_PARAMS", s.oauth.extra_params),
                                ("ENCRYPTION", s.oauth.encryption_key)]:
                if value:
                    env[f"PANEL_OAUTH_{name}"] = value
        else:
            path = users.users_file()
            if not users.read_users(path):
                raise ServeError(f"{path}: no dashboard users; add one with 'twin users add "
                                 "NAME' (or serve without a login with --no-auth)")
            env[users.USERS_FILE_ENV] = str(path)
            cmd += ["--auth-module", str(apps_dir() / "auth.py")]
    return cmd, env
