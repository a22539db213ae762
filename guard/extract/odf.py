"""OpenDocument (odt, ods, odp): content, styles (page headers/footers) and meta."""
from __future__ import annotations

import zipfile

from guard.extract.context import Context
from guard.extract.zipsafe import xml_text

_PARTS = {"content.xml": ("body", "content"), "styles.xml": ("header", "styles"), "meta.xml": ("property", "meta")}


def extract_odf(ctx: Context, zf: zipfile.ZipFile, location: str, depth: int) -> None:
    names = {i.filename: i for i in zf.infolist()}
    for name, (kind, label) in _PARTS.items():
        if name in names:
            ctx.add(xml_text(ctx, zf, names[name]), f"{location}/{label}", kind)
    for name, info in names.items():
        if name.startswith("Pictures/") and not info.is_dir():
            ctx.pictures.append((f"{location}/{name}", zf, info))  # read by OCR only if still needed
