"""Structural checks of one BPMN or DMN tree, before anything rewrites it: the OMG XML schemas, duplicate ids and
references that name no element.

The schemas are the OMG's BPMN 2.0 (BPMN20.xsd with Semantic, BPMNDI, DC and DI), DMN 1.1 (dmn.xsd) and DMN 1.3
XSDs, published by the Object Management Group (https://www.omg.org/spec/BPMN/2.0/, https://www.omg.org/spec/DMN/)
and shipped in this package (``engine/core/schemas/``, whose README names where each file came from and the OMG
licence). They are loaded from those local files only: imports resolve beside the importing schema, no network and
no DTD.

Every finding is a Problem naming the file, the line and the nearest element with an id; a file gets all of them
in one pass.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

from lxml import etree

from engine.errors import Problem

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
SCHEMA_DIR = Path(__file__).parent / "schemas"
DMN11_NS = "http://www.omg.org/spec/DMN/20151101/dmn.xsd"
DMN13_NS = "https://www.omg.org/spec/DMN/20191111/MODEL/"
SCHEMAS = {
    BPMN_NS: SCHEMA_DIR / "bpmn20" / "BPMN20.xsd",
    DMN11_NS: SCHEMA_DIR / "dmn11" / "dmn.xsd",
    DMN13_NS: SCHEMA_DIR / "dmn13" / "DMN13.xsd",
}
DMN_VERSIONS = {DMN11_NS: "DMN 1.1", DMN13_NS: "DMN 1.3"}


class _NoNetwork(etree.Resolver):
    """Schema imports resolve to files beside the schema; anything else is refused."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder

    def resolve(self, system_url: str, public_id: str, context: Any) -> Any:
        local_file = self.folder / Path(system_url.split("?")[0]).name
        if local_file.is_file():
            return self.resolve_filename(str(local_file), context)
        return self.resolve_string("", context)


@functools.cache
def schema_for(namespace: str) -> etree.XMLSchema | None:
    """The XSD for a root namespace, or None when we ship none (e.g. DMN 1.2, whose DMNDI schema we lack)."""
    path = SCHEMAS.get(namespace)
    if path is None or not path.is_file():
        return None
    parser = etree.XMLParser(no_network=True, load_dtd=False, resolve_entities=False)
    parser.resolvers.add(_NoNetwork(path.parent))
    try:
        return etree.XMLSchema(etree.parse(str(path), parser=parser))
    except (etree.XMLSchemaParseError, OSError):  # pragma: no cover - a broken installation
        return None


@functools.cache
def _bpmn_element_names() -> frozenset[str]:
    folder = SCHEMAS[BPMN_NS].parent
    names: set[str] = set()
    for name in ("BPMN20.xsd", "Semantic.xsd"):
        try:
            schema = etree.parse(str(folder / name), etree.XMLParser(no_network=True, load_dtd=False))
        except (OSError, etree.XMLSyntaxError):  # pragma: no cover
            continue
        names.update(n.get("name") for n in schema.getroot() if etree.QName(n).localname == "element" and n.get("name"))
    return frozenset(names)


def _severity(node: Any, message: str) -> str:
    """Errors for what changes what runs (an element we would drop, a missing required attribute); warnings for
    the rest (order of children, attribute types, foreign elements outside extensionElements)."""
    if "is required but missing" in message:
        return "error"
    if node is None or "This element is not expected" not in message:
        return "warning"
    qname = etree.QName(node)
    known = qname.localname in _bpmn_element_names()
    if qname.namespace == BPMN_NS:
        return "warning" if known else "error"
    return "error" if known else "warning"


def _owner_id(node: Any) -> str | None:
    while node is not None:
        if isinstance(node.tag, str) and node.get("id"):
            return str(node.get("id"))
        node = node.getparent()
    return None


_ELEMENT = re.compile(r"^Element '([^']+)'")


def _node_of(tree: etree._ElementTree, message: str, line: int) -> Any:
    """The element a schema message is about: the one of its tag on its line (the last, the deepest, if several)."""
    found = _ELEMENT.match(message)
    tag = found.group(1) if found else None
    on_line = [n for n in tree.getroot().iter() if isinstance(n.tag, str) and n.sourceline == line]
    named = [n for n in on_line if n.tag == tag]
    if named:
        return named[-1] if len(named) > 1 and tag is None else named[0]
    return on_line[-1] if on_line else None


# Our own checks below say these better (both ends, both lines).
_LEFT_TO_OUR_CHECKS = ("is not a valid value of the atomic type 'xs:ID'", "IDREF", "'xs:QName'")


def _clean_schema_message(message: str) -> str:
    for namespace in (BPMN_NS, BPMNDI_NS):
        message = message.replace("{" + namespace + "}", "")
    return message.replace("Element '", "element '")


def schema_problems(tree: etree._ElementTree, file: str) -> list[Problem]:
    """Each violation of the OMG schema for the root's namespace, as an error."""
    root = tree.getroot()
    schema = schema_for(etree.QName(root).namespace or "")
    if schema is None:
        return []
    if schema.validate(tree):
        return []
    problems = []
    for entry in schema.error_log:
        if any(marker in entry.message for marker in _LEFT_TO_OUR_CHECKS):
            continue
        node = _node_of(tree, entry.message, entry.line)
        message = f"not valid BPMN 2.0 XML (OMG schema): {_clean_schema_message(entry.message).rstrip('. ')}"
        severity = _severity(node, entry.message)
        if etree.QName(root).namespace != BPMN_NS:
            message = message.replace("BPMN 2.0", DMN_VERSIONS.get(etree.QName(root).namespace or "", "DMN"))
            severity = "warning"
        if severity == "error" and node is not None and "This element is not expected" in entry.message:
            message += "; the element is not part of BPMN here and would be ignored"
        problems.append(Problem(file, entry.line or None, _owner_id(node), message, severity))
    return problems


