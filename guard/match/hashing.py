"""Matching without plaintext: registered-document fingerprints and hashed term lists.

Both hash normalized text with a secret per-index salt, so neither the fingerprint index nor a
hashed list holds (or lets anyone without the salt test) a word of what it protects.

Normalization: guard/match/fold.py (traditional -> simplified, width and case folded,
punctuation and whitespace removed).

Hashing: a polynomial rolling hash of the code points of every L-character window (numpy, all
windows at once), keyed by the salt (its base and a final 64-bit mix), with L mixed in.

Fingerprints (Schleimer et al., "Winnowing", SIGMOD 2003): a registered document keeps the
minimum hash of every window of W consecutive K-grams, with its position; any run of W+K-1 = 12
characters it shares with a prompt yields a common fingerprint. A prompt is looked up with all
its K-grams, so an excerpt whose every tenth character was changed (unbroken runs of 9) still
shares about half of the document's fingerprints in that stretch.

A finding is an *aligned* passage, as in MOSS: hits in the same order at the same offsets in
both texts (one diagonal, a few characters of drift), no more than GAP characters apart
(shared text yields a fingerprint at least every W positions; GAP leaves room for edits),
spanning `min_chars` characters, with `min_share` of the fingerprints that a verbatim copy of
that span would have. Formulaic phrases that two reports of one genre share sit on different
diagonals or farther apart, so they never add up. K-grams of background documents (public
texts of the genre, `guard register --background`) and k-grams in many registered documents
are not indexed at all.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from guard.errors import PolicyError
from guard.match.fold import _luts, _table, normalize, normalized  # noqa: F401  (their home before)

K = 5                  # characters per k-gram
W = 8                  # k-grams per winnowing window
GAP = 5 * W            # real k-grams between aligned hits that still belong to one shared passage
DRIFT = 2              # characters a passage may shift by (a word inserted or dropped) and stay aligned
MAX_DOCS_PER_HASH = 16  # a k-gram in more registered documents than this is boilerplate: not kept ...
COMMON_SHARE = 0.05    # ... nor one in more than this share of them (and at least 3)
FORMAT = "guard-fingerprints/2"
_M64 = (1 << 64) - 1


@dataclass(frozen=True)
class Key:
    base: int
    xor: int
    id: str   # names the salt without revealing it

    @classmethod
    def from_salt(cls, salt: bytes) -> "Key":
        base = int.from_bytes(hashlib.sha256(salt + b"base").digest()[:8], "little") | 1
        xor = int.from_bytes(hashlib.sha256(salt + b"xor").digest()[:8], "little")
        return cls(base, xor, hashlib.sha256(salt + b"id").hexdigest()[:12])


def read_salt(path: str | Path, create: bool = False) -> bytes:
    """The salt as bytes: any bytes (a binary key file), or text, whose surrounding whitespace
    is not part of it (the hex salt this writes ends in a newline)."""
    p = Path(path)
    if create and not p.exists():
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise PolicyError(f"{p}: cannot read salt: {e.strerror}") from None
    try:
        salt = raw.decode("ascii").strip().encode()
    except UnicodeDecodeError:
        salt = raw
    if len(salt) < 16:
        raise PolicyError(f"{p}: salt is shorter than 16 bytes")
    return salt


def window_hashes(c: np.ndarray, length: int, key: Key) -> np.ndarray:
    """Keyed hash of every `length`-character window of the code points `c`."""
    n = len(c) - length + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    base = np.uint64(key.base)
    h = np.zeros(n, dtype=np.uint64)
    for j in range(length):
        h = h * base + c[j:j + n]
    h ^= np.uint64((key.xor ^ (length * 0x9E3779B97F4A7C15)) & _M64)
    # splitmix64's finalizer: every bit of the window reaches every bit of the hash
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return h


def winnow(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hashes, positions) a document keeps: the minimum of every window of W hashes, each
    position once."""
    if len(h) == 0:
        return h, np.zeros(0, np.uint32)
    if len(h) <= W:
        picks = np.array([int(h.argmin())])
    else:
        windows = np.lib.stride_tricks.sliding_window_view(h, W)
        picks = np.unique(windows.argmin(axis=1) + np.arange(len(windows)))
    return h[picks], picks.astype(np.uint32)


