"""Mentions: a marking's words used to talk about markings (quoted, after 例如, listed as examples,
a form's options, a template's 版头, a glossary, a textbook's heading), and whose a number is."""
from __future__ import annotations

import re

from guard.match.lines import _CLOSERS, _LEAD, _QUOTE_PAIRS, _TRAIL, _lines_around, line_bounds

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


def is_named_above(text: str, start: int, end: int) -> bool:
    """The same words quoted or in 《》 on a line just above (这首歌叫《秘密》，歌词如下： / 秘密):
    the text goes on about a title or term it has just named."""
    ls, le = line_bounds(text, start, end)
    word = text[start:end].strip()
    if not word:
        return False
    before, _ = _lines_around(text, ls, le, 2)
    quoted = tuple(o + word + c for o, c in _QUOTE_PAIRS.items())
    return any(q in line for line in before for q in quoted)
