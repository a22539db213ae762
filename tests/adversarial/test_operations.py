"""Audit and operations (issue 22, family 8): a prompt in a path never reaches the trail;
head.json's MAC detects a cut tail; replacement workers hold the accepted policy; concurrent
password guesses cannot pass the console's lockout."""
from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard.audit.chain import HEAD_FILE, verify
from guard.audit.record import mask_path
from guard.audit.writer import AuditWriter, new_event_id

MARKS = ["机密★5年", "核心商密▲3年", "绝密★长期"]
PLAIN = st.sampled_from(["v1", "v1beta", "chat", "completions", "models", "gemini-2.5-flash:generateContent",
                         "uploads", "upload_abc123", "parts", "6751a3f0-1b2c-8000-9d3e-4f5a6b7c8d9e", "api"])


@st.composite
def content_segment(draw) -> str:
    text = draw(st.sampled_from(MARKS)) + draw(st.text(alphabet="关于某项目的报告油料储备情况", min_size=0, max_size=12))
    how = draw(st.sampled_from(["raw", "percent", "percent-gbk", "hyphen-words"]))
    if how == "percent":
        return quote(text)
    if how == "percent-gbk":
        return quote(text.encode("gb18030"))
    if how == "hyphen-words":  # a prompt in ASCII words: more than an endpoint name has
        return "-".join(draw(st.lists(st.sampled_from(["what", "is", "the", "secret", "plan", "for", "next", "year"]),
                                      min_size=5, max_size=9)))
    return text


@settings(derandomize=True, max_examples=200, deadline=None)
@given(before=st.lists(PLAIN, max_size=3), secret=content_segment(), after=st.lists(PLAIN, max_size=2),
       query=st.booleans())
def test_a_prompt_in_a_path_never_reaches_the_trail(before, secret, after, query):
    path = "/" + "/".join([*before, secret, *after]) + ("?q=" + quote(MARKS[0]) if query else "")
    masked = mask_path(path)
    assert secret not in masked and "%" not in masked.split("?")[0]
    assert not any(m in masked for m in MARKS)
    assert masked.split("?")[0].split("/")[1:] == [*before, "***", *after]  # endpoint segments kept


def _rec(i: int) -> dict:
    return {"event_id": new_event_id(), "ts": "2026-12-04T00:00:00.000Z", "action": "allow", "rules": [], "n": i}


def test_head_mac_detects_a_cut_tail(tmp_path):
    key = b"k" * 32
    w = AuditWriter(tmp_path / "a", key=key)
    for i in range(5):
        w.write(_rec(i), durable=True)
    w.close()
    d = tmp_path / "a"
    assert verify(d, key) == (5, None)
    head = json.loads((d / HEAD_FILE).read_text())
    assert set(head) == {"seq", "hash", "mac"}
    log = sorted(d.glob("audit-*.jsonl"))[-1]
    lines = log.read_text(encoding="utf-8").splitlines()
    log.write_text("\n".join(lines[:-2]) + "\n", encoding="utf-8")  # the last two records cut
    cut = json.loads(lines[-3])
    # Whoever cut the tail rewrites head.json to match, without the key: a MAC made up or left out.
    for forged in ({"seq": cut["seq"], "hash": cut["hash"]}, {"seq": cut["seq"], "hash": cut["hash"], "mac": "0" * 64},
                   {**head, "seq": cut["seq"], "hash": cut["hash"]}):
        (d / HEAD_FILE).write_text(json.dumps(forged))
        assert verify(d, key)[1] is not None and "head.json" in verify(d, key)[1]
    (d / HEAD_FILE).unlink()
    assert "missing" in verify(d, key)[1]
    # The true head (its MAC intact) names records the log no longer has.
    (d / HEAD_FILE).write_text(json.dumps(head))
    assert "removed from the end" in verify(d, key)[1]


@pytest.mark.slow  # worker processes
def test_replacement_workers_hold_the_accepted_policy(tmp_path):
    from guard.policy import load_policy
    from guard.policy.loader import DEFAULT_POLICY
    from guard.proxy.body import Request
    from guard.proxy.pool import InspectionPool
    from writers import make_docx

    pol = tmp_path / "p.yaml"
    pol.write_text(f"extends: [{DEFAULT_POLICY}]\n", encoding="utf-8")
    accepted = load_policy(str(pol))
    pool = InspectionPool({"internet": accepted}, 1, 0)
    try:
        def upload(header):
            return Request(make_docx(["正文"] * 10, header=header), {"content-type": "application/octet-stream"}, "/v1/files")

        async def run():
            first = (await pool.inspect("internet", upload("机密★5年"), 0, 60))[0]
            # The file is now edited into one the proxy would reject; then every worker dies.
            pol.write_text("rules: [this is not a policy\n", encoding="utf-8")
            pool._replace(pool._pool, kill=True)
            marked = (await pool.inspect("internet", upload("机密★5年"), 0, 60))[0]
            clean = (await pool.inspect("internet", upload(None), 0, 60))[0]
            return first, marked, clean
        first, marked, clean = asyncio.run(run())
        assert first.rules == marked.rules == ("state-secret.marking",)  # not a worker that failed to start
        assert clean.action == "allow"
    finally:
        pool.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # a real console process
def test_concurrent_guesses_cannot_pass_the_lockout(tmp_path):
    from guard.console.app import MAX_FAILURES
    guard = [sys.executable, "-m", "guard.cli.main"]
    users = tmp_path / "users.json"
    subprocess.run([*guard, "console", "add-user", "--users", str(users), "dana", "--role", "auditor"],
                   input="dana-audits-2026\n", text=True, check=True, capture_output=True)
    (tmp_path / "audit").mkdir()
    port = _free_port()
    proc = subprocess.Popen([*guard, "console", "--audit-dir", str(tmp_path / "audit"), "--users", str(users),
                             "--listen", f"127.0.0.1:{port}", "--index", str(tmp_path / "i.sqlite")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.2)
        clients = []
        for _ in range(20):  # each guess with its own login page, as a script would
            c = httpx.Client(base_url=base, timeout=30)
            csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
            clients.append((c, csrf))
        statuses, go = [], threading.Barrier(len(clients))

        def guess(c, csrf, i):
            go.wait()
            statuses.append(c.post("/login", data={"csrf": csrf, "user": "dana", "password": f"guess-{i}"},
                                   headers={"origin": base}).status_code)

        threads = [threading.Thread(target=guess, args=(c, csrf, i)) for i, (c, csrf) in enumerate(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert statuses.count(401) <= MAX_FAILURES and statuses.count(429) >= len(clients) - MAX_FAILURES, statuses
        c, _ = clients[0]
        csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
        right = c.post("/login", data={"csrf": csrf, "user": "dana", "password": "dana-audits-2026"},
                       headers={"origin": base})
        assert right.status_code == 429  # locked, even with the right password
        for c, _ in clients:
            c.close()
    finally:
        proc.terminate()
        proc.wait(10)
