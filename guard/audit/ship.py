"""Ship the audit trail to a SIEM, like a log shipper: follow the chain files from a persisted
cursor, send each record once, in order; when the collector is down, wait and resume from the
cursor. Never skips: the cursor moves only past records the connection took.

Formats: RFC 5424 syslog (octet-counting framing, RFC 6587) with the record as JSON in MSG and
node/seq/hash as structured data; ECS-style JSON lines; CEF in a syslog line. Every message
carries node, seq and hash, so the SIEM can see a gap or a replay.

Delivery: a connection the collector closed is noticed before the next send and the unsent
records go out again on a new one. A collector that dies while a batch is in flight may lose or
(after the resend) see twice the records of that batch: the SIEM dedupes on (node, seq).
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from guard.audit.chain import log_files
from guard.errors import AuditError

FORMATS = ("rfc5424", "ecs-json", "cef")
_SEVERITY = {"block": 4, "warn": 5, "pending_approval": 5, "redact": 5, "gap": 3}  # else 6 (informational)
_SD_ID = "aiguard@32473"  # 32473: the enterprise number RFC 5612 reserves for documentation


def _sd_escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def format_record(rec: dict, fmt: str, hostname: str) -> bytes:
    node = str(rec.get("node") or hostname)
    if fmt == "ecs-json":
        doc = {"@timestamp": rec.get("ts"), "message": f"ai-guard {rec.get('action')} {rec.get('event_id')}",
               "event": {"id": rec.get("event_id"), "action": rec.get("action"), "kind": "event",
                         "category": ["network"], "provider": "ai-guard", "sequence": rec.get("seq"),
                         "hash": rec.get("hash")},
               "rule": {"id": [r.get("id") for r in rec.get("rules") or []]},
               "observer": {"name": node, "product": "ai-guard"}, "host": {"name": node},
               "source": {"ip": rec.get("client") or None}, "user": {"name": rec.get("user")},
               "organization": {"name": rec.get("department")}, "url": {"domain": rec.get("host"),
                                                                         "path": rec.get("path")},
               "labels": {"node": node, "seq": rec.get("seq"), "hash": rec.get("hash")},
               "ai_guard": rec}
        return (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    sev = _SEVERITY.get(rec.get("action"), 6)
    pri = 13 * 8 + sev  # facility 13: log audit
    sd = (f'[{_SD_ID} node="{_sd_escape(node)}" seq="{rec.get("seq")}" hash="{rec.get("hash")}" '
          f'event="{_sd_escape(str(rec.get("event_id")))}" action="{_sd_escape(str(rec.get("action")))}"]')
    if fmt == "cef":
        def ext(v) -> str:
            return str(v if v is not None else "").replace("\\", "\\\\").replace("=", "\\=").replace("\n", " ")
        rules = ",".join(r.get("id", "") for r in rec.get("rules") or [])
        name = f"AI request {rec.get('action')}"
        msg = (f"CEF:0|AI-Guard|ai-guard|1|{ext(rules or rec.get('action'))}|{name}|{10 - sev}|"
               f"rt={ext(rec.get('ts'))} src={ext(rec.get('client'))} suser={ext(rec.get('user'))} "
               f"dhost={ext(rec.get('host'))} act={ext(rec.get('action'))} cs1Label=node cs1={ext(node)} "
               f"cn1Label=seq cn1={ext(rec.get('seq'))} cs2Label=hash cs2={ext(rec.get('hash'))} "
               f"externalId={ext(rec.get('event_id'))}")
    else:
        msg = "\ufeff" + json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
    line = f"<{pri}>1 {rec.get('ts') or '-'} {node} ai-guard {os.getpid()} {rec.get('action') or '-'} {sd} {msg}"
    data = line.encode()
    return f"{len(data)} ".encode() + data  # octet counting (RFC 6587 3.4.1)


class Shipper:
    def __init__(self, audit_dir: str | Path, url: str, fmt: str = "rfc5424", cafile: str | None = None,
                 log: Callable[[str], None] = lambda m: None):
        if fmt not in FORMATS:
            raise AuditError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
        parts = urlsplit(url)
        if parts.scheme not in ("tcp", "tls") or not parts.hostname or not parts.port:
            raise AuditError(f"--syslog: {url!r} is not tcp://HOST:PORT or tls://HOST:PORT")
        self.dir = Path(audit_dir)
        if not self.dir.is_dir():
            raise AuditError(f"{self.dir}: no such audit directory")
        self.url, self.fmt, self.log = url, fmt, log
        self.host, self.port, self.tls = parts.hostname, parts.port, parts.scheme == "tls"
        self.cafile = cafile
        self.hostname = socket.gethostname()
        tag = hashlib.sha256(f"{url}|{fmt}".encode()).hexdigest()[:12]
        self.cursor_path = self.dir / f".ship-{tag}.cursor"
        self.sock: socket.socket | None = None

    # -- cursor ------------------------------------------------------------------------------
    def _load_cursor(self) -> tuple[str, int]:
        try:
            c = json.loads(self.cursor_path.read_text(encoding="utf-8"))
            return str(c["file"]), int(c["offset"])
        except (OSError, ValueError, KeyError):
            return "", 0

    def _save_cursor(self, name: str, offset: int) -> None:
        tmp = self.cursor_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"file": name, "offset": offset}), encoding="utf-8")
        os.replace(tmp, self.cursor_path)

    # -- connection ----------------------------------------------------------------------------
    def _connect(self) -> None:
        s = socket.create_connection((self.host, self.port), timeout=10)
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.cafile)
            s = ctx.wrap_socket(s, server_hostname=self.host)
        self.sock = s

    def _alive(self) -> bool:
        """False when the collector closed the connection (checked before each send)."""
        if self.sock is None:
            return False
        try:
            self.sock.setblocking(False)
            try:
                data = self.sock.recv(1, socket.MSG_PEEK)
            except (BlockingIOError, ssl.SSLWantReadError):
                return True
            return bool(data)
        except OSError:
            return False
        finally:
            try:
                self.sock.setblocking(True)
            except OSError:
                pass

    def _drop(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None

    def _send(self, data: bytes) -> bool:
        if not self._alive():
            self._drop()
            try:
                self._connect()
            except OSError as e:
                self.log(f"collector {self.url} unreachable: {e}")
                return False
        try:
            self.sock.sendall(data)
            return True
        except OSError as e:
            self.log(f"collector {self.url} went away: {e}")
            self._drop()
            return False

    # -- following ------------------------------------------------------------------------------
    def pending(self) -> list[tuple[str, int, list[bytes]]]:
        """(file, start offset, whole lines) not yet shipped, file by file from the cursor."""
        name, offset = self._load_cursor()
        out = []
        for f in log_files(self.dir):
            if name and f.name < name:
                continue
            start = offset if f.name == name else 0
            with open(f, "rb") as fh:
                fh.seek(start)
                data = fh.read()
            end = data.rfind(b"\n") + 1  # a line still being written waits
            if end:
                out.append((f.name, start, data[:end].split(b"\n")[:-1]))
        return out

    def ship_once(self, batch: int = 200) -> int:
        """Send what is pending; returns records sent (stops at the first failure)."""
        sent = 0
        for name, pos, lines in self.pending():
            for i in range(0, len(lines), batch):
                chunk = lines[i:i + batch]
                records = []
                for ln in chunk:
                    if ln.strip():
                        try:
                            records.append(json.loads(ln))
                        except ValueError:  # a damaged line goes out as it is: `verify` names it
                            records.append({"action": "damaged", "raw": ln.decode("utf-8", "replace")[:2000]})
                data = b"".join(format_record(r, self.fmt, self.hostname) for r in records)
                if data and not self._send(data):
                    return sent
                pos += sum(len(ln) + 1 for ln in chunk)
                self._save_cursor(name, pos)  # only past what the connection took
                sent += len(records)
        return sent

    def follow(self, stop: Callable[[], bool] = lambda: False, interval: float = 0.5) -> None:
        backoff = interval
        while not stop():
            before = self._load_cursor()
            self.ship_once()
            pending = any(lines for _, _, lines in self.pending())
            if pending and self._load_cursor() == before:
                backoff = min(backoff * 2, 5.0)  # the collector is down: wait, then resume from the cursor
            else:
                backoff = interval
            time.sleep(backoff)
        self._drop()
