"""The audit writer as the proxy and the auditors rely on it (guard/audit/writer.py): every record
chained and written whole in the documented form, durable records fsynced before head.json names
them, group-committed ones synced before a head covers them (also across a day's rotation), a failed
write leaving nothing behind, the files' modes and group, resuming a trail, the clock stepping
back, and a trail that vanishes continued in a new segment after a gap record."""
import errno
import grp
import hashlib
import hmac
import json
import logging
import os
import re
import shutil
import stat
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard.audit import writer as audit_writer
from guard.audit.chain import GENESIS, HEAD_FILE, canonical, head_mac, log_files, verify
from guard.audit.writer import AuditWriter, new_event_id
from guard.errors import AuditError

KEY = b"0123456789abcdef-audit-key"


def rec(day="2026-12-02", action="allow", **extra):
    return {"event_id": new_event_id(), "ts": f"{day}T08:00:00.000Z", "action": action, "rules": [],
            "host": "api.openai.com", "path": "/v1/chat/completions", "client": "10.0.0.5", "user": "张三",
            "body_sha256": "0" * 64, "policy": {"id": "default", "sha256": "x"}, **extra}


def lines_of(d: Path) -> list[bytes]:
    return [x for f in log_files(d) for x in f.read_bytes().splitlines(keepends=True)]


def head(d: Path) -> dict:
    return json.loads((d / HEAD_FILE).read_text(encoding="utf-8"))


def names(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


# -- event ids -------------------------------------------------------------------------------------

def test_event_ids_are_utc_time_ordered_and_unique():
    before = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    ids = [new_event_id() for _ in range(300)]
    after = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    assert len(set(ids)) == len(ids)
    for i in ids:
        m = re.fullmatch(r"evt-(\d{8}T\d{6})-([0-9a-f]{6})([0-9a-f]{6})", i)
        assert m, i
        assert before <= m[1] <= after
        assert m[2] == audit_writer._PREFIX
    assert [int(i[-6:], 16) for i in ids] == list(range(int(ids[0][-6:], 16), int(ids[0][-6:], 16) + 300))


def test_event_ids_carry_utc_time_on_a_server_in_beijing(monkeypatch):
    """Ids sort with the records' UTC timestamps whatever the server's zone (China is UTC+8)."""
    monkeypatch.setenv("TZ", "CST-8")  # POSIX form: no tz database needed
    time.tzset()
    try:
        assert time.localtime().tm_hour != time.gmtime().tm_hour
        before = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        stamp = new_event_id()[4:19]
        after = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    finally:
        monkeypatch.undo()
        time.tzset()
    assert before <= stamp <= after


# -- the records: chained, whole, in the documented form -----------------------------------------

@settings(derandomize=True, max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.sampled_from(["allow", "warn", "block"])), min_size=1, max_size=6),
       st.booleans(), st.sampled_from([None, "node-a"]))
def test_every_record_is_chained_and_written_as_canonical_json_with_its_hash_last(tmp_path_factory, steps, keyed,
                                                                                  node):
    d = tmp_path_factory.mktemp("t") / "audit"
    key = KEY if keyed else None
    w = AuditWriter(d, key, node=node)
    prev, out = GENESIS, []
    for i, (durable, action) in enumerate(steps, 1):
        given_rec = rec(action=action)
        r = w.write(given_rec, durable=durable)
        assert "seq" not in given_rec and "hash" not in given_rec  # the caller's dict is left alone
        assert (r["seq"], r["prev"]) == (i, prev) and (w.seq, w.prev) == (i, r["hash"])
        body = canonical(r)
        assert r["hash"] == (hmac.new(key, body, hashlib.sha256).hexdigest() if key else
                             hashlib.sha256(body).hexdigest())
        assert r.get("node") == node and {k: v for k, v in r.items() if k not in ("seq", "prev", "hash", "node")} \
            == given_rec
        out.append(body[:-1] + f',"hash":"{r["hash"]}"}}\n'.encode())
        prev = r["hash"]
    w.close()
    assert lines_of(d) == out
    assert [f.name for f in log_files(d)] == ["audit-2026-12-02.jsonl"]
    assert head(d)["seq"] == len(steps) and head(d)["hash"] == prev
    assert (head(d).get("mac") == head_mac(len(steps), prev, key)) if key else "mac" not in head(d)
    assert verify(d, key) == (len(steps), None)


