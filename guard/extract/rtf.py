"""RTF, decoded in the document's own ANSI code page (\\ansicpgNNN) for \\'xx escapes.

striprtf drops header, footer and document-info groups, which is where markings
live; those groups are cut out and converted on their own, as parts of their kind.
"""
from __future__ import annotations

import re

from striprtf.striprtf import rtf_to_text

from guard.errors import ExtractionError
from guard.extract.context import Context

_CPG = re.compile(rb"\\ansicpg(\d+)")
_SIDE_GROUP = re.compile(r"\{\\(header[lrf]?|footer[lrf]?|info)\b")


def _group_end(rtf: str, start: int) -> int:
    """Index just past the group opening at `start` (escaped braces skipped)."""
    depth, i, n = 0, start, len(rtf)
    while i < n:
        c = rtf[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return n


def _text(fragment: str, encoding: str) -> str:
    return rtf_to_text(fragment, encoding=encoding, errors="replace")


def extract_rtf(ctx: Context, data: bytes, location: str) -> None:
    m = _CPG.search(data[:4096])
    encoding = f"cp{m.group(1).decode()}" if m else "cp1252"
    if encoding in ("cp936", "cp20936"):
        encoding = "gb18030"
    try:
        "".encode(encoding)
    except LookupError:
        encoding = "cp1252"
    rtf = data.decode("latin-1")
    try:
        ctx.add(_text(rtf, encoding), location, "body")
        for g in _SIDE_GROUP.finditer(rtf):
            ctx.check_time()
            inner = rtf[g.end():_group_end(rtf, g.start()) - 1]
            if g.group(1) == "info":
                # {\title x}{\subject y}{\*\userprops ...}: one line per field.
                inner = re.sub(r"\{\\\*?\\?(\w+)", lambda k: "\\par {" , inner)
                kind = "property"
            else:
                kind = "header" if g.group(1).startswith("header") else "footer"
            ctx.add(_text("{\\rtf1\\ansi " + inner + "}", encoding), f"{location}/{g.group(1)}", kind)
    except ExtractionError:
        raise
    except Exception as e:  # striprtf raises bare errors on malformed groups
        raise ExtractionError("corrupt", f"unreadable RTF: {e}") from None
