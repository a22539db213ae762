"""The audit writer's durability order (issue 26): the log file itself is fsynced before the head
(head.json, which `guard audit verify` trusts as the last acknowledged record) is replaced. A
head that names a record the disk does not hold yet would make a crash look like tampering,
and a block or warn whose record is not on disk could be lost. Records which descriptors are
synced and when the head is replaced, in order."""
import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from guard.audit import writer as audit_writer
from guard.audit.chain import HEAD_FILE
from guard.audit.writer import AuditWriter, new_event_id


def rec(action="allow"):
    return {"event_id": new_event_id(), "ts": "2026-12-02T08:00:00.000Z", "action": action, "rules": [],
            "host": "api.openai.com", "path": "/v1/chat/completions", "client": "10.0.0.5", "user": None,
            "body_sha256": "0" * 64, "policy": {"id": "default", "sha256": "x"}}


def _check_order(log, appended: bool):
    """Each head replacement is preceded by an fsync of the log (since the last replacement) and of
    the head's temporary file."""
    last = 0
    heads = [i for i, (what, name) in enumerate(log) if what == "replace" and name == HEAD_FILE]
    assert heads, log
    for i in heads:
        window = log[last:i]
        logs = [j for j, (what, name) in enumerate(window) if what == "fsync" and name.startswith("audit-")]
        tmps = [j for j, (what, name) in enumerate(window) if what == "fsync" and name == f".{HEAD_FILE}.tmp"]
        if appended:
            assert logs, f"head replaced without syncing the log first: {log}"
            assert tmps and logs[-1] < tmps[-1], log
        last = i + 1


def test_a_durable_record_syncs_the_log_before_the_head(tmp_path, events):
    w = AuditWriter(tmp_path / "audit")
    w.write(rec("block"), durable=True)
    assert events[0][0] == "fsync" and events[0][1].startswith("audit-") and events[0][1].endswith(".jsonl")
    _check_order(events, appended=True)
    w.close()


@settings(derandomize=True, max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["allow", "warn", "block"]), st.booleans(), st.booleans()),
                min_size=1, max_size=12))
def test_any_mix_of_durable_records_and_group_commits_syncs_the_log_first(tmp_path_factory, steps):
    """(action, durable, sync after it) in any order: every head that is written follows a sync of the log."""
    d = tmp_path_factory.mktemp("mix")
    log: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace
    audit_writer.os.fsync = lambda fd: (log.append(("fsync", Path(os.readlink(f"/proc/self/fd/{fd}")).name)),
                                        real_fsync(fd))[1]
    audit_writer.os.replace = lambda s, t: (log.append(("replace", Path(t).name)), real_replace(s, t))[1]
    try:
        w = AuditWriter(d / "audit")
        for action, durable, sync in steps:
            w.write(rec(action), durable=durable)
            if sync:
                w.sync()
        w.close()
    finally:
        audit_writer.os.fsync, audit_writer.os.replace = real_fsync, real_replace
    _check_order(log, appended=True)
    head = (d / "audit" / HEAD_FILE).read_text()
    assert f'"seq": {len(steps)}' in head  # close() left the head at the last record
