"""Where a marking counts, at the edges of each position: the head and foot lines, marking areas,
the shape of a marking line (what may stand before and after the level), table columns (one data
row is the document's field, several rows are a register), and the mention checks.

Written against the mutants of guard/match/structure.py, tables.py and mentions.py that the other
marking tests let through (tools/mutate.py); each test names the behaviour it holds.
"""
from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from guard.match import lines as L
from guard.match import structure, tables
from guard.match.textspan import _foot_start, _head_end
from guard.types import MARKING_AREAS, Part

FAST = settings(derandomize=True, max_examples=150, deadline=None)
HEAD_LINES = 6          # policies/default.yaml settings.doc_head_lines
AREAS = sorted(MARKING_AREAS)
NOT_AREAS = ["prompt", "body"]
# Neutral lines: no level word, no cue, no list prefix, no placeholder.
FILL = [f"第{k}段正文内容如下" for k in range(1, 40)]
# The rule that reads a level alone at a line head near the head or foot, per family.
HEAD_RULE = {"机密": "state-secret.level-head", "秘密": "state-secret.level-head", "绝密": "state-secret.level-head",
             "核心商密": "commercial-secret.level-head", "商业秘密": "commercial-secret.level-head",
             "工作秘密": "work-secret.marking", "内部": "internal.level-head", "受控": "internal.level-head"}
TABLE_RULES = {"state-secret.table-field", "commercial-secret.table-field", "work-secret.table-field",
               "internal.table-field", "classified.register"}


@pytest.fixture(scope="module")
def found(engine):
    """The rules with a hit in `text` read as a part of `kind` (before findings inside others are merged)."""
    m = engine.matcher

    def scan(text: str, kind: str = "prompt") -> set[str]:
        return {m.rules[i].id for i in m.scan([Part(text, "t", kind)])}
    return scan


def doc(before: int, line: str, after: int, blanks: bool = False) -> str:
    gap = "\n\n" if blanks else "\n"
    return gap.join([*FILL[:before], line, *FILL[before:before + after]])


# --- head and foot lines -------------------------------------------------------------------------
@pytest.mark.parametrize("level", sorted(HEAD_RULE))
@pytest.mark.parametrize("blanks", [False, True])
def test_a_level_line_counts_in_the_first_six_lines_only(found, level, blanks):
    rule = HEAD_RULE[level]
    for before in range(0, HEAD_LINES + 2):
        hit = rule in found(doc(before, level, 6, blanks))
        assert hit == (before < HEAD_LINES), (level, before)  # blank lines are not lines of the head


@pytest.mark.parametrize("level", sorted(HEAD_RULE))
def test_a_level_line_counts_in_the_last_three_lines_only(found, level):
    rule = HEAD_RULE[level]
    for after in range(0, 6):
        assert (rule in found(doc(9, level, after, blanks=True))) == (after < structure.FOOT_LINES), (level, after)


@pytest.mark.parametrize("kind", AREAS)
@pytest.mark.parametrize("level", sorted(HEAD_RULE))
def test_in_a_marking_area_every_line_counts(found, kind, level):
    assert HEAD_RULE[level] in found(doc(10, level, 10), kind)


@pytest.mark.parametrize("level", sorted(HEAD_RULE))
def test_a_bare_level_deep_in_prose_is_no_finding_of_any_rule(found, level):
    # docs/markings.md: a bare level word deep inside a text is not read (an article's section);
    # nor is it a table's field or a register: it has no table.
    assert found(doc(10, level, 10)) == set()
    assert found(doc(10, f"| {level} |", 10)) == set()


@pytest.mark.parametrize("level", sorted(HEAD_RULE))
def test_a_level_alone_at_the_head_is_a_marking_line_not_a_table_cell(found, level):
    hits = found(f"{level}\n关于年度计划的报告\n正文")
    assert HEAD_RULE[level] in hits and not hits & TABLE_RULES


def test_an_english_banner_counts_in_the_head_lines_or_a_marking_area(found):
    for before in range(0, HEAD_LINES + 3):
        text = doc(before, "TOP SECRET", 8, blanks=before % 2 == 1)
        assert ("state-secret.en-banner" in found(text)) == (before < HEAD_LINES), before
        for kind in AREAS:
            assert "state-secret.en-banner" in found(text, kind)
    # a banner is a line of its own
    assert "state-secret.en-banner" not in found("TOP SECRET plans for the merger\nnotes")


@pytest.mark.parametrize("word", ["Secret", "Top Secret", "SECRET", "secret"])
def test_a_label_that_is_a_level_alone_counts_only_in_a_marking_area(found, word):
    for kind in AREAS:
        assert "state-secret.en-label" in found(word, kind), kind
    for kind in NOT_AREAS:
        assert "state-secret.en-label" not in found(word, kind), kind
    assert "state-secret.en-label" not in found(f"{word} Santa", "property")


