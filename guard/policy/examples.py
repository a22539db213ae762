"""Run the examples a policy's rules carry: `guard policy check`, and every reload."""
from __future__ import annotations

from guard.decide import hits_action
from guard.match.matcher import Matcher
from guard.types import Part


def check_examples(policy, require: bool = True, matcher: Matcher | None = None) -> list[str]:
    """Messages for every example that does not behave as written (and, with `require`, for
    every rule without both kinds of example)."""
    matcher = matcher or Matcher(policy)
    failures = []
    for rule in policy.rules:
        # A rule shows what it catches and what it lets pass (gitleaks' rule tests); rules that
        # only extraction problems trigger (uninspectable.*) have no text to show, and rules that
        # match by hash (registered documents, hashed lists) must not show theirs.
        if rule.on_problem or rule.by_hash or not require:
            continue
        for key, examples in (("match", rule.examples_match), ("no_match", rule.examples_no_match)):
            if not examples:
                failures.append(f"rule {rule.id}: has no `examples.{key}`: add one that shows the rule's edge")
    for i, rule in enumerate(matcher.rules):
        for expect, examples in ((True, rule.examples_match), (False, rule.examples_no_match)):
            for ex in examples:
                hits = matcher.scan([Part(ex.text, "example", ex.part)]).get(i, [])
                fired = hits_action(rule, hits) is not None
                if fired != expect:
                    word = "should match" if expect else "should not match"
                    failures.append(f"rule {rule.id}: example {ex.text!r} ({ex.part}) {word}")
    return failures
