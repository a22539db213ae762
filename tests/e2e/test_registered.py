"""Registered documents and hashed lists through a real `guard proxy`: registering a document
or re-hashing a list while the proxy runs takes effect without a restart; the audit names the
document and the overlap, never text."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from harness import BIN, ROOT, Proxy

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "match"))
from test_fingerprints import REPORT, SAME_TOPIC, filler  # noqa: E402

DEFAULT = ROOT / "policies" / "default.yaml"


def post(c, text):
    return c.post("https://api.openai.com/v1/chat/completions",
                  json={"model": "m", "messages": [{"role": "user", "content": text}]})


def test_registering_while_running_and_the_audit_record(tmp_path, upstream):
    guard = str(BIN / "guard")
    (tmp_path / "first.txt").write_text(SAME_TOPIC, encoding="utf-8")
    subprocess.run([guard, "register", str(tmp_path / "first.txt"), "--index", str(tmp_path / "idx"),
                    "--collection", "储量报告"], check=True, capture_output=True)
    (tmp_path / "terms.txt").write_text("金沙江一号\n", encoding="utf-8")
    subprocess.run([guard, "hash-terms", str(tmp_path / "terms.txt"), "--salt-file", str(tmp_path / "t.salt"),
                    "--out", str(tmp_path / "t.hashed")], check=True, capture_output=True)
    pol = tmp_path / "p.yaml"
    pol.write_text(f"id: reg\nextends: [{DEFAULT}]\nlists:\n  names: {{hashed: t.hashed, salt_file: t.salt}}\n"
                   "rules:\n  - id: registered.reserves\n    description: 与登记的储量报告内容重合\n    severity: high\n"
                   "    action: block\n    fingerprint: {index: idx, collection: 储量报告}\n"
                   "  - id: custom.hashed-name\n    description: 登记的敏感名称\n    severity: high\n    action: block\n"
                   "    keywords_from: [names]\n", encoding="utf-8")
    p = Proxy(tmp_path, upstream, command="guard", policy=pol)
    try:
        prompt = filler(1500, 5) + REPORT[80:380] + filler(1500, 6)
        with p.client() as c:
            assert post(c, prompt).status_code == 200  # not registered yet
            assert post(c, "蓝鲸计划进展如何").status_code == 200
        (tmp_path / "report.txt").write_text(REPORT, encoding="utf-8")
        subprocess.run([guard, "register", str(tmp_path / "report.txt"), "--index", str(tmp_path / "idx"),
                        "--collection", "储量报告"], check=True, capture_output=True)
        (tmp_path / "terms.txt").write_text("金沙江一号\n蓝鲸计划\n", encoding="utf-8")
        subprocess.run([guard, "hash-terms", str(tmp_path / "terms.txt"), "--salt-file", str(tmp_path / "t.salt"),
                        "--out", str(tmp_path / "t.hashed")], check=True, capture_output=True)
        end = time.monotonic() + 8
        with p.client() as c:
            # Two edits, possibly two reloads: wait until both are in force.
            while time.monotonic() < end and 200 in (post(c, prompt).status_code, post(c, "蓝鲸计划进展如何").status_code):
                time.sleep(0.3)
            blocked = post(c, prompt)
            named = post(c, "蓝鲸计划进展如何")
        assert blocked.status_code == 403 and "registered.reserves" in blocked.text
        assert named.status_code == 403 and "蓝鲸计划" not in named.text  # the excerpt is masked
        recs = [json.loads(x) for x in subprocess.run([guard, "audit", "list", "--audit-dir", str(p.audit), "--json"],
                                                      capture_output=True, text=True, check=True).stdout.splitlines()]
        rec = next(r for r in recs if any(x["id"] == "registered.reserves" for x in r["rules"]))
        rule = next(x for x in rec["rules"] if x["id"] == "registered.reserves")
        assert "重合" in rule["excerpts"][0] and "chars" in rule["excerpts"][0]
        text = json.dumps(recs, ensure_ascii=False)
        assert not any(REPORT[i:i + 4] in text for i in range(80, 380))
        assert "蓝鲸计划" not in text
    finally:
        p.stop()
