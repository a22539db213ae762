"""Hashed term lists (`guard hash-terms`): a list known only as salted hashes of its normalized
terms; found in text by hashing every window of each term's length. The guard never holds the
terms themselves."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from guard.errors import PolicyError
from guard.match.fold import normalized
from guard.match.hashing import Key, read_salt, window_hashes

# -- hashed term lists ------------------------------------------------------------------------
@dataclass
class HashedTerms:
    """A term list as salted hashes (`guard hash-terms`): found in text by hashing its windows
    of every length a term has and looking them up."""
    key: Key
    lengths: tuple[int, ...]
    hashes: np.ndarray    # sorted uint64
    source: str

    def find(self, text: str) -> list[tuple[int, int]]:
        """(start, end) in `text` of every listed term."""
        c, offsets = normalized(text)
        if not len(c) or not len(self.hashes):
            return []
        out = []
        for length in self.lengths:
            h = window_hashes(c, length, self.key)
            if not len(h):
                continue
            pos = np.searchsorted(self.hashes, h)
            pos[pos == len(self.hashes)] = 0
            for i in np.nonzero(self.hashes[pos] == h)[0].tolist():
                s, e = int(offsets[i]), int(offsets[i + length - 1]) + 1
                frag = text[s:e]
                # An ASCII term is a whole word: HT2024001 is not inside HT20240017.
                if frag.isascii() and ((s > 0 and text[s - 1].isascii() and text[s - 1].isalnum())
                                       or (e < len(text) and text[e].isascii() and text[e].isalnum())):
                    continue
                out.append((s, e))
        return out


def hash_terms(terms, salt: bytes) -> dict:
    key = Key.from_salt(salt)
    by_len: dict[int, set[int]] = {}
    for t in terms:
        c, _ = normalized(t)
        if len(c):
            by_len.setdefault(len(c), set()).update(int(x) for x in window_hashes(c, len(c), key))
    hashes = sorted(h for s in by_len.values() for h in s)
    return {"format": "guard-hashed-terms/1", "salt_id": key.id, "count": len(hashes),
            "lengths": sorted(by_len), "hashes": [f"{h:016x}" for h in hashes]}


def load_hashed_terms(path: Path, salt_path: Path) -> HashedTerms:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PolicyError(f"{path}: cannot read hashed list: {e}") from None
    if not isinstance(data, dict) or data.get("format") != "guard-hashed-terms/1":
        raise PolicyError(f"{path}: not a hashed term list (make one with `guard hash-terms`)")
    key = Key.from_salt(read_salt(salt_path))
    if data.get("salt_id") != key.id:
        raise PolicyError(f"{path}: was hashed with another salt than {salt_path}")
    hashes = np.array(sorted(int(h, 16) for h in data.get("hashes", [])), dtype=np.uint64)
    return HashedTerms(key, tuple(int(n) for n in data.get("lengths", [])), hashes, str(path))
