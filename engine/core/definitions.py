"""Parse a set of BPMN, DMN and form files into one bundle per executable process, with lint problems.

Nothing here raises on bad input: every problem, including SpiffWorkflow's own exceptions, becomes a Problem naming
the file, line and element. Files are parsed only through ``xml_safety.parse_xml``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec

from engine.core.bpmn_checks import FileCheck, prepare
from engine.core.bpmn_parser import TdktParser
from engine.core.dmn import parse_dmn
from engine.core.serialization import specs_to_json
from engine.core.specs import ConnectorServiceTask, DecisionTask
from engine.core.structure import structure_problems
from engine.core.xml_safety import encoding_warning, parse_xml
from engine.errors import DefinitionError, Problem

BPMN_SUFFIXES = (".bpmn", ".bpmn2", ".bpmn20.xml")
DMN_SUFFIXES = (".dmn",)
FORM_SUFFIXES = (".json",)


@dataclass
class ProcessBundle:
    key: str  # BPMN process id
    name: str | None
    spec: BpmnProcessSpec
    subprocess_specs: dict[str, BpmnProcessSpec]  # called and embedded processes it needs
    task_meta: dict[str, dict[str, Any]]  # per user task element id
    forms: dict[str, dict[str, Any]]  # form key -> JSON Schema
    sources: dict[str, str]  # file name -> text
    content_hash: str
    warnings: list[Problem] = field(default_factory=list)
    connectors: set[str] = field(default_factory=set)
    locations: dict[str, tuple[str, int]] = field(default_factory=dict)  # element id -> (file, line)


@dataclass
class ParseResult:
    bundles: list[ProcessBundle]
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def required_connectors(bundle: ProcessBundle) -> set[str]:
    """The connector names the bundle's service tasks call."""
    return set(bundle.connectors)


# SpiffWorkflow's wording for problems users hit, and what to do about them.
_CLEARER = {
    "Non-default exclusive outgoing sequence flow without condition": (
        "sequence flow leaves a gateway without a condition and is not its default flow: add a condition or "
        "make it the gateway's default"
    ),
    "Multiple outgoing flows are not supported for tasks of type": "element has several outgoing flows",
}
_TWO_ITEMS = "When looking for a task spec, we found two items, perhaps a form has the same ID?"


def _problem_from(err: BaseException, file: str, lines: dict[str, dict[str, int]]) -> Problem:
    if isinstance(err, ValidationException):
        file = err.file_name or file
        element = err.id or None
        line = err.line_number if isinstance(err.line_number, int) and err.line_number else None
        if line is None and element:
            line = lines.get(file, {}).get(element)
        message = str(err.args[0]) if err.args else str(err)
        if message.startswith(_TWO_ITEMS):  # SpiffWorkflow's words for a flow to no element, or to a duplicate id
            ref = message[len(_TWO_ITEMS) :].strip(" ()")
            message = f"a sequence flow names {ref!r}, which is no single element of the process (missing or duplicate)"
        if message.startswith("There is no support implemented"):
            message = f"{err.tag or 'this element'} is not supported by this engine"
        return Problem(file, line, element, _CLEARER.get(message, message))
    return Problem(file, None, None, f"cannot parse: {type(err).__name__}: {err}")


def _add_parser_problem(problems: list[Problem], problem: Problem, structural: list[Problem]) -> None:
    """Add what SpiffWorkflow raised, unless our structural checks already named its cause better (a dangling
    reference or duplicate id makes SpiffWorkflow fail with a message about something else), or it is known."""
    if problem in problems:
        return
    if problem.element_id and any(
        p.file == problem.file and p.element_id == problem.element_id and p.severity == "error" for p in problems
    ):
        return  # our checks already refused this element, in their words
    if any(p.severity == "error" for p in structural) and (
        problem.message.startswith(("cannot parse:", "a sequence flow names"))
        or "unexpected keyword" in problem.message
    ):
        return
    problems.append(problem)


def _line_index(tree: Any) -> dict[str, int]:
    return {node.get("id"): node.sourceline for node in tree.iter() if isinstance(node.tag, str) and node.get("id")}


