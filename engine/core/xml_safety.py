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
