"""What a model's expressions and scripts may use: the function set, the attribute whitelist and the size limits.

Everything here is pure (no clock, no I/O). Clock-bound helpers such as ``now()`` or ``working_days(n)`` are added
by the runtime through ``SafeScriptEngine(functions=...)``.

Limits guard against cheap resource exhaustion from a hostile or careless model: huge powers, huge repetitions,
huge ranges, huge padding in format specs. They are deliberately far above what an approval pipeline needs.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Iterable
from typing import Any

from simpleeval import FeatureNotAvailable, IterableTooLong, NumberTooHigh

MAX_RANGE = 100_000
"""Longest ``range(...)`` a model may build."""
MAX_LENGTH = 100_000
"""Longest string/list a ``*``, ``+``, ``join`` or ``replace`` may produce (simpleeval's own limit, too)."""
MAX_EXPONENT = 10_000
"""Largest exponent of ``**``."""
MAX_INT_BITS = 100_000
"""Largest integer (in bits) ``**`` or ``*`` may produce; about 30,000 decimal digits."""
MAX_FORMAT_WIDTH = 1_000
"""Largest width/precision in a format spec (f-string ``{x:>N}`` or ``'%Nd' % x``)."""
MAX_WORK = 300_000
"""Work units per evaluation or script run: statements, loop iterations, and elements built by range/+/*/join.
About one second of CPU at worst; a real approval script uses a few hundred."""


def safe_range(*args: int) -> range:
    """``range(stop)`` / ``range(start, stop[, step])``, at most MAX_RANGE long."""
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise IterableTooLong(f"range of {len(result)} elements is longer than {MAX_RANGE}")
    return result


def safe_sum(values: Iterable[Any], start: int | float = 0) -> Any:
    """``sum(numbers[, start])`` over numbers only (summing lists could build huge lists)."""
    if not isinstance(start, int | float):
        raise FeatureNotAvailable("sum() adds numbers only")
    return sum(values, start)


DEFAULT_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,  # len(x): number of items of a list/dict/string
    "min": min,  # min(a, b, ...) or min(list[, key=fn][, default=v])
    "max": max,  # max(a, b, ...) or max(list[, key=fn][, default=v])
    "sum": safe_sum,  # sum(numbers[, start]): numbers only
    "abs": abs,  # abs(x)
    "round": round,  # round(x[, digits])
    "sorted": sorted,  # sorted(list[, key=fn][, reverse=True])
    "any": any,  # any(list): True if some item is true
    "all": all,  # all(list): True if every item is true
    "int": int,  # int(x): to an integer ("12" -> 12, 3.7 -> 3)
    "float": float,  # float(x)
    "str": str,  # str(x)
    "bool": bool,  # bool(x)
    "list": list,  # list(iterable)
    "tuple": tuple,  # tuple(iterable)
    "dict": dict,  # dict(pairs or key=value...)
    "set": set,  # set(iterable)
    "range": safe_range,  # range(...), at most MAX_RANGE long
    "enumerate": enumerate,  # enumerate(list[, start]) -> (index, item) pairs
    "zip": zip,  # zip(a, b, ...) -> tuples
    "date": _dt.date,  # date(year, month, day)
    "datetime": _dt.datetime,  # datetime(year, month, day[, hour, minute, second])
    "timedelta": _dt.timedelta,  # timedelta(days=..., hours=..., minutes=..., weeks=...)
}
"""The documented pure function set every expression and script can call (see the comment on each entry)."""

_DATE_ATTRS = {
    "year", "month", "day", "weekday", "isoweekday", "isoformat", "isocalendar", "toordinal", "replace", "strftime",
}  # fmt: skip
_TIME_ATTRS = {"hour", "minute", "second", "microsecond", "date", "time", "timestamp"}

ALLOWED_ATTRIBUTES: dict[type, frozenset[str]] = {
    dict: frozenset({"get", "keys", "values", "items", "copy", "update", "pop", "setdefault"}),
    list: frozenset({"append", "count", "index", "copy", "pop", "insert", "remove", "reverse", "sort"}),
    tuple: frozenset({"count", "index"}),
    set: frozenset({"add", "discard", "union", "intersection", "difference", "issubset", "issuperset", "copy"}),
    str: frozenset(
        {
            "lower",
            "upper",
            "strip",
            "lstrip",
            "rstrip",
            "startswith",
            "endswith",
            "split",
            "rsplit",
            "splitlines",
            "replace",
            "join",
            "find",
            "count",
            "title",
            "capitalize",
            "casefold",
            "isdigit",
            "isalpha",
            "isalnum",
            "isspace",
            "isdecimal",
            "isnumeric",
            "removeprefix",
            "removesuffix",
        }
    ),  # fmt: skip
    int: frozenset({"real", "imag", "bit_length"}),
    float: frozenset({"real", "imag", "is_integer"}),
    _dt.date: frozenset(_DATE_ATTRS),
    _dt.datetime: frozenset(_DATE_ATTRS | _TIME_ATTRS),
    _dt.timedelta: frozenset({"days", "seconds", "microseconds", "total_seconds"}),
}
"""Attribute names allowed per exact type; anything else (and anything starting with ``_``) is refused."""

