"""Per user task metadata the inbox needs (role, form, due date, candidates), read from Camunda or SpiffArena XML.

The role rule: the lane *id* when it looks like a role code (lowercase snake case such as ``unit_officer``),
otherwise the lane *name* normalised (accents removed, ``đ`` -> ``d``, lowercase, runs of other characters -> ``_``),
so lane ``Accountant`` gives ``accountant`` and lane id ``teamAssistant`` named "Team Assistant" gives
``team_assistant``. A task outside any lane has role None.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from lxml import etree

from engine.core.camunda_compat import TranslationError, is_juel, translate_feel, translate_juel

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NAMESPACES = ("http://camunda.org/schema/1.0/bpmn", "http://activiti.org/bpmn")
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
_ROLE_CODE = re.compile(r"^[a-z][a-z0-9_]*$")


ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"


def zeebe(node: etree._Element, element: str, name: str) -> str | None:
    """An attribute of a Camunda 8 (Zeebe) extension element, e.g. ``zeebe:assignmentDefinition/@candidateGroups``,
    as written: a FEEL expression keeps its leading ``=`` (``is_expression`` / ``translate_expression`` read it),
    so a message about it quotes what the author wrote."""
    found = node.find(f"{{{BPMN_NS}}}extensionElements/{{{ZEEBE_NS}}}{element}")
    return found.get(name) if found is not None else None


def is_expression(text: str | None) -> bool:
    """A Camunda 7 JUEL ``${...}`` or a Camunda 8 FEEL ``=...`` attribute value (else a literal)."""
    return is_juel(text) or (bool(text) and text.startswith("="))  # type: ignore[union-attr]


def translate_expression(text: str) -> str:
    """JUEL or FEEL (``=amount > 1000``) in our language; a TranslationError quotes the author's text."""
    if text.startswith("=") and not is_juel(text):
        return translate_feel(text[1:], original=text)
    return translate_juel(text)


def camunda(node: etree._Element, name: str) -> str | None:
    """A Camunda (or Activiti, its ancestor) extension attribute."""
    for ns in CAMUNDA_NAMESPACES:
        value = node.get(f"{{{ns}}}{name}")
        if value is not None:
            return value
    return None


def spiff_extension(node: etree._Element, name: str) -> str | None:
    found = node.find(f"{{{BPMN_NS}}}extensionElements/{{{SPIFF_NS}}}{name}")
    return (found.text or "").strip() if found is not None else None


def properties(node: etree._Element) -> dict[str, str]:
    """``camunda:properties`` and ``spiffworkflow:properties`` of an element, merged."""
    found: dict[str, str] = {}
    for ns in (*CAMUNDA_NAMESPACES, SPIFF_NS):
        path = f"{{{BPMN_NS}}}extensionElements/{{{ns}}}properties/{{{ns}}}property"
        for prop in node.findall(path):
            if prop.get("name"):
                found[prop.get("name", "")] = prop.get("value") or (prop.text or "")
    return found


def form_data_fields(node: etree._Element) -> list[str]:
    """The field ids of a Camunda generated form (``camunda:formData/camunda:formField``), in model order."""
    found: list[str] = []
    for ns in CAMUNDA_NAMESPACES:
        for item in node.findall(f"{{{BPMN_NS}}}extensionElements/{{{ns}}}formData/{{{ns}}}formField"):
            field_id = (item.get("id") or "").strip()
            if field_id and field_id not in found:
                found.append(field_id)
    return found


FREE_DATA = "freeData"  # the user task property that lets its completion write keys its form does not declare
_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0", "")


def free_data(task: etree._Element, props: dict[str, str], check: Any) -> bool:
    """Whether the model marks the task's form free (``freeData`` = ``true``); anything but true/false is refused."""
    raw = props.get(FREE_DATA)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value not in _TRUE + _FALSE:
        check.add(task, f"property {FREE_DATA} must be true or false, not {raw!r}")
        return False
    return value in _TRUE


def role_code(lane_id: str | None, lane_name: str | None) -> str | None:
    if lane_id and _ROLE_CODE.match(lane_id):
        return lane_id
    text = lane_name or lane_id
    if not text:
        return None
    text = text.replace("đ", "d").replace("Đ", "D")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or None


