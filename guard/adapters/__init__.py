"""Request bodies -> scannable parts with provenance.

Every provider shape (OpenAI Chat/Responses, Anthropic Messages, Gemini, the
OpenAI-compatible APIs, ChatGPT/Claude/DeepSeek/Kimi/Doubao web) is JSON whose
strings the generic walker reaches with their JSON path as location
(`messages[1].content`, `contents[0].parts[1].inlineData.data`), decoding `\\u`
escapes, JSON inside strings and base64/data: URL files. Other bodies are decoded
by their media type: form-urlencoded, multipart uploads, gRPC-web/Connect frames,
and raw uploads (a presigned PUT) sniffed as files by magic bytes.
"""
from __future__ import annotations

from urllib.parse import unquote, unquote_to_bytes

from guard.adapters.encoding import transcode
from guard.adapters.form import scan_form
from guard.adapters.frames import scan_frames
from guard.adapters.multipart import scan_multipart
from guard.adapters.protobuf import scan_protobuf
from guard.extract import Context, extract_into
from guard.extract.jsonwalk import parse_body, walk_values
from guard.extract.text import charset_of

__all__ = ["scan_body"]


def _unquote_name(value: str) -> str:
    """A percent-encoded file name as the server shows it: UTF-8, else the bytes' own charset
    (GBK/GB18030 names from Windows clients), never U+FFFD in place of a marking."""
    if "%" not in value:
        return value
    raw = unquote_to_bytes(value)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        from guard.extract.text import decode
        return decode(raw) or raw.decode("utf-8", "replace")


def _filename(headers, path: str) -> str | None:
    disp = headers.get("content-disposition", "")
    for piece in disp.split(";"):
        k, _, v = piece.strip().partition("=")
        if k.lower() in ("filename", "filename*"):
            v = v.strip('"')
            return _unquote_name(v.split("''", 1)[-1]) if k.endswith("*") else _unquote_name(v)
    for key in ("x-file-name", "x-filename"):
        if headers.get(key):
            return _unquote_name(headers[key])
    last = unquote(path.split("?", 1)[0].rsplit("/", 1)[-1])
    return last if "." in last else None


PROTOBUF_TYPES = frozenset({"application/proto", "application/protobuf", "application/x-protobuf",
                            "application/vnd.google.protobuf", "application/x-google-protobuf"})


def scan_json_body(ctx: Context, body: bytes, location: str = "") -> bool:
    """Walk a JSON body read leniently (several values, JSON Lines, trailing text scanned as
    text too); False when it holds no JSON value at all."""
    parsed = parse_body(body)
    if parsed is None:
        return False
    walk_values(ctx, *parsed, location)
    return True


def scan_body(ctx: Context, body: bytes, content_type: str, headers, path: str) -> str:
    """Add the body's parts to ctx; returns the body kind (json, form, multipart, ...)."""
    if not body:
        return "empty"
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    body = transcode(ctx, body, content_type)  # JSON and forms in a declared charset or UTF-16: as UTF-8
    if ctype == "multipart/form-data":
        scan_multipart(ctx, body, content_type)
        return "multipart"
    head = body.lstrip(b" \t\r\n\xef\xbb\xbf")[:1]
    if ctype == "application/x-www-form-urlencoded":
        # JSON sent with a form's type: servers that parse JSON whatever the type read it as JSON.
        if head in (b"{", b"[") and scan_json_body(ctx, body):
            return "json"
        scan_form(ctx, body)
        return "form"
    if ctype.startswith(("application/grpc", "application/connect")):
        scan_frames(ctx, body, ctype)
        return "frames"
    if ctype in PROTOBUF_TYPES:
        # Unary Connect and plain protobuf POSTs: one message, no frame header.
        if not scan_protobuf(ctx, body, "proto"):
            extract_into(ctx, body, _filename(headers, path), "upload", 0)
        return "protobuf"
    declared = "json" in ctype
    if declared or (head in (b"{", b"[") and not ctype.startswith(("image/", "application/octet"))):
        if scan_json_body(ctx, body, "" if declared or head in (b"{", b"[") else "body"):
            return "json"
        if declared:
            # Declared JSON that no lenient reader can parse: what the server makes of it is
            # unknowable, so it is not let through on a guess.
            ctx.problem("corrupt", "body", "body declared as JSON does not parse")
            return "json"
    if ctype.startswith("text/") and not ctype.startswith("text/html"):
        extract_into(ctx, body, None, "body", 0, charset=charset_of(content_type))
        name = _filename(headers, path)
        if name and (headers.get("content-disposition") or headers.get("x-file-name") or headers.get("x-filename")):
            ctx.add(name, "file name", "filename")  # a text upload's name (X-File-Name) is shown too
        return "text"
    # Anything else is an upload: identify it by its bytes, never by its media type. JSON sent
    # as octet-stream is walked as JSON too (escapes decoded) before it is read as a file.
    if head in (b"{", b"[") and ctype.startswith("application/octet"):
        scan_json_body(ctx, body)
    extract_into(ctx, body, _filename(headers, path), "upload", 0, charset=charset_of(content_type))
    return "file"
