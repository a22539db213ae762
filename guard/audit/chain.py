"""The hash chain: each record carries the previous record's hash and its own.

hash = SHA-256 (or HMAC-SHA-256 with a key) over the record's canonical JSON without
its `hash` field; `prev` is the previous record's hash; `seq` counts from 1 across
files. An edit breaks a record's hash; an insertion, deletion or reordering breaks
`seq`/`prev`; a cut tail no longer reaches the head recorded in head.json, whose MAC (with a key)
means only the writer can move it.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

from guard.errors import AuditError

GENESIS = "0" * 64
HEAD_FILE = "head.json"


def canonical(record: dict) -> bytes:
    body = {k: v for k, v in record.items() if k != "hash"}
    # backslashreplace: a lone surrogate (undecodable bytes of a path or a file name) is written
    # as its \u escape, which is still valid JSON and reads back to the same record.
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "backslashreplace")


def record_hash(record: dict, key: bytes | None = None) -> str:
    return digest(canonical(record), key)


def digest(data: bytes, key: bytes | None = None) -> str:
    if key:
        return hmac.new(key, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def log_files(audit_dir: Path) -> list[Path]:
    return sorted(audit_dir.glob("audit-*.jsonl"))


def iter_records(audit_dir: Path) -> Iterator[tuple[Path, int, str]]:
    """(file, line number, raw line) for every line of every log file, in order."""
    for f in log_files(audit_dir):
        with open(f, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    yield f, n, line


def _raw_records(audit_dir: Path) -> Iterator[tuple[Path, int, bytes]]:
    """(file, line number, raw bytes) for every line of every log file, in order."""
    for f in log_files(audit_dir):
        with open(f, "rb") as fh:
            for n, line in enumerate(fh, 1):
                if line.strip():
                    yield f, n, line


def head_mac(seq: int, hash_: str, key: bytes) -> str:
    """head.json's MAC: without the key nobody can write a head that matches a cut log."""
    return hmac.new(key, f"head:{seq}:{hash_}".encode(), hashlib.sha256).hexdigest()


def head_record(seq: int, hash_: str, key: bytes | None = None) -> dict:
    return {"seq": seq, "hash": hash_, **({"mac": head_mac(seq, hash_, key)} if key else {})}


def read_head(audit_dir: Path) -> dict | None:
    try:
        return json.loads((audit_dir / HEAD_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise AuditError(f"{audit_dir / HEAD_FILE}: unreadable: {e}") from None


def load_key(path: str | None) -> bytes | None:
    if not path:
        return None
    try:
        key = Path(path).read_bytes().strip()
    except OSError as e:
        raise AuditError(f"{path}: cannot read HMAC key: {e.strerror}") from None
    if len(key) < 16:
        raise AuditError(f"{path}: HMAC key is shorter than 16 bytes")
    return key


def _same(expected: str, found) -> bool:
    """Constant-time comparison of a computed digest with what a record holds (any JSON value:
    compare_digest refuses non-ASCII str with a TypeError, so compare bytes)."""
    return hmac.compare_digest(expected.encode(), str(found).encode("utf-8", "backslashreplace"))


def verify(audit_dir: str | Path, key: bytes | None = None, gaps: list[str] | None = None) -> tuple[int, str | None]:
    """(records checked, None) when intact, else (records checked, first break).

    A `gap` record (written when the trail's files vanished while the proxy ran) starts a new
    segment: it must itself verify and chain to the last record it names; what went missing
    before it is appended to `gaps`, not hidden."""
    audit_dir = Path(audit_dir)
    if not audit_dir.is_dir():
        raise AuditError(f"{audit_dir}: no such audit directory")
    prev, seq, count = GENESIS, 0, 0
    for f, n, line in _raw_records(audit_dir):
        where = f"{f.name}:{n}"
        try:
            # bytes decoded here: an edit that leaves invalid UTF-8 is a break, not a traceback
            rec = json.loads(line.decode("utf-8"))
        except ValueError:
            return count, f"{where}: not valid JSON (record edited or truncated)"
        if not isinstance(rec, dict) or "hash" not in rec:
            return count, f"{where}: not an audit record"
        gap = rec.get("gap") if rec.get("action") == "gap" else None
        if gap and (rec.get("seq") != seq + 1 or rec.get("prev") != prev):
            # the type first: a forged non-integer seq is a break, not a TypeError
            if not (isinstance(gap, dict) and isinstance(rec.get("seq"), int) and gap.get("last_seq") == rec["seq"] - 1
                    and gap.get("last_hash") == rec.get("prev") and rec["seq"] > seq):
                return count, f"{where}: event {rec.get('event_id')}: malformed gap record"
            if gaps is not None:
                gaps.append(f"{where}: records {seq + 1}..{rec['seq'] - 1} missing before {rec.get('ts')} "
                            f"({gap.get('reason')}); the chain continues from sequence {rec['seq']}")
            seq, prev = rec["seq"] - 1, rec["prev"]
        if rec.get("seq") != seq + 1:
            return count, (f"{where}: event {rec.get('event_id')}: sequence {rec.get('seq')} follows {seq} "
                           "(a record was deleted, inserted or reordered)")
        if rec.get("prev") != prev:
            return count, f"{where}: event {rec.get('event_id')}: does not chain to the previous record"
        if not _same(record_hash(rec, key), rec["hash"]):
            return count, f"{where}: event {rec.get('event_id')}: hash mismatch (record edited)"
        prev, seq, count = rec["hash"], rec["seq"], count + 1
    head = read_head(audit_dir)
    if head is not None and not isinstance(head, dict):
        return count, "head.json is not a head record (head.json rewritten)"
    if key and count:
        # With the key, head.json must be there and carry its MAC: a cut tail with a rewritten
        # (or deleted) head.json is detected.
        if head is None:
            return count, "head.json is missing (the end of the log cannot be confirmed)"
        if not isinstance(head.get("seq"), int) or not _same(head_mac(head["seq"], str(head.get("hash")), key),
                                                             head.get("mac", "")):
            return count, "head.json's MAC does not match (head.json rewritten: records may be removed from the end)"
    if head is not None:
        if not isinstance(head.get("seq"), int):
            return count, "head.json records no sequence number (head.json rewritten)"
        if head["seq"] > seq:
            return count, f"log ends at sequence {seq} but head.json records {head['seq']} (records removed from the end)"
        if head["seq"] == seq and head.get("hash") != prev:
            return count, f"last record (sequence {seq}) does not match head.json"
    return count, None
