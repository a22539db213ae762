"""Custom terms are found whatever width their punctuation and digits are written in.

Property test: random terms with ASCII punctuation, and texts that write each of their
characters ASCII or full-width at random, inside ordinary Chinese text that gives the
normalizer no other reason to fold (the hole this guards: 昆仑-7号工程 vs 昆仑－7号工程)."""
import random

import pytest

from guard import Engine
from guard.policy import load_policy_text

PUNCT = "-()[]/.:_#+&"
HAN = "昆仑塔河顺北长庆胜利渤海南海工程项目井区块号期站"
FILLER = ["请整理会议纪要", "本周完成了检修", "经研究决定如下", "数据见附表", "各单位要落实责任"]


def widen(c: str) -> str:
    return chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c


def term_and_text(rnd: random.Random) -> tuple[str, str]:
    term = "".join(rnd.choice(HAN) for _ in range(rnd.randint(2, 4)))
    for _ in range(rnd.randint(1, 3)):
        term += rnd.choice(PUNCT) + str(rnd.randint(1, 99)) + rnd.choice(HAN)
    written = "".join(widen(c) if rnd.random() < 0.5 else c for c in term)
    if written == term:
        written = "".join(widen(c) if not c.isalnum() else c for c in term)
    if rnd.random() < 0.3:  # the list itself written full-width, the text ASCII
        term, written = written, term
    text = f"{rnd.choice(FILLER)}，{written}的进度{rnd.choice(FILLER)}。"
    return term, text


@pytest.mark.parametrize("seed", range(40))
def test_term_found_in_any_width(seed):
    rnd = random.Random(seed)
    pairs = [term_and_text(rnd) for _ in range(5)]
    terms = "\n".join(f"      - {t!r}" for t, _ in pairs).replace("'", '"')
    policy = load_policy_text(f"""
id: widths
rules:
  - id: custom.terms
    description: t
    severity: high
    action: block
    keywords:
{terms}
""")
    engine = Engine(policy)
    for term, text in pairs:
        v = engine.scan_text(text)
        assert v.action == "block", (term, text)


def test_default_list_term_in_full_width(engine):
    assert engine.scan_text("昆仑－7号工程本周进度如何").action == "block"
    assert engine.scan_text("昆仑﹣７号工程").action == "block"
