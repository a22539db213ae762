"""The coaching page and its confirmation POST (guard/proxy/ack.py), in mitmproxy's test harness
with a controlled clock: what the page sends (headers, the form bound to its link), who may
confirm (the page's CSRF token, its own Origin), what a confirmation needs (a reason) and does
(an audit record first, then the acknowledgement or the submission for approval, a log line
without the reason), a link used once, links at their expiry instant, the bounded table of
used links, and the options that share acknowledgements across nodes. Written to kill the
mutants that survived `make mutate guard/proxy/ack.py` (issue 26)."""
import asyncio
import html
import itertools
import json
import re
import time as real_time
from urllib.parse import quote

import pytest
from mitmproxy import http
from mitmproxy.exceptions import OptionsError
from mitmproxy.test import taddons
from mitm_context import bind_context

from guard import obs
from guard.catalog import ACK_HOST
from guard.coaching import Found
from guard.errors import AuditError
from guard.proxy import ack as ack_mod
from guard.proxy import act as act_mod
from guard.proxy import acks as acks_mod
from guard.proxy.acks import Shared, Warning
from guard.proxy.addon import GuardAddon

from test_addon import call, flow, raising

TTL = 600


class FrozenClock:
    """time.monotonic and time.time stand still until the test moves them; the rest of `time`
    (strftime, gmtime) as it is."""

    def __init__(self):
        self.mono, self.wall = 10_000.0, 1_800_000_000.0

    def monotonic(self):
        return self.mono

    def time(self):
        return self.wall

    def advance(self, s):
        self.mono += s
        self.wall += s

    def __getattr__(self, name):
        return getattr(real_time, name)


@pytest.fixture(scope="module")
def _clock():
    c = FrozenClock()
    saved = [(mod, mod.time) for mod in (ack_mod, act_mod, acks_mod)]
    for mod, _ in saved:
        mod.time = c
    yield c
    for mod, t in saved:
        mod.time = t


CONTACT, WHY, REASONS = "保密办 8123", "本单位的说明：涉密不上网。", ("工作需要", "公开资料")


@pytest.fixture(scope="module")
def _addon(tmp_path_factory, _clock):
    a = GuardAddon()  # one for the module: configuring one takes seconds
    d = tmp_path_factory.mktemp("ackpage")
    audit = d / "audit"
    # the office's own words (contact, why, reasons, in-house model) and a rule title: what the page shows
    # a policy of its own (not extending the default: compiling that takes seconds, per mutant)
    (d / "policy.yaml").write_text(
        "id: ackpage\n"
        f"settings:\n  contact: {CONTACT}\n  why: {WHY}\n  ack_reasons: [{', '.join(REASONS)}]\n"
        "  internal_model: {name: 院内大模型, url: 'http://llm.corp.example/'}\n"
        "rules:\n  - id: custom.bid-price\n    title: 投标报价\n    category: 商业秘密\n"
        "    description: 投标报价（须保密办批准）\n    severity: high\n    action: warn\n    ack: approval\n"
        "    keywords: [投标报价]\n    examples: {match: [投标报价汇总], no_match: [报价单模板]}\n", encoding="utf-8")
    (d / "identity.yaml").write_text("departments:\n  127.0.0.0/8: 测试部\n", encoding="utf-8")
    with taddons.context(a) as tctx:
        tctx.configure(a, guard_audit_dir=str(audit), guard_ack_ttl=TTL, guard_policy=str(d / "policy.yaml"),
                       guard_identity=str(d / "identity.yaml"))
        a._test = (tctx, audit)
        yield a


@pytest.fixture
def clock(_clock):
    _clock.mono, _clock.wall = 10_000.0, 1_800_000_000.0
    return _clock


@pytest.fixture
def addon(_addon, clock):
    bind_context(_addon._test[0])  # another test's context may have moved mitmproxy's global ctx
    for table in (_addon.acks.warnings, _addon.acks.acked, _addon.acks.awaiting):
        table.clear()
    _addon.ack.used.clear()
    _addon.acks.shared = None
    return _addon


@pytest.fixture
def logged(monkeypatch):
    lines = []
    monkeypatch.setattr(obs, "event", lambda name, level="info", **fields: lines.append((name, fields)))
    return lines


