"""Audit anchors: every stream's head, signed with a key kept outside the database, to check the database against.

The hash chain (``engine.services.audit``) catches a change made without recomputing hashes. Someone who can
write the database can also recompute a whole stream and its head; only something kept elsewhere catches that.
An anchor is that something: the (stream, seq, hash, event time) of every head at one moment, signed with
HMAC-SHA256 by a key the database never sees. Verifying an anchor checks, per anchored stream, that the event
at the anchored seq still has the anchored hash and that the chain from there to today's head holds, i.e. that
the database only *extended* what was anchored.

The key is 32 bytes or more, written as hex (``openssl rand -hex 32``), in ``TDKT_AUDIT_ANCHOR_KEY`` or in a
file only its owner may read. Anchors carry a key id (a hash of the key, never the key) so a verifier holding
several keys (old ones after a rotation) picks the right one and a wrong key is named as such.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import itertools
import json
import os
import re
import stat
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session

from engine.clock import Clock
from engine.core.audit_chain import canonical_json, event_hash, format_time
from engine.errors import EngineError
from engine.persistence.models import AuditEvent, AuditHead

ANCHOR_FORMAT = "tdkt-audit-anchor/1"
SIGNATURE_ALG = "HMAC-SHA256"
KEY_ENV = "TDKT_AUDIT_ANCHOR_KEY"
MIN_KEY_BYTES = 32
# Streams per batched query: two bound values each, and an OR chain well inside SQLite's expression depth.
BATCH_STREAMS = 250
NO_KEY_MESSAGE = (
    f"no audit anchor key: set {KEY_ENV} to the key in hex (at least {MIN_KEY_BYTES} bytes, e.g. from "
    "`openssl rand -hex 32`) or pass --key-file PATH (a file holding that hex, mode 600)"
)

_events = AuditEvent.metadata.tables["audit_event"]
_heads = AuditHead.metadata.tables["audit_head"]
_HEX64 = re.compile(r"[0-9a-f]{64}")


class AnchorError(EngineError):
    """An anchor could not be taken, written or read (names the file or stream)."""

    code = "audit_anchor"


class AnchorKeyError(AnchorError):
    """No key, or a key that cannot be used (not hex, too short, a file others may read)."""

    code = "audit_anchor_key"


# --- the key ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchorKey:
    secret: bytes = field(repr=False)
    source: str  # where it came from, for messages: "TDKT_AUDIT_ANCHOR_KEY" or "key file PATH"

    @property
    def key_id(self) -> str:
        """A public name for the key (16 hex digits of a hash of it): tells keys apart, reveals nothing."""
        return hashlib.sha256(b"tdkt-audit-anchor-key\n" + self.secret).hexdigest()[:16]


def parse_key(text: str, source: str) -> AnchorKey:
    """The key written as hex (whitespace around it ignored), at least ``MIN_KEY_BYTES`` bytes."""
    value = text.strip()
    try:
        secret = bytes.fromhex(value)
    except ValueError:
        raise AnchorKeyError(f"{source}: the anchor key must be hex digits (e.g. from `openssl rand -hex 32`)")
    if len(secret) < MIN_KEY_BYTES:
        raise AnchorKeyError(
            f"{source}: the anchor key has {len(secret)} bytes; at least {MIN_KEY_BYTES} are needed "
            f"({2 * MIN_KEY_BYTES} hex digits)"
        )
    return AnchorKey(secret, source)


def read_key_file(path: Path) -> AnchorKey:
    """A key file: refused unless only its owner may read or write it (mode 600 or 400)."""
    source = f"key file {path}"
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            raise AnchorKeyError(f"{source}: not a regular file")
        if mode & 0o077:
            raise AnchorKeyError(
                f"{source}: mode {stat.S_IMODE(mode):04o} lets group or others at the key; "
                f"refusing it (run `chmod 600 {path}`)"
            )
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise AnchorKeyError(f"{source}: no such file")
    except UnicodeDecodeError:
        raise AnchorKeyError(f"{source}: the anchor key must be hex digits")
    except OSError as err:
        raise AnchorKeyError(f"{source}: cannot be read ({err.strerror})")
    return parse_key(text, source)


def load_keys(key_files: Sequence[Path], environ: Mapping[str, str]) -> list[AnchorKey]:
    """The key files given, else the key in ``TDKT_AUDIT_ANCHOR_KEY``; none at all is an error naming both."""
    if key_files:
        return [read_key_file(path) for path in key_files]
    text = environ.get(KEY_ENV, "")
    if not text.strip():
        raise AnchorKeyError(NO_KEY_MESSAGE)
    return [parse_key(text, KEY_ENV)]


def _signature(key: AnchorKey, body: Mapping[str, Any]) -> str:
    return hmac.new(key.secret, canonical_json(body).encode("utf-8"), hashlib.sha256).hexdigest()


# --- taking and writing an anchor --------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchoredHead:
    stream: str
    seq: int
    hash: str
    at: str | None  # the head event's time (ISO, UTC)

    def as_json(self) -> dict[str, Any]:
        return {"stream": self.stream, "seq": self.seq, "hash": self.hash, "at": self.at}


def take_anchor(session: Session, clock: Clock, key: AnchorKey) -> dict[str, Any]:
    """The signed anchor document of every stream's head, read in one statement (one consistent snapshot).

    Refused when a head does not match its event: that database is broken already (``tdkt audit verify``
    names how) and signing it would vouch for it.
    """
    query = (
        select(_heads.c.stream, _heads.c.seq, _heads.c.hash, _events.c.at, _events.c.hash.label("event_hash"))
        .select_from(
            _heads.outerjoin(_events, and_(_events.c.stream == _heads.c.stream, _events.c.seq == _heads.c.seq))
        )
        .order_by(_heads.c.stream)
    )
    heads = []
    for row in session.execute(query):
        if row.event_hash != row.hash:
            problem = "has no event" if row.event_hash is None else "does not match its event's hash"
            raise AnchorError(
                f"stream {row.stream}: its head (seq {row.seq}) {problem}; run `tdkt audit verify` and repair "
                "the log before anchoring it"
            )
        heads.append(AnchoredHead(row.stream, row.seq, row.hash, format_time(row.at)).as_json())
    body: dict[str, Any] = {
        "format": ANCHOR_FORMAT,
        "taken_at": format_time(clock.now()),
        "key_id": key.key_id,
        "streams": len(heads),
        "heads": heads,
    }
    return {**body, "signature": {"alg": SIGNATURE_ALG, "value": _signature(key, body)}}


def render_anchor(document: Mapping[str, Any]) -> str:
    """JSON with one head a line (easy to read, grep and diff); any JSON spelling of it verifies the same."""
    fields = [f"  {json.dumps(k)}: {canonical_json(v)}" for k, v in document.items() if k not in ("heads", "signature")]
    heads = ",\n".join(f"    {canonical_json(h)}" for h in document["heads"])
    fields.append('  "heads": [\n' + heads + "\n  ]" if heads else '  "heads": []')
    fields.append(f'  "signature": {canonical_json(document["signature"])}')
    return "{\n" + ",\n".join(fields) + "\n}\n"


def file_digest(text: str) -> str:
    """What to write in a paper register beside the anchor's name: ``sha256sum FILE`` gives the same."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_anchor_file(path: Path) -> bool:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(document, dict) and document.get("format") == ANCHOR_FORMAT


