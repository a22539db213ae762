"""Plain text in any encoding; JSON and HTML files get their own readers."""
from __future__ import annotations

import json

from charset_normalizer import from_bytes

from guard.extract.context import Context
from guard.extract.html import html_to_text
from guard.extract.jsonwalk import walk_json


def _looks_utf16(data: bytes) -> str | None:
    """UTF-16 without a BOM: NUL bytes on one parity, ASCII or CJK on the other."""
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    half = len(sample) // 2
    if odd > half * 0.3 and even < half * 0.05:
        return "utf-16-le"
    if even > half * 0.3 and odd < half * 0.05:
        return "utf-16-be"
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
        # A body cut mid-character at a size limit is still UTF-8.
        if e.start >= len(data) - 3:
            return data.decode("utf-8", errors="replace")
    enc = _looks_utf16(data)
    if enc:
        return data.decode(enc, errors="replace")
    if b"\x00" in data[:8192]:
        return None
    try:
        # Offices here write GBK/GB18030 when not UTF-8; its byte grammar rejects most non-GB data.
        return data.decode("gb18030")
    except UnicodeDecodeError:
        pass
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
    stripped = text.lstrip()[:512].lower()
    if stripped.startswith(("<!doctype html", "<html")) or ("<body" in stripped and "<" == stripped[:1]):
        ctx.add(html_to_text(text), location, "body")
        return
    if stripped[:1] in ("{", "[") and len(text) <= ctx.limits.max_bytes:
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
        if obj is not None:
            walk_json(ctx, obj, location)
            return
    ctx.add(text, location, "body")
