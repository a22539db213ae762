"""`guard eval`: agrees with the development sets' scorer, gates on thresholds, never prints content."""
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guard.cli import eval as eval_cmd
from guard.cli.main import main
from writers import make_docx

ROOT = Path(__file__).resolve().parents[2]
GUARD = str(Path(sys.executable).parent / "guard")
# The three labelled development sets sit beside the checkout (../shared); GUARD_DEV_SETS moves them.
SHARED = Path(os.environ.get("GUARD_DEV_SETS", ROOT.parent / "shared"))
SCORER = SHARED / "tools" / "score_corpus.py"
DEV_SETS = ["corpus", "corpus-staff", "corpus-credentials"]

BLOCK = "机密★5年\n\n关于{n}号区块储量评估的请示\n正文第{n}段。\n"
FLAG = "内部资料 注意保存\n第{n}期工作简报\n"
PLAIN = "今天天气不错，第{n}次例会改到周三下午。\n"


def _dev_set(name: str) -> Path:
    d = SHARED / name
    if not (d / "manifest.json").is_file():
        pytest.skip(f"development set {d} is not here (set GUARD_DEV_SETS to the folder holding it)")
    return d


def _eval_json(folder, *extra) -> tuple[int, dict, str]:
    p = subprocess.run([GUARD, "eval", str(folder), "--json", *extra], capture_output=True, text=True,
                       timeout=600, cwd=ROOT)
    assert p.returncode in (0, 1), p.stderr
    return p.returncode, json.loads(p.stdout), p.stderr


_cache: dict[str, dict] = {}


@pytest.fixture(scope="module")
def dev_eval():
    """guard eval --json of each development set, computed once per module run."""
    def get(name):
        if name not in _cache:
            _cache[name] = _eval_json(_dev_set(name))[1]
        return _cache[name]
    return get


def _score_corpus(folder: Path) -> dict:
    if not SCORER.is_file():
        pytest.skip(f"{SCORER} is not here")
    p = subprocess.run([sys.executable, str(SCORER), str(folder)], capture_output=True, text=True,
                       timeout=600, cwd=ROOT)  # it runs ./.venv/bin/guard
    assert p.returncode in (0, 1), p.stdout[-2000:]
    cats, failing = {}, set()
    for line in p.stdout.splitlines():
        if m := re.fullmatch(r"(\S+)\s+(\d+)/(\d+)", line):
            cats[m[1]] = (int(m[2]), int(m[3]))
        elif m := re.fullmatch(r"  (\S+): expected \w+, got .*", line):
            failing.add(m[1])
        elif m := re.fullmatch(r"detected (\d+)/(\d+) positives, (\d+)/(\d+) false positives", line):
            totals = tuple(map(int, m.groups()))
    return {"categories": cats, "failing": failing, "totals": totals}


@pytest.mark.slow
@pytest.mark.parametrize("name", DEV_SETS)
def test_agrees_with_score_corpus(name, dev_eval):
    folder = _dev_set(name)
    ref = _score_corpus(folder)
    got = dev_eval(name)
    assert (got["detected"], got["positives"], got["false_positives"], got["negatives"]) == ref["totals"]
    cats = {c: (v["detected"] + v["negatives"] - v["false_positives"], v["cases"])
            for c, v in got["by_category"].items()}
    assert cats == ref["categories"]
    failing = {m["id"] for m in got["misses"]} | {f["id"] for f in got["false_positive_cases"]}
    assert failing == ref["failing"]


@pytest.mark.slow
@pytest.mark.parametrize("name", DEV_SETS)
def test_DEV_SET_GATE_every_positive_detected_and_no_negative_flagged(name, dev_eval):
    """CI gate (issue 21): each development set passes in full. A failure names the cases."""
    got = dev_eval(name)
    missed = [f"{m['id']} ({m['expect']}, got {m['action']})" for m in got["misses"]]
    flagged = [f"{f['id']} ({f['action']}: {','.join(sorted({x['rule'] for x in f['findings']}))})"
               for f in got["false_positive_cases"]]
    assert not missed and not flagged, (
        f"{name}: {len(missed)} positive(s) missed: {', '.join(missed) or '-'}; "
        f"{len(flagged)} negative(s) flagged: {', '.join(flagged) or '-'}")


def _write_folder(folder: Path, cases: list[dict]) -> None:
    (folder / "manifest.json").write_text(json.dumps(cases, ensure_ascii=False), encoding="utf-8")


