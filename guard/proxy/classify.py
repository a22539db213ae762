"""Classify a request when its headers arrive: is it AI traffic, to which service, from whom,
doing what (prompt, upload, other), and may it go at all (the catalog's access rules).

The answer is a Target on flow.metadata, taken under the configuration current now. Requests
refused as a whole (access `block`, a Content-Length over the policy's limit) are answered here,
before mitmproxy buffers their body.
"""
from __future__ import annotations

import functools
import ipaddress
import json
import logging
import re
import socket

from mitmproxy import http

from guard.catalog import ACK_HOST, Service
from guard.proxy.act import Act, access_verdict, last_resort
from guard.proxy import shadow
from guard.proxy.body import fail
from guard.proxy.deadline import BodyDeadlines
from guard.proxy.snapshot import ACK, MAYBE, META, Target, who_of
from guard.proxy.state import PolicyState

log = logging.getLogger("guard")


class Classify:
    def __init__(self, state: PolicyState, act: Act, deadlines: BodyDeadlines):
        self.state, self.act, self.deadlines = state, act, deadlines

    def requestheaders(self, flow: http.HTTPFlow):
        try:
            return self._classify(flow)
        except Exception:  # unclassified would mean uninspected: block instead
            log.exception("AI guard failed to classify a request; blocking it")
            last_resort(flow)
            return None

    def _classify(self, flow: http.HTTPFlow):
        if flow.response or flow.error or not flow.live:
            return None
        req = flow.request
        snap = self.state.current
        catalog = snap.catalog
        # The destination the client asked for, by every name it gave: the URL/CONNECT target,
        # the Host header (or :authority) and the TLS SNI. map_remote and friends rewrite later,
        # in `request`. Any AI name makes it an AI request (a provider's IP with SNI
        # api.openai.com; a tunnel to some other name whose inner Host is a catalog host).
        raw = _raw_names(flow)
        names = host_names(flow, raw)
        if ACK_HOST in names:
            flow.metadata[ACK] = True
            return None
        if local_destination(flow, raw):
            # The proxy's own services (metrics, console, the ack page's port) and other local
            # addresses are never reached on a client's behalf: a client would come in through
            # the proxy's trusted address.
            log.warning("refused a request for a local address", extra={"host": names[0]})
            flow.response = local_refusal()
            return None
        if responses_websocket(req):
            flow.response = responses_websocket_refusal()
            return None
        host, svc = names[0], None
        path = req.path
        for name in names:
            svc = catalog.service(name, path)
            if svc is not None:
                host = name
                break
        via_origin = False
        access = None
        if svc is None and catalog.is_storage(host):
            svc = catalog.web_app_for(req.headers.get("origin") or req.headers.get("referer"))
            via_origin = svc is not None
            if svc is None and req.method in ("PUT", "POST", "PATCH") and presigned(path):
                # A presigned/SAS upload without an AI origin: AI desktop apps and SDKs upload so
                # (no Origin header). Its content is inspected like any upload (the access rules
                # are for AI services, not for the storage): fail closed, a marked file never goes.
                svc, via_origin, access = PRESIGNED_STORAGE, True, "allow"
        if svc is None:
            if catalog.discover and req.method in ("POST", "PUT", "PATCH"):
                if not could_be_llm_call(req):
                    req.stream = True  # a large or binary upload to some host: passed on, not held
                    return None
                # The body decides (shadow AI); the destination is noted now, before map_remote.
                flow.metadata[MAYBE] = (host, req.port, snap)
            return None
        who = who_of(flow, snap)
        activity = catalog.activity(svc, req.method, path, req.headers.get("content-type", ""), via_origin)
        target = Target(svc, host, req.port, via_origin, snap, who, activity,
                        access or catalog.access(svc, activity, who), path=path)
        flow.metadata[META] = target
        req.stream = False  # an AI request is always inspected whole, never streamed past us
        if target.access == "block":
            # Refused as a whole: the body is never read (nor buffered).
            return self.act.act(flow, target, access_verdict(target, "block"), b"", [], [])
        if not req.timestamp_end:  # the body is still to come: it gets a deadline
            self.deadlines.watch(flow)
        limit = target.engine.policy.limits.max_bytes
        length = req.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            # Answer now: mitmproxy then never buffers the oversized body.
            verdict = fail("uninspectable.limit", f"body of {length} bytes exceeds {limit}")
            return self.act.act(flow, target, verdict, b"", [], [])
        return None


PRESIGNED_STORAGE = Service("storage", "对象存储预签名上传 / presigned object-storage upload")
# Query names of a presigned or SAS URL: Azure SAS (sig, sv, se), S3/OSS/COS/GCS presigned.
_PRESIGNED = re.compile(r"[?&](sig|x-amz-signature|x-amz-credential|signature|x-oss-signature|q-signature|"
                        r"x-goog-signature|x-tos-signature|ossaccesskeyid|awsaccesskeyid)=", re.I)


