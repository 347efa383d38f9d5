"""Start the dashboard server: load what every session shares, then hand over to ``panel serve``.

Run by ``twin serve`` (:func:`twin.dashboard_server.panel_serve_command`) as
``python apps/serve.py <panel serve arguments>``. Before Panel starts, this process loads the
city with its profiles, solves the *Now* page's opening time and the day around it, and makes
the What-if page's opening base run (:mod:`apps.state`), so no session waits for them. As the
server starts, a solver thread rehearses one session's work (:func:`warm_up`, through
``panel serve --setup apps/warm_up.py``).

One server process: with Panel's ``--num-procs`` a session's page request and its websocket
can reach different processes, and the second builds the session again with other model ids,
which the page could not place (seen in Chromium at 252174d).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # `apps` importable, any cwd
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def say(message: str) -> None:
    """One line of the server's start-up progress, at once (also when not a terminal)."""
    print(message, file=sys.stderr, flush=True)


def prepare() -> None:
    """Load and solve what every session shares, in this thread (see the module's text)."""
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
    state.freeze_shared()
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
    state.release_memory()
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


def main(panel_args: list[str]) -> None:
    """Prepare, then run ``panel serve`` with ``panel_args`` in this process."""
    from panel.command import main as panel_main

    try:
        prepare()
    except Exception as exc:  # noqa: BLE001  (the city's own error names its file and field)
        say(f"dashboard: cannot start: {type(exc).__name__}: {exc}")
        raise SystemExit(1) from None
    sys.argv = ["panel", "serve", *panel_args]  # Panel's command line reads sys.argv
    panel_main()


if __name__ == "__main__":
    main(sys.argv[1:])
