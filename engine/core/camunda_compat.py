"""Translate Camunda's expression languages into our Python expression subset, once, at deploy time.

JUEL (``${approved}``, ``${!clarified}``, ``${amount > 1000 && category eq 'Misc'}``) appears in Camunda BPMN on
conditions, candidate groups, assignees, due dates and collections; FEEL appears in DMN cells (unary tests such as
``< 250``, ``[250..1000]``, ``"Misc","Travel Expenses"``). Both are parsed by a small recursive-descent parser that
emits Python source; anything outside the subset (method calls, functions, mixed text) raises TranslationError with a
message the caller turns into a Problem naming the element.

Choices worth knowing:
- dotted property access ``a.b`` becomes ``a['b']``: task data are JSON-like dicts, never objects.
- ``empty x`` becomes ``not x`` (true for None, "", [] and {} as in JUEL; also for 0 and False, unlike JUEL).
- every binary operation is parenthesised, so JUEL/FEEL precedence never depends on Python's.
"""

from __future__ import annotations

import keyword
import math
import re
from datetime import datetime, time, timedelta, tzinfo
from typing import Any

DMN_INPUT = "dmn_input"  # the name a translated unary test uses for the value under test


class TranslationError(ValueError):
    """The expression is outside the subset we translate."""


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
      | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>\.\.|&&|\|\||==|!=|<=|>=|[-+*/%()<>!.,\[\]?:=])
    )""",
    re.VERBOSE,
)

_JUEL_WORDS = {"and": "and", "or": "or", "eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">="}
_LITERALS = {"true": "True", "false": "False", "null": "None"}
# Our own expression functions that a Camunda model may call in JUEL, e.g. camunda:dueDate="${working_days(5)}".
ENGINE_FUNCTIONS = frozenset({"working_days", "add_working_days", "is_working_day"})


def _tokenize(text: str, feel: bool = False) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            unread = text[pos:].lstrip()
            if feel and unread[:1] in _FEEL_UNREADABLE:
                raise TranslationError(_FEEL_UNREADABLE[unread[:1]])
            raise TranslationError(f"cannot read {unread[:20]!r}")
        kind = match.lastgroup or "op"
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


def _string(token: str) -> str:
    body = token[1:-1]
    out, i = [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            out.append({"n": "\n", "t": "\t"}.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(body[i])
            i += 1
    return repr("".join(out))


class _Parser:
    """Recursive descent over JUEL (``feel=False``) or simple FEEL (``feel=True``) expressions."""

    def __init__(self, text: str, feel: bool) -> None:
        self.tokens = _tokenize(text, feel)
        self.pos = 0
        self.feel = feel

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise TranslationError("unexpected end of expression")
        self.pos += 1
        return token

    def accept(self, *values: str) -> str | None:
        token = self.peek()
        if token is not None and token[0] in ("op", "name") and token[1] in values:
            self.pos += 1
            return token[1]
        return None

    def expect(self, value: str) -> None:
        if self.accept(value) is None:
            found = self.peek()
            raise TranslationError(f"expected {value!r}, found {found[1] if found else 'end'!r}")

    def done(self) -> bool:
        return self.pos >= len(self.tokens)

    def expression(self) -> str:
        if self.feel and self.accept("if"):
            cond = self.expression()
            self.expect("then")
            yes = self.expression()
            self.expect("else")
            return f"({yes} if {cond} else {self.expression()})"
        cond = self.disjunction()
        if not self.feel and self.accept("?"):
            yes = self.expression()
            self.expect(":")
            return f"({yes} if {cond} else {self.expression()})"
        return cond

    def _binary(self, operand, operators: dict[str, str]) -> str:  # type: ignore[no-untyped-def]
        left = operand()
        while (op := self.accept(*operators)) is not None:
            left = f"({left} {operators[op]} {operand()})"
        return left

    def disjunction(self) -> str:
        return self._binary(self.conjunction, {"||": "or", "or": "or"} if not self.feel else {"or": "or"})

    def conjunction(self) -> str:
        return self._binary(self.equality, {"&&": "and", "and": "and"} if not self.feel else {"and": "and"})

    def relation(self) -> str:
        ops = {"<": "<", ">": ">", "<=": "<=", ">=": ">="}
        if not self.feel:
            ops.update({k: v for k, v in _JUEL_WORDS.items() if k in ("lt", "gt", "le", "ge")})
        result = self._binary(self.additive, ops)
        token = self.peek()
        if self.feel and token is not None and token[0] == "name" and token[1] in _FEEL_UNSUPPORTED:
            raise TranslationError(_FEEL_UNSUPPORTED[token[1]])
        return result

    def equality(self) -> str:
        if not self.feel:
            return self._binary(self.relation, {"==": "==", "!=": "!=", "eq": "==", "ne": "!="})
        left = self.relation()
        while (op := self.accept("=", "!=")) is not None:
            right = self.relation()
            left = _feel_comparison(left, op, right)
        return left

    def additive(self) -> str:
        return self._binary(self.multiplicative, {"+": "+", "-": "-"})

    def multiplicative(self) -> str:
        ops = {"*": "*", "/": "/", "%": "%"} if not self.feel else {"*": "*", "/": "/"}
        if not self.feel:
            ops.update({"div": "/", "mod": "%"})
        return self._binary(self.unary, ops)

    def unary(self) -> str:
        if not self.feel and self.accept("!", "not", "empty"):
            return f"(not {self.unary()})"
        if self.accept("-"):
            return f"(-{self.unary()})"
        return self.value()

    def value(self) -> str:
        result = self.primary()
        while True:
            if self.accept("."):
                kind, name = self.take()
                if kind != "name":
                    raise TranslationError(f"expected a property name after '.', found {name!r}")
                if self.peek() == ("op", "("):
                    raise TranslationError(f"method calls are not supported ({name}(...))")
                result = f"{result}[{name!r}]"
            elif self.accept("["):
                index = self.expression()
                self.expect("]")
                result = f"{result}[{index}]"
            elif self.peek() == ("op", "("):
                raise TranslationError("function calls are not supported")
            else:
                return result

    def primary(self) -> str:
        kind, text = self.take()
        if kind == "num":
            return text
        if kind == "str":
            if self.feel and text.startswith("'"):
                raise TranslationError("FEEL strings use double quotes")
            return _string(text)
        if kind == "name":
            if text in _LITERALS:
                return _LITERALS[text]
            if self.feel and text == "not" and self.peek() == ("op", "("):
                self.take()
                inner = self.expression()
                self.expect(")")
                return f"(not {inner})"
            if self.feel and text in _FEEL_UNSUPPORTED and text not in ("in", "between"):
                raise TranslationError(_FEEL_UNSUPPORTED[text])
            following = self.peek()
            if self.feel and following is not None and following[0] == "name" and self.peek(1) == ("op", "("):
                two_words = f"{text} {following[1]}"
                if two_words in _FEEL_FUNCTION_HINTS:
                    raise TranslationError(_feel_function_refusal(two_words))
            if self.feel and self.peek() == ("op", "(") and text not in ENGINE_FUNCTIONS:
                raise TranslationError(_feel_function_refusal(text))
            if self.peek() == ("op", "("):
                if text not in ENGINE_FUNCTIONS:
                    known = ", ".join(sorted(ENGINE_FUNCTIONS))
                    raise TranslationError(f"function calls are not supported ({text}(...)); the engine has {known}")
                self.take()
                args: list[str] = []
                while not self.accept(")"):
                    if args:
                        self.expect(",")
                    args.append(self.expression())
                return f"{text}({', '.join(args)})"
            if keyword.iskeyword(text) or text in _JUEL_WORDS or text in ("div", "mod", "empty", "instanceof"):
                raise TranslationError(f"unexpected {text!r}")
            return text
        if text == "(":
            inner = self.expression()
            self.expect(")")
            return f"({inner})"
        if self.feel and text == "[":
            items: list[str] = []
            while not self.accept("]"):
                if items:
                    if self.peek() == ("op", ".."):
                        raise TranslationError("FEEL ranges ([a..b]) are not supported here; write x >= a and x <= b")
                    self.expect(",")
                items.append(self.expression())
            return "[" + ", ".join(items) + "]"
        if self.feel and text in ("=", "=="):
            raise TranslationError(f"unexpected {text!r}: {_FEEL_EQUALS}")
        raise TranslationError(f"unexpected {text!r}")


_FEEL_UNREADABLE = {
    "{": "FEEL contexts ({key: value}) are not supported here; build the value in a script task first",
    "@": 'FEEL temporal literals (@"2024-01-31") are not supported here; compare with a variable that holds the date',
    "`": "FEEL names in backticks are not supported here; use a variable name without spaces",
}

_FEEL_EQUALS = "FEEL compares with a single '=' (=status = \"ok\"); a Zeebe expression starts with one '='"

# FEEL constructs outside the subset we translate, with what to write instead.
_FEEL_UNSUPPORTED = {
    "in": "FEEL 'in' tests are not supported here; write x = a or x = b (or x >= a and x <= b for a range)",
    "between": "FEEL 'between' is not supported here; write x >= a and x <= b",
    "instance": "FEEL 'instance of' is not supported here; compare the value itself",
    "some": "FEEL quantified expressions (some ... satisfies) are not supported here; compute the answer in a "
    "script task first and test that variable",
    "every": "FEEL quantified expressions (every ... satisfies) are not supported here; compute the answer in a "
    "script task first and test that variable",
    "satisfies": "FEEL quantified expressions (some/every ... satisfies) are not supported here",
    "for": "FEEL for loops (for ... in ... return) are not supported here; compute the list in a script task first",
    "return": "FEEL for loops (for ... in ... return) are not supported here; compute the list in a script task first",
    "function": "FEEL function definitions are not supported here",
}
_FEEL_FUNCTION_HINTS = {
    "count": "len(items)",
    "sum": "sum(items)",
    "min": "min(items)",
    "max": "max(items)",
    "abs": "abs(x)",
    "string length": "len(text)",
    "upper case": "text.upper()",
    "lower case": "text.lower()",
    "contains": "part in text",
    "starts with": "text.startswith(part)",
    "ends with": "text.endswith(part)",
    "list contains": "item in items",
    "is defined": "x != null",
    "date": "date(2024, 1, 31)",
    "now": "now()",
    "today": "now().date()",
}


def _feel_function_refusal(name: str) -> str:
    hint = _FEEL_FUNCTION_HINTS.get(name)
    if hint is None:
        return f"FEEL function {name}() is not supported here; compute the value in a script task first"
    if name == "is defined":
        return "FEEL function is defined() is not supported here; write x != null (false when x is missing or null)"
    return f"FEEL function {name}() is not supported here; compute the value in a script task first (in Python: {hint})"


def _feel_comparison(left: str, op: str, right: str) -> str:
    """FEEL ``=``/``!=``; a comparison with ``null`` is an ``is None`` test, and for a plain variable it is also
    true when the variable does not exist at all (FEEL reads a missing variable as null)."""
    if right == "None" and left != "None":
        left, right = right, left
    if left != "None":
        return f"({left} {'==' if op == '=' else '!='} {right})"
    if right.isidentifier() and not keyword.iskeyword(right):
        if op == "=":
            return f"(not is_defined({right!r}) or {right} is None)"
        return f"(is_defined({right!r}) and {right} is not None)"
    return f"({right} {'is' if op == '=' else 'is not'} None)"


def _strip_parens(text: str) -> str:
    """``(a > 1)`` -> ``a > 1`` when the outer parentheses enclose the whole expression."""
    while text.startswith("(") and text.endswith(")"):
        depth = 0
        for i, ch in enumerate(text):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i < len(text) - 1:
                return text
        text = text[1:-1]
    return text


def _translate(text: str, feel: bool) -> str:
    parser = _Parser(text, feel)
    if parser.done():
        raise TranslationError("empty expression")
    result = parser.expression()
    if not parser.done():
        found = parser.peek()[1]  # type: ignore[index]
        if feel and found == "==":
            raise TranslationError(f"unexpected {found!r}: {_FEEL_EQUALS}")
        raise TranslationError(f"unexpected {found!r}")
    return _strip_parens(result)


_JUEL_WHOLE = re.compile(r"^\s*[$#]\{(?P<body>.*)\}\s*$", re.DOTALL)


def is_juel(text: str | None) -> bool:
    return bool(text) and ("${" in text or "#{" in text)  # type: ignore[operator]


def translate_juel(text: str) -> str:
    """``${!clarified}`` -> ``not clarified``. Raises TranslationError outside the subset."""
    match = _JUEL_WHOLE.match(text)
    if match is None or "${" in match.group("body") or "#{" in match.group("body"):
        raise TranslationError(f"only a single ${{...}} expression can be translated, not {text.strip()!r}")
    try:
        return _translate(match.group("body"), feel=False)
    except TranslationError as err:
        raise TranslationError(f"cannot translate {text.strip()!r}: {err}")


def translate_value(text: str) -> str:
    """A Camunda attribute that is either JUEL or a literal: the literal becomes a Python string literal."""
    return translate_juel(text) if is_juel(text) else repr(text)


_ISO_TIMER = re.compile(r"^(R\d*/)?(P[0-9YMWDTHS.]+|\d{4}-\d\d-\d\dT[0-9:.]+(Z|[+-]\d\d:?\d\d)?)(/P[0-9YMWDTHS.]+)?$")


def translate_timer(text: str) -> str | None:
    """A bare ISO 8601 timer value (``P7D``, ``R6/P1D``) as a Python string literal, JUEL translated; else None."""
    stripped = text.strip()
    if _ISO_TIMER.match(stripped):
        return repr(stripped)
    if is_juel(stripped):
        return translate_juel(stripped)
    return None


def camunda_value(node: Any) -> str:
    """A ``camunda:inputParameter``/``outputParameter`` (or a list value, a map entry) as a Python expression.

    Text is JUEL (``${...}``, translated) or a literal string; no text is ``None``; ``camunda:list`` and
    ``camunda:map`` become a list and a dict of their values, nested as deep as written. A ``camunda:script``
    value raises TranslationError naming its language.
    """
    children = [child for child in node if isinstance(child.tag, str)]
    if not children:
        text = node.text or ""
        return translate_value(text.strip()) if text.strip() else "None"
    return _container_value(children[0])


def _container_value(child: Any) -> str:
    kind = child.tag.rsplit("}", 1)[-1]
    if kind == "list":
        items = [item for item in child if isinstance(item.tag, str)]
        return "[" + ", ".join(_item_value(item) for item in items) + "]"
    if kind == "map":
        entries = [entry for entry in child if isinstance(entry.tag, str)]
        return "{" + ", ".join(f"{entry.get('key', '')!r}: {camunda_value(entry)}" for entry in entries) + "}"
    if kind == "script":
        raise TranslationError(
            f"is a {child.get('scriptFormat') or 'script'} script, which is not run here; write its value as an "
            "expression (${...})"
        )
    raise TranslationError(f"has an unknown value element {kind!r}")


def _item_value(item: Any) -> str:
    """A list item: ``camunda:value`` text, or a nested list, map or script."""
    if item.tag.rsplit("}", 1)[-1] in ("list", "map", "script"):
        return _container_value(item)
    return camunda_value(item)


# camunda:inputOutput input parameters are local to their activity (Camunda gives them their own scope): an input
# named like a process variable shadows it during the activity, and afterwards the outer value is back unless an
# output parameter maps it. The scripts that apply the parameters carry these two comment lines; the script engine
# saves the shadowed values in the task's internal data before the first and puts them back after the second.
_IO_DIRECTIVE = re.compile(r"^# camunda:inputOutput (?P<kind>enter|leave): (?P<names>[A-Za-z_][A-Za-z0-9_, ]*)$")


def io_directive(kind: str, names: list[str]) -> str:
    """The comment line that makes the script engine save (``enter``) or restore (``leave``) these variables."""
    return f"# camunda:inputOutput {kind}: {', '.join(dict.fromkeys(names))}"


def io_directives(script: str) -> tuple[list[str], list[str]]:
    """The names of the ``enter`` and ``leave`` directives in a script (empty lists when it has none)."""
    found: dict[str, list[str]] = {"enter": [], "leave": []}
    if "# camunda:inputOutput " not in script:
        return [], []
    for raw in script.splitlines():
        match = _IO_DIRECTIVE.match(raw.strip())
        if match:
            names = [n.strip() for n in match["names"].split(",")]
            found[match["kind"]] += [n for n in names if n.isidentifier() and not n.startswith("_")]
    return found["enter"], found["leave"]


_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/?,#LW-]+$")
_EVERY = re.compile(r"^(\d+|\*)/(\d+)$")
_FIXED_PERIOD_HINT = "write an ISO 8601 cycle (R/PT5M, R/P1D, R3/PT10M)"


def is_cron(text: str) -> bool:
    """A Quartz (Camunda 7) or Spring (Camunda 8) cron expression: 6 or 7 fields, seconds first."""
    fields = text.split()
    return len(fields) in (6, 7) and all(_CRON_FIELD.match(f) for f in fields) and not text.strip().startswith("R")


def _every(field: str, unit: int, whole: int) -> tuple[int, int] | None:
    """``a/N`` or ``*/N`` in a field of ``whole`` values as (period, offset) in ``unit`` seconds; None otherwise.

    Quartz restarts the count at every wrap of the field (``0/7`` minutes fires at :00, :07 ... :56, then :00), so
    it is one fixed period only when N divides the field's range."""
    found = _EVERY.match(field)
    if found is None:
        return None
    offset, step = (0 if found[1] == "*" else int(found[1])), int(found[2])
    if step == 0 or whole % step or offset >= step:
        return (0, 0)
    return step * unit, offset * unit


