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


_CT = "application/vnd.openxmlformats-officedocument."
# Content types that hold no text a person reads (styles, themes, settings...), matched on the
# type's last word: Office finds parts by relationship and content type, not by file name.
_CT_SKIP = re.compile(r"\.(styles|theme|themeOverride|fontTable|settings|webSettings|calcChain|customXmlProperties|"
                      r"printerSettings|tableStyles|presProps|viewProps|stylesWithEffects|commentAuthors|people|"
                      r"sheetMetadata|volatileDependencies|connections|obfuscatedFont|relationships|"
                      r"spreadsheetml\.styles|numbering)(\+xml)?$|^application/vnd\.openxmlformats-package\.relationships|"
                      r"font|digital-signature", re.I)
_CT_KIND = (("header+xml", "header"), ("footer+xml", "footer"), ("footnotes+xml", "note"), ("endnotes+xml", "note"),
            ("comments+xml", "comment"), ("threadedcomments+xml", "comment"), ("notesSlide+xml", "note"),
            ("core-properties+xml", "property"), ("extended-properties+xml", "property"),
            ("custom-properties+xml", "property"), ("slideMaster+xml", "header"), ("slideLayout+xml", "header"),
            ("notesMaster+xml", "header"), ("handoutMaster+xml", "header"))
_GENERIC_CT = frozenset({"", "application/xml", "text/xml"})


def _content_types(ctx: Context, zf, names: dict) -> dict[str, str]:
    """Part name (no leading slash) -> content type, from [Content_Types].xml."""
    info = names.get("[Content_Types].xml")
    if info is None:
        return {}
    defaults, overrides = {}, {}
    for _ev, el in iter_xml(ctx, zf, info, events=("end",)):
        tag = local(el.tag)
        if tag == "Default":
            defaults[(el.get("Extension") or "").lower()] = (el.get("ContentType") or "").strip()
        elif tag == "Override":
            overrides[(el.get("PartName") or "").lstrip("/")] = (el.get("ContentType") or "").strip()
        el.clear()
    out = {}
    for name in names:
        ct = overrides.get(name)
        if ct is None:
            ct = defaults.get(name.rsplit(".", 1)[-1].lower() if "." in name else "", "")
        out[name] = ct
    return out


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
    ctypes = _content_types(ctx, zf, names)
    done: set[str] = set()
    numbering = _numbering(ctx, zf, names, ctypes)
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
        ct = ctypes.get(name, "")
        if info.is_dir() or name in done or _NO_CONTENT.search("/" + name):
            continue
        if (_CT_SKIP.search(ct) if ct not in _GENERIC_CT else _SKIP.search("/" + name)) and not _VBA.search(name):
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
        if name == "docProps/custom.xml" or ct.endswith("custom-properties+xml"):
            _custom_props(ctx, zf, info, location)
            continue
        kind, label = _kind(name)
        for suffix, k in _CT_KIND:
            if ct.endswith(suffix):
                kind = k
                break
        ctx.add(xml_text(ctx, zf, info, numbering), f"{location}/{label}", kind)


def _custom_props(ctx: Context, zf, info, location: str) -> None:
    """Custom properties as `name：value` lines (密级：机密, MIP label names)."""
    lines, labels = [], []
    for _ev, el in iter_xml(ctx, zf, info, events=("end",)):
        if local(el.tag) == "property":
            value = "".join(el.itertext()).strip()
            name = el.get("name", "")
            lines.append(f"{name}：{value}")
            if _MSIP_NAME.match(name):
                # A Microsoft sensitivity label's name (MSIP_Label_<id>_Name): the label itself.
                labels.append(value)
            el.clear()
    ctx.add("\n".join(lines), f"{location}/custom-properties", "property")
    ctx.add("\n".join(labels), f"{location}/custom-properties (sensitivity label)", "property")


_MSIP_NAME = re.compile(r"MSIP_Label_[^_]+_(Name|DisplayName)$", re.I)
_NUM_FIELD = re.compile(r"%[1-9]")