# --- what may stand before and after the level on a marking line -------------------------------
MARKING_LINES = [
    "机密", "机密件", "秘密　请勿复印", "工作秘密（用后交回）", "〔机密〕", "〔机密〕关于调整计划的报告", "【 机密 】2027年计划",
    "000120　机密", "份号：000120 机密", "No.000057　秘密", "<!-- 机密 -->", "  <!-- 机密 -->", "        <!-- 机密 -->",
    "<!--【机密】关于调整计划的报告 -->", "> **机密**", "│机密│", "## 秘密　注意保管", "│机密件│", "| 机密件 |",
]
FOOTER_LINES = ["第3页 共12页　机密", "- 3 -　秘密", "Page 2 of 9 机密", "3/12 机密", "第3页　机密"]
NOT_MARKING_LINES = [
    "X 机密", "某〔机密〕关于调整计划的报告", "【机密】管理规定", "秘密花园", "秘密　本文件数据，请勿外传",
    "机密　哪些文件需要标注", "商业秘密（保护指南）", "秘密　是否需要标注", "〔机密文件〕关于调整计划的报告",
    "机密" + "，请查收", "机密的管理办法", "关于机密", "000120 关于 机密",
]


@pytest.mark.parametrize("line", MARKING_LINES)
def test_marking_lines(found, line):
    level = next(w for w in ("工作秘密", "机密", "秘密") if w in line)
    assert HEAD_RULE[level] in found(f"{line}\n关于年度计划的报告\n正文"), line
    s = line.index(level)
    assert structure.marking_tail(line, s, s + len(level)), line


@pytest.mark.parametrize("line", FOOTER_LINES)
def test_a_page_number_may_stand_before_the_level_on_a_footer_line(found, line):
    level = "机密" if "机密" in line else "秘密"
    assert HEAD_RULE[level] in found(line, "footer")
    assert HEAD_RULE[level] in found("\n".join(FILL[:12]) + "\n" + line)  # the foot of a page pasted
    s = line.index(level)
    assert structure.marking_tail(line, s, s + 2)
    # what the page number is replaced by does not stay in front of the level
    assert not structure.marking_tail("第3页 共12页 附件　机密", 12, 14)


@pytest.mark.parametrize("line", NOT_MARKING_LINES)
def test_not_marking_lines(found, line):
    level = next(w for w in ("商业秘密", "机密", "秘密") if w in line)
    s = line.index(level)
    assert not structure.marking_tail(line, s, s + len(level)), line
    assert HEAD_RULE[level] not in found(f"{line}\n关于年度计划的报告\n正文"), line
    assert HEAD_RULE[level] not in found(line, "header"), line
    assert HEAD_RULE[level] not in found("\n".join(FILL[:12]) + "\n" + line), line  # nor at the foot


# Titles: characters that make no topic word (保护, 管理, 的, 法 …), question or sentence.
TITLE = st.text(alphabet="油田产能建设计划报告储量复核乙烯装置检修方案调整考核指标请示年度预算编说明X", min_size=1, max_size=60)
LEADS = st.sampled_from(["", " ", "\t", "#", "## ", "> ", "**", "* ", "| ", "//", "-", "=== ", "│", "★", "\u3000",
                         "000120　", "份号：000301 ", "No.000057 ", "<!-- ", "  <!--"])


@FAST
@given(LEADS, st.sampled_from(["机密", "秘密", "工作秘密", "核心商密"]), st.sampled_from(" \t\u3000（(〔【[［<《"), TITLE)
@example("", "机密", "　", "X" * 40)
@example("", "机密", "　", "油" * 40 + "X")
@example("", "机密", "　", "X" * 41)
def test_a_short_title_or_instruction_after_a_separator_keeps_the_line_a_marking(lead, level, sep, title):
    text = f"{lead}{level}{sep}{title}"
    s = len(lead)
    assert structure.marking_tail(text, s, s + len(level)) == (len(f"{sep}{title}".strip(" \t\u3000")) <= structure.MARKING_TAIL_MAX)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("n", [39, 40, 41])
def test_a_title_of_up_to_forty_characters_after_the_level_whatever_the_line_ending(found, newline, n):
    title = ("乙烯装置检修方案" * 6)[:n]
    for line in (f"机密 {title}", f"〔机密〕{title}"):
        text = newline.join([line, "正文", "正文"])
        assert ("state-secret.level-head" in found(text)) is (n <= structure.MARKING_TAIL_MAX), (line, newline)


@FAST
@given(st.sampled_from("〔【[［（(<《"), st.sampled_from(["机密", "秘密", "工作秘密"]), st.sampled_from(["", " ", "  "]),
       TITLE, st.sampled_from(["", "**", " --", "==", "】"]))
