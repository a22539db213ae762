"""The matcher's fast paths must find exactly what the plain per-rule scans find."""
import random

import pytest
from hypothesis import given, settings
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


def quoted_text(seed: int) -> str:
    """A document that may carry a marking at its head (bare, or with a stray quote beside it) and
    quotes markings in its prose, in every kind of quote, balanced or not."""
    rnd = random.Random(seed)
    marks = ["机密★5年", "核心商密▲3年", "秘密★1年", "绝密★长期", "商业秘密★"]
    around = ["{}", "“{}”", "‘{}’", "「{}」", "『{}』", "《{}》", "〈{}〉", '"{}"', "“{}", "{}”", "”{}“", "“ {} ”", "「{}』"]
    lines = [rnd.choice(around).format(rnd.choice(marks)) if rnd.random() < 0.7 else "", "关于顺北区块开发方案的报告"]
    for _ in range(rnd.randint(20, 60)):
        line = rnd.choice(["各单位要严格落实保密工作责任制", "本周完成了装置检修计划", "经综合解释，目标区块共识别有利圈闭12个"])
        if rnd.random() < 0.4:
            line += rnd.choice(["，公文首页标注", "，例如", "，", "；另见"]) + rnd.choice(around).format(rnd.choice(marks))
        lines.append(line + "。")
    return "\n".join(lines) * rnd.randint(1, 3)


@pytest.mark.parametrize("seed", range(40))
def test_a_match_right_inside_quotes_is_dropped_as_accept_would(engine, seed, monkeypatch):
    """The whole-part passes drop a match that sits right between a pair of quotes before
    converting its offsets: the hits are those of a matcher that leaves it to _accept()."""
    from guard.match import matcher as matcher_mod
    parts = [Part(quoted_text(seed), "t", ["prompt", "body"][seed % 2])]
    fast = engine.matcher.scan(list(parts))
    monkeypatch.setattr(matcher_mod, "QUOTED_AROUND", frozenset())
    slow = engine.matcher.scan(list(parts))
    simplify = lambda hits: {engine.matcher.rules[i].id: sorted((h.start, h.end, h.confirmed) for h in v) for i, v in hits.items()}  # noqa: E731
    assert simplify(fast) == simplify(slow)
