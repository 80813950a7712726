"""`create-user`, `set-password`, `disable-user`: accounts (the last two end their sessions)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from app.cli.common import (
    app,
    fail,
    out,
    transaction,
)


@app.command("create-user")
def create_user(
    username: str,
    role: Annotated[
        str, typer.Option(help="inspector, leader, supervisor, command, discipline or admin")
    ],
    scope: Annotated[str | None, typer.Option(help="cell code whose subtree they see")] = None,
    name: str | None = None,
    phone: str | None = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
) -> None:
    """Create or update a person with a login account.

    Updating sets the new password, enables a disabled account and ends the user's
    sessions."""
    from app.domain.people.accounts import create_or_update_user

    if not password_stdin:
        fail(
            "pass --password-stdin and the password on standard input "
            "(passwords never go on the command line)"
        )
    password = read_password()
    with transaction() as session:
        _, created = create_or_update_user(
            session,
            username=username,
            role=role,
            password=password,
            scope=scope,
            name=name,
            phone=phone,
        )
    out.print(
        f"user {username} {'created' if created else 'updated'} (role {role}"
        + (f", scope {scope}" if scope else "")
        + ")",
        highlight=False,
    )


def read_password() -> str:
    return sys.stdin.readline().rstrip("\r\n")


@app.command("set-password")
def set_password(
    username: Annotated[str, typer.Argument(help="the account's username")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the new password from standard input")
    ] = False,
) -> None:
    """Give an account a new password; every session signed in with the old one ends."""
    from app.domain.people.accounts import set_password as change_password

    if not password_stdin:
        fail(
            "pass --password-stdin and the password on standard input "
            "(passwords never go on the command line)"
        )
    password = read_password()
    with transaction() as session:
        change = change_password(session, username=username, password=password)
    out.print(change.describe("has a new password"), highlight=False)


@app.command("disable-user")
def disable_user(
    username: Annotated[str, typer.Argument(help="the account's username")],
) -> None:
    """Disable an account: it cannot sign in, and all its sessions end now.

    `create-user` with the same username enables it again."""
    from app.domain.people.accounts import disable_user as disable

    with transaction() as session:
        change = disable(session, username=username)
    out.print(change.describe("disabled"), highlight=False)
