"""A part of an upload sent in parts: text when it is text, never parsed as a file (a third
of a docx is not a docx). The whole file is decided when the upload completes."""
from __future__ import annotations


def fragment_text(data: bytes) -> str | None:
    """A part's bytes as text when they are text in any encoding the receiver would read
    (UTF-8, a BOM's, GBK/GB18030, Big5, UTF-16); a fragment of a binary file is not read."""
    if not data:
        return None
    from guard.extract.text import decode
    try:
        text = decode(data[:8 << 20]) or ""
    except Exception:  # a fragment is only ever read for its text: fall back to UTF-8 below
        text = ""
    if not text:
        text = data.decode("utf-8", errors="replace")
    sample = text[:4096]
    bad = sample.count("\ufffd") + sum(1 for c in sample if c < " " and c not in "\t\n\r\f")
    return text if bad * 50 <= len(sample) else None
