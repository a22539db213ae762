"""Each format: a marking hidden where that format hides things is found; clean files pass."""
import gzip
import io
import zipfile

import pytest

from writers import ASSETS, make_docx, make_pdf, make_pptx, make_xlsx

CLEAN = ["关于装置检修计划的说明", "本周完成了备件采购。"]


@pytest.mark.parametrize("make, where", [
    (lambda: make_docx(["机密★5年", *CLEAN]), "/document"),
    (lambda: make_docx(CLEAN, header="秘密★1年"), "/header"),
    (lambda: make_docx(CLEAN, footer="核心商密▲3年"), "/footer"),
    (lambda: make_docx(CLEAN, table=[["密级", "机密"], ["编号", "001"]]), "/document"),
    (lambda: make_docx(CLEAN, comment="绝密★长期"), "/comments"),
    (lambda: make_docx(CLEAN, props={"密级": "秘密", "保密期限": "1年"}), "/custom-properties"),
    (lambda: make_docx(CLEAN, header="工作秘密"), "/header"),
])
def test_docx(engine, make, where):
    v = engine.scan_bytes(make(), filename="a.docx")
    assert v.action == "block", v.findings
    assert any(where in f.location for f in v.findings)


def test_docx_clean(engine):
    assert engine.scan_bytes(make_docx(CLEAN, header="第 1 页"), filename="a.docx").action == "allow"


def test_xlsx_second_sheet_cell_location(engine):
    data = make_xlsx({"汇总": [["区块", "产量"], ["顺北", 12]], "附表": [["价格"], ["普通商密▲3年"]]})
    v = engine.scan_bytes(data, filename="表.xlsx")
    assert v.action == "block"
    assert v.findings[0].location == "file:表.xlsx/附表!A2"


def test_xlsx_print_header(engine):
    data = make_xlsx({"Sheet1": [["区块", "产量"]]}, header="机密★5年")
    v = engine.scan_bytes(data, filename="x.xlsx")
    assert v.action == "block" and "header" in v.findings[0].location


def test_xlsx_clean(engine):
    assert engine.scan_bytes(make_xlsx({"S": [["a", 1], ["b", 2]]})).action == "allow"


def test_pptx_notes(engine):
    data = make_pptx([("季度汇报", "产量稳定")], notes="绝密★长期")
    v = engine.scan_bytes(data, filename="p.pptx")
    assert v.action == "block" and "notesSlide" in v.findings[0].location


def test_pptx_clean(engine):
    assert engine.scan_bytes(make_pptx([("季度汇报", "产量稳定")])).action == "allow"


def test_pdf(engine):
    v = engine.scan_bytes(make_pdf(["秘密★1年", "关于储量评估的请示"]), filename="r.pdf")
    assert v.action == "block" and v.findings[0].location.startswith("file:r.pdf/page1")
    assert engine.scan_bytes(make_pdf(CLEAN)).action == "allow"


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-16", "utf-16-le", "utf-16-be", "utf-8-sig", "utf-8"])
def test_text_encodings(engine, encoding):
    text = "请帮我润色：\n机密★5年\n关于塔河油田三维地震勘探成果的报告，经综合解释共识别有利圈闭12个。\n"
    assert engine.scan_bytes(text.encode(encoding), filename="t.txt").action == "block"


def test_big5_traditional_text(engine):
    """Big5 bytes also decode as GB18030 (into rare characters); the plausible decode wins."""
    text = "請幫我潤色：\n機密★5年\n關於塔河油田三維地震勘探成果的報告，經綜合解釋共識別有利圈閉12個。\n"
    v = engine.scan_bytes(text.encode("big5"), filename="t.txt")
    assert v.action == "block" and v.findings[0].excerpt == "機密★5年"
    clean = "今天的會議討論了年度安全生產工作，請整理成三條要點。".encode("big5")
    assert engine.scan_bytes(clean, filename="c.txt").action == "allow"


def test_html_and_json(engine):
    html = "<html><head><title>x</title></head><body><p>前言</p><div>绝密★长期</div></body></html>"
    assert engine.scan_bytes(html.encode(), filename="p.html").action == "block"
    js = '{"a": {"b": ["\\u673a\\u5bc6\\u2605\\u0035\\u5e74"]}}'
    v = engine.scan_bytes(js.encode(), filename="d.json")
    assert v.action == "block" and "a.b[0]" in v.findings[0].location


def test_filename_is_content(engine):
    v = engine.scan_bytes("会议纪要正文".encode(), filename="【机密】会议纪要.md")
    assert v.action == "block" and v.findings[0].rule == "state-secret.filename"
    assert engine.scan_bytes("读后感".encode(), filename="秘密花园读后感.md").action == "allow"
    assert engine.scan_bytes(b"x", filename="【核心商密】报价.xlsx").action == "block"
    assert engine.scan_bytes(b"x", filename="工作秘密-会议纪要.docx").action == "block"
    assert engine.scan_bytes(b"x", filename="商业秘密保护培训.pptx").action == "allow"


