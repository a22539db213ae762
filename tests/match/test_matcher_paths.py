"""The matcher's fast paths must find exactly what the plain per-rule scans find."""
import random

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from guard.match.matcher import Matcher
from guard.types import Part


def noisy_text(seed: int) -> str:
    rnd = random.Random(seed)
    pieces = []
    for _ in range(400):
        kind = rnd.random()
        if kind < 0.2:
            pieces.append(str(rnd.randint(10 ** 10, 10 ** 19)))  # digit runs of many lengths
        elif kind < 0.3:
            pieces.append("1" + rnd.choice("3456789") + "".join(rnd.choice("0123456789") for _ in range(9)))
        elif kind < 0.35:
            pieces.append("110105198803121236")
        elif kind < 0.4:
            pieces.append("6222021001123456789")
        elif kind < 0.45:
            pieces.append(f"{116 + rnd.random():.6f},{39 + rnd.random():.6f}")
        elif kind < 0.5:
            pieces.append("\nCONFIDENTIAL\n")
        else:
            pieces.append(rnd.choice(["会议纪要", "商业秘密", "token", "password:", "x", "，", "\n"]))
    return rnd.choice([" ", "", ","]).join(pieces)


@pytest.mark.parametrize("seed", range(8))
def test_combined_regions_equal_per_rule_scans(engine, seed, monkeypatch):
    parts = [Part(noisy_text(seed), "t")]
    fast = engine.matcher.scan(parts)
    plain = Matcher(engine.policy)
    monkeypatch.setattr(plain, "_regions", lambda *a: None)
    slow = plain.scan(parts)
    simplify = lambda hits: {engine.matcher.rules[i].id: sorted((h.start, h.end) for h in v) for i, v in hits.items()}  # noqa: E731
    assert simplify(fast) == simplify(slow)
    assert fast  # the text does exercise the numeric rules


def marked_text(seed: int) -> str:
    rnd = random.Random(seed)
    lines = []
    for _ in range(rnd.randint(1, 40)):
        lines.append(rnd.choice(["工作秘密", "机密★5年", "秘密", "核心商密▲3年", "某油田公司商业秘密", "密级：工作秘密",
                                 "要加强工作秘密管理。", "内部资料 注意保存", "", "关于顺北区块的报告"]))
    return "\n".join(lines)


@pytest.mark.parametrize("seed", range(24))
def test_keyword_plans_equal_one_whole_text_automaton(engine, seed, monkeypatch):
    """Head-only rules search only the head of a part, and rules the Set rules out are not
    searched at all: the hits must be those of one automaton over every keyword and the whole text."""
    kind = ["prompt", "header", "body", "property"][seed % 4]
    parts = [Part(marked_text(seed), "t", kind)]
    fast = engine.matcher.scan(list(parts))
    plain = Matcher(engine.policy)
    every_keyword = plain._automaton(plain._kw_all)
    monkeypatch.setattr(plain, "_plan", lambda matched, area: (every_keyword, None))
    slow = plain.scan(list(parts))
    simplify = lambda hits: {engine.matcher.rules[i].id: sorted((h.start, h.end) for h in v) for i, v in hits.items()}  # noqa: E731
    assert simplify(fast) == simplify(slow)


def test_byte_offsets_to_characters():
    from guard.match.matcher import _ByteOffsets, _utf8
    text = "ab机密★5年\U0001F600x\ud800y 中"
    enc = _utf8(text)
    starts = [len(_utf8(text[:i])) for i in range(len(text) + 1)]
    conv = _ByteOffsets(enc, len(text))
    assert [conv(b) for b in starts] == list(range(len(text) + 1))
    assert conv(starts[3]) == 3  # going back restarts from the beginning


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.text(st.sampled_from("a机★\n\U0001F600 é"), max_size=400),
       st.lists(st.lists(st.floats(0, 1), max_size=30), max_size=5), st.integers(1, 64))
