"""docs/markings.md is part of the product: every grammar entry and every marking rule is in it."""
from pathlib import Path

from guard.policy import load_policy
from guard.policy.loader import POLICY_DIR, load_grammar

DOC = (Path(__file__).resolve().parents[2] / "docs" / "markings.md").read_text(encoding="utf-8")


def test_every_grammar_entry_is_documented():
    missing = [name for name in load_grammar(POLICY_DIR / "rules" / "markings.yaml") if f"`{name}`" not in DOC]
    assert not missing, f"grammar entries not in docs/markings.md: {missing}"


def test_every_marking_rule_is_documented():
    # A rule is named by its id, or by its family's position (`*.subject` covers state-, commercial-,
    # work-secret.subject).
    rules = load_policy(POLICY_DIR / "rules" / "markings.yaml").rules
    missing = [r.id for r in rules
               if f"`{r.id}`" not in DOC and f"`*.{r.id.split('.', 1)[1]}`" not in DOC]
    assert not missing, f"marking rules not in docs/markings.md: {missing}"