def cron_schedule(text: str) -> tuple[int, int]:
    """A fixed-period cron timeCycle as (period, phase) in seconds: it fires at local midnight + phase + k * period.

    Quartz fires at clock-aligned times (``0 0/5 * * * ?`` at :00, :05, :10 ... of every hour, in the engine's time
    zone); every cron that is one fixed period has this form, because its period divides a day. Any other cron
    (weekdays only, a list of hours, a day of the month, a step that does not divide its field) raises
    TranslationError naming what to write instead.
    """
    fields = text.split()
    sec, minute, hour, dom, month, dow = fields[:6]
    year = fields[6] if len(fields) == 7 else "*"
    if dom not in ("*", "?") or month != "*" or dow not in ("*", "?") or year != "*":
        raise TranslationError(
            f"cron timeCycle {text!r} fires on particular days, months or weekdays, which an ISO 8601 cycle cannot "
            "say; write a fixed period (R/PT5M, R/P1D, R3/PT10M) or schedule the process from outside"
        )
    digits = [int(f) if f.isdigit() else None for f in (sec, minute, hour)]
    s, m, h = digits
    result: tuple[int, int] | None = None
    if (every := _every(sec, 1, 60)) and minute == "*" and hour == "*":
        result = every
    elif s is not None and (every := _every(minute, 60, 60)) and hour == "*":
        result = (every[0], every[1] + s)
    elif s is not None and minute == "*" and hour == "*":
        result = (60, s)
    elif s is not None and m is not None and (every := _every(hour, 3600, 24)):
        result = (every[0], every[1] + 60 * m + s)
    elif s is not None and m is not None and hour == "*":
        result = (3600, 60 * m + s)
    elif s is not None and m is not None and h is not None:
        result = (86400, 3600 * h + 60 * m + s)
    if result is None or result[0] == 0 or (s or 0) > 59 or (m or 0) > 59 or (h or 0) > 23:
        raise TranslationError(f"cron timeCycle {text!r} is not one fixed period; {_FIXED_PERIOD_HINT}")
    return result


