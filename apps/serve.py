"""Start the dashboard server: load what every session shares, then hand over to ``panel serve``.

Run by ``twin serve`` (:func:`twin.dashboard_server.panel_serve_command`) as
``python apps/serve.py --workers N <panel serve arguments>``. Before Panel starts, this
process loads the city with its profiles, solves the *Now* page's opening time and the day
around it, and makes the What-if page's opening base run (:mod:`apps.state`), so no session
waits for them. As the server starts, a solver thread rehearses one session's work (:func:`warm_up`, through
``panel serve --setup apps/warm_up.py``).

With ``--workers N`` above 1, it then forks N worker processes, each a whole ``panel serve`` on
its own port with its own event loop, sharing what was loaded copy-on-write, and stays as the
front on the public port (:mod:`apps.front`), which hands each engineer to a worker. One
process holding every session collected their objects in pauses of 0.2-0.5 s that held its
event loop (``/liveness``) while 10 sessions ran or closed; a worker holds half of them. Panel's
own ``--num-procs`` shares one listening socket, so a session's page request and its websocket
could reach different processes and the page could not place what the second built (seen in
Chromium at 252174d).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # `apps` importable, any cwd
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def say(message: str) -> None:
    """One line of the server's start-up progress, at once (also when not a terminal), in one
    write: the worker processes say theirs at the same moment on the same stream (with the
    line and its end written apart, two workers' lines ran together)."""
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()


def prepare(workers: int = 1) -> None:
    """Load and solve what every session shares, in this thread (see the module's text),
    for ``workers`` worker processes forked afterwards (none started a thread before)."""
    from apps import state
    from apps.series_view import OPENING_WINDOW, WINDOWS
    from apps.snapshot_view import opening_at

    started = time.perf_counter()
    say("dashboard: loading the city and its profiles (a fresh machine builds the profiles "
        "first: about 10 s)")
    city = state.load_city_here()
    at = opening_at(city.recipe.year)
    say(f"dashboard: city '{city.recipe.name}' loaded in {time.perf_counter() - started:.1f} s; "
        f"solving {at}, the opening time")
    state.snapshot_and_layers(city, at)
    state.timeline(city, at, WINDOWS[OPENING_WINDOW])
    from apps.pages.whatif import opening_knobs
    from twin.whatif import knobs_scenario

    say("dashboard: the what-if page's opening base run (it also compiles the solvers' "
        "numba code)")
    state.base_result(city, knobs_scenario(opening_knobs(city.recipe.year)))
    # a process's first pn.extension sets HoloViews' plotting backend up (its options'
    # builders): done here once, not in each worker's first session (whose page request
    # held a worker's loop 233 ms in a watched run, 4 of its 6 stack samples in it)
    import panel as pn

    from apps import bokeh_defaults
    from apps.pages import EXTENSIONS

    pn.extension(*EXTENSIONS, notifications=False)
    bokeh_defaults.install()  # for the workers' rehearsal and sessions alike
    state.freeze_shared()
    others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    if workers > 1 and others:  # a forked worker would hold none: its pools would wait for ever
        raise RuntimeError(f"threads started before the server's workers fork: {others}")
    say(f"dashboard: ready in {time.perf_counter() - started:.1f} s; starting the server")


def rehearse() -> None:
    """A session's work done once and let go: every page built, the map and the series figures
    of the opening view drawn, and a what-if with EV and PV shown beside its base (see
    :func:`warm_up`). A page's first build in a process takes ten times its later ones
    (What-if 0.40 s against 0.04 s; Panel and param set up each class on first use)."""
    from dataclasses import replace

    from apps import pages, state
    from apps.network_map import NetworkMap
    from apps.pages import now
    from apps.pages.whatif import compared, opening_knobs
    from apps.series_view import OPENING_WINDOW, WINDOWS, opening_choice, series_figures
    from apps.snapshot_view import opening_at
    from twin.scenario import run_scenario
    from twin.whatif import knobs_scenario

    started = time.perf_counter()
    city = state.city_future().result()
    at = opening_at(city.recipe.year)
    _, _, view, now_release, _ = now.build()
    NetworkMap().draw(state.snapshot_and_layers(city, at)[1])
    series_figures(city, state.timeline(city, at, WINDOWS[OPENING_WINDOW]),
                   *opening_choice(city))
    built = {title: build() for title, build in pages.LAZY_PAGES.items()}
    knobs = replace(opening_knobs(city.recipe.year), ev_share_percent=50.0,
                    pv_share_percent=50.0)
    scenario = knobs_scenario(knobs, "rehearsal")
    built["What-if"].show(*compared(city, state.base_result(city, scenario),
                                    run_scenario(city, scenario)))
    pages.releaser(built, view.release, now_release)(None)
    # what the server made as it started (Panel's and Bokeh's server modules, the warmed
    # classes and caches) lives as long as it: out of the collector's sight too, so that a
    # collection goes through the sessions' objects only (one after sessions closed held a
    # worker's loop 110-240 ms before, most of it in these)
    state.freeze_shared()
    say(f"dashboard: warm in {time.perf_counter() - started:.1f} s")


def warm_up() -> None:
    """Rehearse a session's work in a solver thread as the server starts (``panel serve
    --setup apps/warm_up.py``). What Python, Panel, HoloViews and Bokeh build on first use is
    then built once at start, not in the first sessions: the first render is as quick as
    later ones, and memory after sessions close returns to its level at start. A warm-up that
    fails is said in the server's log; sessions then pay the first-use costs themselves."""
    from apps import state

    def said(done) -> None:
        if done.exception() is not None:
            say(f"dashboard: warm-up failed, the first sessions will be slower: "
                f"{type(done.exception()).__name__}: {done.exception()}")

    state.SOLVERS.submit(rehearse).add_done_callback(said)


def worker_args(panel_args: list[str], port: int, worker_port: int) -> list[str]:
    """``panel_args`` for a worker on ``worker_port``: its ``--port``, the websocket origins
    allowed at the front's ``port`` allowed at the worker's port instead (the page a worker
    serves is that worker's origin), and no ``--show`` (the front opens the one browser)."""
    out = [a for a in panel_args if a != "--show"]
    for i, (flag, value) in enumerate(zip(out, out[1:], strict=False)):
        if flag == "--port":
            out[i + 1] = str(worker_port)
        elif flag == "--allow-websocket-origin" and value.endswith(f":{port}"):
            out[i + 1] = f"{value.rsplit(':', 1)[0]}:{worker_port}"
    return out


def option(panel_args: list[str], flag: str, default: str) -> str:
    """The value of ``flag`` in ``panel_args`` (``default`` if absent)."""
    return panel_args[panel_args.index(flag) + 1] if flag in panel_args else default


def fork_worker(panel_args: list[str], index: int, workers: int, front_sockets: list) -> int:
    """Fork worker ``index`` of ``workers``: a ``panel serve`` with ``panel_args`` over what
    this process loaded (shared copy-on-write); the worker closes its copy of the front's
    ``front_sockets``. Returns the worker's pid (in the parent)."""
    pid = os.fork()
    if pid:
        return pid
    from panel.command import main as panel_main

    from apps import state

    code = 1
    try:
        for sock in front_sockets:
            sock.close()
        state.serve_as_worker(index, workers)
        sys.argv = ["panel", "serve", *panel_args]  # Panel's command line reads sys.argv
        panel_main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def app_names(panel_args: list[str]) -> list[str]:
    """The names under which ``panel serve`` serves the app scripts that lead ``panel_args``
    (``apps/dashboard.py`` -> ``dashboard``)."""
    scripts = []
    for arg in panel_args:
        if arg.startswith("--"):
            break
        scripts.append(Path(arg).stem)
    return scripts


def serve_workers(panel_args: list[str], workers: int) -> int:
    """Fork ``workers`` worker processes, each a ``panel serve`` on its own port, and run the
    front on the public port (:mod:`apps.front`) until a worker stops or a signal comes.
    Returns the exit code."""
    import signal

    from tornado.httpserver import HTTPServer
    from tornado.ioloop import IOLoop, PeriodicCallback
    from tornado.netutil import bind_sockets

    from apps.front import front_app, worker_ports

    port, address = int(option(panel_args, "--port", "5006")), option(panel_args, "--address",
                                                                        "localhost")
    ports = worker_ports(port, workers)
    try:  # before the fork (no event loop yet): a port in use stops the start here
        sockets = bind_sockets(port, address)
    except OSError as exc:
        say(f"dashboard: cannot listen on {address}:{port} ({exc}); give another --port")
        return 1
    pids = {fork_worker(worker_args(panel_args, port, p), k, workers, sockets): p
            for k, p in enumerate(ports)}
    say(f"dashboard: {workers} worker processes on ports {', '.join(map(str, ports))}; "
        f"the front on port {port} hands each engineer to one of them")
    HTTPServer(front_app(address, ports, app_names(panel_args))).add_sockets(sockets)
    if "--show" in panel_args:
        import webbrowser

        webbrowser.open(f"http://{address}:{port}/dashboard")
    loop, code = IOLoop.current(), [0]

    def stop(exit_code: int) -> None:
        code[0] = exit_code
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        loop.add_callback(loop.stop)

    def watch() -> None:
        for pid, worker_port in list(pids.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                del pids[pid]
                say(f"dashboard: the worker on port {worker_port} stopped (exit status "
                    f"{os.waitstatus_to_exitcode(status)}); stopping the server. The server "
                    f"needs port {port} and the {workers} after it: if one is in use, give "
                    f"another --port or fewer --workers")
                stop(1)

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: loop.add_callback_from_signal(stop, 0))
    PeriodicCallback(watch, 1000).start()
    loop.start()
    return code[0]


def main(argv: list[str]) -> None:
    """Prepare, then serve: ``argv`` is ``--workers N`` followed by ``panel serve``'s
    arguments. One worker: ``panel serve`` in this process; more: :func:`serve_workers`."""
    workers, panel_args = int(argv[1]), argv[2:]
    if argv[0] != "--workers" or workers < 1:
        raise SystemExit("usage: serve.py --workers N <panel serve arguments>")
    try:
        prepare(workers)
    except Exception as exc:  # noqa: BLE001  (the city's own error names its file and field)
        say(f"dashboard: cannot start: {type(exc).__name__}: {exc}")
        raise SystemExit(1) from None
    if workers > 1:
        raise SystemExit(serve_workers(panel_args, workers))
    from panel.command import main as panel_main

    sys.argv = ["panel", "serve", *panel_args]  # Panel's command line reads sys.argv
    panel_main()


if __name__ == "__main__":
    main(sys.argv[1:])
