"""Pictures of pages as staff send them (tests/extract/ocr_pages.py makes them): damaged,
turned, stamped, screenshots, scans; and pages about secrecy that must pass.

The full set is measured by bench/bench_ocr.py; here a handful of pages, one per cue the
reader depends on (orientation, top band, blocks, every scanned page)."""
from __future__ import annotations

import io
import random
import sys
import time

import pytest

import guard.extract.ocr as ocr
from guard import Engine
from guard.extract import Context
from guard.policy import load_policy_text
from guard.policy.loader import DEFAULT_POLICY
import ocr_pages as pages

RAPID = ocr.engine() in ("rapidocr", "rapidocr_onnxruntime")
needs_rapid = pytest.mark.skipif(not RAPID, reason="RapidOCR (pip: rapidocr onnxruntime) not installed")


@pytest.fixture(scope="module")
def patient():
    """The default policy with time for OCR on a CPU that nine people share."""
    return Engine(load_policy_text(f"extends: [{DEFAULT_POLICY}]\nlimits:\n  max_seconds: 120\n", "patient"))


# -- layout: fast, no OCR -------------------------------------------------------------------------
def box(text, x0, y0, x1, y1, score=0.95):
    return [text, score, x0, y0, x1, y1]


def test_rows_in_reading_order_and_far_boxes_apart():
    lines = [box("关于干部调整的通知", 300, 300, 900, 340), box("000120", 140, 110, 260, 140),
             box("秘　密", 1000, 112, 1100, 142), box("集团公司文件", 400, 200, 800, 260),
             box("噪点", 10, 10, 40, 30, score=0.2)]
    text, _ = ocr.compose(lines)
    assert text.split("\n") == ["000120", "秘　密", "集团公司文件", "关于干部调整的通知"]


def test_near_boxes_of_one_row_join():
    text, _ = ocr.compose([box("本年度计划", 100, 100, 300, 130), box("安排投资", 310, 101, 460, 131)])
    assert text == "本年度计划安排投资"


def test_screenshot_blocks_follow_bubbles():
    lines = [box("21:50", 40, 30, 140, 70), box("王处长", 480, 110, 600, 160),
             box("机密★10年", 200, 290, 420, 334), box("关于干部调整的报告", 200, 356, 600, 400),
             box("收到，我先看一下", 600, 560, 900, 604), box("好的", 200, 720, 300, 764)]
    _, composed = ocr.compose(lines)
    blocks = ocr.blocks(composed)
    assert "机密★10年\n关于干部调整的报告" in blocks
    assert len(blocks) == 5


def test_a_reading_that_looks_like_text_but_is_not_is_reported():
    ctx = Context(load_policy_text(f"extends: [{DEFAULT_POLICY}]\n", "p").limits)
    reading = ocr.from_worker({"lines": [box("口", 10, 10, 30, 30, 0.3)] * 9, "size": [1240, 1754],
                               "boxes": 9, "text_rows": 30})
    ocr.add_reading(ctx, reading, "file:a.png")
    assert [p.reason for p in ctx.out.problems] == ["image"]
    ctx = Context(ctx.limits)
    ocr.add_reading(ctx, ocr.from_worker({"lines": [], "size": [800, 600], "boxes": 0, "text_rows": 2}), "file:b.png")
    assert ctx.out.problems == []   # a photo without text is just a photo
    thumb = ocr.from_worker({"lines": [], "size": [250, 354], "boxes": 9, "text_rows": 30})
    assert not thumb.unreadable     # a document's thumbnail: too small for anyone to read


# -- the worker pool -------------------------------------------------------------------------------
STUCK = ("import struct,sys,time,json\nb=json.dumps({'ready':True}).encode()\n"
         "sys.stdout.buffer.write(struct.pack('<I',len(b))+b);sys.stdout.buffer.flush()\n"
         "sys.stdin.buffer.read(1);time.sleep(60)\n")


def test_a_stuck_worker_is_killed_at_the_budget_and_replaced(tmp_path):
    script = tmp_path / "stuck.py"
    script.write_text(STUCK)
    pool = ocr.Pool([sys.executable, str(script)], 1, 1 << 30)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        pool.run(b"x", {}, time.monotonic() + 0.5)
    assert time.monotonic() - started < 3
    assert pool._count == 0      # the stuck one is gone; the next request starts another
    with pytest.raises(TimeoutError):
        pool.run(b"x", {}, time.monotonic() + 0.5)
    pool.close()


