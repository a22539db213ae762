"""Monitor mode, rule scopes and exemptions: what a verdict becomes for a given sender."""
import pytest

from guard.decide import finalize
from guard.scanner import Engine
from guard.errors import PolicyError
from guard.identity import Who
from guard.policy import load_policy_text
from guard.policy.loader import DEFAULT_POLICY

BASE = f"extends: [{DEFAULT_POLICY}]\n"
MARKED = "机密★5年\n关于某项目的报告"
ALICE = Who("10.1.2.3", "alice", "保密办", frozenset({"secoffice"}))
BOB = Who("10.9.9.9", "bob", "钻井工程部", frozenset())


def verdict(policy_text: str, text: str, who: Who):
    engine = Engine(load_policy_text(BASE + policy_text))
    return finalize(engine.policy, engine.scan_text(text), who)


def test_monitor_rule_records_would_and_allows():
    v = verdict("rules:\n  - id: custom.t\n    action: block\n    mode: monitor\n    keywords: [海龙项目]\n",
                "海龙项目进展", BOB)
    assert v.action == "allow" and v.would == "block"
    assert [f.mode for f in v.findings] == ["monitor"]


def test_monitor_rule_beside_an_enforced_one():
    v = verdict("rules:\n  - id: custom.t\n    action: block\n    mode: monitor\n    keywords: [海龙项目]\n",
                MARKED + "\n海龙项目", BOB)
    assert v.action == "block" and v.would is None  # nothing more would have happened


def test_whole_policy_in_monitor_mode():
    v = verdict("mode: monitor\n", MARKED, BOB)
    assert v.action == "allow" and v.would == "block"


def test_exemption_by_group_department_network_user():
    for scope in ("{groups: [secoffice]}", "{departments: [保密办]}", "{networks: [10.1.0.0/16]}",
                  "{users: [alice]}"):
        text = f"exemptions:\n  - scope: {scope}\n    rules: [state-secret]\n"
        a, b = verdict(text, MARKED, ALICE), verdict(text, MARKED, BOB)
        assert a.action == "allow" and a.exempt and b.action == "block" and b.exempt is None, scope


def test_exemption_names_rules_and_spares_others():
    text = "exemptions:\n  - scope: {users: [alice]}\n    rules: [commercial-secret]\n"
    assert verdict(text, MARKED, ALICE).action == "block"


def test_rule_scope_applies_only_to_its_senders():
    text = ("rules:\n  - id: custom.drilling\n    action: block\n    keywords: [井位坐标]\n"
            "    scope: {departments: [钻井工程部]}\n")
    assert verdict(text, "井位坐标如下", BOB).action == "block"
    assert verdict(text, "井位坐标如下", ALICE).action == "allow"


@pytest.mark.parametrize("text, msg", [
    ("mode: loud\n", "mode"),
    ("rules:\n  - id: x\n    action: block\n    keywords: [a]\n    mode: quiet\n", "mode"),
    ("exemptions:\n  - scope: {networks: [not-a-net]}\n", "network"),
    ("exemptions:\n  - rules: [x]\n", "scope"),
    ("rules:\n  - id: x\n    action: block\n    keywords: [a]\n    scope: {teams: [a]}\n", "scope"),
])
def test_bad_rollout_fields_are_one_line(text, msg):
    with pytest.raises(PolicyError, match=msg) as e:
        load_policy_text(BASE + text)
    assert "\n" not in str(e.value)
