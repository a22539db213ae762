"""decide(): findings + policy -> verdict. What auditors read (masked excerpts, counts), what a
retry is recognised by (span digests), bulk thresholds, nesting, fail-closed problems and the
per-sender pass (scopes, exemptions, monitor mode), each pinned by its observable result."""
import dataclasses
import hashlib
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard.decide import EXCERPT_MAX, NEIGHBOURHOOD, decide, finalize, hits_action, mask, rule_action, span_digest
from guard.identity import Who
from guard.match.hits import Hit
from guard.rules import Policy, Rule
from guard.scope import NOBODY
from guard.types import Finding, Part, Problem, Verdict

SETTINGS = dict(derandomize=True, deadline=None, max_examples=60)


def rule(rid="r", action="block", **kw) -> Rule:
    return Rule(id=rid, description=f"{rid} desc", severity=kw.pop("severity", "high"), action=action, **kw)


def policy(*rules: Rule, **kw) -> Policy:
    return Policy(id="p", description="", sha256="0", source="test", rules=tuple(rules), **kw)


# -- mask: what an excerpt shows --------------------------------------------------------------

def test_mask_none_keeps_short_values_and_cuts_long_ones():
    assert mask("机密★5年", "none") == "机密★5年"
    assert mask("a \n\t b", "none") == "a b"  # whitespace runs become one space
    exact = "x" * EXCERPT_MAX
    assert mask(exact, "none") == exact
    assert mask(exact + "y", "none") == exact + "…"


def test_mask_partial_shows_four_and_two():
    assert mask("123456", "partial") == "******"
    assert mask("1234567", "partial") == "1234*67"
    assert mask("sk-abcdefghijkl", "partial") == "sk-a" + "*" * 9 + "kl"


def test_mask_prefix_and_full():
    assert mask("sk-abcdefgh", "prefix") == "sk-a…(11 chars)"
    assert mask("secret value", "full") == "[12 chars]"
    assert mask("a  b", "full") == "[3 chars]"  # counted after whitespace is collapsed


@settings(**SETTINGS)
@given(st.text(min_size=7, max_size=80, alphabet=st.characters(blacklist_categories=("Z", "C"))))
def test_partial_and_full_masks_hide_the_middle(value):
    masked = mask(value, "partial")
    assert len(masked) == len(value) and masked[:4] == value[:4] and masked[-2:] == value[-2:]
    assert set(masked[4:-2]) == {"*"}
    # only the length: asserting that the middle is absent failed for a middle like "r" or "s",
    # which the template's own word "chars" holds
    assert mask(value, "full") == f"[{len(value)} chars]"


# -- span digests: the same passage across retries -------------------------------------------

def test_span_digest_is_the_normalized_neighbourhood():
    text = "前文" * 20 + "机密★5年" + "后文" * 20
    s = text.index("机密")
    e = s + 5
    window = text[s - NEIGHBOURHOOD:e + NEIGHBOURHOOD]
    expect = hashlib.sha256(" ".join(unicodedata.normalize("NFKC", window).lower().split()).encode()).hexdigest()[:32]
    assert span_digest(text, s, e) == expect and len(expect) == 32


def test_span_digest_ignores_what_lies_beyond_the_neighbourhood_only():
    core = "请审阅：机密★5年 关于A区块的报告"
    s = core.index("机密")
    far = "x" * (NEIGHBOURHOOD + 5)
    base = span_digest(far + core + far, len(far) + s, len(far) + s + 5)
    assert span_digest("y" * 100 + far + core + far + "z" * 100, 100 + len(far) + s, 100 + len(far) + s + 5) == base
    # a character just inside the neighbourhood changes it
    near = far[:-1] + "Q"
    assert span_digest(near + core + far, len(near) + s, len(near) + s + 5) != base
    # case, width and whitespace do not
    same = far.upper() + core.replace(" ", "\t").replace("5", "５") + far
    assert span_digest(same, len(far) + s, len(far) + s + 5) == base


def test_span_digest_at_the_start_of_a_text():
    assert span_digest("机密★5年", 0, 5) == hashlib.sha256("机密★5年".encode()).hexdigest()[:32]


