"""Audit anchors: signed heads kept outside the database catch what the hash chain alone cannot, a stream
rewritten with every hash recomputed, or deleted with its head."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from engine_helpers import driver_statements
from sqlalchemy import select, text

from cli import main
from engine.core.audit_chain import canonical_json, event_hash
from engine.persistence.db import make_engine, make_session_factory
from engine.persistence.models import AuditEvent
from engine.persistence.schema import upgrade
from engine.services import audit_anchor
from engine.services.audit import append_events, instance_stream
from engine.services.audit_anchor import (
    KEY_ENV,
    AnchorError,
    AnchorKeyError,
    load_keys,
    parse_key,
    read_anchor,
    read_key_file,
    render_anchor,
    take_anchor,
    verify_anchors,
)

KEY = "0f" * 32
OTHER_KEY = "a1" * 32


@pytest.fixture(name="db")
def db_fixture(tmp_path, clock):
    """A migrated SQLite file with three streams: system (2 events), instance:1 (5), instance:2 (3)."""
    url = f"sqlite:///{tmp_path / 'anchor.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    append(sessions, clock, "system", 2)
    append(sessions, clock, instance_stream(1), 5)
    append(sessions, clock, instance_stream(2), 3)
    yield url, engine, sessions
    engine.dispose()


@pytest.fixture(autouse=True)
def _no_key_in_the_environment(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)


def append(sessions, clock, stream: str, n: int) -> None:
    clock.advance(timedelta(seconds=1))
    iid = int(stream.split(":")[1]) if stream.startswith("instance:") else None
    events = [{"action": "step", "actor": "an", "instance_id": iid, "data": {"n": i}} for i in range(n)]
    with sessions() as s, s.begin():
        append_events(s, clock, stream, events)


def tdkt(*args: str, key: str | None = KEY):
    env = {KEY_ENV: key} if key is not None else {}
    return CliRunner().invoke(main, list(args), env=env)


def anchor_to(url: str, out: Path | str, **kw):
    result = tdkt("audit", "anchor", "--out", str(out), "--url", url, **kw)
    assert result.exit_code == 0, result.output
    return result


# --- what an attacker with write access to the database does ----------------------------------------------


def rewrite_and_rehash(engine, stream: str, seq: int, data: dict) -> None:
    """Change one event's data, then recompute its hash, every later event's prev_hash and hash, and the head,
    with the same hash function the application uses: the chain is consistent again."""
    events = AuditEvent.__table__
    with engine.begin() as conn:
        query = select(events).where(events.c.stream == stream, events.c.seq >= seq).order_by(events.c.seq)
        rows = [dict(row) for row in conn.execute(query).mappings()]  # typed values, as the application reads them
        prev_hash = rows[0]["prev_hash"]
        for i, row in enumerate(rows):
            row["data"] = data if i == 0 else row["data"]
            row["prev_hash"] = prev_hash
            prev_hash = row["hash"] = event_hash(prev_hash, row)
            conn.execute(
                text("UPDATE audit_event SET data = :d, prev_hash = :p, hash = :h WHERE id = :id"),
                {"d": canonical_json(row["data"]), "p": row["prev_hash"], "h": row["hash"], "id": row["id"]},
            )
        conn.execute(text("UPDATE audit_head SET hash = :h WHERE stream = :s"), {"h": prev_hash, "s": stream})


def truncate(engine, stream: str, keep: int) -> None:
    """Remove the newest events and move the head back onto the last one kept: the chain is consistent again."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE stream = :s AND seq > :k"), {"s": stream, "k": keep})
        last = conn.execute(
            text("SELECT hash FROM audit_event WHERE stream = :s AND seq = :k"), {"s": stream, "k": keep}
        ).scalar_one()
        conn.execute(
            text("UPDATE audit_head SET seq = :k, hash = :h WHERE stream = :s"), {"k": keep, "h": last, "s": stream}
        )


