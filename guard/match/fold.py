"""Text folded for fingerprints and hashed term lists: traditional -> simplified (OpenCC's
character table), full-width -> ASCII, ASCII case folded, and everything that is not a letter,
digit or CJK character removed (punctuation, whitespace), so re-punctuated, re-spaced and
traditional copies hash the same."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np


@lru_cache(maxsize=1)
def _table() -> dict[int, int]:
    table: dict[int, int] = {}
    try:
        import opencc

        path = Path(opencc.__file__).parent / "dictionary" / "TSCharacters.txt"
        for line in path.read_text(encoding="utf-8").splitlines():
            trad, _, simp = line.partition("\t")
            simp = simp.split(" ")[0]
            if len(trad) == 1 and len(simp) == 1:
                table[ord(trad)] = ord(simp)
    except (ImportError, OSError):  # without OpenCC's table only the width and case folds apply
        pass
    for c in range(0xFF01, 0xFF5F):
        table[c] = c - 0xFEE0
    for c in range(ord("A"), ord("Z") + 1):
        table[c] = c + 32
        table[c + 0xFEE0] = c + 32
    return table


@lru_cache(maxsize=1)
def _luts() -> tuple[np.ndarray, np.ndarray]:
    """(map, keep) over the Basic Multilingual Plane: the fold of each character, and whether
    it counts (a letter, digit or CJK character; punctuation and whitespace do not)."""
    fold = np.arange(0x10000, dtype=np.uint32)
    for src, dst in _table().items():
        if src < 0x10000:
            fold[src] = dst
    keep = np.fromiter((chr(c).isalnum() for c in range(0x10000)), dtype=bool, count=0x10000)
    return fold, keep


def normalized(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(code points of the normalized text as uint64, each one's offset in `text`): one pass
    in numpy, about 30 times faster than a regex over the string."""
    raw = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    fold, keep_bmp = _luts()
    bmp = raw < 0x10000
    clipped = np.where(bmp, raw, 0)
    mapped = np.where(bmp, fold[clipped], raw)
    keep = np.where(bmp, keep_bmp[clipped], True)
    offsets = np.nonzero(keep)[0]
    return mapped[offsets].astype(np.uint64), offsets


def normalize(text: str) -> str:
    c, _ = normalized(text)
    return c.astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")
