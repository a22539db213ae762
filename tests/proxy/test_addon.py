"""The addon in mitmproxy's test harness: options, classification, fail-closed paths."""
import json
import threading

import pytest
from mitmproxy.exceptions import OptionsError
from mitmproxy.test import taddons, tflow

from guard.errors import AuditError
from guard.proxy.addon import GuardAddon
from guard.proxy.snapshot import META


def flow(host="api.openai.com", path="/v1/chat/completions", body=b"", headers=()):
    f = tflow.tflow()
    f.request.host = host
    f.request.port = 443
    f.request.scheme = "https"
    f.request.path = path
    f.request.method = "POST"
    f.request.headers.update(dict(headers))
    f.request.content = body
    return f


async def call(hook, *args):
    """Invoke a hook as mitmproxy does: await what it returns, if anything."""
    res = hook(*args)
    if res is not None:
        await res


def raising(exc: Exception):
    """A stand-in for a method that fails with `exc`."""
    def fail(*_args, **_kwargs):
        raise exc
    return fail


def chat(text: str) -> bytes:
    return json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}).encode()


@pytest.fixture
def addon(tmp_path):
    a = GuardAddon()
    with taddons.context(a) as tctx:
        tctx.configure(a, guard_audit_dir=str(tmp_path / "audit"))
        yield a, tctx


def test_bad_policy_stops_startup(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("rules:\n  - id: r\n    action: nope\n    keywords: [x]\n", encoding="utf-8")
    a = GuardAddon()
    with taddons.context(a) as tctx:
        with pytest.raises(OptionsError, match="rule r: field `action`"):
            tctx.configure(a, guard_policy=str(bad), guard_audit_dir=str(tmp_path / "a"))


def test_bad_intercept_option(addon):
    a, tctx = addon
    with pytest.raises(OptionsError, match="guard_intercept"):
        tctx.configure(a, guard_intercept="everything")


def test_allow_hosts_from_catalog(addon):
    a, tctx = addon
    tctx.configure(a, guard_intercept="catalog")  # the default, wide, adds every host outside no-intercept.txt
    pats = tctx.options.allow_hosts
    import re

    assert any(re.search(p, "api.openai.com:443") for p in pats)
    assert any(re.search(p, "acct.blob.core.windows.net:443") for p in pats)
    assert not any(re.search(p, "www.example.org:443") for p in pats)
    assert not any(re.search(p, "notopenai.com:443") for p in pats)
    assert any(re.search(p, "api.openai.com.:443", re.I) for p in pats)  # a fully qualified name
    assert any(re.search(p, "us-east4-aiplatform.googleapis.com:443") for p in pats)


@pytest.mark.parametrize("host, headers, ai", [
    ("api.openai.com", {}, True),
    ("x.openai.azure.com", {}, True),
    ("www.example.org", {}, False),
    ("acct.blob.core.windows.net", {"origin": "https://chatgpt.com"}, True),
    ("acct.blob.core.windows.net", {"referer": "https://www.kimi.com/chat/1"}, True),
    ("acct.blob.core.windows.net", {"origin": "https://intranet.example"}, False),
    # regional and wildcard entries, storage that belongs to one AI app alone
    ("us-central1-aiplatform.googleapis.com", {}, True),
    ("europe-west4-aiplatform.googleapis.com", {}, True),
    ("aiplatform.googleapis.com.evil.example", {}, False),
    ("bedrock-runtime.us-east-1.amazonaws.com", {}, True),
    ("bedrock-agent-runtime.eu-central-1.amazonaws.com", {}, True),
    ("s3.us-east-1.amazonaws.com", {}, False),
    ("files.oaiusercontent.com", {}, True),        # no Origin/Referer: a script replaying the URL
    ("sdmntprwestus.oaiusercontent.com", {}, True),
    # names normalized: case, trailing dot
    ("API.OpenAI.COM", {}, True),
    ("api.openai.com.", {}, True),
])
def test_classification(addon, host, headers, ai):
    a, _ = addon
    f = flow(host, headers=headers)
    a.requestheaders(f)
    assert (META in f.metadata) is ai


async def test_block_and_audit(addon, tmp_path):
    a, _ = addon
    f = flow(body=chat("绝密★长期\n年度计划"))
    a.requestheaders(f)
    await call(a.request, f)
    assert f.response.status_code == 403 and f.response.headers["X-AI-Guard-Action"] == "block"
    log = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "audit").glob("*.jsonl"))
    assert f.response.headers["X-AI-Guard-Event"] in log and "年度计划" not in log


