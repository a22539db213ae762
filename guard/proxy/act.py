"""A verdict becomes a response and an audit record: block, warn, redact, pseudonymise, allow.

Every path that decides a request ends here (classify's access rules and oversized bodies,
inspect's verdicts, internal errors), so the audit record, the log line and the answer are
made one way. Allowed requests are written at once (group-committed); a block, warning or
redaction is durable before the response leaves, and a trail that cannot be written blocks.
Also here, the lowest place every hook can import them: the access-rule verdict and the
last-resort 403 for when the guard itself fails.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import time

from mitmproxy import ctx, http

from guard import obs
from guard.adapters.redact import redact_json
from guard.audit import record as audit_record
from guard.audit.writer import new_event_id
from guard.catalog import ACK_HOST, facts_line
from guard.coaching import Found
from guard.decide import finalize
from guard.errors import AuditError
from guard.proxy import pseudo
from guard.proxy.acks import MAX_FOUND, Acknowledgements, Warning, flagged, read_decision
from guard.proxy.body import fail
from guard.proxy.snapshot import META, Target, client_of
from guard.proxy.trail import AuditTrail
from guard.respond import is_navigation, render
from guard.types import ACTION_RANK, Finding, Verdict

log = logging.getLogger("guard")


class Act:
    def __init__(self, trail: AuditTrail, acks: Acknowledgements):
        self.trail, self.acks = trail, acks
        self.pseudo = pseudo.Pseudonyms()  # conversations' mappings: this process's memory only

    # Hooks are plain functions that return an awaitable only when they must wait (a large
    # body inspected off the loop, a durable audit write): mitmproxy awaits what it gets back,
    # and the common small allowed prompt costs no coroutine at all.
    def guarded(self, flow: http.HTTPFlow, hook):
        """hook(flow), failing closed: mitmproxy logs an addon's exception and sends the request
        on, so a bug answers 403 instead, on the inline and the awaited path alike."""
        try:
            pending = hook(flow)
        except Exception:
            pending = self.internal_error(flow)
        return None if pending is None else self._guarded(flow, pending)

    async def _guarded(self, flow: http.HTTPFlow, pending):
        try:
            await pending
        except Exception:
            again = self.internal_error(flow)
            if again is not None:
                try:
                    await again
                except Exception:
                    last_resort(flow)

    def internal_error(self, flow: http.HTTPFlow):
        """Block (and audit, if that still works) a request the guard failed on."""
        log.exception("AI guard failed on a request; blocking it")
        if flow.response is not None:
            return None
        target: Target | None = flow.metadata.get(META)
        if target is None:  # the acknowledgement endpoint
            flow.response = http.Response.make(500, "AI guard internal error\n")
            return None
        try:
            return self.act(flow, target, fail("uninspectable.corrupt", "internal error while inspecting"),
                            b"", [], [])
        except Exception:
            last_resort(flow)
            return None

    def act(self, flow, target: Target, verdict: Verdict, body: bytes, parts, files,
            body_sha256: str | None = None):
        """Record the decision; returns an awaitable when the record must be durable first."""
        policy = target.engine.policy
        verdict = finalize(policy, verdict, target.who)  # rule scopes, exemptions, monitor mode
        if target.access == "warn" and ACTION_RANK[verdict.action] < ACTION_RANK["warn"]:
            access = access_verdict(target, "warn")
            verdict = Verdict("warn", access.findings + verdict.findings, verdict.parts, verdict.chars,
                              verdict.elapsed_ms, verdict.would, verdict.exempt, verdict.ledger)
        note = ""
        new = None
        approval = None
        body_sha256 = body_sha256 or hashlib.sha256(body).hexdigest()
        if verdict.action == "warn":
            verdict, note, approval = self._acknowledged(target, policy, verdict)
        if verdict.action == "redact":
            new = redact_json(body, parts, verdict.findings)
            if new is None:
                verdict = dataclasses.replace(verdict, action="block")
                note = "redaction impossible in place: blocked"
        if verdict.action in ("allow", "log", "pseudonymise", "redact") and pseudo.wanted(verdict):
            # Values go out as their conversation's surrogates; restored in the answer (stream.py).
            new, why = self.pseudo.request(flow, target.who.user or target.who.client or client_of(flow),
                                           verdict, parts, new, policy, engine=target.engine)
            if new is None:
                verdict = dataclasses.replace(verdict, action="block")
                note = f"{why}: blocked"
        event_id = new_event_id()
        flow.metadata[META + "_event"] = event_id
        flow.metadata[META + "_action"] = verdict.action
        info = request_info(flow, target, body, files, body_sha256=body_sha256)
        if verdict.action not in ("block", "warn", "redact"):
            if policy.settings.audit_allowed or verdict.findings:
                rec = audit_record.build(event_id, info, pseudo.audit_view(verdict), policy, note)
                if approval:
                    rec["approval"] = approval
                try:
                    self.trail.write(rec, False)  # group-committed
                except AuditError:
                    verdict = fail("audit.unavailable", "the audit log cannot be written")
                    respond(flow, target, policy, verdict, event_id, None)
                    observe(event_id, info, verdict, policy)
                    return None
            if new is not None:  # pseudonymised
                flow.request.content = new
                flow.request.headers["accept-encoding"] = "identity"  # the answer is read to restore it
            inject_headers(flow, target)
            observe(event_id, info, verdict, policy)
            return None
        rec = audit_record.build(event_id, info, pseudo.audit_view(verdict), policy, note)
        return self._durable(flow, target, policy, verdict, event_id, rec, new, info)

    async def _durable(self, flow, target: Target, policy, verdict: Verdict, event_id: str, rec: dict, new,
                       info: audit_record.RequestInfo):
        try:
            await asyncio.to_thread(self.trail.write, rec, True)  # durable before the response leaves
        except AuditError:
            verdict = fail("audit.unavailable", "the audit log cannot be written")
            flow.metadata[META + "_action"] = "block"
        observe(event_id, info, verdict, policy)
        if verdict.action == "redact":
            flow.request.content = new
            if pseudo.META in flow.metadata:
                flow.request.headers["accept-encoding"] = "identity"
            inject_headers(flow, target)
            return
        ack_url = None
        if verdict.action == "warn":
            ack_url = self._issue(target, policy, verdict, event_id)
        respond(flow, target, policy, verdict, event_id, ack_url)

    def _acknowledged(self, target: Target, policy, verdict: Verdict):
        """(verdict, note, approval) for a warning: allowed when its sender acknowledged these
        flagged passages, or (rules with `ack: approval`) when an officer approved them once."""
        keys = flagged(verdict)
        who = target.who.user or target.who.client
        rules = {policy.find_rule(r) for r, _ in keys}
        if any(r is not None and r.ack == "approval" for r in rules):
            w = self.acks.submitted_for(who, keys)
            shared = self.acks.shared
            events = ([w.event_id] if w else []) + (shared.submitted(who, keys) if shared else [])
            event, decision = next(((e, d) for e in dict.fromkeys(events)
                                    if (d := read_decision(ctx.options.guard_audit_dir, e))), (None, None))
            if decision is None:
                return verdict, "", None
            self.acks.awaiting.pop(event, None)  # an approval lets the request pass once, on one node
            if shared is not None and not shared.consume(event):
                return verdict, "", None
            approval = {"event": event, "decision": decision["decision"], "by": str(decision.get("by", ""))[:80]}
            obs.event("approval_used", acknowledges=event, decision=approval["decision"], by=approval["by"],
                      user=target.who.user, client=target.who.client)  # a log line per approval (no content)
            if decision["decision"] == "approved":
                return dataclasses.replace(verdict, action="allow"), "approved by a security officer", approval
            return dataclasses.replace(verdict, action="block"), "approval rejected by a security officer", approval
        if self.acks.covered(who, keys):
            return dataclasses.replace(verdict, action="allow"), "warning acknowledged by the user", None
        return verdict, "", None

    def _issue(self, target: Target, policy, verdict: Verdict, event_id: str) -> str:
        """The link to the coaching page for this warning."""
        keys = flagged(verdict)
        found = [Found(f.rule, f.description + (pseudo.ON_PAGE if f.action == "pseudonymise" else ""), f.excerpt,
                       audit_record.mask_location(f.location, policy.settings.audit_file_names))
                 for f in verdict.findings if f.mode == "enforce"][:MAX_FOUND]
        approval = any((r := policy.find_rule(rule)) is not None and r.ack == "approval" for rule, _ in keys)
        w = Warning(event_id, target.who.user or target.who.client, keys, found, approval, target.service.name,
                    policy.settings.contact, policy.settings.why, policy.settings.ack_reasons,
                    time.monotonic() + ctx.options.guard_ack_ttl, policy_id=policy.id, policy_sha256=policy.sha256)
        return f"http://{ACK_HOST}/ack/{self.acks.issue(w, ctx.options.guard_ack_ttl)}"


def respond(flow, target: Target, policy, verdict: Verdict, event_id: str, ack_url: str | None) -> None:
    flow.metadata[META + "_action"] = verdict.action
    status, content, headers = render(target.service.shape, verdict, event_id, policy.settings.contact,
                                      is_navigation(flow.request.headers), ack_url,
                                      target.snap.catalog.answer(target.service, target.path or flow.request.path),
                                      policy.settings.why, target.service.name, policy=policy,
                                      web_app=bool(target.service.web) or None)
    flow.response = http.Response.make(status, content, headers)


def request_info(flow: http.HTTPFlow, target: Target, body: bytes, files, kind="http",
                 body_sha256: str | None = None) -> audit_record.RequestInfo:
    """The request's metadata for its audit record and log line (never its content)."""
    req = flow.request
    who = target.who
    return audit_record.RequestInfo(
        host=target.host if target.port in (80, 443) else f"{target.host}:{target.port}",
        method=req.method, path=req.path, client=who.client or client_of(flow),
        user=who.user, department=who.department, user_agent=req.headers.get("user-agent", ""),
        provider=target.service.id + ("(upload)" if target.via_origin else ""),
        category=target.service.category, body_sha256=body_sha256 or hashlib.sha256(body).hexdigest(),
        body_size=len(body), kind=kind, files=[f for f in files if f.get("name") or f["type"] != "text"],
        activity=target.activity if kind == "http" else "prompt", shape=target.shape,
    )