@example("【", "机密", "", "油" * 39 + "X", "**")
@example("【", "机密", "", "X" + "油" * 40, "")
def test_a_bracketed_level_closes_right_after_it_and_a_title_may_follow(opener, level, pad, title, deco):
    closer = L._CLOSERS[opener]
    text = f"{opener}{level}{pad}{closer}{title}{deco}"
    assert structure.marking_tail(text, 1, 1 + len(level)) == (len(title) <= structure.MARKING_TAIL_MAX)
    # more than the level inside the brackets: not a bracketed level
    inner = f"{opener}{level}{pad}X{closer}{title}"
    assert not structure.marking_tail(inner, 1, 1 + len(level))


@FAST
@given(st.text(alphabet="油田X某Ab一", min_size=1, max_size=4), st.sampled_from(["", " ", "〔", "【", "（"]),
       st.sampled_from(["机密", "秘密", "工作秘密"]))
@example("X", "", "机密")
@example("X", "〔", "机密")
@example("某", "〔", "机密")
def test_a_word_before_the_level_makes_the_line_prose(word, join, level):
    closer = L._CLOSERS.get(join.strip(), "")
    text = f"{word}{join}{level}{closer}关于调整计划的报告"
    assert not structure.marking_tail(text, len(word) + len(join), len(word) + len(join) + len(level))


@pytest.mark.parametrize("tail", ["，请查收", "。", "！", "；", "?", "，"])
def test_a_sentence_after_the_level_is_prose(tail):
    assert not structure.marking_tail("机密　本报告" + tail, 0, 2)
    assert not structure.marking_tail("〔机密〕本报告" + tail, 1, 3)


@pytest.mark.parametrize("topic", structure._TOPIC)
def test_a_topic_after_the_level_is_prose(topic):
    for text in (f"机密　{topic}", f"机密　（{topic}）", f"机密　《{topic}》", f"〔机密〕{topic}", f"机密 X{topic}"):
        expect = text.endswith(f"X{topic}")  # X… is a title, not the topic
        assert structure.marking_tail(text, text.index("机密"), text.index("机密") + 2) == expect, text


@pytest.mark.parametrize("q", structure._QUESTION)
def test_a_question_after_the_level_is_prose(q):
    assert not structure.marking_tail(f"机密　这份文件{q}", 0, 2)


# --- satisfies(): each position word, with and without the head and foot bounds -----------------
LINES = ["机密", "秘密　请勿外传", "", "  ", "\u3000", "第二段内容", "〔机密〕关于报告", "机密的管理", "正文 机密 正文", "  机密",
         "| 机密 |", "X 机密"]
WHERE = ["anywhere", "marking_area", "line_head", "own_line", "doc_head", "marking_line", "field_column", "register_column"]


def _reference(where: str, text: str, s: int, e: int, kind: str) -> bool:
    """Each position word as docs/markings.md defines it, lines counted here afresh."""
    ls = text.rfind("\n", 0, s) + 1
    before_lines = [x for x in text[:ls].split("\n") if x.strip()]
    after_lines = [x for x in text[e:].split("\n")[1:] if x.strip()]
    head = len(before_lines) < HEAD_LINES
    foot = len(after_lines) < structure.FOOT_LINES
    own = L.on_own_line(text, s, e)
    return {
        "anywhere": True,
        "marking_area": kind in MARKING_AREAS and own,
        "line_head": L.at_line_head(text, s, e),
        "own_line": own,
        "doc_head": own and head,
        "marking_line": (kind in MARKING_AREAS or head or foot) and structure.marking_tail(text, s, e),
        "field_column": tables.column_rows(text, s, e) == 1,
        "register_column": tables.column_rows(text, s, e) > 1,
    }[where]


@settings(derandomize=True, max_examples=120, deadline=None)
@given(st.lists(st.sampled_from(LINES), min_size=1, max_size=16), st.lists(st.sampled_from(WHERE), min_size=2, max_size=3))
def test_satisfies_means_the_position_words(lines, several):
    text = "\n".join(lines)
    h = _head_end(text, HEAD_LINES)
    bounds = (h, max(h, _foot_start(text, structure.FOOT_LINES)))
    for m in re.finditer("机密|秘密", text):
        s, e = m.span()
        for kind in ("prompt", "body", "header", "property"):
            for where in [(w,) for w in WHERE] + [tuple(several)]:
                expect = any(_reference(w, text, s, e, kind) for w in where)
                assert structure.satisfies(where, text, s, e, kind, HEAD_LINES) is expect, (text, s, kind, where)
                assert structure.satisfies(where, text, s, e, kind, HEAD_LINES, bounds) is expect, (text, s, kind, where)


def test_satisfies_with_no_position_is_false():
    assert structure.satisfies((), "机密", 0, 2, "header", HEAD_LINES) is False
    assert structure.satisfies(("field_column",), "机密", 0, 2, "header", HEAD_LINES) is False


