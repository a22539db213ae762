"""The mitmproxy addon: classify in requestheaders, inspect in request, act, audit.

Fail closed everywhere: a body that cannot be read, an extraction error, a decision
past its time budget or an audit log that cannot be written all block the request.
The configuration in force (policies, catalog, identity, workers) is PolicyState's; where
logs and metrics go is Telemetry's; the acknowledgement page is AckEndpoint's; shipping the
trail is AuditShipping's. They are parts of this addon, which passes the lifecycle hooks on
to them in a fixed order (state first) rather than registering them as child addons:
mitmproxy offers every event (~25 per request) to every addon, and four more addons cost
~3% of throughput for hooks they do not have.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from mitmproxy import ctx, http
from mitmproxy.exceptions import CommandError, OptionsError

from guard import obs
from guard.adapters.encoding import decode_content
from guard.adapters.redact import redact_json
from guard.audit import record as audit_record
from guard.audit.chain import load_key
from guard.audit.writer import AuditWriter, new_event_id
from guard.catalog import ACK_HOST, UNKNOWN, Service
from guard.decide import finalize
from guard.scanner import Engine
from guard.errors import AuditError, Deferred, ExtractionError, GuardError
from guard.extract import Context, extract_into
from guard.extract.jsonwalk import scan_string
from guard.identity import Who
from guard.proxy.ack import AckEndpoint, Acknowledgements, Shared, Warning, flagged, read_decision
from guard.coaching import Found
from guard.proxy.inspect import (HEADERS, PLAIN_HEADER_PREFIXES, PLAIN_HEADERS, Request,
                                 fail as _fail, inspect)
from guard.proxy.shadow import api_shape, error_shape
from guard.proxy.shipping import AuditShipping
from guard.proxy.state import PolicyState, Snapshot
from guard.proxy.telemetry import Telemetry
from guard.proxy.uploads import OVERLAP, Step, UploadSessions, recognize
from guard.respond import is_navigation, render
from guard.types import ACTION_RANK, Finding, Verdict

log = logging.getLogger("guard")
INLINE_MAX = 64 * 1024  # bodies above this are inspected off the event loop
META = "ai_guard"
UPLOAD_HEADERS = ("content-range", "x-goog-upload-command", "x-goog-upload-offset")
_UPLOAD_QUERY = re.compile(r"[?&](uploadId|partNumber|comp|upload_id)=", re.I)
WHO = META + "_who"


@dataclass
class Target:
    """An AI request: where it goes, who sends it, what it does there, and the configuration
    it is decided under (taken when its headers arrived; a reload meanwhile does not change it)."""
    service: Service
    host: str
    port: int
    via_origin: bool
    snap: Snapshot
    who: Who
    activity: str = "prompt"
    access: str = "allow"
    shape: str = ""          # outside the catalog: the LLM API shape that made it AI traffic
    path: str = ""           # as the client sent it (before map_remote)

    @property
    def engine(self) -> Engine:
        return self.snap.engines[self.service.category]


def who_of(flow: http.HTTPFlow, snap: Snapshot) -> Who:
    who = flow.metadata.get(WHO)
    if who is None:
        auth = flow.metadata.get("proxyauth")
        who = snap.identity.resolve(_client(flow), auth[0] if auth else None)
        flow.metadata[WHO] = who
    return who


class GuardAddon:
    def __init__(self):
        self.state = PolicyState()
        self.acks = Acknowledgements()
        self.ack_endpoint = AckEndpoint(self)
        self.parts = (self.state, Telemetry(), AuditShipping())  # lifecycle hooks passed on, in this order
        self.audit: AuditWriter | None = None
        self._syncer: asyncio.Task | None = None
        self._sweeper: asyncio.Task | None = None
        self.uploads: UploadSessions | None = None
        self._awaiting: dict[str, tuple[http.HTTPFlow, float]] = {}  # flows whose body is still arriving

    @property
    def catalog(self):
        return self.state.current.catalog if self.state.current else None

    # -- options ---------------------------------------------------------------
    def load(self, loader):
        for part in self.parts:
            part.load(loader)
        loader.add_option("guard_audit_dir", str, "var/audit", "Directory of the AI guard's hash-chained audit log.")
        loader.add_option("guard_audit_key", str, "", "File holding an HMAC key for the audit chain (optional).")
        loader.add_option("guard_audit_group", str, "",
                          "Group that may read the audit trail (dir 0750, files 0640); empty: owner only (0700/0600).")
        loader.add_option("guard_node", str, "",
                          "This node's name in every audit record and log line (default: the host name).")
        loader.add_option("guard_ack_ttl", int, 600, "Seconds an acknowledged warning lets the identical request pass.")
        loader.add_option("guard_ack_key", str, "",
                          "File with a key shared by all nodes: acknowledgement links work on any node (with guard_ack_dir).")
        loader.add_option("guard_ack_dir", str, "",
                          "Directory shared by all nodes where confirmed acknowledgements are kept (with guard_ack_key).")
        loader.add_option("guard_body_timeout", int, 60,
                          "Seconds an AI request's body may take to arrive; a body still trickling in then is cut off.")

    def configure(self, updated):
        for part in self.parts:
            part.configure(updated)
        opts = ctx.options
        if self.audit is None or updated & {"guard_audit_dir", "guard_audit_key", "guard_audit_group", "guard_node"}:
            try:
                writer = AuditWriter(opts.guard_audit_dir, load_key(opts.guard_audit_key or None),
                                     opts.guard_audit_group or None, opts.guard_node or socket.gethostname())
            except GuardError as e:
                raise OptionsError(f"Cannot open AI guard audit log: {e}") from None
            if self.audit is not None:
                self.audit.close()
            self.audit = writer
        if self.uploads is None:
            # Sized by the largest max_bytes a policy may set; a reload keeps the sessions.
            self.uploads = UploadSessions(1 << 30)
        if opts.guard_body_timeout <= 0:
            raise OptionsError(f"Cannot parse guard_body_timeout: {opts.guard_body_timeout} (seconds, above 0)")
        if updated & {"guard_ack_key", "guard_ack_dir"} or (self.acks.shared is None and opts.guard_ack_key):
            if bool(opts.guard_ack_key) != bool(opts.guard_ack_dir):
                raise OptionsError("guard_ack_key and guard_ack_dir go together (acknowledgements across nodes)")
            try:
                self.acks.shared = (Shared(load_key(opts.guard_ack_key), Path(opts.guard_ack_dir))
                                    if opts.guard_ack_key else None)
            except (GuardError, OSError) as e:
                raise OptionsError(f"Cannot share acknowledgements: {e}") from None

    def running(self):
        if self._syncer is None:
            self._syncer = asyncio.get_running_loop().create_task(self._group_commit())
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_bodies())
        for part in self.parts:
            part.running()

    async def _group_commit(self):
        # Allowed requests are written at once and fsynced here, a batch at a time.
        while True:
            await asyncio.sleep(0.2)
            try:
                await asyncio.to_thread(self.audit.sync)
            except AuditError as e:
                obs.AUDIT_FAILURES.inc()
                obs.event("audit_failed", level="error", error=str(e), during="sync")

    async def _sweep_bodies(self):
        # One sweep a second, not a timer per request: the common small body is complete long
        # before its deadline and costs a dict insert and delete.
        while True:
            await asyncio.sleep(1)
            now = time.monotonic()
            for fid, (flow, deadline) in list(self._awaiting.items()):
                if flow.request.timestamp_end or not flow.live:
                    self._awaiting.pop(fid, None)
                elif now > deadline:
                    self._awaiting.pop(fid, None)
                    _body_deadline(flow)

    def done(self):
        for part in reversed(self.parts):
            part.done()
        if self._syncer:
            self._syncer.cancel()
        if self._sweeper:
            self._sweeper.cancel()
        if self.uploads is not None:
            self.uploads.close()
        if self.audit:
            self.audit.close()

    def _policy(self):
        return self.state.current.policy

    # -- classify --------------------------------------------------------------
    def requestheaders(self, flow: http.HTTPFlow):
        try:
            return self._requestheaders(flow)
        except Exception:  # unclassified would mean uninspected: block instead
            log.exception("AI guard failed to classify a request; blocking it")
            _last_resort(flow)
            return None

    def _requestheaders(self, flow: http.HTTPFlow):
        if flow.response or flow.error or not flow.live:
            return None
        req = flow.request
        snap = self.state.current
        catalog = snap.catalog
        # The destination the client asked for, by every name it gave: the URL/CONNECT target,
        # the Host header (or :authority) and the TLS SNI. map_remote and friends rewrite later,
        # in `request`. Any AI name makes it an AI request (a provider's IP with SNI
        # api.openai.com; a tunnel to some other name whose inner Host is a catalog host).
        names = _names(flow)
        if ACK_HOST in names:
            flow.metadata[META + "_ack"] = True
            return None
        host, svc = names[0], None
        path = req.path
        for name in names:
            svc = catalog.service(name, path)
            if svc is not None:
                host = name
                break
        via_origin = False
        if svc is None and catalog.is_storage(host):
            svc = catalog.web_app_for(req.headers.get("origin") or req.headers.get("referer"))
            via_origin = svc is not None
        if svc is None:
            if catalog.discover and req.method in ("POST", "PUT", "PATCH"):
                # The body decides (shadow AI); the destination is noted now, before map_remote.
                flow.metadata[META + "_maybe"] = (host, req.port, snap)
            return None
        who = who_of(flow, snap)
        activity = catalog.activity(svc, req.method, path, req.headers.get("content-type", ""), via_origin)
        target = Target(svc, host, req.port, via_origin, snap, who, activity, catalog.access(svc, activity, who),
                        path=path)
        flow.metadata[META] = target
        req.stream = False  # an AI request is always inspected whole, never streamed past us
        if target.access == "block":
            # Refused as a whole: the body is never read (nor buffered).
            return self._act(flow, target, _access_verdict(target, "block"), b"", [], [])
        if not req.timestamp_end:  # the body is still to come: it gets a deadline (swept by _sweep_bodies)
            self._awaiting[flow.id] = (flow, time.monotonic() + ctx.options.guard_body_timeout)
        limit = target.engine.policy.limits.max_bytes
        length = req.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            # Answer now: mitmproxy then never buffers the oversized body.
            verdict = _fail("uninspectable.limit", f"body of {length} bytes exceeds {limit}")
            return self._act(flow, target, verdict, b"", [], [])
        return None

    # -- inspect and act ---------------------------------------------------------
    # Hooks are plain functions that return an awaitable only when they must wait (a
    # large body inspected off the loop, a durable audit write): mitmproxy awaits what
    # it gets back, and the common small allowed prompt costs no coroutine at all.
    def request(self, flow: http.HTTPFlow):
        # mitmproxy logs an addon's exception and sends the request on: a bug here must
        # answer 403 instead (fail closed), on the inline and the awaited path alike.
        try:
            pending = self._request(flow)
        except Exception:
            pending = self._internal_error(flow)
        return None if pending is None else self._guarded(flow, pending)

    async def _guarded(self, flow: http.HTTPFlow, pending):
        try:
            await pending
        except Exception:
            again = self._internal_error(flow)
            if again is not None:
                try:
                    await again
                except Exception:
                    _last_resort(flow)

    def _internal_error(self, flow: http.HTTPFlow):
        """Block (and audit, if that still works) a request the guard failed on."""
        log.exception("AI guard failed on a request; blocking it")
        if flow.response is not None:
            return None
        target: Target | None = flow.metadata.get(META)
        if target is None:  # the acknowledgement endpoint
            flow.response = http.Response.make(500, "AI guard internal error\n")
            return None
        try:
            return self._act(flow, target, _fail("uninspectable.corrupt", "internal error while inspecting"),
                             b"", [], [])
        except Exception:
            _last_resort(flow)
            return None

    def _request(self, flow: http.HTTPFlow):
        self._awaiting.pop(flow.id, None)
        if flow.response or flow.error or not flow.live:
            return None
        if flow.metadata.get(META + "_ack"):
            return self.ack_endpoint.request(flow)
        target: Target | None = flow.metadata.get(META)
        if target is None:
            maybe = flow.metadata.get(META + "_maybe")
            if maybe is None:
                return None
            target = self._shadow(flow, *maybe)
            if target is None:
                return None
            if target.access == "block":
                return self._act(flow, target, _access_verdict(target, "block"), b"", [], [])
        engine = target.engine
        started = time.perf_counter()
        req = flow.request
        # As sent: Content-Encoding is undone by inspect() within the policy's limits (every
        # gzip member, every zstd frame), in a worker when it would grow large.
        body = req.raw_content or b""
        encoding = ""
        # One pass over the raw header fields (Headers.get costs ~2 us a lookup).
        wanted = {}
        other = []
        upload_hints = {}
        for k, v in req.headers.fields:
            name = k.decode("latin-1").lower()
            if name == "content-encoding":
                encoding = f"{encoding}, {v.decode('latin-1')}" if encoding else v.decode("latin-1").strip()
            elif name in HEADERS:
                if name not in wanted:
                    wanted[name] = v.decode("utf-8", "surrogateescape")
            elif name in UPLOAD_HEADERS:
                upload_hints[name] = v.decode("latin-1")
            if name not in HEADERS and name not in PLAIN_HEADERS and not name.startswith(PLAIN_HEADER_PREFIXES):
                other.append((name, v.decode("utf-8", "replace")))  # X-Prompt, X-File-Name...: content too
        what = Request(body, wanted, req.path,
                       tuple(req.query.items(multi=True)) if "?" in req.path else (), encoding, tuple(other))
        if upload_hints or "/uploads/" in req.path or "?" in req.path and _UPLOAD_QUERY.search(req.path):
            step = recognize(req.method, target.host, req.path, {k.lower(): v for k, v in what.query},
                             {**wanted, **upload_hints}, body)
            if step is not None:
                return self._upload(flow, target, what, step, started)
        if len(body) > INLINE_MAX:
            return self._request_off_loop(flow, target, what, started)
        try:
            verdict, parts, files = inspect(engine, what, started, allow_slow=False)
        except Deferred:  # a small image or PDF: OCR and PDF readers run in a worker
            return self._request_off_loop(flow, target, what, started)
        return self._act(flow, target, verdict, body, parts, files)

    def _shadow(self, flow: http.HTTPFlow, host: str, port: int, snap: Snapshot) -> Target | None:
        """A host outside the catalog: AI traffic when the body has an LLM call's shape."""
        req = flow.request
        ctype = req.headers.get("content-type", "").lower()
        if ctype and "json" not in ctype and not ctype.startswith("text/"):
            return None  # forms, uploads, media: not an LLM call's body, and not decoded to find out
        body = req.raw_content or b""
        encoding = req.headers.get("content-encoding", "")
        if encoding and body:
            try:
                body = decode_content(body, encoding, snap.policy.limits, INLINE_MAX * 4)
            except (ExtractionError, Deferred):
                return None  # not something a chat client sends: left alone
        shape = api_shape(body)
        if shape is None:
            return None
        svc = UNKNOWN if error_shape(shape) == "openai" else Service("unknown", UNKNOWN.name, error_shape(shape))
        who = who_of(flow, snap)
        target = Target(svc, host, port, False, snap, who, "prompt",
                        snap.catalog.access(UNKNOWN, "prompt", who), shape)
        flow.metadata[META] = target
        return target

    def _upload(self, flow, target: Target, what: Request, step: Step, started: float):
        """A request that is part of a multi-request upload: a part is read as a fragment (text
        only, with the end of the part before it); the request that completes the upload is
        decided on the whole file."""
        who = f"{_client(flow)}|{(flow.metadata.get('proxyauth') or ('',))[0]}"
        engine = target.engine
        limits = engine.policy.limits
        self.uploads.max_bytes = limits.max_bytes
        try:
            data = step.data
            if data and what.encoding:
                data = decode_content(data, what.encoding, limits)
            if not step.final:
                session = self.uploads.add(who, Step(step.key, step.order, False, data))
                fragment = session.tail + (data or b"")
                session.tail = fragment[-OVERLAP * 4:]
                part = Request(fragment, {}, what.path, fragment=True)
                if len(fragment) > INLINE_MAX:
                    return self._request_off_loop(flow, target, part, started)
                try:
                    verdict, parts, files = inspect(engine, part, started, allow_slow=False)
                except Deferred:
                    return self._request_off_loop(flow, target, part, started)
                return self._act(flow, target, verdict, what.body, parts, files)
            whole = self.uploads.assemble(who, Step(step.key, step.order, True, data))
        except ExtractionError as e:
            self.uploads.discard(who, step)
            return self._act(flow, target, _fail(f"uninspectable.{e.reason}", e.detail), what.body, [], [])
        if not whole:
            # Its parts never passed through the guard (or expired): the file was not inspected.
            verdict = _fail("uninspectable.unsupported", "upload completed without its parts passing through the guard")
            return self._act(flow, target, verdict, what.body, [], [])
        assembled = Request(whole, {"content-type": "application/octet-stream"}, what.path)
        return self._request_off_loop(flow, target, assembled, started)

    async def _request_off_loop(self, flow, target: Target, what: Request, started: float):
        engine = target.engine
        budget = engine.policy.limits.max_seconds + 5
        digest = None
        pool = target.snap.pool
        if pool is not None:
            verdict, parts, files, digest = await pool.inspect(target.service.category, what, started, budget)
        else:
            try:
                verdict, parts, files = await asyncio.wait_for(
                    asyncio.to_thread(inspect, engine, what, started), timeout=budget)
            except TimeoutError:
                verdict, parts, files = _fail("uninspectable.limit", "decision took longer than the time budget"), [], []
        pending = self._act(flow, target, verdict, what.body, parts, files, digest)
        if pending is not None:
            await pending

    def _info(self, flow: http.HTTPFlow, target: Target, body: bytes, files, kind="http",
              body_sha256: str | None = None) -> audit_record.RequestInfo:
        req = flow.request
        who = target.who
        return audit_record.RequestInfo(
            host=target.host if target.port in (80, 443) else f"{target.host}:{target.port}",
            method=req.method, path=req.path, client=who.client or _client(flow),
            user=who.user, department=who.department, user_agent=req.headers.get("user-agent", ""),
            provider=target.service.id + ("(upload)" if target.via_origin else ""),
            category=target.service.category, body_sha256=body_sha256 or hashlib.sha256(body).hexdigest(),
            body_size=len(body), kind=kind, files=[f for f in files if f.get("name") or f["type"] != "text"],
            activity=target.activity if kind == "http" else "prompt", shape=target.shape,
        )

    def _act(self, flow, target: Target, verdict: Verdict, body: bytes, parts, files,
             body_sha256: str | None = None):
        """Record the decision; returns an awaitable when the record must be durable first."""
        policy = target.engine.policy
        verdict = finalize(policy, verdict, target.who)  # rule scopes, exemptions, monitor mode
        if target.access == "warn" and ACTION_RANK[verdict.action] < ACTION_RANK["warn"]:
            access = _access_verdict(target, "warn")
            verdict = Verdict("warn", access.findings + verdict.findings, verdict.parts, verdict.chars,
                              verdict.elapsed_ms, verdict.would, verdict.exempt)
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
        event_id = new_event_id()
        flow.metadata[META + "_event"] = event_id
        flow.metadata[META + "_action"] = verdict.action
        info = self._info(flow, target, body, files, body_sha256=body_sha256)
        if verdict.action not in ("block", "warn", "redact"):
            if policy.settings.audit_allowed or verdict.findings:
                rec = audit_record.build(event_id, info, verdict, policy, note)
                if approval:
                    rec["approval"] = approval
                try:
                    self._write(rec, False)  # group-committed
                except AuditError:
                    verdict = _fail("audit.unavailable", "the audit log cannot be written")
                    self._respond(flow, target, policy, verdict, event_id, None)
                    _observe(event_id, info, verdict, policy)
                    return None
            _inject_headers(flow, target)
            _observe(event_id, info, verdict, policy)
            return None
        rec = audit_record.build(event_id, info, verdict, policy, note)
        return self._durable(flow, target, policy, verdict, event_id, rec, new, info)

    def _write(self, rec: dict, durable: bool) -> None:
        started = time.perf_counter()
        try:
            self.audit.write(rec, durable)
        except AuditError as e:
            obs.AUDIT_FAILURES.inc()
            obs.event("audit_failed", level="error", error=str(e), event_id=rec.get("event_id"))
            raise
        finally:
            obs.AUDIT_SECONDS.observe(time.perf_counter() - started)

    async def _durable(self, flow, target: Target, policy, verdict: Verdict, event_id: str, rec: dict, new,
                       info: audit_record.RequestInfo):
        try:
            await asyncio.to_thread(self._write, rec, True)  # durable before the response leaves
        except AuditError:
            verdict = _fail("audit.unavailable", "the audit log cannot be written")
            flow.metadata[META + "_action"] = "block"
        _observe(event_id, info, verdict, policy)
        if verdict.action == "redact":
            flow.request.content = new
            _inject_headers(flow, target)
            return
        ack_url = None
        if verdict.action == "warn":
            ack_url = self._issue(target, policy, verdict, event_id)
        self._respond(flow, target, policy, verdict, event_id, ack_url)

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
            if decision["decision"] == "approved":
                return dataclasses.replace(verdict, action="allow"), "approved by a security officer", approval
            return dataclasses.replace(verdict, action="block"), "approval rejected by a security officer", approval
        if self.acks.covered(who, keys):
            return dataclasses.replace(verdict, action="allow"), "warning acknowledged by the user", None
        return verdict, "", None

    def _issue(self, target: Target, policy, verdict: Verdict, event_id: str) -> str:
        """The link to the coaching page for this warning."""
        keys = flagged(verdict)
        found = [Found(f.rule, f.description, f.excerpt,
                       audit_record.mask_location(f.location, policy.settings.audit_file_names))
                 for f in verdict.findings if f.mode == "enforce"]
        approval = any((r := policy.find_rule(rule)) is not None and r.ack == "approval" for rule, _ in keys)
        w = Warning(event_id, target.who.user or target.who.client, keys, found, approval, target.service.name,
                    policy.settings.contact, policy.settings.why, policy.settings.ack_reasons,
                    time.monotonic() + ctx.options.guard_ack_ttl, policy_id=policy.id, policy_sha256=policy.sha256)
        return f"http://{ACK_HOST}/ack/{self.acks.issue(w, ctx.options.guard_ack_ttl)}"

    def _respond(self, flow, target: Target, policy, verdict: Verdict, event_id: str, ack_url: str | None):
        flow.metadata[META + "_action"] = verdict.action
        status, content, headers = render(target.service.shape, verdict, event_id, policy.settings.contact,
                                          is_navigation(flow.request.headers), ack_url,
                                          target.snap.catalog.answer(target.service, target.path or flow.request.path),
                                          policy.settings.why, target.service.name)
        flow.response = http.Response.make(status, content, headers)

    # -- for the acknowledgement endpoint ------------------------------------------------
    def contact(self) -> str:
        return self._policy().settings.contact

    def who_for_ack(self, flow: http.HTTPFlow) -> Who:
        return who_of(flow, self.state.current)

    @staticmethod
    def policy_ref(w: Warning) -> dict:
        return {"id": w.policy_id, "sha256": w.policy_sha256}

    def write_audit(self, rec: dict, durable: bool) -> None:
        self._write(rec, durable)

    # -- requests that never became whole --------------------------------------------------
    def error(self, flow: http.HTTPFlow):
        """A body cut off (over body_size_limit while streaming in, or past its deadline): the
        request never reached the AI service; the trail says so."""
        self._awaiting.pop(flow.id, None)
        target: Target | None = flow.metadata.get(META)
        if target is None or flow.metadata.get(META + "_event") or flow.response is not None:
            return
        msg = flow.metadata.get(META + "_cut") or (flow.error.msg if flow.error else "")
        if "body_size_limit" not in msg and "body took longer" not in msg:
            return
        policy = target.engine.policy
        verdict = _fail("uninspectable.limit", msg[:160])
        event_id = new_event_id()
        flow.metadata[META + "_event"] = event_id
        info = self._info(flow, target, b"", [])
        rec = audit_record.build(event_id, info, verdict, policy, "request body cut off before it was complete")
        try:
            self._write(rec, False)
        except AuditError:
            pass  # the request is gone either way; the failure is logged and counted
        _observe(event_id, info, verdict, policy)

    # -- responses stream untouched ---------------------------------------------
    def responseheaders(self, flow: http.HTTPFlow):
        resp = flow.response
        if resp is None or flow.metadata.get(META) is None:
            return
        # SSE, chunked and large answers stream through token by token; a small answer
        # with a Content-Length is whole only when complete anyway, and buffering it is cheaper.
        length = resp.headers.get("content-length", "")
        if (not length.isdigit() or int(length) > INLINE_MAX
                or "event-stream" in resp.headers.get("content-type", "")):
            resp.stream = True

    # -- websockets ----------------------------------------------------------------
    async def websocket_message(self, flow: http.HTTPFlow):
        target: Target | None = flow.metadata.get(META)
        if target is None or flow.websocket is None:
            return
        message = flow.websocket.messages[-1]
        if not message.from_client:
            return
        engine = target.engine
        started = time.perf_counter()
        if target.snap.catalog.access(target.service, "prompt", target.who) == "block":
            verdict = _access_verdict(dataclasses.replace(target, activity="prompt"), "block")
        else:
            try:
                if len(message.content) > INLINE_MAX:
                    raise Deferred()
                verdict = _ws_verdict(engine, message, started, allow_slow=False)
            except Deferred:  # large, or an image/PDF to read: off the event loop
                try:
                    verdict = await asyncio.wait_for(asyncio.to_thread(_ws_verdict, engine, message, started, True),
                                                     timeout=engine.policy.limits.max_seconds + 5)
                except TimeoutError:
                    verdict = _fail("uninspectable.limit", "decision took longer than the time budget")
            verdict = finalize(engine.policy, verdict, target.who)
        if verdict.action == "warn":
            # No acknowledgement round-trip inside a socket.
            verdict = dataclasses.replace(verdict, action="block")
        event_id = new_event_id()
        info = self._info(flow, target, message.content, [], "websocket")
        rec = audit_record.build(event_id, info, verdict, engine.policy)
        try:
            if verdict.action == "block":
                await asyncio.to_thread(self._write, rec, True)
            elif engine.policy.settings.audit_allowed or verdict.findings:
                self._write(rec, False)
        except AuditError:
            verdict = _fail("audit.unavailable", "the audit log cannot be written")
        _observe(event_id, info, verdict, engine.policy)
        if verdict.action == "block":
            message.drop()
            notice = {"type": "error", "error": {"type": "ai_guard_blocked", "event": event_id,
                                                 "message": f"[AI-Guard] 已拦截 / blocked: {verdict.findings[0].rule}"}}
            try:  # tell the client why; the drop itself is what protects
                ctx.master.commands.call("inject.websocket", flow, True,
                                         json.dumps(notice, ensure_ascii=False).encode(), True)
            except CommandError as e:
                log.warning("could not notify websocket client: %s", e)