def lane_index(root: etree._Element) -> dict[str, etree._Element]:
    """Element id -> its innermost lane (nested lanes come later in document order and win)."""
    lanes: dict[str, etree._Element] = {}
    for lane in root.iter(f"{{{BPMN_NS}}}lane"):
        for ref in lane.findall(f"{{{BPMN_NS}}}flowNodeRef"):
            if ref.text:
                lanes[ref.text.strip()] = lane
    return lanes


def _lane_of(task: etree._Element, lanes: dict[str, etree._Element]) -> etree._Element | None:
    node: etree._Element | None = task
    while node is not None:  # a task inside an embedded subprocess sits in the subprocess's lane
        if node.get("id") in lanes:
            return lanes[node.get("id", "")]
        node = node.getparent()
    return None


def _expression_or_literal(value: str | None, what: str, task: etree._Element, check: Any) -> tuple[Any, str | None]:
    """(literal, None) or (None, expression) for a Camunda attribute such as candidateGroups or assignee."""
    if not value:
        return None, None
    if is_expression(value):
        try:
            expression = translate_expression(value)
        except TranslationError as err:
            check.add(task, f"{what}: {err}")
            return None, None
        check.check(task, expression, what)
        return None, expression
    return value, None


def user_task_meta(task: etree._Element, check: Any, lanes: dict[str, etree._Element]) -> tuple[dict[str, Any], str]:
    """The JSON-able metadata of one user task, and its form key as written (may be empty)."""
    props = properties(task)
    lane = _lane_of(task, lanes)
    lane_id, lane_name = (lane.get("id"), lane.get("name")) if lane is not None else (None, None)
    doc = task.find(f"{{{BPMN_NS}}}documentation")

    def attribute(name: str) -> str | None:
        return camunda(task, name) or props.get(name) or zeebe(task, "assignmentDefinition", name)

    groups, groups_expr = _expression_or_literal(attribute("candidateGroups"), "candidateGroups", task, check)
    users, users_expr = _expression_or_literal(attribute("candidateUsers"), "candidateUsers", task, check)
    assignee, assignee_expr = _expression_or_literal(attribute("assignee"), "assignee", task, check)

    due_date = None
    own_due = props.get("dueDate") or props.get("due_date")
    camunda_due = camunda(task, "dueDate") or zeebe(task, "taskSchedule", "dueDate")
    if own_due:
        due_date = own_due
        check.check(task, own_due, "due date")
    elif camunda_due:
        try:
            due_date = translate_expression(camunda_due) if is_expression(camunda_due) else repr(camunda_due)
            check.check(task, due_date, "due date")
        except TranslationError as err:
            check.add(task, f"due date dropped: {err}", "warning")

    form_key = (
        camunda(task, "formKey")
        or camunda(task, "formRef")  # Camunda 7.19+: a Camunda Form by id; we deploy it as a JSON Schema form
        or spiff_extension(task, "formJsonSchemaFilename")
        or props.get("formKey")
        or props.get("form_key")
        or zeebe(task, "formDefinition", "formKey")
        or zeebe(task, "formDefinition", "formId")
        or ""
    )
    meta = {
        "element_id": task.get("id"),
        "name": task.get("name"),
        "lane": lane_name or lane_id,
        "role": role_code(lane_id, lane_name),
        "form_key": None,  # set once the form file is found among the deployed files
        "due_date": due_date,
        "candidate_groups": [g.strip() for g in groups.split(",") if g.strip()] if groups else None,
        "candidate_groups_expr": groups_expr,
        "candidate_users": [u.strip() for u in users.split(",") if u.strip()] if users else None,
        "candidate_users_expr": users_expr,
        "assignee": assignee,
        "assignee_expr": assignee_expr,
        "documentation": (doc.text or "").strip() if doc is not None else None,
        "instructions": spiff_extension(task, "instructionsForEndUser"),
    }
    # Set only when present, so that models without them keep their content hash (and their version).
    fields = form_data_fields(task)
    if fields:
        meta["form_fields"] = fields
    if free_data(task, props, check):
        meta["free_data"] = True
    ui_schema = spiff_extension(task, "formUiSchemaFilename")  # SpiffArena: the form's react-jsonschema-form ui-schema
    if ui_schema:
        meta["ui_schema_file"] = ui_schema
    return meta, form_key
