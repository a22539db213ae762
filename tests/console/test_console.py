"""The auditors' console in a real headless Chromium (Playwright driving Debian's chromium), its
refusals, and the monthly report as PDF pages."""
from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from guard.audit import record as audit_record
from guard.audit.writer import AuditWriter
from guard.scanner import Engine

ROOT = Path(__file__).resolve().parents[2]
GUARD = [sys.executable, "-m", "guard.cli.main"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SECRET_TAIL = "塔中区块的真实储量数据为每年三百万吨"   # prompt content: never in any page or export
PASSWORDS = {"alice": "alice-audits-2026", "bob": "bob-officer-2026", "carol": "carol-officer-2026"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_trail(audit: Path, node: str, days: int = 30, per_day: int = 12) -> None:
    """A month of events made as the proxy makes them: scanned text, audit records, a chain."""
    engine = Engine.from_policy_file()
    rnd = random.Random(node)
    w = AuditWriter(audit, node=node)
    texts = {"block": f"机密★5年\n{SECRET_TAIL}", "warn": f"内部资料　注意保存\n{SECRET_TAIL}", "allow": "你好，帮我写首诗"}
    n = 0
    for d in range(days):
        for i in range(per_day):
            kind = rnd.choice(["allow"] * 6 + ["block", "warn"])
            v = engine.scan_text(texts[kind])
            n += 1
            info = audit_record.RequestInfo("api.openai.com", "POST", "/v1/chat/completions", f"10.0.0.{i % 7}",
                                            rnd.choice(["zhangsan", "lisi", "wangwu"]), rnd.choice(["勘探院", "钻井部"]),
                                            provider=rnd.choice(["openai", "deepseek-web", "kimi-web"]),
                                            category="internet", body_sha256="0" * 64, body_size=100)
            rec = audit_record.build(f"evt-{node}-{n}", info, v, engine.policy)
            rec["ts"] = f"2026-11-{d + 1:02d}T{8 + i % 10:02d}:{i * 4 % 60:02d}:00.000Z"
            w.write(rec, False)
            if v.action == "warn" and i % 2:
                ack = audit_record.build_ack(f"ack-{node}-{n}", rec["event_id"], "内容已公开发布", info.client,
                                             info.user, engine.policy)
                ack["ts"] = rec["ts"]
                w.write(ack, False)
    w.close()


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("console")
    make_trail(tmp / "node-a", "node-a")
    make_trail(tmp / "node-b", "node-b", days=30, per_day=6)
    users = tmp / "users.json"
    for name, role in (("alice", "auditor"), ("bob", "officer"), ("carol", "officer")):
        subprocess.run([*GUARD, "console", "add-user", "--users", str(users), name, "--role", role],
                       input=PASSWORDS[name] + "\n", text=True, check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen([*GUARD, "console", "--audit-dir", str(tmp / "node-a"), "--audit-dir", str(tmp / "node-b"),
                             "--users", str(users), "--listen", f"127.0.0.1:{port}", "--index",
                             str(tmp / "index.sqlite")], stderr=subprocess.PIPE, text=True)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield tmp, f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def login(base: str, name: str, password: str) -> httpx.Client:
    import re
    c = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
    page = c.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    r = c.post("/login", data={"csrf": csrf, "user": name, "password": password},
               headers={"origin": base, "sec-fetch-site": "same-origin"})
    c.last = r
    return c


@pytest.mark.slow  # a real headless Chromium
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_console_in_a_headless_browser(console, tmp_path):
    from playwright.sync_api import sync_playwright

    tmp, base = console
    docs = os.environ.get("GUARD_UPDATE_DOCS")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        page.goto(f"{base}/events")
        assert page.url.endswith("/login")                       # not logged in: the login page
        page.fill("input[name=user]", "alice")
        page.fill("input[name=password]", PASSWORDS["alice"])
        with page.expect_navigation():
            page.click("button[type=submit]")
        page.goto(f"{base}/?since=2026-11-01&until=2026-11-30")
        assert page.locator("svg.chart rect.bar").count() >= 30   # the chart rendered, a bar per day at least
        assert "state-secret.marking" in page.inner_text("body")
        if docs:
            page.screenshot(path=str(ROOT / "docs" / "console-dashboard.png"), full_page=True)
        page.goto(f"{base}/events")
        page.select_option("select[name=action]", "block")
        page.fill("input[name=node]", "node-b")
        with page.expect_navigation():
            page.click("form.filters button")
        assert "action=block" in page.url and "node=node-b" in page.url   # shareable: filters in the URL
        actions = page.locator("#events tr td:nth-child(2)").all_inner_texts()
        nodes = page.locator("#events tr td:nth-child(9)").all_inner_texts()
        assert actions and set(actions) == {"拦截"} and set(nodes) == {"node-b"}   # Chinese action words
        if docs:
            page.screenshot(path=str(ROOT / "docs" / "console-events.png"))
        with page.expect_navigation():
            page.click("#events a >> nth=0")
        body = page.inner_text("body")
        assert "state-secret.marking" in body and "国家秘密" in body and "node-b" in body and "序号" in body
        if docs:
            page.screenshot(path=str(ROOT / "docs" / "console-event.png"), full_page=True)
        page.go_back()
        with page.expect_download() as dl:
            page.click("text=导出 CSV")
        csv_bytes = Path(dl.value.path()).read_bytes()
        assert csv_bytes.startswith("\ufeff".encode()) and b"node-b" in csv_bytes
        page.goto(f"{base}/report")
        page.fill("input[name=from]", "2026-11-01")
        page.fill("input[name=to]", "2026-11-30")
        page.select_option("select[name=format]", "pdf")
        with page.expect_download(timeout=90_000) as dl:
            page.click("#report-form button")
        pdf = Path(dl.value.path()).read_bytes()
        assert pdf.startswith(b"%PDF")
        if docs:
            (tmp_path / "r.pdf").write_bytes(pdf)
            subprocess.run(["pdftoppm", "-r", "80", "-png", "-f", "1", "-l", "1", str(tmp_path / "r.pdf"),
                            str(ROOT / "docs" / "report-page")], check=True)
        page.goto(f"{base}/integrity")
        assert page.locator("#chains .ok").count() == 2
        # Someone edits a record on node-b: the integrity page says so.
        f = next((tmp / "node-b").glob("audit-*.jsonl"))
        lines = f.read_text(encoding="utf-8").splitlines()
        assert "10.0.0." in lines[5]
        lines[5] = lines[5].replace("10.0.0.", "10.9.9.", 1)    # the client address of one record
        f.write_text("\n".join(lines) + "\n", encoding="utf-8")
        page.goto(f"{base}/integrity")
        assert page.locator("#chains .bad").count() == 1 and "node-b" in page.locator("#chains").inner_text()
        browser.close()
    access = next(tmp.glob("*-access.jsonl")).read_text(encoding="utf-8")
    assert '"user": "alice"' in access and '"event": "evt-node-b-' in access   # who looked at what


def test_refusals(console):
    _, base = console
    c = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
    assert c.get("/events").status_code == 303                                 # no session
    c.cookies.set("guard_console", "forged-session-id")
    assert c.get("/events").status_code == 303                                 # forged session
    for path in ("/../../etc/passwd", "/static/app.js", "/admin", "/events/x/../../../etc"):
        assert c.get(path).status_code in (303, 404)
    bad = login(base, "alice", "wrong-password-x")
    assert bad.last.status_code == 401 and "guard_console" not in bad.last.headers.get("set-cookie", "")
    ok = login(base, "alice", PASSWORDS["alice"])
    assert ok.last.status_code == 303
    for path in ("/../../etc/passwd", "/nothing-here"):
        assert ok.get(path).status_code == 404
    assert ok.get("/events/no-such-event").status_code == 404
    # A POST from another site (a form elsewhere that targets the console) is refused.
    r = ok.post("/logout", data={"csrf": "x"}, headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site"})
    assert r.status_code == 403 and ok.get("/events").status_code == 200      # still logged in
    r = httpx.post(f"{base}/login", data={"user": "alice", "password": PASSWORDS["alice"], "csrf": "x"},
                   headers={"origin": "https://evil.example", "sec-fetch-site": "cross-site"})
    assert r.status_code == 403 and "guard_console" not in r.headers.get("set-cookie", "")
    for _ in range(5):                                                         # then the name is locked
        login(base, "carol", "not-carols-password")
    locked = login(base, "carol", PASSWORDS["carol"])
    assert locked.last.status_code == 429


def test_roles_and_no_content(console):
    tmp, base = console
    alice = login(base, "alice", PASSWORDS["alice"])
    ack_page = alice.get("/events/" + next(
        json.loads(line)["acknowledges"] for f in sorted((tmp / "node-a").glob("audit-*.jsonl"))
        for line in f.read_text().splitlines() if '"acknowledges"' in line))
    assert "内容已公开发布" in ack_page.text                                        # an auditor sees the reason
    pages = [alice.get(p).text for p in ("/", "/events", "/integrity", "/discover", "/report")]
    pages += [alice.get("/export.csv").content.decode("utf-8-sig"), ack_page.text]
    xlsx = alice.get("/export.xlsx").content
    report = alice.get("/report?from=2026-11-01&to=2026-11-30&format=html").text
    for text in (*pages, report):
        assert SECRET_TAIL not in text and SECRET_TAIL[:6] not in text
    assert xlsx[:2] == b"PK" and SECRET_TAIL.encode() not in xlsx
    assert "内容已公开发布" in report
    # 三员分立: the officer sees everything but other staff's acknowledgement reasons.
    bob = login(base, "bob", PASSWORDS["bob"])
    officer_page = bob.get(ack_page.url.path)
    assert officer_page.status_code == 200 and "内容已公开发布" not in officer_page.text and "已隐藏" in officer_page.text
    assert "内容已公开发布" not in bob.get("/report?from=2026-11-01&to=2026-11-30&format=html").text


@pytest.mark.slow  # prints the report in headless Chromium
def test_report_pdf_pages_name_the_head_hash(console, tmp_path):
    if not shutil.which("pdftoppm") or CHROMIUM is None:
        pytest.skip("needs poppler-utils (pdftoppm) and chromium")
    tmp, _ = console
    trail = tmp_path / "trail"
    make_trail(trail, "node-r", days=30, per_day=8)
    out = tmp_path / "report.pdf"
    p = subprocess.run([*GUARD, "audit", "report", "--audit-dir", str(trail), "--from", "2026-11-01", "--to",
                        "2026-11-30", "--format", "pdf", "--out", str(out)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    subprocess.run(["pdftoppm", "-r", "50", "-png", str(out), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 2 and all(x.read_bytes()[:4] == b"\x89PNG" for x in pages)
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    head = json.loads(sorted(trail.glob("audit-*.jsonl"))[-1].read_text().splitlines()[-1])["hash"]
    assert f"head {head}" in text and "完整" in text and SECRET_TAIL not in text
    xlsx = tmp_path / "r.xlsx"
    subprocess.run([*GUARD, "audit", "report", "--audit-dir", str(trail), "--from", "2026-11-01", "--to", "2026-11-30",
                    "--format", "xlsx", "--out", str(xlsx)], check=True, capture_output=True)
    from openpyxl import load_workbook
    wb = load_workbook(xlsx)
    assert "拦截 blocked" in wb.sheetnames and wb["完整性 integrity"]["D2"].value == head
