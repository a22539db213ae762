"""Pseudonymisation through a real mitmdump: a fake model on loopback echoes the surrogates it
received in each answer shape (JSON, structured output, OpenAI chat/tool-call/Responses SSE,
Anthropic SSE, Gemini SSE, WebSocket frames), its reply split into two chunks at every position;
the client must read the real values back, the service must never see them, the audit neither."""
from __future__ import annotations

import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from websockets.sync.client import connect
from websockets.sync.server import serve

from harness import Proxy

ROOT = Path(__file__).resolve().parents[2]
POLICY = ROOT / "policies" / "examples" / "pseudonymise.yaml"
PROMPT = "星河乳业 13912340000"   # a customer from the example list and a mobile number
REALS = ("星河乳业", "13912340000")


def user_text(body: dict) -> str:
    if "action" in body:  # ChatGPT web
        return body["messages"][-1]["content"]["parts"][0]
    if "contents" in body:
        return body["contents"][-1]["parts"][0]["text"]
    if isinstance(body.get("input"), str):
        return body["input"]
    return body["messages"][-1]["content"]


def mangle(text: str, how: str) -> str:
    """What a model does to an echoed surrogate: changes its case, spaces it out, emphasises it."""
    if how == "case":
        return text.lower()
    if how == "space":
        return " ".join(text)
    if how == "emphasis":
        return text.replace("〔", "〔**").replace("〕", "**〕")
    return text


def sse(name: str | None, obj) -> bytes:
    data = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
    return (f"event: {name}\n" if name else "").encode() + f"data: {data}\n\n".encode()


def events(shape: str, pieces: list[str]) -> list[bytes]:
    if shape == "openai":
        return ([sse(None, {"id": "c1", "choices": [{"index": 0, "delta": {"content": p}}]}) for p in pieces]
                + [sse(None, {"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
                   sse(None, "[DONE]")])
    if shape == "tool":
        return ([sse(None, {"id": "c1", "choices": [{"index": 0, "delta": {"tool_calls": [
                    {"index": 0, "function": {"arguments": p}}]}}]}) for p in pieces]
                + [sse(None, {"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
                   sse(None, "[DONE]")])
    if shape == "anthropic":
        out = [sse("message_start", {"type": "message_start", "message": {"id": "m1", "content": []}}),
               sse("content_block_start", {"type": "content_block_start", "index": 0,
                                           "content_block": {"type": "text", "text": ""}})]
        for p in pieces:
            out += [sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                "delta": {"type": "text_delta", "text": p}}),
                    sse("ping", {"type": "ping"})]
        return out + [sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
                      sse("message_stop", {"type": "message_stop"})]
    if shape == "anthropic-tool":
        return ([sse("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {
                    "type": "tool_use", "id": "t1", "name": "lookup", "input": {}}})]
                + [sse("content_block_delta", {"type": "content_block_delta", "index": 1,
                                               "delta": {"type": "input_json_delta", "partial_json": p}})
                   for p in pieces]
                + [sse("content_block_stop", {"type": "content_block_stop", "index": 1}),
                   sse("message_stop", {"type": "message_stop"})])
    if shape == "responses-tool":
        return ([sse("response.function_call_arguments.delta", {
                    "type": "response.function_call_arguments.delta", "item_id": "fc_1", "output_index": 0,
                    "delta": p}) for p in pieces]
                + [sse("response.function_call_arguments.done", {
                    "type": "response.function_call_arguments.done", "item_id": "fc_1", "output_index": 0,
                    "arguments": "".join(pieces)})])
    if shape == "chatgpt":  # the web app: a JSON-patch stream, the conversation id in its first event
        return ([sse("delta_encoding", '"v1"'),
                 sse("delta", {"p": "", "o": "add", "v": {"message": {"author": {"role": "assistant"}, "content": {
                     "content_type": "text", "parts": [""]}}, "conversation_id": "conv-7"}}),
                 sse("delta", {"p": "/message/content/parts/0", "o": "append", "v": pieces[0]})]
                + [sse("delta", {"v": p}) for p in pieces[1:]] + [sse(None, "[DONE]")])
    if shape == "gemini":
        return [sse(None, {"candidates": [{"content": {"role": "model", "parts": [{"text": p}]}, "index": 0}]})
                for p in pieces]
    if shape == "responses":
        whole = "".join(pieces)
        return ([sse("response.output_text.delta", {"type": "response.output_text.delta", "item_id": "msg_1",
                                                    "output_index": 0, "content_index": 0, "delta": p})
                 for p in pieces]
                + [sse("response.output_text.done", {"type": "response.output_text.done", "item_id": "msg_1",
                                                     "output_index": 0, "content_index": 0, "text": whole}),
                   sse("response.completed", {"type": "response.completed", "response": {
                       "id": "resp_1", "output": [{"content": [{"type": "output_text", "text": whole}]}]}})])
    raise AssertionError(shape)


