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
_PERIOD = re.compile(r"^\s*(?:\d{4}\s*年(?:\s*\d{1,2}\s*月)?(?:\s*\d{1,2}\s*日)?|\d{4}[-./]\d{1,2}(?:[-./]\d{1,2})?"
                     r"|(?:\d{1,4}|[一二三四五六七八九十两半]{1,3})\s*(?:年|个月|月)|长期|启用前|[^\s，。：:]{0,12}?(?:后解密|时解密))")


# A colon and an explanation after a marking: a definition (核心商密▲5年：表示……).
_EXPLAINED = re.compile(r"^\s*[:：]\s*\S{2}")


def has_cue(text: str, start: int, end: int, before_cues, after_cues, previous_line_cues=(), window: int = 16) -> bool:
    ls, le = line_bounds(text, start, end)
    before = text[max(ls, start - window):start]
    after = text[end:min(le, end + window)]
    after = _PERIOD.sub("", after, count=1).lstrip(" \t”’」』\"'》，,")  # (内部资料，是指…)
    if any(c in before for c in before_cues) or any(after.startswith(c) for c in after_cues):
        return True
    if _EXPLAINED.match(after):
        return True
    rest = text[end:le].strip()
    if len(rest) <= 8 and rest.endswith(("?", "？")):  # a short question about it: 机密★5年呢？
        return True
    if previous_line_cues and ls > 0 and not text[ls:start].strip(_LEAD):
        # The label over an example box: the line before, past a code fence or a box's border
        # (示例：/```/机密★5年, ┌─ 示例 ─┐/│机密★5年│).
        before, _ = _lines_around(text, ls, ls, 3)
        for prev in before:
            prev = prev.strip()
            if prev.endswith(tuple(previous_line_cues)) or (len(prev) <= 24 and any(c in prev for c in _BOX_LABELS)):
                return True
            if not _FENCE.match(prev):
                break
    return False


_FENCE = re.compile(r"^(?:```|~~~)[\w+-]*$|^[┌┐└┘├┤─━═╔╗╚╝╠╣│┃║+\-=*_]+$")
_BOX_LABELS = ("示例", "示意", "样式", "样例", "范例", "模板", "样张")


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
        if w == "marking_line" and (part_kind in MARKING_AREAS or in_doc_head(text, start, head_lines)
                                    or in_doc_foot(text, end)) and marking_tail(text, start, end):
            return True
        if w in ("field_column", "register_column"):
            rows = column_rows(text, start, end)
            if rows and (rows == 1) == (w == "field_column"):
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
    # A column of options, one level a line (a CSV's 密级选项 / 绝密 / 机密 / 秘密).
    word = text[start:end].strip(_LEAD + _TRAIL)
    bare = [line.strip(_LEAD + _TRAIL + "□☐○,，;；") for line in (*before[:1], *after[:1])]
    if any(b != word and _BARE_LEVEL.fullmatch(b) for b in bare):
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
    siblings = [line for line in (*before[:1], *after[:1]) if _ITEM.match(line)]
    if not siblings:
        return False
    if any(_ANY_LEVEL.search(line) for line in siblings):
        return True  # other items name levels too: a list or quiz of markings
    for line in before:  # up through the other items to the heading
        if not _ITEM.match(line):
            return any(c in line for c in _HEADING_CUES)
    return False


_ANY_LEVEL = re.compile(r"核心商密|普通商密|商业秘密|工作秘密|绝密|机密|秘密|商密|内部|(?i:top secret|secret|confidential)")
# The options of a form field listed together (密级：绝密/机密/秘密, □机密 □秘密 □非密).
_OPTION = re.compile(r"核心商密|普通商密|商业秘密|工作秘密|绝密|机密|秘密|内部公开|内部|公开|非密")
_OPTION_GAP = 4
_LEVEL_WORDS = re.compile(r"核心商密|普通商密|商业秘密|商密|技术秘密|经营秘密|(?:公司|企业|集团)(?:秘密|机密|绝密)|工作秘密|绝密|机密|秘密"
                          r"|内部|受控|(?i:top secret|secret|confidential|restricted|internal)")
_OPTION_SEP = re.compile(r"^[\s/、,，;；|□☐▢◻○◯☑☒■▣√✓✔\[\]()（）xX]*$")  # only separators and boxes between
# Placeholders of a template's 版头 (〔20××〕×号, ××××年××月××日, 机密★×年): an example of where a
# marking goes, not a document under one. An owner written ××公司 is a name, not a placeholder.
_PLACEHOLDER = re.compile(r"(?:19|20)[×xX＊*]{2}|[×X＊]{1,4}\s*(?:年|月|日|号)|[xX]{2,4}\s*(?:年|月|日)")
TEMPLATE_REACH = 4


