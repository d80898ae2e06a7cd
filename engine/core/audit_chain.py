"""The audit trail's hash chain: canonical JSON and the hash of one event. Pure; standard library only.

Each event's hash covers its own fields and the previous event's hash in the same stream, so changing, removing,
inserting or reordering events breaks the chain. The persistence layer stores exactly the values hashed here
(``json_safe`` output, times truncated to microseconds in UTC) so that a value read back hashes the same.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

GENESIS_HASH = "0" * 64
HASHED_FIELDS = ("stream", "seq", "at", "actor", "action", "instance_id", "task_guid", "element_id", "data")


def utc(moment: datetime) -> datetime:
    """``moment`` in UTC. Naive datetimes are refused: their zone is a guess and the hash would depend on it."""
    if moment.tzinfo is None:
        raise TypeError(f"naive datetime {moment.isoformat()} in audit data; give it a time zone")
    return moment.astimezone(UTC)


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and 'Z': one spelling per instant, whatever the backend returns."""
    return utc(moment).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def json_safe(value: Any, path: str = "data") -> Any:
    """``value`` as plain JSON types (dict with str keys, list, str, int, float, bool, None).

    Datetimes become ISO strings, dates ISO dates, tuples and sets lists, Decimals/UUIDs/Enums their plain form.
    Anything else, and NaN or infinity, is refused with the path of the offending value.
    """
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"{path}: {value} is not valid JSON")
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError(f"{path}: naive datetime {value.isoformat()}; give it a time zone")
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, set | frozenset):
        return sorted((json_safe(v, f"{path}[]") for v in value), key=canonical_json)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise TypeError(f"{path}: {value} is not valid JSON")
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Enum):
        return json_safe(value.value, path)
    raise TypeError(f"{path}: a {type(value).__name__} cannot be stored in the audit log")


# One encoder for every call: json.dumps builds a new one whenever it is given options.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text as is: equal values always give equal strings."""
    return _CANONICAL.encode(value)


def event_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """sha256 (hex) of the previous hash and the event's hashed fields (``at`` as a datetime or ISO string)."""
    content = {name: fields.get(name) for name in HASHED_FIELDS}
    at = content["at"]
    if isinstance(at, datetime):
        content["at"] = format_time(at)
    content["data"] = content["data"] if content["data"] is not None else {}
    payload = prev_hash + "\n" + canonical_json(content)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
