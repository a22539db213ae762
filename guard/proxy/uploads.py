"""Uploads split across requests, put back together the way the storage service does.

A file sent in parts (OpenAI Uploads API, Gemini resumable uploads, S3/OSS/COS multipart and
Azure block uploads to AI apps' storage, Content-Range chunking) is decided on the whole file
when the request that completes it arrives, assembled as the receiver assembles it:

    OpenAI Uploads   the `part_ids` of the completing request, in that order, only those
                     (a part's id is the one the service answered the part with)
    S3 multipart     parts by PartNumber, a part sent again replaces the earlier one, the
                     numbers listed by CompleteMultipartUpload
    Azure blocks     blocks by block id (last one wins), committed in the Put Block List order
    byte ranges      Content-Range / X-Goog-Upload-Offset chunks placed at their offsets;
                     chunks that overlap with different bytes, or leave a hole, are refused

A name the guard never saw a part for, two `data` fields in one part, or overlapping chunks
that disagree make the upload uninspectable (blocked): the guard would otherwise decide on a
different file than the one stored. A part alone is read as a whole request first (a body
cannot hide behind upload parameters) and its share of the file as text with the end of the
part before it, so a marking split at a boundary is whole. Parts are spooled per upload
session in memory, past 64 KB in an unlinked private temporary file, and expire unused.
"""
from __future__ import annotations

import json
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import unquote
from xml.etree import ElementTree

from guard.errors import ExtractionError, LimitExceeded

SPOOL_IN_MEMORY = 64 << 10  # per upload; 1,000 sessions then hold at most 64 MB in memory
OVERLAP = 512          # characters of the previous text part read again with the next one
# A completing request's list of parts larger than this is refused, not read as "every part":
# every part in arrival order is another file than a list's subset in its order. 8 MB holds
# the largest real lists (Azure: 50,000 block ids; S3: 10,000 parts with checksums).
MANIFEST_MAX = 8 << 20
_OPENAI_PART = re.compile(r"^/v1/uploads/([A-Za-z0-9_-]+)/(parts|complete)$")
_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.I)


class Ambiguous(ExtractionError):
    """The parts do not make one file the guard can name (the receiver's file is another)."""

    def __init__(self, detail: str):
        super().__init__("corrupt", detail)


@dataclass(frozen=True)
class Step:
    """What one request is within a multi-request upload."""
    key: tuple
    order: int          # byte offset for ranged protocols; else arrival (ties keep arrival order)
    final: bool         # this request completes the upload: decide on the whole file
    data: bytes | None  # this request's share of the file
    slot: str = ""      # the name the receiver files this part under (part number, block id)
    ranged: bool = False  # parts are byte ranges placed at `order`
    manifest: tuple[str, ...] | None = None  # the completing request's list of parts, in order
    total: int | None = None  # the file's size when the client declared it


def _multipart_fields(body: bytes, content_type: str, name: str) -> list[bytes] | None:
    from guard.adapters.multipart import split_multipart
    try:
        return [payload for headers, payload in split_multipart(body, content_type)
                if headers.get_param("name", header="content-disposition") == name]
    except ExtractionError:
        return None


def _xml_names(body: bytes, tags: tuple[str, ...]) -> tuple[str, ...] | None:
    """Text of every element named in `tags` (namespace ignored), in document order; None when
    the body lists none (an empty list is read as 'every part seen')."""
    if len(body) > MANIFEST_MAX:
        raise Ambiguous("the list of parts completing the upload is too large to read")
    if not body.strip():
        return None
    try:
        root = ElementTree.fromstring(body)  # no DTD/entity expansion in the stdlib parser's defaults
    except ElementTree.ParseError:
        raise Ambiguous("the list of parts completing the upload is not XML") from None
    out = tuple((el.text or "").strip() for el in root.iter() if el.tag.rsplit("}", 1)[-1] in tags)
    return out or None


def _openai_manifest(body: bytes) -> tuple[str, ...] | None:
    if len(body) > MANIFEST_MAX:
        raise Ambiguous("the request completing the upload is too large to read")
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        raise Ambiguous("the request completing the upload is not JSON") from None
    ids = doc.get("part_ids") if isinstance(doc, dict) else None
    if not ids:
        return None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise Ambiguous("part_ids is not a list of part ids")
    return tuple(ids)


