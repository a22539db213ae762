"""Every route a marking can travel, tried the way an insider or a sloppy client would.

One table, through a real mitmdump with TLS interception and a loopback upstream that records
what it received. For every variant: a 403 (nothing of it reaches the upstream) and an audit
record of the decision."""
from __future__ import annotations

import base64
import gzip
import json
import re
import socket
import ssl
import time
import zlib
from urllib.parse import quote

import pytest
from harness import Proxy

MARK = "机密★5年"
SECRET = "关于某基地油料储备情况的报告"
MARKED = f"{MARK}\n{SECRET}"


def raw_https(proxy: Proxy, connect: str, sni: str, request: bytes) -> tuple[int, bytes]:
    """Send one request through a CONNECT tunnel with a chosen target and SNI; (status, body)."""
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=20) as raw:
        raw.sendall(f"CONNECT {connect} HTTP/1.1\r\nHost: {connect}\r\n\r\n".encode())
        assert raw.recv(4096).startswith(b"HTTP/1.1 200")
        ctx = ssl.create_default_context(cafile=str(proxy.confdir / "mitmproxy-ca-cert.pem"))
        ctx.check_hostname = False  # the point is a name mismatch
        with ctx.wrap_socket(raw, server_hostname=sni) as tls:
            tls.sendall(request)
            reply = b""
            while chunk := tls.recv(65536):
                reply += chunk
                if b"\r\n\r\n" in reply:
                    head, _, rest = reply.partition(b"\r\n\r\n")
                    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                                   if line.lower().startswith(b"content-length:")), None)
                    if length is not None and len(rest) >= length:
                        break
    return int(reply.split(b" ", 2)[1]), reply.partition(b"\r\n\r\n")[2]


def http_request(host: str, path: str, body: bytes, ctype: str = "application/json", extra: str = "") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            f"{extra}Connection: close\r\n\r\n").encode() + body


def chat(text: str) -> bytes:
    return json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}, ensure_ascii=False).encode()


# (id, how to send) -- each `send` returns (status, response body) given the proxy and an httpx client.
def _post(url, body, headers):
    return lambda p, c: (lambda r: (r.status_code, r.content))(c.post(url, content=body, headers=headers))


