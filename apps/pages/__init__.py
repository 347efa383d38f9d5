"""One module per dashboard page; each builds its page for one session.

:data:`LAZY_PAGES` maps the title of every page after *Now* to the function that builds it
(an object with a ``panel`` attribute).
"""

from __future__ import annotations


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


LAZY_PAGES = {"What-if": _whatif, "Next 48 hours": _lookahead, "Losses and leaks": _losses,
              "Maintenance": _maintenance}
