"""Prepare one BPMN tree before SpiffWorkflow parses it, and lint what SpiffWorkflow would not.

Runs on our own safely parsed tree: drops documentation-only constructs (data stores, text annotations, groups,
associations), rewrites Camunda-isms into what SpiffWorkflow understands (JUEL conditions, ISO timer literals,
``camunda:collection``), checks every expression and script with the restricted checker, and records what the
parser does not keep but we need: per user task metadata, call activities, decisions and connectors.
"""

from __future__ import annotations

import ast
import keyword
import textwrap
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from engine.core.camunda_compat import (
    TranslationError,
    camunda_value,
    cron_schedule,
    io_directive,
    is_cron,
    is_juel,
    translate_feel,
    translate_juel,
    translate_timer,
)
from engine.core.task_meta import (
    BPMN_NS,
    CAMUNDA_NAMESPACES,
    SPIFF_NS,
    camunda,
    lane_index,
    spiff_extension,
    user_task_meta,
    zeebe,
)
from engine.errors import Problem

PYTHON_SCRIPT_FORMATS = {"", "python", "py", "text/x-python", "python3"}
_PY_KEYWORDS = frozenset(keyword.kwlist)
_DOC_ONLY = {"textAnnotation", "group", "association", "dataStoreReference", "dataStore"}


def refusals(text: str, mode: str = "eval") -> list[str]:
    """What the restricted expression checker refuses in ``text`` (empty when fine)."""
    try:
        from engine.core.expressions import check_expression
    except ImportError:  # the checker lands separately; until then, at least reject what does not parse
        try:
            ast.parse(text, mode=mode)
        except SyntaxError as err:
            return [f"syntax error: {err.msg}"]
        return []
    return list(check_expression(text, mode))


def local(node: Any) -> str:
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


def dialect_of(root: etree._Element) -> str:
    namespaces = set((root.nsmap or {}).values())
    if namespaces & set(CAMUNDA_NAMESPACES):
        return "camunda"
    if SPIFF_NS in namespaces:
        return "spiff"
    return "bpmn"


@dataclass
class FileCheck:
    """What preparing one BPMN file found."""

    file: str
    dialect: str
    problems: list[Problem] = field(default_factory=list)
    task_meta: dict[str, dict[str, Any]] = field(default_factory=dict)  # user task id -> meta
    raw_form_keys: dict[str, str] = field(default_factory=dict)  # user task id -> form key as written
    form_files: dict[str, str] = field(default_factory=dict)  # user task id -> form file it resolved to
    ui_files: dict[str, str] = field(default_factory=dict)  # user task id -> SpiffArena ui-schema file
    owner: dict[str, str] = field(default_factory=dict)  # element id -> top-level process id
    calls: list[tuple[str, str, int | None]] = field(default_factory=list)  # (call activity id, called id, line)
    decision_refs: list[tuple[str, str, int | None]] = field(default_factory=list)

    def add(
        self, node: etree._Element | None, message: str, severity: str = "error", element: str | None = None
    ) -> None:
        line = node.sourceline if node is not None else None
        element_id = element if element is not None else (node.get("id") if node is not None else None)
        self.problems.append(Problem(self.file, line, element_id, message, severity))

    def check(
        self,
        node: etree._Element,
        text: str,
        what: str,
        mode: str = "eval",
        element: str | None = None,
        original: str | None = None,
    ) -> None:
        """Refusals of ``text``, quoting ``original`` (what the author wrote) when ``text`` is our translation."""
        for message in refusals(text, mode):
            where = f"in {text.strip()!r}" if original is None else f"in {original!r}, translated to {text.strip()!r}"
            self.add(node, f"{what} refused: {message} ({where})", element=element)


def _q(name: str) -> str:
    return f"{{{BPMN_NS}}}{name}"


