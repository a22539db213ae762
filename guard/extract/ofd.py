"""OFD (GB/T 33190): page text is TextCode runs placed by coordinates.

Writers split a line into many TextObjects, often mid-word (`机密★` + `5年`), so
runs are put back into lines by their vertical position and sorted by X.
"""
from __future__ import annotations

import re
import zipfile

from guard.extract.context import Context
from guard.extract.zipsafe import iter_xml, local, read_member, xml_text


def _floats(s: str | None) -> list[float]:
    try:
        return [float(x) for x in (s or "").split()]
    except ValueError:
        return []


_IMAGES = re.compile(r"\.(png|jpe?g|gif|bmp|tiff?|jb2)$", re.I)
_FONTS = re.compile(r"\.(ttf|otf|ttc|fon)$", re.I)


def extract_ofd(ctx: Context, zf: zipfile.ZipFile, location: str, depth: int) -> None:
    from guard.extract import extract_into

    # Besides its XML: images by OCR, fonts hold no text, anything else (attachments) is a file.
    for info in zf.infolist():
        name = info.filename
        if info.is_dir() or name.endswith(".xml") or _FONTS.search(name):
            continue
        ctx.check_time()
        if _IMAGES.search(name):
            ctx.pictures.append((f"{location}/{name}", zf, info))
        else:
            extract_into(ctx, read_member(ctx, zf, info), name.rsplit("/", 1)[-1], f"{location}/{name}", depth + 1)
    infos = sorted((i for i in zf.infolist() if i.filename.endswith(".xml")), key=lambda i: i.filename)
    for info in infos:
        name = info.filename
        if "/Pages/" in name or "/Templates/" in name or "/Annots/" in name:
            runs: list[tuple[float, float, str]] = []
            box = (0.0, 0.0)
            for ev, el in iter_xml(ctx, zf, info):
                tag = local(el.tag)
                if ev == "start":
                    if tag in ("TextObject", "PageBlock", "PathObject", "ImageObject"):
                        b = _floats(el.get("Boundary"))
                        if tag == "TextObject" and len(b) >= 2:
                            box = (b[0], b[1])
                    continue
                if tag == "TextCode":
                    x = _floats(el.get("X"))
                    y = _floats(el.get("Y"))
                    text = el.text or ""
                    runs.append((box[1] + (y[0] if y else 0.0), box[0] + (x[0] if x else 0.0), text))
                    el.clear()
                elif tag == "TextObject":
                    el.clear()
            ctx.add(_lines(runs), f"{location}/{name.rsplit('/', 2)[-2]}", "header" if "/Templates/" in name else "body")
        elif name.endswith(("OFD.xml", "Document.xml")) or "CustomTag" in name:
            ctx.add(xml_text(ctx, zf, info), f"{location}/{name.rsplit('/', 1)[-1][:-4]}", "property")
        else:  # resources, attachment and annotation indexes, signatures: cheap to read, never skipped
            ctx.add(xml_text(ctx, zf, info), f"{location}/{name[:-4]}", "body")


def _lines(runs: list[tuple[float, float, str]], tolerance: float = 1.0) -> str:
    runs.sort()
    lines: list[list[tuple[float, str]]] = []
    last_y = None
    for y, x, text in runs:
        if last_y is None or abs(y - last_y) > tolerance:
            lines.append([])
            last_y = y
        lines[-1].append((x, text))
    return "\n".join("".join(t for _, t in sorted(line)) for line in lines)