_EVENTS = itertools.count()


W_WHY = "这段说明来自发出警告时的策略。"


def warning(*, approval=False, who="10.0.0.7", event=None, found=None, reasons=REASONS):
    event = event or f"evt-w{next(_EVENTS)}"  # the module's audit trail is shared: one event per warning
    keys = frozenset({("custom.bid-price", "d-" + event)})
    found = found if found is not None else [Found("custom.bid-price", "内部资料说明", "内部**", "messages[0]")]
    return Warning(event, who, keys, found, approval, "OpenAI API", CONTACT, W_WHY, tuple(reasons),
                   ack_mod.time.monotonic() + TTL, policy_id="pol-1", policy_sha256="ab" * 32)


def issue(a, **kw):
    w = warning(**kw)
    return a.acks.issue(w, TTL), w


FORM = "application/x-www-form-urlencoded"


def page_flow(token, method="GET", body="", origin=None, path=None, user=None, ctype=FORM):
    f = flow(host=ACK_HOST, path=f"/ack/{token}" if path is None else path,
             body=body if isinstance(body, bytes) else body.encode(),
             headers={"content-type": ctype, **({"origin": origin} if origin else {})})
    f.request.scheme, f.request.port, f.request.method = "http", 80, method
    if user:
        f.metadata["proxyauth"] = (user, "")
    return f


async def open_(a, token, method="GET", body="", origin=None, path=None, user=None, ctype=FORM):
    f = page_flow(token, method, body, origin, path, user, ctype)
    a.requestheaders(f)
    await call(a.request, f)
    assert f.response is not None
    return f.response


async def confirm(a, token, w, reason="工作需要", note="", origin=f"http://{ACK_HOST}", csrf=None, user=None):
    body = f"csrf={quote(w.csrf if csrf is None else csrf)}&reason={quote(reason)}&note={quote(note)}"
    return await open_(a, token, "POST", body, origin, user=user)


def records(a, action=None):
    _, audit = a._test
    out = [json.loads(line) for p in sorted(audit.glob("*.jsonl")) for line in p.read_text(encoding="utf-8").splitlines()
           if line.strip()]
    return [r for r in out if action is None or r.get("action") == action]


def csp(resp) -> dict:
    return {d.split()[0]: d.split()[1:] for d in resp.headers["content-security-policy"].split(";") if d.strip()}


def form_csrf(text: str) -> str | None:
    m = re.search(r'name="csrf" value="([^"]*)"', text)
    return html.unescape(m.group(1)) if m else None


def shown(text: str, tag: str, attr: str = "") -> list[str]:
    """The texts of the page's <tag attr> elements, as the reader sees them."""
    return [html.unescape(re.sub(r"<[^>]+>", "", m)) for m in re.findall(rf"<{tag}{attr}>(.*?)</{tag}>", text, re.S)]


WARN_TITLE = "请先确认再发送 / Please confirm before sending"


def assert_warning_page(text, w, notice=None, error=None):
    """The coaching page of warning `w`: its title, findings (by the policy's names), where it
    was going, why it matters (as the warning said), the office's advice, and exactly one
    notice or error when given."""
    assert shown(text, "h1") == [WARN_TITLE]
    assert "投标报价" in text and "内部资料说明" in text and "OpenAI API" in text and W_WHY in text
    assert "院内大模型" in text and CONTACT in text and w.event_id in text
    assert shown(text, "p", ' class="notice"') == ([notice] if notice else [])
    assert shown(text, "p", ' class="calm" id="error"') == ([error] if error else [])


def assert_page_headers(resp):
    assert resp.headers["content-type"].lower().replace(" ", "") == "text/html;charset=utf-8"
    assert resp.headers["cache-control"].lower() == "no-store"        # a page with excerpts is not cached
    assert resp.headers["x-frame-options"].upper() == "DENY"          # no clickjacking of the confirm button
    policy = csp(resp)
    assert policy["default-src"] == ["'none'"] and policy["style-src"] == ["'unsafe-inline'"]
    assert policy["form-action"] == ["'self'"] and policy["frame-ancestors"] == ["'none'"]


