"""Protobuf bodies without a schema (Cursor, Connect/gRPC clients): walk the wire format and read
every length-delimited field that decodes as text, located by its field-number path (1.2.3).

A length-delimited field is a string, bytes or a nested message, and the wire format does not
say which: one that parses completely as a message is walked as one; one that is printable
UTF-8 is text (a short nested message can be both; then it is read both ways); bytes that are a
file by their magic number are extracted as a file. What remains (packed numbers, hashes) holds
no text.
"""
from __future__ import annotations

import re

from guard.extract import Context, extract_into
from guard.extract.sniff import sniff

MAX_DEPTH = 24
_CTRL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> list[tuple[int, int, object]] | None:
    """(field number, wire type, value) of a well-formed message; None when the bytes are not one."""
    out = []
    pos, n = 0, len(data)
    try:
        while pos < n:
            tag, pos = _varint(data, pos)
            num, wt = tag >> 3, tag & 7
            if num == 0:
                return None
            if wt == 0:
                value, pos = _varint(data, pos)
            elif wt == 1:
                value, pos = data[pos:pos + 8], pos + 8
            elif wt == 5:
                value, pos = data[pos:pos + 4], pos + 4
            elif wt == 2:
                length, pos = _varint(data, pos)
                value, pos = data[pos:pos + length], pos + length
            else:  # groups (3, 4) are long deprecated; anything else is not protobuf
                return None
            if pos > n:
                return None
            out.append((num, wt, value))
    except ValueError:
        return None
    return out


def _text(value: bytes) -> str | None:
    if not value:
        return None
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(_CTRL.findall(value)) > len(value) // 50:
        return None
    return text


def scan_protobuf(ctx: Context, data: bytes, location: str = "proto") -> bool:
    """Add the message's text fields to ctx as one part; False when `data` is not a message."""
    top = fields(data)
    if top is None:
        return False
    texts: list[tuple[str, str]] = []
    _walk(ctx, top, "", texts, 0, location)
    if texts:
        body, anchors, pos = [], [], 0
        for path, text in texts:
            anchors.append((pos, f" field {path}"))
            body.append(text)
            pos += len(text) + 1
        ctx.add("\n".join(body), location, "body", anchors)
    return True


def _walk(ctx: Context, msg, prefix: str, texts: list, depth: int, location: str) -> None:
    for num, wt, value in msg:
        if wt != 2:
            continue
        path = f"{prefix}.{num}" if prefix else str(num)
        text = _text(value)
        nested = fields(value) if depth < MAX_DEPTH and len(value) >= 2 else None
        if nested:
            _walk(ctx, nested, path, texts, depth + 1, location)
        if text is not None:
            texts.append((path, text))
        elif not nested and len(value) >= 64 and sniff(value) != "text":
            extract_into(ctx, value, None, f"{location} field {path}", 1)