def test_byte_offsets_in_any_order_of_passes(text, passes, step):
    """Several passes over one text (each ascending, as a regex pass reports matches) in any
    interleaving and checkpoint spacing: every byte offset maps to its character offset."""
    from guard.match.matcher import _ByteOffsets, _utf8
    enc = _utf8(text)
    starts = [len(_utf8(text[:i])) for i in range(len(text) + 1)]
    conv = _ByteOffsets(enc, len(text))
    conv.STEP = step
    for fractions in passes:
        for i in sorted(round(f * len(text)) for f in fractions):
            assert conv(starts[i]) == i


def internal_text(seed: int) -> str:
    rnd = random.Random(seed)
    words = ["内部资料", "内部资料的管理", "内部资料2", "内部资料 注意保存", "仅限内部使用", "内部使用手册", "内部文件",
             "内部文件管理规定", "INTERNAL USE ONLY", "internal only1", "（内部）", "内部★", "内部资料性出版物"]
    return "".join(rnd.choice(words) + rnd.choice(["\n", "，", " ", "", "。\n", "x", "1"]) for _ in range(rnd.randint(1, 30)))


@pytest.mark.parametrize("seed", range(32))
def test_word_end_gate_loses_no_finding(engine, seed, monkeypatch):
    """The Set asks a `word_end` rule's match to be followed by no letter or digit: a rule the
    gate rules out had no finding to lose (the same hits as a matcher without the gate)."""
    from guard.match import matcher as matcher_mod
    parts = [Part(internal_text(seed), "t", ["prompt", "body"][seed % 2])]
    fast = engine.matcher.scan(list(parts))
    monkeypatch.setattr(matcher_mod, "word_end_gate", lambda src: src)
    slow = Matcher(engine.policy).scan(list(parts))
    simplify = lambda hits: {engine.matcher.rules[i].id: sorted((h.start, h.end) for h in v) for i, v in hits.items()}  # noqa: E731
    assert simplify(fast) == simplify(slow)


def test_word_end_gate_rules_out_a_word_that_goes_on(engine):
    """A page that says 内部资料的… in every line does not put the internal marking rule in play."""
    i = next(i for i, r in enumerate(engine.matcher.rules) if r.id == "internal.marking")
    _, _, matched, _ = engine.matcher._normalize("内部资料的管理按照本单位规定执行。\n" * 50)
    assert i not in matched
    _, _, matched, _ = engine.matcher._normalize("内部资料\n关于2027年计划")
    assert i in matched


@pytest.mark.parametrize(("src", "group", "ends"), [
    ("a((b|c))", 1, True), ("a(b)c", 1, False), ("(?:x(b))", 1, True), ("a(b)+", 1, False),
    (r"[(]a(b\))", 1, True), ("(a)(b)", 2, True), ("(a)(b)", 1, False), ("a(?P<n>b)", 1, True),
    ("a(?:b)(c)", 1, True), ("x", 0, True), ("a(b)", 2, False), ("[)(]a(b)", 1, True),
])
def test_group_ends_match(src, group, ends):
    from guard.match.regexes import group_ends_match
    assert group_ends_match(src, group) is ends