# --- tables: a level in a column named for classification --------------------------------------
def _rows_reference(text: str, s: int, e: int) -> int:
    """column_rows() as docs/markings.md says it, on a list of lines."""
    lines = text.split("\n")
    i = text.count("\n", 0, s)
    line = lines[i]
    sep = next((c for c in "|\t," if c in line), "")
    if not sep:
        return 0
    ls = s - (text.rfind("\n", 0, s) + 1)
    cells, pos = [], 0
    for piece in line.split(sep):
        cells.append((pos, pos + len(piece)))
        pos += len(piece) + 1
    col = next(k for k, (a, b) in enumerate(cells) if a <= ls <= b)
    a, b = cells[col]
    if line[a:ls].strip(" \t*_`\"'“”‘’") or not tables._CELL_EXTRA.match(line[ls + e - s:b]):
        return 0
    above = []
    for j in range(i - 1, max(-1, i - 1 - tables.MAX_TABLE_ROWS), -1):
        if sep not in lines[j]:
            break
        if not tables._SEP_ROW.match(lines[j]):
            above.append(lines[j])
    if not above:
        return 0
    header = above[-1]
    names = header.split(sep)
    if col >= len(names) or not tables._COLUMN_NAME.search(names[col]) or any(w in header for w in tables._TABLE_MENTION):
        return 0
    below = []
    for j in range(i + 1, min(len(lines), i + 1 + tables.MAX_TABLE_ROWS)):
        if sep not in lines[j]:
            break
        below.append(lines[j])
    body = [*above[:-1], line, *below]
    return sum(1 for r in body if not tables._SEP_ROW.match(r) and col < len(r.split(sep))
               and tables._LEVEL_WORDS.search(r.split(sep)[col]))


LEVEL_CELLS = ["机密", "秘密", "核心商密", "工作秘密", "内部", "**机密**", "机密级", "机密★5年", "\"秘密\""]
OTHER_CELLS = ["—", "公开", "KT-7", "", "12"]


@st.composite
def table(draw):
    sep = draw(st.sampled_from(["|", "\t", ","]))
    ncols = draw(st.integers(2, 4))
    col = draw(st.integers(0, ncols - 1))
    names = [draw(st.sampled_from(["编号", "文件标题", "页数", "备注"])) for _ in range(ncols)]
    names[col] = draw(st.sampled_from(["密级", "保密等级", "文件密级", "Classification", "状态"]))
    if draw(st.integers(0, 5)) == 0:
        names[(col + 1) % ncols] = draw(st.sampled_from(tables._TABLE_MENTION))

    def row(cells):
        if sep == "|":
            return "| " + " | ".join(cells) + " |" if draw(st.booleans()) else "|" + "|".join(cells) + "|"
        return sep.join(cells)

    rows = []
    for _ in range(draw(st.integers(1, 5))):
        width = draw(st.sampled_from([ncols] * 4 + [max(1, ncols - 1), ncols + 1]))  # some rows ragged
        cells = [draw(st.sampled_from(OTHER_CELLS)) for _ in range(width)]
        if col < width and draw(st.booleans()):
            cells[col] = draw(st.sampled_from(LEVEL_CELLS))
        rows.append(row(cells))
    target = draw(st.integers(0, len(rows) - 1))
    cells = [draw(st.sampled_from(OTHER_CELLS)) for _ in range(ncols)]
    level = draw(st.sampled_from(LEVEL_CELLS))
    cells[col] = level
    rows.insert(target, row(cells))
    lines = [row(names)]
    if sep == "|" and draw(st.booleans()):
        lines.append("|" + "|".join("---" for _ in range(ncols)) + "|")
    for k, r in enumerate(rows):
        lines.append(r)
        if sep == "|" and draw(st.integers(0, 6)) == 0:
            lines.append("|---|")  # a rule between rows (a grid's border)
    prose = ["关于年度计划的报告", "价格,数量如下", "", "第二段\t正文", "| 附注 |"]
    before = draw(st.lists(st.sampled_from(prose), max_size=3))
    after = draw(st.lists(st.sampled_from(prose + ["| 5 | 机密 | 秘密 |"]), max_size=3))
    text = "\n".join([*before, *lines, *after]) + draw(st.sampled_from(["", "\n"]))
    # every level word in the table's lines, by where it is
    return text


@settings(derandomize=True, max_examples=300, deadline=None)
@given(table())
def test_column_rows_counts_the_levels_in_the_classification_column(text):
    for m in re.finditer(r"核心商密|工作秘密|机密|秘密|内部", text):
        s, e = m.span()
        assert tables.column_rows(text, s, e) == _rows_reference(text, s, e), (text, s)


@FAST
@given(st.text(alphabet="密级,|\t XXXX说明编号", max_size=12), st.sampled_from(["机密", "  机密", "机密级", "**机密**"]))
@example("密级,", "机密")
@example("密级XXXX", "机密")
def test_a_line_without_a_separator_is_no_table_row(above, line):
    text = f"{above}\n{line}\n"
    s = text.index("机密")
    assert tables.column_rows(text, s, s + 2) == 0


