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
import base64
import hashlib
import hmac
import json
import os
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


class Shared:
    """Acknowledgements across nodes (options guard_ack_key, guard_ack_dir): the link token is
    stateless (the warning it stands for, its expiry and an HMAC with the shared key), so any
    node serves its page and takes its confirmation; a confirmation is a small signed file in the
    shared directory, read by any node that warns the same sender again. Replay is bounded by
    the expiry."""

    def __init__(self, key: bytes, directory: Path):
        self.key, self.dir = key, directory
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _sig(self, data: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self.key, data, hashlib.sha256).digest()[:18]).decode()

    def encode(self, w: Warning, ttl: float) -> str:
        payload = {"e": w.event_id, "w": w.who, "k": sorted(w.keys), "x": int(time.time() + ttl), "a": w.approval,
                   "s": w.service, "f": [[f.rule, f.description, f.excerpt, f.location] for f in w.found[:8]],
                   "p": [w.policy_id, w.policy_sha256]}
        data = base64.urlsafe_b64encode(json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
                                        .encode()).decode().rstrip("=")
        return f"s.{data}.{self._sig(data.encode())}"

    def decode(self, token: str, contact: str, why: str, reasons: tuple[str, ...]) -> Warning | None:
        try:
            _, data, sig = token.split(".")
            if not hmac.compare_digest(sig, self._sig(data.encode())):
                return None
            p = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
        except (ValueError, TypeError):
            return None
        left = p["x"] - time.time()
        if left <= 0:
            return None
        return Warning(p["e"], p["w"], frozenset(tuple(k) for k in p["k"]), [Found(*f) for f in p["f"]], p["a"],
                       p["s"], contact, why, reasons, time.monotonic() + left, csrf=self.csrf(token),
                       policy_id=p["p"][0], policy_sha256=p["p"][1])

    def csrf(self, token: str) -> str:
        """The confirm form's token, the same on every node."""
        return self._sig(b"csrf:" + token.encode())

    def _folder(self, who: str) -> Path:
        return self.dir / hashlib.sha256(who.encode()).hexdigest()[:32]

    def record(self, w: Warning, ttl: float) -> None:
        self._signed(w.who, w.event_id, {"k": sorted(w.keys), "x": int(time.time() + ttl)})

    def submit(self, w: Warning, ttl: float) -> None:
        """A warning submitted for approval, visible to every node (the retry may reach any)."""
        self._signed(w.who, f"{w.event_id}.pending", {"k": sorted(w.keys), "x": int(time.time() + ttl),
                                                      "e": w.event_id})

    def submitted(self, who: str, keys: frozenset) -> list[str]:
        """Event ids of submissions by `who` that cover these flagged passages."""
        return [e["e"] for e in self._entries(who, ".pending.json") if keys and keys <= {tuple(k) for k in e["k"]}]

    def consume(self, event_id: str) -> bool:
        """True for the first node to use an approval (an approval lets a request pass once)."""
        folder = self.dir / "consumed"
        folder.mkdir(exist_ok=True, mode=0o700)
        try:
            os.close(os.open(folder / hashlib.sha256(event_id.encode()).hexdigest()[:32],
                             os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            return True
        except FileExistsError:
            return False

    def _signed(self, who: str, name: str, entry: dict) -> None:
        body = json.dumps(entry, separators=(",", ":"))
        folder = self._folder(who)
        folder.mkdir(exist_ok=True, mode=0o700)
        tmp = folder / f".{name}.tmp"
        tmp.write_text(json.dumps({"entry": body, "sig": self._sig(body.encode())}), encoding="utf-8")
        os.replace(tmp, folder / f"{name}.json")

    def _entries(self, who: str, suffix: str) -> list[dict]:
        try:
            files = [f for f in self._folder(who).iterdir() if f.name.endswith(suffix)]
        except OSError:
            return []
        now, out = time.time(), []
        for f in files:
            try:
                d = json.loads(f.read_text(encoding="utf-8"))
                if not hmac.compare_digest(d["sig"], self._sig(d["entry"].encode())):
                    continue
                entry = json.loads(d["entry"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if entry["x"] < now:
                f.unlink(missing_ok=True)  # expired: tidy up
                continue
            out.append(entry)
        return out

    def covered(self, who: str, keys: frozenset) -> bool:
        acked = {tuple(k) for e in self._entries(who, ".json") if "e" not in e for k in e["k"]}
        return bool(keys) and keys <= acked


class Acknowledgements:
    def __init__(self):
        self.warnings: dict[str, Warning] = {}             # link token -> warning
        self.acked: dict[tuple[str, tuple[str, str]], float] = {}  # (who, key) -> expiry
        self.awaiting: dict[str, Warning] = {}             # event id -> warning submitted for approval
        self.shared: Shared | None = None

    def covered(self, who: str, keys: frozenset) -> bool:
        now = time.monotonic()
        if bool(keys) and all(self.acked.get((who, k), 0) > now for k in keys):
            return True
        return self.shared is not None and self.shared.covered(who, keys)

    def issue(self, w: Warning, ttl: float) -> str:
        self._bound(self.warnings)
        if self.shared is not None:
            token = self.shared.encode(w, ttl)
            w.csrf = self.shared.csrf(token)
        else:
            token = secrets.token_urlsafe(16)
        self.warnings[token] = w
        return token

    def find(self, token: str, contact: str, why: str, reasons) -> Warning | None:
        w = self.warnings.get(token)
        if w is None and self.shared is not None and token.startswith("s."):
            w = self.shared.decode(token, contact, why, tuple(reasons))  # issued by another node
            if w is not None:
                self.warnings[token] = w
        return w

    def acknowledge(self, w: Warning, ttl: float) -> None:
        self._bound(self.acked)
        until = time.monotonic() + ttl
        for k in w.keys:
            self.acked[(w.who, k)] = until
        if self.shared is not None:
            self.shared.record(w, ttl)

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
    """An officer's decision on a submitted warning (written by `guard approve` beside each
    node's trail), if any."""
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
        settings = self.guard._policy().settings
        w = store.find(token, settings.contact, settings.why, settings.ack_reasons)
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
            if store.shared is not None:
                store.shared.submit(w, ctx.options.guard_ack_ttl)
            notice = (f"已提交审批（事件 {w.event_id}）。保密办批准后重试原请求即可。 / Submitted for approval; "
                      f"retry once an officer approved event {w.event_id}.")
        else:
            store.acknowledge(w, ctx.options.guard_ack_ttl)
            store.warnings.pop(token, None)
            notice = (f"已确认。请在 {ctx.options.guard_ack_ttl // 60} 分钟内重试原请求。 / Acknowledged: retry "
                      f"within {ctx.options.guard_ack_ttl // 60} minutes.")
        flow.response = http.Response.make(200, page("warn", w.found, w.event_id, w.contact, w.why, w.service,
                                                     None, notice), {**_HTML, "X-AI-Guard-Event": rec["event_id"]})
