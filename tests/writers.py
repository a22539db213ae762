"""Real files made by real writers (python-docx, openpyxl, python-pptx, reportlab)."""
import io
from pathlib import Path

ASSETS = Path(__file__).parent / "assets"


def make_docx(body=(), header=None, footer=None, table=None, comment=None, props=None, core_title=None) -> bytes:
    import docx

    d = docx.Document()
    for line in body:
        d.add_paragraph(line)
    sec = d.sections[0]
    if header:
        sec.header.paragraphs[0].text = header
    if footer:
        sec.footer.paragraphs[0].text = footer
    if table:
        t = d.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, val in enumerate(row):
                t.cell(r, c).text = val
    if comment:
        p = d.add_paragraph("审阅意见见批注。")
        d.add_comment(p.runs, text=comment, author="审核人")
    if core_title:
        d.core_properties.title = core_title
    buf = io.BytesIO()
    d.save(buf)
    data = buf.getvalue()
    if props:
        data = add_custom_props(data, props)
    return data


def add_custom_props(docx_bytes: bytes, props: dict) -> bytes:
    """Custom document properties as Word writes them (docProps/custom.xml)."""
    import zipfile

    items = "".join(
        f'<property fmtid="{{D5CDD505-2E9C-101B-9397-08002B2CF9AE}}" pid="{i + 2}" name="{k}"><vt:lpwstr>{v}</vt:lpwstr></property>'
        for i, (k, v) in enumerate(props.items()))
    xml = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Properties xmlns="http://schemas.openxmlformats.org/'
           'officeDocument/2006/custom-properties" xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/'
           f'docPropsVTypes">{items}</Properties>')
    src = zipfile.ZipFile(io.BytesIO(docx_bytes))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            z.writestr(info, src.read(info))
        z.writestr("docProps/custom.xml", xml)
    return out.getvalue()


def make_xlsx(sheets: dict, header=None) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
        if header:
            ws.oddHeader.left.text = header
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def make_pptx(slides=(), notes=None) -> bytes:
    from pptx import Presentation

    prs = Presentation()
    for title, body in slides:
        s = prs.slides.add_slide(prs.slide_layouts[1])
        s.shapes.title.text = title
        s.placeholders[1].text = body
        if notes:
            s.notes_slide.notes_text_frame.text = notes
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()


def make_pdf(lines, encrypt=None) -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, encrypt=encrypt)
    c.setFont("STSong-Light", 12)
    y = 800
    for line in lines:
        c.drawString(60, y, line)
        y -= 20
    c.showPage()
    c.save()
    return buf.getvalue()


CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"  # fonts-wqy-zenhei (.ci/run installs it)
OCR_MISSING = "tesseract-ocr-chi-sim or fonts-wqy-zenhei missing; .ci/run installs them"


def ocr_ready() -> bool:
    """Tesseract with its Chinese model to read images, and a Chinese font to draw them."""
    from guard.extract import ocr
    return ocr.available() and Path(CJK_FONT).exists()


def make_image(lines, fmt="PNG", size=(1000, 320), font_px=30) -> bytes:
    """Text as pixels, the way a screenshot or a phone photo of a page carries it."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(CJK_FONT, font_px)
    img = Image.new("L", size, 255)
    draw = ImageDraw.Draw(img)
    y = 30
    for line in lines:
        draw.text((40, y), line, font=font, fill=0)
        y += int(font_px * 1.8)
    buf = io.BytesIO()
    img.save(buf, fmt, **({"resolution": 200} if fmt == "PDF" else {}))
    return buf.getvalue()


def make_scanned_pdf(pages, size=(1000, 320)) -> bytes:
    """A PDF whose pages are images only (a scanner's output): no text layer."""
    from PIL import Image

    images = [Image.open(io.BytesIO(make_image(lines, size=size))) for lines in pages]
    buf = io.BytesIO()
    images[0].save(buf, "PDF", resolution=200, save_all=True, append_images=images[1:])
    return buf.getvalue()