@FAST
@given(st.text(alphabet="X非A一, 、", min_size=1, max_size=3).filter(lambda p: p.strip(" \t*_`\"'“”‘’")),
       st.sampled_from(["", "，秘密", "文件", "、秘密", " 和 秘密"]))
@example("X", "")
@example("X,", "")
def test_a_cell_with_more_than_the_level_is_not_a_level_cell(prefix, suffix):
    for text in (f"| 文件编号 | 密级 |\n|---|---|\n| KT-1 | {prefix}机密{suffix} |",
                 f"| 文件编号 | 密级 |\n|---|---|\n| KT-1 | 机密{suffix or '，秘密'} |"):
        s = text.rindex("机密")
        assert tables.column_rows(text, s, s + 2) == 0, text


TITLE_ABOVE = "关于年度计划的报告\n"


@pytest.mark.parametrize("level, rule", [("机密", "state-secret.table-field"), ("核心商密", "commercial-secret.table-field"),
                                         ("工作秘密", "work-secret.table-field"), ("内部", "internal.table-field")])
@pytest.mark.parametrize("shape", ["pipe", "bare_pipe", "tab", "csv", "bold"])
def test_one_data_row_is_the_documents_field_and_two_are_a_register(found, level, rule, shape):
    def tab(rows):
        head, sepr = {"pipe": ("| 文件编号 | 密级 | 页数 |", "|---|---|---|"), "bare_pipe": ("|文件编号|密级|页数|", "|--|--|--|"),
                      "bold": ("| 文件编号 | 密级 | 页数 |", "|---|---|---|"), "tab": ("文件编号\t密级\t页数", None),
                      "csv": ("文件编号,密级,页数", None)}[shape]
        fmt = {"pipe": "| KT-{} | {} | 12 |", "bare_pipe": "|KT-{}|{}|12|", "bold": "| KT-{} | **{}** | 12 |",
               "tab": "KT-{}\t{}\t12", "csv": "KT-{},{},12"}[shape]
        return "\n".join([head, *([sepr] if sepr else []), *(fmt.format(k, level) for k in range(rows))])

    one = found(TITLE_ABOVE + tab(1) + "\n正文")
    assert rule in one and "classified.register" not in one
    if level != "内部":  # a register lists classified titles; 内部 titles are ordinary
        two = found(TITLE_ABOVE + tab(2) + "\n正文")
        assert "classified.register" in two and rule not in two


@pytest.mark.parametrize("text", [
    "标题\n| 编号 | 状态 |\n|---|---|\n| KT-1 | 机密 |",                     # the column is not named for classification
    "标题\n| 密级 | 含义 |\n|---|---|\n| 绝密 | 最重要 |",                 # a table that explains the levels
    "标题\n| 文件编号 | 密级 |\n\n| KT-1 | 机密 |",                          # a blank line ends a table
    "标题\n| 文件编号 | 密级 |\n|---|---|\n| KT-1 | 秘密, 机密 |",            # two levels in one cell: options
    "标题\n| 文件编号 | 密级 |\n|---|---|\n| KT-1 | X\t机密 |",
    "标题\n| 密级 |\n|---|\n| A | B | 机密 |",                              # a cell past the header's columns
])
def test_not_a_table_field(found, text):
    assert not found(text) & TABLE_RULES, text


def test_rows_below_a_blank_line_are_another_table(found):
    text = "标题\n| 文件编号 | 密级 |\n|---|---|\n| KT-1 | 机密 |\n\n| KT-2 | 机密 |\n| KT-3 | 秘密 |"
    s = text.index("机密")
    assert tables.column_rows(text, s, s + 2) == 1
    assert "state-secret.table-field" in found(text)


# --- mentions: quoted, cued, listed, options, glossary, heading, template, named above ------------
from guard.match import mentions as M  # noqa: E402

BEFORE_CUES = ("例如", "比如", "示例", "形式为", "标注为")
AFTER_CUES = ("表示", "是指", "是什么", "吗")
PREV_CUES = ("示例：", "格式：", "写法：")


def _span(text: str, word: str, nth: int = 0) -> tuple[int, int]:
    s = -1
    for _ in range(nth + 1):
        s = text.index(word, s + 1)
    return s, s + len(word)


@pytest.mark.parametrize("text, quoted", [
    ("应标注“机密★5年”字样", True), ("“机密★5年”表示机密级", True), ("写作「秘密」即可", True), ("《机密》是一部小说", True),
    ("〈机密〉", True), ("‘机密’", True), ('标注 "机密" 字样', True), ("标注 '机密' 字样", True),
    ("“甲”和“机密★5年”两种写法", True),              # the last opener before it is still open
    ('"a" "b" "机密" 三种', True),                     # an odd number of symmetric quotes before it
    ('"a" 机密 "b"', False),                           # an even number: between quoted strings, not in one
    ("依据《保密法》机密级文件按《条例》管理", False),   # a closed title before it and another after
    ("“机密★5年", False), ("机密★5年”", False), ("“例子”机密★5年", False), ("机密★5年", False),
    ("“标题\n机密★5年”", False),                       # quotes on another line
    ("“机密★5年”\n正文", True), ("正文\n“机密★5年”", True), ("正文\n“机密★5年”\n正文", True),
])
def test_quoted_on_its_line(text, quoted):
    s, e = _span(text, "机密" if "机密" in text else "秘密")
    assert M.is_quoted(text, s, e) is quoted


