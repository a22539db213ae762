"""`guard audit ship`: every record once, in order, across a collector restart; formats parse."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import time

import pytest

from guard.audit.chain import load_key
from guard.audit.ship import format_record
from guard.audit.writer import AuditWriter

GUARD = [sys.executable, "-m", "guard.cli.main"]


class Collector:
    """A syslog collector on loopback: octet-counted frames, or JSON lines."""

    def __init__(self, port: int = 0, framing: str = "octet"):
        self.frames: list[bytes] = []
        self.framing = framing
        self.sock = socket.create_server(("127.0.0.1", port), reuse_port=False)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._conns.append(conn)
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn):
        buf = b""
        conn.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            buf += data
            while True:
                if self.framing == "lines":
                    if b"\n" not in buf:
                        break
                    frame, buf = buf.split(b"\n", 1)
                else:
                    m = re.match(rb"(\d+) ", buf)
                    if not m or len(buf) < m.end() + int(m.group(1)):
                        break
                    frame, buf = buf[m.end():m.end() + int(m.group(1))], buf[m.end() + int(m.group(1)):]
                self.frames.append(frame)
        conn.close()

    def stop(self):
        self._stop.set()
        self.thread.join(2)
        self.sock.close()
        time.sleep(0.3)  # readers drain what arrived, then close


def seqs(frames) -> list[int]:
    return [int(re.search(rb'seq="(\d+)"', f).group(1)) for f in frames]


def write(w: AuditWriter, n: int, start: int) -> None:
    for i in range(start, start + n):
        w.write({"event_id": f"evt-{i}", "ts": f"2026-12-02T10:00:{i % 60:02d}.000Z", "action": "block" if i % 2 else
                 "allow", "rules": [{"id": "state-secret.marking"}], "host": "api.openai.com", "client": "10.0.0.1"},
                i % 5 == 0)


def test_every_record_once_in_order_across_a_collector_restart(tmp_path):
    audit = tmp_path / "audit"
    w = AuditWriter(audit, node="node-a")
    write(w, 30, 1)
    col = Collector()
    port = col.port
    proc = subprocess.Popen([*GUARD, "audit", "ship", "--audit-dir", str(audit), "--syslog", f"tcp://127.0.0.1:{port}"],
                            stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 15
        while len(col.frames) < 30 and time.monotonic() < end:
            time.sleep(0.1)
        first = list(col.frames)
        col.stop()                      # the collector goes down mid-stream
        write(w, 40, 31)                # records keep coming meanwhile
        time.sleep(1.5)
        col = Collector(port)           # and comes back on the same port
        write(w, 30, 71)
        end = time.monotonic() + 20
        while len(first) + len(col.frames) < 100 and time.monotonic() < end:
            time.sleep(0.1)
        got = seqs(first) + seqs(col.frames)
        assert got == list(range(1, 101))  # each once, in order
        frame = col.frames[-1].decode()
        assert frame.startswith("<") and 'node="node-a"' in frame and "ai-guard" in frame
        rec = json.loads(frame.split("\ufeff", 1)[1])
        assert rec["seq"] == 100 and rec["node"] == "node-a" and len(rec["hash"]) == 64
    finally:
        proc.terminate()
        proc.wait(10)
        col.stop()
    w.close()
    # Shipping changed nothing: a record edited afterwards is still caught on the node.
    f = next(audit.glob("audit-*.jsonl"))
    lines = f.read_text().splitlines()
    lines[10] = lines[10].replace('"block"', '"allow"')
    f.write_text("\n".join(lines) + "\n")
    v = subprocess.run([*GUARD, "audit", "verify", "--audit-dir", str(audit)], capture_output=True, text=True)
    assert v.returncode == 1 and "BROKEN" in v.stdout


@pytest.mark.parametrize("fmt", ["ecs-json", "cef"])
def test_other_formats(tmp_path, fmt):
    audit = tmp_path / "audit"
    w = AuditWriter(audit, load_key(None), node="node-b")
    write(w, 5, 1)
    w.close()
    col = Collector(framing="lines" if fmt == "ecs-json" else "octet")
    try:
        p = subprocess.run([*GUARD, "audit", "ship", "--audit-dir", str(audit), "--syslog",
                            f"tcp://127.0.0.1:{col.port}", "--format", fmt, "--once"], capture_output=True, text=True)
        assert p.returncode == 0 and "sent 5" in p.stdout, p.stderr
        again = subprocess.run([*GUARD, "audit", "ship", "--audit-dir", str(audit), "--syslog",
                                f"tcp://127.0.0.1:{col.port}", "--format", fmt, "--once"], capture_output=True, text=True)
        assert "sent 0" in again.stdout  # the cursor remembers
        end = time.monotonic() + 5
        while len(col.frames) < 5 and time.monotonic() < end:
            time.sleep(0.05)
    finally:
        col.stop()
    assert len(col.frames) == 5
    if fmt == "ecs-json":
        docs = [json.loads(f) for f in col.frames]
        assert [d["event"]["sequence"] for d in docs] == [1, 2, 3, 4, 5]
        assert docs[0]["observer"]["name"] == "node-b" and docs[0]["rule"]["id"] == ["state-secret.marking"]
    else:
        text = col.frames[0].decode()
        assert "CEF:0|AI-Guard|ai-guard|1|state-secret.marking|" in text and "cn1=1" in text and "cs1=node-b" in text


def test_unreachable_collector_and_bad_arguments(tmp_path):
    audit = tmp_path / "audit"
    w = AuditWriter(audit)
    write(w, 3, 1)
    w.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = subprocess.run([*GUARD, "audit", "ship", "--audit-dir", str(audit), "--syslog", f"tcp://127.0.0.1:{port}",
                        "--once"], capture_output=True, text=True)
    assert p.returncode == 1 and "3 left" in p.stdout
    for url in ("udp://x:1", "tcp://nohostport"):
        p = subprocess.run([*GUARD, "audit", "ship", "--audit-dir", str(audit), "--syslog", url], capture_output=True,
                           text=True)
        assert p.returncode == 2 and p.stderr.count("\n") == 1


def test_rfc5424_escapes_structured_data():
    frame = format_record({"ts": "2026-12-02T00:00:00.000Z", "action": "block", "seq": 7, "hash": "ab",
                           "event_id": 'e"]\\x', "node": "n"}, "rfc5424", "h").decode()
    n, rest = frame.split(" ", 1)
    assert int(n) == len(rest.encode()) and 'event="e\\"\\]\\\\x"' in rest