def test_zip_recursive_and_member_names(engine):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("深层/报告.docx", make_docx(CLEAN, header="机密★5年"))
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as z:
        z.writestr("a/inner.zip", inner.getvalue())
        z.writestr("readme.txt", "说明")
    v = engine.scan_bytes(outer.getvalue(), filename="b.zip")
    assert v.action == "block"
    assert v.findings[0].location.startswith("file:b.zip/a/inner.zip/深层/报告.docx/header")


def test_gzip(engine):
    assert engine.scan_bytes(gzip.compress("绝密★长期\n正文".encode())).action == "block"


@pytest.mark.parametrize("name, rule", [
    ("legacy.doc", "state-secret.marking"),
    ("legacy.xls", "commercial-secret.marking"),
    ("document.odt", "state-secret.marking"),
    ("document.rtf", "state-secret.marking"),
    ("marked.ofd", "state-secret.marking"),
])
def test_golden_files(engine, name, rule):
    """Files written by LibreOffice 7.4 (doc, xls, odt, rtf) and an OFD after GB/T 33190."""
    v = engine.scan_bytes((ASSETS / "golden" / name).read_bytes(), filename=name)
    assert v.action == "block" and v.findings[0].rule == rule
    assert v.findings[0].location.endswith(("line 1", "!A1"))


def test_ofd_runs_joined_into_lines():
    from guard.extract import extract

    out = extract((ASSETS / "golden" / "marked.ofd").read_bytes(), "m.ofd")
    page = next(p for p in out.parts if "Page_0" in p.location)
    assert page.text.splitlines()[0] == "机密★5年"
    assert "2027年炼化板块投资计划（征求意见稿）" in page.text


def test_golden_scan_image_blocks_or_warns_never_allows(engine):
    """With OCR (tesseract-ocr-chi-sim) the marking is read; without, the image is flagged."""
    from guard.extract import ocr
    v = engine.scan_bytes((ASSETS / "golden" / "scan.png").read_bytes(), filename="scan.png")
    if ocr.available():
        assert v.action == "block" and v.findings[0].rule.startswith("state-secret")
    else:
        assert v.action == "warn" and v.findings[0].rule == "uninspectable.image"


def test_xls_print_header(engine):
    import xlwt

    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("汇总")
    ws.write(0, 0, "区块")
    ws._Worksheet__header_str = "&L秘密★1年&C第&P页"  # xlwt's py2-era setter mangles str
    buf = io.BytesIO()
    wb.save(buf)
    v = engine.scan_bytes(buf.getvalue(), filename="h.xls")
    assert v.action == "block" and v.findings[0].location == "file:h.xls/print-headers line 1"


@pytest.mark.parametrize("group, kind", [("header", "header"), ("footer", "footer")])
def test_rtf_header_footer(engine, group, kind):
    rtf = (r"{\rtf1\ansi\ansicpg936{\%s \'bb\'fa\'c3\'dc\u9733?5\'c4\'ea\par}\pard \'d5\'fd\'ce\'c4\par}" % group).encode()
    v = engine.scan_bytes(rtf, filename="a.rtf")
    assert v.action == "block" and v.findings[0].location.startswith(f"file:a.rtf/{group}")


def test_rtf_info_title(engine):
    rtf = rb"{\rtf1\ansi\ansicpg936{\info{\title \'bb\'fa\'c3\'dc}}\pard \'d5\'fd\'ce\'c4\par}"
    assert engine.scan_bytes(rtf, filename="a.rtf").action == "block"


def test_mail_with_base64_body_and_attachment(engine):
    from email.message import EmailMessage

    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "a@example.com", "b@example.com", "会议纪要"
    m.set_content("请查收附件。\n机密★5年\n关于塔河油田的报告", charset="utf-8", cte="base64")
    m.add_attachment(make_docx(["正文"], header="绝密★长期"), maintype="application",
                     subtype="vnd.openxmlformats-officedocument.wordprocessingml.document", filename="报告.docx")
    v = engine.scan_bytes(bytes(m), filename="mail.eml")
    assert v.action == "block"
    locations = {f.location for f in v.findings}
    assert any("/part1" in loc for loc in locations) and any("报告.docx/header" in loc for loc in locations)


def _tar(members: dict, gz: bool = False) -> bytes:
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_tar_archives(engine):
    marked = _tar({"docs/a.docx": make_docx(["正文"], footer="核心商密▲3年"), "docs/b.txt": "普通".encode()}, gz=True)
    v = engine.scan_bytes(marked, filename="bundle.tar.gz")
    assert v.action == "block" and "docs/a.docx/footer" in v.findings[0].location
    assert engine.scan_bytes(_tar({"b.txt": "普通内容".encode()}), filename="clean.tar").action == "allow"
