"""Resource attacks: bodies that never end, trickle in, or would be remembered forever."""
from __future__ import annotations

import json
import socket
import ssl
import time

from harness import Proxy

URL = "https://api.openai.com/v1/chat/completions"


def _tunnel(p: Proxy, host: str = "api.openai.com") -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", p.port), timeout=30)
    raw.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n\r\n".encode())
    assert raw.recv(4096).startswith(b"HTTP/1.1 200")
    ctx = ssl.create_default_context(cafile=str(p.confdir / "mitmproxy-ca-cert.pem"))
    return ctx.wrap_socket(raw, server_hostname=host)


def _records(p: Proxy, timeout: float = 5.0) -> list[dict]:
    end = time.monotonic() + timeout
    while True:
        recs = [json.loads(line) for f in p.audit.glob("*.jsonl") for line in f.read_text(encoding="utf-8").splitlines()]
        if recs or time.monotonic() > end:
            return recs
        time.sleep(0.05)


def test_chunked_body_past_the_limit_is_cut_while_streaming(tmp_path, upstream):
    from guard.policy.loader import DEFAULT_POLICY

    pol = tmp_path / "small.yaml"
    pol.write_text(f"extends: [{DEFAULT_POLICY}]\nlimits: {{max_bytes: 100000}}\n", encoding="utf-8")
    p = Proxy(tmp_path, upstream, policy=pol)
    try:
        before = len(upstream.received)
        tls = _tunnel(p)
        tls.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nContent-Type: application/json\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b" " * 65536
        tls.settimeout(5)
        sent, reply = 0, b""
        try:
            for _ in range(200):  # 13 MB if nobody stops it
                tls.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sent += len(chunk)
        except OSError:
            pass
        try:
            reply = tls.recv(4096)
        except OSError:
            pass
        assert sent < 13 * 1024 * 1024 or not reply.startswith(b"HTTP/1.1 200")
        assert not reply.startswith(b"HTTP/1.1 200")
        assert len(upstream.received) == before
        recs = _records(p)
        assert any(r["action"] == "block" and r["rules"][0]["id"] == "uninspectable.limit" for r in recs), recs
    finally:
        p.stop()


def test_trickling_body_is_cut_off(tmp_path, upstream):
    p = Proxy(tmp_path, upstream, extra_args=("--set", "guard_body_timeout=2"))
    try:
        tls = _tunnel(p)
        tls.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 1000\r\n\r\n{")
        tls.settimeout(0.5)
        start, closed_after = time.monotonic(), None
        while time.monotonic() - start < 10:
            try:
                tls.sendall(b" ")
                if tls.recv(100) == b"":
                    closed_after = time.monotonic() - start
                    break
            except socket.timeout:
                continue
            except OSError:
                closed_after = time.monotonic() - start
                break
        assert closed_after is not None and 1.5 < closed_after < 6, closed_after
        recs = _records(p)
        assert any(r["action"] == "block" and "cut off" in r.get("note", "") for r in recs), recs
    finally:
        p.stop()
