"""docs/COMPATIBILITY.md is what engine/core/compatibility.py renders from the probes, the outside corpus and the
broken fixtures; regenerate with `.venv/bin/python -m engine.core.compatibility > docs/COMPATIBILITY.md`."""

from __future__ import annotations

from pathlib import Path

from engine.core.compatibility import PROBES, RUNTIME, probe_rows, render

DOC = Path(__file__).resolve().parents[1] / "docs" / "COMPATIBILITY.md"


def test_the_committed_table_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/COMPATIBILITY.md is out of date: run "
        "`.venv/bin/python -m engine.core.compatibility > docs/COMPATIBILITY.md` and commit it"
    )


def test_every_refused_or_warned_probe_says_why() -> None:
    rows = probe_rows()
    assert len(rows) == len(PROBES)
    for construct, status, message in rows:
        assert status in ("supported", "supported, with a warning", "refused"), construct
        assert (status == "supported") == (message == ""), (construct, status, message)


def test_every_run_time_row_names_a_test_that_exists() -> None:
    root = DOC.parents[1]
    for construct, _, reference in RUNTIME:
        path, name = reference.split("::")
        assert f"def {name}(" in (root / path).read_text(encoding="utf-8"), (construct, reference)
