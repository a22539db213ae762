"""The monthly report as printed (issue 25): on A4 a heading never ends a page without what it
heads, and the columns are wide enough for their content (a time stays on one line, an event id
is one word, nothing runs past the margin). Checked on the real PDF Chromium prints: pages
rendered to PNG (pdftoppm) and words placed by pdftotext -bbox. The trail lengths were chosen
so that, without the print rules, a heading lands at a page's foot (20: 六、完整性声明 alone at the
bottom of page 2; 24: 五、警告确认与理由 likewise)."""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from guard.audit import record as audit_record
from guard.audit.writer import AuditWriter, new_event_id
from guard.console.report import collect, render_html, render_pdf
from guard.scanner import Engine

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    not (shutil.which("pdftotext") and shutil.which("pdftoppm") and (shutil.which("chromium")
                                                                     or shutil.which("chromium-browser"))),
    reason="needs chromium and poppler-utils")]

A4_PT = (595, 842)
MARGIN_PT = 14 * 72 / 25.4  # the page's side margin (@page margin: 16mm 14mm)


def _trail(d: Path, blocked: int, acks: int = 3) -> None:
    engine = Engine.from_policy_file()
    w = AuditWriter(d, node="n1")
    vb, vw = engine.scan_text("机密★5年\n报告"), engine.scan_text("内部资料　注意保存\n安排")
    for i in range(blocked):
        info = audit_record.RequestInfo("chat.deepseek.com", "POST", "/api/v0/chat/completion", "10.0.0.9", "zhangsan",
                                        "勘探院", provider="deepseek-web", category="internet")
        r = audit_record.build(new_event_id(), info, vb, engine.policy)   # real ids: evt-YYYYMMDDTHHMMSS-…
        r["ts"] = f"2026-11-{1 + i % 28:02d}T0{i % 10}:1{i % 6}:00.000Z"
        w.write(r, False)
    for i in range(acks):
        info = audit_record.RequestInfo("api.openai.com", "POST", "/v1/chat/completions", "10.0.0.9", "lisi", "钻井部",
                                        provider="openai", category="internet")
        r = audit_record.build(new_event_id(), info, vw, engine.policy)
        r["ts"] = f"2026-11-{1 + i:02d}T03:00:00.000Z"
        w.write(r, False)
        a = audit_record.build_ack(new_event_id(), r["event_id"], "内容已公开发布", "10.0.0.9", "lisi", engine.policy)
        a["ts"] = r["ts"]
        w.write(a, False)
    w.close()


def _pages(pdf: Path) -> list[tuple[float, float, list[tuple[float, float, float, float, str]]]]:
    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pages = []
    for p in out.split("<page ")[1:]:
        w, h = (float(x) for x in re.search(r'width="([\d.]+)" height="([\d.]+)"', p).groups())
        words = [(float(a), float(b), float(c), float(d), t) for a, b, c, d, t in re.findall(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', p)]
        pages.append((w, h, words))
    return pages


@pytest.fixture(scope="module", params=[20, 24])
def printed(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"report-{request.param}")
    _trail(tmp / "trail", request.param)
    data = collect([str(tmp / "trail")], "2026-11-01", "2026-11-30")
    pdf = tmp / "report.pdf"
    render_pdf(render_html(data), pdf)
    return tmp, pdf, data


def test_pages_are_a4_and_render(printed):
    tmp, pdf, _ = printed
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp / "page")], check=True)
    pngs = sorted(tmp.glob("page-*.png"))
    assert len(pngs) >= 2
    for png in pngs:
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = struct.unpack(">II", data[16:24])
        assert abs(height / width - A4_PT[1] / A4_PT[0]) < 0.01           # portrait A4
    for w, h, _ in _pages(pdf):
        assert (round(w), round(h)) == A4_PT


def test_a_heading_is_never_the_last_thing_on_its_page(printed):
    _, pdf, _ = printed
    seen = []
    for n, (_, _, words) in enumerate(_pages(pdf), start=1):
        for x0, y0, x1, y1, text in words:
            if re.match(r"^[一二三四五六]、", text):
                seen.append(text)
                lines_below = {round(w[1]) for w in words if w[1] > y1 + 1}
                # its table's header row and at least one row of content on the same page
                assert len(lines_below) >= 2, f"{text} ends page {n}"
    assert len(seen) == 6


def test_columns_are_wide_enough_for_their_content(printed):
    _, pdf, data = printed
    ids = {r["event_id"] for r in data["blocked"]} | {r["acknowledges"] for r in data["acks"]}
    found_ids, rows = set(), 0
    for w, _, words in _pages(pdf):
        for x0, y0, x1, y1, text in words:
            assert x1 <= w - MARGIN_PT + 2, f"{text!r} runs past the right margin"
            if text in ids:
                found_ids.add(text)                                        # one word: never broken
        for i, (x0, y0, x1, y1, text) in enumerate(words):
            if re.fullmatch(r"2026-11-\d\d", text) and i + 1 < len(words) and re.fullmatch(r"\d\d:\d\d", words[i + 1][4]):
                clock = words[i + 1]
                assert abs(clock[1] - y0) < 1, f"{text} {clock[4]}: the time wraps"
                # the next cell (the event id) starts right of the time, not under it
                nxt = [v for v in words if abs(v[1] - y0) < 2 and v[4].startswith("evt-")]
                if nxt:
                    rows += 1
                    assert clock[2] < nxt[0][0] - 2, f"{text} {clock[4]} runs into {nxt[0][4]}"
    assert found_ids == ids
    assert rows == len(data["blocked"]) + len(data["acks"])
    # Rule names with their ids: the id whole, beside the name.
    text = " ".join(v[4] for _, _, words in _pages(pdf) for v in words)
    assert "国家秘密标志" in text and "state-secret.marking" in text and "(UTC)" not in text
