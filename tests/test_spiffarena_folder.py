"""A process-model folder as SpiffArena keeps it: process_model.json, the BPMN file, a JSON Schema form and its
ui-schema. It lints clean, deploys, and the user task carries the ui-schema for the form to render with."""

from __future__ import annotations

import json
from pathlib import Path

from cli.lint import read_files
from engine.core.definitions import parse_files

BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="leave_request" isExecutable="true">
    <bpmn:startEvent id="start" />
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="ask" />
    <bpmn:userTask id="ask" name="Ask">
      <bpmn:extensionElements>
        <spiffworkflow:formJsonSchemaFilename>ask-schema.json</spiffworkflow:formJsonSchemaFilename>
        <spiffworkflow:formUiSchemaFilename>{ui}</spiffworkflow:formUiSchemaFilename>
      </bpmn:extensionElements>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f2" sourceRef="ask" targetRef="end" />
    <bpmn:endEvent id="end" />
  </bpmn:process>
</bpmn:definitions>
"""
SCHEMA = {"title": "Ask", "type": "object", "properties": {"days": {"type": "integer"}}, "required": ["days"]}
UI = {"days": {"ui:widget": "updown"}, "ui:order": ["days"], "ui:submitButtonOptions": {"norender": False}}
MODEL = {"display_name": "Leave request", "primary_file_name": "leave.bpmn", "primary_process_id": "leave_request"}


def folder(tmp_path: Path, ui: str = "ask-uischema.json") -> Path:
    (tmp_path / "process_model.json").write_text(json.dumps(MODEL))
    (tmp_path / "leave.bpmn").write_text(BPMN.format(ui=ui))
    (tmp_path / "ask-schema.json").write_text(json.dumps(SCHEMA))
    (tmp_path / "ask-uischema.json").write_text(json.dumps(UI))
    return tmp_path


def test_a_spiffarena_folder_deploys_with_its_ui_schema(tmp_path: Path) -> None:
    files, problems = read_files([str(folder(tmp_path))], short_names=True)
    result = parse_files(files)
    assert problems == [] and result.problems == []
    (bundle,) = result.bundles
    meta = bundle.task_meta["ask"]
    assert meta["form_key"] == "ask-schema" and meta["ui_schema"] == UI
    assert bundle.forms == {"ask-schema": SCHEMA}
    assert "ask-uischema.json" in bundle.sources and "process_model.json" not in bundle.sources


def test_a_missing_ui_schema_is_a_warning(tmp_path: Path) -> None:
    files, _ = read_files([str(folder(tmp_path, "gone-uischema.json"))], short_names=True)
    result = parse_files(files)
    assert [p.severity for p in result.problems] == ["warning"]
    assert "ui-schema 'gone-uischema.json' names no file" in result.problems[0].message
    assert "ui_schema" not in result.bundles[0].task_meta["ask"]