def _cases(hits: int, flags: int, misses: int, clean: int, fps: int) -> list[dict]:
    """A positive that is missed is a plain text labelled block; a false positive is a marked
    text labelled allow: what the engine decides on each is known from the other tests."""
    out = []
    for kind, n, expect, text in (("hit", hits, "block", BLOCK), ("flag", flags, "flag", FLAG),
                                  ("miss", misses, "block", PLAIN), ("clean", clean, "allow", PLAIN),
                                  ("fp", fps, "allow", BLOCK)):
        for i in range(n):
            out.append({"id": f"{kind}-{i}", "category": "neg_x" if expect == "allow" else f"cat_{kind}",
                        "kind": "text", "expect": expect, "text": text.format(n=i)})
    return out


@pytest.mark.slow  # 25 generated folders, each evaluated
@settings(derandomize=True, max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hits=st.integers(0, 3), flags=st.integers(0, 2), misses=st.integers(0, 3), clean=st.integers(0, 2),
       fps=st.integers(0, 3), min_recall=st.none() | st.sampled_from([0.0, 0.5, 0.6, 0.75, 0.8, 1.0]),
       max_fp=st.none() | st.integers(0, 3))
def test_totals_and_threshold_exit_codes(hits, flags, misses, clean, fps, min_recall, max_fp, capsys, monkeypatch,
                                         engine):
    # The default policy's engine, built once (building it takes a second): the run is what is tested.
    monkeypatch.setattr(eval_cmd, "load_policy", lambda path=None: engine.policy)
    monkeypatch.setattr(eval_cmd, "Engine", lambda policy: engine)
    cases = _cases(hits, flags, misses, clean, fps)
    if not cases:
        return
    with tempfile.TemporaryDirectory() as d:
        _write_folder(Path(d), cases)
        argv = ["eval", d, "--json"]
        argv += ["--min-recall", str(min_recall)] if min_recall is not None else []
        argv += ["--max-fp", str(max_fp)] if max_fp is not None else []
        capsys.readouterr()
        code = main(argv)
    out = json.loads(capsys.readouterr().out)
    positives, detected = hits + flags + misses, hits + flags
    assert (out["positives"], out["detected"], out["negatives"], out["false_positives"]) == \
        (positives, detected, clean + fps, fps)
    assert {m["id"] for m in out["misses"]} == {f"miss-{i}" for i in range(misses)}
    assert {f["id"] for f in out["false_positive_cases"]} == {f"fp-{i}" for i in range(fps)}
    recall = detected / positives if positives else None
    fail = (min_recall is not None and (recall or 0.0) < min_recall - 1e-9) or (max_fp is not None and fps > max_fp)
    assert code == (1 if fail else 0)


@pytest.mark.slow  # guard eval in real processes
@pytest.mark.slow
def test_thresholds_in_a_real_process(tmp_path):
    _write_folder(tmp_path, _cases(hits=2, flags=1, misses=1, clean=2, fps=1))  # recall 0.75, 1 fp
    assert _eval_json(tmp_path)[0] == 0
    assert _eval_json(tmp_path, "--min-recall", "0.75", "--max-fp", "1")[0] == 0
    code, _, err = _eval_json(tmp_path, "--min-recall", "0.8")
    assert code == 1 and "recall" in err
    code, _, err = _eval_json(tmp_path, "--max-fp", "0")
    assert code == 1 and "false positives 1 > 0" in err


