"""What a script keeps survives saving and restoring the instance: dates, times, sets (not only what JSON has)."""

from __future__ import annotations

from datetime import date, datetime, time

from engine.core.runtime import find_task
from engine.persistence.models import HumanTask
from engine.services import instances
from engine.services.context import EngineContext
from engine.services.instance_store import load_instance
from tests.engine_helpers import RUNTIME, deploy_files, make_org


def test_dates_times_and_sets_a_script_keeps_are_restored_as_they_were(sessions, clock):
    ctx = EngineContext(clock=clock)
    with sessions() as s, s.begin():
        make_org(s)
        deploy_files(s, clock, RUNTIME / "script_values.bpmn")
        iid = instances.start_instance(s, ctx, key="script_values", business_key="SV-1", unit_id="SYT", data={}).id
    with sessions() as s:
        row = s.query(HumanTask).filter_by(instance_id=iid).one()
        data = find_task(load_instance(s, ctx, iid).workflow, row.task_guid).data
    assert type(data["today"]) is date and data["today"] == data["moment"].date()
    assert type(data["moment"]) is datetime
    assert type(data["at"]) is time and data["at"] == data["moment"].time()
    assert data["seen"] == {"SYT", "SGD"} and type(data["seen"]) is set
    assert data["nested"] == {"dates": [data["today"]], "units": {"SYT", "SGD"}}
