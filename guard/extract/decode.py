"""Text written in escapes to slip past a filter: `\\u673a\\u5bc6`, `&#26426;&#23494;`,
`%E6%9C%BA%E5%AF%86`, or a base64 run that decodes to readable text. A part that holds
such escapes is also scanned decoded."""
from __future__ import annotations

import base64
import binascii
import html
import re
from urllib.parse import unquote

from guard.extract.markup import TRIGGER as MARKUP_TRIGGER, resolve_markup
from guard.extract.plausible import plausibility as _plausibility

_U_ESC = re.compile(r"\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})|\\x([0-9a-fA-F]{2})")
_NCR = re.compile(r"&#(?:[xX][0-9a-fA-F]{1,6}|\d{1,7});")
_PCT = re.compile(r"(?:%[0-9A-Fa-f]{2}){3,}")
# RE2 syntax: the matcher puts this in its Set pass, so text without escapes costs nothing.
# Also: markup a reader resolves (markup.TRIGGER), JSON string escapes left in text (a JSON
# body inside a string: \\" and \\n), and UTF-7 shifted runs (+ZwZbxg-).
TRIGGER = (r"\\[uU][0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}|&#[xX]?[0-9a-fA-F]|%[Ee][0-9A-Fa-f]%|[A-Za-z+/_-][A-Za-z0-9+/_-]{14,}"  # a run with a letter: not a long number
           r'|\\"|\\n|\+[A-Za-z0-9/][A-Za-z0-9/][A-Za-z0-9/][A-Za-z0-9/+]*-|' + MARKUP_TRIGGER)
# Base64 (standard or URL-safe) of at least ~12 bytes: a short marking (机密★5年) encodes to 20.
_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
MAX_B64_BYTES = 4 << 20       # decoded bytes per part (a lockfile's 1,000 sha512 hashes are 64 KB)


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
        if _U_ESC.search(out, 0, 1 << 20):  # one escaped character in a marking is enough
            out = _U_ESC.sub(_unescape_u, out)
    if "&#" in out and _NCR.search(out):
        out = html.unescape(out)
    # Percent-encoded CJK starts with a UTF-8 lead byte %E2..%E9: plain "5%" is left alone.
    if ("%E" in out or "%e" in out) and _PCT.search(out):
        out = unquote(out, errors="replace")
    if "<" in out or "&" in out:
        resolved = resolve_markup(out)
        if resolved != out:
            out = resolved
    if '\\"' in out or "\\n" in out:
        out = _JSON_ESC.sub(_json_escape, out)
    if "+" in out and "-" in out:
        out = _UTF7.sub(_utf7, out)
    out = _base64_runs(out)
    return out if out != text else None


# A JSON string's escapes left in text that holds a JSON body as a string (GraphQL and
# JSON-RPC arguments): decoded so JSON's own quotes are not taken for quotation marks.
_JSON_ESC = re.compile(r'\\(["\\/bfnrt])')
_JSON_CHARS = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_UTF7 = re.compile(r"\+([A-Za-z0-9+/]{3,})-?")


def _json_escape(m: re.Match) -> str:
    return _JSON_CHARS[m.group(1)]


def _utf7(m: re.Match) -> str:
    """A UTF-7 shifted run, decoded when it reads as Chinese (+ZwZbxg- is 机密)."""
    try:
        t = m.group().encode("ascii").decode("utf-7")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return m.group()
    if t.isascii() or _plausibility(t) < 0.9:
        return m.group()
    return t


def _readable(data: bytes) -> str | None:
    """The text base64 bytes hold, when they are text (UTF-8, GB18030 that reads as Chinese, or
    UTF-16 with a byte-order mark: Gemini/OpenAI inline data written by Windows tools)."""
    encodings = ("utf-16",) if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8", "gb18030")
    for enc in encodings:
        try:
            t = data.decode(enc).lstrip("\ufeff")
        except UnicodeDecodeError:
            continue
        if not t or sum(c.isprintable() or c in "\n\r\t" for c in t) < 0.95 * len(t):
            continue
        if not t.isascii() and _plausibility(t) < 0.9:
            continue  # random bytes often decode as GB18030: only take text that reads as Chinese
        # Random bytes almost never decode to printable ASCII; words, PEM blocks and
        # configuration lines are mostly letters, digits and spaces.
        if not t.isascii() or sum(c.isalnum() or c in " \n" for c in t) >= 0.6 * len(t):
            return t
    return None


def _base64_runs(text: str) -> str:
    """The text with each base64 run that decodes to readable text replaced by that text."""
    if len(text) < 16:
        return text
    pieces, pos, budget = [], 0, MAX_B64_BYTES
    for m in _B64_RUN.finditer(text):
        run = m.group()
        if run.isdigit() or run.isalpha() and (run.islower() or run.isupper()):
            continue  # numbers and plain words, not base64
        if budget <= 0:
            break
        body = run.rstrip("=")
        try:
            if "-" in body or "_" in body:
                data = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            else:
                data = base64.b64decode(body + "=" * (-len(body) % 4), validate=True)
        except (binascii.Error, ValueError):
            continue
        budget -= len(data)
        t = _readable(data)
        if t is None:
            continue
        pieces.append(text[pos:m.start()])
        pieces.append(f"\n{t}\n")
        pos = m.end()
    if not pieces:
        return text
    pieces.append(text[pos:])
    return "".join(pieces)
