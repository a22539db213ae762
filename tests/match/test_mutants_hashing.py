"""Document fingerprints (guard/match/hashing.py) as other code and people rely on them: the
normalization and keyed hashes another version must reproduce to read a collection, winnowing,
the collection's files (round trips through register / add_background / remove, private
permissions, atomic replacement, clear errors for corrupt or foreign files) and the exact span,
length and share a match reports."""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings, strategies as st

from guard.errors import PolicyError
from guard.match import hashing
from guard.match.hashing import GAP, K, W

M64 = (1 << 64) - 1
SETTINGS = settings(derandomize=True, max_examples=150, deadline=None)


# -- independent statements of the on-disk format ------------------------------------------------
# A collection (guard-fingerprints/2) and a hashed term list hold these hashes: a version that
# computed them otherwise would pass the format check and silently match nothing registered.
def ref_key(salt: bytes) -> tuple[int, int, str]:
    base = int.from_bytes(hashlib.sha256(salt + b"base").digest()[:8], "little") | 1
    xor = int.from_bytes(hashlib.sha256(salt + b"xor").digest()[:8], "little")
    return base, xor, hashlib.sha256(salt + b"id").hexdigest()[:12]


def ref_hashes(codes: list[int], length: int, salt: bytes) -> list[int]:
    base, xor, _ = ref_key(salt)
    out = []
    for i in range(len(codes) - length + 1):
        h = 0
        for c in codes[i:i + length]:
            h = (h * base + c) & M64
        h ^= (xor ^ (length * 0x9E3779B97F4A7C15)) & M64
        h ^= h >> 30
        h = (h * 0xBF58476D1CE4E5B9) & M64
        h ^= h >> 27
        h = (h * 0x94D049BB133111EB) & M64
        h ^= h >> 31
        out.append(h)
    return out


def ref_normalize(text: str) -> tuple[str, list[int]]:
    """Letters, digits and CJK characters (and anything outside the BMP) kept, folded by the
    traditional/width/case table; everything else dropped."""
    table = hashing._table()
    out, at = [], []
    for i, ch in enumerate(text):
        o = ord(ch)
        if o >= 0x10000:
            out.append(ch)
        elif ch.isalnum():
            out.append(chr(table.get(o, o)))
        else:
            continue
        at.append(i)
    return "".join(out), at


def ref_winnow(h: list[int]) -> list[int]:
    """Positions kept: the leftmost minimum of every window of W hashes (of all, when fewer)."""
    if not h:
        return []
    spans = [(0, len(h))] if len(h) <= W else [(i, i + W) for i in range(len(h) - W + 1)]
    return sorted({s + min(range(e - s), key=lambda j: (h[s + j], j)) for s, e in spans})


SPECIAL = ["\ud800", "\udfff", "\U00020000", "\U0002a6d6", "\U0001f600", "\U0001d400", "\U00010000", "\uffff",
           "储", "量", "報", "告", "Ａ", "ｚ", "１", "A", "z", "9", "，", "。", " ", "\n", "é", "Ⅻ", "㐀"]
TEXT = st.text(alphabet=st.sampled_from(SPECIAL) | st.characters(), max_size=40)


@SETTINGS
@given(TEXT)
@example("".join(SPECIAL))
def test_normalization_keeps_letters_digits_cjk_and_astral_folded_with_offsets(text):
    want, at = ref_normalize(text)
    assert hashing.normalize(text) == want
    c, offsets = hashing.normalized(text)
    assert c.dtype == np.uint64 and [chr(x) for x in c.tolist()] == list(want) and offsets.tolist() == at


def test_lone_surrogates_and_astral_characters_neither_fail_nor_break_a_match(tmp_path):
    # A JSON body may carry a lone surrogate ("\\ud800"): dropped like punctuation, not an error.
    doc = plain(300, 1) + "\U00020000\U00020001\U00020002" + plain(100, 2)
    hashing.register(tmp_path, "c", [("d", "", doc)])
    col = hashing.load_collection(tmp_path, "c")
    prompt = "\ud800".join(doc[i:i + 20] for i in range(0, len(doc), 20))
    found = col.match(prompt, 300, 0.5)
    assert [m[2]["id"] for m in found] == ["d"] and found[0][3] >= 380


