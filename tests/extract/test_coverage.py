"""Nothing silently unread: every member of a container is read, or is a picture, or is known
to hold no text, or surfaces as a problem. Each container here is a real writer's file with
members planted where a reader that only knows the usual parts would not look."""
import io
import struct
import zipfile
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from writers import make_docx, make_pdf, make_pptx, make_xlsx

from guard.extract import extract

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "golden"
MARK = "机密★5年"
CLEAN = "第三季度工作安排"


def add_members(container: bytes, members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(container)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        for name, data in members.items():
            dst.writestr(name, data)
    return out.getvalue()


def xml_holding(text: str) -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?><root><p>{text}</p></root>'.encode()


BINARY = bytes(range(256)) * 8  # no known format, not text


def containers():
    docx = make_docx([CLEAN])
    xlsx = make_xlsx({"Sheet1": [[CLEAN]]})
    pptx = make_pptx([("标题", CLEAN)])
    odt = (ASSETS / "document.odt").read_bytes()
    ofd = (ASSETS / "marked.ofd").read_bytes()
    # (container name, container bytes, planted member, member bytes, expectation)
    return [
        ("docx", docx, "word/notes.txt", f"{MARK}\n关于…".encode(), "found"),
        ("docx", docx, "customXml/item9.xml", xml_holding(f"{MARK}"), "found"),
        ("docx", docx, "word/extra/data.bin", BINARY, "problem"),
        ("docx", docx, "word/vbaProject.bin", BINARY, "problem"),
        ("xlsx", xlsx, "xl/extra/note.csv", f"{MARK},x\n".encode(), "found"),
        ("xlsx", xlsx, "xl/pivotCache/pivotCacheRecords1.xml", xml_holding(MARK), "found"),
        ("pptx", pptx, "ppt/extra/readme.md", f"{MARK}\n".encode(), "found"),
        ("odt", odt, "Object 1/content.xml", xml_holding(MARK), "found"),
        ("odt", odt, "Basic/Standard/Module1.xml", xml_holding(MARK), "found"),
        ("odt", odt, "extra/blob.dat", BINARY, "problem"),
        ("ofd", ofd, "Doc_0/Attachs/附件.txt", f"{MARK}\n".encode(), "found"),
        ("ofd", ofd, "Doc_0/Res/blob.dat", BINARY, "problem"),
    ]


@pytest.mark.parametrize("kind, container, name, data, expect", containers(),
                         ids=[f"{c[0]}:{c[2]}" for c in containers()])
def test_planted_member_is_not_ignored(kind, container, name, data, expect):
    out = extract(add_members(container, {name: data}), f"test.{kind}")
    member = name.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if expect == "found":
        assert any(MARK in p.text and (name in p.location or member in p.location) for p in out.parts), \
            [p.location for p in out.parts]
    else:
        assert any(name in p.location for p in out.problems), out.problems


@pytest.mark.parametrize("kind, container, name", [
    ("docx", make_docx([CLEAN]), "word/fonts/font1.odttf"),
    ("docx", make_docx([CLEAN]), "xl/printerSettings/printerSettings1.bin"),
    ("odt", (ASSETS / "document.odt").read_bytes(), "Configurations2/accelerator/current.xml"),
    ("ofd", (ASSETS / "marked.ofd").read_bytes(), "Doc_0/Res/font1.ttf"),
])
def test_members_without_text_are_no_problem(kind, container, name):
    out = extract(add_members(container, {name: BINARY}), f"test.{kind}")
    assert not out.problems, out.problems


def test_the_shipped_writers_files_have_no_unread_members():
    # Real writers' files as they come: every member is accounted for without a problem.
    for kind, data in [("docx", make_docx(["正文"], header="页眉", comment="批注")),
                       ("xlsx", make_xlsx({"A": [["1"]], "B": [["2"]]}, header="页眉")),
                       ("pptx", make_pptx([("标题", "一页")], notes="备注")),
                       ("odt", (ASSETS / "document.odt").read_bytes()),
                       ("ofd", (ASSETS / "marked.ofd").read_bytes())]:
        out = extract(data, f"x.{kind}")
        assert not out.problems, (kind, out.problems)


def test_pdf_attachments_are_read():
    pdf = pdfium.PdfDocument(make_pdf(["季度工作安排"]))
    att = pdf.new_attachment("附件.txt")
    att.set_data(f"{MARK}\n关于…".encode())
    buf = io.BytesIO()
    pdf.save(buf)
    out = extract(buf.getvalue(), "x.pdf")
    assert any(MARK in p.text and "附件" in p.location for p in out.parts), [p.location for p in out.parts]


# -- xlsb: no Python writer exists, so tests build the BIFF12 records ([MS-XLSB] 2.1.4) ----------
def _record(rtype: int, data: bytes = b"") -> bytes:
    out = bytearray()
    for value in (rtype, len(data)):
        while True:
            b, value = value & 0x7F, value >> 7
            out.append(b | (0x80 if value else 0))
            if not value:
                break
    return bytes(out) + data


def _wide(s: str) -> bytes:
    return struct.pack("<I", len(s)) + s.encode("utf-16-le")


def make_xlsb(rows, header=None) -> bytes:
    book = (_record(131) + _record(143) + _record(156, struct.pack("<II", 0, 1) + _wide("rId1") + _wide("数据"))
            + _record(144) + _record(132))
    sheet = _record(129) + _record(148, struct.pack("<IIII", 0, len(rows) - 1, 0, max(map(len, rows)) - 1)) + _record(145)
    for r, row in enumerate(rows):
        sheet += _record(0, struct.pack("<IIHHI", r, 0, 300, 0, 0).ljust(17, b"\0"))
        for c, value in enumerate(row):
            sheet += _record(6, struct.pack("<I", c) + b"\0\0\0\0" + _wide(value))
    sheet += _record(146)
    if header:
        sheet += _record(479, b"\0\0" + _wide(header) + b"\xff\xff\xff\xff" * 5)
    sheet += _record(130)
    ns = "http://schemas.openxmlformats.org/package/2006/relationships"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                   '<Default Extension="bin" ContentType="application/vnd.ms-excel.sheet.binary.macroEnabled.main"/></Types>')
        z.writestr("_rels/.rels", f'<Relationships xmlns="{ns}"><Relationship Id="rId1" Type="x" Target="xl/workbook.bin"/></Relationships>')
        z.writestr("xl/workbook.bin", book)
        z.writestr("xl/_rels/workbook.bin.rels",
                   f'<Relationships xmlns="{ns}"><Relationship Id="rId1" Type="x" Target="worksheets/sheet1.bin"/></Relationships>')
        z.writestr("xl/worksheets/sheet1.bin", sheet)
    return out.getvalue()


def test_xlsb_cells_and_print_header_are_read(engine):
    v = engine.scan_bytes(make_xlsb([["项目", "内容"], ["密级", "机密"]]), "表.xlsb")
    assert v.action == "block" and "state-secret.field" in v.rules, v.findings
    assert any(f.location.endswith("!A2") for f in v.findings), v.findings
    v = engine.scan_bytes(make_xlsb([["季度", "产量"]], header="&C核心商密▲3年"), "表.xlsb")
    assert v.action == "block" and "commercial-secret.marking" in v.rules, v.findings
    assert engine.scan_bytes(make_xlsb([["季度", "产量"], ["一", "12"]]), "表.xlsb").action == "allow"


def test_xlsb_members_other_readers_skip_surface(engine):
    data = add_members(make_xlsb([["季度"]]), {"xl/comments1.bin": BINARY})
    v = engine.scan_bytes(data, "表.xlsb")
    assert v.action == "block" and "uninspectable.unsupported" in v.rules, v.findings