def read_back(shape: str, body: bytes) -> str:
    """The reply text the client assembles from what it received."""
    text = []
    for block in body.decode("utf-8").split("\n\n"):
        data = "\n".join(ln[6:] for ln in block.splitlines() if ln.startswith("data: "))
        if not data or data == "[DONE]":
            continue
        obj = json.loads(data)
        if shape == "openai":
            text.append(obj["choices"][0]["delta"].get("content", ""))
        elif shape == "tool":
            text += [t["function"]["arguments"] for t in obj["choices"][0]["delta"].get("tool_calls", [])]
        elif shape == "anthropic" and obj["type"] == "content_block_delta":
            text.append(obj["delta"]["text"])
        elif shape == "anthropic-tool" and obj["type"] == "content_block_delta":
            text.append(obj["delta"]["partial_json"])
        elif shape == "responses-tool":
            if obj["type"].endswith(".delta"):
                text.append(obj["delta"])
            else:
                assert obj["arguments"] == "".join(text)
        elif shape == "chatgpt":
            if isinstance(obj, dict) and isinstance(obj.get("v"), str):
                text.append(obj["v"])
        elif shape == "gemini":
            text.append(obj["candidates"][0]["content"]["parts"][0]["text"])
        elif shape == "responses":
            if obj["type"] == "response.output_text.delta":
                text.append(obj["delta"])
            elif obj["type"] == "response.output_text.done":
                assert obj["text"] == "".join(text)
            elif obj["type"] == "response.completed":
                assert obj["response"]["output"][0]["content"][0]["text"] == "".join(text)
    return "".join(text)


class FakeModel:
    """Echoes the user's text: `X-Split: k` cuts the reply in two at k, `X-Mangle` alters it."""

    def __init__(self):
        self.received: list[bytes] = []
        model = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                model.received.append(body)
                req = json.loads(body)
                shape = self.headers.get("x-shape", "json")
                reply = "你说：" + mangle(user_text(req), self.headers.get("x-mangle", ""))
                if shape in ("tool", "structured", "anthropic-tool", "responses-tool"):
                    reply = json.dumps({"who": reply}, ensure_ascii=False)
                if shape in ("json", "structured"):
                    out = json.dumps({"choices": [{"message": {"role": "assistant", "content": reply}}]},
                                     ensure_ascii=False).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                    return
                k = int(self.headers.get("x-split", "0"))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for chunk in events(shape, [reply[:k], reply[k:]]):
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.flush()
                    time.sleep(0.002)  # separate reads at the proxy
                self.wfile.write(b"0\r\n\r\n")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def model():
    m = FakeModel()
    yield m
    m.server.shutdown()


WS_RECEIVED: list[str] = []


