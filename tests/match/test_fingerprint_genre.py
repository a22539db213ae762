"""Fingerprints against documents of the same genre: a finding means "this text holds a real
passage of that registered document", never "it uses the same formulaic phrases"."""
from __future__ import annotations

import random
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genre import PHRASES, corpus, grams, report
from guard.match import hashing

GUARD = [sys.executable, "-m", "guard.cli.main"]
MIN_CHARS, MIN_SHARE = 50, 0.25   # the policy defaults


@pytest.fixture(scope="module")
def reports():
    return corpus(seed=2026, registered=100, unregistered=20)


@pytest.fixture(scope="module")
def collection(reports, tmp_path_factory):
    idx = tmp_path_factory.mktemp("genre") / "idx"
    hashing.register(idx, "报告", [(f"r{i:03d}", "", t) for i, t in enumerate(reports[0])])
    return hashing.load_collection(idx, "报告")


@pytest.fixture(scope="module")
def salted_collection(reports, tmp_path_factory):
    """The same reports under one fixed salt: how many scattered hits add up depends on which
    windows the salt's winnowing keeps (1 to 12 of these 20 reports over 800 random salts), so
    the control below is measured under one salt (4 of them under this one), not a random one."""
    idx = tmp_path_factory.mktemp("genre-salted") / "idx"
    idx.mkdir(parents=True)
    (idx / "salt").write_text("genre-control-" + "0" * 16 + "\n")
    hashing.register(idx, "报告", [(f"r{i:03d}", "", t) for i, t in enumerate(reports[0])])
    return hashing.load_collection(idx, "报告")


def hits(col, text, min_chars=MIN_CHARS, min_share=MIN_SHARE):
    return col.match(text, min_chars, min_share)


def test_the_generated_reports_share_phrases_not_passages(reports):
    registered, other = reports
    seen = set().union(*(grams(t) for t in registered))
    assert all(not grams(t) & seen for t in other)
    # ... and they do share the genre's phrases, plenty of them
    assert all(sum(p in t for p in PHRASES) >= 10 for t in other)


def test_no_unregistered_report_of_the_genre_is_flagged(collection, reports):
    flagged = [t[:30] for t in reports[1] if hits(collection, t)]
    assert flagged == []


def test_scattered_hits_would_add_up_without_alignment(salted_collection, reports, monkeypatch):
    """The same reports are flagged when matches need not lie on one diagonal: what the
    alignment prevents is real in this data."""
    assert not any(hits(salted_collection, t) for t in reports[1])
    monkeypatch.setattr(hashing, "DRIFT", 10 ** 9)
    monkeypatch.setattr(hashing, "GAP", 200)
    assert sum(bool(hits(salted_collection, t)) for t in reports[1]) >= 3


def _tenth_changed(text: str, rnd: random.Random) -> str:
    chars = list(text)
    for i in range(rnd.randrange(10), len(chars), 10):
        chars[i] = rnd.choice("啊哦嗯呀哈")
    return "".join(chars)


def _traditional(text: str) -> str:
    to_trad = {s: t for t, s in hashing._table().items() if t > 0x3000 and s > 0x3000}
    return "".join(chr(to_trad.get(ord(c), ord(c))) for c in text)


def _repunctuated(text: str) -> str:
    return text.replace("，", "、 ").replace("。", "；\n").replace("：", ":")


def _respaced(text: str) -> str:
    return " ".join(text[i:i + 3] for i in range(0, len(text), 3))


def test_excerpts_with_every_tenth_character_changed_are_found(collection, reports):
    rnd = random.Random(7)
    found, n = 0, 300
    for _ in range(n):
        i = rnd.randrange(100)
        doc = reports[0][i]
        length = rnd.randint(200, 400)
        start = rnd.randint(0, len(doc) - length)
        excerpt = _tenth_changed(doc[start:start + length], rnd)
        found += any(m[2]["id"] == f"r{i:03d}" for m in hits(collection, "请帮我改写：" + excerpt))
    assert found / n >= 0.95, found / n