def _access_verdict(target: Target, level: str) -> Verdict:
    """The catalog's access rule for this service and activity, as a finding."""
    svc = target.service
    what = {"prompt": "提示词 / prompts", "upload": "文件上传 / file uploads", "other": "访问 / access"}[target.activity]
    return Verdict(level, (Finding(f"access.{target.activity}", level, "medium", "request", f"{svc.name}: {what}",
                                   f"本单位对 {svc.name} 的{what.split(' / ')[0]}设为 {level}"),))


def _inject_headers(flow: http.HTTPFlow, target: Target) -> None:
    # Tenant restriction: the provider lets only the organisation's own tenant through.
    for name, value in target.service.headers:
        flow.request.headers[name] = value


def _observe(event_id: str, info: audit_record.RequestInfo, verdict: Verdict, policy) -> None:
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


def _body_deadline(flow: http.HTTPFlow) -> None:
    """Cut off a request whose body is still arriving (a slow trickle holds buffers and a slot).
    mitmproxy cannot kill a flow in transit (its issue 4711): the client connection is closed."""
    if not flow.live or flow.request.timestamp_end or flow.response is not None or flow.error is not None:
        return
    flow.metadata[META + "_cut"] = f"request body took longer than {ctx.options.guard_body_timeout}s to arrive"
    try:
        handler = ctx.master.addons.get("proxyserver").connections[flow.client_conn.id]
        task = handler.transports[handler.client].handler
        task.cancel(flow.metadata[META + "_cut"])
    except (AttributeError, KeyError, TypeError):
        if flow.killable:
            flow.kill()


