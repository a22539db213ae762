"""Group commit: the periodic fsync does not hold up appends (the proxy's event loop writes
allowed records meanwhile), head.json never moves back, and a failed sync is retried."""
import errno
import json
import threading

import pytest

from guard.audit import writer as audit_writer
from guard.audit.chain import verify
from guard.audit.writer import AuditWriter, new_event_id
from guard.errors import AuditError


def rec(action="allow"):
    return {"event_id": new_event_id(), "ts": "2026-12-02T08:00:00.000Z", "action": action, "rules": [],
            "host": "api.openai.com", "path": "/v1/chat/completions", "client": "10.0.0.5", "user": None,
            "body_sha256": "0" * 64, "policy": {"id": "default", "sha256": "x"}}


def head(d):
    return json.loads((d / "head.json").read_text())["seq"]


def test_appends_go_on_while_sync_waits_for_the_disk(tmp_path, monkeypatch):
    d = tmp_path / "audit"
    w = AuditWriter(d)
    w.write(rec(), durable=False)
    in_fsync, release = threading.Event(), threading.Event()
    real = audit_writer.os.fsync

    def slow_fsync(fd):
        if threading.current_thread() is not threading.main_thread():
            in_fsync.set()
            assert release.wait(10)
        real(fd)

    monkeypatch.setattr(audit_writer.os, "fsync", slow_fsync)
    syncer = threading.Thread(target=w.sync)
    syncer.start()
    assert in_fsync.wait(10)
    done = threading.Event()
    appender = threading.Thread(target=lambda: (w.write(rec(), durable=False), done.set()))
    appender.start()
    assert done.wait(5), "an append waited for the group commit's fsync"
    release.set()
    syncer.join(10)
    appender.join(10)
    assert head(d) == 1  # what that sync covered, not the record appended during it
    w.sync()
    assert head(d) == 2
    w.write(rec("block"), durable=True)
    w.close()
    assert head(d) == 3
    assert verify(d) == (3, None)


def test_head_never_moves_back(tmp_path):
    d = tmp_path / "audit"
    w = AuditWriter(d)
    for _ in range(3):
        w.write(rec(), durable=False)
    w.write(rec("block"), durable=True)
    assert head(d) == 4
    w._write_head(2, "0" * 64)  # a sync that captured an older tail, finishing late
    assert head(d) == 4
    w.close()


def test_failed_sync_is_retried(tmp_path, monkeypatch):
    d = tmp_path / "audit"
    w = AuditWriter(d)
    w.write(rec(), durable=False)

    def full(_fd):
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(audit_writer.os, "fsync", full)
    with pytest.raises(AuditError, match="cannot sync"):
        w.sync()
    monkeypatch.undo()
    w.sync()  # still dirty: the next group commit syncs it
    assert head(d) == 1
    w.close()