@settings(derandomize=True, max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.integers(0, 99), start=st.floats(0, 1), length=st.integers(200, 500),
       how=st.sampled_from([_traditional, _repunctuated, _respaced, lambda t: t]),
       prefix=st.text(alphabet="请帮我总结以下内容谢谢", max_size=40))
def test_rewritten_excerpts_are_found(collection, reports, doc, start, length, how, prefix):
    text = reports[0][doc]
    length = min(length, len(text))
    s = int(start * (len(text) - length))
    assert any(m[2]["id"] == f"r{doc:03d}" for m in hits(collection, prefix + how(text[s:s + length])))


def test_min_share_rejects_sparse_alignments(collection, reports):
    """An excerpt whose every tenth character was changed keeps about half the fingerprints of a
    verbatim copy: found at the default share, not when a near-verbatim density is required."""
    rnd = random.Random(3)
    doc = reports[0][5]
    excerpt = _tenth_changed(doc[:600], rnd)
    assert hits(collection, excerpt)
    # (a verbatim copy's share is 0.94-1.0 depending on the index's random salt; a changed one's 0.35-0.5)
    assert not hits(collection, excerpt, min_share=0.8)
    assert hits(collection, doc[:600], min_share=0.8)


STATUTE = ("根据《中华人民共和国保守国家秘密法》及其实施条例和集团公司保密管理规定的有关要求，"
           "结合本单位工作实际，对涉密载体的制作、收发、传递、使用、复制、保存、维修和销毁实行全过程管理。")


def test_boilerplate_shared_by_many_registered_documents_is_not_a_passage(tmp_path):
    rnd = random.Random(11)
    docs = [report(rnd)[:900] + STATUTE + report(rnd)[:600] for _ in range(40)]
    hashing.register(tmp_path / "idx", "c", [(f"d{i}", "", t) for i, t in enumerate(docs)])
    col = hashing.load_collection(tmp_path / "idx", "c")
    assert len(STATUTE) > 80 and not hits(col, "请解释：" + STATUTE)
    assert hits(col, docs[3][100:400])   # the documents' own passages still are


def test_background_documents_teach_the_boilerplate(tmp_path):
    """Two registered documents quote the statute: without a background it is a passage of
    theirs; after `guard register --background` with public texts quoting it, it is not."""
    rnd = random.Random(12)
    docs = [report(rnd)[:900] + STATUTE + report(rnd)[:600] for _ in range(2)]
    files = []
    for i, t in enumerate(docs):
        files.append(tmp_path / f"doc{i}.txt")
        files[-1].write_text(t, encoding="utf-8")
    (tmp_path / "public").mkdir()
    for i in range(3):
        (tmp_path / "public" / f"p{i}.txt").write_text(report(rnd)[:500] + STATUTE, encoding="utf-8")
    idx = tmp_path / "idx"
    run = lambda *a: subprocess.run([*GUARD, "register", "--index", str(idx), *a], capture_output=True, text=True)
    p = run("--collection", "plain", *map(str, files))
    assert p.returncode == 0, p.stderr
    assert hits(hashing.load_collection(idx, "plain"), STATUTE)
    p = run("--collection", "taught", "--background", str(tmp_path / "public"), *map(str, files))
    assert p.returncode == 0 and "background: 3 document(s)" in p.stdout, p.stderr
    taught = hashing.load_collection(idx, "taught")
    assert not hits(taught, STATUTE)
    assert hits(taught, docs[0][100:400])
    p = run("--collection", "x", "--background", str(tmp_path / "missing"))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "not a folder" in p.stderr


def test_a_binary_salt_is_accepted(tmp_path):
    idx = tmp_path / "idx"
    idx.mkdir()
    (idx / "salt").write_bytes(bytes(range(256)))
    hashing.register(idx, "b", [("a", "", report(random.Random(1)))])
    col = hashing.load_collection(idx, "b")
    assert col.key == hashing.Key.from_salt(bytes(range(256)))
    (idx / "salt").write_bytes(b"\xff\x00short")
    with pytest.raises(hashing.PolicyError, match="shorter than 16 bytes"):
        hashing.read_salt(idx / "salt")
