"""Per-session state of the dashboard: the chosen time and the latest snapshot.

One :class:`SnapshotView` exists per browser session. Solving runs in the shared solver
threads of :mod:`apps.state`, once per server and time (sessions showing the same time share
the read-only snapshot and its map layers); the session's event loop only awaits it, so other
sessions and this page's widgets stay responsive. When the time changes again before a solve finishes,
only the newest result is shown.
"""

from __future__ import annotations

import asyncio
import logging

import param

from apps import state
from twin.scenario import Snapshot
from twin.timeutil import TimeError

log = logging.getLogger(__name__)

#: The time a session opens at in the city's year: (month, day, clock) in the city's clock.
OPENING_TIME = (7, 14, "18:00")


def opening_at(year: int) -> str:
    """The city time a session opens at, in the city's ``year`` (e.g. '2016-07-14 18:00')."""
    month, day, clock = OPENING_TIME
    return f"{year:04d}-{month:02d}-{day:02d} {clock}"


class SnapshotView(param.Parameterized):
    """The state of both networks at one chosen city time, for one session."""

    # every page passes the served city's opening time; the default is the sample city's
    at = param.String(default=opening_at(2016), doc="City time to show, e.g. '2016-07-14 18:00'.")
    snapshot = param.ClassSelector(class_=Snapshot, default=None, allow_None=True,
                                   doc="The latest solved snapshot (shared, read-only).")
    layers = param.Dict(default=None, allow_None=True,
                        doc="The map layers of :attr:`snapshot` (shared, read-only).")
    busy = param.Boolean(default=False, doc="A solve is under way.")
    status = param.String(default="", doc="What the view is doing, for the page.")
    error = param.String(default="", doc="Why the chosen time could not be shown.")

    def __init__(self, **params):
        super().__init__(**params)
        self.city = None
        self._ticket = 0
        self._shown_at = None

    def show_if_solved(self) -> bool:
        """Show the state at :attr:`at` at once if the server has solved it already
        (:func:`apps.state.solved`), so a page built now carries it in its first render
        instead of asking for it after the browser has drawn the page; whether it did."""
        hit = state.solved(self.at)
        if hit is None:
            return False
        self._ticket += 1
        self.city, snap, self.layers = hit
        self.error, self._shown_at = "", self.at
        self.snapshot = snap
        return True

    def release(self) -> None:
        """Drop this session's hold on the shared results (its page has closed)."""
        self._ticket += 1
        self.snapshot, self.layers, self.city = None, None, None

    @param.depends("at", watch=True)
    async def _at_changed(self):
        await self.refresh()

    async def refresh(self) -> None:
        """Solve at :attr:`at` off the event loop and publish the result or the error."""
        at = self.at
        if self.snapshot is not None and at == self._shown_at and not self.error:
            return  # shown already (see show_if_solved)
        self._ticket += 1
        ticket = self._ticket
        self.busy = True
        try:
            if self.city is None:
                if not state.city_is_ready():
                    self.status = ("Loading the city and its year of load and PV profiles "
                                   "(the first start on a machine builds them, about 10 s)…")
                self.city = await asyncio.wrap_future(state.city_future())
            self.status = f"Solving both networks at {at}…"
            snap, layers = await asyncio.wrap_future(state.solve(self.city, at))
        except TimeError as exc:
            if ticket == self._ticket:
                self.error = str(exc)
        except Exception as exc:  # show it on the page; the server log keeps the traceback
            log.exception("dashboard: solving at %s failed", at)
            if ticket == self._ticket:
                self.error = f"Could not solve the networks at {at}: {exc}"
        else:
            if ticket == self._ticket:
                self.error, self._shown_at = "", at
                self.layers = layers
                self.snapshot = snap
        finally:
            if ticket == self._ticket:
                self.busy = False
                self.status = ""
