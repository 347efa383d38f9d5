"""``twin users``: who may log in to the dashboard (salted scrypt hashes, never passwords)."""

from __future__ import annotations

from typing import Annotated

import typer

from twin.cli.common import console, fail

app = typer.Typer(help="Dashboard users: the credentials file that `twin serve` checks logins "
                       "against (<data directory>/users.json, or $TWIN_USERS_FILE).",
                  no_args_is_help=True, rich_markup_mode=None)


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, . _ @ -).")],
    password: Annotated[str | None, typer.Option(
        envvar="TWIN_NEW_PASSWORD",
        help="The password (at least 8 characters); asked for when not given. "
             "Avoid it on a shared machine: it shows in the process list.")] = None,
    generate: Annotated[bool, typer.Option(
        "--generate", help="Make a random password and print it once.")] = False,
) -> None:
    """Add a dashboard user or change their password; only a salted hash is stored.

    Example: twin users add alice
    """
    from twin.users import UsersError, add_user, new_password, users_file

    if generate:
        password = new_password()
    elif password is None:
        password = typer.prompt(f"password for {name}", hide_input=True,
                                confirmation_prompt=True)
    try:
        new = add_user(name, password)
    except UsersError as exc:
        fail(str(exc))
    console.print(f"{'added' if new else 'changed the password of'} {name} in {users_file()}")
    if generate:
        console.print(f"password: {password}")


@app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Remove a dashboard user.

    Example: twin users remove alice
    """
    from twin.users import UsersError, remove_user

    try:
        remove_user(name)
    except UsersError as exc:
        fail(str(exc))
    console.print(f"removed {name}")


@app.command("list")
def list_users() -> None:
    """List the dashboard's users (names only).

    Example: twin users list
    """
    from twin.users import UsersError, read_users, users_file

    try:
        users = read_users()
    except UsersError as exc:
        fail(str(exc))
    if not users:
        console.print(f"no users in {users_file()}: add one with 'twin users add NAME'")
    for name in sorted(users):
        console.print(name)


@app.command("local")
def local(name: Annotated[str, typer.Option(help="User to create.")] = "engineer") -> None:
    """Create a local user with a random password when there are no users, and print it.

    `make run` calls this before serving, so a fresh checkout has a login to use.

    Example: twin users local
    """
    from twin.users import UsersError, ensure_local_user, users_file

    try:
        password = ensure_local_user(name)
    except UsersError as exc:
        fail(str(exc))
    if password is None:
        console.print(f"dashboard users already set up in {users_file()} (twin users list)")
    else:
        console.print(f"created the local dashboard login in {users_file()}:\n"
                      f"  user: {name}\n  password: {password}")
