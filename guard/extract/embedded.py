"""Files hidden in text: a `data:` URL or a base64-encoded document (docx, pdf, zip, an image)
pasted into prose or Markdown. A model that receives the text can decode it, so the guard
decodes it too and inspects it like an upload. Base64 that holds text is left to the
matcher's decoded copy (decode.py); here only files, and text with a byte-order mark (UTF-16
inline data) that the matcher's decoder would not read."""
from __future__ import annotations

import re

from guard.decode import b64decode_any
from guard.extract.context import Context

_DATA_URL = re.compile(r"data:[\w.+/-]{0,80}(?:;[\w=.+-]{1,60}){0,4};base64,([A-Za-z0-9+/=_\-\s]{16,})", re.I)
# A base64 run long enough to be a file (a minimal zip is ~100 bytes), line-wrapped or not.
# Starts only where a run starts (the lookbehind fails at once inside a run: no quadratic rescans).
_RUN = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{60,}={0,2}(?:[ \t]*\r?\n[ \t]*[A-Za-z0-9+/_-]{4,}={0,2})*")
MIN_RUN = 120
# Prefilter in C: base64-alphabet bytes (and line breaks: MIME wraps at 76) as "A", everything else (UTF-8 of CJK included) as a
# space; a text without a run of MIN_RUN "A"s holds no encoded file. A regex over every
# position of a 10 KB prompt costs ~0.6 ms; this ~0.05 ms.
_ALPHABET = bytes(65 if i < 128 and (chr(i).isalnum() or chr(i) in "+/_-\r\n") else 32 for i in range(256))
_LONG_RUN = b"A" * MIN_RUN
MAX_FILES = 16   # files decoded out of one text


def _b64(run: str) -> bytes | None:
    return b64decode_any(re.sub(r"\s+", "", run))


def _inspect(ctx: Context, data: bytes, location: str, depth: int, always: bool) -> bool:
    from guard.extract import extract_into
    from guard.extract.sniff import sniff

    kind = sniff(data)
    if kind == "text":
        if data[:2] in (b"\xff\xfe", b"\xfe\xff") or data[:3] == b"\xef\xbb\xbf":
            from guard.extract.text import decode, read_text
            text = decode(data)
            if text:
                read_text(ctx, text, location, None, depth + 1)
                return True
        if not always:
            return False
    extract_into(ctx, data, None, location, depth + 1)
    return True


def hidden_files(ctx: Context, text: str, location: str, depth: int = 0) -> None:
    """Inspect the files encoded in a text (data: URLs anywhere, long base64 runs)."""
    if len(text) < MIN_RUN or depth >= ctx.limits.max_depth:
        return
    found = 0
    spans = []
    if "data:" in text or "DATA:" in text:
        for m in _DATA_URL.finditer(text):
            data = _b64(m.group(1))
            spans.append(m.span())
            if data is None:
                ctx.problem("corrupt", location, "data: URL with undecodable base64")
                continue
            found += 1
            _inspect(ctx, data, f"{location} (data: URL {found})", depth, always=True)
            if found >= MAX_FILES:
                return
    if _LONG_RUN not in text.encode("utf-8", "surrogatepass").translate(_ALPHABET):
        return
    for m in _RUN.finditer(text):
        if len(m.group()) < MIN_RUN or any(s <= m.start() < e for s, e in spans):
            continue
        data = _b64(m.group())
        if data is None:
            continue
        ctx.check_time()
        if _inspect(ctx, data, f"{location} (base64 {found + 1})", depth, always=False):
            found += 1
            if found >= MAX_FILES:
                return
