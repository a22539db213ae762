"""The generic JSON walker: every string of any shape, decoded.

It is the safety net behind every provider adapter: `\\uXXXX` escapes are decoded by
the JSON parser, strings that hold JSON are parsed again, data: URLs and long
base64 strings are decoded and inspected as files.
"""
from __future__ import annotations

import base64
import binascii
import json
import re

from guard.extract.context import Context
from guard.extract.sniff import printable

_B64_RE = re.compile(r"[A-Za-z0-9+/=_\-\r\n]+")
_DATA_URL_RE = re.compile(r"data:([\w.+/-]*)(?:;[\w=.-]+)*;base64,", re.I)
FILENAME_KEYS = frozenset({"filename", "file_name", "fileName", "name_of_file"})
MIN_B64 = 64


def _path(prefix: str, key) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else str(key)


def decode_base64(s: str) -> bytes | None:
    compact = s.strip()
    if len(compact) < MIN_B64 or not _B64_RE.fullmatch(compact):
        return None
    compact = compact.replace("\n", "").replace("\r", "")
    try:
        if "-" in compact or "_" in compact:
            return base64.urlsafe_b64decode(compact + "=" * (-len(compact) % 4))
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def scan_string(ctx: Context, s: str, location: str, filename: str | None = None, depth: int = 0) -> None:
    """Add one string from a request: as text, as embedded JSON, or as an encoded file."""
    from guard.extract import extract_into  # circular: files may hold JSON and vice versa

    ctx.check_time()
    m = _DATA_URL_RE.match(s)
    if m:
        data = decode_base64(s[m.end():]) if len(s) - m.end() >= 4 else None
        if data is None:
            ctx.problem("corrupt", location, "data: URL with undecodable base64")
            return
        extract_into(ctx, data, filename, location, depth + 1)
        return
    if len(s) >= MIN_B64 and " " not in s[:MIN_B64]:
        data = decode_base64(s)
        if data is not None:
            from guard.extract.sniff import sniff

            kind = sniff(data)
            if kind != "text":
                extract_into(ctx, data, filename, location, depth + 1)
                return
            try:
                decoded = data.decode("utf-8")
            except UnicodeDecodeError:
                decoded = None
            if decoded and printable(decoded):
                ctx.add(decoded, f"{location}(base64)", "body")
    stripped = s.lstrip()
    if stripped[:1] in ("{", "[") and depth < ctx.limits.max_depth:
        try:
            inner = json.loads(s)
        except ValueError:
            inner = None
        if isinstance(inner, (dict, list)):
            walk_json(ctx, inner, location, depth + 1)
            return
    ctx.add(s, location, "body")


def walk_json(ctx: Context, obj, prefix: str = "", depth: int = 0) -> None:
    # Iterative: hostile bodies nest thousands deep and must not exhaust the stack.
    stack = [(prefix, obj, None)]
    while stack:
        path, node, fname = stack.pop()
        if isinstance(node, dict):
            fname_here = next((node[k] for k in FILENAME_KEYS if isinstance(node.get(k), str)), fname)
            for k in reversed(list(node)):
                v = node[k]
                if isinstance(v, str) and k in FILENAME_KEYS:
                    ctx.add(v, _path(path, k), "filename")
                    continue
                stack.append((_path(path, k), v, fname_here))
        elif isinstance(node, list):
            for i in range(len(node) - 1, -1, -1):
                stack.append((_path(path, i), node[i], fname))
        elif isinstance(node, str):
            scan_string(ctx, node, path, fname, depth)
