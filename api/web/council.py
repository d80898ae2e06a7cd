"""The Council meeting's reserved tasks in the browser: convene, attendance, the secret ballot, written votes,
the tally, and the meeting's page with its counts and minutes.

Each page calls the service that owns the step (``council_meeting``, ``ballots``). A ballot's choices go from
the posted form straight to ``ballots.cast_ballot`` and are never flashed, logged or rendered again: after
casting, the page says only that the ballot was cast.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from api.authz import check_instance, readable_task, require_user, visible_task
from api.context import engine_context, read_sessions, sessions
from api.i18n import t
from engine.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from engine.persistence.models import CouncilMeeting, InstanceDocument
from engine.services import ballots, certificates, council_meeting
from engine.services.council_pages import award_names, council_task, meeting_documents
from engine.services.instances import get_instance

bp = Blueprint("council", __name__)
CHOICES = ("agree", "disagree")


def _page(task_id: int, status: int = 200) -> Any:
    p = require_user()
    view, _, _ = visible_task(p, task_id, with_data=False)
    with read_sessions()() as db:
        council = council_task(db, engine_context(), view.task)
    return (
        render_template("council_task.html", user=p, view=view, task=view.task, council=council),
        status,
    )


@bp.get("/council/tasks/<int:task_id>")
def show(task_id: int) -> Any:
    p = require_user()
    view, _, _ = visible_task(p, task_id, with_data=False)
    if view.task.form_key == certificates.FORM_KEY:  # the Chairman's decision has a page of its own
        return redirect(url_for("web.council.decision_page", task_id=task_id))
    return _page(task_id)


def _choices(form: Any) -> dict[str, str]:
    """``choice-<candidate id>`` fields of the posted ballot (checked by the ballot service, not here)."""
    return {key[len("choice-") :]: str(value) for key, value in form.items() if key.startswith("choice-")}


def _act(task_id: int, action: Any, done: str) -> Any:
    p = require_user()
    visible_task(p, task_id, with_data=False)
    try:
        with sessions()() as db, db.begin():
            action(db, p.user_id)
    except ValidationError as err:
        # The service's messages name the offending lines only, never a valid choice.
        flash(t("council_refused", reason=err.message), "error")
        return _page(task_id, 422)
    except (ConflictError, PermissionDeniedError) as err:
        flash(err.message, "error")
        return _page(task_id, 409 if isinstance(err, ConflictError) else 403)
    flash(t(done), "success")
    return redirect(url_for("web.council.show", task_id=task_id))


@bp.post("/council/tasks/<int:task_id>/convene")
def convene(task_id: int) -> Any:
    day = request.form.get("meeting_date", "")
    place = request.form.get("place", "").strip()[:500] or None
    withdrawn = request.form.getlist("withdrawn")
    return _act(
        task_id,
        lambda db, user: council_meeting.convene(
            db, engine_context(), task_id, user, meeting_date=day, place=place, withdrawn=withdrawn
        ),
        "council_convened",
    )


@bp.post("/council/tasks/<int:task_id>/attendance")
def attendance(task_id: int) -> Any:
    present = request.form.getlist("present")
    return _act(
        task_id,
        lambda db, user: council_meeting.record_attendance(db, engine_context(), task_id, user, present),
        "council_attendance_recorded",
    )


@bp.post("/council/tasks/<int:task_id>/ballot")
def ballot(task_id: int) -> Any:
    choices = _choices(request.form)
    return _act(
        task_id,
        lambda db, user: ballots.cast_ballot(db, engine_context(), task_id, user, choices),
        "council_ballot_cast",
    )


@bp.post("/council/tasks/<int:task_id>/written")
def written(task_id: int) -> Any:
    if request.form.get("no_vote"):
        return _act(
            task_id,
            lambda db, user: ballots.record_no_written_vote(db, engine_context(), task_id, user),
            "council_no_written_vote",
        )
    choices = _choices(request.form)
    return _act(
        task_id,
        lambda db, user: ballots.cast_ballot(db, engine_context(), task_id, user, choices, written=True),
        "council_written_entered",
    )


@bp.post("/council/tasks/<int:task_id>/tally")
def tally(task_id: int) -> Any:
    return _act(task_id, lambda db, user: ballots.tally_meeting(db, engine_context(), task_id, user), "council_tallied")


def _meeting(meeting_id: int) -> tuple[Any, CouncilMeeting]:
    p = require_user()
    with read_sessions()() as db:
        meeting = db.get(CouncilMeeting, meeting_id)
        if meeting is None:
            raise NotFoundError(f"council meeting {meeting_id} not found")
        check_instance(db, p, get_instance(db, meeting.instance_id))
        db.expunge(meeting)
    return p, meeting


@bp.get("/council/meetings/<int:meeting_id>")
def meeting(meeting_id: int) -> Any:
    p, row = _meeting(meeting_id)
    with read_sessions()() as db:
        view = council_meeting.meeting_view(db, meeting_id)
        documents = [(d.id, d.filename, d.media_type) for d in meeting_documents(db, row)]
    return render_template("council_meeting.html", user=p, meeting=view, documents=documents, awards=award_names())


@bp.get("/council/meetings/<int:meeting_id>/documents/<int:document_id>")
def document(meeting_id: int, document_id: int) -> Any:
    _, row = _meeting(meeting_id)
    with read_sessions()() as db:
        doc = db.get(InstanceDocument, document_id)
        if doc is None or doc.instance_id != row.instance_id:
            abort(404)
        body, media, name = doc.content, doc.media_type, doc.filename
    answer = Response(body, mimetype=media)
    disposition = "inline" if media.startswith("text/html") else "attachment"
    answer.headers["Content-Disposition"] = f'{disposition}; filename="{name}"'
    return answer


# --- the Chairman's decision: sign, certificates, refusals told (engine/services/certificates.py) ---------------


def _decision(task_id: int, status: int = 200) -> Any:
    p = require_user()
    view, _, _, _ = readable_task(p, task_id, with_data=False)  # Sở Nội vụ and auditors read it too
    with read_sessions()() as db:
        decision = certificates.decision(db, engine_context(), view.task, p.user_id)
    page = render_template("council_decision.html", user=p, view=view, task=view.task, decision=decision)
    return page, status


@bp.get("/council/decisions/<int:task_id>")
def decision_page(task_id: int) -> Any:
    return _decision(task_id)


@bp.post("/council/decisions/<int:task_id>/sign")
def sign_decision(task_id: int) -> Any:
    p = require_user()
    visible_task(p, task_id, with_data=False)
    number = request.form.get("decision_number", "")[:64]
    day = request.form.get("signed_date", "")[:32]
    try:
        with sessions()() as db, db.begin():
            signed = certificates.sign_decision(
                db, engine_context(), task_id, p.user_id, decision_number=number, signed_date=day
            )
    except ValidationError as err:
        flash(t("decision_refused", reason=err.message), "error")
        return _decision(task_id, 422)
    except (ConflictError, PermissionDeniedError) as err:
        flash(err.message, "error")
        return _decision(task_id, 409 if isinstance(err, ConflictError) else 403)
    flash(t("decision_signed", certificates=len(signed.documents), notices=signed.notices), "success")
    return redirect(url_for("web.council.decision_page", task_id=task_id))


@bp.get("/council/instances/<int:instance_id>/certificates/<int:document_id>")
def certificate(instance_id: int, document_id: int) -> Any:
    """A certificate of an instance, for whoever may see the instance."""
    p = require_user()
    with read_sessions()() as db:
        check_instance(db, p, get_instance(db, instance_id))
        doc = db.get(InstanceDocument, document_id)
        if doc is None or doc.instance_id != instance_id or doc.kind != certificates.KIND:
            abort(404)
        body, name = doc.content, doc.filename
    answer = Response(body, mimetype="application/pdf")
    answer.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return answer
