"""The static (AST) check every expression and script passes before it is evaluated, at deploy time and at run time.

Allowed in expressions: literals (numbers, strings, lists, tuples, dicts, sets), names, arithmetic, comparisons,
``and``/``or``/``not``, ``x if c else y``, subscripts and slices, calls of named functions and of whitelisted
methods, list/dict comprehensions and generator expressions, f-strings with plain format specs.

Expressions may call the data-changing methods (``append``, ``update``, ``pop``...) only in scripts. Scripts may
also use: assignment (to names, subscripts, tuples of those), augmented assignment, ``if``/``elif``/
``else``, ``for`` (with ``break``/``continue``/``else``), ``del``, ``pass``, and expression statements.

Refused: anything starting with ``_`` (names and attributes), ``import``/``from ... import``, ``lambda``, ``def``,
``class``, ``with``, ``try``/``raise``, ``while`` (an unbounded loop; ``for`` over a bounded range does the same
job), ``global``/``nonlocal``, ``return``/``yield``/``await``, the walrus operator, ``*``-unpacking, attribute
assignment, attributes outside the whitelist (``str.format``/``format_map`` included: they reach attributes
through the format string), the builtins that open the sandbox (``eval``, ``exec``, ``open``, ``getattr``...),
nested f-string format specs, and constant sub-expressions that break the size limits (``10**10**10``).
"""

from __future__ import annotations

import ast
import textwrap
from typing import Any

from engine.core.expression_functions import ALL_ALLOWED_ATTRIBUTE_NAMES, safe_add, safe_mult, safe_pow

FORBIDDEN_NAMES = frozenset(
    {
        "eval", "exec", "compile", "open", "globals", "locals", "getattr", "setattr", "delattr", "vars", "dir",
        "breakpoint", "memoryview", "super", "classmethod", "staticmethod", "builtins",
    }
)  # fmt: skip
"""Never usable, even as a plain name: they only make sense as a way out of the sandbox."""

FORBIDDEN_CALLS = frozenset({"type", "isinstance", "issubclass", "hasattr", "id", "input", "help", "object", "print"})
"""Refused as calls; still usable as data names (a form field may well be called ``type``)."""

MUTATING_METHODS = frozenset(
    {"append", "insert", "remove", "reverse", "sort", "pop", "update", "setdefault", "add", "discard"}
)
"""Whitelisted in scripts; refused in expressions, which must not change the data they read (a gateway condition
is evaluated against the live task data)."""

FORMAT_METHODS = frozenset({"format", "format_map"})
"""Refused because they reach attributes through the format string; an f-string says the same safely."""

FORBIDDEN_ATTRIBUTES = FORMAT_METHODS | frozenset({"mro", "gi_frame", "f_globals", "f_locals"})

