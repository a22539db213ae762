"""Carriers: every text-bearing part of every format, each a builder that plants a marking
where a receiver (Word, Excel, a mail client, a browser, a PDF viewer, a model reading
pasted text) shows it. Files come from real writers (python-docx, openpyxl, python-pptx,
reportlab, pikepdf, Pillow, the email package); where a writer has no API for a part
(text boxes, numbering labels, data validation), its XML is patched in as Office writes it.

Each builder takes the marking text and returns (bytes, filename, where): `where` is a
piece of the location the finding must carry, so a marking in a sheet name is reported
as one."""
from __future__ import annotations

import io
import re
import zipfile
from email.message import EmailMessage

from writers import make_docx as _make_docx
from writers import make_pdf, make_pptx, make_xlsx

FILLER = ["第三季度工作安排如下。", "一、完成设备检修。", "二、组织安全培训。", "三、整理年度台账。"]


def patch_zip(data: bytes, replace: dict[str, bytes] | None = None, edit=None) -> bytes:
    """The container with members replaced or added; `edit(name, bytes) -> bytes` rewrites members."""
    replace = dict(replace or {})
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = replace.pop(info.filename, None)
            if body is None:
                body = src.read(info)
                if edit:
                    body = edit(info.filename, body)
            dst.writestr(info, body)
        for name, body in replace.items():
            dst.writestr(name, body)
    return out.getvalue()


def make_docx(*args, **kwargs) -> bytes:
    """python-docx's file without its template's thumbnail: a picture with no text that OCR
    would spend a second on in every benign control (pictures are tested in test_ocr.py)."""
    data = _make_docx(*args, **kwargs)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "docProps/thumbnail.jpeg":
                continue
            if info.filename in ("_rels/.rels", "[Content_Types].xml"):
                body = re.sub(rb"<(Relationship|Override)[^>]*thumbnail[^>]*/>", b"", body)
            dst.writestr(info, body)
    return out.getvalue()


def esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


# --- text formats -----------------------------------------------------------------------

def mail_subject(mark):
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "张三 <zhang@example.cn>", "li@example.cn", f"【{mark}】关于设备检修的通知"
    m.set_content("\n".join(FILLER))
    return m.as_bytes(), "notice.eml", "headers"


def mail_msip_label(mark):
    """Outlook writes the message's sensitivity label into an msip_labels header."""
    guid = "f42aa342-8706-4288-bd11-ebb85995028c"
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "zhang@example.cn", "li@example.cn", "设备检修"
    m["msip_labels"] = (f"MSIP_Label_{guid}_Enabled=True; MSIP_Label_{guid}_SiteId=72f988bf-86f1-41af-91ab-2d7cd011db47;"
                        f" MSIP_Label_{guid}_Name={mark}; MSIP_Label_{guid}_ContentBits=0")
    m.set_content("\n".join(FILLER))
    return m.as_bytes(), "notice.eml", "headers"


def mail_banner(mark):
    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "zhang@example.cn", "li@example.cn", "设备检修"
    m.set_content("各位：\n\n" + "\n".join(FILLER) + f"\n\n==== {mark} ====\n")
    return m.as_bytes(), "notice.eml", "part"


def mail_attachment(mark):
    """Few headers, a base64 attachment: read as a mail, the attachment as a file."""
    body = ("\n".join([mark, *FILLER])).encode()
    import base64
    b64 = base64.encodebytes(body).decode()
    raw = ("Content-Type: multipart/mixed; boundary=XYZ\n\n--XYZ\nContent-Type: text/plain; charset=utf-8\n\n见附件。\n"
           "--XYZ\nContent-Type: text/plain; charset=utf-8\nContent-Disposition: attachment; filename=\"a.txt\"\n"
           f"Content-Transfer-Encoding: base64\n\n{b64}--XYZ--\n")
    return raw.encode(), "forward.eml", "a.txt"


def json_field(mark):
    return ('{"classification": "%s", "title": "设备检修方案", "items": ["检修", "培训"]}' % mark).encode(), "doc.json", "classification"


def json_key(mark):
    return ('{"%s": {"title": "设备检修方案", "owner": "张三"}}' % mark).encode(), "doc.json", "keys"


