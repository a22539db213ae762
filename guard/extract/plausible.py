"""How much decoded bytes read like Chinese text: to choose between code pages, and to tell
text hidden in base64 from random bytes that happen to decode."""
from __future__ import annotations

_COMMON_PUNCT = frozenset("，。：；！？、（）《》“”‘’「」★▲…—·　\n\r\t")


def plausibility(text: str) -> float:
    """Share of non-ASCII characters that are common Chinese: GB2312 level-1 hanzi,
    Big5 frequent hanzi, or CJK punctuation. Text decoded with the wrong code page
    turns into rare characters, kana, Cyrillic and vertical forms, and scores low."""
    n = good = 0
    for ch in text[:4000]:
        if ch.isascii():
            continue
        n += 1
        if ch in _COMMON_PUNCT:
            good += 1
            continue
        try:
            if 0xB0 <= ch.encode("gb2312")[0] <= 0xF7:
                good += 1
            continue
        except UnicodeEncodeError:
            pass
        try:
            if 0xA4 <= ch.encode("big5")[0] <= 0xC6:
                good += 1
        except UnicodeEncodeError:
            pass
    return 1.0 if n == 0 else good / n
