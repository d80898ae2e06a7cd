"""``tdkt user set-password USER``: give a user a password (asked twice, or read from standard input)."""

from __future__ import annotations

import sys

import click

from api.passwords import hash_password
from cli._context import open_database, system_clock
from engine.services.accounts import set_password_hash

MIN_LENGTH = 8


@click.group("user")
def command() -> None:
    """Users: passwords for logging in to the web UI and the API."""


@command.command("set-password")
@click.argument("user")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@click.option("--url", default=None, help="Database URL (default: DATABASE_URL or the local SQLite file).")
def set_password_command(user: str, password_stdin: bool, url: str | None) -> None:
    """Set USER's password (at least 8 characters); the database keeps only a salted hash."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_LENGTH:
        click.echo(f"error: the password must have at least {MIN_LENGTH} characters", err=True)
        sys.exit(1)
    engine, sessions = open_database(url)
    try:
        with sessions() as session, session.begin():
            set_password_hash(session, system_clock(), user, hash_password(password), actor="cli")
    finally:
        engine.dispose()
    click.echo(f"password set for {user}")