_NO_USER = (
    "scripts run without a signed-in user: who started the instance and who completed each task is in the instance "
    "history; to use a person in the process, ask for them in a form field or route the task by lane (role and unit)"
)
_ADMIN = "SpiffArena administration is not available to models here; do it in the admin pages"
SPIFFARENA_FUNCTIONS: dict[str, str] = {
    "get_current_user": _NO_USER,
    "get_process_initiator_user": _NO_USER,
    "get_last_user_completing_task": _NO_USER,
    "get_user": _NO_USER,
    "get_user_by_id": _NO_USER,
    "get_users_assigned_to_task": _NO_USER,
    "get_usernames_waiting_for_task": _NO_USER,
    "get_groups_for_user": _NO_USER,
    "get_group_members": "route the task by lane (role and unit) instead of naming the members",
    "get_task_potential_owners": "route the task by lane (role and unit) instead of naming the owners",
    "get_localtime": "write datetime.now() (the engine's clock, in Asia/Ho_Chi_Minh)",
    "get_env": "models do not read the server's environment; put the value in the process data",
    "get_secret": "models do not read secrets; a connector (service task) holds them",
    "get_frontend_url": "links to tasks are in the notifications; do not build them in scripts",
    "get_url_for_task": "links to tasks are in the notifications; do not build them in scripts",
    "get_url_for_task_with_bpmn_identifier": "links to tasks are in the notifications; do not build them in scripts",
    "markdown_file_download_link": "attached files are listed on the task page; do not build links in scripts",
    "get_encoded_file_data": "attached files are listed on the task page; do not read them in scripts",
    "get_task_data_value": "write name if is_defined('name') else default",
    "get_current_task_info": "the task's own data are the variables you can read",
    "get_toplevel_process_info": "the process data are the variables you can read",
    "get_process_info": "the process data are the variables you can read",
    "update_task_data_with_dictionary": "assign the variables directly (a = 1)",
    "get_dmn": "call the decision from a business rule task",
    "set_user_properties": _ADMIN,
    "get_user_properties": _ADMIN,
    "add_user_to_group": _ADMIN,
    "add_permission": _ADMIN,
    "clear_permissions": _ADMIN,
    "refresh_permissions": _ADMIN,
    "get_all_permissions": _ADMIN,
    "delete_process_instances_with_criteria": _ADMIN,
    "save_process_instance_metadata": _ADMIN,
    "set_feature_flags": _ADMIN,
}
"""SpiffArena's script functions (spiffworkflow-backend ``scripts/``): none exists here, so each is refused at
lint with what to write instead."""

_NO_IMPORT = "date, datetime and timedelta need no import (datetime.now(), date.today(), timedelta(days=1))"
MODULE_HINTS: dict[str, str] = {
    "datetime": _NO_IMPORT,
    "time": "write datetime.now() (the engine's clock, in Asia/Ho_Chi_Minh)",
    "json": "task data are already JSON values: build dicts and lists directly (str(x) for text)",
    "math": "use round(), abs(), min(), max(), sum(), ** and //",
    "decimal": "use numbers and round(x, 2)",
    "random": "a script must give the same result every time it runs",
    "uuid": "a script must give the same result every time it runs (the instance has its own id)",
    "re": "use the string methods (split, replace, startswith, endswith, find, isdigit...)",
    "pytz": "datetime.now() is already in Asia/Ho_Chi_Minh; parse dates with date.fromisoformat(text) or "
    "datetime.strptime(text, format)",
    "dateparser": "parse dates with date.fromisoformat(text) or datetime.strptime(text, format)",
    "zoneinfo": "datetime.now() is already in Asia/Ho_Chi_Minh",
    "calendar": "use date(...), .weekday() and timedelta(days=...)",
}
"""Modules SpiffArena scripts import or reach (SpiffArena's script globals include datetime, time, json, decimal,
uuid, pytz, dateparser): refused with what to write instead."""

_EXPRESSION_NODES: frozenset[type[ast.AST]] = frozenset(
    {
        ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv,
        ast.Mod, ast.Pow, ast.LShift, ast.RShift, ast.BitOr, ast.BitAnd, ast.BitXor, ast.UnaryOp, ast.Not,
        ast.USub, ast.UAdd, ast.Invert, ast.IfExp, ast.Dict, ast.Set, ast.List, ast.Tuple, ast.ListComp,
        ast.DictComp, ast.GeneratorExp, ast.comprehension, ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE,
        ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot, ast.Call, ast.keyword, ast.Constant,
        ast.Attribute, ast.Subscript, ast.Name, ast.Load, ast.Store, ast.Slice, ast.JoinedStr, ast.FormattedValue,
    }
)  # fmt: skip
_SCRIPT_NODES = _EXPRESSION_NODES | {
    ast.Module, ast.Assign, ast.AugAssign, ast.If, ast.For, ast.Expr, ast.Pass, ast.Break, ast.Continue,
    ast.Delete, ast.Del,
}  # fmt: skip

