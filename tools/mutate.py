"""`make mutate`: mutation testing of the modules that carry protections, with the tests that
cover them. Each surviving mutant is a change to a protection that no test notices.

Runs mutmut (3.x) once per module in a private copy of the tree (never in the working tree: a
mutant must not be seen by anyone else's tests), prints the survivors and, with --report,
writes them to a Markdown file (docs/mutation.md) with the date, the module, the counts and
each survivor's diff. Not part of CI: a module takes minutes to tens of minutes.

    python tools/mutate.py                      # every module below
    python tools/mutate.py guard/identity.py    # one module
    python tools/mutate.py --list               # the modules and their tests
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# module -> the tests that cover its protections (fast ones: no proxy process, no browser)
TARGETS: dict[str, list[str]] = {
    "guard/match/validators.py": ["tests/match/test_validators.py", "tests/match/test_credentials.py",
                                  "tests/match/test_protections_credentials.py"],
    "guard/match/structure.py": ["tests/match/test_markings.py", "tests/match/test_marking_forms.py"],
    "guard/match/mentions.py": ["tests/match/test_markings.py", "tests/match/test_marking_forms.py", "tests/match/test_marking_grammar.py"],
    "guard/match/tables.py": ["tests/match/test_marking_grammar.py"],
    "guard/match/hashing.py": ["tests/match/test_fingerprints.py", "tests/match/test_protections_fingerprints.py"],
    "guard/proxy/acks.py": ["tests/proxy/test_protections_ack.py"],
    "guard/proxy/ack.py": ["tests/proxy/test_protections_ack.py"],
    "guard/audit/chain.py": ["tests/audit/test_chain.py", "tests/audit/test_faults.py"],
    "guard/audit/writer.py": ["tests/audit/test_faults.py", "tests/audit/test_protections_audit.py",
                              "tests/audit/test_chain.py"],
    "guard/proxy/uploads.py": ["tests/proxy/test_protections_uploads.py"],
    "guard/console/users.py": ["tests/console/test_protections_console.py"],
    "guard/console/app.py": ["tests/console/test_protections_console.py"],
    "guard/identity.py": ["tests/test_identity.py", "tests/test_protections_identity.py"],
    "guard/decide.py": ["tests/policy/test_rollout.py", "tests/match/test_markings.py",
                        "tests/match/test_credentials.py"],
}
# Survivors that cannot change behaviour, by module and a piece of the mutated (+) line, with the
# reason: reported as equivalent, not as work to do. Keep each reason checkable.
EQUIVALENT: dict[tuple[str, str], str] = {
    ("guard/identity.py", "strict=None)"):
        "ipaddress.ip_network tests `strict` for truth: None and False are the same.",
    ("guard/identity.py", 'encoding="UTF-8-SIG"'):
        "codec names are case-insensitive: the same codec.",
    ("guard/identity.py", "if (user) or True else frozenset()"):
        "with no user, `self.groups.get(None or '', frozenset())`: group members are non-empty names "
        "(a YAML list or comma list of them), so neither None nor '' is a key: frozenset() either way.",
    ("guard/identity.py", "self.user_departments.get(user) if (user) or True else None"):
        "with no user, `user_departments.get(None or '')` is None: its keys are the map's user names.",
}
COPY = ("guard", "tests", "policies", "addons", "pyproject.toml")
_RESULT = re.compile(r"^\s*(\S+__mutmut_\d+): (\w[\w ]*)$")


def _workdir(module: str, tests: list[str]) -> Path:
    d = Path(tempfile.mkdtemp(prefix="guard-mutate-"))
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, d / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, d / name)
    text = (d / "pyproject.toml").read_text(encoding="utf-8")
    text = re.sub(r"(?ms)^\[tool\.mutmut\].*?(?=^\[|\Z)", "", text)
    q = lambda xs: "[" + ", ".join(f'"{x}"' for x in xs) + "]"  # noqa: E731
    text += (f'\n[tool.mutmut]\nsource_paths = ["guard"]\nonly_mutate = {q([module])}\n'
             f"pytest_add_cli_args_test_selection = {q(tests)}\n"
             f'pytest_add_cli_args = ["-p", "no:randomly", "-p", "no:cacheprovider"]\n'
             f"use_git_change_detection = false\n")
    (d / "pyproject.toml").write_text(text, encoding="utf-8")
    return d


def run_one(module: str, tests: list[str], children: int) -> dict:
    d = _workdir(module, tests)
    mutmut = str(Path(sys.executable).parent / "mutmut")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    started = dt.datetime.now(dt.timezone.utc)
    try:
        run = subprocess.run([mutmut, "run", "--max-children", str(children)], cwd=d, env=env,
                             capture_output=True, text=True)
        res = subprocess.run([mutmut, "results", "--all", "true"], cwd=d, env=env, capture_output=True, text=True)
        status: dict[str, str] = {}
        for line in res.stdout.splitlines():
            if m := _RESULT.match(line):
                status[m[1]] = m[2].strip()
        survivors, equivalent = {}, {}
        for name, st in status.items():
            if st in ("survived", "no tests"):
                diff = subprocess.run([mutmut, "show", name], cwd=d, env=env, capture_output=True,
                                      text=True).stdout.strip()
                added = [x for x in diff.splitlines() if x.startswith("+") and not x.startswith("+++")]
                why = next((r for (m, piece), r in EQUIVALENT.items()
                            if m == module and any(piece in x for x in added)), None)
                if why is not None:
                    equivalent[name] = (why, diff)
                else:
                    survivors[name] = (st, diff)
        counts: dict[str, int] = {}
        for st in status.values():
            counts[st] = counts.get(st, 0) + 1
        return {"module": module, "tests": tests, "counts": counts, "survivors": survivors, "equivalent": equivalent,
                "seconds": round((dt.datetime.now(dt.timezone.utc) - started).total_seconds()),
                "error": "" if status else (run.stdout[-1500:] + run.stderr[-1500:])}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _report(results: list[dict], path: Path, not_run: list[str], note: str = "") -> None:
    import mutmut

    lines = [f"# Mutation testing report ({dt.date.today().isoformat()})", "",
             f"`make mutate` (tools/mutate.py, mutmut {getattr(mutmut, '__version__', '3')}): each module is "
             "mutated in a private copy of the tree and tested with the tests listed for it. A **survivor** is "
             "a change to the code that none of those tests notices: a protection that could be lost in a "
             "refactor without a red test. Equivalent mutants (changes that cannot alter behaviour) are "
             "explained below each table; every other survivor is work to do.", "",
             *([note, ""] if note else [])]
    for r in results:
        c = r["counts"]
        total = sum(c.values())
        killed = c.get("killed", 0)
        lines += [f"## `{r['module']}`", "", f"tests: {', '.join(f'`{t}`' for t in r['tests'])}  ",
                  f"mutants: {total}, killed {killed}, survived {c.get('survived', 0)}, "
                  f"no covering test {c.get('no tests', 0)}, timeout {c.get('timeout', 0)}, "
                  f"other {total - killed - c.get('survived', 0) - c.get('no tests', 0) - c.get('timeout', 0)}; "
                  f"{r['seconds']} s  ",
                  f"**survivors to kill: {len(r['survivors'])}**, equivalent (explained): {len(r['equivalent'])}", ""]
        if r["error"]:
            lines += ["mutmut did not produce results:", "", "```", r["error"].strip(), "```", ""]
        for name, (st, diff) in sorted(r["survivors"].items()):
            lines += [f"### {name} ({st})", "", "```diff", diff, "```", ""]
        for name, (why, diff) in sorted(r["equivalent"].items()):
            lines += [f"### {name} (equivalent)", "", why, "", "```diff", diff, "```", ""]
    if not_run:
        lines += ["## Not run in this report", "", *[f"- `{m}`" for m in not_run], ""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("modules", nargs="*", help="modules to mutate (default: all of TARGETS)")
    ap.add_argument("--list", action="store_true", help="print the modules and their tests")
    ap.add_argument("--report", help="write a Markdown report here (e.g. docs/mutation.md)")
    ap.add_argument("--children", type=int, default=1, help="mutants tested at once (default 1)")
    ap.add_argument("--note", default="", help="a sentence for the report (e.g. why modules were not run)")
    args = ap.parse_args(argv)
    if args.list:
        for m, t in TARGETS.items():
            print(f"{m}: {' '.join(t)}")
        return 0
    unknown = [m for m in args.modules if m not in TARGETS]
    if unknown:
        print(f"mutate: not a protection module: {', '.join(unknown)} (see --list)", file=sys.stderr)
        return 2
    modules = args.modules or list(TARGETS)
    results = []
    for m in modules:
        print(f"mutating {m} with {' '.join(TARGETS[m])} ...", flush=True)
        r = run_one(m, TARGETS[m], args.children)
        results.append(r)
        print(f"  {r['counts']} in {r['seconds']} s; {len(r['equivalent'])} of the survivors equivalent (explained)")
        for name, (st, diff) in sorted(r["survivors"].items()):
            print(f"  SURVIVED {name} ({st})\n" + "\n".join("    " + x for x in diff.splitlines()))
        if r["error"]:
            print("  mutmut produced no results:\n" + r["error"], file=sys.stderr)
    if args.report:
        _report(results, ROOT / args.report, [m for m in TARGETS if m not in modules], args.note)
    return 1 if any(r["survivors"] or r["error"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
