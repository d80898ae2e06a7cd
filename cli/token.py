"""``tdkt token create|list|revoke``: API tokens for systems (``Authorization: Bearer tdkt_...``)."""

from __future__ import annotations

import click

from cli._context import open_database, system_clock
from engine.services.accounts import DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS, SCOPES, create_token, list_tokens, revoke_token


@click.group("token")
def command() -> None:
    """API tokens: made for a user, shown once, stored as a hash, revoked at will."""


@command.command("create")
@click.argument("user")
@click.option("--name", required=True, help="What the token is for (shown in lists).")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(SCOPES),
    default=("read",),
    show_default=True,
    help="read: GET requests only; write: everything the user may do. Repeat for both.",
)
@click.option(
    "--days", type=int, default=DEFAULT_TOKEN_DAYS, show_default=True, help=f"Valid for (1-{MAX_TOKEN_DAYS})."
)
@click.option("--url", default=None, help="Database URL (default: DATABASE_URL or the local SQLite file).")
def create_command(user: str, name: str, scopes: tuple[str, ...], days: int, url: str | None) -> None:
    """Make a token for USER and print it (once: only its hash is kept)."""
    engine, sessions = open_database(url)
    try:
        with sessions() as session, session.begin():
            row, secret = create_token(
                session, system_clock(), user_id=user, name=name, scopes=list(scopes), days=days, actor="cli"
            )
            summary = f"token {row.id} for {row.user_id} ({', '.join(row.scopes)}) until {row.expires_at:%Y-%m-%d}"
    finally:
        engine.dispose()
    click.echo(summary)
    click.echo(secret)


@command.command("list")
@click.argument("user", required=False)
@click.option("--url", default=None, help="Database URL (default: DATABASE_URL or the local SQLite file).")
def list_command(user: str | None, url: str | None) -> None:
    """Tokens of USER (or everyone's), newest first, without their secrets."""
    engine, sessions = open_database(url)
    try:
        with sessions() as session:
            lines = ["ID\tUSER\tNAME\tSCOPES\tPREFIX\tEXPIRES\tREVOKED"]
            for row in list_tokens(session, user):
                revoked = f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "-"
                lines.append(
                    f"{row.id}\t{row.user_id}\t{row.name}\t{','.join(row.scopes)}\t{row.prefix}…"
                    f"\t{row.expires_at:%Y-%m-%d}\t{revoked}"
                )
    finally:
        engine.dispose()
    click.echo("\n".join(lines))


@command.command("revoke")
@click.argument("token_id", type=int)
@click.option("--url", default=None, help="Database URL (default: DATABASE_URL or the local SQLite file).")
def revoke_command(token_id: int, url: str | None) -> None:
    """Revoke token TOKEN_ID: requests with it get 401 from now on."""
    engine, sessions = open_database(url)
    try:
        with sessions() as session, session.begin():
            row = revoke_token(session, system_clock(), token_id, actor="cli")
            done = f"token {row.id} of {row.user_id} revoked"
    finally:
        engine.dispose()
    click.echo(done)