def test_a_match_that_spans_quotes_is_not_inside_them():
    text = '{"密级": "机密"}'
    assert M.is_quoted(text, text.index("密级"), text.index("机密") + 2) is False


def _cue(text, word="机密★5年", nth=0, prev=PREV_CUES):
    s, e = _span(text, word, nth)
    return M.has_cue(text, s, e, BEFORE_CUES, AFTER_CUES, prev)


@pytest.mark.parametrize("gap", range(0, 18))
def test_a_cue_counts_within_sixteen_characters_of_the_marking(gap):
    assert _cue("例如" + "，" * gap + "机密★5年") is (gap + 2 <= 16)
    assert _cue("机密★5年" + "，" * gap + "表示保密期限") is (gap + 2 <= 16)


@pytest.mark.parametrize("text, cued", [
    ("机密★5年是什么意思", True), ("机密★5年”表示五年", True), ("机密★5年，是指", True), ("机密★5年吗", True),
    ("机密★5年 X 表示", False), ("机密★5年：表示保密期限五年", True), ("机密★5年:  定义见附件", True),
    ("机密★5年：", False), ("机密★5年\n表示", False),
    ("机密★5年一二三四五六七？", True), ("机密★5年一二三四五六七八?", False),   # a short question: up to 8 characters
    ("机密★5年一二三四五六？", True), ("关于报告的说明\n机密★5年", False), ("机密★5年一二三?", True),
    ("标题\n机密★5年表示五年", True), ("标题\n机密★5年呢？", True), ("标题\n机密★5年\n正文？", False),
])
def test_cues_after_the_marking(text, cued):
    assert _cue(text) is cued


def test_a_period_left_behind_by_a_shorter_match_is_skipped():
    text = "机密★5年是什么意思"
    assert M.has_cue(text, 0, 3, BEFORE_CUES, AFTER_CUES) is True
    assert M.has_cue("内部资料，是指内部", 0, 4, BEFORE_CUES, AFTER_CUES) is True


@pytest.mark.parametrize("text, cued", [
    ("示例：\n机密★5年", True), ("格式：\n```\n机密★5年\n```", True), ("写法：\n```\n```\n机密★5年", True),
    ("写法：\n```\n```\n```\n机密★5年", False),                  # the label reaches three lines up
    ("┌──── 示例 ────┐\n│机密★5年│\n└──────────┘", True), ("样例\n机密★5年", True),
    ("这一段很长的文字说明了本单位的保密工作示例情况和安排\n机密★5年", False),  # a long line naming 示例 is prose
    ("示例：\n第一段\n机密★5年", False),                        # the label is for the line under it only
    ("格式：\n正文中的机密★5年", False),                         # not at its line head
    ("机密★5年", False), ("\n机密★5年", False),
])
def test_the_label_over_an_example_box(text, cued):
    assert _cue(text) is cued


def test_box_labels_are_read_only_when_the_caller_asks_for_the_line_above():
    assert _cue("样例\n机密★5年", prev=()) is False
    assert _cue("示例：\n机密★5年", prev=()) is False


@pytest.mark.parametrize("n", [23, 24, 25])
def test_a_box_label_line_is_short(n):
    label = ("示例" + "甲" * n)[:n]
    assert _cue(label + "\n机密★5年") is (n <= 24)


def _listed(text, word, level, nth=0):
    s, e = _span(text, word, nth)
    return M.is_listed(text, s, e, level)