def yaml_field(mark):
    return f"title: 设备检修方案\nclassification: {mark}\nowner: 张三\nsteps:\n  - 检修\n  - 培训\n".encode(), "doc.yaml", "line 2"


def toml_field(mark):
    return f'[document]\ntitle = "设备检修方案"\nclassification = "{mark}"\nowner = "张三"\n'.encode(), "doc.toml", "line 3"


def xml_attribute(mark):
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<report classification="{esc(mark)}" owner="张三">\n'
            "<title>设备检修方案</title>\n" + "".join(f"<p>{t}</p>\n" for t in FILLER) + "</report>\n").encode(), "doc.xml", "attributes"


def xml_comment(mark):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<report>\n<title>设备检修方案</title>\n'
            + "".join(f"<p>{t}</p>\n" for t in FILLER) + f"<!-- {mark} -->\n</report>\n").encode(), "doc.xml", "comment"


def csv_cell(mark):
    return (f"项目,负责人,金额\n检修,张三,100\n培训,李四,200\n{mark},,\n").encode(), "budget.csv", ""


def markdown_table(mark):
    return (f"# 设备检修方案\n\n| 项目 | 内容 |\n|---|---|\n| 密级 | {mark} |\n| 负责人 | 张三 |\n").encode(), "plan.md", ""


def html_table(mark):
    return ("<!DOCTYPE html><html><body><h1>设备检修方案</h1><table><tr><td>负责人</td><td>张三</td></tr>"
            f"<tr><td>密级</td><td>{esc(mark)}</td></tr></table><p>{FILLER[0]}</p></body></html>").encode(), "plan.html", ""


def html_comment(mark):
    return ("<!DOCTYPE html><html><head><title>设备检修方案</title></head><body>"
            + "".join(f"<p>{t}</p>" for t in FILLER) + f"<!-- {esc(mark)} --></body></html>").encode(), "plan.html", "comment"


def front_matter(mark):
    return (f"---\ntitle: 设备检修方案\nclassification: {mark}\n---\n\n# 设备检修方案\n\n" + "\n".join(FILLER)).encode(), "plan.md", "front matter"


def source_comment(mark):
    code = "\n".join(f"    x{i} = step(x{i - 1})  # 第{i}步" for i in range(1, 30))
    return (f"import math\n\n\ndef run(x0):\n{code}\n    # {mark}\n    return x29\n").encode(), "run.py", "comment"


def markdown_code_comment(mark):
    """A comment inside a fenced code block of a Markdown file (or a prompt)."""
    code = "\n".join(f"    x{i} = step(x{i - 1})" for i in range(1, 30))
    return (f"# 调参说明\n\n下面是整定脚本：\n\n```python\ndef run(x0):\n{code}\n    # {mark}\n    return x29\n```\n\n"
            "以上。\n").encode(), "tuning.md", "comment"


def source_block_comment(mark):
    return (f"/*\n * {mark}\n * Copyright (c) 2025 华禹重工\n */\npackage com.example;\n\npublic class A {{\n"
            "    int kp = 1; // 整定参数\n}\n").encode(), "A.java", ""


# --- Office ------------------------------------------------------------------------------

def docx_core(mark):
    return make_docx(FILLER, core_title=mark), "plan.docx", "core"


def docx_custom(mark):
    return make_docx(FILLER, props={"密级": mark}), "plan.docx", "custom"


def docx_msip(mark):
    guid = "f42aa342-8706-4288-bd11-ebb85995028c"
    return make_docx(FILLER, props={f"MSIP_Label_{guid}_Enabled": "true", f"MSIP_Label_{guid}_Name": mark,
                                    f"MSIP_Label_{guid}_SiteId": "72f988bf-86f1-41af-91ab-2d7cd011db47"}), "plan.docx", "custom"


def docx_header(mark):
    return make_docx(FILLER, header=mark), "plan.docx", "header"


def docx_footer(mark):
    return make_docx(FILLER, footer=mark), "plan.docx", "footer"


def docx_table(mark):
    return make_docx(FILLER, table=[["负责人", "张三"], ["密级", mark]]), "plan.docx", "document"


