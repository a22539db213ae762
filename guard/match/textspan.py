"""Offsets in a part's text: byte -> character offsets of its UTF-8, its head and foot lines, and
the windows around keyword hits that a rule's regex reads."""
from __future__ import annotations

import re
from bisect import bisect_right
from functools import lru_cache

WINDOW = 96      # characters around a keyword hit that a rule's regex sees
MAX_LINE = 512   # windows grow to line boundaries, but no further than this

def _foot_start(text: str, lines: int) -> int:
    """Offset of the first of the last `lines` non-empty lines."""
    pos = len(text)
    seen = 0
    while pos > 0:
        nl = text.rfind("\n", 0, pos)
        if _NONSPACE.search(text, nl + 1, pos):
            seen += 1
            if seen >= lines:
                return nl + 1
        if nl < 0:
            return 0
        pos = nl
    return 0


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


_CONTINUATION = bytes(range(0x80, 0xC0))


class _ByteOffsets:
    """Byte offset -> character offset in one UTF-8 text. Ascending offsets cost O(n) in all.
    Every point converted is remembered (with a checkpoint every STEP bytes), so a later pass
    over the same text (another rule's regex, finding its matches near the first pass's) counts
    only from the nearest known point below each offset instead of sweeping the text again."""

    STEP = 1 << 14

    def __init__(self, enc: bytes, nchars: int):
        self.enc = enc
        self.ascii = len(enc) == nchars
        self.b = self.c = 0
        self.known_b: list[int] = [0]  # ascending byte offsets whose character offset is known
        self.known_c: list[int] = [0]

    def __call__(self, b: int) -> int:
        if self.ascii:
            return b
        if b <= self.known_b[-1]:  # within what was counted: from the nearest known point
            k = bisect_right(self.known_b, b) - 1
            if b < self.b or self.known_b[k] > self.b:
                self.b, self.c = self.known_b[k], self.known_c[k]
            self.c += self._count(self.b, b)
            self.b = b
            return self.c
        if self.b < self.known_b[-1]:
            self.b, self.c = self.known_b[-1], self.known_c[-1]
        while b - self.b > self.STEP:  # checkpoints on the way, for the passes to come
            self.c += self._count(self.b, self.b + self.STEP)
            self.b += self.STEP
            self.known_b.append(self.b)
            self.known_c.append(self.c)
        self.c += self._count(self.b, b)
        self.b = b
        self.known_b.append(b)
        self.known_c.append(self.c)
        return self.c

    def _count(self, start: int, end: int) -> int:
        # Characters = bytes that are not UTF-8 continuation bytes; deleting those is twice
        # as fast as decoding the slice.
        return len(self.enc[start:end].translate(None, _CONTINUATION)) if end > start else 0


_NONSPACE = re.compile(r"\S")


def _head_end(text: str, lines: int) -> int:
    """Offset just past the first `lines` non-empty lines."""
    pos = seen = 0
    n = len(text)
    while pos < n:
        nl = text.find("\n", pos)
        nl = n if nl < 0 else nl
        if _NONSPACE.search(text, pos, nl):  # no slice: lines of prose can be long
            seen += 1
            if seen >= lines:
                return nl
        pos = nl + 1
    return n


def _windows(text: str, spans):
    """Merged windows around keyword hits, widened to whole lines (within MAX_LINE)."""
    out: list[list[int]] = []
    n = len(text)
    for s, e in sorted(spans):
        ws = max(0, s - WINDOW)
        we = min(n, e + WINDOW)
        ls = text.rfind("\n", max(0, ws - MAX_LINE), ws) + 1 if ws else 0
        ws = ls if ls > 0 or ws <= MAX_LINE else ws
        le = text.find("\n", we, min(n, we + MAX_LINE))
        we = le if le >= 0 else min(n, we + MAX_LINE) if we + MAX_LINE < n else n
        if out and ws <= out[-1][1]:
            out[-1][1] = max(out[-1][1], we)
        else:
            out.append([ws, we])
    return out


# A match right between the two halves of one of these pairs (UTF-8, three bytes each) is quoted
# on its line, whatever else the line holds: mentions.is_quoted() says so for every such match.
QUOTED_AROUND = frozenset((o + c).encode("utf-8") for o, c in ("“”", "‘’", "「」", "『』", "《》", "〈〉"))
CUE_WINDOW = 16  # characters before a match that mentions.has_cue() reads for a cue


@lru_cache(maxsize=16)
def _cue_search(cues: tuple[str, ...]):
    return re.compile("|".join(re.escape(c) for c in cues)).search


def mentioned(enc: bytes, s: int, e: int, before_cues: tuple[str, ...]) -> bool:
    """Whether the match at bytes enc[s:e] (s < e) is a mention _accept() drops whatever else
    holds, told from its UTF-8 alone: right between a pair of quotes (mentions.is_quoted()), or a
    cue within CUE_WINDOW characters before it on its line (mentions.has_cue(): 示例：机密★10年).
    A dense page about 保密 lists hundreds of such examples; this spares their offsets and checks."""
    if enc[max(0, s - 3):s] + enc[e:e + 3] in QUOTED_AROUND:
        return True
    if not before_cues:
        return False
    lo = max(0, s - 4 * CUE_WINDOW - 3)  # a character is at most 4 bytes; +3 for a cut one
    while lo < s and 0x80 <= enc[lo] < 0xC0:
        lo += 1  # from the next character's first byte
    before = enc[lo:s].decode("utf-8", "surrogatepass")[-CUE_WINDOW:]
    return _cue_search(before_cues)(before, before.rfind("\n") + 1) is not None


_WORDCH = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _joined(text: str, s: int, e: int) -> bool:
    """Whether text[s:e] continues a word or number: a letter or digit next to it, or a decimal
    point between it and a digit (the fraction of 513033.1303458946 is not a phone number)."""
    if s > 0:
        c = text[s - 1]
        if c in _WORDCH or (c == "." and s > 1 and text[s - 2].isdigit()):
            return True
    if e < len(text):
        c = text[e]
        if c in _WORDCH or (c == "." and e + 1 < len(text) and text[e + 1].isdigit()):
            return True
    return False
