"""Dashboard users: salted scrypt hashes (RFC 7914), a kept cookie secret, `twin users`, and the
`panel serve` command `twin serve` builds."""

from __future__ import annotations

import hashlib
import json
import os
import stat

import pytest
from typer.testing import CliRunner

from twin import users
from twin.cli import app
from twin.dashboard_server import ServeError, ServeSettings, panel_serve_command


@pytest.fixture
def users_file(tmp_path, monkeypatch):
    path = tmp_path / "users.json"
    monkeypatch.setenv(users.USERS_FILE_ENV, str(path))
    return path


def test_scrypt_matches_the_rfc_7914_test_vector():
    # RFC 7914 section 12: scrypt("password", "NaCl", N=1024, r=8, p=16, dkLen=64)
    expected = ("fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
                "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640")
    assert hashlib.scrypt(b"password", salt=b"NaCl", n=1024, r=8, p=16, dklen=64).hex() == \
        expected
    h = users.PasswordHash(b"NaCl", bytes.fromhex(expected)[:users.KEY_BYTES], 1024, 8, 16)
    assert users.password_matches("password", h)
    assert not users.password_matches("Password", h)


def test_passwords_are_salted_hashes_never_plain_text(users_file):
    assert users.add_user("alice", "correct horse battery") is True
    assert users.add_user("bob", "correct horse battery") is True
    text = users_file.read_text()
    assert "correct horse" not in text
    data = json.loads(text)["users"]
    assert data["alice"]["salt"] != data["bob"]["salt"]  # same password, different hashes
    assert data["alice"]["key"] != data["bob"]["key"]
    assert stat.S_IMODE(users_file.stat().st_mode) == 0o600
    assert users.verify_user("alice", "correct horse battery")
    assert not users.verify_user("alice", "correct horse batterY")
    assert not users.verify_user("mallory", "correct horse battery")
    assert users.add_user("alice", "a new password!") is False
    assert users.verify_user("alice", "a new password!")
    assert not users.verify_user("alice", "correct horse battery")


def test_bad_names_passwords_and_files_are_refused(users_file):
    with pytest.raises(users.UsersError, match="at least 8"):
        users.add_user("alice", "short")
    with pytest.raises(users.UsersError, match="user name"):
        users.add_user("al ice", "long enough")
    users_file.write_text('{"alice": "plain-text-password"}')
    with pytest.raises(users.UsersError, match="not a CityTwin credentials file"):
        users.verify_user("alice", "plain-text-password")


def test_cookie_secret_is_made_once_and_kept(users_file):
    first = users.cookie_secret()
    assert len(first) >= 32 and users.cookie_secret() == first
    assert stat.S_IMODE(users.cookie_secret_file().stat().st_mode) == 0o600


def test_cli_adds_lists_and_makes_local_credentials(users_file):
    runner = CliRunner()
    out = runner.invoke(app, ["users", "local"])
    assert out.exit_code == 0, out.output
    password = out.output.split("password: ")[1].split()[0]
    assert users.verify_user("engineer", password)
    again = runner.invoke(app, ["users", "local"])
    assert "already set up" in again.output and users.verify_user("engineer", password)
    out = runner.invoke(app, ["users", "add", "alice"], input="s3cret-pass\ns3cret-pass\n")
    assert out.exit_code == 0, out.output
    assert users.verify_user("alice", "s3cret-pass")
    listed = runner.invoke(app, ["users", "list"]).output.split()
    assert listed == ["alice", "engineer"]
    bad = runner.invoke(app, ["users", "add", "bob", "--password", "short"])
    assert bad.exit_code == 2 and "at least 8" in bad.output and "Traceback" not in bad.output


