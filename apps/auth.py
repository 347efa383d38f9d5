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

import tornado.escape
from panel.auth import BasicLoginHandler, LogoutHandler  # noqa: F401  (bokeh reads LogoutHandler)
from panel.config import config
from panel.io.server import DocHandler
from panel.io.state import state
from tornado.ioloop import IOLoop

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # `twin` of this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apps.jobs import TURNS  # noqa: E402
from twin.users import UsersError, verify_user  # noqa: E402

log = logging.getLogger(__name__)

login_url = "/login"
logout_url = "/logout"


async def get_user_async(request_handler) -> str | None:
    """The logged-in user from the signed cookie, or None (the server then redirects to login).

    A logged-in request for an app's page waits for its turn on the event loop
    (:data:`apps.jobs.TURNS`) first: bokeh builds the session's document on that request,
    synchronously, right after this returns, and requests that arrive together no longer
    build theirs back to back in one turn of the loop."""
    user = request_handler.get_secure_cookie("user", max_age_days=config.oauth_expiry)
    if user and isinstance(request_handler, DocHandler):
        await TURNS.take_step()
    return user.decode("utf-8") if user else None


class LoginHandler(BasicLoginHandler):
    """Panel's login form, checked against the hashed credentials.

    The scrypt check (16 MiB, tens of ms) runs in a thread, so logins never hold up the
    server's event loop and the sessions on it.
    """

    _login_endpoint = login_url

    async def post(self):
        username = self.get_argument("username", "")
        password = self.get_argument("password", "")
        ok = await IOLoop.current().run_in_executor(None, self._validate, username, password)
        if ok:
            self.set_current_user(username)
            next_url = self.get_cookie("next_url", state.base_url) or state.base_url
            self.redirect(next_url if next_url.startswith("/") and not next_url.startswith(
                "//") else state.base_url)
        else:
            error = "?error=" + tornado.escape.url_escape("Invalid username or password!")
            self.redirect(self.request.path + error)

    def _validate(self, username: str, password: str) -> bool:
        try:
            ok = verify_user(username, password)
        except UsersError:
            log.exception("login: the credentials file cannot be read")
            return False
        if not ok:
            log.warning("login refused for %r from %s", username, self.request.remote_ip)
        return ok