def test_byte_spans_are_finditer_spans():
    """RE2's own match loop gives the spans the wrapper's finditer gives, groups, empty matches and
    bounds included."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from guard.match.regexes import _compile, byte_spans

    patterns = [_compile(p) for p in ("a(b)?", "(?:)", "机(密)?", "x*", r"(\d+)|([a-z]+)", "(?m)^ab$")]

    @settings(derandomize=True, max_examples=200, deadline=None)
    @given(st.text(alphabet="ab机密x1 \n", max_size=30), st.integers(0, 5), st.integers(0, 2), st.data())
    def check(text, k, group, data):
        rx = patterns[k]
        enc = text.encode()
        group = min(group, rx.groups)
        pos = data.draw(st.integers(0, len(enc)))
        end = data.draw(st.integers(pos, len(enc)))
        assert list(byte_spans(rx, enc, group, pos, end)) == [m.span(group) for m in rx.finditer(enc, pos, end)]

    check()


def mixed_part(seed: int) -> str:
    rnd = random.Random(seed)
    pieces = ["机密★5年", "核心商密▲3年", "内部资料 注意保存", "身份证号 11010519491231002X", "手机 13800138000",
              "sk-proj-" + "Ab3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6kM9nP2rS5uV8xA1dG4", "gpt-4o", "user", "",
              "关于顺北区块的报告", "AKIA" + "Q3EGWZ7TNSPLXMRB", "password = hunter2-Zq8!", "银行卡 6222021234567890128"]
    return rnd.choice(["\n", " ", "，"]).join(rnd.choice(pieces) for _ in range(rnd.randint(1, 8)))


@pytest.fixture(scope="module")
def setless(engine):
    plain = Matcher(engine.policy)
    plain.regex_set = None
    return plain


@pytest.mark.parametrize("seed", range(48))
def test_the_set_only_skips_rules_that_cannot_match(engine, setless, seed):
    """Per part, the Set narrows the rules to those that can match there: a matcher without the Set,
    which tries every rule on every part (tiny ones such as a model name included), finds the same."""
    parts = [Part(mixed_part(seed * 3 + k), f"p{k}", ["prompt", "body", "header"][k]) for k in range(3)]
    fast = engine.matcher.scan(list(parts))
    slow = setless.scan(list(parts))
    simplify = lambda hits: {engine.matcher.rules[i].id: sorted((h.part, h.start, h.end) for h in v) for i, v in hits.items()}  # noqa: E731
    assert simplify(fast) == simplify(slow)


@pytest.mark.parametrize("terms", [3, 25])  # 25: a list long enough to get a pass of its own, outside the Set
def test_a_short_part_is_still_read_by_rules_outside_the_set(terms):
    """A part the Set finds nothing in is skipped only when every rule is gated by the Set: a long
    custom term list (searched on its own) still finds its term in a two-word part."""
    from guard.policy.loader import load_policy_text

    names = [f"项目{chr(0x4E00 + 37 * k)}{k}" for k in range(terms)]
    policy = load_policy_text("extends: [default.yaml]\nrules:\n  - id: custom.codes\n    action: block\n"
                              f"    keywords: [{', '.join(names)}]\n")
    m = Matcher(policy)
    i = next(i for i, r in enumerate(m.rules) if r.id == "custom.codes")
    for kind in ("body", "prompt"):
        hits = m.scan([Part("gpt-4o", "model", kind), Part(names[-1] + "进度", "messages[0].content", kind)])
        assert [(h.part, h.start, h.end) for h in hits.get(i, [])] == [(1, 0, len(names[-1]))]


MARKS = ["机密★5年", "核心商密▲3年", "秘密★1年", "绝密★长期", "商业秘密★", "机密★10年"]
QUOTES = ["{}", "“{}”", "‘{}’", "「{}」", "『{}』", "《{}》", "〈{}〉", '"{}"', "“{}", "{}”", "”{}“", "“ {} ”", "「{}』"]
# Filler between a cue and a marking: characters of 1 to 4 UTF-8 bytes, a lone surrogate (JSON
# may carry one), and line breaks, which end the window a cue counts in.
FILLER = st.text(st.sampled_from(["a", " ", "é", "机", "、", "：", "\U0001F600", "\ud800", "\n"]), max_size=20)


# Findings that a cue before them does not make mentions (their rules do not skip mentions).
NOT_MENTIONS = ["mysql://root:Passw0rd2027@10.1.2.3:3306/db", "aws_access_key_id = AKIAZ7X2Q4WJ3KD9MPLA", "【秘密】会议纪要.md"]


@st.composite
def mention_text(draw, settings) -> str:
    """A document that may carry a marking at its head (bare, or with a stray quote beside it)
    and mentions markings in its prose: in every kind of quote, balanced or not, and after one of
    the policy's cues at any distance (示例：机密★10年、秘密★1年; 如：\n机密★5年; a cue 17
    characters before); or after words that are cues only after a marking or on the line above,
    and credentials after a cue (示例：AKIA…, still a finding)."""
    cues = (*settings.mention_before, *settings.mention_after, *settings.mention_previous_line)
    marks = MARKS + NOT_MENTIONS
    head = draw(st.sampled_from(["", *QUOTES])).format(draw(st.sampled_from(MARKS))) if draw(st.booleans()) else ""
    lines = [head, "关于顺北区块开发方案的报告"]
    for _ in range(draw(st.integers(3, 12))):
        line = draw(st.sampled_from(["各单位要严格落实保密工作责任制", "本周完成了装置检修计划", "经综合解释，目标区块共识别有利圈闭12个"]))
        for _ in range(draw(st.integers(0, 3))):
            lead = draw(st.sampled_from(["，公文首页标注", "，例如", "，", "；另见", "、"]))
            if draw(st.booleans()):
                lead = draw(st.sampled_from(cues)) + draw(FILLER)
            line += lead + draw(st.sampled_from(QUOTES)).format(draw(st.sampled_from(marks)))
        lines.append(line + "。")
    return "\n".join(lines) * draw(st.integers(1, 2))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_mention_is_dropped_before_its_offsets_as_accept_would(engine, data, monkeypatch):
    """The whole-part passes drop a match right between a pair of quotes, or with a cue close
    before it on its line, before converting its offsets: the hits are those of a matcher that
    leaves both to _accept()."""
    from guard.match import matcher as matcher_mod
    text = data.draw(mention_text(engine.policy.settings))
    parts = [Part(text, "t", data.draw(st.sampled_from(["prompt", "body"])))]
    fast = engine.matcher.scan(list(parts))
    with monkeypatch.context() as m:
        m.setattr(matcher_mod, "mentioned", lambda *a: False)
        slow = engine.matcher.scan(list(parts))
    simplify = lambda hits: {engine.matcher.rules[i].id: sorted((h.start, h.end, h.confirmed) for h in v) for i, v in hits.items()}  # noqa: E731
    assert simplify(fast) == simplify(slow)


GAP_CHARS = st.sampled_from(["a", "é", "机", "\U0001F600", "\ud800", " ", "\n"])


@st.composite
def gap(draw) -> str:
    """A stretch of characters of a drawn length: a cue lands on either side of the window's edge."""
    n = draw(st.integers(0, 22))
    return "".join(draw(st.lists(GAP_CHARS, min_size=n, max_size=n)))


