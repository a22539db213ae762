"""Pseudonymise a request's `action: pseudonymise` values and restore them in the answer.

Request: every value a pseudonymise finding names is replaced, in every JSON string of the body
(nested JSON text included), by its conversation's surrogate; a value that cannot be replaced
in place (a file, a URL, a header, a body that is not JSON or text) blocks the request instead.
The answer: non-streamed bodies are restored whole; SSE streams event by event through
mitmproxy's `response.stream` callable, each incremental text field (content, text, arguments,
partial_json, delta...) through a Restorer that holds back only a tail that could still become a
surrogate; WebSocket frames from the service likewise. The response says how many items were
pseudonymised (X-AI-Guard-Pseudonymised).

Conversation identity (which mapping a request uses): the sender (user, else client address)
plus the provider's conversation id when the body carries one (ChatGPT web `conversation_id`,
`conversationId`, `chat_id`, `session_id`), else a MAC of the first user message (API clients
resend the whole history each turn, so every turn of one chat has the same first message). A
conversation id the service hands back in its answer (ChatGPT web's first turn, a Responses
`resp_...` id used as `previous_response_id` next turn) is learnt as a second name.
"""
from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from urllib.parse import unquote

from mitmproxy import http

from guard.errors import Deferred
from guard.extract import Context
from guard.extract.jsonwalk import scan_string
from guard.proxy.body import HEADERS, Request
from guard.proxy.body import inspect as inspect_body
from guard.proxy.restore import (  # noqa: F401  (SSE, TextStream, _decoded: read through here by tests)
    SSE, Events, TextStream, _decoded, restore_json,
)
from guard.pseudo import Conversation, Store, canonical, kind_of, label_of
from guard.types import Finding, Verdict

log = logging.getLogger("guard")

META = "guard_pseudo"   # flow metadata: Applied
HEADER = "X-AI-Guard-Pseudonymised"
RESTORED = "X-AI-Guard-Restored"
# Beside such a finding on the coaching page: what happens to it once the warning is confirmed.
ON_PAGE = "（确认后以假名发出，回答中还原 / sent pseudonymised once confirmed, restored in the answer）"
_CONV_KEYS = ("conversation_id", "conversationId", "chat_id", "chatId", "session_id", "sessionId")
_LEARN_KEYS = ("conversation_id", "conversationId")


@dataclass
class Applied:
    conv: Conversation
    items: int            # distinct values replaced in this request
    per_rule: dict        # rule id -> values replaced (the audit's counts)


def wanted(verdict: Verdict) -> bool:
    return any(f.action == "pseudonymise" and f.mode == "enforce" for f in verdict.findings)


def audit_view(verdict: Verdict) -> Verdict:
    """The verdict as audited: a pseudonymise rule's findings become one per rule with its count,
    no excerpt (the values and their surrogates never enter the trail)."""
    if not any(f.action == "pseudonymise" for f in verdict.findings):
        return verdict
    kept, counts, first = [], {}, {}
    for f in verdict.findings:
        if f.action == "pseudonymise":
            counts[f.rule] = counts.get(f.rule, 0) + 1
            first.setdefault(f.rule, f)
        else:
            kept.append(f)
    for rule, n in counts.items():
        f = first[rule]
        kept.append(Finding(rule, "pseudonymise", f.severity, "request", f"{max(n, f.count)} pseudonymised",
                            f.description, max(n, f.count), mode=f.mode))
    return Verdict(verdict.action, tuple(kept), verdict.parts, verdict.chars, verdict.elapsed_ms,
                   verdict.would, verdict.exempt, verdict.ledger)


def _strings(node, out: list[str], limit: int = 4000) -> None:
    if sum(map(len, out)) > limit:
        return
    if isinstance(node, str):
        out.append(node)
    elif isinstance(node, dict):
        for k, v in node.items():
            if k not in ("role", "type", "id"):
                _strings(v, out, limit)
    elif isinstance(node, list):
        for v in node:
            _strings(v, out, limit)


def conversation_of(obj) -> tuple[str, str]:
    """('id', the provider's conversation id) or ('first', the first user message) or ('', '')."""
    if not isinstance(obj, dict):
        return "", ""
    for k in _CONV_KEYS:
        if isinstance(obj.get(k), str) and obj[k]:
            return "id", obj[k]
    if isinstance(obj.get("previous_response_id"), str) and obj["previous_response_id"]:
        return "id", obj["previous_response_id"]
    for k in ("messages", "contents", "input", "prompt"):
        v = obj.get(k)
        if isinstance(v, str) and v:
            return "first", v
        if isinstance(v, list):
            for item in v:
                if isinstance(item, dict) and item.get("role", "user") not in ("user", "human"):
                    continue
                if isinstance(item, dict) and isinstance(item.get("author"), dict) and \
                        item["author"].get("role") not in (None, "user"):
                    continue
                texts: list[str] = []
                _strings(item, texts)
                if texts:
                    return "first", "\n".join(texts)
    return "", ""


