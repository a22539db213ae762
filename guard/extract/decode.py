"""Text written in escapes to slip past a filter: `\\u673a\\u5bc6`, `&#26426;&#23494;`,
`%E6%9C%BA%E5%AF%86`. A part that holds such escapes is also scanned decoded."""
from __future__ import annotations

import html
import re
from urllib.parse import unquote

_U_ESC = re.compile(r"\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})|\\x([0-9a-fA-F]{2})")
_NCR = re.compile(r"&#(?:[xX][0-9a-fA-F]{1,6}|\d{1,7});")
_PCT = re.compile(r"(?:%[0-9A-Fa-f]{2}){3,}")
# RE2 syntax: the matcher puts this in its Set pass, so text without escapes costs nothing.
TRIGGER = r"\\[uU][0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}|&#[xX]?[0-9a-fA-F]|%[Ee][0-9A-Fa-f]%"


def _unescape_u(m: re.Match) -> str:
    code = int(m.group(1) or m.group(2) or m.group(3), 16)
    try:
        return chr(code)
    except (ValueError, OverflowError):
        return m.group(0)


def decoded(text: str) -> str | None:
    """The text with its escapes decoded, or None when it has none worth decoding."""
    out = text
    if "\\u" in out or "\\U" in out or "\\x" in out:
        if len(_U_ESC.findall(out, 0, 1 << 20)) >= 2:
            out = _U_ESC.sub(_unescape_u, out)
    if "&#" in out and _NCR.search(out):
        out = html.unescape(out)
    # Percent-encoded CJK starts with a UTF-8 lead byte %E2..%E9: plain "5%" is left alone.
    if ("%E" in out or "%e" in out) and _PCT.search(out):
        out = unquote(out, errors="replace")
    return out if out != text else None