API = "https://api.openai.com/v1/chat/completions"
JSON = {"content-type": "application/json"}
ROUTES = [
    # 1. JSON structure
    ("json-key", _post(API, json.dumps({"model": "x", "tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "properties": {MARKED: {"type": "string"}}}}}]},
        ensure_ascii=False).encode(), JSON)),
    ("json-key-escaped", _post(API, json.dumps({"metadata": {MARKED: 1}}).encode(), JSON)),
    ("json-duplicate-key", _post(API, ('{"messages":[{"role":"user","content":' + json.dumps(MARKED) + '}],'
                                       '"messages":[{"role":"user","content":"hi"}]}').encode(), JSON)),
    ("ndjson-body", _post("https://api.openai.com/v1/batches", b'{"custom_id":"1","body":{"messages":[]}}\n'
                          + json.dumps({"custom_id": "2", "body": {"messages": [{"content": MARKED}]}},
                                       ensure_ascii=False).encode() + b"\n", {"content-type": "application/x-ndjson"})),
    ("jsonl-upload", lambda p, c: (lambda r: (r.status_code, r.content))(c.post(
        "https://api.openai.com/v1/files", data={"purpose": "batch"}, files={"file": ("batch.jsonl",
            b'{"custom_id":"a","body":{"messages":[{"content":"hi"}]}}\n' + json.dumps(
                {"custom_id": "b", "body": {"messages": [{"content": MARKED}]}}, ensure_ascii=False).encode())}))),
    ("json-trailing-data", _post(API, chat("hi") + b"\n" + MARKED.encode(), JSON)),
    ("json-second-value", _post(API, chat("hi") + chat(MARKED), JSON)),
    ("json-huge-number", _post(API, b'{"n":' + b"7" * 5000 + b',"messages":[{"content":' + json.dumps(MARKED).encode() + b"}]}", JSON)),
    ("json-invalid-utf8", _post(API, b'{"messages":[{"content":"' + MARKED.encode() + b'\xff\xfe"}]}', JSON)),
    ("json-without-content-type", _post(API, chat(MARKED), {})),
    ("json-cut-off-as-text", _post(API, chat(MARKED)[:-3], {"content-type": "text/plain"})),
    ("json-cut-off-no-type", _post(API, chat(MARKED)[:-2], {})),
    # 2. Form bodies
    ("form-key", _post(API, quote(MARKED).encode() + b"=", {"content-type": "application/x-www-form-urlencoded"})),
    ("form-key-and-value", _post(API, b"a=1&" + quote(MARKED).encode() + b"=x", {"content-type": "application/x-www-form-urlencoded"})),
    ("form-holding-json", _post(API, chat(MARKED), {"content-type": "application/x-www-form-urlencoded"})),
    # 3. Content-Encoding
    ("gzip-multi-member", _post(API, gzip.compress(b'{"messages":[{"content":"') + gzip.compress(
        json.dumps(MARKED)[1:-1].encode() + b'"}]}'), {**JSON, "content-encoding": "gzip"})),
    ("deflate-raw", _post(API, (lambda c: c.compress(chat(MARKED)) + c.flush())(zlib.compressobj(wbits=-15)),
                          {**JSON, "content-encoding": "deflate"})),
    ("gzip-then-br", _post(API, __import__("brotli").compress(gzip.compress(chat(MARKED))),
                           {**JSON, "content-encoding": "gzip, br"})),
    # 4. Who the request is for
    # A provider's address (TEST-NET-3: loopback itself the proxy refuses to reach for a client)
    ("sni-to-ip", lambda p, c: raw_https(p, "203.0.113.7:443", "api.openai.com",
                                         http_request("api.openai.com", "/v1/chat/completions", chat(MARKED)))),
    ("trailing-dot-sni", lambda p, c: raw_https(p, "api.openai.com.:443", "api.openai.com.",
                                                http_request("api.openai.com.", "/v1/chat/completions", chat(MARKED)))),
    ("upper-case-host", lambda p, c: raw_https(p, "API.OpenAI.com:443", "API.OPENAI.COM",
                                               http_request("API.OPENAI.COM", "/v1/chat/completions", chat(MARKED)))),
    ("host-header-disagrees", lambda p, c: raw_https(p, "api.openai.com:443", "api.openai.com",
                                                     http_request("cdn.example.net", "/v1/chat/completions", chat(MARKED)))),
    # 7. Catalog holes: regional endpoints, Bedrock, an AI app's own storage without Origin/Referer
    ("vertex-regional", _post("https://europe-west4-aiplatform.googleapis.com/v1/projects/p/locations/europe-west4/"
                              "publishers/google/models/gemini-2.0-flash:generateContent",
                              json.dumps({"contents": [{"parts": [{"text": MARKED}]}]}, ensure_ascii=False).encode(), JSON)),
    ("bedrock-runtime", _post("https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3/invoke",
                              json.dumps({"messages": [{"role": "user", "content": MARKED}]}, ensure_ascii=False).encode(), JSON)),
    ("chatgpt-storage-no-origin", lambda p, c: (lambda r: (r.status_code, r.content))(c.put(
        "https://files.oaiusercontent.com/file-abc?se=2026&sig=x", content=MARKED.encode(),
        headers={"content-type": "text/plain", "x-ms-blob-type": "BlockBlob"}))),
    # 6. Other carriers
    ("url-path-segment", lambda p, c: (lambda r: (r.status_code, r.content))(
        c.post(f"https://api.openai.com/v1/notes/{quote(MARKED)}", json={"x": 1}))),
    ("x-prompt-header", _post(API, chat("hi"), {**JSON, "x-prompt": quote(MARKED)})),
    ("x-file-name-header", lambda p, c: (lambda r: (r.status_code, r.content))(c.put(
        "https://api.openai.com/v1/uploads/raw", content=b"plain notes",
        headers={"x-file-name": quote("【机密】会议纪要.txt"), "content-type": "application/octet-stream"}))),
    ("socketio-polling", _post("https://chat.deepseek.com/socket.io/?EIO=4&transport=polling",
                               ("42" + json.dumps(["message", {"text": MARKED}], ensure_ascii=False)).encode(),
                               {"content-type": "text/plain;charset=UTF-8"})),
    ("socketio-polling-v3", _post("https://chat.deepseek.com/socket.io/?EIO=3&transport=polling",
                                  (lambda pkt: f"{len(pkt)}:{pkt}".encode())(
                                      "42" + json.dumps(["message", {"text": MARKED}], ensure_ascii=False)),
                                  {"content-type": "text/plain;charset=UTF-8"})),
    ("multipart-quoted-printable", _post("https://api.openai.com/v1/files",
        b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        + __import__("quopri").encodestring(MARKED.encode()) + b"\r\n--XyZ--\r\n",
        {"content-type": "multipart/form-data; boundary=XyZ"})),
    ("multipart-lenient-base64", _post("https://api.openai.com/v1/files",
        b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + b"*".join(base64.b64encode(MARKED.encode()).rstrip(b"=")[i:i + 7] for i in range(0, 40, 7))
        + b"\r\n--XyZ--\r\n", {"content-type": "multipart/form-data; boundary=XyZ"})),
    ("multipart-field-name", _post("https://api.openai.com/v1/files",
        f"--XyZ\r\nContent-Disposition: form-data; name=\"{MARKED}\"\r\n\r\nx\r\n--XyZ--\r\n".encode(),
        {"content-type": "multipart/form-data; boundary=XyZ"})),
    ("multipart-two-boundaries", _post("https://api.openai.com/v1/files",
        b"--A\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nhi\r\n--A--\r\n",
        {"content-type": "multipart/form-data; boundary=A; boundary=B"})),
    ("single-u-escape", _post(API, b'{"messages":[{"content":"\\u673a\xe5\xaf\x86\xe2\x98\x855\xe5\xb9\xb4 x"}]}', JSON)),
    ("base64-in-prompt", _post(API, chat("decode: " + base64.b64encode(MARKED.encode()).decode()), JSON)),
]


@pytest.fixture(scope="module")
def routes_proxy(tmp_path_factory, upstream):
    p = Proxy(tmp_path_factory.mktemp("routes"), upstream)
    yield p
    p.stop()


def _audited(audit_dir, event_id: str, timeout: float = 10) -> dict | None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for f in audit_dir.glob("*.jsonl"):
            for line in f.read_text(encoding="utf-8").splitlines():
                if event_id in line:
                    return json.loads(line)
        time.sleep(0.05)
    return None


@pytest.mark.parametrize("name, send", ROUTES, ids=[r[0] for r in ROUTES])
def test_marked_text_never_reaches_the_upstream(routes_proxy, upstream, name, send):
    before = len(upstream.received)
    with routes_proxy.client() as c:
        status, body = send(routes_proxy, c)
    leaked = [r for r in upstream.received[before:] if MARK.encode() in r["body"] or SECRET.encode() in r["body"]]
    assert status == 403, (status, body[:300])
    assert not leaked and len(upstream.received) == before
    event = re.search(rb"evt-[0-9A-Za-z]+-[0-9a-f]+", body)
    assert event, body[:300]
    assert _audited(routes_proxy.audit, event.group().decode())


CLEAN = [
    ("clean-json-keys", _post(API, json.dumps({"metadata": {"项目": "季度总结"}, "messages": [{"content": "你好"}]},
                                              ensure_ascii=False).encode(), JSON)),
    ("clean-ndjson", _post("https://api.openai.com/v1/batches", chat("你好") + b"\n" + chat("季度总结") + b"\n",
                           {"content-type": "application/x-ndjson"})),
    ("clean-form", _post(API, b"q=%E4%BD%A0%E5%A5%BD&x=", {"content-type": "application/x-www-form-urlencoded"})),
    ("clean-socketio", _post("https://chat.deepseek.com/socket.io/?EIO=4&transport=polling",
                             ("42" + json.dumps(["message", {"text": "你好"}], ensure_ascii=False)).encode(),
                             {"content-type": "text/plain;charset=UTF-8"})),
    ("clean-custom-header", _post(API, chat("hi"), {**JSON, "x-title": quote("季度总结")})),
    ("clean-multipart-qp", _post("https://api.openai.com/v1/files",
        b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        + __import__("quopri").encodestring("季度总结".encode()) + b"\r\n--XyZ--\r\n",
        {"content-type": "multipart/form-data; boundary=XyZ"})),
    ("clean-gzip-multi-member", _post(API, gzip.compress(b'{"messages":[{"content":') + gzip.compress(b'"hi"}]}'),
                                      {**JSON, "content-encoding": "gzip"})),
]


def test_socketio_over_websocket(routes_proxy, upstream):
    """Socket.IO frames over a WebSocket: the JSON inside 42[...] is read, not the raw text
    (where its quotes would make the marking look like a quoted mention)."""
    import asyncio

    import websockets

    async def run():
        async def echo(ws):
            async for _ in ws:
                pass
        async with websockets.serve(echo, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            proxy_ws = Proxy(routes_proxy.confdir.parent / "ws", upstream,
                             extra_maps=(f"|^https://chat\\.deepseek\\.com|http://127.0.0.1:{port}",))
            try:
                ctx = ssl.create_default_context(cafile=str(proxy_ws.confdir / "mitmproxy-ca-cert.pem"))
                async with websockets.connect("wss://chat.deepseek.com/socket.io/?EIO=4&transport=websocket",
                                              proxy=f"http://127.0.0.1:{proxy_ws.port}", ssl=ctx) as ws:
                    await ws.send("42" + json.dumps(["message", {"text": MARKED}], ensure_ascii=False))
                    notice = await asyncio.wait_for(ws.recv(), 10)
                    return notice
            finally:
                proxy_ws.stop()
    notice = asyncio.run(run())
    assert "ai_guard_blocked" in notice and "state-secret" in notice


@pytest.mark.parametrize("name, send", CLEAN, ids=[r[0] for r in CLEAN])
def test_clean_counterparts_pass(routes_proxy, upstream, name, send):
    with routes_proxy.client() as c:
        status, body = send(routes_proxy, c)
    assert status == 200, body[:300]


def test_domain_fronting_in_intercept_all_mode(tmp_path, upstream):
    """SNI and CONNECT target a CDN name, the inner Host is an AI service: with
    guard_intercept=all the tunnel is opened and the request inspected by its Host."""
    p = Proxy(tmp_path, upstream, extra_args=("--set", "guard_intercept=all"))
    try:
        before = len(upstream.received)
        status, body = raw_https(p, "cdn.example.net:443", "cdn.example.net",
                                 http_request("api.openai.com", "/v1/chat/completions", chat(MARKED)))
        assert status == 403 and len(upstream.received) == before
        status, _ = raw_https(p, "cdn.example.net:443", "cdn.example.net",
                              http_request("api.openai.com", "/v1/chat/completions", chat("你好")))
        assert status == 200
        # Not AI at all (no LLM call's shape, no AI host): passes as sent.
        status, _ = raw_https(p, "cdn.example.net:443", "cdn.example.net",
                              http_request("cdn.example.net", "/assets/notes",
                                           json.dumps({"note": MARKED}, ensure_ascii=False).encode()))
        assert status == 200 and MARK.encode() in upstream.received[-1]["body"]
    finally:
        p.stop()
