"""Markings that exist only as pixels: uploaded images and scanned PDFs are read by OCR."""
import struct
import time
import zlib
from pathlib import Path

import pytest

import guard.extract.ocr as ocr
from guard import Engine
from guard.policy import load_policy_text
from guard.policy.loader import DEFAULT_POLICY
from writers import OCR_MISSING, make_image, make_scanned_pdf, ocr_ready

needs_ocr = pytest.mark.skipif(not ocr_ready(), reason=OCR_MISSING)


@needs_ocr
@pytest.mark.parametrize("lines, fmt, rule", [
    (["机密★10年", "关于2027年勘探部署的请示"], "PNG", "state-secret"),
    (["核心商密▲3年", "顺北油气田开发方案"], "JPEG", "commercial-secret"),
    (["工作秘密", "", "关于干部调整的通知"], "PNG", "work-secret"),
])
def test_marking_in_an_image_blocks(engine, lines, fmt, rule):
    v = engine.scan_bytes(make_image(lines, fmt), filename="截图." + fmt.lower())
    assert v.action == "block", v.findings
    assert any(f.rule.startswith(rule) and "(OCR)" in f.location for f in v.findings)


@needs_ocr
def test_image_without_marking_is_allowed(engine):
    v = engine.scan_bytes(make_image(["本周完成了装置检修计划", "请帮我润色这段话"]), filename="a.png")
    assert v.action == "allow", v.findings


@needs_ocr
def test_scanned_pdf_pages_are_read(engine):
    data = make_scanned_pdf([["秘密★1年", "关于储量评估的请示"], ["附件：评估表"]])
    v = engine.scan_bytes(data, filename="scan.pdf")
    assert v.action == "block"
    assert any(f.location.startswith("file:scan.pdf/page1 (OCR)") for f in v.findings)


@needs_ocr
def test_pages_past_the_ocr_allowance_warn(engine):
    pages = [[f"第{i}页 会议纪要"] for i in range(1, 7)]  # 6 clean pages, 4 are read
    v = engine.scan_bytes(make_scanned_pdf(pages, size=(700, 120)), filename="long.pdf")
    assert v.action == "warn" and v.rules == ("uninspectable.image",)
    assert "pages 5-6" in v.findings[0].excerpt


def test_without_ocr_images_warn(engine, monkeypatch):
    monkeypatch.setattr(ocr, "available", lambda: False)
    png = (Path(__file__).parents[1] / "assets" / "golden" / "scan.png").read_bytes()
    v = engine.scan_bytes(png, filename="scan.png")
    assert v.action == "warn" and v.rules == ("uninspectable.image",)


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


@needs_ocr
def test_pixel_bomb_blocks_without_decoding(engine):
    started = time.monotonic()
    v = engine.scan_bytes(_png_header(60000, 60000), filename="bomb.png")
    assert v.action == "block" and v.rules == ("uninspectable.limit",)
    assert time.monotonic() - started < 2


@needs_ocr
def test_stuck_ocr_blocks_at_the_time_budget(monkeypatch, tmp_path):
    slow = tmp_path / "tesseract"
    slow.write_text("#!/bin/sh\nsleep 5\n")
    slow.chmod(0o755)
    from guard.extract import tesseract  # the fallback's own module reads these
    monkeypatch.setattr(tesseract, "TESSERACT", str(slow))
    monkeypatch.setattr(tesseract, "languages", lambda: "chi_sim")
    monkeypatch.setattr(ocr, "languages", lambda: "chi_sim")
    monkeypatch.setattr(ocr, "engine", lambda: "tesseract")   # the fallback path; the pool's own test is in test_ocr_damaged
    tight = Engine(load_policy_text(f"extends: [{DEFAULT_POLICY}]\nlimits:\n  max_seconds: 0.3\n", "tight"))
    started = time.monotonic()
    v = tight.scan_bytes(make_image(["会议纪要"]), filename="a.png")
    assert v.action == "block" and v.rules == ("uninspectable.limit",)
    assert time.monotonic() - started < 3


def docx_with_pictures(paragraphs, pictures) -> bytes:
    import io

    import docx
    from docx.shared import Inches
    d = docx.Document()
    for p in paragraphs:
        d.add_paragraph(p)
    for pic in pictures:
        d.add_picture(io.BytesIO(pic), width=Inches(5))
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