_TEXTBOX = ('<w:p><w:r><mc:AlternateContent xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006">'
            '<mc:Choice Requires="wps"><w:drawing><wp:anchor xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/'
            'wordprocessingDrawing" distT="0" distB="0" distL="0" distR="0" simplePos="0" relativeHeight="1" behindDoc="0"'
            ' locked="0" layoutInCell="1" allowOverlap="1"><wp:simplePos x="0" y="0"/><wp:positionH relativeFrom="page">'
            '<wp:posOffset>500000</wp:posOffset></wp:positionH><wp:positionV relativeFrom="page"><wp:posOffset>300000'
            '</wp:posOffset></wp:positionV><wp:extent cx="1500000" cy="400000"/><wp:wrapNone/><wp:docPr id="9" name="文本框 9"/>'
            '<a:graphic xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><a:graphicData uri="http://schemas.'
            'microsoft.com/office/word/2010/wordprocessingShape"><wps:wsp xmlns:wps="http://schemas.microsoft.com/office/'
            'word/2010/wordprocessingShape"><wps:txbx><w:txbxContent><w:p><w:r><w:t>{}</w:t></w:r></w:p></w:txbxContent>'
            '</wps:txbx><wps:bodyPr/></wps:wsp></a:graphicData></a:graphic></wp:anchor></w:drawing></mc:Choice>'
            '</mc:AlternateContent></w:r></w:p>')


def _body_insert(data: bytes, xml: str, at_start: bool = True) -> bytes:
    def edit(name, body):
        if name != "word/document.xml":
            return body
        s = body.decode()
        if at_start:
            s = re.sub(r"(<w:body>)", lambda m: m.group(1) + xml, s, count=1)
        else:
            s = s.replace("<w:sectPr", xml + "<w:sectPr", 1)
        return s.encode()
    return patch_zip(data, edit=edit)


def docx_textbox(mark):
    return _body_insert(make_docx(FILLER), _TEXTBOX.format(esc(mark))), "plan.docx", "document"


_NUMBERING = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:numbering xmlns:w="http://schemas.openxmlformats.'
              'org/wordprocessingml/2006/main"><w:abstractNum w:abstractNumId="0"><w:lvl w:ilvl="0"><w:start w:val="1"/>'
              '<w:numFmt w:val="decimal"/><w:lvlText w:val="{}"/><w:lvlJc w:val="left"/></w:lvl></w:abstractNum>'
              '<w:num w:numId="1"><w:abstractNumId w:val="0"/></w:num></w:numbering>')


def docx_numbering(mark):
    """A list label (w:lvlText) that Word prints before the first paragraph."""
    data = make_docx(FILLER)
    para = '<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr><w:r><w:t>设备检修方案</w:t></w:r></w:p>'
    data = _body_insert(data, para)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        has = "word/numbering.xml" in z.namelist()
        ctypes = z.read("[Content_Types].xml").decode()
        rels = z.read("word/_rels/document.xml.rels").decode()
    extra = {"word/numbering.xml": _NUMBERING.format(esc(mark)).encode()}
    if not has:
        extra["[Content_Types].xml"] = ctypes.replace("</Types>", '<Override PartName="/word/numbering.xml" ContentType='
                                                      '"application/vnd.openxmlformats-officedocument.wordprocessingml.'
                                                      'numbering+xml"/></Types>').encode()
        extra["word/_rels/document.xml.rels"] = rels.replace("</Relationships>", '<Relationship Id="rIdNum" Type="http://'
                                                             'schemas.openxmlformats.org/officeDocument/2006/relationships/'
                                                             'numbering" Target="numbering.xml"/></Relationships>').encode()
    return patch_zip(data, extra), "plan.docx", "document"


def docx_renamed_header(mark):
    """A header part whose name does not say so: Word finds it by relationship and content type."""
    data = make_docx(FILLER, header=mark)
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        header = next(n for n in names if re.match(r"word/header\d*\.xml$", n))
        body = z.read(header)
        ctypes = z.read("[Content_Types].xml").decode().replace(f'"/{header}"', '"/word/styles2.xml"')
        rels = z.read("word/_rels/document.xml.rels").decode().replace(f'"{header[5:]}"', '"styles2.xml"')

    def edit(name, b):
        return b
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename == header:
                continue
            b = {"[Content_Types].xml": ctypes.encode(), "word/_rels/document.xml.rels": rels.encode()}.get(
                info.filename, src.read(info))
            dst.writestr(info, b)
        dst.writestr("word/styles2.xml", body)
    return out.getvalue(), "plan.docx", "styles2"


