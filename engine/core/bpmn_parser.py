"""Our SpiffWorkflow parser: SpiffArena's parser, extended for Camunda extensions, our DMN and our connectors.

Every dialect is parsed into SpiffWorkflow's *spiff* spec classes (which run SpiffArena's pre/post scripts) plus
ours. Camunda-specific XML has already been rewritten by ``bpmn_checks.prepare`` (JUEL conditions, collections), so
only business rule tasks and service tasks need their own task parsers here.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser
from SpiffWorkflow.spiff.parser.task_spec import SpiffTaskParser

from engine.core.calls import ExternalCall, ExternalCallParser
from engine.core.camunda_compat import TranslationError, camunda_value, is_juel, translate_juel
from engine.core.dmn import decision_closure
from engine.core.specs import ConnectorServiceTask, DecisionTask
from engine.core.task_meta import BPMN_NS, CAMUNDA_NAMESPACES, camunda, spiff_extension, zeebe


class DecisionTaskParser(SpiffTaskParser):  # type: ignore[misc]
    """``camunda:decisionRef`` / ``spiffworkflow:calledDecisionId`` -> DecisionTask carrying its decisions."""

    @staticmethod
    def get_decision_ref(node: Any) -> str | None:
        return camunda(node, "decisionRef") or spiff_extension(node, "calledDecisionId")

    def create_task(self) -> DecisionTask:
        ref = self.get_decision_ref(self.node)
        if not ref:
            raise ValidationException("business rule task has no decisionRef", node=self.node, file_name=self.filename)
        decisions = decision_closure(self.process_parser.parser.decisions, ref)
        if ref not in decisions:
            self.raise_validation_exception(
                f"business rule task calls decision {ref!r}, which is not in the deployed DMN files"
            )
        extensions = self.parse_extensions()
        return DecisionTask(
            self.spec,
            self.bpmn_id,
            decision_ref=ref,
            decisions=decisions,
            result_variable=camunda(self.node, "resultVariable"),
            map_decision_result=camunda(self.node, "mapDecisionResult"),
            prescript=extensions.get("preScript"),
            postscript=extensions.get("postScript"),
            **self.bpmn_attributes,
        )


def expression_of(node: Any) -> str | None:
    """A ``camunda:expression`` service task's expression in our language, when it translates."""
    text = camunda(node, "expression")
    if not text or not is_juel(text):
        return None
    try:
        return translate_juel(text)
    except TranslationError:
        return None


def camunda_input_parameters(node: Any) -> tuple[dict[str, str], list[str]]:
    """``camunda:inputOutput`` input parameters as expressions (JUEL translated, text as a string literal, lists
    and maps as Python lists and dicts).

    Returns the parameters and what could not be taken (scripts, untranslatable JUEL).
    """
    params: dict[str, str] = {}
    refused: list[str] = []
    for ns in CAMUNDA_NAMESPACES:
        for param in node.findall(f"{{{BPMN_NS}}}extensionElements/{{{ns}}}inputOutput/{{{ns}}}inputParameter"):
            name = param.get("name") or ""
            try:
                params[name] = camunda_value(param)
            except TranslationError as err:
                refused.append(f"input parameter {name!r} {err}")
    return params, refused


def connector_of(node: Any) -> tuple[str | None, dict[str, str], str | None]:
    """(connector name, parameter expressions, result variable) of a service task in any dialect."""
    operator = SpiffTaskParser._parse_extensions(node).get("serviceTaskOperator")
    if operator is not None:
        params = {name: p["value"] for name, p in operator.get("parameters", {}).items()}
        return operator["name"], params, operator.get("resultVariable")
    result = camunda(node, "resultVariable")
    params, _ = camunda_input_parameters(node)
    if camunda(node, "type") == "external" and camunda(node, "topic"):
        return camunda(node, "topic"), params, result
    job_type = zeebe(node, "taskDefinition", "type")
    if job_type:  # Camunda 8: a job worker's type names the connector
        return job_type, params, result
    if camunda(node, "class"):
        return camunda(node, "class"), params, result
    delegate = camunda(node, "delegateExpression")
    if delegate:
        try:
            return (translate_juel(delegate) if is_juel(delegate) else delegate), params, result
        except TranslationError:
            return delegate, params, result
    if camunda(node, "expression"):
        return camunda(node, "expression"), params, result
    implementation = node.get("implementation") or ""
    if implementation and not implementation.startswith("##"):
        return implementation, params, result
    return None, params, result


class ConnectorTaskParser(SpiffTaskParser):  # type: ignore[misc]
    """Any service task -> ConnectorServiceTask. One without an implementation calls a connector named after it."""

    def create_task(self) -> ConnectorServiceTask:
        connector, params, result_variable = connector_of(self.node)
        expression = expression_of(self.node)
        extensions = self.parse_extensions()
        return ConnectorServiceTask(
            self.spec,
            self.bpmn_id,
            connector=None if expression is not None else connector or self.bpmn_id,
            operation_params=params,
            result_variable=result_variable,
            expression=expression,
            prescript=extensions.get("preScript"),
            postscript=extensions.get("postScript"),
            **self.bpmn_attributes,
        )


class TdktParser(SpiffBpmnParser):  # type: ignore[misc]
    """SpiffArena's parser with our business rule and service task parsers and our DMN decisions."""

    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("businessRuleTask"): (DecisionTaskParser, DecisionTask),
        full_tag("serviceTask"): (ConnectorTaskParser, ConnectorServiceTask),
        full_tag("callActivity"): (ExternalCallParser, ExternalCall),
    }

    def __init__(self) -> None:
        super().__init__()
        self.decisions: dict[str, dict[str, Any]] = {}

    def get_engine(self, decision_ref: str, node: Any) -> Any:  # SpiffWorkflow's DMN engine is never used
        raise ValidationException("SpiffWorkflow DMN engine is not used", node=node)


class InProcessCallsParser(TdktParser):
    """Call activities as SpiffWorkflow runs them, inside the caller's own workflow. The engine never uses it: it is
    the benchmark floor's, "plain SpiffWorkflow running the same model in memory"."""

    OVERRIDE_PARSER_CLASSES = {
        **TdktParser.OVERRIDE_PARSER_CLASSES,
        full_tag("callActivity"): SpiffBpmnParser.OVERRIDE_PARSER_CLASSES[full_tag("callActivity")],
    }