def test_a_worker_that_cannot_load_says_so(tmp_path):
    script = tmp_path / "broken.py"
    script.write_text("import struct,sys,json\nb=json.dumps({'error':'cannot load rapidocr'}).encode()\n"
                      "sys.stdout.buffer.write(struct.pack('<I',len(b))+b)\n")
    pool = ocr.Pool([sys.executable, str(script)], 1, 1 << 30)
    with pytest.raises(ocr.ExtractionError, match="cannot load"):
        pool.run(b"x", {}, time.monotonic() + 5)


@needs_rapid
def test_workers_load_the_models_from_the_wheel_without_network(tmp_path):
    """The worker names the model files inside the installed package; in a network namespace
    with no network at all it still loads and reads."""
    import shutil
    import subprocess
    if not shutil.which("unshare") or subprocess.run(["unshare", "-n", "true"]).returncode:
        pytest.skip("unshare -n not permitted here")
    argv = ["unshare", "-n", sys.executable, str(ocr.WORKER), "--threads", "1", "--engine", ocr.engine()]
    pool = ocr.Pool(argv, 1, 0)
    img = io.BytesIO()
    from PIL import Image, ImageDraw, ImageFont
    im = Image.new("RGB", (600, 120), "white")
    ImageDraw.Draw(im).text((20, 30), "秘密★1年", font=ImageFont.truetype(pages.CJK_FONT, 48), fill="black")
    im.save(img, "PNG")
    answer = pool.run(img.getvalue(), {}, time.monotonic() + 120)
    pool.close()
    assert "PP-OCR" in pool.models or "ppocr" in pool.models.lower()
    assert any("秘密" in ln[0] for ln in answer["lines"]), answer


# -- pages ---------------------------------------------------------------------------------------
def _flagged(engine, page) -> bool:
    v = engine.scan_bytes(page.data, filename=page.name)
    return v.action == "block"


@pytest.mark.slow
@needs_rapid
@pytest.mark.parametrize("kind", ["exif_sideways", "upside_down", "sideways_pixels", "top_right", "red_stamp", "chat",
                                  "photocopy2"])
def test_damaged_marked_pages_block(patient, kind):
    page = pages.make_page(kind, 1001)
    v = patient.scan_bytes(page.data, filename=page.name)
    assert v.action == "block", [(f.rule, f.location) for f in v.findings]
    assert any("(OCR" in f.location for f in v.findings if f.action == "block")


@pytest.mark.slow
@needs_rapid
@pytest.mark.parametrize("kind", pages.NEGATIVE_KINDS)
def test_pages_about_secrecy_pass(patient, kind):
    page = pages.make_page(kind, 1001)
    v = patient.scan_bytes(page.data, filename=page.name)
    assert v.action == "allow", [(f.rule, f.location, f.excerpt) for f in v.findings]


@pytest.mark.slow
@needs_rapid
def test_every_scanned_page_is_read_even_behind_a_typed_page(patient):
    """Page 1 has a text layer (a cover letter); pages 2 and 3 are scans, the marking on page 3."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    rnd = random.Random(5)
    scans = [pages.render_page(rnd, None), pages.render_page(rnd, "机密★5年")]
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    c.setFont("STSong-Light", 12)
    c.drawString(60, 800, "转发：关于年度工作安排的通知，请各单位阅知。附件为扫描件。")
    c.showPage()
    for im in scans:
        c.drawImage(ImageReader(im), 0, 0, *A4)
        c.showPage()
    c.save()
    v = patient.scan_bytes(buf.getvalue(), filename="转发.pdf")
    assert v.action == "block", [(f.rule, f.location) for f in v.findings]
    assert any(f.location.startswith("file:转发.pdf/page3 (OCR") for f in v.findings)


@pytest.mark.slow
@needs_rapid
def test_a_page_too_blurred_to_read_warns(patient):
    from PIL import ImageFilter
    img = pages.render_page(random.Random(9), "机密★5年").filter(ImageFilter.GaussianBlur(9))
    v = patient.scan_bytes(pages.encode(img, "jpg"), filename="blurred.jpg")
    assert v.action in ("warn", "block") and "uninspectable.image" in v.rules, v.findings
