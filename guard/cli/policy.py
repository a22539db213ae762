"""`guard policy check`: validate a policy and run every rule's examples."""
from __future__ import annotations

from guard.decide import hits_action
from guard.match.engine import Matcher
from guard.policy import load_policy
from guard.types import Part


def register(sub) -> None:
    p = sub.add_parser("policy", help="validate and test policies")
    psub = p.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")
    c = psub.add_parser("check", help="validate a policy and run each rule's examples",
                        description="Validate a policy (default: policies/default.yaml) and run every rule's "
                                    "`examples: {match, no_match}`; every rule needs both (rules with "
                                    "`on_problem` are exempt). Exit 0 when all pass, 1 when an example "
                                    "misbehaves or is missing, 2 when the policy is invalid.")
    c.add_argument("path", nargs="?", help="policy YAML")
    c.set_defaults(func=check)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def check_examples(policy) -> list[str]:
    """Messages for every example that does not behave as written."""
    matcher = Matcher(policy)
    failures = []
    for rule in policy.rules:
        # A rule shows what it catches and what it lets pass (gitleaks' rule tests); rules that
        # only extraction problems trigger (uninspectable.*) have no text to show.
        if rule.on_problem:
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


def check(args) -> int:
    policy = load_policy(args.path)
    failures = check_examples(policy)
    n = sum(len(r.examples_match) + len(r.examples_no_match) for r in policy.rules)
    for f in failures:
        print(f"FAIL {f}")
    status = "OK" if not failures else "FAILED"
    print(f"{status} policy {policy.id} ({policy.source}, sha256 {policy.sha256[:12]}): "
          f"{len(policy.rules)} rules, {n} examples, {len(failures)} failing")
    return 1 if failures else 0
