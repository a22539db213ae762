import pytest

from guard import Engine
from guard.errors import PolicyError
from guard.policy import load_policy, load_policy_text
from guard.policy.loader import POLICY_DIR


@pytest.mark.parametrize("yaml_text, message", [
    ("rules:\n  - id: r1\n    action: explode\n    keywords: [a]\n", "rule r1: field `action`"),
    ("rules:\n  - id: r1\n    action: block\n    regex: '(a'\n", "rule r1: field `regex`"),
    ("rules:\n  - id: r1\n    action: block\n", "rule r1: needs `keywords`"),
    ("rules:\n  - id: r1\n    action: block\n    keywords: [a]\n    colour: red\n", "rule r1: unknown field(s): colour"),
    ("rules:\n  - id: r1\n    action: block\n    keywords: [a]\n    where: [sideways]\n", "rule r1: field `where`"),
    ("rules:\n  - id: r1\n    action: warn\n    keywords: [a]\n    escalate: {count: 0, action: block}\n", "rule r1: field `escalate.count`"),
    ("rules:\n  - id: r1\n    action: warn\n    keywords_from: [nope]\n", "rule r1: field `keywords_from`"),
    ("rules:\n  - action: warn\n", "every rule needs a string `id`"),
    ("rules: [\n", "invalid YAML"),
    ("limits: {max_bytes: -1}\nrules: []\n", "limits: `max_bytes`"),
    ("colour: red\n", "unknown top-level field"),
    ("extends: [nowhere.yaml]\n", "policy file not found"),
])
def test_bad_policies_name_rule_and_field(yaml_text, message):
    with pytest.raises(PolicyError) as e:
        load_policy_text(yaml_text, "t.yaml")
    assert message in str(e.value)
    assert "\n" not in str(e.value)


def test_extends_disable_and_lists(tmp_path):
    (tmp_path / "names.txt").write_text("# comment\n天山一号\n塔河-9井\n", encoding="utf-8")
    (tmp_path / "p.yaml").write_text(
        f"id: site\nextends: [{POLICY_DIR / 'default.yaml'}]\ndisable: [internal.marking, internal.level-head]\n"
        "lists:\n  wells: {file: names.txt}\n"
        "rules:\n  - id: site.wells\n    action: block\n    keywords_from: [wells]\n", encoding="utf-8")
    policy = load_policy(tmp_path / "p.yaml")
    ids = {r.id for r in policy.rules}
    assert "site.wells" in ids and "state-secret.marking" in ids and "internal.marking" not in ids
    engine = Engine(policy)
    assert engine.scan_text("塔河-9井的压裂方案").action == "block"
    assert engine.scan_text("内部资料 注意保存").action == "allow"
    assert engine.scan_text("绝密★长期").action == "block"


def test_policy_hash_changes_with_content(tmp_path):
    a = load_policy_text("rules:\n  - id: r\n    action: warn\n    keywords: [甲]\n")
    b = load_policy_text("rules:\n  - id: r\n    action: block\n    keywords: [甲]\n")
    assert a.sha256 != b.sha256 and len(a.sha256) == 64


def test_every_shipped_policy_checks():
    from guard.cli.policy import check_examples

    # Each rule file alone too: its examples must not depend on cues another file sets.
    files = sorted(POLICY_DIR.glob("*.yaml")) + sorted(POLICY_DIR.glob("rules/*.yaml"))
    assert len(files) > 4
    for f in files:
        if f.name == "catalog.yaml":
            continue
        assert check_examples(load_policy(f)) == [], f


def test_limits_from_policy_apply():
    policy = load_policy_text("limits: {max_bytes: 100}\nrules:\n  - id: r\n    action: warn\n    keywords: [甲]\n")
    v = Engine(policy).scan_bytes(b"x" * 200, filename="big.txt")
    assert v.action == "block" and "uninspectable.limit" in v.rules


def test_full_width_keyword_matches_either_spelling():
    policy = load_policy_text("rules:\n  - id: t.code\n    action: block\n    keywords: [昆仑（一期）]\n")
    engine = Engine(policy)
    assert engine.scan_text("昆仑（一期）进展").action == "block"
    assert engine.scan_text("昆仑（一期）进展 ５").action == "block"  # text folded by the ５
