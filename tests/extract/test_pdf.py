"""PDF page text: pdftotext (page ranges in parallel) and PDFium must find the same things,
and a pdftotext that fails or hangs must not let a file through uninspected."""
import io
import shutil
import time

import pytest

import guard.extract.pdf as pdfmod
from guard.policy import load_policy_text
from guard.policy.loader import DEFAULT_POLICY
from guard import Engine


def pages_pdf(pages: dict[int, list[str]], total: int) -> bytes:
    """A PDF of `total` pages; pages[n] gives the lines of page n (1-based), others get prose."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    for n in range(1, total + 1):
        c.setFont("STSong-Light", 11)
        y = 800
        for line in pages.get(n, [f"第{n}页 本周完成了装置检修计划，协调了备件采购。"]):
            c.drawString(60, y, line)
            y -= 18
        c.showPage()
    c.save()
    return buf.getvalue()


MARKED = {1: ["关于年度计划的说明"], 40: ["核心商密▲3年", "附件二 设备清单"], 97: ["机密★5年", "关于储量评估的请示"]}


def findings(engine, data):
    v = engine.scan_bytes(data, filename="r.pdf")
    return v.action, sorted((f.rule, f.location) for f in v.findings)


@pytest.mark.skipif(not pdfmod.PDFTOTEXT, reason="poppler-utils (pdftotext) not installed; .ci/run installs it")
def test_pdftotext_ranges_and_pdfium_agree(engine, monkeypatch):
    data = pages_pdf(MARKED, 120)  # over PARALLEL_FROM: read as page ranges in parallel
    via_poppler = findings(engine, data)
    monkeypatch.setattr(pdfmod, "PDFTOTEXT", None)
    via_pdfium = findings(engine, data)
    assert via_poppler == via_pdfium
    assert via_poppler[0] == "block"
    assert {loc for _, loc in via_poppler[1]} >= {"file:r.pdf/page40 line 1", "file:r.pdf/page97 line 1"}


def test_failing_pdftotext_falls_back_to_pdfium(engine, monkeypatch):
    monkeypatch.setattr(pdfmod, "PDFTOTEXT", shutil.which("false"))
    action, found = findings(engine, pages_pdf(MARKED, 100))
    assert action == "block" and ("state-secret.marking", "file:r.pdf/page97 line 1") in found


@pytest.mark.skipif(not pdfmod.PDFTOTEXT, reason="poppler-utils (pdftotext) not installed; .ci/run installs it")
def test_pdftotext_over_the_time_budget_blocks(monkeypatch):
    tight = Engine(load_policy_text(f"extends: [{DEFAULT_POLICY}]\nlimits:\n  max_seconds: 0.05\n", "tight"))
    monkeypatch.setattr(pdfmod, "PDFTOTEXT", str(_slow_pdftotext(monkeypatch)))
    started = time.monotonic()
    v = tight.scan_bytes(pages_pdf({}, 3), filename="r.pdf")
    assert v.action == "block" and v.rules == ("uninspectable.limit",)
    assert time.monotonic() - started < 3  # the stuck child (5 s) was cut off at the budget, not waited for


def _slow_pdftotext(monkeypatch):
    import tempfile
    from pathlib import Path
    script = Path(tempfile.mkdtemp()) / "pdftotext"
    script.write_text("#!/bin/sh\nsleep 5\n")
    script.chmod(0o755)
    return script