class Pseudonyms:
    def __init__(self, store: Store | None = None):
        self.store = store or Store()

    # -- request ------------------------------------------------------------------------
    def request(self, flow: http.HTTPFlow, sender: str, verdict: Verdict, parts, body: bytes | None,
                policy, message: str | None = None, engine=None) -> tuple[bytes | None, str]:
        """(new body, "") or (None, why it cannot be done in place: the caller blocks).
        With `message`: a WebSocket message's text instead of the body (one mapping per socket)."""
        values: dict[str, str] = {}   # real -> rule id
        for f in verdict.findings:
            if f.action != "pseudonymise" or f.mode != "enforce":
                continue
            if f.span is None or not 0 <= f.part_index < len(parts):
                return None, "pseudonymisation impossible: value not located"
            real = parts[f.part_index].text[f.span[0]:f.span[1]]
            if real.strip():
                values.setdefault(real, f.rule)
        if not values:
            return body, ""
        if message is not None:
            body = message.encode("utf-8")
        elif body is None:
            try:
                body = flow.request.get_content(strict=True) or b""
            except ValueError:
                return None, "pseudonymisation impossible: body encoding"
        ctype = "" if message is not None else flow.request.headers.get("content-type", "").lower()
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return None, "pseudonymisation impossible: body is not text"
        try:
            obj = json.loads(text)
        except ValueError:
            obj = None
            if ctype and not ctype.startswith("text/"):
                return None, "pseudonymisation impossible in place (not JSON or text)"
        prior: Applied | None = flow.metadata.get(META)
        conv = prior.conv if prior is not None and message is not None else self.store.get(
            self.store.key(sender, "socket", flow.id) if message is not None else self._key(sender, obj, flow))
        mapping: dict[str, str] = {}
        rules = {r.id: r for r in policy.rules}
        for real, rid in values.items():
            rule = rules.get(rid)
            if rule is None:
                return None, "pseudonymisation impossible: rule not in policy"
            s = conv.surrogate(real, kind_of(rule), label_of(rule), self.store.rng, self.store.max_entries)
            if s is None:
                return None, "pseudonymisation impossible: mapping full"
            mapping[real] = s
        rx = re.compile("|".join(map(re.escape, sorted(mapping, key=len, reverse=True))))

        def sub(s: str) -> str:
            return rx.sub(lambda m: mapping[m.group()], s)

        if obj is not None:
            def walk(node):
                if isinstance(node, str):
                    return sub(node)
                if isinstance(node, dict):
                    return {sub(k): walk(v) for k, v in node.items()}
                if isinstance(node, list):
                    return [walk(v) for v in node]
                return node
            out = json.dumps(walk(obj), ensure_ascii=False)
        else:
            out = sub(text)
        # Fail closed: a value still in the body (escaped, split by markup), the URL or a header
        # was not pseudonymised, and does not go out.
        where = [out] if message is not None else \
            [out, unquote(flow.request.path)] + [v for _, v in flow.request.headers.items()]
        if any(real in w for real in values for w in where):
            return None, "pseudonymisation impossible in place"
        if engine is not None:
            why = recheck(engine, out, flow, conv, message)
            if why:
                return None, why
        per_rule: dict[str, int] = {}
        for rid in values.values():
            per_rule[rid] = per_rule.get(rid, 0) + 1
        if prior is not None and message is not None:
            prior.items += len(set(mapping.values()))
        else:
            flow.metadata[META] = Applied(conv, len(set(mapping.values())), per_rule)
        return out.encode("utf-8"), ""

    def _key(self, sender: str, obj, flow) -> str:
        how, what = conversation_of(obj)
        if how == "id":
            return self.store.key(sender, "id", what)
        if how == "first":
            return self.store.key(sender, "first", what)
        return self.store.key(sender, "flow", flow.id)  # nothing to tie turns together: its own mapping

    def learn(self, sender: str, conv: Conversation, obj) -> None:
        """A conversation id in the answer names this conversation from now on."""
        if not isinstance(obj, dict):
            return
        for node in (obj, obj.get("message"), obj.get("response"), obj.get("v")):  # v: ChatGPT's patch stream
            if not isinstance(node, dict):
                continue
            for k in _LEARN_KEYS:
                if isinstance(node.get(k), str) and node[k]:
                    self.store.alias(self.store.key(sender, "id", node[k]), conv)
            rid = node.get("id")
            if isinstance(rid, str) and rid.startswith("resp_"):
                self.store.alias(self.store.key(sender, "id", rid), conv)

    # -- response -----------------------------------------------------------------------
    def responseheaders(self, flow: http.HTTPFlow, sender: str) -> bool:
        """Set up restore for a pseudonymised request's answer; True when it streams."""
        applied: Applied | None = flow.metadata.get(META)
        resp = flow.response
        if applied is None or resp is None:
            return False
        resp.headers[HEADER] = str(applied.items)
        table = applied.conv.table()
        ctype = resp.headers.get("content-type", "").lower()
        length = resp.headers.get("content-length", "")
        encoding = resp.headers.get("content-encoding", "").strip().lower()
        learn = (lambda obj: self.learn(sender, applied.conv, obj))
        if "event-stream" in ctype:
            resp.stream = _decoded(SSE(table, learn), encoding, resp)
            return True
        if not length.isdigit() or int(length) > (1 << 20):
            # Streamed, not SSE (NDJSON, plain text): restored as text, held back the same way.
            resp.stream = _decoded(TextStream(table), encoding, resp)
            return True
        return False

    def response(self, flow: http.HTTPFlow, sender: str) -> None:
        applied: Applied | None = flow.metadata.get(META)
        resp = flow.response
        if applied is None or resp is None or resp.stream:
            return
        table = applied.conv.table()
        try:
            text = resp.get_text(strict=False)
        except ValueError:
            return
        if not text:
            return
        try:
            obj = json.loads(text)
        except ValueError:
            restored, _, n = table.restore(text)
            resp.text = restored
        else:
            self.learn(sender, applied.conv, obj)
            new, n = restore_json(table, obj)
            if n:
                resp.text = json.dumps(new, ensure_ascii=False)
        resp.headers[RESTORED] = str(n)  # a whole answer: how many surrogates it gave back

    def websocket_server(self, flow: http.HTTPFlow, message, inject) -> None:
        """A frame from the service: restored; a channel's held tail goes out in a frame of its
        own (inject) before the frame that ends it."""
        applied: Applied | None = flow.metadata.get(META)
        if applied is None:
            return
        state = flow.metadata.get(META + "_ws")
        table = applied.conv.table()
        if state is None or state.table is not table:
            state = flow.metadata[META + "_ws"] = Events(table, every=True)
        if not message.is_text:
            return
        try:
            obj = json.loads(message.text)
        except ValueError:
            message.text = table.restore(message.text)[0]
            return
        outs = state.event(obj)
        if not outs:
            message.drop()
            return
        message.text = json.dumps(outs[0], ensure_ascii=False)
        for extra in outs[1:]:
            inject(json.dumps(extra, ensure_ascii=False))


