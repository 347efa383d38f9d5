"""One module per dashboard page; each builds its page for one session.

:data:`LAZY_PAGES` maps the title of every page after *Now* to the function that builds it
(an object with a ``panel`` attribute).
"""

from __future__ import annotations

from collections.abc import Callable


def _lookahead():
    from apps.pages.lookahead import LookaheadPage

    return LookaheadPage()


def _losses():
    from apps.pages.losses import LossesPage

    return LossesPage()


def _whatif():
    from apps.pages.whatif import WhatIfPage

    return WhatIfPage()


def _maintenance():
    from apps.pages.maintenance import MaintenancePage

    return MaintenancePage()


#: Panel's extensions the pages use (``pn.extension`` loads them for each session's page).
EXTENSIONS = ("tabulator",)

LAZY_PAGES = {"What-if": _whatif, "Next 48 hours": _lookahead, "Losses and leaks": _losses,
              "Maintenance": _maintenance}


def releaser(built: dict, *releases: Callable[[], None], roots: tuple = ()) -> Callable:
    """The ``on_session_destroyed`` callback of one session: stop the work of its pages
    (``releases`` and each built page's ``release``, or its job's), drop them, untangle the
    session's components (``roots`` and the pages built; :func:`apps.state.untangle_session`)
    and give the memory back (:func:`apps.state.release_memory_soon`, once for a burst of
    closed sessions). Not collected one at a time: a full collection goes through every
    session still open, and Panel already collects once after the last of a burst."""
    from apps import state

    state.untangle_destroyed_models()

    def release(session_context) -> None:
        for stop in releases:
            stop()
        made = [page for page in built.values() if page is not None]  # None: asked, not built
        for page in made:
            page.release() if hasattr(page, "release") else page.job.release()
        built.clear()
        state.untangle_session([*roots, *(page.panel for page in made)])
        state.release_memory_soon()

    return release
