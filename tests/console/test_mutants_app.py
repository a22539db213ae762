"""The console's gates, each as an officer, an auditor or an attacker meets it (guard.console.app):
login (CSRF token, Origin / Sec-Fetch-Site, wrong password, unknown name, lock-out), sessions
(cookie flags, expiry, logout), security headers, 三员分立 on pages, exports and the monthly
report, the access log, paging and filters. In process (Starlette's TestClient) on a real trail
written by the AuditWriter from records the engine and the record builder made."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import re
import time
import types
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

import guard.console.app as app_module
from guard.audit import record as audit_record
from guard.audit.writer import AuditWriter
from guard.console import users as accounts
from guard.console.rows import HIDDEN
from guard.console.app import (LOCK_SECONDS, LOGIN_COOKIE, MAX_FAILURES, PAGE, SESSION_COOKIE, SESSION_SECONDS,
                               Console)
from guard.display import zone
from guard.scanner import Engine

OWN = "http://testserver"
SAME = {"origin": OWN, "sec-fetch-site": "same-origin"}
PASSWORDS = {"alice": "alice-audits-2026", "bob": "bob-officer-2026", "王审计": "wang-audits-2026"}
REASON = "向客户演示用的公开材料甲乙丙"        # zhangsan's reason: auditors only
BOB_REASON = "本人确认内容已经公开发布丁戊"    # bob's own: he may read it
NOBODY_REASON = "无名氏填写的理由庚辛壬癸"     # an acknowledgement with no user name: auditors only
PENDING_REASON = "提交审批的理由子丑寅卯辰"    # zhangsan's request for approval: auditors only
XSS = '<img src=x onerror="alert(1)">'         # a user name as a header can carry it
HIDDEN_PAGE = "（已隐藏：仅审计员可见 / hidden: auditors only）"
HEADERS = {"content-security-policy", "x-content-type-options", "referrer-policy", "x-frame-options", "cache-control"}
N_ALLOW = PAGE + 7  # more than a page of events
# the login form's token (a logged-in page also carries the logout form's, first)
LOGIN_TOKEN = re.compile(r'action="/login"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]*)"')


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.fixture(scope="module")
def trail(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console-gates")
    engine = Engine.from_policy_file()
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(hours=1)
    w = AuditWriter(tmp / "trail", node="n1")

    def event(eid, text, user, when, **kw):
        info = audit_record.RequestInfo("api.openai.com", "POST", "/v1/chat/completions", "10.0.0.9", user, "勘探院",
                                        provider="openai", category="internet", **kw)
        rec = audit_record.build(eid, info, engine.scan_text(text), engine.policy)
        rec["ts"] = _iso(when)
        return rec

    for i, (user, reason) in enumerate((("zhangsan", REASON), ("bob", BOB_REASON), (None, NOBODY_REASON))):
        rec = event(f"evt-warn-{i}", "内部资料　注意保存\n本周工作安排", user, now - dt.timedelta(minutes=30 - i))
        w.write(rec, True)
        ack = audit_record.build_ack(f"ack-{i}", rec["event_id"], reason, "10.0.0.9", user, engine.policy)
        ack["ts"] = _iso(now - dt.timedelta(minutes=20 - i))
        w.write(ack, True)
    rec = event("evt-warn-p", "内部资料　注意保存\n下周工作安排", "zhangsan", now - dt.timedelta(minutes=5))
    w.write(rec, True)
    ack = audit_record.build_ack("pending-0", rec["event_id"], PENDING_REASON, "10.0.0.9", "zhangsan", engine.policy,
                                 action="pending_approval")
    ack["ts"] = _iso(now - dt.timedelta(minutes=4))
    w.write(ack, True)
    w.write(event("evt-xss", "机密★5年\n报告", XSS, now - dt.timedelta(minutes=3)), True)
    tz = zone(None)  # the console's zone (no --tz): the dashboard's thirty days are its calendar days
    today = dt.datetime.now(tz).date()
    for user, days, hour in (("zhaoliu", 29, 0), ("sunqi", 30, 23)):  # the first day in, the last day out
        local = dt.datetime.combine(today - dt.timedelta(days=days), dt.time(hour, 30), tz)
        w.write(event(f"evt-edge-{user}", "机密★5年\n关于某事的报告", user, local), True)
    for i in range(N_ALLOW):  # the same second for several: paging must break ties by id
        w.write(event(f"evt-allow-{i:03d}", "你好，帮我写首诗", "lisi", now - dt.timedelta(hours=2, seconds=(i + 2) // 3)),
                False)
    w.write(event("evt-old", "机密★5年\n关于某事的报告", "wangwu", now - dt.timedelta(days=40)), True)
    w.close()
    users = tmp / "users.json"
    for name, role in (("alice", "auditor"), ("bob", "officer"), ("王审计", "auditor")):
        accounts.add(users, name, role, PASSWORDS[name])
    return tmp


@pytest.fixture(scope="module")
def console(trail):
    c = Console([str(trail / "trail")], str(trail / "users.json"), index_path=str(trail / "index.sqlite"))
    c.index.refresh()
    return c


def _client(console, base=OWN) -> TestClient:
    console.failures.clear()
    return TestClient(console.app, base_url=base, follow_redirects=False)


def _token(c: TestClient) -> str:
    return LOGIN_TOKEN.search(c.get("/login").text).group(1)


def _login(console, name, password=None, base=OWN, headers=None):
    c = _client(console, base)
    origin = base if headers is None else None
    r = c.post("/login", data={"csrf": _token(c), "user": name, "password": password or PASSWORDS[name]},
               headers=headers if headers is not None else {"origin": origin, "sec-fetch-site": "same-origin"})
    return c, r


def _session_csrf(c: TestClient) -> str:
    return re.search(r'action="/logout"><input type="hidden" name="csrf" value="([^"]+)"', c.get("/events").text)[1]


def _set_cookie(r, name: str) -> str:
    return next((v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith(name + "=")), "")


# -- login ---------------------------------------------------------------------------------------

def test_the_login_page_gives_a_token_bound_to_its_own_cookie(console):
    c = _client(console)
    r = c.get("/login")
    assert r.status_code == 200 and HEADERS <= set(r.headers) and 'class="bad"' not in r.text
    cookie = _set_cookie(r, LOGIN_COOKIE).lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "max-age=900" in cookie
    nonce = c.cookies[LOGIN_COOKIE]
    token = LOGIN_TOKEN.search(r.text)[1]
    assert token == hmac.new(console.secret, nonce.encode(), hashlib.sha256).hexdigest()
    assert _token(c) == token and c.cookies[LOGIN_COOKIE] == nonce  # the same form on a reload
    other = _client(console)
    assert _token(other) != token  # another browser, another nonce


def test_a_login_makes_a_private_session_cookie_and_drops_the_login_cookie(console):
    c, r = _login(console, "alice")
    assert r.status_code == 303 and r.headers["location"] == "/" and HEADERS <= set(r.headers)
    cookie = _set_cookie(r, SESSION_COOKIE).lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and f"max-age={SESSION_SECONDS}" in cookie
    assert "secure" not in cookie  # plain http on loopback: a Secure cookie would never come back
    gone = _set_cookie(r, LOGIN_COOKIE)
    assert gone and ('max-age=0' in gone.lower() or "1970" in gone)
    s = console.sessions[c.cookies[SESSION_COOKIE]]
    assert s["user"] == "alice" and s["role"] == "auditor" and len(s["csrf"]) >= 24
    page = c.get("/events")
    assert page.status_code == 200 and "alice（审计员 auditor）" in page.text


def test_a_login_over_https_marks_the_session_cookie_secure(console):
    _, r = _login(console, "bob", base="https://testserver")
    assert r.status_code == 303 and "secure" in _set_cookie(r, SESSION_COOKIE).lower()


@pytest.mark.parametrize("name,password", [("alice", "alice-audits-2027"), ("alice", ""), ("bob", PASSWORDS["alice"]),
                                           ("mallory", PASSWORDS["alice"]), ("", "")])
def test_a_wrong_password_or_unknown_name_gets_no_session(console, monkeypatch, name, password):
    slept = []

    async def sleep(seconds):  # the half second a wrong guess costs, without waiting for it
        slept.append(seconds)

    monkeypatch.setattr(app_module.asyncio, "sleep", sleep)
    c = _client(console)
    before = len(console.sessions)
    r = c.post("/login", data={"csrf": _token(c), "user": name, "password": password}, headers=SAME)
    assert r.status_code == 401 and SESSION_COOKIE not in r.cookies
    assert '<p class="bad">用户名或密码错误 / wrong name or password</p>' in r.text
    assert len(console.sessions) == before and slept == [0.5]
    assert c.get("/events").status_code == 303
    # the form comes back with a token that still works for the next try
    again = c.post("/login", data={"csrf": LOGIN_TOKEN.search(r.text)[1], "user": "alice",
                                   "password": PASSWORDS["alice"]}, headers=SAME)
    assert again.status_code == 303


def test_a_name_is_locked_after_five_wrong_passwords_for_five_minutes(console, monkeypatch):
    clock = types.SimpleNamespace(now=time.time())
    monkeypatch.setattr(app_module, "time", types.SimpleNamespace(time=lambda: clock.now, monotonic=time.monotonic))

    async def sleep(seconds):
        pass

    monkeypatch.setattr(app_module.asyncio, "sleep", sleep)
    c = _client(console)

    def attempt(password, name="bob"):
        return c.post("/login", data={"csrf": _token(c), "user": name, "password": password}, headers=SAME).status_code

    assert [attempt("wrong-one-2026") for _ in range(MAX_FAILURES - 1)] == [401] * (MAX_FAILURES - 1)
    assert attempt(PASSWORDS["bob"]) == 303            # four failures: still in, and the count starts again
    assert [attempt("wrong-one-2026") for _ in range(MAX_FAILURES)] == [401] * MAX_FAILURES
    assert attempt(PASSWORDS["bob"]) == 429            # the right password is not even checked now
    locked = c.post("/login", data={"csrf": _token(c), "user": "bob", "password": "x"}, headers=SAME)
    assert LOGIN_TOKEN.search(locked.text)[1] == _token(c)  # its form still works for other names
    assert attempt(PASSWORDS["alice"], "alice") == 303  # another name is not locked
    clock.now += LOCK_SECONDS - 1
    assert attempt(PASSWORDS["bob"]) == 429
    clock.now += 1                                     # the failures are as old as the lock: in again
    assert attempt(PASSWORDS["bob"]) == 303
    assert "bob" not in console.failures


def test_a_long_name_is_counted_by_its_first_64_characters(console, monkeypatch):
    async def sleep(seconds):
        pass

    monkeypatch.setattr(app_module.asyncio, "sleep", sleep)
    c = _client(console)
    stem = "x" * 64
    for i in range(MAX_FAILURES):  # each a different long name, the same first 64 characters
        c.post("/login", data={"csrf": _token(c), "user": stem + str(i), "password": "p"}, headers=SAME)
    assert list(console.failures) == [stem] and len(console.failures[stem]) == MAX_FAILURES
    r = c.post("/login", data={"csrf": _token(c), "user": stem, "password": "p"}, headers=SAME)
    assert r.status_code == 429
    assert '<p class="bad">失败次数过多，请 5 分钟后再试 / too many failures: try again in 5 minutes</p>' in r.text


def _oracle(site, origin) -> bool:
    """Who may POST: a browser's own same-origin word, or an Origin that is this console's."""
    if site is not None and site != "same-origin":
        return False
    if origin is None or origin == "null":
        return site == "same-origin"
    return origin == OWN


SITES = [None, "same-origin", "same-site", "cross-site", "none", "SAME-ORIGIN"]
ORIGINS = [None, "null", OWN, "https://testserver", "http://testserver:80", "http://evil.example",
           "http://testserver.evil.example", ""]


@pytest.fixture(scope="module")
def bobs():
    """A logged-in session kept between cases while nothing logs it out (a login costs a scrypt)."""
    return {}


@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize("origin", ORIGINS)  # every pair: a small space, tested whole
def test_posts_pass_only_from_the_consoles_own_origin(console, bobs, site, origin):
    headers = {k: v for k, v in (("sec-fetch-site", site), ("origin", origin)) if v is not None}
    c = _client(console)
    r = c.post("/login", data={"csrf": _token(c), "user": "alice", "password": PASSWORDS["alice"]}, headers=headers)
    assert r.status_code == (303 if _oracle(site, origin) else 403)
    if r.status_code == 403:
        assert SESSION_COOKIE not in r.cookies
        assert '<p class="bad">请求来源无效，请重新打开登录页 / invalid form, reload the page</p>' in r.text
        # the refusal still gives a working form token (for a retry from the real page)
        assert LOGIN_TOKEN.search(r.text)[1] == _token(c)
    s = bobs.get("bob") or _login(console, "bob")[0]
    bobs["bob"] = s
    r = s.post("/logout", data={"csrf": _session_csrf(s)}, headers=headers)
    assert r.status_code == (303 if _oracle(site, origin) else 403)
    assert s.get("/events").status_code == (303 if _oracle(site, origin) else 200)
    if _oracle(site, origin):
        del bobs["bob"]


@pytest.mark.parametrize("token", ["", "x", "0" * 64])
def test_a_login_form_token_must_be_the_one_given(console, token):
    c = _client(console)
    real = _token(c)
    for t in (token, real[:-1] + ("0" if real[-1] != "0" else "1"), real.upper()):
        r = c.post("/login", data={"csrf": t, "user": "alice", "password": PASSWORDS["alice"]}, headers=SAME)
        assert r.status_code == 403 and SESSION_COOKIE not in r.cookies
    c.cookies.delete(LOGIN_COOKIE)  # without its cookie even the real token is refused
    r = c.post("/login", data={"csrf": real, "user": "alice", "password": PASSWORDS["alice"]}, headers=SAME)
    assert r.status_code == 403 and 'name="csrf" value=""' in r.text


# -- sessions ------------------------------------------------------------------------------------

def test_a_session_lasts_eight_hours_and_not_a_second_more(console, monkeypatch):
    clock = types.SimpleNamespace(now=1_900_000_000.0)
    monkeypatch.setattr(app_module, "time", types.SimpleNamespace(time=lambda: clock.now, monotonic=time.monotonic))
    c, r = _login(console, "alice")
    assert r.status_code == 303
    sid = c.cookies[SESSION_COOKIE]
    clock.now += SESSION_SECONDS
    assert c.get("/events").status_code == 200
    clock.now += 1
    r = c.get("/events")
    assert r.status_code == 303 and r.headers["location"] == "/login" and sid not in console.sessions


def test_no_session_forged_session_or_logged_out_session_sees_nothing(console):
    paths = ("/", "/events", "/events/evt-warn-0", "/integrity", "/discover", "/export.csv", "/export.xlsx",
             "/report", "/report?from=2026-11-01&to=2026-11-30")
    c = _client(console)
    c.cookies.set(SESSION_COOKIE, "forged-session-id")
    for p in paths:
        r = c.get(p)
        assert r.status_code == 303 and r.headers["location"] == "/login" and HEADERS <= set(r.headers)
    s, _ = _login(console, "bob")
    sid = s.cookies[SESSION_COOKIE]
    r = s.post("/logout", data={"csrf": _session_csrf(s)}, headers=SAME)
    assert r.status_code == 303 and r.headers["location"] == "/login" and sid not in console.sessions
    gone = _set_cookie(r, SESSION_COOKIE)
    assert gone and ('max-age=0' in gone.lower() or "1970" in gone)
    replay = _client(console)
    replay.cookies.set(SESSION_COOKIE, sid)  # the old cookie kept by someone: dead
    assert all(replay.get(p).status_code == 303 for p in paths)


def test_logout_needs_the_sessions_own_token(console):
    s, _ = _login(console, "bob")
    other, _ = _login(console, "alice")
    for token in ("", "x", _session_csrf(other)):
        r = s.post("/logout", data={"csrf": token}, headers=SAME)
        assert r.status_code == 403 and r.text == "forbidden" and HEADERS <= set(r.headers)
    assert s.get("/events").status_code == 200
    nobody = _client(console)
    assert nobody.post("/logout", data={"csrf": ""}, headers=SAME).status_code == 403


# -- 三员分立 ----------------------------------------------------------------------------------

def test_an_officer_reads_only_his_own_acknowledgement_reasons(console):
    bob, _ = _login(console, "bob")
    alice, _ = _login(console, "alice")
    cases = [(f"evt-warn-{i}", f"ack-{i}", r) for i, r in enumerate((REASON, BOB_REASON, NOBODY_REASON))]
    for event, ack, reason in cases + [("evt-warn-p", "pending-0", PENDING_REASON)]:
        for page in (f"/events/{event}", f"/events/{ack}"):
            a, b = alice.get(page), bob.get(page)
            assert a.status_code == b.status_code == 200
            assert reason in a.text
            if reason == BOB_REASON:
                assert reason in b.text
            else:  # where the reason was, exactly the notice
                assert reason not in b.text
                assert (f"<td>{HIDDEN_PAGE}</td>" if page.startswith("/events/evt")
                        else f"理由：{HIDDEN_PAGE}</td>") in b.text


def test_the_reports_show_reasons_to_auditors_only(console):
    from openpyxl import load_workbook

    start = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    end = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    q = f"/report?from={start}&to={end}"
    alice, _ = _login(console, "alice")
    bob, _ = _login(console, "bob")
    for c, shown in ((alice, True), (bob, False)):
        html = c.get(q)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert HEADERS <= set(html.headers)
        x = c.get(q + "&format=xlsx")
        assert x.status_code == 200 and x.headers["content-type"].startswith("application/vnd.openxmlformats")
        assert x.headers["content-disposition"] == f'attachment; filename="report-{start}-{end}.xlsx"'
        wb = load_workbook(io.BytesIO(x.content))
        cells = "\n".join(str(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for v in row if v)
        for text in (html.text, cells):
            assert (REASON in text) is shown and (NOBODY_REASON in text) is shown


def test_the_report_form_offers_last_month(console):
    alice, _ = _login(console, "alice")
    first = dt.date.today().replace(day=1)
    last = first - dt.timedelta(days=1)
    page = alice.get("/report").text
    assert f'value="{last.replace(day=1).isoformat()}"' in page and f'value="{last.isoformat()}"' in page
    assert alice.get("/report?from=2026-11-01").status_code == 200  # half a range: the form again
    assert alice.get("/report?to=2026-11-30").status_code == 200
    bad = alice.get("/report?from=2026-13-01&to=2026-13-30")
    assert bad.status_code == 400 and "Traceback" not in bad.text and "2026-13-01" in bad.text


def test_exports_are_attachments_with_the_same_rows_for_both_roles(console):
    alice, _ = _login(console, "alice")
    bob, _ = _login(console, "bob")
    a = alice.get("/export.csv?since=2000-01-01")
    b = bob.get("/export.csv?since=2000-01-01")
    for r in (a, b):
        assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
        assert r.headers["content-disposition"] == 'attachment; filename="ai-guard-events.csv"'
        assert HEADERS <= set(r.headers)
    rows_a, rows_b = a.content.decode("utf-8-sig").splitlines(), b.content.decode("utf-8-sig").splitlines()
    assert len(rows_a) == len(rows_b) > N_ALLOW
    assert REASON in a.text and REASON not in b.text and BOB_REASON in b.text and NOBODY_REASON not in b.text
    # hidden where another's reason was, and only there (rows without a reason stay empty)
    assert b.text.count(HIDDEN) == 3 and a.text.count(HIDDEN) == 0
    x = bob.get("/export.xlsx")
    assert x.status_code == 200 and x.headers["content-disposition"] == 'attachment; filename="ai-guard-events.xlsx"'
    assert x.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    for path in ("/export.csv?since=2026-13-45", "/export.xlsx?since=2026-13-45"):
        r = alice.get(path)
        assert r.status_code == 400 and "2026-13-45" in r.text


# -- what is logged, paging, filters -----------------------------------------------------------

def test_every_view_is_in_the_access_log_with_who_and_what(console):
    log = console.access_log
    assert log.name == "index-access.jsonl" and log.parent == console.index.path.parent
    bob, _ = _login(console, "bob")
    start = log.stat().st_size if log.exists() else 0
    views = ["/", "/events?user=lisi", "/events/evt-warn-1", "/integrity", "/discover", "/export.csv",
             "/export.xlsx", "/report?from=2026-11-01&to=2026-11-30"]
    for v in views:
        assert bob.get(v).status_code == 200
    with open(log, encoding="utf-8") as f:
        f.seek(start)
        entries = [json.loads(x) for x in f.read().splitlines()]
    assert [e["path"] for e in entries] == [v.split("?")[0] for v in views]
    for e, v in zip(entries, views):
        assert e["user"] == "bob" and e["role"] == "officer" and e["client"] == "testclient"
        assert e["query"] == (v.split("?")[1] if "?" in v else "")
        assert ("event" in e) is (v == "/events/evt-warn-1")
        assert dt.datetime.fromisoformat(e["ts"]).tzinfo is not None
    assert entries[2]["event"] == "evt-warn-1"
    bob.get("/events?host=" + "h" * 400)
    with open(log, encoding="utf-8") as f:
        assert len(json.loads(f.read().splitlines()[-1])["query"]) == 300


def test_the_event_list_pages_through_every_event_once(console):
    alice, _ = _login(console, "alice")
    seen, url, pages = [], "/events?user=lisi", 0
    while url:
        page = alice.get(url).text
        ids = re.findall(r'href="/events/(evt-allow-\d+)"', page)
        assert len(ids) == len(set(ids)) <= PAGE
        seen += ids
        pages += 1
        m = re.search(r'href="(/events\?[^"]*before=[^"]*)"', page)
        url = m[1].replace("&amp;", "&") if m else ""
        if url:
            assert "user=lisi" in url and len(ids) == PAGE
            assert pages < 2, "a next page that never ends"  # fail, not hang, when the cursor is lost
    assert pages == 2 and sorted(seen) == [f"evt-allow-{i:03d}" for i in range(N_ALLOW)]
    # newest first (higher numbers are older here); three share each second, the later written first,
    # and one such second spans the end of the first page
    assert seen == sorted(seen, key=lambda e: ((int(e[-3:]) + 2) // 3, -int(e[-3:])))
    assert 'id="next"' not in page  # the last page offers no older one


def test_a_page_of_exactly_fifty_has_no_next_page_and_a_bad_cursor_is_no_error(console):
    alice, _ = _login(console, "alice")
    rows = console.index.query("SELECT id, ts FROM events WHERE user = 'lisi' ORDER BY ts DESC, id DESC", ())
    rid, ts = rows[len(rows) - PAGE - 1]  # older than this one: exactly a page
    page = alice.get("/events?" + urlencode({"user": "lisi", "before": f"{ts}|{rid}"})).text
    assert len(re.findall(r'href="/events/(evt-allow-\d+)"', page)) == PAGE and 'id="next"' not in page
    for cursor in ("garbage", f"{ts}|x", "|"):
        assert alice.get("/events?" + urlencode({"user": "lisi", "before": cursor})).status_code == 200


def test_the_dashboard_counts_the_last_thirty_days_unless_asked(console):
    alice, _ = _login(console, "alice")
    recent = alice.get("/").text
    old = alice.get("/?since=2000-01-01").text
    assert "wangwu" not in recent and "wangwu" in old
    r = alice.get("/?since=yesterday-ish")
    assert r.status_code == 400 and "yesterday-ish" in r.text


def test_an_unknown_event_is_a_404_page(console):
    alice, _ = _login(console, "alice")
    r = alice.get("/events/no-such-event")
    assert r.status_code == 404 and "no event no-such-event" in r.text and HEADERS <= set(r.headers)


def test_the_console_serves_on_the_address_given_without_trusting_proxy_headers(trail, monkeypatch):
    import uvicorn

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    for listen, host, port in (("127.0.0.1:8081", "127.0.0.1", 8081), ("[::1]:9000", "::1", 9000),
                               (":8082", "127.0.0.1", 8082), ("CONSOLEX:8083", "CONSOLEX", 8083)):
        calls.clear()
        app_module.serve([str(trail / "trail")], str(trail / "users.json"), listen,
                         index_path=str(trail / "index.sqlite"))
        (app, kw), = calls
        assert kw["host"] == host and kw["port"] == port
        assert kw["proxy_headers"] is False and kw["server_header"] is False and kw["log_level"] == "warning"


def test_what_the_trail_holds_is_shown_as_text_never_as_markup(console):
    alice, _ = _login(console, "alice")
    for page in ("/events?since=2000-01-01", "/events/evt-xss", "/?since=2000-01-01"):
        text = alice.get(page).text
        assert XSS not in text and "&lt;img src=x onerror=" in text


def test_a_filter_value_is_cut_to_64_characters_and_carried_to_the_exports(console):
    alice, _ = _login(console, "alice")
    page = alice.get("/events?user=lisi&host=" + "h" * 80).text
    assert 'value="' + "h" * 64 + '"' in page and "h" * 65 not in page
    assert '<a href="/export.csv?host=' + "h" * 64 + '&amp;user=lisi">' in page
    assert '<a href="/export.xlsx?host=' + "h" * 64 + '&amp;user=lisi">' in page
    page = alice.get("/events?user=lisi").text
    assert '<a href="/export.csv?user=lisi">' in page


def test_the_dashboard_window_is_thirty_local_days_and_only_on_the_dashboard(console):
    alice, _ = _login(console, "alice")
    dash = alice.get("/").text
    assert "zhaoliu" in dash and "sunqi" not in dash and "wangwu" not in dash
    today = dt.datetime.now(console.tz).date()
    assert f'name="since" value="{(today - dt.timedelta(days=29)).isoformat()}"' in dash
    for page in ("/?until=" + today.isoformat(), "/?since=2000-01-01", "/events?action=block"):  # asked, or not "/"
        text = alice.get(page).text
        assert "sunqi" in text and "wangwu" in text, page


def test_new_events_appear_within_a_second_or_two(tmp_path, monkeypatch):
    engine = Engine.from_policy_file()
    info = audit_record.RequestInfo("api.openai.com", "POST", "/v1/chat/completions", "10.0.0.9", "first", "勘探院",
                                    provider="openai", category="internet")
    w = AuditWriter(tmp_path / "trail", node="n1")
    w.write(audit_record.build("evt-first", info, engine.scan_text("你好"), engine.policy), True)
    w.close()
    accounts.add(tmp_path / "users.json", "alice", "auditor", PASSWORDS["alice"])
    c = Console([str(tmp_path / "trail")], str(tmp_path / "users.json"), index_path=str(tmp_path / "i.sqlite"))
    clock = types.SimpleNamespace(now=1000.0)
    monkeypatch.setattr(app_module, "time", types.SimpleNamespace(time=time.time, monotonic=lambda: clock.now))
    alice, _ = _login(c, "alice")
    assert "evt-first" in alice.get("/events").text
    w = AuditWriter(tmp_path / "trail", node="n1")
    info.user = "second"
    w.write(audit_record.build("evt-second", info, engine.scan_text("你好"), engine.policy), True)
    w.close()
    clock.now += 0.5   # within a second of the last look: the index is not read again
    assert "evt-second" not in alice.get("/events").text
    clock.now += 1.0
    assert "evt-second" in alice.get("/events").text


def test_the_access_log_is_utf8_and_names_people_as_they_are(console):
    import locale

    saved = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")  # a non-UTF-8 locale for the console process
    try:
        wang, r = _login(console, "王审计")
        assert r.status_code == 303
        assert wang.get("/events/evt-warn-0").status_code == 200
    finally:
        locale.setlocale(locale.LC_CTYPE, saved)
    last = console.access_log.read_bytes().decode("utf-8").splitlines()[-1]
    assert '"user": "王审计"' in last and json.loads(last)["event"] == "evt-warn-0"


def test_the_pdf_report_is_an_attachment_made_from_the_roles_html(console, monkeypatch):
    """The browser that prints it is replaced (fast tests run no browser): what it is given,
    and what comes back, is the console's part."""
    printed = []

    def render_pdf(html_text, out):
        printed.append(html_text)
        out.write_bytes(b"%PDF-1.4 " + html_text.encode("utf-8"))

    monkeypatch.setattr(app_module, "render_pdf", render_pdf)
    start = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    end = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    for name, shown in (("alice", True), ("bob", False)):
        c, _ = _login(console, name)
        r = c.get(f"/report?from={start}&to={end}&format=pdf")
        assert r.status_code == 200 and r.headers["content-type"] == "application/pdf" and HEADERS <= set(r.headers)
        assert r.headers["content-disposition"] == f'attachment; filename="report-{start}-{end}.pdf"'
        assert r.content == b"%PDF-1.4 " + printed[-1].encode("utf-8")
        assert (REASON in printed[-1]) is shown and "<html" in printed[-1].lower()