def _iso_period(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"P{seconds // 86400}D"
    if seconds % 3600 == 0:
        return f"PT{seconds // 3600}H"
    if seconds % 60 == 0:
        return f"PT{seconds // 60}M"
    return f"PT{seconds}S"


def cron_to_iso(text: str) -> str:
    """The ISO 8601 period of a fixed-period cron timeCycle (``0 0/5 * * * ?`` -> ``R/PT5M``); refuses the rest."""
    return f"R/{_iso_period(cron_schedule(text)[0])}"


def next_cron_fire(text: str, after: datetime, zone: tzinfo) -> datetime:
    """The first time strictly after ``after`` at which the fixed-period cron ``text`` fires in ``zone``."""
    period, phase = cron_schedule(text)
    local = after.astimezone(zone)
    midnight = datetime.combine(local.date(), time(), zone)
    elapsed = (local - midnight).total_seconds() - phase
    steps = math.floor(elapsed / period) + 1
    return (midnight + timedelta(seconds=phase + steps * period)).astimezone(after.tzinfo)


def translate_feel(text: str, original: str | None = None) -> str:
    """A simple FEEL expression (DMN output entries, input expressions, Zeebe conditions) as Python.

    ``original`` is the text as the author wrote it when ``text`` is a part of it (Zeebe's ``=amount > 1000``
    without its ``=``): error messages quote what the author wrote, never what we cut out of it."""
    try:
        return _translate(text, feel=True)
    except TranslationError as err:
        raise TranslationError(f"cannot translate FEEL expression {(original or text).strip()!r}: {err}")


def _split_top(text: str) -> list[str]:
    """Split on commas outside quotes, parentheses and brackets."""
    parts: list[str] = []
    current: list[str] = []
    depth, quote = 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch == '"':
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth <= 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts]