def _strip_documentation(root: etree._Element, check: FileCheck) -> None:
    store_refs = {n.get("id") for n in root.iter(_q("dataStoreReference"))}
    objects = {n.get("id") for n in root.iter(_q("dataObject"))}
    object_refs = {n.get("id") for n in root.iter(_q("dataObjectReference")) if n.get("dataObjectRef") in objects}
    for node in root.iter(_q("dataStore")):
        check.add(
            node, f"data store {node.get('name') or node.get('id')!r} has no implementation here; ignored", "warning"
        )
    for kind, ref_tag in (("dataInputAssociation", "sourceRef"), ("dataOutputAssociation", "targetRef")):
        for assoc in list(root.iter(_q(kind))):
            refs = [r.text for r in assoc.findall(_q(ref_tag))]
            if all(ref in object_refs for ref in refs) and refs:
                continue
            if not any(ref in store_refs for ref in refs):
                owner = assoc.getparent()
                check.add(
                    owner,
                    f"data association to {', '.join(r or '?' for r in refs)} is not a data object; ignored",
                    "warning",
                )
            assoc.getparent().remove(assoc)
    for node in list(root.iter(*[_q(t) for t in _DOC_ONLY])):
        node.getparent().remove(node)


def _prepare_executable(root: etree._Element, check: FileCheck) -> None:
    processes = root.findall(_q("process"))
    if processes and all(p.get("isExecutable", "true") == "false" for p in processes):
        # Modellers (bpmn.io's default) often leave isExecutable="false"; a file with no executable process at all
        # is taken to mean "this is the process" rather than "deploy nothing".
        for process in processes:
            process.set("isExecutable", "true")
            check.add(
                process,
                'process is marked isExecutable="false"; deployed anyway because the file has no executable process',
                "warning",
            )
    else:
        for process in processes:
            if process.get("isExecutable", "true") == "false":
                check.add(process, 'process is isExecutable="false"; not deployed', "warning")


def _rewrite_expression(
    check: FileCheck, node: etree._Element, what: str, element: str | None, feel: bool = False
) -> None:
    """Translate JUEL (``${...}``) or FEEL (FEEL language, or Zeebe's leading ``=``) in place, then check it."""
    text = node.text or ""
    stripped = text.strip()
    original = None
    if is_juel(text) or feel or stripped.startswith("="):
        original = stripped
        try:
            if is_juel(text):
                text = translate_juel(text)
            else:
                text = translate_feel(stripped[1:] if stripped.startswith("=") else stripped, original=stripped)
        except TranslationError as err:
            check.add(node, f"{what}: {err}", element=element)
            return
        node.text = text
    if text.strip():
        check.check(node, text, what, element=element, original=original)