def xlsx_sheet_name(mark):
    return make_xlsx({mark[:31]: [["项目", "金额"], ["检修", 100]], "Sheet2": [["培训", 200]]}), "budget.xlsx", "sheet name"


def xls_sheet_name(mark):
    """A legacy .xls (BIFF8) written by xlwt."""
    import xlwt
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet(mark[:31])
    ws.write(0, 0, "项目")
    ws.write(0, 1, "金额")
    wb.add_sheet("Sheet2").write(0, 0, "培训")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue(), "budget.xls", "sheet names"


def xlsxwriter_formula(mark):
    """xlsxwriter writes a cached value of 0 and asks Excel to recalculate on open."""
    import xlsxwriter
    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf)
    ws = wb.add_worksheet("预算")
    ws.write_row(0, 0, ["项目", "金额"])
    half = len(mark) // 2
    ws.write_formula("C1", f'="{mark[:half]}"&"{mark[half:]}"')
    wb.close()
    return buf.getvalue(), "budget.xlsx", "formula"


def _wb(data_fn):
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "预算"
    ws.append(["项目", "金额"])
    ws.append(["检修", 100])
    data_fn(wb, ws)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def xlsx_defined_name(mark):
    from openpyxl.workbook.defined_name import DefinedName

    def f(wb, ws):
        dn = DefinedName("密级", attr_text=f'"{mark}"')
        try:
            wb.defined_names["密级"] = dn
        except TypeError:  # older openpyxl
            wb.defined_names.append(dn)
    return _wb(f), "budget.xlsx", "defined names"


def xlsx_comment(mark):
    from openpyxl.comments import Comment

    def f(wb, ws):
        ws["A1"].comment = Comment(mark, "张三")
    return _wb(f), "budget.xlsx", "comment"


def xlsx_formula(mark):
    """A formula with no cached value (openpyxl writes none): Excel shows what it computes."""
    half = len(mark) // 2

    def f(wb, ws):
        ws["C1"] = f'="{mark[:half]}"&"{mark[half:]}"'
    return _wb(f), "budget.xlsx", "formula"


def xlsx_number_format(mark):
    def f(wb, ws):
        ws["B2"].number_format = f'"{mark} "0'
    return _wb(f), "budget.xlsx", "number format"


def xlsx_validation(mark):
    from openpyxl.worksheet.datavalidation import DataValidation

    def f(wb, ws):
        dv = DataValidation(type="list", formula1=f'"{mark}"', allow_blank=True)
        ws.add_data_validation(dv)
        dv.add("D1")
    return _wb(f), "budget.xlsx", "validation"


def xlsx_print_header(mark):
    return make_xlsx({"预算": [["项目", "金额"]]}, header=mark), "budget.xlsx", "header"


def pptx_notes(mark):
    return make_pptx([("设备检修方案", FILLER[0])], notes=mark), "plan.pptx", "notesSlide"


def pptx_table(mark):
    from pptx import Presentation
    from pptx.util import Inches

    prs = Presentation()
    s = prs.slides.add_slide(prs.slide_layouts[5])
    s.shapes.title.text = "设备检修方案"
    t = s.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(6), Inches(1)).table
    t.cell(0, 0).text, t.cell(0, 1).text = "负责人", "张三"
    t.cell(1, 0).text, t.cell(1, 1).text = "密级", mark
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue(), "plan.pptx", "slide"


# --- PDF ----------------------------------------------------------------------------------

def _pike(fn):
    import pikepdf
    pdf = pikepdf.open(io.BytesIO(make_pdf(FILLER)))
    fn(pdf, pikepdf)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def pdf_info(mark):
    def f(pdf, pikepdf):
        pdf.docinfo["/Classification"] = mark
    return _pike(f), "plan.pdf", "info"


