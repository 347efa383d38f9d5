"""CityTwin dashboard: the utility engineer's workbench on both networks.

Served by ``twin serve`` (behind a login) or ``panel serve apps/dashboard.py``; open
http://localhost:5006/dashboard. Pages: *Now* (the state at a chosen time), *Next 48 hours*
(the look-ahead), *Losses and leaks*, *What-if* and *Maintenance*. A page is built the first
time its tab is opened.

This script runs once per browser session, on the server's event loop: it only builds widgets
(every solve runs in :mod:`apps.state`'s worker threads). Everything it builds belongs to that
session and is let go when the session closes (``pn.state.on_session_destroyed``). The city and
the results every session sees alike are computed once per server in :mod:`apps.state` and
shared read-only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import panel as pn

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # `apps` importable, any cwd
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apps import pages  # noqa: E402
from apps.jobs import in_session, model_batch  # noqa: E402
from apps.pages import now  # noqa: E402

pn.extension("tabulator", notifications=False)

TITLE = "CityTwin · engineers' workbench"

now_sidebar, now_main, view, now_release = now.build()
titles = ["Now", *pages.LAZY_PAGES]
tabs = pn.Tabs(("Now", pn.Column(*now_main, sizing_mode="stretch_width")),
               *[(title, pn.Column(pn.pane.HTML(f"<p>Opening {title}…</p>"), name=title,
                                   sizing_mode="stretch_width"))
                 for title in pages.LAZY_PAGES],
               css_classes=["pages"], sizing_mode="stretch_width", dynamic=False)
built: dict[int, object] = {}


def _open_page(event) -> None:
    """Build a page the first time its tab is chosen: its widgets here (in Panel's thread
    when the server has them), its models on the session's own thread (:func:`in_session`)."""
    index = event.new
    if index == 0 or index in built:
        return
    title = titles[index]
    page = pages.LAZY_PAGES[title]()
    built[index] = page

    def show() -> None:
        with model_batch():
            tabs[index] = (title, page.panel)

    in_session(show)


tabs.param.watch(_open_page, "active")


# the script's globals are gone by the time a session closes: the callback holds what it needs
pn.state.on_session_destroyed(pages.releaser(built, view.release, now_release))
if pn.state.location is not None:
    pn.state.location.sync(tabs, {"active": "page"})

user = pn.state.user
account = [pn.pane.HTML(f"<p class='signed-in'>Signed in as <b>{user}</b> · "
                        "<a href='/logout'>log out</a></p>")] if user and user != "guest" else []
template = pn.template.BootstrapTemplate(  # needs no web fonts: works without internet
    title=TITLE, sidebar=[*account, *now_sidebar], main=[tabs], sidebar_width=300,
    header_background="#1b3a4b",
    # no header spinner: Panel's busy state is one for the server and the template's spinner
    # one object, so any session's callback would redraw it in every session (work growing
    # with the square of the sessions); each page shows its own progress
    busy_indicator=None,
)
# the document's model index is rebuilt once, not once per template root
with model_batch():
    template.servable(title=TITLE)
