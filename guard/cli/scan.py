"""`guard scan`: decide files or text the way the proxy would, and explain why."""
from __future__ import annotations

import json
import os
import sys

from guard.scanner import Engine
from guard.policy import load_policy
from guard.types import ACTION_RANK


def register(sub) -> None:
    p = sub.add_parser("scan", help="scan files or text with a policy",
                       description="Scan files, text or stdin. Exit 0 when everything is allowed, "
                                   "1 when anything is flagged, 2 on a usage or policy error.")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or directories to scan ('-' reads stdin)")
    p.add_argument("--text", action="append", help="scan this text (repeatable)")
    p.add_argument("--policy", help="policy YAML (default: policies/default.yaml)")
    p.add_argument("--json", action="store_true", help="one JSON object per input and per line")
    p.set_defaults(func=run)


def _inputs(args):
    for t in args.text or ():
        yield "<text>", None, t
    for path in args.paths:
        if path == "-":
            yield "-", None, sys.stdin.buffer.read()
        elif os.path.isdir(path):
            for root, dirs, files in os.walk(path):
                dirs.sort()
                for f in sorted(files):
                    yield os.path.join(root, f), f, None
        else:
            yield path, os.path.basename(path), None


def run(args) -> int:
    if not args.paths and not args.text:
        print("guard: error: nothing to scan: give PATH..., --text TEXT or - (see `guard scan --help`)", file=sys.stderr)
        return 2
    engine = Engine(load_policy(args.policy))
    worst = "allow"
    errors = 0
    for source, name, content in _inputs(args):
        if isinstance(content, str):
            verdict = engine.scan_text(content)
        else:
            if content is None:
                try:
                    with open(source, "rb") as f:
                        content = f.read()
                except OSError as e:
                    print(f"guard: error: {source}: {e.strerror}", file=sys.stderr)
                    errors += 1
                    continue
            verdict = engine.scan_bytes(content, filename=name)
        if ACTION_RANK[verdict.action] > ACTION_RANK[worst]:
            worst = verdict.action
        if args.json:
            print(json.dumps({"source": source, **verdict.to_dict()}, ensure_ascii=False), flush=True)
        else:
            _print_table(source, verdict)
    if errors:
        return 2
    return 0 if ACTION_RANK[worst] == 0 else 1


def _print_table(source: str, verdict) -> None:
    print(f"{verdict.action.upper():6s} {source}")
    for f in verdict.findings:
        print(f"       {f.action:6s} {f.severity:8s} {f.rule:32s} {f.location}  {f.excerpt}")
