"""Long work of one session, run in the shared solver threads with progress and a cancel.

The event loop only awaits the thread. A job run in a :class:`~apps.state.FairPool` (the
what-ifs) shows its place in the queue until it starts. Progress comes back from the worker thread as plain
numbers; a periodic callback of the session copies them to the page, so bokeh models are only
touched under the session's own lock. A cancelled job's result is dropped (and the work is told
to stop when it accepts a ``cancel`` event).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
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


def in_session(change) -> None:
    """Call ``change()`` (a change of the session's models) on the session's own thread, with
    its document's lock: at once when already there, else on the event loop's next tick."""
    if on_session_thread():
        change()
    else:
        pn.state.execute(change, schedule=True)


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
        self.error, self.fraction, self._raw = "", 0.0, (0.0, "")
        self.running, self.message = True, f"{self.what}…"
        if pn.state.curdoc is not None and pn.state.curdoc.session_context is not None:
            # polled once the page is in the browser: before, Panel defers every change and a
            # starting poll re-schedules itself on every tick of the event loop
            pn.state.onload(partial(self._start_poll, ticket))
        if pool is None:
            fut = state.SOLVERS.submit(func, *args, cancel=cancel, **kwargs)
        else:
            fut = pool.submit(func, *args, cancel=cancel, **kwargs)
            self._queued = (pool, fut)
            self._show_progress()
        try:
            result = await asyncio.wrap_future(fut)
        except (Cancelled, asyncio.CancelledError):
            return None
        except Exception as exc:  # shown on the page; the server log keeps the traceback
            if ticket == self._ticket:
                if not isinstance(exc, USER_ERRORS):
                    log.exception("dashboard: %s failed", self.what)
                self.error = user_message(self.what, exc)
                self._finish("")
            return None
        if ticket != self._ticket:
            return None
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
