"""The UI's words live in gettext catalogues (api/translations/<lang>/LC_MESSAGES/messages.po), as translators
keep them: both languages carry the same keys with the same placeholders, and every key the code and the
templates ask for is there."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.pofile import read_po

from api.i18n import LANGUAGES, MESSAGES, TRANSLATIONS, load_catalogues

ROOT = Path(__file__).resolve().parents[1]
PLACEHOLDER = re.compile(r"\{([a-z_0-9]*)\}")
# t("key") / t('key', ...) in Python and Jinja; keys built at run time (f-strings) are not literal and not listed
USED = re.compile(r"""\bt\(\s*["']([a-z][a-z0-9_]*)["']""")


def catalogue(lang: str):
    with (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=lang)


def test_each_language_has_every_key_with_the_same_placeholders():
    vi, en = catalogue("vi"), catalogue("en")
    keys = {m.id for m in vi if m.id}
    assert keys == {m.id for m in en if m.id}
    assert len(keys) > 400
    for message in vi:
        if not message.id:
            continue
        assert message.string, f"vi: {message.id} has no words"
        other = en.get(message.id)
        assert other is not None and other.string, f"en: {message.id} has no words"
        assert set(PLACEHOLDER.findall(message.string)) == set(PLACEHOLDER.findall(other.string)), message.id


def test_the_ui_reads_the_catalogues():
    assert load_catalogues() == MESSAGES
    assert set(MESSAGES) == set(LANGUAGES)
    assert MESSAGES["vi"]["login"] == "Đăng nhập" and MESSAGES["en"]["login"] == "Log in"


def test_every_key_the_code_and_templates_use_is_in_the_catalogue():
    sources = [*ROOT.glob("api/**/*.py"), *ROOT.glob("api/templates/*.html")]
    used = {key for path in sources for key in USED.findall(path.read_text(encoding="utf-8"))}
    assert len(used) > 100
    missing = sorted(k for k in used - set(MESSAGES["vi"]) if not k.endswith("_"))  # "stage_" ~ x: a prefix
    assert missing == [], missing


def test_a_translator_edit_is_what_the_page_shows(tmp_path: Path):
    """A .po file edited by a translator (here: one word) is read as it stands; an empty msgstr falls back."""
    for lang in LANGUAGES:
        folder = tmp_path / lang / "LC_MESSAGES"
        folder.mkdir(parents=True)
        text = (TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po").read_text(encoding="utf-8")
        if lang == "en":
            text = text.replace('msgid "logout"\nmsgstr "Log out"', 'msgid "logout"\nmsgstr "Sign out"')
            text = text.replace('msgid "login"\nmsgstr "Log in"', 'msgid "login"\nmsgstr ""')
        (folder / "messages.po").write_text(text, encoding="utf-8")
    found = load_catalogues(tmp_path)
    assert found["en"]["logout"] == "Sign out"
    assert "login" not in found["en"]  # t() then shows the Vietnamese words


ACTION = re.compile(r"""action=["']([a-z_]+\.[a-z_.]+)["']|["']action["']: ["']([a-z_]+\.[a-z_.]+)["']""")


def test_every_audit_event_the_code_writes_has_words_in_both_languages():
    """The auditor's timeline names each event in words, never as its code (``award.decision_signed``)."""
    sources = [*ROOT.glob("engine/**/*.py"), *ROOT.glob("api/**/*.py")]
    actions = {a or b for path in sources for a, b in ACTION.findall(path.read_text(encoding="utf-8"))}
    assert {"task.completed", "award.decision_signed", "attachment.uploaded"} <= actions
    for lang in LANGUAGES:
        missing = sorted(a for a in actions if f"action_{a}" not in MESSAGES[lang])
        assert missing == [], (lang, missing)
