"""application/x-www-form-urlencoded (Gemini web `f.req`: JSON holding JSON strings)."""
from __future__ import annotations

from urllib.parse import parse_qsl

from guard.extract import Context
from guard.extract.jsonwalk import scan_string


def scan_form(ctx: Context, body: bytes) -> None:
    text = body.decode("utf-8", errors="replace")
    for key, value in parse_qsl(text, keep_blank_values=True):
        if value:
            scan_string(ctx, value, key)
