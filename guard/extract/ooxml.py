"""Office Open XML: docx, xlsx, pptx.

Every XML part is read, not just the body: markings hide in headers, footers,
print headers, text boxes, comments, speaker notes, slide masters, second sheets
and core/custom properties. Embedded documents are inspected as files.
"""
from __future__ import annotations

import posixpath
import re
import zipfile

from guard.extract.context import Context
from guard.extract.zipsafe import iter_xml, local, read_member, xml_text

_SKIP = re.compile(
    r"(^\[Content_Types\]\.xml$|\.rels$|/theme/|/styles\.xml$|stylesWithEffects|fontTable|"
    r"/settings\.xml$|webSettings|/numbering\.xml$|/calcChain\.xml$|itemProps\d*\.xml$|"
    r"/printerSettings/|/customXml/itemProps|tableStyles|presProps|viewProps)"
)
_MEDIA = re.compile(r"/media/|\.(png|jpe?g|gif|bmp|emf|wmf|tiff?|svg|wdp|jfif)$", re.I)
_EMBED = re.compile(r"/embeddings/")
_VBA = re.compile(r"vbaProject\.bin$|/activeX/", re.I)
# xlsx print headers: &L &C &R sections, &"font,style", &12 sizes, &P page fields.
_XL_HF_CODES = re.compile(r'&"[^"]*"|&\d+|&[LCRPNDTZFAGBIUSEXYK&]')


def _kind(name: str) -> tuple[str, str]:
    """(part kind, short label) for a part name."""
    base = posixpath.basename(name).rsplit(".", 1)[0]
    if "header" in base:
        return "header", base
    if "footer" in base:
        return "footer", base
    if name.startswith("docProps/") or name.startswith("customXml/"):
        return "property", base
    if "notesSlide" in name:
        return "note", base
    if "comment" in base.lower():
        return "comment", base
    if "slideMaster" in name or "slideLayout" in name or "notesMaster" in name:
        return "header", base
    if "footnotes" in base or "endnotes" in base:
        return "note", base
    return "body", base


def extract_ooxml(ctx: Context, zf: zipfile.ZipFile, location: str, depth: int) -> None:
    from guard.extract import extract_into

    names = {i.filename: i for i in zf.infolist()}
    if "xl/workbook.xml" in names:
        _xlsx(ctx, zf, names, location)
    for name, info in names.items():
        ctx.check_time()
        if info.is_dir() or _SKIP.search("/" + name) or _VBA.search(name):
            continue
        if name.startswith("xl/worksheets/") or name in ("xl/sharedStrings.xml", "xl/workbook.xml"):
            continue  # done by _xlsx with cell locations
        if _EMBED.search(name):
            extract_into(ctx, read_member(ctx, zf, info), posixpath.basename(name), f"{location}/{name}", depth + 1)
            continue
        if _MEDIA.search(name) or not name.endswith((".xml", ".vml")):
            continue
        if name == "docProps/custom.xml":
            _custom_props(ctx, zf, info, location)
            continue
        kind, label = _kind(name)
        ctx.add(xml_text(ctx, zf, info), f"{location}/{label}", kind)


def _custom_props(ctx: Context, zf, info, location: str) -> None:
    """Custom properties as `name：value` lines (密级：机密, MIP label names)."""
    lines = []
    for _ev, el in iter_xml(ctx, zf, info, events=("end",)):
        if local(el.tag) == "property":
            value = "".join(el.itertext()).strip()
            lines.append(f"{el.get('name', '')}：{value}")
            el.clear()
    ctx.add("\n".join(lines), f"{location}/custom-properties", "property")


def _col(n: int) -> str:
    s = ""
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def _xlsx(ctx: Context, zf: zipfile.ZipFile, names: dict, location: str) -> None:
    shared: list[str] = []
    if "xl/sharedStrings.xml" in names:
        for _ev, el in iter_xml(ctx, zf, names["xl/sharedStrings.xml"], events=("end",)):
            if local(el.tag) == "si":
                # Phonetic runs (rPh) would duplicate text; take t under si/r only.
                shared.append("".join(t.text or "" for t in el.iter() if local(t.tag) == "t"
                                      and local(t.getparent().tag) in ("si", "r")))
                el.clear()
    # Sheet names and their part files, in workbook order.
    sheets: list[tuple[str, str]] = []
    rels = {}
    if "xl/_rels/workbook.xml.rels" in names:
        for _ev, el in iter_xml(ctx, zf, names["xl/_rels/workbook.xml.rels"], events=("end",)):
            if local(el.tag) == "Relationship":
                target = el.get("Target", "")
                target = target.lstrip("/") if target.startswith("/") else posixpath.normpath("xl/" + target)
                rels[el.get("Id")] = target
    for _ev, el in iter_xml(ctx, zf, names["xl/workbook.xml"], events=("end",)):
        if local(el.tag) == "sheet":
            rid = next((v for k, v in el.attrib.items() if local(k) == "id"), None)
            sheets.append((el.get("name", ""), rels.get(rid, "")))
    listed = {t for _, t in sheets}
    for name in names:
        if name.startswith("xl/worksheets/sheet") and name.endswith(".xml") and name not in listed:
            sheets.append((posixpath.basename(name)[:-4], name))
    for sheet_name, part in sheets:
        if part not in names:
            continue
        _sheet(ctx, zf, names[part], sheet_name, shared, location)


_NS = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_HF = ("oddHeader", "evenHeader", "firstHeader", "oddFooter", "evenFooter", "firstFooter")
_ROW = frozenset({_NS + "row", "row"})
_CELL_NS = _NS + "c"
_CELL = frozenset({_CELL_NS, "c"})
_V_NS = _NS + "v"


def _sheet(ctx: Context, zf, info, sheet_name: str, shared: list[str], location: str) -> None:
    out: list[str] = []
    anchors: list[tuple[int, str]] = []
    pos = 0
    headers: list[str] = []
    # Only rows and header/footer elements are reported (filtered in C): a 5 MB sheet has
    # hundreds of thousands of cells, and per-element Python callbacks dominate otherwise.
    wanted = [_NS + "row", *(_NS + h for h in _HF), "row", *_HF]
    for _ev, el in iter_xml(ctx, zf, info, events=("end",), tag=wanted):
        if el.tag in _ROW:
            n = 0
            for c in el:
                if c.tag not in _CELL:
                    continue
                t = c.get("t")
                if t == "inlineStr":
                    value = "".join(c.itertext())
                else:
                    value = c.findtext(_V_NS) if c.tag == _CELL_NS else c.findtext("v")
                    if value and t == "s":
                        try:
                            value = shared[int(value)]
                        except (ValueError, IndexError):
                            continue
                if value:
                    n += 1
                    anchors.append((pos, c.get("r") or f"{_col(n)}{el.get('r', '?')}"))
                    out.append(value)
                    out.append("\t")
                    pos += len(value) + 1
            if n:
                out[-1] = "\n"
            el.clear()
            while el.getprevious() is not None:  # drop finished rows: memory stays flat
                del el.getparent()[0]
        elif el.text:
            # One line per &L/&C/&R section so a marking section is a line of its own.
            sections = re.split(r"&[LCR]", el.text)
            headers.extend(_XL_HF_CODES.sub("", s).strip() for s in sections)
    # Anchors are bare cell references; the location ends in "!" (file:a.xlsx/Sheet2!A1).
    ctx.add("".join(out), f"{location}/{sheet_name}!", "body", anchors)
    ctx.add("\n".join(h for h in headers if h), f"{location}/{sheet_name}!header", "header")
