"""The inbox: open tasks a user holds, or may claim through a role in a unit or by name, soonest due first.

Two statements a page: the (role, unit) pairs the user holds (own and delegated), then the page, which ranks
task ids by due date from index entries alone and reads only the page's rows.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, select, union
from sqlalchemy.orm import Session

from engine.persistence.models import Delegation, HumanTask, Membership, TaskCandidate, User
from engine.services.context import EngineContext
from engine.services.directory import roles_of
from engine.services.instance_store import OPEN


def _inbox_statement(include_claimable: bool, pair_count: int = 0, role_count: int = 0) -> Any:
    """One statement for a page of the inbox: who the user acts for, the roles they hold in which units, the
    candidate rows those match (only open tasks have any), and the tasks held by them, soonest due first."""
    uid: Any = bindparam("user_id")
    now: Any = bindparam("now")
    acting = (
        select(Delegation.from_user_id.label("user_id"))
        .join(User, User.id == Delegation.to_user_id)
        .where(Delegation.to_user_id == uid, Delegation.starts_at <= now, Delegation.ends_at > now, User.active)
    )
    people = union(select(uid.label("user_id")), acting).cte("people")
    own = (
        select(Membership.role_id, Membership.unit_id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.user_id == uid, User.active)
    )
    delegated = select(Membership.role_id, Membership.unit_id).where(Membership.user_id.in_(acting))
    held = union(own, delegated).cte("held")
    # Rank (id, due date) pairs first, from indexes alone where the work is (ix_human_task_inbox holds status,
    # unit, role, due date and the id), then read the 50 rows of the page: reading every candidate row before
    # sorting cost ~170 random row reads per page at 1M finished instances.
    branches: list[Any] = [
        select(HumanTask.id, HumanTask.due_at).where(
            HumanTask.assignee.in_(select(people.c.user_id)), HumanTask.status.in_(OPEN)
        )
    ]
    if include_claimable:
        # An open task has no assignee (claiming makes it "claimed").
        named = union(
            # extra candidate groups and named candidates: their rows exist only while the task is open
            select(TaskCandidate.task_id).where(TaskCandidate.user_id.in_(select(people.c.user_id))),
            select(TaskCandidate.task_id).join(
                held, (held.c.role_id == TaskCandidate.role_id) & (held.c.unit_id == TaskCandidate.unit_id)
            ),
            select(TaskCandidate.task_id)
            .join(held, held.c.role_id == TaskCandidate.role_id)
            .where(TaskCandidate.unit_id.is_(None)),
        )
        # The lane's role in the task's unit (or, for a task without a unit, anywhere): the task rows themselves,
        # one index range per (unit, role) the user holds, bound as parameters (unit_N, role_N, any_role_N):
        # joined to the roles in SQL, the planners walked every open task instead, for want of knowing how few
        # roles a person holds.
        branches += [
            select(HumanTask.id, HumanTask.due_at).where(
                HumanTask.unit_id == bindparam(f"unit_{i}"),
                HumanTask.role_id == bindparam(f"role_{i}"),
                HumanTask.status == "open",
            )
            for i in range(pair_count)
        ]
        branches += [
            select(HumanTask.id, HumanTask.due_at).where(
                HumanTask.unit_id.is_(None), HumanTask.role_id == bindparam(f"any_role_{i}"), HumanTask.status == "open"
            )
            for i in range(role_count)
        ]
        branches += [
            # ``id IN (...)`` read by id: not a join (with ANALYZE statistics SQLite misjudged its size and built a
            # Bloom filter over every task row), and the status test kept off the indexes (coalesce), or SQLite
            # walks every open task's index entry to test it against the few names instead.
            select(HumanTask.id, HumanTask.due_at).where(
                HumanTask.id.in_(named), func.coalesce(HumanTask.status, "") == "open"
            ),
        ]
    ranked = union(*branches).subquery()  # a task found twice (by lane and by name) counts once
    page = (
        select(ranked.c.id)
        .order_by(ranked.c.due_at.is_(None), ranked.c.due_at, ranked.c.id)
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
        .subquery()
    )
    return (
        select(HumanTask)
        .where(HumanTask.id.in_(select(page.c.id)))
        .order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.id)
    )


# Built once per shape: per number of (role, unit) pairs and of distinct roles a user holds.
_INBOX_FOR: dict[tuple[bool, int, int], Any] = {}


def _inbox_for(include_claimable: bool, pair_count: int, role_count: int) -> Any:
    key = (include_claimable, pair_count, role_count) if include_claimable else (False, 0, 0)
    found = _INBOX_FOR.get(key)
    if found is None:
        found = _INBOX_FOR[key] = _inbox_statement(*key)
    return found


def inbox(
    session: Session,
    ctx: EngineContext,
    user_id: str,
    *,
    include_claimable: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> list[HumanTask]:
    """Open tasks the user holds, or may claim through a role in a unit or by name, soonest due first.

    Two statements: the (role, unit) pairs the user holds (own and delegated), then the page, which ranks task
    ids by due date from index entries alone (the lane role's index ranges, candidate rows for extra groups
    and names, which exist only while a task is open) and reads the page's rows only: a user whose units own a
    small share of the work reads only that share.
    """
    now = ctx.now()
    params: dict[str, Any] = {
        "user_id": user_id,
        "now": now,
        "limit": max(1, min(limit, 500)),
        "offset": max(0, offset),
    }
    pairs = sorted(roles_of(session, user_id, now)) if include_claimable else []
    roles = sorted({role for role, _ in pairs})
    for i, (role, unit) in enumerate(pairs):
        params[f"role_{i}"], params[f"unit_{i}"] = role, unit
    for i, role in enumerate(roles):
        params[f"any_role_{i}"] = role
    return list(session.scalars(_inbox_for(include_claimable, len(pairs), len(roles)), params))
