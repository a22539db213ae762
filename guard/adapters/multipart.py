"""multipart/form-data uploads (/v1/files, web apps' upload endpoints).

Parts are split with bytes.find on the boundary (C speed: the stdlib email parser
walks a 2 MB upload line by line in Python, holding the GIL for tens of ms while
other users' prompts wait); only each part's small header block is parsed.
"""
from __future__ import annotations

import base64
import binascii
import quopri
import re
from urllib.parse import unquote
from email.parser import BytesHeaderParser
from email.policy import HTTP

from guard.errors import ExtractionError
from guard.extract import Context, extract_into
from guard.extract.jsonwalk import scan_string
from guard.extract.text import charset_of, codec_for

_HEADERS = BytesHeaderParser(policy=HTTP)
_B64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")


def _boundary(content_type: str) -> bytes:
    found = []
    for piece in content_type.split(";")[1:]:
        k, _, v = piece.strip().partition("=")
        if k.strip().lower() == "boundary" and v:
            found.append(v.strip().strip('"').encode("latin-1", "replace"))
    if len(set(found)) > 1:
        # Two boundaries: the guard and the server could split the body differently.
        raise ExtractionError("corrupt", "multipart body with ambiguous boundaries")
    if not found:
        raise ExtractionError("corrupt", "multipart body without a boundary")
    return found[0]


def split_multipart(body: bytes, content_type: str):
    """(headers, payload) of each part."""
    delim = b"--" + _boundary(content_type)
    pos = body.find(delim)
    if pos < 0:
        raise ExtractionError("corrupt", "multipart body without its boundary")
    while True:
        pos += len(delim)
        if body[pos:pos + 2] == b"--":
            return  # closing delimiter
        head_end = body.find(b"\r\n\r\n", pos)
        sep = 4
        if head_end < 0:
            head_end, sep = body.find(b"\n\n", pos), 2
        if head_end < 0:
            raise ExtractionError("corrupt", "truncated multipart part headers")
        nxt = body.find(b"\r\n" + delim, head_end)
        cut = 2
        if nxt < 0:
            nxt, cut = body.find(b"\n" + delim, head_end), 1
        if nxt < 0:
            raise ExtractionError("corrupt", "truncated multipart body (no closing boundary)")
        yield _HEADERS.parsebytes(body[pos:head_end].lstrip(b"\r\n") + b"\r\n\r\n"), body[head_end + sep:nxt]
        pos = nxt + cut


def scan_multipart(ctx: Context, body: bytes, content_type: str) -> None:
    names = []
    parts = list(split_multipart(body, content_type))
    # HTML forms name their charset in a `_charset_` field; each part may declare its own.
    default_charset = next((data.decode("ascii", "replace").strip().lower() for headers, data in parts
                            if headers.get_param("name", header="content-disposition") == "_charset_"), None)
    for i, (headers, data) in enumerate(parts):
        ctx.check_time()
        name = headers.get_param("name", header="content-disposition") or f"part{i}"
        names.append(str(name))
        filename = headers.get_filename()
        if filename and "%" in filename:
            # Percent-encoded names (%E6%9C%BA%E5%AF%86.docx): servers that unquote them show this.
            ctx.add(unquote(filename, errors="replace"), f"multipart:{name}#name (decoded)", "filename")
        cte = (headers.get("content-transfer-encoding") or "").strip().lower()
        raw = data
        if cte == "base64":
            # As lenient servers decode it: characters outside the alphabet ignored, padding optional.
            compact = bytes(c for c in data if c in _B64_ALPHABET)
            try:
                data = base64.b64decode(compact + b"=" * (-len(compact) % 4))
            except (binascii.Error, ValueError):
                # A dangling character: decoded without it, as lenient decoders do; the bytes as
                # sent are inspected below as well.
                data = base64.b64decode(compact[:len(compact) - len(compact) % 4])
        elif cte == "quoted-printable":
            data = quopri.decodestring(data)
        loc = f"multipart:{name}"
        charset = charset_of(headers.get("content-type")) or default_charset
        if charset:
            try:
                codec = codec_for(charset)
            except ExtractionError as e:
                ctx.problem(e.reason, loc, e.detail)
                continue
        versions = [(data, loc)]
        if cte in ("base64", "quoted-printable") and raw != data and not _honest(raw, cte):
            # A transfer encoding that is a lie (not base64 at all): a server that ignores the
            # header stores the bytes as sent, so they are inspected as sent too.
            versions.append((raw, f"{loc} (as sent)"))
        for version, where in versions:
            if filename is not None or not _is_text(version) and not (charset and codec != "utf-8"):
                extract_into(ctx, version, filename, where, 0, charset=charset)
            else:
                scan_string(ctx, version.decode(codec if charset else "utf-8", errors="replace"), where)
    ctx.add("\n".join(names), "multipart (field names)", "body")


_B64_STRICT = re.compile(rb"[A-Za-z0-9+/\r\n \t]*={0,2}[\r\n \t]*")


def _honest(raw: bytes, cte: str) -> bool:
    """Whether the part's bytes are what its Content-Transfer-Encoding says (base64: only the
    alphabet, whitespace and padding; quoted-printable: ASCII)."""
    if cte == "base64":
        return _B64_STRICT.fullmatch(raw) is not None
    return raw.isascii()


def _is_text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in data
