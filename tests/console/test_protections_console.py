"""Console protections, each with a test that fails when the protection is removed (issue 26):
the Origin check of POSTs, the login form's CSRF token (no fixed fallback), and 三员分立 in the
CSV and xlsx exports. In process (Starlette's TestClient), on a small real trail."""
from __future__ import annotations

import io
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from guard.audit import record as audit_record
from guard.audit.writer import AuditWriter
from guard.console import users as accounts
from guard.console.app import LOGIN_COOKIE, SESSION_COOKIE, Console
from guard.scanner import Engine

OWN = "http://testserver"  # TestClient's origin
PASSWORDS = {"alice": "alice-audits-2026", "bob": "bob-officer-2026"}
REASON = "向客户演示用的公开材料甲乙丙"       # zhangsan's reason: auditors only
BOB_REASON = "本人确认内容已经公开发布丁戊"   # bob's own reason: he may see it


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console-prot")
    engine = Engine.from_policy_file()
    w = AuditWriter(tmp / "trail", node="n1")
    for i, (user, reason) in enumerate((("zhangsan", REASON), ("bob", BOB_REASON))):
        v = engine.scan_text("内部资料　注意保存\n本周工作安排")
        info = audit_record.RequestInfo("api.openai.com", "POST", "/v1/chat/completions", "10.0.0.1", user,
                                        "勘探院", provider="openai", category="internet")
        rec = audit_record.build(f"evt-{i}", info, v, engine.policy)
        w.write(rec, True)
        w.write(audit_record.build_ack(f"ack-{i}", rec["event_id"], reason, "10.0.0.1", user, engine.policy), True)
    w.close()
    users = tmp / "users.json"
    accounts.add(users, "alice", "auditor", PASSWORDS["alice"])
    accounts.add(users, "bob", "officer", PASSWORDS["bob"])
    c = Console([str(tmp / "trail")], str(users), index_path=str(tmp / "index.sqlite"))
    c.index.refresh()
    return c


def _client(console) -> TestClient:
    console.failures.clear()  # the lock-out is tested elsewhere; here every attempt counts alone
    return TestClient(console.app, base_url=OWN, follow_redirects=False)


def _login_form(c: TestClient) -> str:
    page = c.get("/login")
    return re.search(r'name="csrf" value="([^"]*)"', page.text).group(1)


def _login(console, name: str) -> TestClient:
    c = _client(console)
    token = _login_form(c)
    r = c.post("/login", data={"csrf": token, "user": name, "password": PASSWORDS[name]},
               headers={"origin": OWN, "sec-fetch-site": "same-origin"})
    assert r.status_code == 303, r.text
    return c


def test_same_origin_login_and_logout_succeed(console):
    """The control for the refusals below: the same requests from the console's own origin pass."""
    c = _client(console)
    token = _login_form(c)
    r = c.post("/login", data={"csrf": token, "user": "alice", "password": PASSWORDS["alice"]},
               headers={"origin": OWN})  # an older browser: Origin only, no Sec-Fetch-Site
    assert r.status_code == 303 and SESSION_COOKIE in r.cookies
    page = c.get("/events")
    csrf = re.search(r'action="/logout"><input type="hidden" name="csrf" value="([^"]+)"', page.text).group(1)
    assert c.post("/logout", data={"csrf": csrf}, headers={"origin": OWN}).status_code == 303
    assert c.get("/events").status_code == 303  # logged out


FOREIGN = st.builds(lambda scheme, host, port: f"{scheme}://{host}{port}",
                    st.sampled_from(["http", "https"]),
                    st.sampled_from(["evil.example", "testserver.evil.example", "127.0.0.1", "localhost",
                                     "testserver", "xn--testserver", "TESTSERVER"]),
                    st.sampled_from(["", ":80", ":8081", ":443"])).filter(lambda o: o != OWN)


@settings(derandomize=True, max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(origin=FOREIGN)
def test_post_with_a_foreign_origin_and_no_sec_fetch_site_is_refused(console, origin):
    """An older browser or a script sends Origin but no Sec-Fetch-Site: the Origin decides."""
    c = _client(console)
    token = _login_form(c)  # a valid form token and password: only the Origin is wrong
    r = c.post("/login", data={"csrf": token, "user": "alice", "password": PASSWORDS["alice"]},
               headers={"origin": origin})
    assert r.status_code == 403 and SESSION_COOKIE not in r.cookies
    s = _login(console, "alice")
    csrf = re.search(r'action="/logout"><input type="hidden" name="csrf" value="([^"]+)"',
                     s.get("/events").text).group(1)
    assert s.post("/logout", data={"csrf": csrf}, headers={"origin": origin}).status_code == 403
    assert s.get("/events").status_code == 200  # still logged in


@pytest.mark.parametrize("token", ["", "x", "0" * 64])
def test_login_without_the_login_cookie_is_refused(console, token):
    """With no login cookie there is no expected token: no guessable literal may stand in for it."""
    c = _client(console)
    r = c.post("/login", data={"csrf": token, "user": "alice", "password": PASSWORDS["alice"]},
               headers={"origin": OWN, "sec-fetch-site": "same-origin"})
    assert r.status_code == 403 and SESSION_COOKIE not in r.cookies
    # A login cookie the console did not give, with a token of the attacker's choosing: refused too.
    c.cookies.set(LOGIN_COOKIE, "chosen-by-the-attacker")
    r = c.post("/login", data={"csrf": token, "user": "alice", "password": PASSWORDS["alice"]},
               headers={"origin": OWN, "sec-fetch-site": "same-origin"})
    assert r.status_code == 403 and SESSION_COOKIE not in r.cookies


def _export_texts(c: TestClient) -> tuple[str, str]:
    from openpyxl import load_workbook

    csv_text = c.get("/export.csv").content.decode("utf-8-sig")
    wb = load_workbook(io.BytesIO(c.get("/export.xlsx").content))
    cells = "\n".join(str(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True) for v in row if v)
    return csv_text, cells


def test_officer_exports_never_hold_other_staffs_reasons(console):
    officer = _export_texts(_login(console, "bob"))
    auditor = _export_texts(_login(console, "alice"))
    for text in auditor:  # the control: the exports do carry reasons, for an auditor
        assert REASON in text and BOB_REASON in text
    for text in officer:
        assert REASON not in text and REASON[:6] not in text
        assert "已隐藏" in text and "ack-0" in text  # the row is there, its reason is not
        assert BOB_REASON in text                   # his own acknowledgement he may read
