"""`guard audit shadow`: hosts outside the catalog that received AI-shaped requests, with requests
per department, from a trail written by the real audit writer (and, in the slow test, by the real
proxy with an identity map), read through the real CLI."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from guard.audit import record as audit_record
from guard.audit.writer import AuditWriter, new_event_id
from guard.cli.shadow import shadow_hosts
from guard.policy import load_policy
from guard.types import Finding, Verdict

BIN = Path(sys.executable).parent
POLICY = load_policy()
BLOCK = Verdict("block", (Finding("state-secret.marking", "block", "high", "messages[0].content", "机密★**"),))
ALLOW = Verdict("allow")


def write_trail(audit_dir: Path, rows) -> None:
    w = AuditWriter(audit_dir)
    for host, path, provider, shape, user, dept, verdict in rows:
        info = audit_record.RequestInfo(host=host, method="POST", path=path, client="10.20.8.15", user=user,
                                        department=dept, provider=provider, shape=shape, activity="prompt")
        w.write(audit_record.build(new_event_id(), info, verdict, POLICY), durable=False)
    w.close()


ROWS = [
    ("api.relay-zhongzhuan.example", "/v1/chat/completions?key=sk-secret-in-query", "unknown", "openai-chat", "zhang", "研发部", BLOCK),
    ("api.relay-zhongzhuan.example", "/v1/chat/completions", "unknown", "openai-chat", "wang", "研发部", ALLOW),
    ("api.relay-zhongzhuan.example", "/v1/messages", "unknown", "anthropic", "li", "财务部", ALLOW),
    ("API.Relay-Zhongzhuan.example.", "/v1/chat/completions", "unknown", "openai-chat", "zhang", "研发部", ALLOW),
    ("llm.other.example:8443", "/v1beta/models/x:generateContent", "unknown", "gemini", None, None, ALLOW),
    # Named by the catalog by now (added since): not listed.
    ("api.coze.cn", "/v3/chat", "unknown", "chat-web", "zhao", "办公室", ALLOW),
    # Catalogued traffic is not shadow AI.
    ("api.openai.com", "/v1/chat/completions", "openai", "", "zhang", "研发部", BLOCK),
]


def guard(*args: str) -> subprocess.CompletedProcess:
    """The installed command, as staff run it."""
    return subprocess.run([str(BIN / "guard"), "audit", "shadow", *args], capture_output=True, text=True, timeout=60)


def run(capsys, *args: str) -> tuple[int, str, str]:
    """The same command in this process (its parser and handler, without a start-up per call)."""
    from guard.cli.main import main

    code = main(["audit", "shadow", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_shadow_counts_hosts_per_department(tmp_path):
    write_trail(tmp_path / "audit", ROWS)
    r = guard("--audit-dir", str(tmp_path / "audit"), "--json")
    assert r.returncode == 0, r.stderr
    found = {h["host"]: h for h in json.loads(r.stdout)}
    assert list(found) == ["api.relay-zhongzhuan.example", "llm.other.example"]  # most used first
    relay = found["api.relay-zhongzhuan.example"]
    assert relay["count"] == 4 and relay["departments"] == {"研发部": 3, "财务部": 1}
    assert relay["senders"] == 3
    assert relay["shapes"] == {"openai-chat": 3, "anthropic": 1}
    assert relay["actions"] == {"allow": 3, "block": 1}
    assert relay["paths"] == {"/v1/chat": 3, "/v1/messages": 1}
    assert found["llm.other.example"]["departments"] == {"(unmapped)": 1}
    assert "sk-secret" not in r.stdout  # paths are shown without their query


def test_shadow_text_and_filters(tmp_path, capsys):
    write_trail(tmp_path / "audit", ROWS)
    d = str(tmp_path / "audit")
    code, text, _ = run(capsys, "--audit-dir", d)
    assert code == 0
    assert "研发部 3, 财务部 1" in text
    assert "2 host(s) outside the catalog; 1 named by the catalog since" in text
    assert "hosts: [api.relay-zhongzhuan.example]" in text  # what to add, as a catalog entry
    only = json.loads(run(capsys, "--audit-dir", d, "--json", "--department", "财务部")[1])
    assert [(h["host"], h["count"]) for h in only] == [("api.relay-zhongzhuan.example", 1)]
    busy = json.loads(run(capsys, "--audit-dir", d, "--json", "--min-count", "2")[1])
    assert [h["host"] for h in busy] == ["api.relay-zhongzhuan.example"]
    assert json.loads(run(capsys, "--audit-dir", d, "--json", "--since", "2999-01-01")[1]) == []


def test_shadow_against_another_catalog(tmp_path, capsys):
    """Compared with the catalog given: once a host is added there, it leaves the report."""
    write_trail(tmp_path / "audit", ROWS)
    d = str(tmp_path / "audit")
    cat = tmp_path / "catalog.yaml"
    cat.write_text("services:\n  - {id: relay, hosts: [relay-zhongzhuan.example/v1]}\n", encoding="utf-8")
    got = json.loads(run(capsys, "--audit-dir", d, "--json", "--catalog", str(cat))[1])
    assert [h["host"] for h in got] == ["api.coze.cn", "llm.other.example"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("services:\n  - {id: a, hosts: ['*.amazonaws.com']}\n", encoding="utf-8")
    code, _, err = run(capsys, "--audit-dir", d, "--catalog", str(bad))
    assert code == 2 and "whole cloud domain" in err and len(err.strip().splitlines()) == 1


def test_shadow_hosts_is_pure_over_records():
    recs = [{"ts": f"2026-12-0{i}T01:00:00Z", "provider": "unknown", "host": "x.example", "path": "/a/b/c",
             "department": d, "user": u, "action": "allow", "shape": "openai-chat"}
            for i, (d, u) in enumerate([("甲", "a"), ("乙", "b"), ("甲", "a")], 1)]
    hosts, known = shadow_hosts(recs)
    assert known == 0 and hosts[0]["departments"] == {"甲": 2, "乙": 1} and hosts[0]["senders"] == 2
    assert hosts[0]["first_seen"] == "2026-12-01T01:00:00Z" and hosts[0]["last_seen"] == "2026-12-03T01:00:00Z"


@pytest.mark.slow
def test_shadow_from_the_real_proxy_with_departments(tmp_path):
    """LLM-shaped requests through a real guard proxy to hosts outside the catalog, from users the
    identity map puts in two departments, come out of `guard audit shadow` counted per department."""
    import bcrypt
    import httpx

    sys.path.insert(0, str(Path(__file__).parent / "e2e"))
    from harness import Proxy
    from upstream import Upstream

    hashed = {u: bcrypt.hashpw(f"{u}-pw".encode(), bcrypt.gensalt(4)).decode() for u in ("alice", "bob")}
    (tmp_path / "htpasswd").write_text("".join(f"{u}:{h}\n" for u, h in hashed.items()), encoding="utf-8")
    (tmp_path / "identity.yaml").write_text("user_departments:\n  alice: 研发部\n  bob: 财务部\n", encoding="utf-8")
    chat = {"model": "gpt-4o", "messages": [{"role": "user", "content": "请把这段会议纪要整理成三条要点"}]}
    with Upstream() as upstream:
        p = Proxy(tmp_path, upstream, command="guard",
                  extra_args=("--set", "guard_intercept=all", "--proxyauth", f"@{tmp_path / 'htpasswd'}",
                              "--set", f"guard_identity={tmp_path / 'identity.yaml'}"))
        try:
            for user, n in (("alice", 2), ("bob", 1)):
                with p.client(auth=f"{user}:{user}-pw") as c:
                    for _ in range(n):
                        assert c.post("https://api.relay-zhongzhuan.example/v1/chat/completions",
                                      json=chat).status_code == 200
                    assert c.post("https://www.example.org/form", json={"title": "x"}).status_code == 200
            r = None
            for _ in range(50):  # allowed requests are group-committed: wait for the batch
                r = guard("--audit-dir", str(p.audit), "--json")
                if r.returncode == 0 and json.loads(r.stdout) and json.loads(r.stdout)[0]["count"] == 3:
                    break
                import time
                time.sleep(0.2)
        finally:
            p.stop()
    got = json.loads(r.stdout)
    assert [h["host"] for h in got] == ["api.relay-zhongzhuan.example"]
    assert got[0]["departments"] == {"研发部": 2, "财务部": 1} and got[0]["shapes"] == {"openai-chat": 3}
