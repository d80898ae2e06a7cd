"""A tree-walking interpreter for checked expressions and scripts, built on simpleeval's evaluator.

simpleeval evaluates expressions node by node (no ``eval``/``exec``, no builtins, no modules). This subclass adds
the few statements scripts need, a per-type attribute whitelist with size-guarded methods, size-limited operators,
and a work budget per run so that loops and repetitions stay cheap to refuse. Nothing here compiles Python.

One instance is used by one thread at a time (it keeps the names of the current run); the script engine keeps one
per thread.
"""

from __future__ import annotations

import ast
import datetime as dt
import functools
import types
from collections.abc import Callable, Iterable
from typing import Any

from simpleeval import (
    DEFAULT_OPERATORS,
    DISALLOW_FUNCTIONS,
    EvalWithCompoundTypes,
    FeatureNotAvailable,
    IterableTooLong,
    NameNotDefined,
)

from engine.core.business_calendar import LOCAL_TZ
from engine.core.expression_functions import (
    ALLOWED_ATTRIBUTES,
    CLASS_ATTRIBUTES,
    GUARDED_METHODS,
    MAX_RANGE,
    MAX_WORK,
    check_format_spec,
    safe_add,
    safe_mod,
    safe_mult,
    safe_pow,
    safe_range,
)