# -- thresholds ----------------------------------------------------------------------------------

def test_rule_action_min_count():
    r = rule(min_count=3, action="warn")
    assert rule_action(r, 2) is None
    assert rule_action(r, 3) == "warn"
    assert rule_action(r, 5, confirmed=2) is None  # unconfirmed values do not reach the minimum


def test_rule_action_escalates_in_bulk_beside_a_confirmed_majority():
    r = rule(action="warn", escalate_count=10, escalate_action="block")
    assert rule_action(r, 9) == "warn"
    assert rule_action(r, 10) == "block"
    assert rule_action(r, 10, confirmed=5) == "block"  # half confirmed is a majority enough
    assert rule_action(r, 10, confirmed=4) == "warn"
    assert rule_action(r, 10, confirmed=0) is None


def test_hits_action_counts_distinct_values():
    r = rule(min_count=2, action="warn")
    assert hits_action(r, [Hit(0, 0, 1, "a"), Hit(0, 5, 6, "a")]) is None
    assert hits_action(r, [Hit(0, 0, 1, "a"), Hit(0, 5, 6, "b")]) == "warn"
    assert hits_action(r, [Hit(0, 0, 1, "a"), Hit(0, 5, 6, "b", confirmed=False)]) is None


# -- decide ----------------------------------------------------------------------------------------

def test_decide_builds_findings_with_location_excerpt_count_and_digest():
    text = "开头\n机密★5年 报告"
    part = Part(text, "message[0]", anchors=((0, " line 1"), (3, " line 2")))
    r = rule("state-secret.marking", mask="none")
    action, findings = decide(policy(r), (r,), {0: [Hit(0, 3, 8, "机密★5年")]}, [], [part])
    assert action == "block"
    (f,) = findings
    assert (f.rule, f.action, f.severity, f.location, f.excerpt, f.description, f.count, f.part_index, f.span) == (
        "state-secret.marking", "block", "high", "message[0] line 2", "机密★5年", "state-secret.marking desc", 1, 0, (3, 8))
    assert f.digest == span_digest(text, 3, 8)


def test_decide_note_replaces_the_excerpt_and_masks_apply():
    r = rule("fp", mask="full")
    part = Part("abcdef secret", "m")
    _, (f,) = decide(policy(r), (r,), {0: [Hit(0, 7, 13, "secret")]}, [], [part])
    assert f.excerpt == "[6 chars]"
    _, (g,) = decide(policy(r), (r,), {0: [Hit(0, 7, 13, "secret", note="doc-1 62%")]}, [], [part])
    assert g.excerpt == "doc-1 62%"


def test_decide_keeps_at_most_the_limit_of_findings_per_rule_but_counts_all():
    r = rule("many", action="warn")
    pol = policy(r)
    limit = pol.settings.max_findings_per_rule
    text = " ".join(f"v{i}" for i in range(limit + 3))
    hits = [Hit(0, text.index(f"v{i}"), text.index(f"v{i}") + len(f"v{i}"), f"v{i}") for i in range(limit + 3)]
    _, findings = decide(pol, (r,), {0: hits}, [], [Part(text, "m")])
    assert len(findings) == limit and all(f.count == limit + 3 for f in findings)


def test_decide_pseudonymise_keeps_every_value():
    r = rule("pii", action="pseudonymise")
    pol = policy(r)
    n = pol.settings.max_findings_per_rule + 4
    text = "".join(f"<{i:03d}>" for i in range(n))
    hits = [Hit(0, 5 * i, 5 * i + 5, f"<{i:03d}>") for i in range(n)]
    action, findings = decide(pol, (r,), {0: hits}, [], [Part(text, "m")])
    assert action == "pseudonymise" and len(findings) == n


def test_decide_below_threshold_is_no_finding():
    r = rule("bulk", min_count=2)
    assert decide(policy(r), (r,), {0: [Hit(0, 0, 2, "ab")]}, [], [Part("ab", "m")]) == ("allow", ())


