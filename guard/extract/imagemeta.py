"""Text that images carry besides their pixels: EXIF (ImageDescription, Artist, Copyright,
UserComment, the XP* fields Windows Explorer shows), XMP packets (dc:title, dc:description,
dc:subject...), PNG tEXt/iTXt/zTXt chunks, GIF/JPEG comments. Viewers show these fields; a
model given the file reads them too."""
from __future__ import annotations

import io
import re

from guard.extract.context import Context

_EXIF_TEXT = {0x010D: "DocumentName", 0x010E: "ImageDescription", 0x010F: "Make", 0x0110: "Model",
              0x0131: "Software", 0x013B: "Artist", 0x8298: "Copyright", 0x9286: "UserComment",
              0x9C9B: "XPTitle", 0x9C9C: "XPComment", 0x9C9D: "XPAuthor", 0x9C9E: "XPKeywords", 0x9C9F: "XPSubject"}
_XMP_TEXT = re.compile(r">([^<>]{1,2000})<")
MAX_META_CHARS = 64 * 1024


def _value(tag: int, v) -> str:
    if isinstance(v, bytes):
        if 0x9C9B <= tag <= 0x9C9F:  # XP* fields: UTF-16LE, NUL-terminated
            return v.decode("utf-16-le", "replace").rstrip("\0")
        if tag == 0x9286 and v[:8] in (b"UNICODE\0", b"ASCII\0\0\0"):
            return v[8:].decode("utf-16-le" if v[:7] == b"UNICODE" else "ascii", "replace").rstrip("\0")
        return v.decode("utf-8", "replace").rstrip("\0")
    if isinstance(v, tuple) and v and all(isinstance(x, int) for x in v) and 0x9C9B <= tag <= 0x9C9F:
        return bytes(v).decode("utf-16-le", "replace").rstrip("\0")
    return str(v).rstrip("\0")


def extract_image_metadata(ctx: Context, data: bytes, location: str) -> None:
    """Add an image's metadata text as a property part (one value per line). Unreadable
    metadata is not a problem: the picture itself is still inspected (OCR)."""
    from PIL import Image

    lines: list[str] = []  # each field's value on a line of its own: a field where a marking sits alone
    info_keys: list[str] = []
    try:
        with Image.open(io.BytesIO(data)) as img:
            exif = img.getexif()
            for tag, name in _EXIF_TEXT.items():
                if tag in exif:
                    lines.append(_value(tag, exif[tag]))
            try:
                sub = exif.get_ifd(0x8769)  # the Exif IFD holds UserComment
                if 0x9286 in sub:
                    lines.append(_value(0x9286, sub[0x9286]))
            except Exception:  # noqa: BLE001 - a damaged sub-IFD: the rest still counts
                pass
            info_keys = list(img.info or {})
            for k, v in (img.info or {}).items():
                if isinstance(v, (str, bytes)) and k not in ("icc_profile", "exif", "dpi", "transparency"):
                    text = v.decode("utf-8", "replace") if isinstance(v, bytes) else v
                    if k in ("xmp", "XML:com.adobe.xmp") or "<x:xmpmeta" in text[:400]:
                        text = "\n".join(t.strip() for t in _XMP_TEXT.findall(text) if t.strip())
                    lines.append(text)
    except Exception:  # noqa: BLE001 - Pillow cannot open it: the image reader reports that
        return
    xmp = data.find(b"<x:xmpmeta")
    if xmp >= 0 and not any(k in ("xmp", "XML:com.adobe.xmp") for k in info_keys):
        end = data.find(b"</x:xmpmeta>", xmp, xmp + (1 << 20))
        packet = data[xmp:end if end > 0 else xmp + (1 << 16)].decode("utf-8", "replace")
        lines.extend(t.strip() for t in _XMP_TEXT.findall(packet) if t.strip())
    text = "\n".join(ln for ln in lines if ln.strip())[:MAX_META_CHARS]
    ctx.add(text, f"{location} (metadata)", "property")