def write_anchor(text: str, out: str, taken_at: str) -> Path:
    """Write atomically (a temporary file in the same folder, fsync, rename). ``out`` ending in "/" or naming a
    folder: a new ``anchor-<UTC time>.json`` there, never replacing one. A file: replaced only if it is an anchor.
    """
    target = Path(out)
    if out.endswith(("/", os.sep)) or target.is_dir():
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise AnchorError(f"--out {out}: cannot create the folder ({err.strerror})")
        stamp = taken_at.split(".")[0].replace("-", "").replace(":", "") + "Z"  # 20261201T172500Z
        tmp = _write_temporary(target, text, out)
        try:
            for n in itertools.count(1):
                name = target / (f"anchor-{stamp}.json" if n == 1 else f"anchor-{stamp}-{n}.json")
                try:
                    os.link(tmp, name)  # fails if the name exists: an anchor is never replaced
                except FileExistsError:
                    continue
                except OSError:  # a file system without hard links: check, then rename
                    if name.exists():
                        continue
                    os.replace(tmp, name)
                _sync_folder(target)
                return name
        finally:
            tmp.unlink(missing_ok=True)
    if target.exists() and not is_anchor_file(target):
        raise AnchorError(f"--out {out}: the file exists and is not an audit anchor; not overwriting it")
    if not target.parent.is_dir():
        raise AnchorError(f"--out {out}: folder {target.parent} does not exist")
    tmp = _write_temporary(target.parent, text, out)
    os.replace(tmp, target)
    _sync_folder(target.parent)
    return target


def _write_temporary(folder: Path, text: str, out: str) -> Path:
    try:
        fd, name = tempfile.mkstemp(prefix=".anchor-", suffix=".tmp", dir=folder)
    except OSError as err:
        raise AnchorError(f"--out {out}: cannot write in {folder} ({err.strerror})")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(name, 0o644)  # not secret: hashes and a signature, meant to be copied off the host
    return Path(name)


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- reading an anchor -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    path: Path
    taken_at: str
    heads: tuple[AnchoredHead, ...]


