"""Camunda's invoice example, unedited, start to end through the engine and the database.

Its candidateGroups become roles in the instance's unit, its DMN (a decision requirements graph with a COLLECT
table) picks the approver group, its JUEL conditions route the gateways, the review call activity assigns by
expression, and the archive service task runs through a connector the test registers.

Its user tasks name embedded HTML forms that Camunda's web application serves (``embedded:app:forms/...``), not
files of the deployment. The fields a completion may write are those forms' editable ``cam-variable-name``
inputs, given here as JSON Schemas with the same names (``tests/fixtures/camunda-invoice/``), deployed beside the
unedited model.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.errors import ValidationError
from engine.persistence.models import AuditEvent, HumanTask, Instance, Membership, OrgUnit, Role, User
from engine.services import instances, tasks
from engine.services.audit import verify
from engine.services.calls import descendants
from engine.services.context import EngineContext
from tests.conftest import CORPUS, FIXTURES
from tests.engine_helpers import deploy_files

INVOICE = CORPUS / "camunda-invoice"
ARCHIVE = "org.camunda.bpm.example.invoice.service.ArchiveInvoiceService"
FORMS = sorted((FIXTURES / "camunda-invoice").glob("*.json"))
MODEL = (INVOICE / "invoice.v2.bpmn", INVOICE / "reviewInvoice.bpmn", INVOICE / "invoiceBusinessDecisions.dmn")


@pytest.fixture
def ctx(clock):
    context = EngineContext(clock=clock)
    context.archived = []

    def archive(data, params):
        context.archived.append(data["invoiceNumber"])
        return {"archived": True}

    context.connectors.register(ARCHIVE, archive)
    return context


def acme(s) -> None:
    s.add(OrgUnit(id="ACME", name="ACME Ltd", kind="enterprise"))
    s.add_all([Role(id=r, name=r) for r in ("accounting", "management", "sales")])
    for user, role in (
        ("acc1", "accounting"),
        ("mgr1", "management"),
        ("sales1", "sales"),
        ("demo", None),
        ("rev1", None),
    ):
        s.add(User(id=user, full_name=user))
        s.flush()
        if role:
            s.add(Membership(user_id=user, role_id=role, unit_id="ACME"))
    s.flush()


@pytest.fixture
def invoice(sessions, clock):
    with sessions() as s, s.begin():
        acme(s)
        return deploy_files(s, clock, *MODEL, *FORMS, connectors={ARCHIVE})


def open_tasks(sessions, iid):
    """Open tasks of the invoice and of the ReviewInvoice instance its call activity starts."""
    with sessions() as s:
        tree = [iid, *(r.id for r in descendants(s, iid))]
        query = select(HumanTask).where(HumanTask.instance_id.in_(tree), HumanTask.status.in_(("open", "claimed")))
        return list(s.scalars(query))


def one(sessions, iid, element_id):
    rows = open_tasks(sessions, iid)
    assert [r.element_id for r in rows] == [element_id], [r.element_id for r in rows]
    return rows[0]


def start(sessions, ctx, amount, category="Misc", number="INV-1"):
    with sessions() as s, s.begin():
        return instances.start_instance(
            s,
            ctx,
            key="invoice",
            business_key=number,
            unit_id="ACME",
            actor="acc1",
            data={"amount": amount, "invoiceCategory": category, "creditor": "Great Pizza", "invoiceNumber": number},
        ).id


def do(sessions, ctx, task, user, data):
    with sessions() as s, s.begin():
        tasks.complete(s, ctx, task.id, user, data)


def test_small_misc_invoice_is_approved_by_accounting_or_sales_and_archived(sessions, ctx, invoice):
    iid = start(sessions, ctx, 30)
    approve = one(sessions, iid, "approveInvoice")
    assert sorted(approve.candidate_groups) == ["accounting", "sales"]
    with sessions() as s:
        assert [t.id for t in tasks.inbox(s, ctx, "sales1")] == [approve.id]
        assert tasks.inbox(s, ctx, "mgr1") == []
    do(sessions, ctx, approve, "sales1", {"approved": True})
    transfer = one(sessions, iid, "prepareBankTransfer")
    assert transfer.candidate_groups == ["accounting"]
    do(sessions, ctx, transfer, "acc1", {})
    with sessions() as s:
        assert s.get(Instance, iid).status == "completed"
        assert instances.instance_data(s, ctx, iid)["archived"] is True
        assert verify(s).ok
    assert ctx.archived == ["INV-1"]


def test_rejected_invoice_goes_through_review_and_clarification(sessions, ctx, invoice):
    iid = start(sessions, ctx, 900, number="INV-2")
    approve = one(sessions, iid, "approveInvoice")
    assert approve.candidate_groups == ["management"]
    do(sessions, ctx, approve, "mgr1", {"approved": False})

    assign = one(sessions, iid, "assignReviewer")  # inside the ReviewInvoice call activity
    assert assign.assignee == "demo"
    do(sessions, ctx, assign, "demo", {"reviewer": "rev1"})
    review = one(sessions, iid, "reviewInvoice")
    assert review.assignee == "rev1"
    with sessions() as s:
        assert [t.id for t in tasks.inbox(s, ctx, "rev1")] == [review.id]
    do(sessions, ctx, review, "rev1", {"clarified": True})

    again = one(sessions, iid, "approveInvoice")
    do(sessions, ctx, again, "mgr1", {"approved": True})
    do(sessions, ctx, one(sessions, iid, "prepareBankTransfer"), "acc1", {})
    with sessions() as s:
        assert s.get(Instance, iid).status == "completed"
    assert ctx.archived == ["INV-2"]


def test_unclarified_invoice_is_not_processed(sessions, ctx, invoice):
    iid = start(sessions, ctx, 1500, number="INV-3")
    do(sessions, ctx, one(sessions, iid, "approveInvoice"), "mgr1", {"approved": False})
    do(sessions, ctx, one(sessions, iid, "assignReviewer"), "demo", {"reviewer": "rev1"})
    do(sessions, ctx, one(sessions, iid, "reviewInvoice"), "rev1", {"clarified": False})
    with sessions() as s:
        assert s.get(Instance, iid).status == "completed"
    assert open_tasks(sessions, iid) == []
    assert ctx.archived == []


def test_each_task_takes_only_its_forms_fields(sessions, ctx, invoice):
    iid = start(sessions, ctx, 30)
    approve = one(sessions, iid, "approveInvoice")
    assert approve.form_key == "approve-invoice"
    with sessions() as s:
        events = s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.instance_id == iid))
    with pytest.raises(ValidationError) as refused:  # the approver group is the DMN's, not the approver's
        do(sessions, ctx, approve, "sales1", {"approved": True, "approverGroups": ["sales"], "amount": 1})
    assert refused.value.details["fields"] == {
        "approverGroups": "not a field of form approve-invoice",
        "amount": "not a field of form approve-invoice",
    }
    assert one(sessions, iid, "approveInvoice").status == "open"
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.instance_id == iid)) == events
        assert instances.instance_data(s, ctx, iid)["amount"] == 30
    do(sessions, ctx, approve, "sales1", {"approved": True})
    transfer = one(sessions, iid, "prepareBankTransfer")
    with pytest.raises(ValidationError) as refused:  # its form has no editable field: no second say on approval
        do(sessions, ctx, transfer, "acc1", {"approved": False})
    assert refused.value.details["fields"] == {"approved": "not a field of form prepare-bank-transfer"}
    assert one(sessions, iid, "prepareBankTransfer").id == transfer.id
    do(sessions, ctx, transfer, "acc1", {})
    assert ctx.archived == ["INV-1"]


def test_without_its_forms_the_unedited_model_deploys_with_a_warning_and_its_tasks_take_no_data(sessions, ctx, clock):
    with sessions() as s, s.begin():
        acme(s)
        result = deploy_files(s, clock, *MODEL, connectors={ARCHIVE})
    warned = [str(w) for w in result.warnings if w.element_id == "approveInvoice" and "form key" in w.message]
    assert len(warned) == 1 and "its completion may carry no data" in warned[0], warned
    iid = start(sessions, ctx, 30)
    approve = one(sessions, iid, "approveInvoice")
    assert approve.form_key is None
    with pytest.raises(ValidationError) as refused:
        do(sessions, ctx, approve, "sales1", {"approved": True})
    assert refused.value.details["fields"] == {"approved": "not a field: task approveInvoice has no form"}
    assert "approveInvoice has no form" in refused.value.message
    assert one(sessions, iid, "approveInvoice").status == "open"