@SETTINGS
@given(st.binary(min_size=16, max_size=40), st.lists(st.integers(0, 0x10FFFF), max_size=14), st.integers(1, 9))
def test_window_hashes_are_the_documented_keyed_polynomial(salt, codes, length):
    key = hashing.Key.from_salt(salt)
    assert (key.base, key.xor, key.id) == ref_key(salt)
    got = hashing.window_hashes(np.array(codes, dtype=np.uint64), length, key)
    assert got.dtype == np.uint64 and got.tolist() == ref_hashes(codes, length, salt)


@SETTINGS
@given(st.lists(st.integers(0, 6), max_size=30))
def test_winnowing_keeps_the_leftmost_minimum_of_every_window(values):
    h = np.array(values, dtype=np.uint64)
    kept, at = hashing.winnow(h)
    assert at.dtype == np.uint32 and kept.dtype == np.uint64
    assert at.tolist() == ref_winnow(values) and kept.tolist() == [values[i] for i in at.tolist()]


@SETTINGS
@given(st.lists(st.integers(0, 20), max_size=20), st.lists(st.integers(0, 20), min_size=1, max_size=8))
def test_boilerplate_membership_is_set_membership(values, members):
    # match() skips a prompt's boilerplate k-grams with this test, for values above all of them too
    s = np.unique(np.array(members, dtype=np.uint64))
    v = np.array(values, dtype=np.uint64)
    assert hashing._isin_sorted(v, s).tolist() == [x in set(members) for x in values]


# -- salt ------------------------------------------------------------------------------------------
@pytest.fixture
def umask0():
    old = os.umask(0)   # the modes the code asks for, not the ones a umask leaves
    yield
    os.umask(old)


def mode(p: Path) -> int:
    return p.stat().st_mode & 0o777


def test_salt_is_created_private_once_and_never_by_a_reader(tmp_path, umask0):
    p = tmp_path / "salt"
    with pytest.raises(PolicyError, match=r"salt: cannot read salt") as e:
        hashing.read_salt(p)
    assert str(p) in str(e.value) and not p.exists()
    salt = hashing.read_salt(p, create=True)
    text = p.read_text(encoding="ascii")
    assert mode(p) == 0o600 and len(text) == 65 and text.endswith("\n") and int(text, 16) >= 0
    assert salt == text.strip().encode()
    assert hashing.read_salt(p, create=True) == salt == hashing.read_salt(p)


def test_salt_files_binary_text_and_too_short(tmp_path):
    binary = tmp_path / "key.bin"
    binary.write_bytes(bytes(range(200, 256)))
    assert hashing.read_salt(binary) == bytes(range(200, 256))
    text = tmp_path / "text"
    text.write_bytes(b"  0123456789abcdef \n")
    assert hashing.read_salt(text) == b"0123456789abcdef"    # 16 bytes: enough
    text.write_bytes(b"0123456789abcde\n")
    with pytest.raises(PolicyError) as e:
        hashing.read_salt(text)
    assert str(e.value) == f"{text}: salt is shorter than 16 bytes"


# -- collections -----------------------------------------------------------------------------------
def plain(n: int, seed: int) -> str:
    """CJK characters only: its normalized text is itself (offsets are positions)."""
    rnd = random.Random(seed)
    return "".join(chr(rnd.randint(0x4E00, 0x9FA5)) for _ in range(n))


def latin(n: int, seed: int) -> str:
    rnd = random.Random(seed)
    return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n))


def ids(found) -> list[str]:
    return sorted(m[2]["id"] for m in found)


def assert_well_formed(col: hashing.Collection) -> None:
    """The arrays as the Collection documents them (and older and newer versions read them)."""
    assert col.hashes.dtype == np.uint64 and col.stop.dtype == np.uint64
    assert col.docs.dtype == np.uint32 and col.pos.dtype == np.uint32
    assert np.all(np.diff(col.hashes.astype(np.float64)) >= 0) and np.all(col.docs < max(1, len(col.meta)))
    assert not np.isin(col.hashes, col.stop).any()      # boilerplate is not indexed at all


DOCS = {f"d{i}": plain(400, 100 + i) for i in range(4)}
BG = plain(120, 99)      # a boilerplate paragraph: longer than GAP k-grams