def _prepare_flow_nodes(root: etree._Element, check: FileCheck) -> None:
    for flow in root.iter(_q("sequenceFlow")):
        for cond in flow.findall(_q("conditionExpression")):
            language = (cond.get("language") or "").lower()
            feel = "feel" in language
            if language and not feel and "python" not in language and "juel" not in language:
                check.add(flow, f"condition language {cond.get('language')!r} is not supported; write Python")
                continue
            _rewrite_expression(check, cond, "condition", flow.get("id"), feel)
    for tag in ("timeDuration", "timeDate", "timeCycle"):
        for node in root.iter(_q(tag)):
            event = node.getparent().getparent()
            text = (node.text or "").strip()
            if not text:
                check.add(event, f"timer has an empty {tag}; set an expression")
                continue
            try:
                if tag == "timeCycle" and is_cron(text):
                    cron_schedule(text)  # refuses a cron that is not one fixed period, naming what to write
                    literal: str | None = repr(text)  # spiff_clock fires it aligned to the clock, as Quartz does
                elif text.startswith("="):  # Camunda 8: a FEEL expression
                    literal = translate_feel(text[1:], original=text)
                else:
                    literal = translate_timer(text)
            except TranslationError as err:
                check.add(event, f"timer {tag}: {err}")
                continue
            node.text = literal or text
            check.check(event, node.text, f"timer {tag}", original=text if literal and literal != text else None)
    for script in root.iter(_q("scriptTask")):
        fmt = (script.get("scriptFormat") or "").lower()
        body = script.find(_q("script"))
        if fmt not in PYTHON_SCRIPT_FORMATS:
            check.add(script, f"script format {script.get('scriptFormat')!r} is not supported; scripts are Python")
        elif body is None or not (body.text or "").strip():
            check.add(script, "script task has no script")
        else:
            check.check(script, body.text or "", "script", mode="exec")
    for tag in ("preScript", "postScript"):
        for node in root.iter(f"{{{SPIFF_NS}}}{tag}"):
            if (node.text or "").strip():
                check.check(node.getparent().getparent(), node.text or "", tag, mode="exec")
    for cond in root.iter(_q("loopCondition")):
        _rewrite_expression(check, cond, "loop condition", cond.getparent().getparent().get("id"))
    for event in root.iter(_q("conditionalEventDefinition")):
        for cond in event.findall(_q("condition")):
            _rewrite_expression(check, cond, "event condition", event.getparent().get("id"))
    for loop in root.iter(_q("multiInstanceLoopCharacteristics")):
        _prepare_multi_instance(loop, check)
    for task in root.iter(_q("businessRuleTask")):
        ref = camunda(task, "decisionRef") or spiff_extension(task, "calledDecisionId")
        if not ref:
            check.add(
                task,
                "business rule task has no decisionRef: set camunda:decisionRef (or "
                "spiffworkflow:calledDecisionId) to the id of a decision in a deployed DMN file",
            )
        elif is_juel(ref):
            check.add(task, f"business rule task decisionRef {ref!r} is an expression; name a decision id")
        else:
            check.decision_refs.append((task.get("id"), ref, task.sourceline))
    for call in root.iter(_q("callActivity")):
        called = call.get("calledElement") or zeebe(call, "calledElement", "processId")
        if called and not call.get("calledElement") and not is_juel(called):
            call.set("calledElement", called)  # Camunda 8 names the called process in zeebe:calledElement
        if not called:
            check.add(call, "call activity has no calledElement: set it to the id of the process to call")
        elif is_juel(called):
            check.add(call, f"call activity calledElement {called!r} is an expression; name a process id")
        else:
            check.calls.append((call.get("id"), called, call.sourceline))
    for sub in root.iter(_q("subProcess"), _q("transaction")):
        if not sub.findall(_q("startEvent")) and sub.get("triggeredByEvent") != "true":
            check.add(sub, "subprocess has no start event; add one (the engine cannot enter it otherwise)")
    for send in root.iter(_q("sendTask")):
        if (
            camunda(send, "class")
            or camunda(send, "topic")
            or camunda(send, "expression")
            or camunda(send, "delegateExpression")
        ):
            send.tag = _q("serviceTask")  # Camunda sends through an implementation: run it as a connector


def _prepare_service_tasks(root: etree._Element, check: FileCheck) -> None:
    from engine.core.bpmn_parser import connector_of, expression_of  # avoids a cycle

    for task in root.iter(_q("serviceTask")):
        connector, params, _ = connector_of(task)
        expression = expression_of(task)
        text = camunda(task, "expression")
        if expression is not None:
            check.check(task, expression, "service task expression")
        elif text:
            check.add(
                task,
                f"service task expression {text!r} cannot be translated; it will call a connector of that name",
                "warning",
            )
        elif connector is None:
            check.add(
                task,
                "service task has no implementation (camunda:class, camunda:delegateExpression, "
                "camunda:expression, camunda:topic, zeebe:taskDefinition or spiffworkflow:serviceTaskOperator); "
                f"it calls a connector named {task.get('id')!r}",
                "warning",
            )
        for name, value in params.items():
            check.check(task, value, f"service task parameter {name!r}")


# Activities whose spec runs a prescript before and a postscript after (SpiffWorkflow's spiff specs and ours).
IO_ACTIVITIES = {
    "task",
    "userTask",
    "manualTask",
    "scriptTask",
    "serviceTask",
    "sendTask",
    "receiveTask",
    "businessRuleTask",
    "subProcess",
    "transaction",
    "callActivity",
}


