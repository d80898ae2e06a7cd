"""Parse untrusted BPMN/DMN XML safely.

Anyone who can deploy a model hands us XML, so the parser refuses what XML can do to a server: DOCTYPE and ENTITY
declarations (external entities reading local files, "billion laughs" expansion), network access, trees deeper or
larger than lxml's safe limits, and files above a size cap. SpiffWorkflow's parsers only ever see trees parsed here.
"""

from __future__ import annotations

import os
import re

from lxml import etree

from engine.errors import DefinitionError, Problem

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
# A DOCTYPE can only appear in the prolog, before the root element; ENTITY declarations live inside it.
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def max_bytes() -> int:
    """The size cap for one definition file, overridable with TDKT_MAX_DEFINITION_BYTES."""
    value = os.environ.get("TDKT_MAX_DEFINITION_BYTES")
    return int(value) if value and value.isdigit() else DEFAULT_MAX_BYTES


def _problem(filename: str, line: int | None, message: str) -> DefinitionError:
    return DefinitionError([Problem(filename, line, None, message)])


_UNDECLARED_PREFIX = re.compile(r"Namespace prefix (\S+) (?:for \S+ )?on (\S+) is not defined")
_KNOWN_PREFIXES = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmn2": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "camunda": "http://camunda.org/schema/1.0/bpmn",
    "zeebe": "http://camunda.org/schema/zeebe/1.0",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
_ENCODING_ERROR = re.compile(r"encoding|not proper UTF|invalid bytes|Char 0x|PCDATA invalid", re.IGNORECASE)
_ENCODING_DECLARATION = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")


def _declared_encoding(data: bytes) -> str | None:
    found = _ENCODING_DECLARATION.match(data)
    return found.group(1).decode("ascii") if found else None


def encoding_warning(data: bytes, filename: str) -> Problem | None:
    """A file declared in a single-byte encoding whose bytes read as UTF-8: its text is most likely misread."""
    declared = _declared_encoding(data)
    if not declared or declared.lower().replace("_", "-") in ("utf-8", "utf8", "us-ascii", "ascii"):
        return None
    if declared.lower().startswith("utf-16") or all(byte < 0x80 for byte in data):
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return Problem(
        filename,
        1,
        None,
        f"encoding error: the file declares encoding {declared!r} but its bytes are UTF-8, so its non-ASCII text "
        'is misread; declare encoding="UTF-8"',
        "warning",
    )


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _find_declaration(data: bytes) -> tuple[str, int] | None:
    found = _DECLARATION.search(data)
    if found is not None:
        return found.group(1).decode().upper(), _line_of(data, found.start())
    if b"\x00" in data[:4] or data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16/32: scan the decoded text too
        for encoding in ("utf-16", "utf-32"):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                continue
            match = _DECLARATION.search(text.encode("utf-8", errors="ignore"))
            if match is not None:
                return match.group(1).decode().upper(), text.count("\n", 0, match.start()) + 1
    return None


def parse_xml(data: bytes, filename: str, limit: int | None = None) -> etree._ElementTree:
    """Parse ``data`` into an lxml tree, or raise DefinitionError with one Problem naming the file and line."""
    cap: int = max_bytes() if limit is None else limit
    if len(data) > cap:
        raise _problem(filename, None, f"file is too large ({len(data):,} bytes; the limit is {cap:,} bytes)")
    declaration = _find_declaration(data)
    if declaration is not None:
        kind, line = declaration
        raise _problem(
            filename,
            line,
            f"{kind} declarations are not allowed in definition files (external entities and entity expansion "
            "are refused)",
        )
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as err:
        error_line: int | None = err.lineno if isinstance(err.lineno, int) else None
        message = str(err.msg or err).split(" (line")[0]
        if _ENCODING_ERROR.search(message):
            declared = _declared_encoding(data) or "UTF-8"
            raise _problem(
                filename,
                error_line,
                f"encoding error: the file is not valid {declared} text ({message}); save it as {declared} or "
                "declare the encoding it is written in",
            )
        prefix = _UNDECLARED_PREFIX.search(message)
        if prefix:
            name, element = prefix.group(1), prefix.group(2)
            uri = _KNOWN_PREFIXES.get(name, "...")
            raise _problem(
                filename,
                error_line,
                f"undeclared namespace: prefix {name!r} of element {element!r} is not declared; add "
                f'xmlns:{name}="{uri}" to the root element',
            )
        raise _problem(filename, error_line, f"malformed XML: {message}")
    except ValueError as err:  # e.g. an encoding declaration on a str, or an empty document
        raise _problem(filename, None, f"malformed XML: {err}")
    if root is None:
        raise _problem(filename, None, "malformed XML: empty document")
    tree = root.getroottree()
    # Belt and braces: a declaration smuggled past the byte scan (another encoding) still shows up here.
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise _problem(filename, 1, "DOCTYPE declarations are not allowed in definition files")
    for element in root.iter():
        if isinstance(element, etree._Entity):
            raise _problem(filename, element.sourceline, "entity references are not allowed in definition files")
    return tree
