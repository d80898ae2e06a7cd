"""Who is asking, and what they may see and do: the one place both the JSON API and the web pages check.

Rules (roles are held in units; a delegate holds the roles of whoever they act for):

- instances: administrators, auditors (capability or role) and Sở Nội vụ (``home_affairs``) see every instance;
  anyone else sees the instances of the units where they hold a role (started for such a unit, or with tasks
  for it), and of their open tasks only those of their units;
- an instance's audit trail: administrators, auditors, and the head (``unit_head``) of the instance's unit;
- a task: whoever may work on it (its assignee, its candidates by role in its unit, group or name), the head of
  its unit, and administrators; Sở Nội vụ, auditors and administrators open every unit's task read-only
  (``readable_task``: they see it, its context and comments, never its form's buttons), and Sở Nội vụ urges it
  (``may_urge``) and reassigns it once escalated to them (``engine.services.urge``);
- starting an instance: administrators and ``home_affairs``;
- the overdue report and the overview: ``home_affairs`` and administrators for every unit, a ``unit_head`` for
  their own unit(s); nobody else.
- definitions (deployed processes and decisions, their files, drafts): designers (capability), administrators and
  auditors read them; designers and administrators save drafts, lint and deploy.

``ROUTES`` is the one table of who may call each API route: ``(method, rule) -> rule name`` (``RULES``). It is
checked before anything else about the request (``authorize_route``, before the request's body is read or the
resource looked up), so a caller who may not use a route learns nothing about what it names; the view then
narrows by unit (``check_instance``, ``check_task``...) where the rule says ``scoped``. A route missing from
the table is refused, and a test walks the app's url_map so none is forgotten.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import g, request, session
from sqlalchemy.orm import Session

from api.context import engine_context, read_sessions
from api.errors import LoginRequired
from engine.errors import PermissionDeniedError
from engine.persistence.models import HumanTask, Instance, User
from engine.services import tasks
from engine.services.directory import may_work_on_task, roles_of
from engine.services.instance_store import OPEN
from engine.services.views import TaskView, in_units, task_form_data, task_views


@dataclass(frozen=True)
class Principal:
    user_id: str
    full_name: str
    capabilities: frozenset[str]
    roles: frozenset[tuple[str, str]]  # (role, unit) held now, own and delegated

    @property
    def is_admin(self) -> bool:
        return "admin" in self.capabilities

    @property
    def is_auditor(self) -> bool:
        return "auditor" in self.capabilities or self.holds("auditor")

    def holds(self, role: str, unit: str | None = None) -> bool:
        return any(r == role and unit in (None, u) for r, u in self.roles)

    def units(self, role: str | None = None) -> set[str]:
        return {u for r, u in self.roles if role in (None, r)}

    @property
    def sees_every_unit(self) -> bool:
        return self.is_admin or self.is_auditor or self.holds("home_affairs")


def load_principal(db: Session, user_id: str) -> Principal | None:
    user = db.get(User, user_id)
    if user is None or not user.active:
        return None
    roles = frozenset(roles_of(db, user_id, engine_context().now()))
    return Principal(user.id, user.full_name, frozenset(str(c) for c in user.capabilities or []), roles)


def current_user_id() -> str | None:
    """The one place that reads who is logged in: the server-side session named by the session cookie or, on the
    API, the bearer token (``api.security.request_credential``)."""
    from api.security import request_credential

    credential = request_credential()
    return credential.user_id if credential is not None else None


def current_user() -> Principal | None:
    """The logged-in user of this request (read once per request), or None."""
    if "tdkt_principal" not in g:
        user_id = current_user_id()
        found = None
        if user_id is not None:
            with read_sessions()() as db:
                found = load_principal(db, user_id)
            if found is None:  # deactivated or removed since logging in
                session.clear()
        g.tdkt_principal = found
    principal: Principal | None = g.tdkt_principal
    return principal


def require_user() -> Principal:
    principal = current_user()
    if principal is None:
        raise LoginRequired()
    return principal


def _deny(message: str) -> PermissionDeniedError:
    return PermissionDeniedError(message)


def instance_scope(p: Principal) -> set[str] | None:
    """The units whose instances ``p`` may see; None for every unit."""
    return None if p.sees_every_unit else p.units()


def check_instance(db: Session, p: Principal, instance: Instance) -> None:
    """Seeing an instance: everything for some; else instances of the user's units (``views.in_units``)."""
    scope = instance_scope(p)
    if scope is not None and not in_units(db, instance.id, scope):
        raise _deny(f"user {p.user_id} may not see instance {instance.id} (unit {instance.unit_id})")