def is_option_list(text: str, start: int, end: int) -> bool:
    """Several levels listed side by side on the match's line: a form's options, not its value."""
    ls, le = line_bounds(text, start, end)
    found = [(m.start(), m.end(), m.group()) for m in _OPTION.finditer(text, ls, le)]
    if len({w for _, _, w in found}) < 2:
        return False
    run = 1
    for (_, e1, _), (s2, _, _) in zip(found, found[1:]):
        gap = text[e1:s2]
        run = run + 1 if len(gap) <= _OPTION_GAP and _OPTION_SEP.match(gap) else 1
        if run >= 2:
            return True
    return False


# A glossary entry: a bracketed term at a line's head, then its definition (【工作秘密】指……。).
_DEFINES = ("指", "是指", "即", "是", "：", ":", "，是", "——")
_TERM_OPEN = "【〔［[「"


def is_glossary(text: str, start: int, end: int) -> bool:
    ls, le = line_bounds(text, start, end)
    lead = text[ls:start].strip()
    if not lead or lead[-1] not in _TERM_OPEN or lead[:-1].strip(" >#*-"):
        return False
    close = text.find(_CLOSERS.get(lead[-1], "】"), end, le)
    if close < 0:
        return False
    rest = text[close + 1:le].strip()
    if rest.startswith(_DEFINES):
        return True
    if rest.endswith("。"):  # a sentence after the term, and sibling entries around it
        before, after = _lines_around(text, ls, le, 1)
        return any(line.lstrip().startswith(lead[-1]) for line in (*before, *after))
    return False


def is_heading(text: str, start: int, end: int) -> bool:
    """A level alone on its line as the heading of a passage that explains it (## 工作秘密 /
    工作秘密是指……; 机密 / 机密级国家秘密是……): a textbook's section, not a document's marking."""
    ls, le = line_bounds(text, start, end)
    if text[ls:start].strip(_LEAD) or text[end:le].strip(_TRAIL):
        return False
    _, after = _lines_around(text, ls, le, 1)
    if not after:
        return False
    word = text[start:end].strip(_LEAD + _TRAIL)
    nxt = after[0].strip()
    return bool(word) and nxt.startswith(word) and nxt[len(word):].lstrip("级").startswith(_EXPLAINS)


_EXPLAINS = ("是", "指", "，", ",", "：", ":", "的", "国家秘密", "即", "一般", "通常", "主要")


def is_template(text: str, start: int, end: int) -> bool:
    """Placeholders on the marking's line or the lines around it (a blank 版头 template)."""
    ls, le = line_bounds(text, start, end)
    before, after = _lines_around(text, ls, le, TEMPLATE_REACH)
    return any(_PLACEHOLDER.search(line) for line in (text[ls:le], *before, *after))


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


_BARE_LEVEL = re.compile(r"(?:核心商业秘密|普通商业秘密|核心商密|普通商密|商业秘密|商密|技术秘密|经营秘密|(?:公司|企业|集团)(?:秘密|机密|绝密)"
                         r"|工作秘密|绝密|机密|秘密|内部(?:资料|文件|材料|使用|公开)?|仅限内部使用|限内部使用|受控|公开|非密)级?")


def level_of(value: str) -> str:
    m = _LEVEL_SYMBOL.search(value)
    if m:
        return m.group(1)
    for word in ("核心商密", "普通商密", "商业秘密", "工作秘密", "绝密", "机密", "秘密"):
        if word in value:
            return word
    return ""


# The hundred most common surnames (about 85% of the population) and a few double ones: a number
# written right after "张伟" or "欧阳娜" belongs to a person.
_SURNAMES = set("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
                "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝")
_DOUBLE_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯", "令狐")
_NAME_BEFORE = re.compile(r"(?:^|[\s,，、|:：;；])([\u4e00-\u9fff]{2,4})[\s,，、|:：;；]*$")


# Or a label that says the number is a person's (员工3, 姓名, 身份证号).
_PERSON_LABEL = re.compile(r"(?:员工|职工|人员|学生|学员|客户|患者|住户|乘客|姓名|身份证(?:号码?)?|证件号(?:码)?|ID\s*No\.?)\s*\w{0,3}[\s:：,，|]*$")


def beside_name(text: str, start: int) -> bool:
    """Whether a person's name stands right before `start` on its line (张伟 110105 19880315 0012)."""
    ls = text.rfind("\n", 0, start) + 1
    if _PERSON_LABEL.search(text, max(ls, start - 16), start):
        return True
    m = _NAME_BEFORE.search(text, max(ls - 1, start - 12, 0), start)
    if m is None:
        return False
    name = m.group(1)
    return name.startswith(_DOUBLE_SURNAMES) or (name[0] in _SURNAMES and len(name) <= 3)