_REFUSAL_REASONS: dict[type[ast.AST], str] = {
    ast.Import: "import is not allowed",
    ast.ImportFrom: "import is not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.FunctionDef: "def is not allowed",
    ast.AsyncFunctionDef: "def is not allowed",
    ast.ClassDef: "class is not allowed",
    ast.With: "with is not allowed",
    ast.Try: "try is not allowed (test first: if x is not None, if 'key' in d, if is_defined('x'))",
    ast.Raise: "raise is not allowed",
    ast.While: "while is not allowed (use for over a range)",
    ast.Global: "global is not allowed",
    ast.Nonlocal: "nonlocal is not allowed",
    ast.NamedExpr: "the := operator is not allowed",
    ast.Starred: "*-unpacking is not allowed",
    ast.SetComp: "set comprehensions are not supported (use set([...]))",
}


def parse(text: str, mode: str) -> ast.AST:
    """Parse an expression (``mode='eval'``) or a script (``mode='exec'``); raises SyntaxError."""
    if mode == "eval":
        return ast.parse(text.strip(), mode="eval")
    if mode == "exec":
        return ast.parse(textwrap.dedent(text), mode="exec")
    raise ValueError(f"mode must be 'eval' or 'exec', not {mode!r}")


def refusals(tree: ast.AST, mode: str) -> list[str]:
    """Every reason to refuse the parsed ``tree`` ([] when it is acceptable)."""
    checker = _Checker(_SCRIPT_NODES if mode == "exec" else _EXPRESSION_NODES, allow_mutation=mode == "exec")
    checker.visit(tree)
    return checker.messages


