"""Identify content by its bytes (magic numbers), never by its file name."""
from __future__ import annotations

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_MAGICS = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # empty archive
    (OLE_MAGIC, "ole"),
    (b"{\\rtf", "rtf"),
    (b"\x1f\x8b", "gzip"),
    (b"\x89PNG\r\n\x1a\n", "image"),
    (b"\xff\xd8\xff", "image"),
    (b"GIF87a", "image"),
    (b"GIF89a", "image"),
    (b"BM", None),  # too short a magic to trust alone; see below
    (b"II*\x00", "image"),
    (b"MM\x00*", "image"),
    (b"7z\xbc\xaf\x27\x1c", "archive-unsupported"),
    (b"Rar!\x1a\x07", "archive-unsupported"),
    (b"\xfd7zXZ\x00", "archive-unsupported"),
    (b"BZh", None),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


def sniff(data: bytes) -> str:
    head = data[:16]
    for magic, kind in _MAGICS:
        if kind and head.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image"
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data[257:262] == b"ustar":
        return "tar"
    if _is_pkcs12(data):
        return "pkcs12"
    if data[:5] == b"BZh91" or data[:5] == b"BZh11" or (data[:3] == b"BZh" and data[3:4].isdigit() and data[4:10] == b"1AY&SY"):
        return "bzip2"
    return "text"


def _is_pkcs12(data: bytes) -> bool:
    """PFX (PKCS#12): SEQUENCE { INTEGER 3, SEQUENCE contentInfo ... } in DER."""
    if len(data) < 16 or data[0] != 0x30:
        return False
    n = data[1]
    pos = 2 + (n & 0x7F if n & 0x80 else 0)
    return data[pos:pos + 3] == b"\x02\x01\x03" and data[pos + 3:pos + 4] == b"\x30"


def printable(text: str) -> bool:
    """Mostly printable characters: text, not binary that happened to decode."""
    sample = text[:4000]
    return bool(sample) and sum(c.isprintable() or c in "\n\r\t" for c in sample) >= 0.95 * len(sample)
