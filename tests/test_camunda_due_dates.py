"""A Camunda model may give a user task's due date in working days: camunda:dueDate="${working_days(5)}"."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from engine.core.camunda_compat import TranslationError, translate_juel
from engine.persistence.models import HumanTask
from engine.services import instances
from engine.services.context import EngineContext
from tests.engine_helpers import make_org

MODEL = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="http://tdkt.example/test">
  <bpmn:process id="camunda_due" isExecutable="true">
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="check" camunda:candidateGroups="unit_officer" camunda:dueDate="${working_days(5)}">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="e"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="check" />
    <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="e" />
  </bpmn:process>
</bpmn:definitions>
"""


def test_only_the_engines_own_functions_translate():
    assert translate_juel("${working_days(5)}") == "working_days(5)"
    with pytest.raises(TranslationError, match="dateTime"):
        translate_juel("${dateTime().plusDays(2).toDate()}")


def test_a_camunda_due_date_in_working_days_crosses_tet(sessions, clock):
    from engine.services.definitions import deploy

    clock.set(datetime(2024, 2, 7, 3, 0, tzinfo=UTC))  # Wednesday 7/2/2024, 10:00 in Hà Nội; Tết is 8-14/2
    ctx = EngineContext(clock=clock)
    with sessions() as s, s.begin():
        make_org(s)
        result = deploy(s, [("camunda_due.bpmn", MODEL)], clock)
        assert not [w for w in result.warnings if "due date" in w.message]
        iid = instances.start_instance(s, ctx, key="camunda_due", unit_id="SYT").id
    with sessions() as s:
        due = s.scalar(select(HumanTask.due_at).where(HumanTask.instance_id == iid))
    assert due == datetime(2024, 2, 21, 3, 0, tzinfo=UTC)