# --- the page -----------------------------------------------------------------------------

async def test_the_page_shows_the_warning_and_a_form_bound_to_its_link(addon):
    token, w = issue(addon)
    r = await open_(addon, token, path=f"/ack/{token}?from=mail")
    assert r.status_code == 200
    assert_page_headers(r)
    text = r.get_text()
    assert_warning_page(text, w)
    assert form_csrf(text) == w.csrf
    assert f'action="http://{ACK_HOST}/ack/{token}"' in text
    assert all(f'value="{x}"' in text for x in REASONS) and "Submit for approval" not in text


async def test_an_approval_page_submits_for_approval(addon):
    token, w = issue(addon, approval=True)
    text = (await open_(addon, token)).get_text()
    assert "Submit for approval" in text and form_csrf(text) == w.csrf


EXPIRED = ["这个确认链接已过期或无效，无需处理。/ This acknowledgement link has expired or is unknown: nothing to do.",
           "如果仍要发送，请重新提交原来的请求：会得到新的提示和新的确认链接。含密级标志或其他不得外发的内容仍会被拦截。"
           " / To send it, retry the request: you will get a new notice and a new link.",
           f"如有疑问请联系 / questions: {CONTACT}。"]


def assert_expired_page(r):
    assert r.status_code == 404
    assert_page_headers(r)
    text = r.get_text()
    assert shown(text, "h1") == ["确认链接已失效 / This link has expired"]
    assert shown(text, "p", ' class="calm"') == EXPIRED[:1] and shown(text, "p") == EXPIRED[1:]
    assert "<form" not in text


@pytest.mark.parametrize("path", ["/other/{t}", "/{t}", "/ACK/{t}", "/xack/{t}", "/ack", "*", "/"])
async def test_only_the_ack_path_serves_a_link(addon, path):
    token, _ = issue(addon)
    assert_expired_page(await open_(addon, token, path=path.format(t=token)))


async def test_an_unknown_link_is_explained_calmly(addon):
    assert_expired_page(await open_(addon, "no-such-token"))


async def test_a_link_issued_by_another_node_shows_this_nodes_settings(addon, tmp_path):
    addon.acks.shared = Shared(b"k" * 32, tmp_path / "shared")
    other = Shared(b"k" * 32, tmp_path / "shared")
    w = warning(reasons=("另一个节点的理由",))
    token = other.encode(w, TTL)
    r = await open_(addon, token)
    assert r.status_code == 200
    text = r.get_text()
    assert all(f'value="{x}"' in text for x in REASONS) and "另一个节点的理由" not in text
    assert WHY in text and W_WHY not in text and form_csrf(text) == other.csrf(token)


async def test_a_link_ends_at_its_expiry_instant(addon, clock):
    token, w = issue(addon)
    clock.advance(TTL - 0.5)
    assert (await open_(addon, token)).status_code == 200
    clock.advance(0.5)                             # the instant the store's tables call it expired
    assert_expired_page(await open_(addon, token))
    assert_expired_page(await confirm(addon, token, w))
    assert not [x for x in records(addon) if x.get("acknowledges") == w.event_id]
    assert not addon.acks.covered(w.who, w.keys)


async def test_a_request_already_answered_is_left_alone(addon):
    token, w = issue(addon)
    f = page_flow(token)
    addon.requestheaders(f)
    f.response = http.Response.make(204, b"")
    await call(addon.ack.request, f)
    assert f.response.status_code == 204
    g = flow(body=b"{}")   # not a request for the page
    assert addon.ack.request(g) is None and g.response is None


# --- who may confirm ----------------------------------------------------------------------

NOT_CONFIRMED = "确认未生效：请从本页提交 / not confirmed: submit the form on this page"


