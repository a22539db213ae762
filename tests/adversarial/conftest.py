import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE), str(HERE.parent / "e2e"), str(HERE.parent)]

from harness import Proxy  # noqa: E402
from receiver import Receiver  # noqa: E402


@pytest.fixture(scope="module")
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture(scope="module")
def ws_port(receiver):
    """A chat WebSocket (Copilot's) on loopback: every client message is stored by the receiver."""
    import json
    import threading

    from websockets.sync.server import serve

    def handler(ws):
        for msg in ws:
            with receiver._lock:
                receiver.stored.append(msg.encode() if isinstance(msg, str) else msg)
            ws.send(json.dumps({"event": "appendText", "text": "好的"}))

    server = serve(handler, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.socket.getsockname()[1]
    server.shutdown()


@pytest.fixture(scope="module")
def guard_proxy(tmp_path_factory, receiver, ws_port):
    """A real `guard proxy` (mitmdump underneath, TLS, --map-remote to the receiver)."""
    p = Proxy(tmp_path_factory.mktemp("guard"), receiver, command="guard",
              extra_maps=(f"|^https://copilot\\.microsoft\\.com|http://127.0.0.1:{ws_port}",))
    yield p
    p.stop()
