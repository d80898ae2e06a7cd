"""The API's request and response models: what ``api.v1.spec`` writes into the OpenAPI document and checks.

Response models list what the views answer (``api.v1.serialize``); request models refuse unknown body fields.
Strings that carry times are ISO 8601 as stored (UTC).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field

from api.v1.spec import ErrorDetail, Strict
from engine.persistence.models import MAX_VERSION

Text = str | None
Name = Field(min_length=1, max_length=255)
MAX_ID = 2**63 - 1  # ids are 64-bit
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class Paging(BaseModel):
    limit: int = Field(50, ge=1, le=500, description="at most this many rows (1-500)")
    offset: int = Field(0, ge=0, le=10**9, description="skip this many rows")


# --- instances ------------------------------------------------------------------------------------------


class DefinitionRef(BaseModel):
    key: str
    version: int | None
    name: Text


class CallRef(BaseModel):
    element: Text
    index: int | None


class InstanceOut(BaseModel):
    id: int
    status: str
    definition: DefinitionRef
    business_key: Text
    unit: Text
    started_at: Text
    started_by: Text
    ended_at: Text
    incident: dict[str, Any] | None
    parent: int | None
    root: int | None
    call: CallRef | None


class IncidentBelow(BaseModel):
    id: int
    definition: str
    unit: Text
    incident: dict[str, Any] | None


class UnitRef(BaseModel):
    id: Text
    name: Text


class ProcessRef(BaseModel):
    key: Text
    name: Text


class InstanceRef(BaseModel):
    id: int
    business_key: Text
    unit: Text


class TaskOut(BaseModel):
    id: int
    name: Text
    element_id: str
    form_key: Text
    status: str
    assignee: Text
    role: Text
    unit: UnitRef
    process: ProcessRef
    instance: InstanceRef
    due_at: Text
    overdue: bool
    escalation_level: int
    created_at: Text
    completed_at: Text
    completed_by: Text


class InstanceDetail(InstanceOut):
    open_tasks: list[TaskOut]
    children: list[InstanceOut]
    incidents_below: list[IncidentBelow]


class InstanceQuery(Paging):
    status: Literal["running", "suspended", "incident", "completed", "cancelled"] | None = None
    process: str | None = Field(None, max_length=255, description="the process (definition) key")
    unit: str | None = Field(None, max_length=64, description="the instance's unit")
    business_key: str | None = Field(None, max_length=255)
    parent: int | None = Field(None, ge=1, le=MAX_ID, description="instances started by this one's calls")


class InstancePage(BaseModel):
    instances: list[InstanceOut]
    total: int
    limit: int
    offset: int
    next: Text = Field(description="the URL of the next page, null on the last")


class StartIn(Strict):
    process: str = Name
    business_key: str | None = Field(None, max_length=255)
    unit: str | None = Field(None, max_length=64)
    data: dict[str, Any] | None = None


class ReasonIn(Strict):
    reason: str | None = Field(None, max_length=2000)


class MessageIn(Strict):
    name: str = Name
    business_key: str | None = Field(None, max_length=255)
    instance: int | None = Field(None, ge=1, le=MAX_ID)
    payload: dict[str, Any] | None = None


class MessageOut(BaseModel):
    instance: int


class SignalIn(Strict):
    name: str = Name
    payload: dict[str, Any] | None = None


class SignalOut(BaseModel):
    instances: list[int]


class EventOut(BaseModel):
    id: int
    seq: int
    at: Text
    actor: Text
    action: str
    element_id: Text
    task_guid: Text
    data: dict[str, Any]


class History(BaseModel):
    instance: int
    events: list[EventOut]


# --- tasks ----------------------------------------------------------------------------------------------


class TaskPage(BaseModel):
    tasks: list[TaskOut]
    limit: int
    offset: int


class TaskDetail(TaskOut):
    form: dict[str, Any] | None
    data: dict[str, Any]
    form_reserved: bool
    read_only: bool = Field(False, description="the caller oversees the task (Sở Nội vụ, auditors), cannot work on it")


class Empty(Strict):
    """No fields: send ``{}``."""


class CompleteIn(Strict):
    data: dict[str, Any] = Field(default_factory=dict)


class ReassignIn(Strict):
    user: str = Field(min_length=1, max_length=64)


class ReturnIn(Strict):
    reason: str = Field(min_length=1, max_length=2000)


# --- Sở Nội vụ's urge, and comments on an item (engine/services/urge.py, comments.py) ---------------------------


class UrgeIn(Strict):
    note: str | None = Field(None, max_length=500, description="a line added to the message")


class UrgeOut(BaseModel):
    task: TaskOut
    notified: list[str] = Field(description="who was told (the assignee, or everyone who may claim the task)")


class CommentIn(Strict):
    body: str = Field(min_length=1, max_length=4000)
    task: int | None = Field(None, ge=1, le=MAX_ID, description="the task of the item it is written on, if any")


class CommentOut(BaseModel):
    id: int
    author: str
    author_name: str
    body: str
    at: str
    task: int | None


class Comments(BaseModel):
    instance: int
    comments: list[CommentOut]


# --- the Council meeting's reserved tasks ----------------------------------------------------------------

CandidateId = Annotated[str, Field(min_length=1, max_length=128)]
Choice = Literal["agree", "disagree"]


class ConveneIn(Strict):
    meeting_date: str = Field(min_length=10, max_length=10, description="YYYY-MM-DD")
    place: str | None = Field(None, max_length=500)
    withdrawn: list[CandidateId] = Field(default_factory=list, max_length=500)


class AttendanceIn(Strict):
    present: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(max_length=500)


class BallotIn(Strict):
    """One choice per candidate on the ballot (every candidate of the agenda but the voter themself)."""

    choices: dict[CandidateId, Choice] = Field(max_length=500)


class WrittenBallotIn(Strict):
    """An absent member's written vote as the secretary received it, or ``no_vote: true`` if none came."""

    choices: dict[CandidateId, Choice] | None = Field(None, max_length=500)
    no_vote: bool = False