@pytest.mark.parametrize("csrf,origin", [
    ("", f"http://{ACK_HOST}"),                       # no token
    ("forged-token", f"http://{ACK_HOST}"),           # a wrong one
    (None, "https://evil.example"),                   # the right token from another site
    (None, f"https://{ACK_HOST}"),
    (None, f"http://{ACK_HOST}.evil.example"),
])
async def test_a_confirmation_without_the_pages_token_or_from_elsewhere_is_refused(addon, csrf, origin):
    token, w = issue(addon)
    before = len(records(addon))
    r = await confirm(addon, token, w, csrf=csrf, origin=origin)
    assert r.status_code == 403
    assert_page_headers(r)
    assert_warning_page(r.get_text(), w, notice=NOT_CONFIRMED)
    assert form_csrf(r.get_text()) == w.csrf                         # the form again, to confirm properly
    assert len(records(addon)) == before and not addon.acks.covered(w.who, w.keys)
    assert token in addon.acks.warnings and token not in addon.ack.used


async def test_a_confirmation_with_no_token_field_is_refused(addon):
    token, w = issue(addon)
    r = await open_(addon, token, "POST", "reason=x", f"http://{ACK_HOST}")
    assert r.status_code == 403 and not addon.acks.covered(w.who, w.keys)


async def test_another_links_token_does_not_confirm_this_one(addon):
    token, w = issue(addon)
    _, other = issue(addon)
    assert (await confirm(addon, token, w, csrf=other.csrf)).status_code == 403
    assert not addon.acks.covered(w.who, w.keys)


@pytest.mark.parametrize("origin", [None, "null", f"http://{ACK_HOST}"])
async def test_the_pages_own_form_confirms(addon, origin):
    # browsers send no Origin, "null" (privacy settings) or the page's own origin
    token, w = issue(addon)
    r = await confirm(addon, token, w, origin=origin)
    assert r.status_code == 200 and addon.acks.covered(w.who, w.keys)


# --- what a confirmation needs and does ---------------------------------------------------

NO_REASON = "请选择一个理由，或在“理由”一栏写下您的理由，再确认。 / Pick a reason or write your own, then confirm."


@pytest.mark.parametrize("reason,note", [("", ""), ("  ", " \t "), ("", "\n")])
async def test_a_confirmation_needs_a_reason(addon, reason, note):
    token, w = issue(addon)
    before = len(records(addon))
    r = await confirm(addon, token, w, reason=reason, note=note)
    assert r.status_code == 400
    assert_page_headers(r)
    assert_warning_page(r.get_text(), w, error=NO_REASON)
    assert form_csrf(r.get_text()) == w.csrf
    assert len(records(addon)) == before and not addon.acks.covered(w.who, w.keys)


def ack_record(a, w, action="ack"):
    [rec] = [x for x in records(a, action) if x["acknowledges"] == w.event_id]
    return rec


ACKNOWLEDGED = "已确认。请在 10 分钟内重试原请求。 / Acknowledged: retry within 10 minutes."


@pytest.mark.parametrize("reason,note,kept", [
    ("工作需要", "", "工作需要"),
    ("", "  客户已公开  ", "客户已公开"),
    (" 工作需要 ", "客户已公开", "工作需要 / 客户已公开"),
])
async def test_the_reason_is_audited_before_the_acknowledgement_counts(addon, reason, note, kept):
    token, w = issue(addon)
    r = await confirm(addon, token, w, reason=reason, note=note, user="alice")
    assert r.status_code == 200
    assert_page_headers(r)
    assert_warning_page(r.get_text(), w, notice=ACKNOWLEDGED)
    assert "<form" not in r.get_text()
    rec = ack_record(addon, w)
    assert rec["reason"] == kept and rec["event_id"] == r.headers["X-AI-Guard-Event"] != w.event_id
    assert rec["policy"] == {"id": "pol-1", "sha256": "ab" * 32}
    assert (rec["client"], rec["user"], rec["department"]) == ("127.0.0.1", "alice", "测试部")
    assert addon.acks.covered(w.who, w.keys)


@pytest.mark.parametrize("body,kept", [("reason=%E5%B7%A5%E4%BD%9C", "工作"), ("note=%E5%B7%A5%E4%BD%9C", "工作")])
async def test_a_form_with_one_of_its_fields_confirms(addon, body, kept):
    token, w = issue(addon)
    r = await open_(addon, token, "POST", f"csrf={quote(w.csrf)}&{body}", f"http://{ACK_HOST}")
    assert r.status_code == 200 and ack_record(addon, w)["reason"] == kept