def anchor_files(paths: Iterable[Path]) -> list[Path]:
    """The files given, a folder standing for the ``*.json`` files in it (oldest name first)."""
    found: list[Path] = []
    for path in paths:
        found.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    return found


def read_anchor(path: Path, keys: Sequence[AnchorKey]) -> Anchor:
    """The anchor in ``path`` once its signature checks out with one of ``keys``; else an error naming the file."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AnchorError(f"{path}: no such file")
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise AnchorError(f"{path}: not an audit anchor ({err})")
    if not isinstance(document, dict) or document.get("format") != ANCHOR_FORMAT:
        raise AnchorError(f'{path}: not an audit anchor (no "format": "{ANCHOR_FORMAT}")')
    body = {k: v for k, v in document.items() if k != "signature"}
    signature = document.get("signature")
    if not isinstance(signature, dict) or not isinstance(signature.get("value"), str):
        raise AnchorError(f"{path}: the anchor has no signature")
    if signature.get("alg") != SIGNATURE_ALG:
        raise AnchorError(f"{path}: signature algorithm {signature.get('alg')!r} is not {SIGNATURE_ALG}")
    key_id = body.get("key_id")
    usable = [k for k in keys if k.key_id == key_id] or list(keys)
    if not any(hmac.compare_digest(_signature(k, body), signature["value"]) for k in usable):
        if key_id not in {k.key_id for k in keys}:
            given = ", ".join(f"{k.key_id} ({k.source})" for k in keys)
            raise AnchorError(f"{path}: bad signature: signed with key id {key_id}, the key given is {given}")
        raise AnchorError(f"{path}: bad signature: the anchor was altered after it was signed")
    return _parse_body(path, body)


def _parse_body(path: Path, body: Mapping[str, Any]) -> Anchor:
    heads = body.get("heads")
    if not isinstance(heads, list) or body.get("streams") != len(heads):
        raise AnchorError(f'{path}: "streams" does not count the "heads" list')
    parsed = []
    for i, head in enumerate(heads):
        ok = isinstance(head, dict) and isinstance(head.get("stream"), str) and isinstance(head.get("hash"), str)
        seq = head.get("seq") if ok else None
        if not ok or not isinstance(seq, int) or seq < 1 or not _HEX64.fullmatch(head["hash"]):
            raise AnchorError(f"{path}: heads[{i}] is not a stream, a seq from 1 and a sha256 hash")
        parsed.append(AnchoredHead(head["stream"], seq, head["hash"], head.get("at")))
    return Anchor(path, str(body.get("taken_at")), tuple(parsed))


# --- verifying the database against anchors ----------------------------------------------------------------


@dataclass(frozen=True)
class StreamProblem:
    stream: str
    reason: str
    anchor: Path | None = None  # the anchor whose point failed, when one did

    def __str__(self) -> str:
        where = f" (anchor {self.anchor})" if self.anchor is not None else ""
        return f"stream {self.stream}: {self.reason}{where}"


@dataclass(frozen=True)
class AnchorCheck:
    anchors: int
    streams: int  # anchored streams checked
    events: int  # events read: from each stream's first anchored seq to its head
    problems: tuple[StreamProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        if self.ok:
            return (
                f"anchors hold: {self.streams} anchored streams in {self.anchors} anchors, "
                f"{self.events} events from the anchors to the heads"
            )
        return f"anchors broken: {len(self.problems)} of {self.streams} anchored streams differ from the anchors"


@dataclass
class _Points:
    """One stream's anchored (seq -> hash, anchor) points, from every anchor given."""

    by_seq: dict[int, tuple[str, Path]] = field(default_factory=dict)
    conflict: StreamProblem | None = None


def verify_anchors(session: Session, anchors: Sequence[Anchor]) -> AnchorCheck:
    """Check that the database extends every anchor: per anchored stream, one read from its first anchored seq to
    its head, batched ``BATCH_STREAMS`` streams a query (heads first, then events up to those heads, so events
    appended meanwhile are left for the next check instead of looking like a broken head)."""
    points: dict[str, _Points] = {}
    for anchor in anchors:
        for head in anchor.heads:
            stream = points.setdefault(head.stream, _Points())
            earlier = stream.by_seq.setdefault(head.seq, (head.hash, anchor.path))
            if earlier[0] != head.hash and stream.conflict is None:
                reason = f"anchors {earlier[1]} and {anchor.path} disagree on seq {head.seq}'s hash"
                stream.conflict = StreamProblem(head.stream, reason, anchor.path)
    problems: list[StreamProblem] = []
    events = 0
    names = sorted(points)
    for start in range(0, len(names), BATCH_STREAMS):
        batch = {name: points[name] for name in names[start : start + BATCH_STREAMS]}
        found, checked = _check_batch(session, batch)
        problems += found
        events += checked
    return AnchorCheck(len(anchors), len(names), events, tuple(problems))


