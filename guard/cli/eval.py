"""`guard eval`: score a policy against a labelled folder (recall, precision, misses, false
positives, scan time), so a policy edit can be tried, and gated, before it goes live.

The folder holds `manifest.json`, a list of cases: `id`, `category`, `kind` (`text` with the
prompt in `text`, or `file` with the upload at `path`, relative to the folder), `expect`
(`block`; `flag`: warn, redact or block; `allow`) and optionally `rule`/`rules`, the rule ids
the case should be flagged by. A case is scanned exactly as `guard scan FILE` scans it (a text
case as the bytes of a file named `ID.txt`), and judged as the development sets' scorer
(`score_corpus.py`) judges it, so the two always agree:
- a `block` case is detected when the verdict is block; a `flag` case when it is warn, redact
  or block;
- a negative (`expect: allow`) is a false positive when the verdict is anything but allow.
Nothing of a case's content is printed: misses and false positives show the rule and its
excerpt, masked as the policy masks it for the audit trail.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field

from guard.errors import GuardError
from guard.policy import load_policy
from guard.scanner import Engine

EXPECTS = ("block", "flag", "allow")
EXCERPT_SHOWN = 40  # a false positive's excerpt is for recognising the rule's hit, not for reading


class ManifestError(GuardError):
    """The folder is not a labelled set: the message names the folder or case and what is wrong."""


def register(sub) -> None:
    p = sub.add_parser(
        "eval", help="score a policy on a labelled folder (recall, precision, false positives)",
        description="Scan every case of a labelled folder (manifest.json: id, category, kind text|file, "
                    "expect block|flag|allow, text or path; optional rule/rules) with a policy and report "
                    "recall and precision by category and by rule, misses, false positives (masked "
                    "excerpts) and p50/p95 scan time. Exit 0 when the thresholds hold (or none are "
                    "given), 1 when they do not, 2 on a usage, manifest or policy error.")
    p.add_argument("folder", metavar="FOLDER", help="folder holding manifest.json and the cases' files")
    p.add_argument("--policy", help="policy YAML (default: policies/default.yaml)")
    p.add_argument("--json", action="store_true", help="one JSON object with the totals and every table")
    p.add_argument("--min-recall", type=_fraction, metavar="R",
                   help="exit 1 when fewer than R (0..1) of the positives are detected")
    p.add_argument("--max-fp", type=_count, metavar="N", help="exit 1 when more than N negatives are flagged")
    p.set_defaults(func=run)


def _fraction(s: str) -> float:
    import argparse
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {s!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"{s} is not between 0 and 1 (0.97 means 97%)")
    return v


def _count(s: str) -> int:
    import argparse
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{s} is negative")
    return v


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    expect: str
    filename: str
    data: bytes
    rules: tuple[str, ...] = ()


@dataclass
class Outcome:
    case: Case
    action: str
    findings: tuple = ()
    ms: float = 0.0
    fired: tuple[str, ...] = field(default=())

    @property
    def positive(self) -> bool:
        return self.case.expect != "allow"

    @property
    def good(self) -> bool:
        """Judged as score_corpus.py judges it (see the module docstring)."""
        if self.case.expect == "block":
            return self.action == "block"
        if self.case.expect == "flag":
            return self.action in ("warn", "block", "redact")
        return self.action == "allow"

    @property
    def right_rule(self) -> bool:
        """Detected by one of the rules the case names (cases that name none: detected at all)."""
        return self.good and (not self.case.rules or any(r in self.fired for r in self.case.rules))


def load_cases(folder: str) -> list[Case]:
    manifest = os.path.join(folder, "manifest.json")
    if not os.path.isdir(folder):
        raise ManifestError(f"{folder}: no such folder")
    try:
        with open(manifest, encoding="utf-8") as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise ManifestError(f"{folder}: no manifest.json (a labelled folder holds manifest.json)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError(f"{manifest}: cannot read: {getattr(e, 'strerror', None) or e}") from None
    except json.JSONDecodeError as e:
        raise ManifestError(f"{manifest}: not JSON: {e.msg} at line {e.lineno}") from None
    if not isinstance(raw, list):
        raise ManifestError(f"{manifest}: expected a list of cases, found {type(raw).__name__}")
    cases: list[Case] = []
    seen: set[str] = set()
    for n, c in enumerate(raw, 1):
        where = f"{manifest}: case {n}"
        if not isinstance(c, dict):
            raise ManifestError(f"{where}: expected an object, found {type(c).__name__}")
        for key in ("id", "category", "kind", "expect"):
            if not isinstance(c.get(key), str) or not c[key]:
                raise ManifestError(f"{where}: `{key}` is missing or not a string")
        cid = c["id"]
        where = f"{manifest}: case {cid!r}"
        if cid in seen:
            raise ManifestError(f"{where}: the id is used twice")
        seen.add(cid)
        if c["expect"] not in EXPECTS:
            raise ManifestError(f"{where}: expect {c['expect']!r} is not one of {', '.join(EXPECTS)}")
        rules = c.get("rules", c.get("rule", ()))
        rules = (rules,) if isinstance(rules, str) else rules
        if not isinstance(rules, (list, tuple)) or not all(isinstance(r, str) for r in rules):
            raise ManifestError(f"{where}: `rule`/`rules` must be a rule id or a list of them")
        if c["kind"] == "text":
            if not isinstance(c.get("text"), str):
                raise ManifestError(f"{where}: a text case needs `text`")
            # As score_corpus.py writes it and `guard scan` reads it: a UTF-8 file named ID.txt.
            data, filename = c["text"].encode("utf-8"), f"{cid}.txt"
        elif c["kind"] == "file":
            if not isinstance(c.get("path"), str) or not c["path"]:
                raise ManifestError(f"{where}: a file case needs `path`")
            path = os.path.join(folder, c["path"])
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError as e:
                raise ManifestError(f"{where}: {c['path']}: {e.strerror}") from None
            filename = os.path.basename(path)
        else:
            raise ManifestError(f"{where}: kind {c['kind']!r} is not text or file")
        cases.append(Case(cid, c["category"], c["expect"], filename, data, tuple(rules)))
    if not cases:
        raise ManifestError(f"{manifest}: no cases")
    return cases


def evaluate(engine: Engine, cases: list[Case]) -> list[Outcome]:
    out = []
    for c in cases:
        t0 = time.perf_counter()
        v = engine.scan_bytes(c.data, filename=c.filename)
        ms = (time.perf_counter() - t0) * 1000
        out.append(Outcome(c, v.action, v.findings, ms, v.rules))
    return out


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def _percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return round(s[max(0, math.ceil(q * len(s)) - 1)], 3) if s else 0.0


def _excerpt(f) -> str:
    e = f.excerpt
    return e if len(e) <= EXCERPT_SHOWN else e[:EXCERPT_SHOWN] + "…"


def summarize(outcomes: list[Outcome]) -> dict:
    pos = [o for o in outcomes if o.positive]
    neg = [o for o in outcomes if not o.positive]
    detected = sum(o.good for o in pos)
    fps = [o for o in neg if not o.good]

    by_cat: dict[str, dict] = {}
    for cat in sorted({o.case.category for o in outcomes}):
        cp = [o for o in pos if o.case.category == cat]
        cn = [o for o in neg if o.case.category == cat]
        d, fp = sum(o.good for o in cp), sum(not o.good for o in cn)
        by_cat[cat] = {"cases": len(cp) + len(cn), "positives": len(cp), "detected": d,
                       "negatives": len(cn), "false_positives": fp,
                       "recall": _ratio(d, len(cp)), "precision": _ratio(d, d + fp)}

    # Per rule: the cases it fired on. Precision: of those, the share that were positives
    # rightly decided; recall: of the cases that name the rule, the share it detected.
    by_rule: dict[str, dict] = defaultdict(lambda: {"fired_positive": 0, "fired_negative": 0, "expected": 0,
                                                    "detected_expected": 0})
    for o in outcomes:
        for r in o.fired:
            key = "fired_positive" if o.positive and o.good else "fired_negative" if not o.positive else None
            if key:
                by_rule[r][key] += 1
        for r in o.case.rules:
            by_rule[r]["expected"] += 1
            by_rule[r]["detected_expected"] += o.good and r in o.fired
    for r, s in by_rule.items():
        s["precision"] = _ratio(s["fired_positive"], s["fired_positive"] + s["fired_negative"])
        s["recall"] = _ratio(s["detected_expected"], s["expected"])

    times = [o.ms for o in outcomes]
    named = [o for o in pos if o.case.rules]
    return {
        "cases": len(outcomes),
        "positives": len(pos),
        "detected": detected,
        "negatives": len(neg),
        "false_positives": len(fps),
        "recall": _ratio(detected, len(pos)),
        "precision": _ratio(detected, detected + len(fps)),
        "right_rule": sum(o.right_rule for o in named), "rule_named": len(named),
        "scan_ms": {"p50": _percentile(times, 0.50), "p95": _percentile(times, 0.95),
                    "max": round(max(times), 3) if times else 0.0},
        "by_category": by_cat,
        "by_rule": dict(sorted(by_rule.items())),
        "misses": [{"id": o.case.id, "category": o.case.category, "expect": o.case.expect, "action": o.action,
                    "rules": list(o.fired)} for o in pos if not o.good],
        # Detected, but not by a rule the case names (cases that name none are never here).
        "wrong_rule": [{"id": o.case.id, "category": o.case.category, "rules": list(o.fired),
                        "wanted_rules": list(o.case.rules)} for o in pos if o.good and not o.right_rule],
        "false_positive_cases": [{"id": o.case.id, "category": o.case.category, "action": o.action,
                                  "findings": [{"rule": f.rule, "action": f.action, "location": f.location,
                                                "excerpt": _excerpt(f)} for f in o.findings]}
                                 for o in fps],
    }


def run(args) -> int:
    cases = load_cases(args.folder)
    engine = Engine(load_policy(args.policy))
    s = summarize(evaluate(engine, cases))
    failed = []
    if args.min_recall is not None and (s["recall"] or 0.0) < args.min_recall:
        failed.append(f"recall {s['recall']} < {args.min_recall}")
    if args.max_fp is not None and s["false_positives"] > args.max_fp:
        failed.append(f"false positives {s['false_positives']} > {args.max_fp}")
    s["thresholds"] = {"min_recall": args.min_recall, "max_fp": args.max_fp, "failed": failed}
    if args.json:
        print(json.dumps(s, ensure_ascii=False))
    else:
        _print_report(s)
    if failed:
        print(f"guard eval: thresholds not met: {'; '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _pct(v: float | None) -> str:
    return "   -  " if v is None else f"{v * 100:5.1f}%"


def _print_report(s: dict) -> None:
    print(f"{'category':28s} {'pos':>4s} {'det':>4s} {'neg':>4s} {'fp':>4s} {'recall':>7s} {'precision':>9s}")
    for cat, c in s["by_category"].items():
        print(f"{cat:28s} {c['positives']:4d} {c['detected']:4d} {c['negatives']:4d} {c['false_positives']:4d} "
              f"{_pct(c['recall']):>7s} {_pct(c['precision']):>9s}")
    print()
    print(f"{'rule':36s} {'on pos':>6s} {'on neg':>6s} {'precision':>9s} {'recall':>7s}")
    for rule, r in s["by_rule"].items():
        print(f"{rule:36s} {r['fired_positive']:6d} {r['fired_negative']:6d} {_pct(r['precision']):>9s} "
              f"{_pct(r['recall']):>7s}")
    if s["misses"]:
        print("\nmisses:")
        for m in s["misses"]:
            print(f"  {m['id']} [{m['category']}]: expected {m['expect']}, got {m['action']} {','.join(m['rules'])}")
    if s["wrong_rule"]:
        print("\ndetected by another rule than the case names:")
        for m in s["wrong_rule"]:
            print(f"  {m['id']} [{m['category']}]: by {','.join(m['rules'])}, wanted {','.join(m['wanted_rules'])}")
    if s["false_positive_cases"]:
        print("\nfalse positives:")
        for fp in s["false_positive_cases"]:
            print(f"  {fp['id']} [{fp['category']}]: {fp['action']}")
            for f in fp["findings"]:
                print(f"      {f['action']:6s} {f['rule']:32s} {f['location']}  {f['excerpt']}")
    t = s["scan_ms"]
    print(f"\nscan time per case: p50 {t['p50']:.1f} ms, p95 {t['p95']:.1f} ms, max {t['max']:.1f} ms")
    rr = f", {s['right_rule']}/{s['rule_named']} with the named rule" if s["rule_named"] else ""
    print(f"detected {s['detected']}/{s['positives']} positives ({_pct(s['recall']).strip()}){rr}, "
          f"{s['false_positives']}/{s['negatives']} false positives, precision {_pct(s['precision']).strip()}")
