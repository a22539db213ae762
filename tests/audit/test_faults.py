"""The audit trail under faults: a failed write leaves nothing behind and the chain goes on
once the fault clears; a trail that vanishes is noticed and continued with a gap record."""
import errno
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from guard.audit import writer as audit_writer
from guard.audit.chain import verify
from guard.audit.writer import AuditWriter, new_event_id
from guard.errors import AuditError

GUARD = str(Path(sys.executable).parent / "guard")


def rec(action="allow", path="/v1/chat/completions"):
    return {"event_id": new_event_id(), "ts": "2026-12-02T08:00:00.000Z", "action": action, "rules": [],
            "host": "api.openai.com", "path": path, "client": "10.0.0.5", "user": None, "body_sha256": "0" * 64,
            "policy": {"id": "default", "sha256": "x"}}


def trail_bytes(d: Path) -> bytes:
    return b"".join(f.read_bytes() for f in sorted(d.glob("audit-*.jsonl")))


@pytest.fixture
def w(tmp_path):
    writer = AuditWriter(tmp_path / "audit")
    for _ in range(3):
        writer.write(rec(), durable=False)
    writer.write(rec("block"), durable=True)
    yield writer
    writer.close()


def _half_then(err):
    real = audit_writer._write_all

    def broken(fd, data):
        real(fd, data[: len(data) // 2])  # the disk took half the record, then filled up
        raise OSError(err, os.strerror(err))
    return broken


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EROFS, errno.EIO])
def test_failed_write_leaves_no_partial_bytes_and_the_chain_goes_on(w, monkeypatch, err):
    before, seq = trail_bytes(w.dir), w.seq
    monkeypatch.setattr(audit_writer, "_write_all", _half_then(err))
    for durable in (True, False):
        with pytest.raises(AuditError):
            w.write(rec("block"), durable=durable)
    assert trail_bytes(w.dir) == before and w.seq == seq  # nothing of the failed records, no sequence used
    monkeypatch.undo()
    w.write(rec("block"), durable=True)  # the disk recovered
    w.write(rec(), durable=False)
    w.sync()
    assert verify(w.dir) == (seq + 2, None)


