"""The coaching page and its confirmation POST (guard/proxy/ack.py), in mitmproxy's test harness
with a controlled clock: what the page sends (headers, the form bound to its link), who may
confirm (the page's CSRF token, its own Origin), what a confirmation needs (a reason) and does
(an audit record first, then the acknowledgement or the submission for approval, a log line
without the reason), a link used once, links at their expiry instant, the bounded table of
used links, and the options that share acknowledgements across nodes. Written to kill the
mutants that survived `make mutate guard/proxy/ack.py` (issue 26)."""
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


@pytest.fixture(scope="module")
def _addon(tmp_path_factory, _clock):
    a = GuardAddon()  # one for the module: configuring one takes seconds
    audit = tmp_path_factory.mktemp("ackpage") / "audit"
    with taddons.context(a) as tctx:
        tctx.configure(a, guard_audit_dir=str(audit), guard_ack_ttl=TTL)
        a._test = (tctx, audit)
        yield a


@pytest.fixture
def clock(_clock):
    _clock.mono, _clock.wall = 10_000.0, 1_800_000_000.0
    return _clock


@pytest.fixture
def addon(_addon, clock):
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


def issue(a, *, approval=False, who="10.0.0.7", event=None, found=None, reasons=("工作需要", "公开资料")):
    event = event or f"evt-w{next(_EVENTS)}"  # the module's audit trail is shared: one event per warning
    keys = frozenset({("internal.marking", "d-" + event)})
    found = found if found is not None else [Found("internal.marking", "内部资料标志", "内部**", "messages[0]")]
    w = Warning(event, who, keys, found, approval, "OpenAI API", "保密办 8123", "为什么", tuple(reasons),
                ack_mod.time.monotonic() + TTL, policy_id="pol-1", policy_sha256="ab" * 32)
    return a.acks.issue(w, TTL), w


def page_flow(token, method="GET", body="", origin=None, path=None):
    f = flow(host=ACK_HOST, path=path or f"/ack/{token}", body=body.encode(),
             headers={"content-type": "application/x-www-form-urlencoded", **({"origin": origin} if origin else {})})
    f.request.scheme, f.request.port, f.request.method = "http", 80, method
    return f


async def open_(a, token, method="GET", body="", origin=None, path=None):
    f = page_flow(token, method, body, origin, path)
    a.requestheaders(f)
    await call(a.request, f)
    assert f.response is not None
    return f.response


async def confirm(a, token, w, reason="工作需要", note="", origin=f"http://{ACK_HOST}", csrf=None):
    body = f"csrf={quote(w.csrf if csrf is None else csrf)}&reason={quote(reason)}&note={quote(note)}"
    return await open_(a, token, "POST", body, origin)


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
    assert form_csrf(text) == w.csrf
    assert f'action="http://{ACK_HOST}/ack/{token}"' in text
    assert "工作需要" in text and "公开资料" in text and "内部资料标志" in text and w.event_id in text
    assert "Submit for approval" not in text


async def test_an_approval_page_submits_for_approval(addon):
    token, w = issue(addon, approval=True)
    text = (await open_(addon, token)).get_text()
    assert "Submit for approval" in text and form_csrf(text) == w.csrf


@pytest.mark.parametrize("path", ["/other/{t}", "/{t}", "/ACK/{t}", "/xack/{t}", "/ack"])
async def test_only_the_ack_path_serves_a_link(addon, path):
    token, _ = issue(addon)
    r = await open_(addon, token, path=path.format(t=token))
    assert r.status_code == 404 and "This link has expired" in r.get_text()
    assert_page_headers(r)


async def test_an_unknown_link_is_explained_calmly(addon):
    r = await open_(addon, "no-such-token")
    assert r.status_code == 404
    text = r.get_text()
    assert "This link has expired" in text and "retry the request" in text and "<form" not in text
    assert_page_headers(r)


async def test_a_link_ends_at_its_expiry_instant(addon, clock):
    token, w = issue(addon)
    clock.advance(TTL - 0.001)
    assert (await open_(addon, token)).status_code == 200
    clock.advance(0.001)                             # the instant the store's tables call it expired
    assert (await open_(addon, token)).status_code == 404
    assert (await confirm(addon, token, w)).status_code == 404
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
    assert "not confirmed" in r.get_text() and form_csrf(r.get_text()) == w.csrf   # the form again, to confirm properly
    assert_page_headers(r)
    assert len(records(addon)) == before and not addon.acks.covered(w.who, w.keys)
    assert token in addon.acks.warnings and token not in addon.ack.used


async def test_another_links_token_does_not_confirm_this_one(addon):
    token, w = issue(addon, event="evt-a")
    _, other = issue(addon, event="evt-b")
    assert (await confirm(addon, token, w, csrf=other.csrf)).status_code == 403
    assert not addon.acks.covered(w.who, w.keys)