_INTERVAL = re.compile(r"^(?P<open>[\[(\]])\s*(?P<low>.+?)\s*\.\.\s*(?P<high>.+?)\s*(?P<close>[\])\[])$", re.DOTALL)
_COMPARISON = re.compile(r"^(?P<op><=|>=|<|>|!=|=)\s*(?P<value>.+)$", re.DOTALL)


def _unary_test(test: str, var: str) -> str:
    if test.startswith("not(") and test.endswith(")"):
        inner = translate_unary_tests(test[4:-1], var)
        return "True" if inner is None else f"not ({inner})"
    interval = _INTERVAL.match(test)
    if interval:
        low, high = _translate(interval["low"], feel=True), _translate(interval["high"], feel=True)
        low_op = ">=" if interval["open"] == "[" else ">"
        high_op = "<=" if interval["close"] == "]" else "<"
        return f"{var} {low_op} {low} and {var} {high_op} {high}"
    comparison = _COMPARISON.match(test)
    if comparison:
        op = "==" if comparison["op"] == "=" else comparison["op"]
        return f"{var} {op} {_translate(comparison['value'], feel=True)}"
    value = _translate(test, feel=True)
    if value == "None":
        return f"{var} is None"
    return f"{var} == {value}"


def translate_unary_tests(text: str | None, var: str = DMN_INPUT) -> str | None:
    """FEEL unary tests as a Python boolean over ``var``; None means "any value" (``-`` or empty)."""
    stripped = (text or "").strip()
    if stripped in ("", "-"):
        return None
    try:
        tests = [_unary_test(t, var) for t in _split_top(stripped)]
    except TranslationError as err:
        raise TranslationError(f"cannot translate FEEL unary test {stripped!r}: {err}")
    if any(not t for t in tests):
        raise TranslationError(f"cannot translate FEEL unary test {stripped!r}: empty test")
    return tests[0] if len(tests) == 1 else " or ".join(f"({t})" for t in tests)
