import json
import subprocess
import sys
from pathlib import Path

import pytest

from guard.audit.chain import verify
from guard.audit.writer import AuditWriter, new_event_id

GUARD = str(Path(sys.executable).parent / "guard")


def rec(i, action="allow", day="2026-11-27", user=None, rule=None):
    return {"event_id": new_event_id(), "ts": f"{day}T08:00:{i:02d}.000Z", "action": action,
            "rules": [{"id": rule, "count": 1}] if rule else [], "host": "api.openai.com", "path": "/v1/x",
            "client": "10.0.0.5", "user": user, "body_sha256": "0" * 64, "policy": {"id": "default", "sha256": "x"}}


@pytest.fixture
def log(tmp_path):
    w = AuditWriter(tmp_path)
    for i in range(5):
        w.write(rec(i, "block" if i == 2 else "allow", rule="state-secret.marking" if i == 2 else None,
                    user="zhangsan" if i % 2 else None), durable=i == 4)
    w.write(rec(0, "warn", day="2026-11-28", rule="internal.marking"), durable=True)
    w.close()
    return tmp_path


def lines(d: Path):
    f = sorted(d.glob("audit-*.jsonl"))[0]
    return f, f.read_text(encoding="utf-8").splitlines()


def test_intact(log):
    assert verify(log) == (6, None)
    assert len(list(log.glob("audit-*.jsonl"))) == 2  # one file per UTC day


def test_resume_continues_chain(log):
    w = AuditWriter(log)
    w.write(rec(9), durable=True)
    w.close()
    assert verify(log) == (7, None)


@pytest.mark.parametrize("tamper, expect", [
    ("edit", "hash mismatch"),
    ("delete", "sequence"),
    ("reorder", "sequence"),
    ("insert", "sequence"),
    ("truncate", "head.json"),
])
def test_tampering_is_detected(log, tamper, expect):
    f, ls = lines(log)
    if tamper == "edit":
        r = json.loads(ls[2])
        r["action"] = "allow"
        ls[2] = json.dumps(r, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    elif tamper == "delete":
        del ls[1]
    elif tamper == "reorder":
        ls[1], ls[2] = ls[2], ls[1]
    elif tamper == "insert":
        ls.insert(1, ls[1])
    if tamper == "truncate":
        later = sorted(log.glob("audit-*.jsonl"))[1]
        later.write_text("", encoding="utf-8")
    else:
        f.write_text("\n".join(ls) + "\n", encoding="utf-8")
    count, broken = verify(log)
    assert broken and expect in broken


def test_hmac_key(tmp_path):
    w = AuditWriter(tmp_path, key=b"k" * 32)
    w.write(rec(1), durable=True)
    w.close()
    assert verify(tmp_path, b"k" * 32)[1] is None
    assert "hash mismatch" in verify(tmp_path, b"x" * 32)[1]


def run(*args):
    return subprocess.run([GUARD, "audit", *args], capture_output=True, text=True)


def test_cli_verify_exit_codes(log):
    assert run("verify", "--audit-dir", str(log)).returncode == 0
    f, ls = lines(log)
    f.write_text("\n".join(ls[:1] + ls[2:]) + "\n", encoding="utf-8")
    p = run("verify", "--audit-dir", str(log))
    assert p.returncode == 1 and "audit-2026-11-27.jsonl:2" in p.stdout


def test_cli_list_filters_and_formats(log):
    p = run("list", "--audit-dir", str(log), "--action", "block", "--json")
    recs = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(recs) == 1 and recs[0]["rules"][0]["id"] == "state-secret.marking"
    p = run("list", "--audit-dir", str(log), "--rule", "internal", "--json")
    assert [json.loads(x)["action"] for x in p.stdout.splitlines()] == ["warn"]
    p = run("list", "--audit-dir", str(log), "--user", "zhangsan", "--csv")
    rows = p.stdout.strip().splitlines()
    # A BOM first: Excel on zh-CN Windows then reads the file as UTF-8.
    # Chinese headers, the console export's columns (local time first).
    assert rows[0].startswith("\ufeff时间（北京时间）,动作,事件编号,规则,") and "body_sha256" not in rows[0]
    assert len(rows) == 3
    p = run("list", "--audit-dir", str(log), "--since", "2026-11-28")
    assert "1 event(s)" in p.stdout
    p = run("list", "--audit-dir", str(log), "--until", "2026-11-27")
    assert "5 event(s)" in p.stdout


def test_cli_show_and_stats(log):
    first = json.loads(lines(log)[1][0])
    p = run("show", "--audit-dir", str(log), "--json", first["event_id"])
    assert p.returncode == 0 and json.loads(p.stdout)["event_id"] == first["event_id"]
    assert run("show", "--audit-dir", str(log), "evt-nope").returncode == 1
    s = json.loads(run("stats", "--audit-dir", str(log), "--json").stdout)
    assert s["by_day"] == {"2026-11-27": 5, "2026-11-28": 1}
    assert s["by_rule"]["state-secret.marking"] == 1 and s["by_action"]["allow"] == 4


def test_cli_missing_dir_is_one_line(tmp_path):
    p = run("list", "--audit-dir", str(tmp_path / "nope"))
    assert p.returncode == 2 and "Traceback" not in p.stderr and p.stderr.count("\n") == 1