@pytest.mark.parametrize("origin", [None, "null", f"http://{ACK_HOST}"])
async def test_the_pages_own_form_confirms(addon, origin):
    # browsers send no Origin, "null" (privacy settings) or the page's own origin
    token, w = issue(addon)
    r = await confirm(addon, token, w, origin=origin)
    assert r.status_code == 200 and addon.acks.covered(w.who, w.keys)


# --- what a confirmation needs and does ---------------------------------------------------

@pytest.mark.parametrize("reason,note", [("", ""), ("  ", " \t "), ("", "\n")])
async def test_a_confirmation_needs_a_reason(addon, reason, note):
    token, w = issue(addon)
    before = len(records(addon))
    r = await confirm(addon, token, w, reason=reason, note=note)
    assert r.status_code == 400 and "Pick a reason or write your own" in r.get_text()
    assert form_csrf(r.get_text()) == w.csrf
    assert_page_headers(r)
    assert len(records(addon)) == before and not addon.acks.covered(w.who, w.keys)


@pytest.mark.parametrize("reason,note,kept", [
    ("工作需要", "", "工作需要"),
    ("", "  客户已公开  ", "客户已公开"),
    (" 工作需要 ", "客户已公开", "工作需要 / 客户已公开"),
])
async def test_the_reason_is_audited_before_the_acknowledgement_counts(addon, reason, note, kept):
    token, w = issue(addon)
    r = await confirm(addon, token, w, reason=reason, note=note)
    assert r.status_code == 200
    assert_page_headers(r)
    rec = [x for x in records(addon, "ack") if x["acknowledges"] == w.event_id][-1]
    assert rec["reason"] == kept and rec["event_id"] == r.headers["X-AI-Guard-Event"] != w.event_id
    assert rec["policy"] == {"id": "pol-1", "sha256": "ab" * 32}
    assert rec["client"] and rec["path"] == "/ack"
    assert addon.acks.covered(w.who, w.keys)
    assert "Acknowledged: retry within 10 minutes" in r.get_text() and "<form" not in r.get_text()


async def test_a_long_reason_is_cut_in_the_audit(addon):
    token, w = issue(addon)
    assert (await confirm(addon, token, w, reason="甲" * 150, note="乙" * 150)).status_code == 200
    rec = [x for x in records(addon, "ack") if x["acknowledges"] == w.event_id][-1]
    assert rec["reason"] == ("甲" * 150 + " / " + "乙" * 150)[:200]


async def test_when_the_audit_cannot_be_written_nothing_is_acknowledged(addon, monkeypatch):
    token, w = issue(addon)
    monkeypatch.setattr(addon.trail, "write", raising(AuditError("disk full")))
    r = await confirm(addon, token, w)
    assert r.status_code == 503 and "audit log unavailable" in r.get_text()
    assert not addon.acks.covered(w.who, w.keys) and token in addon.acks.warnings and token not in addon.ack.used
    monkeypatch.undo()
    assert (await confirm(addon, token, w)).status_code == 200      # the same link works once it can


async def test_a_confirmation_writes_one_log_line_without_the_reason(addon, logged):
    token, w = issue(addon)
    r = await confirm(addon, token, w, reason="机密理由文字")
    [(name, fields)] = [x for x in logged if x[0] in ("acknowledged", "approval_requested")]
    assert name == "acknowledged"
    assert fields["event_id"] == r.headers["X-AI-Guard-Event"] and fields["acknowledges"] == w.event_id
    assert fields["rules"] == ["internal.marking"] and fields["client"] and "department" in fields
    assert "user" in fields and "机密理由文字" not in repr(fields)


# --- a link is used once --------------------------------------------------------------------

async def test_a_link_is_used_once_and_then_explained(addon, clock):
    token, w = issue(addon)
    assert (await confirm(addon, token, w)).status_code == 200
    assert token not in addon.acks.warnings
    again = await open_(addon, token)
    assert again.status_code == 404
    assert_page_headers(again)
    text = again.get_text()
    assert "This link was already used" in text and w.event_id in text and "Until" in text
    assert (await confirm(addon, token, w)).status_code == 404        # not confirmed twice
    assert len([x for x in records(addon, "ack") if x["acknowledges"] == w.event_id]) == 1
    clock.advance(TTL - 1)
    assert "Until" in (await open_(addon, token)).get_text()
    clock.advance(2)
    assert "The acknowledgement ended" in (await open_(addon, token)).get_text()


async def test_the_used_page_names_the_end_of_the_acknowledgement(addon, clock):
    token, w = issue(addon)
    await confirm(addon, token, w)
    until = ack_mod.local_text(real_time.strftime("%Y-%m-%dT%H:%M:%SZ", real_time.gmtime(clock.wall + TTL)),
                               ack_mod.zone(), seconds=False)
    assert f"Until {until}" in (await open_(addon, token)).get_text()


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