async def test_a_form_that_is_not_valid_utf8_is_still_answered(addon):
    token, w = issue(addon)
    r = await open_(addon, token, "POST", f"csrf={quote(w.csrf)}&reason=".encode() + b"\xff\xfe ok",
                    f"http://{ACK_HOST}", ctype=FORM + "; charset=utf-8")
    assert r.status_code == 200 and addon.acks.covered(w.who, w.keys)


async def test_a_double_click_on_confirm_is_answered_calmly(addon):
    # two POSTs of the same form at once: both wait for their audit record, then both find the
    # link already taken out of the table by the other
    token, w = issue(addon)
    first, second = await asyncio.gather(confirm(addon, token, w), confirm(addon, token, w))
    assert (first.status_code, second.status_code) == (200, 200)
    assert addon.acks.covered(w.who, w.keys) and token not in addon.acks.warnings


async def test_a_long_reason_is_cut_in_the_audit(addon):
    token, w = issue(addon)
    assert (await confirm(addon, token, w, reason="甲" * 150, note="乙" * 150)).status_code == 200
    assert ack_record(addon, w)["reason"] == ("甲" * 150 + " / " + "乙" * 150)[:200]


async def test_the_audit_record_is_written_durably_before_the_acknowledgement_counts(addon, monkeypatch):
    token, w = issue(addon)
    writes, write = [], addon.trail.writer.write

    def recorded(rec, durable):
        writes.append((rec.get("acknowledges"), durable, addon.acks.covered(w.who, w.keys)))
        return write(rec, durable)
    monkeypatch.setattr(addon.trail.writer, "write", recorded)
    assert (await confirm(addon, token, w)).status_code == 200
    assert writes == [(w.event_id, True, False)] and addon.acks.covered(w.who, w.keys)


async def test_when_the_audit_cannot_be_written_nothing_is_acknowledged(addon, monkeypatch):
    token, w = issue(addon)
    monkeypatch.setattr(addon.trail, "write", raising(AuditError("disk full")))
    r = await confirm(addon, token, w)
    assert r.status_code == 503 and r.get_text() == "audit log unavailable / 审计日志不可用\n"
    assert not addon.acks.covered(w.who, w.keys) and token in addon.acks.warnings and token not in addon.ack.used
    monkeypatch.undo()
    assert (await confirm(addon, token, w)).status_code == 200      # the same link works once it can


async def test_a_confirmation_writes_one_log_line_without_the_reason(addon, logged):
    token, w = issue(addon)
    r = await confirm(addon, token, w, reason="机密理由文字", user="alice")
    [(name, fields)] = [x for x in logged if x[0] in ("acknowledged", "approval_requested")]
    assert name == "acknowledged"
    assert fields == {"event_id": r.headers["X-AI-Guard-Event"], "acknowledges": w.event_id, "user": "alice",
                      "client": "127.0.0.1", "department": "测试部", "rules": ["custom.bid-price"]}


# --- a link is used once --------------------------------------------------------------------

def used_page(text):
    assert shown(text, "h1") == ["这个确认链接已经使用过 / This link was already used"]
    return shown(text, "p", ' class="calm"') + shown(text, "p")


async def test_a_link_is_used_once_and_then_explained(addon, clock):
    token, w = issue(addon)
    assert (await confirm(addon, token, w)).status_code == 200
    assert token not in addon.acks.warnings
    again = await open_(addon, token)
    assert again.status_code == 404
    assert_page_headers(again)
    until = ack_mod.local_text(real_time.strftime("%Y-%m-%dT%H:%M:%SZ", real_time.gmtime(clock.wall + TTL)),
                               ack_mod.zone(), seconds=False)
    assert used_page(again.get_text()) == [
        f"您已确认过事件 {w.event_id} 的警告，无需再次确认。 / You already acknowledged the warning "
        f"of event {w.event_id}: nothing more to do.",
        f"在 {until} 之前，您可以重新发送原来的内容（同一段被标出的内容不再提示）；"
        f"其他被标出的内容会再次提示，含密级标志等不得外发的内容仍会被拦截。"
        f" / Until {until} you may resend the same content; anything else flagged is warned or blocked again.",
        f"如有疑问请联系 / questions: {CONTACT}。"]
    assert (await confirm(addon, token, w)).status_code == 404        # not confirmed twice
    assert ack_record(addon, w)
    clock.advance(TTL - 0.5)
    assert f"Until {until}" in (await open_(addon, token)).get_text()
    clock.advance(0.5)                                               # its expiry instant: over
    assert used_page((await open_(addon, token)).get_text())[1] == (
        f"确认的有效期已于 {until} 结束。如仍要发送，请重新提交原来的请求，会得到新的确认链接。"
        f" / The acknowledgement ended at {until}; retry the request to get a new link.")


