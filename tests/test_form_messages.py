"""The server's refusals of a form in people's words: Vietnamese (English on an English page), naming the field by
its title, never repeating a long value; the engine's English ``fields`` stay for API clients."""

from __future__ import annotations

import re

import pytest

from api import create_app
from api.web.forms import problem_messages
from engine.core.forms import FormFields, SubmissionLimits, check_person_submission, validate_submission
from engine.errors import ValidationError
from tests.api_support import PLAN, World
from tests.api_support import world as world  # noqa: F401 - fixture
from tests.test_attachments import csrf

SCHEMA = {
    "type": "object",
    "required": ["meeting_date", "decision"],
    "properties": {
        "score": {"type": "integer", "title": "Điểm", "minimum": 0, "maximum": 100},
        "meeting_date": {"type": "string", "format": "date", "title": "Ngày họp"},
        "decision": {"type": "string", "title": "Quyết định", "oneOf": [{"const": "sign", "title": "Ký"}]},
        "note": {"type": "string", "title": "Ghi chú", "maxLength": 50},
        "rows": {
            "type": "array",
            "title": "Danh sách đề nghị",
            "items": {"type": "object", "properties": {"name": {"type": "string", "title": "Họ tên", "minLength": 1}}},
        },
    },
}
ALLOWED = FormFields("test_form", frozenset(SCHEMA["properties"]))


def refusal(data: dict) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        check_person_submission(SCHEMA, data, ALLOWED, SubmissionLimits(), task="t")
    return caught.value


def words(details: dict, lang: str = "vi") -> dict[str, str]:
    app = create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": "test", "TESTING": True})
    with app.test_request_context(f"/?lang={lang}"):
        from api.i18n import remember_language

        remember_language()
        return problem_messages(SCHEMA, details)


def test_each_problem_is_a_rule_with_its_limit_and_the_fields_title():
    err = refusal({"score": 150, "meeting_date": "31/12/2024", "decision": "return", "rows": [{"name": ""}], "x": 1})
    problems = err.details["problems"]
    assert problems["score"] == {"rule": "maximum", "limit": 100, "title": "Điểm"}
    assert problems["meeting_date"] == {"rule": "format", "format": "date", "title": "Ngày họp"}
    assert problems["decision"] == {"rule": "choice", "title": "Quyết định"}
    assert problems["rows/0/name"] == {"rule": "minLength", "limit": 1, "title": "Danh sách đề nghị › #1 › Họ tên"}
    assert problems["x"]["rule"] == "unknown"
    assert err.details["fields"]["score"] == "150 is greater than the maximum of 100"  # the API's English stays


def test_the_page_words_them_in_vietnamese_naming_the_field():
    err = refusal({"score": 150, "meeting_date": "31/12/2024"})
    shown = words(err.details)
    assert shown["score"] == "«Điểm»: tối đa 100"
    assert shown["meeting_date"] == "«Ngày họp»: ngày không hợp lệ, nhập theo dạng dd/mm/yyyy"
    assert shown["decision"] == "«Quyết định»: Trường này bắt buộc."


def test_and_in_english_on_an_english_page():
    shown = words(refusal({"score": -1, "meeting_date": "2024-12-31", "decision": "sign"}).details, "en")
    assert shown == {"score": "«Điểm»: at least 0"}


def test_a_long_value_is_never_repeated():
    long = "Đ" * 100_001
    err = refusal({"meeting_date": long, "decision": long, "note": long})
    shown = words(err.details)
    assert shown["note"] == "«Ghi chú»: Nội dung dài quá 50 ký tự."
    for message in [*shown.values(), *map(str, err.details["fields"].values()), err.message]:
        assert "ĐĐĐĐĐĐĐĐĐĐ" not in message and len(message) < 400, message[:200]


def test_a_services_data_is_refused_with_the_same_problems():
    with pytest.raises(ValidationError) as caught:
        validate_submission(SCHEMA, {"meeting_date": "2024-02-30", "decision": "sign"})
    assert caught.value.details["problems"]["meeting_date"]["rule"] == "format"


def test_the_task_page_shows_the_servers_messages_in_vietnamese(world: World):
    client = world.client("linh.tm")
    token = csrf(client, world.syt_task)
    long_title = "K" * 5000
    import json

    posted = json.dumps({**PLAN, "plan_title": long_title, "targets": ""})
    page = client.post(f"/tasks/{world.syt_task}", data={"csrf_token": token, "__rjsf_json": posted})
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    errors = re.findall(r'<p class="field-error"[^>]*>([^<]*)</p>', html)
    assert "«Tên kế hoạch»: Nội dung dài quá 300 ký tự." in errors
    assert all(long_title[:50] not in e for e in errors)
    # the browser form gets the same messages, by field path, in its JSON data block
    block = re.search(r'<script type="application/json" id="task-form-data">(.*?)</script>', html, re.S)
    assert block is not None
    data = json.loads(block.group(1))
    assert data["errors"]["plan_title"] == "«Tên kế hoạch»: Nội dung dài quá 300 ký tự."
    assert data["data"]["plan_title"] == long_title  # what was typed comes back, so nothing is lost
