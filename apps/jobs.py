"""Long work of one session, run in the shared solver threads with progress and a cancel; and
the event loop's turns (:class:`LoopTurns`) in which sessions' changes of their pages are made.

The event loop only awaits the thread. A job run in a :class:`~apps.state.FairPool` (the
what-ifs) shows its place in the queue until it starts. Progress comes back from the worker thread as plain
numbers; a periodic callback of the session copies them to the page, so bokeh models are only
touched under the session's own lock. A cancelled job's result is dropped (and the work is told
to stop when it accepts a ``cancel`` event).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import threading
import time
from functools import partial

import panel as pn
import param
from panel.io.callbacks import PeriodicCallback

from apps import state

log = logging.getLogger(__name__)

#: Errors whose message is meant for the user as it stands (bad input, missing data).
USER_ERRORS = (ValueError, KeyError, FileNotFoundError, LookupError)


def on_session_thread() -> bool:
    """Whether this thread is the one the session's document belongs to (the server's event
    loop), rather than one of Panel's threads (``--num-threads``), which run a session's
    widget callbacks while the event loop may be changing the same document."""
    owner = pn.state._thread_id  # the thread Panel built the session's document on
    return owner is None or owner == threading.get_ident()


#: Pause of the event loop after each session's change that takes a turn [s]: the loop answers
#: what has arrived meanwhile (``/liveness``, clicks, other sessions' messages) before the next.
BREATH_S = 0.005
#: Turns' priorities, first served first: what a session shows first (its page request, the
#: *Now* page's time and numbers), what an engineer asked for (a page opened, a what-if's
#: results), then the rest (maps, series, tables that follow).
FIRST, ASKED, REST = 0, 1, 2
#: A turn that holds the event loop longer than this is logged [s] (/liveness' floor).
SLOW_TURN_S = 0.2


class LoopTurns:
    """The sessions' changes of their models, one at a time on the server's event loop, by
    priority and then in the order asked, with a breath (:data:`BREATH_S`) after each.

    A change of a document (a page joining it, a what-if's results, a figure) is a synchronous
    spell of tens to hundreds of ms on the one event loop every session and request shares.
    Run as they come, ten sessions' spells ready at once ran back to back in one turn of the
    loop, and a request that arrived meanwhile waited for all of them (seconds of /liveness);
    taking turns, it waits for the one spell under way. Served by priority, the sessions'
    first views do not queue behind other sessions' figures.
    """

    def __init__(self):
        self._no_first = threading.Event()
        self._start(None)

    def _start(self, loop) -> None:
        """An empty queue on ``loop`` (a server has one event loop; a queue left by another,
        closed with a release still scheduled, is not carried over)."""
        self._loop = loop
        self._busy = False
        self._waiting: list[tuple[int, int, asyncio.Future]] = []  # a heap
        self._order = itertools.count()
        self._first = 0  # FIRST turns waiting or under way
        self._no_first.set()

    def yield_to_first_views(self, timeout_s: float = 2.0) -> None:
        """Wait (in a worker thread) while sessions' first views wait for or take their turns,
        at most ``timeout_s`` [s]. Python work in a thread holds the one interpreter lock as
        much as the event loop does: a worker's figures built meanwhile would slow every
        session's first view, and are not needed before it."""
        self._no_first.wait(timeout_s)

    async def _acquire(self, priority: int) -> None:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._start(loop)
        if priority == FIRST:
            self._first += 1
            self._no_first.clear()
        if not self._busy and not self._waiting:
            self._busy = True
            return
        turn = loop.create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), turn))
        try:
            await turn  # handed over by _release: the queue stays busy
        except BaseException:  # the waiting task was cancelled
            if turn.done() and not turn.cancelled():
                self._release(priority)  # handed the turn just now: pass it on
            else:
                self._done(priority)
            raise

    def _done(self, priority: int) -> None:
        if priority == FIRST:
            self._first -= 1
            if not self._first:
                self._no_first.set()

    def _release(self, priority: int) -> None:
        self._done(priority)
        while self._waiting:
            *_, turn = heapq.heappop(self._waiting)
            if not turn.done():  # a waiter whose task was cancelled is passed over
                turn.set_result(None)
                return
        self._busy = False

    async def take_step(self, priority: int = FIRST) -> None:
        """Take a turn for the synchronous work that follows this ``await`` in the caller's
        task, up to its next real suspension (bokeh building a session's document on its
        request); the turn passes on a breath after that step."""
        await self._acquire(priority)
        loop = asyncio.get_running_loop()
        loop.call_soon(loop.call_later, BREATH_S, self._release, priority)

    @contextlib.asynccontextmanager
    async def turn(self, priority: int = ASKED):
        """``async with TURNS.turn(priority):`` then the change, with no ``await`` inside."""
        await self._acquire(priority)
        try:
            yield
        finally:
            asyncio.get_running_loop().call_later(BREATH_S, self._release, priority)


