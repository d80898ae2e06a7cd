"""``tdkt``: the command line. Every command has ``--help``; errors are one line and a non-zero exit."""

from __future__ import annotations

import os
import pkgutil
import sys
from importlib import import_module

import click

from engine.errors import DefinitionError, EngineError

# Every module of this package that defines ``command`` (a click command or group) is registered.
COMMAND_MODULES = sorted(f"cli.{m.name}" for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


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
            click.echo(f"internal error: {type(err).__name__}: {err} (set TDKT_DEBUG=1 for details)", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """TĐKT Flow: a BPMN workflow engine for emulation and commendation pipelines."""


for _name in COMMAND_MODULES:
    _module = import_module(_name)
    if hasattr(_module, "command"):
        main.add_command(_module.command)
