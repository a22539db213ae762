"""Inspect an AI request once its body is whole: body -> verdict, inline or pooled, then act.

Small bodies are read on the event loop (no coroutine for the common small prompt); large ones,
and images or PDFs at any size, in the inspection workers (pool.py) or a thread. A request to a
host outside the catalog is AI traffic when its body has an LLM call's shape (shadow AI); a part
of a multi-request upload is read as a fragment, and the request completing it on the whole
file. A body cut off before it was complete is audited in `error`.
"""
from __future__ import annotations

import asyncio
import json
import re
import time

from mitmproxy import http

from guard.adapters.encoding import decode_content
from guard.audit import record as audit_record
from guard.audit.writer import new_event_id
from guard.catalog import UNKNOWN, Service
from guard.errors import AuditError, Deferred, ExtractionError
from guard.proxy.act import Act, access_verdict, observe, request_info
from guard.proxy.body import HEADERS, INLINE_MAX, PLAIN_HEADER_PREFIXES, PLAIN_HEADERS, Request, fail
from guard.proxy.body import inspect as inspect_body
from guard.proxy.deadline import CUT
from guard.proxy.shadow import api_shape, error_shape
from guard.proxy.snapshot import MAYBE, META, Snapshot, Target, client_of, who_of
from guard.proxy.uploads import OVERLAP, Step, UploadSessions, recognize

UPLOAD_HEADERS = ("content-range", "x-goog-upload-command", "x-goog-upload-offset")
_UPLOAD_QUERY = re.compile(r"[?&](uploadId|partNumber|comp|upload_id)=", re.I)
UPLOAD_PART = "guard_upload_part"  # flow metadata: (client, upload key, slot) of a part awaiting its id
_RANK = {"block": 0, "warn": 1, "redact": 2, "allow": 3}


def _json_like(body: bytes) -> bool:
    return body.lstrip(b" \t\r\n\xef\xbb\xbf")[:1] in (b"{", b"[")


def _uploader(flow) -> str:
    return f"{client_of(flow)}|{(flow.metadata.get('proxyauth') or ('',))[0]}"