def test_a_record_naming_its_node_keeps_it(tmp_path):
    w = AuditWriter(tmp_path, node="node-a")
    assert w.write(rec(node="node-b"), durable=True)["node"] == "node-b"
    assert w.write(rec(), durable=True)["node"] == "node-a"
    w.close()
    assert [json.loads(x)["node"] for x in lines_of(tmp_path)] == ["node-b", "node-a"]


@pytest.mark.parametrize("chunk", [1, 7])
def test_a_record_is_written_whole_whatever_each_write_takes(tmp_path, monkeypatch, chunk):
    real = os.write
    monkeypatch.setattr(audit_writer.os, "write", lambda fd, data: real(fd, bytes(data[:chunk])))
    w = AuditWriter(tmp_path)
    w.write(rec(), durable=True)
    w.write(rec("2026-12-03"), durable=True)
    w.close()
    monkeypatch.undo()
    assert verify(tmp_path) == (2, None) and head(tmp_path)["seq"] == 2


def test_a_write_that_takes_nothing_is_a_full_disk(tmp_path, monkeypatch):
    w = AuditWriter(tmp_path)
    w.write(rec(), durable=True)
    before = lines_of(tmp_path)
    monkeypatch.setattr(audit_writer.os, "write", lambda fd, data: 0)
    with pytest.raises(AuditError, match="^cannot write audit record: short write$"):
        w.write(rec(), durable=True)
    monkeypatch.undo()
    assert lines_of(tmp_path) == before and w.seq == 1
    w.write(rec(), durable=True)
    assert verify(tmp_path) == (2, None)


# -- durability: what head.json names is on disk -----------------------------------------------------

def test_a_durable_record_is_fsynced_and_named_by_the_head_before_write_returns(tmp_path, events):
    w = AuditWriter(tmp_path)
    r = w.write(rec("2026-12-02", "block"), durable=True)
    assert events == [("fsync", "audit-2026-12-02.jsonl"), ("fsync", f".{HEAD_FILE}.tmp"), ("replace", HEAD_FILE)]
    assert head(tmp_path) == {"seq": 1, "hash": r["hash"]}
    events.clear()
    w.sync()  # nothing left to commit
    w.close()
    assert events == []


def test_group_committed_records_are_synced_before_the_head_covers_them(tmp_path, events):
    w = AuditWriter(tmp_path)
    w.write(rec(), durable=True)
    events.clear()
    r = w.write(rec(), durable=False)
    w.write(rec(), durable=False)
    assert events == [] and head(tmp_path)["seq"] == 1  # written, not yet synced: the head stays
    w.sync()
    assert events == [("fsync", "audit-2026-12-02.jsonl"), ("fsync", f".{HEAD_FILE}.tmp"), ("replace", HEAD_FILE)]
    assert head(tmp_path)["seq"] == 3 and r["seq"] == 2
    events.clear()
    w.sync()
    assert events == []
    w.close()


def test_a_days_file_is_synced_before_it_is_closed_for_the_next_day(tmp_path, events):
    w = AuditWriter(tmp_path)
    w.write(rec("2026-12-02"), durable=False)
    w.write(rec("2026-12-02"), durable=False)
    w.write(rec("2026-12-03"), durable=False)
    assert events == [("fsync", "audit-2026-12-02.jsonl")]
    w.sync()
    assert events[1:] == [("fsync", "audit-2026-12-03.jsonl"), ("fsync", f".{HEAD_FILE}.tmp"),
                          ("replace", HEAD_FILE)]
    w.close()
    assert [f.name for f in log_files(tmp_path)] == ["audit-2026-12-02.jsonl", "audit-2026-12-03.jsonl"]
    assert verify(tmp_path) == (3, None) and head(tmp_path)["seq"] == 3


