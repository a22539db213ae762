"""Audit records: metadata, rule ids, masked excerpts and hashes — never content."""
from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from guard.policy.model import Policy
from guard.types import Verdict

_SECRET_PARAM = re.compile(r"key|token|sig|secret|pass|auth|cred|session|code|^se$|^sp$|^sv$|^sr$", re.I)


def mask_path(path: str) -> str:
    """Path with secret-looking query values (key=, token=, SAS sig=) masked."""
    parts = urlsplit(path)
    if not parts.query:
        return path
    q = [(k, "***" if _SECRET_PARAM.search(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    return urlunsplit(("", "", parts.path, urlencode(q, safe="*/:"), ""))


@dataclass
class RequestInfo:
    host: str
    method: str
    path: str
    client: str = ""
    user: str | None = None
    user_agent: str = ""
    provider: str = ""
    category: str = ""
    body_sha256: str = ""
    body_size: int = 0
    kind: str = "http"  # http | websocket
    files: list[dict] = field(default_factory=list)


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build_ack(event_id: str, acknowledges: str, reason: str, client: str, user: str | None, policy: Policy) -> dict:
    """A user's acknowledgement of a warning (with their stated reason)."""
    return {"event_id": event_id, "ts": now_iso(), "action": "ack", "acknowledges": acknowledges,
            "reason": reason[:200], "rules": [], "host": "", "path": "/ack", "client": client, "user": user,
            "body_sha256": "", "policy": {"id": policy.id, "sha256": policy.sha256}}


def build(event_id: str, info: RequestInfo, verdict: Verdict, policy: Policy, note: str = "") -> dict:
    rules: dict[str, dict] = defaultdict(lambda: {"count": 0, "locations": [], "excerpts": []})
    for f in verdict.findings:
        r = rules[f.rule]
        r.update(action=f.action, severity=f.severity)
        r["count"] = max(r["count"], f.count)
        if len(r["locations"]) < 5:
            r["locations"].append(f.location)
            r["excerpts"].append(f.excerpt)
    rec = {
        "event_id": event_id,
        "ts": now_iso(),
        "action": verdict.action,
        "rules": [{"id": k, **v} for k, v in rules.items()],
        "provider": info.provider,
        "category": info.category,
        "kind": info.kind,
        "host": info.host,
        "method": info.method,
        "path": mask_path(info.path),
        "client": info.client,
        "user": info.user,
        "user_agent": info.user_agent[:200],
        "body_sha256": info.body_sha256,
        "body_size": info.body_size,
        "files": [{k: f.get(k) for k in ("name", "type", "size", "sha256")} for f in info.files[:50]],
        "policy": {"id": policy.id, "sha256": policy.sha256},
        "decision_ms": verdict.elapsed_ms,
    }
    if note:
        rec["note"] = note
    return rec
