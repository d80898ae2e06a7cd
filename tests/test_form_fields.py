"""What a person's submission may hold, in the pure core: the form's declared fields, the opt-ins for free data,
Camunda formData fields, and the size limits (engine/core/forms.py, engine/core/task_meta.py). No database."""

from __future__ import annotations

from typing import Any

import pytest

from engine.core.definitions import parse_files
from engine.core.forms import (
    FormFields,
    SubmissionLimits,
    check_person_submission,
    form_fields,
    submission_size,
    validate_submission,
)
from engine.errors import PayloadTooLargeError, ValidationError

PLAN: dict[str, Any] = {
    "type": "object",
    "required": ["title"],
    "properties": {
        "title": {"type": "string", "maxLength": 30},
        "note": {"type": "string"},
        "documents": {"type": "object", "properties": {"to_trinh": {"type": "string"}}},
        "strict": {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False},
    },
    "if": {"required": ["decision"], "properties": {"decision": {"const": "return"}}},
    "then": {"required": ["comment"], "properties": {"comment": {"type": "string"}}},
}
LIMITS = SubmissionLimits()


def refusal(schema: dict[str, Any] | None, data: dict[str, Any], meta: dict[str, Any] | None = None, **kw: Any):
    allowed = form_fields(schema, meta, "plan")
    with pytest.raises(ValidationError) as err:
        check_person_submission(schema, data, allowed, kw.get("limits", LIMITS), task="plan_draft")
    return err.value


def accepts(schema: dict[str, Any] | None, data: dict[str, Any], meta: dict[str, Any] | None = None) -> None:
    check_person_submission(schema, data, form_fields(schema, meta, "plan"), LIMITS, task="plan_draft")


def test_each_undeclared_top_level_key_is_named_in_the_message_and_the_details():
    err = refusal(PLAN, {"title": "KH", "lane_owners": {"unit_head": ["me"]}, "unit_id": "SGD", "rules": {}})
    assert err.details["fields"] == {
        "lane_owners": "not a field of form plan",
        "unit_id": "not a field of form plan",
        "rules": "not a field of form plan",
    }
    for key in ("lane_owners", "unit_id", "rules"):
        assert f"{key}: not a field of form plan" in err.message


def test_declared_fields_include_those_of_top_level_if_then_and_all_of():
    assert form_fields(PLAN, None, "plan").names == {"title", "note", "documents", "strict", "decision", "comment"}
    both = {"allOf": [{"properties": {"a": {}}}, {"properties": {"b": {}}}], "properties": {"c": {}}}
    assert form_fields(both, None, "x").names == {"a", "b", "c"}
    accepts(PLAN, {"title": "KH", "decision": "return", "comment": "thiếu"})


def test_only_top_level_keys_are_checked_unless_the_schema_closes_a_nested_object():
    accepts(PLAN, {"title": "KH", "documents": {"to_trinh": "files/1.pdf", "other": "files/2.pdf"}})
    err = refusal(PLAN, {"title": "KH", "strict": {"a": "x", "b": "y"}})
    assert list(err.details["fields"]) == ["strict"]
    assert "'b' was unexpected" in err.details["fields"]["strict"]


def test_schema_errors_and_unknown_keys_come_together_and_additional_properties_false_is_not_repeated():
    closed = {"type": "object", "properties": {"title": {"type": "string"}}, "additionalProperties": False}
    err = refusal(closed, {"title": 3, "unit_id": "SGD"})
    assert err.details["fields"] == {"unit_id": "not a field of form plan", "title": "3 is not of type 'string'"}


def test_a_task_without_a_form_takes_only_an_empty_submission():
    accepts(None, {})
    err = refusal(None, {"approved": True})
    assert err.details["fields"] == {"approved": "not a field: task plan_draft has no form"}
    assert err.message.startswith("task plan_draft has no form and takes no data")


@pytest.mark.parametrize(
    ("schema", "meta"),
    [
        (None, {"free_data": True}),  # the model marks the task free (freeData = true)
        ({"type": "object", "properties": {"title": {"type": "string"}}}, {"free_data": True}),
        ({"type": "object", "properties": {"title": {"type": "string"}}, "additionalProperties": True}, None),
        ({"type": "object", "additionalProperties": {"type": "integer"}}, None),
    ],
)
def test_free_tasks_take_any_key_but_keep_the_schema_and_the_limits(schema, meta):
    allowed = form_fields(schema, meta, "plan")
    assert allowed.free is True
    accepts(schema, {"anything": 1, "title": "KH"} if schema and "properties" in schema else {"anything": 1}, meta)
    err = refusal(schema, {"anything": "x" * (LIMITS.max_field_chars + 1)}, meta)
    assert list(err.details["fields"]) == ["anything"]


def test_additional_properties_false_or_unset_is_not_an_opt_in():
    assert form_fields({"properties": {"a": {}}}, None, "x").free is False
    assert form_fields({"properties": {"a": {}}, "additionalProperties": False}, None, "x").free is False


def test_pattern_properties_declare_the_keys_they_match():
    schema = {"type": "object", "patternProperties": {"^score_[a-z]+$": {"type": "integer"}}}
    accepts(schema, {"score_math": 9})
    assert refusal(schema, {"score_math": 9, "scoreX": 1}).details["fields"] == {"scoreX": "not a field of form plan"}