def presigned(path: str) -> bool:
    return "?" in path and _PRESIGNED.search(path) is not None


_LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")


def _own_addresses() -> frozenset[str]:
    """This machine's addresses (a client asking for the proxy's LAN address loops back to it)."""
    out = set()
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            out.add(str(info[4][0]).split("%", 1)[0])
    except OSError:
        pass
    return frozenset(out)


OWN_ADDRESSES = _own_addresses()


@functools.lru_cache(maxsize=4096)  # a host name per request, three times: the few names clients use, parsed once
def is_local(name: str) -> bool:
    """Loopback, unspecified, link-local (cloud metadata), or this machine's own address; names
    too: `localhost` and its subdomains, and every spelling of an IPv4 literal."""
    name = name.strip().strip("[]").rstrip(".").lower()
    if not name:
        return False
    if name in _LOCAL_NAMES or name.endswith(".localhost") or name in OWN_ADDRESSES:
        return True
    try:
        addr = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        try:  # 2130706433, 0x7f.1, 127.1: what inet_aton (and so the connection) accepts
            addr = ipaddress.ip_address(socket.inet_aton(name))
        except OSError:
            return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return addr.is_loopback or addr.is_unspecified or addr.is_link_local or str(addr) in OWN_ADDRESSES


def _raw_names(flow: http.HTTPFlow) -> tuple[str, str, str]:
    """URL/CONNECT host, Host header (or :authority), SNI: as given (host_header costs ~5 us: once)."""
    req = flow.request
    return req.host, req.host_header or "", flow.client_conn.sni or ""


def local_destination(flow: http.HTTPFlow, raw: tuple[str, str, str] | None = None) -> bool:
    for name in raw or _raw_names(flow):
        name = name.strip().lower()
        if name.startswith("["):
            name = name[1:name.find("]")] if "]" in name else name[1:]
        elif name.count(":") == 1:  # host:port
            name = name.rsplit(":", 1)[0]
        if is_local(name):
            return True
    return False


def local_refusal() -> http.Response:
    return http.Response.make(403, "[AI-Guard] 代理不代为访问本机或本地地址 / the proxy does not connect to its own "
                                   "or local addresses on a client's behalf\n",
                              {"Content-Type": "text/plain; charset=utf-8", "X-AI-Guard-Action": "block"})


def host_names(flow: http.HTTPFlow, given: tuple[str, str, str] | None = None) -> list[str]:
    """The host names a request was addressed to, normalized (lower case, no trailing dot, no port)."""
    raw = list(given or _raw_names(flow))
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


# Bodies the shadow-AI check reads: JSON-ish text up to its size limit. A larger body or a binary
# type (a git push, a backup, a video) is not an LLM call and goes on as it streams in.
_BINARY_TYPES = ("multipart/", "image/", "audio/", "video/", "application/octet-stream", "application/zip",
                 "application/x-git-", "application/vnd.", "application/x-tar", "application/gzip")


OCTET_SNIFF = 1 << 20  # an octet-stream body this small may be JSON sent with the wrong type: held and read


def could_be_llm_call(req: http.Request) -> bool:
    length = req.headers.get("content-length", "")
    if length.isdigit() and int(length) > shadow.MAX_BODY:
        return False
    ctype = req.headers.get("content-type", "").lower().lstrip()
    if ctype.startswith("application/octet-stream") and length.isdigit() and int(length) <= OCTET_SNIFF:
        return True
    return not ctype.startswith(_BINARY_TYPES)


def responses_websocket(req: http.Request) -> bool:
    """The Responses API over a WebSocket (`GET /v1/responses`, `Upgrade: websocket`)."""
    return (req.method == "GET" and "websocket" in req.headers.get("upgrade", "").lower()
            and req.path.split("?", 1)[0].rstrip("/").endswith("/responses"))


def responses_websocket_refusal() -> http.Response:
    """426: coding agents (Codex) then fall back to HTTP, where every request is inspected whole."""
    body = {"error": {"message": "[AI-Guard] 请改用 HTTP 调用 Responses API：经由防护代理不支持 WebSocket 模式 / "
                                 "the Responses API WebSocket mode is not available through the AI guard: use HTTP",
                      "type": "invalid_request_error", "code": "websocket_not_supported", "param": None}}
    return http.Response.make(426, json.dumps(body, ensure_ascii=False).encode(),
                              {"Content-Type": "application/json", "Connection": "close",
                               "Cache-Control": "no-store"})
