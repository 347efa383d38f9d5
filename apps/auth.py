"""Login for the dashboard: ``panel serve --auth-module apps/auth.py`` (what ``twin serve`` runs).

A Bokeh auth module: Panel's own login page and signed ``user`` cookie, but the password is
checked against the salted scrypt hashes of :mod:`twin.users` (Panel's ``--basic-auth`` file
would hold the passwords in plain text). The credentials file is ``$TWIN_USERS_FILE``; the
cookie secret comes from ``BOKEH_COOKIE_SECRET``/``PANEL_COOKIE_SECRET`` (``twin serve`` sets
both from the kept secret).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from panel.auth import BasicLoginHandler, LogoutHandler  # noqa: F401  (bokeh reads LogoutHandler)
from panel.config import config

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # `twin` of this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from twin.users import UsersError, verify_user  # noqa: E402

log = logging.getLogger(__name__)

login_url = "/login"
logout_url = "/logout"


def get_user(request_handler) -> str | None:
    """The logged-in user from the signed cookie, or None (the server then redirects to login)."""
    user = request_handler.get_secure_cookie("user", max_age_days=config.oauth_expiry)
    return user.decode("utf-8") if user else None


class LoginHandler(BasicLoginHandler):
    """Panel's login form, checked against the hashed credentials."""

    _login_endpoint = login_url

    def _validate(self, username: str, password: str) -> bool:
        try:
            ok = verify_user(username, password)
        except UsersError:
            log.exception("login: the credentials file cannot be read")
            return False
        if not ok:
            log.warning("login refused for %r from %s", username, self.request.remote_ip)
        return ok
