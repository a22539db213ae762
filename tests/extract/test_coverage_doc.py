"""docs/coverage.md stays true: every carrier and format it names has proof that exists (a
carrier builder, which test_carriers.py runs with every marking; a test function; or the
extractor that reads it), and every carrier builder is named there."""
import ast
import importlib
import re
from pathlib import Path

import carriers
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "coverage.md"
_REF = re.compile(r"`([^`]+)`")


def _rows():
    """(first cell, proof cell) of every table row in the document, and the prose proofs."""
    rows = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| ") or line.startswith("|---"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if cells[0] in ("Carrier", "Body", "Markup", "Part"):
            continue
        rows.append((cells[0], cells[-1]))
    return rows


def _test_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}


def _exists(ref: str) -> bool:
    if ref.startswith("carriers."):
        return ref.split(".", 1)[1] in {c.__name__ for c in carriers.ALL}
    if "::" in ref:
        file, name = ref.split("::")
        path = Path(__file__).parent / file
        return path.exists() and name in _test_names(path)
    if ref.startswith("guard."):
        module, _, attr = ref.rpartition(".")
        try:
            return hasattr(importlib.import_module(module), attr)
        except ImportError:
            return False
    return False


ROWS = _rows()


def test_the_document_has_rows():
    assert len(ROWS) >= 40


@pytest.mark.parametrize("carrier, proof", ROWS, ids=[r[0] for r in ROWS])
def test_every_named_carrier_has_proof_that_exists(carrier, proof):
    refs = [r for r in _REF.findall(proof) if "." in r or "::" in r]
    assert refs, f"{carrier}: no test id or extractor named"
    missing = [r for r in refs if not _exists(r)]
    assert not missing, f"{carrier}: {missing} do not exist"


def test_prose_proofs_exist():
    text = DOC.read_text(encoding="utf-8")
    for ref in re.findall(r"`(test_\w+\.py::\w+)`", text):
        assert _exists(ref), ref


def test_every_carrier_builder_is_documented():
    text = DOC.read_text(encoding="utf-8")
    undocumented = [c.__name__ for c in carriers.ALL if f"`carriers.{c.__name__}`" not in text]
    assert not undocumented, undocumented
