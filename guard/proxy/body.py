"""One request body -> a verdict: what inspection needs of a request (plain data, cheap to send
to a worker process) and the pure function that reads it. It runs inline on the event loop for
small bodies and in pool.InspectionPool's workers for large ones; the same code either way.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from urllib.parse import unquote

from guard.adapters import scan_body
from guard.adapters.encoding import decode_content
from guard.adapters.fragment import fragment_text
from guard.scanner import Engine
from guard.errors import Deferred, ExtractionError, GuardError
from guard.extract import Context
from guard.extract.jsonwalk import scan_string
from guard.types import Finding, Part, Problem, Verdict

log = logging.getLogger("guard")
HEADERS = ("content-type", "content-disposition", "x-file-name", "x-filename")  # all scan_body reads
# Headers whose values are protocol, not content, or credentials the provider expects: not
# scanned. Every other header is (X-Prompt, X-File-Name, a custom X-Title...).
PLAIN_HEADERS = frozenset({
    "host", "user-agent", "accept", "accept-encoding", "accept-language", "accept-charset", "connection",
    "content-length", "content-encoding", "transfer-encoding", "te", "trailer", "upgrade", "expect", "keep-alive",
    "cache-control", "pragma", "origin", "referer", "cookie", "authorization", "proxy-authorization",
    "x-api-key", "api-key", "x-goog-api-key", "x-goog-api-client", "anthropic-version", "anthropic-beta",
    "openai-organization", "openai-project", "openai-beta", "if-none-match", "if-modified-since", "if-match",
    "range", "dnt", "priority", "traceparent", "tracestate", "baggage", "x-request-id", "x-requested-with",
    "via", "forwarded", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-real-ip", "x-csrf-token",
    "x-xsrf-token", "proxy-connection", "x-goog-upload-protocol", "x-goog-upload-command", "x-goog-upload-offset",
    "x-goog-upload-header-content-length", "x-goog-upload-header-content-type", "x-ms-blob-type", "x-ms-version",
    "x-ms-date", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token", "x-oss-date", "x-cos-security-token",
})
PLAIN_HEADER_PREFIXES = ("sec-", "x-stainless-", "x-client-", "x-datadog-", "x-b3-", "x-amz-sdk-", "x-ms-client-")
INLINE_MAX = 64 * 1024  # bodies (and WebSocket messages) above this are inspected off the event loop
INLINE_DECODED = 256 * 1024  # decoded bytes a body may grow to on the event loop; past it: a worker


@dataclass(frozen=True, slots=True)
class Request:
    """What inspection needs of a request: plain data, cheap to send to a worker."""
    body: bytes               # as sent: still Content-Encoded
    headers: dict[str, str]   # lower-case names, only HEADERS
    path: str
    query: tuple[tuple[str, str], ...] = ()
    encoding: str = ""        # the Content-Encoding header
    other_headers: tuple[tuple[str, str], ...] = ()  # headers that may carry content (X-Prompt...)
    fragment: bool = False    # a part of an upload in parts: pieces of a file are read as text
    carry: bytes = b""        # with fragment: the part's share of the file (after the previous part's end)


def fail(rule: str, detail: str, location: str = "request") -> Verdict:
    return Verdict("block", (Finding(rule, "block", "high", location, detail[:160], "content could not be inspected"),))


def inspect(engine: Engine, req: Request, started: float,
            allow_slow: bool = True) -> tuple[Verdict, list[Part], list[dict]]:
    """(verdict, parts, files); any failure is a blocking `uninspectable.*` verdict.
    With allow_slow=False, raises Deferred where OCR or a PDF reader would run."""
    try:
        c = Context(engine.policy.limits, allow_slow)
        deferred = None
        for key, value in req.query:  # prompts ride in URLs too (chatgpt.com/?q=)
            if value:
                scan_string(c, value, f"query:{key}")
            if key:
                c.add(key, "query (names)", "body")
        path = req.path.split("?", 1)[0]
        if "%" in path or not path.isascii() or len(path) > 200:  # /v1/chat/%E6%9C%BA%E5%AF%86...
            c.add(unquote(path, errors="replace").replace("/", "\n"), "path", "body")
        for name, value in req.other_headers:
            scan_string(c, unquote(value, errors="replace") if "%" in value else value, f"header:{name}")
        body = req.body
        if req.encoding:
            try:
                body = decode_content(body, req.encoding, engine.policy.limits, None if allow_slow else INLINE_DECODED)
            except ExtractionError as e:
                return fail(f"uninspectable.{'limit' if e.reason == 'limit' else e.reason}",
                            f"Content-Encoding: {e.detail}"), [], []
            c.charge(len(body))
        if req.fragment:
            # A part of an upload in parts, read as a whole request first (with its own type:
            # a whole prompt, form or file cannot hide behind upload parameters); a piece of a
            # file that does not parse is read for its text only (with the end of the part
            # before it), and the whole file is decided at completion.
            sub = Context(engine.policy.limits, allow_slow)
            scan_body(sub, body, req.headers.get("content-type", ""), req.headers, req.path)
            pieces = [p for p in sub.out.problems if p.reason in ("corrupt", "unsupported")]
            c.out.parts.extend(sub.out.parts)
            c.out.problems.extend(p for p in sub.out.problems if p not in pieces)
            c.out.files.extend(sub.out.files)
            c.pictures.extend(sub.pictures)
            text = fragment_text(req.carry) if req.carry else ""
            if pieces and not text:
                text = fragment_text(body)
            if text:
                c.add(text, "upload part", "body")
            if pieces or (req.carry and not text):
                # Not silent: the audit's ledger says this piece was only read as text (or not at all).
                deferred = {"name": None, "type": "upload part", "size": len(req.carry or body), "sha256": None,
                            "location": "upload part", "parts": 1 if text else 0, "read": ["(text)"] if text else [],
                            "not_read": [{"where": p.location or "upload part", "reason": "part",
                                          "detail": "a piece of a file sent in parts: "
                                                    + ("read as text" if text else "not text, not read")
                                                    + "; the whole file is decided when the upload completes"}
                                         for p in pieces or [Problem("part", "upload part", "")]]}
        else:
            scan_body(c, body, req.headers.get("content-type", ""), req.headers, req.path)
        verdict = engine.decide(c, started)
        if deferred:
            verdict = replace(verdict, ledger=(*verdict.ledger, deferred))
        return verdict, c.out.parts, c.out.files
    except Deferred:
        raise
    except GuardError as e:
        return fail("uninspectable.corrupt", str(e)), [], []
    except MemoryError:
        return fail("uninspectable.limit", "inspection ran out of memory"), [], []
    except Exception as e:  # fail closed on any parser bug
        log.exception("inspection failed")
        return fail("uninspectable.corrupt", f"{type(e).__name__}: {e}"), [], []
