"""multipart/form-data uploads (/v1/files, web apps' upload endpoints)."""
from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP

from guard.errors import ExtractionError
from guard.extract import Context, extract_into
from guard.extract.jsonwalk import scan_string


def scan_multipart(ctx: Context, body: bytes, content_type: str) -> None:
    if "boundary=" not in content_type:
        raise ExtractionError("corrupt", "multipart body without a boundary")
    msg = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + body)
    if not msg.is_multipart():
        raise ExtractionError("corrupt", "unreadable multipart body")
    for i, part in enumerate(msg.iter_parts()):
        name = part.get_param("name", header="content-disposition") or f"part{i}"
        filename = part.get_filename()
        data = part.get_payload(decode=True) or b""
        loc = f"multipart:{name}"
        if filename is not None or not _is_text(data):
            extract_into(ctx, data, filename, loc, 0)
        else:
            scan_string(ctx, data.decode("utf-8", errors="replace"), loc)


def _is_text(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in data