async def test_audit_failure_blocks_clean_traffic(addon, monkeypatch):
    a, _ = addon

    monkeypatch.setattr(a.trail.writer, "write", raising(AuditError("disk full")))
    f = flow(body=chat("今天天气不错"))
    a.requestheaders(f)
    await call(a.request, f)
    assert f.response is not None and f.response.status_code == 403
    assert "audit.unavailable" in f.response.text


async def test_oversized_body_blocks_before_buffering(addon):
    a, _ = addon
    f = flow(body=b"{}")
    f.request.headers["content-length"] = str(10 ** 10)  # as announced by the client
    await call(a.requestheaders, f)  # answered before mitmproxy reads the body
    assert f.response.status_code == 403 and "uninspectable.limit" in f.response.text


async def test_undecodable_content_encoding_blocks(addon):
    a, _ = addon
    f = flow()
    f.request.raw_content = b"not gzip at all"
    f.request.headers["content-encoding"] = "gzip"
    a.requestheaders(f)
    await call(a.request, f)
    assert f.response.status_code == 403 and "uninspectable.corrupt" in f.response.text


async def test_non_ai_untouched(addon):
    # A marked form post to an ordinary site is not the guard's business: only AI traffic is.
    a, _ = addon
    for body in (b"comment=%E7%BB%9D%E5%AF%86%E2%98%85%E9%95%BF%E6%9C%9F",
                 json.dumps({"title": "绝密★长期", "text": "x"}).encode()):
        f = flow("www.example.org", path="/post", body=body)
        a.requestheaders(f)
        await call(a.request, f)
        assert f.response is None


async def test_llm_shaped_body_to_unknown_host_is_ai(addon, tmp_path):
    a, _ = addon
    f = flow("relay.example.org", body=chat("绝密★长期"))
    a.requestheaders(f)
    await call(a.request, f)
    assert f.response.status_code == 403
    assert f.metadata[META].service.id == "unknown" and f.metadata[META].shape == "openai-chat"
    a.trail.writer.sync()
    rec = json.loads((next((tmp_path / "audit").glob("audit-*.jsonl"))).read_text().splitlines()[-1])
    assert rec["provider"] == "unknown" and rec["shape"] == "openai-chat" and rec["host"] == "relay.example.org"


async def test_redact_rewrites_json(tmp_path):
    pol = tmp_path / "redact.yaml"
    pol.write_text("extends: [" + str(__import__("guard.policy.loader", fromlist=["x"]).DEFAULT_POLICY) + "]\n"
                   "rules:\n  - id: pii.cn-mobile-redact\n    action: redact\n    regex: '1[3-9]\\d{9}'\n"
                   "    word_boundary: true\n", encoding="utf-8")
    a = GuardAddon()
    with taddons.context(a) as tctx:
        tctx.configure(a, guard_policy=str(pol), guard_audit_dir=str(tmp_path / "audit"))
        f = flow(body=chat("请打电话 13912345678 给王工"))
        a.requestheaders(f)
        await call(a.request, f)
        assert f.response is None
        sent = json.loads(f.request.content)["messages"][0]["content"]
        assert "13912345678" not in sent and "[已脱敏 redacted:pii.cn-mobile-redact]" in sent and "王工" in sent


async def test_websocket_client_message_blocked(addon):
    a, _ = addon
    f = tflow.twebsocketflow()
    f.request.host = "copilot.microsoft.com"
    handshake, f.response = f.response, None  # requestheaders runs before the 101 arrives
    a.requestheaders(f)
    f.response = handshake
    assert META in f.metadata
    f.websocket.messages.append(__import__("mitmproxy.websocket", fromlist=["x"]).WebSocketMessage(
        1, True, json.dumps({"event": "send", "content": [{"type": "text", "text": "机密★5年 报告"}]}).encode()))
    await call(a.websocket_message, f)
    assert f.websocket.messages[-1].dropped


