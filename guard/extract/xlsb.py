"""Excel binary workbooks (.xlsb): cells through calamine, print headers/footers from the
sheets' BIFF12 records (calamine does not report them).

calamine inflates the zip members itself, so each one is first read through our bounded
reader: a member that breaks a limit never reaches it.
"""
from __future__ import annotations

import io
import struct
import zipfile

import python_calamine

from guard.errors import ExtractionError
from guard.extract.cells import add_rows
from guard.extract.context import Context
from guard.extract.zipsafe import read_member

_HEADER_FOOTER = 479  # BrtBeginHeaderFooter: flags, then six nullable wide strings
_HF_CODES = ("&L", "&C", "&R")


def _col(n: int) -> str:
    s = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def _varint(data: bytes, pos: int, most: int) -> tuple[int, int]:
    """A little-endian base-128 number of at most `most` bytes: (value, position after it)."""
    value = shift = 0
    for _ in range(most):
        if pos >= len(data):
            break
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    return value, pos


def _records(data: bytes):
    """(type, payload) of each BIFF12 record: a type of up to 2 and a size of up to 4 varint bytes."""
    pos = 0
    while pos < len(data):
        rtype, pos = _varint(data, pos, 2)
        size, pos = _varint(data, pos, 4)
        yield rtype, data[pos:pos + size]
        pos += size


def _header_footer(data: bytes) -> list[str]:
    out = []
    for rtype, body in _records(data):
        if rtype != _HEADER_FOOTER:
            continue
        pos = 2
        for _ in range(6):
            if pos + 4 > len(body):
                break
            (cch,) = struct.unpack_from("<I", body, pos)
            pos += 4
            if cch == 0xFFFFFFFF:
                continue
            text = body[pos:pos + 2 * cch].decode("utf-16-le", "replace")
            pos += 2 * cch
            for code in _HF_CODES:  # one line per section, like the xlsx reader
                text = text.replace(code, "\n")
            out.extend(line.strip() for line in text.split("\n") if line.strip())
    return out


def extract_xlsb(ctx: Context, zf: zipfile.ZipFile, names: dict, location: str) -> set[str]:
    """Read the workbook; returns the member names it covered."""
    covered = {n for n in names if n.startswith(("xl/worksheets/", "xl/workbook.bin", "xl/sharedStrings.bin",
                                                  "xl/styles.bin"))}
    sheets_raw = {}
    for name in sorted(covered):
        data = read_member(ctx, zf, names[name])  # bounded: limits hold before calamine sees it
        if name.startswith("xl/worksheets/") and name.endswith(".bin"):
            sheets_raw[name] = data
    fp = zf.fp
    raw = fp.getvalue() if isinstance(fp, io.BytesIO) else None
    if raw is None:
        raise ExtractionError("unsupported", "xlsb workbook could not be handed to its reader")
    try:
        wb = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(raw))
        ctx.add("\n".join(wb.sheet_names), f"{location}/sheet names", "title")  # the tabs Excel shows
        for sheet_name in wb.sheet_names:
            ctx.check_time()
            sheet = wb.get_sheet_by_name(sheet_name)
            r0, c0 = sheet.start or (0, 0)
            add_rows(ctx, enumerate(sheet.to_python(skip_empty_area=True)), f"{location}/{sheet_name}!",
                     lambda r, c: f"{_col(c0 + c)}{r0 + r + 1}")
    except python_calamine.PasswordError:
        raise ExtractionError("encrypted", "password-protected xlsb workbook") from None
    except (python_calamine.CalamineError, OSError, ValueError) as e:
        raise ExtractionError("corrupt", f"unreadable xlsb workbook: {e}"[:200]) from None
    for name, data in sheets_raw.items():
        lines = _header_footer(data)
        ctx.add("\n".join(lines), f"{location}/{name.rsplit('/', 1)[-1][:-4]}!header", "header")
    return covered
