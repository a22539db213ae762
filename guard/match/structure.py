"""Structure cues that tell a marking from a mention of one.

A marking stands at the head of a line, often on a short line of its own, near the
top of a document or in a header, footer, property or file name. A mention sits in
a sentence, in quotes, or after words such as 例如 / 形式为.
"""
from __future__ import annotations

import re

from guard.match.lines import (  # noqa: F401  (FOOT_LINES and the line helpers are read through here)
    _CLOSERS, _LEAD, _TRAIL, FOOT_LINES, at_line_head, in_doc_foot, in_doc_head, line_bounds, on_own_line,
)
from guard.match.tables import column_rows
from guard.types import MARKING_AREAS


# What may follow a level word on its marking line: a separator, then a short handling
# instruction, period field or title (秘密　请勿复印, 工作秘密（用后交回）, 〔机密〕关于……的报告).
_SEPARATOR = " \t\u3000（(〔【[［<《"
_SENTENCE_PUNCT = frozenset("，,。？?！!；;")
_QUESTION = ("吗", "什么", "怎么", "如何", "为何", "为什么", "是否", "哪些", "哪个", "多少")
# A level word followed by one of these is the subject of a phrase (商业秘密 保护指南), not a marking.
_TOPIC = ("保护", "管理", "泄露", "泄密", "侵权", "案例", "培训", "知识", "概念", "定义", "认定",
          "范围", "法", "规定", "制度", "办法", "条例", "的", "与", "和", "及", "或", "是", "等", "类", "问题",
          "花园", "任务", "武器", "行动", "档案")
MARKING_TAIL_MAX = 40
# A 份号 before the level on one line (a 版头 collapsed by copying from a PDF: 000120　秘　密).
# A page number before the level on a footer line (第3页 共12页　机密, - 3 -　秘密, Page 2 of 9).
_PAGE = re.compile(r"^(?:第\s*\d+\s*页(?:\s*[,，/]?\s*共\s*\d+\s*页)?|[-—]\s*\d+\s*[-—]|(?i:page)\s*\d+(?:\s*(?:of|/)\s*\d+)?"
                   r"|\d+\s*/\s*\d+)(?=[ \t\u3000]|$)")
_SERIAL = re.compile(r"^(?:份号\s*[:：]?\s*)?(?:No\.?\s*)?\d{4,8}(?=[ \t\u3000]|$)")


def marking_tail(text: str, start: int, end: int) -> bool:
    """Whether what follows a level word at a line head makes the line a marking line: nothing
    (the level alone), or a separator and a short instruction, period field or title."""
    ls, le = line_bounds(text, start, end)
    lead = text[ls:start]
    if lead.lstrip().startswith("<!--"):
        lead = lead.lstrip()[4:]
    lead = lead.strip(" \t\r#>*+|_~`/!=│┃║★\u3000")
    lead = _PAGE.sub("", _SERIAL.sub("", lead, count=1), count=1).strip(" \t\u3000#>*-+|_~`/!=")
    tail = text[end:le]
    if lead:
        closer = _CLOSERS.get(lead[-1])
        if closer is None or len(lead) > 1:
            return False
        # A bracketed level (〔机密〕, 【秘密】): the bracket closes right after it.
        stripped = tail.lstrip(" \t")
        if not stripped.startswith(closer):
            return False
        tail = stripped[1:].rstrip(_TRAIL)
        if not tail.strip():
            return True
    elif not tail.rstrip(_TRAIL).strip() or tail.rstrip(_TRAIL).strip() == "件":
        return True  # the level alone, or 机密件 (a classified copy) alone
    elif tail[0] not in _SEPARATOR:
        return False
    rest = tail.strip(" \t\u3000\r")  # a CRLF line's CR is not part of its title
    if len(rest) > MARKING_TAIL_MAX or any(c in _SENTENCE_PUNCT for c in rest):
        return False
    if any(q in rest for q in _QUESTION):
        return False
    return not rest.lstrip("（(〔【[<《").startswith(_TOPIC)


def satisfies(where: tuple[str, ...], text: str, start: int, end: int, part_kind: str, head_lines: int,
              bounds: tuple[int, int] | None = None) -> bool:
    """`bounds`: (end of the head lines, start of the foot lines) of `text` when the caller knows them."""
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
        if w == "marking_line" and (part_kind in MARKING_AREAS or (
                start <= bounds[0] or end > bounds[1] if bounds else
                in_doc_head(text, start, head_lines) or in_doc_foot(text, end))) and marking_tail(text, start, end):
            return True
        if w in ("field_column", "register_column"):
            rows = column_rows(text, start, end)
            if rows and (rows == 1) == (w == "field_column"):
                return True
    return False