def _form_index(forms: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Every name a form key may use for a form file -> its file name (full name, base name, stem)."""
    index: dict[str, str] = {}
    for name in forms:
        base = os.path.basename(name)
        for alias in (name, base, os.path.splitext(base)[0]):
            index.setdefault(alias, name)
    return index


def _resolve_form(raw: str, index: dict[str, str]) -> str | None:
    candidates = [raw, os.path.basename(raw), os.path.splitext(os.path.basename(raw))[0]]
    if ":" in raw:  # Camunda's "embedded:app:forms/x.html" / "camunda-forms:deployment:x.form"
        tail = raw.rsplit(":", 1)[1]
        candidates += [tail, os.path.splitext(os.path.basename(tail))[0]]
    for candidate in candidates:
        if candidate in index:
            return index[candidate]
    return None


def _attach_forms(check: FileCheck, index: dict[str, str], lines: dict[str, int], problems: list[Problem]) -> None:
    """Resolve each user task's form key to a form file of the set, or warn that the task has no form."""
    for task_id, raw in check.raw_form_keys.items():
        form_file = _resolve_form(raw, index)
        if form_file is None:
            meta = check.task_meta[task_id]
            if meta.get("free_data"):
                takes = "its completion may carry any data (freeData)"
            elif meta.get("form_fields"):
                takes = "its completion may carry only its camunda:formField fields"
            else:
                takes = "its completion may carry no data (deploy the form, or mark the task freeData)"
            message = f"form key {raw!r} names no form file in the deployment; the task has no form: {takes}"
            problems.append(Problem(check.file, lines.get(task_id), task_id, message, "warning"))
        else:
            check.task_meta[task_id]["form_key"] = os.path.splitext(os.path.basename(form_file))[0]
            check.form_files[task_id] = form_file
    for task_id, meta in check.task_meta.items():
        ui_name = meta.get("ui_schema_file")
        if not ui_name:
            continue
        ui_file = _resolve_form(ui_name, index)
        if ui_file is None:
            message = f"ui-schema {ui_name!r} names no file in the deployment; the form renders with its defaults"
            problems.append(Problem(check.file, lines.get(task_id), task_id, message, "warning"))
            meta.pop("ui_schema_file")
        else:
            meta["ui_schema_file"] = ui_file
            check.ui_files[task_id] = ui_file


def _is_spiffarena_metadata(name: str) -> bool:
    """A SpiffArena process model's process_model.json or a form's ui-schema (``x-uischema.json``)."""
    base = os.path.basename(name).lower()
    return base == "process_model.json" or base.endswith(("-uischema.json", "_uischema.json", ".uischema.json"))


def _load_forms(files: list[tuple[str, bytes]], problems: list[Problem]) -> dict[str, dict[str, Any]]:
    forms: dict[str, dict[str, Any]] = {}
    for name, data in files:
        try:
            schema = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            line = getattr(err, "lineno", None)
            problems.append(Problem(name, line, None, f"form is not valid JSON: {err}"))
            continue
        if not isinstance(schema, dict):
            problems.append(Problem(name, 1, None, "form must be a JSON object (a JSON Schema)"))
            continue
        if _is_spiffarena_metadata(name):  # not a JSON Schema: kept as it is, for the tasks that name it
            forms[name] = schema
            continue
        from engine.core.forms import check_schema

        found = check_schema(schema, name)
        problems.extend(found)
        if not found:
            forms[name] = schema
    return forms


def _hash(key: str, spec_json: str, meta: dict[str, Any], forms: dict[str, Any], sources: dict[str, str]) -> str:
    payload = json.dumps(
        {"key": key, "spec": spec_json, "task_meta": meta, "forms": forms, "sources": sources},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def parse_files(files: list[tuple[str, bytes]], *, parser_class: type[TdktParser] = TdktParser) -> ParseResult:
    """Parse the file set; never raises for bad content. ``parser_class``: the benchmark's floor runs the same
    models with SpiffWorkflow's own call activities (``bpmn_parser.InProcessCallsParser``)."""
    problems: list[Problem] = []
    parser = parser_class()
    texts: dict[str, str] = {}
    checks: list[FileCheck] = []
    decision_files: dict[str, str] = {}
    form_files: list[tuple[str, bytes]] = []
    bpmn_trees = []
    lines: dict[str, dict[str, int]] = {}
    structural: dict[str, list[Problem]] = {}
    for name, data in files:
        lower = name.lower()
        if lower.endswith(FORM_SUFFIXES):
            form_files.append((name, data))
            continue
        if not lower.endswith(BPMN_SUFFIXES + DMN_SUFFIXES):
            problems.append(Problem(name, None, None, "unsupported file type (expected .bpmn, .dmn or .json)"))
            continue
        try:
            tree = parse_xml(data, name)
        except DefinitionError as err:
            problems.extend(err.problems)
            continue
        mojibake = encoding_warning(data, name)
        if mojibake is not None:
            problems.append(mojibake)
        structural[name] = structure_problems(tree, name)
        problems.extend(structural[name])
        texts[name] = data.decode("utf-8", errors="replace")
        if lower.endswith(DMN_SUFFIXES):
            decisions, found = parse_dmn(tree, name)
            problems.extend(found)
            for decision_id, decision in decisions.items():
                if decision_id in parser.decisions:
                    problems.append(Problem(name, decision["line"], decision_id, "decision id is defined twice"))
                parser.decisions[decision_id] = decision
                decision_files[decision_id] = name
        else:
            bpmn_trees.append((name, tree))
            lines[name] = _line_index(tree)
    forms = _load_forms(form_files, problems)
    texts.update({name: data.decode("utf-8", errors="replace") for name, data in form_files if name in forms})

    for name, tree in bpmn_trees:
        check = prepare(tree, name)
        problems.extend(check.problems)
        if any(p.severity == "error" and p.message.startswith("not a BPMN") for p in check.problems):
            continue
        try:
            parser.add_bpmn_xml(tree, name)
        except Exception as err:  # noqa: BLE001 - every failure becomes a lint message
            _add_parser_problem(problems, _problem_from(err, name, lines), structural.get(name, []))
            continue
        checks.append(check)

    process_file = {pid: p.filename for pid, p in parser.process_parsers.items()}
    for check in checks:
        for call_id, called, line in check.calls:
            if called not in parser.process_parsers:
                problems.append(
                    Problem(
                        check.file,
                        line,
                        call_id,
                        f"call activity calls process {called!r}, which is not in the deployed files",
                    )
                )
        for task_id, ref, line in check.decision_refs:
            if ref not in parser.decisions:
                problems.append(
                    Problem(
                        check.file,
                        line,
                        task_id,
                        f"business rule task calls decision {ref!r}, which is not in the deployed DMN files",
                    )
                )

    index = _form_index(forms)
    for check in checks:
        _attach_forms(check, index, lines.get(check.file, {}), problems)
    bundles: list[ProcessBundle] = []
    blocked = {p.file for p in problems if p.severity == "error"}
    for pid in parser.get_process_ids():
        file = process_file.get(pid) or ""
        if parser.process_parsers[pid].parent is not None:
            continue
        if file in blocked:  # not deployed, but what SpiffWorkflow finds in it is named in the same pass
            try:
                parser.get_spec(pid)
            except Exception as err:  # noqa: BLE001
                _add_parser_problem(problems, _problem_from(err, file, lines), structural.get(file, []))
            continue
        bundle = _build_bundle(parser, pid, checks, texts, forms, decision_files, problems, lines)
        if bundle is not None:
            bundles.append(bundle)
    return ParseResult(bundles, problems)


def _build_bundle(
    parser: TdktParser,
    pid: str,
    checks: list[FileCheck],
    texts: dict[str, str],
    forms: dict[str, dict[str, Any]],
    decision_files: dict[str, str],
    problems: list[Problem],
    lines: dict[str, dict[str, int]],
) -> ProcessBundle | None:
    file = parser.process_parsers[pid].filename
    try:
        spec = parser.get_spec(pid)
        subprocess_specs = parser.get_subprocess_specs(pid)
        spec_json = specs_to_json(spec, subprocess_specs)
    except Exception as err:  # noqa: BLE001
        problems.append(_problem_from(err, file, lines))
        return None
    owners = {pid, *subprocess_specs}
    sources_used = {file} | {
        parser.process_parsers[s].filename for s in subprocess_specs if s in parser.process_parsers
    }
    task_meta: dict[str, dict[str, Any]] = {}
    bundle_forms: dict[str, dict[str, Any]] = {}
    warnings: list[Problem] = []
    connectors: set[str] = set()
    all_specs = [spec, *subprocess_specs.values()]
    for check in checks:
        for task_id, meta in check.task_meta.items():
            if check.owner.get(task_id) not in owners:
                continue
            task_meta[task_id] = meta
            form_file = check.form_files.get(task_id)
            if form_file is not None:
                bundle_forms[meta["form_key"]] = forms[form_file]
                sources_used.add(form_file)
            ui_file = check.ui_files.get(task_id)
            if ui_file is not None:
                meta["ui_schema"] = forms[ui_file]
                sources_used.add(ui_file)
    for one in all_specs:
        for task_spec in one.task_specs.values():
            if isinstance(task_spec, ConnectorServiceTask) and task_spec.connector:
                connectors.add(task_spec.connector)
            if isinstance(task_spec, DecisionTask):
                sources_used.update(decision_files[d] for d in task_spec.decisions if d in decision_files)
    warnings.extend(p for p in problems if p.severity == "warning" and p.file in sources_used and p not in warnings)
    sources = {name: texts[name] for name in sorted(sources_used) if name in texts}
    locations = {
        element: (name, line) for name in sorted(sources_used) for element, line in lines.get(name, {}).items()
    }
    return ProcessBundle(
        key=pid,
        name=parser.process_parsers[pid].get_name(),
        spec=spec,
        subprocess_specs=subprocess_specs,
        task_meta=task_meta,
        forms=bundle_forms,
        sources=sources,
        content_hash=_hash(pid, spec_json, task_meta, bundle_forms, sources),
        warnings=warnings,
        connectors=connectors,
        locations=locations,
    )