@settings(max_examples=400, deadline=None)
@given(before=FILLER, cue=st.sampled_from(["示例", "例如", "e.g.", "for example", ""]), gap=gap(),
       mark=st.sampled_from(MARKS), quote=st.sampled_from(QUOTES), after=FILLER)
# the window's 16 characters: two of them lone surrogates (3 bytes each), or 4-byte ones
@example(before="", cue="示例", gap="\ud800\ud800" + "a" * 14, mark="机密★5年", quote="{}", after="")
@example(before="", cue="示例", gap="\U0001F600" * 14, mark="机密★5年", quote="{}", after="")
def test_mentioned_only_where_the_mention_checks_say_so(before, cue, gap, mark, quote, after):
    """mentioned() reads bytes; wherever it says a match is a mention, is_quoted() or the cue
    part of has_cue() says so on the characters (the window edge, line breaks, 4-byte
    characters and lone surrogates included), and it finds every cue has_cue() finds."""
    from guard.match import mentions
    from guard.match.textspan import _utf8, mentioned
    cues = ("示例", "例如", "e.g.", "for example")
    text = before + cue + gap + quote.format(mark) + after
    s = len(before + cue + gap) + quote.index("{")
    e = s + len(mark)
    enc = _utf8(text)
    bs, be = len(_utf8(text[:s])), len(_utf8(text[:e]))
    said = mentioned(enc, bs, be, cues)
    # Cut at the match's end, has_cue() answers for the cue before it alone (nothing after it
    # to explain or question it).
    cued = mentions.has_cue(text[:e], s, e, cues, (), ())
    if said:
        assert mentions.is_quoted(text, s, e) or cued
    assert said or not cued
