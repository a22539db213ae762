"""The upload ledger through a real proxy: an upload sent through mitmdump (TLS intercepted,
mapped to a loopback upstream) leaves an audit record that says which parts of each file were
read and which were not, with the reason, and no content."""
import io
import json
import sys
import zipfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

from carriers import make_docx  # noqa: E402
from harness import Proxy  # noqa: E402
from upstream import Upstream  # noqa: E402

pytestmark = pytest.mark.slow


def _records(audit: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(audit.glob("*.jsonl")) for line in f.read_text().splitlines() if line]


def test_audit_record_of_an_upload_carries_its_ledger(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("ok.txt", "季度安排")
        z.writestr("blob.bin", bytes(range(256)) * 8)
    archive = buf.getvalue()
    marked = make_docx(["设备检修方案"], header="机密★5年")
    with Upstream() as upstream:
        proxy = Proxy(tmp_path, upstream)
        try:
            with proxy.client() as c:
                r = c.post("https://api.openai.com/v1/files", data={"purpose": "assistants"},
                           files={"file": ("资料.zip", archive)})
                assert r.status_code == 403
                r = c.post("https://api.openai.com/v1/files", data={"purpose": "assistants"},
                           files={"file": ("方案.docx", marked)})
                assert r.status_code == 403
        finally:
            proxy.stop()
    recs = [r for r in _records(proxy.audit) if r.get("ledger")]
    assert len(recs) == 2, _records(proxy.audit)
    zip_rec, docx_rec = recs
    by_type = {}
    for e in zip_rec["ledger"]:
        by_type.setdefault(e["type"], []).append(e)
    unreadable = [n for e in zip_rec["ledger"] for n in e["not_scanned"]]
    assert any(n["reason"] == "unsupported" for n in unreadable), zip_rec["ledger"]
    assert any(e["read"] for e in zip_rec["ledger"])
    (docx,) = docx_rec["ledger"]
    assert docx["type"] == "ooxml" and any(r.startswith("/header") for r in docx["read"])
    assert "机密★5年" not in json.dumps(docx_rec["ledger"], ensure_ascii=False)
    assert "季度安排" not in json.dumps(zip_rec["ledger"], ensure_ascii=False)