@pytest.fixture(scope="module")
def keyed(tmp_path_factory):
    """A trail the proxy chained with an HMAC key: verified with it, broken without it."""
    tmp = tmp_path_factory.mktemp("keyed")
    key = tmp / "hmac.key"
    key.write_bytes(b"k" * 32)
    engine = Engine.from_policy_file()
    w = AuditWriter(tmp / "trail", key=b"k" * 32, node="n1")
    info = audit_record.RequestInfo("api.openai.com", "POST", "/v1/chat/completions", "10.0.0.9", "lisi", "勘探院")
    w.write(audit_record.build("evt-keyed", info, engine.scan_text("你好"), engine.policy), True)
    w.close()
    accounts.add(tmp / "users.json", "alice", "auditor", PASSWORDS["alice"])
    return tmp


@pytest.mark.parametrize("with_key", [True, False])
def test_integrity_and_the_report_check_the_chain_with_the_key_given(keyed, with_key):
    c = Console([str(keyed / "trail")], str(keyed / "users.json"), key_file=str(keyed / "hmac.key") if with_key else None,
                index_path=str(keyed / f"i-{with_key}.sqlite"))
    alice, _ = _login(c, "alice")
    page = alice.get("/integrity").text
    today = dt.date.today()
    report = alice.get(f"/report?from={(today - dt.timedelta(days=2)).isoformat()}&"
                       f"to={(today + dt.timedelta(days=1)).isoformat()}").text
    assert ("完整 intact" in page) is with_key and ("损坏 BROKEN" in page) is not with_key
    assert ("Every node chain verified intact." in report) is with_key


