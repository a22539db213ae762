"""Spreadsheet XML as Excel and WPS write it (shared strings with rich-text and phonetic runs,
formulas with cached values, Strict Open XML), which openpyxl does not produce."""
import io
import zipfile

from guard.extract import Context, extract_into
from guard.policy import load_policy

TRANSITIONAL = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STRICT = "http://purl.oclc.org/ooxml/spreadsheetml/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def xlsx(ns: str, shared: str, sheet: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>')
        z.writestr("xl/workbook.xml", f'<workbook xmlns="{ns}" xmlns:r="{REL}"><sheets>'
                                      f'<sheet name="数据" sheetId="1" r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels",
                   '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   '<Relationship Id="rId1" Type="worksheet" Target="worksheets/sheet1.xml"/></Relationships>')
        z.writestr("xl/sharedStrings.xml", f'<sst xmlns="{ns}">{shared}</sst>')
        z.writestr("xl/worksheets/sheet1.xml", f'<worksheet xmlns="{ns}"><sheetData>{sheet}</sheetData></worksheet>')
    return buf.getvalue()


def cells(data: bytes) -> dict[str, str]:
    ctx = Context(load_policy().limits)
    extract_into(ctx, data, "t.xlsx", "file:t.xlsx", 0)
    body = next(p for p in ctx.out.parts if p.location.endswith("!"))
    out = {}
    for i, (pos, ref) in enumerate(body.anchors):
        end = body.anchors[i + 1][0] - 1 if i + 1 < len(body.anchors) else len(body.text)
        out[ref] = body.text[pos:end].rstrip("\n")
    return out


SHARED = ("<si><t>项目</t></si>"
          "<si><r><rPr><b/></rPr><t>机密</t></r><r><t>★5年</t></r></si>"           # rich text: one string
          "<si><t>油田</t><rPh sb=\"0\" eb=\"2\"><t>ユデン</t></rPh><phoneticPr fontId=\"1\"/></si>")


def test_shared_strings_rich_text_phonetic_and_formulas():
    sheet = ('<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
             '<row r="2"><c r="A2" t="s"><v>2</v></c><c r="C2"><f>SUM(1,2)</f><v>3</v></c>'
             '<c r="D2" t="inlineStr"><is><r><t>绝</t></r><r><t>密</t></r></is></c><c r="E2" t="s"><v>99</v></c></row>')
    for ns in (TRANSITIONAL, STRICT):
        assert cells(xlsx(ns, SHARED, sheet)) == {"A1": "项目", "B1": "机密★5年", "A2": "油田", "C2": "3", "D2": "绝密"}


def test_marking_in_a_rich_text_cell_blocks(engine):
    sheet = '<row r="7"><c r="B7" t="s"><v>1</v></c></row>'
    v = engine.scan_bytes(xlsx(TRANSITIONAL, SHARED, sheet), filename="t.xlsx")
    assert v.action == "block"
    assert any(f.location.endswith("数据!B7") for f in v.findings)
