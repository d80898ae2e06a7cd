"""Our DMN support: decision tables (DMN 1.1-1.3) with FEEL cells, hit policies and required decisions.

SpiffWorkflow's DMN parser reads only one decision per file (and crashes on Camunda's invoice example), has no
decision requirements graph and only UNIQUE/COLLECT. We parse DMN ourselves into plain JSON-able dicts (stored inside
the business rule task spec, so a deployed definition carries its decisions) and evaluate them here. FEEL cells are
translated to our Python subset at deploy time; at run time every cell is evaluated by the workflow's script engine
(never a raw ``eval``).

A decision dict: ``{"id", "name", "file", "line", "required": [ids], "hit_policy", "aggregation",
"inputs": [{"id", "label", "expression"}], "outputs": [{"id", "name", "label", "values": [python literal text]}],
"rules": [{"id", "tests": [python or None], "outputs": [python or None]}]}`` or, for a literal expression decision,
``{"id", "name", "required", "literal": {"variable", "expression"}}``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lxml import etree

from engine.core.camunda_compat import DMN_INPUT, TranslationError, translate_feel, translate_unary_tests
from engine.errors import Problem

HIT_POLICIES = {"UNIQUE", "FIRST", "ANY", "PRIORITY", "COLLECT", "RULE ORDER", "OUTPUT ORDER"}
AGGREGATIONS = {"SUM", "MIN", "MAX", "COUNT"}

Evaluate = Callable[[str, dict[str, Any]], Any]  # (python expression, extra names) -> value


class DecisionError(ValueError):
    """A decision could not be evaluated (no/too many matching rules, a failing cell)."""


def is_dmn(root: etree._Element) -> bool:
    return etree.QName(root).localname == "definitions" and "/spec/DMN/" in (etree.QName(root).namespace or "")


def _children(node: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in node if isinstance(c.tag, str) and etree.QName(c).localname == name]


def _child(node: etree._Element, name: str) -> etree._Element | None:
    found = _children(node, name)
    return found[0] if found else None


def _text(node: etree._Element | None) -> str:
    if node is None:
        return ""
    text = _child(node, "text")
    return (text.text or "").strip() if text is not None else ""


def _check(expression: str, file: str, node: etree._Element, problems: list[Problem]) -> None:
    from engine.core.expressions import check_expression  # lazy: written alongside this module

    for message in check_expression(expression, "eval"):
        problems.append(Problem(file, node.sourceline, node.get("id"), f"refused expression {expression!r}: {message}"))


def _feel(text: str, file: str, node: etree._Element, problems: list[Problem]) -> str | None:
    try:
        expression = translate_feel(text)
    except TranslationError as err:
        problems.append(Problem(file, node.sourceline, node.get("id"), str(err)))
        return None
    _check(expression, file, node, problems)
    return expression


def _parse_table(decision: dict[str, Any], table: etree._Element, file: str, problems: list[Problem]) -> None:
    policy = (table.get("hitPolicy") or "UNIQUE").upper().replace("_", " ")
    aggregation = (table.get("aggregation") or "").upper() or None
    if policy not in HIT_POLICIES:
        problems.append(Problem(file, table.sourceline, table.get("id"), f"hit policy {policy} is not supported"))
    if aggregation is not None and (aggregation not in AGGREGATIONS or policy != "COLLECT"):
        problems.append(Problem(file, table.sourceline, table.get("id"), f"aggregation {aggregation} not supported"))
    inputs, outputs, rules = [], [], []
    for clause in _children(table, "input"):
        expr_node = _child(clause, "inputExpression")
        text = _text(expr_node)
        if not text:
            problems.append(Problem(file, clause.sourceline, clause.get("id"), "decision input has no expression"))
        expression = _feel(text, file, expr_node if expr_node is not None else clause, problems) if text else None
        inputs.append({"id": clause.get("id"), "label": clause.get("label"), "expression": expression})
    for clause in _children(table, "output"):
        name = clause.get("name") or clause.get("label") or clause.get("id")
        values_text = _text(_child(clause, "outputValues"))
        values = [v for v in (_feel_quiet(t) for t in values_text.split(",")) if v is not None] if values_text else []
        outputs.append({"id": clause.get("id"), "name": name, "label": clause.get("label"), "values": values})
    for rule in _children(table, "rule"):
        tests: list[str | None] = []
        for entry in _children(rule, "inputEntry"):
            try:
                test = translate_unary_tests(_text(entry))
            except TranslationError as err:
                problems.append(Problem(file, entry.sourceline, entry.get("id"), str(err)))
                test = None
            if test is not None:
                _check(test, file, entry, problems)
            tests.append(test)
        results = [_feel(_text(e), file, e, problems) if _text(e) else None for e in _children(rule, "outputEntry")]
        if len(tests) != len(inputs) or len(results) != len(outputs):
            problems.append(Problem(file, rule.sourceline, rule.get("id"), "rule has the wrong number of entries"))
        rules.append({"id": rule.get("id"), "tests": tests, "outputs": results})
    decision.update(hit_policy=policy, aggregation=aggregation, inputs=inputs, outputs=outputs, rules=rules)


def _feel_quiet(text: str) -> str | None:
    try:
        return translate_feel(text)
    except TranslationError:
        return None


def parse_dmn(tree: etree._ElementTree, file: str) -> tuple[dict[str, dict[str, Any]], list[Problem]]:
    """Every decision in a DMN file, by id, and the problems found."""
    problems: list[Problem] = []
    decisions: dict[str, dict[str, Any]] = {}
    root = tree.getroot()
    if not is_dmn(root):
        return {}, [Problem(file, root.sourceline, None, "not a DMN file (expected DMN 1.1-1.3 definitions)")]
    for node in _children(root, "decision"):
        decision_id = node.get("id")
        if not decision_id:
            problems.append(Problem(file, node.sourceline, None, "decision has no id"))
            continue
        required = []
        for requirement in _children(node, "informationRequirement"):
            ref = _child(requirement, "requiredDecision")
            if ref is not None and ref.get("href"):
                required.append(ref.get("href", "").lstrip("#"))
        decision: dict[str, Any] = {
            "id": decision_id,
            "name": node.get("name"),
            "file": file,
            "line": node.sourceline,
            "required": required,
        }
        table, literal = _child(node, "decisionTable"), _child(node, "literalExpression")
        if table is not None:
            _parse_table(decision, table, file, problems)
        elif literal is not None:
            variable = _child(node, "variable")
            name = variable.get("name") if variable is not None else decision_id
            expression = _feel(_text(literal), file, literal, problems)
            decision["literal"] = {"variable": name, "expression": expression}
        else:
            problems.append(Problem(file, node.sourceline, decision_id, "decision has no decision table"))
            continue
        decisions[decision_id] = decision
    for decision in decisions.values():
        for ref in decision["required"]:
            if ref not in decisions:
                problems.append(
                    Problem(file, decision["line"], decision["id"], f"required decision {ref!r} is not in this file")
                )
    return decisions, problems


def decision_closure(decisions: dict[str, dict[str, Any]], decision_id: str) -> dict[str, dict[str, Any]]:
    """The decision and every decision it requires, transitively."""
    result: dict[str, dict[str, Any]] = {}
    pending = [decision_id]
    while pending:
        current = pending.pop()
        if current in result or current not in decisions:
            continue
        result[current] = decisions[current]
        pending.extend(decisions[current].get("required", []))
    return result


def _matches(decision: dict[str, Any], context: dict[str, Any], evaluate: Evaluate) -> list[dict[str, Any]]:
    values = [evaluate(i["expression"], context) if i["expression"] else None for i in decision["inputs"]]
    matched = []
    for rule in decision["rules"]:
        ok = True
        for value, test in zip(values, rule["tests"], strict=False):
            if test is not None and not evaluate(test, {**context, DMN_INPUT: value}):
                ok = False
                break
        if ok:
            outputs = {
                out["name"]: (evaluate(expr, context) if expr else None)
                for out, expr in zip(decision["outputs"], rule["outputs"], strict=False)
            }
            matched.append({"rule": rule["id"], "outputs": outputs})
    return matched


def _priority(decision: dict[str, Any], outputs: dict[str, Any], evaluate: Evaluate) -> tuple[int, ...]:
    key = []
    for out in decision["outputs"]:
        values = [evaluate(v, {}) for v in out.get("values", [])]
        value = outputs.get(out["name"])
        key.append(values.index(value) if value in values else len(values))
    return tuple(key)


def _apply_policy(decision: dict[str, Any], matched: list[dict[str, Any]], evaluate: Evaluate) -> list[dict[str, Any]]:
    policy, rows = decision["hit_policy"], [m["outputs"] for m in matched]
    if policy == "UNIQUE" and len(matched) > 1:
        rules = ", ".join(m["rule"] for m in matched)
        raise DecisionError(f"decision {decision['id']}: hit policy UNIQUE but several rules match ({rules})")
    if policy == "ANY" and any(r != rows[0] for r in rows):
        raise DecisionError(f"decision {decision['id']}: hit policy ANY but matching rules give different outputs")
    if policy in ("UNIQUE", "FIRST", "ANY"):
        return rows[:1]
    if policy in ("PRIORITY", "OUTPUT ORDER"):
        rows = sorted(rows, key=lambda r: _priority(decision, r, evaluate))
        return rows[:1] if policy == "PRIORITY" else rows
    if policy == "COLLECT" and decision.get("aggregation"):
        name = decision["outputs"][0]["name"]
        values = [r[name] for r in rows if r.get(name) is not None]
        aggregate: dict[str, Callable[[list[Any]], Any]] = {
            "SUM": lambda v: sum(v),
            "MIN": lambda v: min(v) if v else None,
            "MAX": lambda v: max(v) if v else None,
            "COUNT": len,
        }
        return [{name: aggregate[decision["aggregation"]](values)}]
    return rows  # COLLECT, RULE ORDER


def evaluate_decision(
    decisions: dict[str, dict[str, Any]], decision_id: str, data: dict[str, Any], evaluate: Evaluate
) -> list[dict[str, Any]]:
    """The result rows (output name -> value) of ``decision_id`` after its hit policy; required decisions first.

    ``evaluate(expression, names)`` evaluates one Python expression over ``names``: the task data overlaid with the
    decision's own names (required decisions' outputs, the value under test), which take precedence.
    """
    return _evaluate(decisions, decision_id, dict(data), evaluate, ())


def _evaluate(
    decisions: dict[str, dict[str, Any]],
    decision_id: str,
    context: dict[str, Any],
    evaluate: Evaluate,
    stack: tuple[str, ...],
) -> list[dict[str, Any]]:
    if decision_id in stack:
        raise DecisionError(f"decision {decision_id} requires itself ({' -> '.join(stack + (decision_id,))})")
    decision = decisions.get(decision_id)
    if decision is None:
        raise DecisionError(f"decision {decision_id!r} is not deployed")
    for required in decision.get("required", []):
        rows = _evaluate(decisions, required, context, evaluate, stack + (decision_id,))
        # A required decision's outputs become input names: one row gives values, several give lists.
        if len(rows) == 1:
            context.update(rows[0])
        else:
            for out in decisions[required].get("outputs", []):
                context[out["name"]] = [r.get(out["name"]) for r in rows]
    extra = {k: v for k, v in context.items()}
    scoped: Evaluate = lambda expression, names: evaluate(expression, {**extra, **names})  # noqa: E731
    literal = decision.get("literal")
    if literal is not None:
        return [{literal["variable"]: scoped(literal["expression"], {})}]
    return _apply_policy(decision, _matches(decision, {}, scoped), scoped)


def map_result(rows: list[dict[str, Any]], mode: str | None, decision_id: str) -> Any:
    """Camunda's ``mapDecisionResult``: singleEntry, singleResult, collectEntries or resultList (the default)."""
    mode = mode or "resultList"
    if mode == "resultList":
        return rows
    if mode == "collectEntries":
        if any(len(r) > 1 for r in rows):
            raise DecisionError(f"decision {decision_id}: collectEntries needs a single output")
        return [next(iter(r.values())) for r in rows]
    if len(rows) > 1:
        raise DecisionError(f"decision {decision_id}: {mode} needs at most one result, got {len(rows)}")
    if mode == "singleResult":
        return rows[0] if rows else None
    if mode == "singleEntry":
        if rows and len(rows[0]) > 1:
            raise DecisionError(f"decision {decision_id}: singleEntry needs a single output")
        return next(iter(rows[0].values())) if rows else None
    raise DecisionError(f"unknown mapDecisionResult {mode!r}")