def test_close_commits_what_is_pending_and_the_chain_goes_on_after_it(tmp_path):
    w = AuditWriter(tmp_path)
    w.write(rec(), durable=False)
    w.close()
    assert head(tmp_path)["seq"] == 1
    w.close()  # twice: nothing to do
    w.sync()
    w.write(rec(), durable=True)  # a writer used after close reopens its file
    w.close()
    assert verify(tmp_path) == (2, None) and len(log_files(tmp_path)) == 1


def _open_in(d: Path) -> list[str]:
    """Names of the files under d this process holds open."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(d) + "/"):
            out.append(Path(target.removesuffix(" (deleted)")).name)
    return out


def test_files_are_let_go_when_the_day_changes_the_trail_vanishes_or_the_writer_closes(tmp_path):
    """A proxy runs for months: it holds one log file open, never the days before it, and a deleted
    file's blocks are freed once the writer moved on."""
    d = tmp_path / "audit"
    w = AuditWriter(d)
    w.write(rec("2026-12-02"), durable=True)
    assert _open_in(tmp_path) == ["audit-2026-12-02.jsonl"]
    w.write(rec("2026-12-03"), durable=True)
    assert _open_in(tmp_path) == ["audit-2026-12-03.jsonl"]
    (d / "audit-2026-12-03.jsonl").unlink()
    w.write(rec("2026-12-03"), durable=True)
    assert _open_in(tmp_path) == [f"audit-{_today()}.r1.jsonl"]
    w.close()
    assert _open_in(tmp_path) == []


def test_a_failed_sync_keeps_the_records_pending(tmp_path, monkeypatch):
    w = AuditWriter(tmp_path)
    w.write(rec(), durable=True)
    w.write(rec(), durable=False)
    monkeypatch.setattr(audit_writer.os, "dup", lambda fd: (_ for _ in ()).throw(OSError(errno.EMFILE, "Too many")))
    with pytest.raises(AuditError, match="^cannot sync audit log: Too many$"):
        w.sync()
    monkeypatch.undo()
    real = os.fsync
    monkeypatch.setattr(audit_writer.os, "fsync", lambda fd: (_ for _ in ()).throw(OSError(errno.EIO, "I/O error")))
    with pytest.raises(AuditError, match="^cannot sync audit log: I/O error$"):
        w.sync()
    monkeypatch.setattr(audit_writer.os, "fsync", real)
    assert head(tmp_path)["seq"] == 1
    w.sync()
    assert head(tmp_path)["seq"] == 2
    w.close()


def test_a_stale_temporary_head_never_leaves_garbage_in_head_json(tmp_path):
    w = AuditWriter(tmp_path, KEY)
    (tmp_path / f".{HEAD_FILE}.tmp").write_text("x" * 500, encoding="utf-8")  # a crash between write and replace
    r = w.write(rec(), durable=True)
    w.close()
    assert head(tmp_path) == {"seq": 1, "hash": r["hash"], "mac": head_mac(1, r["hash"], KEY)}
    assert names(tmp_path) == ["audit-2026-12-02.jsonl", HEAD_FILE]  # no temporary or probe left behind


# -- a failed write leaves nothing behind ----------------------------------------------------------

