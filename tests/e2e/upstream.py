"""A fake AI provider on loopback: records what reaches it, streams SSE on /sse."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Upstream:
    def __init__(self, tls: tuple[str, str] | None = None):
        """`tls`: (certificate chain file, key file) to serve HTTPS instead of HTTP."""
        self.received: list[dict] = []
        self.sse_sent: list[float] = []  # time.monotonic() when each SSE token was written
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _body(self) -> bytes:
                n = int(self.headers.get("content-length") or 0)
                return self.rfile.read(n) if n else b""

            def _handle(self):
                body = self._body()
                upstream.received.append({"method": self.command, "path": self.path,
                                          "headers": dict(self.headers), "body": body})
                if self.path.endswith("/sse"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for i, delay in enumerate((0, 1.5)):
                        time.sleep(delay)
                        chunk = f"data: {json.dumps({'token': i})}\n\n".encode()
                        upstream.sse_sent.append(time.monotonic())
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    return
                out = json.dumps({"ok": True, "path": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_PATCH = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls:
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def last(self, path_part: str) -> dict | None:
        for r in reversed(self.received):
            if path_part in r["path"]:
                return r
        return None
