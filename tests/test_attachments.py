"""Attachments: uploads checked by content (type, size), stored outside the workflow state with their sha256 and an
audit event, downloaded under the instance's authorization, and usable in a completion only by the same instance
and uploader or unit."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from engine.errors import ValidationError
from engine.persistence.models import Attachment, AuditEvent, HumanTask
from engine.services import tasks
from engine.services.attachments import DOCX, JPEG, ODT, PDF, PNG, XLSX, detect_type
from tests.api_support import PLAN, World, open_task
from tests.api_support import world as world  # noqa: F401 - fixture

PDF_BYTES = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
EXE_BYTES = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 64 + b"This program cannot be run"


def _zip(names: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in names.items():
            archive.writestr(name, data)
    return out.getvalue()


DOCX_BYTES = _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
XLSX_BYTES = _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<workbook/>"})
ODT_BYTES = _zip({"mimetype": ODT.encode(), "content.xml": b"<office:document-content/>"})


def csrf(client: FlaskClient, task_id: int) -> str:
    """The page's CSRF token (the session keeps it once a page has shown a form)."""
    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "the task page carries a CSRF token"
    return found.group(1)


def upload(client: FlaskClient, task_id: int, name: str, data: bytes, *, token: str | None = None, **form: str):
    headers = {"X-CSRF-Token": token if token is not None else csrf(client, task_id)}
    body = {"file": (io.BytesIO(data), name), **form}
    return client.post(f"/api/v1/tasks/{task_id}/attachments", data=body, headers=headers)


def test_content_types_are_told_by_their_bytes_not_their_names():
    assert detect_type(PDF_BYTES) == PDF
    assert detect_type(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20) == PNG
    assert detect_type(b"\xff\xd8\xff\xe0" + b"\x00" * 20) == JPEG
    assert detect_type(DOCX_BYTES) == DOCX
    assert detect_type(XLSX_BYTES) == XLSX
    assert detect_type(ODT_BYTES) == ODT
    assert detect_type(_zip({"a.txt": b"zip, but no office marker"})) is None
    assert detect_type(EXE_BYTES) is None
    assert detect_type(b"PK\x03\x04 not really a zip") is None


def test_an_officer_uploads_a_pdf_its_hash_is_audited_and_it_downloads_as_a_file(world: World, sessions):
    client = world.client("linh.tm")
    answer = upload(client, world.syt_task, "Kế hoạch 2024.pdf", PDF_BYTES, field="plan_file")
    assert answer.status_code == 201, answer.get_json()
    ref = answer.get_json()["attachment"]
    digest = hashlib.sha256(PDF_BYTES).hexdigest()
    assert ref == {
        "attachment_id": ref["attachment_id"],
        "name": "Kế hoạch 2024.pdf",
        "sha256": digest,
        "size": len(PDF_BYTES),
        "media_type": PDF,
    }
    with sessions() as s:
        row = s.get(Attachment, ref["attachment_id"])
        assert row is not None and row.content == PDF_BYTES and row.field == "plan_file"
        assert (row.instance_id, row.uploaded_by, row.unit_id) == (world.syt_instance, "linh.tm", "SYT")
        (event,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "attachment.uploaded"))
        assert event.actor == "linh.tm" and event.instance_id == world.syt_instance
        assert event.data["sha256"] == digest and event.data["attachment_id"] == ref["attachment_id"]

    got = client.get(f"/api/v1/attachments/{ref['attachment_id']}")
    assert got.status_code == 200 and got.data == PDF_BYTES
    assert got.mimetype == PDF
    assert got.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''K%E1%BA%BF%20ho%E1%BA%A1ch%202024.pdf" in got.headers["Content-Disposition"]
    assert got.headers["X-Content-Type-Options"] == "nosniff"


def test_an_exe_named_pdf_is_refused_with_415_in_vietnamese(world: World, sessions):
    answer = upload(world.client("linh.tm"), world.syt_task, "to_trinh.pdf", EXE_BYTES)
    assert answer.status_code == 415
    error = answer.get_json()["error"]
    assert error["code"] == "unsupported_media_type"
    assert "to_trinh.pdf" in error["message"] and "không được chấp nhận" in error["message"]
    # a real DOCX named .pdf: the content does not match the extension
    assert upload(world.client("linh.tm"), world.syt_task, "bao_cao.pdf", DOCX_BYTES).status_code == 415
    with sessions() as s:
        assert s.scalars(select(Attachment)).all() == []
        assert s.scalars(select(AuditEvent).where(AuditEvent.action == "attachment.uploaded")).all() == []


def test_an_english_page_gets_the_refusal_in_english(world: World):
    client = world.client("linh.tm")
    client.get("/?lang=en")
    answer = upload(client, world.syt_task, "x.pdf", EXE_BYTES)
    assert answer.status_code == 415
    assert "is not accepted" in answer.get_json()["error"]["message"]