#: The server's one queue of session changes (:class:`LoopTurns`; one event loop a server).
TURNS = LoopTurns()


def in_session(change, priority: int = ASKED) -> None:
    """Call ``change()`` (a change of the session's models) on the session's own thread, with
    its document's lock, when its turn comes (:data:`TURNS`); at once when the page is not
    served (built in a test or a notebook)."""
    doc = pn.state.curdoc
    if doc is None or doc.session_context is None:
        change()
        return

    async def when_its_turn() -> None:
        async with TURNS.turn(priority):
            started, cpu = time.perf_counter(), time.thread_time()
            change()
            took = time.perf_counter() - started
            if took > SLOW_TURN_S:
                log.warning("a turn of %s held the event loop %.0f ms (%.0f ms of CPU)",
                            _name(change), 1e3 * took, 1e3 * (time.thread_time() - cpu))

    doc.add_next_tick_callback(when_its_turn)  # bokeh's one thread-safe call of a document


def _name(change) -> str:
    """A change's name for the log (of the function a ``partial`` wraps)."""
    change = getattr(change, "func", change)
    return getattr(change, "__qualname__", repr(change))


def in_session_steps(changes: list, priorities: list[int]) -> None:
    """:func:`in_session` for each of ``changes`` in order, with its priority, each asking for
    its turn once the one before has run: a page joining part by part takes its turns between
    other sessions' instead of all of them at once."""
    if not changes:
        return

    def step() -> None:
        changes[0]()
        in_session_steps(changes[1:], priorities[1:])

    step.__qualname__ = _name(changes[0])

    in_session(step, priorities[0])


def model_batch():
    """A context in which the session's document indexes its new models once, at the end,
    instead of after every root or layout change (what makes adding a page or a result on the
    event loop slow: 1.3-4.3 s -> 0.6-1.1 s for the whole *Now* page at load average 12-15).

    Only on the session's own thread (:func:`in_session`): from another thread the freeze and
    the re-indexing would race the event loop's changes of the same document (a re-index
    that started before a page joined ends after it and drops the page's models from the
    document: their later changes and the browser's clicks on them are lost)."""
    doc = pn.state.curdoc
    if doc is None:
        return contextlib.nullcontext()
    if not on_session_thread():
        log.warning("model_batch called off the session's thread (%s): not batched",
                    threading.current_thread().name)
        return contextlib.nullcontext()
    return doc.models.freeze()


class Cancelled(Exception):
    """The user cancelled the job."""


def user_message(what: str, exc: BaseException) -> str:
    """One line for the page: the library's own message for a user error, else a summary."""
    if isinstance(exc, KeyError) and exc.args:
        return str(exc.args[0])
    if isinstance(exc, USER_ERRORS):
        return str(exc)
    return f"{what} failed ({type(exc).__name__}: {exc}); the server log has the details"