# --- reports and audit ----------------------------------------------------------------------------------


class OverdueQuery(BaseModel):
    unit: str | None = Field(None, max_length=64)
    process: str | None = Field(None, max_length=255)
    soon: int = Field(2, ge=0, le=365, description="due within this many working days")


class OverdueRowOut(BaseModel):
    unit_id: Text
    unit_name: str
    definition_key: str
    process_name: str
    open: int
    due_soon: int
    overdue: int
    escalated: int


class OverdueOut(BaseModel):
    rows: list[OverdueRowOut]
    at: str


# An export's media type: checked by the view (an unknown one is a 400 naming the parameter, not a 422).
FORMATS: dict[str, Any] = {"enum": ["json", "csv"]}
FORMAT_DESCRIPTION = "`json` (the default) or `csv` (text/csv, UTF-8 with a BOM); anything else answers 400"


class ExportQuery(BaseModel):
    format: str = Field("json", max_length=16, description=FORMAT_DESCRIPTION, json_schema_extra=FORMATS)
    instance: int | None = Field(None, ge=1, le=MAX_ID)
    action: str | None = Field(None, max_length=64)
    since: str | None = Field(None, max_length=40, description="ISO date or time (UTC); events at or after")
    until: str | None = Field(None, max_length=40, description="ISO date or time (UTC); events before")
    limit: int = Field(1000, ge=1, le=10_000)
    after_id: int = Field(0, ge=0, le=MAX_ID, description="events with a larger id (the last id of a page)")


class AuditEventOut(EventOut):
    stream: str
    instance_id: int | None
    prev_hash: str
    hash: str


class ExportOut(BaseModel):
    events: list[AuditEventOut]
    next_after_id: int | None


class VerifyOut(BaseModel):
    ok: bool
    events: int
    streams: int
    bad_event_id: int | None
    bad_stream: Text
    bad_seq: int | None
    reason: Text
    message: str


# --- organisation ---------------------------------------------------------------------------------------


class UnitOut(BaseModel):
    id: str
    name: str
    kind: str
    parent: Text


class RoleOut(BaseModel):
    id: str
    name: str


class UserOut(BaseModel):
    id: str
    full_name: str
    email: Text
    active: bool
    capabilities: list[str]


class MembershipOut(BaseModel):
    id: int
    user: str
    role: str
    unit: str


class DelegationOut(BaseModel):
    id: int
    from_user: str
    to_user: str
    starts_at: str
    ends_at: str


class Units(BaseModel):
    units: list[UnitOut]