def test_a_file_over_the_limit_is_refused_with_413(world: World, monkeypatch):
    monkeypatch.setenv("TDKT_MAX_ATTACHMENT_BYTES", "1000")
    answer = upload(world.client("linh.tm"), world.syt_task, "big.pdf", PDF_BYTES + b"0" * 2000)
    assert answer.status_code == 413
    error = answer.get_json()["error"]
    assert error["code"] == "payload_too_large" and "1000" in error["message"]
    assert upload(world.client("linh.tm"), world.syt_task, "empty.pdf", b"").status_code == 422


def test_who_may_upload_and_download(world: World):
    own = upload(world.client("linh.tm"), world.syt_task, "a.pdf", PDF_BYTES).get_json()["attachment"]
    # an officer of another unit may not upload on the task, nor download the file
    other = world.client("hoa.nt")
    token = csrf(other, world.sgd_task)
    assert upload(other, world.syt_task, "b.pdf", PDF_BYTES, token=token).status_code == 403
    assert other.get(f"/api/v1/attachments/{own['attachment_id']}").status_code in (403, 404)
    assert world.client().get(f"/api/v1/attachments/{own['attachment_id']}").status_code == 401
    # the unit's head sees the instance, so the file
    assert world.client("duc.hm").get(f"/api/v1/attachments/{own['attachment_id']}").status_code == 200
    # the session cookie alone, without the page's CSRF token, is refused (a cross-site form could send it)
    assert upload(world.client("linh.tm"), world.syt_task, "c.pdf", PDF_BYTES, token="forged").status_code == 403
    assert world.client("linh.tm").get("/api/v1/attachments/999999").status_code == 404


def test_completion_may_refer_only_to_its_own_instances_attachments(world: World, sessions):
    theirs = upload(world.client("hoa.nt"), world.sgd_task, "sgd.pdf", PDF_BYTES).get_json()["attachment"]
    client = world.client("linh.tm")
    answer = client.post(f"/api/v1/tasks/{world.syt_task}/complete", json={"data": {**PLAN, "plan_file": theirs}})
    assert answer.status_code == 422
    assert list(answer.get_json()["error"]["details"]["fields"]) == ["plan_file"]
    # a reference that does not describe the stored file (another hash) is refused too
    own = upload(client, world.syt_task, "syt.pdf", PDF_BYTES).get_json()["attachment"]
    forged = {**own, "sha256": "0" * 64}
    answer = client.post(f"/api/v1/tasks/{world.syt_task}/complete", json={"data": {**PLAN, "plan_file": forged}})
    assert answer.status_code == 422
    # the web form's JSON submission is checked the same way, and the task stays open
    posted = json.dumps({**PLAN, "plan_file": theirs})
    token = csrf(client, world.syt_task)
    page = client.post(f"/tasks/{world.syt_task}", data={"csrf_token": token, "__rjsf_json": posted})
    assert page.status_code == 422
    assert open_task(sessions, world.syt_instance).id == world.syt_task

    done = client.post(f"/api/v1/tasks/{world.syt_task}/complete", json={"data": {**PLAN, "plan_file": own}})
    assert done.status_code == 200, done.get_json()
    with sessions() as s:
        row = s.get(HumanTask, world.syt_task)
        assert row is not None and row.status == "completed"
    # the head's review lists the document with its download link
    review = open_task(sessions, world.syt_instance)
    html = world.client("duc.hm").get(f"/tasks/{review.id}").get_data(as_text=True)
    assert "Tài liệu của hồ sơ" in html
    assert f"/api/v1/attachments/{own['attachment_id']}" in html and "syt.pdf" in html


def test_a_configured_folder_keeps_the_bytes_under_their_hash(world: World, sessions, tmp_path: Path, monkeypatch):
    folder = tmp_path / "files"
    monkeypatch.setenv("TDKT_ATTACHMENT_DIR", str(folder))
    client = world.client("linh.tm")
    ref = upload(client, world.syt_task, "bc.docx", DOCX_BYTES).get_json()["attachment"]
    assert ref["media_type"] == DOCX
    assert (folder / ref["sha256"]).read_bytes() == DOCX_BYTES
    with sessions() as s:
        row = s.get(Attachment, ref["attachment_id"])
        assert row is not None and row.content is None
    assert client.get(f"/api/v1/attachments/{ref['attachment_id']}").data == DOCX_BYTES


@pytest.mark.parametrize("bad", ["TDKT_MAX_ATTACHMENT_BYTES"])
def test_a_bad_limit_setting_is_named(bad, monkeypatch):
    from engine.services.attachments import max_bytes

    monkeypatch.setenv(bad, "lots")
    with pytest.raises(ValueError, match=bad):
        max_bytes()


def test_the_engine_itself_refuses_another_instances_attachment(world: World, sessions):
    """Not only the API and the web form: a completion through the service (the CLI's path) is checked too."""
    theirs = upload(world.client("hoa.nt"), world.sgd_task, "sgd.pdf", PDF_BYTES).get_json()["attachment"]
    with sessions() as s, s.begin():
        with pytest.raises(ValidationError, match="plan_file"):
            tasks.complete(s, world.ctx, world.syt_task, "linh.tm", {**PLAN, "plan_file": theirs})
    assert open_task(sessions, world.syt_instance).id == world.syt_task
