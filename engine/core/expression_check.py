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
    ast.Try: "try is not allowed",
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

    def visit_Attribute(self, node: ast.Attribute) -> None:
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
        if isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
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
