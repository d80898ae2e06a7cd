"""Who holds which role in which unit, and who may work on a task: the queries assignment and authorisation use.

On the hot path, so each function sends one or two SQL statements. Rules:

- A delegation (``to_user`` acts for ``from_user``) is active when ``starts_at <= at < ends_at``. While it is,
  the delegate holds every role of the person they act for, and may work on that person's tasks. The person
  on leave keeps their own rights.
- Inactive users hold no roles and act for no one.
- ``unit_id=None`` means "any unit": a role asked for without a unit is satisfied by holding it anywhere.
- Candidate groups are roles, scoped like the task's role: to the task's unit when it has one, any unit otherwise.
- A claimed task belongs to its assignee (and whoever acts for them); role holders may work on it only once it
  is released. Administrators' overrides are the caller's business (``user_capabilities``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, bindparam, select, union
from sqlalchemy.orm import Session, aliased

from engine.persistence.models import Delegation, HumanTask, Membership, User
from engine.persistence.prepared import Prepared, flush_pending

_delegate = aliased(User)


def _active_delegations(at: Any) -> list[ColumnElement[bool]]:
    """Conditions for a delegation in force at ``at`` whose delegate is an active user."""
    return [
        Delegation.starts_at <= at,
        Delegation.ends_at > at,
        _delegate.id == Delegation.to_user_id,
        _delegate.active.is_(True),
    ]


def _users_with_role_statement(in_unit: bool) -> Any:
    holders = (
        select(Membership.user_id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.role_id == bindparam("role_id"), User.active.is_(True))
    )
    acting = (
        select(Delegation.to_user_id)
        .join(Membership, Membership.user_id == Delegation.from_user_id)
        .where(Membership.role_id == bindparam("role_id"), *_active_delegations(bindparam("at")))
    )
    if in_unit:
        holders = holders.where(Membership.unit_id == bindparam("unit_id"))
        acting = acting.where(Membership.unit_id == bindparam("unit_id"))
    return union(holders, acting)


# Built once (every completion asks who holds the next step's role): in a unit, and in any unit.
_USERS_WITH_ROLE = {
    True: Prepared(_users_with_role_statement(True)),
    False: Prepared(_users_with_role_statement(False)),
}


def users_with_role(session: Session, role_id: str, unit_id: str | None, at: datetime) -> list[str]:
    """Ids (sorted) of active users holding ``role_id`` in ``unit_id`` (any unit if None), plus their delegates."""
    params: dict[str, Any] = {"role_id": role_id, "at": at}
    if unit_id is not None:
        params["unit_id"] = unit_id
    flush_pending(session)  # memberships just added count
    rows = _USERS_WITH_ROLE[unit_id is not None].all(session.connection(), params)
    return sorted(str(row[0]) for row in rows)


def _roles_of_statement() -> Any:
    own = (
        select(Membership.role_id, Membership.unit_id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.user_id == bindparam("user_id"), User.active.is_(True))
    )
    delegated = (
        select(Membership.role_id, Membership.unit_id)
        .join(Delegation, Delegation.from_user_id == Membership.user_id)
        .where(Delegation.to_user_id == bindparam("user_id"), *_active_delegations(bindparam("at")))
    )
    return union(own, delegated)


# Built once: on the completion path, building the statement costs more than running it.
_ROLES_OF = Prepared(_roles_of_statement())


def roles_of(session: Session, user_id: str, at: datetime) -> set[tuple[str, str]]:
    """(role, unit) pairs the user holds at ``at``, their own and those of everyone they act for."""
    return {(row[0], row[1]) for row in _ROLES_OF.all(session.connection(), {"user_id": user_id, "at": at})}


def acting_for(session: Session, user_id: str, at: datetime) -> set[str]:
    """The users ``user_id`` acts for at ``at`` through a delegation (not including themself)."""
    query = select(Delegation.from_user_id).where(Delegation.to_user_id == user_id, *_active_delegations(at))
    return set(session.scalars(query))


def _holds(roles: set[tuple[str, str]], wanted: Iterable[str], unit_id: str | None) -> bool:
    names = set(wanted)
    if unit_id is None:
        return any(role in names for role, _ in roles)
    return any(role in names and unit == unit_id for role, unit in roles)


def can_work_on(
    session: Session,
    user_id: str,
    *,
    role_id: str | None,
    unit_id: str | None,
    candidate_groups: list[str],
    candidate_users: list[str],
    assignee: str | None,
    at: datetime,
) -> bool:
    """May ``user_id`` claim or complete a task with this assignment at ``at``? (See the module rules.)"""
    if assignee is not None:
        return assignee == user_id or assignee in acting_for(session, user_id, at)
    if user_id in candidate_users:
        return True
    wanted = ([role_id] if role_id else []) + list(candidate_groups)
    if wanted and _holds(roles_of(session, user_id, at), wanted, unit_id):
        return True
    if candidate_users:
        return not acting_for(session, user_id, at).isdisjoint(candidate_users)
    return False


def may_work_on_task(
    session: Session, user_id: str, task: HumanTask, at: datetime, *, ignore_assignee: bool = False
) -> bool:
    """``can_work_on`` with a task row's assignment (its assignee left out with ``ignore_assignee``)."""
    return can_work_on(
        session,
        user_id,
        role_id=task.role_id,
        unit_id=task.unit_id,
        candidate_groups=list(task.candidate_groups or []),
        candidate_users=list(task.candidate_users or []),
        assignee=None if ignore_assignee else task.assignee,
        at=at,
    )


def user_capabilities(session: Session, user_id: str) -> set[str]:
    """Global capabilities ("admin", "designer", "auditor") of an active user; empty for unknown or inactive."""
    found = session.execute(
        select(User.capabilities).where(User.id == user_id, User.active.is_(True))
    ).scalar_one_or_none()
    return {str(c) for c in found or []}
