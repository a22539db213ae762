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
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# module -> the tests that cover its protections (fast ones: no proxy process, no browser). mutmut
# runs, for each mutant, only those of them that call the mutated function.
_MARKING_TESTS = ["tests/match/test_markings.py", "tests/match/test_marking_forms.py",
                  "tests/match/test_marking_grammar.py", "tests/match/test_sensitive.py",
                  "tests/match/test_matcher_paths.py", "tests/match/test_mutants_markings.py"]
TARGETS: dict[str, list[str]] = {
    "guard/match/validators.py": ["tests/match/test_validators.py", "tests/match/test_credentials.py",
                                  "tests/match/test_protections_credentials.py", "tests/match/test_sensitive.py",
                                  "tests/match/test_mutants_validators.py"],
    "guard/match/structure.py": _MARKING_TESTS,
    "guard/match/mentions.py": _MARKING_TESTS,
    "guard/match/tables.py": _MARKING_TESTS,
    "guard/match/hashing.py": ["tests/match/test_fingerprints.py", "tests/match/test_protections_fingerprints.py",
                               "tests/match/test_mutants_hashing.py"],
    "guard/match/fold.py":    ["tests/match/test_fingerprints.py", "tests/match/test_protections_fingerprints.py",
                               "tests/match/test_mutants_hashing.py"],
    "guard/proxy/acks.py": ["tests/proxy/test_protections_ack.py", "tests/proxy/test_addon.py",
                            "tests/proxy/test_mutants_acks.py"],
    "guard/proxy/ack.py": ["tests/proxy/test_protections_ack.py", "tests/proxy/test_addon.py",
                           "tests/proxy/test_mutants_ack.py"],
    "guard/audit/chain.py": ["tests/audit/test_chain.py", "tests/audit/test_faults.py",
                             "tests/audit/test_protections_audit.py", "tests/audit/test_writer_sync.py",
                             "tests/audit/test_mutants_chain.py"],
    "guard/audit/writer.py": ["tests/audit/test_faults.py", "tests/audit/test_protections_audit.py",
                              "tests/audit/test_chain.py", "tests/audit/test_writer_sync.py",
                              "tests/audit/test_record.py", "tests/audit/test_mutants_writer.py"],
    "guard/proxy/uploads.py": ["tests/proxy/test_protections_uploads.py", "tests/adversarial/test_assembly.py",
                               "tests/proxy/test_mutants_uploads.py"],
    "guard/console/users.py": ["tests/console/test_protections_console.py", "tests/console/test_people_console.py",
                               "tests/console/test_mutants_users.py"],
    "guard/console/app.py": ["tests/console/test_protections_console.py", "tests/console/test_console.py",
                             "tests/console/test_people_console.py", "tests/console/test_mutants_app.py"],
    "guard/identity.py": ["tests/test_identity.py", "tests/test_protections_identity.py"],
    "guard/decide.py": ["tests/policy/test_rollout.py", "tests/policy/test_mutants_decide.py"],
}
# Survivors that cannot change behaviour live in tools/equivalent/<module>.yaml, one entry per
# mutant: `piece` (a piece of the mutated (+) line) and `why` (a checkable reason). They are
# reported as equivalent, not as work to do.
EQUIVALENTS = ROOT / "tools" / "equivalent"
# each module's last result, so modules can be run one at a time and reported together
RESULTS = ROOT / "var" / "mutation"


def _equivalents(module: str) -> list[tuple[str, str]]:
    import yaml
    f = EQUIVALENTS / (module.replace("/", ".").removesuffix(".py") + ".yaml")
    if not f.exists():
        return []
    return [(str(e["piece"]), str(e["why"])) for e in (yaml.safe_load(f.read_text(encoding="utf-8")) or [])]


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
             f"use_git_change_detection = false\n"
             f'also_copy = ["policies", "addons", "pyproject.toml"]\n')
    (d / "pyproject.toml").write_text(text, encoding="utf-8")
    return d


def run_one(module: str, tests: list[str], children: int, only: dict | None = None) -> dict:
    """Mutate `module` and test every mutant; with `only` (a saved result), test again just the
    mutants that survived it (after new tests were written) and merge into it."""
    tests = [t for t in tests if (ROOT / t).exists()]  # a listed file not written yet is no error
    d = _workdir(module, tests)
    mutmut = str(Path(sys.executable).parent / "mutmut")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    started = dt.datetime.now(dt.timezone.utc)
    names = sorted(only["surviving"]) if only else []
    try:
        run = subprocess.run([mutmut, "run", "--max-children", str(children), *names], cwd=d, env=env,
                             capture_output=True, text=True)
        res = subprocess.run([mutmut, "results", "--all", "true"], cwd=d, env=env, capture_output=True, text=True)
        status: dict[str, str] = {}
        for line in res.stdout.splitlines():
            if m := _RESULT.match(line):
                status[m[1]] = m[2].strip()
        checked = {n: st for n, st in status.items() if st != "not checked"}
        if only:
            missing = [n for n in names if n not in status]
            if missing:  # the module changed since the saved run: its mutants were renumbered
                checked = {}
                run = subprocess.CompletedProcess(run.args, 1, "", f"{len(missing)} saved survivors are no "
                                                  "longer mutants of the module (it changed): run it in full")
            else:
                checked = {**only["status"], **{n: status[n] for n in names}}
        surviving = {}
        for name, st in checked.items():
            if st in ("survived", "no tests"):
                surviving[name] = [st, subprocess.run([mutmut, "show", name], cwd=d, env=env, capture_output=True,
                                                      text=True).stdout.strip()]
        counts: dict[str, int] = {}
        for st in checked.values():
            counts[st] = counts.get(st, 0) + 1
        seconds = round((dt.datetime.now(dt.timezone.utc) - started).total_seconds())
        return {"module": module, "tests": tests, "counts": counts, "surviving": surviving, "status": checked,
                "date": started.date().isoformat(), "seconds": seconds + (only["seconds"] if only else 0),
                "error": "" if checked else (run.stdout[-1500:] + run.stderr[-1500:])}
    finally:
        shutil.rmtree(d, ignore_errors=True)


