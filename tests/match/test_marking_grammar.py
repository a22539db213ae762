"""The marking grammar, generated: vocabulary x position x evasion must flag with the right rule
family and action; mentions built from the same vocabulary must pass (docs/markings.md).

Every (family, position) cell runs on every run: the cells are parametrized, and hypothesis draws
the members inside each cell (which level word, period, field name, separator, bracket, tick,
filler, evasion). CI runs derandomized (a fixed seed); `GUARD_EXPLORE=1` explores freely.
The levels, field names, handling phrases, ticks and brackets come from the policy's `grammar:`
entries where they are lists, so a word added there is tested at once.
"""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guard.policy.loader import load_grammar

GRAMMAR = load_grammar()
EXPLORE = bool(os.environ.get("GUARD_EXPLORE"))
CELL = settings(max_examples=200 if EXPLORE else 12, derandomize=not EXPLORE, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --- vocabulary -------------------------------------------------------------------------------
FAMILY = {
    "state": {"levels": GRAMMAR["state_level"], "prefix": ("state-secret.",), "action": "block", "sym": "★"},
    "commercial": {"levels": tuple(x for x in GRAMMAR["commercial_level"]), "prefix": ("commercial-secret.",),
                   "action": "block", "sym": "▲"},
    "work": {"levels": GRAMMAR["work_level"], "prefix": ("work-secret.",), "action": "block", "sym": "▲"},
    "internal": {"levels": tuple(x for x in GRAMMAR["internal_level"] if x != "仅限内部使用"),
                 "prefix": ("internal.",), "action": "warn", "sym": "★"},
}
PERIODS = ["5年", "10年", "长期", "6个月", "十年", "三年", "2030年12月31日", "项目验收后解密"]
COMMERCIAL_PERIODS = ["3年", "10年", "长期", "5年"]
HANDLING = GRAMMAR["handling"]
FIELD_CN = GRAMMAR["field_name_cn"]
# field_name_en is a regex; its members as people write keys: words in every case style.
FIELD_EN_WORDS = [("classification",), ("security", "level"), ("data", "classification"), ("sensitivity",),
                  ("sensitivity", "label"), ("classification", "level"), ("security", "classification"),
                  ("confidentiality", "level"), ("confidentiality",), ("secrecy", "level")]
BOXES = GRAMMAR["box"]
TICKS = ["☑", "■", "√", "✓", "[x]", "(√)", "☒"]
BRACKETS = [("【", "】"), ("〔", "〕"), ("[", "]"), ("［", "］"), ("（", "）"), ("(", ")")]
SUBJECT_LABELS = ["主题：", "Subject: ", "标题：", "Re: ", "转发：", "Fw: ", "邮件主题：", ""]
OWNERS = ["××石化", "中国××集团公司", "勘探事业部", "华东能源", "某某油田分公司", "XX科技有限公司"]
SERIALS = ["000123", "000086", "份号：000301", "No.000057"]

# Neutral filler: sentences and titles with no level word in them.
TITLES = ["关于2026年度产能建设计划的报告", "三季度安全生产检查情况通报", "顺北区块储量复核结果",
          "乙烯裂解装置检修方案", "关于调整考核指标的请示", "年度预算编制说明", "Q3 pipeline review"]
SENTENCES = ["一、总体情况。本季度完成原油产量412万吨。", "二、存在问题：部分装置负荷偏低。",
             "三、下一步工作：加快新井投产进度。", "各单位要高度重视，认真落实。", "附件：测算表一份。",
             "请于12月10日前报送。", "经研究，同意上述安排。", "The pilot plant ran at 92% of capacity."]


def _evade(word: str, how: str) -> str:
    if how == "plain" or len(word) < 2:
        return word
    if how == "spaced":
        return " ".join(word)
    if how == "zwsp":
        return "\u200b".join(word)
    if how == "ideographic":
        return "\u3000".join(word)
    if how == "traditional":
        return word.translate(str.maketrans("机密绝内部资料业务", "機密絕內部資料業務"))
    raise ValueError(how)


EVASIONS = ["plain", "spaced", "zwsp", "ideographic", "traditional"]
STAR_FORMS = {"★": ["★", "☆", "✩", "＊", "*"], "▲": ["▲", "△", "▲"]}


@st.composite
def marking(draw, family: str, with_period: bool | None = None):
    """(level word as written, marking string): the level, maybe its symbol and period."""
    f = FAMILY[family]
    level = draw(st.sampled_from(f["levels"]))
    written = _evade(level, draw(st.sampled_from(EVASIONS)))
    if with_period is None:
        with_period = draw(st.booleans())
    if with_period and family in ("state", "commercial", "work"):
        sym = draw(st.sampled_from(STAR_FORMS[f["sym"]]))
        period = draw(st.sampled_from(PERIODS if family == "state" else COMMERCIAL_PERIODS))
        return level, written + sym + period
    return level, written


body = st.lists(st.sampled_from(SENTENCES), min_size=1, max_size=4).map("\n".join)
# Nothing, or more lines than a document's head and foot hold.
deep = st.sampled_from(["", "\n".join(SENTENCES * 2) + "\n\n"])
title = st.sampled_from(TITLES)


# --- positions --------------------------------------------------------------------------------
@st.composite
def head_line(draw, family):
    _, m = draw(marking(family))
    tail = draw(st.sampled_from(["", "　" + draw(st.sampled_from(HANDLING)), "（" + draw(st.sampled_from(HANDLING)) + "）"]))
    serial = draw(st.sampled_from(["", *SERIALS]))
    lead = serial + "\n" if serial else ""
    return f"{lead}{m}{tail}\n\n{draw(title)}\n{draw(body)}"


@st.composite
def collapsed_head(draw, family):
    _, m = draw(marking(family))
    return f"{draw(st.sampled_from(SERIALS))}　{m}　特急\n{draw(title)}\n{draw(body)}"


@st.composite
def foot_line(draw, family):
    _, m = draw(marking(family))
    filler = "\n".join(draw(st.lists(st.sampled_from(SENTENCES), min_size=8, max_size=10)))
    return f"{draw(title)}\n{filler}\n\n{m}"


def _key_styles(words: tuple[str, ...]) -> list[str]:
    return [" ".join(words).title(), "_".join(words), words[0] + "".join(w.title() for w in words[1:]),
            "-".join(words).upper(), ".".join(words)]


@st.composite
def field(draw, family):
    level, written = draw(marking(family, with_period=False))
    english = draw(st.booleans())
    if english:
        name = draw(st.sampled_from([k for w in FIELD_EN_WORDS for k in _key_styles(w)]))
    else:
        name = draw(st.sampled_from(FIELD_CN))
    xml_name = name.replace(" ", "_")
    style = draw(st.sampled_from(["form", "md_row", "json", "yaml", "front", "xml", "attr", "bold", "tab"]))
    text = {
        "form": f"{name}：{written}",
        "md_row": f"| {name} | {written} |",
        "json": f'{{"编号": "KT-3", "{name}": "{written}", "页数": 12}}',
        "yaml": f"{name}: {written}",
        "front": f"---\ntitle: 周报\n{name}: \"{written}\"\n---",
        "xml": f"<{xml_name}>{written}</{xml_name}>",
        "attr": f'<document id="7" {xml_name}="{written}">',
        "bold": f"**{name}**：{written}",
        "tab": f"{name}\t{written}",
    }[style]
    where = draw(st.sampled_from(["head", "middle"]))
    return f"{text}\n{draw(body)}" if where == "head" else f"{draw(title)}\n{draw(body)}\n{text}\n{draw(body)}"


@st.composite
def ticked(draw, family):
    level, written = draw(marking(family, with_period=False))
    others = [x for x in ("绝密", "机密", "秘密", "内部", "公开") if x != level][:3]
    tick = draw(st.sampled_from(TICKS))
    options = [f"{tick}{written}"] + [f"{draw(st.sampled_from(BOXES))}{o}" for o in others]
    options = draw(st.permutations(options))
    name = draw(st.sampled_from(FIELD_CN))
    return f"{draw(title)}\n{name}：{' '.join(options)}\n{draw(body)}"


@st.composite
def subject(draw, family):
    _, m = draw(marking(family))
    o, c = draw(st.sampled_from(BRACKETS))
    label = draw(st.sampled_from(SUBJECT_LABELS))
    head = draw(st.sampled_from(["", "发件人：张三 <zhang@example.com>\n收件人：李四\n", "\n".join(SENTENCES[:7]) + "\n"]))
    return f"{head}{label}{o}{m}{c}{draw(title)}\n\n{draw(body)}"


@st.composite
def title_suffix(draw, family):
    _, m = draw(marking(family))
    o, c = draw(st.sampled_from(BRACKETS))
    before = "\n".join(draw(st.lists(st.sampled_from(SENTENCES), min_size=0, max_size=8)))
    return f"{before}\n{draw(title)}{o}{m}{c}\n{draw(body)}"


@st.composite
def banner(draw, family):
    _, m = draw(marking(family))
    deco = draw(st.sampled_from(["===", "*****", "-----", "###", "~~~~", "★★★"]))
    before = "\n".join(draw(st.lists(st.sampled_from(SENTENCES), min_size=0, max_size=8)))
    return f"{before}\n{deco} {m} {deco}\n{draw(body)}"


@st.composite
def comment(draw, family):
    _, m = draw(marking(family))
    handling = draw(st.sampled_from(["", "　" + draw(st.sampled_from(HANDLING))]))
    code = "int a = 1;\nint b = 2;\nint c = 3;\nint d = 4;\nint e = 5;\nint f = 6;\nint g = 7;"
    form = draw(st.sampled_from(["html", "block", "line", "sql", "header"]))
    if form == "header":  # a file's header comment
        return f"/*\n * {m}{handling}\n * Copyright (c) 2025 华禹重工集团有限公司\n */\n{code}"
    marked = {"html": f"<!-- {m}{handling} -->", "block": f"/* {m}{handling} */", "line": f"// {m}{handling}",
              "sql": f"-- {m}{handling}"}[form]
    return f"{code}\n{marked}\n{code}"


@st.composite
def owner_head(draw, family):
    level = draw(st.sampled_from(FAMILY[family]["levels"]))
    return f"{draw(st.sampled_from(OWNERS))}{level}\n{draw(title)}\n{draw(body)}"


@st.composite
def table_field(draw, family):
    level, written = draw(marking(family, with_period=False))
    name = draw(st.sampled_from(["密级", "保密等级", "文件密级"]))
    sep = draw(st.sampled_from(["|", "\t"]))
    before, after = draw(deep), draw(deep)  # a table may stand anywhere, not only near the head
    if sep == "|":
        return f"{before}{draw(title)}\n| 文件编号 | {name} | 页数 |\n|---|---|---|\n| KT-2025-07 | {written} | 12 |\n{draw(body)}{after}"
    return f"{before}编号\t{name}\t页数\nKT-1\t{written}\t12\n{after}"


@st.composite
def register(draw, family):
    levels = FAMILY[family]["levels"]
    rows = draw(st.lists(st.tuples(st.sampled_from(TITLES), st.sampled_from(levels)), min_size=2, max_size=6))
    lines = [f"| {i + 1} | {t} | {lv} |" for i, (t, lv) in enumerate(rows)]
    return draw(deep) + "| 序号 | 文件标题 | 密级 |\n|---|---|---|\n" + "\n".join(lines) + "\n" + draw(deep)


POSITIONS = {
    "head_line": head_line, "collapsed_head": collapsed_head, "foot_line": foot_line, "field": field,
    "ticked": ticked, "subject": subject, "title_suffix": title_suffix, "banner": banner, "comment": comment,
    "owner_head": owner_head, "table_field": table_field, "register": register,
}
# Cells the grammar leaves out, with the reason (docs/markings.md lists them too).
UNSUPPORTED = {
    ("state", "owner_head"): "an owner before 秘密/机密 makes it the owner's commercial marking (××公司机密)",
    ("internal", "owner_head"): "××公司内部 is how people name a unit, not a marking",
    ("internal", "register"): "a register lists classified titles; 内部 titles are ordinary",
    ("internal", "comment"): "covered by internal.marking on its own line; no separate rule",
}
CELLS = [(f, p) for f in FAMILY for p in POSITIONS if (f, p) not in UNSUPPORTED]


def _expected(family: str, position: str) -> tuple[str, tuple[str, ...]]:
    if position == "register":
        return "warn", ("classified.register",)
    return FAMILY[family]["action"], FAMILY[family]["prefix"]


@pytest.mark.parametrize("family, position", CELLS)
def test_marking_cell_flags(engine, family, position):
    action, prefixes = _expected(family, position)

    @CELL
    @given(POSITIONS[position](family))
    def cell(text):
        v = engine.scan_text(text)
        assert v.action == action, (text, v.findings)
        assert any(f.rule.startswith(prefixes) and f.action == action for f in v.findings), (text, v.findings)

    cell()


# --- mentions (must pass) ---------------------------------------------------------------------
@st.composite
def listed(draw, family):
    f = FAMILY[family]
    heading = draw(st.sampled_from(["密级标志示例：", "下列写法正确的是：", "国家秘密标志的几种写法", "商密标注形式如下："]))
    items = [lv + f["sym"] + draw(st.sampled_from(PERIODS[:4])) for lv in f["levels"][:3]]
    if len(items) < 2:
        items.append("普通商密▲5年")
    prefix = draw(st.sampled_from(["{n}. ", "（{n}）", "{a}．", "- "]))
    lines = [prefix.format(n=i + 1, a="ABCD"[i]) + it for i, it in enumerate(items)]
    return heading + "\n" + "\n".join(lines)


@st.composite
def options(draw, family):
    levels = list(FAMILY[family]["levels"][:3]) + ["公开"]
    box = draw(st.sampled_from(BOXES))
    sep = draw(st.sampled_from([" ", "  ", "/", "、"]))
    name = draw(st.sampled_from(FIELD_CN))
    opts = sep.join((box if sep == " " or sep == "  " else "") + x for x in levels)
    return f"{draw(title)}\n{name}：{opts}\n{draw(body)}"


@st.composite
def definition(draw, family):
    _, m = draw(marking(family, with_period=True))
    return f"{m}：表示该文件的密级和保密期限，由定密责任人确定。"


@st.composite
def example_box(draw, family):
    _, m = draw(marking(family, with_period=True))
    form = draw(st.sampled_from(["fence", "box", "label"]))
    if form == "fence":
        return f"标注示例：\n```\n{m}\n```\n以上为标注位置。"
    if form == "box":
        return f"┌──── 示例 ────┐\n│{m}│\n└──────────┘"
    return f"格式如下：\n{m}\n（顶格编排在版心左上角第二行）"


@st.composite
def example_table(draw, family):
    _, m = draw(marking(family, with_period=True))
    return f"| 类别 | 标志示例 | 说明 |\n|---|---|---|\n| 示例 | {m} | 顶格 |"


@st.composite
def template(draw, family):
    level = draw(st.sampled_from(FAMILY[family]["levels"]))
    sym = FAMILY[family]["sym"]
    return (f"××市人民政府文件\n×府发〔20××〕×号\n{level}{sym}×年\n关于××××的通知\n"
            f"××××年××月××日")


@st.composite
def quoted(draw, family):
    _, m = draw(marking(family, with_period=True))
    q = draw(st.sampled_from([("“", "”"), ("「", "」"), ('"', '"'), ("‘", "’")]))
    return f"根据规定，涉密文件首页应标注{q[0]}{m}{q[1]}字样，{draw(body)}"


@st.composite
def question(draw, family):
    _, m = draw(marking(family, with_period=True))
    return draw(st.sampled_from([f"{m}是什么意思？", f"{m}表示什么", f"请问{m}的写法对吗"]))


@st.composite
def prose(draw, family):
    level = draw(st.sampled_from(FAMILY[family]["levels"]))
    return draw(st.sampled_from([f"严禁将{level}文件上传至互联网。", f"各单位要加强{level}事项的管理，{draw(body)}",
                                 f"什么样的信息属于{level}？请举例说明。"]))


@st.composite
def glossary(draw, family):
    level = draw(st.sampled_from(FAMILY[family]["levels"]))
    return (f"【{level}】指依照规定确定、在一定时间内只限一定范围的人员知悉的事项。\n"
            f"【涉密载体】以文字、数据等方式记载国家秘密信息的各类物品。")


@st.composite
def heading(draw, family):
    level = draw(st.sampled_from(FAMILY[family]["levels"]))
    deco = draw(st.sampled_from(["## ", "", "【", "一、"]))
    close = "】" if deco == "【" else ""
    explain = draw(st.sampled_from(["是指", "，是指", "一般是指", "的范围包括"]))
    return f"保密知识手册\n\n{deco}{level}{close}\n{level}{explain}机关、单位在履行职责中产生的有关事项。"


@st.composite
def option_column(draw, family):
    levels = list(dict.fromkeys(FAMILY[family]["levels"]))[:3] + ["公开"]
    head = draw(st.sampled_from(["密级选项", "可选密级", "密级（下拉选项）"]))
    return head + "\n" + "\n".join(draw(st.permutations(levels))) + "\n"


@st.composite
def named_above(draw, family):
    level = draw(st.sampled_from(FAMILY[family]["levels"]))
    intro = draw(st.sampled_from([f"这首歌叫《{level}》，歌词如下：", f"电视剧“{level}”的片尾曲：", f"小说《{level}》第一章"]))
    return f"{intro}\n{level}\n藏在心底不说出口"


MENTIONS = {"named_above": named_above, "option_column": option_column, "heading": heading, "listed": listed, "options": options, "definition": definition, "example_box": example_box,
            "example_table": example_table, "template": template, "quoted": quoted, "question": question,
            "prose": prose, "glossary": glossary}
MENTION_CELLS = [(f, m) for f in FAMILY for m in MENTIONS]


@pytest.mark.parametrize("family, form", MENTION_CELLS)
def test_mention_cell_passes(engine, family, form):
    @CELL
    @given(MENTIONS[form](family))
    def cell(text):
        v = engine.scan_text(text)
        assert v.action == "allow", (text, v.findings)

    cell()


def test_every_cell_is_exercised_or_explained():
    # A position added to the generator is a cell of every family, or listed with its reason.
    assert len(CELLS) + len(UNSUPPORTED) == len(FAMILY) * len(POSITIONS)
    assert all(reason for reason in UNSUPPORTED.values())
