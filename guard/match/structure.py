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
_LEAD = " \t\r【[［(（〔<＜#>*-+|_~`"
_TRAIL = " \t\r】]］)）〕>＞*|_~`"


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
            # A symmetric quote opens when an odd number of them precede the match; a match
            # with the quote inside it spans quoted strings ("密级": "机密"), it is not in one.
            if before.count(o) % 2 == 1 and c in after and o not in text[start:end]:
                return True
        elif c not in before[i:] and c in after:
            return True
    return False


# A period a shorter match leaves behind (机密★ | 5年是什么意思): skipped before after-cues.
_PERIOD = re.compile(r"^\s*(\d{1,4}|[一二三四五六七八九十两半]{1,3})\s*(年|个月|月)|^\s*长期")


# A colon and an explanation after a marking: a definition (核心商密▲5年：表示……).
_EXPLAINED = re.compile(r"^\s*[:：]\s*\S{2}")


def has_cue(text: str, start: int, end: int, before_cues, after_cues, previous_line_cues=(), window: int = 16) -> bool:
    ls, le = line_bounds(text, start, end)
    before = text[max(ls, start - window):start]
    after = text[end:min(le, end + window)]
    after = _PERIOD.sub("", after, count=1).lstrip(" \t”’」』\"'》")
    if any(c in before for c in before_cues) or any(after.startswith(c) for c in after_cues):
        return True
    if _EXPLAINED.match(after):
        return True
    rest = text[end:le].strip()
    if len(rest) <= 8 and rest.endswith(("?", "？")):  # a short question about it: 机密★5年呢？
        return True
    if previous_line_cues and ls > 0 and not text[ls:start].strip():
        prev = text[max(0, ls - 200):ls].rstrip().rsplit("\n", 1)[-1].strip()
        return prev.endswith(tuple(previous_line_cues))
    return False


# What may follow a level word on its marking line: a separator, then a short handling
# instruction, period field or title (秘密　请勿复印, 工作秘密（用后交回）, 〔机密〕关于……的报告).
_SEPARATOR = " \t\u3000（(〔【[［<《"
_CLOSERS = {"〔": "〕", "【": "】", "[": "]", "［": "］", "（": "）", "(": ")", "<": ">", "＜": "＞", "《": "》"}
_SENTENCE_PUNCT = frozenset("，,。？?！!；;")
_QUESTION = ("吗", "什么", "怎么", "如何", "为何", "为什么", "是否", "哪些", "哪个", "多少")
# A level word followed by one of these is the subject of a phrase (商业秘密 保护指南), not a marking.
_TOPIC = ("保护", "管理", "泄露", "泄密", "侵权", "案例", "培训", "知识", "概念", "定义", "认定",
          "范围", "法", "规定", "制度", "办法", "条例", "的", "与", "和", "及", "或", "是", "等", "类", "问题",
          "花园", "任务", "武器", "行动", "档案")
MARKING_TAIL_MAX = 40


def marking_tail(text: str, start: int, end: int) -> bool:
    """Whether what follows a level word at a line head makes the line a marking line: nothing
    (the level alone), or a separator and a short instruction, period field or title."""
    ls, le = line_bounds(text, start, end)
    lead = text[ls:start].strip(" \t\r#>*-+|_~`")
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
    elif not tail.rstrip(_TRAIL).strip():
        return True
    elif tail[0] not in _SEPARATOR:
        return False
    rest = tail.strip(" \t\u3000")
    if len(rest) > MARKING_TAIL_MAX or any(c in _SENTENCE_PUNCT for c in rest):
        return False
    if any(q in rest for q in _QUESTION):
        return False
    return not rest.lstrip("（(〔【[<《").startswith(_TOPIC)


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
        if w == "marking_line" and (part_kind in MARKING_AREAS or in_doc_head(text, start, head_lines)) \
                and marking_tail(text, start, end):
            return True
    return False


# Markings listed as examples (training slides, quizzes, handbooks): an item prefix (A．, 1.,
# （1）, ①, - , a table row), with sibling items, a heading that says what is listed, or other
# levels of marking listed beside it. A document carries one marking, not a list of them.
_ITEM = re.compile(
    r"[ \t]*(?:[A-Za-zＡ-Ｚａ-ｚ][.．、)）]|\d{1,3}[.．、)）]|[（(](?:\d{1,3}|[一二三四五六七八九十]{1,3}|[A-Za-z])[)）]"
    r"|[一二三四五六七八九十]{1,3}、|[①-⑳]|[-*•·+](?=[ \t])|\|)[ \t]*")
_HEADING_CUES = ("示例", "标志", "标识", "写法", "形式", "样式", "格式", "举例", "例如", "下列", "以下", "选项",
                 "哪", "正确", "错误", "说明", "含义", "类别", "种类", "分为")
_TITLE_CUES = ("示例", "标志", "写法", "样式", "格式", "举例", "标注方法", "标注形式")
_LEVEL_SYMBOL = re.compile(r"(核心商密|普通商密|商业秘密|工作秘密|绝密|机密|秘密)级?\s*[★▲*]")
LIST_REACH = 2    # lines either side searched for other levels of marking
HEADING_REACH = 10


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


def is_listed(text: str, start: int, end: int, level: str) -> bool:
    """Whether the marking at text[start:end] (of level `level`) is an item of a list of examples."""
    ls, le = line_bounds(text, start, end)
    before, after = _lines_around(text, ls, le, HEADING_REACH)
    near = [text[ls:le], *before[:LIST_REACH], *after[:LIST_REACH]]
    if level and any(m.group(1) != level for line in near for m in _LEVEL_SYMBOL.finditer(line)):
        return True
    if before and len(before[0].strip()) <= 30 and any(c in before[0] for c in _TITLE_CUES):
        return True  # right under a heading that says what follows (密级标志示例, 国家秘密标志)
    item = _ITEM.match(text, ls)
    if item is None:
        return False
    table_row = text[item.start():item.end()].strip() == "|"
    if not table_row and text[item.end():start].strip(" \t*_`【[（(〔"):
        return False  # the prefix belongs to something else on the line, not to the marking
    if table_row:
        # A table of examples says so in its header row (| 类别 | 标志示例 |) or above it;
        # a form's rows (| 密级 | 机密 |) do not.
        for line in before:
            if any(c in line for c in _HEADING_CUES):
                return True
            if not line.lstrip().startswith("|"):
                return False
        return False
    if any(_ITEM.match(line) for line in (*before[:1], *after[:1])):
        return True
    for line in before:  # up through the other items to the heading
        if not _ITEM.match(line):
            return any(c in line for c in _HEADING_CUES)
    return False


def level_of(value: str) -> str:
    m = _LEVEL_SYMBOL.search(value)
    if m:
        return m.group(1)
    for word in ("核心商密", "普通商密", "商业秘密", "工作秘密", "绝密", "机密", "秘密"):
        if word in value:
            return word
    return ""
