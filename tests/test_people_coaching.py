"""What the person who was stopped reads (issue 25): the block message in every form (SDK error
JSON, a web app's reply, the browser page) says what happened, why, and what to do instead
(remove or replace the marked part, the in-house model when there is one, whom to ask), and that
a web app needs a new conversation; the warn page's acknowledge control is a real link; a
free-text-only acknowledgement works; a used link is explained calmly; each acknowledgement
writes a log line without its reason; an unreachable AI service is explained in Chinese (not
mitmproxy's bare 502 page) and logged with its cause.

The first tests render in process for every rule of the default policy; the rest run a real
mitmdump / guard proxy with TLS in front of a loopback upstream (tests/e2e/harness.py)."""
from __future__ import annotations

import json
import re
import shutil
import socket
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard.coaching import Advice, Found, page
from guard.policy.loader import load_policy, load_policy_text
from guard.respond import render
from guard.scanner import Engine
from guard.types import Finding, Verdict

sys.path.insert(0, str(Path(__file__).parent / "e2e"))

POLICY = load_policy()
WITH_MODEL = load_policy_text("extends: [default.yaml]\nid: office\nsettings:\n  internal_model: "
                              "{name: 院内大模型, url: 'https://llm.intra.example/chat'}\n")
RULES = [r for r in POLICY.rules]


def _verdict(rule, action: str) -> Verdict:
    return Verdict(action, (Finding(rule.id, action, rule.severity, "messages[0].content", "机密★**",
                                    rule.description),))


@settings(derandomize=True, max_examples=120, deadline=None)
@given(rule=st.sampled_from(RULES), action=st.sampled_from(["block", "warn"]),
       shape=st.sampled_from(["openai", "anthropic", "gemini"]), web=st.booleans(), model=st.booleans())
def test_sdk_message_says_what_why_and_what_to_do(rule, action, shape, web, model):
    policy = WITH_MODEL if model else POLICY
    ack = "http://ai-guard.invalid/ack/tok" if action == "warn" else None
    status, body, headers = render(shape, _verdict(rule, action), "evt-9", policy.settings.contact, False, ack,
                                   policy=policy, web_app=web)
    err = json.loads(body)
    msg = err["error"]["message"]
    assert status == 403 and headers["X-AI-Guard-Action"] == action
    assert (err["type"] == "error") if shape == "anthropic" else ("message" in err["error"])
    title = policy.rule(rule.id).title or None
    assert title is None or title in msg                         # the name people use at work
    assert rule.id in msg and "evt-9" in msg                     # the id, as a detail
    assert "怎么办" in msg and "删去或替换" in msg and "保密办" in msg
    assert ("院内大模型" in msg and "https://llm.intra.example/chat" in msg) == model
    assert ("新建一个对话" in msg) == web                          # web apps resend the whole conversation
    assert (ack in msg) if ack else ("ai-guard.invalid" not in msg)


def test_every_rule_has_a_name_and_a_category():
    from guard.display import Names

    names = Names(POLICY)
    for r in POLICY.rules:
        t = names.title(r.id)  # a name (国家秘密标志, Sentry DSN), never a bare id
        assert t != r.id and not re.fullmatch(r"[a-z0-9._-]+", t), r.id
        assert names.category(r.id) and names.category(r.id) != "其他", r.id
    custom = load_policy_text("extends: [default.yaml]\nid: x\nrules:\n  - id: custom.bid\n    title: 投标报价\n"
                              "    category: 商业秘密\n    description: d\n    severity: high\n    action: block\n"
                              "    keywords: [报价单]\n    examples: {match: [报价单], no_match: [x]}\n")
    assert Names(custom).title("custom.bid") == "投标报价" and Names(custom).category("custom.bid") == "商业秘密"
    assert Names().title("state-secret.something-new") == "国家秘密标志"   # no policy: the family's name


