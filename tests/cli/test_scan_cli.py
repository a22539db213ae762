import json
import subprocess
import sys
from pathlib import Path

import pytest

from guard.cli.main import main

GUARD = str(Path(sys.executable).parent / "guard")


def run(*args, stdin=None):
    return subprocess.run([GUARD, *args], capture_output=True, text=True, input=stdin, timeout=120)


def test_json_one_object_per_input(tmp_path):
    a = tmp_path / "a.txt"
    a.write_text("机密★5年\n正文", encoding="utf-8")
    b = tmp_path / "b.txt"
    b.write_text("今天天气不错", encoding="utf-8")
    p = run("scan", "--json", str(a), str(b))
    assert p.returncode == 1
    objs = [json.loads(line) for line in p.stdout.splitlines()]
    assert [o["source"] for o in objs] == [str(a), str(b)]
    assert objs[0]["action"] == "block" and objs[1]["action"] == "allow"
    f = objs[0]["findings"][0]
    assert set(f) >= {"rule", "action", "severity", "location", "excerpt"}
    assert "正文" not in json.dumps(objs[0], ensure_ascii=False)


@pytest.mark.parametrize("args, code", [
    (["scan", "--text", "今天天气不错"], 0),
    (["scan", "--text", "绝密★长期"], 1),
    (["scan", "--text", "内部资料 注意保存"], 1),
    (["scan"], 2),
    (["scan", "/no/such/file"], 2),
    (["scan", "--policy", "/no/such.yaml", "--text", "x"], 2),
])
def test_exit_codes(args, code, capsys):
    assert main(args) == code


@pytest.mark.slow  # guard in real processes
def test_exit_codes_subprocess():
    assert run("scan", "--text", "今天天气不错").returncode == 0
    assert run("scan", "--text", "绝密★长期").returncode == 1
    p = run("scan", "/no/such/file")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "Traceback" not in p.stderr
    p = run("bogus")
    assert p.returncode == 2 and "Traceback" not in p.stderr


def test_stdin_and_table():
    p = run("scan", "-", stdin="前言\n秘密★1年\n")
    assert p.returncode == 1
    assert "BLOCK" in p.stdout and "state-secret.marking" in p.stdout and "line 2" in p.stdout


def test_bad_policy_is_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - id: x.bad\n    action: block\n    regex: '(unclosed'\n", encoding="utf-8")
    p = run("scan", "--policy", str(bad), "--text", "x")
    assert p.returncode == 2
    assert p.stderr.strip().count("\n") == 0 and "x.bad" in p.stderr and "regex" in p.stderr


def test_policy_check_shipped():
    p = run("policy", "check")
    assert p.returncode == 0, p.stdout
    assert "0 failing" in p.stdout


def test_policy_check_reports_misbehaving_example(tmp_path):
    pol = tmp_path / "p.yaml"
    pol.write_text("rules:\n  - id: t.word\n    action: warn\n    keywords: [昆仑]\n"
                   "    examples: {match: [\"天山\"], no_match: [\"昆仑项目\"]}\n", encoding="utf-8")
    p = run("policy", "check", str(pol))
    assert p.returncode == 1
    assert "rule t.word: example '天山' (body) should match" in p.stdout
    assert "should not match" in p.stdout


def _commands(parser, prefix=()):
    """Every command and subcommand of the parser tree, e.g. ("audit", "verify")."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from _commands(sub, (*prefix, name))


@pytest.mark.slow  # one guard process per command
def test_help_for_every_command():
    from guard.cli.main import build_parser

    commands = list(_commands(build_parser()))
    assert {("scan",), ("policy", "check"), ("audit", "verify"), ("proxy",)} <= set(commands)
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    for cmd in commands:
        p = run(*cmd, "--help")
        assert p.returncode == 0 and "usage:" in p.stdout, cmd
        assert f"guard {' '.join(cmd)}" in readme, f"README does not show `guard {' '.join(cmd)}`"


def test_policy_check_requires_both_kinds_of_example(tmp_path):
    pol = tmp_path / "p.yaml"
    pol.write_text("rules:\n  - id: t.word\n    action: warn\n    keywords: [昆仑]\n"
                   "    examples: {match: [\"昆仑项目\"]}\n"
                   "  - id: t.fail\n    action: block\n    on_problem: [corrupt]\n", encoding="utf-8")
    p = run("policy", "check", str(pol))
    assert p.returncode == 1
    assert "rule t.word: has no `examples.no_match`" in p.stdout
    assert "t.fail" not in p.stdout  # rules that only extraction problems trigger are exempt


def test_guard_proxy_connects_upstream_only_for_allowed_requests():
    """connection_strategy=lazy by default (a blocked request never opens an upstream connection,
    and offline a block still answers 403); an operator's own --set after `--` replaces it."""
    from guard.cli.main import build_parser
    from guard.cli.proxy import build_args

    argv = build_args(build_parser().parse_args(["proxy", "--", "--set", "connection_strategy=eager"]))
    assert "connection_strategy=eager" in argv and "connection_strategy=lazy" not in argv
    assert "connection_strategy=lazy" in build_args(build_parser().parse_args(["proxy"]))