class Roles(BaseModel):
    roles: list[RoleOut]


class Users(BaseModel):
    users: list[UserOut]


class Memberships(BaseModel):
    memberships: list[MembershipOut]


class Delegations(BaseModel):
    delegations: list[DelegationOut]


class UserFilter(BaseModel):
    user: str | None = Field(None, max_length=64, description="only this user's rows")


class OrgIn(Strict):
    """Rows to create or change, in the shape of ``demo/org.yaml``: each list may be left out."""

    units: list[dict[str, Any]] | None = Field(None, max_length=1000)
    roles: list[dict[str, Any]] | None = Field(None, max_length=1000)
    users: list[dict[str, Any]] | None = Field(None, max_length=1000)
    memberships: list[dict[str, Any]] | None = Field(None, max_length=5000)
    delegations: list[dict[str, Any]] | None = Field(None, max_length=1000)


class OrgLoadOut(BaseModel):
    created: dict[str, int]
    updated: dict[str, int]


# --- calendar and notifications -------------------------------------------------------------------------


class YearQuery(BaseModel):
    year: int = Field(ge=1900, le=2200)


class DayOut(BaseModel):
    day: str
    working: bool
    note: Text


class OverrideOut(DayOut):
    changed_by: Text
    changed_at: str


class CalendarOut(BaseModel):
    year: int
    non_working_weekdays: list[DayOut]
    working_weekend_days: list[DayOut]
    overrides: list[OverrideOut]


class OverrideIn(Strict):
    working: bool
    note: str | None = Field(None, max_length=255)


class NotificationQuery(BaseModel):
    unread: bool = False
    limit: int = Field(50, ge=1, le=500)
    before_id: int | None = Field(None, ge=1, le=MAX_ID)


class NotificationOut(BaseModel):
    id: int
    kind: str
    title: str
    body: str
    instance_id: int | None
    task_id: int | None
    created_at: str
    read_at: Text


class NotificationPage(BaseModel):
    notifications: list[NotificationOut]
    unread: int


class MarkReadIn(Strict):
    ids: list[Id] | None = Field(None, max_length=500, description="these (all unread ones when left out)")


class MarkReadOut(BaseModel):
    marked: int


# --- the auditor's exports: one instance's trail, the trails of a search (rows shared by JSON and CSV) ---------


class AuditFormatQuery(BaseModel):
    format: str = Field("json", max_length=16, description=FORMAT_DESCRIPTION, json_schema_extra=FORMATS)


class AuditRowOut(BaseModel):
    """One event as an export row; the CSV has these columns (``data`` as JSON) except ``id`` and ``task_guid``."""

    id: int
    instance_id: int | None
    seq: int
    at: str = Field(description="ISO time, UTC")
    at_local: str = Field(description="ISO time, Asia/Ho_Chi_Minh")
    actor: Text
    actor_name: Text
    action: str
    label: str = Field(description="the event type in words")
    element_id: Text
    task_guid: Text
    task_name: Text = Field(description="the task's name (from the BPMN), else the element id")
    unit: Text
    unit_name: Text
    data: dict[str, Any]
    hash: str
    prev_hash: str


class ChainOut(BaseModel):
    ok: bool
    events: int
    head_seq: int | None
    head_hash: Text
    bad_seq: int | None
    reason: Text


class InstanceAuditOut(BaseModel):
    instance: int
    events: list[AuditRowOut]
    chain: ChainOut


class AuditSearchQuery(BaseModel):
    format: str = Field("json", max_length=16, description=FORMAT_DESCRIPTION, json_schema_extra=FORMATS)
    process: str | None = Field(None, max_length=255, description="the process (definition) key")
    unit: str | None = Field(None, max_length=255, description="the instance's unit")
    business_key: str | None = Field(None, max_length=255, description="the business key or its beginning")
    status: str | None = Field(None, max_length=16, description="running, suspended, incident, completed, cancelled")
    started_from: str | None = Field(None, max_length=10, description="YYYY-MM-DD (local day), started on or after")
    started_to: str | None = Field(None, max_length=10, description="YYYY-MM-DD (local day), started on or before")
    ended_from: str | None = Field(None, max_length=10, description="YYYY-MM-DD (local day), ended on or after")
    ended_to: str | None = Field(None, max_length=10, description="YYYY-MM-DD (local day), ended on or before")
    actor: str | None = Field(None, max_length=255, description="a user id or part of a full name that acted")
    limit: int = Field(100, ge=1, le=500, description="instances per page (their events all come along)")
    offset: int = Field(0, ge=0, le=10_000_000)


