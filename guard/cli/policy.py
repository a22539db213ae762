"""`guard policy check`: validate a policy and run every rule's examples."""
from __future__ import annotations

from guard.policy import load_policy
from guard.policy.examples import check_examples


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
    g = psub.add_parser("import-gitleaks", help="turn a gitleaks configuration into a policy file",
                        description="Convert a gitleaks TOML configuration (rules with id, regex, keywords, "
                                    "entropy, secretGroup, allowlists) into a policy YAML of ours, written to "
                                    "--out or stdout. Rules whose regex RE2 cannot run are listed on stderr "
                                    "with the reason. Extend the result from your policy (`extends:`).")
    g.add_argument("toml", help="gitleaks.toml")
    g.add_argument("--out", help="policy YAML to write (default: stdout)")
    g.set_defaults(func=import_gitleaks)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def import_gitleaks(args) -> int:
    import sys
    from pathlib import Path

    from guard.errors import PolicyError
    from guard.policy.gitleaks import convert, dump

    try:
        text = Path(args.toml).read_text(encoding="utf-8")
    except OSError as e:
        raise PolicyError(f"{args.toml}: cannot read: {e.strerror}") from None
    conv = convert(text, args.toml)
    out = dump(conv, args.toml)
    if args.out:
        Path(args.out).write_text(out, encoding="utf-8")
    else:
        sys.stdout.write(out)
    for s in conv.skipped:
        print(f"skipped {s}", file=sys.stderr)
    print(f"converted {len(conv.policy['rules'])} rule(s), skipped {len(conv.skipped)}", file=sys.stderr)
    return 0


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
