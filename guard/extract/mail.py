"""E-mail (RFC 822 / .eml): headers, every text part decoded (base64, quoted-printable,
any charset), attachments inspected as files."""
from __future__ import annotations

import re
from email import policy
from email.parser import BytesParser

from guard.extract.context import Context
from guard.extract.html import html_parts

_HEADER = re.compile(rb"^(From|To|Subject|Date|Received|Return-Path|MIME-Version|Message-ID|Content-Type|X-[\w-]+):",
                     re.I | re.M)


_FIRST_LINE = re.compile(rb"^[A-Za-z][\w-]{0,60}:[ \t]*\S")
_MIME = re.compile(rb"^Content-Type:[ \t]*(multipart/|message/|text/[\w.+-]+;[ \t]*charset)|^Content-Transfer-Encoding:",
                   re.I | re.M)


def looks_like_mail(data: bytes) -> bool:
    """At least three distinct RFC 822 header names at line starts in the first 4 KB, or a
    MIME entity with few headers (a forwarded attachment: Content-Type: multipart/mixed and
    nothing else) that starts with a header line."""
    head = data[:4096]
    if len({m.group(1).lower() for m in _HEADER.finditer(head)}) >= 3:
        return True
    end = head.find(b"\n\n")
    block = head if end < 0 else head[:end]
    return bool(_FIRST_LINE.match(head)) and bool(_MIME.search(block))


# Headers people write or that carry a classification (Outlook's Sensitivity and msip_labels,
# X-Classification), not routing headers.
_CONTENT_HEADERS = frozenset({"from", "to", "cc", "bcc", "reply-to", "keywords", "comments", "sensitivity",
                              "msip_labels", "importance", "organization", "content-description"})
_MACHINE_X = ("x-ms-", "x-mailer", "x-originating", "x-received", "x-google", "x-gm-", "x-spam", "x-forefront",
              "x-microsoft", "x-mimeole", "x-virus", "x-source", "x-sender", "x-eopattributed", "x-proofpoint")


_MSIP_NAME = re.compile(r"MSIP_Label_[^_;=]+_(?:Name|DisplayName)=([^;]+)", re.I)


def extract_mail(ctx: Context, data: bytes, location: str, depth: int) -> None:
    from guard.extract import extract_into

    msg = BytesParser(policy=policy.default).parsebytes(data)
    heads = []
    for k, v in msg.items():
        name = k.lower()
        try:
            v = str(v)
        except (LookupError, UnicodeError, ValueError):
            continue
        if name in ("subject", "thread-topic"):
            # The subject line as the reader sees it, alone: 【秘密】关于…… is a bracketed head.
            ctx.add(v, f"{location}/headers/{name}", "title")
        elif name in _CONTENT_HEADERS or name.startswith("x-") and not name.startswith(_MACHINE_X):
            heads.append(f"{k}：{v}")
            if name == "msip_labels":
                # MSIP_Label_<id>_Name=机密; ...: the sensitivity label's name, alone on its line.
                heads.extend(m.strip() for m in _MSIP_NAME.findall(v))
    ctx.add("\n".join(heads), f"{location}/headers", "property")
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
            from guard.extract.text import read_text
            if ctype == "text/html":
                for part_text, suffix, kind in html_parts(text):
                    ctx.add(part_text, f"{location}/part{i}{suffix}", kind)
            else:
                read_text(ctx, text, f"{location}/part{i}", None, depth + 1)
        else:
            extract_into(ctx, part.get_payload(decode=True) or b"", filename, f"{location}/{filename or f'part{i}'}",
                         depth + 1)
