"""Who may open the dashboard: a credentials file of salted password hashes and a cookie secret.

Passwords are never stored: each user keeps a random salt and the scrypt key derived from the
password (RFC 7914; ``n=2**14, r=8, p=1``, 16 MiB and ~50 ms a check). Checking compares in
constant time. The cookie secret that signs the login cookie is generated once and kept, so
logins survive a server restart. Both files live in the data directory, readable by the owner
only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from twin import config

#: Environment variable naming the credentials file (the dashboard's login reads it).
USERS_FILE_ENV = "TWIN_USERS_FILE"
#: scrypt cost parameters: CPU/memory cost ``n``, block size ``r``, parallelism ``p``.
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
KEY_BYTES = 32
SALT_BYTES = 16
MIN_PASSWORD_CHARS = 8
USER_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
FORMAT = "citytwin-users-1"


class UsersError(ValueError):
    """A user name, password or credentials file that cannot be used."""


@dataclass(frozen=True)
class PasswordHash:
    """One user's stored credential: scrypt parameters, salt and derived key."""

    salt: bytes
    key: bytes
    n: int = SCRYPT["n"]
    r: int = SCRYPT["r"]
    p: int = SCRYPT["p"]

    def to_json(self) -> dict:
        return {"kdf": "scrypt", "n": self.n, "r": self.r, "p": self.p,
                "salt": base64.b64encode(self.salt).decode(),
                "key": base64.b64encode(self.key).decode()}

    @classmethod
    def from_json(cls, data: dict) -> PasswordHash:
        if data.get("kdf") != "scrypt":
            raise UsersError(f"unknown key derivation {data.get('kdf')!r}")
        return cls(base64.b64decode(data["salt"]), base64.b64decode(data["key"]),
                   int(data["n"]), int(data["r"]), int(data["p"]))


def users_file() -> Path:
    """The credentials file: ``$TWIN_USERS_FILE`` or ``<data directory>/users.json``."""
    env = os.environ.get(USERS_FILE_ENV)
    return Path(env) if env else config.data_dir() / "users.json"


def cookie_secret_file() -> Path:
    """The file that keeps the cookie secret: ``cookie_secret`` next to the credentials."""
    return users_file().with_name("cookie_secret")


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=2 * 128 * r * (n + p + 2), dklen=KEY_BYTES)


def hash_password(password: str, salt: bytes | None = None) -> PasswordHash:
    """Salt and hash a password with scrypt.

    Parameters
    ----------
    password : str
    salt : bytes, optional
        Random 16 bytes by default.
    """
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    return PasswordHash(salt, _derive(password, salt, **SCRYPT))


def password_matches(password: str, stored: PasswordHash) -> bool:
    """Whether ``password`` derives the stored key (compared in constant time)."""
    return hmac.compare_digest(_derive(password, stored.salt, stored.n, stored.r, stored.p),
                               stored.key)


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, replacing it atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def read_users(path: str | Path | None = None) -> dict[str, PasswordHash]:
    """Read the credentials file; an absent file holds no users.

    Raises
    ------
    UsersError
        When the file is not a credentials file this module wrote.
    """
    path = Path(path) if path else users_file()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise UsersError(f"format is {data.get('format')!r}, not {FORMAT!r}")
        return {name: PasswordHash.from_json(h) for name, h in data["users"].items()}
    except (UsersError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UsersError(f"{path}: not a CityTwin credentials file ({exc}); remove it and "
                         "add the users again with 'twin users add NAME'") from None


def write_users(users: dict[str, PasswordHash], path: str | Path | None = None) -> Path:
    """Write the credentials file (owner-only permissions)."""
    path = Path(path) if path else users_file()
    body = {"format": FORMAT, "users": {n: h.to_json() for n, h in sorted(users.items())}}
    _write_private(path, json.dumps(body, indent=1) + "\n")
    return path


def add_user(name: str, password: str, path: str | Path | None = None) -> bool:
    """Add a user or change their password.

    Returns
    -------
    bool
        True when the user is new, False when their password was replaced.

    Raises
    ------
    UsersError
        For a name outside ``[A-Za-z0-9._@-]{1,64}`` or a password under 8 characters.
    """
    if not USER_NAME.match(name):
        raise UsersError(f"user name {name!r}: use 1 to 64 letters, digits, '.', '_', '@' or '-'")
    if len(password) < MIN_PASSWORD_CHARS:
        raise UsersError(f"the password for {name!r} has {len(password)} characters: give at "
                         f"least {MIN_PASSWORD_CHARS}")
    users = read_users(path)
    new = name not in users
    users[name] = hash_password(password)
    write_users(users, path)
    return new


def remove_user(name: str, path: str | Path | None = None) -> None:
    """Remove a user; :class:`UsersError` if there is none of that name."""
    users = read_users(path)
    if name not in users:
        raise UsersError(f"no user {name!r} in {Path(path) if path else users_file()}")
    del users[name]
    write_users(users, path)


def verify_user(name: str, password: str, path: str | Path | None = None) -> bool:
    """Whether ``name`` is a user and ``password`` is theirs.

    An unknown name costs the same scrypt work as a known one, so timing does not tell
    which names exist.
    """
    users = read_users(path)
    stored = users.get(name)
    if stored is None:
        password_matches(password, hash_password("", salt=b"\0" * SALT_BYTES))
        return False
    return password_matches(password, stored)


def new_password() -> str:
    """A random password of 16 URL-safe characters (96 bits)."""
    return secrets.token_urlsafe(12)


def pseudonym_key_file() -> Path:
    """The file that keeps the dashboard's meter pseudonym key, next to the credentials."""
    return users_file().with_name("pseudonym_key")


def cookie_secret(path: str | Path | None = None) -> str:
    """The server's cookie secret, generated (256 bits) on first use and kept in its file."""
    return kept_secret(Path(path) if path else cookie_secret_file())


def kept_secret(path: Path) -> str:
    """A secret of 256 bits generated on first use and kept (owner-only) in ``path``."""
    if path.exists():
        secret = path.read_text(encoding="utf-8").strip()
        if len(secret) >= 32:
            return secret
    secret = secrets.token_urlsafe(32)
    _write_private(path, secret + "\n")
    return secret


def ensure_local_user(name: str = "engineer", path: str | Path | None = None) -> str | None:
    """Create ``name`` with a new random password when the credentials file has no users.

    Returns
    -------
    str or None
        The new password, or None when users already exist (nothing changed).
    """
    if read_users(path):
        return None
    password = new_password()
    add_user(name, password, path)
    return password
