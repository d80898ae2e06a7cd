"""The Council's minutes (biên bản): rendered from a tallied meeting as HTML and PDF, attached to the instance.

The minutes hold the meeting, attendance, the quorum, the number of ballots, and per candidate the agree /
disagree counts and the result — never who voted what (there is nothing that could say it). Documents are rows
of ``instance_document`` so every web worker on every host serves the same bytes.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from fpdf import FPDF, FontFace
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.persistence.models import BallotParticipation, CouncilMeeting, InstanceDocument, User
from engine.services.context import EngineContext

KIND = "council_minutes"
TITLE = "BIÊN BẢN HỌP HỘI ĐỒNG THI ĐUA – KHEN THƯỞNG"
COLUMNS = ("Ứng viên", "Đơn vị", "Đồng ý", "Không đồng ý", "Cơ sở tính", "Tỷ lệ cần đạt", "Kết quả")
# A Unicode TrueType font for Vietnamese; without one the PDF falls back to unaccented text (HTML keeps it all).
FONT_PATHS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/TTF/DejaVuSans.ttf"),
    Path("/Library/Fonts/Arial Unicode.ttf"),
)
_templates = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


@dataclass
class MinutesContent:
    title: str
    header: list[str]
    groups: list[dict[str, Any]]
    footer: list[str]


def _percent(share: str) -> str:
    return f"{float(Fraction(share)) * 100:.4g}%"


def _result(entry: dict[str, Any]) -> str:
    if entry.get("withdrawn"):
        return "Rút khỏi danh sách"
    return "Đạt" if entry["passed"] else "Không đạt"


def minutes_content(session: Session, meeting: CouncilMeeting) -> MinutesContent:
    names = {
        uid: name for uid, name in session.execute(select(User.id, User.full_name).where(User.id.in_(meeting.members)))
    }
    written = set(
        session.scalars(
            select(BallotParticipation.user_id).where(
                BallotParticipation.meeting_id == meeting.id, BallotParticipation.written.is_(True)
            )
        )
    )
    absent = [m for m in meeting.members if m not in meeting.present]
    basis_names = {"membership": "tổng số thành viên", "present": "số thành viên dự họp", "votes_cast": "số phiếu"}
    header = [
        f"Năm thi đua: {meeting.campaign_year or '—'}. Phiên họp thứ {meeting.sitting}, "
        f"ngày {meeting.meeting_date.strftime('%d/%m/%Y')}" + (f", tại {meeting.place}." if meeting.place else "."),
        f"Tổng số thành viên Hội đồng: {len(meeting.members)}. Có mặt: {len(meeting.present)}. "
        f"Vắng mặt: {len(absent)}.",
        "Thành viên có mặt: " + ", ".join(names.get(m, m) for m in meeting.present) + ".",
        "Thành viên vắng mặt: "
        + (", ".join(names.get(m, m) + (" (có phiếu bằng văn bản)" if m in written else "") for m in absent) or "không")
        + ".",
        f"Số thành viên cần có mặt: {meeting.quorum_needed} — "
        + ("đủ điều kiện tiến hành họp." if len(meeting.present) >= (meeting.quorum_needed or 0) else "không đủ."),
        f"Số phiếu thu về: {meeting.ballots_cast or 0} (trong đó {len(written)} phiếu bằng văn bản). "
        f"Áp dụng quy định có hiệu lực từ {meeting.rule_set.get('effective_from')}.",
    ]
    by_id = {c["candidate_id"]: c for c in meeting.candidates}
    thresholds = meeting.rule_set.get("thresholds", {})
    groups: dict[str, dict[str, Any]] = {}
    for entry in meeting.results:
        candidate = by_id.get(entry["candidate_id"], {})
        award = entry["award"]
        group = groups.setdefault(award, {"name": (thresholds.get(award) or {}).get("name") or award, "rows": []})
        group["rows"].append(
            [
                candidate.get("name") or entry["candidate_id"],
                candidate.get("unit_id") or "",
                entry["agree"],
                entry["disagree"],
                f"{entry['basis']} ({basis_names.get(entry['counted_on'], entry['counted_on'])})",
                _percent(entry["share"]),
                _result(entry),
            ]
        )
    passed = sum(1 for e in meeting.results if e["passed"])
    footer = [
        f"Kết quả: {passed}/{len(meeting.results)} ứng viên đạt tỷ lệ phiếu đồng ý theo quy định.",
        "Bỏ phiếu kín: biên bản chỉ ghi số phiếu, không ghi thành viên nào bỏ phiếu thế nào.",
    ]
    return MinutesContent(TITLE, header, list(groups.values()), footer)


def render_html(content: MinutesContent) -> str:
    return _templates.get_template("council_minutes.html").render(
        title=content.title, header=content.header, groups=content.groups, footer=content.footer, columns=COLUMNS
    )


def _ascii(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D").replace("–", "-").replace("—", "-")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def render_pdf(content: MinutesContent) -> bytes:
    pdf = FPDF(orientation="P", unit="mm", format="A4")
    pdf.set_creator("TDKT Flow")
    pdf.set_title(_ascii(content.title))
    font = next((p for p in FONT_PATHS if p.is_file()), None)
    if font is not None:
        pdf.add_font("body", "", str(font))
        family, text = "body", (lambda s: s)
    else:
        family, text = "Helvetica", _ascii
    pdf.add_page()
    pdf.set_font(family, size=14)
    pdf.multi_cell(0, 8, text(content.title), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(family, size=10)
    for line in content.header:
        pdf.multi_cell(0, 5.5, text(line), new_x="LMARGIN", new_y="NEXT")
    widths = (46, 22, 16, 22, 34, 20, 30)
    for group in content.groups:
        pdf.ln(3)
        pdf.set_font(family, size=12)
        pdf.multi_cell(0, 7, text(group["name"]), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(family, size=8)
        # Headings in the regular face: a bold face would need a second font file.
        headings = FontFace(emphasis="")
        with pdf.table(col_widths=widths, text_align="LEFT", line_height=5, headings_style=headings) as table:
            table.row([text(h) for h in COLUMNS])
            for row in group["rows"]:
                table.row([text(str(cell)) for cell in row])
    pdf.ln(3)
    pdf.set_font(family, size=10)
    for line in content.footer:
        pdf.multi_cell(0, 5.5, text(line), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def store_minutes(session: Session, ctx: EngineContext, meeting: CouncilMeeting) -> list[int]:
    """Render the minutes of a tallied meeting and attach them (HTML, PDF) to its instance; their ids."""
    content = minutes_content(session, meeting)
    stem = f"bien-ban-hoi-dong-{meeting.campaign_year or 'x'}-phien-{meeting.sitting}"
    rows = [
        InstanceDocument(
            instance_id=meeting.instance_id,
            kind=KIND,
            filename=f"{stem}.html",
            media_type="text/html; charset=utf-8",
            content=render_html(content).encode("utf-8"),
            created_at=ctx.now(),
        ),
        InstanceDocument(
            instance_id=meeting.instance_id,
            kind=KIND,
            filename=f"{stem}.pdf",
            media_type="application/pdf",
            content=render_pdf(content),
            created_at=ctx.now(),
        ),
    ]
    session.add_all(rows)
    session.flush()
    return [r.id for r in rows]


def documents_of(session: Session, instance_id: int, kind: str | None = None) -> list[InstanceDocument]:
    query = select(InstanceDocument).where(InstanceDocument.instance_id == instance_id).order_by(InstanceDocument.id)
    if kind is not None:
        query = query.where(InstanceDocument.kind == kind)
    return list(session.scalars(query))