STORABLE_TYPES = frozenset(
    {str, int, float, bool, type(None), list, dict, tuple, set, dt.date, dt.datetime, dt.time, dt.timedelta}
)
"""What a script may assign to a name in the task data (checked at the top level only, for speed)."""


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Interpreter(EvalWithCompoundTypes):
    """Evaluates a checked ``ast.Expression`` body or runs a checked ``ast.Module`` against a names dict."""

    names: Any
    expr: str
    _max_count: int

    def __init__(self, functions: dict[str, Callable[..., Any]]) -> None:
        operators = dict(DEFAULT_OPERATORS)
        operators.update({ast.Add: self._add, ast.Mult: self._mult, ast.Pow: safe_pow, ast.Mod: safe_mod})
        functions = dict(functions)
        functions["range"] = self._range  # same limits as safe_range, and it charges the work budget
        super().__init__(operators=operators, functions=functions, names={}, allowed_attrs=None)
        self.work = 0
        self.statements: dict[type[ast.AST], Callable[[Any], None]] = {
            ast.Assign: self._run_assign,
            ast.AugAssign: self._run_aug_assign,
            ast.Expr: self._run_expr,
            ast.If: self._run_if,
            ast.For: self._run_for,
            ast.Delete: self._run_delete,
            ast.Pass: self._run_pass,
            ast.Break: self._run_break,
            ast.Continue: self._run_continue,
        }
        # simpleeval treats statements as expressions that warn and are ignored; they are ours now.
        for kind in (ast.Expr, ast.Assign, ast.AugAssign, ast.Import):
            self.nodes.pop(kind, None)

    # -- entry points -------------------------------------------------------------------------------------------

    def evaluate(self, node: ast.expr, names: Any, text: str) -> Any:
        saved = self.names, self.expr, self.work, self._max_count
        self.names, self.expr, self.work, self._max_count = names, text, 0, 0
        try:
            return self._eval(node)
        finally:
            self.names, self.expr, self.work, self._max_count = saved

    def run(self, module: ast.Module, names: dict[str, Any], text: str) -> None:
        saved = self.names, self.expr, self.work, self._max_count
        self.names, self.expr, self.work, self._max_count = names, text, 0, 0
        try:
            self._run_block(module.body)
        finally:
            self.names, self.expr, self.work, self._max_count = saved

    # -- budget and guarded operators ---------------------------------------------------------------------------

    def charge(self, units: int) -> None:
        self.work += units
        if self.work > MAX_WORK:
            raise IterableTooLong(f"too much work (more than {MAX_WORK} steps or elements)")

    def _charge_len(self, value: Any) -> Any:
        if isinstance(value, str | bytes | list | tuple):
            self.charge(len(value))
        return value

    def _add(self, a: Any, b: Any) -> Any:
        return self._charge_len(safe_add(a, b))

    def _mult(self, a: Any, b: Any) -> Any:
        return self._charge_len(safe_mult(a, b))

    def _range(self, *args: int) -> range:
        result = safe_range(*args)
        self.charge(min(len(result), MAX_RANGE))
        return result

    # -- expressions (overrides) --------------------------------------------------------------------------------

    def _eval_attribute(self, node: ast.Attribute) -> Any:
        attr = node.attr
        if attr.startswith("_"):
            raise FeatureNotAvailable(f"attribute '.{attr}' is not allowed")
        value = self._eval(node.value)
        if value is dt.datetime or value is dt.date:
            return self._class_attribute(value, attr)
        kind = type(value)
        if attr not in ALLOWED_ATTRIBUTES.get(kind, ()):
            raise FeatureNotAvailable(f"attribute '.{attr}' is not allowed on {kind.__name__}")
        guarded = GUARDED_METHODS.get((kind, attr))
        if guarded is not None:
            return functools.partial(self._call_guarded, guarded, value)
        return getattr(value, attr)

    def _class_attribute(self, cls: type, attr: str) -> Any:
        """``datetime.now()``, ``date.today()`` (the engine's clock, in Asia/Ho_Chi_Minh) and the parsing
        constructors; nothing else of the classes."""
        if attr not in CLASS_ATTRIBUTES.get(cls, ()):
            raise FeatureNotAvailable(f"attribute '.{attr}' is not allowed on {cls.__name__}")
        if attr in ("now", "today"):
            clock = self.functions.get("now")
            if clock is None:
                raise FeatureNotAvailable(f"{cls.__name__}.{attr}() needs the engine's clock, which is not given here")

            def local_now() -> Any:
                current = clock().astimezone(LOCAL_TZ)
                return current if cls is dt.datetime else current.date()

            return local_now
        return getattr(cls, attr)

    def _is_defined(self, node: ast.Call) -> bool:
        """``is_defined('x')``: whether the data has a variable ``x`` (FEEL reads a missing variable as null; the
        translated ``x = null`` asks this first). It reads the names the expression can read anyway."""
        if len(node.args) != 1 or node.keywords:
            raise FeatureNotAvailable("is_defined takes one variable name, e.g. is_defined('amount')")
        name = self._eval(node.args[0])
        if not isinstance(name, str):
            raise FeatureNotAvailable("is_defined takes a variable name as text, e.g. is_defined('amount')")
        return name in self.names

    def _call_guarded(self, method: Callable[..., Any], value: Any, *args: Any, **kwargs: Any) -> Any:
        return self._charge_len(method(value, *args, **kwargs))

    def _eval_call(self, node: ast.Call) -> Any:
        if isinstance(node.func, ast.Name) and node.func.id == "is_defined" and "is_defined" not in self.functions:
            return self._is_defined(node)
        if isinstance(node.func, ast.Name) and node.func.id not in self.functions:
            # A callable among the names was put there by the caller (e.g. evaluate_plain(text, {**functions,
            # **data})): task data cannot hold one, since scripts refuse to store callables.
            func = self.names.get(node.func.id) if isinstance(self.names, dict) else None
            if not callable(func):
                raise FeatureNotAvailable(f"function '{node.func.id}' is not defined")
            if func in DISALLOW_FUNCTIONS:
                raise FeatureNotAvailable(f"function '{node.func.id}' is forbidden")
            return func(*(self._eval(a) for a in node.args), **dict(self._eval(k) for k in node.keywords))
        return super()._eval_call(node)

    def _eval_formattedvalue(self, node: ast.FormattedValue) -> Any:
        value = self._eval(node.value)
        if node.conversion == ord("r"):
            value = repr(value)
        elif node.conversion == ord("a"):
            value = ascii(value)
        elif node.conversion == ord("s"):
            value = str(value)
        if node.format_spec is None:
            return value
        spec = self._eval(node.format_spec)
        check_format_spec(spec)
        # format() applies only the spec: unlike str.format it never resolves fields like {0.__class__}.
        return format(value, spec)

    def _check_disallowed_items(self, item: Any) -> None:
        # Cheaper than simpleeval's recursive walk, and enough: no module or builtin can be reached by name or
        # attribute, so none can turn up in a result.
        if isinstance(item, types.ModuleType):
            raise FeatureNotAvailable("modules are not allowed")

    # -- statements ---------------------------------------------------------------------------------------------

    def _run_block(self, statements: Iterable[ast.stmt]) -> None:
        for statement in statements:
            self.charge(1)
            handler = self.statements.get(type(statement))
            if handler is None:
                raise FeatureNotAvailable(f"{type(statement).__name__} is not allowed")
            handler(statement)

    def _store(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            if target.id.startswith("_"):
                raise FeatureNotAvailable(f"name '{target.id}' is not allowed")
            if callable(value) or isinstance(value, types.ModuleType):
                raise FeatureNotAvailable(f"functions cannot be stored in data ('{target.id}')")
            if type(value) not in STORABLE_TYPES:
                # zip/enumerate/range objects would only fail later, when the instance is saved
                raise FeatureNotAvailable(f"a {type(value).__name__} cannot be stored in data; use list(...)")
            self.names[target.id] = value
        elif isinstance(target, ast.Subscript):
            container = self._eval(target.value)
            container[self._eval(target.slice)] = value
        elif isinstance(target, ast.Tuple | ast.List):
            values = list(value)
            self.charge(len(values))
            if len(values) != len(target.elts):
                raise ValueError(f"expected {len(target.elts)} values to unpack, got {len(values)}")
            for element, item in zip(target.elts, values, strict=True):
                self._store(element, item)
        else:
            raise FeatureNotAvailable(f"cannot assign to {type(target).__name__}")

    def _run_assign(self, node: ast.Assign) -> None:
        value = self._eval(node.value)
        for target in node.targets:
            self._store(target, value)

    def _run_aug_assign(self, node: ast.AugAssign) -> None:
        target = node.target
        if isinstance(target, ast.Name):
            if target.id not in self.names:
                raise NameNotDefined(target.id, self.expr)
            current = self.names[target.id]
        elif isinstance(target, ast.Subscript):
            current = self._eval(target.value)[self._eval(target.slice)]
        else:
            raise FeatureNotAvailable(f"cannot assign to {type(target).__name__}")
        operator = self.operators[type(node.op)]
        self._store(target, operator(current, self._eval(node.value)))

    def _run_expr(self, node: ast.Expr) -> None:
        self._eval(node.value)

    def _run_if(self, node: ast.If) -> None:
        self._run_block(node.body if self._eval(node.test) else node.orelse)

    def _run_for(self, node: ast.For) -> None:
        for item in self._eval(node.iter):
            self.charge(1)
            self._store(node.target, item)
            try:
                self._run_block(node.body)
            except _Break:
                return
            except _Continue:
                continue
        self._run_block(node.orelse)

    def _run_delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name):
                if target.id not in self.names:
                    raise NameNotDefined(target.id, self.expr)
                del self.names[target.id]
            elif isinstance(target, ast.Subscript):
                del self._eval(target.value)[self._eval(target.slice)]
            else:
                raise FeatureNotAvailable(f"cannot delete {type(target).__name__}")

    def _run_pass(self, node: ast.Pass) -> None:
        return None

    def _run_break(self, node: ast.Break) -> None:
        raise _Break

    def _run_continue(self, node: ast.Continue) -> None:
        raise _Continue
