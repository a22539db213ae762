"""Normalization for matching, with an offset map back to the original text.

Rules see text where compatibility forms are folded (NFKC, one char for one char),
traditional forms of the marking vocabulary are simplified, star and triangle
variants are one symbol, format characters are gone and whitespace *inside* a
marking word (`机 密`, `秘　密`, `机\\n密`) is removed. Whitespace elsewhere is kept:
line structure is evidence (a marking stands on a line of its own).

Most prompts need none of this, so each step first checks cheaply whether the raw
text gives it a reason to run; untouched text is returned as is, with no map.
"""
from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass

STAR = "★"
TRIANGLE = "▲"
_STAR_VARIANTS = "☆✩✪✫✬✭✮✯✰⭐⭑⭒✦✧✱✲✳✴✵✶✷✸✹✺✻✼✽❂❋⚝🟉🟊∗⋆٭⁎✢✣✤✥"
_TRIANGLE_VARIANTS = "△▴▵⏶🔺⯅"
# Traditional (and variant) forms of characters in the marking vocabulary.
_TRADITIONAL = dict(zip(
    "機絕祕級內資業長個僅註檔號發範圍際單錶標誌彙總專屬權質構聯網絡護數據隱私識別碼證",
    "机绝秘级内资业长个仅注档号发范围际单表标志汇总专属权质构联网络护数据隐私识别码证",
))
# Zero-width, bidi and other format characters used to split words invisibly, and
# combining marks (underlines, strokes, accents) stacked on characters to disguise them.
_FORMAT_CHARS = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0"
    "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
)
# Separators typed between a marking word's characters to dodge a filter (机·密, 机-密),
# and Markdown emphasis or escapes (**机**密, 机密\\*5年).
_SEP_CHARS = "·・‧•.\\-_—–|/~*`\\\\"
_GAP_CHARS = " \t\r\n\u3000\u00a0" + _SEP_CHARS + _FORMAT_CHARS
# HTML tags between a marking's characters (机<b>密</b>): markup, not content.
_GAP = f"(?:[{_GAP_CHARS}]|<[^<>\\n]{{0,40}}>)"

# Words a marking is made of; whitespace between their characters is an evasion.
DEFAULT_VOCABULARY = (
    "绝密", "机密", "秘密", "核心商密", "普通商密", "商业秘密", "工作秘密", "内部资料",
    "注意保存", "内部文件", "内部使用", "仅限内部", "密级", "保密期限", "长期", "商密",
    "敏感信息", "个月",
)


def _build_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for cp in list(range(0xA0, 0x10000)) + list(range(0x1F100, 0x1F300)) + list(range(0x2F800, 0x2FA20)):
        c = chr(cp)
        if 0xD800 <= cp <= 0xDFFF:
            continue
        n = unicodedata.normalize("NFKC", c)
        if len(n) == 1 and n != c:
            table[cp] = n
    for c in _STAR_VARIANTS:
        table[ord(c)] = STAR
    for c in _TRIANGLE_VARIANTS:
        table[ord(c)] = TRIANGLE
    for k, v in list(table.items()):  # NFKC first, then the vocabulary folds on its result
        table[k] = _TRADITIONAL.get(v, v)
    for t, s in _TRADITIONAL.items():
        table[ord(t)] = s
    table[0xFF0A] = STAR  # full-width asterisk: a star stand-in, not ASCII '*'
    return table


_TABLE = _build_table()
# Characters common in ordinary Chinese text whose folding changes nothing a rule
# needs; they do not by themselves make the (slow) translate step run.
# (＊ is not: it stands for ★ in 绝密＊十年.)
_COMMON = (set(range(0xFF01, 0xFF10)) - {0xFF0A}) | set(range(0xFF1A, 0xFF21)) | set(range(0xFF3B, 0xFF41)) \
    | set(range(0xFF5B, 0xFF66)) | {0x3000, 0xA0}
_TRIGGER_CHARS = frozenset(chr(cp) for cp in _TABLE if cp not in _COMMON and cp < 0x10000)
_TRIGGER_WIDE = "\U0001F100-\U0001F2FF\U0002F800-\U0002FA1F"


def _trigger_re(chars) -> re.Pattern:
    return re.compile("[" + "".join(re.escape(c) for c in sorted(chars)) + _TRIGGER_WIDE + "]")


_TRIGGER_RE = _trigger_re(_TRIGGER_CHARS)
_FORMAT_RE = re.compile(f"[{_FORMAT_CHARS}]+")


@dataclass(frozen=True, slots=True)
class Normalized:
    text: str
    # (normalized offset, original offset) at the start of each kept segment;
    # None when no character was removed (offsets are then identical).
    _segments: tuple[tuple[int, ...], tuple[int, ...]] | None = None

    def to_original(self, pos: int) -> int:
        if self._segments is None:
            return pos
        norm, orig = self._segments
        i = bisect.bisect_right(norm, pos) - 1
        return orig[i] + (pos - norm[i])


