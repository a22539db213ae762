"""Append-only audit writer. Fails closed: callers block traffic when it raises.

Block and warn records are fsynced before the caller sends its response. Records of
allowed requests are group-committed: written at once, fsynced together by `sync()`
(the proxy calls it a few times a second), like a database's write-ahead log.

Writes are transactional: a record that cannot be written whole (disk full, read-only,
EIO) is cut back out of the file and does not advance the chain, so the trail continues
intact once the disk recovers. A trail whose directory or file vanishes or is replaced
while the proxy runs is noticed on the next write: the writer starts a new segment whose
first record, a `gap` record, says what went missing and chains to the last record it wrote.
"""
from __future__ import annotations

import errno
import grp
import itertools
import json
import logging
import os
import threading
import time
from pathlib import Path

from guard.audit.chain import GENESIS, HEAD_FILE, canonical, digest, head_record, log_files
from guard.errors import AuditError


log = logging.getLogger("guard")
_PREFIX = os.urandom(3).hex()  # per process: ids from several proxy processes never collide
_counter = itertools.count(1)


def new_event_id() -> str:
    # Time-ordered and unique: UTC second, process prefix, counter (no syscall per id).
    return f"evt-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{_PREFIX}{next(_counter):06x}"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:  # pragma: no cover - os.write raises rather than returning 0 on a full disk
            raise OSError(errno.ENOSPC, "short write")
        view = view[n:]