def test_a_day_file_that_cannot_be_opened_is_an_error_and_the_chain_stays(tmp_path):
    w = AuditWriter(tmp_path)
    w.write(rec("2026-12-02"), durable=True)
    (tmp_path / "audit-2026-12-09.jsonl").mkdir()
    with pytest.raises(AuditError, match="^cannot open audit log: Is a directory$"):
        w.write(rec("2026-12-09"), durable=True)
    assert w.seq == 1
    (tmp_path / "audit-2026-12-09.jsonl").rmdir()
    w.write(rec("2026-12-02"), durable=True)  # the day did not move on: the same file
    w.close()
    assert [f.name for f in log_files(tmp_path)] == ["audit-2026-12-02.jsonl"]
    assert verify(tmp_path) == (2, None)


@settings(derandomize=True, max_examples=15, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=5), st.integers(0, 400), st.booleans())
def test_a_record_cut_off_by_a_failing_disk_is_removed_whole(tmp_path_factory, before, cut, durable):
    """Whatever part of a record the disk took before it failed, the file is as it was and the
    next record continues the chain."""
    d = tmp_path_factory.mktemp("t")
    w = AuditWriter(d)
    for b in before:
        w.write(rec(), durable=b)
    kept = lines_of(d)
    real = audit_writer._write_all

    def broken(fd, data):
        real(fd, data[:min(cut, len(data) - 1)])
        raise OSError(errno.ENOSPC, "No space left on device")
    audit_writer._write_all = broken
    try:
        with pytest.raises(AuditError, match="^cannot write audit record: No space left on device$"):
            w.write(rec("2026-12-02", "block"), durable=durable)
    finally:
        audit_writer._write_all = real
    assert lines_of(d) == kept and w.seq == len(before)
    w.write(rec(), durable=True)
    w.close()
    assert verify(d) == (len(before) + 1, None)


@settings(derandomize=True, max_examples=12, deadline=None)
@given(st.sampled_from([1, 2, 3, 50, 200]))
def test_a_torn_record_left_when_the_cut_failed_too_is_removed_before_the_next(tmp_path_factory, torn):
    """The disk took `torn` bytes of a record and then even cutting them back failed: the next
    record first cuts exactly the torn bytes, so the chain goes on intact."""
    d = tmp_path_factory.mktemp("t")
    w = AuditWriter(d)
    w.write(rec(), durable=True)
    w.write(rec(), durable=True)
    kept = lines_of(d)
    real_write, real_truncate = audit_writer._write_all, os.ftruncate

    def broken(fd, data):
        real_write(fd, data[:torn])
        raise OSError(errno.EIO, "Input/output error")

    def no_truncate(fd, n):
        raise OSError(errno.EROFS, "Read-only file system")
    audit_writer._write_all, audit_writer.os.ftruncate = broken, no_truncate
    try:
        with pytest.raises(AuditError, match="^cannot write audit record: Input/output error$"):
            w.write(rec(), durable=False)
    finally:
        audit_writer._write_all, audit_writer.os.ftruncate = real_write, real_truncate
    assert lines_of(d)[:-1] == kept and len(lines_of(d)[-1]) == torn
    w.write(rec(), durable=True)
    w.close()
    assert lines_of(d)[:-1] == kept and verify(d) == (3, None)


def test_a_writer_that_wrote_nothing_names_nothing_in_head_json(tmp_path, monkeypatch):
    w = AuditWriter(tmp_path)
    monkeypatch.setattr(audit_writer, "_write_all", lambda fd, data: (_ for _ in ()).throw(OSError(errno.EIO, "EIO")))
    with pytest.raises(AuditError):
        w.write(rec(), durable=False)
    monkeypatch.undo()
    w.close()
    assert not (tmp_path / HEAD_FILE).exists() and verify(tmp_path) == (0, None)


# -- resuming a trail --------------------------------------------------------------------------------

def test_a_new_writer_continues_the_chain_from_the_last_record(tmp_path):
    w = AuditWriter(tmp_path)
    w.write(rec("2026-12-02"), durable=True)
    last = w.write(rec("2026-12-03"), durable=True)
    w.close()
    (tmp_path / "audit-2026-12-04.jsonl").write_bytes(b"")  # created, then nothing written
    f = tmp_path / "audit-2026-12-03.jsonl"
    f.write_bytes(f.read_bytes() + b"\n \n")  # blank lines are not records
    w = AuditWriter(tmp_path)
    assert (w.seq, w.prev) == (2, last["hash"])
    assert w.write(rec("2026-12-04"), durable=True)["prev"] == last["hash"]
    w.close()
    assert verify(tmp_path) == (3, None)


