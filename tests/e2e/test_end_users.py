"""What the person at the keyboard sees, through a real `guard proxy`: web apps show the guard's
message in their own answer format; a warning is acknowledged on the coaching page (POST only)
and covers the flagged passage, not the bytes; approvals; the page in a real headless browser."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid

import pytest
from harness import BIN, ROOT, Proxy, acknowledge

DEFAULT = ROOT / "policies" / "default.yaml"
INTERNAL = "内部资料　注意保存"
MARKED = "机密★5年\n关于某区块储量的报告"


def chatgpt_body(text: str) -> dict:
    """A ChatGPT web conversation request: fresh message id and timestamp on every send."""
    return {"action": "next", "model": "auto", "parent_message_id": str(uuid.uuid4()),
            "messages": [{"id": str(uuid.uuid4()), "author": {"role": "user"}, "create_time": time.time(),
                          "content": {"content_type": "text", "parts": [text]}, "metadata": {}}],
            "conversation_mode": {"kind": "primary_assistant"}, "websocket_request_id": str(uuid.uuid4())}


def sse_data(text: str) -> list:
    """Event-stream `data:` payloads, as an EventSource-style client reads them."""
    out = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        data = "\n".join(line[5:].lstrip() for line in block.split("\n") if line.startswith("data:"))
        if data and data != "[DONE]":
            out.append(json.loads(data))
    return out


def chatgpt_says(r) -> str:
    # The ChatGPT web client renders message.content.parts of the assistant's message.
    msgs = [d["message"] for d in sse_data(r.text) if d.get("message")]
    return "".join(p for m in msgs if m["author"]["role"] == "assistant" for p in m["content"]["parts"])


@pytest.fixture(scope="module")
def proxy(tmp_path_factory, upstream):
    p = Proxy(tmp_path_factory.mktemp("users"), upstream, command="guard")
    yield p
    p.stop()


def test_chatgpt_web_warning_acknowledged_on_the_page_then_retried(proxy, upstream):
    url = "https://chatgpt.com/backend-api/conversation"
    prompt = f"{INTERNAL}\n请把这份季度安全检查通报改写成给班组的三条提醒。"
    with proxy.client() as c:
        first = c.post(url, json=chatgpt_body(prompt))
        assert first.status_code == 200 and first.headers["content-type"].startswith("text/event-stream")
        assert first.headers["x-ai-guard-action"] == "warn"
        said = chatgpt_says(first)
        assert "警告" in said and first.headers["x-ai-guard-event"] in said
        link = re.search(r"http://ai-guard\.invalid/ack/[\w-]+", said).group()
        assert link == first.headers["x-ai-guard-ack"]
        # Opening the link (a link preview, a prefetch) shows the page and acknowledges nothing.
        page = c.get(link)
        assert page.status_code == 200 and 'method="post"' in page.text and "internal." in page.text
        assert c.post(url, json=chatgpt_body(prompt)).headers["x-ai-guard-action"] == "warn"
        n = len(upstream.received)
        assert acknowledge(c, link).status_code == 200
        # The web app's retry: new message ids, timestamps, request ids; the same passage passes.
        retried = c.post(url, json=chatgpt_body(prompt))
        assert retried.status_code == 200 and "x-ai-guard-action" not in retried.headers
        assert len(upstream.received) == n + 1
        # Another flagged passage is warned again; a block-worthy addition is blocked.
        other = c.post(url, json=chatgpt_body(f"{INTERNAL}\n请把这份设备台账整理成表格。"))
        assert other.headers["x-ai-guard-action"] == "warn"
        worse = c.post(url, json=chatgpt_body(f"{prompt}\n{MARKED}"))
        assert worse.headers["x-ai-guard-action"] == "block" and "已拦截" in chatgpt_says(worse)
    recs = [json.loads(line) for line in subprocess.run(
        [str(BIN / "guard"), "audit", "list", "--audit-dir", str(proxy.audit), "--json"],
        capture_output=True, text=True, check=True).stdout.splitlines()]
    ack = next(r for r in recs if r["action"] == "ack" and r["acknowledges"] == first.headers["x-ai-guard-event"])
    assert ack["reason"]  # the preset reason the person picked
    assert any(r.get("note") == "warning acknowledged by the user" and r["action"] == "allow" for r in recs)


def test_three_web_apps_render_the_message(proxy):
    with proxy.client() as c:
        ds = c.post("https://chat.deepseek.com/api/v0/chat/completion",
                    json={"chat_session_id": str(uuid.uuid4()), "parent_message_id": None, "prompt": MARKED,
                          "ref_file_ids": [], "thinking_enabled": False, "search_enabled": False})
        kimi = c.post("https://kimi.moonshot.cn/api/chat/cq1abc/completion/stream",
                      json={"messages": [{"role": "user", "content": MARKED}], "refs": [], "use_search": False})
        doubao = c.post("https://www.doubao.com/samantha/chat/completion",
                        json={"messages": [{"content": json.dumps({"text": MARKED}, ensure_ascii=False),
                                            "content_type": 2001, "attachments": []}],
                              "completion_option": {"is_regen": False}, "conversation_id": "0"})
    # DeepSeek: OpenAI-like deltas; the client appends choices[0].delta.content.
    text = "".join(d["choices"][0]["delta"].get("content", "") for d in sse_data(ds.text))
    assert "已拦截" in text and ds.headers["x-ai-guard-event"] in text
    # Kimi: `cmpl` events carry the text.
    text = "".join(d.get("text", "") for d in sse_data(kimi.text) if d.get("event") == "cmpl")
    assert "已拦截" in text and kimi.headers["x-ai-guard-event"] in text
    assert any(d.get("event") == "all_done" for d in sse_data(kimi.text))
    # Doubao: event_data is JSON in a string; message.content is JSON in a string again.
    text = ""
    for d in sse_data(doubao.text):
        if d.get("event_type") == 2001:
            text += json.loads(json.loads(d["event_data"])["message"]["content"])["text"]
    assert "已拦截" in text and doubao.headers["x-ai-guard-event"] in text
    for r in (ds, kimi, doubao):
        assert r.status_code == 200 and r.headers["x-ai-guard-action"] == "block"


def test_unknown_shapes_fall_back_to_json_and_page_loads_get_the_page(proxy):
    with proxy.client() as c:
        api = c.post("https://api.openai.com/v1/chat/completions",
                     json={"model": "m", "messages": [{"role": "user", "content": MARKED}]})
        nav = c.get("https://chatgpt.com/", params={"q": MARKED}, headers={"sec-fetch-mode": "navigate",
                                                                  "accept": "text/html"})
    assert api.status_code == 403 and "已拦截" in api.json()["error"]["message"]
    assert nav.status_code == 403 and nav.headers["content-type"].startswith("text/html")
    assert "保密办" in nav.text and "为什么" in nav.text and 'method="post"' not in nav.text


def test_approval_instead_of_self_acknowledgement(tmp_path, upstream):
    pol = tmp_path / "approval.yaml"
    pol.write_text(f"id: approval\nextends: [{DEFAULT}]\nrules:\n  - id: custom.bid-price\n"
                   "    description: 投标报价（须保密办批准）\n    severity: high\n    action: warn\n    ack: approval\n"
                   "    keywords: [投标报价]\n    examples: {match: [投标报价汇总], no_match: [报价单模板]}\n",
                   encoding="utf-8")
    p = Proxy(tmp_path, upstream, command="guard", policy=pol)
    body = {"model": "m", "messages": [{"role": "user", "content": "请润色：本次投标报价说明"}]}
    try:
        with p.client() as c:
            warned = c.post("https://api.openai.com/v1/chat/completions", json=body)
            assert warned.headers["x-ai-guard-action"] == "warn"
            event = warned.headers["x-ai-guard-event"]
            page = c.get(warned.headers["x-ai-guard-ack"])
            assert "提交审批" in page.text
            assert acknowledge(c, warned.headers["x-ai-guard-ack"], "客户要求英文版").status_code == 200
            # Submitted, not yet decided: still stopped.
            assert c.post("https://api.openai.com/v1/chat/completions", json=body).status_code == 403
            d = subprocess.run([str(BIN / "guard"), "approve", event, "--audit-dir", str(p.audit), "--by", "王保密"],
                               capture_output=True, text=True)
            assert d.returncode == 0 and "approved" in d.stdout
            assert c.post("https://api.openai.com/v1/chat/completions", json=body).status_code == 200
            # Once: the next send needs a new approval.
            assert c.post("https://api.openai.com/v1/chat/completions", json=body).status_code == 403
        recs = [json.loads(line) for line in subprocess.run(
            [str(BIN / "guard"), "audit", "list", "--audit-dir", str(p.audit), "--json"],
            capture_output=True, text=True, check=True).stdout.splitlines()]
        assert any(r["action"] == "pending_approval" and r["acknowledges"] == event and "英文" in r["reason"]
                   for r in recs)
        passed = next(r for r in recs if r.get("approval"))
        assert passed["action"] == "allow" and passed["approval"] == {"event": event, "decision": "approved",
                                                                         "by": "王保密"}
        again = subprocess.run([str(BIN / "guard"), "approve", event, "--audit-dir", str(p.audit)],
                               capture_output=True, text=True)
        assert again.returncode == 2 and "already decided" in again.stderr
        missing = subprocess.run([str(BIN / "guard"), "approve", "evt-nope", "--audit-dir", str(p.audit)],
                                 capture_output=True, text=True)
        assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    finally:
        p.stop()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_coaching_page_in_a_headless_browser(proxy, tmp_path):
    with proxy.client() as c:
        warned = c.post("https://api.openai.com/v1/chat/completions",
                        json={"model": "m", "messages": [{"role": "user", "content": f"{INTERNAL}\n本月安全培训计划"}]})
    link = warned.headers["x-ai-guard-ack"]
    base = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            f"--proxy-server=http://127.0.0.1:{proxy.port}", f"--user-data-dir={tmp_path / 'profile'}",
            "--lang=zh-CN", "--window-size=1100,1000"]
    dom = subprocess.run([*base, "--dump-dom", link], capture_output=True, text=True, timeout=90)
    assert "<form" in dom.stdout and "internal.marking" in dom.stdout and "csrf" in dom.stdout, dom.stderr[-500:]
    shot = tmp_path / "coaching.png"
    subprocess.run([*base, f"--screenshot={shot}", link], capture_output=True, timeout=90)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    if os.environ.get("GUARD_UPDATE_DOCS"):  # refresh the screenshot committed under docs/
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copy(shot, ROOT / "docs" / "coaching-page.png")
    # The browser loaded the page and acknowledged nothing: the same prompt is still warned.
    with proxy.client() as c:
        again = c.post("https://api.openai.com/v1/chat/completions",
                       json={"model": "m", "messages": [{"role": "user", "content": f"{INTERNAL}\n本月安全培训计划"}]})
    assert again.headers["x-ai-guard-action"] == "warn"