def test_pages_link_and_form():
    engine = Engine.from_policy_file()
    v = engine.scan_text("内部资料　注意保存\n本周安排")
    ack = "http://ai-guard.invalid/ack/tok-1"
    _, body, _ = render("openai", v, "evt-1", "保密办", True, ack, policy=POLICY)
    html = body.decode()
    # A real link to the confirm page, not the URL as text.
    assert re.search(r'<a [^>]*href="http://ai-guard\.invalid/ack/tok-1"', html)
    assert "内部" in html and "internal." in html and "新建一个对话" in html
    found = [Found("internal.marking", "d", "内部资料", "line 1")]
    form = page("warn", found, "evt-1", "保密办", "", form={"action": ack, "csrf": "c", "reasons": ["已公开"],
                                                           "approval": False}, advice=Advice("保密办"))
    # Preset reasons are optional: free text alone is a reason too.
    assert 'name="reason"' in form and "required" not in form and 'name="note"' in form
    assert re.search(r'<button type="submit"', form)


# -- through a real proxy ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def upstream():
    from upstream import Upstream

    with Upstream() as u:
        yield u


INTERNAL = "内部资料　注意保存\n本月安全培训计划"


def _warned(c):
    return c.post("https://api.openai.com/v1/chat/completions",
                  json={"model": "m", "messages": [{"role": "user", "content": INTERNAL}]})


@pytest.mark.slow
@pytest.mark.parametrize("command", ["mitmdump", "guard"])
def test_free_text_ack_used_link_and_log_lines(tmp_path, upstream, command):
    from harness import Proxy

    p = Proxy(tmp_path, upstream, command=command)
    try:
        with p.client() as c:
            warned = _warned(c)
            link = warned.headers["x-ai-guard-ack"]
            form = c.get(link)
            csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
            empty = c.post(link, data={"csrf": csrf, "note": "  "})
            assert empty.status_code == 400 and "理由" in empty.text and 'method="post"' in empty.text
            note = "给客户的公开培训材料"
            ok = c.post(link, data={"csrf": csrf, "note": note})           # free text only, no preset
            assert ok.status_code == 200 and "已确认" in ok.text
            again = c.get(link)                                            # the used link, reopened
            assert again.status_code == 404 and "已经使用过" in again.text and warned.headers["x-ai-guard-event"] in again.text
            assert "拦截" not in again.text.split("仍会被拦截")[0] and "<table" not in again.text
            assert _warned(c).status_code == 200                           # the retry passes
        lines = [json.loads(x) for x in p.log_lines() if x.startswith("{")]
        acked = [x for x in lines if x.get("event") == "acknowledged"]
        assert len(acked) == 1 and acked[0]["acknowledges"] == warned.headers["x-ai-guard-event"]
        assert acked[0]["rules"] == ["internal.marking"]
        assert not any(note in x or note[:4] in x for x in p.log_lines())  # the reason stays in the trail only
        recs = [json.loads(x) for f in sorted(p.audit.rglob("audit-*.jsonl")) for x in f.read_text().splitlines()]
        assert any(r["action"] == "ack" and r["reason"] == note for r in recs)
    finally:
        p.stop()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: connecting is refused