@pytest.mark.parametrize("text, word, level, listed", [
    ("机密★10年\n秘密★5年", "秘密★5年", "秘密", True),                     # another level with ★ beside it
    ("秘密★5年\n正文\n机密★10年", "秘密★5年", "秘密", True),                # two lines away
    ("秘密★5年\n正文\n正文\n机密★10年", "秘密★5年", "秘密", False),         # three: not beside it
    ("秘密★5年\n秘密★3年", "秘密★5年", "秘密", False),                     # the same level again
    ("内部资料\n机密★10年", "内部资料", "", False),                        # no level of its own: nothing to differ from
    ("绝密\n机密\n秘密", "机密", "机密", True),                           # a column of options
    ("□绝密，\n机密", "机密", "机密", True), ("机密\n机密", "机密", "机密", False), ("说明\n机密", "机密", "机密", False),
    ("机密\n【机密】", "【机密】", "机密", False),                     # the same level again, in brackets
    ("X绝密\n机密", "机密", "机密", False), ("机密\n绝密X", "机密", "机密", False),   # a word, not an option
    ("绝密\n正文\n机密", "机密", "机密", False), ("机密\n正文\n绝密", "机密", "机密", False),
    ("密级标志示例\n机密★5年", "机密★5年", "机密", True),                    # under a heading that says what follows
    ("这是一个很长的标题行，它说明本单位二〇二七年的密级标志示例安排\n机密★5年", "机密★5年", "机密", False),
    ("甲" * 26 + "标志示例\n机密★5年", "机密★5年", "机密", True),        # a heading of 30 characters
    ("甲" * 27 + "标志示例\n机密★5年", "机密★5年", "机密", False),       # 31: a sentence, not a heading
    ("1. 【机密★5年】\n2. 内部资料", "机密★5年", "机密", True), ("1. XX 机密★5年\n2. 内部资料", "机密★5年", "机密", False),
    ("1. 机密★5年\n正文\n2. 内部资料", "机密★5年", "机密", False), ("1. 内部资料\n正文\n2. 机密★5年", "机密★5年", "机密", False),
    ("  | 类别 | 标志示例 |\n  |---|---|\n  | 机密★5年 | 顶格 |", "机密★5年", "机密", True),  # an indented table
    ("1. 机密★5年\n2. 内部资料", "机密★5年", "机密", True),                  # other items name levels
    ("1. 机密★5年\n2. 其他事项", "机密★5年", "机密", False),
    ("下列选项：\n1. 机密★5年\n2. 其他事项", "机密★5年", "机密", True),       # items under a heading that lists
    ("会议安排：\n1. 机密★5年\n2. 其他事项", "机密★5年", "机密", False),
    ("下列选项：\n1. 关于机密★5年\n2. 其他事项", "机密★5年", "机密", False),   # the prefix is not the marking's
    ("1. 机密★5年 关于某项目的报告", "机密★5年", "机密", False),            # one item, no list
    ("| 类别 | 标志示例 |\n|---|---|\n| 机密★5年 | 顶格 |", "机密★5年", "机密", True),
    ("文件信息\n| 文件编号 | 密级 |\n|---|---|\n| 机密★5年 | 顶格 |", "机密★5年", "机密", False),
    ("| 机密★5年 | 顶格 |", "机密★5年", "机密", False),
])
def test_listed_as_an_example(text, word, level, listed):
    assert _listed(text, word, level) is listed


@pytest.mark.parametrize("text, options", [
    ("密级：□绝密 □机密 □秘密", True), ("密级：绝密/机密/秘密", True), ("机密、秘密", True), ("机密    秘密", True),
    ("机密     秘密", False),                              # more than four characters apart
    ("机密和秘密", False), ("机密", False), ("机密 机密", False), ("机密\n秘密", False),
    ("本报告为机密，附件二为秘密", False), ("[x]机密 [ ]秘密", True),
    ("密级：□绝密 □机密 □秘密\n正文", True), ("标题\n密级：□绝密 □机密 □秘密", True), ("标题\n机密\n秘密", False),
])
def test_several_levels_side_by_side_are_a_forms_options(text, options):
    s, e = _span(text, "机密")
    assert M.is_option_list(text, s, e) is options


@pytest.mark.parametrize("text, glossary", [
    ("【工作秘密】指机关、单位在履行职责中产生的事项。", True), ("【工作秘密】：机关、单位的事项", True),
    ("【机密】指定的事项", True), ("【机密】是一类国家秘密", True), ("- 【机密】指重要的国家秘密", True),
    ("> 〔机密〕即重要的国家秘密", True), ("【工作秘密】指【国家秘密】以外的事项", True),
    ("【机密】关于年度计划的报告", False), ("甲【机密】指重要的国家秘密", False), ("【机密 指重要的国家秘密", False),
    ("机密】指", False), ("【机密】不为公众所知悉的信息。", False),
    ("【机密】不为公众所知悉的信息。\n【涉密载体】记载国家秘密的物品。", True),
    ("【涉密载体】记载国家秘密的物品。\n  【机密】不为公众所知悉的信息。", True),
    ("【涉密载体】记载国家秘密的物品。\n正文\n【机密】不为公众所知悉的信息。", False),   # the sibling is the next entry
    ("  【涉密载体】记载国家秘密的物品。\n【机密】不为公众所知悉的信息。", True), ("X【机密】指重要的国家秘密", False),
    ("「机密】指重要的国家秘密", True),                 # 「 has no closer of its own: 】 ends the term
])
def test_a_glossary_entry(text, glossary):
    s, e = _span(text, "机密") if "工作秘密" not in text else _span(text, "工作秘密")
    assert M.is_glossary(text, s, e) is glossary


