"""The Chairman's decision on a nomination round (``nom_decision`` in ``bpmn/nomination.bpmn``).

The Chairman sees the Council's tally and who passed, and signs: the step completes with the decision's number
and date, every awarded candidate gets a certificate (PDF, Vietnamese text in a Unicode TrueType font) attached
to the instance as a document, and the unit that nominated each refused candidate is told why (the Council's
votes below the award's threshold, withdrawn, or not eligible at appraisal). All in the caller's transaction.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Any

from fpdf import FPDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.core.runtime import find_task
from engine.errors import EngineError, ValidationError
from engine.persistence.models import CouncilMeeting, HumanTask, Instance, InstanceDocument, OrgUnit, User
from engine.services.context import EngineContext
from engine.services.council_meeting import task_and_data
from engine.services.council_pages import award_names
from engine.services.directory import may_work_on_task, users_with_role
from engine.services.instance_store import OPEN, load_instance
from engine.services.minutes import FONT_PATHS, documents_of
from engine.services.notifications import notify, telling_next_steps
from engine.services.tasks import complete_reserved

FORM_KEY = "nom_decision"
KIND = "award_certificate"
NOTICE_KIND = "award_refused"
GRANTED_KIND = "award_granted"  # the awarded candidate's unit: its certificate is on the unit's own nomination
NOTIFIED_ROLES = ("unit_officer", "unit_head")  # who in the nominating unit hears of a refusal
DECISION_NUMBER = re.compile(r"^[0-9]+/QĐ-UBND$")  # as forms/nom_decision.json
REJECT_REASONS = {  # forms/dossier_appraise.json reject_reason
    "wrong_subject": "không đúng đối tượng",
    "standard_not_met": "chưa đạt tiêu chuẩn",
    "incomplete": "hồ sơ không đầy đủ",
    "legal_violation": "vi phạm pháp luật",
}
BASIS_NAMES = {"membership": "tổng số thành viên", "present": "số thành viên dự họp", "votes_cast": "số phiếu"}


@dataclass
class Outcome:
    """One candidate of the round as the Chairman's page and the notices show them."""

    candidate_id: str
    name: str
    award: str
    award_name: str
    unit_id: str
    unit_name: str
    agree: int | None = None
    disagree: int | None = None
    basis: int | None = None
    needed: str | None = None  # the share of agree votes needed, as a percentage
    reason: str | None = None  # why refused (Vietnamese), None for the awarded
    document_id: int | None = None  # the certificate, once signed


@dataclass
class Decision:
    """What the Chairman's page needs."""

    task_id: int
    instance_id: int
    open: bool
    may_sign: bool
    campaign_year: Any
    awarded: list[Outcome] = field(default_factory=list)
    refused: list[Outcome] = field(default_factory=list)
    national: list[Outcome] = field(default_factory=list)  # proposed to the State level, not decided here
    decision_number: str | None = None
    signed_date: str | None = None
    meeting_id: int | None = None  # the Council's latest sitting on this round (its page has the minutes)


@dataclass(frozen=True)
class Signed:
    documents: list[int]
    notices: int


# --- reading the round -------------------------------------------------------------------------------------


def _percent(share: Any) -> str:
    try:
        return f"{float(Fraction(str(share))) * 100:.4g}%"
    except (ValueError, ZeroDivisionError):
        return str(share)


def _reject_reason(code: Any) -> str:
    text = str(code or "")
    if text.startswith("over_quota:"):
        return "vượt tỷ lệ cho phép (" + text.split(":", 1)[1].strip() + ")"
    return REJECT_REASONS.get(text, text or "không nêu lý do")


