"""Legacy binary Office (OLE2 compound files): doc, xls, ppt, and encrypted OOXML.

Word 97-2003 text is read through the document's piece table (so text stored as
UTF-16 or as compressed 8-bit is put back in order), split into the main story
and the header/footer story; Excel through xlrd; PowerPoint from its text atoms.
Unknown OLE files fall back to the UTF-16 strings of every stream.
"""
from __future__ import annotations

import io
import re
import struct

import olefile
import xlrd

from guard.errors import ExtractionError
from guard.extract.cells import add_rows
from guard.extract.context import Context

_FIELD = re.compile(r"\x13[^\x13\x14\x15]*\x14|\x13[^\x13\x14\x15]*\x15")  # field code part of a field
_UTF16_RUN = re.compile(rb"(?:[\x20-\x7e\t\r\n]\x00|[\x00-\xff][\x30\x4e-\x9f\xff]){4,}")


def _u16(b: bytes, o: int) -> int:
    return struct.unpack_from("<H", b, o)[0]


def _u32(b: bytes, o: int) -> int:
    return struct.unpack_from("<I", b, o)[0]


def _clean_word(text: str) -> str:
    text = _FIELD.sub("", text)
    return (text.replace("\r", "\n").replace("\x07", "\t").replace("\x0b", "\n").replace("\x0c", "\n")
            .translate({c: None for c in range(0, 32) if c not in (9, 10)}))


def _word(ctx: Context, ole: olefile.OleFileIO, location: str) -> None:
    wd = ole.openstream("WordDocument").read()
    if len(wd) < 0x200 or _u16(wd, 0) != 0xA5EC:
        raise ExtractionError("corrupt", "not a Word 97-2003 document")
    flags = _u16(wd, 0x0A)
    if flags & 0x0100:
        raise ExtractionError("encrypted", "password-protected Word document")
    table_name = "1Table" if flags & 0x0200 else "0Table"
    if not ole.exists(table_name):
        raise ExtractionError("corrupt", f"Word document without its {table_name} stream")
    table = ole.openstream(table_name).read()
    csw = _u16(wd, 32)
    lw = 32 + 2 + csw * 2 + 2  # fibRgLw
    cslw = _u16(wd, lw - 2)
    ccp_text, ccp_ftn, ccp_hdd = _u32(wd, lw + 12), _u32(wd, lw + 16), _u32(wd, lw + 20)
    fc = lw + cslw * 4 + 2  # fibRgFcLcbBlob
    fc_clx, lcb_clx = _u32(wd, fc + 33 * 8), _u32(wd, fc + 33 * 8 + 4)
    clx = table[fc_clx:fc_clx + lcb_clx]
    i = 0
    while i < len(clx) and clx[i] == 0x01:  # Prc entries (formatting) precede the piece table
        i += 3 + _u16(clx, i + 1)
    if i >= len(clx) or clx[i] != 0x02:
        raise ExtractionError("corrupt", "Word piece table not found")
    lcb = _u32(clx, i + 1)
    plc = clx[i + 5:i + 5 + lcb]
    n = (len(plc) - 4) // 12
    cps = struct.unpack_from(f"<{n + 1}I", plc, 0)
    chunks = []
    for k in range(n):
        ctx.check_time()
        fcv = _u32(plc, 4 * (n + 1) + 8 * k + 2)
        length = cps[k + 1] - cps[k]
        if length < 0 or length > len(wd):
            raise ExtractionError("corrupt", "Word piece table out of range")
        if fcv & 0x40000000:
            start = (fcv & 0x3FFFFFFF) // 2
            chunks.append(wd[start:start + length].decode("cp1252", errors="replace"))
        else:
            chunks.append(wd[fcv:fcv + 2 * length].decode("utf-16-le", errors="replace"))
    text = "".join(chunks)
    body = text[:ccp_text]
    hdr_start = ccp_text + ccp_ftn
    ctx.add(_clean_word(body), f"{location}/document", "body")
    ctx.add(_clean_word(text[ccp_text:hdr_start]), f"{location}/footnotes", "note")
    ctx.add(_clean_word(text[hdr_start:hdr_start + ccp_hdd]), f"{location}/headers", "header")
    ctx.add(_clean_word(text[hdr_start + ccp_hdd:]), f"{location}/comments", "comment")


def _excel(ctx: Context, data: bytes, location: str) -> None:
    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=True, logfile=io.StringIO())
    except xlrd.XLRDError as e:
        if "encrypt" in str(e).lower():
            raise ExtractionError("encrypted", "password-protected Excel workbook") from None
        raise ExtractionError("corrupt", f"unreadable Excel workbook: {e}") from None
    try:
        ctx.add("\n".join(book.sheet_names()), f"{location}/sheet names", "title")  # the tabs Excel shows
        for sname in book.sheet_names():
            ctx.check_time()
            sheet = book.sheet_by_name(sname)
            add_rows(ctx, ((r, sheet.row_values(r)) for r in range(sheet.nrows)), f"{location}/{sname}!",
                     lambda r, c: f"{xlrd.formula.colname(c)}{r + 1}")
            book.unload_sheet(sname)
    finally:
        book.release_resources()