class _Checker(ast.NodeVisitor):
    def __init__(self, allowed: frozenset[type[ast.AST]], allow_mutation: bool) -> None:
        self.allowed = allowed
        self.allow_mutation = allow_mutation
        self.messages: list[str] = []
        self.loop_depth = 0

    def refuse(self, node: ast.AST, message: str) -> None:
        line = getattr(node, "lineno", None)
        text = f"line {line}: {message}" if line else message
        if text not in self.messages:
            self.messages.append(text)

    def generic_visit(self, node: ast.AST) -> None:
        kind = type(node)
        if kind not in self.allowed:
            self.refuse(node, _REFUSAL_REASONS.get(kind, f"{kind.__name__} is not allowed here"))
            return  # nothing inside a refused construct needs a second message
        super().generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id.startswith("_"):
            self.refuse(node, f"name '{node.id}' is not allowed (names starting with _ are reserved)")
        elif node.id in FORBIDDEN_NAMES:
            self.refuse(node, f"'{node.id}' is not allowed")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._refuse_import(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self._refuse_import(node, node.module or ".")

    def _refuse_import(self, node: ast.AST, module: str) -> None:
        hint = MODULE_HINTS.get(module.split(".")[0])
        suffix = f"; {hint}" if hint else "; scripts use the functions the engine gives (len, sum, round, date...)"
        self.refuse(node, f"import {module} is not allowed{suffix}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        base = node.value.id if isinstance(node.value, ast.Name) else None
        if base == "datetime" and node.attr in ("datetime", "date", "timedelta", "time"):
            self.refuse(node, f"datetime.{node.attr} is the module's name for it; {_NO_IMPORT}")
            return
        if base in ("datetime", "date") and node.attr in ("utcnow", "utcfromtimestamp", "fromtimestamp"):
            self.refuse(
                node,
                f"{base}.{node.attr}() is not available; write datetime.now() (the engine's clock, in "
                "Asia/Ho_Chi_Minh)",
            )
            return
        data_like = node.attr in ALL_ALLOWED_ATTRIBUTE_NAMES and node.attr != base
        if base in MODULE_HINTS and base != "datetime" and not data_like:
            # json.dumps, time.time; a variable that happens to be called time (time.hour) is still data
            self.refuse(node, f"{base}.{node.attr}: the {base} module is not available here; {MODULE_HINTS[base]}")
            return
        if node.attr.startswith("_"):
            self.refuse(node, f"attribute '.{node.attr}' is not allowed (names starting with _ are reserved)")
        elif node.attr in FORMAT_METHODS:
            self.refuse(node, f"'.{node.attr}' is not allowed (use an f-string)")
        elif node.attr in FORBIDDEN_ATTRIBUTES:
            self.refuse(node, f"attribute '.{node.attr}' is not allowed (it reaches the interpreter's internals)")
        elif node.attr not in ALL_ALLOWED_ATTRIBUTE_NAMES:
            self.refuse(node, f"attribute '.{node.attr}' is not allowed")
        elif node.attr in MUTATING_METHODS and not self.allow_mutation:
            self.refuse(node, f"'.{node.attr}' changes data: allowed in scripts, not in expressions")
        if isinstance(node.ctx, ast.Store | ast.Del):
            self.refuse(node, "assigning or deleting attributes is not allowed")
        self.visit(node.value)

    def visit_Call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id in SPIFFARENA_FUNCTIONS:
            name = node.func.id
            self.refuse(node, f"{name}() is a SpiffArena function, not available here; {SPIFFARENA_FUNCTIONS[name]}")
        elif isinstance(node.func, ast.Name) and node.func.id == "print":
            self.refuse(node, "calling 'print' is not allowed (a script has no output; set a variable instead)")
        elif isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
            self.refuse(node, f"calling '{node.func.id}' is not allowed")
        elif not isinstance(node.func, ast.Name | ast.Attribute):
            self.refuse(node, "only named functions and whitelisted methods can be called")
        self.generic_visit(node)

    def visit_keyword(self, node: ast.keyword) -> None:
        if node.arg is None:
            self.refuse(node, "**-unpacking in calls is not allowed")
        self.generic_visit(node)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        if node.is_async:
            self.refuse(node, "async comprehensions are not allowed")
        self.generic_visit(node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> None:
        spec = node.format_spec
        if spec is not None and any(not isinstance(v, ast.Constant) for v in getattr(spec, "values", [])):
            self.refuse(node, "computed f-string format specs are not allowed")
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        try:
            _fold(node)
        except _NotConstant:
            pass
        except Exception as err:  # a constant sub-expression that breaks a limit, or 1/0
            self.refuse(node, f"constant expression refused: {err}")
            return
        self.generic_visit(node)

    def visit_For(self, node: ast.For) -> None:
        self.visit(node.target)
        self.visit(node.iter)
        self.loop_depth += 1
        for statement in node.body:
            self.visit(statement)
        self.loop_depth -= 1
        for statement in node.orelse:
            self.visit(statement)

    def visit_Break(self, node: ast.Break) -> None:
        if not self.loop_depth:
            self.refuse(node, "break outside a loop")

    def visit_Continue(self, node: ast.Continue) -> None:
        if not self.loop_depth:
            self.refuse(node, "continue outside a loop")

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            _check_target(self, target)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        _check_target(self, node.target)
        self.generic_visit(node)


def _check_target(checker: _Checker, target: ast.expr) -> None:
    if isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            _check_target(checker, element)
    elif not isinstance(target, ast.Name | ast.Subscript | ast.Attribute | ast.Starred):
        checker.refuse(target, "can only assign to names, items and tuples of those")


class _NotConstant(Exception):
    pass


_FOLDABLE = {ast.Pow: safe_pow, ast.Mult: safe_mult, ast.Add: safe_add}


def _fold(node: ast.AST) -> Any:
    """Value of a constant arithmetic sub-expression, computed with the size-limited operators."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List | ast.Tuple):
        values = [_fold(element) for element in node.elts]
        return values if isinstance(node, ast.List) else tuple(values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_fold(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _FOLDABLE:
        return _FOLDABLE[type(node.op)](_fold(node.left), _fold(node.right))
    raise _NotConstant