async def test_the_table_of_used_links_is_bounded_and_keeps_live_ones(addon, clock):
    used = addon.ack.used
    used.update({f"old{i}": ("e", clock.wall - 1) for i in range(19_998)})
    used["edge"] = ("e", clock.wall)                   # ends this instant
    used["live"] = ("e", clock.wall + 5)
    assert len(used) == 20_000
    token, w = issue(addon)
    assert (await confirm(addon, token, w)).status_code == 200
    assert set(addon.ack.used) == {"live", token}


async def test_the_table_of_used_links_is_left_alone_below_its_bound(addon, clock):
    used = addon.ack.used
    used.update({f"old{i}": ("e", clock.wall - 1) for i in range(19_999)})
    token, w = issue(addon)
    assert (await confirm(addon, token, w)).status_code == 200
    assert len(addon.ack.used) == 20_000 and token in addon.ack.used


async def test_a_full_table_of_used_links_that_all_ended_empties(addon, clock):
    addon.ack.used.update({f"old{i}": ("e", clock.wall - 1) for i in range(20_000)})
    token, w = issue(addon)
    assert (await confirm(addon, token, w)).status_code == 200
    assert set(addon.ack.used) == {token}
    assert "This link was already used" in (await open_(addon, token)).get_text()


# --- submission for approval ------------------------------------------------------------------

async def test_a_submission_for_approval_waits_for_an_officer(addon, logged, tmp_path, clock):
    addon.acks.shared = Shared(b"k" * 32, tmp_path / "shared")
    token, w = issue(addon, approval=True)
    r = await confirm(addon, token, w, reason="投标需要", user="alice")
    assert r.status_code == 200
    assert_page_headers(r)
    assert_warning_page(r.get_text(), w, notice=f"已提交审批（事件 {w.event_id}）。保密办批准后重试原请求即可。 / "
                                                f"Submitted for approval; retry once an officer approved event {w.event_id}.")
    rec = ack_record(addon, w, "pending_approval")
    assert rec["event_id"] == r.headers["X-AI-Guard-Event"] and rec["reason"] == "投标需要"
    assert [(n, f["acknowledges"]) for n, f in logged if n in ("acknowledged", "approval_requested")] == \
        [("approval_requested", w.event_id)]
    assert addon.acks.awaiting[w.event_id] is w and w.submitted is True
    assert not addon.acks.covered(w.who, w.keys)                    # not an acknowledgement
    other_node = Shared(b"k" * 32, tmp_path / "shared")
    assert other_node.submitted(w.who, w.keys) == [w.event_id]     # visible to every node
    clock.advance(TTL - 1)
    assert other_node.submitted(w.who, w.keys) == [w.event_id]     # for guard_ack_ttl
    clock.advance(2)
    assert other_node.submitted(w.who, w.keys) == []
    clock.advance(-TTL - 1)
    assert token not in addon.ack.used and token in addon.acks.warnings
    again = await open_(addon, token)                               # the link still shows its state
    assert again.status_code == 200
    assert_warning_page(again.get_text(), w, notice="已提交审批，等待保密办决定 / submitted; awaiting an officer")
    assert form_csrf(again.get_text()) is None


async def test_a_submitted_link_used_page_does_not_hide_the_approval(addon):
    token, w = issue(addon, approval=True)
    addon.ack.used[token] = ("evt-old", real_time.time() + 60)   # the same token once used as a plain link
    r = await open_(addon, token)
    assert r.status_code == 200 and form_csrf(r.get_text()) == w.csrf


