"""The web UI's words in Vietnamese (the default) and English, and dates as people here read them.

``?lang=en`` (or ``vi``) on any page switches and is remembered in the session. Dates are shown dd/mm/yyyy and
times in Asia/Ho_Chi_Minh; the database keeps UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.messages.pofile import read_po
from flask import request, session

LANGUAGES = ("vi", "en")
LOCAL_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")

# The words live in gettext catalogues, one per language, as translators keep them:
# api/translations/<lang>/LC_MESSAGES/messages.po (msgid: the key the code and templates use with ``t()``;
# msgstr: the words). Poedit or any .po tool edits them; they are read once at start-up (no compile step).
TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def load_catalogues(folder: Path = TRANSLATIONS) -> dict[str, dict[str, str]]:
    """{language: {key: words}} from the .po files; an empty msgstr is left out (the UI falls back to Vietnamese)."""
    found: dict[str, dict[str, str]] = {}
    for lang in LANGUAGES:
        with (folder / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
            catalogue = read_po(fh, locale=lang)
        found[lang] = {str(m.id): str(m.string) for m in catalogue if m.id and m.string}
    return found


MESSAGES: dict[str, dict[str, str]] = load_catalogues()


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


def event_label(action: str) -> str:
    """An audit event type in words (the auditor's views); the code itself when it has none."""
    key = f"action_{action}"
    text = MESSAGES[current_language()].get(key) or MESSAGES["vi"].get(key)
    return text or action


def template_globals() -> dict[str, Any]:
    return {
        "t": t,
        "event_label": event_label,
        "lang": current_language(),
        "other_lang": "en" if current_language() == "vi" else "vi",
    }
