"""The audit trail under real faults, through a real mitmdump: a full disk (a small tmpfs the
test mounts), a read-only audit file (chattr +i), and the audit directory removed mid-run. While
broken every AI request is blocked; afterwards traffic flows and the whole trail verifies."""
from __future__ import annotations

import errno
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from harness import Proxy

GUARD = str(Path(sys.executable).parent / "guard")
URL = "https://api.deepseek.com/chat/completions"


def body(text: str) -> bytes:
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]}, ensure_ascii=False).encode()


CLEAN, MARKED = body("季度工作总结"), body("机密★5年\n关于某项目的报告")
H = {"content-type": "application/json"}


def verify(audit: Path) -> subprocess.CompletedProcess:
    return subprocess.run([GUARD, "audit", "verify", "--audit-dir", str(audit)], capture_output=True, text=True)


@pytest.fixture
def tmpfs(tmp_path):
    mnt = tmp_path / "audit"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=384k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({p.stderr.strip()}); tests/audit/test_faults.py injects the faults instead")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(mnt: Path) -> Path:
    import os

    filler = mnt / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 1024)
    except OSError as e:
        assert e.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def test_full_disk_blocks_then_recovers(tmp_path, upstream, tmpfs):
    p = Proxy(tmp_path, upstream)  # its audit dir is the tmpfs
    assert p.audit == tmpfs
    try:
        with p.client() as c:
            assert c.post(URL, content=CLEAN, headers=H).status_code == 200
            assert c.post(URL, content=MARKED, headers=H).status_code == 403
            filler = fill(tmpfs)
            # The trail file's last page may still hold a record or two: the disk is full once
            # a record no longer fits, and from then on nothing passes.
            for _ in range(30):
                r = c.post(URL, content=CLEAN, headers=H)
                if r.status_code == 403:
                    break
            assert r.status_code == 403 and "audit" in r.text, r.text
            before = len(upstream.received)
            for content in (CLEAN, MARKED, CLEAN):
                r = c.post(URL, content=content, headers=H)
                assert r.status_code == 403 and "audit" in r.text, r.text
            assert len(upstream.received) == before  # nothing passed unrecorded
            filler.unlink()
            assert c.post(URL, content=CLEAN, headers=H).status_code == 200
            assert c.post(URL, content=MARKED, headers=H).status_code == 403
    finally:
        p.stop()
    v = verify(tmpfs)
    assert v.returncode == 0, v.stdout
    actions = [json.loads(line)["action"] for f in sorted(tmpfs.glob("audit-*.jsonl"))
               for line in f.read_text(encoding="utf-8").splitlines()]
    assert actions.count("block") == 2  # the blocked requests whose records could be written, and no others
    assert "allow" in actions


def test_read_only_audit_file_blocks_then_recovers(tmp_path, upstream):
    """The day's file made immutable under the running proxy (chattr +i: even root cannot
    write it, through an open descriptor too)."""
    p = Proxy(tmp_path, upstream)
    locked = None
    try:
        with p.client() as c:
            assert c.post(URL, content=CLEAN, headers=H).status_code == 200
            assert c.post(URL, content=MARKED, headers=H).status_code == 403
            (locked,) = p.audit.glob("audit-*.jsonl")
            if subprocess.run(["chattr", "+i", str(locked)], capture_output=True).returncode != 0:
                locked = None
                pytest.skip("chattr +i is not supported on this file system")
            before = len(upstream.received)
            for content in (CLEAN, MARKED, CLEAN):
                r = c.post(URL, content=content, headers=H)
                assert r.status_code == 403 and "audit" in r.text, r.text
            assert len(upstream.received) == before
            subprocess.run(["chattr", "-i", str(locked)], check=True)
            locked = None
            assert c.post(URL, content=CLEAN, headers=H).status_code == 200
            r = c.post(URL, content=MARKED, headers=H)
            assert r.status_code == 403 and "state-secret" in r.text
    finally:
        if locked is not None:
            subprocess.run(["chattr", "-i", str(locked)])
        p.stop()
    v = verify(p.audit)
    assert v.returncode == 0, v.stdout


def test_audit_dir_removed_mid_run(tmp_path, upstream):
    p = Proxy(tmp_path, upstream)
    try:
        with p.client() as c:
            assert c.post(URL, content=MARKED, headers=H).status_code == 403
            assert c.post(URL, content=CLEAN, headers=H).status_code == 200
            shutil.rmtree(p.audit)
            r = c.post(URL, content=MARKED, headers=H)
            assert r.status_code == 403 and "state-secret" in r.text  # decided and recorded again
            assert c.post(URL, content=CLEAN, headers=H).status_code == 200
    finally:
        p.stop()
    v = verify(p.audit)
    assert v.returncode == 0 and "GAP" in v.stdout, v.stdout
    recs = [json.loads(line) for f in sorted(p.audit.glob("audit-*.jsonl")) for line in f.read_text(encoding="utf-8").splitlines()]
    assert recs[0]["action"] == "gap" and {"block", "allow"} <= {r["action"] for r in recs}


def test_audit_dir_unrecoverable_blocks_until_restored(tmp_path, upstream):
    p = Proxy(tmp_path, upstream)
    try:
        with p.client() as c:
            assert c.post(URL, content=CLEAN, headers=H).status_code == 200
            shutil.rmtree(p.audit)
            p.audit.write_text("not a directory")  # the trail cannot be recreated here
            before = len(upstream.received)
            for content in (CLEAN, MARKED):
                r = c.post(URL, content=content, headers=H)
                assert r.status_code == 403 and "audit" in r.text
            assert len(upstream.received) == before
            p.audit.unlink()
            assert c.post(URL, content=CLEAN, headers=H).status_code == 200
    finally:
        p.stop()
    assert verify(p.audit).returncode == 0