async def test_small_image_is_read_off_the_event_loop(addon):
    """OCR (and PDF reader processes) never run on the event loop, whatever the body size."""
    from writers import OCR_MISSING, make_image, ocr_ready
    if not ocr_ready():
        pytest.skip(OCR_MISSING)
    a, _ = addon
    png = make_image(["秘密★2年", "关于开发方案的请示"])
    assert len(png) < 64 * 1024
    f = flow(path="/v1/files", body=png, headers={"content-type": "image/png"})
    a.requestheaders(f)
    pending = a.request(f)
    assert pending is not None and f.response is None  # deferred to a worker, nothing decided yet
    await pending
    assert f.response.status_code == 403 and "state-secret" in f.response.text
    small = flow(body=chat("请帮我润色这段话"))
    a.requestheaders(small)
    assert a.request(small) is None and small.response is None  # a plain prompt is decided inline


async def test_websocket_binary_image_frame_read_off_the_loop(addon, monkeypatch):
    """A binary frame holding an image is read by OCR in a thread, never on the event loop."""
    from mitmproxy.websocket import WebSocketMessage
    from guard.extract import ocr
    from writers import OCR_MISSING, make_image, ocr_ready
    if not ocr_ready():
        pytest.skip(OCR_MISSING)
    a, _ = addon
    read_in = []
    real = ocr.ocr

    def spy(ctx, data):
        text = real(ctx, data)  # raises Deferred where slow work is not allowed
        read_in.append(threading.current_thread() is threading.main_thread())
        return text
    monkeypatch.setattr(ocr, "ocr", spy)
    f = tflow.twebsocketflow()
    f.request.host = "copilot.microsoft.com"
    handshake, f.response = f.response, None
    a.requestheaders(f)
    f.response = handshake
    f.websocket.messages.append(WebSocketMessage(2, True, make_image(["机密★5年", "关于勘探部署的请示"])))
    await call(a.websocket_message, f)
    assert f.websocket.messages[-1].dropped
    assert read_in == [False]  # read once, in a thread: not on the event loop


async def test_a_bug_in_the_guard_blocks_instead_of_passing(addon, monkeypatch):
    """mitmproxy would log an addon's exception and forward the request: the guard answers 403."""
    import guard.proxy.inspect as inspect_mod
    a, _ = addon
    broken = raising(RuntimeError("parser bug"))
    monkeypatch.setattr(inspect_mod, "inspect_body", broken)
    f = flow(body=chat("请帮我润色这段话"))
    a.requestheaders(f)
    await call(a.request, f)
    assert f.response.status_code == 403 and f.response.headers["X-AI-Guard-Action"] == "block"

    monkeypatch.setattr(a.act, "act", broken)  # even the blocking path itself failing
    g = flow(body=chat("请帮我润色这段话"))
    a.requestheaders(g)
    await call(a.request, g)
    assert g.response.status_code == 403 and g.response.headers["X-AI-Guard-Action"] == "block"


def test_a_bug_while_classifying_blocks(addon, monkeypatch):
    a, _ = addon
    monkeypatch.setattr(a.state.current.catalog, "service", raising(KeyError("catalog bug")))
    f = flow(body=chat("请帮我润色这段话"))
    a.requestheaders(f)
    assert f.response.status_code == 403


async def test_warn_flood_keeps_acknowledgement_state_bounded(addon, monkeypatch):
    import guard.proxy.acks as mod

    a, _ = addon
    monkeypatch.setattr(mod, "MAX_ENTRIES", 8)
    links = []
    for i in range(30):  # each warned request leaves an acknowledgement link behind
        f = flow(body=chat(f"内部资料 注意保存\n第{i}份周报"))
        a.requestheaders(f)
        await call(a.request, f)
        assert f.response.headers["X-AI-Guard-Action"] == "warn"
        links.append(f.response.headers["X-AI-Guard-Ack"])
    assert len(a.acks.warnings) <= 8
    newest = links[-1].rsplit("/", 1)[-1]
    assert newest in a.acks.warnings and links[0].rsplit("/", 1)[-1] not in a.acks.warnings  # oldest first


def test_body_size_limit_follows_the_policy(tmp_path):
    from mitmproxy.addons.proxyserver import Proxyserver
    from mitmproxy.utils import human

    a = GuardAddon()
    with taddons.context(Proxyserver(), a) as tctx:
        tctx.configure(a, guard_audit_dir=str(tmp_path / "audit"))
        assert human.parse_size(tctx.options.body_size_limit) == a.state.current.policy.limits.max_bytes + (1 << 20)
        with pytest.raises(OptionsError, match="guard_body_timeout"):
            tctx.configure(a, guard_body_timeout=0)