@pytest.fixture(scope="module")
def ws_model():
    def handler(ws):
        for msg in ws:
            WS_RECEIVED.append(msg)
            text = json.loads(msg)["content"][0]["text"]
            reply = "你说：" + text
            k = int(json.loads(msg).get("split", 0))
            ws.send(json.dumps({"event": "appendText", "text": reply[:k]}, ensure_ascii=False))
            ws.send(json.dumps({"event": "appendText", "text": reply[k:]}, ensure_ascii=False))
            ws.send(json.dumps({"event": "done"}))

    server = serve(handler, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.socket.getsockname()[1]
    server.shutdown()


@pytest.fixture(scope="module")
def pproxy(tmp_path_factory, model, ws_model):
    p = Proxy(tmp_path_factory.mktemp("pseudo"), model, policy=POLICY,
              extra_maps=(f"|^https://copilot\\.microsoft\\.com|http://127.0.0.1:{ws_model}",))
    yield p
    p.stop()


URLS = {"openai": "https://api.openai.com/v1/chat/completions", "tool": "https://api.openai.com/v1/chat/completions",
        "json": "https://api.openai.com/v1/chat/completions",
        "structured": "https://api.openai.com/v1/chat/completions",
        "responses": "https://api.openai.com/v1/responses", "anthropic": "https://api.anthropic.com/v1/messages",
        "responses-tool": "https://api.openai.com/v1/responses",
        "chatgpt": "https://chatgpt.com/backend-api/conversation",
        "anthropic-tool": "https://api.anthropic.com/v1/messages",
        "gemini": "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash"
                  ":streamGenerateContent?alt=sse"}


def body_for(shape: str, text: str) -> dict:
    if shape == "chatgpt":
        return {"action": "next", "model": "auto", "messages": [
            {"id": "m1", "author": {"role": "user"}, "content": {"content_type": "text", "parts": [text]}}]}
    if shape == "gemini":
        return {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    if shape.startswith("responses"):
        return {"model": "gpt-4.1", "input": text, "stream": True}
    return {"model": "m", "messages": [{"role": "user", "content": text}],
            "stream": shape not in ("json", "structured")}


def expected(shape: str) -> str:
    reply = "你说：" + PROMPT
    tool = shape in ("tool", "structured", "anthropic-tool", "responses-tool")
    return json.dumps({"who": reply}, ensure_ascii=False) if tool else reply


def ask(client, shape: str, split: int = 0, how: str = ""):
    r = client.post(URLS[shape], json=body_for(shape, PROMPT), headers={"x-shape": shape, "x-split": str(split),
                                                                        "x-mangle": how})
    assert r.status_code == 200, r.text
    return r


@pytest.mark.parametrize("shape", ["openai", "tool", "anthropic", "anthropic-tool", "gemini", "responses",
                                   "responses-tool", "chatgpt"])
def test_stream_split_at_every_position(pproxy, model, shape):
    with pproxy.client() as c:
        n = len(expected(shape)) + 2  # the reply as the model writes it (surrogates are longer or equal)
        for k in range(n + 1):
            r = ask(c, shape, k)
            assert r.headers["x-ai-guard-pseudonymised"] == "2"
            assert read_back(shape, r.content) == expected(shape), k
            sent = model.received[-1].decode("utf-8")
            assert not any(real in sent for real in REALS)


@pytest.mark.parametrize("shape", ["json", "structured"])
@pytest.mark.parametrize("how", ["", "case", "space", "emphasis"])
def test_whole_answers_restored_despite_mangling(pproxy, shape, how):
    with pproxy.client() as c:
        r = ask(c, shape, how=how)
    content = r.json()["choices"][0]["message"]["content"]
    if shape == "structured":
        content = json.loads(content)["who"]
    assert "星河乳业" in content and "13912340000" in content, content
    assert r.headers["x-ai-guard-pseudonymised"] == "2" and r.headers["x-ai-guard-restored"] == "2"


@pytest.mark.parametrize("how", ["case", "space", "emphasis"])
def test_stream_restored_despite_mangling(pproxy, how):
    with pproxy.client() as c:
        for k in range(0, 40, 3):
            text = read_back("openai", ask(c, "openai", k, how).content)
            assert "星河乳业" in text and "13912340000" in text, (k, text)


def test_same_surrogates_within_a_conversation_and_marking_still_blocks(pproxy, model):
    with pproxy.client() as c:
        ask(c, "json")
        first = model.received[-1]
        ask(c, "json")
        assert model.received[-1] == first  # the same conversation (first user message): same surrogates
        n = len(model.received)
        r = c.post(URLS["json"], json=body_for("json", "机密★5年 星河乳业的报价"), headers={"x-shape": "json"})
        assert r.status_code == 403 and len(model.received) == n
    trail = "".join(p.read_text("utf-8") for p in pproxy.audit.rglob("*.jsonl"))
    assert "pseudonymise" in trail and not any(real in trail for real in REALS)
    assert "〔" not in trail  # no surrogate in the trail either


def test_web_app_conversation_keeps_its_surrogates_across_turns(pproxy, model):
    """ChatGPT web: turn one has no conversation_id (its answer names it: conv-7); turn two carries
    it and only the new message, and must use the same surrogates."""
    with pproxy.client() as c:
        ask(c, "chatgpt", 3)
        first = json.loads(model.received[-1])["messages"][-1]["content"]["parts"][0]
        turn2 = dict(body_for("chatgpt", "再说一次：星河乳业"), conversation_id="conv-7")
        r = c.post(URLS["chatgpt"], json=turn2, headers={"x-shape": "chatgpt", "x-split": "5"})
        assert read_back("chatgpt", r.content) == "你说：再说一次：星河乳业"
    second = json.loads(model.received[-1])["messages"][-1]["content"]["parts"][0]
    assert first.split(" ")[0] in second  # the customer's surrogate of turn one


def test_websocket_frames_restored(pproxy):
    tls = ssl.create_default_context(cafile=str(pproxy.confdir / "mitmproxy-ca-cert.pem"))
    with connect("wss://copilot.microsoft.com/c/api/chat?api-version=2", ssl=tls,
                 proxy=f"http://127.0.0.1:{pproxy.port}", open_timeout=15) as ws:
        want = "你说：" + PROMPT
        for k in range(len(want) + 3):
            ws.send(json.dumps({"event": "send", "split": k, "content": [{"type": "text", "text": PROMPT}]},
                               ensure_ascii=False))
            got = []
            while True:
                frame = json.loads(ws.recv(timeout=10))
                if frame["event"] == "done":
                    break
                got.append(frame["text"])
            assert "".join(got) == want, (k, got)
            assert not any(real in WS_RECEIVED[-1] for real in REALS)  # the service saw surrogates


def test_warning_page_says_what_goes_out_pseudonymised_and_confirmed_request_does(pproxy, model):
    """An internal marking warns; the customer beside it is named on the coaching page as going out
    pseudonymised; once confirmed, the request goes out with the surrogate, the answer restored."""
    from harness import acknowledge
    text = "内部\n关于星河乳业的报价"
    with pproxy.client() as c:
        r = c.post(URLS["json"], json=body_for("json", text), headers={"x-shape": "json"})
        assert r.status_code == 403 and r.headers["x-ai-guard-action"] == "warn"
        link = r.headers["x-ai-guard-ack"]
        page = c.get(link)
        assert "以假名发出" in page.text
        assert acknowledge(c, link).status_code == 200
        n = len(model.received)
        r = c.post(URLS["json"], json=body_for("json", text), headers={"x-shape": "json"})
        assert r.status_code == 200 and len(model.received) == n + 1
        assert "星河乳业" not in model.received[-1].decode("utf-8")
        assert r.json()["choices"][0]["message"]["content"] == "你说：" + text
        assert r.headers["x-ai-guard-pseudonymised"] == "1"
