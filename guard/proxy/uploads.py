"""Uploads split across requests, put back together.

A file sent in parts (OpenAI Uploads API, Gemini resumable uploads, S3/OSS/COS multipart and
Azure block uploads to AI apps' storage, Content-Range chunking) is decided on the whole file
when the request that completes it arrives; a part alone is only a fragment: read as text when
it is text (with the end of the part before it, so a marking split at a boundary is whole),
never parsed as a file. Parts are spooled per upload session in memory, past 64 KB in an
unlinked private temporary file, and expire unused.
"""
from __future__ import annotations

import re
import tempfile
import threading
import time
from dataclasses import dataclass, field

from guard.errors import ExtractionError, LimitExceeded

SPOOL_IN_MEMORY = 64 << 10  # per upload; 1,000 sessions then hold at most 64 MB in memory
OVERLAP = 512          # characters of the previous text part read again with the next one
_OPENAI_PART = re.compile(r"^/v1/uploads/([A-Za-z0-9_-]+)/(parts|complete)$")
_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.I)


@dataclass(frozen=True)
class Step:
    """What one request is within a multi-request upload."""
    key: tuple
    order: int          # position in the file (part number, byte offset; ties keep arrival order)
    final: bool         # this request completes the upload: decide on the whole file
    data: bytes | None  # this request's share of the file


def _multipart_field(body: bytes, content_type: str, name: str) -> bytes | None:
    from guard.adapters.multipart import split_multipart
    try:
        for headers, payload in split_multipart(body, content_type):
            if headers.get_param("name", header="content-disposition") == name:
                return payload
    except ExtractionError:
        return None
    return None


def recognize(method: str, host: str, path: str, query: dict[str, str], headers: dict[str, str],
              body: bytes) -> Step | None:
    """The upload step a request is, or None. `query` and `headers` have lower-case keys."""
    bare = path.split("?", 1)[0]
    m = _OPENAI_PART.match(bare)
    if m and method == "POST":
        if m.group(2) == "complete":
            return Step(("openai", host, m.group(1)), 0, True, None)
        data = _multipart_field(body, headers.get("content-type", ""), "data")
        return Step(("openai", host, m.group(1)), 0, False, data if data is not None else body)
    command = headers.get("x-goog-upload-command", "").lower()
    if "upload" in command:  # Gemini/Google resumable: upload[, finalize] at an offset
        upload_id = query.get("upload_id") or bare
        try:
            offset = int(headers.get("x-goog-upload-offset", "0"))
        except ValueError:
            offset = 0
        return Step(("google", host, upload_id), offset, "finalize" in command, body)
    upload_id = query.get("uploadid")
    if upload_id:  # S3, OSS, COS, TOS multipart
        if "partnumber" in query:
            try:
                number = int(query["partnumber"])
            except ValueError:
                number = 0
            return Step(("s3", host, bare, upload_id), number, False, body)
        if method == "POST":
            return Step(("s3", host, bare, upload_id), 0, True, None)
    comp = query.get("comp", "").lower()
    if comp in ("block", "blocklist") and method == "PUT":  # Azure Blob blocks
        return Step(("azure", host, bare), 0, comp == "blocklist", body if comp == "block" else None)
    rng = _RANGE.search(headers.get("content-range", ""))
    if rng and method in ("PUT", "POST", "PATCH"):
        first, last, total = int(rng.group(1)), int(rng.group(2)), rng.group(3)
        final = total != "*" and last + 1 >= int(total)
        return Step(("range", host, bare), first, final, body)
    return None


@dataclass
class Session:
    spool: tempfile.SpooledTemporaryFile
    index: list[tuple[int, int, int, int]] = field(default_factory=list)  # (order, arrival, offset, length)
    size: int = 0
    tail: bytes = b""       # end of the last part, read again with the next (a marking split at a boundary)
    touched: float = 0.0


class UploadSessions:
    """Per (client, upload) spools, bounded in bytes per upload, in number and in time."""

    def __init__(self, max_bytes: int, max_sessions: int = 1000, ttl: float = 3600.0):
        self.max_bytes, self.max_sessions, self.ttl = max_bytes, max_sessions, ttl
        self._sessions: dict[tuple, Session] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def add(self, client: str, step: Step) -> Session:
        """Spool a part; LimitExceeded when the upload grows past max_bytes."""
        key = (client, *step.key)
        with self._lock:
            self._expire()
            s = self._sessions.get(key)
            if s is None:
                while len(self._sessions) >= self.max_sessions:
                    self._drop(next(iter(self._sessions)))
                s = self._sessions[key] = Session(tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY))
            s.touched = time.monotonic()
            data = step.data or b""
            if s.size + len(data) > self.max_bytes:
                self._drop(key)
                raise LimitExceeded(f"upload in parts grows past {self.max_bytes} bytes")
            s.spool.seek(0, 2)
            s.spool.write(data)
            s.index.append((step.order, len(s.index), s.size, len(data)))
            s.size += len(data)
            return s

    def assemble(self, client: str, step: Step) -> bytes:
        """The whole file (parts in order, the completing request's own data last) and the end
        of the session."""
        if step.data:
            self.add(client, Step(step.key, 1 << 62, False, step.data))
        key = (client, *step.key)
        with self._lock:
            s = self._sessions.pop(key, None)
            if s is None:
                return b""
            out = bytearray()
            for _order, _arrival, offset, length in sorted(s.index):
                s.spool.seek(offset)
                out += s.spool.read(length)
            s.spool.close()  # the temporary file is gone with it
            return bytes(out)

    def discard(self, client: str, step: Step) -> None:
        with self._lock:
            self._drop((client, *step.key))

    def _drop(self, key: tuple) -> None:
        s = self._sessions.pop(key, None)
        if s is not None:
            s.spool.close()

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, s in self._sessions.items() if now - s.touched > self.ttl]:
            self._drop(key)

    def close(self) -> None:
        with self._lock:
            for key in list(self._sessions):
                self._drop(key)
