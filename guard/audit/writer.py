"""Append-only audit writer. Fails closed: callers block traffic when it raises.

Block and warn records are fsynced before the caller sends its response. Records of
allowed requests are group-committed: written at once, fsynced together by `sync()`
(the proxy calls it a few times a second), like a database's write-ahead log.
"""
from __future__ import annotations

import itertools
import json
import os
import threading
import time
from pathlib import Path

from guard.audit.chain import GENESIS, HEAD_FILE, canonical, digest, log_files
from guard.errors import AuditError


_PREFIX = os.urandom(3).hex()  # per process: ids from several proxy processes never collide
_counter = itertools.count(1)


def new_event_id() -> str:
    # Time-ordered and unique: UTC second, process prefix, counter (no syscall per id).
    return f"evt-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{_PREFIX}{next(_counter):06x}"


class AuditWriter:
    def __init__(self, audit_dir: str | Path, key: bytes | None = None):
        self.dir = Path(audit_dir)
        self.key = key
        self._lock = threading.Lock()
        self._fh = None
        self._day = None
        self._dirty = False
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            probe = self.dir / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise AuditError(f"{self.dir}: audit directory is not writable: {e.strerror}") from None
        self.seq, self.prev = self._resume()
        files = log_files(self.dir)
        self._last_day = files[-1].stem[len("audit-"):] if files else ""

    def _resume(self) -> tuple[int, str]:
        """Continue the chain from the last record on disk."""
        files = log_files(self.dir)
        for f in reversed(files):
            last = None
            try:
                with open(f, "rb") as fh:
                    for line in fh:
                        if line.strip():
                            last = line
            except OSError as e:
                raise AuditError(f"{f}: cannot read audit log: {e.strerror}") from None
            if last is not None:
                try:
                    rec = json.loads(last)
                    return int(rec["seq"]), str(rec["hash"])
                except (ValueError, KeyError, TypeError):
                    raise AuditError(f"{f}: last audit record is damaged; run `guard audit verify`") from None
        return 0, GENESIS

    def _file(self, day: str):
        if self._day != day:
            if self._fh:
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._fh.close()
            self._fh = open(self.dir / f"audit-{day}.jsonl", "a", encoding="utf-8")
            self._day = day
        return self._fh

    def write(self, record: dict, durable: bool) -> dict:
        """Chain, append and (if durable) fsync one record; returns it with seq/prev/hash."""
        with self._lock:
            try:
                rec = dict(record)
                rec["seq"] = self.seq + 1
                rec["prev"] = self.prev
                body = canonical(rec)
                rec["hash"] = digest(body, self.key)
                # Files are read in name (day) order: if the clock steps back, stay in the latest file.
                self._last_day = max(self._last_day, rec["ts"][:10])
                fh = self._file(self._last_day)
                # The canonical body with the hash appended: one serialization per record.
                fh.write(body[:-1].decode() + f',"hash":"{rec["hash"]}"}}\n')
                fh.flush()
                self.seq, self.prev = rec["seq"], rec["hash"]
                self._dirty = True
                if durable:
                    self._sync_locked()
                return rec
            except OSError as e:
                raise AuditError(f"cannot write audit record: {e.strerror or e}") from None

    def _sync_locked(self) -> None:
        if not self._dirty or self._fh is None:
            return
        os.fsync(self._fh.fileno())
        head = self.dir / HEAD_FILE
        tmp = head.with_suffix(".tmp")
        tmp.write_text(json.dumps({"seq": self.seq, "hash": self.prev}), encoding="utf-8")
        os.replace(tmp, head)
        self._dirty = False

    def sync(self) -> None:
        with self._lock:
            try:
                self._sync_locked()
            except OSError as e:
                raise AuditError(f"cannot sync audit log: {e.strerror or e}") from None

    def close(self) -> None:
        with self._lock:
            if self._fh:
                try:
                    self._sync_locked()
                finally:
                    self._fh.close()
                    self._fh = None
