"""``tdkt``: the command line. Every command has ``--help``; errors are one line and a non-zero exit."""

from __future__ import annotations

import os
import sys
from importlib import import_module

import click

from engine.errors import DefinitionError, EngineError

# Each module defines ``command`` (a click command or group) registered under its own name.
COMMAND_MODULES = [
    "cli.serve",
]


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except DefinitionError as err:
            for problem in err.problems:
                click.echo(str(problem), err=True)
            sys.exit(1)
        except EngineError as err:
            click.echo(f"error: {err.message}", err=True)
            sys.exit(1)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as err:  # never a traceback to a user
            if os.environ.get("TDKT_DEBUG"):
                raise
            click.echo(
                f"internal error: {type(err).__name__}: {err} (set TDKT_DEBUG=1 for details)", err=True
            )
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """TĐKT Flow: a BPMN workflow engine for emulation and commendation pipelines."""


for _name in COMMAND_MODULES:
    main.add_command(import_module(_name).command)