class AuditSearchOut(BaseModel):
    instances: list[int] = Field(description="the page's instances, newest first")
    events: list[AuditRowOut] = Field(description="their events, instance by instance, in the order written")
    next: Text = Field(description="the URL of the next page of instances, null on the last")


# --- definitions (designers: deployed processes and decisions, their files, drafts, lint and deploy) ----------


class DraftRef(BaseModel):
    updated_at: str
    updated_by: Text
    based_on_version: int | None


class UsedBy(BaseModel):
    key: str
    version: int


class DefinitionVersionOut(BaseModel):
    id: int = Field(description="the definition id (for a decision: the process version that first carried it)")
    version: int
    deployed_at: str
    deployed_by: Text
    running_instances: int = Field(description="instances on this version that have not ended")
    files: list[str]
    used_by: list[UsedBy] = Field(description="decisions: the process versions deployed with this DMN text")


class DefinitionItem(BaseModel):
    key: str
    name: Text
    kind: Literal["process", "decision"]
    latest_version: int | None = Field(description="null for a draft that was never deployed")
    versions: list[DefinitionVersionOut] = Field(description="newest first")
    draft: DraftRef | None


class DefinitionList(BaseModel):
    items: list[DefinitionItem]


class DefinitionFileOut(BaseModel):
    name: str
    kind: Literal["bpmn", "dmn", "form", "other"]
    media_type: str


class DefinitionVersionDetail(BaseModel):
    key: str
    version: int
    id: int
    name: Text
    kind: Literal["process", "decision"]
    deployed_at: str
    deployed_by: Text
    content_hash: str
    running_instances: int
    files: list[DefinitionFileOut]
    warnings: list[str]


class DraftIn(Strict):
    files: dict[str, str] = Field(description="{file name: text}; names are plain *.bpmn, *.dmn or *.json")
    based_on_version: int | None = Field(None, ge=1, le=MAX_VERSION)


class DraftOut(BaseModel):
    key: str
    files: dict[str, str]
    updated_at: str
    updated_by: Text
    based_on_version: int | None


class FilesIn(Strict):
    files: dict[str, str] = Field(description="{file name: text}: a BPMN file with its forms and DMN files")


def _as_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]  # one part arrives alone, several as a list


class FilesForm(BaseModel):
    files: Annotated[list[Any], BeforeValidator(_as_list)] = Field(
        description="one or more files (a BPMN file with its forms and DMN files), each a part named `files`",
        json_schema_extra={"items": {"type": "string", "format": "binary"}},
    )


class ProblemOut(BaseModel):
    file: str
    line: int | None
    element_id: Text
    severity: Literal["error", "warning"]
    message: str


class LintOut(BaseModel):
    ok: bool = Field(description="true when no problem is an error (warnings allowed)")
    problems: list[ProblemOut]


class DeployedOut(BaseModel):
    key: str
    version: int
    id: int
    unchanged: bool = Field(description="the same content was deployed before: no new version")


class DeployOut(BaseModel):
    deployed: list[DeployedOut]
    problems: list[ProblemOut] = Field(description="warnings (a deployment with errors answers 422)")


class DefinitionProblems(BaseModel):
    """A refused deployment (``definition_error``) names every problem; any other 422 has the error only."""

    error: ErrorDetail
    problems: list[ProblemOut] = Field([], description="every problem of the files, errors and warnings")


# --- attachments (api/v1/attachments.py) ----------------------------------------------------------------------


class AttachmentRef(BaseModel):
    """What a form's data keeps for an uploaded file (never its bytes)."""

    attachment_id: int
    name: str
    sha256: str = Field(description="SHA-256 of the content, hex")
    size: int = Field(description="bytes")
    media_type: str = Field(description="detected from the content: PDF, PNG, JPEG, DOCX, XLSX or ODT")


class AttachmentOut(BaseModel):
    attachment: AttachmentRef
    field: str | None = Field(description="the form field it was uploaded for, as sent")
    task_id: int
