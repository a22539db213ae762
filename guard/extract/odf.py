"""OpenDocument (odt, ods, odp): every XML part (content with embedded objects, styles with
page headers/footers, meta, macros), pictures by OCR, other members as files of their own."""
from __future__ import annotations

import posixpath
import zipfile

from guard.extract.context import Context
from guard.extract.zipsafe import iter_xml, read_member, xml_text

_KINDS = {"content.xml": ("body", "content"), "styles.xml": ("header", "styles"), "meta.xml": ("property", "meta")}
# Members that hold no text a person wrote: the package's own bookkeeping and UI settings, and
# the thumbnail (a rendering of page one, whose text is read from content.xml).
_NO_CONTENT = ("mimetype", "settings.xml", "META-INF/", "Configurations2/", "Thumbnails/", "manifest.rdf")
_PICTURES = ("Pictures/", "ObjectReplacements/")


_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"


def _table_names(ctx: Context, zf, info, location: str) -> None:
    """Sheet names of a spreadsheet (table:name): the tabs Calc shows; attributes are not text."""
    names = []
    for _ev, el in iter_xml(ctx, zf, info, events=("start",), tag=_TABLE + "table"):
        name = el.get(_TABLE + "name")
        if name:
            names.append(name)
    ctx.add("\n".join(names), f"{location}/sheet names", "title")


def extract_odf(ctx: Context, zf: zipfile.ZipFile, location: str, depth: int) -> None:
    from guard.extract import extract_into

    for info in zf.infolist():
        ctx.check_time()
        name = info.filename
        if info.is_dir() or name.startswith(_NO_CONTENT):
            continue
        if name.startswith(_PICTURES) or "/Pictures/" in name:
            ctx.pictures.append((f"{location}/{name}", zf, info))  # read by OCR only if still needed
            continue
        base = posixpath.basename(name)
        if name.endswith(".xml"):
            kind, label = _KINDS.get(base, ("body", name[:-4]))
            if base == "styles.xml":
                kind = "header"
            ctx.add(xml_text(ctx, zf, info), f"{location}/{label}", kind)
            if base == "content.xml":
                _table_names(ctx, zf, info, location)
            continue
        extract_into(ctx, read_member(ctx, zf, info), base, f"{location}/{name}", depth + 1)
