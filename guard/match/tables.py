"""Tables: a level alone in a cell under a column named for classification. One data row is the
document's own metadata (| 文件编号 | 密级 |); several rows of titles with levels is a register."""
from __future__ import annotations

import re

from guard.match.lines import line_bounds

_LEVEL_WORDS = re.compile(r"核心商密|普通商密|商业秘密|商密|技术秘密|经营秘密|(?:公司|企业|集团)(?:秘密|机密|绝密)|工作秘密|绝密|机密|秘密"
                          r"|内部|受控|(?i:top secret|secret|confidential|restricted|internal)")


# Tables: a level alone in a cell under a column named for classification. One data row is the
# document's own metadata (| 文件编号 | 密级 |); several rows of titles with levels is a register.
_COLUMN_NAME = re.compile(r"密级|保密等级|保密级别|秘密等级|涉密等级|定密|(?i:classification|security\s*level|sensitivity)")


_TABLE_MENTION = ("示例", "含义", "说明", "定义", "解释", "标志", "写法", "类别", "种类", "举例")


_SEP_ROW = re.compile(r"^[\s|:：\-—=+]*$")


_CELL_EXTRA = re.compile(r"^[\s*_`\"'“”‘’]*(?:级)?(?:[ \t]*[★▲*][^|\t,]{0,12})?[\s*_`\"'“”‘’]*$")


MAX_TABLE_ROWS = 200


def _cells(line: str, sep: str) -> list[tuple[int, int]]:
    out, pos = [], 0
    for piece in line.split(sep):
        out.append((pos, pos + len(piece)))
        pos += len(piece) + 1
    return out


def column_rows(text: str, start: int, end: int) -> int:
    """0 unless text[start:end] fills a table cell under a classification column; else the
    number of data rows of that table whose cell in that column names a level."""
    ls, le = line_bounds(text, start, end)
    line = text[ls:le]
    sep = "|" if "|" in line else "\t" if "\t" in line else "," if "," in line else ""
    if not sep:
        return 0
    cells = _cells(line, sep)
    col = next((k for k, (a, b) in enumerate(cells) if a <= start - ls and end - ls <= b), None)
    if col is None:
        return 0
    a, b = cells[col]
    if line[a:start - ls].strip(" \t*_`\"'“”‘’") or not _CELL_EXTRA.match(line[end - ls:b]):
        return 0
    # The table: contiguous lines with the same separator, up to its header.
    header = None
    pos = ls
    rows = [line]
    for _ in range(MAX_TABLE_ROWS):
        if pos == 0:
            break
        prev = text.rfind("\n", 0, pos - 1) + 1
        cand = text[prev:pos - 1]
        if sep not in cand:
            break
        if not _SEP_ROW.match(cand):
            header = cand
            rows.append(cand)
        pos = prev
    if len(rows) < 2:
        return 0
    header = rows[-1]
    hcells = _cells(header, sep)
    if col >= len(hcells):
        return 0
    name = header[hcells[col][0]:hcells[col][1]]
    if not _COLUMN_NAME.search(name) or any(c in header for c in _TABLE_MENTION):
        return 0
    # Data rows below the header (and below this line, within the same table).
    body = rows[:-1][::-1]
    pos = le
    for _ in range(MAX_TABLE_ROWS):
        if pos >= len(text):
            break
        nxt = text.find("\n", pos + 1)
        nxt = len(text) if nxt < 0 else nxt
        cand = text[pos + 1:nxt]
        if sep not in cand:
            break
        body.append(cand)
        pos = nxt
    count = 0
    for row in body:
        if _SEP_ROW.match(row):
            continue
        rc = _cells(row, sep)
        if col < len(rc) and _LEVEL_WORDS.search(row[rc[col][0]:rc[col][1]]):
            count += 1
    return count