@needs_ocr
def test_screenshot_pasted_into_a_document_blocks(engine):
    shot = make_image(["机密★5年", "关于储量评估的请示"])
    v = engine.scan_bytes(docx_with_pictures(["请帮我把截图里的内容整理成表格。"], [shot]), filename="a.docx")
    assert v.action == "block"
    assert any(f.location.startswith("file:a.docx/word/media/image1.png (OCR)") for f in v.findings)


@needs_ocr
def test_screenshot_on_a_slide_blocks(engine):
    import io

    from pptx import Presentation
    from pptx.util import Inches
    prs = Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[5])
    slide.shapes.title.text = "项目进展"
    slide.shapes.add_picture(io.BytesIO(make_image(["核心商密▲3年", "开发方案"])), Inches(1), Inches(2))
    buf = io.BytesIO()
    prs.save(buf)
    assert engine.scan_bytes(buf.getvalue(), filename="s.pptx").action == "block"


@needs_ocr
def test_pictures_are_not_read_when_the_text_already_blocks(engine, monkeypatch):
    calls = []
    monkeypatch.setattr(ocr, "ocr", lambda ctx, data: calls.append(1) or "")
    data = docx_with_pictures(["机密★5年", "正文"], [make_image(["会议纪要"])])
    assert engine.scan_bytes(data, filename="a.docx").action == "block" and calls == []


@needs_ocr
def test_small_pictures_and_policy_off_are_not_read(engine, monkeypatch):
    icon = make_image(["机密★5年"], size=(150, 60), font_px=20)  # below the icon threshold
    assert engine.scan_bytes(docx_with_pictures(["正文"], [icon]), filename="a.docx").action == "allow"
    off = Engine(load_policy_text(f"extends: [{DEFAULT_POLICY}]\nlimits:\n  max_ocr_pictures: 0\n", "off"))
    shot = make_image(["机密★5年", "关于储量评估的请示"])
    assert off.scan_bytes(docx_with_pictures(["正文"], [shot]), filename="a.docx").action == "allow"


@needs_ocr
def test_pixel_bomb_inside_a_document_blocks(engine):
    import io
    import zipfile
    data = docx_with_pictures(["正文"], [make_image(["会议纪要"])])
    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, _png_header(60000, 60000) if info.filename.startswith("word/media/") else src.read(info))
    v = engine.scan_bytes(out.getvalue(), filename="b.docx")
    assert v.action == "block" and v.rules == ("uninspectable.limit",)
    assert v.findings[0].location.startswith("file:b.docx/word/media/")


@needs_ocr
def test_screenshot_in_an_odt_blocks(engine):
    """OpenDocument keeps pictures under Pictures/ (LibreOffice, WPS)."""
    import io
    import zipfile
    golden = (Path(__file__).parents[1] / "assets" / "golden" / "document.odt").read_bytes()

    def odt(picture: bytes | None) -> bytes:
        src, out = zipfile.ZipFile(io.BytesIO(golden)), io.BytesIO()
        with zipfile.ZipFile(out, "w") as dst:
            for info in src.infolist():
                data = src.read(info)
                if info.filename == "content.xml":  # the LibreOffice document, its marking taken out
                    data = data.replace("秘密★6个月".encode(), "会议纪要".encode())
                dst.writestr(info, data)
            if picture:
                dst.writestr("Pictures/10000001.png", picture)
        return out.getvalue()

    assert engine.scan_bytes(odt(None), filename="d.odt").action == "allow"
    v = engine.scan_bytes(odt(make_image(["绝密★长期", "年度部署"])), filename="d.odt")
    assert v.action == "block" and any("Pictures/10000001.png (OCR)" in f.location for f in v.findings)


@pytest.mark.slow
@pytest.mark.skipif(not ocr.languages(), reason=OCR_MISSING)
@pytest.mark.parametrize("kind", ["exif_sideways", "work_secret", "salt_pepper"])
def test_tesseract_fallback_with_its_remedies(monkeypatch, kind):
    """Without RapidOCR: EXIF orientation, median filter on noise, Sauvola, deskew."""
    import ocr_pages
    monkeypatch.setattr(ocr, "engine", lambda: "tesseract")
    patient = Engine(load_policy_text(f"extends: [{DEFAULT_POLICY}]\nlimits:\n  max_seconds: 120\n", "patient"))
    page = ocr_pages.make_page(kind, 7)
    v = patient.scan_bytes(page.data, filename=page.name)
    assert v.action == "block", [(f.rule, f.location) for f in v.findings]