def pdf_xmp(mark):
    def f(pdf, pikepdf):
        with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
            meta["dc:description"] = mark
    return _pike(f), "plan.pdf", "xmp"


def _annot(subtype: str, extra: dict):
    def f(pdf, pikepdf):
        page = pdf.pages[0]
        annot = pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name(subtype),
                                   Rect=pikepdf.Array([400, 780, 560, 820]), **extra)
        page.obj["/Annots"] = pdf.make_indirect(pikepdf.Array([pdf.make_indirect(annot)]))
        if subtype == "/Widget":
            pdf.Root.AcroForm = pikepdf.Dictionary(Fields=pikepdf.Array([page.obj.Annots[0]]))
    return f


def pdf_freetext(mark):
    import pikepdf
    return _pike(_annot("/FreeText", {"Contents": pikepdf.String(mark), "DA": pikepdf.String("/Helv 12 Tf 0 g")})), "plan.pdf", "annotation"


def pdf_stamp(mark):
    import pikepdf
    return _pike(_annot("/Stamp", {"Contents": pikepdf.String(mark), "Name": pikepdf.Name("/Confidential")})), "plan.pdf", "annotation"


def pdf_widget(mark):
    import pikepdf
    return _pike(_annot("/Widget", {"FT": pikepdf.Name("/Tx"), "T": pikepdf.String("密级"), "V": pikepdf.String(mark)})), "plan.pdf", "annotation"


def _pdf_canvas(draw):
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    c.setFont("STSong-Light", 12)
    y = 800
    for line in FILLER * 6:
        c.drawString(60, y, line)
        y -= 20
    draw(c)
    c.showPage()
    c.save()
    return buf.getvalue()


def pdf_watermark(mark):
    """Rotated, half-transparent text across the page."""
    def draw(c):
        c.saveState()
        c.setFont("STSong-Light", 60)
        c.setFillAlpha(0.15)
        c.translate(300, 400)
        c.rotate(45)
        c.drawCentredString(0, 0, mark)
        c.restoreState()
    return _pdf_canvas(draw), "plan.pdf", "page1"


def pdf_footer(mark):
    def draw(c):
        c.setFont("STSong-Light", 9)
        c.drawCentredString(300, 30, mark)
    return _pdf_canvas(draw), "plan.pdf", "footer"


# --- images -------------------------------------------------------------------------------

def image_exif(mark):
    from PIL import Image
    img = Image.new("RGB", (64, 64), "white")
    exif = Image.Exif()
    exif[0x010E] = mark                        # ImageDescription
    exif[0x9C9B] = mark.encode("utf-16-le") + b"\0\0"  # XPTitle (what Windows Explorer shows)
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif)
    return buf.getvalue(), "photo.jpg", "metadata"


def image_png_text(mark):
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo
    info = PngInfo()
    info.add_itxt("Description", mark)
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(buf, "PNG", pnginfo=info)
    return buf.getvalue(), "shot.png", "metadata"


# Text carriers (a field or line holding the marking), Office, PDF and image carriers.
TEXT_CARRIERS = [mail_subject, mail_msip_label, mail_banner, mail_attachment, json_field, json_key, yaml_field, toml_field,
                 xml_attribute, xml_comment, csv_cell, markdown_table, html_table, html_comment, front_matter,
                 source_comment, source_block_comment, markdown_code_comment]
OFFICE_CARRIERS = [docx_core, docx_custom, docx_msip, docx_header, docx_footer, docx_table, docx_textbox,
                   docx_numbering, docx_renamed_header, xlsx_sheet_name, xls_sheet_name, xlsxwriter_formula,
                   xlsx_defined_name, xlsx_comment,
                   xlsx_formula, xlsx_number_format, xlsx_validation, xlsx_print_header, pptx_notes, pptx_table]
PDF_CARRIERS = [pdf_info, pdf_xmp, pdf_freetext, pdf_stamp, pdf_widget, pdf_watermark, pdf_footer]
IMAGE_CARRIERS = [image_exif, image_png_text]
ALL = TEXT_CARRIERS + OFFICE_CARRIERS + PDF_CARRIERS + IMAGE_CARRIERS
