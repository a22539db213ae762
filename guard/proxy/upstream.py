"""An AI service that cannot be reached for a request the guard let through: the person reads a
short explanation in Chinese (their content was fine, the service is unreachable, try later)
instead of mitmproxy's bare "502 Bad Gateway" page, and the failure is logged with its cause.

mitmproxy answers a failed upstream connection itself, after the `error` hook, from
`format_error(status, message)` in its HTTP/1, HTTP/2 and HTTP/3 layers; no hook can replace
that response. So the `error` hook notes the flow in a context variable (the hook and the
layer code that writes the answer run in the same task, with nothing awaited between them) and
our `format_error` writes the explanation for that flow; every other error page is mitmproxy's.
If a mitmproxy release renames those functions the patch is skipped: the user sees the bare
page again, the log line still names the cause.
"""
from __future__ import annotations

import contextvars
import re

from mitmproxy import http

from guard import obs
from guard.proxy.snapshot import META, Target
from guard.respond import is_navigation, upstream_error_body

_failing: contextvars.ContextVar[dict | None] = contextvars.ContextVar("guard_upstream_failing", default=None)
_GATEWAY = (502, 503, 504)


def cause_zh(msg: str) -> str:
    """The cause of a failed connection in words a person knows."""
    m = msg.lower()
    if re.search(r"name or service not known|nodename nor servname|getaddrinfo|no address associated|"
                 r"temporary failure in name resolution|dns", m):
        return "域名无法解析（DNS）"
    if "refused" in m or "connect call failed" in m:
        return "对方拒绝连接"
    if "timed out" in m or "timeout" in m:
        return "连接超时"
    if "tls" in m or "ssl" in m or "certificate" in m or "handshake" in m:
        return "安全连接（TLS）建立失败"
    if "unreachable" in m or "no route" in m:
        return "网络不可达"
    if "reset" in m or "closed" in m or "eof" in m or "disconnect" in m:
        return "连接被对方中断"
    return "网络错误"


def error(flow: http.HTTPFlow) -> None:
    """mitmproxy's `error` hook: an allowed AI request whose service could not be reached."""
    target: Target | None = flow.metadata.get(META)
    if target is None or flow.error is None or flow.response is not None:
        return
    if flow.metadata.get(META + "_action") not in ("allow", "redact", "pseudonymise"):
        return  # never decided (a body cut off: inspect.error audits it) or answered by the guard
    msg = flow.error.msg or ""
    if "body_size_limit" in msg or "body took longer" in msg or msg == flow.error.KILLED_MESSAGE:
        return
    event_id = flow.metadata.get(META + "_event", "")
    # host: what the client asked for; upstream: where the connection went (after map_remote, a gateway)
    obs.event("upstream_failed", level="warning", event_id=event_id, host=target.host or flow.request.pretty_host,
              upstream=f"{flow.request.host}:{flow.request.port}", provider=target.service.id, cause=cause_zh(msg),
              error=msg[:300])
    _failing.set({"event_id": event_id, "host": target.host or flow.request.pretty_host,
                  "service": target.service.name, "shape": target.service.shape, "cause": cause_zh(msg),
                  "navigation": is_navigation(flow.request.headers)})


def _patch() -> None:
    try:
        from mitmproxy.proxy.layers.http import _base, _http1, _http2, _http3
    except ImportError:  # pragma: no cover - another mitmproxy layout: keep its own page
        return
    original = getattr(_base, "format_error", None)
    if original is None or getattr(original, "_guard", False):
        return

    def format_error(status_code: int, message: str) -> bytes:
        failing = _failing.get()
        if failing is None or status_code not in _GATEWAY:
            return original(status_code, message)
        _failing.set(None)
        return upstream_error_body(**failing)

    format_error._guard = True
    for mod in (_http1, _http2, _http3):
        if getattr(mod, "format_error", None) is original:
            mod.format_error = format_error


_patch()
