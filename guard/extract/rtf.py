"""RTF, decoded in the document's own ANSI code page (\\ansicpgNNN) for \\'xx escapes."""
from __future__ import annotations

import re

from striprtf.striprtf import rtf_to_text

from guard.errors import ExtractionError
from guard.extract.context import Context

_CPG = re.compile(rb"\\ansicpg(\d+)")


def extract_rtf(ctx: Context, data: bytes, location: str) -> None:
    m = _CPG.search(data[:4096])
    encoding = f"cp{m.group(1).decode()}" if m else "cp1252"
    if encoding in ("cp936", "cp20936"):
        encoding = "gb18030"
    try:
        "".encode(encoding)
    except LookupError:
        encoding = "cp1252"
    try:
        text = rtf_to_text(data.decode("latin-1"), encoding=encoding, errors="replace")
    except Exception as e:  # striprtf raises bare errors on malformed groups
        raise ExtractionError("corrupt", f"unreadable RTF: {e}") from None
    ctx.add(text, location, "body")