def test_nested_weaker_span_dropped_same_span_kept_stronger_inner_kept():
    outer = rule("outer", action="block")
    inner = rule("inner", action="warn")
    twin = rule("twin", action="block")
    strong_inner = rule("strong", action="block")
    weak_outer = rule("weak", action="warn")
    text = "xx机密★5年yy"
    rules = (outer, inner, twin)
    hits = {0: [Hit(0, 2, 7, "机密★5年")], 1: [Hit(0, 2, 5, "机密★")], 2: [Hit(0, 2, 7, "机密★5年")]}
    _, findings = decide(policy(*rules), rules, hits, [], [Part(text, "m")])
    assert sorted(f.rule for f in findings) == ["outer", "twin"]
    # a stronger finding inside a weaker span stays
    rules = (weak_outer, strong_inner)
    _, findings = decide(policy(*rules), rules, {0: [Hit(0, 0, 9, text)], 1: [Hit(0, 2, 5, "机密★")]}, [],
                         [Part(text, "m")])
    assert sorted(f.rule for f in findings) == ["strong", "weak"]
    # the same span in another part is not nested
    rules = (outer, inner)
    _, findings = decide(policy(*rules), rules, {0: [Hit(0, 2, 7, "机密★5年")], 1: [Hit(1, 2, 5, "机密★")]}, [],
                         [Part(text, "m"), Part(text, "n")])
    assert sorted(f.rule for f in findings) == ["inner", "outer"]


def test_decide_orders_by_strength_then_rule_and_takes_the_strongest():
    a, b, c = rule("b-warn", action="warn"), rule("a-warn", action="warn"), rule("z-block", action="block")
    text = "one two three"
    hits = {0: [Hit(0, 0, 3, "one")], 1: [Hit(0, 4, 7, "two")], 2: [Hit(0, 8, 13, "three")]}
    action, findings = decide(policy(a, b, c), (a, b, c), hits, [], [Part(text, "m")])
    assert action == "block" and [f.rule for f in findings] == ["z-block", "a-warn", "b-warn"]
    action, _ = decide(policy(a, b), (a, b), {0: hits[0], 1: hits[1]}, [], [Part(text, "m")])
    assert action == "warn"


def test_problems_fail_closed_with_or_without_a_rule():
    handler = rule("uninspectable.encrypted", action="warn", on_problem=("encrypted",), severity="medium")
    pol = policy(handler)
    detail = "d" * 200
    action, (f,) = decide(pol, (handler,), {}, [Problem("encrypted", "upload a.zip", detail)], [])
    assert action == "warn"
    assert (f.rule, f.action, f.severity, f.location, f.excerpt, f.description) == (
        "uninspectable.encrypted", "warn", "medium", "upload a.zip", "d" * 120, "uninspectable.encrypted desc")
    assert f.digest == span_digest("upload a.zip", 0, len("upload a.zip"))
    action, (g,) = decide(pol, (handler,), {}, [Problem("timeout", "upload b.pdf", "slow")], [])
    assert action == "block"
    assert (g.rule, g.severity, g.description) == ("uninspectable.timeout", "high", "content could not be inspected")


# -- finalize: per sender ---------------------------------------------------------------------------

ALICE = Who("10.1.2.3", "alice", "保密办", frozenset({"secoffice"}))


def _finding(rid, action):
    return Finding(rule=rid, action=action, severity="high", location="m", excerpt="x")


def test_finalize_plain_policy_or_no_findings_is_unchanged():
    v = Verdict("block", (_finding("r", "block"),))
    assert finalize(policy(rule("r")), v, ALICE) is v
    monitor = policy(rule("r"), mode="monitor")
    empty = Verdict("allow")
    assert finalize(monitor, empty, ALICE) is empty


def test_finalize_monitor_policy_records_would():
    pol = policy(rule("r"), rule("s", action="warn"), mode="monitor")
    v = finalize(pol, Verdict("block", (_finding("r", "block"), _finding("s", "warn"))), NOBODY)
    assert v.action == "allow" and v.would == "block" and {f.mode for f in v.findings} == {"monitor"}


def test_finalize_would_only_when_more_than_the_action():
    pol = policy(rule("r", mode="monitor", action="warn"), rule("s"))
    v = finalize(pol, Verdict("block", (_finding("r", "warn"), _finding("s", "block"))), NOBODY)
    assert v.action == "block" and v.would is None


