"""The definitions API for designers: the list with running instances per version, a version's files as deployed,
lint and deploy (multipart and JSON), drafts, who may do what, and migration 0006 (the drafts table)."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import pytest
from sqlalchemy import event, func, select, text

from engine.persistence.db import make_engine
from engine.persistence.models import AuditEvent, Definition, DefinitionDraft, Instance
from engine.persistence.schema import alembic_config, current_revision, upgrade
from engine.services.instances import cancel_instance, start_instance
from engine.services.tasks import complete
from tests.api_support import PLAN, World, open_task, plan_files
from tests.api_support import world as world  # noqa: F401 - fixture
from tests.conftest import BPMN_DIR, ROOT
from tests.test_lifecycle_helpers import base_data

LIST = "/api/v1/definitions"
LINT = "/api/v1/definitions/lint"
DEPLOY = "/api/v1/definitions/deploy"
DRAFT = "/api/v1/definitions/unit_plan/draft"
PLAN_V1 = "/api/v1/definitions/unit_plan/versions/1"
OFFICER = "linh.tm"
AUDITOR = "kiem.tra"


def plan_v2_files() -> list[tuple[str, bytes]]:
    """The unit plan with a new name: changed content, so a new version."""
    files = plan_files()
    bpmn = files[0][1].decode("utf-8").replace('name="Kế hoạch thực hiện', 'name="KH v2').encode("utf-8")
    assert bpmn != files[0][1]
    return [(files[0][0], bpmn), *files[1:]]


def multipart(files: list[tuple[str, bytes]]) -> dict[str, Any]:
    return {"files": [(io.BytesIO(data), name) for name, data in files]}


def as_json(files: list[tuple[str, bytes]]) -> dict[str, Any]:
    return {"files": {name: data.decode("utf-8") for name, data in files}}


def item(answer: Any, key: str) -> dict[str, Any]:
    (found,) = [i for i in answer.get_json()["items"] if i["key"] == key]
    return found


def definition_of(sessions: Any, instance_id: int) -> tuple[str, int]:
    with sessions() as s:
        row = s.get(Instance, instance_id)
        assert row is not None
        definition = s.get(Definition, row.definition_id)
        assert definition is not None
        return definition.key, definition.version


# --- the list ------------------------------------------------------------------------------------------------


def test_the_list_counts_running_instances_per_version_in_one_query(world: World, sessions, db_engine):
    admin = world.client("admin")
    answer = admin.post(DEPLOY, data=multipart(plan_v2_files()))
    assert answer.status_code == 201, answer.get_json()
    with sessions() as s, s.begin():
        for unit in ("STC", "SNV"):
            start_instance(s, world.ctx, key="unit_plan", business_key=f"KH-{unit}", unit_id=unit, data=base_data())
        cancel_instance(s, world.ctx, world.sgd_instance, actor="admin", reason="test")
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(db_engine, "before_cursor_execute", seen)
    try:
        answer = admin.get(LIST)
    finally:
        event.remove(db_engine, "before_cursor_execute", seen)
    assert answer.status_code == 200, answer.get_json()
    plan = item(answer, "unit_plan")
    assert plan["kind"] == "process" and plan["latest_version"] == 2 and plan["name"] == "KH v2 phong trào của đơn vị"
    assert [(v["version"], v["running_instances"]) for v in plan["versions"]] == [(2, 2), (1, 1)]
    assert plan["versions"][1]["deployed_by"] == "designer" and plan["versions"][0]["deployed_by"] == "admin"
    assert plan["versions"][0]["files"] == sorted(name for name, _ in plan_files())
    assert plan["draft"] is None
    on_instances = [s for s in statements if "FROM instance" in s]
    assert len(on_instances) == 1 and "GROUP BY" in on_instances[0], on_instances


def test_decisions_deployed_with_a_process_are_listed_with_their_dmn_file(world: World):
    admin = world.client("admin")
    answer = admin.post(DEPLOY, json=as_json(dossier_files()))
    assert answer.status_code == 201, answer.get_json()
    decision = item(admin.get(LIST), "appraisal_recommendation")
    assert decision["kind"] == "decision" and decision["latest_version"] == 1
    (version,) = decision["versions"]
    assert version["files"] == ["appraisal_recommendation.dmn"]
    assert version["used_by"] == [{"key": "nomination_dossier", "version": 1}]
    detail = admin.get("/api/v1/definitions/appraisal_recommendation/versions/1").get_json()
    assert detail["kind"] == "decision" and detail["id"] == version["id"]
    assert detail["files"] == [{"name": "appraisal_recommendation.dmn", "kind": "dmn", "media_type": "application/xml"}]
    dmn = admin.get("/api/v1/definitions/appraisal_recommendation/versions/1/files/appraisal_recommendation.dmn")
    assert dmn.status_code == 200 and dmn.mimetype == "application/xml"
    assert dmn.data == (BPMN_DIR / "appraisal_recommendation.dmn").read_bytes()


def dossier_files() -> list[tuple[str, bytes]]:
    paths = [
        BPMN_DIR / "nomination_dossier.bpmn",
        BPMN_DIR / "appraisal_recommendation.dmn",
        *sorted((ROOT / "forms").glob("dossier_*.json")),
    ]
    return [(p.name, p.read_bytes()) for p in paths]


def test_a_dmn_deployed_alone_is_a_new_version_of_the_processes_that_use_it(world: World):
    admin = world.client("admin")
    assert admin.post(DEPLOY, json=as_json(dossier_files())).status_code == 201
    dmn = (BPMN_DIR / "appraisal_recommendation.dmn").read_bytes()
    changed = dmn.replace(b"<description>A standard is not met", b"<description>One standard is not met")
    assert changed != dmn
    answer = admin.post(DEPLOY, data=multipart([("appraisal_recommendation.dmn", changed)]))
    assert answer.status_code == 201, answer.get_json()
    assert [(d["key"], d["version"], d["unchanged"]) for d in answer.get_json()["deployed"]] == [
        ("nomination_dossier", 2, False)
    ]
    v2 = "/api/v1/definitions/nomination_dossier/versions/2/files"
    assert admin.get(f"{v2}/appraisal_recommendation.dmn").data == changed
    assert admin.get(f"{v2}/nomination_dossier.bpmn").data == (BPMN_DIR / "nomination_dossier.bpmn").read_bytes()
    assert admin.get(f"{v2}/dossier_prepare.json").data == (ROOT / "forms" / "dossier_prepare.json").read_bytes()
    decision = item(admin.get(LIST), "appraisal_recommendation")
    assert [(v["version"], v["used_by"]) for v in decision["versions"]] == [
        (2, [{"key": "nomination_dossier", "version": 2}]),
        (1, [{"key": "nomination_dossier", "version": 1}]),
    ]
    again = admin.post(DEPLOY, data=multipart([("appraisal_recommendation.dmn", changed)])).get_json()
    assert [(d["version"], d["unchanged"]) for d in again["deployed"]] == [(2, True)]


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        (b'id="appraisal_recommendation"', b'id="nobody_uses_it"', "no deployed process uses"),
        (b"<text>&gt; 0</text>", b"<text>&gt;&gt; 0</text>", "appraisal_r_ineligible_1"),
    ],
)
def test_a_dmn_deployed_alone_that_no_process_uses_or_that_is_broken_is_refused(world: World, old, new, words):
    admin = world.client("admin")
    assert admin.post(DEPLOY, json=as_json(dossier_files())).status_code == 201
    dmn = (BPMN_DIR / "appraisal_recommendation.dmn").read_bytes().replace(old, new, 1)
    answer = admin.post(DEPLOY, data=multipart([("appraisal_recommendation.dmn", dmn)]))
    assert answer.status_code == 422, answer.get_json()
    problems = answer.get_json()["problems"]
    assert any(words in p["message"] or words == p["element_id"] for p in problems), problems


# --- a version and its files ------------------------------------------------------------------------------------


def test_a_version_lists_its_files_with_kinds_and_media_types(world: World):
    answer = world.client(AUDITOR).get(PLAN_V1)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert (body["key"], body["version"], body["kind"], body["deployed_by"]) == ("unit_plan", 1, "process", "designer")
    assert body["running_instances"] == 2
    kinds = {f["name"]: (f["kind"], f["media_type"]) for f in body["files"]}
    assert kinds["unit_plan.bpmn"] == ("bpmn", "application/xml")
    assert kinds["plan_draft.json"] == ("form", "application/json")
    assert isinstance(body["warnings"], list)


def test_files_round_trip_byte_for_byte(world: World):
    client = world.client("admin")
    for name, data in plan_files():
        answer = client.get(f"{PLAN_V1}/files/{name}")
        assert answer.status_code == 200, (name, answer.get_json())
        assert answer.data == data, name
        assert answer.mimetype == ("application/xml" if name.endswith(".bpmn") else "application/json")


def test_a_form_kept_only_as_its_schema_is_served_from_the_definitions_forms(world: World, sessions):
    with sessions() as s, s.begin():
        row = s.scalars(select(Definition).where(Definition.key == "unit_plan")).one()
        row.sources = {k: v for k, v in row.sources.items() if k != "plan_draft.json"}
        schema = row.forms["plan_draft"]
    client = world.client("admin")
    names = [f["name"] for f in client.get(PLAN_V1).get_json()["files"]]
    assert "plan_draft.json" in names
    answer = client.get(f"{PLAN_V1}/files/plan_draft.json")
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    assert json.loads(answer.data) == schema


@pytest.mark.parametrize(
    ("url", "names"),
    [
        (f"{PLAN_V1}/files/nothing.bpmn", "nothing.bpmn"),
        (f"{PLAN_V1}/files/forms/../unit_plan.bpmn", "forms/../unit_plan.bpmn"),
        ("/api/v1/definitions/unit_plan/versions/7", "no version 7"),
        ("/api/v1/definitions/unknown_process/versions/1", "unknown_process"),
    ],
)
def test_missing_versions_and_files_answer_404_naming_them(world: World, url, names):
    answer = world.client("admin").get(url)
    assert answer.status_code == 404
    assert names in answer.get_json()["error"]["message"]


# --- lint -----------------------------------------------------------------------------------------------------


def broken_plan() -> bytes:
    """The unit plan with a flow to a missing element and a condition that is no expression of ours."""
    bpmn = plan_files()[0][1]
    bpmn = bpmn.replace(b'sourceRef="plan_filed" targetRef="plan_end"', b'sourceRef="plan_filed" targetRef="plan_gone"')
    bpmn = bpmn.replace(b'review_decision == "accept"', b"__import__('os').system('ls')")
    return bpmn


def test_lint_of_the_unit_plan_is_clean(world: World):
    client = world.client("admin")
    for body in ({"data": multipart(plan_files())}, {"json": as_json(plan_files())}):
        answer = client.post(LINT, **body)
        assert answer.status_code == 200, answer.get_json()
        assert answer.get_json() == {"ok": True, "problems": []}


def test_lint_of_a_broken_copy_names_elements_and_lines(world: World):
    files = [("unit_plan.bpmn", broken_plan()), *plan_files()[1:]]
    answer = world.client("admin").post(LINT, data=multipart(files))
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["ok"] is False
    by_element = {p["element_id"]: p for p in body["problems"]}
    dangling = by_element["plan_f5"]
    assert dangling["file"] == "unit_plan.bpmn" and dangling["line"] == 97 and dangling["severity"] == "error"
    assert "plan_gone" in dangling["message"]
    condition = [p for p in body["problems"] if p["element_id"] == "plan_f_ha_accept"]
    assert {(p["line"], p["severity"]) for p in condition} == {(94, "error")}
    assert any("name '__import__' is not allowed" in p["message"] for p in condition), condition


def test_lint_answers_the_same_problems_as_tdkt_lint(world: World):
    from engine.core.definitions import parse_files

    files = [("unit_plan.bpmn", broken_plan()), *plan_files()[1:]]
    expected = [(p.file, p.line, p.element_id, p.severity, p.message) for p in parse_files(files).problems]
    body = world.client("admin").post(LINT, json=as_json(files)).get_json()
    got = [(p["file"], p["line"], p["element_id"], p["severity"], p["message"]) for p in body["problems"]]
    assert got == expected and expected


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("latin.bpmn", '<?xml version="1.0" encoding="UTF-8"?><a>é</a>'.encode("latin-1"), "not valid UTF-8"),
        ("plain.bpmn", b"this is not XML", "malformed XML"),
        ("form.json", b"\xff\xfe not utf-8", "not valid JSON"),
        ("notes.txt", b"hello", "only .bpmn, .dmn and .json"),
        ("../up.bpmn", b"<a/>", "path separators"),
    ],
)
def test_lint_of_a_bad_file_is_a_problem_naming_it(world: World, name, data, words):
    answer = world.client("admin").post(LINT, data=multipart([(name, data)]))
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["ok"] is False
    assert body["problems"] and all(p["file"] == name for p in body["problems"]), body
    assert any(words in p["message"] for p in body["problems"])


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"json": {}}, 422, "files"),
        ({"json": {"files": {}}}, 422, "no files"),
        ({"json": {"files": {"a.bpmn": 1}}}, 422, "files.a.bpmn"),
        ({"data": {"files": "text, not a file"}, "content_type": "multipart/form-data"}, 422, "text field"),
        ({"data": {"other": "x"}, "content_type": "multipart/form-data"}, 422, "files"),
        ({"data": b"x", "content_type": "text/plain"}, 415, "application/json"),
        ({"data": b"{not json", "content_type": "application/json"}, 400, "not valid JSON"),
    ],
)
def test_bad_lint_requests_are_refused_naming_the_problem(world: World, body, status, words):
    answer = world.client("admin").post(LINT, **body)
    assert answer.status_code == status, answer.get_json()
    assert words in json.dumps(answer.get_json(), ensure_ascii=False)


def test_multipart_from_another_site_is_refused(world: World):
    client = world.client("admin")
    answer = client.post(LINT, data=multipart(plan_files()), headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403
    answer = client.post(LINT, data=multipart(plan_files()), headers={"Sec-Fetch-Site": "cross-site"})
    assert answer.status_code == 403
    answer = client.post(LINT, data=multipart(plan_files()), headers={"Origin": "http://localhost"})
    assert answer.status_code == 200


# --- deploy ---------------------------------------------------------------------------------------------------


def test_deploy_v2_new_instances_start_on_it_and_running_ones_stay_on_v1(world: World, sessions):
    answer = world.client("admin").post(DEPLOY, data=multipart(plan_v2_files()))
    assert answer.status_code == 201, answer.get_json()
    body = answer.get_json()
    (deployed,) = body["deployed"]
    assert (deployed["key"], deployed["version"], deployed["unchanged"]) == ("unit_plan", 2, False)
    with sessions() as s, s.begin():
        new = start_instance(s, world.ctx, key="unit_plan", business_key="KH-STC", unit_id="STC", data=base_data())
        new_id = new.id
        assert new.definition_id == deployed["id"]
        complete(s, world.ctx, world.syt_task, "linh.tm", PLAN)  # the v1 instance moves on, on v1
    assert definition_of(sessions, new_id) == ("unit_plan", 2)
    assert definition_of(sessions, world.syt_instance) == ("unit_plan", 1)
    assert open_task(sessions, world.syt_instance).element_id == "plan_head_review"
    with sessions() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "definition.deployed")).all()
        assert [(e.actor, e.data["version"]) for e in events] == [("designer", 1), ("admin", 2)]


def test_deploying_the_same_content_again_is_no_new_version(world: World, sessions):
    answer = world.client("admin").post(DEPLOY, json=as_json(plan_files()))
    assert answer.status_code == 201, answer.get_json()
    (deployed,) = answer.get_json()["deployed"]
    assert (deployed["version"], deployed["unchanged"]) == (1, True)
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Definition)) == 1
        deployed_events = select(func.count()).where(AuditEvent.action == "definition.deployed")
        assert s.scalar(deployed_events) == 1


def test_a_deploy_with_errors_answers_422_with_every_problem_and_saves_nothing(world: World, sessions):
    files = [("unit_plan.bpmn", broken_plan()), *plan_files()[1:]]
    answer = world.client("admin").post(DEPLOY, data=multipart(files))
    assert answer.status_code == 422
    body = answer.get_json()
    assert body["error"]["code"] == "definition_error"
    assert {"plan_f5", "plan_f_ha_accept"} <= {p["element_id"] for p in body["problems"]}
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Definition)) == 1


@pytest.mark.parametrize(
    ("files", "words"),
    [
        ([("plan_draft.json", b"{}")], "nothing to deploy"),
        ([("unit_plan.bpmn", b"<not xml")], "unit_plan.bpmn"),
        ([("x/unit_plan.bpmn", b"<a/>")], "path separators"),
    ],
)
def test_deploy_refusals_name_the_file(world: World, files, words):
    answer = world.client("admin").post(DEPLOY, data=multipart(files))
    assert answer.status_code == 422, answer.get_json()
    assert any(words in p["message"] or words in p["file"] for p in answer.get_json()["problems"])


# --- drafts ---------------------------------------------------------------------------------------------------


def test_drafts_are_saved_as_given_read_replaced_and_deleted(world: World, clock, sessions):
    client = world.client("admin")
    assert client.get(DRAFT).status_code == 404
    broken = {"unit_plan.bpmn": broken_plan().decode("utf-8"), "plan_draft.json": "{ not json yet"}
    answer = client.put(DRAFT, json={"files": broken, "based_on_version": 1})
    assert answer.status_code == 200, answer.get_json()
    saved = client.get(DRAFT).get_json()
    assert saved["files"] == broken and saved["based_on_version"] == 1 and saved["updated_by"] == "admin"
    assert saved["updated_at"] == clock.now().isoformat()
    assert item(client.get(LIST), "unit_plan")["draft"]["updated_by"] == "admin"
    assert world.client(AUDITOR).get(DRAFT).status_code == 200
    answer = client.put(DRAFT, json={"files": {"unit_plan.bpmn": "<x/>"}})
    assert answer.status_code == 200 and answer.get_json()["based_on_version"] is None
    assert client.get(DRAFT).get_json()["files"] == {"unit_plan.bpmn": "<x/>"}
    assert client.delete(DRAFT).status_code == 204
    assert client.get(DRAFT).status_code == 404
    assert client.delete(DRAFT).status_code == 404
    with sessions() as s:  # each save and the discard are on the trail, with each file's hash
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.action.like("definition.draft_%"))))
    assert [(e.action, e.actor) for e in events] == [
        ("definition.draft_saved", "admin"),
        ("definition.draft_saved", "admin"),
        ("definition.draft_deleted", "admin"),
    ]
    assert events[1].data["files"] == {"unit_plan.bpmn": hashlib.sha256(b"<x/>").hexdigest()}
    assert events[2].data == {"key": "unit_plan", "reason": "discarded"}


def test_a_draft_of_a_new_process_is_listed_without_versions(world: World):
    client = world.client("admin")
    answer = client.put("/api/v1/definitions/new_process/draft", json={"files": {"new_process.bpmn": "<x/>"}})
    assert answer.status_code == 200, answer.get_json()
    found = item(client.get(LIST), "new_process")
    assert found["versions"] == [] and found["latest_version"] is None and found["kind"] == "process"


def test_a_successful_deploy_removes_the_keys_draft(world: World, sessions):
    client = world.client("admin")
    assert client.put(DRAFT, json={"files": as_json(plan_v2_files())["files"]}).status_code == 200
    answer = client.post(DEPLOY, json=as_json(plan_v2_files()))
    assert answer.status_code == 201 and answer.get_json()["drafts_deleted"] == ["unit_plan"]
    assert client.get(DRAFT).status_code == 404
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(DefinitionDraft)) == 0


@pytest.mark.parametrize(
    ("url", "body", "status", "words"),
    [
        (DRAFT, {"files": {"../unit_plan.bpmn": "x"}}, 422, "files.../unit_plan.bpmn"),
        (DRAFT, {"files": {"notes.txt": "x"}}, 422, "only .bpmn, .dmn and .json"),
        (DRAFT, {"files": {}}, 422, "at least one file"),
        (DRAFT, {"files": {"a.bpmn": "x"}, "based_on_version": 0}, 422, "based_on_version"),
        (DRAFT, {"files": {"a.bpmn": "x"}, "extra": 1}, 422, "unknown field"),
        (DRAFT, {"files": {"a.bpmn": "x" * (2 * 1024 * 1024 + 1)}}, 413, "at most 2,097,152"),
        ("/api/v1/definitions/bad key!/draft", {"files": {"a.bpmn": "x"}}, 422, "not a process id"),
    ],
)
def test_bad_drafts_are_refused_naming_the_problem(world: World, url, body, status, words):
    answer = world.client("admin").put(url, json=body)
    assert answer.status_code == status, answer.get_json()
    assert words in json.dumps(answer.get_json(), ensure_ascii=False)


# --- who may do what ------------------------------------------------------------------------------------------

CHANGES: list[tuple[str, str, Any]] = [
    ("PUT", DRAFT, lambda: {"json": {"files": {"unit_plan.bpmn": "<x/>"}}}),
    ("DELETE", DRAFT, dict),
    ("POST", LINT, lambda: {"json": as_json(plan_files())}),
    ("POST", LINT, lambda: {"data": multipart(plan_files())}),
    ("POST", DEPLOY, lambda: {"json": as_json(plan_v2_files())}),
    ("POST", DEPLOY, lambda: {"data": multipart(plan_v2_files())}),
]


@pytest.mark.parametrize(
    ("method", "url", "body"), CHANGES, ids=[f"{m} {u} {i}" for i, (m, u, _) in enumerate(CHANGES)]
)
@pytest.mark.parametrize("user", [OFFICER, AUDITOR, "an.tdkt", "duc.hm"])
def test_only_designers_and_administrators_change_anything(world: World, sessions, method, url, body, user):
    answer = world.client(user).open(url, method=method, **body())
    assert answer.status_code == 403, answer.get_json()
    assert "designers and administrators" in answer.get_json()["error"]["message"]
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(Definition)) == 1
        assert s.scalar(select(func.count()).select_from(DefinitionDraft)) == 0


@pytest.mark.parametrize("url", [LIST, PLAN_V1, f"{PLAN_V1}/files/unit_plan.bpmn", DRAFT])
def test_reading_is_for_designers_administrators_and_auditors(world: World, url):
    assert world.client().get(url).status_code == 401
    assert world.client(OFFICER).get(url).status_code == 403
    assert world.client(AUDITOR).get(url).status_code in (200, 404)


def test_a_designer_who_is_not_an_administrator_may_deploy(world: World, sessions):
    from engine.persistence.models import User

    with sessions() as s, s.begin():
        user = s.get(User, OFFICER)
        assert user is not None
        user.capabilities = ["designer"]
    client = world.client(OFFICER)
    assert client.get(LIST).status_code == 200
    answer = client.post(DEPLOY, data=multipart(plan_v2_files()))
    assert answer.status_code == 201, answer.get_json()
    assert world.client(OFFICER).get("/api/v1/audit/events").status_code == 403  # designing is not auditing


# --- migration 0006 -------------------------------------------------------------------------------------------


def test_0006_adds_the_draft_table_to_a_0005_database_and_removes_it_again(tmp_path):
    from alembic import command
    from sqlalchemy import inspect

    url = f"sqlite:///{tmp_path / 'drafts.sqlite3'}"
    upgrade(url, "0005")
    engine = make_engine(url)
    try:
        assert "definition_draft" not in inspect(engine).get_table_names()
        upgrade(engine, "0006")
        assert current_revision(engine) == "0006"
        columns = {c["name"] for c in inspect(engine).get_columns("definition_draft")}
        assert columns == {"id", "key", "files", "updated_at", "updated_by", "based_on_version"}
        with engine.begin() as conn:
            insert = (
                "INSERT INTO definition_draft (key, files, updated_at, based_on_version)"
                " VALUES ('unit_plan', '{}', '2024-03-19 02:00:00', 1)"
            )
            conn.execute(text(insert))
        with pytest.raises(Exception, match="UNIQUE"), engine.begin() as conn:
            conn.execute(text(insert))
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0005")
        assert "definition_draft" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_api_tokens_work_here_and_a_read_only_token_may_not_deploy(world: World):
    made = {}
    for scope in ("read", "write"):
        answer = world.client("admin").post("/api/v1/tokens", json={"name": f"ci {scope}", "scopes": [scope]})
        assert answer.status_code == 201, answer.get_json()
        made[scope] = {"Authorization": f"Bearer {answer.get_json()['token']}"}
    client = world.app.test_client()
    assert client.get(LIST, headers=made["read"]).status_code == 200
    refused = client.post(DEPLOY, data=multipart(plan_v2_files()), headers=made["read"])
    assert refused.status_code == 403 and "may only read" in refused.get_json()["error"]["message"]
    answer = client.post(DEPLOY, data=multipart(plan_v2_files()), headers=made["write"])
    assert answer.status_code == 201, answer.get_json()


def test_a_body_over_the_request_cap_is_refused_unread(world: World):
    cap = world.app.config["MAX_CONTENT_LENGTH"]
    # the body written out here (the test client would spool a large multipart body to a temporary file)
    part = b'--b\r\nContent-Disposition: form-data; name="files"; filename="big.bpmn"\r\n\r\n'
    body = part + b"<a>" + b"x" * cap + b"</a>\r\n--b--\r\n"
    answer = world.client("admin").post(LINT, data=body, content_type="multipart/form-data; boundary=b")
    assert answer.status_code == 413
    assert answer.get_json()["error"]["code"] == "request_entity_too_large"


@pytest.mark.parametrize("version", [2**31, 10**15, 0])
def test_a_version_no_column_holds_is_not_found(world: World, version):
    """definition.version is an INTEGER: a bigger number is a 404 on every backend, never a database error."""
    answer = world.client("admin").get(f"/api/v1/definitions/unit_plan/versions/{version}")
    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] == "not_found"
