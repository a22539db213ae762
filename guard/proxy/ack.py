"""Acknowledging a warning: what was flagged, not the bytes.

An acknowledgement covers one sender (proxy-auth user, else client address), the rule ids and
the flagged passages (decide.span_digest) of the warning, for `guard_ack_ttl` seconds. A web
app's retry of the same prompt (new message ids, timestamps) carries the same passages and
passes; another passage is warned again; anything block-worthy is blocked regardless.

The link in a warning opens the coaching page (GET, served here); only its form's POST, with
the page's CSRF token, acknowledges. A rule with `ack: approval` needs an officer instead: the
POST submits the request for approval (audited `pending_approval`); `guard approve EVENT`
drops a decision file under AUDIT_DIR/approvals/, which the guard reads (and audits) when the
user retries; an approval lets the request pass once.
"""
from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from mitmproxy import ctx, http

from guard.audit import record as audit_record
from guard.audit.writer import new_event_id
from guard.catalog import ACK_HOST
from guard.coaching import Found, page
from guard.errors import AuditError
from guard.types import Verdict

MAX_ENTRIES = 20_000  # per table; past it the oldest go (a flood of warnings cannot grow memory)
_HTML = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
         "X-Frame-Options": "DENY", "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                                              "form-action 'self'; frame-ancestors 'none'"}


def flagged(verdict: Verdict) -> frozenset[tuple[str, str]]:
    """(rule, passage digest) of what made the request a warning."""
    return frozenset((f.rule, f.digest) for f in verdict.findings if f.action == "warn" and f.mode == "enforce")


@dataclass
class Warning:
    event_id: str
    who: str
    keys: frozenset
    found: list[Found]
    approval: bool
    service: str
    contact: str
    why: str
    reasons: tuple[str, ...]
    expires: float
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    submitted: bool = False   # submitted for approval; waiting for an officer
    policy_id: str = ""
    policy_sha256: str = ""


class Acknowledgements:
    def __init__(self):
        self.warnings: dict[str, Warning] = {}             # link token -> warning
        self.acked: dict[tuple[str, tuple[str, str]], float] = {}  # (who, key) -> expiry
        self.awaiting: dict[str, Warning] = {}             # event id -> warning submitted for approval

    def covered(self, who: str, keys: frozenset) -> bool:
        now = time.monotonic()
        return bool(keys) and all(self.acked.get((who, k), 0) > now for k in keys)

    def issue(self, w: Warning) -> str:
        self._bound(self.warnings)
        token = secrets.token_urlsafe(16)
        self.warnings[token] = w
        return token

    def acknowledge(self, w: Warning, ttl: float) -> None:
        self._bound(self.acked)
        until = time.monotonic() + ttl
        for k in w.keys:
            self.acked[(w.who, k)] = until

    def submitted_for(self, who: str, keys: frozenset) -> Warning | None:
        """The submitted warning (awaiting an officer) that covers these flagged passages."""
        now = time.monotonic()
        for w in self.awaiting.values():
            if w.who == who and keys and keys <= w.keys and w.expires > now:
                return w
        return None

    def _bound(self, d: dict) -> None:
        if len(d) >= MAX_ENTRIES:
            now = time.monotonic()
            for k in [k for k, v in d.items() if (v.expires if isinstance(v, Warning) else v) < now]:
                del d[k]
            while len(d) >= MAX_ENTRIES:
                del d[next(iter(d))]  # insertion order: the oldest first


def read_decision(audit_dir: str, event_id: str) -> dict | None:
    """An officer's decision on a submitted warning (written by `guard approve`), if any."""
    f = Path(audit_dir) / "approvals" / f"{event_id}.json"
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("decision") in ("approved", "rejected") else None


class AckEndpoint:
    """Serves http://ai-guard.invalid/ack/TOKEN: the coaching page (GET) and its form (POST)."""

    def __init__(self, guard):
        self.guard = guard  # the GuardAddon: its acknowledgement store and audit writer

    def request(self, flow: http.HTTPFlow):
        if not flow.metadata.get("ai_guard_ack") or flow.response is not None:
            return None
        return self._serve(flow)

    async def _serve(self, flow: http.HTTPFlow):
        req = flow.request
        parts = urlsplit(req.path)
        token = parts.path.rsplit("/", 1)[-1]
        store: Acknowledgements = self.guard.acks
        w = store.warnings.get(token)
        if w is None or w.expires < time.monotonic() or not parts.path.startswith("/ack/"):
            flow.response = http.Response.make(
                404, page("block", [], "-", self.guard.contact(), "", notice="确认链接无效或已过期 / unknown or "
                          "expired acknowledgement link"), _HTML)
            return
        form = {"action": f"http://{ACK_HOST}/ack/{token}", "csrf": w.csrf, "reasons": w.reasons,
                "approval": w.approval}
        if req.method != "POST":
            flow.response = http.Response.make(200, page("warn", w.found, w.event_id, w.contact, w.why, w.service,
                                                         None if w.submitted else form,
                                                         "已提交审批，等待保密办决定 / submitted; awaiting an officer"
                                                         if w.submitted else ""), _HTML)
            return
        fields = parse_qs(req.get_text(strict=False) or "", keep_blank_values=True)
        origin = req.headers.get("origin", "")
        if ((fields.get("csrf") or [""])[0] != w.csrf
                or origin not in ("", "null", f"http://{ACK_HOST}")):
            flow.response = http.Response.make(403, page("warn", w.found, w.event_id, w.contact, w.why, w.service,
                                                         form, "确认未生效：请从本页提交 / not confirmed: submit "
                                                         "the form on this page"), _HTML)
            return
        reason = " / ".join(x for x in ((fields.get("reason") or [""])[0].strip(),
                                        (fields.get("note") or [""])[0].strip()) if x)[:200]
        who = self.guard.who_for_ack(flow)
        action = "pending_approval" if w.approval else "ack"
        rec = audit_record.build_ack(new_event_id(), w.event_id, reason, who.client, who.user,
                                     self.guard.policy_ref(w), action=action, department=who.department)
        try:
            await asyncio.to_thread(self.guard.write_audit, rec, True)
        except AuditError:
            flow.response = http.Response.make(503, "audit log unavailable / 审计日志不可用\n")
            return
        if w.approval:
            w.submitted = True
            store._bound(store.awaiting)
            store.awaiting[w.event_id] = w
            notice = (f"已提交审批（事件 {w.event_id}）。保密办批准后重试原请求即可。 / Submitted for approval; "
                      f"retry once an officer approved event {w.event_id}.")
        else:
            store.acknowledge(w, ctx.options.guard_ack_ttl)
            store.warnings.pop(token, None)
            notice = (f"已确认。请在 {ctx.options.guard_ack_ttl // 60} 分钟内重试原请求。 / Acknowledged: retry "
                      f"within {ctx.options.guard_ack_ttl // 60} minutes.")
        flow.response = http.Response.make(200, page("warn", w.found, w.event_id, w.contact, w.why, w.service,
                                                     None, notice), {**_HTML, "X-AI-Guard-Event": rec["event_id"]})