def test_finalize_audit_and_access_findings_are_never_exempt():
    from guard.policy import load_policy_text
    pol = load_policy_text("rules:\n  - id: r\n    action: block\n    keywords: [x]\n"
                           "exemptions:\n  - scope: {users: [alice]}\n    rules: [r, audit, access]\n", "t")
    findings = (_finding("audit.unavailable", "block"), _finding("access.blocked", "block"), _finding("r", "block"))
    v = finalize(pol, Verdict("block", findings), ALICE)
    modes = {f.rule: f.mode for f in v.findings}
    assert modes == {"audit.unavailable": "enforce", "access.blocked": "enforce", "r": "exempt"}
    assert v.action == "block" and v.exempt is None  # the exemption did not let it pass
    v = finalize(pol, Verdict("block", (_finding("r", "block"),)), ALICE)
    assert v.action == "allow" and "alice" in v.exempt  # names the scope
    assert v.findings[0].mode == "exempt"


def test_finalize_exempt_names_the_scope_only_when_it_let_something_pass():
    from guard.policy import load_policy_text
    pol = load_policy_text("rules:\n  - id: r\n    action: block\n    keywords: [x]\n"
                           "  - id: l\n    action: log\n    keywords: [y]\n"
                           "exemptions:\n  - scope: {users: [alice]}\n    rules: [r, l]\n", "t")
    exempt = finalize(pol, Verdict("block", (_finding("r", "block"),)), ALICE).exempt
    assert exempt and "alice" in exempt
    # a logged finding exempted changes nothing: no exemption to name
    assert finalize(pol, Verdict("log", (_finding("l", "log"),)), ALICE).exempt is None
    # someone else: enforced
    bob = Who("10.9.9.9", "bob", None, frozenset())
    v = finalize(pol, Verdict("block", (_finding("r", "block"),)), bob)
    assert v.action == "block" and v.exempt is None and v.findings[0].mode == "enforce"


def test_finalize_scoped_rule_drops_findings_for_others_keeps_unknown_rules():
    from guard.policy import load_policy_text
    pol = load_policy_text("rules:\n  - id: r\n    action: block\n    keywords: [x]\n"
                           "    scope: {users: [bob]}\n", "t")
    v = finalize(pol, Verdict("block", (_finding("r", "block"), _finding("uninspectable.timeout", "warn"))), ALICE)
    assert [f.rule for f in v.findings] == ["uninspectable.timeout"] and v.action == "warn"
    kept = dataclasses.replace(v)
    assert kept.would is None and kept.exempt is None


@pytest.mark.parametrize("how", ["none", "partial", "prefix", "full"])
def test_masks_never_exceed_their_bound(how):
    v = "机" * 500
    assert len(mask(v, how)) <= max(EXCERPT_MAX + 1, len(v))


# -- edges the first mutation run showed untested ------------------------------------------------