def test_text_report_and_content_never_printed(tmp_path, capsys):
    secret_body = "目标区块共识别有利圈闭十二个预测地质储量约三亿吨"
    cases = [
        {"id": "fp-body", "category": "neg_talk", "kind": "text", "expect": "allow",
         "text": f"机密★5年\n{secret_body}\n"},
        {"id": "docx-head", "category": "file_docx", "kind": "file", "expect": "block", "path": "files/a.docx"},
        {"id": "missed", "category": "state", "kind": "text", "expect": "block", "text": secret_body},
    ]
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "a.docx").write_bytes(make_docx(["关于储量的报告", secret_body], header="机密★10年"))
    _write_folder(tmp_path, cases)
    assert main(["eval", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert main(["eval", str(tmp_path), "--json"]) == 0
    js = capsys.readouterr().out
    for out in (text, js):
        assert secret_body not in out and secret_body[:8] not in out
    assert "missed [state]: expected block, got allow" in text
    assert re.search(r"fp-body \[neg_talk\]: block\n\s+block\s+state-secret\.\S+.*机密★5年", text)
    assert re.search(r"scan time per case: p50 [\d.]+ ms, p95 [\d.]+ ms", text)
    assert "detected 1/2 positives (50.0%), 1/1 false positives" in text
    s = json.loads(js)
    assert s["by_category"]["file_docx"] == {"cases": 1, "positives": 1, "detected": 1, "negatives": 0,
                                             "false_positives": 0, "recall": 1.0, "precision": 1.0}
    assert s["by_category"]["neg_talk"]["false_positives"] == 1
    assert s["scan_ms"]["p50"] <= s["scan_ms"]["p95"] <= s["scan_ms"]["max"]


def test_rule_recall_and_precision(tmp_path, capsys):
    cases = [
        {"id": "a", "category": "c", "kind": "text", "expect": "block", "text": BLOCK.format(n=1),
         "rule": "state-secret.marking"},
        {"id": "b", "category": "c", "kind": "text", "expect": "block", "text": BLOCK.format(n=2),
         "rules": ["credential.private-key"]},
        {"id": "c", "category": "c", "kind": "text", "expect": "block", "text": PLAIN.format(n=3),
         "rule": "state-secret.marking"},
        {"id": "n", "category": "neg", "kind": "text", "expect": "allow", "text": BLOCK.format(n=4)},
    ]
    _write_folder(tmp_path, cases)
    assert main(["eval", str(tmp_path), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    m = s["by_rule"]["state-secret.marking"]
    assert (m["expected"], m["detected_expected"], m["recall"]) == (2, 1, 0.5)
    # fired on a and b (positives, detected) and on n (a negative)
    assert (m["fired_positive"], m["fired_negative"], m["precision"]) == (2, 1, round(2 / 3, 4))
    assert s["by_rule"]["credential.private-key"]["recall"] == 0.0
    assert [w["id"] for w in s["wrong_rule"]] == ["b"]
    assert (s["right_rule"], s["rule_named"]) == (1, 3)


BAD_MANIFESTS = {
    "not json": "{not json",
    "not a list": json.dumps({"id": "x"}),
    "no cases": "[]",
    "missing expect": json.dumps([{"id": "a", "category": "c", "kind": "text", "text": "x"}]),
    "bad expect": json.dumps([{"id": "a", "category": "c", "kind": "text", "expect": "warn", "text": "x"}]),
    "bad kind": json.dumps([{"id": "a", "category": "c", "kind": "blob", "expect": "allow", "text": "x"}]),
    "text case without text": json.dumps([{"id": "a", "category": "c", "kind": "text", "expect": "allow"}]),
    "missing file": json.dumps([{"id": "a", "category": "c", "kind": "file", "expect": "allow", "path": "no.docx"}]),
    "duplicate id": json.dumps([{"id": "a", "category": "c", "kind": "text", "expect": "allow", "text": "x"}] * 2),
    "bad rules": json.dumps([{"id": "a", "category": "c", "kind": "text", "expect": "allow", "text": "x",
                              "rules": [1]}]),
}


@pytest.mark.parametrize("what", sorted(BAD_MANIFESTS))
def test_bad_manifest_is_a_usage_error(what, tmp_path, capsys):
    (tmp_path / "manifest.json").write_text(BAD_MANIFESTS[what], encoding="utf-8")
    assert main(["eval", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("guard: error: ") and err.count("\n") == 1 and "manifest.json" in err


@pytest.mark.parametrize("argv", [
    ["eval", "/no/such/folder"],
    ["eval", "{empty}"],
    ["eval", "{ok}", "--policy", "/no/such.yaml"],
    ["eval", "{ok}", "--min-recall", "1.5"],
    ["eval", "{ok}", "--min-recall", "most"],
    ["eval", "{ok}", "--max-fp", "-1"],
    ["eval"],
])
def test_usage_errors_one_line_exit_2(argv, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "ok").mkdir()
    _write_folder(tmp_path / "ok", _cases(1, 0, 0, 1, 0))
    argv = [a.format(empty=tmp_path / "empty", ok=tmp_path / "ok") for a in argv]
    p = subprocess.run([GUARD, *argv], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "Traceback" not in p.stderr and p.stderr.startswith("guard")
    assert p.stdout == ""