class AuditWriter:
    def __init__(self, audit_dir: str | Path, key: bytes | None = None, group: str | None = None,
                 node: str | None = None):
        """`group`: an auditors' group that may read the trail (dir 0750, files 0640); without
        it the trail is readable by the proxy's own user only (0700/0600). `node`: written in
        every record (one chain per node; `guard audit` merges several)."""
        self.dir = Path(audit_dir)
        self.key = key
        self.node = node
        self._lock = threading.Lock()
        self._head_lock = threading.Lock()  # head.json: written by durable appends and by sync()
        self._head_seq = 0                  # the newest head written: never moved back
        self._fd: int | None = None
        self._day: str | None = None
        self._path: Path | None = None
        self._size = 0              # the current file's length after its last whole record
        self._dirty = False
        self._gid = None
        if group:
            try:
                self._gid = grp.getgrnam(group).gr_gid
            except KeyError:
                raise AuditError(f"no such group {group!r} (option guard_audit_group)") from None
        self._dir_mode, self._file_mode = (0o750, 0o640) if group else (0o700, 0o600)
        self.gaps = 0               # segments started after the trail vanished
        try:
            self._make_dir()
            probe = self.dir / ".write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise AuditError(f"{self.dir}: audit directory is not writable: {e.strerror}") from None
        self.seq, self.prev = self._resume()
        files = log_files(self.dir)
        # The latest file's name after "audit-": a day, or a day and a segment (2026-12-02.r1).
        self._last_day = files[-1].stem[len("audit-"):] if files else ""

    def _make_dir(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=self._dir_mode)
        os.chmod(self.dir, self._dir_mode)
        if self._gid is not None:
            os.chown(self.dir, -1, self._gid)

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
                if not last.endswith(b"\n"):
                    # _open would cut this unterminated line: chaining to it would break the chain, and
                    # cutting it here could hide a record cut in half after it was acknowledged
                    raise AuditError(f"{f}: last audit record is incomplete (no line end: written when the "
                                     "proxy stopped?); run `guard audit verify`")
                try:
                    rec = json.loads(last)
                    return int(rec["seq"]), str(rec["hash"])
                except (ValueError, KeyError, TypeError):
                    raise AuditError(f"{f}: last audit record is damaged; run `guard audit verify`") from None
        return 0, GENESIS

    # -- files ------------------------------------------------------------------------------
    def _close_fd(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None
            self._day = None

    def _open(self, day: str) -> int:
        if self._day == day and self._fd is not None:
            return self._fd
        if self._fd is not None:
            os.fsync(self._fd)
            self._close_fd()
        path = self.dir / f"audit-{day}.jsonl"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, self._file_mode)
        st = os.fstat(fd)
        if st.st_size and not self._ends_with_newline(fd, st.st_size):
            # A torn last line (a crash mid-write): cut it, it was never acknowledged.
            os.ftruncate(fd, self._last_newline(path) if st.st_size else 0)
        if self._gid is not None:
            os.fchown(fd, -1, self._gid)
            os.fchmod(fd, self._file_mode)  # open()'s mode passed the umask (the unit's UMask=0077 made it 0600)
        self._fd, self._day, self._path = fd, day, path
        self._size = os.fstat(fd).st_size
        return fd

    @staticmethod
    def _ends_with_newline(fd: int, size: int) -> bool:
        return os.pread(fd, 1, size - 1) == b"\n" if size else True

    @staticmethod
    def _last_newline(path: Path) -> int:
        data = path.read_bytes()
        return data.rfind(b"\n") + 1

    def _vanished(self) -> str | None:
        """Why the open trail is no longer the one on disk, or None."""
        if self._fd is None:
            return None if self.dir.is_dir() else f"audit directory {self.dir} is missing"
        try:
            st = os.fstat(self._fd)
            if st.st_nlink == 0:
                return f"{self._path.name} was deleted"
            on_disk = os.stat(self._path)
        except FileNotFoundError:
            return f"{self._path.name} was removed"
        except OSError as e:
            return f"{self._path}: {e.strerror}"
        if (on_disk.st_ino, on_disk.st_dev) != (st.st_ino, st.st_dev):
            return f"{self._path.name} was replaced"
        return None

    def _recover(self, why: str) -> None:
        """Start a new segment after the trail vanished: its first record says so and chains
        to the last record this writer wrote. Raises AuditError while that cannot be done."""
        self._close_fd()
        log.error("audit trail vanished (%s): blocking AI traffic until a new segment is written", why)
        try:
            self._make_dir()
        except OSError as e:
            raise AuditError(f"audit trail unavailable ({why}); cannot recreate {self.dir}: {e.strerror}") from None
        day = time.strftime("%Y-%m-%d", time.gmtime())
        n = 1
        while (self.dir / f"audit-{day}.r{n}.jsonl").exists():
            n += 1
        # A new file name: never append to a file somebody else put in the trail's place.
        self._last_day = max(self._last_day, f"{day}.r{n}")
        gap = {"event_id": new_event_id(), "ts": _now(), "action": "gap", "rules": [], "host": "", "path": "",
               "client": "", "user": None, "body_sha256": "", "policy": {"id": "", "sha256": ""},
               "gap": {"reason": why, "last_seq": self.seq, "last_hash": self.prev}}
        self._append(gap, durable=True)
        self.gaps += 1
        log.warning("audit trail continues in a new segment after sequence %d (gap %d recorded)", self.seq - 1, self.gaps)

    # -- records ----------------------------------------------------------------------------
    def write(self, record: dict, durable: bool) -> dict:
        """Chain, append and (if durable) fsync one record; returns it with seq/prev/hash."""
        with self._lock:
            why = self._vanished()
            if why is not None:
                self._recover(why)
            return self._append(record, durable)

    def _append(self, record: dict, durable: bool) -> dict:
        rec = dict(record)
        if self.node:
            rec.setdefault("node", self.node)
        rec["seq"] = self.seq + 1
        rec["prev"] = self.prev
        body = canonical(rec)
        rec["hash"] = digest(body, self.key)
        line = body[:-1] + f',"hash":"{rec["hash"]}"}}\n'.encode()
        # Files are read in name (day) order: if the clock steps back, stay in the latest file.
        day = max(self._last_day, rec["ts"][:10])
        try:
            fd = self._open(day)
        except OSError as e:
            raise AuditError(f"cannot open audit log: {e.strerror or e}") from None
        self._last_day = day
        start = self._size
        try:
            _write_all(fd, line)
            if durable:
                os.fsync(fd)
                self._write_head(rec["seq"], rec["hash"])
        except OSError as e:
            self._rollback(fd, start)
            raise AuditError(f"cannot write audit record: {e.strerror or e}") from None
        self._size = start + len(line)
        self.seq, self.prev = rec["seq"], rec["hash"]
        self._dirty = not durable
        return rec

    def _rollback(self, fd: int, size: int) -> None:
        """Cut a record that was not written whole back out (a full disk frees nothing, but
        truncating needs no new blocks); if even that fails, the file is reopened and checked
        before the next record."""
        try:
            os.ftruncate(fd, size)
        except OSError:
            self._close_fd()

    def _write_head(self, seq: int, hash_: str) -> None:
        with self._head_lock:
            if seq < self._head_seq:
                return  # a durable append meanwhile wrote a newer head
            self._write_head_file(seq, hash_)
            self._head_seq = seq

    def _write_head_file(self, seq: int, hash_: str) -> None:
        head = self.dir / HEAD_FILE
        tmp = self.dir / f".{HEAD_FILE}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, self._file_mode)
        try:
            if self._gid is not None:  # auditors read it too (guard audit verify)
                os.fchown(fd, -1, self._gid)
                os.fchmod(fd, self._file_mode)
            _write_all(fd, json.dumps(head_record(seq, hash_, self.key)).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, head)  # atomic: head.json is the old or the new one, never half of one

    def sync(self) -> None:
        # The fsync runs outside the writer's lock: the event loop goes on appending allowed
        # records instead of waiting for the disk. It syncs a duplicate of the descriptor, which
        # a day's rotation or a recovery meanwhile cannot close under it.
        with self._lock:
            if not self._dirty or self._fd is None:
                return
            try:
                fd = os.dup(self._fd)
            except OSError as e:
                raise AuditError(f"cannot sync audit log: {e.strerror or e}") from None
            seq, prev = self.seq, self.prev
            self._dirty = False
        try:
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self._write_head(seq, prev)
        except OSError as e:
            with self._lock:
                self._dirty = True
            raise AuditError(f"cannot sync audit log: {e.strerror or e}") from None

    def close(self) -> None:
        try:
            self.sync()
        finally:
            with self._lock:
                self._close_fd()


def _now() -> str:
    from guard.audit.record import now_iso
    return now_iso()