def _unit_names(session: Session, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    return {uid: name for uid, name in session.execute(select(OrgUnit.id, OrgUnit.name).where(OrgUnit.id.in_(ids)))}


def _outcomes(session: Session, data: dict[str, Any]) -> tuple[list[Outcome], list[Outcome], list[Outcome]]:
    """(awarded, refused, national) from the task's data: the nomination's lists and the Council's results."""
    awards = award_names()
    results = {(r.get("candidate_id"), r.get("award")): r for r in data.get("council_results") or []}
    lists = {k: [c for c in data.get(k) or [] if isinstance(c, dict)] for k in ("awarded", "not_passed", "rejected")}
    national = [c for c in data.get("national_passed") or [] if isinstance(c, dict)]
    units = _unit_names(session, {str(c.get("unit_id")) for c in (*national, *sum(lists.values(), []))})

    def outcome(c: dict[str, Any]) -> Outcome:
        award, unit = str(c.get("award") or ""), str(c.get("unit_id") or "")
        entry = results.get((c.get("candidate_id"), award)) or {}
        return Outcome(
            str(c.get("candidate_id")),
            str(c.get("name") or c.get("candidate_id")),
            award,
            awards.get(award, award),
            unit,
            units.get(unit, unit),
            entry.get("agree"),
            entry.get("disagree"),
            entry.get("basis"),
            _percent(entry["share"]) if "share" in entry else None,
        )

    refused = []
    for c in lists["not_passed"]:
        o = outcome(c)
        entry = results.get((o.candidate_id, o.award)) or {}
        if entry.get("withdrawn"):
            o.reason = "rút khỏi danh sách trước khi Hội đồng bỏ phiếu"
        else:
            basis = BASIS_NAMES.get(str(entry.get("counted_on")), str(entry.get("counted_on") or ""))
            o.reason = (
                f"số phiếu đồng ý không đạt tỷ lệ quy định: {o.agree}/{o.basis} phiếu đồng ý "
                f"(tính trên {basis}), cần đạt {o.needed}"
            )
        refused.append(o)
    for c in lists["rejected"]:
        o = outcome(c)
        o.reason = f"không đủ điều kiện khi thẩm định hồ sơ: {_reject_reason(c.get('reason'))}"
        refused.append(o)
    return [outcome(c) for c in lists["awarded"]], refused, [outcome(c) for c in national]


def _task_data(session: Session, ctx: EngineContext, row: HumanTask) -> dict[str, Any]:
    """The Spiff task's data; a closed task's too, while its instance keeps it (the page after signing)."""
    try:
        loaded = load_instance(session, ctx, row.instance_id)
    except EngineError:
        return {}
    task = find_task(loaded.workflow, row.task_guid)
    return dict(task.data) if task is not None else {}


def decision(session: Session, ctx: EngineContext, row: HumanTask, user_id: str) -> Decision:
    """The Chairman's page of a ``nom_decision`` task (the caller has checked that ``user_id`` may see it)."""
    if row.form_key != FORM_KEY:
        raise ValidationError(
            f"task {row.id} ({row.element_id}) is not a {FORM_KEY} task",
            {"fields": {"task_id": f"form key is {row.form_key!r}"}},
        )
    data = _task_data(session, ctx, row)
    awarded, refused, national = _outcomes(session, data)
    is_open = row.status in OPEN
    view = Decision(
        task_id=row.id,
        instance_id=row.instance_id,
        open=is_open,
        may_sign=is_open and may_work_on_task(session, user_id, row, ctx.now()),
        campaign_year=data.get("campaign_year"),
        awarded=awarded,
        refused=refused,
        national=national,
        decision_number=data.get("decision_number"),
        signed_date=data.get("signed_date"),
    )
    sittings = (
        select(CouncilMeeting.id)
        .join(Instance, Instance.id == CouncilMeeting.instance_id)
        .where(Instance.parent_id == row.instance_id)
        .order_by(CouncilMeeting.id.desc())
    )
    view.meeting_id = session.scalar(sittings.limit(1))
    by_name = {d.filename: d.id for d in certificate_documents(session, row.instance_id)}
    for o in awarded:
        o.document_id = by_name.get(certificate_filename(o))
    return view


def certificate_documents(session: Session, instance_id: int) -> list[InstanceDocument]:
    return documents_of(session, instance_id, KIND)


def certificate_filename(o: Outcome) -> str:
    return f"bang-khen-{re.sub(r'[^A-Za-z0-9-]+', '-', o.candidate_id)}-{re.sub(r'[^A-Za-z0-9_]+', '-', o.award)}.pdf"


# --- signing -----------------------------------------------------------------------------------------------


def _signed_date(value: date | str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise ValidationError(
            f"signed_date {value!r} is not a date (YYYY-MM-DD)", {"fields": {"signed_date": "not a date"}}
        )


def sign_decision(
    session: Session,
    ctx: EngineContext,
    task_id: int,
    user_id: str,
    *,
    decision_number: str,
    signed_date: date | str,
) -> Signed:
    """The Chairman signs: the certificates are made and attached, the refused candidates' units told, and the
    step completes with the decision's number and date (refused as a whole when anything is wrong)."""
    row, data, loaded = task_and_data(session, ctx, task_id, (FORM_KEY,), user_id)
    number = decision_number.strip()
    if not DECISION_NUMBER.match(number):
        raise ValidationError(
            f"decision_number {number!r} is not of the form 123/QĐ-UBND",
            {"fields": {"decision_number": "expected NUMBER/QĐ-UBND"}},
        )
    day = _signed_date(signed_date)
    awarded, refused, _ = _outcomes(session, data)
    province = str(data.get("province_unit") or row.unit_id or "")
    issuer = _unit_names(session, {province}).get(province, province)
    signer = session.scalar(select(User.full_name).where(User.id == user_id)) or user_id
    documents = []
    for o in awarded:
        pdf = render_certificate(
            o, issuer=issuer, signer=signer, number=number, day=day, year=data.get("campaign_year")
        )
        documents.append(
            InstanceDocument(
                instance_id=row.instance_id,
                kind=KIND,
                filename=certificate_filename(o),
                media_type="application/pdf",
                content=pdf,
                created_at=ctx.now(),
            )
        )
    session.add_all(documents)
    # Each awarded candidate's unit gets its certificate on the nomination it ran (which its people may open),
    # and is told, beside the round's own copy.
    granted: list[tuple[Outcome, InstanceDocument]] = []
    for o, document in zip(awarded, documents, strict=True):
        where = _unit_instance(session, row.instance_id, o.unit_id)
        if where != row.instance_id:
            copy = InstanceDocument(
                instance_id=where,
                kind=KIND,
                filename=document.filename,
                media_type=document.media_type,
                content=document.content,
                created_at=document.created_at,
            )
            session.add(copy)
            granted.append((o, copy))
    session.flush()
    for o, copy in granted:
        recipients = {u for role in NOTIFIED_ROLES for u in users_with_role(session, role, o.unit_id, ctx.now())}
        title = f"Được khen thưởng: {o.name} ({o.award_name})"
        body = (
            f'{o.name} ({o.unit_name}) được tặng "{o.award_name}" theo Quyết định số {number} ngày '
            f"{day.strftime('%d/%m/%Y')}; bằng chứng nhận (PDF) có trong hồ sơ #{copy.instance_id} của đơn vị."
        )
        notify(session, ctx, sorted(recipients), GRANTED_KIND, title, body, instance_id=copy.instance_id)
    notices = 0
    for o in refused:
        recipients = {u for role in NOTIFIED_ROLES for u in users_with_role(session, role, o.unit_id, ctx.now())}
        title = f"Không được khen thưởng: {o.name} ({o.award_name})"
        body = (
            f'Đề nghị "{o.award_name}" cho {o.name} ({o.unit_name}), đợt xét năm {data.get("campaign_year")} '
            f"(hồ sơ #{row.instance_id}), không được khen thưởng theo Quyết định số {number} "
            f"ngày {day.strftime('%d/%m/%Y')}.\nLý do: {o.reason}."
        )
        where = _unit_instance(session, row.instance_id, o.unit_id)
        notices += len(notify(session, ctx, sorted(recipients), NOTICE_KIND, title, body, instance_id=where))
    event = {
        "action": "award.decision_signed",
        "task_guid": row.task_guid,
        "element_id": row.element_id,
        "data": {
            "decision_number": number,
            "signed_date": day.isoformat(),
            "certificates": {o.candidate_id: d.id for o, d in zip(awarded, documents, strict=True)},
            "refused": {o.candidate_id: o.reason for o in refused},
        },
    }
    result = {"decision_number": number, "signed_date": day.isoformat()}
    with telling_next_steps(session, ctx, user_id, result):  # Sở Nội vụ: print and tell units
        complete_reserved(session, ctx, task_id, user_id, result, events=[event], loaded=loaded)
    return Signed([d.id for d in documents], notices)


def _unit_instance(session: Session, instance_id: int, unit_id: str) -> int:
    """The instance the unit's nomination ran in (called by this one for that unit, which the unit may open),
    else this one."""
    query = select(Instance.id).where(Instance.parent_id == instance_id, Instance.unit_id == unit_id)
    return session.scalar(query.order_by(Instance.id).limit(1)) or instance_id


# --- the certificate ---------------------------------------------------------------------------------------


def _ascii(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D").replace("–", "-").replace("—", "-")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _heading(award_name: str) -> tuple[str, str]:
    """("TẶNG", "BẰNG KHEN") for a thing given, ("CÔNG NHẬN DANH HIỆU", the title) for a title."""
    for prefix in ("Bằng khen", "Cờ thi đua", "Giấy khen"):
        if award_name.startswith(prefix):
            return "TẶNG", prefix.upper()
    return "CÔNG NHẬN DANH HIỆU", award_name.upper()


def render_certificate(o: Outcome, *, issuer: str, signer: str, number: str, day: date, year: Any) -> bytes:
    """One A4 landscape certificate: who gives it, to whom, for what, by which decision, signed by whom."""
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_creator("TDKT Flow")
    pdf.set_title(_ascii(f"{o.award_name} - {o.name}"))
    pdf.set_creation_date(
        datetime(day.year, day.month, day.day, tzinfo=UTC)
    )  # the decision's day, never the wall clock: the same decision gives the same file
    regular = next((p for p in FONT_PATHS if p.is_file()), None)
    if regular is not None:
        bold = regular.with_name(regular.stem + "-Bold" + regular.suffix)
        pdf.add_font("body", "", str(regular))
        pdf.add_font("body", "B", str(bold if bold.is_file() else regular))
        family, text = "body", (lambda s: s)
    else:
        family, text = "Helvetica", _ascii
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_draw_color(160, 20, 20)
    pdf.set_line_width(1.2)
    pdf.rect(10, 10, 277, 190)
    pdf.set_line_width(0.4)
    pdf.rect(13, 13, 271, 184)

    def line(words: str, size: float, style: str = "", height: float = 8, x: float = 20, w: float = 257) -> None:
        pdf.set_font(family, style, size)
        pdf.set_x(x)
        pdf.multi_cell(w, height, text(words), align="C", new_x="LMARGIN", new_y="NEXT")

    pdf.set_y(20)
    top = pdf.get_y()
    line(issuer.upper(), 11, "B", 6, x=20, w=120)
    pdf.set_y(top)
    line("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", 11, "B", 6, x=150, w=127)
    line("Độc lập – Tự do – Hạnh phúc", 11, "", 6, x=150, w=127)
    pdf.set_y(48)
    verb, heading = _heading(o.award_name)
    line(f"CHỦ TỊCH {issuer.upper()}", 16, "B", 9)
    line(verb, 14, "", 9)
    pdf.set_text_color(170, 20, 20)
    line(heading, 30, "B", 16)
    pdf.set_text_color(0, 0, 0)
    pdf.ln(2)
    line(o.name, 22, "B", 12)
    line(o.unit_name, 14, "", 8)
    line(f"Đã có thành tích xuất sắc trong phong trào thi đua năm {year}.", 13, "", 8)
    pdf.set_y(150)
    line(f"Quyết định số {number}, ngày {day.day:02d} tháng {day.month:02d} năm {day.year}", 11, "", 6, x=20, w=120)
    line(f"Số: {o.candidate_id}", 11, "", 6, x=20, w=120)
    pdf.set_y(150)
    line("CHỦ TỊCH", 12, "B", 6, x=150, w=127)
    pdf.ln(16)
    line(signer, 13, "B", 7, x=150, w=127)
    return bytes(pdf.output())