def _camunda_io(root: etree._Element, check: FileCheck) -> None:
    """``camunda:inputOutput`` as scripts around the activity: input parameters are set in the task data before it
    runs (ahead of any spiffworkflow:preScript, which sees them), output parameters are evaluated after it completes
    (after any postScript), then the input parameters that are not also outputs leave again: Camunda keeps them
    local to the activity. An input named like a process variable shadows it: the script engine saves the outer
    value before the inputs are set and puts it back afterwards (see ``camunda_compat.io_directive``)."""
    for ns in CAMUNDA_NAMESPACES:
        for mapping in list(root.iter(f"{{{ns}}}inputOutput")):
            extensions = mapping.getparent()
            owner = extensions.getparent()
            kind = local(owner)
            if kind not in IO_ACTIVITIES:
                article = "an" if kind[0] in "aeiou" else "a"
                check.add(
                    owner,
                    f"camunda:inputOutput on {article} {kind} is not applied (only activities map inputs and outputs "
                    "here); set the variables in a task before it",
                    "warning",
                )
                continue
            inputs: list[tuple[str, str]] = []
            outputs: list[tuple[str, str]] = []
            for tag, into in (("inputParameter", inputs), ("outputParameter", outputs)):
                for param in mapping.findall(f"{{{ns}}}{tag}"):
                    name = param.get("name") or ""
                    what = f"camunda:inputOutput {tag} {name!r}"
                    if not name.isidentifier() or name in _PY_KEYWORDS:
                        check.add(owner, f"{what} must be a variable name")
                        continue
                    try:
                        expression = camunda_value(param)
                    except TranslationError as err:
                        check.add(owner, f"{what} {err}")
                        continue
                    before = len(check.problems)
                    check.check(owner, expression, what)
                    if len(check.problems) == before:
                        into.append((name, expression))
            input_names = [name for name, _ in inputs]
            pre_lines = [io_directive("enter", input_names)] if inputs else []
            pre = "\n".join(pre_lines + [f"{name} = {expression}" for name, expression in inputs])
            post = [f"{name} = {expression}" for name, expression in outputs]
            local_names = [name for name in input_names if name not in {n for n, _ in outputs}]
            if local_names:
                post.append(io_directive("leave", local_names))
            body = owner.find(_q("script"))
            if kind == "scriptTask" and body is not None:  # SpiffWorkflow runs no pre/postScript on script tasks
                script = textwrap.dedent(body.text or "").strip()
                body.text = "\n".join(part for part in (pre, script, *post) if part)
                continue
            _add_script(extensions, "preScript", pre, first=True)
            _add_script(extensions, "postScript", "\n".join(post), first=False)


def _add_script(extensions: etree._Element, tag: str, text: str, *, first: bool) -> None:
    if not text:
        return
    node = extensions.find(f"{{{SPIFF_NS}}}{tag}")
    if node is None:
        node = etree.SubElement(extensions, f"{{{SPIFF_NS}}}{tag}")
        node.text = text
    else:
        existing = node.text or ""
        node.text = f"{text}\n{existing}" if first else f"{existing}\n{text}"


def _implicit_splits(root: etree._Element, check: FileCheck) -> None:
    """A task with several outgoing flows splits implicitly (BPMN 10.5.1): make the split an explicit gateway.

    Unconditional flows become a parallel gateway; conditional ones an inclusive gateway (flows without a condition
    get ``True``, as BPMN takes them unconditionally).
    """
    containers = [*root.iter(_q("process"), _q("subProcess"), _q("transaction"), _q("adHocSubProcess"))]
    for container in containers:
        by_source: dict[str, list[etree._Element]] = {}
        for flow in container.findall(_q("sequenceFlow")):
            by_source.setdefault(flow.get("sourceRef", ""), []).append(flow)
        nodes = {n.get("id"): n for n in container if isinstance(n.tag, str)}
        for source_id, outgoing in by_source.items():
            source = nodes.get(source_id)
            if len(outgoing) < 2 or source is None or local(source).endswith("Gateway"):
                continue
            conditional = any(f.find(_q("conditionExpression")) is not None for f in outgoing)
            split_id = f"{source_id}_split"
            split = etree.SubElement(container, _q("inclusiveGateway" if conditional else "parallelGateway"))
            split.set("id", split_id)
            default = source.attrib.pop("default", None)
            if default:
                split.set("default", default)
            for flow in outgoing:
                flow.set("sourceRef", split_id)
                if conditional and flow.find(_q("conditionExpression")) is None and flow.get("id") != default:
                    etree.SubElement(flow, _q("conditionExpression")).text = "True"
            link = etree.SubElement(container, _q("sequenceFlow"))
            link.set("id", f"{source_id}_to_split")
            link.set("sourceRef", source_id)
            link.set("targetRef", split_id)