RECHECK_MAX = 1 << 20  # bytes of a rewritten body read again on the event loop


def recheck(engine, out: str, flow: http.HTTPFlow, conv: Conversation, message: str | None) -> str:
    """The rewritten body read again as the service will read it: a pseudonymise value still in
    it that is not one of this conversation's surrogates (inside a base64 file, an attachment,
    a spelling the swap missed) means it cannot go out. "" when clean."""
    data = out.encode("utf-8")
    if len(data) > RECHECK_MAX:
        return "pseudonymisation impossible: request too large to check again"
    try:
        if message is not None:
            c = Context(engine.policy.limits, False)
            scan_string(c, out, "websocket")
            verdict, parts = engine.scan_parts(c.out.parts, c.out.problems, time.perf_counter()), c.out.parts
        else:
            headers = {k: flow.request.headers[k] for k in HEADERS if k in flow.request.headers}
            verdict, parts, _ = inspect_body(engine, Request(data, headers, flow.request.path), time.perf_counter(),
                                             allow_slow=False)
    except Deferred:
        return "pseudonymisation impossible: the request carries pictures or documents"
    for f in verdict.findings:
        if f.action != "pseudonymise":
            continue
        if f.span is None or not 0 <= f.part_index < len(parts):
            return "pseudonymisation impossible: a value is left"
        if canonical(parts[f.part_index].text[f.span[0]:f.span[1]])[0] not in conv.real_of:
            return "pseudonymisation impossible in place: a value is left (in a file or encoded)"
    return ""


