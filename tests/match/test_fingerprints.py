"""Registered-document fingerprints and hashed term lists: found without plaintext."""
from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from guard.audit import record as audit_record
from guard.scanner import Engine
from guard.match.hashing import _table
from guard.policy import load_policy

GUARD = [sys.executable, "-m", "guard.cli.main"]
DEFAULT = Path(__file__).resolve().parents[2] / "policies" / "default.yaml"

REPORT = (
    "关于塔里木盆地某区块二〇二六年储量复核情况的报告。经过三个月的野外复查和室内综合研究，项目组对该区块的"
    "探明储量进行了系统复核，新增含油面积十二点四平方公里，新增探明石油地质储量两千三百万吨，技术可采储量五百八十万吨。"
    "复核过程中发现原报告中三口评价井的测井解释存在偏差，其中两口井的有效厚度被高估约一成。项目组建议在明年上半年"
    "部署四口开发评价井，进一步落实北部断块的油水界面，同时对南部构造高点开展三维地震精细处理，以降低储量计算中的"
    "不确定性。储量复核结果已报送集团公司勘探与生产分公司审查，审查意见将于下月反馈。此外，项目组对区块内的老井进行"
    "了复查，发现十一口井存在套管损坏问题，需要安排修井作业。经济评价表明，在油价六十美元每桶的情况下，该区块开发"
    "项目的内部收益率约为百分之十四点二，投资回收期为六点五年，具有较好的经济效益，建议尽快列入下一年度的产能建设计划。"
)
SAME_TOPIC = (
    "关于准噶尔盆地某区块二〇二六年储量评估工作的汇报。今年项目组完成了二维地震资料的重新处理，落实了三个有利圈闭，"
    "预计新增控制储量一千万吨左右。下一步计划部署两口探井，并开展油藏描述研究，力争年底前提交预测储量报告。评价井的"
    "测井解释由研究院负责复核，储量计算采用容积法，含油面积和有效厚度根据最新的地震解释成果圈定。经济评价将在储量"
    "提交后开展，重点分析不同油价情景下的开发效益，并向勘探与生产分公司汇报。"
)


def filler(n: int, seed: int) -> str:
    rnd = random.Random(seed)
    phrases = ["今天的例会讨论了下周的工作安排", "请大家按时提交周报", "食堂下周开始供应早餐", "办公楼电梯检修通知",
               "新员工培训定于周三下午", "请帮我把这段话改得更通顺", "年度体检安排见附件", "停车场车位重新分配"]
    out = []
    while sum(map(len, out)) < n:
        out.append(rnd.choice(phrases) + rnd.choice("，。；！"))
    return "".join(out)[:n]


