"""Through a real mitmdump: every request shape blocks when marked and reaches the
upstream byte-for-byte unchanged when clean; warn/ack/retry; SSE streams; audit."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import pytest

from harness import Proxy, acknowledge
from writers import make_docx

REQ = Path(__file__).resolve().parents[1] / "assets" / "requests"
BENIGN = "请把这段会议纪要整理成三条要点"
SECRET = "关于塔河油田三维地震勘探成果的报告"
MARKED = f"机密★5年 {SECRET}"
GUARD = str(Path(sys.executable).parent / "guard")

SHAPES = [
    ("openai-chat.json", "https://api.openai.com/v1/chat/completions", "openai"),
    ("openai-responses.json", "https://api.openai.com/v1/responses", "openai"),
    ("openai-chat-parts-file.json", "https://api.openai.com/v1/chat/completions", "openai"),
    ("anthropic-messages.json", "https://api.anthropic.com/v1/messages", "anthropic"),
    ("gemini-generate.json", "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent", "gemini"),
    ("deepseek-api.json", "https://api.deepseek.com/chat/completions", "openai"),
    ("dashscope-compatible.json", "https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions", "openai"),
    ("chatgpt-web-conversation.json", "https://chatgpt.com/backend-api/conversation", "openai"),
    ("claude-web-completion.json", "https://claude.ai/api/organizations/ORG/chat_conversations/CONV/completion", "anthropic"),
    ("deepseek-web-completion.json", "https://chat.deepseek.com/api/v0/chat/completion", "openai"),
    ("doubao-web-completion.json", "https://www.doubao.com/samantha/chat/completion", "openai"),
    ("kimi-web-completion.json", "https://kimi.moonshot.cn/api/chat/CHAT_ID/completion/stream", "openai"),
    ("gemini-web-streamgenerate.form", "https://gemini.google.com/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate", "gemini"),
]


def prose(paragraphs: int) -> list[str]:
    """Paragraphs that compress like real prose: a docx of them passes 64 KB (worker inspection)."""
    import random
    rnd = random.Random(paragraphs)
    return ["".join(rnd.choice("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动")
                    for _ in range(300)) for _ in range(paragraphs)]


def body_of(name: str, marked: bool) -> tuple[bytes, str]:
    raw = (REQ / name).read_bytes()
    if name.endswith(".form"):
        if not marked:
            return raw, "application/x-www-form-urlencoded;charset=UTF-8"
        pairs = [(k, v.replace(BENIGN, MARKED)) for k, v in parse_qsl(raw.decode())]
        return urlencode(pairs).encode(), "application/x-www-form-urlencoded;charset=UTF-8"
    if not marked:
        return raw, "application/json"
    obj = json.loads(raw)
    text = json.dumps(obj, ensure_ascii=name.startswith("openai"))  # the OpenAI SDK sends \u escapes
    for prompt in (BENIGN, "总结附件"):
        if name.startswith("openai"):
            text = text.replace(json.dumps(prompt)[1:-1], json.dumps(MARKED)[1:-1])
        else:
            text = text.replace(prompt, MARKED)
    assert MARKED in repr(json.loads(text))
    return text.encode(), "application/json"


@pytest.mark.parametrize("name, url, shape", SHAPES)
def test_clean_request_reaches_upstream_unchanged(proxy, upstream, name, url, shape):
    body, ctype = body_of(name, marked=False)
    with proxy.client() as c:
        r = c.post(url, content=body, headers={"content-type": ctype})
    assert r.status_code == 200, r.text
    assert "x-ai-guard-action" not in r.headers
    got = upstream.last(url.split("://", 1)[1].split("/", 1)[1][:30])
    assert got is not None and got["body"] == body


@pytest.mark.parametrize("name, url, shape", SHAPES)
def test_marked_request_blocks_in_provider_shape(proxy, upstream, name, url, shape):
    body, ctype = body_of(name, marked=True)
    before = len(upstream.received)
    with proxy.client() as c:
        r = c.post(url, content=body, headers={"content-type": ctype})
    assert r.headers["x-ai-guard-action"] == "block"
    assert r.headers["x-ai-guard-event"].startswith("evt-")
    assert len(upstream.received) == before  # nothing left the building
    if r.headers["content-type"].startswith("text/event-stream"):
        # A web app's conversation endpoint: answered in the stream its client renders
        # (tests/e2e/test_end_users.py parses each); the message and event id are in it.
        assert r.status_code == 200 and "已拦截" in r.text and r.headers["x-ai-guard-event"] in r.text
        return
    assert r.status_code == 403
    err = r.json()
    if shape == "anthropic":
        assert err["type"] == "error" and "state-secret" in err["error"]["message"]
    elif shape == "gemini":
        assert err["error"]["code"] == 403 and err["error"]["status"] == "PERMISSION_DENIED"
    else:
        assert set(err["error"]) >= {"message", "type", "code"}
    assert r.headers["x-ai-guard-event"] in json.dumps(err, ensure_ascii=False)
    assert len(upstream.received) == before  # nothing left the building


def test_browser_navigation_gets_html(proxy):
    with proxy.client() as c:
        r = c.get("https://chatgpt.com/?q=" + "机密★5年", headers={"sec-fetch-mode": "navigate", "accept": "text/html"})
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert "请求已被拦截" in r.text and "Request blocked" in r.text


def test_multipart_file_upload(proxy, upstream):
    marked = make_docx(["普通段落"], header="秘密★1年")
    clean = make_docx(["普通段落"])
    with proxy.client() as c:
        r = c.post("https://api.openai.com/v1/files", data={"purpose": "assistants"},
                   files={"file": ("报告.docx", marked)})
        assert r.status_code == 403 and "header" in r.json()["error"]["message"]
        r = c.post("https://api.openai.com/v1/files", data={"purpose": "assistants"},
                   files={"file": ("报告.docx", clean)})
        assert r.status_code == 200
    assert clean in upstream.last("/v1/files")["body"]


def test_large_uploads_inspected_in_worker_processes(proxy, upstream):
    """Bodies over 64 KB go to the inspection workers: same decisions, audit as usual."""
    marked = make_docx(prose(600), footer="核心商密▲3年")
    clean = make_docx(prose(600))
    assert len(marked) > 64 * 1024
    with proxy.client() as c:
        r = c.post("https://api.openai.com/v1/files", data={"purpose": "assistants"}, files={"file": ("大报告.docx", marked)})
        assert r.status_code == 403 and "commercial-secret" in r.json()["error"]["message"]
        r = c.post("https://api.openai.com/v1/files", data={"purpose": "assistants"}, files={"file": ("大报告.docx", clean)})
        assert r.status_code == 200
    assert clean in upstream.last("/v1/files")["body"]
    out = subprocess.run([GUARD, "audit", "list", "--audit-dir", str(proxy.audit), "--json"], capture_output=True, text=True)
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert any(e["action"] == "block" and any(r["id"].startswith("commercial-secret") for r in e["rules"]) for e in events), events


def test_screenshot_upload_read_by_ocr(proxy, upstream):
    from writers import OCR_MISSING, make_image, ocr_ready
    if not ocr_ready():
        pytest.skip(OCR_MISSING)
    with proxy.client() as c:
        r = c.post("https://api.openai.com/v1/files", data={"purpose": "vision"},
                   files={"file": ("截图.png", make_image(["绝密★长期", "年度部署"]), "image/png")})
        assert r.status_code == 403 and "state-secret" in r.json()["error"]["message"]
        clean = make_image(["请把这张图里的文字翻译成英文"])
        r = c.post("https://api.openai.com/v1/files", data={"purpose": "vision"}, files={"file": ("a.png", clean, "image/png")})
        assert r.status_code == 200
    assert clean in upstream.last("/v1/files")["body"]


def test_presigned_upload_with_ai_origin(proxy, upstream):
    marked = make_docx(["机密★5年", SECRET])
    url = "https://acct.blob.core.windows.net/files/abc?se=2026&sig=SECRETSIG"
    with proxy.client() as c:
        r = c.put(url, content=marked, headers={"origin": "https://chatgpt.com", "x-ms-blob-type": "BlockBlob"})
        assert r.status_code == 403
        # Same signed (SAS) upload without an AI origin: AI apps upload that way too, so it is
        # inspected as well (issue 22); a clean file passes as is.
        r = c.put(url, content=marked, headers={"x-ms-blob-type": "BlockBlob"})
        assert r.status_code == 403
        clean = make_docx(["普通通知"])
        r = c.put(url, content=clean, headers={"x-ms-blob-type": "BlockBlob"})
        assert r.status_code == 200
    assert upstream.last("/files/abc")["body"] == clean


def _encode(name: str, data: bytes) -> bytes:
    if name == "gzip":
        return gzip.compress(data)
    if name == "br":
        import brotli
        return brotli.compress(data)
    if name == "zstd":
        from backports import zstd  # what mitmproxy decodes with on Python < 3.14
        return zstd.compress(data)
    import zlib
    return zlib.compress(data)  # deflate: the zlib format, as HTTP defines it


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd", "deflate"])
def test_content_encoded_bodies(proxy, upstream, encoding):
    """Encoded bodies are decoded to decide (a marked one blocks) and forwarded as sent (a clean
    one reaches the upstream byte for byte, still encoded)."""
    marked = _encode(encoding, json.dumps({"model": "x", "messages": [{"role": "user", "content": MARKED}]}).encode())
    clean = _encode(encoding, json.dumps({"model": "x", "messages": [{"role": "user", "content": "季度总结"}]},
                                         ensure_ascii=False).encode())
    headers = {"content-type": "application/json", "content-encoding": encoding}
    with proxy.client() as c:
        before = len(upstream.received)
        r = c.post(f"https://api.deepseek.com/chat/completions?enc={encoding}", content=marked, headers=headers)
        assert r.status_code == 403 and r.headers["x-ai-guard-action"] == "block", r.text
        assert len(upstream.received) == before
        r = c.post(f"https://api.deepseek.com/chat/completions?enc={encoding}", content=clean, headers=headers)
        assert r.status_code == 200, r.text
    got = upstream.last(f"enc={encoding}")
    headers = {k.lower(): v for k, v in got["headers"].items()}
    assert got["body"] == clean and headers.get("content-encoding") == encoding


def test_mention_of_secrecy_passes(proxy, upstream):
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content":
                       "请写一篇保密宣传稿，讲清国家秘密、工作秘密、商业秘密的区别，例如“机密★5年”的含义。"}]}).encode()
    with proxy.client() as c:
        r = c.post("https://api.openai.com/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 200
    assert upstream.last("/v1/chat/completions")["body"] == body


def test_warn_ack_retry(proxy, upstream):
    def ask(what):
        return json.dumps({"model": "m", "messages": [{"role": "user", "content": f"内部资料 注意保存\n请总结这份{what}"}]}).encode()

    body = ask("周报")
    headers = {"content-type": "application/json"}
    with proxy.client() as c:
        r = c.post("https://api.moonshot.cn/v1/chat/completions", content=body, headers=headers)
        assert r.status_code == 403 and r.headers["x-ai-guard-action"] == "warn"
        ack = r.headers["x-ai-guard-ack"]
        assert ack in r.text
        assert c.post("https://api.moonshot.cn/v1/chat/completions", content=body, headers=headers).status_code == 403
        page = c.get(ack)  # opening the link (or a link preview fetching it) acknowledges nothing
        assert page.status_code == 200 and "内部资料" in page.text and 'method="post"' in page.text
        assert c.post("https://api.moonshot.cn/v1/chat/completions", content=body, headers=headers).status_code == 403
        forged = c.post(ack, data={"csrf": "guessed", "reason": "x"})
        assert forged.status_code == 403
        a = acknowledge(c, ack)
        assert a.status_code == 200 and "已确认" in a.text
        r = c.post("https://api.moonshot.cn/v1/chat/completions", content=body, headers=headers)
        assert r.status_code == 200
        # Another flagged passage is not covered by the acknowledgement.
        other = ask("月报")
        assert c.post("https://api.moonshot.cn/v1/chat/completions", content=other, headers=headers).status_code == 403
        assert c.get(ack).status_code == 404  # one use
    assert upstream.last("/v1/chat/completions")["body"] == body


def test_sse_streams_token_by_token(proxy, upstream):
    with proxy.client() as c:
        with c.stream("POST", "https://api.openai.com/v1/chat/completions/sse",
                      json={"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "你好"}]}) as r:
            assert r.status_code == 200
            chunks = r.iter_raw()
            first = next(chunks)
            first_at = time.monotonic()
            rest = b"".join(chunks)
    assert b'"token": 0' in first and b'"token": 1' in rest
    # Against the upstream's own schedule, not a wall-clock figure: the client held the first
    # token before the upstream even wrote the last one (it waits 1.5 s in between).
    assert first_at < upstream.sse_sent[-1]


def _committed(audit_dir: Path, event_ids: set[str], timeout: float = 10.0) -> list[dict]:
    """The audit records once every given event is on disk (polls the group commit)."""
    end = time.monotonic() + timeout
    while True:
        recs = [json.loads(line) for f in sorted(audit_dir.glob("*.jsonl"))
                for line in f.read_text(encoding="utf-8").splitlines() if line.strip()]
        if event_ids <= {r["event_id"] for r in recs} or time.monotonic() > end:
            return recs
        time.sleep(0.05)


def test_audit_never_holds_secret_and_verifies(proxy):
    """Makes its own block, warn, acknowledgement and allow records, then reads the trail."""
    url = "https://api.moonshot.cn/v1/chat/completions?session=SECRETSIG"
    ask = lambda text: json.dumps({"model": "kimi", "messages": [{"role": "user", "content": text}]},  # noqa: E731
                                  ensure_ascii=False).encode()
    headers = {"content-type": "application/json"}
    with proxy.client() as c:
        blocked = c.post(url, content=ask(MARKED), headers=headers)
        warned = c.post(url, content=ask(f"内部资料 注意保存\n{SECRET}"), headers=headers)
        ack = acknowledge(c, warned.headers["x-ai-guard-ack"])
        allowed = c.post(url, content=ask(f"{SECRET}的格式怎么改"), headers=headers)
    assert (blocked.status_code, warned.status_code, ack.status_code, allowed.status_code) == (403, 403, 200, 200)
    ids = {blocked.headers["x-ai-guard-event"], warned.headers["x-ai-guard-event"]}
    recs = _committed(proxy.audit, ids)
    assert any(r["action"] == "ack" and r["acknowledges"] == warned.headers["x-ai-guard-event"] for r in recs)
    text = "".join(p.read_text(encoding="utf-8") for p in proxy.audit.glob("*.jsonl"))
    assert SECRET not in text and "SECRETSIG" not in text
    mine = {r["event_id"]: r for r in recs if r["event_id"] in ids}
    assert {r["action"] for r in mine.values()} == {"block", "warn"}
    assert any(r["action"] == "allow" and r["path"].startswith("/v1/chat/completions") for r in recs)
    block = mine[blocked.headers["x-ai-guard-event"]]
    assert {"event_id", "ts", "rules", "host", "path", "client", "body_sha256", "policy"} <= set(block)
    p = subprocess.run([GUARD, "audit", "verify", "--audit-dir", str(proxy.audit)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout
    p = subprocess.run([GUARD, "audit", "list", "--audit-dir", str(proxy.audit), "--action", "block", "--json"],
                       capture_output=True, text=True)
    listed = [json.loads(line) for line in p.stdout.splitlines()]
    assert block["event_id"] in {r["event_id"] for r in listed} and all(r["action"] == "block" for r in listed)


def test_guard_proxy_command(tmp_path, upstream):
    p = Proxy(tmp_path, upstream, command="guard")
    try:
        body, ctype = body_of("openai-chat.json", marked=True)
        with p.client() as c:
            r = c.post("https://api.openai.com/v1/chat/completions", content=body, headers={"content-type": ctype})
            assert r.status_code == 403 and r.headers["x-ai-guard-action"] == "block"
            # An upload inspected by the lean master's worker processes.
            big = make_docx(prose(600), header="秘密★1年")
            assert len(big) > 64 * 1024
            r = c.post("https://api.openai.com/v1/files", files={"file": ("a.docx", big)})
            assert r.status_code == 403 and "state-secret" in r.json()["error"]["message"]
    finally:
        p.stop()


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def file_shapes(doc: bytes, pdf: bytes):
    """Each provider's way of carrying a file inside JSON."""
    return [
        ("https://api.openai.com/v1/chat/completions", {"model": "gpt-4o", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "总结附件"},
            {"type": "file", "file": {"filename": "通知.pdf", "file_data": "data:application/pdf;base64," + _b64(pdf)}}]}]}),
        ("https://api.openai.com/v1/responses", {"model": "gpt-4.1", "input": [{"role": "user", "content": [
            {"type": "input_file", "filename": "a.docx", "file_data": "data:application/octet-stream;base64," + _b64(doc)}]}]}),
        ("https://api.anthropic.com/v1/messages", {"model": "claude", "max_tokens": 10, "messages": [{"role": "user", "content": [
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": _b64(pdf)}}]}]}),
        ("https://generativelanguage.googleapis.com/v1beta/models/g:generateContent", {"contents": [{"parts": [
            {"inline_data": {"mime_type": "application/octet-stream", "data": _b64(doc)}}]}]}),
    ]


@pytest.mark.parametrize("i", range(4))
def test_base64_files_inside_json(proxy, upstream, i):
    from writers import make_pdf

    marked = file_shapes(make_docx(["正文"], header="机密★5年"), make_pdf(["秘密★1年", "请示"]))
    clean = file_shapes(make_docx(["正文"]), make_pdf(["普通通知"]))
    with proxy.client() as c:
        url, body = marked[i]
        r = c.post(url, json=body)
        assert r.status_code == 403, r.text
        url, body = clean[i]
        raw = json.dumps(body).encode()
        r = c.post(url, content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text
    assert upstream.last(url.split("/", 3)[3][:20])["body"] == raw


def test_connect_framed_json(proxy):
    import struct

    msg = json.dumps({"messages": [{"content": MARKED}]}).encode()
    with proxy.client() as c:
        r = c.post("https://yuewen.cn/api/proto.chat.v1.ChatMessageService/SendMessageStream",
                   content=struct.pack(">BI", 0, len(msg)) + msg, headers={"content-type": "application/connect+json"})
    assert r.status_code == 403


def test_chatgpt_prompt_in_url(proxy):
    with proxy.client() as c:
        assert c.get("https://chatgpt.com/?q=" + MARKED).status_code == 403


def test_proxyauth_user_in_audit(tmp_path, upstream):
    p = Proxy(tmp_path, upstream, extra_args=("--proxyauth", "zhangsan:pw123"))
    try:
        body, ctype = body_of("deepseek-api.json", marked=True)
        with p.client(auth="zhangsan:pw123") as c:
            r = c.post("https://api.deepseek.com/chat/completions", content=body, headers={"content-type": ctype})
        assert r.status_code == 403
        listed = subprocess.run([GUARD, "audit", "list", "--audit-dir", str(p.audit), "--user", "zhangsan", "--json"],
                                capture_output=True, text=True).stdout.splitlines()
        assert [json.loads(x)["action"] for x in listed] == ["block"]
        assert "pw123" not in "".join(f.read_text(encoding="utf-8") for f in p.audit.glob("*.jsonl"))
    finally:
        p.stop()


def test_oversized_body_blocked_unread(tmp_path, upstream):
    from guard.policy.loader import DEFAULT_POLICY

    pol = tmp_path / "small.yaml"
    pol.write_text(f"extends: [{DEFAULT_POLICY}]\nlimits: {{max_bytes: 2000}}\n", encoding="utf-8")
    p = Proxy(tmp_path, upstream, policy=pol)
    try:
        before = len(upstream.received)
        with p.client() as c:
            r = c.post("https://api.openai.com/v1/chat/completions", content=b"{" + b" " * 5000 + b"}",
                       headers={"content-type": "application/json"})
        assert r.status_code == 403 and "uninspectable.limit" in r.text
        assert len(upstream.received) == before
    finally:
        p.stop()