_NO_HEAD_SEQ = 2**31 - 1  # a stream whose head is gone: read to its end


@functools.lru_cache(maxsize=4)
def _events_in_ranges(n: int) -> Select[Any]:
    """Events of ``n`` streams, each from its first anchored seq to its head (binds s0, lo0, hi0...), in stream
    order. Built once per batch size: composing a few hundred conditions costs more than running them."""
    ranges = [
        and_(_events.c.stream == bindparam(f"s{i}"), _events.c.seq.between(bindparam(f"lo{i}"), bindparam(f"hi{i}")))
        for i in range(n)
    ]
    return select(_events).where(or_(*ranges)).order_by(_events.c.stream, _events.c.seq)


def _check_batch(session: Session, batch: Mapping[str, _Points]) -> tuple[list[StreamProblem], int]:
    heads = {
        row.stream: row
        for row in session.execute(
            select(_heads.c.stream, _heads.c.seq, _heads.c.hash).where(_heads.c.stream.in_(list(batch)))
        )
    }
    params: dict[str, Any] = {}
    for i, (name, stream_points) in enumerate(batch.items()):
        head_seq = heads[name].seq if name in heads else _NO_HEAD_SEQ
        params.update({f"s{i}": name, f"lo{i}": min(stream_points.by_seq), f"hi{i}": head_seq})
    rows = session.execute(_events_in_ranges(len(batch)), params)
    chains = {name: list(group) for name, group in itertools.groupby(rows, key=lambda row: row.stream)}
    problems = []
    gone = []
    for name, stream_points in batch.items():
        if stream_points.conflict is not None:
            problems.append(stream_points.conflict)
        elif name not in heads and name not in chains:
            gone.append(name)
        elif (problem := _check_stream(name, stream_points, heads.get(name), chains.get(name, []))) is not None:
            problems.append(problem)
    if gone:  # tell a stream deleted outright from one whose head and newest events were removed
        counted = select(_events.c.stream, func.count()).where(_events.c.stream.in_(gone)).group_by(_events.c.stream)
        left = {name for name, _ in session.execute(counted)}
        for name in gone:
            first_seq = min(batch[name].by_seq)
            if name in left:
                reason = f"its head and every event from the anchored seq {first_seq} on are gone (rows deleted)"
            else:
                reason = "the stream is missing: its head and all its events are gone (deleted)"
            problems.append(StreamProblem(name, reason, batch[name].by_seq[first_seq][1]))
    return problems, sum(len(chain) for chain in chains.values())


def _check_stream(name: str, points: _Points, head: Any, chain: list[Any]) -> StreamProblem | None:
    """The first way the stream fails to extend its anchored points, or None."""
    top_seq = max(points.by_seq)
    first_seq = min(points.by_seq)
    if head is None:
        return StreamProblem(name, "its head record is gone (removed)")
    if head.seq < top_seq:
        reason = f"its head is at seq {head.seq}, behind the anchored seq {top_seq} (events removed: truncated)"
        return StreamProblem(name, reason, points.by_seq[top_seq][1])
    expected = first_seq
    prev_hash = None
    for row in chain:
        anchored = points.by_seq.get(expected)
        if row.seq != expected:
            what = "the anchored " if anchored else ""
            reason = f"{what}seq {expected} is missing (rows deleted)"
            return StreamProblem(name, reason, anchored[1] if anchored else None)
        if anchored and row.hash != anchored[0]:
            reason = f"seq {row.seq} has a different hash than the anchor records (rewritten since the anchor)"
            return StreamProblem(name, reason, anchored[1])
        if prev_hash is not None and row.prev_hash != prev_hash:
            return StreamProblem(name, f"seq {row.seq}: its prev_hash does not match seq {row.seq - 1}'s hash")
        if event_hash(row.prev_hash, row._asdict()) != row.hash:
            return StreamProblem(name, f"seq {row.seq}: its content does not match its hash (the event was altered)")
        prev_hash = row.hash
        expected += 1
    if expected <= head.seq:
        anchored = points.by_seq.get(expected)
        what = "the anchored " if anchored else ""
        return StreamProblem(name, f"{what}seq {expected} is missing (rows deleted)", anchored[1] if anchored else None)
    if chain[-1].hash != head.hash:
        return StreamProblem(name, f"its head's hash differs from seq {head.seq}'s hash")
    return None
