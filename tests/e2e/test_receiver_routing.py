"""Routing (issue 22, family 7) and acknowledgements bound to content (family 6), through a real
mitmdump to receiver.Receiver, each with a benign control of the same shape that goes through."""
from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from harness import Proxy, acknowledge, free_port
from receiver import Receiver
from writers import make_image

MARK = "机密★5年"


@pytest.fixture(scope="module")
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture(scope="module")
def local_service():
    """Stands for the proxy host's own services (a console, an admin page) on loopback."""
    hits = []

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "6")
            self.end_headers()
            self.wfile.write(b"secret")

        do_POST = do_GET

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv.server_address[1], hits
    srv.shutdown()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory, receiver):
    metrics = free_port()
    p = Proxy(tmp_path_factory.mktemp("proxy"), receiver, extra_args=("--set", f"guard_metrics=127.0.0.1:{metrics}"))
    p.metrics = metrics
    yield p
    p.stop()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "127.1", "0x7f000001", "[::1]",
                                  "sub.localhost", "0.0.0.0"])
def test_the_proxy_never_reaches_local_addresses(guarded, local_service, host):
    port, hits = local_service
    before = len(hits)
    with httpx.Client(proxy=f"http://127.0.0.1:{guarded.port}", timeout=30) as c:
        r = c.get(f"http://{host}:{port}/admin")
        m = c.get(f"http://{host}:{guarded.metrics}/metrics")
    # 403 from the guard (400 where mitmproxy already refuses the address form itself)
    assert r.status_code in (400, 403) and b"secret" not in r.content
    assert m.status_code in (400, 403) and "guard_" not in m.text
    assert len(hits) == before
    # Control: the same services answer when asked directly, and a remote host is reached.
    assert httpx.get(f"http://127.0.0.1:{guarded.metrics}/metrics").status_code == 200
    with guarded.client() as c:
        assert c.get("https://example.org/admin").status_code == 200


def test_link_local_metadata_refused(guarded):
    with httpx.Client(proxy=f"http://127.0.0.1:{guarded.port}", timeout=30) as c:
        r = c.get("http://169.254.169.254/latest/meta-data/")
    assert r.status_code == 403


def chat(text: str) -> dict:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}


SHAPES = {
    "openai-as-form": lambda t: (json.dumps(chat(t)), "application/x-www-form-urlencoded"),
    "openai-as-octet": lambda t: (json.dumps(chat(t)), "application/octet-stream"),
    "openai-as-text": lambda t: (json.dumps(chat(t)), "text/plain"),
    "dify-workflow": lambda t: (json.dumps({"inputs": {"doc": t}, "response_mode": "blocking", "user": "u1"}),
                                "application/json"),
    "dify-chat-as-form": lambda t: (json.dumps({"query": t, "inputs": {}, "response_mode": "streaming", "user": "u"}),
                                    "application/x-www-form-urlencoded"),
    "coze": lambda t: (json.dumps({"bot_id": "73", "user_id": "u", "additional_messages": [
        {"role": "user", "content": t, "content_type": "text"}]}), "application/json"),
    "cohere-v1": lambda t: (json.dumps({"message": t, "chat_history": [], "preamble": "你是助手"}), "application/json"),
    "flowise": lambda t: (json.dumps({"question": t, "overrideConfig": {}}), "application/json"),
    "langflow": lambda t: (json.dumps({"input_value": t, "input_type": "chat", "output_type": "chat"}),
                           "application/json"),
    "mcp-tools-call": lambda t: (json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                                             "params": {"name": "save", "arguments": {"text": t}}}), "application/json"),
    "mcp-client-result": lambda t: (json.dumps({"jsonrpc": "2.0", "id": 9, "result": {
        "role": "user", "content": {"type": "text", "text": t}}}), "application/json"),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_shadow_ai_recognised_by_shape(guarded, receiver, shape):
    """An LLM/agent call to a host outside the catalog, whatever its content type."""
    body, ctype = SHAPES[shape](f"{MARK}\n关于某基地油料储备情况的报告")
    receiver.clear()
    with guarded.client() as c:
        r = c.post(f"https://relay-{shape}.example.net/v1/run", content=body.encode(), headers={"content-type": ctype})
        assert r.status_code == 403, r.text
        assert not receiver.reached(MARK)
        benign, ctype = SHAPES[shape]("帮我写一首关于春天的诗")
        assert c.post(f"https://relay-{shape}.example.net/v1/run", content=benign.encode(),
                      headers={"content-type": ctype}).status_code == 200
    assert receiver.reached("春天的诗")


def image_prompt(img: bytes) -> dict:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "看看这张图"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(img).decode()}}]}]}


def test_an_acknowledgement_covers_that_image_not_its_position(tmp_path, receiver):
    """OCR off: every image is a warning about an unread item. Acknowledging one image lets the
    same image through again, never another image sent in the same place."""
    from guard.policy.loader import DEFAULT_POLICY
    pol = tmp_path / "p.yaml"
    pol.write_text(f"extends: [{DEFAULT_POLICY}]\nlimits: {{max_ocr_images: 0}}\n", encoding="utf-8")
    p = Proxy(tmp_path / "px", receiver, policy=pol)
    try:
        url = "https://api.openai.com/v1/chat/completions"
        harmless, secret = make_image(["春天的花"]), make_image([MARK, "油料储备情况"])
        with p.client() as c:
            first = c.post(url, json=image_prompt(harmless))
            assert first.status_code == 403 and first.headers["x-ai-guard-action"] == "warn"
            assert acknowledge(c, first.headers["x-ai-guard-ack"]).status_code == 200
            assert c.post(url, json=image_prompt(harmless)).status_code == 200   # control: that image passes
            receiver.clear()
            other = c.post(url, json=image_prompt(secret))                      # same position, other image
            assert other.status_code == 403 and other.headers["x-ai-guard-action"] == "warn"
        assert not any(secret in blob or base64.b64encode(secret) in blob for blob in receiver.stored)
    finally:
        p.stop()