@pytest.mark.parametrize("last, says", [
    (b'{"seq": 2, "hash": "ab"', "last audit record is incomplete"),      # a crash mid-write
    (b'{"seq": 2, "hash": "ab"}', "last audit record is incomplete"),     # whole, but its line end is missing
    (b'{"seq": 2, "hash": \n', "last audit record is damaged"),
    (b'{"seq": "two", "hash": "ab"}\n', "last audit record is damaged"),
    (b'{"hash": "ab"}\n', "last audit record is damaged"),
    (b'["seq", "hash"]\n', "last audit record is damaged"),
])
def test_a_trail_whose_last_record_is_damaged_is_not_continued(tmp_path, last, says):
    """Chaining to a record that is not whole would break the chain (and cutting it could hide a
    record cut after it was acknowledged): the writer refuses and says where."""
    w = AuditWriter(tmp_path)
    w.write(rec(), durable=True)
    w.close()
    f = tmp_path / "audit-2026-12-02.jsonl"
    f.write_bytes(f.read_bytes() + last)
    with pytest.raises(AuditError, match=f"^{re.escape(str(f))}: {says}.*run `guard audit verify`$"):
        AuditWriter(tmp_path)


def test_an_unreadable_log_file_is_an_error(tmp_path):
    (tmp_path / "audit-2026-12-02.jsonl").mkdir()
    with pytest.raises(AuditError, match=r"audit-2026-12-02\.jsonl: cannot read audit log: Is a directory$"):
        AuditWriter(tmp_path)


def test_records_stay_in_the_latest_file_when_the_clock_steps_back(tmp_path):
    w = AuditWriter(tmp_path)
    w.write(rec("2026-12-03"), durable=True)
    w.write(rec("2026-12-02"), durable=True)  # the clock stepped back
    w.close()
    w = AuditWriter(tmp_path)  # and after a restart
    w.write(rec("2026-12-01"), durable=True)
    w.write(rec("2026-12-04"), durable=True)
    w.write(rec("2026-12-03"), durable=True)
    w.close()
    assert [(f.name, len(f.read_bytes().splitlines())) for f in log_files(tmp_path)] == [
        ("audit-2026-12-03.jsonl", 3), ("audit-2026-12-04.jsonl", 2)]
    assert verify(tmp_path) == (5, None)


# -- the directory and the files: who may read them ---------------------------------------------

def test_a_private_trail_is_readable_by_the_proxys_user_only(tmp_path):
    d = tmp_path / "a" / "audit"
    d.mkdir(parents=True, mode=0o755)
    os.chmod(d, 0o755)
    w = AuditWriter(d)
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700  # an existing directory is narrowed too
    w.write(rec(), durable=True)
    w.close()
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in d.iterdir()} == {"audit-2026-12-02.jsonl": 0o600,
                                                                               HEAD_FILE: 0o600}
    new = tmp_path / "var" / "lib" / "audit"  # a fresh install: the parents are made too
    AuditWriter(new).close()
    assert stat.S_IMODE(new.stat().st_mode) == 0o700 and names(new) == []  # nothing written, nothing claimed


def test_the_directory_is_private_from_the_moment_it_is_made(tmp_path, monkeypatch):
    """Made with its mode, not made open and narrowed after: nobody can open it in between."""
    seen = []
    real = os.chmod

    def chmod(path, mode, *a, **k):
        seen.append(stat.S_IMODE(os.stat(path).st_mode))
        return real(path, mode, *a, **k)
    monkeypatch.setattr(audit_writer.os, "chmod", chmod)
    old = os.umask(0o022)
    try:
        AuditWriter(tmp_path / "audit").close()
    finally:
        os.umask(old)
    assert seen == [0o700]


