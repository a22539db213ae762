"""The coaching page and its acknowledgements: http://ai-guard.invalid/ack/TOKEN (options
guard_ack_ttl, guard_ack_key, guard_ack_dir).

The link in a warning opens the coaching page (GET, served here); only its form's POST, with
the page's CSRF token, acknowledges. A rule with `ack: approval` needs an officer instead: the
POST submits the request for approval (audited `pending_approval`); `guard approve EVENT`
drops a decision file under AUDIT_DIR/approvals/, which the guard reads (and audits) when the
user retries; an approval lets the request pass once. What is stored is acks.py's.
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from mitmproxy import ctx, http
from mitmproxy.exceptions import OptionsError

from guard.audit import record as audit_record
from guard.audit.chain import load_key
from guard.audit.writer import new_event_id
from guard.catalog import ACK_HOST
from guard import obs
from guard.coaching import Advice, notice_page, page
from guard.display import Names, local_text, zone
from guard.errors import AuditError, GuardError
from guard.proxy.acks import Acknowledgements, Shared
from guard.proxy.snapshot import ACK, who_of
from guard.proxy.state import PolicyState
from guard.proxy.trail import AuditTrail

_HTML = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
         "X-Frame-Options": "DENY", "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                                              "form-action 'self'; frame-ancestors 'none'"}


class AckEndpoint:
    def __init__(self, state: PolicyState, trail: AuditTrail, acks: Acknowledgements):
        self.state, self.trail, self.acks = state, trail, acks
        # link token -> (warned event, acknowledged until (wall clock)): a used link reopened is
        # explained calmly, not shown as a block. Bounded like the store's tables.
        self.used: dict[str, tuple[str, float]] = {}

    def load(self, loader):
        loader.add_option("guard_ack_ttl", int, 600, "Seconds an acknowledged warning lets the identical request pass.")
        loader.add_option("guard_ack_key", str, "",
                          "File with a key shared by all nodes: acknowledgement links work on any node (with guard_ack_dir).")
        loader.add_option("guard_ack_dir", str, "",
                          "Directory shared by all nodes where confirmed acknowledgements are kept (with guard_ack_key).")

    def configure(self, updated):
        opts = ctx.options
        if updated & {"guard_ack_key", "guard_ack_dir"} or (self.acks.shared is None and opts.guard_ack_key):
            if bool(opts.guard_ack_key) != bool(opts.guard_ack_dir):
                raise OptionsError("guard_ack_key and guard_ack_dir go together (acknowledgements across nodes)")
            try:
                self.acks.shared = (Shared(load_key(opts.guard_ack_key), Path(opts.guard_ack_dir))
                                    if opts.guard_ack_key else None)
            except (GuardError, OSError) as e:
                raise OptionsError(f"Cannot share acknowledgements: {e}") from None

    def running(self):
        pass

    def done(self):
        pass

    def request(self, flow: http.HTTPFlow):
        if not flow.metadata.get(ACK) or flow.response is not None:
            return None
        return self._serve(flow)

    async def _serve(self, flow: http.HTTPFlow):
        req = flow.request
        parts = urlsplit(req.path)
        token = parts.path.rsplit("/", 1)[-1]
        store = self.acks
        settings = self.state.current.policy.settings
        policy = self.state.current.policy
        coach = {"names": Names(policy), "advice": Advice.of(settings)}
        w = store.find(token, settings.contact, settings.why, settings.ack_reasons)
        if token in self.used and (w is None or not w.approval):
            # 404 as before (a link is good for one use), with a page that explains instead of alarming
            flow.response = http.Response.make(404, self._used_page(token, settings.contact), _HTML)
            return
        if w is None or w.expires <= time.monotonic() or not parts.path.startswith("/ack/"):
            flow.response = http.Response.make(404, notice_page(
                "确认链接已失效 / This link has expired",
                ["这个确认链接已过期或无效，无需处理。/ This acknowledgement link has expired or is unknown: "
                 "nothing to do.",
                 "如果仍要发送，请重新提交原来的请求：会得到新的提示和新的确认链接。含密级标志或其他不得外发的内容仍会被拦截。"
                 " / To send it, retry the request: you will get a new notice and a new link."],
                settings.contact), _HTML)
            return
        form = {"action": f"http://{ACK_HOST}/ack/{token}", "csrf": w.csrf, "reasons": w.reasons,
                "approval": w.approval}
        if req.method != "POST":
            flow.response = http.Response.make(200, page("warn", w.found, w.event_id, w.contact, w.why, w.service,
                                                         None if w.submitted else form,
                                                         "已提交审批，等待保密办决定 / submitted; awaiting an officer"
                                                         if w.submitted else "", **coach), _HTML)
            return
        fields = parse_qs(req.get_text(strict=False) or "", keep_blank_values=True)
        origin = req.headers.get("origin", "")
        if ((fields.get("csrf") or [""])[0] != w.csrf
                or origin not in ("", "null", f"http://{ACK_HOST}")):
            flow.response = http.Response.make(403, page("warn", w.found, w.event_id, w.contact, w.why, w.service,
                                                         form, "确认未生效：请从本页提交 / not confirmed: submit "
                                                         "the form on this page", **coach), _HTML)
            return
        # A preset reason, one's own words, or both (the README's "one of ack_reasons or free text").
        reason = " / ".join(x for x in ((fields.get("reason") or [""])[0].strip(),
                                        (fields.get("note") or [""])[0].strip()) if x)[:200]
        if not reason:
            flow.response = http.Response.make(400, page("warn", w.found, w.event_id, w.contact, w.why, w.service,
                                                         form, error="请选择一个理由，或在“理由”一栏写下您的理由，再确认。"
                                                         " / Pick a reason or write your own, then confirm.",
                                                         **coach), _HTML)
            return
        who = who_of(flow, self.state.current)
        action = "pending_approval" if w.approval else "ack"
        rec = audit_record.build_ack(new_event_id(), w.event_id, reason, who.client, who.user,
                                     {"id": w.policy_id, "sha256": w.policy_sha256}, action=action, department=who.department)
        try:
            await asyncio.to_thread(self.trail.write, rec, True)
        except AuditError:
            flow.response = http.Response.make(503, "audit log unavailable / 审计日志不可用\n")
            return
        # One log line per acknowledgement or submission: who, which warning, which rules; no reason text.
        obs.event("acknowledged" if action == "ack" else "approval_requested", event_id=rec["event_id"],
                  acknowledges=w.event_id, user=who.user, client=who.client, department=who.department,
                  rules=sorted({r for r, _ in w.keys}))
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
            if len(self.used) >= 20_000:
                now = time.time()
                self.used = {k: v for k, v in self.used.items() if v[1] > now} or {}
            self.used[token] = (w.event_id, time.time() + ctx.options.guard_ack_ttl)
            notice = (f"已确认。请在 {ctx.options.guard_ack_ttl // 60} 分钟内重试原请求。 / Acknowledged: retry "
                      f"within {ctx.options.guard_ack_ttl // 60} minutes.")
        flow.response = http.Response.make(200, page("warn", w.found, w.event_id, w.contact, w.why, w.service,
                                                     None, notice, **coach), {**_HTML, "X-AI-Guard-Event": rec["event_id"]})

    def _used_page(self, token: str, contact: str) -> str:
        """A link opened again after it was used: what was confirmed, and what is allowed now."""
        event_id, until = self.used[token]
        ends = local_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(until)), zone(), seconds=False)
        if until > time.time():
            now = (f"在 {ends} 之前，您可以重新发送原来的内容（同一段被标出的内容不再提示）；"
                   f"其他被标出的内容会再次提示，含密级标志等不得外发的内容仍会被拦截。"
                   f" / Until {ends} you may resend the same content; anything else flagged is warned or blocked again.")
        else:
            now = (f"确认的有效期已于 {ends} 结束。如仍要发送，请重新提交原来的请求，会得到新的确认链接。"
                   f" / The acknowledgement ended at {ends}; retry the request to get a new link.")
        return notice_page("这个确认链接已经使用过 / This link was already used",
                           [f"您已确认过事件 {event_id} 的警告，无需再次确认。 / You already acknowledged the warning "
                            f"of event {event_id}: nothing more to do.", now], contact)