def _last_resort(flow: http.HTTPFlow) -> None:
    if flow.response is None:
        flow.response = http.Response.make(403, "[AI-Guard] blocked: internal error / 内部错误，已拦截\n",
                                           {"X-AI-Guard-Action": "block", "Content-Type": "text/plain; charset=utf-8"})


def _ws_verdict(engine: Engine, message, started: float, allow_slow: bool) -> Verdict:
    c = Context(engine.policy.limits, allow_slow)
    try:
        if message.is_text:
            scan_string(c, message.text, "websocket")
        else:
            extract_into(c, message.content, None, "websocket", 0)
        return engine.scan_parts(c.out.parts, c.out.problems, started)
    except Deferred:
        raise
    except Exception as e:  # fail closed on any parser bug
        return _fail("uninspectable.corrupt", f"{type(e).__name__}: {e}")


def _names(flow: http.HTTPFlow) -> list[str]:
    """The host names a request was addressed to, normalized (lower case, no trailing dot, no port)."""
    req = flow.request
    raw = [req.host, req.host_header or "", flow.client_conn.sni or ""]
    if flow.server_conn.address:
        raw.append(str(flow.server_conn.address[0]))
    out: list[str] = []
    for name in raw:
        name = name.strip().lower()
        if name.startswith("[") or name.count(":") == 1:  # host:port, [v6]:port
            name = name.rsplit(":", 1)[0].strip("[]") if not name.endswith("]") else name.strip("[]")
        name = name.rstrip(".")
        if name and name not in out:
            out.append(name)
    return out or [""]


def _client(flow: http.HTTPFlow) -> str:
    peer = flow.client_conn.peername
    return peer[0] if peer else ""

