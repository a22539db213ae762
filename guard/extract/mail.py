"""E-mail (RFC 822 / .eml): headers, every text part decoded (base64, quoted-printable,
any charset), attachments inspected as files."""
from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser

from guard.extract.context import Context
from guard.extract.html import html_to_text

_HEADER = re.compile(rb"^(From|To|Subject|Date|Received|Return-Path|MIME-Version|Message-ID|Content-Type|X-[\w-]+):",
                     re.I | re.M)


def looks_like_mail(data: bytes) -> bool:
    """At least three distinct RFC 822 header names at line starts in the first 4 KB."""
    return len({m.group(1).lower() for m in _HEADER.finditer(data[:4096])}) >= 3


def extract_mail(ctx: Context, data: bytes, location: str, depth: int) -> None:
    from guard.extract import extract_into

    msg = BytesParser(policy=policy.default).parsebytes(data)
    heads = [f"{k}：{v}" for k, v in msg.items() if k.lower() in ("subject", "from", "to", "cc", "x-classification")]
    ctx.add("\n".join(heads), f"{location}/headers", "title")
    for i, part in enumerate(msg.walk()):
        ctx.check_time()
        if part.is_multipart():
            continue
        filename = part.get_filename()
        ctype = part.get_content_type()
        if filename is None and ctype.startswith("text/"):
            try:
                text = part.get_content()
            except (LookupError, UnicodeError, ValueError):
                text = (part.get_payload(decode=True) or b"").decode("utf-8", errors="replace")
            ctx.add(html_to_text(text) if ctype == "text/html" else text, f"{location}/part{i}", "body")
        else:
            extract_into(ctx, part.get_payload(decode=True) or b"", filename, f"{location}/{filename or f'part{i}'}",
                         depth + 1)