def test_failed_fsync_or_head_update_rolls_the_record_back(w, monkeypatch):
    before, seq = trail_bytes(w.dir), w.seq
    monkeypatch.setattr(audit_writer.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.EIO, "EIO")))
    with pytest.raises(AuditError):
        w.write(rec("warn"), durable=True)
    monkeypatch.undo()
    monkeypatch.setattr(AuditWriter, "_write_head", lambda self, s, h: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    with pytest.raises(AuditError):
        w.write(rec("warn"), durable=True)
    assert trail_bytes(w.dir) == before and w.seq == seq
    monkeypatch.undo()
    w.write(rec("warn"), durable=True)
    assert verify(w.dir) == (seq + 1, None)


def test_truncation_that_fails_too_is_repaired_before_the_next_record(w, monkeypatch):
    seq = w.seq
    monkeypatch.setattr(audit_writer, "_write_all", _half_then(errno.ENOSPC))
    monkeypatch.setattr(audit_writer.os, "ftruncate", lambda fd, n: (_ for _ in ()).throw(OSError(errno.EROFS, "ro")))
    with pytest.raises(AuditError):
        w.write(rec("block"), durable=True)
    assert not trail_bytes(w.dir).endswith(b"\n")  # a torn line is on disk now
    monkeypatch.undo()
    w.write(rec("block"), durable=True)  # reopening cuts the torn line first
    assert verify(w.dir) == (seq + 1, None)


def test_removed_directory_is_noticed_and_the_chain_continues_with_a_gap(w):
    seq = w.seq
    shutil.rmtree(w.dir)
    w.write(rec("block"), durable=True)
    recs = [json.loads(line) for line in trail_bytes(w.dir).splitlines()]
    assert recs[0]["action"] == "gap" and recs[0]["gap"]["last_seq"] == seq and recs[0]["seq"] == seq + 1
    assert recs[1]["action"] == "block" and w.gaps == 1
    gaps = []
    assert verify(w.dir, None, gaps) == (2, None) and len(gaps) == 1 and f"records 1..{seq}" in gaps[0]
    p = subprocess.run([GUARD, "audit", "verify", "--audit-dir", str(w.dir)], capture_output=True, text=True)
    assert p.returncode == 0 and "GAP" in p.stdout and "1 recorded gap" in p.stdout


def test_deleted_file_is_noticed(w):
    for f in w.dir.glob("audit-*.jsonl"):
        f.unlink()
    w.write(rec(), durable=True)
    assert w.gaps == 1
    assert verify(w.dir)[1] is None


def test_replaced_file_is_not_appended_to_and_verify_shows_it(w):
    (f,) = w.dir.glob("audit-*.jsonl")
    f.rename(w.dir / "moved-away")
    f.write_text('{"forged": true}\n', encoding="utf-8")  # somebody else's file in its place
    w.write(rec(), durable=True)
    assert f.read_text(encoding="utf-8") == '{"forged": true}\n'  # the guard wrote a new segment instead
    assert w.gaps == 1 and len(list(w.dir.glob("audit-*.r1.jsonl"))) == 1
    assert verify(w.dir)[1] is not None  # the forged file breaks the chain, as it should


def test_gap_records_cannot_be_forged_without_the_key(tmp_path):
    key = b"k" * 32
    w = AuditWriter(tmp_path / "a", key)
    w.write(rec(), durable=True)
    shutil.rmtree(w.dir)
    w.write(rec(), durable=True)
    w.close()
    assert verify(w.dir, key)[1] is None
    (f,) = w.dir.glob("audit-*.jsonl")
    lines = f.read_text(encoding="utf-8").splitlines()
    gap = json.loads(lines[0])
    gap["gap"]["reason"] = "edited"
    lines[0] = json.dumps(gap, ensure_ascii=False)
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    problem = verify(w.dir, key)[1]
    assert problem is not None, "an edited gap record verified as intact"
    assert "gap" in problem or "hash" in problem


def test_undecodable_bytes_never_drop_a_record(w):
    from guard.audit.record import RequestInfo, build
    from guard.policy import load_policy
    from guard.types import Verdict

    sur = lambda b: b.decode("utf-8", "surrogateescape")  # noqa: E731 - how the proxy decodes raw bytes
    info = RequestInfo(host="api.openai.com", method="POST", path=sur(b"/v1/\xff\xfe/\xe6\x9c?q=\xb1"),
                       user_agent=sur(b"curl/\xff"), files=[{"name": sur(b"\xb1\xa8\xb8\xe6.docx"), "type": "docx"}])
    r = build(new_event_id(), info, Verdict("block"), load_policy())
    w.write(r, durable=True)
    assert verify(w.dir)[1] is None
    p = subprocess.run([GUARD, "audit", "list", "--audit-dir", str(w.dir), "--json"], capture_output=True, text=True)
    assert p.returncode == 0 and r["event_id"] in p.stdout
    listed = [json.loads(line) for line in p.stdout.splitlines() if r["event_id"] in line][0]
    # Listed, not dropped; the undecodable segments may be content and are masked like query values.
    assert listed["path"] == "/v1/***/***?q=***"


def test_trail_is_private_by_default(tmp_path):
    w = AuditWriter(tmp_path / "audit")
    w.write(rec(), durable=True)
    assert stat.S_IMODE(os.stat(w.dir).st_mode) == 0o700
    for f in w.dir.iterdir():
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600, f


def test_auditors_group_may_read(tmp_path):
    import grp
    group = grp.getgrgid(os.getgid()).gr_name
    w = AuditWriter(tmp_path / "audit", group=group)
    w.write(rec(), durable=True)
    assert stat.S_IMODE(os.stat(w.dir).st_mode) == 0o750
    (f,) = w.dir.glob("audit-*.jsonl")
    assert stat.S_IMODE(os.stat(f).st_mode) == 0o640
    with pytest.raises(AuditError, match="no such group"):
        AuditWriter(tmp_path / "x", group="no-such-group-here")