def test_documents_registered_in_several_runs_all_match_and_reload(tmp_path, umask0):
    idx = tmp_path / "deep" / "er" / "idx"     # the index and its parents are created
    added = hashing.register(idx, "c", [("d0", "甲", DOCS["d0"])])
    assert [a["id"] for a in added] == ["d0"] and mode(idx) == 0o700
    first = hashing.load_collection(idx, "c")
    assert ids(first.match(DOCS["d1"], 50, 0.25)) == []
    added = hashing.register(idx, "c", [("d0", "", DOCS["d0"]), ("d1", "乙", DOCS["d1"]), ("d1", "", DOCS["d1"]),
                                        ("d2", "", DOCS["d2"])])
    assert [a["id"] for a in added] == ["d1", "d2"]      # known ids skipped, the rest of the batch kept
    hashing.register(idx, "c", [("d3", "", DOCS["d3"])])
    col = hashing.load_collection(idx, "c")              # a reload sees what changed since
    assert [m["id"] for m in col.meta] == ["d0", "d1", "d2", "d3"] and [m["label"] for m in col.meta][:2] == ["甲", "乙"]
    for i in range(4):
        assert ids(col.match(DOCS[f"d{i}"][50:250], 50, 0.25)) == [f"d{i}"]
    assert_well_formed(col)
    assert len(col.stop) == 0        # no background, nothing shared: no boilerplate
    assert len(col.hashes) == sum(m["fingerprints"] for m in col.meta)
    files = sorted(p.name for p in idx.iterdir())
    assert files == ["c.docs.npy", "c.hashes.npy", "c.json", "c.pos.npy", "c.stop.npy", "salt"]   # no temp files
    assert all(mode(idx / f) == 0o600 for f in files)