def visible_tasks(p: Principal, rows: list[HumanTask]) -> list[HumanTask]:
    """Of an instance's tasks, those ``p`` sees in it: all for those who see every unit, else their units'."""
    scope = instance_scope(p)
    return rows if scope is None else [r for r in rows if r.unit_id in scope or r.assignee == p.user_id]


def may_read_audit(p: Principal, instance: Instance) -> bool:
    return p.is_admin or p.is_auditor or (instance.unit_id is not None and p.holds("unit_head", instance.unit_id))


def check_audit(p: Principal, instance: Instance) -> None:
    if not may_read_audit(p, instance):
        raise _deny(f"only auditors, administrators and the unit's head may read the audit of instance {instance.id}")


def may_start_instances(p: Principal) -> bool:
    return p.is_admin or p.holds("home_affairs")


def check_start(p: Principal) -> None:
    if not may_start_instances(p):
        raise _deny("only administrators and Sở Nội vụ may start a process")


def report_scope(p: Principal, unit_id: str | None = None) -> set[str] | None:
    """The units of the overdue report and overview ``p`` may see (None: all), narrowed to ``unit_id`` if given."""
    if p.is_admin or p.holds("home_affairs"):
        return None if unit_id is None else {unit_id}
    heads = p.units("unit_head")
    if not heads:
        raise _deny("the overdue report is for Sở Nội vụ and heads of unit")
    if unit_id is None:
        return heads
    if unit_id not in heads:
        raise _deny(f"user {p.user_id} is not head of unit {unit_id}")
    return {unit_id}


def may_see_reports(p: Principal) -> bool:
    return p.is_admin or p.holds("home_affairs") or bool(p.units("unit_head"))


def may_work_on(db: Session, p: Principal, row: HumanTask) -> bool:
    """May ``p`` claim or complete the task, whoever holds it now? (Its candidates, the assignee, their delegates.)"""
    if p.is_admin:
        return True
    at = engine_context().now()
    return may_work_on_task(db, p.user_id, row, at) or (
        row.assignee is not None and may_work_on_task(db, p.user_id, row, at, ignore_assignee=True)
    )


def check_task(db: Session, p: Principal, row: HumanTask) -> None:
    """Seeing a task: those who may work on it, and the head of its unit (who may reassign it)."""
    if row.unit_id is not None and p.holds("unit_head", row.unit_id):
        return
    if row.completed_by == p.user_id and row.status not in OPEN:
        return
    if not may_work_on(db, p, row):
        raise _deny(f"user {p.user_id} may not see task {row.id}")


def visible_task(
    p: Principal, task_id: int, *, with_data: bool = True
) -> tuple[TaskView, dict[str, Any] | None, dict[str, Any]]:
    """A task ``p`` may see (``check_task``), its form's schema and, ``with_data``, what the form's fields hold
    now (restoring the instance: left out where the caller has the data already, as on a submitted form)."""
    ctx = engine_context()
    with read_sessions()() as db:
        row = tasks.get_task(db, task_id)
        check_task(db, p, row)
        schema = tasks.task_form(db, ctx, row)
        data = task_form_data(db, ctx, row, schema) if with_data else {}
        return task_views(db, ctx, [row])[0], schema, data


# --- reading every unit's task, urging it (Sở Nội vụ's oversight; engine/services/urge.py) ---------------------


def sees_task(db: Session, p: Principal, row: HumanTask) -> bool:
    """``check_task`` without raising."""
    try:
        check_task(db, p, row)
    except PermissionDeniedError:
        return False
    return True


def may_oversee(p: Principal) -> bool:
    """May open any unit's task read-only: whoever sees every unit (administrators, auditors, Sở Nội vụ)."""
    return p.sees_every_unit


def may_urge(p: Principal) -> bool:
    """May urge any unit's open task, and reassign it once escalated: Sở Nội vụ and administrators."""
    return p.is_admin or p.holds("home_affairs")


def readable_task(
    p: Principal, task_id: int, *, with_data: bool = True
) -> tuple[TaskView, dict[str, Any] | None, dict[str, Any], bool]:
    """``visible_task``, or for an overseer who may not work on the task the same read-only: the last item says
    whether it is read-only (the caller then shows no claim, release or completion)."""
    ctx = engine_context()
    with read_sessions()() as db:
        row = tasks.get_task(db, task_id)
        read_only = False
        if not sees_task(db, p, row):
            if not may_oversee(p):
                raise _deny(f"user {p.user_id} may not see task {row.id}")
            read_only = True
        schema = tasks.task_form(db, ctx, row)
        data = task_form_data(db, ctx, row, schema) if with_data else {}
        return task_views(db, ctx, [row])[0], schema, data, read_only


