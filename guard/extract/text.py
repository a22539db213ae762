"""Plain text in any encoding; JSON and HTML files get their own readers."""
from __future__ import annotations


from charset_normalizer import from_bytes

from guard.extract.context import Context
from guard.extract.html import html_to_text
from guard.extract.jsonwalk import json_like_strings, parse_values, walk_socketio, walk_values
from guard.extract.plausible import plausibility as _plausibility
from guard.extract.sniff import printable


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def decode(data: bytes) -> str | None:
    """Decode text; None when the bytes are not text in any encoding we know."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return data.decode("utf-32", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        # A body cut mid-character at a size limit is still UTF-8; so is UTF-8 with a stray
        # invalid byte or two (read in another code page it would be garbage, markings lost).
        lenient = data.decode("utf-8", errors="replace")
        if e.start >= len(data) - 3 or lenient.count("\ufffd") * 200 < len(lenient):
            return lenient
    if b"\x00" in data[:8192]:
        # UTF-16 without a BOM (CJK text in it may have no NUL at all, ASCII in it does).
        if len(data) % 2 == 0:
            cands = [t for t in (_strict(data, "utf-16-le"), _strict(data, "utf-16-be")) if t and printable(t)]
            if cands:
                return max(cands, key=_plausibility)
        return None
    # Offices here write GBK/GB18030 or, for traditional text, Big5. Both grammars accept
    # much of each other's bytes, so the more plausible decode wins.
    cands = [t for t in (_strict(data, "gb18030"), _strict(data, "big5hkscs")) if t is not None]
    if cands:
        return max(cands, key=_plausibility)
    best = from_bytes(data[:1 << 20]).best()
    if best is None:
        return None
    return data.decode(best.encoding, errors="replace")


def extract_text(ctx: Context, data: bytes, location: str) -> None:
    text = decode(data)
    if text is None:
        ctx.problem("unsupported", location, "binary content of an unknown format")
        return
    sample = text[:4096]
    if sample and sum(1 for c in sample if c < " " and c not in "\t\n\r\f\x1b") > len(sample) // 10:
        ctx.problem("unsupported", location, "binary content of an unknown format")
        return
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    if walk_socketio(ctx, text, location):  # Socket.IO long-polling bodies (42["message",...])
        return
    stripped = text.lstrip()[:512].lower()
    if stripped.startswith(("<!doctype html", "<html")) or ("<body" in stripped and "<" == stripped[:1]):
        ctx.add(html_to_text(text), location, "body")
        return
    if stripped[:1] in ("{", "[") and len(text) <= ctx.limits.max_bytes:
        # JSON, JSON Lines (.jsonl batch files): each value walked, quotes not mistaken for
        # quoted mentions; text after the last value is still text.
        values, rest = parse_values(text)
        if values and all(isinstance(v, (tuple, list)) for v in values):
            walk_values(ctx, values, rest, location)
            return
        strings = json_like_strings(text)
        if strings:  # JSON that does not parse: its strings, each on a line of its own
            ctx.add("\n".join(strings), f"{location} (JSON-like)", "body")
            return
    ctx.add(text, location, "body")
