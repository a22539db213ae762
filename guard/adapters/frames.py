"""gRPC-web / Connect bodies: 5-byte framed messages, JSON or protobuf."""
from __future__ import annotations

import json
import re
import struct

from guard.extract import Context
from guard.extract.jsonwalk import walk_json
from guard.adapters.protobuf import scan_protobuf

# Protobuf carries strings as raw UTF-8: take the printable runs between field bytes.
_CTRL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffd]+")


def scan_frames(ctx: Context, body: bytes, ctype: str) -> None:
    if ctype.endswith("grpc-web-text"):
        import base64

        body = base64.b64decode(body + b"=" * (-len(body) % 4))
    pos, n = 0, 0
    frames = []
    while pos + 5 <= len(body):
        flags, length = struct.unpack_from(">BI", body, pos)
        frames.append((flags, body[pos + 5:pos + 5 + length]))
        pos += 5 + length
    if pos != len(body) or not frames:
        frames = [(0, body)]  # unary Connect JSON has no frame header
    for flags, payload in frames:
        n += 1
        if flags & 0x80:
            continue  # trailers
        if flags & 0x01:
            import gzip

            payload = gzip.decompress(payload)
        if payload.lstrip()[:1] in (b"{", b"["):
            try:
                walk_json(ctx, json.loads(payload), f"frame{n}")
                continue
            except (ValueError, UnicodeDecodeError):
                pass
        if scan_protobuf(ctx, payload, f"frame{n}"):
            continue
        # Neither JSON nor a well-formed message: its printable runs are read as text.
        text = "\n".join(s for s in _CTRL.split(payload.decode("utf-8", errors="replace")) if len(s.strip()) > 1)
        ctx.add(text, f"frame{n}", "body")
