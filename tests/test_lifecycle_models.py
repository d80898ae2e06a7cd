"""The lifecycle models as files: lint-clean, every user task in a role's lane with a form and a deadline, a diagram
for every element; and the rules they read, by effective date."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import pytest
from lxml import etree

from engine.core.definitions import parse_files
from engine.errors import NotFoundError, ValidationError
from engine.services.rules import parse_rule_sets, rules_in_force, start_data
from tests.conftest import BPMN_DIR, ROOT
from tests.test_lifecycle_helpers import LIFECYCLE_FILES, RULES, model_files

ROLES = {
    "chairman",
    "home_affairs",
    "council_member",
    "council_secretary",
    "unit_head",
    "unit_officer",
    "unit_council",
    "auditor",
}
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
DI = "{http://www.omg.org/spec/BPMN/20100524/DI}"


def test_lint_is_clean():
    files = sorted(str(p) for p in BPMN_DIR.glob("*.bpmn")) + sorted(str(p) for p in BPMN_DIR.glob("*.dmn"))
    done = subprocess.run(
        [sys.executable, "-c", "from cli import main; main()", "lint", *files],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 error(s)" in done.stderr
    # With the forms beside them, the lifecycle files have no warning either.
    done = subprocess.run(
        [sys.executable, "-c", "from cli import main; main()", "lint", str(BPMN_DIR), str(ROOT / "forms")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    mine = [line for line in (done.stdout + done.stderr).splitlines() if any(n in line for n in LIFECYCLE_FILES)]
    assert mine == []


def test_every_user_task_has_a_role_lane_a_form_and_a_working_day_deadline():
    parsed = parse_files(model_files())
    assert parsed.errors == []
    seen = {}
    for bundle in parsed.bundles:
        for task_id, meta in bundle.task_meta.items():
            seen[task_id] = meta
            assert meta["role"] in ROLES, (task_id, meta["role"])
            assert (
                meta["form_key"]
                and (ROOT / "forms" / f"{meta['form_key']}.json").is_file()
                or task_id.startswith("council_stub")
            ), task_id
            assert meta["due_date"] and "working_days(" in meta["due_date"], task_id
    # 25, plus the unit head's decision, the unit's certificates and the sudden proposal (unit_nomination), the
    # written report of the comments (nomination), the national path's three (national_proposal) and the block's
    # scoring, the members' vote and the confirmation (block_scoring)
    assert len([t for t in seen if not t.startswith("council_stub")]) == 35


def test_every_user_task_in_bpmn_has_a_role_lane_and_a_form():
    files = [(p.name, p.read_bytes()) for p in sorted(BPMN_DIR.iterdir()) if p.suffix in (".bpmn", ".dmn")]
    files += [(p.name, p.read_bytes()) for p in sorted((ROOT / "forms").glob("*.json"))]
    parsed = parse_files(files)
    assert parsed.errors == []
    for bundle in parsed.bundles:
        for task_id, meta in bundle.task_meta.items():
            assert meta["role"] in ROLES, (bundle.key, task_id, meta["role"])
            assert meta["form_key"] and (ROOT / "forms" / f"{meta['form_key']}.json").is_file(), (bundle.key, task_id)


@pytest.mark.parametrize("name", [n for n in LIFECYCLE_FILES if n.endswith(".bpmn")])
def test_every_element_is_drawn(name):
    tree = etree.parse(str(BPMN_DIR / name))
    drawn = {s.get("bpmnElement") for s in tree.iter(f"{DI}BPMNShape", f"{DI}BPMNEdge")}
    kinds = ("userTask", "scriptTask", "callActivity", "businessRuleTask", "startEvent", "endEvent")
    kinds += ("intermediateCatchEvent", "exclusiveGateway", "parallelGateway", "sequenceFlow", "lane")
    elements = {e.get("id") for kind in kinds for e in tree.iter(f"{BPMN}{kind}")}
    assert elements - drawn == set()
    ids = [e.get("id") for e in tree.iter() if isinstance(e.tag, str) and e.get("id")]
    assert len(ids) == len(set(ids)), "ids must be unique in a file (modelers refuse duplicates)"


def test_forms_have_vietnamese_titles_and_file_fields_follow_the_convention():
    for path in sorted((ROOT / "forms").glob("*.json")):
        if path.name.startswith("council_"):
            continue
        schema = json.loads(path.read_text(encoding="utf-8"))
        assert schema["title"] and schema["description"] and schema["required"], path.name
        for field, spec in schema["properties"].items():
            assert spec.get("title") or spec.get("type") == "object", (path.name, field)
            if spec.get("x-tdkt-file"):
                assert (spec["format"], spec["contentMediaType"]) == ("uri-reference", "application/pdf")


def test_rules_in_force_by_date():
    assert rules_in_force(RULES, date(2024, 3, 19)).version == "2024.1"
    assert rules_in_force(RULES, date(2025, 6, 30)).version == "2024.1"
    assert rules_in_force(RULES, date(2025, 7, 1)).version == "2025.2"
    with pytest.raises(NotFoundError):
        rules_in_force(RULES, date(2023, 12, 31))
    data = start_data(RULES, date(2025, 8, 1))
    assert (data["rules_version"], data["rules_date"]) == ("2025.2", "2025-08-01")
    assert data["rules"]["periodic"]["months"] == [6, 12]
    json.dumps(data)  # copied into instance data as is


def test_bad_rules_are_refused_with_the_place_named():
    with pytest.raises(ValidationError, match="versions"):
        parse_rule_sets({"version": "x"})
    with pytest.raises(ValidationError, match=r"versions\[0\].*missing section\(s\) deadlines"):
        parse_rule_sets({"versions": [{"version": "a", "effective_from": "2024-01-01"}]})
    good = {k: {} for k in ("deadlines", "disclosure", "periodic", "reviews", "eligibility")}
    with pytest.raises(ValidationError, match="not a date"):
        parse_rule_sets({"versions": [{"version": "a", "effective_from": "soon", **good}]})
    with pytest.raises(ValidationError, match="same day"):
        parse_rule_sets(
            {
                "versions": [
                    {"version": "a", "effective_from": "2024-01-01", **good},
                    {"version": "b", "effective_from": "2024-01-01", **good},
                ]
            }
        )


def _bounds(tree) -> dict[str, tuple[float, float, float, float]]:
    found = {}
    for shape in tree.iter(f"{DI}BPMNShape"):
        b = shape.find("{http://www.omg.org/spec/DD/20100524/DC}Bounds")
        x, y, w, h = (float(b.get(k)) for k in ("x", "y", "width", "height"))
        found[shape.get("bpmnElement")] = (x, y, x + w, y + h)
    return found


@pytest.mark.parametrize("name", [n for n in LIFECYCLE_FILES if n.endswith(".bpmn")])
def test_shapes_sit_in_their_lane_without_overlapping(name):
    tree = etree.parse(str(BPMN_DIR / name))
    bounds = _bounds(tree)
    nodes = []
    for lane in tree.iter(f"{BPMN}lane"):
        lx1, ly1, lx2, ly2 = bounds[lane.get("id")]
        for ref in lane.findall(f"{BPMN}flowNodeRef"):
            x1, y1, x2, y2 = bounds[ref.text]
            assert lx1 <= x1 and x2 <= lx2 and ly1 <= y1 and y2 <= ly2, (ref.text, lane.get("id"))
            nodes.append((ref.text, (x1, y1, x2, y2)))
    for i, (a, (ax1, ay1, ax2, ay2)) in enumerate(nodes):
        for b, (bx1, by1, bx2, by2) in nodes[i + 1 :]:
            assert ax2 <= bx1 or bx2 <= ax1 or ay2 <= by1 or by2 <= ay1, (a, b)