async def test_the_awaiting_table_is_bounded(addon, monkeypatch):
    monkeypatch.setattr(acks_mod, "MAX_ENTRIES", 3)
    events = []
    for _ in range(5):
        token, w = issue(addon, approval=True)
        events.append(w.event_id)
        assert (await confirm(addon, token, w)).status_code == 200
        assert len(addon.acks.awaiting) <= 3
    assert events[-1] in addon.acks.awaiting and events[0] not in addon.acks.awaiting


# --- sharing across nodes (options) -----------------------------------------------------------

TOGETHER = "guard_ack_key and guard_ack_dir go together (acknowledgements across nodes)"


def test_sharing_needs_both_the_key_and_the_directory(addon, tmp_path):
    tctx, _ = addon._test
    key = tmp_path / "ack.key"
    key.write_bytes(b"s" * 32)
    d = tmp_path / "d"
    try:
        for k, dd in ((str(key), ""), ("", str(d))):
            with pytest.raises(OptionsError) as e:
                tctx.configure(addon, guard_ack_key=k, guard_ack_dir=dd)
            assert str(e.value) == TOGETHER
        with pytest.raises(OptionsError, match=r"^Cannot share acknowledgements: .*missing\.key: cannot read"):
            tctx.configure(addon, guard_ack_key=str(tmp_path / "missing.key"), guard_ack_dir=str(d))
        short = tmp_path / "short.key"
        short.write_bytes(b"x")
        with pytest.raises(OptionsError, match=r"^Cannot share acknowledgements: .*shorter than 16 bytes"):
            tctx.configure(addon, guard_ack_key=str(short), guard_ack_dir=str(d))
        (tmp_path / "file").write_text("x")
        with pytest.raises(OptionsError, match="^Cannot share acknowledgements: "):
            tctx.configure(addon, guard_ack_key=str(key), guard_ack_dir=str(tmp_path / "file" / "d"))
        tctx.configure(addon, guard_ack_key=str(key), guard_ack_dir=str(d))
        shared = addon.acks.shared
        assert shared is not None and shared.key == b"s" * 32 and shared.dir == d and d.is_dir()
        tctx.configure(addon, guard_ack_ttl=TTL + 1)             # another option: the same store
        assert addon.acks.shared is shared
        addon.acks.shared = None                                  # e.g. a store replaced: set up again
        tctx.configure(addon, guard_ack_ttl=TTL)
        assert addon.acks.shared is not None and addon.acks.shared.dir == d
        with pytest.raises(OptionsError) as e:                    # one of the two changed alone
            tctx.configure(addon, guard_ack_key="")
        assert str(e.value) == TOGETHER
        tctx.configure(addon, guard_ack_key=str(key), guard_ack_dir=str(d))
        with pytest.raises(OptionsError) as e:
            tctx.configure(addon, guard_ack_dir="")
        assert str(e.value) == TOGETHER
        tctx.configure(addon, guard_ack_key=str(key), guard_ack_dir=str(d))
        tctx.configure(addon, guard_ack_dir=str(tmp_path / "d2"))   # the directory moved: used at once
        assert addon.acks.shared.dir == tmp_path / "d2"
        tctx.configure(addon, guard_ack_key="", guard_ack_dir="")
        assert addon.acks.shared is None
    finally:
        tctx.configure(addon, guard_ack_key="", guard_ack_dir="", guard_ack_ttl=TTL)
        addon.acks.shared = None


def test_options_and_their_help(tmp_path):
    # what `mitmdump --options` tells an operator
    a = GuardAddon()
    with taddons.context(a) as tctx:
        opts = tctx.options
        assert (opts.guard_ack_ttl, opts.guard_ack_key, opts.guard_ack_dir) == (600, "", "")
        helps = {n: (opts._options[n].typespec, opts._options[n].help)
                 for n in ("guard_ack_ttl", "guard_ack_key", "guard_ack_dir")}
    assert helps == {
        "guard_ack_ttl": (int, "Seconds an acknowledged warning lets the identical request pass."),
        "guard_ack_key": (str, "File with a key shared by all nodes: acknowledgement links work on any node "
                               "(with guard_ack_dir)."),
        "guard_ack_dir": (str, "Directory shared by all nodes where confirmed acknowledgements are kept "
                               "(with guard_ack_key)."),
    }