def _numbering(ctx: Context, zf, names: dict, ctypes: dict) -> dict | None:
    """(numId, ilvl) -> the label Word prints before a numbered paragraph (w:lvlText), for
    labels that carry words ("机密★%1年", "【秘密】"), not just numbers and punctuation."""
    part = next((n for n, ct in ctypes.items() if ct.endswith("numbering+xml")), None)
    if part is None:
        part = "word/numbering.xml" if "word/numbering.xml" in names else None
    if part is None:
        return None
    abstract: dict[str, dict[str, str]] = {}
    nums: dict[str, tuple[str, dict[str, str]]] = {}
    current = None
    for ev, el in iter_xml(ctx, zf, names[part]):
        tag = local(el.tag)
        attrs = {local(k): v for k, v in el.attrib.items()}
        if ev == "start":
            if tag == "abstractNum":
                current = abstract.setdefault(attrs.get("abstractNumId", ""), {})
            elif tag == "num":
                current = {}
                nums[attrs.get("numId", "")] = ("", current)
            elif tag == "lvl":
                el.set("_ilvl", attrs.get("ilvl", "0"))
            continue
        if tag == "lvlText" and current is not None:
            parent = el.getparent()
            ilvl = parent.get("_ilvl", "0") if parent is not None else "0"
            current[ilvl] = attrs.get("val", "")
        elif tag == "abstractNumId" and el.getparent() is not None and local(el.getparent().tag) == "num":
            num_id = el.getparent().get(next((k for k in el.getparent().attrib if local(k) == "numId"), ""), "")
            nums[num_id] = (attrs.get("val", ""), nums.get(num_id, ("", {}))[1])
    out = {}
    for num_id, (abs_id, overrides) in nums.items():
        for ilvl, text in {**abstract.get(abs_id, {}), **overrides}.items():
            label = _NUM_FIELD.sub("1", text)
            if any(c.isalpha() for c in label):
                out[(num_id, ilvl)] = label
    return out or None


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
    defined = []
    for _ev, el in iter_xml(ctx, zf, names["xl/workbook.xml"], events=("end",)):
        tag = local(el.tag)
        if tag == "sheet":
            rid = next((v for k, v in el.attrib.items() if local(k) == "id"), None)
            sheets.append((el.get("name", ""), rels.get(rid, "")))
        elif tag == "definedName":
            # A name and what it stands for; a constant's string literal is shown where it is used.
            value = el.text or ""
            literal = "".join(_literals(value))
            defined.append(f"{el.get('name', '')}：{literal or value}")
    # Sheet names are what Excel shows on the tabs: a field where a marking sits alone.
    ctx.add("\n".join(n for n, _ in sheets), f"{location}/sheet names", "title")
    ctx.add("\n".join(defined), f"{location}/defined names", "property")
    styles = next((n for n in names if n == "xl/styles.xml"), None)
    if styles:
        _number_formats(ctx, zf, names[styles], location)
    listed = {t for _, t in sheets}
    for name in names:
        if name.startswith("xl/worksheets/sheet") and name.endswith(".xml") and name not in listed:
            sheets.append((posixpath.basename(name)[:-4], name))
    for sheet_name, part in sheets:
        if part not in names:
            continue
        _sheet(ctx, zf, names[part], sheet_name, shared, location)


_STRING = re.compile(r'"((?:[^"]|"")*)"')


def _literals(formula: str) -> list[str]:
    """The string literals of a formula ("机密"&"★5年" -> [机密, ★5年])."""
    return [m.group(1).replace('""', '"') for m in _STRING.finditer(formula)]


_FMT_LITERAL = re.compile(r'"([^"]*)"|\\(.)|\[[^\]]*\]|([^\x00-\x7f]+)')


def _number_formats(ctx: Context, zf, info, location: str) -> None:
    """Number formats' literal text ("机密★5年 "0 shows the marking in every cell that uses it)."""
    lines = []
    for _ev, el in iter_xml(ctx, zf, info, events=("end",)):
        if local(el.tag) == "numFmt":
            code = el.get("formatCode", "")
            text = "".join((m.group(1) or m.group(2) or m.group(3) or "") for m in _FMT_LITERAL.finditer(code))
            if text.strip():
                lines.append(text.strip())
        elif local(el.tag) == "cellStyleXfs":
            break  # number formats come first in styles.xml; the rest holds no text
    ctx.add("\n".join(lines), f"{location}/number formats", "property")


_NS = ("{http://schemas.openxmlformats.org/spreadsheetml/2006/main}",
       "{http://purl.oclc.org/ooxml/spreadsheetml/main}",  # Strict Open XML
       "")
_X14 = "{http://schemas.microsoft.com/office/spreadsheetml/2009/9/main}"
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
    wanted = [ns + name for ns in (*_NS, _X14) for name in ("row", *_HF, "dataValidation")]
    formulas: list[str] = []
    validations: list[str] = []
    rows = 0
    for _ev, el in iter_xml(ctx, zf, info, events=("end",), tag=wanted):
        if el.tag in _ROWS:
            ns = el.tag[:-3]
            v_tag, is_tag, t_tag, r_tag, f_tag = ns + "v", ns + "is", ns + "t", ns + "r", ns + "f"
            n = 0
            for c in el:
                value = formula = None
                for x in c:
                    tag = x.tag
                    if tag == v_tag:
                        value = x.text
                    elif tag == is_tag:
                        value = _inline(x, t_tag, r_tag)
                    elif tag == f_tag and x.text and '"' in x.text:
                        formula = x.text
                if formula:
                    literals = "".join(_literals(formula))
                    formulas.append(literals)
                    if not value and c.get("t") in (None, "str"):
                        # No cached value (openpyxl, generators): Excel shows what the formula computes;
                        # its literals joined is that, for the concatenations that carry text.
                        value = literals
                        c.set("t", "str")
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
        elif el.tag.endswith("}dataValidation") or el.tag == "dataValidation":
            # A drop-down list ("绝密,机密,秘密": options, a mention) or a single forced value, and
            # the prompt and error texts Excel shows.
            for x in el.iter():
                if local(x.tag) in ("formula1", "f") and x.text and x.text.startswith('"'):
                    validations.append("".join(_literals(x.text)))
            validations.extend(el.get(a) for a in ("promptTitle", "prompt", "errorTitle", "error") if el.get(a))
            el.clear()
        elif el.text:
            # One line per &L/&C/&R section so a marking section is a line of its own.
            sections = re.split(r"&[LCR]", el.text)
            headers.extend(_XL_HF_CODES.sub("", s).strip() for s in sections)
    # Anchors are bare cell references; the location ends in "!" (file:a.xlsx/Sheet2!A1).
    ctx.add("".join(out), f"{location}/{sheet_name}!", "body", anchors)
    ctx.add("\n".join(h for h in headers if h), f"{location}/{sheet_name}!header", "header")
    ctx.add("\n".join(formulas), f"{location}/{sheet_name}!formulas", "body")
    ctx.add("\n".join(v for v in validations if v), f"{location}/{sheet_name}!validation", "property")