# --- the route table ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """Who may call a route. ``scoped``: the view then narrows to the units the caller may see (403 otherwise)."""

    describe: str
    allows: Callable[[Principal], bool] | None  # None: anyone, logged in or not
    scoped: bool = False


def _anyone_in(p: Principal) -> bool:
    return True


RULES: dict[str, Rule] = {
    "anonymous": Rule("anyone, logged in or not", None),
    "user": Rule("any logged-in user (what is theirs, or open to all users)", _anyone_in),
    "scoped": Rule("any logged-in user, for the instances and tasks of their units", _anyone_in, scoped=True),
    "admin": Rule("administrators", lambda p: p.is_admin),
    "auditor": Rule("administrators and auditors", lambda p: p.is_admin or p.is_auditor),
    "operator": Rule("administrators and Sở Nội vụ (home_affairs)", may_start_instances),
    "directory": Rule(
        "administrators, auditors and Sở Nội vụ", lambda p: p.is_admin or p.is_auditor or p.holds("home_affairs")
    ),
    "audit_reader": Rule(
        "administrators, auditors, and heads of unit for their unit's instances",
        lambda p: p.is_admin or p.is_auditor or bool(p.units("unit_head")),
        scoped=True,
    ),
    # the electronic dossier for national awards (api/v1/national_dossier.py narrows the Chairman to their unit)
    "national_dossier": Rule(
        "Sở Nội vụ, the Chairman's office, administrators and auditors",
        lambda p: p.is_admin or p.is_auditor or p.holds("home_affairs") or p.holds("chairman"),
        scoped=True,
    ),
    "national_dossier_send": Rule(
        "Sở Nội vụ, the Chairman's office and administrators",
        lambda p: p.is_admin or p.holds("home_affairs") or p.holds("chairman"),
        scoped=True,
    ),
    "reports": Rule("administrators, Sở Nội vụ, and heads of unit for their units", may_see_reports, scoped=True),
    # definitions (api/v1/definitions.py): the designer capability
    "designer": Rule("designers and administrators", lambda p: p.is_admin or "designer" in p.capabilities),
    "definition_reader": Rule(
        "designers, administrators and auditors", lambda p: p.is_admin or p.is_auditor or "designer" in p.capabilities
    ),
    # the register of initiatives (api/initiative_access.py narrows by unit)
    "initiative_reader": Rule(
        "administrators, auditors, Sở Nội vụ, and a unit's people for their unit's initiatives",
        lambda p: p.sees_every_unit or bool(p.units()),
        scoped=True,
    ),
    "initiative_writer": Rule(
        "administrators, Sở Nội vụ, and a unit's TĐKT officer for their unit's initiatives",
        lambda p: p.is_admin or p.holds("home_affairs") or bool(p.units("unit_officer")),
        scoped=True,
    ),
}

