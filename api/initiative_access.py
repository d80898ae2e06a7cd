"""Who may read and enter the register of initiatives (both the JSON API and the web pages check here).

- entering or editing an initiative: administrators, Sở Nội vụ's TĐKT officers (``home_affairs``), and a unit's own
  TĐKT officer (``unit_officer``) for their unit's initiatives of unit reach — those its own initiative council
  recognised. An initiative of provincial or national reach is recognised by the provincial initiative council
  or at the central level (Law 06/2022 Art. 21, 22): only Sở Nội vụ and administrators enter or change one, so a
  unit cannot give its own candidate the reach a higher title needs;
- reading: those, auditors, and the people of a unit (any role held there) for their unit's initiatives.
"""

from __future__ import annotations

from api.authz import Principal
from engine.errors import PermissionDeniedError
from engine.persistence.models import Initiative


def enters_every_unit(p: Principal) -> bool:
    return p.is_admin or p.holds("home_affairs")


def may_enter_any(p: Principal) -> bool:
    return enters_every_unit(p) or bool(p.units("unit_officer"))


def may_enter(p: Principal, unit_id: str, reach: str = "unit") -> bool:
    return enters_every_unit(p) or (reach == "unit" and p.holds("unit_officer", unit_id))


def entry_units(p: Principal) -> set[str] | None:
    """The units ``p`` may enter initiatives for (None: every unit)."""
    return None if enters_every_unit(p) else p.units("unit_officer")


def read_scope(p: Principal) -> frozenset[str] | None:
    """The units whose initiatives ``p`` may read (None: every unit)."""
    return None if p.sees_every_unit else frozenset(p.units())


def may_read_any(p: Principal) -> bool:
    return p.sees_every_unit or bool(p.units())


def check_read(p: Principal, row: Initiative) -> None:
    scope = read_scope(p)
    if scope is not None and row.unit_id not in scope:
        raise PermissionDeniedError(f"user {p.user_id} may not read initiative {row.id} (unit {row.unit_id})")


def check_enter(p: Principal, unit_id: str, reach: str = "unit") -> None:
    if may_enter(p, unit_id, reach):
        return
    if reach != "unit" and p.holds("unit_officer", unit_id):
        raise PermissionDeniedError(
            f"user {p.user_id} may not enter or change an initiative of {reach} reach: the provincial initiative "
            "council (or the central level) recognises those, and Sở Nội vụ enters them"
        )
    raise PermissionDeniedError(
        f"user {p.user_id} may not enter initiatives for unit {unit_id}: Sở Nội vụ, administrators and the "
        "unit's own TĐKT officer may"
    )