@pytest.mark.parametrize("text, heading", [
    ("## 工作秘密\n工作秘密是指机关的事项", True), ("工作秘密\n\n工作秘密的范围", True), ("【机密】\n机密是指重要的事项", True),
    ("机密\n机密级国家秘密是重要的国家秘密", True),
    ("工作秘密\n关于年度计划的报告", False), ("工作秘密 请勿外传\n工作秘密是指机关的事项", False),
    ("前言 工作秘密\n工作秘密是指", False), ("工作秘密", False), ("工作秘密\n正文\n工作秘密是指", False),
    ("保密知识手册\n\n## 工作秘密\n工作秘密是指机关的事项", True), ("工作秘密\n是指机关的事项", False),
    ("工作秘密\n工作秘密X是指机关的事项", False),
])
def test_a_heading_explained_by_the_next_line(text, heading):
    s, e = _span(text, "工作秘密" if "工作秘密" in text else "机密")
    assert M.is_heading(text, s, e) is heading


@pytest.mark.parametrize("k", range(0, 7))
def test_placeholders_within_four_lines_make_a_template(k):
    above = "\n".join(["×府发〔20××〕×号", *FILL[:k]])
    below = "\n".join([*FILL[:k], "××××年××月××日"])
    assert M.is_template(f"{above}\n机密★5年", *_span(f"{above}\n机密★5年", "机密")) is (k < 4)
    assert M.is_template(f"机密★5年\n{below}", 0, 2) is (k < 4)
    assert M.is_template("机密★×年", 0, 2) is True and M.is_template("机密★5年\n正文", 0, 2) is False
    above = "×府发〔20××〕×号\n机密★5年\n" + "\n".join(FILL[:6])
    assert M.is_template(above, *_span(above, "机密")) is True
    below = "正文\n机密★5年\n" + "\n".join(FILL[:3]) + "\n××××年××月××日"
    assert M.is_template(below, *_span(below, "机密")) is True


def test_a_bracketed_match_is_a_heading_by_its_word():
    text = "（内部）\n内部是指本单位的事项"
    assert M.is_heading(text, 0, 4) is True


def test_a_term_in_corner_brackets_is_a_mention():
    text = "「机密」指重要的国家秘密"
    assert M.is_quoted(text, 1, 3) or M.is_glossary(text, 1, 3)


@pytest.mark.parametrize("value, level", [
    ("机密★5年", "机密"), ("核心商密▲3年", "核心商密"), ("普通商密▲3年", "普通商密"), ("商业秘密", "商业秘密"),
    ("工作秘密", "工作秘密"), ("绝密", "绝密"), ("秘密", "秘密"), ("机密级 ★10年", "机密"), ("内部资料", ""), ("", ""),
    ("核心商密", "核心商密"), ("普通商密", "普通商密"), ("机密", "机密"),
    ("机密★5年，核心商密", "机密"),                                 # the level with the symbol is the marking's
])
def test_level_of_a_value(value, level):
    assert M.level_of(value) == level


ID = "110105198803121236"


@pytest.mark.parametrize("text, beside", [
    (f"张伟 {ID}", True), (f"项目\n张伟 {ID}", True), (f"欧阳娜 {ID}", True), (f"司马相如 {ID}", True),
    (f"张小伟 {ID}", True), (f"张小伟伟 {ID}", False), (f"员工3 {ID}", True), (f"订单号 {ID}", False),
    (f"张伟\n{ID}", False), (f"名单\n张伟\n{ID}", False),        # a name on the line above
    (f"张伟 {ID}\n正文", True),
    (f"编号 张伟{' ' * 9}{ID}", True), (f"编号 张伟{' ' * 10}{ID}", False),   # within twelve characters
    (f"姓名：{' ' * 13}{ID}", True), (f"姓名：{' ' * 14}{ID}", False),        # a label within sixteen
])
def test_a_number_beside_a_persons_name(text, beside):
    assert M.beside_name(text, text.index(ID)) is beside


@pytest.mark.parametrize("text, named", [
    ("这首歌叫《秘密》，歌词如下：\n秘密", True), ("电视剧“秘密”的片尾曲：\n正文\n秘密", True),
    ("小说「秘密」\n正文\n正文\n秘密", False), ("这首歌叫秘密\n秘密", False), ("秘密", False),
    ("小说《秘密》\n正文\n秘密\n藏在心底\n不说出口", True),
])
def test_the_word_named_just_above(text, named):
    s = text.rindex("秘密")
    assert M.is_named_above(text, s, s + 2) is named
    assert M.is_named_above(text, s, s) is False


@pytest.mark.parametrize("above", ["", "关于年度计划的报告\n"])
def test_a_span_across_a_cell_border_fills_no_cell(above):
    text = above + "| 文件编号 | 密级 |\n|---|---|\n| KT-1 | 机密 |\n"
    s, e = text.index("KT-1"), text.index("机密") + 2     # "KT-1 | 机密": two cells
    assert tables.column_rows(text, s, e) == 0
    assert tables.column_rows(text, *_span(text, "机密")) == 1
