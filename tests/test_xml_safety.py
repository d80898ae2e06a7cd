"""Hostile XML: malformed files, external entities, entity expansion and huge files are refused, nothing is saved."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from engine.clock import ManualClock
from engine.core.definitions import parse_files
from engine.core.xml_safety import parse_xml
from engine.errors import DefinitionError
from engine.persistence.models import Definition
from engine.services.definitions import deploy

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE definitions [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <process id="p" isExecutable="true"><startEvent id="s" name="&xxe;"/></process>
</definitions>"""

LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
<process id="p">&lol4;</process></definitions>"""

MALFORMED = b"""<?xml version="1.0"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <process id="p">
    <startEvent id="s">
  </process>
</definitions>"""


def only_problem(data: bytes, name: str = "x.bpmn") -> str:
    with pytest.raises(DefinitionError) as caught:
        parse_xml(data, name)
    (problem,) = caught.value.problems
    assert problem.file == name
    return str(problem)


def test_malformed_xml_names_the_line() -> None:
    text = only_problem(MALFORMED)
    assert text.startswith("x.bpmn:5 -: malformed XML:"), text


def test_external_entity_is_refused() -> None:
    text = only_problem(XXE)
    assert "x.bpmn:2" in text and "DOCTYPE declarations are not allowed" in text
    assert "root:" not in text  # nothing of /etc/passwd leaks into the message


def test_billion_laughs_is_refused() -> None:
    assert "DOCTYPE declarations are not allowed" in only_problem(LAUGHS)


def test_entity_declaration_in_another_encoding_is_refused() -> None:
    assert "DOCTYPE" in only_problem(
        XXE.replace(b'version="1.0"', b'version="1.0" encoding="UTF-16"').decode().encode("utf-16")
    )


def test_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.bpmn"
    with path.open("wb") as out:
        out.write(b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL">')
        chunk = b"<documentation>" + b"x" * 1_000_000 + b"</documentation>"
        for _ in range(50):
            out.write(chunk)
        out.write(b"</definitions>")
    text = only_problem(path.read_bytes(), "huge.bpmn")
    assert "file is too large" in text and "10,485,760" in text


def test_empty_and_binary_files() -> None:
    assert "malformed XML" in only_problem(b"")
    assert "malformed XML" in only_problem(b"\x89PNG\r\n\x1a\n\x00\x00")


@pytest.mark.parametrize("data", [MALFORMED, XXE, LAUGHS, b"not xml at all"])
def test_hostile_files_are_problems_and_nothing_is_saved(
    data: bytes, sessions: sessionmaker[Session], clock: ManualClock
) -> None:
    assert parse_files([("bad.bpmn", data)]).bundles == []
    good = (Path(__file__).parent / "fixtures" / "definitions" / "camunda_services.bpmn").read_bytes()
    with pytest.raises(DefinitionError) as caught:
        with sessions() as session, session.begin():
            deploy(session, [("good.bpmn", good), ("bad.bpmn", data)], clock)
    assert all(p.file == "bad.bpmn" for p in caught.value.problems if p.severity == "error")
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Definition)) == 0
