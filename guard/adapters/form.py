"""application/x-www-form-urlencoded (Gemini web `f.req`: JSON holding JSON strings).

Keys are content as much as values (`机密★5年=` has only a key), and `curl -d '{...}'` sends
JSON under this media type: a body that is JSON is read as JSON."""
from __future__ import annotations

from urllib.parse import parse_qsl

from guard.extract import Context
from guard.extract.jsonwalk import scan_string


def scan_form(ctx: Context, body: bytes) -> None:
    from guard.adapters import scan_json_body

    if body.lstrip()[:1] in (b"{", b"[") and scan_json_body(ctx, body):
        return
    text = body.decode("utf-8", errors="replace")
    keys = []
    for key, value in parse_qsl(text, keep_blank_values=True):
        if key:
            keys.append(key)
        if value:
            scan_string(ctx, value, key)
    if keys:
        ctx.add("\n".join(keys), "(form keys)", "body")