def observe(event_id: str, info: audit_record.RequestInfo, verdict: Verdict, policy) -> None:
    """The decision's log line and metrics: metadata only."""
    for f in verdict.findings:
        if f.rule.startswith("uninspectable.") or f.rule == "audit.unavailable":
            obs.UNINSPECTABLE.labels(f.rule.split(".", 1)[1]).inc()
        elif f.mode == "monitor":
            obs.WOULD.labels(f.rule, f.action).inc()
    obs.decision(event_id=event_id, action=verdict.action, rules=verdict.rules, provider=info.provider,
                 host=info.host, client=info.client, user=info.user, department=info.department,
                 decision_ms=verdict.elapsed_ms, body_size=info.body_size, policy=policy.sha256[:12],
                 kind=info.kind, activity=info.activity, would=verdict.would, exempt=verdict.exempt)


def access_verdict(target: Target, level: str) -> Verdict:
    """The catalog's access rule for this service and activity, as a finding."""
    svc = target.service
    what = {"prompt": "提示词 / prompts", "upload": "文件上传 / file uploads", "other": "访问 / access"}[target.activity]
    # Set by a rule on the service's facts: name the rule and show those facts with their source.
    origin = target.snap.catalog.explain_access(svc, target.activity, target.who)[1]
    why = f"（规则 {origin[5:]}；{facts_line(svc)}）" if origin.startswith("rule:") else ""
    return Verdict(level, (Finding(f"access.{target.activity}", level, "medium",
                                   f"access rule {origin[5:]}" if why else "request", f"{svc.name}: {what}",
                                   f"本单位对 {svc.name} 的{what.split(' / ')[0]}设为 {level}{why}"),))


def inject_headers(flow: http.HTTPFlow, target: Target) -> None:
    # Tenant restriction: the provider lets only the organisation's own tenant through.
    for name, value in target.service.headers:
        flow.request.headers[name] = value


def last_resort(flow: http.HTTPFlow) -> None:
    if flow.response is None:
        flow.response = http.Response.make(403, "[AI-Guard] blocked: internal error / 内部错误，已拦截\n",
                                           {"X-AI-Guard-Action": "block", "Content-Type": "text/plain; charset=utf-8"})