def _prepare_multi_instance(loop: etree._Element, check: FileCheck) -> None:
    task = loop.getparent()
    collection, element_var = camunda(loop, "collection"), camunda(loop, "elementVariable")
    if collection:
        try:
            name = translate_juel(collection) if is_juel(collection) else collection
        except TranslationError as err:
            check.add(task, f"multi-instance collection: {err}")
            return
        if not name.isidentifier():
            check.add(task, f"multi-instance collection {collection!r} must name a variable")
            return
        ref = etree.SubElement(loop, _q("loopDataInputRef"))
        ref.text = name
        if element_var:
            etree.SubElement(loop, _q("inputDataItem"), id=element_var, name=element_var)
    cardinality = loop.find(_q("loopCardinality"))
    if cardinality is not None:
        _rewrite_expression(check, cardinality, "multi-instance cardinality", task.get("id"))
    condition = loop.find(_q("completionCondition"))
    if condition is not None:
        _rewrite_expression(check, condition, "multi-instance completion condition", task.get("id"))
    if cardinality is None and loop.find(_q("loopDataInputRef")) is None:
        check.add(
            task,
            "multi-instance task has no loopCardinality and no collection (loopDataInputRef or "
            "camunda:collection); set one",
        )


def _listener_body(listener: etree._Element, ns: str) -> str:
    """What a listener would have run, for the warning that drops it."""
    for attribute in ("class", "expression", "delegateExpression"):
        if listener.get(attribute):
            return f"its {attribute} {listener.get(attribute)!r}"
    script = listener.find(f"{{{ns}}}script")
    if script is not None:
        return f"its {script.get('scriptFormat') or ''} script".replace("  ", " ")
    return "its implementation"


def _listeners(root: etree._Element, check: FileCheck) -> None:
    for ns in CAMUNDA_NAMESPACES:
        for kind in ("taskListener", "executionListener"):
            for listener in root.iter(f"{{{ns}}}{kind}"):
                owner = listener.getparent().getparent()
                check.add(
                    owner,
                    f"camunda:{kind} (event {listener.get('event')!r}) is not executed by this engine; dropped: "
                    f"{_listener_body(listener, ns)}",
                    "warning",
                )


def prepare(tree: etree._ElementTree, file: str) -> FileCheck:
    """Rewrite ``tree`` in place for SpiffWorkflow and collect problems and metadata."""
    root = tree.getroot()
    check = FileCheck(file, dialect_of(root))
    if etree.QName(root).namespace != BPMN_NS or local(root) != "definitions":
        check.add(root, "not a BPMN 2.0 file (expected bpmn:definitions)")
        return check
    _strip_documentation(root, check)
    _prepare_executable(root, check)
    _listeners(root, check)
    _prepare_flow_nodes(root, check)
    _implicit_splits(root, check)
    _prepare_service_tasks(root, check)
    _camunda_io(root, check)
    for process in root.findall(_q("process")):
        for node in process.iter():
            if isinstance(node.tag, str) and node.get("id"):
                check.owner[node.get("id")] = process.get("id")
    lanes = lane_index(root)
    for task in root.iter(_q("userTask")):
        meta, form_key = user_task_meta(task, check, lanes)
        check.task_meta[task.get("id")] = meta
        if form_key:
            check.raw_form_keys[task.get("id")] = form_key
    return check
