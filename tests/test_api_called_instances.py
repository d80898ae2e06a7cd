"""Each unit's work in a campaign is an instance of its own: its unit's people see it and its trail, the campaign
lists it, and it links back to the campaign."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from api import create_app
from api.passwords import hash_password
from cli.demo import install
from engine.persistence.models import Instance, User
from engine.services.context import EngineContext
from engine.simulation.campaign import open_campaign
from tests.api_support import PASSWORD, TEST_KDF, login


@dataclass
class Campaign:
    app: object
    root: int
    plans: dict[str, int]  # unit -> its unit_plan instance

    def client(self, user: str):
        client = self.app.test_client()  # type: ignore[attr-defined]
        login(client, user)
        return client


@pytest.fixture(name="campaign")
def campaign_fixture(db_engine, sessions, clock):
    campaign, rule_sets, _ = install(sessions, clock, actor="test")
    ctx = EngineContext(clock=clock)
    cheap = hash_password(PASSWORD, kdf=TEST_KDF)
    with sessions() as s, s.begin():
        ctx.reload_calendar(s)
        for user in s.scalars(select(User)):
            user.password_hash = cheap
        root, _ = open_campaign(s, ctx, campaign, rule_sets)
        root_id = root.id
    with sessions() as s:
        plans = {
            r.unit_id: r.id
            for r in s.scalars(
                select(Instance).where(Instance.definition_key == "unit_plan", Instance.root_id == root_id)
            )
        }
    config = {"ENGINE": db_engine, "DATABASE_URL": "given", "SECRET_KEY": "test", "ENGINE_CONTEXT": ctx}
    app = create_app({**config, "TESTING": True, "PASSWORD_KDF": TEST_KDF})
    return Campaign(app, root_id, plans)


def test_the_campaign_lists_each_units_plan_as_an_instance_of_its_own(campaign):
    answer = campaign.client("kiem.tra").get(f"/api/v1/instances/{campaign.root}").get_json()
    plans = [c for c in answer["children"] if c["definition"]["key"] == "unit_plan"]
    assert sorted(c["unit"] for c in plans) == ["CTNAB", "HPT", "SGDDT", "STC", "SYT", "TPAB", "TXTM"]
    assert {c["parent"] for c in answer["children"]} == {campaign.root}
    assert {c["call"]["element"] for c in plans} == {"launch_plans"}
    plan = campaign.client("kiem.tra").get(f"/api/v1/instances/{campaign.plans['SYT']}").get_json()
    assert (plan["parent"], plan["root"], plan["unit"]) == (campaign.root, campaign.root, "SYT")
    assert plan["business_key"] == "CT05-2024/launch_plans/SYT"
    assert [t["element_id"] for t in plan["open_tasks"]] == ["plan_draft"]


def test_a_head_reads_the_trail_of_their_own_units_plan_and_not_of_another(campaign):
    head = campaign.client("duc.hm")  # head of Sở Y tế
    own = head.get(f"/api/v1/instances/{campaign.plans['SYT']}/audit")
    assert own.status_code == 200
    assert own.get_json()["events"][0]["action"] == "instance.started"
    assert head.get(f"/api/v1/instances/{campaign.plans['SGDDT']}/audit").status_code == 403
    listed = {i["id"] for i in head.get("/api/v1/instances?limit=500").get_json()["instances"]}
    assert campaign.plans["SYT"] in listed and campaign.plans["SGDDT"] not in listed


def test_the_web_page_links_the_campaign_and_its_units_instances(campaign):
    auditor = campaign.client("kiem.tra")
    page = auditor.get(f"/instances/{campaign.root}").get_data(as_text=True)
    assert "Hồ sơ con" in page and f'href="/instances/{campaign.plans["SYT"]}"' in page
    child = auditor.get(f"/instances/{campaign.plans['SYT']}").get_data(as_text=True)
    assert "Thuộc quy trình" in child and f'href="/instances/{campaign.root}"' in child
