"""Structure cues that tell a marking from a mention of one.

A marking stands at the head of a line, often on a short line of its own, near the
top of a document or in a header, footer, property or file name. A mention sits in
a sentence, in quotes, or after words such as 例如 / 形式为.
"""
from __future__ import annotations

import re

from guard.types import MARKING_AREAS

_QUOTE_PAIRS = {"“": "”", "‘": "’", "「": "」", "『": "』", '"': '"', "'": "'", "《": "》", "〈": "〉"}
# Decoration a marking may stand in and still be "the line": brackets, and Markdown
# heading/quote/list/table/emphasis marks (`> 工作秘密`, `| 密级 | 秘密 |`, `**机密★**`).
_LEAD = " \t\r【[(（〔<＜#>*-+|_~`"
_TRAIL = " \t\r】])）〕>＞*|_~`"


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


def is_quoted(text: str, start: int, end: int) -> bool:
    """Inside a pair of quotes on the same line (“机密★5年”, 「秘密」)."""
    ls, le = line_bounds(text, start, end)
    before = text[ls:start]
    after = text[end:le]
    for o, c in _QUOTE_PAIRS.items():
        i = before.rfind(o)
        if i < 0:
            continue
        if o == c:
            # A symmetric quote opens when an odd number of them precede the match.
            if before.count(o) % 2 == 1 and c in after:
                return True
        elif c not in before[i:] and c in after:
            return True
    return False


# A period a shorter match leaves behind (机密★ | 5年是什么意思): skipped before after-cues.
_PERIOD = re.compile(r"^\s*(\d{1,4}|[一二三四五六七八九十两半]{1,3})\s*(年|个月|月)|^\s*长期")


def has_cue(text: str, start: int, end: int, before_cues, after_cues, previous_line_cues=(), window: int = 16) -> bool:
    ls, le = line_bounds(text, start, end)
    before = text[max(ls, start - window):start]
    after = text[end:min(le, end + window)]
    after = _PERIOD.sub("", after, count=1).lstrip(" \t”’」』\"'》")
    if any(c in before for c in before_cues) or any(after.startswith(c) for c in after_cues):
        return True
    if previous_line_cues and ls > 0 and not text[ls:start].strip():
        prev = text[max(0, ls - 200):ls].rstrip().rsplit("\n", 1)[-1].strip()
        return prev.endswith(tuple(previous_line_cues))
    return False


def satisfies(where: tuple[str, ...], text: str, start: int, end: int, part_kind: str, head_lines: int) -> bool:
    for w in where:
        if w == "anywhere":
            return True
        if w == "marking_area" and part_kind in MARKING_AREAS and on_own_line(text, start, end):
            return True
        if w == "line_head" and at_line_head(text, start, end):
            return True
        if w == "own_line" and on_own_line(text, start, end):
            return True
        if w == "doc_head" and on_own_line(text, start, end) and in_doc_head(text, start, head_lines):
            return True
    return False
