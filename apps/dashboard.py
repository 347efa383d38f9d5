"""CityTwin dashboard: the utility engineer's workbench on both networks.

Served by ``twin serve`` (behind a login) or ``panel serve apps/dashboard.py``; open
http://localhost:5006/dashboard. Pages: *Now* (the state at a chosen time), *Next 48 hours*
(the look-ahead), *Losses and leaks*, *What-if* and *Maintenance*. A page is built the first
time its tab is opened.

This script runs once per browser session, on the server's event loop, when the page is asked
for: it builds only the page's frame (the template and its empty tabs). The pages join once the
browser has the frame, part by part, each part in its turn on the event loop
(:data:`apps.jobs.TURNS`), the *Now* page's time and numbers first; every solve runs in
:mod:`apps.state`'s worker threads. Everything it builds belongs to that session and is let go
when the session closes (``pn.state.on_session_destroyed``). The city and the results every
session sees alike are computed once per server in :mod:`apps.state` and shared read-only.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import panel as pn

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # `apps` importable, any cwd
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apps import bokeh_defaults, pages  # noqa: E402
from apps.jobs import ASKED, FIRST, REST, in_session_steps, model_batch  # noqa: E402
from apps.pages import now  # noqa: E402

pn.extension(*pages.EXTENSIONS, notifications=False)
bokeh_defaults.install()  # once a process: each change of the page walks its models faster

TITLE = "CityTwin · engineers' workbench"
#: Parts (rows, tables, figures) of a page that join it in one turn of the event loop.
PARTS_PER_TURN = 3

titles = ["Now", *pages.LAZY_PAGES]
now_page = pn.Column(pn.pane.HTML("<p>Opening Now…</p>"), sizing_mode="stretch_width")
tabs = pn.Tabs(("Now", now_page),
               *[(title, pn.Column(pn.pane.HTML(f"<p>Opening {title}…</p>"), name=title,
                                   sizing_mode="stretch_width"))
                 for title in pages.LAZY_PAGES],
               css_classes=["pages"], sizing_mode="stretch_width", dynamic=False)
built: dict[int, object] = {}
releases: list = []  # the Now page's, once it is built


def _open_now() -> None:
    """Build the *Now* page once the browser has the page's frame, in its turns on the event
    loop: the time, the summary cards and the sidebar's pickers first, then the map and
    series, then the tables (:func:`in_session_steps`). The page's request builds only the
    frame.

    Built on the event loop, not in Panel's threads: it is Python work under the one
    interpreter lock, which a thread would only contend for with the event loop (slowing
    every session's turn) without gaining any time."""
    page = {}

    def build() -> None:
        page["sidebar"], page["main"], view, now_release, page["start"] = now.build()
        releases.extend([view.release, now_release])

    def numbers() -> None:
        with model_batch():
            sidebar.extend(page["sidebar"])
            now_page[:] = page["main"][:3]
        page["start"]()  # the map and the series
        rest = [partial(_join, now_page, [part]) for part in page["main"][3:]]
        in_session_steps(rest, [REST] * len(rest))

    in_session_steps([build, numbers], [FIRST, FIRST])


def _open_page(event) -> None:
    """Build a page the first time its tab is chosen, in turns on the event loop (as the
    *Now* page, :func:`_open_now`): its widgets, then its parts joining the tab
    :data:`PARTS_PER_TURN` at a time, from the top."""
    index = event.new
    if index == 0 or index in built:
        return
    title = titles[index]
    built[index] = None  # asked for

    def build() -> None:
        built[index] = pages.LAZY_PAGES[title]()

    def show() -> None:
        column = built[index].panel
        parts = list(column.objects)
        column.objects = parts[:PARTS_PER_TURN]
        with model_batch():
            tabs[index] = (title, column)
        rest = [partial(_join, column, parts[i:i + PARTS_PER_TURN])
                for i in range(PARTS_PER_TURN, len(parts), PARTS_PER_TURN)]
        in_session_steps(rest, [ASKED] * len(rest))

    in_session_steps([build, show], [ASKED, ASKED])


def _join(column, parts: list) -> None:
    with model_batch():
        column.extend(parts)


tabs.param.watch(_open_page, "active")


if pn.state.location is not None:
    pn.state.location.sync(tabs, {"active": "page"})

user = pn.state.user
account = [pn.pane.HTML(f"<p class='signed-in'>Signed in as <b>{user}</b> · "
                        "<a href='/logout'>log out</a></p>")] if user and user != "guest" else []
sidebar = pn.Column(*account, sizing_mode="stretch_width")
# the script's globals are gone by the time a session closes: the callback holds what it needs
pn.state.on_session_destroyed(pages.releaser(
    built, lambda stops=releases: [stop() for stop in stops],  # bound now: globals go first
    roots=(tabs, sidebar)))
template = pn.template.BootstrapTemplate(  # needs no web fonts: works without internet
    title=TITLE, sidebar=[sidebar], main=[tabs], sidebar_width=300,
    header_background="#1b3a4b",
    # no header spinner: Panel's busy state is one for the server and the template's spinner
    # one object, so any session's callback would redraw it in every session (work growing
    # with the square of the sessions); each page shows its own progress
    busy_indicator=None,
)
# the document's model index is rebuilt once, not once per template root
with model_batch():
    template.servable(title=TITLE)
pn.state.onload(_open_now)