def test_serve_hands_every_setting_to_the_console(keyed, monkeypatch, tmp_path):
    import uvicorn

    from guard.policy.loader import DEFAULT_POLICY

    policy = tmp_path / "policy.yaml"
    policy.write_text(f"extends: [{DEFAULT_POLICY}]\nrules:\n  - id: custom.kunlun\n    title: {KUNLUN}\n"
                      "    action: block\n    keywords: [昆仑项目]\n", encoding="utf-8")
    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(app))
    app_module.serve([str(keyed / "trail")], str(keyed / "users.json"), "127.0.0.1:8090",
                     key_file=str(keyed / "hmac.key"), index_path=str(keyed / "served.sqlite"), tz="Europe/Berlin",
                     policy=str(policy))
    console = next(r.endpoint.__self__ for r in calls[0].routes if r.path == "/login")
    assert console.names.title("custom.kunlun") == KUNLUN  # rules named by the policy given
    assert console.dirs == [str(keyed / "trail")] and console.users_file == str(keyed / "users.json")
    assert console.key_file == str(keyed / "hmac.key") and str(console.tz) == "Europe/Berlin"
    assert console.index.path == keyed / "served.sqlite"
    assert console.index.query("SELECT count(*) FROM events", ())[0][0] == 1  # indexed before the first request


