"""The task page's JSON data block for the browser form: the schema in its own field order, the model's
SpiffArena ui-schema unchanged, the data, the words of the page's language; and the plain form beside it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cli.lint import read_files
from engine.services.definitions import deploy
from engine.services.instances import start_instance
from tests.api_support import World, open_task
from tests.api_support import world as world  # noqa: F401 - fixture
from tests.test_spiffarena_folder import UI, folder


def block(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="task-form-data">(.*?)</script>', html, re.S)
    assert found is not None, "the page carries the form's JSON data block"
    return json.loads(found.group(1))


def test_the_block_keeps_the_schemas_order_and_the_plain_form_stays(world: World):
    html = world.client("linh.tm").get(f"/tasks/{world.syt_task}").get_data(as_text=True)
    payload = block(html)
    assert list(payload["schema"]["properties"]) == ["plan_title", "targets", "activities", "plan_file"]
    assert payload["upload_url"] == f"/api/v1/tasks/{world.syt_task}/attachments"
    assert payload["download_url"] == "/api/v1/attachments/0"
    assert payload["messages"]["field_required"] == "Trường này bắt buộc."
    assert payload["messages"]["rjsf:Add Item"] == "Thêm dòng"
    assert 'id="f-plan_title"' in html and "dist/forms.js" in html  # the server's form, enhanced when JS runs
    assert "<script>" not in html  # no inline script (CSP): the block is data only
    english = world.client("linh.tm")
    english.get("/?lang=en")
    assert block(english.get(f"/tasks/{world.syt_task}").get_data(as_text=True))["messages"]["rjsf:Add Item"] == (
        "Add row"
    )


def test_a_spiffarena_ui_schema_reaches_the_page_unchanged(world: World, sessions, tmp_path: Path):
    files, problems = read_files([str(folder(tmp_path))], short_names=True)
    assert problems == []
    with sessions() as s, s.begin():
        deploy(s, files, world.ctx.clock, actor="designer")
        row = start_instance(s, world.ctx, key="leave_request", business_key="LR-1", unit_id="SYT", data={})
    task = open_task(sessions, row.id)
    payload = block(world.client("admin").get(f"/tasks/{task.id}").get_data(as_text=True))
    assert payload["ui_schema"] == UI
    assert payload["schema"]["required"] == ["days"]
