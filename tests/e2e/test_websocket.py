"""Client WebSocket frames (Copilot's chat socket) through a real mitmdump."""
from __future__ import annotations

import json
import ssl
import threading

import pytest
from websockets.sync.client import connect
from websockets.sync.server import serve

from harness import Proxy


@pytest.fixture(scope="module")
def ws_upstream():
    received: list[str] = []

    def handler(ws):
        for msg in ws:
            received.append(msg)
            ws.send(json.dumps({"event": "appendText", "text": "好的"}))

    server = serve(handler, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.socket.getsockname()[1], received
    server.shutdown()


@pytest.fixture(scope="module")
def ws_proxy(tmp_path_factory, upstream, ws_upstream):
    port, _ = ws_upstream
    p = Proxy(tmp_path_factory.mktemp("wsproxy"), upstream,
              extra_maps=(f"|^https://copilot\\.microsoft\\.com|http://127.0.0.1:{port}",))
    yield p
    p.stop()


def send(text: str) -> str:
    return json.dumps({"event": "send", "content": [{"type": "text", "text": text}]}, ensure_ascii=False)


def test_websocket_frames_scanned(ws_proxy, ws_upstream):
    _, received = ws_upstream
    tls = ssl.create_default_context(cafile=str(ws_proxy.confdir / "mitmproxy-ca-cert.pem"))
    with connect("wss://copilot.microsoft.com/c/api/chat?api-version=2", ssl=tls,
                 proxy=f"http://127.0.0.1:{ws_proxy.port}", open_timeout=15) as ws:
        clean = send("帮我写一首关于秋天的诗")
        ws.send(clean)
        assert json.loads(ws.recv(timeout=10))["event"] == "appendText"
        assert received[-1] == clean
        ws.send(send("机密★5年 关于塔河油田三维地震勘探成果的报告"))
        notice = json.loads(ws.recv(timeout=10))
        assert notice["error"]["type"] == "ai_guard_blocked" and notice["error"]["event"].startswith("evt-")
    assert len(received) == 1  # the marked frame never reached the service
