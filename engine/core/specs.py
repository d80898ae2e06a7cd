"""Our task spec classes: a business rule task that runs our DMN evaluator, and one service task for every dialect.

Both carry everything they need inside the spec (the decisions, the connector name and parameter expressions), so a
deployed definition is self-contained and the runtime never goes back to the XML.
"""

from __future__ import annotations

import json
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.spiff.specs.spiff_task import SpiffBpmnTask

from engine.core.dmn import DecisionError, evaluate_decision, map_result


class _Scope:
    """The task as the script engine sees it, with the decision's names (inputs, required outputs) as its data.

    The script engine gives task data precedence over extra names; a decision's own names must win instead (a stale
    value of a required decision's output left in the task data must not shadow the fresh one).
    """

    __slots__ = ("data", "id", "task_spec", "workflow")

    def __init__(self, task: Any, data: dict[str, Any]) -> None:
        self.data = data
        self.id = task.id
        self.task_spec = task.task_spec
        self.workflow = task.workflow


class DecisionTask(SpiffBpmnTask):  # type: ignore[misc]
    """A business rule task: evaluates ``decision_ref`` (and what it requires) against the task data.

    With ``result_variable`` the result is stored there, shaped by Camunda's ``mapDecisionResult``; without one
    (SpiffArena style) the output names are merged into the task data (lists when several rules matched).
    """

    def __init__(
        self,
        wf_spec: Any,
        bpmn_id: str,
        decision_ref: str,
        decisions: dict[str, dict[str, Any]],
        result_variable: str | None = None,
        map_decision_result: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.decision_ref = decision_ref
        self.decisions = decisions
        self.result_variable = result_variable
        self.map_decision_result = map_decision_result

    def _run_hook(self, my_task: Any) -> bool:
        engine = my_task.workflow.script_engine

        def evaluate(expression: str, names: dict[str, Any]) -> Any:
            return engine.evaluate(_Scope(my_task, names), expression)

        try:
            rows = evaluate_decision(self.decisions, self.decision_ref, my_task.data, evaluate)
            if self.result_variable:
                my_task.data[self.result_variable] = map_result(rows, self.map_decision_result, self.decision_ref)
            elif len(rows) == 1:
                my_task.data.update(rows[0])
            else:
                for name in {k for row in rows for k in row}:
                    my_task.data[name] = [row.get(name) for row in rows]
        except DecisionError as err:
            raise WorkflowTaskException(str(err), task=my_task)
        return True


class ConnectorServiceTask(SpiffBpmnTask):  # type: ignore[misc]
    """A service task that calls a registered connector through the script engine; never silently skipped.

    ``connector`` is the Camunda class / delegate expression / external topic or the SpiffArena operator id;
    ``operation_params`` maps parameter names to expressions, evaluated when the task runs and passed to
    ``script_engine.call_service(task, operation_name=connector, operation_params={name: value})``.
    A Camunda ``camunda:expression`` that translates into our language sets ``expression`` instead: the task
    evaluates it (Camunda's semantics) and calls no connector.
    """

    def __init__(
        self,
        wf_spec: Any,
        bpmn_id: str,
        connector: str | None,
        operation_params: dict[str, str] | None = None,
        result_variable: str | None = None,
        expression: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(wf_spec, bpmn_id, **kwargs)
        self.connector = connector
        self.operation_params = operation_params or {}
        self.result_variable = result_variable
        self.expression = expression

    def _run_hook(self, my_task: Any) -> bool:
        engine = my_task.workflow.script_engine
        if self.expression is not None:
            result = engine.evaluate(my_task, self.expression)
            if self.result_variable:
                my_task.data[self.result_variable] = result
            return True
        params = {name: engine.evaluate(my_task, expr) for name, expr in self.operation_params.items()}
        result = engine.call_service(my_task, operation_name=self.connector, operation_params=params)
        if self.result_variable:
            # SpiffWorkflow's convention: call_service returns the connector's result as JSON text.
            my_task.data[self.result_variable] = json.loads(result) if isinstance(result, str | bytes) else result
        return True
