"""Redaction of JSON bodies: matched spans replaced in the strings they came from."""
from __future__ import annotations

import json

from guard.extract.jsonwalk import _path
from guard.types import Finding, Part


def redact_json(body: bytes, parts: list[Part], findings: tuple[Finding, ...]) -> bytes | None:
    """The body with redact findings masked, or None when a span cannot be redacted in place
    (nested JSON, base64 files): the caller then blocks instead."""
    targets: dict[str, list[tuple[int, int, str]]] = {}
    for f in findings:
        if f.action != "redact":
            continue
        if f.span is None or f.part_index < 0:
            return None
        part = parts[f.part_index]
        targets.setdefault(part.location, []).append((*f.span, f.rule))
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    done = set()

    def walk(node, path):
        if isinstance(node, dict):
            return {k: walk(v, _path(path, k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, _path(path, i)) for i, v in enumerate(node)]
        if isinstance(node, str) and path in targets:
            done.add(path)
            out = node
            for s, e, rule in sorted(targets[path], reverse=True):
                out = out[:s] + f"[已脱敏 redacted:{rule}]" + out[e:]
            return out
        return node

    new = walk(obj, "")
    if done != set(targets):
        return None
    return json.dumps(new, ensure_ascii=False).encode("utf-8")