async def test_a_submission_for_approval_waits_for_an_officer(addon, logged, tmp_path):
    addon.acks.shared = Shared(b"k" * 32, tmp_path / "shared")
    token, w = issue(addon, approval=True)
    r = await confirm(addon, token, w, reason="投标需要")
    assert r.status_code == 200
    assert f"retry once an officer approved event {w.event_id}" in r.get_text()
    rec = [x for x in records(addon, "pending_approval") if x["acknowledges"] == w.event_id][-1]
    assert rec["event_id"] == r.headers["X-AI-Guard-Event"] and rec["reason"] == "投标需要"
    assert [n for n, _ in logged if n in ("acknowledged", "approval_requested")] == ["approval_requested"]
    assert addon.acks.awaiting[w.event_id] is w and w.submitted
    assert not addon.acks.covered(w.who, w.keys)                    # not an acknowledgement
    other_node = Shared(b"k" * 32, tmp_path / "shared")
    assert other_node.submitted(w.who, w.keys) == [w.event_id]     # visible to every node
    assert token not in addon.ack.used and token in addon.acks.warnings
    again = await open_(addon, token)                               # the link still shows its state
    assert again.status_code == 200 and "submitted; awaiting an officer" in again.get_text()
    assert form_csrf(again.get_text()) is None


async def test_a_submitted_link_used_page_does_not_hide_the_approval(addon):
    token, w = issue(addon, approval=True)
    addon.ack.used[token] = ("evt-old", real_time.time() + 60)   # the same token once used as a plain link
    r = await open_(addon, token)
    assert r.status_code == 200 and form_csrf(r.get_text()) == w.csrf


async def test_the_awaiting_table_is_bounded(addon, monkeypatch):
    monkeypatch.setattr(acks_mod, "MAX_ENTRIES", 3)
    for i in range(5):
        token, w = issue(addon, approval=True, event=f"evt-{i}")
        assert (await confirm(addon, token, w)).status_code == 200
        assert len(addon.acks.awaiting) <= 3
    assert "evt-4" in addon.acks.awaiting and "evt-0" not in addon.acks.awaiting


# --- sharing across nodes (options) -----------------------------------------------------------

def test_sharing_needs_both_the_key_and_the_directory(addon, tmp_path):
    tctx, _ = addon._test
    key = tmp_path / "ack.key"
    key.write_bytes(b"s" * 32)
    try:
        with pytest.raises(OptionsError, match="go together"):
            tctx.configure(addon, guard_ack_key=str(key), guard_ack_dir="")
        with pytest.raises(OptionsError, match="go together"):
            tctx.configure(addon, guard_ack_key="", guard_ack_dir=str(tmp_path / "d"))
        with pytest.raises(OptionsError, match="Cannot share acknowledgements"):
            tctx.configure(addon, guard_ack_key=str(tmp_path / "missing.key"), guard_ack_dir=str(tmp_path / "d"))
        short = tmp_path / "short.key"
        short.write_bytes(b"x")
        with pytest.raises(OptionsError, match="Cannot share acknowledgements"):
            tctx.configure(addon, guard_ack_key=str(short), guard_ack_dir=str(tmp_path / "d"))
        (tmp_path / "file").write_text("x")
        with pytest.raises(OptionsError, match="Cannot share acknowledgements"):
            tctx.configure(addon, guard_ack_key=str(key), guard_ack_dir=str(tmp_path / "file" / "d"))
        tctx.configure(addon, guard_ack_key=str(key), guard_ack_dir=str(tmp_path / "d"))
        shared = addon.acks.shared
        assert shared is not None and shared.key == b"s" * 32 and shared.dir == tmp_path / "d"
        tctx.configure(addon, guard_ack_ttl=TTL + 1)             # another option: the same store
        assert addon.acks.shared is shared
        addon.acks.shared = None                                  # e.g. a store replaced: set up again
        tctx.configure(addon, guard_ack_ttl=TTL)
        assert addon.acks.shared is not None and addon.acks.shared.dir == tmp_path / "d"
        tctx.configure(addon, guard_ack_key="", guard_ack_dir="")
        assert addon.acks.shared is None
    finally:
        tctx.configure(addon, guard_ack_key="", guard_ack_dir="", guard_ack_ttl=TTL)


def test_options_default_to_ten_minutes_on_one_node():
    a = GuardAddon()
    with taddons.context(a) as tctx:
        opts = tctx.options
        assert (opts.guard_ack_ttl, opts.guard_ack_key, opts.guard_ack_dir) == (600, "", "")
        assert all(isinstance(getattr(opts, n), t) for n, t in
                   (("guard_ack_ttl", int), ("guard_ack_key", str), ("guard_ack_dir", str)))
