"""The restricted expression and script engine that replaces SpiffWorkflow's ``eval``/``exec`` one.

Gateway conditions, timer expressions, multi-instance expressions, DMN cells and script tasks all go through
:class:`SafeScriptEngine`. Every text is parsed and checked once (see ``expression_check`` for what is allowed and
refused), cached by its text, and then walked by a simpleeval-based interpreter with no builtins and no modules
(``expression_interpreter``). The functions a model can call are ``DEFAULT_FUNCTIONS`` plus whatever the runtime
passes in (clock-bound helpers such as ``now()``).

Failures raise :class:`engine.errors.ExpressionError` naming the element and the text. SpiffWorkflow passes it
through unchanged from gateways, script tasks, timers and multi-instance tasks; DMN evaluation wraps every error in
a ``WorkflowTaskException`` raised from inside its ``except`` block, so the ExpressionError is then the
``__context__`` of what the caller sees: :func:`expression_error_from` finds it either way.
"""

from __future__ import annotations

import ast
import copy
import datetime as _dt
import json
import threading
from collections.abc import Callable
from typing import Any

from simpleeval import FunctionNotDefined, InvalidExpression, NameNotDefined
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from engine.core.camunda_compat import io_directives
from engine.core.connectors import ConnectorRegistry, default_registry
from engine.core.expression_check import parse, refusals
from engine.core.expression_functions import DEFAULT_FUNCTIONS
from engine.core.expression_interpreter import Interpreter
from engine.errors import EngineError, ExpressionError, IncidentError

__all__ = [
    "DEFAULT_FUNCTIONS",
    "SafeEnvironment",
    "SafeScriptEngine",
    "check_expression",
    "evaluate_plain",
    "expression_error_from",
]

_CACHE_LIMIT = 10_000
_IO_OUTER = "camunda_io_outer"  # task internal data: the process variables a camunda:inputOutput input shadows
_cache: dict[tuple[str, str], ast.AST | list[str]] = {}


def _checked(text: str, mode: str) -> ast.AST | list[str]:
    """The checked tree of ``text`` (an ``ast.expr`` or ``ast.Module``), or the list of refusals. Cached."""
    key = (mode, text)
    found = _cache.get(key)
    if found is not None:
        return found
    result: ast.AST | list[str]
    if not isinstance(text, str):
        result = [f"expected text, got {type(text).__name__}"]
    else:
        try:
            tree = parse(text, mode)
            problems = refusals(tree, mode)
        except SyntaxError as err:
            result = [f"syntax error on line {err.lineno}: {err.msg}"]
        except (ValueError, RecursionError, MemoryError) as err:  # null bytes, absurd nesting
            result = [f"cannot parse: {type(err).__name__}: {err}".rstrip(": ")]
        else:
            result = problems or (tree.body if isinstance(tree, ast.Expression) else tree)
    if len(_cache) >= _CACHE_LIMIT:
        _cache.clear()  # texts come from deployed models, so this only happens when something generates them
    _cache[key] = result
    return result


def check_expression(text: str, mode: str = "eval") -> list[str]:
    """Messages for anything refused (syntax error, dunder, import, forbidden call...); [] when OK.

    ``mode`` is ``"eval"`` for expressions and ``"exec"`` for scripts.
    """
    if mode not in ("eval", "exec"):
        raise ValueError(f"mode must be 'eval' or 'exec', not {mode!r}")
    result = _checked(text, mode)
    return list(result) if isinstance(result, list) else []


def _message(err: Exception) -> str:
    """One line for the user; the expression itself travels separately in ExpressionError.expression."""
    if isinstance(err, NameNotDefined):
        return f"name '{err.name}' is not defined"
    if isinstance(err, FunctionNotDefined):
        return f"function '{err.func_name}' is not defined"
    if isinstance(err, EngineError):
        return err.message
    text = str(err) or type(err).__name__
    if isinstance(err, KeyError):
        return f"key {text} not found"
    if isinstance(err, InvalidExpression):  # our refusals and limits: the text says it all
        return text
    return f"{type(err).__name__}: {text}"


class _Evaluator:
    """Checked evaluation with one interpreter per thread; shared by the environment and evaluate_plain."""

    def __init__(self, functions: dict[str, Callable[..., Any]]) -> None:
        self.functions = functions
        self._local = threading.local()
        self._local.interpreter = Interpreter(functions)  # fails now, not later, on a forbidden function

    def interpreter(self) -> Interpreter:
        found: Interpreter | None = getattr(self._local, "interpreter", None)
        if found is None:
            found = self._local.interpreter = Interpreter(self.functions)
        return found

    def evaluate(self, text: str, names: Any, element_id: str | None) -> Any:
        tree = _checked(text, "eval")
        if isinstance(tree, list):
            raise ExpressionError("refused: " + "; ".join(tree), element_id=element_id, expression=text)
        try:
            return self.interpreter().evaluate(tree, names, text)  # type: ignore[arg-type]
        except Exception as err:
            raise ExpressionError(_message(err), element_id=element_id, expression=text) from err

    def execute(self, text: str, data: dict[str, Any], external: dict[str, Any] | None, element_id: str | None) -> None:
        """Run a script against ``data``; on success ``data`` holds the result, on failure it is left untouched."""
        tree = _checked(text, "exec")
        if isinstance(tree, list):
            raise ExpressionError("refused: " + "; ".join(tree), element_id=element_id, expression=text)
        # Work on a copy so that a script failing half-way leaves no partial writes behind.
        names = dict(external or {})
        names.update(copy.deepcopy(data))
        try:
            self.interpreter().run(tree, names, text)  # type: ignore[arg-type]
        except Exception as err:
            raise ExpressionError(_message(err), element_id=element_id, expression=text) from err
        for key in external or ():
            if key not in data:
                names.pop(key, None)  # external context is visible to the script, never saved with the data
        data.clear()
        data.update(names)


