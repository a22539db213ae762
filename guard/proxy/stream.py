"""Responses stream through untouched: the guard inspects what goes out, not what comes back;
only a pseudonymised request's answer is read, to restore the real values (pseudo.py)."""
from __future__ import annotations

from mitmproxy import http

from guard.proxy.body import INLINE_MAX
from guard.proxy.pseudo import META as PSEUDO
from guard.proxy.pseudo import Pseudonyms
from guard.proxy.snapshot import META, client_of


def sender(flow: http.HTTPFlow) -> str:
    target = flow.metadata.get(META)
    who = target.who if target is not None else None
    return (who.user or who.client if who is not None else "") or client_of(flow)


def responseheaders(flow: http.HTTPFlow, pseudonyms: Pseudonyms | None = None) -> None:
    resp = flow.response
    if resp is None:
        return
    if pseudonyms is not None and PSEUDO in flow.metadata:
        # A pseudonymised request's answer: restored as it streams, or whole (pseudo.py).
        pseudonyms.responseheaders(flow, sender(flow))
        return
    if flow.metadata.get(META) is None:
        # Not AI traffic (a host opened only to look for shadow AI): passed on as it arrives,
        # whatever its size (body_size_limit is for bodies the guard must hold).
        resp.stream = True
        return
    # SSE, chunked and large answers stream through token by token; a small answer
    # with a Content-Length is whole only when complete anyway, and buffering it is cheaper.
    length = resp.headers.get("content-length", "")
    if (not length.isdigit() or int(length) > INLINE_MAX
            or "event-stream" in resp.headers.get("content-type", "")):
        resp.stream = True