def random_chinese(n: int, rnd: random.Random) -> str:
    # GB2312 level-1 characters (the 3,755 most used), with punctuation now and then.
    out = []
    for _ in range(n):
        if rnd.random() < 0.08:
            out.append(rnd.choice("，。；、！？"))
        else:
            out.append(bytes([rnd.randint(0xB0, 0xD7), rnd.randint(0xA1, 0xF9)]).decode("gb2312", "ignore") or "的")
    return "".join(out)


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fp")
    doc = tmp / "report.txt"
    doc.write_text(REPORT, encoding="utf-8")
    p = subprocess.run([*GUARD, "register", str(doc), "--index", str(tmp / "idx"), "--collection", "储量报告"],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    doc_id = re.search(r"registered (\w+)", p.stdout).group(1)
    pol = tmp / "fp.yaml"
    pol.write_text(f"id: fp\nextends: [{DEFAULT}]\nrules:\n  - id: registered.reserves\n"
                   "    description: 与登记的储量报告内容重合\n    severity: high\n    action: block\n"
                   "    fingerprint: {index: idx, collection: 储量报告}\n", encoding="utf-8")
    return tmp, Engine(load_policy(pol)), doc_id


def flagged(engine: Engine, text: str) -> list:
    return [f for f in engine.scan_text(text).findings if f.rule == "registered.reserves"]


def test_excerpt_in_a_long_prompt_is_found_and_named(registered):
    _, engine, doc_id = registered
    excerpt = REPORT[60:360]
    prompt = filler(2400, 1) + excerpt + filler(2400, 2)
    assert len(prompt.encode()) > 5000 * 2
    found = flagged(engine, prompt)
    assert len(found) == 1 and doc_id in found[0].excerpt and "储量报告" in found[0].excerpt
    assert found[0].location.startswith("line")


def test_edited_copies_are_found(registered):
    _, engine, _ = registered
    excerpt = list(REPORT[60:360])
    for i in range(0, len(excerpt), 10):   # every tenth character replaced
        excerpt[i] = "啊"
    edited = "".join(excerpt).replace("，", " ").replace("。", "；").replace("、", ",")
    assert flagged(engine, filler(2400, 3) + edited + filler(2400, 4))
    to_trad = {s: t for t, s in _table().items() if t > 0x3000 and s > 0x3000}
    traditional = "".join(chr(to_trad.get(ord(c), ord(c))) for c in REPORT[100:400])
    assert traditional != REPORT[100:400] and flagged(engine, traditional)
    spaced = " ".join(REPORT[200:480])
    assert flagged(engine, spaced)


def test_same_subject_and_unrelated_texts_are_not(registered):
    _, engine, _ = registered
    assert not flagged(engine, SAME_TOPIC * 3)
    rnd = random.Random(7)
    for i in range(1000):
        text = random_chinese(rnd.randint(200, 1200), rnd) if i % 2 else filler(800, i) + SAME_TOPIC[:i % 150]
        assert not flagged(engine, text), text[:60]


def test_index_and_audit_hold_no_text(registered):
    tmp, engine, doc_id = registered
    blobs = b"".join(f.read_bytes() for f in (tmp / "idx").iterdir())
    grams = {REPORT[i:i + 3] for i in range(len(REPORT) - 3)}
    assert not any(g.encode() in blobs for g in grams)
    v = engine.scan_text(REPORT[10:400])
    info = audit_record.RequestInfo("api.openai.com", "POST", "/v1/chat/completions", "10.0.0.1")
    rec = json.dumps(audit_record.build("evt-1", info, v, engine.policy), ensure_ascii=False)
    assert doc_id in rec and "重合" in rec
    assert not any(g in rec for g in {REPORT[i:i + 5] for i in range(len(REPORT) - 5)})


def test_list_remove_and_one_line_errors(registered, tmp_path):
    tmp, _, doc_id = registered
    idx = tmp / "idx"
    listed = subprocess.run([*GUARD, "register", "--index", str(idx), "--collection", "储量报告", "--list"],
                            capture_output=True, text=True, check=True).stdout
    assert doc_id in listed and "1 document(s)" in listed
    other = tmp_path / "other.txt"
    other.write_text(SAME_TOPIC, encoding="utf-8")
    subprocess.run([*GUARD, "register", str(other), "--index", str(idx), "--collection", "临时"], check=True,
                   capture_output=True)
    out = subprocess.run([*GUARD, "register", "--index", str(idx), "--collection", "临时", "--list"],
                         capture_output=True, text=True, check=True).stdout
    other_id = out.split()[0]
    subprocess.run([*GUARD, "register", "--index", str(idx), "--collection", "临时", "--remove", other_id],
                   check=True, capture_output=True)
    assert "0 document(s)" in subprocess.run([*GUARD, "register", "--index", str(idx), "--collection", "临时",
                                              "--list"], capture_output=True, text=True).stdout
    for args in (["--collection", "x/../y", str(other)], ["--collection", "none", "--list"],
                 ["--collection", "c", str(tmp_path / "missing.docx")]):
        p = subprocess.run([*GUARD, "register", "--index", str(idx), *args], capture_output=True, text=True)
        assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr, p.stderr


def test_hashed_terms_are_found_and_never_in_the_policy(tmp_path):
    terms = ["蓝鲸计划", "塔中-47井", "HT-2026-0815", "华北某客户集团"]
    (tmp_path / "secret_terms.txt").write_text("# 代号\n" + "\n".join(terms) + "\n", encoding="utf-8")
    pdir = tmp_path / "policy"
    pdir.mkdir()
    p = subprocess.run([*GUARD, "hash-terms", str(tmp_path / "secret_terms.txt"), "--salt-file",
                        str(pdir / "terms.salt"), "--out", str(pdir / "terms.hashed")], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    (pdir / "p.yaml").write_text(
        f"id: h\nextends: [{DEFAULT}]\nlists:\n  names: {{hashed: terms.hashed, salt_file: terms.salt}}\n"
        "rules:\n  - id: custom.hashed-name\n    description: 登记的敏感名称（散列）\n    severity: high\n"
        "    action: block\n    keywords_from: [names]\n", encoding="utf-8")
    engine = Engine(load_policy(pdir / "p.yaml"))
    for text, expect in [("下周讨论蓝鲸计划的进度安排", True), ("塔中－47井的试油结果", True),
                         ("合同HT-2026-0815已签订", True),       # beside Chinese: still a word of its own
                         ("合同XHT-2026-0815已签订", False),     # inside a longer ASCII word: not the term
                         ("合同 HT-2026-0815 已签订", True), ("合同编号ht20260815", True),
                         ("华北某客户集团来访", True), ("蓝色的鲸鱼计划", False), ("HT-2026-08150", False)]:
        hits = [f for f in engine.scan_text(text).findings if f.rule == "custom.hashed-name"]
        assert bool(hits) == expect, text
        for f in hits:
            assert not any(t in f.excerpt for t in terms)
    blob = b"".join(f.read_bytes() for f in pdir.iterdir())
    for t in terms:
        assert t.encode() not in blob and t.lower().encode() not in blob
    wrong = tmp_path / "wrong.salt"
    subprocess.run([*GUARD, "hash-terms", str(tmp_path / "secret_terms.txt"), "--salt-file", str(wrong),
                    "--out", str(tmp_path / "w.hashed")], check=True, capture_output=True)
    (pdir / "q.yaml").write_text(
        f"extends: [{DEFAULT}]\nlists:\n  names: {{hashed: ../w.hashed, salt_file: terms.salt}}\n"
        "rules:\n  - id: x\n    action: block\n    keywords_from: [names]\n", encoding="utf-8")
    p = subprocess.run([*GUARD, "policy", "check", str(pdir / "q.yaml")], capture_output=True, text=True)
    assert p.returncode == 2 and "another salt" in p.stderr