@pytest.fixture
def other_group():
    """A group the files do not get by default (chown to it needs root)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to give files another group")
    for name in ("adm", "daemon", "sys", "users"):
        try:
            g = grp.getgrnam(name)
        except KeyError:
            continue
        if g.gr_gid != os.getegid():
            return g
    pytest.skip("no second group here")


def test_an_auditors_group_may_read_the_trail_whatever_the_umask(tmp_path, other_group):
    d = tmp_path / "audit"
    old = os.umask(0o077)  # the unit's UMask
    try:
        w = AuditWriter(d, group=other_group.gr_name)
        w.write(rec(), durable=False)
        w.write(rec("2026-12-03"), durable=True)
        w.close()
    finally:
        os.umask(old)
    assert (stat.S_IMODE(d.stat().st_mode), d.stat().st_gid) == (0o750, other_group.gr_gid)
    assert d.stat().st_uid == os.geteuid()  # only the group is given away, never the owner
    for p in d.iterdir():
        assert (p.name, stat.S_IMODE(p.stat().st_mode), p.stat().st_gid) == (p.name, 0o640, other_group.gr_gid)
        assert p.stat().st_uid == os.geteuid(), p.name
    assert names(d) == ["audit-2026-12-02.jsonl", "audit-2026-12-03.jsonl", HEAD_FILE]


def test_an_unknown_group_or_an_unwritable_directory_is_one_line(tmp_path):
    with pytest.raises(AuditError, match=r"^no such group 'no-such-group-x' \(option guard_audit_group\)$"):
        AuditWriter(tmp_path / "a", group="no-such-group-x")
    (tmp_path / "file").write_text("", encoding="utf-8")
    with pytest.raises(AuditError, match=f"^{re.escape(str(tmp_path / 'file' / 'audit'))}: audit directory is not "
                                         "writable: Not a directory$"):
        AuditWriter(tmp_path / "file" / "audit")


# -- a trail that vanishes: a gap record and a new segment --------------------------------------------

def _gap(d: Path) -> dict:
    return next(json.loads(x) for x in lines_of(d) if json.loads(x)["action"] == "gap")


def _today() -> str:
    return time.strftime("%Y-%m-%d", time.gmtime())


def test_a_removed_directory_gets_a_gap_record_that_is_durable_at_once(tmp_path, caplog):
    d = tmp_path / "audit"
    w = AuditWriter(d, KEY)
    w.write(rec(), durable=True)
    last = w.write(rec(), durable=False)
    shutil.rmtree(d)
    caplog.set_level(logging.WARNING, logger="guard")
    r = w.write(rec(), durable=False)
    g = _gap(d)
    assert {k: v for k, v in g.items() if k not in ("event_id", "ts", "seq", "prev", "hash")} == {
        "action": "gap", "rules": [], "host": "", "path": "", "client": "", "user": None, "body_sha256": "",
        "policy": {"id": "", "sha256": ""},
        "gap": {"reason": "audit-2026-12-02.jsonl was deleted", "last_seq": 2, "last_hash": last["hash"]}}
    assert (g["seq"], g["prev"], r["seq"], r["prev"]) == (3, last["hash"], 4, g["hash"])
    assert re.fullmatch(r"evt-\d{8}T\d{6}-[0-9a-f]{12}", g["event_id"]) and g["ts"][:10] == _today()
    assert head(d)["seq"] == 3  # the gap record is fsynced at once, whatever the record that found it
    assert w.gaps == 1
    assert [(x.levelname, x.getMessage()) for x in caplog.records] == [
        ("ERROR", "audit trail vanished (audit-2026-12-02.jsonl was deleted): blocking AI traffic until a new "
                  "segment is written"),
        ("WARNING", "audit trail continues in a new segment after sequence 2 (gap 1 recorded)")]
    assert (stat.S_IMODE(d.stat().st_mode), names(d)) == (0o700, [f"audit-{_today()}.r1.jsonl", HEAD_FILE])
    w.close()
    gaps = []
    assert verify(d, KEY, gaps) == (2, None) and len(gaps) == 1


def test_a_new_segment_is_named_by_the_utc_day_whatever_the_servers_zone(tmp_path, monkeypatch):
    """Files are named and ordered by UTC day: a server whose local date is another (here a zone a
    whole day ahead, so the dates differ at any hour) names a new segment by the UTC date too."""
    d = tmp_path / "audit"
    w = AuditWriter(d)
    w.write(rec(), durable=True)
    shutil.rmtree(d)
    monkeypatch.setenv("TZ", "ZZZ-24")
    time.tzset()
    try:
        assert time.localtime().tm_mday != time.gmtime().tm_mday
        w.write(rec(), durable=True)
        today = _today()
    finally:
        monkeypatch.undo()
        time.tzset()
    w.close()
    assert [f.name for f in log_files(d)] == [f"audit-{today}.r1.jsonl"]


def test_a_directory_removed_before_the_first_record_is_made_again(tmp_path):
    d = tmp_path / "audit"
    w = AuditWriter(d)
    shutil.rmtree(d)
    w.write(rec(), durable=True)
    assert _gap(d)["gap"] == {"reason": f"audit directory {d} is missing", "last_seq": 0, "last_hash": GENESIS}
    assert w.gaps == 1
    w.close()
    assert verify(d) == (2, None)


def test_each_vanishing_gets_its_own_new_segment(tmp_path):
    d = tmp_path / "audit"
    w = AuditWriter(d)
    w.write(rec(), durable=True)
    f = d / "audit-2026-12-02.jsonl"
    f.rename(d / "kept-elsewhere")  # moved away: no file at the name
    w.write(rec(), durable=True)
    r1 = d / f"audit-{_today()}.r1.jsonl"
    assert _gap(d)["gap"]["reason"] == "audit-2026-12-02.jsonl was removed"
    r1.rename(d / "kept-elsewhere-2")
    r1.write_text('{"forged": true}\n', encoding="utf-8")  # somebody else's file in its place
    w.write(rec(), durable=True)
    w.write(rec(), durable=True)
    assert r1.read_text(encoding="utf-8") == '{"forged": true}\n'
    r2 = d / f"audit-{_today()}.r2.jsonl"
    reasons = [json.loads(x)["gap"]["reason"] for x in r2.read_bytes().splitlines() if b'"gap"' in x]
    assert reasons == [f"audit-{_today()}.r1.jsonl was replaced"]
    assert len(r2.read_bytes().splitlines()) == 3 and w.gaps == 2
    w.write(rec("2026-12-02"), durable=True)  # an older day's record stays in the newest segment
    w.close()
    assert len(r2.read_bytes().splitlines()) == 4
    r1.unlink()
    gaps = []
    assert verify(d, None, gaps) == (4, None) and len(gaps) == 1  # the first gap's segment was moved away


def test_a_trail_that_cannot_be_made_again_is_an_error_until_it_can(tmp_path):
    d = tmp_path / "audit"
    w = AuditWriter(d)
    w.write(rec(), durable=True)
    d.rename(tmp_path / "moved")
    d.write_text("", encoding="utf-8")  # a file where the directory was
    f = re.escape(str(d / "audit-2026-12-02.jsonl"))
    with pytest.raises(AuditError, match=f"^audit trail unavailable \\({f}: Not a directory\\); cannot recreate "
                                         f"{re.escape(str(d))}: File exists$"):
        w.write(rec(), durable=True)
    assert w.gaps == 0 and w.seq == 1
    d.unlink()
    w.write(rec(), durable=True)
    assert w.gaps == 1 and w.seq == 3
    w.close()
