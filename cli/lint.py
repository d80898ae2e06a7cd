"""``tdkt lint FILE...``: every problem of a set of BPMN/DMN/form files as ``FILE:LINE ELEMENT_ID: message``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from engine.core.definitions import BPMN_SUFFIXES, DMN_SUFFIXES, FORM_SUFFIXES, parse_files
from engine.errors import Problem

SUFFIXES = BPMN_SUFFIXES + DMN_SUFFIXES + FORM_SUFFIXES


def read_files(
    paths: tuple[str, ...] | list[str], *, short_names: bool = False
) -> tuple[list[tuple[str, bytes]], list[Problem]]:
    """Read files and directories (their .bpmn/.dmn/.json files, recursively).

    With ``short_names`` a file is named relative to the directory it was found through (its base name when given
    directly), so that deploying the same files from another working directory gives the same content hash.
    """
    files: list[tuple[str, bytes]] = []
    problems: list[Problem] = []
    seen: set[Path] = set()

    def add(path: Path, name: str) -> None:
        resolved = path.resolve()
        if resolved in seen:
            return
        seen.add(resolved)
        try:
            files.append((name, path.read_bytes()))
        except OSError as err:
            problems.append(Problem(str(path), None, None, f"cannot read: {err.strerror or err}"))

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith(SUFFIXES))
            if not found:
                problems.append(Problem(raw, None, None, "directory has no .bpmn, .dmn or .json files", "warning"))
            for child in found:
                add(child, child.relative_to(path).as_posix() if short_names else str(child))
        elif path.is_file():
            add(path, path.name if short_names else raw)
        else:
            problems.append(Problem(raw, None, None, "no such file or directory"))
    return files, problems


def beside_forms(paths: tuple[str, ...]) -> list[str]:
    """The project's forms/ directory beside a bpmn/ directory that was given (or that holds a given file)."""
    extra = []
    for raw in paths:
        path = Path(raw)
        folder = path if path.is_dir() else path.parent
        forms = folder.parent / "forms"
        if forms.is_dir() and str(forms) not in extra and forms.resolve() != folder.resolve():
            extra.append(str(forms))
    return extra


def print_problems(problems: list[Problem]) -> None:
    """Every problem, file by file (in the order files first appear) and by line within a file."""
    order = {file: index for index, file in reversed(list(enumerate(p.file for p in problems)))}
    for problem in sorted(problems, key=lambda p: (order[p.file], p.line or 0)):
        click.echo(str(problem), err=problem.severity == "error")


@click.command("lint")
@click.argument("paths", nargs=-1, required=True)
def command(paths: tuple[str, ...]) -> None:
    """Check BPMN, DMN and form files; exit 1 when any error is found (warnings are allowed)."""
    files, problems = read_files(list(paths) + beside_forms(paths))
    if files:
        problems += parse_files(files).problems
    print_problems(problems)
    errors = sum(1 for p in problems if p.severity == "error")
    warnings = len(problems) - errors
    click.echo(f"{len(files)} file(s): {errors} error(s), {warnings} warning(s)", err=True)
    sys.exit(1 if errors else 0)
