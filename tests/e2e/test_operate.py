"""Operating the guard, from outside: logs and metrics, hot reload under load, monitor mode,
identity and scoped exemptions, access per service and activity, shadow AI, upstream chaining.
Every test runs a real `guard proxy` (TLS interception, --map-remote to a loopback upstream)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import bcrypt
import httpx
import pytest
from harness import BIN, ROOT, Proxy, acknowledge, free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_protobuf_shadow import ld  # noqa: E402  (one protobuf encoder for the tests)

DEFAULT = ROOT / "policies" / "default.yaml"
CATALOG = ROOT / "policies" / "catalog.yaml"
MARKED = "机密★5年\n关于某油田储量的报告"
INTERNAL = "内部资料　注意保存\n本周工作安排"
CLEAN = "帮我把这段话翻译成英文：今天天气很好"


def chat(text: str) -> dict:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}


def post(c: httpx.Client, text: str, host: str = "api.openai.com", path: str = "/v1/chat/completions"):
    return c.post(f"https://{host}{path}", json=chat(text))


def audit(p: Proxy) -> list[dict]:
    out = subprocess.run([str(BIN / "guard"), "audit", "list", "--audit-dir", str(p.audit), "--json"],
                         capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def wait_for(pred, timeout: float = 10.0, step: float = 0.1):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(step)
    return pred()


def metric(text: str, name: str, **labels) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def decisions(p: Proxy) -> list[dict]:
    out = []
    for line in p.log_lines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("event") == "decision":
            out.append(rec)
    return out


# -- logs and metrics ---------------------------------------------------------------------------
def test_metrics_and_one_json_decision_line_per_request(tmp_path, upstream):
    port = free_port()
    p = Proxy(tmp_path, upstream, command="guard", guard_args=("--metrics", f"127.0.0.1:{port}"))
    try:
        with p.client() as c:
            allowed = [post(c, f"{CLEAN} 第{i}次") for i in range(3)]
            warned = post(c, INTERNAL)
            blocked = [post(c, MARKED), post(c, MARKED, host="api.deepseek.com", path="/chat/completions")]
        assert [r.status_code for r in allowed] == [200] * 3
        assert warned.status_code == 403 and warned.headers["x-ai-guard-action"] == "warn"
        assert [r.status_code for r in blocked] == [403, 403]
        scrape = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert metric(scrape, "guard_requests_total", provider="openai", action="allow") == 3
        assert metric(scrape, "guard_requests_total", provider="openai", action="warn") == 1
        assert metric(scrape, "guard_requests_total", provider="openai", action="block") == 1
        assert metric(scrape, "guard_requests_total", provider="deepseek", action="block") == 1
        assert metric(scrape, "guard_decision_seconds_count") == 6
        assert metric(scrape, "guard_inspected_bytes_total") > 0
        policy_sha = audit(p)[0]["policy"]["sha256"]
        assert metric(scrape, "guard_policy_info", sha256=policy_sha) == 1
        lines = wait_for(lambda: len(decisions(p)) >= 6 and decisions(p))
        assert len(lines) == 6
        ids = {r.headers["x-ai-guard-event"] for r in [warned, *blocked]}
        assert ids <= {d["event_id"] for d in lines}
        for d in lines:
            assert {"event_id", "action", "rules", "provider", "host", "client", "user", "department",
                    "decision_ms", "body_size"} <= set(d)
        by_id = {d["event_id"]: d for d in lines}
        assert by_id[blocked[0].headers["x-ai-guard-event"]]["rules"] == ["state-secret.marking"]
        log_text = p.stderr_path.read_text(encoding="utf-8")
        for content in ("关于某油田储量的报告", "本周工作安排", "今天天气很好", "机密★5年"):
            assert content not in log_text  # never content, never excerpts
        assert any(json.loads(line).get("event") == "started" for line in p.log_lines() if line.startswith("{"))
        # The CA private key mitmproxy created is the service user's alone.
        assert (p.confdir / "mitmproxy-ca.pem").stat().st_mode & 0o077 == 0
    finally:
        p.stop()


def test_log_format_console_and_bad_value(tmp_path, upstream):
    p = Proxy(tmp_path, upstream, command="guard", extra_args=("--set", "guard_log_format=console"))
    try:
        with p.client() as c:
            assert post(c, MARKED).status_code == 403
        assert wait_for(lambda: any("decision" in line and "block" in line for line in p.log_lines()))
        assert not any(line.startswith("{") and '"decision"' in line for line in p.log_lines())
    finally:
        p.stop()
    bad = subprocess.run([str(BIN / "guard"), "proxy", "--audit-dir", str(tmp_path / "a2"), "--listen-port",
                          str(free_port()), "--", "--set", "guard_log_format=xml"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "guard_log_format" in bad.stdout + bad.stderr


# -- hot reload -----------------------------------------------------------------------------------
def _policy(tmp: Path, extra_rule: str = "") -> Path:
    (tmp / "terms.txt").write_text("# code names\n金沙江一号\n", encoding="utf-8")
    pol = tmp / "office.yaml"
    pol.write_text(f"id: office\nextends: [{DEFAULT}]\nlists:\n  office_terms: {{file: terms.txt}}\n"
                   "rules:\n  - id: custom.office-term\n    description: 本单位登记的名称\n    severity: high\n"
                   "    action: block\n    keywords_from: [office_terms]\n" + extra_rule, encoding="utf-8")
    return pol


@pytest.fixture
def start_proxy(tmp_path, upstream):
    """Start a proxy; every proxy started is stopped at teardown, however the test ended."""
    started: list[Proxy] = []

    def start(**kw) -> Proxy:
        started.append(Proxy(tmp_path, upstream, **kw))
        return started[-1]
    yield start
    for p in started:
        p.stop()


def test_policy_edit_under_load_reloads_without_failing_a_request(tmp_path, start_proxy):
    pol = _policy(tmp_path)
    port = free_port()
    p = start_proxy(command="guard", policy=pol, guard_args=("--metrics", f"127.0.0.1:{port}"))
    results: list[tuple[float, float, int]] = []  # (sent, answered, status)
    errors: list[str] = []
    stop = threading.Event()

    def client_loop():
        with p.client() as c:
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    r = post(c, "蓝鲸计划的进度如何")
                    results.append((sent, time.monotonic(), r.status_code))
                except Exception as e:  # a dropped connection or a failed request
                    errors.append(repr(e))

    def answered_after(t: float) -> list[int]:
        return [s for sent, _, s in list(results) if sent > t]

    threads = [threading.Thread(target=client_loop) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        assert wait_for(lambda: len(results) >= 20, timeout=60)
        assert all(s == 200 for *_, s in results)
        before_hash = audit(p)[-1]["policy"]["sha256"]
        (tmp_path / "terms.txt").write_text("# code names\n金沙江一号\n蓝鲸计划\n", encoding="utf-8")
        # Polling with a deadline, not a measured delay: the reload is seen by what it does.
        assert wait_for(lambda: any(s == 403 for *_, s in list(results)), timeout=60)
        # A request sent after the first block was answered came after the new policy was in force.
        settled = min(answered for _, answered, s in list(results) if s == 403)
        # Uploads are decided in worker processes: they switched to the new policy too.
        big = ("普通的会议纪要。" * 12000 + "\n附：蓝鲸计划进度表\n").encode()
        with p.client() as c:
            up = c.post("https://api.openai.com/v1/files", data={"purpose": "assistants"},
                        files={"file": ("minutes.txt", big, "text/plain")})
        assert len(big) > 64 * 1024 and up.status_code == 403 and "custom.office-term" in up.text
        # An invalid edit (a regex RE2 rejects), then an edit whose example fails: both rejected.
        good_text = pol.read_text(encoding="utf-8")
        pol.write_text(good_text + "  - id: custom.broken\n    action: block\n    regex: '(unclosed'\n"
                       "    examples: {match: [x], no_match: [y]}\n", encoding="utf-8")
        assert wait_for(lambda: any("policy_rejected" in line for line in p.log_lines()), timeout=60)
        pol.write_text(good_text + "  - id: custom.wrong-example\n    action: warn\n    keywords: [金海豚]\n"
                       "    examples: {match: [银海豚项目], no_match: [普通文本]}\n", encoding="utf-8")
        assert wait_for(lambda: sum("policy_rejected" in line for line in p.log_lines()) >= 2, timeout=60)
        rejected_both = time.monotonic()
        assert wait_for(lambda: len(answered_after(rejected_both)) >= 20, timeout=60)  # traffic through both
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert errors == []
    assert all(s in (200, 403) for *_, s in results)
    # After the reload every request is blocked, through both rejected edits.
    assert answered_after(settled) and set(answered_after(settled)) == {403}
    assert len(results) > 50
    rejected = [json.loads(line) for line in p.log_lines() if "policy_rejected" in line]
    assert all(r["level"] == "error" for r in rejected)
    assert "custom.broken" in rejected[0]["error"] and "custom.wrong-example" in rejected[1]["error"]
    scrape = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    assert metric(scrape, "guard_policy_reloads_total", result="ok") == 1
    assert metric(scrape, "guard_policy_reloads_total", result="rejected") == 2
    hashes = [r["policy"]["sha256"] for r in audit(p)]
    assert hashes[0] == before_hash and len(set(hashes)) == 2  # both policies named, none other
    blocked = [r for r in audit(p) if r["action"] == "block"]
    assert blocked and all(r["policy"]["sha256"] != before_hash for r in blocked)


def _reloads(p: Proxy) -> list[dict]:
    return [json.loads(line) for line in p.log_lines() if line.startswith("{") and "policy_reloaded" in line]


def test_sighup_reloads_the_catalog(tmp_path, start_proxy):
    from guard.proxy.state import SETTLE_SECONDS, WATCH_SECONDS

    cat = tmp_path / "catalog.yaml"
    original = CATALOG.read_text(encoding="utf-8")
    cat.write_text(original, encoding="utf-8")
    p = start_proxy(command="guard", extra_args=("--set", f"guard_catalog={cat}", "--set", "guard_reload=false"))
    with p.client() as c:
        assert post(c, CLEAN).status_code == 200
    edited = re.sub(r"(\{id: openai, [^\n]*?hosts: \[api\.openai\.com\])", r"\1, access: block", original, count=1)
    assert edited != original  # the edit changes the catalog (the line it rewrites is still there)
    cat.write_text(edited, encoding="utf-8")
    # Watching is off: through several of the watcher's polls (where a watching proxy would have
    # reloaded) the old catalog stays in force and nothing is reloaded.
    until = time.monotonic() + 3 * WATCH_SECONDS + SETTLE_SECONDS
    with p.client() as c:
        while time.monotonic() < until:
            assert post(c, CLEAN).status_code == 200
    assert _reloads(p) == []
    p.proc.send_signal(1)
    assert wait_for(lambda: _reloads(p), timeout=60)
    assert [r["reason"] for r in _reloads(p)] == ["SIGHUP"]
    with p.client() as c:
        r = post(c, CLEAN)
    assert r.status_code == 403 and "access.prompt" in r.text


# -- monitor mode -----------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["guard", "mitmdump"])
def test_monitor_mode_rule_records_would_and_passes(tmp_path, upstream, command):
    pol = tmp_path / "rollout.yaml"
    pol.write_text(f"id: rollout\nextends: [{DEFAULT}]\nrules:\n  - id: custom.new-term\n"
                   "    description: 试运行的新规则\n    severity: high\n    action: block\n    mode: monitor\n"
                   "    keywords: [海龙项目]\n    examples: {match: [海龙项目周报], no_match: [普通周报]}\n",
                   encoding="utf-8")
    p = Proxy(tmp_path, upstream, command=command, policy=pol)
    try:
        with p.client() as c:
            passed = post(c, "海龙项目本周进展")
            still_blocked = post(c, MARKED)
        assert passed.status_code == 200
        assert still_blocked.status_code == 403  # enforced rules keep enforcing
        rec = next(r for r in audit(p) if any(x["id"] == "custom.new-term" for x in r["rules"]))
        assert rec["action"] == "allow" and rec["would"] == "block"
        assert rec["rules"][0]["mode"] == "monitor"
        stats = json.loads(subprocess.run([str(BIN / "guard"), "audit", "stats", "--audit-dir", str(p.audit),
                                           "--json"], capture_output=True, text=True, check=True).stdout)
        assert stats["monitor_would_by_rule"] == {"custom.new-term would-block": 1}
    finally:
        p.stop()


# -- identity, scope ----------------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["guard", "mitmdump"])
def test_htpasswd_user_cidr_department_and_scoped_exemption(tmp_path, upstream, command):
    hashed = {u: bcrypt.hashpw(pw.encode(), bcrypt.gensalt(4)).decode() for u, pw in
              (("alice", "alice-pw"), ("bob", "bob-pw"))}
    (tmp_path / "htpasswd").write_text("".join(f"{u}:{h}\n" for u, h in hashed.items()), encoding="utf-8")
    (tmp_path / "identity.yaml").write_text(
        "departments:\n  127.0.0.0/8: 勘探开发研究院\n  10.0.0.0/8: 其他\n"
        "groups:\n  secoffice: [alice]\n", encoding="utf-8")
    pol = tmp_path / "exempt.yaml"
    pol.write_text(f"id: exempt\nextends: [{DEFAULT}]\nexemptions:\n"
                   "  - scope: {groups: [secoffice]}\n    rules: [state-secret, commercial-secret]\n"
                   "    reason: 保密办测试标志识别\n", encoding="utf-8")
    p = Proxy(tmp_path, upstream, command=command, policy=pol,
              extra_args=("--proxyauth", f"@{tmp_path / 'htpasswd'}",
                          "--set", f"guard_identity={tmp_path / 'identity.yaml'}"))
    try:
        with p.client(auth="alice:alice-pw") as c:
            tested = post(c, MARKED)
            alice_cred = post(c, "my key is AKIAIOSFODNN7REALKEY and secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYREALKEY12")
        with p.client(auth="bob:bob-pw") as c:
            bob = post(c, MARKED)
        with p.client(auth="bob:wrong") as c, pytest.raises(httpx.ProxyError, match="407"):
            post(c, CLEAN)
        assert tested.status_code == 200
        assert bob.status_code == 403
        recs = audit(p)
        exempt = next(r for r in recs if r["user"] == "alice" and r["action"] == "allow" and r["rules"])
        assert exempt["exempt"] == "group:secoffice" and exempt["department"] == "勘探开发研究院"
        assert exempt["rules"][0]["mode"] == "exempt"
        bob_rec = next(r for r in recs if r["user"] == "bob")
        assert bob_rec["action"] == "block" and bob_rec["department"] == "勘探开发研究院"
        # The exemption names marking rules only: a credential from the same user still stops.
        assert alice_cred.status_code == 403
        cred = next(r for r in recs if r["event_id"] == alice_cred.headers["x-ai-guard-event"])
        assert cred["user"] == "alice" and cred["action"] == "block" and "exempt" not in cred
        assert any(x["id"].startswith("credential.") and x.get("mode", "enforce") == "enforce" for x in cred["rules"])
        lines = decisions(p)
        assert {d["user"] for d in lines} >= {"alice", "bob"}
        assert all(d["department"] == "勘探开发研究院" for d in lines)
    finally:
        p.stop()


def test_identity_map_names_users_by_ip_without_proxy_auth(tmp_path, upstream):
    (tmp_path / "leases.csv").write_text("ip,user,department\n127.0.0.1,wangwu,钻井工程部\n", encoding="utf-8")
    (tmp_path / "identity.yaml").write_text("departments:\n  127.0.0.0/8: 机关\nusers_file: leases.csv\n",
                                            encoding="utf-8")
    p = Proxy(tmp_path, upstream, command="guard",
              extra_args=("--set", f"guard_identity={tmp_path / 'identity.yaml'}"))
    try:
        with p.client() as c:
            assert post(c, MARKED).status_code == 403
        rec = audit(p)[-1]
        assert rec["user"] == "wangwu" and rec["department"] == "钻井工程部"
    finally:
        p.stop()


# -- access per service and activity; tenant restriction ---------------------------------------------
def _catalog(tmp: Path, openai_extra: str, extra_services: str = "") -> Path:
    text = re.sub(r"(\{id: openai, [^\n]*?hosts: \[api\.openai\.com\])", lambda m: m.group(1) + openai_extra,
                  CATALOG.read_text(encoding="utf-8"), count=1)  # the entry's fields, wherever its line ends
    text = text.replace("services:\n", "services:\n" + extra_services, 1)
    cat = tmp / "catalog.yaml"
    cat.write_text(text, encoding="utf-8")
    return cat


@pytest.mark.parametrize("command", ["guard", "mitmdump"])
def test_per_activity_block_group_override_and_tenant_header(tmp_path, upstream, command):
    cat = _catalog(tmp_path, ", access: {prompt: allow, upload: block, groups: {rd: {upload: allow}}}, "
                             "headers: {ChatGPT-Allowed-Workspace-Id: ws-ours}")
    (tmp_path / "identity.yaml").write_text("users:\n  127.0.0.1: zhaoliu\n", encoding="utf-8")
    p = Proxy(tmp_path, upstream, command=command,
              extra_args=("--set", f"guard_catalog={cat}", "--set", f"guard_identity={tmp_path / 'identity.yaml'}"))
    try:
        with p.client() as c:
            prompt = post(c, CLEAN)
            n = len(upstream.received)
            upload = c.post("https://api.openai.com/v1/files", data={"purpose": "assistants"},
                            files={"file": ("notes.txt", "普通的会议纪要".encode(), "text/plain")})
        assert prompt.status_code == 200
        assert upstream.received[n - 1]["headers"].get("ChatGPT-Allowed-Workspace-Id") == "ws-ours"
        assert upload.status_code == 403 and "access.upload" in upload.text
        assert len(upstream.received) == n
        rec = audit(p)[-1]
        assert rec["action"] == "block" and rec["rules"][0]["id"] == "access.upload" and rec["activity"] == "upload"
    finally:
        p.stop()
    # The same upload from a member of the group the catalog lets upload passes (and is inspected).
    (tmp_path / "identity.yaml").write_text("users:\n  127.0.0.1: zhaoliu\ngroups:\n  rd: [zhaoliu]\n",
                                            encoding="utf-8")
    p = Proxy(tmp_path, upstream, command=command,
              extra_args=("--set", f"guard_catalog={cat}", "--set", f"guard_identity={tmp_path / 'identity.yaml'}"))
    try:
        with p.client() as c:
            ok = c.post("https://api.openai.com/v1/files", data={"purpose": "assistants"},
                        files={"file": ("notes.txt", "普通的会议纪要".encode(), "text/plain")})
            marked = c.post("https://api.openai.com/v1/files", data={"purpose": "assistants"},
                            files={"file": ("notes.txt", MARKED.encode(), "text/plain")})
        assert ok.status_code == 200 and marked.status_code == 403
    finally:
        p.stop()


@pytest.mark.parametrize("command", ["guard", "mitmdump"])
def test_catalog_block_and_warn_whole_service(tmp_path, upstream, command):
    cat = _catalog(tmp_path, ", access: block",
                   "  - {id: trial-llm, name: Trial LLM, shape: openai, hosts: [api.deepseek.com], access: warn}\n")
    cat.write_text(re.sub(r"  - \{id: deepseek, .*?\}\n", "", cat.read_text(encoding="utf-8"), count=1, flags=re.S),
                   encoding="utf-8")  # the whole entry (its last line ends the mapping)
    p = Proxy(tmp_path, upstream, command=command, extra_args=("--set", f"guard_catalog={cat}"))
    try:
        n = len(upstream.received)
        with p.client() as c:
            blocked = post(c, CLEAN)
            page = c.get("https://api.openai.com/v1/models")
            warned = post(c, CLEAN, host="api.deepseek.com", path="/chat/completions")
            other = post(c, CLEAN, host="api.anthropic.com", path="/v1/messages")
        assert blocked.status_code == 403 and "access.prompt" in blocked.text
        assert page.status_code == 403
        assert warned.status_code == 403 and warned.headers["x-ai-guard-action"] == "warn"
        ack = warned.headers["x-ai-guard-ack"]
        with p.client() as c:
            assert acknowledge(c, ack).status_code == 200
            assert post(c, CLEAN, host="api.deepseek.com", path="/chat/completions").status_code == 200
        assert other.status_code == 200
        assert len(upstream.received) == n + 2
    finally:
        p.stop()


# -- protobuf, shadow AI --------------------------------------------------------------------------------


def test_protobuf_body_with_a_marking_is_blocked(tmp_path, upstream):
    p = Proxy(tmp_path, upstream, command="guard")
    try:
        marked = ld(1, ld(2, ld(1, MARKED.encode()) + ld(3, b"def f(): pass"))) + ld(5, b"claude-4-sonnet")
        clean = ld(1, ld(2, ld(1, CLEAN.encode()))) + ld(5, b"claude-4-sonnet")
        framed = b"\x00" + len(marked).to_bytes(4, "big") + marked
        with p.client() as c:
            r1 = c.post("https://api2.cursor.sh/aiserver.v1.ChatService/StreamUnifiedChat", content=marked,
                        headers={"content-type": "application/proto"})
            r2 = c.post("https://api2.cursor.sh/aiserver.v1.ChatService/StreamUnifiedChat", content=framed,
                        headers={"content-type": "application/connect+proto"})
            r3 = c.post("https://api2.cursor.sh/aiserver.v1.ChatService/StreamUnifiedChat", content=clean,
                        headers={"content-type": "application/proto"})
        assert r1.status_code == 403 and r2.status_code == 403 and r3.status_code == 200
        rec = next(r for r in audit(p) if r["action"] == "block")
        assert rec["provider"] == "cursor" and "field 1.2.1" in rec["rules"][0]["locations"][0]
    finally:
        p.stop()


def test_llm_shaped_request_to_unknown_host_is_blocked_and_discovered(tmp_path, upstream):
    p = Proxy(tmp_path, upstream, command="guard", extra_args=("--set", "guard_intercept=all"))
    try:
        with p.client() as c:
            relay = post(c, MARKED, host="api.relay-zhongzhuan.example", path="/v1/chat/completions")
            gem = c.post("https://llm.other.example/v1beta/models/x:generateContent",
                         json={"contents": [{"role": "user", "parts": [{"text": MARKED}]}]})
            fine = post(c, CLEAN, host="api.relay-zhongzhuan.example", path="/v1/chat/completions")
            not_ai = c.post("https://www.example.org/form", json={"title": MARKED})
        assert relay.status_code == 403 and gem.status_code == 403
        assert fine.status_code == 200 and not_ai.status_code == 200
        out = subprocess.run([str(BIN / "guard"), "audit", "discover", "--audit-dir", str(p.audit), "--json"],
                             capture_output=True, text=True, check=True).stdout
        found = {h["host"]: h for h in json.loads(out)}
        assert set(found) == {"api.relay-zhongzhuan.example", "llm.other.example"}
        relay_row = found["api.relay-zhongzhuan.example"]
        assert relay_row["count"] == 2 and relay_row["shapes"] == {"openai-chat": 2}
        assert relay_row["actions"] == {"block": 1, "allow": 1}
        assert found["llm.other.example"]["shapes"] == {"gemini": 1}
        text = subprocess.run([str(BIN / "guard"), "audit", "discover", "--audit-dir", str(p.audit)],
                              capture_output=True, text=True, check=True).stdout
        assert "api.relay-zhongzhuan.example" in text and "2 host(s)" in text
    finally:
        p.stop()


# -- chaining to an existing corporate proxy ---------------------------------------------------------------
def test_upstream_mode_chains_to_a_corporate_proxy(tmp_path, upstream):
    from corp_proxy import CorpProxy

    with CorpProxy() as corp:
        p = Proxy(tmp_path, upstream, command="guard",
                  extra_args=("--mode", f"upstream:http://127.0.0.1:{corp.port}"))
        try:
            with p.client() as c:
                assert post(c, MARKED).status_code == 403
                assert corp.seen == []  # a blocked request never leaves
                ok = post(c, CLEAN)
            assert ok.status_code == 200 and ok.json()["ok"] is True
            # The guard reached the (mapped) provider through the corporate proxy.
            assert corp.seen == [f"CONNECT 127.0.0.1:{upstream.port}"]
            assert upstream.received[-1]["path"] == "/v1/chat/completions"
        finally:
            p.stop()


def test_make_run_has_metrics_on():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    run = re.search(r"^run:.*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert "--metrics 127.0.0.1:9464" in run


TAG_SCRIPT = """def request(flow):
    flow.request.headers["x-tag"] = "{v}"