_I = "/api/v1/instances/<int(max=9223372036854775807):instance_id>"
_T = "/api/v1/tasks/<int(max=9223372036854775807):task_id>"
_D = "/api/v1/definitions/<key>"

ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/session"): "anonymous",
    ("DELETE", "/api/v1/session"): "anonymous",
    ("GET", "/api/v1/me"): "user",
    ("POST", "/api/v1/tokens"): "user",  # one's own tokens; administrators' for others (checked in the view)
    ("GET", "/api/v1/tokens"): "user",
    ("DELETE", "/api/v1/tokens/<int:token_id>"): "user",
    ("GET", "/api/v1/openapi.json"): "anonymous",
    ("GET", "/api/v1/docs"): "anonymous",
    ("GET", "/api/v1/docs/<path:filename>"): "anonymous",
    # instances
    ("GET", "/api/v1/instances"): "scoped",
    ("POST", "/api/v1/instances"): "operator",
    ("GET", _I): "scoped",
    ("GET", _I + "/history"): "audit_reader",
    ("GET", _I + "/audit"): "audit_reader",
    ("POST", _I + "/cancel"): "operator",
    ("POST", _I + "/suspend"): "operator",
    ("POST", _I + "/resume"): "operator",
    ("POST", _I + "/retry"): "operator",
    ("POST", "/api/v1/messages"): "operator",
    ("POST", "/api/v1/signals"): "operator",
    ("GET", _I + "/national-dossier"): "national_dossier",
    ("GET", _I + "/national-dossier/submissions"): "national_dossier",
    ("POST", _I + "/national-dossier/submissions"): "national_dossier_send",
    # tasks
    ("GET", "/api/v1/tasks"): "user",
    ("GET", _T): "scoped",
    ("POST", _T + "/claim"): "scoped",
    ("POST", _T + "/unclaim"): "scoped",
    ("POST", _T + "/complete"): "scoped",
    ("POST", _T + "/return"): "scoped",
    ("POST", _T + "/reassign"): "scoped",  # Sở Nội vụ too, for an escalated task (checked in the view)
    ("POST", _T + "/urge"): "operator",  # Sở Nội vụ urges any unit's open task
    ("GET", _I + "/comments"): "scoped",
    ("POST", _I + "/comments"): "scoped",
    # the Council meeting's steps (the services check who may act: the member alone casts their ballot)
    ("POST", _T + "/convene"): "scoped",
    ("POST", _T + "/attendance"): "scoped",
    ("POST", _T + "/ballot"): "scoped",
    ("POST", _T + "/written-ballot"): "scoped",
    ("POST", _T + "/tally"): "scoped",
    # organisation
    ("GET", "/api/v1/org/units"): "user",
    ("GET", "/api/v1/org/roles"): "user",
    ("GET", "/api/v1/org/users"): "directory",
    ("GET", "/api/v1/org/memberships"): "directory",
    ("GET", "/api/v1/org/delegations"): "directory",
    ("POST", "/api/v1/org"): "admin",
    # calendar
    ("GET", "/api/v1/calendar"): "user",
    ("PUT", "/api/v1/calendar/overrides/<string:day>"): "admin",
    ("DELETE", "/api/v1/calendar/overrides/<string:day>"): "admin",
    # notifications: each user's own
    ("GET", "/api/v1/notifications"): "user",
    ("POST", "/api/v1/notifications/read"): "user",
    # reports and audit
    ("GET", "/api/v1/reports/overdue"): "reports",
    ("GET", "/api/v1/audit/events"): "auditor",
    ("GET", "/api/v1/audit/verify"): "auditor",
    # attachments: upload on a task (the view checks who may complete it), download (who may see the instance)
    ("POST", _T + "/attachments"): "scoped",
    ("GET", "/api/v1/attachments/<int(max=9223372036854775807):attachment_id>"): "scoped",
    ("GET", "/api/v1/audit/export"): "auditor",  # the trails of an instance search
    # definitions: reading for designers, administrators and auditors; changing anything for designers and admins
    ("GET", "/api/v1/definitions"): "definition_reader",
    ("GET", _D + "/versions/<int:version>"): "definition_reader",
    ("GET", _D + "/versions/<int:version>/files/<path:name>"): "definition_reader",
    ("GET", _D + "/draft"): "definition_reader",
    ("PUT", _D + "/draft"): "designer",
    ("DELETE", _D + "/draft"): "designer",
    ("POST", "/api/v1/definitions/lint"): "designer",
    ("POST", "/api/v1/definitions/deploy"): "designer",
    # the register of initiatives
    ("GET", "/api/v1/initiatives"): "initiative_reader",
    ("POST", "/api/v1/initiatives"): "initiative_writer",
    ("GET", "/api/v1/initiatives/<int(max=9223372036854775807):initiative_id>"): "initiative_reader",
    ("PATCH", "/api/v1/initiatives/<int(max=9223372036854775807):initiative_id>"): "initiative_writer",
}


def route_rule(method: str, rule: str) -> Rule | None:
    name = ROUTES.get((method, rule))
    return None if name is None else RULES[name]


def authorize_route() -> None:
    """Before every /api/v1 request: the table's rule for the route, before anything else is looked at."""
    if request.url_rule is None:  # no such route: 404 (or 405) follows
        return
    method = "GET" if request.method == "HEAD" else request.method
    if method == "OPTIONS":
        return
    rule = route_rule(method, request.url_rule.rule)
    if rule is None:
        raise _deny(f"{method} {request.url_rule.rule} has no entry in the authorization table")
    if rule.allows is None:
        return
    principal = require_user()
    if not rule.allows(principal):
        raise _deny(f"{method} {request.path} is for {rule.describe}")