def _biff_headers(ctx: Context, ole: olefile.OleFileIO, location: str) -> None:
    """Print headers/footers of every sheet: BIFF8 HEADER (0x14) and FOOTER (0x15) records,
    which xlrd does not expose."""
    from guard.extract.ooxml import _XL_HF_CODES

    stream = ole.openstream("Workbook" if ole.exists("Workbook") else "Book").read()
    out, i = [], 0
    while i + 4 <= len(stream):
        rtype, rlen = struct.unpack_from("<HH", stream, i)
        body = stream[i + 4:i + 4 + rlen]
        i += 4 + rlen
        if rtype in (0x14, 0x15) and len(body) >= 3:
            cch, flags = struct.unpack_from("<HB", body, 0)
            raw = body[3:3 + (2 * cch if flags & 1 else cch)]
            text = raw.decode("utf-16-le" if flags & 1 else "latin-1", errors="replace")
            out.extend(_XL_HF_CODES.sub("", sec).strip() for sec in re.split(r"&[LCR]", text))
    ctx.add("\n".join(t for t in out if t), f"{location}/print-headers", "header")


def _powerpoint(ctx: Context, ole: olefile.OleFileIO, location: str) -> None:
    s = ole.openstream("PowerPoint Document").read()
    out, i = [], 0
    while i + 8 <= len(s):
        ver_inst, rtype, rlen = struct.unpack_from("<HHI", s, i)
        i += 8
        if ver_inst & 0x000F == 0x000F:
            continue  # container: its children follow
        body = s[i:i + rlen]
        if rtype in (0x0FA0, 0x0FBA):
            out.append(body.decode("utf-16-le", errors="replace"))
        elif rtype == 0x0FA8:
            out.append(body.decode("latin-1"))
        i += rlen
    ctx.add("\n".join(t.replace("\r", "\n") for t in out), f"{location}/slides", "body")


def _strings(ctx: Context, ole: olefile.OleFileIO, location: str) -> None:
    for entry in ole.listdir():
        ctx.check_time()
        data = ole.openstream(entry).read()
        runs = [m.group().decode("utf-16-le", errors="replace") for m in _UTF16_RUN.finditer(data)]
        ctx.add("\n".join(runs), f"{location}/{'/'.join(entry)}", "body")


def _properties(ctx: Context, ole: olefile.OleFileIO, location: str) -> None:
    def text(v) -> str:
        if isinstance(v, bytes):
            for enc in ("utf-8", "gb18030"):
                try:
                    return v.decode(enc).rstrip("\x00")
                except UnicodeDecodeError:
                    continue
            return v.decode("latin-1")
        return "" if v is None else str(v)

    lines = []
    meta = ole.get_metadata()
    for attr in ("title", "subject", "keywords", "comments", "category", "company", "manager"):
        v = text(getattr(meta, attr, None))
        if v.strip():
            lines.append(f"{attr}：{v}")
    if ole.exists("\x05DocumentSummaryInformation"):
        try:
            for prop in ole.get_userdefined_properties("\x05DocumentSummaryInformation"):
                lines.append(f"{text(prop.get('property_name'))}：{text(prop.get('value'))}")
        except Exception:  # malformed property sets must not hide the document text
            pass
    ctx.add("\n".join(lines), f"{location}/properties", "property")


def extract_ole(ctx: Context, data: bytes, location: str) -> None:
    try:
        ole = olefile.OleFileIO(data)
    except (OSError, ValueError, struct.error) as e:
        raise ExtractionError("corrupt", f"unreadable OLE2 file: {e}") from None
    with ole:
        if ole.exists("EncryptionInfo") or ole.exists("EncryptedPackage"):
            raise ExtractionError("encrypted", "password-protected Office document")
        try:
            _properties(ctx, ole, location)
        except (OSError, ValueError, struct.error, IndexError):
            pass
        try:
            if ole.exists("WordDocument"):
                _word(ctx, ole, location)
            elif ole.exists("Workbook") or ole.exists("Book"):
                _excel(ctx, data, location)
                _biff_headers(ctx, ole, location)
            elif ole.exists("PowerPoint Document"):
                _powerpoint(ctx, ole, location)
            else:
                _strings(ctx, ole, location)
        except (OSError, ValueError, struct.error, IndexError, UnicodeError) as e:
            raise ExtractionError("corrupt", f"unreadable legacy Office file: {e}") from None
