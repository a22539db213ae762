"""Findings + policy -> verdict. Pure: no I/O, no clock."""
from __future__ import annotations

import dataclasses
import hashlib
import unicodedata

from guard.scope import NOBODY, Who
from guard.match.matcher import Hit
from guard.rules import Policy, Rule
from guard.types import ACTION_RANK, Finding, Part, Problem, Verdict

EXCERPT_MAX = 60


def mask(value: str, how: str) -> str:
    v = " ".join(value.split())
    if how == "none":
        return v if len(v) <= EXCERPT_MAX else v[:EXCERPT_MAX] + "…"
    if how == "partial":
        if len(v) <= 6:
            return "*" * len(v)
        return v[:4] + "*" * (len(v) - 6) + v[-2:]
    if how == "prefix":
        return f"{v[:4]}…({len(v)} chars)"
    return f"[{len(v)} chars]"


NEIGHBOURHOOD = 24  # characters either side of a flagged span that identify it across retries


def span_digest(text: str, start: int, end: int) -> str:
    """What was flagged, as a hash of the matched text and its neighbourhood, normalized (NFKC,
    case, whitespace): the same passage in a retried prompt (new message ids, timestamps around
    it) has the same digest; another passage has another."""
    window = text[max(0, start - NEIGHBOURHOOD):end + NEIGHBOURHOOD]
    norm = " ".join(unicodedata.normalize("NFKC", window).lower().split())
    return hashlib.sha256(norm.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def rule_action(rule: Rule, count: int, confirmed: int | None = None) -> str | None:
    """The rule's action for `count` distinct values, of which `confirmed` passed the validator
    (default: all). Unconfirmed values (an ID number with a wrong check digit) count only in
    bulk, and only beside a majority that passes: a list of real ID numbers with a few typos is
    personal data; a column of ID-shaped slip numbers none of which checks out is not (a random
    number has 1 chance in 11 of a right check digit)."""
    confirmed = count if confirmed is None else confirmed
    if rule.escalate_action and count >= rule.escalate_count and confirmed * 2 >= count:
        return rule.escalate_action
    if confirmed < rule.min_count:
        return None
    return rule.action


def hits_action(rule: Rule, hits) -> str | None:
    return rule_action(rule, len({h.value for h in hits}), len({h.value for h in hits if h.confirmed}))


def _drop_nested(findings: list[Finding]) -> list[Finding]:
    """A span inside a stronger-or-equal finding's span adds nothing (机密★ inside 机密★5年).
    The same span found by two rules keeps both names (a Stripe key is also a secret assignment)."""
    kept: list[Finding] = []
    for f in sorted(findings, key=lambda f: (f.span[0] - f.span[1], -ACTION_RANK[f.action])):
        if any(k.part_index == f.part_index and k.span[0] <= f.span[0] and f.span[1] <= k.span[1]
               and k.span != f.span and ACTION_RANK[k.action] >= ACTION_RANK[f.action] for k in kept):
            continue
        kept.append(f)
    return kept


def decide(policy: Policy, rules: tuple[Rule, ...], hits: dict[int, list[Hit]],
           problems: list[Problem], parts: list[Part]) -> tuple[str, tuple[Finding, ...]]:
    findings: list[Finding] = []
    limit = policy.settings.max_findings_per_rule
    for i, rule_hits in hits.items():
        rule = rules[i]
        count = len({h.value for h in rule_hits})
        action = hits_action(rule, rule_hits)
        if action is None:
            continue
        # Every value of a pseudonymise rule is a finding: each must be swapped before it goes out.
        for h in (rule_hits if action == "pseudonymise" else rule_hits[:limit]):
            part = parts[h.part]
            findings.append(Finding(
                rule=rule.id, action=action, severity=rule.severity, location=part.locate(h.start),
                excerpt=h.note or mask(part.text[h.start:h.end], rule.mask), description=rule.description,
                count=count, part_index=h.part, span=(h.start, h.end),
                digest=span_digest(part.text, h.start, h.end),
            ))
    findings = _drop_nested(findings)
    for p in problems:
        rule = next((r for r in policy.rules if p.reason in r.on_problem), None)
        # Fail closed even when a policy forgot to say what to do with this problem.
        findings.append(Finding(
            rule=rule.id if rule else f"uninspectable.{p.reason}",
            action=rule.action if rule else "block",
            severity=rule.severity if rule else "high",
            location=p.location, excerpt=p.detail[:120],
            description=rule.description if rule else "content could not be inspected",
            digest=span_digest(p.location, 0, len(p.location)),
        ))
    findings.sort(key=lambda f: (-ACTION_RANK[f.action], f.rule))
    action = "allow"
    for f in findings:
        if ACTION_RANK[f.action] > ACTION_RANK[action]:
            action = f.action
    return action, tuple(findings)


def finalize(policy: Policy, verdict: Verdict, who: Who = NOBODY) -> Verdict:
    """Apply what depends on the sender and on roll-out: a rule scoped to some senders applies
    only to them; an exemption lets its scope pass (still recorded, `exempt`); a monitor-mode
    rule (or policy) records what it `would` have done and lets the request pass."""
    if policy.plain or not verdict.findings:
        return verdict
    kept: list[Finding] = []
    exempt_by: str | None = None
    for f in verdict.findings:
        rule = policy.find_rule(f.rule)
        if rule is not None and rule.scope is not None and not rule.scope.matches(who):
            continue
        # The audit failing and the catalog's access rules (which have their own per-group
        # overrides) are not the policy's to exempt.
        ex = None if f.rule == "audit.unavailable" or f.rule.startswith("access.") else next(
            (e for e in policy.exemptions if e.covers(f.rule) and e.scope.matches(who)), None)
        if ex is not None:
            kept.append(dataclasses.replace(f, mode="exempt"))
            if ACTION_RANK[f.action] > 0:
                exempt_by = exempt_by or ex.scope.describe()
        elif policy.mode == "monitor" or (rule is not None and rule.mode == "monitor"):
            kept.append(dataclasses.replace(f, mode="monitor"))
        else:
            kept.append(f)
    action = max((f.action for f in kept if f.mode == "enforce"), key=ACTION_RANK.__getitem__, default="allow")
    would = max((f.action for f in kept if f.mode == "monitor"), key=ACTION_RANK.__getitem__, default="allow")
    strongest_exempt = max((f.action for f in kept if f.mode == "exempt"), key=ACTION_RANK.__getitem__,
                           default="allow")
    return dataclasses.replace(
        verdict, action=action, findings=tuple(kept),
        would=would if ACTION_RANK[would] > ACTION_RANK[action] else None,
        exempt=exempt_by if ACTION_RANK[strongest_exempt] > ACTION_RANK[action] else None)
