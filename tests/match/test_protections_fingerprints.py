"""Fingerprint protections (issue 26): a finding needs a *stretch* of a registered document
(scattered short pieces do not add up: min_share), and a paragraph many registered documents
share (a letterhead, a confidentiality notice) identifies none of them (the boilerplate cut-off).
Each test fails when its protection is removed."""
import random

import pytest

from guard.match import hashing

from test_fingerprints import REPORT, random_chinese

COMMON = ("本文件为集团公司内部管理文件，仅供本单位工作人员在履行职责过程中使用。未经批准，不得以任何形式向外部"
          "单位或个人提供、转发、复制或者摘录本文件的全部或者部分内容。如有疑问请与综合管理部门联系。")


def scattered(text: str, piece: int, gap: int, seed: int) -> str:
    """Pieces of `text` of `piece` characters with `gap` unrelated characters between them."""
    rnd = random.Random(seed)
    out = []
    for i in range(0, len(text) - piece, piece * 2):
        out.append(text[i:i + piece])
        out.append(random_chinese(gap, rnd).replace("，", "").replace("。", "")[:gap])
    return "".join(out)


@pytest.fixture(scope="module")
def one_doc(tmp_path_factory):
    idx = tmp_path_factory.mktemp("fp-one")
    hashing.register(idx, "c", [("report", "", REPORT)])
    return hashing.load_collection(idx, "c")


def test_scattered_pieces_do_not_add_up_to_a_finding(one_doc):
    whole = one_doc.match(REPORT[60:260], 50, 0.25)
    # (shares depend on the index's random salt: over 300 salts a stretch scored 0.82-1.0, these
    # pieces 0.45-0.6; 0.75 lies between)
    assert whole and whole[0][3] >= 50 and whole[0][4] > 0.75   # the control: a stretch is found
    text = scattered(REPORT, piece=12, gap=10, seed=1)
    # With no share required, the pieces cover enough characters to be "found"...
    loose = one_doc.match(text, 50, 1e-9)
    assert loose, "the scattered text no longer covers 50 characters: make the pieces longer"
    covered, share = loose[0][3], loose[0][4]
    assert covered >= 50 and share < 0.75
    # ...but they are a small share of the stretch they are spread over: not a finding.
    assert one_doc.match(text, 50, share + 0.01) == []
    assert one_doc.match(text, 50, 0.75) == []


def test_paragraph_shared_by_many_documents_identifies_none(tmp_path):
    rnd = random.Random(5)
    docs = [(f"doc-{i}", "", random_chinese(300, rnd) + COMMON + random_chinese(300, rnd)) for i in range(40)]
    hashing.register(tmp_path / "many", "c", docs)
    many = hashing.load_collection(tmp_path / "many", "c")
    assert many.match(COMMON, 50, 0.25) == []
    own = docs[3][2][:300]   # the control: a document's own text still names it
    assert [m[2]["id"] for m in many.match(own, 50, 0.25)] == ["doc-3"]
    # Shared by two documents only, the paragraph is still theirs: both are named.
    hashing.register(tmp_path / "two", "c", docs[:2])
    two = hashing.load_collection(tmp_path / "two", "c")
    assert sorted(m[2]["id"] for m in two.match(COMMON, 50, 0.25)) == ["doc-0", "doc-1"]