# Pairs inside a whole marking, beyond its words: level and symbol, symbol and period
# (机密.★.5.年, 核心商密-▲-3年). Never digit and digit: 3.5 stays a decimal.
_MARKING_JOINS = (
    [f"密{s}" for s in "★▲*"] + [f"{s}{d}" for s in "★▲*" for d in "0123456789"]
    + [f"{d}{u}" for d in "0123456789" for u in "年个"] + [f"{s}长" for s in "★▲*"]
)


def wide_forms(ascii_chars) -> frozenset[str]:
    """The characters NFKC folds onto these ASCII characters (－ and ﹣ onto -, （ onto ( ...)."""
    return frozenset(chr(cp) for cp, v in _TABLE.items() if v in ascii_chars and cp < 0x10000)


class Normalizer:
    def __init__(self, vocabulary=DEFAULT_VOCABULARY, fold_chars=""):
        """`fold_chars`: ASCII characters that literal terms contain (昆仑-7号工程): text that writes
        them full-width (昆仑－7号工程) must be folded too, though full-width punctuation is
        otherwise common enough in Chinese text not to be a reason to fold by itself."""
        extra = wide_forms(set(fold_chars)) - _TRIGGER_CHARS
        self._trigger = _trigger_re(_TRIGGER_CHARS | extra) if extra else _TRIGGER_RE
        firsts, seconds, self._bigrams = set(), set(), set()
        for word in vocabulary:
            word = word.translate(_TABLE)
            for a, b in zip(word, word[1:]):
                firsts.add(a)
                seconds.add(b)
                self._bigrams.add(a + b)
        for a, b in _MARKING_JOINS:
            firsts.add(a)
            seconds.add(b)
            self._bigrams.add(a + b)
        cls = lambda chars: "[" + "".join(re.escape(c) for c in sorted(chars)) + "]"  # noqa: E731
        self._spaced_re = re.compile(f"(?<={cls(firsts)}){_GAP}+(?={cls(seconds)})") if firsts else None
        # One pass that says whether any step has work: a character to fold, a format
        # character, or a gap after a marking word's character. Most text has none.
        # Exact bigrams with a gap (机[gaps]+密), not any first char + any second char:
        # a loose pattern fires on ordinary text and makes the whole part take the slow path.
        spaced = "".join(f"|{re.escape(b[0])}{_GAP}+{re.escape(b[1])}" for b in sorted(self._bigrams))
        self.reason_pattern = f"{self._trigger.pattern}|[{_FORMAT_CHARS}\u3000\u00a0]{spaced}"
        self._reason_re = re.compile(self.reason_pattern)

    def normalize(self, text: str, checked: bool = False) -> Normalized:
        """`checked`: the caller already found a reason (reason_pattern matched)."""
        # Everything folded or removed here is non-ASCII: ASCII text is already normal.
        if not checked and (text.isascii() or not self._reason_re.search(text)):
            return Normalized(text)
        if "\u3000" in text:
            text = text.replace("\u3000", " ")
        if "\u00a0" in text:
            text = text.replace("\u00a0", " ")
        if self._trigger.search(text):
            text = text.translate(_TABLE)  # one char for one char: offsets unchanged
        cuts = [m.span() for m in _FORMAT_RE.finditer(text)] if _FORMAT_RE.search(text) else []
        if self._spaced_re is not None:
            for m in self._spaced_re.finditer(text):
                s, e = m.span()
                # The gap may end in the pair's own second character (* is a gap in **机**密
                # and the symbol in 机密\\*5年): try the longest gap first, then shorter ones.
                while e > s and text[s - 1] + text[e] not in self._bigrams:
                    e -= 1
                # A number and a unit are joined across spaces only: across a table's cell bar,
                # a tab or a line (| 2 | 年度预算) they are different cells.
                # Nor a level and a symbol across a line (工作秘密 / * Copyright in a comment).
                if e > s and (text[s - 1].isdigit() or text[s - 1] in "★▲*" or text[e] in "★▲*") \
                        and any(c in text[s:e] for c in "|\t\n"):
                    continue
                if e > s:
                    cuts.append((s, e))
        if not cuts:
            return Normalized(text)
        cuts.sort()
        pieces, norm, orig = [], [0], [0]
        pos = npos = 0
        for s, e in cuts:
            if e <= pos:
                continue
            s = max(s, pos)
            pieces.append(text[pos:s])
            npos += s - pos
            pos = e
            norm.append(npos)
            orig.append(pos)
        pieces.append(text[pos:])
        return Normalized("".join(pieces), (tuple(norm), tuple(orig)))


def fold(text: str) -> str:
    """Normalize a short string (a keyword from a policy) the way text is normalized."""
    return _FORMAT_RE.sub("", text.replace("\u3000", " ").translate(_TABLE))
