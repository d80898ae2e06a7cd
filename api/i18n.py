"""The web UI's words in Vietnamese (the default) and English, and dates as people here read them.

``?lang=en`` (or ``vi``) on any page switches and is remembered in the session. Dates are shown dd/mm/yyyy and
times in Asia/Ho_Chi_Minh; the database keeps UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import request, session

LANGUAGES = ("vi", "en")
LOCAL_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")

MESSAGES: dict[str, dict[str, str]] = {
    "vi": {
        "app_name": "TĐKT Flow",
        "login": "Đăng nhập",
        "logout": "Đăng xuất",
        "user": "Tên đăng nhập",
        "password": "Mật khẩu",
        "login_failed": "Sai tên đăng nhập hoặc mật khẩu.",
        "login_throttled": "Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {minutes} phút.",
        "login_intro": "Hệ thống quy trình thi đua – khen thưởng",
        "inbox": "Việc cần làm",
        "overview": "Tổng quan",
        "instances": "Hồ sơ quy trình",
        "no_tasks": "Không có công việc nào.",
        "task": "Công việc",
        "process": "Quy trình",
        "business_key": "Mã hồ sơ",
        "unit": "Đơn vị",
        "role": "Vai trò",
        "due": "Hạn xử lý",
        "status": "Trạng thái",
        "assignee": "Người nhận",
        "escalation": "Mức chuyển cấp",
        "overdue": "Quá hạn",
        "due_soon": "Sắp đến hạn",
        "open": "Đang mở",
        "escalated": "Đã chuyển cấp",
        "claim": "Nhận việc",
        "unclaim": "Trả lại",
        "open_task": "Mở",
        "complete": "Hoàn thành",
        "back_to_inbox": "Về danh sách việc",
        "claimed": "Bạn đã nhận công việc.",
        "unclaimed": "Công việc đã được trả lại nhóm.",
        "completed": "Đã hoàn thành công việc “{name}”.",
        "form_has_errors": "Biểu mẫu còn lỗi, vui lòng kiểm tra các trường được đánh dấu.",
        "form_too_large": "Dữ liệu gửi lên quá lớn (tối đa {limit} byte); vui lòng rút gọn nội dung.",
        "field_too_long": "Nội dung dài quá {limit} ký tự.",
        "field_not_in_form": "Không phải trường của biểu mẫu này.",
        "required": "Bắt buộc nhập",
        "field_required": "Trường này bắt buộc.",
        "not_integer": "Phải là số nguyên.",
        "not_number": "Phải là số.",
        "not_json": "Không phải JSON hợp lệ.",
        "choose": "— Chọn —",
        "file_reference": "Nhập mã tham chiếu tài liệu đã tải lên (ví dụ files/ke-hoach.pdf); "
        "biểu mẫu web chưa hỗ trợ tải tệp.",
        "json_hint": "Nhập dữ liệu dạng JSON.",
        "list_hint": "Mỗi dòng một mục.",
        "no_form": "Công việc này không có biểu mẫu.",
        "reserved_form": "Công việc này được xử lý qua chức năng riêng của phiên họp Hội đồng.",
        "task_closed": "Công việc đã đóng ({status}).",
        "claimed_by": "Đang do {user} xử lý",
        "instance": "Hồ sơ",
        "called_by": "Thuộc quy trình",
        "called_instances": "Hồ sơ con",
        "incident": "Sự cố",
        "incidents_below": "Hồ sơ con đang gặp sự cố",
        "definition": "Quy trình (phiên bản)",
        "started": "Bắt đầu",
        "ended": "Kết thúc",
        "open_tasks": "Công việc đang mở",
        "audit": "Nhật ký",
        "time": "Thời gian",
        "actor": "Người thực hiện",
        "action": "Hành động",
        "data": "Dữ liệu",
        "audit_hidden": "Nhật ký chỉ dành cho thanh tra, quản trị và thủ trưởng đơn vị.",
        "no_instances": "Không có hồ sơ nào.",
        "units_overview": "Tình hình theo đơn vị",
        "tasks_count": "Số việc",
        "max_escalation": "Mức chuyển cấp cao nhất",
        "nothing_open": "Không có công việc nào đang mở.",
        "error": "Lỗi",
        "csrf_failed": "Phiên làm việc đã hết hạn hoặc yêu cầu không hợp lệ. Vui lòng thử lại.",
        "language": "English",
        "yes": "Có",
        "no": "Không",
        "previous": "Trang trước",
        "next": "Trang sau",
        "status_open": "Chờ nhận",
        "status_claimed": "Đã nhận",
        "status_completed": "Đã hoàn thành",
        "status_cancelled": "Đã hủy",
        "status_running": "Đang chạy",
        "status_suspended": "Tạm dừng",
        "status_incident": "Sự cố",
    },
    "en": {
        "app_name": "TĐKT Flow",
        "login": "Log in",
        "logout": "Log out",
        "user": "User name",
        "password": "Password",
        "login_failed": "Wrong user name or password.",
        "login_throttled": "Too many failed logins. Please try again in {minutes} minute(s).",
        "login_intro": "Emulation and commendation workflows",
        "inbox": "Inbox",
        "overview": "Overview",
        "instances": "Process instances",
        "no_tasks": "No tasks.",
        "task": "Task",
        "process": "Process",
        "business_key": "Business key",
        "unit": "Unit",
        "role": "Role",
        "due": "Due",
        "status": "Status",
        "assignee": "Assignee",
        "escalation": "Escalation level",
        "overdue": "Overdue",
        "due_soon": "Due soon",
        "open": "Open",
        "escalated": "Escalated",
        "claim": "Claim",
        "unclaim": "Release",
        "open_task": "Open",
        "complete": "Complete",
        "back_to_inbox": "Back to the inbox",
        "claimed": "You claimed the task.",
        "unclaimed": "The task is back with its group.",
        "completed": "Task “{name}” completed.",
        "form_has_errors": "The form has errors; please check the marked fields.",
        "form_too_large": "The submitted data is too large (at most {limit} bytes); please shorten it.",
        "field_too_long": "Longer than {limit} characters.",
        "field_not_in_form": "Not a field of this form.",
        "required": "Required",
        "field_required": "This field is required.",
        "not_integer": "Must be a whole number.",
        "not_number": "Must be a number.",
        "not_json": "Not valid JSON.",
        "choose": "— Choose —",
        "file_reference": "Enter the reference of an uploaded document (e.g. files/plan.pdf); "
        "the web form cannot upload files yet.",
        "json_hint": "Enter the data as JSON.",
        "list_hint": "One item per line.",
        "no_form": "This task has no form.",
        "reserved_form": "This task is handled through the Council meeting's own functions.",
        "task_closed": "The task is closed ({status}).",
        "claimed_by": "Being handled by {user}",
        "instance": "Instance",
        "called_by": "Called by",
        "called_instances": "Called instances",
        "incident": "Incident",
        "incidents_below": "Called instances with an incident",
        "definition": "Process (version)",
        "started": "Started",
        "ended": "Ended",
        "open_tasks": "Open tasks",
        "audit": "Audit trail",
        "time": "Time",
        "actor": "Actor",
        "action": "Action",
        "data": "Data",
        "audit_hidden": "The audit trail is for auditors, administrators and the unit's head.",
        "no_instances": "No instances.",
        "units_overview": "Units at a glance",
        "tasks_count": "Tasks",
        "max_escalation": "Highest escalation level",
        "nothing_open": "No open tasks.",
        "error": "Error",
        "csrf_failed": "Your session expired or the request was not valid. Please try again.",
        "language": "Tiếng Việt",
        "yes": "Yes",
        "no": "No",
        "previous": "Previous",
        "next": "Next",
        "status_open": "Open",
        "status_claimed": "Claimed",
        "status_completed": "Completed",
        "status_cancelled": "Cancelled",
        "status_running": "Running",
        "status_suspended": "Suspended",
        "status_incident": "Incident",
    },
}


def remember_language() -> None:
    """Before each request: ``?lang=`` switches the language for this and later pages."""
    wanted = request.args.get("lang")
    if wanted in LANGUAGES:
        session["lang"] = wanted


def current_language() -> str:
    lang = session.get("lang")
    return lang if lang in LANGUAGES else "vi"


def t(key: str, **values: Any) -> str:
    text = MESSAGES[current_language()].get(key) or MESSAGES["vi"].get(key) or key
    return text.format(**values) if values else text


def local(value: datetime) -> datetime:
    return value.astimezone(LOCAL_ZONE)


def format_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = local(value)
    return value.strftime("%d/%m/%Y")


def format_datetime(value: datetime | None) -> str:
    return "" if value is None else local(value).strftime("%d/%m/%Y %H:%M")


def template_globals() -> dict[str, Any]:
    return {"t": t, "lang": current_language(), "other_lang": "en" if current_language() == "vi" else "vi"}
