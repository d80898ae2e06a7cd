"""Context on a task's page: the earlier steps' submissions read-only, the history, the return reason on top of a
reopened step, the submitting unit, and choices shown by their titles."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from api.web.forms import build_fields
from tests.api_support import PLAN, World, open_task
from tests.api_support import world as world  # noqa: F401 - fixture
from tests.test_web import text, web_login

HEAD_NAME = "Hoàng Minh Đức"  # duc.hm, head of Sở Y tế in the demo organisation


def complete(client: FlaskClient, task_id: int, data: dict[str, Any]) -> None:
    assert client.post(f"/api/v1/tasks/{task_id}/claim", json={}).status_code == 200
    answer = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": data})
    assert answer.status_code == 200, answer.get_json()


def test_the_head_sees_the_plan_and_its_history_and_choices_by_title(world: World, sessions):
    complete(world.client("linh.tm"), world.syt_task, PLAN)
    review = open_task(sessions, world.syt_instance)
    client = world.client()
    web_login(client, "duc.hm")
    page = text(client.get(f"/tasks/{review.id}"))
    assert "Nội dung các bước trước" in page
    assert "Kế hoạch thi đua 2024" in page and "100% đăng ký" in page and "Quý II - IV" in page
    assert "Lịch sử xử lý" in page and "Trần Mỹ Linh" in page and "Hoàn thành" in page
    assert '<option value="approve">Đồng ý</option>' in page
    assert '<option value="return">Trả lại để sửa</option>' in page
    assert 'id="returned"' not in page
    assert "Sở Y tế" in page


def test_the_officer_reopens_a_returned_plan_with_the_reason_on_top(world: World, sessions):
    complete(world.client("linh.tm"), world.syt_task, PLAN)
    review = open_task(sessions, world.syt_instance)
    reason = "Bổ sung chỉ tiêu cho từng khoa"
    complete(world.client("duc.hm"), review.id, {"head_decision": "return", "head_comments": reason})
    redo = open_task(sessions, world.syt_instance)
    assert redo.element_id == open_task(sessions, world.syt_instance).element_id
    client = world.client()
    web_login(client, "linh.tm")
    page = text(client.get(f"/tasks/{redo.id}"))
    top = page.index('id="returned"')
    assert top < page.index('class="task-form"')
    banner = page[top : page.index("</div>", top)]
    assert reason in banner and HEAD_NAME in banner
    assert "Trả lại để sửa" in page  # the head's decision shown by its title in the earlier steps


def test_choices_of_one_of_const_and_title_render_their_titles():
    schema = {
        "type": "object",
        "properties": {
            "decision": {
                "type": "string",
                "title": "Kết quả thẩm định",
                "oneOf": [
                    {"const": "eligible", "title": "Đủ điều kiện"},
                    {"const": "supplement", "title": "Yêu cầu bổ sung"},
                    {"const": "reject", "title": "Không đủ điều kiện"},
                ],
            },
            "sign": {"type": "string", "enum": ["sign", "return"], "enumNames": ["Ký quyết định", "Trả lại"]},
        },
    }
    fields = {f.name: f for f in build_fields(schema, {})}
    assert fields["decision"].kind == "select"
    assert fields["decision"].options == [
        ("eligible", "Đủ điều kiện"),
        ("supplement", "Yêu cầu bổ sung"),
        ("reject", "Không đủ điều kiện"),
    ]
    assert fields["sign"].options == [("sign", "Ký quyết định"), ("return", "Trả lại")]