# -- a console in another zone, with its own policy -----------------------------------------------
NY = "America/New_York"
HAILONG = "海龙项目试运行规则"  # the title of a monitor-mode rule in the console's own policy


@pytest.fixture(scope="module")
def zoned(tmp_path_factory):
    """A console for New York with a policy that adds a monitor-mode rule: days, times, filters,
    exports and the report speak New York, and rule names come from that policy."""
    from guard.decide import finalize
    from guard.identity import Who
    from guard.policy.loader import DEFAULT_POLICY, load_policy

    tmp = tmp_path_factory.mktemp("zoned")
    policy = tmp / "policy.yaml"
    policy.write_text(f"extends: [{DEFAULT_POLICY}]\nrules:\n  - id: custom.hailong\n    title: {HAILONG}\n"
                      "    action: block\n    mode: monitor\n    keywords: [海龙项目]\n", encoding="utf-8")
    engine = Engine(load_policy(str(policy)))
    w = AuditWriter(tmp / "trail", node="n1")

    def put(eid, text, ts, user="zhou", method="POST", path="/v1/chat/completions", activity="prompt"):
        info = audit_record.RequestInfo("api.openai.com", method, path, "10.0.0.5", user, "钻井部", provider="openai",
                                        category="internet", activity=activity)
        verdict = finalize(engine.policy, engine.scan_text(text), Who("10.0.0.5", user, "钻井部", frozenset()))
        rec = audit_record.build(eid, info, verdict, engine.policy)
        rec["ts"] = ts
        w.write(rec, True)

    def acknowledge(eid, of, ts, action="ack"):
        a = audit_record.build_ack(eid, of, f"{eid} 的理由", "10.0.0.5", "zhou", engine.policy, action=action)
        a["ts"] = ts
        w.write(a, True)

    put("z-block", "机密★5年\n关于某事的报告", "2026-11-10T03:30:05.000Z")       # New York: 11-09 22:30:05
    acknowledge("z-ack", "z-block", "2026-11-10T04:00:00.000Z")                 # 11-09 23:00
    acknowledge("z-pending", "z-block", "2026-11-10T04:10:00.000Z", "pending_approval")
    put("z-would", "海龙项目进展", "2026-11-10T15:00:00.000Z")                  # 11-10: allowed, would block
    put("z-icon-1", "", "2026-11-10T16:00:00.000Z", method="GET", path="/favicon.ico", activity="other")
    put("z-warn", "内部资料　注意保存\n本周安排", "2026-11-11T12:00:00.000Z")     # 11-11
    put("z-ask", "你好，帮我写首诗", "2026-11-11T12:05:00.000Z")
    put("z-icon-2", "", "2026-11-11T16:00:00.000Z", method="GET", path="/favicon.ico", activity="other")
    w.close()
    accounts.add(tmp / "users.json", "alice", "auditor", PASSWORDS["alice"])
    c = Console([str(tmp / "trail")], str(tmp / "users.json"), index_path=str(tmp / "index.sqlite"), tz=NY,
                policy=str(policy))
    c.index.refresh()
    client, r = _login(c, "alice")
    assert r.status_code == 303
    return client


