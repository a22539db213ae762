"""WebSocket messages from the client to an AI service: each one inspected and acted on.

There is no acknowledgement round-trip inside a socket: a warning blocks. A blocked message
is dropped (that is what protects) and the client is told why in a message of its own.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time

from mitmproxy import ctx, http
from mitmproxy.exceptions import CommandError

from guard.audit import record as audit_record
from guard.audit.writer import new_event_id
from guard.coaching import Advice
from guard.decide import finalize
from guard.display import Names
from guard.errors import AuditError, Deferred
from guard.extract import Context, extract_into
from guard.extract.jsonwalk import scan_string
from guard.proxy.act import Act, access_verdict, observe, request_info
from guard.proxy.body import INLINE_MAX, fail
from guard.proxy import pseudo
from guard.proxy.snapshot import META, Target, client_of
from guard.respond import message as block_message
from guard.scanner import Engine
from guard.types import Verdict

log = logging.getLogger("guard")


class WebSocketMessages:
    def __init__(self, act: Act):
        self.act = act

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
            verdict = access_verdict(dataclasses.replace(target, activity="prompt"), "block")
        else:
            try:
                if len(message.content) > INLINE_MAX:
                    raise Deferred()
                verdict = message_verdict(engine, message, started, allow_slow=False)
            except Deferred:  # large, or an image/PDF to read: off the event loop
                try:
                    verdict = await asyncio.wait_for(asyncio.to_thread(message_verdict, engine, message, started, True),
                                                     timeout=engine.policy.limits.max_seconds + 5)
                except TimeoutError:
                    verdict = fail("uninspectable.limit", "decision took longer than the time budget")
            verdict = finalize(engine.policy, verdict, target.who)
        if verdict.action == "warn":
            # No acknowledgement round-trip inside a socket.
            verdict = dataclasses.replace(verdict, action="block")
        swapped = None
        if verdict.action != "block" and pseudo.wanted(verdict):  # values go out as surrogates, or not at all
            swapped, why = self._pseudonymise(flow, target, verdict, message)
            if swapped is None:
                verdict = fail("uninspectable.unsupported", why)
        event_id = new_event_id()
        info = request_info(flow, target, message.content, [], "websocket")
        rec = audit_record.build(event_id, info, pseudo.audit_view(verdict), engine.policy)
        try:
            if verdict.action == "block":
                await asyncio.to_thread(self.act.trail.write, rec, True)
            elif engine.policy.settings.audit_allowed or verdict.findings:
                self.act.trail.write(rec, False)
        except AuditError:
            verdict = fail("audit.unavailable", "the audit log cannot be written")
        observe(event_id, info, verdict, engine.policy)
        if swapped is not None and verdict.action != "block":
            message.text = swapped
        if verdict.action == "block":
            message.drop()
            policy = engine.policy  # the same words as every other block: what, why, what to do instead
            notice = {"type": "error", "error": {"type": "ai_guard_blocked", "event": event_id, "message": block_message(
                verdict, event_id, policy.settings.contact, names=Names(policy), advice=Advice.of(policy.settings),
                web_app=True)}}
            try:  # tell the client why; the drop itself is what protects
                ctx.master.commands.call("inject.websocket", flow, True,
                                         json.dumps(notice, ensure_ascii=False).encode(), True)
            except CommandError as e:
                log.warning("could not notify websocket client: %s", e)


    def _pseudonymise(self, flow, target: Target, verdict: Verdict, message) -> tuple[str | None, str]:
        if not message.is_text:
            return None, "pseudonymisation impossible in a binary message"
        c = Context(target.engine.policy.limits, False)
        scan_string(c, message.text, "websocket")  # the parts the findings' spans point into, again
        new, why = self.act.pseudo.request(flow, target.who.user or target.who.client or client_of(flow), verdict,
                                           c.out.parts, None, target.engine.policy, message=message.text,
                                           engine=target.engine)
        return (new.decode("utf-8") if new is not None else None), why

    def restore(self, flow: http.HTTPFlow, pseudonyms: pseudo.Pseudonyms):
        """A frame from the service to a socket whose messages were pseudonymised: restored."""
        def inject(text: str) -> None:
            try:
                ctx.master.commands.call("inject.websocket", flow, True, text.encode("utf-8"), True)
            except CommandError as e:
                log.warning("could not send a restored websocket frame: %s", e)
        pseudonyms.websocket_server(flow, flow.websocket.messages[-1], inject)


def message_verdict(engine: Engine, message, started: float, allow_slow: bool) -> Verdict:
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
        return fail("uninspectable.corrupt", f"{type(e).__name__}: {e}")