def delete_stream(engine, stream: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE stream = :s"), {"s": stream})
        conn.execute(text("DELETE FROM audit_head WHERE stream = :s"), {"s": stream})


# --- through the command line ------------------------------------------------------------------------------


def test_anchor_then_verify_passes_and_keeps_passing_as_the_log_grows(db, tmp_path, clock):
    url, _engine, sessions = db
    folder = tmp_path / "anchors"
    first = anchor_to(url, f"{folder}/")
    written = Path(first.output.split("\t")[0])
    assert written.parent == folder and written.name.startswith("anchor-") and written.name.endswith("Z.json")
    assert "\t3 streams\tsha256 " in first.output
    document = json.loads(written.read_text())
    assert document["streams"] == 3 and [h["stream"] for h in document["heads"]] == [
        "instance:1",
        "instance:2",
        "system",
    ]
    assert document["heads"][0]["seq"] == 5 and document["signature"]["alg"] == "HMAC-SHA256"
    ok = tdkt("audit", "verify", "--anchors", str(written), "--url", url)
    assert ok.exit_code == 0, ok.output
    assert ok.output.splitlines() == [
        "audit log intact: 10 events in 3 streams",
        "anchors hold: 3 anchored streams in 1 anchors, 3 events from the anchors to the heads",
    ]
    append(sessions, clock, instance_stream(1), 4)
    append(sessions, clock, instance_stream(3), 2)  # a stream the anchor does not know
    later = tdkt("audit", "verify", "--anchors", str(written), "--url", url)
    assert later.exit_code == 0, later.output
    assert "anchors hold: 3 anchored streams in 1 anchors, 7 events" in later.output
    second = Path(anchor_to(url, f"{folder}/").output.split("\t")[0])
    assert second != written and written.exists()  # a folder collects anchors, never replaces one
    both = tdkt("audit", "verify", "--anchors", str(folder), "--url", url)  # a folder: every anchor in it
    assert both.exit_code == 0 and "4 anchored streams in 2 anchors" in both.output, both.output


def test_a_stream_rewritten_with_recomputed_hashes_passes_the_chain_but_not_the_anchor(db, tmp_path):
    url, engine, _sessions = db
    anchor = tmp_path / "a.json"
    anchor_to(url, anchor)
    rewrite_and_rehash(engine, instance_stream(1), 2, {"n": 99, "forged": True})
    plain = tdkt("audit", "verify", "--url", url)
    assert (plain.exit_code, plain.output.strip()) == (0, "audit log intact: 10 events in 3 streams")  # why anchors
    checked = tdkt("audit", "verify", "--anchors", str(anchor), "--url", url)
    assert checked.exit_code == 1
    assert checked.output.splitlines()[1:] == [
        f"stream instance:1: seq 5 has a different hash than the anchor records (rewritten since the anchor) "
        f"(anchor {anchor})",
        "anchors broken: 1 of 3 anchored streams differ from the anchors",
    ]


def test_a_deleted_stream_and_a_truncated_one_are_named(db, tmp_path):
    url, engine, _sessions = db
    anchor = tmp_path / "a.json"
    anchor_to(url, anchor)
    delete_stream(engine, instance_stream(2))
    truncate(engine, "system", 1)
    assert tdkt("audit", "verify", "--url", url).exit_code == 0  # both leave a consistent chain behind
    checked = tdkt("audit", "verify", "--anchors", str(anchor), "--url", url)
    assert checked.exit_code == 1
    lines = checked.output.splitlines()
    assert (
        f"stream instance:2: the stream is missing: its head and all its events are gone (deleted) (anchor {anchor})"
        in lines
    )
    assert (
        f"stream system: its head is at seq 1, behind the anchored seq 2 (events removed: truncated) (anchor {anchor})"
    ) in lines
    assert lines[-1] == "anchors broken: 2 of 3 anchored streams differ from the anchors"


def test_a_wholly_replaced_log_fails_every_stream(db, tmp_path, clock):
    """Every row and head deleted and a new, internally valid log written in their place."""
    url, engine, sessions = db
    anchor = tmp_path / "a.json"
    anchor_to(url, anchor)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event"))
        conn.execute(text("DELETE FROM audit_head"))
    append(sessions, clock, "system", 3)
    append(sessions, clock, instance_stream(1), 6)
    append(sessions, clock, instance_stream(2), 3)
    assert tdkt("audit", "verify", "--url", url).exit_code == 0
    checked = tdkt("audit", "verify", "--anchors", str(anchor), "--url", url)
    assert checked.exit_code == 1
    assert "anchors broken: 3 of 3 anchored streams" in checked.output
    for stream in ("instance:1", "instance:2", "system"):
        assert f"stream {stream}: seq " in checked.output and "rewritten since the anchor" in checked.output


def test_a_tampered_anchor_or_a_wrong_key_fails_on_the_signature(db, tmp_path):
    url, engine, _sessions = db
    anchor = tmp_path / "a.json"
    anchor_to(url, anchor)
    wrong = tdkt("audit", "verify", "--anchors", str(anchor), "--url", url, key=OTHER_KEY)
    other_id = parse_key(OTHER_KEY, "x").key_id
    assert wrong.exit_code == 1
    assert f"error: anchor {anchor}: bad signature: signed with key id {parse_key(KEY, 'x').key_id}" in wrong.output
    assert f"the key given is {other_id} ({KEY_ENV})" in wrong.output
    # the forger rewrites the database and the anchor to match, without the key
    rewrite_and_rehash(engine, instance_stream(1), 2, {"forged": True})
    with engine.connect() as conn:
        new_head = conn.execute(text("SELECT hash FROM audit_head WHERE stream = 'instance:1'")).scalar_one()
    document = json.loads(anchor.read_text())
    document["heads"][0]["hash"] = new_head
    anchor.write_text(json.dumps(document))
    tampered = tdkt("audit", "verify", "--anchors", str(anchor), "--url", url)
    assert tampered.exit_code == 1
    assert (
        tampered.output.strip() == f"error: anchor {anchor}: bad signature: the anchor was altered after it was signed"
    )
    document.pop("signature")
    anchor.write_text(json.dumps(document))
    unsigned = tdkt("audit", "verify", "--anchors", str(anchor), "--url", url)
    assert unsigned.exit_code == 1 and f"error: anchor {anchor}: the anchor has no signature" in unsigned.output
    other = tmp_path / "notes.json"
    other.write_text("{}")
    assert f"{other}: not an audit anchor" in tdkt("audit", "verify", "--anchors", str(other), "--url", url).output


def test_keys_missing_malformed_or_in_a_file_others_may_read(db, tmp_path):
    url, _engine, _sessions = db
    missing = tdkt("audit", "anchor", "--out", str(tmp_path / "a.json"), "--url", url, key=None)
    assert missing.exit_code == 2
    assert missing.output.startswith(f"error: no audit anchor key: set {KEY_ENV}") and "--key-file" in missing.output
    assert not (tmp_path / "a.json").exists()
    assert tdkt("audit", "verify", "--anchors", str(tmp_path), "--url", url, key=None).exit_code == 2
    short = tdkt("audit", "anchor", "--out", "-", "--url", url, key="abcd")
    assert short.exit_code == 2 and f"{KEY_ENV}: the anchor key has 2 bytes; at least 32" in short.output
    assert "must be hex" in tdkt("audit", "anchor", "--out", "-", "--url", url, key="z" * 64).output
    key_file = tmp_path / "anchor.key"
    key_file.write_text(KEY + "\n")
    key_file.chmod(0o644)
    loose = tdkt("audit", "anchor", "--out", "-", "--key-file", str(key_file), "--url", url, key=None)
    assert loose.exit_code == 2
    assert f"key file {key_file}: mode 0644 lets group or others at the key; refusing it" in loose.output
    key_file.chmod(0o600)
    signed = tdkt("audit", "anchor", "--out", "-", "--key-file", str(key_file), "--url", url, key=None)
    assert signed.exit_code == 0, signed.output
    assert json.loads(signed.stdout)["key_id"] == parse_key(KEY, "x").key_id  # same key as the environment's
    anchor = tmp_path / "a.json"
    anchor.write_text(signed.stdout)
    # the key file wins over the environment; an old key may be given beside the new one
    old = tmp_path / "old.key"
    old.write_text(OTHER_KEY)
    old.chmod(0o400)
    args = ["audit", "verify", "--anchors", str(anchor), "--key-file", str(old), "--key-file", str(key_file)]
    assert tdkt(*args, "--url", url, key=OTHER_KEY).exit_code == 0


def test_out_never_overwrites_what_is_not_an_anchor(db, tmp_path):
    url, _engine, _sessions = db
    precious = tmp_path / "report.json"
    precious.write_text('{"not": "an anchor"}')
    refused = tdkt("audit", "anchor", "--out", str(precious), "--url", url)
    assert refused.exit_code == 1
    assert f"error: --out {precious}: the file exists and is not an audit anchor; not overwriting it" in refused.output
    assert precious.read_text() == '{"not": "an anchor"}'
    anchor = tmp_path / "latest.json"
    anchor_to(url, anchor)
    before = anchor.read_text()
    anchor_to(url, anchor)  # an anchor may be replaced by a newer one (atomically: no temporary file is left)
    assert anchor.read_text() != before and sorted(p.name for p in tmp_path.glob("*.json")) == [
        "latest.json",
        "report.json",
    ]
    assert not list(tmp_path.glob(".anchor-*"))
    missing = tdkt("audit", "anchor", "--out", str(tmp_path / "nowhere" / "a.json"), "--url", url)
    assert missing.exit_code == 1 and "folder" in missing.output and "does not exist" in missing.output
    usage = tdkt("audit", "verify", str(anchor), "--url", url)
    assert usage.exit_code == 2 and "anchor files need --anchors" in usage.output


# --- the service ---------------------------------------------------------------------------------------------


def remove_head(engine, stream: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_head WHERE stream = :s"), {"s": stream})


@pytest.mark.parametrize(
    ("attack", "reason"),
    [
        (lambda e: rewrite_and_rehash(e, "instance:1", 5, {"late": 1}), "seq 5 has a different hash"),
        (lambda e: truncate(e, "instance:1", 3), "its head is at seq 3, behind the anchored seq 5"),
        (lambda e: delete_stream(e, "instance:1"), "the stream is missing"),
        (lambda e: remove_head(e, "instance:1"), "its head record is gone"),
    ],
    ids=["rewritten at the anchor", "truncated", "deleted", "head removed"],
)
def test_verify_anchors_names_the_stream_and_what_is_wrong(attack, reason, db, clock, tmp_path):
    _url, engine, sessions = db
    key = parse_key(KEY, "test")
    with sessions() as s, s.begin():
        document = take_anchor(s, clock, key)
    path = tmp_path / "a.json"
    path.write_text(render_anchor(document))
    anchor = read_anchor(path, [key])
    attack(engine)
    with sessions() as s:
        result = verify_anchors(s, [anchor])
    assert not result.ok and [p.stream for p in result.problems] == ["instance:1"]
    assert reason in result.problems[0].reason


def test_events_deleted_after_the_anchor_point_are_named_by_seq(db, clock, tmp_path):
    url, engine, sessions = db
    key = parse_key(KEY, "test")
    with sessions() as s, s.begin():
        path = tmp_path / "a.json"
        path.write_text(render_anchor(take_anchor(s, clock, key)))
    append(sessions, clock, instance_stream(2), 3)  # seqs 4-6 after the anchored 3
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE stream = 'instance:2' AND seq = 3"))
    with sessions() as s:
        (problem,) = verify_anchors(s, [read_anchor(path, [key])]).problems
    assert str(problem) == f"stream instance:2: the anchored seq 3 is missing (rows deleted) (anchor {path})"


def test_anchoring_a_broken_log_is_refused(db, clock):
    _url, engine, sessions = db
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_head SET hash = :h WHERE stream = 'system'"), {"h": "b" * 64})
    with sessions() as s, s.begin(), pytest.raises(AnchorError, match="stream system: its head .seq 2. does not"):
        take_anchor(s, clock, parse_key(KEY, "test"))


def test_key_loading_rules(tmp_path):
    with pytest.raises(AnchorKeyError, match="TDKT_AUDIT_ANCHOR_KEY.*--key-file"):
        load_keys([], {})
    assert load_keys([], {KEY_ENV: f"  {KEY}\n"})[0].secret == bytes.fromhex(KEY)
    with pytest.raises(AnchorKeyError, match="no such file"):
        read_key_file(tmp_path / "absent.key")
    group = tmp_path / "group.key"
    group.write_text(KEY)
    group.chmod(0o640)
    with pytest.raises(AnchorKeyError, match="mode 0640"):
        read_key_file(group)
    assert repr(parse_key(KEY, "x")) == "AnchorKey(source='x')"  # the secret never reaches a log line


def test_verifying_many_streams_takes_two_queries_a_batch(tmp_path, clock, monkeypatch):
    """Streams are checked in batches: two statements per batch, whatever the number of streams."""
    url = f"sqlite:///{tmp_path / 'many.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        sessions = make_session_factory(engine)
        with sessions() as s, s.begin():
            for i in range(1, 601):
                append_events(s, clock, instance_stream(i), [{"action": "a", "instance_id": i}] * 2)
        key = parse_key(KEY, "test")
        with sessions() as s, s.begin():
            path = tmp_path / "a.json"
            path.write_text(render_anchor(take_anchor(s, clock, key)))
        anchor = read_anchor(path, [key])
        assert len(anchor.heads) == 600
        rewrite_and_rehash(engine, instance_stream(555), 1, {"forged": True})  # in the third batch
        monkeypatch.setattr(audit_anchor, "BATCH_STREAMS", 250)
        with sessions() as s:
            s.execute(select(1))
            with driver_statements(s) as statements:
                result = verify_anchors(s, [anchor])
        assert statements == ["SELECT"] * 6  # 3 batches: heads, events
        assert [p.stream for p in result.problems] == ["instance:555"] and result.events == 600
    finally:
        engine.dispose()