class SafeEnvironment(BasePythonScriptEngineEnvironment):
    """SpiffWorkflow environment that evaluates through the checked interpreter.

    SpiffWorkflow calls the environment directly (without a task) for process-level conditions and message
    correlation, so the environment itself must be safe, not only the engine's methods.
    """

    def __init__(self, evaluator: _Evaluator) -> None:
        super().__init__({})
        self.evaluator = evaluator

    def evaluate(self, expression: str, context: dict, external_context: dict | None = None) -> Any:
        names = {**external_context, **context} if external_context else context
        return self.evaluator.evaluate(expression, names, None)

    def execute(self, script: str, context: dict, external_context: dict | None = None) -> bool:
        self.evaluator.execute(script, context, external_context, None)
        return True


class SafeScriptEngine(PythonScriptEngine):
    """SpiffWorkflow script engine with restricted expressions and scripts and registered connectors."""

    def __init__(
        self,
        functions: dict[str, Callable[..., Any]] | None = None,
        connectors: ConnectorRegistry | None = None,
    ) -> None:
        all_functions = {**DEFAULT_FUNCTIONS, **(functions or {})}
        for name in all_functions:
            if name.startswith("_") or not name.isidentifier():
                raise ValueError(f"invalid function name {name!r}")
        self.functions = all_functions
        self.connectors = connectors if connectors is not None else default_registry
        self._evaluator = _Evaluator(all_functions)
        super().__init__(environment=SafeEnvironment(self._evaluator))

    def evaluate(self, task: Any, expression: str, external_context: dict | None = None) -> Any:
        data = task.data
        names = {**external_context, **data} if external_context else data
        return self._evaluator.evaluate(expression, names, task.task_spec.bpmn_id)

    def execute(self, task: Any, script: str, external_context: dict | None = None) -> bool:
        enter, leave = io_directives(script) if isinstance(script, str) else ([], [])
        if enter:  # camunda:inputOutput inputs shadow process variables of the same name: keep the outer values
            task.internal_data[_IO_OUTER] = {n: copy.deepcopy(task.data[n]) for n in enter if n in task.data}
        self._evaluator.execute(script, task.data, external_context, task.task_spec.bpmn_id)
        if leave:  # the activity's local inputs go; the outer values they shadowed come back
            outer = task.internal_data.pop(_IO_OUTER, {})
            for name in leave:
                if name in outer:
                    task.data[name] = outer[name]
                else:
                    task.data.pop(name, None)
        return True

    def call_service(self, task: Any, operation_name: str = "", operation_params: dict | None = None, **kw: Any) -> str:
        """Run the connector registered as ``operation_name``; returns its result as JSON.

        The connector gets a deep copy of the task data and the parameters as ``{name: value}`` (SpiffWorkflow's
        ``{"value": v, "type": t}`` pairs are flattened; plain values pass as they are). What it returns is merged
        into the task data and also returned (SpiffWorkflow stores it under the service task's result variable).
        """
        element_id = task.task_spec.bpmn_id
        connector = self.connectors.get(operation_name)
        if connector is None:
            raise IncidentError(
                f"no connector registered for '{operation_name}'",
                details={"connector": operation_name, "element_id": element_id},
            )
        params = {
            name: value["value"] if isinstance(value, dict) and value.keys() == {"value", "type"} else value
            for name, value in (operation_params or {}).items()
        }
        try:
            result = connector(copy.deepcopy(task.data), params) or {}
            if not isinstance(result, dict):
                raise TypeError(f"connector returned {type(result).__name__}, expected a dict or None")
            text = json.dumps(result, default=_json_default)
        except Exception as err:
            raise IncidentError(
                f"connector '{operation_name}' failed: {_message(err)}",
                details={"connector": operation_name, "element_id": element_id},
            ) from err
        task.data.update(result)
        return text


def _json_default(value: Any) -> Any:
    if isinstance(value, _dt.date | _dt.datetime | _dt.time):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, set | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_default_evaluator = _Evaluator(DEFAULT_FUNCTIONS)


def evaluate_plain(
    text: str,
    names: dict[str, Any],
    *,
    element_id: str | None = None,
    functions: dict[str, Callable[..., Any]] | None = None,
) -> Any:
    """Evaluate an expression against a plain dict (no task): due dates, candidate groups, DMN cells.

    ``functions`` replaces nothing: it adds to DEFAULT_FUNCTIONS (build a SafeScriptEngine once if you call this
    with the same extra functions on a hot path; this builds an interpreter per call when ``functions`` is given).
    """
    evaluator = _default_evaluator if not functions else _Evaluator({**DEFAULT_FUNCTIONS, **functions})
    return evaluator.evaluate(text, names, element_id)


def expression_error_from(exc: BaseException | None) -> ExpressionError | None:
    """The ExpressionError behind ``exc`` (itself, or found through ``__cause__``/``__context__``), else None."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, ExpressionError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None
