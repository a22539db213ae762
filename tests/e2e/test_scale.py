"""Scale-out: `guard proxy --processes 2` on one port (SO_REUSEPORT). Clients from several
addresses; a warning acknowledged through one process lets the retry through the other; every
decision is in the merged, verified trail exactly once, with the real client address."""
from __future__ import annotations

import http.client
import json
import re
import ssl
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

from harness import BIN, Proxy

INTERNAL = "内部资料　注意保存\n下月检修计划安排"
MARKED = "机密★5年\n关于某区块储量的报告"


def chat(p: Proxy, source: str, text: str) -> tuple[int, dict, str]:
    """One request on a new connection from `source` (a loopback address of its own)."""
    tls = ssl.create_default_context(cafile=str(p.confdir / "mitmproxy-ca-cert.pem"))
    conn = http.client.HTTPSConnection("127.0.0.1", p.port, source_address=(source, 0), context=tls, timeout=30)
    conn.set_tunnel("api.openai.com", 443)
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]}, ensure_ascii=False)
    conn.request("POST", "/v1/chat/completions", body.encode(), {"content-type": "application/json"})
    r = conn.getresponse()
    out = (r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode("utf-8", "replace"))
    conn.close()
    return out


def via_proxy(p: Proxy, source: str, method: str, url: str, form: dict | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", p.port, source_address=(source, 0), timeout=30)
    data = urlencode(form).encode() if form else None
    conn.request(method, url, data, {"content-type": "application/x-www-form-urlencoded"} if data else {})
    r = conn.getresponse()
    out = (r.status, r.read().decode("utf-8", "replace"))
    conn.close()
    return out


def test_two_processes_one_port_shared_acknowledgements_merged_trail(tmp_path, upstream):
    p = Proxy(tmp_path, upstream, command="guard", guard_args=("--processes", "2"))
    try:
        for i in range(12):  # a new connection each: the kernel spreads them over both processes
            status, _, _ = chat(p, f"127.0.0.{2 + i % 6}", f"请把第{i}段会议纪要改写通顺" if i % 3 else MARKED)
            assert status == (200 if i % 3 else 403)
        status, headers, _ = chat(p, "127.0.0.9", INTERNAL)
        assert headers["x-ai-guard-action"] == "warn"
        link = headers["x-ai-guard-ack"]
        status, page = via_proxy(p, "127.0.0.9", "GET", link)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        assert via_proxy(p, "127.0.0.9", "POST", link, {"csrf": csrf, "reason": "公开资料"})[0] == 200
        retries = [chat(p, "127.0.0.9", INTERNAL)[0] for _ in range(16)]
        assert retries == [200] * 16
    finally:
        p.stop()
    dirs = sorted(d for d in p.audit.iterdir() if d.is_dir() and d.name != "acks")
    assert len(dirs) == 2
    args = [a for d in dirs for a in ("--audit-dir", str(d))]
    v = subprocess.run([str(BIN / "guard"), "audit", "verify", *args], capture_output=True, text=True)
    assert v.returncode == 0 and v.stdout.count("chain intact") == 2, v.stdout
    recs = [json.loads(x) for x in subprocess.run([str(BIN / "guard"), "audit", "list", *args, "--json"],
                                                  capture_output=True, text=True, check=True).stdout.splitlines()]
    decided = [r for r in recs if r["action"] in ("allow", "warn", "block")]
    assert len(decided) == 12 + 1 + 16
    assert len({r["event_id"] for r in recs}) == len(recs)             # each exactly once
    assert {r["node"] for r in decided} == {d.name for d in dirs}      # both processes decided
    assert {r["client"] for r in decided} == {f"127.0.0.{i}" for i in (2, 3, 4, 5, 6, 7, 9)}
    assert [r["ts"] for r in recs] == sorted(r["ts"] for r in recs)   # merged by time
    warn_node = next(r["node"] for r in decided if r["action"] == "warn")
    ack_node = next(r["node"] for r in recs if r["action"] == "ack")
    passed = [r for r in decided if r.get("note") == "warning acknowledged by the user"]
    # Acknowledged through one process, the retry passed through the other too.
    assert len(passed) == 16 and {r["node"] for r in passed} == {d.name for d in dirs}
    assert any(r["node"] != ack_node for r in passed) and any(r["node"] != warn_node for r in passed)


def test_the_proxy_ships_its_own_trail(tmp_path, upstream):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "audit"))
    from test_ship import Collector

    col = Collector()
    p = Proxy(tmp_path, upstream, command="guard",
              extra_args=("--set", f"guard_ship=tcp://127.0.0.1:{col.port}", "--set", "guard_ship_format=rfc5424"))
    try:
        status, headers, _ = chat(p, "127.0.0.2", MARKED)
        assert status == 403
        end = time.monotonic() + 10
        while not any(headers["x-ai-guard-event"].encode() in f for f in col.frames) and time.monotonic() < end:
            time.sleep(0.1)
        assert any(headers["x-ai-guard-event"].encode() in f and b'action="block"' in f for f in col.frames)
    finally:
        p.stop()
        col.stop()


def test_approval_on_one_process_passes_once_on_any(tmp_path, upstream):
    pol = tmp_path / "approval.yaml"
    pol.write_text(f"id: approval\nextends: [{Path(__file__).resolve().parents[2] / 'policies' / 'default.yaml'}]\n"
                   "rules:\n  - id: custom.bid-price\n    description: 投标报价（须保密办批准）\n    severity: high\n"
                   "    action: warn\n    ack: approval\n    keywords: [投标报价]\n"
                   "    examples: {match: [投标报价汇总], no_match: [报价单模板]}\n", encoding="utf-8")
    p = Proxy(tmp_path, upstream, command="guard", policy=pol, guard_args=("--processes", "2"))
    try:
        text = "请润色：本次投标报价说明"
        status, headers, _ = chat(p, "127.0.0.5", text)
        assert headers["x-ai-guard-action"] == "warn"
        event, link = headers["x-ai-guard-event"], headers["x-ai-guard-ack"]
        _, page = via_proxy(p, "127.0.0.5", "GET", link)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        assert via_proxy(p, "127.0.0.5", "POST", link, {"csrf": csrf, "reason": "客户要求"})[0] == 200
        assert [chat(p, "127.0.0.5", text)[0] for _ in range(4)] == [403] * 4   # submitted, not decided
        dirs = sorted(d for d in p.audit.iterdir() if d.is_dir() and d.name != "acks")
        args = [a for d in dirs for a in ("--audit-dir", str(d))]
        d = subprocess.run([str(BIN / "guard"), "approve", event, *args, "--by", "王保密"], capture_output=True, text=True)
        assert d.returncode == 0, d.stderr
        results = [chat(p, "127.0.0.5", text)[0] for _ in range(12)]
        assert results.count(200) == 1 and results.count(403) == 11           # once, whichever process
    finally:
        p.stop()
    recs = [json.loads(x) for x in subprocess.run([str(BIN / "guard"), "audit", "list", *args, "--json"],
                                                  capture_output=True, text=True, check=True).stdout.splitlines()]
    assert [r["approval"]["event"] for r in recs if r.get("approval")] == [event]