def response(flow):
    flow.response.headers["x-tag-seen"] = "{v}"
"""


@pytest.mark.parametrize("dispatch", ["true", "false"])
def test_mitmdump_another_script_keeps_its_hooks_and_its_reload(tmp_path, upstream, dispatch):
    """Under mitmdump -s the guard installs its own event dispatcher (guard_dispatch): an operator's
    other script still sees every request and response, and its edited version, reloaded by
    mitmdump's file watcher, is the one that runs; the same with mitmproxy's own dispatch."""
    import os
    other = tmp_path / "tag.py"
    other.write_text(TAG_SCRIPT.format(v="one"))
    p = Proxy(tmp_path, upstream, extra_args=("-s", str(other), "--set", f"guard_dispatch={dispatch}"))
    try:
        with p.client() as c:
            first = post(c, CLEAN)
            assert first.status_code == 200 and first.headers["x-tag-seen"] == "one"
            assert upstream.last("/v1/chat/completions")["headers"]["x-tag"] == "one"
            assert post(c, MARKED).status_code == 403
            other.write_text(TAG_SCRIPT.format(v="two"))
            later = time.time() + 5
            os.utime(other, (later, later))  # a newer mtime than the first version's, whatever the clock
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and post(c, CLEAN).headers.get("x-tag-seen") != "two":
                time.sleep(0.3)
            r = post(c, CLEAN)  # wholly after the reload (the one above may straddle it)
            assert r.status_code == 200 and r.headers["x-tag-seen"] == "two"
            assert upstream.last("/v1/chat/completions")["headers"]["x-tag"] == "two"
            assert post(c, MARKED).status_code == 403  # the guard itself still decides
    finally:
        p.stop()