def recognize(method: str, host: str, path: str, query: dict[str, str], headers: dict[str, str],
              body: bytes) -> Step | None:
    """The upload step a request is, or None. `query` and `headers` have lower-case keys.
    Raises Ambiguous when the request is an upload step the receiver would read differently."""
    bare = path.split("?", 1)[0]
    m = _OPENAI_PART.match(bare)
    if m and method == "POST":
        key = ("openai", host, m.group(1))
        if m.group(2) == "complete":
            return Step(key, 0, True, None, manifest=_openai_manifest(body))
        data = _multipart_fields(body, headers.get("content-type", ""), "data")
        if data is not None and len(data) > 1:
            # Which one a form parser keeps differs between frameworks: not one file.
            raise Ambiguous("an upload part with the `data` field more than once")
        return Step(key, 0, False, data[0] if data else body)
    command = headers.get("x-goog-upload-command", "").lower()
    if "upload" in command:  # Gemini/Google resumable: upload[, finalize] at an offset
        upload_id = query.get("upload_id") or bare
        offset = headers.get("x-goog-upload-offset", "0").strip()
        if not offset.isdecimal():  # what int() reads: "²" is a digit, not a number
            raise Ambiguous("X-Goog-Upload-Offset is not a byte offset")
        return Step(("google", host, upload_id), int(offset), "finalize" in command, body, ranged=True)
    upload_id = query.get("uploadid")
    if upload_id:  # S3, OSS, COS, TOS multipart
        key = ("s3", host, bare, upload_id)
        if "partnumber" in query:
            number = query["partnumber"].strip()
            if not number.isdecimal():
                raise Ambiguous("partNumber is not a number")
            return Step(key, 0, False, body, slot=str(int(number)))
        if method == "POST":
            names = _xml_names(body, ("PartNumber",))
            if names and not all(n.isdecimal() for n in names):
                raise Ambiguous("a PartNumber that is not a number")
            return Step(key, 0, True, None, manifest=tuple(str(int(n)) for n in names) if names else None)
    comp = query.get("comp", "").lower()
    if comp in ("block", "blocklist") and method == "PUT":  # Azure Blob blocks
        key = ("azure", host, bare)
        if comp == "block":
            return Step(key, 0, False, body, slot=unquote(query.get("blockid", "")))
        return Step(key, 0, True, None, manifest=_xml_names(body, ("Latest", "Committed", "Uncommitted")))
    rng = headers.get("content-range", "")
    if rng and method in ("PUT", "POST", "PATCH"):
        m = _RANGE.match(rng)
        if not m:
            raise Ambiguous("Content-Range is not one byte range")
        first, last, total = int(m.group(1)), int(m.group(2)), m.group(3)
        if last < first or last - first + 1 != len(body):
            raise Ambiguous("Content-Range does not match the body's length")
        final = total != "*" and last + 1 >= int(total)
        return Step(("range", host, bare), first, final, body, ranged=True,
                    total=int(total) if total != "*" else None)
    return None


@dataclass
class Session:
    spool: tempfile.SpooledTemporaryFile
    # slot -> (order, arrival, spool offset, length); a slot sent again replaces the earlier part
    index: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)  # the receiver's part id -> slot
    size: int = 0
    arrivals: int = 0
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

    def known(self, client: str, step: Step) -> bool:
        with self._lock:
            return (client, *step.key) in self._sessions

    def add(self, client: str, step: Step) -> tuple[Session, str]:
        """Spool a part: (its session, its slot). LimitExceeded when the upload grows past max_bytes."""
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
            slot = step.slot or f"#{s.arrivals}"
            s.spool.seek(0, 2)
            s.spool.write(data)
            s.index[slot] = (step.order, s.arrivals, s.size, len(data))
            s.arrivals += 1
            s.size += len(data)
            return s, slot

    def name(self, client: str, key: tuple, slot: str, part_id: str) -> None:
        """The id the receiver gave a part (OpenAI answers each part with its id)."""
        with self._lock:
            s = self._sessions.get((client, *key))
            if s is not None and slot in s.index:
                s.names[part_id] = slot

    def assemble(self, client: str, step: Step) -> bytes:
        """The whole file as the receiver stores it, and the end of the session. b"" when no
        part passed through the guard; Ambiguous when the parts do not make one named file."""
        if step.data:
            self.add(client, Step(step.key, step.order, False, step.data, ranged=step.ranged))
        key = (client, *step.key)
        with self._lock:
            s = self._sessions.pop(key, None)
        if s is None:
            return b""
        try:
            return self._whole(s, step)
        finally:
            s.spool.close()  # the temporary file is gone with it

    @staticmethod
    def _whole(s: Session, step: Step) -> bytes:
        def read(entry) -> bytes:
            s.spool.seek(entry[2])
            return s.spool.read(entry[3])

        if step.ranged:
            # Byte ranges at their offsets: an overlap must repeat the same bytes, a hole is not a file.
            out = bytearray()
            for entry in sorted(s.index.values()):
                chunk, at = read(entry), entry[0]
                if at > len(out):
                    raise Ambiguous(f"the upload has a hole at byte {len(out)}")
                overlap = out[at:at + len(chunk)]
                if overlap != chunk[:len(overlap)]:
                    raise Ambiguous(f"chunks overlap at byte {at} with different bytes")
                out[at:at + len(chunk)] = chunk
            if step.total is not None and len(out) != step.total:
                raise Ambiguous(f"the upload is {len(out)} bytes, not the {step.total} declared")
            return bytes(out)
        if step.manifest is None:
            # No list (or an empty one): every part seen, in the receiver's order (part number,
            # then arrival), so nothing sent is left unread.
            entries = sorted(s.index.items(), key=lambda kv: (int(kv[0]) if kv[0].isdecimal() else 0, kv[1][1]))
            return b"".join(read(e) for _slot, e in entries)
        out = bytearray()
        for name in step.manifest:
            slot = s.names.get(name, name if name in s.index and not name.startswith("#") else None)
            if slot is None:
                raise Ambiguous("the upload lists a part that did not pass through the guard")
            out += read(s.index[slot])
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