def test_camunda_form_fields_are_declared_fields_even_without_a_schema():
    allowed = form_fields(None, {"form_fields": ["approved", "comment"]}, None)
    assert allowed == FormFields("camunda:formData", frozenset({"approved", "comment"}))
    check_person_submission(None, {"approved": True}, allowed, LIMITS)
    with pytest.raises(ValidationError) as err:
        check_person_submission(None, {"approved": True, "amount": 1}, allowed, LIMITS)
    assert err.value.details["fields"] == {"amount": "not a field of form camunda:formData"}


def test_a_whole_submission_over_the_byte_limit_is_payload_too_large():
    limits = SubmissionLimits(max_bytes=120)
    small = {"title": "KH", "note": "é" * 40}  # "é" is two bytes in UTF-8
    assert submission_size(small) == len('{"title":"KH","note":""}') + 80 == 104
    check_person_submission(PLAN, small, form_fields(PLAN, None, "plan"), limits)
    with pytest.raises(PayloadTooLargeError) as err:
        check_person_submission(PLAN, {"title": "KH", "note": "é" * 60}, form_fields(PLAN, None, "plan"), limits)
    assert err.value.details == {"size_bytes": 144, "limit_bytes": 120}
    assert "é" not in err.value.message


def test_an_over_long_field_is_named_without_repeating_its_value():
    value = "x" * 100_001
    err = refusal(PLAN, {"title": "KH", "note": value})
    assert err.details["fields"] == {"note": "longer than 100000 characters"}
    assert "xxxxxxxxxx" not in err.message and len(err.message) < 200
    err = refusal(PLAN, {"title": "y" * 31})  # the form's own maxLength is smaller: it wins
    assert err.details["fields"] == {"title": "longer than 30 characters"}
    assert "yyyyyyyyyy" not in err.message


def test_the_field_limit_holds_inside_nested_objects_and_lists():
    limits = SubmissionLimits(max_field_chars=5)
    err = refusal(PLAN, {"title": "KH", "documents": {"to_trinh": "abcdef"}, "note": "ok"}, limits=limits)
    assert err.details["fields"] == {"documents/to_trinh": "longer than 5 characters"}
    free = {"free_data": True}
    err = refusal(None, {"items": ["ok", "toolong"]}, free, limits=limits)
    assert err.details["fields"] == {"items/1": "longer than 5 characters"}


def test_long_values_are_described_not_repeated_in_other_schema_messages():
    schema = {"type": "object", "properties": {"code": {"type": "string", "enum": ["a", "b"]}}}
    err = refusal(schema, {"code": "z" * 500})
    assert err.details["fields"] == {"code": "a text of 500 characters is not one of ['a', 'b']"}
    assert "zzzzzzzzzz" not in err.message


def test_a_very_long_unknown_key_is_shortened_in_the_message():
    key = "k" * 5000
    err = refusal(PLAN, {"title": "KH", key: 1})
    (name,) = err.details["fields"]
    assert name == "k" * 60 + "… (5000 characters)"
    assert len(err.message) < 300


def test_service_data_is_checked_against_the_schema_only():
    validate_submission(PLAN, {"title": "KH", "meeting_id": 3, "council_results": []}, "plan")
    with pytest.raises(ValidationError):
        validate_submission(PLAN, {"meeting_id": 3}, "plan")  # title is still required


def test_limits_from_the_environment():
    assert SubmissionLimits.from_env({}) == SubmissionLimits(1_048_576, 100_000)
    got = SubmissionLimits.from_env({"TDKT_MAX_SUBMISSION_BYTES": "2_000_000", "TDKT_MAX_FIELD_CHARS": " 500 "})
    assert got == SubmissionLimits(2_000_000, 500)
    with pytest.raises(ValueError, match="TDKT_MAX_FIELD_CHARS must be a positive whole number"):
        SubmissionLimits.from_env({"TDKT_MAX_FIELD_CHARS": "lots"})
    with pytest.raises(ValueError, match="TDKT_MAX_SUBMISSION_BYTES"):
        SubmissionLimits.from_env({"TDKT_MAX_SUBMISSION_BYTES": "0"})


MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="free_p" isExecutable="true">
    <bpmn:startEvent id="s"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="notes"/>
    <bpmn:userTask id="notes" name="Notes">
      <bpmn:extensionElements>
        <camunda:properties><camunda:property name="freeData" value="{free}"/></camunda:properties>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="notes" targetRef="approve"/>
    <bpmn:userTask id="approve" name="Approve">
      <bpmn:extensionElements>
        <camunda:formData>
          <camunda:formField id="approved" label="Approved?" type="boolean"/>
          <camunda:formField id="comment" label="Comment" type="string"/>
        </camunda:formData>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f3" sourceRef="approve" targetRef="e"/>
    <bpmn:endEvent id="e"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_task_meta_reads_free_data_and_camunda_form_fields():
    result = parse_files([("free.bpmn", MODEL.replace("{free}", "true").encode())])
    assert result.errors == []
    (bundle,) = result.bundles
    assert bundle.task_meta["notes"]["free_data"] is True
    assert "form_fields" not in bundle.task_meta["notes"]
    assert bundle.task_meta["approve"]["form_fields"] == ["approved", "comment"]
    assert "free_data" not in bundle.task_meta["approve"]  # set only when true: other models keep their hash


def test_free_data_false_is_not_free_and_anything_else_is_refused_at_deploy():
    (bundle,) = parse_files([("free.bpmn", MODEL.replace("{free}", "false").encode())]).bundles
    assert "free_data" not in bundle.task_meta["notes"]
    result = parse_files([("free.bpmn", MODEL.replace("{free}", "sometimes").encode())])
    assert [(p.element_id, p.message) for p in result.errors] == [
        ("notes", "property freeData must be true or false, not 'sometimes'")
    ]