def test_span_digest_folds_case_and_whitespace_and_takes_lone_surrogates():
    text = "Hello  World\t机密★5年 Foo\nBar \ud800 end"
    s = text.index("机密")
    window = text[max(0, s - NEIGHBOURHOOD):s + 5 + NEIGHBOURHOOD]
    norm = " ".join(unicodedata.normalize("NFKC", window).lower().split())
    expect = hashlib.sha256(norm.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    assert span_digest(text, s, s + 5) == expect


def test_a_rule_below_its_threshold_does_not_hide_the_next_rules():
    bulk, one = rule("bulk", min_count=3), rule("one", action="warn")
    text = "aa bb"
    action, findings = decide(policy(bulk, one), (bulk, one),
                              {0: [Hit(0, 0, 2, "aa")], 1: [Hit(0, 3, 5, "bb")]}, [], [Part(text, "m")])
    assert action == "warn" and [f.rule for f in findings] == ["one"]


def test_a_logged_finding_leaves_the_request_allowed():
    logged = rule("l", action="log")
    action, findings = decide(policy(logged), (logged,), {0: [Hit(0, 0, 2, "ab")]}, [], [Part("ab", "m")])
    assert action == "allow" and [f.action for f in findings] == ["log"]


def test_a_problem_handled_by_a_rule_is_named_after_that_rule():
    handler = rule("files.encrypted", action="warn", on_problem=("encrypted",))
    _, (f,) = decide(policy(handler), (handler,), {}, [Problem("encrypted", "a.zip", "x")], [])
    assert f.rule == "files.encrypted" and f.action == "warn"


def _nested(specs, text="0123456789abcdef"):
    """decide() over one part with one rule per (id, action, start, end), in this order."""
    rules = tuple(rule(rid, action=action) for rid, action, _, _ in specs)
    hits = {i: [Hit(0, s, e, text[s:e])] for i, (_, _, s, e) in enumerate(specs)}
    return sorted(f.rule for f in decide(policy(*rules), rules, hits, [], [Part(text, "m")])[1])


def test_nesting_drops_a_same_strength_inner_span_whatever_the_order():
    assert _nested([("inner", "warn", 3, 6), ("outer", "warn", 2, 9)]) == ["outer"]
    assert _nested([("outer", "warn", 2, 9), ("inner", "warn", 3, 6)]) == ["outer"]


def test_nesting_drops_a_suffix_and_keeps_what_only_overlaps():
    assert _nested([("outer", "block", 2, 9), ("suffix", "warn", 5, 9)]) == ["outer"]
    assert _nested([("outer", "block", 4, 12), ("overlap", "warn", 2, 8)]) == ["outer", "overlap"]


def test_a_dropped_inner_span_does_not_end_the_pass():
    assert _nested([("outer", "block", 0, 8), ("inner", "warn", 1, 4), ("other", "warn", 10, 12)]) == [
        "other", "outer"]


def test_hits_action_counts_unconfirmed_values_towards_escalation():
    r = rule(action="warn", escalate_count=10, escalate_action="block")
    hits = [Hit(0, i, i + 1, f"v{i}", confirmed=i % 2 == 0) for i in range(10)]
    assert hits_action(r, hits) == "block"  # 10 values, 5 of them confirmed
    assert hits_action(r, hits[:9]) == "warn"


def test_finalize_takes_the_strongest_enforced_action_not_the_last_in_the_alphabet():
    from guard.policy import load_policy_text
    pol = load_policy_text("rules:\n  - id: r\n    action: block\n    keywords: [x]\n"
                           "  - id: w\n    action: warn\n    keywords: [y]\n"
                           "  - id: m\n    action: warn\n    mode: monitor\n    keywords: [z]\n", "t")
    v = finalize(pol, Verdict("block", (_finding("r", "block"), _finding("w", "warn"))), ALICE)
    assert v.action == "block"


def test_finalize_names_the_exemption_of_the_strongest_exempted_finding():
    from guard.policy import load_policy_text
    pol = load_policy_text("rules:\n  - id: r\n    action: block\n    keywords: [x]\n"
                           "  - id: d\n    action: redact\n    keywords: [q]\n"
                           "  - id: l\n    action: log\n    keywords: [y]\n"
                           "  - id: w\n    action: warn\n    keywords: [z]\n"
                           "exemptions:\n  - scope: {users: [alice]}\n    rules: [l]\n"
                           "  - scope: {groups: [secoffice]}\n    rules: [r, d]\n", "t")
    # an exempted log finding first: it lets nothing pass, so the scope named is the group's
    v = finalize(pol, Verdict("block", (_finding("l", "log"), _finding("r", "block"))), ALICE)
    assert v.action == "allow" and "secoffice" in v.exempt and "alice" not in v.exempt
    # a redaction exempted is named too
    v = finalize(pol, Verdict("redact", (_finding("d", "redact"),)), ALICE)
    assert v.action == "allow" and "secoffice" in v.exempt
    # block and redact exempted beside an enforced warning: the block is what the exemption let pass
    v = finalize(pol, Verdict("block", (_finding("d", "redact"), _finding("r", "block"), _finding("w", "warn"))),
                 ALICE)
    assert v.action == "warn" and "secoffice" in v.exempt