class Job(param.Parameterized):
    """One session's long-running call: state for the page's progress bar, message and error."""

    running = param.Boolean(default=False)
    fraction = param.Number(default=0.0, bounds=(0, 1))
    message = param.String(default="")
    error = param.String(default="")

    def __init__(self, what: str, **params):
        super().__init__(**params)
        self.what = what
        self._ticket = 0
        self._cancel: threading.Event | None = None
        self._raw = (0.0, "")
        self._poll = None
        self._queued = None  # (pool, future) while it waits in a FairPool

    def progress(self, done: float, total: float, label: str = "") -> None:
        """Report progress from the worker thread (cheap; shown by the page's next poll)."""
        if self._cancel is not None and self._cancel.is_set():
            raise Cancelled()
        self._raw = (min(max(done / total, 0.0), 1.0) if total else 0.0, label)

    def _start_poll(self, ticket: int) -> None:
        if ticket != self._ticket or not self.running or self._poll is not None:
            return
        # background: a poll does not flip Panel's busy state, which is one for the whole
        # server (every tick would otherwise update a model in every session's document)
        self._poll = PeriodicCallback(callback=self._show_progress, period=250, background=True)
        self._poll.start()

    def _show_progress(self) -> None:
        if self._queued is not None:
            pool, fut = self._queued
            place = pool.position(fut)
            if place:
                self.message = (f"{self.what}: waiting, {place - 1} "
                                f"run{'s' if place != 2 else ''} ahead in the queue "
                                f"({pool.workers} at a time)")
                return
            self._queued = None
            self.message = f"{self.what}…"
        self.fraction, label = self._raw
        if label:
            self.message = label

    def cancel(self) -> None:
        """Stop waiting for the running call; its result will be dropped."""
        if self.running and self._cancel is not None:
            self._cancel.set()
            if self._queued is not None:
                self._queued[1].cancel()  # still waiting: leave the queue
                self._queued = None
            self._ticket += 1
            self._finish(f"{self.what} cancelled")

    def release(self) -> None:
        """The page has closed: cancel what runs and stop polling."""
        self.cancel()
        if self._poll is not None:
            self._poll.stop()
            self._poll = None

    def _finish(self, message: str) -> None:
        if self._poll is not None:
            self._poll.stop()
            self._poll = None
        self._queued = None
        self.running = False
        self.message = message

    async def run(self, func, *args, pool=None, **kwargs):
        """Run ``func(*args, cancel=event, **kwargs)`` in a solver thread (or in ``pool``, a
        :class:`~apps.state.FairPool`, showing the place in its queue); return its result,
        or None when it failed (:attr:`error` says why) or was cancelled."""
        self._ticket += 1
        ticket = self._ticket
        self._cancel = cancel = threading.Event()
        self._raw = (0.0, "")
        if pool is None:
            fut = state.SOLVERS.submit(func, *args, cancel=cancel, **kwargs)
        else:
            fut = pool.submit(func, *args, cancel=cancel, **kwargs)
            self._queued = (pool, fut)
        async with TURNS.turn(ASKED):  # the page shows it runs: a change of its models
            self.error, self.fraction = "", 0.0
            self.running, self.message = True, f"{self.what}…"
            if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
                # polled once the page is in the browser: before, Panel defers every change
                # and a starting poll re-schedules itself on every tick of the event loop
                pn.state.onload(partial(self._start_poll, ticket))
            if self._queued is not None:
                self._show_progress()
        try:
            result = await asyncio.wrap_future(fut)
        except (Cancelled, asyncio.CancelledError):
            return None
        except Exception as exc:  # shown on the page; the server log keeps the traceback
            if ticket == self._ticket:
                if not isinstance(exc, USER_ERRORS):
                    log.exception("dashboard: %s failed", self.what)
                async with TURNS.turn(ASKED):
                    self.error = user_message(self.what, exc)
                    self._finish("")
            return None
        if ticket != self._ticket:
            return None
        async with TURNS.turn(ASKED):
            self.fraction = 1.0
            self._finish("")
        return result


def show_job(job: Job, run, cancel, progress, status, error) -> None:
    """Set a page's run controls from its job: Run off and Cancel on while it runs, the
    progress bar [%] and message, and the error pane shown only when there is an error."""
    run.disabled = job.running
    cancel.disabled = not job.running
    progress.visible = job.running
    progress.value = int(100 * job.fraction)
    status.object = job.message
    error.object, error.visible = job.error, bool(job.error)
