"""Responses stream through untouched: the guard inspects what goes out, not what comes back."""
from __future__ import annotations

from mitmproxy import http

from guard.proxy.body import INLINE_MAX
from guard.proxy.snapshot import META


def responseheaders(flow: http.HTTPFlow) -> None:
    resp = flow.response
    if resp is None:
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