def test_days_times_and_filters_speak_the_consoles_zone(zoned):
    page = zoned.get("/events?since=2026-11-09&until=2026-11-09").text
    ids = set(re.findall(r'href="/events/(z-[a-z0-9-]+)"', page))
    assert ids == {"z-block", "z-ack", "z-pending"}              # New York's 9 November, not Beijing's
    assert "2026-11-09 22:30:05" in page and NY in page
    event = zoned.get("/events/z-block").text
    assert "2026-11-09 22:30:05" in event and "2026-11-09 23:00:00" in event and NY in event
    csv_text = zoned.get("/export.csv?since=2026-11-09&until=2026-11-09").content.decode("utf-8-sig")
    assert "z-block" in csv_text and "z-would" not in csv_text and "2026-11-09 22:30:05" in csv_text
    assert NY in csv_text.splitlines()[0]
    from openpyxl import load_workbook
    wb = load_workbook(io.BytesIO(zoned.get("/export.xlsx?since=2026-11-09&until=2026-11-09").content))
    cells = [str(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for v in row if v is not None]
    assert "z-block" in cells and "z-would" not in cells and any(NY in c for c in cells)
    assert any(c.startswith("2026-11-09 22:30:05") for c in cells)


def test_the_dashboard_counts_each_action_once_per_zone_day(zoned):
    dash = zoned.get("/?since=2026-11-09&until=2026-11-11").text
    assert '<b class="act-block">1</b>' in dash and '<b class="act-warn">1</b>' in dash
    assert re.search(r'id="allowed">2<', dash) and re.search(r'id="background">2<', dash)
    assert "确认 <b>1</b>" in dash
    for day, word, n in (("2026-11-09", "拦截", 1), ("2026-11-10", "放行", 1), ("2026-11-11", "警告", 1),
                         ("2026-11-11", "放行", 1)):
        assert re.search(rf"<title>{day} {word}[^<:]*: {n}</title>", dash), (day, word)
    # acknowledgements and requests for approval together, on the day they were made
    acks = re.findall(r"<title>(2026-11-\d\d) [^<:]*: (\d+)</title>", dash.split("Acknowledgements per day")[1])
    assert acks == [("2026-11-09", "2")]
    cards = dict(re.findall(r'<h2>([^<]*)</h2>(.*?)</div>', dash, re.S))
    assert "openai" in cards["服务 / Top providers"] and "钻井部" in cards["部门 / Top departments"]
    assert "zhou" in cards["用户（拦截与警告）/ Top users"]
    assert HAILONG in cards["试运行规则 / Monitor-mode rules (would)"]   # the console's own policy names it
    assert "无 / none" not in cards["规则 / Top rules"]


def test_the_report_covers_the_consoles_days(zoned):
    html = zoned.get("/report?from=2026-11-09&to=2026-11-09").text
    assert "z-ack 的理由" in html and "z-would" not in html
    assert HAILONG in zoned.get("/report?from=2026-11-09&to=2026-11-11").text  # named by the console's policy


def test_the_event_list_shows_no_reasons_hashes_or_paths(console):
    """The list has the page's columns; reasons (三员分立) and the rest are for exports and details."""
    bob, _ = _login(console, "bob")
    page = bob.get("/events?since=2000-01-01&action=ack").text
    assert "ack-0" in page and REASON not in page and NOBODY_REASON not in page and BOB_REASON not in page
    for export_only in ("理由", "内容散列", "记录散列", "客户端地址"):
        assert f"<th>{export_only}" not in page


@pytest.mark.parametrize("tz,since,month", [("Etc/GMT+12", "2026-11-01", ("2026-10-01", "2026-10-31")),
                                            ("Asia/Shanghai", "2026-11-02", ("2026-11-01", "2026-11-30"))])
def test_today_is_the_consoles_today(trail, monkeypatch, tz, since, month):
    """At 02:00 UTC on 1 December it is still 30 November twelve hours west: the dashboard's
    thirty days and the report's last month are counted from the console's own today."""
    instant = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc)
    monkeypatch.setattr(app_module, "today", lambda z: instant.astimezone(z).date())
    c = Console([str(trail / "trail")], str(trail / "users.json"), index_path=str(trail / f"{tz[-2:]}.sqlite"), tz=tz)
    client, _ = _login(c, "alice")
    assert f'name="since" value="{since}"' in client.get("/").text
    form = client.get("/report").text
    assert f'value="{month[0]}"' in form and f'value="{month[1]}"' in form