# -- registered documents ----------------------------------------------------------------------
@dataclass
class Collection:
    name: str
    key: Key
    hashes: np.ndarray    # sorted uint64
    docs: np.ndarray      # uint32, aligned: which document each fingerprint belongs to
    pos: np.ndarray       # uint32, aligned: where in that document (normalized characters)
    stop: np.ndarray      # sorted uint64: boilerplate k-grams, left out of the index
    meta: list[dict]      # per document: id, label, chars, fingerprints, registered
    files: tuple[str, ...]

    def match(self, text: str, min_chars: int, min_share: float) -> list[tuple[int, int, dict, int, float]]:
        """(start, end, document, matched chars, share) for every registered document that
        `text` holds an aligned passage of (its longest)."""
        c, offsets = normalized(text)
        if len(c) < K or not len(self.hashes):
            return []
        h = window_hashes(c, K, self.key)
        lo = np.searchsorted(self.hashes, h)
        hi = np.searchsorted(self.hashes, h, side="right")
        found = np.nonzero(hi > lo)[0]
        if not len(found):
            return []
        # Boilerplate k-grams (not indexed) neither match nor break a passage: distances are
        # counted in the prompt's other k-grams.
        real = np.cumsum(~_isin_sorted(h, self.stop)) if len(self.stop) else np.arange(1, len(h) + 1)
        # every (prompt position, index entry) pair: a k-gram may be in several documents
        counts = (hi - lo)[found]
        q = np.repeat(found, counts)
        entry = np.repeat(lo[found], counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
        d, p = self.docs[entry], self.pos[entry].astype(np.int64)
        out = []
        order = np.lexsort((q, d))
        q, d, p = q[order], d[order], p[order]
        bounds = np.nonzero(np.diff(d))[0] + 1
        for qs, ps, doc in zip(np.split(q, bounds), np.split(p, bounds), d[np.r_[0, bounds]]):
            # (a document's group holds at least one hit, so there is a passage)
            s, e, length, hits = _best_passage(qs.tolist(), (ps - qs).tolist(), real[qs].tolist())
            share = min(1.0, hits * (W + 1) / 2 / length)   # a verbatim copy has a fingerprint every (W+1)/2 k-grams
            if length >= min_chars and share >= min_share:
                out.append((int(offsets[s]), int(offsets[e - 1]) + 1, self.meta[int(doc)], length, share))
        return out


def _isin_sorted(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    i = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[i] == values


def _best_passage(qs: list[int], diags: list[int], real: list[int]) -> tuple[int, int, int, int] | None:
    """(start, end, length, hits) of the longest aligned chain: hits in prompt order whose
    diagonal (document position - prompt position) stays within DRIFT of the chain's last hit,
    at most GAP real (not boilerplate) k-grams apart; length counts real k-grams. A prompt
    k-gram found at several places of the document extends each chain with the place nearest
    it; hitting the chain's last document place again (a run like 0000000 slides along one
    place) neither moves nor lengthens it."""
    chains: list[list[int]] = []   # [diagonal, first q, last q, first real, last real, hits, last place]
    best = None
    i = 0
    while i < len(qs):
        j = i + 1
        while j < len(qs) and qs[j] == qs[i]:
            j += 1
        q, r, places = qs[i], real[i], diags[i:j]   # the document places of one prompt k-gram
        i, taken = j, set()
        for ch in chains:
            g = places[0] if len(places) == 1 else min(places, key=lambda x: abs(x - ch[0]))
            if g not in taken and abs(ch[0] - g) <= DRIFT and r - ch[4] <= GAP:
                taken.add(g)
                if g + q != ch[6]:
                    ch[0], ch[2], ch[4], ch[5], ch[6] = g, q, r, ch[5] + 1, g + q
        chains += [[g, q, q, r, r, 1, g + q] for g in places if g not in taken]
        chains = [ch for ch in chains if r - ch[4] <= GAP]   # passages that have ended
        for ch in chains:
            length = ch[4] - ch[3] + K
            if best is None or length > best[2]:
                best = (ch[1], ch[2] + K, length, ch[5])
    return best


def collection_paths(index: Path, name: str) -> tuple[Path, Path, Path, Path]:
    return (index / f"{name}.json", index / f"{name}.hashes.npy", index / f"{name}.docs.npy",
            index / f"{name}.pos.npy", index / f"{name}.stop.npy")


def background_path(index: Path, name: str) -> Path:
    return index / f"{name}.background.npy"


def _stamp(index: Path, name: str) -> tuple:
    return tuple(os.stat(p).st_mtime_ns for p in (*collection_paths(index, name), index / "salt"))


def load_collection(index: str | Path, name: str) -> Collection:
    index = Path(index)
    try:
        stamp = _stamp(index, name)
    except OSError as e:
        raise PolicyError(f"{index}: no collection {name!r} (register documents with `guard register`): "
                          f"{e.strerror}") from None
    return _load_collection(str(index), name, stamp)


@lru_cache(maxsize=8)
def _load_collection(index: str, name: str, _stamp) -> Collection:
    # Cached by modification times: a reload that did not touch the index reuses it.
    paths = collection_paths(Path(index), name)
    try:
        meta = json.loads(paths[0].read_text(encoding="utf-8"))
        hashes, docs, pos, stop = (np.load(p, allow_pickle=False) for p in paths[1:])
    except (OSError, ValueError) as e:
        raise PolicyError(f"{index}: collection {name}: cannot read: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:   # a foreign JSON file too
        raise PolicyError(f"{index}: collection {name}: made by an older version; register its documents again")
    key = Key.from_salt(read_salt(Path(index) / "salt"))
    if meta.get("salt_id") != key.id or meta.get("k") != K or meta.get("w") != W or \
            not len(hashes) == len(docs) == len(pos):
        raise PolicyError(f"{index}: collection {name}: does not fit this index's salt or version")
    return Collection(name, key, hashes, docs, pos, stop, meta.get("docs", []),
                      tuple(str(p) for p in (*paths, Path(index) / "salt")))


def _background(index: Path, name: str) -> np.ndarray:
    """The k-grams of the collection's background documents (none yet: empty)."""
    p = background_path(index, name)
    if not p.exists():
        return np.zeros(0, np.uint64)
    try:
        return np.load(p, allow_pickle=False)   # never unpickle: the index is only data
    except (OSError, ValueError) as e:
        raise PolicyError(f"{p}: cannot read: {e}") from None


def _open(index: Path, name: str):
    """(key, meta, [hashes], [docs], [pos], stop) of a collection, new or existing: `stop`
    holds the k-grams known to be boilerplate (background texts, many documents)."""
    index.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Key.from_salt(read_salt(index / "salt", create=True))
    stop = _background(index, name)
    if collection_paths(index, name)[0].exists():
        old = _load_collection(str(index), name, _stamp(index, name))
        return key, list(old.meta), [old.hashes], [old.docs], [old.pos], np.union1d(stop, old.stop)
    return key, [], [], [], [], stop


def register(index: str | Path, name: str, texts: list[tuple[str, str, str]]) -> list[dict]:
    """Add documents (id, label, text) to a collection; returns their entries."""
    index = Path(index)
    key, meta, hashes, docs, pos, stop = _open(index, name)
    known = {m["id"] for m in meta}
    added, every = [], []
    for doc_id, label, text in texts:
        if doc_id in known:
            continue
        c, _ = normalized(text)
        all_grams = window_hashes(c, K, key)
        stop = np.union1d(stop, all_grams[_repeats(c)])
        every.append(np.unique(all_grams))
        fp, at = winnow(all_grams)
        entry = {"id": doc_id, "label": label, "chars": len(c), "fingerprints": int(len(fp)),
                 "registered": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        hashes.append(fp)
        docs.append(np.full(len(fp), len(meta), dtype=np.uint32))
        pos.append(at)
        meta.append(entry)
        known.add(doc_id)
        added.append(entry)
    if every:
        # Every k-gram (not only the fingerprints) of this batch that many of its documents
        # share is boilerplate: it then also counts as such in prompts, where it is skipped.
        uniq, counts = np.unique(np.concatenate(every), return_counts=True)
        stop = np.union1d(stop, uniq[counts > common_limit(len(meta))])
    _save(index, name, key, meta, hashes, docs, pos, stop)
    return added


def _repeats(c: np.ndarray) -> np.ndarray:
    """Which K-character windows of `c` repeat one character (00000, 哈哈哈哈哈): boilerplate, as
    they identify no document, and a prompt's run of zeros would otherwise align with the runs
    in a table of figures."""
    if len(c) < K:
        return np.zeros(0, bool)
    w = np.lib.stride_tricks.sliding_window_view(c, K)
    return (w == w[:, :1]).all(axis=1)


def add_background(index: str | Path, name: str, texts: list[str]) -> int:
    """Learn boilerplate from background documents (public or generic texts of the genre):
    every k-gram of theirs is dropped from the collection, now and for documents registered
    later. Returns how many distinct k-grams the background holds."""
    index = Path(index)
    key, meta, hashes, docs, pos, stop = _open(index, name)
    background = np.unique(np.concatenate([_background(index, name)] + [window_hashes(normalized(t)[0], K, key) for t in texts]))
    tmp = background_path(index, name).with_name(background_path(index, name).name + ".tmp.npy")
    np.save(tmp, background, allow_pickle=False)
    os.chmod(tmp, 0o600)
    os.replace(tmp, background_path(index, name))
    _save(index, name, key, meta, hashes, docs, pos, np.union1d(stop, background))
    return len(background)


def remove(index: str | Path, name: str, doc_id: str) -> bool:
    index = Path(index)
    col = load_collection(index, name)
    ids = [m["id"] for m in col.meta]
    if doc_id not in ids:
        return False
    d = ids.index(doc_id)
    keep = col.docs != d
    docs = col.docs[keep]
    docs = np.where(docs > d, docs - 1, docs).astype(np.uint32)
    meta = [m for m in col.meta if m["id"] != doc_id]
    _save(index, name, col.key, meta, [col.hashes[keep]], [docs], [col.pos[keep]], col.stop)
    return True


def common_limit(ndocs: int) -> int:
    """Documents a k-gram may be in and still identify them."""
    return max(3, min(MAX_DOCS_PER_HASH, int(ndocs * COMMON_SHARE)))


def _save(index: Path, name: str, key: Key, meta, hashes, docs, pos, stop) -> None:
    h = np.concatenate(hashes) if hashes else np.zeros(0, np.uint64)
    d = np.concatenate(docs) if docs else np.zeros(0, np.uint32)
    at = np.concatenate(pos) if pos else np.zeros(0, np.uint32)
    order = np.lexsort((at, d, h))
    h, d, at = h[order], d[order], at[order]
    drop = stop
    if len(h):
        # Boilerplate identifies no document: k-grams of the genre's background texts, and
        # k-grams that many registered documents share.
        pairs = np.unique(np.stack([h, d.astype(np.uint64)]), axis=1)   # (hash, document) once each
        uniq, counts = np.unique(pairs[0], return_counts=True)
        drop = np.union1d(uniq[counts > common_limit(len(meta))], stop)
        if len(drop):
            keep = ~np.isin(h, drop)
            h, d, at = h[keep], d[keep], at[keep]
    paths = collection_paths(index, name)
    for path, arr in zip(paths[1:], (h, d, at, drop.astype(np.uint64))):
        tmp = path.with_name(path.name + ".tmp.npy")
        np.save(tmp, arr, allow_pickle=False)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    tmp = paths[0].with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"format": FORMAT, "collection": name, "k": K, "w": W, "salt_id": key.id,
                               "boilerplate_kgrams": int(len(drop)), "docs": meta},
                              ensure_ascii=False, indent=1), encoding="utf-8")
    os.chmod(tmp, 0o600)
    os.replace(tmp, paths[0])
