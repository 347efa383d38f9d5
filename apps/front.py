"""The dashboard's front door when the server runs several worker processes (``apps/serve.py``).

Each worker process is a whole ``panel serve`` on its own port (the public port + 1, + 2, ...),
with its own event loop. An engineer's session must stay in one process: Bokeh builds the
session's document when the page is asked for and the page places its parts by the models'
ids, so the page request and the websocket that follows have to reach the same process (with
one listening socket shared by the workers, Panel's ``--num-procs``, they did not always, and
the page could not place what the other process built).

The front, on the public port, hands each request to a worker by a redirect that keeps the
path and query (``307``: a form's POST stays a POST). From there the engineer's browser talks
to that worker only: page, static files, websocket, login. Cookies are per host, not per port,
so a login made on one worker holds on all (they share the cookie secret). A request for an
app's page (a new session) goes to the next worker in one turn of the workers, any other
request (the login page, a static file) in another: with one turn for all, an engineer who
logs in first (two requests) took every other worker, and on two workers each session of a
day's first visits landed on the same one.

``/liveness`` on the front asks every worker's ``/liveness`` at once and answers ``200`` when
all answer (``503`` naming those that do not): its latency is the slowest worker's.
"""

from __future__ import annotations

import asyncio
import json
from itertools import cycle

from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.web import Application, RequestHandler

#: Seconds a worker has to answer the front's liveness question.
WORKER_LIVENESS_TIMEOUT_S = 5.0


def worker_ports(port: int, workers: int) -> list[int]:
    """The ports of ``workers`` worker processes behind a front on ``port``."""
    return [port + 1 + k for k in range(workers)]


def worker_url(protocol: str, host: str, port: int, uri: str) -> str:
    """``uri`` (path and query) at the worker on ``port`` of ``host`` (a host name, an IPv4
    address or a bracketed IPv6 address)."""
    return f"{protocol}://{host}:{port}{uri}"


def is_app_page(path: str, apps: list[str]) -> bool:
    """Whether ``path`` (a request's path) asks for the page of one of ``apps`` (their
    names, as ``panel serve`` serves them: ``/dashboard``), i.e. opens a new session."""
    return path.strip("/") in apps


class ToWorker(RequestHandler):
    """Any request: redirected to a worker, path and query kept; a new session to the next
    worker in ``sessions``, anything else to the next in ``others``."""

    def initialize(self, apps: list[str], sessions, others) -> None:
        self.apps, self.sessions, self.others = apps, sessions, others

    def _redirect(self, *_) -> None:
        host = self.request.host_name
        if ":" in host and not host.startswith("["):  # a bare IPv6 address
            host = f"[{host}]"
        turn = self.sessions if is_app_page(self.request.path, self.apps) else self.others
        self.redirect(worker_url(self.request.protocol, host, next(turn), self.request.uri),
                      status=307)

    get = head = post = put = delete = options = _redirect


class Liveness(RequestHandler):
    """``200`` when every worker answers its own ``/liveness``, ``503`` otherwise."""

    def initialize(self, host: str, ports: list[int]) -> None:
        self.host, self.ports = host, ports

    async def _ask(self, port: int) -> dict | None:
        try:
            await AsyncHTTPClient().fetch(f"http://{self.host}:{port}/liveness",
                                          request_timeout=WORKER_LIVENESS_TIMEOUT_S)
        except (OSError, HTTPClientError) as exc:
            return {"port": port, "error": str(exc)}
        return None

    async def get(self) -> None:
        down = [d for d in await asyncio.gather(*map(self._ask, self.ports)) if d is not None]
        self.set_status(503 if down else 200)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"workers": self.ports, "down": down}))


def front_app(address: str, ports: list[int], apps: list[str]) -> Application:
    """The front's tornado application over the workers listening on ``address`` (the
    server's ``--address``) at ``ports``, serving the apps named ``apps``."""
    host = "127.0.0.1" if address in ("", "0.0.0.0", "::") else address
    host = f"[{host}]" if ":" in host else host
    return Application([
        (r"/liveness", Liveness, {"host": host, "ports": ports}),
        (r"/.*", ToWorker, {"apps": apps, "sessions": cycle(ports), "others": cycle(ports)}),
    ])
