"""Pseudonymisation benchmark: the time to first token it adds through a real proxy, the restore
cost per streamed event, and the round-trip success rate over generated replies.

A real mitmdump with the guard addon and policies/examples/pseudonymise.yaml (TLS interception,
--map-remote to a loopback fake model that streams its echo of the prompt one character per SSE
event, OpenAI chat shape). Compared, through the same proxy: a prompt with nothing to pseudonymise
and one with a customer name and a mobile number (request rewrite, restore with hold-back).
Time to first token = from sending the request to the first event carrying answer text.

    .venv/bin/python bench/bench_pseudo.py [--requests 40] [--gap-ms 0,10]
"""
from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
from harness import Proxy  # noqa: E402

from guard.proxy.pseudo import SSE  # noqa: E402
from guard.pseudo import Store  # noqa: E402

POLICY = ROOT / "policies" / "examples" / "pseudonymise.yaml"
PLAIN = "请帮我把这段话润色一下 12"
PSEUDO = "星河乳业 13912340000"  # a customer from the example list, a mobile number


class Model:
    """Streams "你说：" + the user's text, one character per event, `gap` seconds apart."""

    def __init__(self, gap: float):
        model = self
        self.gap = gap

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
                reply = "你说：" + body["messages"][-1]["content"]
                # Each event a packet of its own, as a model's tokens are (no Nagle + delayed-ACK 40 ms).
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for c in reply:
                    ev = f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': c}}]})}\n\n".encode()
                    self.wfile.write(f"{len(ev):x}\r\n".encode() + ev + b"\r\n")
                    self.wfile.flush()
                    if model.gap:
                        time.sleep(model.gap)
                end = b"data: [DONE]\n\n"
                self.wfile.write(f"{len(end):x}\r\n".encode() + end + b"\r\n0\r\n\r\n")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def first_token(client, prompt: str) -> tuple[float, str]:
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": prompt}]}
    t0 = time.perf_counter()
    first, text = None, []
    with client.stream("POST", "https://api.openai.com/v1/chat/completions", json=body) as r:
        buf = b""
        for chunk in r.iter_raw():
            buf += chunk
            while b"\n\n" in buf:
                ev, buf = buf.split(b"\n\n", 1)
                data = ev.split(b"data: ", 1)[-1]
                if data == b"[DONE]":
                    continue
                piece = json.loads(data)["choices"][0]["delta"].get("content", "")
                if piece and first is None:
                    first = time.perf_counter() - t0
                text.append(piece)
    return first, "".join(text)


def ttft(requests: int, gap_ms: float) -> None:
    model = Model(gap_ms / 1000)
    with tempfile.TemporaryDirectory() as tmp:
        proxy = Proxy(Path(tmp), model, policy=POLICY)
        try:
            with proxy.client() as c:
                for _ in range(3):  # warm up: TLS, policy, conversation
                    first_token(c, PLAIN), first_token(c, PSEUDO)
                plain, pseudo = [], []
                for _ in range(requests):  # interleaved: drift hits both alike
                    t, _ = first_token(c, PLAIN)
                    plain.append(t)
                    t, text = first_token(c, PSEUDO)
                    assert text == "你说：" + PSEUDO, text
                    pseudo.append(t)
        finally:
            proxy.stop()
    p50, q50 = statistics.median(plain) * 1000, statistics.median(pseudo) * 1000
    p90 = sorted(plain)[int(len(plain) * 0.9)] * 1000
    q90 = sorted(pseudo)[int(len(pseudo) * 0.9)] * 1000
    print(f"inter-token gap {gap_ms:>4.0f} ms: TTFT plain p50 {p50:6.1f} ms p90 {p90:6.1f} | "
          f"pseudonymised p50 {q50:6.1f} ms p90 {q90:6.1f} | added p50 {q50 - p50:+6.1f} ms")
    model.server.shutdown()


def restore_cost() -> None:
    store = Store()
    conv = store.get("bench")
    subs = [conv.surrogate(f"客户{i}", "label", "客户", store.rng, 100) for i in range(20)]
    subs += [conv.surrogate(f"1391234{i:04d}", "cn-mobile", "", store.rng, 100) for i in range(20)]
    rng = random.Random(1)
    text = "".join(rng.choice(["的", "是", "报告", "，", " ", "ok"]) + (rng.choice(subs) if rng.random() < 0.05 else "")
                   for _ in range(4000))
    events = [f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': text[i:i + 3]}}]})}\n\n".encode()
              for i in range(0, len(text), 3)]
    sse = SSE(conv.table())
    t0 = time.perf_counter()
    for ev in events:
        sse(ev)
    sse(b"")
    per = (time.perf_counter() - t0) / len(events) * 1e6
    print(f"restore: {per:.1f} us per SSE event ({len(events)} events, {len(subs)} surrogates in the table)")


def round_trip(n: int = 10000) -> None:
    store = Store()
    conv = store.get("rt")
    reals = ["星河乳业", "Acme Robotics", "青鸾计划", "13912340000", "110105198803121236", "6222021001123456789"]
    kinds = ["label", "label", "label", "cn-mobile", "cn-id", "bank-card"]
    subs = {r: conv.surrogate(r, k, "客户" if k == "label" else "", store.rng, 100) for r, k in zip(reals, kinds)}
    table = conv.table()
    rng = random.Random(28)
    exact = cased = spaced = 0
    for _ in range(n):
        real = rng.choice(reals)
        s = subs[real]
        exact += table.restore(f"好的，{s}。")[0] == f"好的，{real}。"
        cased += real in table.restore("好的，" + "".join(c.lower() if rng.random() < .5 else c for c in s))[0]
        spaced += real in table.restore("好的，" + "".join(c + rng.choice(["", " ", "**", "  "]) for c in s))[0]
    print(f"round trip over {n} generated replies: exact {exact / n:.2%}, re-cased {cased / n:.2%}, "
          f"re-spaced/emphasised {spaced / n:.2%}; hold-back at most {table.hold} characters")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--gap-ms", default="0,10", help="inter-token gaps of the fake model, comma-separated")
    a = ap.parse_args()
    round_trip()
    restore_cost()
    for gap in a.gap_ms.split(","):
        ttft(a.requests, float(gap))
    return 0


if __name__ == "__main__":
    sys.exit(main())