@pytest.mark.slow
@pytest.mark.parametrize("command", ["mitmdump", "guard"])
def test_unreachable_ai_service_is_explained_and_logged(tmp_path, upstream, command):
    from harness import Proxy

    dead = _closed_port()
    p = Proxy(tmp_path, upstream, command=command, default_map=False,
              extra_maps=(f"|^https://api\\.openai\\.com|http://127.0.0.1:{dead}",
                          f"|^https://chatgpt\\.com|http://127.0.0.1:{dead}",
                          f"|^https://api\\.anthropic\\.com|http://127.0.0.1:{upstream.port}"))
    try:
        with p.client() as c:
            r = c.post("https://api.openai.com/v1/chat/completions",
                       json={"model": "m", "messages": [{"role": "user", "content": "你好，写一首诗"}]})
            nav = c.get("https://chatgpt.com/", headers={"sec-fetch-mode": "navigate", "accept": "text/html"})
            fine = c.post("https://api.anthropic.com/v1/messages", json={"model": "m", "max_tokens": 5,
                                                                        "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 502 and "Bad Gateway" not in r.text
        msg = json.loads(r.text)["error"]["message"]                       # the SDK shows its error message
        assert "暂时无法连接" in msg and "对方拒绝连接" in msg and "没有被拦截" in msg
        assert nav.status_code == 502 and "<h1>502" not in nav.text and "暂时无法连接到 AI 服务" in nav.text
        assert fine.status_code == 200                                     # other errors and services: untouched
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            failed = [json.loads(x) for x in p.log_lines() if '"upstream_failed"' in x]
            if len(failed) >= 2:
                break
            time.sleep(0.2)
        assert len(failed) == 2 and {f["host"] for f in failed} == {"api.openai.com", "chatgpt.com"}
        assert all(f["cause"] == "对方拒绝连接" and f["error"] and f["event_id"] for f in failed)
        assert "你好" not in "".join(p.log_lines())
    finally:
        p.stop()


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_warn_page_in_a_browser_link_free_text_and_used_link(tmp_path, upstream):
    """One real browser: the warned page load shows a link a person can click; the coaching page
    takes free text alone; the link opened again explains calmly."""
    from harness import Proxy
    from playwright.sync_api import sync_playwright

    p = Proxy(tmp_path, upstream, command="guard")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"],
                                         proxy={"server": f"http://127.0.0.1:{p.port}"})
            page_ = browser.new_context(ignore_https_errors=True).new_page()
            r = page_.goto("https://chatgpt.com/?q=" + "内部资料　注意保存 本周安排")
            assert r.status == 403 and "请先确认" in page_.inner_text("h1")
            link = page_.locator("a#ack")
            assert link.is_visible() and link.get_attribute("href").startswith("http://ai-guard.invalid/ack/")
            with page_.expect_navigation():
                link.click()                                               # a real, clickable link
            page_.fill("input[name=note]", "公开发布的通知")                 # no preset reason picked
            with page_.expect_navigation():
                page_.click("form button[type=submit]")
            assert "已确认" in page_.inner_text("body")
            page_.goto(page_.url)                                          # the same link, opened again
            body = page_.inner_text("body")
            assert "已经使用过" in body and "请求已被拦截" not in body
            browser.close()
    finally:
        p.stop()


@pytest.mark.slow
def test_submission_and_approval_each_write_a_log_line(tmp_path, upstream):
    import subprocess

    from harness import BIN, Proxy, acknowledge

    pol = tmp_path / "approval.yaml"
    pol.write_text(f"id: approval\nextends: [{Path(__file__).resolve().parents[1] / 'policies' / 'default.yaml'}]\n"
                   "rules:\n  - id: custom.bid-price\n    title: 投标报价\n    category: 商业秘密\n"
                   "    description: 投标报价（须保密办批准）\n    severity: high\n    action: warn\n    ack: approval\n"
                   "    keywords: [投标报价]\n    examples: {match: [投标报价汇总], no_match: [报价单模板]}\n",
                   encoding="utf-8")
    p = Proxy(tmp_path / "p", upstream, command="guard", policy=pol)
    body = {"model": "m", "messages": [{"role": "user", "content": "请润色：本次投标报价说明"}]}
    reason = "客户要求的英文版本"
    try:
        with p.client() as c:
            warned = c.post("https://api.openai.com/v1/chat/completions", json=body)
            assert "投标报价" in warned.json()["error"]["message"]            # the policy's own name for it
            event = warned.headers["x-ai-guard-event"]
            assert acknowledge(c, warned.headers["x-ai-guard-ack"], reason).status_code == 200
            d = subprocess.run([str(BIN / "guard"), "approve", event, "--audit-dir", str(p.audit), "--by", "王保密"],
                               capture_output=True, text=True)
            assert d.returncode == 0
            assert c.post("https://api.openai.com/v1/chat/completions", json=body).status_code == 200
        lines = [json.loads(x) for x in p.log_lines() if x.startswith("{")]
        asked = [x for x in lines if x.get("event") == "approval_requested"]
        used = [x for x in lines if x.get("event") == "approval_used"]
        assert len(asked) == 1 and asked[0]["acknowledges"] == event and asked[0]["rules"] == ["custom.bid-price"]
        assert len(used) == 1 and used[0]["acknowledges"] == event and used[0]["decision"] == "approved"
        assert used[0]["by"] == "王保密"
        assert not any(reason in x for x in p.log_lines())
    finally:
        p.stop()