def test_a_console_without_an_index_path_keeps_its_index_in_the_users_cache(trail, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    c = Console([str(trail / "trail")], str(trail / "users.json"))
    assert c.index.path.parent == tmp_path / ".cache" / "ai-guard"
    assert c.access_log.parent == c.index.path.parent


def test_two_logins_of_one_name_at_once_both_get_in(console):
    """Two tabs (or two officers' mistakes) at the same moment: each gets a session, neither an error."""
    import asyncio

    import httpx

    c = _client(console)
    token, nonce = _token(c), c.cookies[LOGIN_COOKIE]

    async def both():
        transport = httpx.ASGITransport(app=console.app)
        async with httpx.AsyncClient(transport=transport, base_url=OWN, cookies={LOGIN_COOKIE: nonce}) as a:
            form = {"csrf": token, "user": "bob", "password": PASSWORDS["bob"]}
            return await asyncio.gather(*(a.post("/login", data=form, headers=SAME) for _ in range(2)))

    assert [r.status_code for r in asyncio.run(both())] == [303, 303]


def test_an_event_names_who_and_where_from_what_the_record_holds(console):
    alice, _ = _login(console, "alice")
    named = alice.get("/events/evt-warn-0").text
    assert "<th>用户</th><td>zhangsan · 勘探院 · 10.0.0.9</td>" in named
    assert "<td>openai · internet" in named
    unnamed = alice.get("/events/evt-warn-2").text  # no user name: the rest, with nothing in its place
    assert "<th>用户</th><td>勘探院 · 10.0.0.9</td>" in unnamed


# -- a console built inside the test --------------------------------------------------------------
# The fixtures above build their consoles once per module; these tests build their own, so that what
# a console does with its settings (zone, policy, templates, routes, access log) is what they check.
KUNLUN = "昆仑项目专用规则"  # the title of an enforced rule in this console's own policy


@pytest.fixture
def built(tmp_path):
    """(trail dir, users file, policy file): a trail of real records for consoles built in the tests."""
    from guard.policy.loader import DEFAULT_POLICY, load_policy

    policy = tmp_path / "policy.yaml"
    policy.write_text(f"extends: [{DEFAULT_POLICY}]\nrules:\n  - id: custom.kunlun\n    title: {KUNLUN}\n"
                      "    action: block\n    keywords: [昆仑项目]\n", encoding="utf-8")
    engine = Engine(load_policy(str(policy)))
    w = AuditWriter(tmp_path / "trail", node="n1")

    def put(eid, text, ts, user, host="api.openai.com", provider="openai", shape=None):
        info = audit_record.RequestInfo(host, "POST", "/v1/chat/completions", "10.0.0.7", user, "勘探院",
                                        provider=provider, category="internet", shape=shape)
        rec = audit_record.build(eid, info, engine.scan_text(text), engine.policy)
        rec["ts"] = ts
        w.write(rec, True)

    # 20:00:05.456 UTC: 21:00:05 on 20 November in Berlin, already 21 November in Shanghai (the default
    # zone); the trail keeps milliseconds
    put("k-late", "昆仑项目进度汇报", "2026-11-20T20:00:05.456Z", XSS)
    put("k-unlisted", "你好，帮我写首诗", "2026-11-20T10:00:00.000Z", "qian", host="llm.example.net",
        provider="unknown", shape="openai")
    put("k-nameless", "昆仑项目周报", "2026-11-20T11:00:00.000Z", None)  # no user name: the client is who
    w.close()
    users = tmp_path / "users.json"
    accounts.add(users, "alice", "auditor", PASSWORDS["alice"])
    return tmp_path / "trail", users, policy


def test_a_console_speaks_its_zone_and_its_policy_and_escapes_what_the_trail_holds(built, tmp_path):
    trail_dir, users, policy = built
    c = Console([str(trail_dir)], str(users), index_path=str(tmp_path / "idx.sqlite"), tz="Europe/Berlin",
                policy=str(policy))
    c.index.refresh()
    # the index files the event under Berlin's day, which the dashboard's days and filters read
    assert c.index.query("SELECT day FROM events WHERE event_id = 'k-late'", ())[0][0] == "2026-11-20"
    alice, _ = _login(c, "alice")
    assert "k-late" not in alice.get("/events?since=2026-11-21&until=2026-11-21").text
    page = alice.get("/events?since=2026-11-20&until=2026-11-20").text
    assert "k-late" in page and "k-unlisted" in page
    assert "<td>2026-11-20 21:00:05</td>" in page  # to the second, as the exports write it
    assert XSS not in page and "&lt;img src=x onerror=" in page  # a user name is text, never markup
    dash = alice.get("/?since=2026-11-01&until=2026-11-30").text
    cards = dict(re.findall(r'<h2>([^<]*)</h2>(.*?)</div>', dash, re.S))
    # the rule is named by the console's policy, its id beside the name
    assert f"{KUNLUN}（custom.kunlun）" in cards["规则 / Top rules"]
    event = alice.get("/events/k-late").text
    assert XSS not in event and "&lt;img src=x onerror=" in event
    assert "<th>用户</th><td>" + XSS.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;") + " · 勘探院 · 10.0.0.7</td>" in event
    nameless = alice.get("/events/k-nameless").text  # who: the values that are there, joined
    assert "<th>用户</th><td>勘探院 · 10.0.0.7</td>" in nameless
    # the console's access log sits beside its index
    log = tmp_path / "idx-access.jsonl"
    assert [json.loads(x)["path"] for x in log.read_text(encoding="utf-8").splitlines()] == [
        "/events", "/events", "/", "/events/k-late", "/events/k-nameless"]


def test_the_discover_page_lists_hosts_outside_the_catalog(built, tmp_path):
    trail_dir, users, policy = built
    c = Console([str(trail_dir)], str(users), index_path=str(tmp_path / "idx.sqlite"), tz="Asia/Shanghai")
    alice, _ = _login(c, "alice")
    r = alice.get("/discover")
    assert r.status_code == 200 and HEADERS <= set(r.headers)
    row = re.search(r"<tr><td>llm\.example\.net</td>(.*?)</tr>", r.text, re.S)
    assert row and '<td class="num">1</td>' in row[1] and "2026-11-20 18:00:00" in row[1] and "openai" in row[1]
    assert "api.openai.com" not in r.text
    assert _client(c).get("/discover").status_code == 303  # not without a session


def test_the_dashboard_draws_events_per_day_and_a_shorter_acknowledgement_strip(console):
    alice, _ = _login(console, "alice")
    dash = alice.get("/?since=2000-01-01").text
    sizes = re.findall(r'<svg class="chart"[^>]* width="(\d+)" height="(\d+)"', dash)
    assert sizes == [("860", "220"), ("860", "140")]


def test_the_event_list_pages_back_without_any_filter(console):
    alice, _ = _login(console, "alice")
    first = alice.get("/events").text
    m = re.search(r'href="(/events\?before=[^"]*)"', first)
    assert m, "more than a page of events: an older page is offered"
    second = alice.get(m[1].replace("&amp;", "&"))
    assert second.status_code == 200
    older = re.findall(r'href="/events/(evt-[\w-]+)"', second.text)
    assert older and not set(older) & set(re.findall(r'href="/events/(evt-[\w-]+)"', first))
    assert "evt-old" in older  # the oldest event is on the last page


def test_logging_out_leaves_with_the_security_headers(console):
    s, _ = _login(console, "bob")
    r = s.post("/logout", data={"csrf": _session_csrf(s)}, headers=SAME)
    assert r.status_code == 303 and r.headers["location"] == "/login" and HEADERS <= set(r.headers)
