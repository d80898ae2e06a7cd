"""Sở Nội vụ starts a campaign or a sudden nomination from a form: only the form's declared fields are read, each
is checked with a message naming it, and what routes work (units, blocks, the province's bodies, rules) comes
from the organisation, the previous campaign and the rules in force."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from api import create_app
from api.passwords import hash_password
from engine.errors import ValidationError
from engine.persistence.models import HumanTask, Instance, User
from engine.services import start_forms
from engine.services.context import EngineContext
from engine.services.dashboard import start_data
from engine.services.definitions import deploy
from engine.services.org import load_org_file
from tests.api_support import TEST_KDF, login
from tests.conftest import ROOT
from tests.test_lifecycle_helpers import model_files
from tests.test_web import text, token

GOOD = {
    "campaign_year": "2024",
    "business_key": "CT09-2024",
    "directive": "Chỉ thị số 09/CT-UBND về phát động phong trào thi đua năm 2024",
    "directive_date": "2024-03-19",
}


@pytest.fixture
def app(db_engine, sessions, clock):
    ctx = EngineContext(clock=clock)
    cheap = hash_password("demo", kdf=TEST_KDF)
    with sessions() as s, s.begin():
        load_org_file(s, ROOT / "demo" / "org.yaml", clock)
        for user in s.scalars(select(User)):
            user.password_hash = cheap
        deploy(s, model_files(), clock, actor="designer")
    config = {"ENGINE": db_engine, "DATABASE_URL": "given", "SECRET_KEY": "test", "ENGINE_CONTEXT": ctx}
    return create_app({**config, "TESTING": True, "PASSWORD_KDF": TEST_KDF})


def client(app, user: str):
    made = app.test_client()
    login(made, user)
    return made


def post(made, url: str, data: dict[str, str]):
    return made.post(url, data={"csrf_token": token(made.get(url).data), **data})


def test_the_campaign_form_shows_what_the_system_sets_and_the_rules_deadlines(app):
    page = client(app, "an.tdkt").get("/start/campaign")
    body = text(page)
    assert page.status_code == 200
    for field in start_forms.CAMPAIGN_FIELDS:
        assert f'name="{field}"' in body
    assert 'name="units"' not in body and 'name="assigned_unit"' not in body
    assert "Mốc thời gian và thời hạn theo quy định 2024.1" in body and "plan_draft" in body
    assert "Xây dựng kế hoạch thực hiện" in body  # the deadlines by the steps' names
    assert "Sơ kết" in body and "Sở Giáo dục và Đào tạo" in body


def test_bad_fields_are_named_in_vietnamese_and_nothing_starts(app, sessions):
    answer = post(
        client(app, "an.tdkt"),
        "/start/campaign",
        {"campaign_year": "hai nghìn", "business_key": "Chỉ thị 9", "directive": "", "directive_date": "2023-12-01"},
    )
    body = text(answer)
    assert answer.status_code == 422
    assert "Phải là số nguyên." in body and "Chỉ dùng chữ không dấu" in body and "Trường này bắt buộc." in body
    assert 'aria-invalid="true"' in body and 'id="e-business_key"' in body
    wrong_year = post(client(app, "an.tdkt"), "/start/campaign", {**GOOD, "directive_date": "2023-12-01"})
    assert "Ngày ban hành phải thuộc năm phát động." in text(wrong_year)
    before_rules = post(
        client(app, "an.tdkt"), "/start/campaign", {**GOOD, "campaign_year": "2023", "directive_date": "2023-06-01"}
    )
    assert "Chưa có quy định nào có hiệu lực vào ngày này." in text(before_rules)
    with sessions() as s:
        assert s.scalars(select(Instance)).all() == []


def test_the_form_cannot_route_work(app, sessions, clock):
    ctx = EngineContext(clock=clock)
    with sessions() as s, s.begin(), pytest.raises(ValidationError) as refused:
        start_forms.start_campaign(s, ctx, {**GOOD, "units": ["SYT"], "assigned_unit": "SYT"}, "an.tdkt")
    assert refused.value.details["fields"] == {"units": "unknown_field", "assigned_unit": "unknown_field"}
    # the web form reads only its declared fields: extra ones are dropped before the service sees them
    answer = post(client(app, "an.tdkt"), "/start/campaign", {**GOOD, "units": "SYT", "home_affairs_unit": "SYT"})
    assert answer.status_code == 302
    with sessions() as s:
        (root,) = s.scalars(select(Instance).where(Instance.definition_key == "campaign_launch"))
        started = start_data(s, root.id)
        assert started["home_affairs_unit"] == "SNV" and len(started["units"]) > 1


def test_a_campaign_starts_from_the_form_with_the_organisations_units(app, sessions):
    staff = client(app, "an.tdkt")
    answer = post(staff, "/start/campaign", GOOD)
    assert answer.status_code == 302 and "/dashboard/" in answer.headers["Location"]
    with sessions() as s:
        (root,) = s.scalars(select(Instance).where(Instance.definition_key == "campaign_launch"))
        assert (root.business_key, root.started_by, root.unit_id) == ("CT09-2024", "an.tdkt", "TINH")
        started = start_data(s, root.id)
        plans = s.scalars(select(HumanTask).where(HumanTask.element_id == "plan_draft")).all()
    assert started["campaign_year"] == 2024 and started["rules_version"] == "2024.1"
    bodies = (started["province_unit"], started["home_affairs_unit"], started["council_unit"])
    assert bodies == ("TINH", "SNV", "HDTDKT")
    assert "SNV" not in started["units"] and "TINH" not in started["units"] and "SYT" in started["units"]
    assert sorted(t.unit_id for t in plans) == sorted(started["units"])
    dashboard = text(staff.get(answer.headers["Location"]))
    assert "CT09-2024" in dashboard and dashboard.count('<tr data-unit="') == len(started["units"])
    again = post(staff, "/start/campaign", GOOD)
    assert again.status_code == 422 and "Đã có phong trào với số hiệu này." in text(again)
    # the next campaign takes its units and blocks from this one
    with sessions() as s:
        assert start_forms.setting(s).based_on == "CT09-2024"
        assert start_forms.setting(s).units == started["units"]


def test_a_sudden_nomination_starts_for_a_participating_unit(app, sessions):
    staff = client(app, "an.tdkt")
    page = text(staff.get("/start/sudden"))
    assert 'name="unit_id"' in page and "UBND xã Phú Thịnh" in page
    assert post(staff, "/start/sudden", {"campaign_year": "2024", "unit_id": "SNV"}).status_code == 422
    unknown = post(staff, "/start/sudden", {"campaign_year": "2024", "unit_id": "XYZ"})
    assert "Không phải đơn vị tham gia phong trào." in text(unknown)
    answer = post(staff, "/start/sudden", {"campaign_year": "2024", "unit_id": "HPT"})
    assert answer.status_code == 302
    with sessions() as s:
        (root,) = s.scalars(select(Instance).where(Instance.definition_key == "nomination"))
        started = start_data(s, root.id)
        (propose,) = s.scalars(select(HumanTask).where(HumanTask.element_id == "nom_sudden_propose"))
    assert started["sudden"] is True and started["nomination_units"] == ["HPT"]
    assert root.business_key == "DX-2024-HPT-1"
    assert (propose.role_id, propose.unit_id) == ("unit_officer", "HPT")
    board = text(staff.get(answer.headers["Location"]))
    assert "đột xuất" in board and 'data-status="unit_review"' in board


def test_only_sở_nội_vụ_and_administrators_start(app):
    for user in ("linh.tm", "duc.hm", "kiem.tra"):
        made = client(app, user)
        assert made.get("/start/campaign").status_code == 403
        assert made.get("/start/sudden").status_code == 403
    assert client(app, "admin").get("/start/sudden").status_code == 200