class Inspect:
    def __init__(self, act: Act):
        self.act = act
        self.uploads: UploadSessions | None = None

    def load(self, loader):
        pass

    def configure(self, updated):
        if self.uploads is None:
            # Sized by the largest max_bytes a policy may set; a reload keeps the sessions.
            self.uploads = UploadSessions(1 << 30)

    def running(self):
        pass

    def done(self):
        if self.uploads is not None:
            self.uploads.close()

    def request(self, flow: http.HTTPFlow):
        target: Target | None = flow.metadata.get(META)
        if target is None:
            maybe = flow.metadata.get(MAYBE)
            if maybe is None:
                return None
            target = self._shadow(flow, *maybe)
            if target is None:
                return None
            if target.access == "block":
                return self.act.act(flow, target, access_verdict(target, "block"), b"", [], [])
        engine = target.engine
        started = time.perf_counter()
        req = flow.request
        # As sent: Content-Encoding is undone by inspect_body() within the policy's limits (every
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
            try:
                step = recognize(req.method, target.host, req.path, {k.lower(): v for k, v in what.query},
                                 {**wanted, **upload_hints}, body)
            except ExtractionError as e:  # an upload step the receiver would read otherwise
                return self.act.act(flow, target, fail(f"uninspectable.{e.reason}", e.detail), body, [], [])
            if step is not None and (step.final or self._provable(flow, target, step)):
                return self._upload(flow, target, what, step, started)
            # Not provably a part of an upload session: read as the whole request it is.
        if len(body) > INLINE_MAX:
            return self._off_loop(flow, target, what, started)
        try:
            verdict, parts, files = inspect_body(engine, what, started, allow_slow=False)
        except Deferred:  # a small image or PDF: OCR and PDF readers run in a worker
            return self._off_loop(flow, target, what, started)
        return self.act.act(flow, target, verdict, body, parts, files)

    def _shadow(self, flow: http.HTTPFlow, host: str, port: int, snap: Snapshot) -> Target | None:
        """A host outside the catalog: AI traffic when the body has an LLM call's shape."""
        req = flow.request
        ctype = req.headers.get("content-type", "").lower()
        body = req.raw_content or b""
        if ctype and "json" not in ctype and not ctype.startswith("text/") and not _json_like(body):
            # Forms, uploads, media: not an LLM call's body, and not decoded to find out. JSON sent
            # as a form or octet-stream is read by its shape (the receiver parses it as JSON anyway).
            return None
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

    def _provable(self, flow, target: Target, step: Step) -> bool:
        """A part may be a piece of a file (read as text) only where the receiver files it as a
        part: the upload endpoints of their protocol, object storage, an upload activity, or a
        session whose earlier parts passed through the guard."""
        kind = step.key[0]
        if kind == "openai":
            return True
        if kind == "google":
            return "/upload/" in flow.request.path
        if target.activity == "upload" or target.snap.catalog.is_storage(target.host):
            return True
        return self.uploads.known(_uploader(flow), step)

    def _upload(self, flow, target: Target, what: Request, step: Step, started: float):
        """A request that is part of a multi-request upload: a part is read as a whole request
        and its share of the file as text (with the end of the part before it); the request
        that completes the upload is read as a whole and decided with the whole file."""
        who = _uploader(flow)
        engine = target.engine
        limits = engine.policy.limits
        self.uploads.max_bytes = limits.max_bytes
        try:
            data = step.data
            if data and what.encoding:
                data = decode_content(data, what.encoding, limits)
            if not step.final:
                session, slot = self.uploads.add(who, Step(step.key, step.order, False, data, step.slot))
                carry = session.tail + (data or b"")
                session.tail = carry[-OVERLAP * 4:]
                if step.key[0] == "openai":  # the service answers with the part's id
                    flow.metadata[UPLOAD_PART] = (who, step.key, slot)
                part = Request(what.body, what.headers, what.path, what.query, what.encoding, what.other_headers,
                               fragment=True, carry=carry)
                if len(what.body) + len(carry) > INLINE_MAX:
                    return self._off_loop(flow, target, part, started)
                try:
                    verdict, parts, files = inspect_body(engine, part, started, allow_slow=False)
                except Deferred:
                    return self._off_loop(flow, target, part, started)
                return self.act.act(flow, target, verdict, what.body, parts, files)
            whole = self.uploads.assemble(who, Step(step.key, step.order, True, data, ranged=step.ranged,
                                                    manifest=step.manifest, total=step.total))
        except ExtractionError as e:
            self.uploads.discard(who, step)
            return self.act.act(flow, target, fail(f"uninspectable.{e.reason}", e.detail), what.body, [], [])
        if not whole:
            # Its parts never passed through the guard (or expired): the file was not inspected.
            verdict = fail("uninspectable.unsupported", "upload completed without its parts passing through the guard")
            return self.act.act(flow, target, verdict, what.body, [], [])
        own = Request(what.body, what.headers, what.path, what.query, what.encoding, what.other_headers,
                      fragment=whole != data)
        if whole == data:
            # The whole upload in this one request: read once, as the request it is (its own type).
            return self._off_loop(flow, target, own, started)
        assembled = Request(whole, {"content-type": "application/octet-stream"}, what.path)
        return self._completed(flow, target, own, assembled, started)

    async def _completed(self, flow, target: Target, own: Request, assembled: Request, started: float):
        """The completing request read as itself, then the whole file: the stricter decision acts."""
        first = await self._decide(target, own, started)
        if first[0].action == "block":
            pending = self.act.act(flow, target, first[0], own.body, first[1], first[2], first[3])
        else:
            second = await self._decide(target, assembled, started)
            pick = first if _RANK.get(first[0].action, 3) < _RANK.get(second[0].action, 3) else second
            pending = self.act.act(flow, target, pick[0], own.body, pick[1], pick[2], pick[3])
        if pending is not None:
            await pending

    async def _decide(self, target: Target, what: Request, started: float):
        engine = target.engine
        budget = engine.policy.limits.max_seconds + 5
        pool = target.snap.pool
        if pool is not None:
            return await pool.inspect(target.service.category, what, started, budget)
        try:
            verdict, parts, files = await asyncio.wait_for(
                asyncio.to_thread(inspect_body, engine, what, started), timeout=budget)
        except TimeoutError:
            verdict, parts, files = fail("uninspectable.limit", "decision took longer than the time budget"), [], []
        return verdict, parts, files, None

    def response(self, flow: http.HTTPFlow):
        """An upload part's answer names the part (OpenAI: `{"id": "part_..."}`): the name the
        completing request's `part_ids` use."""
        part = flow.metadata.get(UPLOAD_PART)
        resp = flow.response
        if part is None or resp is None or resp.stream or not 200 <= resp.status_code < 300:
            return
        try:
            answer = json.loads(resp.get_content(strict=False) or b"{}")
        except (ValueError, TypeError):
            return
        if isinstance(answer, dict) and isinstance(answer.get("id"), str):
            self.uploads.name(part[0], part[1], part[2], answer["id"])

    async def _off_loop(self, flow, target: Target, what: Request, started: float):
        engine = target.engine
        budget = engine.policy.limits.max_seconds + 5
        digest = None
        pool = target.snap.pool
        if pool is not None:
            verdict, parts, files, digest = await pool.inspect(target.service.category, what, started, budget)
        else:
            try:
                verdict, parts, files = await asyncio.wait_for(
                    asyncio.to_thread(inspect_body, engine, what, started), timeout=budget)
            except TimeoutError:
                verdict, parts, files = fail("uninspectable.limit", "decision took longer than the time budget"), [], []
        pending = self.act.act(flow, target, verdict, what.body, parts, files, digest)
        if pending is not None:
            await pending

    def error(self, flow: http.HTTPFlow):
        """A body cut off (over body_size_limit while streaming in, or past its deadline): the
        request never reached the AI service; the trail says so."""
        target: Target | None = flow.metadata.get(META)
        if target is None or flow.metadata.get(META + "_event") or flow.response is not None:
            return
        msg = flow.metadata.get(CUT) or (flow.error.msg if flow.error else "")
        if "body_size_limit" not in msg and "body took longer" not in msg:
            return
        policy = target.engine.policy
        verdict = fail("uninspectable.limit", msg[:160])
        event_id = new_event_id()
        flow.metadata[META + "_event"] = event_id
        info = request_info(flow, target, b"", [])
        rec = audit_record.build(event_id, info, verdict, policy, "request body cut off before it was complete")
        try:
            self.act.trail.write(rec, False)
        except AuditError:
            pass  # the request is gone either way; the failure is logged and counted
        observe(event_id, info, verdict, policy)
