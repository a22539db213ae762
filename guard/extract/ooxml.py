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
# Members that hold no text a person wrote: embedded font glyphs, printer settings, signatures.
_NO_CONTENT = re.compile(r"/fonts/|\.(odttf|ttf|otf|fntdata)$|/printerSettings/|_xmlsignatures/|\.sigs$", re.I)
_VBA = re.compile(r"vbaProject\.bin$", re.I)
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
    done: set[str] = set()
    if "xl/workbook.xml" in names:
        _xlsx(ctx, zf, names, location)
        done |= {n for n in names if n.startswith("xl/worksheets/sheet")} | {"xl/sharedStrings.xml", "xl/workbook.xml"}
    elif "xl/workbook.bin" in names:
        from guard.extract.xlsb import extract_xlsb
        done |= extract_xlsb(ctx, zf, names, location)
    # Every member is read, or is a picture, or is known to hold no text, or is reported:
    # nothing is skipped silently.
    for name, info in names.items():
        ctx.check_time()
        if info.is_dir() or name in done or _SKIP.search("/" + name) or _NO_CONTENT.search("/" + name):
            continue
        if _VBA.search(name):
            ctx.problem("unsupported", f"{location}/{name}", "VBA macro project: its code is not inspected")
            continue
        if _EMBED.search(name):
            extract_into(ctx, read_member(ctx, zf, info), posixpath.basename(name), f"{location}/{name}", depth + 1)
            continue
        if _MEDIA.search(name):
            ctx.pictures.append((f"{location}/{name}", zf, info))  # read by OCR only if still needed
            continue
        if not name.endswith((".xml", ".vml")):
            # An unexpected member (notes.txt, a .bin): inspected as a file of its own; an
            # unknown binary then becomes an `unsupported` problem.
            extract_into(ctx, read_member(ctx, zf, info), posixpath.basename(name), f"{location}/{name}", depth + 1)
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
        si = 0
        for _ev, el in iter_xml(ctx, zf, names["xl/sharedStrings.xml"], events=("end",),
                                tag=[ns + "si" for ns in _NS]):
            ns = el.tag[:-2]
            shared.append(_inline(el, ns + "t", ns + "r"))  # phonetic runs (rPh) would duplicate text
            si += 1
            if si % 64 == 0:  # drop finished strings: memory stays flat
                parent = el.getparent()
                del parent[:parent.index(el)]
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


_NS = ("{http://schemas.openxmlformats.org/spreadsheetml/2006/main}",
       "{http://purl.oclc.org/ooxml/spreadsheetml/main}",  # Strict Open XML
       "")
_HF = ("oddHeader", "evenHeader", "firstHeader", "oddFooter", "evenFooter", "firstFooter")
_ROWS = frozenset(ns + "row" for ns in _NS)


def _inline(is_el, t: str, r: str) -> str:
    """Text of an inline string: its t, or the t of its rich-text runs (not phonetic rPh runs)."""
    out = []
    for y in is_el:
        if y.tag == t:
            out.append(y.text or "")
        elif y.tag == r:
            out.extend(z.text or "" for z in y if z.tag == t)
    return "".join(out)


def _sheet(ctx: Context, zf, info, sheet_name: str, shared: list[str], location: str) -> None:
    out: list[str] = []
    anchors: list[tuple[int, str]] = []
    pos = 0
    headers: list[str] = []
    # Only rows and header/footer elements are reported (filtered in C): a 5 MB sheet has
    # hundreds of thousands of cells. Per cell, only C-level child iteration and attribute
    # reads: findtext()/itertext() cost twice as much over 200k cells.
    wanted = [ns + name for ns in _NS for name in ("row", *_HF)]
    rows = 0
    for _ev, el in iter_xml(ctx, zf, info, events=("end",), tag=wanted):
        if el.tag in _ROWS:
            ns = el.tag[:-3]
            v_tag, is_tag, t_tag, r_tag = ns + "v", ns + "is", ns + "t", ns + "r"
            n = 0
            for c in el:
                value = None
                for x in c:
                    tag = x.tag
                    if tag == v_tag:
                        value = x.text
                    elif tag == is_tag:
                        value = _inline(x, t_tag, r_tag)
                if not value:
                    continue
                if c.get("t") == "s":
                    try:
                        value = shared[int(value)]
                    except (ValueError, IndexError):
                        continue
                    if not value:
                        continue
                n += 1
                anchors.append((pos, c.get("r") or f"{_col(n)}{el.get('r', '?')}"))
                out.append(value)
                out.append("\t")
                pos += len(value) + 1
            if n:
                out[-1] = "\n"
            rows += 1
            if rows % 64 == 0:  # drop finished rows (those before this one): memory stays flat
                parent = el.getparent()
                del parent[:parent.index(el)]
        elif el.text:
            # One line per &L/&C/&R section so a marking section is a line of its own.
            sections = re.split(r"&[LCR]", el.text)
            headers.extend(_XL_HF_CODES.sub("", s).strip() for s in sections)
    # Anchors are bare cell references; the location ends in "!" (file:a.xlsx/Sheet2!A1).
    ctx.add("".join(out), f"{location}/{sheet_name}!", "body", anchors)
    ctx.add("\n".join(h for h in headers if h), f"{location}/{sheet_name}!header", "header")
