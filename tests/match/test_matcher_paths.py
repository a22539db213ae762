"""The matcher's fast paths must find exactly what the plain per-rule scans find."""
import random

import pytest

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