CLASS_ATTRIBUTES: dict[type, frozenset[str]] = {
    _dt.datetime: frozenset({"now", "today", "fromisoformat", "strptime", "combine"}),
    _dt.date: frozenset({"today", "fromisoformat"}),
}
"""Attributes of the ``date`` and ``datetime`` functions themselves, as SpiffArena scripts use them
(``datetime.now()``, ``date.fromisoformat(text)``). ``now``/``today`` read the engine's clock, in Asia/Ho_Chi_Minh."""

ALL_ALLOWED_ATTRIBUTE_NAMES = frozenset().union(*ALLOWED_ATTRIBUTES.values(), *CLASS_ATTRIBUTES.values())
"""Static check: the attribute name must be allowed on at least one type (the type is known only at run time)."""


def check_int_size(value: Any) -> Any:
    if type(value) is int and value.bit_length() > MAX_INT_BITS:
        raise NumberTooHigh(f"number too large (more than {MAX_INT_BITS} bits)")
    return value


def safe_pow(a: Any, b: Any) -> Any:
    """``a ** b`` with a bounded exponent and a bounded integer result (checked before computing it)."""
    if isinstance(b, int | float) and abs(b) > MAX_EXPONENT:
        raise NumberTooHigh(f"exponent {b} is larger than {MAX_EXPONENT}")
    if type(a) is int and type(b) is int and b > 0 and a.bit_length() * b > MAX_INT_BITS:
        raise NumberTooHigh(f"{a} ** {b} would be too large")
    return a**b


def safe_mult(a: Any, b: Any) -> Any:
    """``a * b`` that refuses long repetitions of strings/lists and huge integer products."""
    for seq, times in ((a, b), (b, a)):
        if isinstance(seq, str | bytes | list | tuple) and isinstance(times, int):
            if len(seq) * times > MAX_LENGTH:
                raise IterableTooLong(f"result would be longer than {MAX_LENGTH}")
    if type(a) is int and type(b) is int and a.bit_length() + b.bit_length() > MAX_INT_BITS:
        raise NumberTooHigh("product would be too large")
    return a * b


def safe_add(a: Any, b: Any) -> Any:
    """``a + b`` that refuses concatenations longer than MAX_LENGTH."""
    if isinstance(a, str | bytes | list | tuple) and isinstance(b, str | bytes | list | tuple):
        if len(a) + len(b) > MAX_LENGTH:
            raise IterableTooLong(f"result would be longer than {MAX_LENGTH}")
    return a + b


_NUMBER = re.compile(r"\d+")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def check_format_spec(spec: str) -> None:
    """Refuse widths/precisions above MAX_FORMAT_WIDTH (``f'{x:>1000000000}'`` would allocate a gigabyte)."""
    for number in _NUMBER.findall(spec):
        if int(number) > MAX_FORMAT_WIDTH:
            raise IterableTooLong(f"format width {number} is larger than {MAX_FORMAT_WIDTH}")


def safe_mod(a: Any, b: Any) -> Any:
    """``a % b``; for ``'...' % values`` refuses ``*`` widths and widths above MAX_FORMAT_WIDTH."""
    if isinstance(a, str | bytes):
        text = a if isinstance(a, str) else a.decode("latin-1")
        for match in _PERCENT_SPEC.finditer(text):
            for part in match.groups():
                if part == "*" or (part is not None and int(part) > MAX_FORMAT_WIDTH):
                    raise IterableTooLong(f"format width {part} is not allowed")
    return a % b


def guarded_replace(text: str, old: str, new: str, count: int = -1) -> str:
    """``str.replace`` refusing results longer than MAX_LENGTH (computed before building the string)."""
    occurrences = text.count(old) if count < 0 else min(count, text.count(old))
    if old == "":
        occurrences = len(text) + 1 if count < 0 else min(count, len(text) + 1)
    if len(text) + occurrences * (len(new) - len(old)) > MAX_LENGTH:
        raise IterableTooLong(f"result would be longer than {MAX_LENGTH}")
    return text.replace(old, new, count)


def guarded_join(separator: str, items: Iterable[str]) -> str:
    """``str.join`` refusing results longer than MAX_LENGTH."""
    parts = list(items)
    total = sum(len(p) for p in parts if isinstance(p, str)) + len(separator) * max(len(parts) - 1, 0)
    if total > MAX_LENGTH:
        raise IterableTooLong(f"result would be longer than {MAX_LENGTH}")
    return separator.join(parts)


def guarded_strftime(value: _dt.date, pattern: str) -> str:
    """``date.strftime``/``datetime.strftime`` refusing padding widths above MAX_FORMAT_WIDTH (``%1000000Y``)."""
    if not isinstance(pattern, str):
        raise FeatureNotAvailable("strftime takes a format text, e.g. '%d/%m/%Y'")
    check_format_spec(pattern)
    if len(pattern) > MAX_FORMAT_WIDTH:
        raise IterableTooLong(f"strftime format longer than {MAX_FORMAT_WIDTH}")
    return value.strftime(pattern)


GUARDED_METHODS: dict[tuple[type, str], Callable[..., Any]] = {
    (str, "replace"): guarded_replace,
    (str, "join"): guarded_join,
    (_dt.date, "strftime"): guarded_strftime,
    (_dt.datetime, "strftime"): guarded_strftime,
}
"""Whitelisted methods that could still build huge results; called through a size check instead."""
