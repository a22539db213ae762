"""Lines of a part: where a match sits (its line's bounds, the head and foot of the part) and the
decoration a marking may stand in. The base of the structure cues (structure, tables, mentions)."""
from __future__ import annotations

_QUOTE_PAIRS = {"“": "”", "‘": "’", "「": "」", "『": "』", '"': '"', "'": "'", "《": "》", "〈": "〉"}


# Decoration a marking may stand in and still be "the line": brackets, and Markdown
# heading/quote/list/table/emphasis marks (`> 工作秘密`, `| 密级 | 秘密 |`, `**机密★**`).
# Comment marks count as decoration too (`// 机密`, ` * 商业秘密` in a file's header comment,
# `<!-- 内部 -->`), and box-drawing borders (│机密★5年│).
_LEAD = " \t\r【[［(（〔<＜#>*-+|_~`/!=│┃║★"


_TRAIL = " \t\r】]］)）〕>＞*|_~`/!-=│┃║★"


def line_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    ls = text.rfind("\n", 0, start) + 1
    le = text.find("\n", end)
    return ls, (len(text) if le < 0 else le)


def at_line_head(text: str, start: int, end: int) -> bool:
    ls, _ = line_bounds(text, start, end)
    return not text[ls:start].strip(_LEAD)


def on_own_line(text: str, start: int, end: int) -> bool:
    ls, le = line_bounds(text, start, end)
    return not text[ls:start].strip(_LEAD) and not text[end:le].strip(_TRAIL)


FOOT_LINES = 3  # a marking at a document's foot (last page's foot, a pasted footer): the last lines


def in_doc_foot(text: str, end: int, max_lines: int = FOOT_LINES) -> bool:
    """Within the last `max_lines` non-empty lines of the part."""
    seen = 0
    pos = len(text)
    while pos > end:
        nl = text.rfind("\n", 0, pos)
        if nl < end:
            return seen < max_lines
        if text[nl + 1:pos].strip():
            seen += 1
            if seen >= max_lines:
                return False
        pos = nl
    return seen < max_lines


def in_doc_head(text: str, start: int, max_lines: int) -> bool:
    """Within the first `max_lines` non-empty lines of the part."""
    seen = 0
    pos = 0
    while pos <= start:
        nl = text.find("\n", pos)
        if nl < 0 or nl >= start:
            return seen < max_lines
        if text[pos:nl].strip():
            seen += 1
            if seen >= max_lines:
                return False
        pos = nl + 1
    return seen < max_lines


_CLOSERS = {"〔": "〕", "【": "】", "[": "]", "［": "］", "（": "）", "(": ")", "<": ">", "＜": "＞", "《": "》"}


def _lines_around(text: str, ls: int, le: int, n: int) -> tuple[list[str], list[str]]:
    """Up to n non-empty lines before and after the line [ls, le)."""
    before, pos = [], ls
    while pos > 0 and len(before) < n:
        prev = text.rfind("\n", 0, pos - 1) + 1
        line = text[prev:pos - 1]
        if line.strip():
            before.append(line)
        pos = prev
    after, pos = [], le
    while pos < len(text) and len(after) < n:
        nxt = text.find("\n", pos + 1)
        nxt = len(text) if nxt < 0 else nxt
        line = text[pos + 1:nxt]
        if line.strip():
            after.append(line)
        pos = nxt
    return before, after
