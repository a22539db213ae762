"""What an auditor in Beijing reads (issue 25): local time in every view, the right calendar day
around local midnight, Chinese action words and rule names with the ids beside them, exports
Excel reads as dates, event details without empty separators, background requests apart from
AI use. In process (Starlette's TestClient) and through the real `guard` command, on real
trails written by the AuditWriter from records the engine and record builder made."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from guard.audit import record as audit_record
from guard.audit.writer import AuditWriter
from guard.console import users as accounts
from guard.console.app import Console
from guard.console.report import collect, render_html
from guard.scanner import Engine

GUARD = str(Path(sys.executable).parent / "guard")
OWN = "http://testserver"
PASSWORD = "alice-audits-2026"
# Local midnight between 2026-11-27 and 2026-11-28 in Beijing is 2026-11-27T16:00:00Z.
BEFORE = "2026-11-27T15:59:59.999Z"   # 2026-11-27 23:59:59.999 Beijing
AFTER = "2026-11-27T16:00:00.000Z"    # 2026-11-28 00:00:00.000 Beijing
EARLY_UTC = "2026-11-28T00:30:00.000Z"  # 08:30 Beijing: the "lands on the previous day" in UTC views


def _record(engine, event_id: str, text: str, ts: str, user="zhangsan", method="POST", path="/v1/chat/completions",
            activity="prompt", department="勘探院"):
    v = engine.scan_text(text)
    info = audit_record.RequestInfo("api.openai.com", method, path, "10.0.0.7", user, department, provider="openai",
                                    category="internet", body_sha256="ab" * 32, body_size=120, activity=activity)
    rec = audit_record.build(event_id, info, v, engine.policy)
    rec["ts"] = ts
    return rec


@pytest.fixture(scope="module")
def trail(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("people")
    engine = Engine.from_policy_file()
    w = AuditWriter(tmp / "trail", node="n1")
    w.write(_record(engine, "evt-before", "机密★5年\n关于某事的报告", BEFORE), True)
    w.write(_record(engine, "evt-after", "机密★5年\n关于另一事的报告", AFTER), True)
    w.write(_record(engine, "evt-morning", "内部资料　注意保存\n本周安排", EARLY_UTC), True)
    for i in range(3):  # AI use
        w.write(_record(engine, f"evt-ask-{i}", "你好，帮我写首诗", "2026-11-28T02:00:0%d.000Z" % i), False)
    for i in range(2):  # the web app's icon and a poll: no AI use
        w.write(_record(engine, f"evt-icon-{i}", "", "2026-11-28T02:10:0%d.000Z" % i, method="GET",
                        path="/favicon.ico", activity="other"), False)
    w.close()
    users = tmp / "users.json"
    accounts.add(users, "alice", "auditor", PASSWORD)
    return tmp


@pytest.fixture(scope="module")
def alice(trail):
    console = Console([str(trail / "trail")], str(trail / "users.json"), index_path=str(trail / "index.sqlite"),
                      tz="Asia/Shanghai")
    console.index.refresh()
    c = TestClient(console.app, base_url=OWN, follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]*)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"csrf": token, "user": "alice", "password": PASSWORD},
               headers={"origin": OWN, "sec-fetch-site": "same-origin"})
    assert r.status_code == 303
    c.console = console
    return c


def _ids(html: str) -> set[str]:
    return set(re.findall(r'href="/events/(evt-[a-z0-9-]+)"', html))


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([GUARD, "audit", *args], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})


# -- the day around local midnight, in every view ----------------------------------------------
def test_midnight_console_list_and_dashboard(alice):
    day27 = alice.get("/events?since=2026-11-27&until=2026-11-27").text
    day28 = alice.get("/events?since=2026-11-28&until=2026-11-28").text
    assert _ids(day27) == {"evt-before"}
    assert "evt-after" in _ids(day28) and "evt-morning" in _ids(day28) and "evt-before" not in _ids(day28)
    assert "2026-11-27 23:59:59" in day27 and "2026-11-28 00:00:00" in day28 and "2026-11-28 08:30:00" in day28
    assert "时间（北京时间）" in day28
    dash = alice.get("/?since=2026-11-27&until=2026-11-28").text
    # The chart's bars name their local day: one block on the 27th, one on the 28th.
    assert re.search(r"<title>2026-11-27 拦截: 1</title>", dash) and re.search(r"<title>2026-11-28 拦截: 1</title>", dash)


def test_midnight_exports_csv_and_xlsx(alice):
    from openpyxl import load_workbook

    text = alice.get("/export.csv?since=2026-11-28&until=2026-11-28").content
    assert text.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(text.decode("utf-8-sig"))))
    head, body = rows[0], {r[2]: r for r in rows[1:]}
    assert head[:4] == ["时间（北京时间）", "动作", "事件编号", "规则"]
    assert "evt-before" not in body and body["evt-after"][0] == "2026-11-28 00:00:00"
    assert body["evt-after"][1] == "拦截" and "国家秘密" in body["evt-after"][3]
    assert "state-secret" in body["evt-after"][head.index("规则编号")]    # the id beside the name
    wb = load_workbook(io.BytesIO(alice.get("/export.xlsx?since=2026-11-27&until=2026-11-28").content))
    ws = wb.active
    header = [c.value for c in ws[1]]
    assert header == head                                                  # the same columns as the CSV
    by_id = {ws.cell(r, 3).value: ws.cell(r, 1) for r in range(2, ws.max_row + 1)}
    cell = by_id["evt-after"]
    # A real date cell (a number Excel formats), local time, not the text "2026-11-27T16:00:00.000Z".
    assert cell.data_type == "d" and cell.is_date and isinstance(cell.value, dt.datetime)
    assert cell.value == dt.datetime(2026, 11, 28, 0, 0, 0)
    assert by_id["evt-before"].value == dt.datetime(2026, 11, 27, 23, 59, 59, 999000)
    assert "yyyy" in cell.number_format and "hh" in cell.number_format
    # In the file itself: a serial number with a date style, not a string (t="s" / inlineStr).
    import zipfile
    sheet = zipfile.ZipFile(io.BytesIO(alice.get("/export.xlsx?since=2026-11-28&until=2026-11-28").content)) \
        .read("xl/worksheets/sheet1.xml").decode()
    a2 = re.search(r'<c r="A2"[^>]*>.*?</c>', sheet).group()
    assert ('t="' not in a2.split(">")[0] or 't="n"' in a2) and re.search(r"<v>4\d{4}(\.\d+)?</v>", a2)
    # The console list shows the exports' first columns, in order.
    page = alice.get("/events?since=2026-11-27&until=2026-11-28").text
    shown = re.findall(r"<th>([^<]+)</th>", page.split('id="events"')[1].split("</tr>")[0])
    assert shown == head[:len(shown)] and len(shown) == 9


@pytest.mark.slow  # runs the guard command several times
def test_midnight_cli_list_stats_and_report(trail):
    d = str(trail / "trail")
    day28 = run("list", "--audit-dir", d, "--since", "2026-11-28", "--until", "2026-11-28", "--json")
    ids = [json.loads(x)["event_id"] for x in day28.stdout.splitlines()]
    assert "evt-after" in ids and "evt-morning" in ids and "evt-before" not in ids
    rec = next(json.loads(x) for x in day28.stdout.splitlines() if '"evt-after"' in x)
    # Stable: the record's fields as written (UTC ts), plus what a person reads.
    for field in ("event_id", "ts", "action", "rules", "host", "path", "client", "user", "body_sha256", "policy"):
        assert field in rec
    assert rec["ts"] == AFTER and rec["ts_local"] == "2026-11-28T00:00:00.000+08:00"
    assert rec["action"] == "block" and rec["rules"][0]["id"].startswith("state-secret.")
    assert rec["rules"][0]["title"] == "国家秘密标志" or "国家秘密" in rec["rules"][0]["title"]
    text = run("list", "--audit-dir", d, "--since", "2026-11-27", "--until", "2026-11-27").stdout
    assert "2026-11-27 23:59:59" in text and "拦截" in text and "evt-after" not in text
    assert re.search(r"国家秘密[^\s（]*（state-secret\.[a-z-]+）", text)
    by_word = run("list", "--audit-dir", d, "--action", "拦截", "--json").stdout      # the word or the code
    assert {json.loads(x)["event_id"] for x in by_word.splitlines()} == {"evt-before", "evt-after"}
    stats = json.loads(run("stats", "--audit-dir", d, "--json").stdout)
    assert stats["by_day"]["2026-11-27"] == 1 and stats["by_day"]["2026-11-28"] == 7
    assert stats["allow_background"] == 2 and stats["zone"] == "Asia/Shanghai"
    # Engineers: --utc shows and counts UTC days (the morning event falls on the 28th either way).
    utc = json.loads(run("stats", "--audit-dir", d, "--json", "--utc").stdout)
    assert utc["by_day"] == {"2026-11-27": 2, "2026-11-28": 6}
    en = run("list", "--audit-dir", d, "--utc", "--lang", "en", "--since", "2026-11-27", "--until", "2026-11-27").stdout
    assert "2026-11-27 16:00:00" in en and "blocked" in en and "拦截" not in en
    # A zone named by the environment.
    p = subprocess.run([GUARD, "audit", "list", "--audit-dir", d, "--since", "2026-11-27", "--until", "2026-11-27",
                        "--json"], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", "GUARD_TZ": "UTC"})
    assert {json.loads(x)["event_id"] for x in p.stdout.splitlines()} == {"evt-before", "evt-after"}
    bad = run("list", "--audit-dir", d, "--tz", "Mars/Olympus")
    assert bad.returncode == 2 and "Mars/Olympus" in bad.stderr and "Traceback" not in bad.stderr
    # The report: a day is a local calendar day.
    data = collect([d], "2026-11-28", "2026-11-28")
    assert [r["event_id"] for r in data["blocked"]] == ["evt-after"]
    assert data["totals"]["allow"] == 3 and data["totals"]["background"] == 2
    html = render_html(data)
    assert "2026-11-28 00:00" in html and "时间（北京时间）" in html and "(UTC)" not in html
    assert "国家秘密" in html and "state-secret." in html
    report_xlsx = trail / "r.xlsx"
    assert run("report", "--audit-dir", d, "--from", "2026-11-27", "--to", "2026-11-27", "--format", "xlsx",
               "--out", str(report_xlsx)).returncode == 0
    from openpyxl import load_workbook
    ws = load_workbook(report_xlsx)["拦截 blocked"]
    assert ws.max_row == 2 and ws["B2"].value == "evt-before"
    assert ws["A2"].is_date and ws["A2"].value == dt.datetime(2026, 11, 27, 23, 59, 59, 999000)


@pytest.mark.slow  # runs the guard command several times
def test_show_speaks_chinese_and_leaves_out_what_is_missing(trail):
    d = str(trail / "trail")
    out = run("show", "--audit-dir", d, "evt-after").stdout
    assert "2026-11-28 00:00:00（北京时间）" in out and "拦截" in out and "UTC 2026-11-27T16:00:00.000Z" in out
    assert re.search(r"国家秘密\S*（state-secret\.", out)
    assert " ·  · " not in out and "( bytes)" not in out
    raw = json.loads(run("show", "--audit-dir", d, "--json", "evt-after").stdout)
    assert raw["event_id"] == "evt-after" and raw["ts"] == AFTER


# -- background requests counted apart -------------------------------------------------------
def test_allowed_counts_exclude_background_requests(alice):
    dash = alice.get("/?since=2026-11-28&until=2026-11-28").text
    assert re.search(r'id="allowed">3<', dash) and re.search(r'id="background">2<', dash)
    listed = _ids(alice.get("/events?since=2026-11-28&until=2026-11-28&action=allow").text)
    assert listed == {"evt-ask-0", "evt-ask-1", "evt-ask-2"}
    apart = _ids(alice.get("/events?since=2026-11-28&until=2026-11-28&action=background").text)
    assert apart == {"evt-icon-0", "evt-icon-1"}


def test_bad_day_in_a_filter_is_one_line(alice):
    r = alice.get("/events?since=2026-13-45")
    assert r.status_code == 400 and "2026-13-45" in r.text and "Traceback" not in r.text


# -- event details: what is missing is left out ----------------------------------------------
_DETAIL = _record(Engine.from_policy_file(), "evt-x", "机密★5年\n报告", AFTER)
OPTIONAL = ("user", "department", "client", "provider", "category", "activity", "method", "body_size", "node",
            "policy", "body_sha256", "files", "note")


@pytest.mark.slow  # 40 generated events, each page rendered
@settings(derandomize=True, max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drop=st.sets(st.sampled_from(OPTIONAL)), empty=st.sets(st.sampled_from(OPTIONAL)))
def test_event_detail_has_no_empty_separators(alice, drop, empty):
    rec = json.loads(json.dumps(_DETAIL))
    rec.update(node="n1", seq=9, hash="cd" * 32)
    for k in drop:
        rec.pop(k, None)
    for k in empty - drop:
        rec[k] = None if k in ("body_size", "policy", "files") else ""
    html = alice.console.env.get_template("event.html").render(session={"user": "alice", "role": "auditor",
                                                                       "csrf": "x"}, path="/events/x", rec=rec,
                                                              acks=[], chain_dir="")
    text = re.sub(r"<[^>]+>", " ", html)
    assert not re.search(r"·\s*·", text) and not re.search(r"·\s*$", text, re.M)
    assert "( bytes)" not in text and "（ 字节）" not in text and "None" not in text
    assert not re.search(r"<td>\s*·", html) and not re.search(r"·\s*</td>", html)
    assert "2026-11-28 00:00:00" in text and "拦截" in text