def _q(name: str) -> str:
    return f"{{{BPMN_NS}}}{name}"


# (element, attribute holding an id, what it names, severity)
_ATTRIBUTE_REFS = [
    ("sequenceFlow", "sourceRef", "source", "error"),
    ("sequenceFlow", "targetRef", "target", "error"),
    ("messageFlow", "sourceRef", "source", "warning"),
    ("messageFlow", "targetRef", "target", "warning"),
    ("boundaryEvent", "attachedToRef", "task it is attached to", "error"),
    ("messageEventDefinition", "messageRef", "message", "error"),
    ("receiveTask", "messageRef", "message", "error"),
    ("sendTask", "messageRef", "message", "error"),
    ("errorEventDefinition", "errorRef", "error", "error"),
    ("escalationEventDefinition", "escalationRef", "escalation", "error"),
    ("signalEventDefinition", "signalRef", "signal", "error"),
    ("participant", "processRef", "process", "warning"),
    ("dataObjectReference", "dataObjectRef", "data object", "error"),
    ("exclusiveGateway", "default", "default flow", "error"),
    ("inclusiveGateway", "default", "default flow", "error"),
    ("complexGateway", "default", "default flow", "error"),
]
_TEXT_REFS = [
    ("lane", "flowNodeRef", "flow node", "warning"),
    ("incoming", None, "incoming flow", "warning"),
    ("outgoing", None, "outgoing flow", "warning"),
]
_TASKS_WITH_DEFAULT = (
    "task",
    "userTask",
    "manualTask",
    "scriptTask",
    "serviceTask",
    "sendTask",
    "receiveTask",
    "businessRuleTask",
    "callActivity",
    "subProcess",
)


def _local_ref(value: str) -> str:
    """A QName reference (``tns:Message_1``) names the element by its local part."""
    return value.split(":", 1)[1] if ":" in value and not value.startswith("http") else value


def _describe(node: Any) -> str:
    kind = etree.QName(node).localname
    words = {"sequenceFlow": "sequence flow", "messageFlow": "message flow", "boundaryEvent": "boundary event"}
    return words.get(kind, kind)


_OMG = ("http://www.omg.org/spec/", "https://www.omg.org/spec/")


def reference_problems(tree: etree._ElementTree, file: str) -> list[Problem]:
    """Duplicate ids (both lines) and references to ids the file does not define (both ends)."""
    root = tree.getroot()
    problems: list[Problem] = []
    first: dict[str, Any] = {}
    ids: set[str] = set()
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        element_id = node.get("id")
        if not element_id:
            continue
        ids.add(element_id)
        if not (etree.QName(node).namespace or "").startswith(_OMG):
            continue  # another tool's extension element: its ids are its own business
        if element_id in first:
            other = first[element_id]
            problems.append(
                Problem(
                    file,
                    node.sourceline,
                    element_id,
                    f"duplicate id {element_id!r}: this {etree.QName(node).localname} (line {node.sourceline}) and "
                    f"the {etree.QName(other).localname} on line {other.sourceline} have the same id; ids must be "
                    "unique in the file",
                )
            )
        else:
            first[element_id] = node
    if etree.QName(root).namespace != BPMN_NS:
        return problems

    def missing(node: Any, ref: str, what: str, severity: str, owner: Any = None) -> None:
        holder = owner if owner is not None else node
        holder_id = _owner_id(holder)
        problems.append(
            Problem(
                file,
                node.sourceline,
                holder_id,
                f"{_describe(holder)} {holder_id!r} names {what} {ref!r}, which is not an element of the file",
                severity,
            )
        )

    for tag, attribute, what, severity in _ATTRIBUTE_REFS:
        for node in root.iter(_q(tag)):
            ref = node.get(attribute)
            if ref and _local_ref(ref) not in ids:
                owner = node.getparent() if tag.endswith("EventDefinition") else None
                missing(node, ref, what, severity, owner)
    for tag in _TASKS_WITH_DEFAULT:
        for node in root.iter(_q(tag)):
            ref = node.get("default")
            if ref and ref not in ids:
                missing(node, ref, "default flow", "error")
    for tag, child, what, severity in _TEXT_REFS:
        for node in root.iter(_q(tag)):
            refs = node.findall(_q(child)) if child else [node]
            for ref_node in refs:
                ref = (ref_node.text or "").strip()
                if ref and ref not in ids:
                    missing(ref_node, ref, what, severity, node if child else node.getparent())
    for node in root.iter(f"{{{BPMNDI_NS}}}BPMNShape", f"{{{BPMNDI_NS}}}BPMNEdge", f"{{{BPMNDI_NS}}}BPMNPlane"):
        ref = node.get("bpmnElement")
        if ref and _local_ref(ref) not in ids:
            kind = etree.QName(node).localname
            problems.append(
                Problem(
                    file,
                    node.sourceline,
                    node.get("id"),
                    f"diagram {kind} {node.get('id')!r} draws bpmnElement {ref!r}, which is not an element of the file",
                    "warning",
                )
            )
    for node in root.iter(_q("extension")):
        ref = node.get("definition")
        if ref and _local_ref(ref) not in ids:
            problems.append(
                Problem(
                    file,
                    node.sourceline,
                    None,
                    f"extension names definition {ref!r}, which is not defined in the file; the extension it "
                    "declares cannot be understood",
                    "error" if node.get("mustUnderstand") == "true" else "warning",
                )
            )
    return problems


def structure_problems(tree: etree._ElementTree, file: str) -> list[Problem]:
    """Everything this module finds in one tree (call it before the tree is rewritten)."""
    return schema_problems(tree, file) + reference_problems(tree, file)