def classify(r: dict) -> dict:
    """Split a result's surviving mutants into survivors (work to do) and explained equivalents,
    by the module's file in tools/equivalent/ as it is now."""
    equivalents = _equivalents(r["module"])
    r["survivors"], r["equivalent"] = {}, {}
    for name, (st, diff) in r["surviving"].items():
        added = [x for x in diff.splitlines() if x.startswith("+") and not x.startswith("+++")]
        why = next((w for piece, w in equivalents if any(piece in x for x in added)), None)
        if why is None:
            r["survivors"][name] = (st, diff)
        else:
            r["equivalent"][name] = (why, diff)
    return r


def _save(r: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {k: r[k] for k in ("module", "tests", "counts", "surviving", "status", "date", "seconds", "error")}
    (RESULTS / (r["module"].replace("/", ".") + ".json")).write_text(json.dumps(out, indent=1), encoding="utf-8")


def _saved() -> dict[str, dict]:
    found = {}
    for f in sorted(RESULTS.glob("*.json")) if RESULTS.is_dir() else []:
        r = json.loads(f.read_text(encoding="utf-8"))
        found[r["module"]] = r
    return found


def _report(results: list[dict], path: Path, not_run: list[str], note: str = "") -> None:
    import mutmut

    lines = [f"# Mutation testing report ({dt.date.today().isoformat()})", "",
             f"`make mutate` (tools/mutate.py, mutmut {getattr(mutmut, '__version__', '3')}): each module is "
             "mutated in a private copy of the tree and tested with the tests listed for it. A **survivor** is "
             "a change to the code that none of those tests notices: a protection that could be lost in a "
             "refactor without a red test. Equivalent mutants (changes that cannot alter behaviour) are "
             "explained below each table; every other survivor is work to do.", "",
             *([note, ""] if note else [])]
    lines += ["| module | run | mutants | killed (timeouts included) | equivalent, explained | survivors to kill |",
              "|---|---|---|---|---|---|"]
    for r in results:
        c = r["counts"]
        lines.append(f"| `{r['module']}` | {r.get('date', '?')} | {sum(c.values())} | "
                     f"{c.get('killed', 0) + c.get('timeout', 0)} | {len(r['equivalent'])} | "
                     f"**{len(r['survivors'])}** |")
    lines += [*(f"| `{m}` | not run | | | | |" for m in not_run), ""]
    for r in results:
        c = r["counts"]
        total = sum(c.values())
        killed = c.get("killed", 0)
        lines += [f"## `{r['module']}`", "", f"run {r.get('date', '?')}; tests: {', '.join(f'`{t}`' for t in r['tests'])}  ",
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
    ap.add_argument("--survivors", action="store_true",
                    help="test again only the mutants that survived the saved run (after writing tests)")
    ap.add_argument("--report-only", action="store_true",
                    help="mutate nothing: report the saved runs (var/mutation/) against today's equivalents")
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
    modules = [] if args.report_only else (args.modules or list(TARGETS))
    RESULTS.mkdir(parents=True, exist_ok=True)
    for m in modules:
        # one module at a time on this machine: mutants are CPU-bound, and several people may
        # start runs (a queue of modules lets others in between its modules)
        lock = open(RESULTS / ".lock", "w")
        fcntl.flock(lock, fcntl.LOCK_EX)
        only = _saved().get(m) if args.survivors else None
        if args.survivors and (only is None or "status" not in only):
            print(f"mutate: {m} has no saved full run to re-test (run it without --survivors)", file=sys.stderr)
            return 2
        print(f"mutating {m} with {' '.join(TARGETS[m])}{' (saved survivors only)' if only else ''} ...",
              flush=True)
        r = classify(run_one(m, TARGETS[m], args.children, only))
        _save(r)
        print(f"  {r['counts']} in {r['seconds']} s; {len(r['equivalent'])} of the survivors equivalent (explained)")
        for name, (st, diff) in sorted(r["survivors"].items()):
            print(f"  SURVIVED {name} ({st})\n" + "\n".join("    " + x for x in diff.splitlines()))
        if r["error"]:
            print("  mutmut produced no results:\n" + r["error"], file=sys.stderr)
        lock.close()
        if m != modules[-1]:
            time.sleep(3)  # flock is not fair: let a waiting run (a re-test of survivors) in first
    # the report holds every module's last saved run (this one's and earlier ones), classified
    # against today's equivalents
    saved = _saved()
    results = [classify(saved[m]) for m in TARGETS if m in saved]
    if args.report:
        _report(results, ROOT / args.report, [m for m in TARGETS if m not in saved], args.note)
    return 1 if any(r["survivors"] or r["error"] for r in results if r["module"] in (modules or saved)) else 0

if __name__ == "__main__":
    sys.exit(main())