def test_serve_command_keeps_secrets_off_the_command_line(users_file, tmp_path):
    with pytest.raises(ServeError, match="no dashboard users"):
        panel_serve_command(ServeSettings(port=5999), environ={})
    users.add_user("alice", "correct horse battery")
    cmd, env = panel_serve_command(ServeSettings(port=5999, city=tmp_path), environ={})
    assert "--auth-module" in cmd and cmd[cmd.index("--auth-module") + 1].endswith("auth.py")
    assert env["BOKEH_COOKIE_SECRET"] == env["PANEL_COOKIE_SECRET"] == users.cookie_secret()
    assert env[users.USERS_FILE_ENV] == str(users_file)
    assert env["TWIN_CITY"] == str(tmp_path.resolve())
    assert len(env["TWIN_PSEUDONYM_KEY"]) >= 32
    assert not any(users.cookie_secret() in c for c in cmd)
    # the loader (the city first, then one worker a core, each a panel serve on its own
    # port: a session's page and websocket must reach the same one) and each one's warm-up
    assert cmd[1].endswith("serve.py") and cmd[cmd.index("--setup") + 1].endswith("warm_up.py")
    assert cmd[2:4] == ["--workers", str(os.cpu_count() or 1)] and "--num-procs" not in cmd
    two = panel_serve_command(ServeSettings(port=5999, workers=2), environ={})[0]
    assert two[2:4] == ["--workers", "2"]
    assert env["MALLOC_ARENA_MAX"] == "2" and env["PYTHONMALLOC"] == "malloc"
    open_cmd, open_env = panel_serve_command(ServeSettings(port=5999, auth=False), environ={})
    assert "--auth-module" not in open_cmd and "BOKEH_COOKIE_SECRET" not in open_env
    from twin.dashboard_server import OAuthSettings

    o_cmd, o_env = panel_serve_command(ServeSettings(port=5999, oauth=OAuthSettings(
        "github", key="id", secret="oauth-secret")), environ={})
    assert o_cmd[o_cmd.index("--oauth-provider") + 1] == "github"
    assert o_env["PANEL_OAUTH_SECRET"] == "oauth-secret" and "oauth-secret" not in o_cmd


def test_each_worker_is_served_on_its_own_port_with_its_own_origins():
    """The front on 5999 and workers on 6000, 6001: a worker's panel serve listens on its
    port and accepts websockets from pages of its own origin (the page it served)."""
    from apps.front import worker_ports
    from apps.serve import worker_args

    cmd, _ = panel_serve_command(ServeSettings(port=5999, address="10.0.0.5", auth=False,
                                               show=True), environ={})
    panel_args = cmd[4:]
    assert worker_ports(5999, 2) == [6000, 6001]
    args = worker_args(panel_args, 5999, 6001)
    assert args[args.index("--port") + 1] == "6001"
    origins = {args[i + 1] for i, a in enumerate(args) if a == "--allow-websocket-origin"}
    assert origins == {"10.0.0.5:6001", "127.0.0.1:6001", "localhost:6001"}
    assert args[args.index("--address") + 1] == "10.0.0.5"
    assert "--show" in panel_args and "--show" not in args  # the front opens one browser
    assert len(args) == len(panel_args) - 1  # nothing else changed


def test_the_front_hands_new_sessions_to_the_workers_in_turn_whatever_else_is_asked():
    """Each engineer logs in (the login page and its form) and opens the app: the app's pages
    go to the two workers in turn, as the login requests go to them in a turn of their own
    (with one turn for all, every app page went to the same worker)."""
    import asyncio

    from tornado.httpclient import AsyncHTTPClient
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets

    from apps.front import front_app, is_app_page
    from apps.serve import app_names

    cmd, _ = panel_serve_command(ServeSettings(port=5999, auth=False), environ={})
    assert app_names(cmd[4:]) == ["dashboard"]
    assert is_app_page("/dashboard", ["dashboard"]) and is_app_page("/dashboard/", ["dashboard"])
    assert not is_app_page("/dashboard/ws", ["dashboard"]) and not is_app_page("/login", ["dashboard"])

    async def visits() -> list[tuple[str, int]]:
        sockets = bind_sockets(0, "127.0.0.1")
        port = sockets[0].getsockname()[1]
        server = HTTPServer(front_app("127.0.0.1", [7001, 7002], ["dashboard"]))
        server.add_sockets(sockets)
        http, seen = AsyncHTTPClient(force_instance=True), []
        try:
            for _ in range(4):  # four engineers, one after the other
                for method, path in [("GET", "/login"), ("POST", "/login"), ("GET", "/dashboard")]:
                    r = await http.fetch(f"http://127.0.0.1:{port}{path}", method=method,
                                         body="u=x" if method == "POST" else None,
                                         follow_redirects=False, raise_error=False)
                    assert r.code == 307 and r.headers["Location"].endswith(path)
                    seen.append((path, int(r.headers["Location"].split(":")[2].split("/")[0])))
        finally:
            server.stop()
            http.close()
        return seen

    seen = asyncio.run(visits())
    assert [p for path, p in seen if path == "/dashboard"] == [7001, 7002, 7001, 7002]