def test_entries_say_what_was_registered_and_when_in_utc(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Shanghai")   # the stamp is UTC whatever the host's zone
    time.tzset()
    try:
        before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
        text = "，".join([DOCS["d0"][:200], DOCS["d0"][200:]])
        (entry,) = hashing.register(tmp_path, "c", [("d0", "标签", text)])
        after = dt.datetime.now(dt.timezone.utc)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    c, _ = hashing.normalized(text)
    fp, _ = hashing.winnow(hashing.window_hashes(c, K, hashing.load_collection(tmp_path, "c").key))
    assert set(entry) == {"id", "label", "chars", "fingerprints", "registered"}
    assert (entry["id"], entry["label"], entry["chars"], entry["fingerprints"]) == ("d0", "标签", 400, len(fp))
    stamp = dt.datetime.strptime(entry["registered"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    assert before - dt.timedelta(seconds=2) <= stamp <= after + dt.timedelta(seconds=2)   # UTC, not +08:00
    assert hashing.load_collection(tmp_path, "c").meta == [entry]     # the file holds the same entry


def test_too_short_documents_are_registered_without_fingerprints(tmp_path):
    added = hashing.register(tmp_path, "c", [("empty", "", "。"), ("four", "", "甲乙丙丁"), ("five", "", "子丑寅卯辰"),
                                             ("nine", "", "甲乙丙丁戊己庚辛壬"), ("d0", "", DOCS["d0"])])
    assert [(a["id"], a["chars"]) for a in added] == [("empty", 0), ("four", 4), ("five", 5), ("nine", 9), ("d0", 400)]
    assert [a["fingerprints"] for a in added[:3]] == [0, 0, 1] and added[3]["fingerprints"] >= 1
    col = hashing.load_collection(tmp_path, "c")
    assert_well_formed(col)
    assert ids(col.match(DOCS["d0"], 50, 0.25)) == ["d0"] and ids(col.match("甲乙丙丁戊己庚辛壬", K, 0.1)) == ["nine"]
    hashing.register(tmp_path, "c", [("run", "", "哈哈哈哈哈")])    # one character repeated: boilerplate
    col = hashing.load_collection(tmp_path, "c")
    assert col.match("哈哈哈哈哈", K, 0.01) == [] and ids(col.match("子丑寅卯辰", K, 0.1)) == ["five"]


def test_remove_drops_one_document_and_keeps_the_others_and_the_boilerplate(tmp_path, umask0):
    hashing.register(tmp_path, "c", [(k, "", v + BG) for k, v in DOCS.items()])
    assert hashing.add_background(tmp_path, "c", [BG]) > 0
    before = hashing.load_collection(tmp_path, "c")
    assert hashing.remove(tmp_path, "c", "d1") is True
    assert hashing.remove(tmp_path, "c", "d1") is False and hashing.remove(tmp_path, "c", "nobody") is False
    col = hashing.load_collection(tmp_path, "c")
    assert [m["id"] for m in col.meta] == ["d0", "d2", "d3"] and col.meta[1] == before.meta[2]
    assert ids(col.match(DOCS["d1"], 50, 0.25)) == []
    for k in ("d0", "d2", "d3"):       # the documents after the removed one are renumbered
        found = col.match(DOCS[k], 50, 0.25)
        assert ids(found) == [k] and found == [(s, e, col.meta[[m["id"] for m in col.meta].index(k)], n, sh)
                                              for s, e, _, n, sh in before.match(DOCS[k], 50, 0.25)]
    assert_well_formed(col)
    assert np.array_equal(col.stop, before.stop) and col.match(BG, 20, 0.1) == []
    for k in ("d0", "d2", "d3"):
        assert hashing.remove(tmp_path, "c", k)
    empty = hashing.load_collection(tmp_path, "c")
    assert empty.meta == [] and len(empty.hashes) == 0 and empty.match(DOCS["d0"], 10, 0.01) == []
    assert_well_formed(empty)
    assert all(mode(p) == 0o600 for p in tmp_path.iterdir())


def test_remove_from_a_missing_collection_is_a_clear_error(tmp_path):
    with pytest.raises(PolicyError, match=r"no collection 'c' \(register documents with `guard register`\)") as e:
        hashing.remove(tmp_path, "c", "d0")
    assert str(tmp_path) in str(e.value)


def kgrams(text: str, col: hashing.Collection) -> set[int]:
    return set(hashing.window_hashes(hashing.normalized(text)[0], K, col.key).tolist())


def bridged(col: hashing.Collection, doc: str) -> list:
    """A copy of A + BG + B: the background neither matches nor breaks the passage A..B."""
    return col.match(doc, 150, 0.25)


def test_background_learned_first_keeps_boilerplate_out_of_documents_registered_later(tmp_path, umask0):
    other = plain(80, 98)
    n = hashing.add_background(tmp_path, "c", [BG, "，。"])      # before any document: an empty collection
    col = hashing.load_collection(tmp_path, "c")
    assert n == len(kgrams(BG, col)) and col.meta == [] and len(col.hashes) == 0
    assert set(col.stop.tolist()) == kgrams(BG, col)
    assert_well_formed(col)
    bg = hashing.background_path(tmp_path, "c")
    assert np.load(bg).dtype == np.uint64 and set(np.load(bg).tolist()) == kgrams(BG, col)
    # a second background adds to the first
    assert hashing.add_background(tmp_path, "c", [other]) == len(kgrams(BG, col) | kgrams(other, col))
    doc = DOCS["d0"][:100] + BG + DOCS["d0"][100:200]
    hashing.register(tmp_path, "c", [("d0", "", doc)])
    col = hashing.load_collection(tmp_path, "c")
    assert_well_formed(col)
    assert col.match(BG, 20, 0.1) == [] and col.match(other, 20, 0.1) == []
    (found,) = bridged(col, doc)
    assert found[3] >= 190 and found[1] - found[0] > 300     # one passage, from A to B, over the background
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.background.npy", "c.docs.npy", "c.hashes.npy", "c.json",
                                                          "c.pos.npy", "c.stop.npy", "salt"]
    assert all(mode(p) == 0o600 for p in tmp_path.iterdir())


def test_background_learned_later_drops_boilerplate_from_registered_documents(tmp_path):
    docs = [(k, "label", v[:100] + BG + v[100:200]) for k, v in DOCS.items()]
    hashing.register(tmp_path, "c", docs[:2])
    assert ids(hashing.load_collection(tmp_path, "c").match(BG, 50, 0.25)) == ["d0", "d1"]   # the control
    hashing.add_background(tmp_path, "c", [BG])
    hashing.register(tmp_path, "c", docs[2:])
    col = hashing.load_collection(tmp_path, "c")
    assert [m["id"] for m in col.meta] == ["d0", "d1", "d2", "d3"] and col.meta[0]["label"] == "label"
    assert_well_formed(col)
    assert col.match(BG, 20, 0.1) == []
    for k, _, doc in docs:
        assert ids(bridged(col, doc)) == [k]


def test_boilerplate_shared_by_a_batch_is_skipped_in_prompts(tmp_path):
    # a letterhead in many documents of one batch: every k-gram of it (not only the fingerprints)
    # is boilerplate, so a copy of A + letterhead + B is still one passage
    docs = [(f"d{i}", "", plain(100, 200 + i) + BG + plain(100, 300 + i)) for i in range(8)]
    hashing.register(tmp_path, "c", docs)
    col = hashing.load_collection(tmp_path, "c")
    assert_well_formed(col)
    assert kgrams(BG, col) <= set(col.stop.tolist()) and col.match(BG, 20, 0.1) == []
    (found,) = bridged(col, docs[5][2])
    assert found[2]["id"] == "d5" and found[1] - found[0] > 300


@pytest.mark.parametrize("one_batch", [True, False])
def test_a_paragraph_identifies_its_documents_up_to_the_cut_off(tmp_path, one_batch):
    # ten documents: the cut-off is 3; a paragraph in 3 of them names them, in 4 names none,
    # whether they were registered together or one by one
    assert hashing.common_limit(10) == 3
    for shared, expect in ((3, ["d0", "d1", "d2"]), (4, [])):
        idx = tmp_path / f"{shared}"
        docs = [(f"d{i}", "", plain(150, 400 + i) + (BG if i < shared else "") + plain(150, 500 + i)) for i in range(10)]
        if one_batch:
            hashing.register(idx, "c", docs)
        else:
            for d in docs:
                hashing.register(idx, "c", [d])
        col = hashing.load_collection(idx, "c")
        assert_well_formed(col)
        assert ids(col.match(BG, 50, 0.25)) == expect, shared
        grams = kgrams(BG, col)
        assert set(col.stop.tolist()) <= grams and bool(len(col.stop)) == (not expect)
        assert ids(col.match(docs[0][2][:150], 50, 0.25)) == ["d0"]       # its own text still names it


def test_cut_off_grows_with_the_collection_to_sixteen_documents():
    assert [hashing.common_limit(n) for n in (0, 1, 60, 79, 80, 100, 200, 320, 340, 10_000)] == \
        [3, 3, 3, 3, 4, 5, 10, 16, 16, 16]


# -- files: private, replaced atomically, clear errors -------------------------------------------
def test_a_reader_of_the_old_files_is_not_disturbed_by_a_save(tmp_path):
    hashing.register(tmp_path, "c", [("d0", "", DOCS["d0"])])
    old = (tmp_path / "c.json").open(encoding="utf-8")
    inode = (tmp_path / "c.json").stat().st_ino
    hashing.register(tmp_path, "c", [("d1", "", DOCS["d1"])])
    assert [m["id"] for m in json.load(old)["docs"]] == ["d0"]    # the old file, whole
    old.close()
    assert (tmp_path / "c.json").stat().st_ino != inode


def test_a_failed_save_leaves_the_collection_as_it_was(tmp_path, monkeypatch):
    hashing.register(tmp_path, "c", [("d0", "", DOCS["d0"])])

    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(hashing.np, "save", full)
    with pytest.raises(OSError):
        hashing.register(tmp_path, "c", [("d1", "", DOCS["d1"])])
    monkeypatch.undo()
    col = hashing.load_collection(tmp_path, "c")
    assert [m["id"] for m in col.meta] == ["d0"] and ids(col.match(DOCS["d0"], 50, 0.25)) == ["d0"]


def test_a_background_saved_before_an_interrupted_collection_save_still_counts(tmp_path, monkeypatch):
    # add_background writes the background first: if the collection's own save then fails,
    # documents registered next still leave the background out
    def crash(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(hashing, "_save", crash)
    with pytest.raises(OSError):
        hashing.add_background(tmp_path, "c", [BG])
    monkeypatch.undo()
    assert not (tmp_path / "c.json").exists()
    doc = DOCS["d0"][:100] + BG + DOCS["d0"][100:200]
    hashing.register(tmp_path, "c", [("d0", "", doc)])
    col = hashing.load_collection(tmp_path, "c")
    assert col.match(BG, 20, 0.1) == [] and ids(bridged(col, doc)) == ["d0"]


def test_arrays_without_their_json_are_no_collection(tmp_path):
    # the JSON is written last: arrays without it are an interrupted first save
    hashing.register(tmp_path, "c", [("d0", "", DOCS["d0"])])
    (tmp_path / "c.json").unlink()
    assert [a["id"] for a in hashing.register(tmp_path, "c", [("d1", "", DOCS["d1"])])] == ["d1"]
    assert ids(hashing.load_collection(tmp_path, "c").match(DOCS["d1"], 50, 0.25)) == ["d1"]


class _Planted:
    """Unpickling this touches a file: proof that a planted pickle ran."""
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_planted_pickle_in_the_index_is_never_run(tmp_path):
    idx, marker = tmp_path / "idx", tmp_path / "ran"
    hashing.register(idx, "c", [("d0", "", DOCS["d0"])])
    np.save(hashing.background_path(idx, "c"), np.array([_Planted(marker)], dtype=object), allow_pickle=True)
    for act in (lambda: hashing.register(idx, "c", [("d1", "", DOCS["d1"])]),
                lambda: hashing.add_background(idx, "c", [BG])):
        with pytest.raises(PolicyError, match="c.background.npy: cannot read"):
            act()
    np.save(idx / "c.stop.npy", np.array([_Planted(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(PolicyError, match="collection c: cannot read"):
        hashing.load_collection(idx, "c")
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["garbage json", "foreign json", "old format", "garbage npy", "other salt",
                                    "short array"])
def test_corrupt_or_foreign_collection_files_are_one_line_errors(tmp_path, damage):
    hashing.register(tmp_path, "c", [("d0", "", DOCS["d0"]), ("d1", "", DOCS["d1"])])
    if damage == "garbage json":
        (tmp_path / "c.json").write_bytes(b"\xff{not json")
    elif damage == "foreign json":
        (tmp_path / "c.json").write_text("[1, 2]", encoding="utf-8")
    elif damage == "old format":
        meta = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
        (tmp_path / "c.json").write_text(json.dumps({**meta, "format": "guard-fingerprints/1"}), encoding="utf-8")
    elif damage == "garbage npy":
        (tmp_path / "c.pos.npy").write_bytes(b"\x93NUMPY garbage")
    elif damage == "other salt":
        (tmp_path / "salt").write_text("f" * 64 + "\n", encoding="ascii")
    else:
        np.save(tmp_path / "c.docs.npy", np.zeros(1, np.uint32))
    for act in (lambda: hashing.load_collection(tmp_path, "c"),
                lambda: hashing.register(tmp_path, "c", [("d2", "", DOCS["d2"])]),
                lambda: hashing.remove(tmp_path, "c", "d0")):
        with pytest.raises(PolicyError) as e:
            act()
        assert "\n" not in str(e.value) and "collection c" in str(e.value)


def test_the_collection_file_is_utf8_whatever_the_locale(tmp_path):
    # a host whose locale is not UTF-8 (C, or a GB18030 one) writes and reads the same file
    hashing.register(tmp_path, "c", [("d0", "储量", DOCS["d0"])])
    (tmp_path / "label.json").write_text(json.dumps({"label": "报告", "text": DOCS["d1"]}), encoding="utf-8")
    script = ("import json, sys\nfrom guard.match import hashing\n"
              "a = json.loads(open(sys.argv[1] + '/label.json', encoding='utf-8').read())\n"
              "hashing.register(sys.argv[1], 'c', [('d1', a['label'], a['text'])])\n")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LC_")}, "LANG": "C", "LC_ALL": "C",
           "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0", "PYTHONPATH": str(Path(hashing.__file__).parents[2])}
    p = subprocess.run([sys.executable, "-c", script, str(tmp_path)], env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    col = hashing.load_collection(tmp_path, "c")
    assert [(m["id"], m["label"]) for m in col.meta] == [("d0", "储量"), ("d1", "报告")]


# -- what a match reports ------------------------------------------------------------------------
DOC = plain(600, 7)


@pytest.fixture(scope="module")
def one(tmp_path_factory):
    idx = tmp_path_factory.mktemp("one")
    hashing.register(idx, "c", [("doc", "", DOC)])
    col = hashing.load_collection(idx, "c")
    c, _ = hashing.normalized(DOC)
    _, at = hashing.winnow(hashing.window_hashes(c, K, col.key))
    return col, at.tolist()


def expected(at: list[int], a: int, b: int, offset: int):
    """(start, end, length, share) of a verbatim copy of DOC[a:b] at `offset` in a prompt: the
    span from its first to its last fingerprint; share = fingerprints / ((W+1)/2 per k-gram), at most 1."""
    inside = [p for p in at if a <= p and p + K <= b]
    f0, f1 = inside[0], inside[-1]
    length = f1 - f0 + K
    return offset + f0 - a, offset + f1 - a + K, length, min(1.0, len(inside) * (W + 1) / 2 / length)


def test_a_copy_is_reported_from_its_first_to_its_last_fingerprint_with_its_share(one):
    col, at = one
    capped = 0
    for a in range(0, 480, 11):
        for n in (13, 14, 17, 25, 60, 110):
            pad = latin(a % 23, a)
            prompt = pad + DOC[a:a + n] + latin(9, n)
            s, e, length, share = expected(at, a, a + n, len(pad))
            capped += share == 1.0
            found = col.match(prompt, length, share)
            assert [(f[0], f[1], f[2]["id"], f[3], f[4]) for f in found] == [(s, e, "doc", length, share)], (a, n)
            assert col.match(prompt, length + 1, share) == []         # min_chars and min_share are inclusive
            assert share == 1.0 or col.match(prompt, length, share + 1e-9) == []
    assert capped >= 10     # short dense copies: share capped at 1


def test_the_longest_and_first_passage_of_a_document_is_reported(one):
    col, at = one
    long, short = DOC[50:250], DOC[350:450]
    for prompt in (long + latin(60, 1) + short, short + latin(60, 2) + long):
        (found,) = col.match(prompt, 50, 0.25)
        assert found[0] == prompt.index(long) + expected(at, 50, 250, 0)[0] and found[3] == expected(at, 50, 250, 0)[2]
    twice = latin(10, 3) + short + latin(60, 4) + short + latin(10, 5)
    (found,) = col.match(twice, 50, 0.25)
    assert found[0] == 10 + expected(at, 350, 450, 0)[0]      # of equals, the first


def test_pieces_in_another_order_are_no_passage(one):
    col, _ = one
    # pieces of 30 characters (too short alone), 30 other characters apart
    pieces = [DOC[i:i + 30] + latin(30, i) for i in range(0, 600, 60)]
    assert col.match(pieces[0], 50, 0.25) == []
    assert col.match("".join(pieces), 50, 0.25)                     # the control: in order, aligned
    assert col.match("".join(reversed(pieces)), 50, 0.25) == []
    assert col.match("".join(pieces[::2] + pieces[1::2]), 50, 0.25) == []   # no piece before its successor


def test_an_edited_stretch_of_gap_kgrams_joins_a_passage_one_more_does_not(one):
    col, at = one
    for distance, joined in ((GAP, True), (GAP + 1, False)):
        fi, fj = next((p, q) for p in at for q in at if q - p == distance and 150 <= p and q <= 450)
        # every k-gram between the two fingerprints is changed; they stay GAP (or GAP+1) apart
        prompt = DOC[:fi + K] + latin(fj - fi - K, fi) + DOC[fj:]
        (found,) = col.match(prompt, 10, 0.01)
        whole = expected(at, 0, len(DOC), 0)
        left, right = expected(at, 0, fi + K, 0), expected(at, fj, len(DOC), fj)
        if joined:
            assert (found[0], found[1], found[3]) == whole[:3]
        else:
            longer = left if left[2] >= right[2] else right
            assert (found[0], found[1], found[3]) == longer[:3]


def test_a_prompt_run_sliding_along_one_document_place_is_one_hit():
    # hits (prompt k-gram, diagonal): k-grams 5, 6, 7 all hit document place 15 (a run of a
    # period longer than 2 in the prompt): one hit, K characters, not a passage of three
    assert hashing._best_passage([5, 6, 7], [10, 9, 8], [6, 7, 8]) == (5, 5 + K, K, 1)
    # after a real hit at place 20 (diagonal 10) the chain moves on; sliding along it adds nothing
    assert hashing._best_passage([5, 10, 11, 12], [10, 10, 9, 8], [6, 11, 12, 13]) == (5, 10 + K, 5 + K, 2)
    # a drift within DRIFT is followed, hit by hit
    assert hashing._best_passage([0, 8, 16, 24], [0, 2, 4, 6], [1, 9, 17, 25]) == (0, 24 + K, 24 + K, 4)
    assert hashing._best_passage([0, 8], [0, 3], [1, 9]) == (0, K, K, 1)


def test_each_document_of_a_prompt_is_reported_as_if_alone(tmp_path):
    docs = {f"d{i}": plain(300, 600 + i) for i in range(3)}
    hashing.register(tmp_path, "c", list((k, "", v) for k, v in docs.items()))
    col = hashing.load_collection(tmp_path, "c")
    parts = [latin(20, 1), docs["d2"][40:200], latin(30, 2), docs["d0"][10:140], latin(30, 3), docs["d1"][100:290]]
    prompt = "".join(parts)
    found = sorted(col.match(prompt, 50, 0.25), key=lambda f: f[2]["id"])
    assert [f[2]["id"] for f in found] == ["d0", "d1", "d2"]
    for f in found:
        alone = {"d2": 1, "d0": 3, "d1": 5}[f[2]["id"]]
        off = len("".join(parts[:alone]))
        ((s, e, d, n, share),) = col.match(parts[alone], 50, 0.25)
        assert (f[0], f[1], f[2], f[3], f[4]) == (s + off, e + off, d, n, share)


def figures(n: int, seed: int) -> str:
    """A report's text with figures like 2000000000 (runs of zeros) every few words, and now and
    then a run of two characters (121212)."""
    rnd = random.Random(seed)
    out: list[str] = []
    while len(out) < n:
        out += plain(rnd.randint(3, 15), rnd.random())
        if rnd.random() < 0.5:
            out += str(rnd.randint(1, 99)) + "0" * rnd.randint(3, 9)
        elif rnd.random() < 0.3:
            out += rnd.choice(["12", "ab", "哈嘿"]) * rnd.randint(3, 6)     # runs of two characters
    return "".join(out[:n])


def test_copies_of_passages_with_runs_of_zeros_are_found_whole(tmp_path):
    # A k-gram of a run is in the document at several offsets, and a run in the prompt hits one
    # place of the document again and again. Those echoes once dragged a chain off its diagonal
    # (copies of 60-100 characters of a figure-heavy report were reported short or missed: 6 in
    # 100), and a prompt's own run of zeros lined up with the document's runs (a finding with
    # most salts). One character repeated (00000) is now boilerplate: neither indexed nor counted.
    tmp_path.joinpath("salt").write_text("5a" * 32 + "\n", encoding="ascii")   # the same index every run
    rnd = random.Random(11)
    for i in range(24):     # one document a collection: no boilerplate cut-off between them
        doc = figures(500, 700 + i)
        hashing.register(tmp_path, f"c{i}", [("t", "", doc)])
        col = hashing.load_collection(tmp_path, f"c{i}")
        grams = hashing.window_hashes(hashing.normalized(doc)[0], K, col.key)
        runs = [doc[j:j + K] == doc[j] * K for j in range(len(grams))]    # 00000
        assert any(runs) and set(grams[runs].tolist()) <= set(col.stop.tolist())
        real = ~np.isin(grams, col.stop)
        fp, at = hashing.winnow(grams)
        at = at[real[at]].tolist()
        for _ in range(25):
            a = rnd.randint(0, 400)
            b = a + rnd.randint(60, 100)
            s, e, _, _ = expected(at, a, b, 2)    # from its first to its last (indexed) fingerprint
            length = int(real[s - 2 + a + 1:e - 2 + a - K + 1].sum()) + K     # real k-grams only
            found = col.match("前言" + doc[a:b] + "后记", min(50, length), 0.25)
            assert len(found) == 1 and found[0][0] <= s and found[0][1] >= e and found[0][3] >= length, (i, a, b)
        for run in ("0" * 80, "表" + "10" * 40 + "表", "哈" * 30):
            assert col.match(run, K, 0.01) == [], run
