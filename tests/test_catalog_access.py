"""Access keyed on services' facts (`access_rules`): what a 保密办 writes as policy ("domestic filed
services warn, foreign services block for 涉密 units, anything that trains on inputs takes no
uploads") decides every service by its facts, the strictest level wins, and a bad rule is one
clear line at load time."""
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from guard.catalog import (ACCESS, ACTIVITIES, DOMESTIC, UNKNOWN, Access, AccessRule, Catalog, Facts, Service,
                           load_catalog, parse_access)
from guard.errors import PolicyError
from guard.identity import Who

SHIPPED = Path(__file__).resolve().parents[1] / "policies" / "catalog.yaml"
SECRET = Who(user="zhang", department="机要室", groups=frozenset({"涉密"}))
STAFF = Who(user="li", department="财务部")

POLICY = """
  - {id: domestic-filed-warn, where: {country: domestic, filed: true}, action: warn}
  - {id: foreign-secret-units, where: {country: foreign}, action: block, groups: [涉密]}
  - {id: training-no-uploads, where: {trains: [true, unknown]}, activity: upload, action: block}
"""


def shipped_with(rules: str, tmp_path) -> Catalog:
    """The shipped catalog (all its services and facts) with these access rules."""
    text = SHIPPED.read_text(encoding="utf-8").replace("access_rules: []", "access_rules:" + rules, 1)
    assert text != SHIPPED.read_text(encoding="utf-8")
    path = tmp_path / "catalog.yaml"
    path.write_text(text, encoding="utf-8")
    return load_catalog(path)


def svc(cat: Catalog, sid: str) -> Service:
    return next(s for _, _, s in cat.services if s.id == sid)


def test_the_secrecy_office_policy_on_the_shipped_catalog(tmp_path):
    cat = shipped_with(POLICY, tmp_path)
    services = {s.id: s for _, _, s in cat.services}
    for s in services.values():
        f = s.facts
        domestic_filed = f.country == DOMESTIC and f.filed is True
        foreign = bool(f.country) and f.country != DOMESTIC
        trains = f.trains in (True, None)
        # A prompt from ordinary staff: warned on domestic filed services, else allowed.
        assert cat.access(s, "prompt", STAFF) == ("warn" if domestic_filed else "allow"), s.id
        # A prompt from a 涉密 unit: foreign services refused.
        assert cat.access(s, "prompt", SECRET) == ("block" if foreign else "warn" if domestic_filed else "allow"), s.id
        # Uploads to a service that trains on inputs (or may): refused for everyone.
        want = "block" if trains else ("warn" if domestic_filed else "allow")
        assert cat.access(s, "upload", STAFF) == want, s.id
    # The rules reach real services both ways (the catalog's facts are not all alike).
    assert cat.explain_access(services["doubao-web"], "prompt", STAFF) == ("warn", "rule:domestic-filed-warn")
    assert cat.explain_access(services["claude-web"], "prompt", SECRET) == ("block", "rule:foreign-secret-units")
    assert cat.explain_access(services["chatgpt-web"], "upload", STAFF) == ("block", "rule:training-no-uploads")
    assert cat.access(services["openai"], "upload", STAFF) == "allow"        # API: no training by default
    assert cat.access(services["dashscope"], "upload", STAFF) == "warn"      # domestic, filed, no training


def test_a_service_allow_does_not_lift_a_rule_block_but_except_does(tmp_path):
    rules = POLICY + "  - {id: no-foreign-at-all, where: {country: foreign}, action: block, except: [m365-copilot]}\n"
    cat = shipped_with(rules, tmp_path)
    m365, claude = svc(cat, "m365-copilot"), svc(cat, "claude-web")
    assert cat.access(claude, "prompt", STAFF) == "block"
    assert cat.explain_access(m365, "prompt", STAFF) == ("allow", "default")
    # A per-service allow cannot undo a matching rule's block.
    text = (tmp_path / "catalog.yaml").read_text(encoding="utf-8").replace(
        "- {id: claude-web, name: Claude,", "- {id: claude-web, name: Claude, access: allow,", 1)
    (tmp_path / "catalog.yaml").write_text(text, encoding="utf-8")
    cat = load_catalog(tmp_path / "catalog.yaml")
    assert cat.explain_access(svc(cat, "claude-web"), "prompt", STAFF) == ("block", "rule:no-foreign-at-all")


def test_unknown_services_and_where_unknown(tmp_path):
    text = ("unknown: {access: {upload: warn}}\naccess_rules:\n"
            "  - {id: unvetted, where: {country: unknown}, access: {prompt: warn, upload: block}}\n"
            "services:\n  - {id: a, hosts: [a.example]}\n"
            "  - {id: b, hosts: [b.example], facts: {operator: B, country: cn, filed: yes}}\n")
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    cat = load_catalog(tmp_path / "c.yaml")
    assert cat.access(cat.service("a.example"), "upload", None) == "block"
    assert cat.access(cat.service("b.example"), "upload", None) == "allow"
    assert cat.service("b.example").facts == Facts("B", "CN", True, None, None, "")
    # Traffic to hosts outside the catalog has no facts: `country: unknown` covers it too.
    assert cat.explain_access(UNKNOWN, "upload", None) == ("block", "rule:unvetted")
    assert cat.explain_access(UNKNOWN, "other", None) == ("allow", "default")


@pytest.mark.parametrize("rule, msg", [
    ("{id: r, where: {colour: red}, action: block}", "where.colour"),
    ("{id: r, where: {trains: maybe}, action: block}", "where.trains"),
    ("{id: r, where: {kind: spreadsheet}, action: block}", "where.kind"),
    ("{id: r, where: {country: China}, action: block}", "where.country"),
    ("{id: r, where: {trains: []}, action: block}", "empty list"),
    ("{id: r, where: {country: foreign}, activity: uploads, action: block}", "uploads"),
    ("{id: r, where: {}, action: block}", "needs `where`"),
    ("{id: r, where: {country: foreign}, action: deny}", "`action`"),
    ("{id: r, where: {country: foreign}, action: block, access: warn}", "not both"),
    ("{id: r, where: {country: foreign}, action: block, groups: 涉密}", "`groups`"),
    ("{id: r, where: {country: foreign}, action: block, except: [nosuch]}", "`except`"),
    ("{id: r, where: {country: foreign}, access: {upload: nope}}", "access"),
    ("{where: {country: foreign}, action: block}", "needs an `id`"),
    ("{id: r, where: {country: foreign}, action: block, colour: red}", "unknown field"),
])
def test_bad_rule_is_one_line(tmp_path, rule, msg):
    text = f"access_rules:\n  - {rule}\nservices:\n  - {{id: a, hosts: [a.example]}}\n"
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError, match=msg) as e:
        load_catalog(tmp_path / "c.yaml")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("facts, msg", [
    ("{operator: A, country: China}", "country"),
    ("{operator: A, trains: often}", "facts.trains"),
    ("{operator: A, homepage: x}", "unknown field"),
    ("[A]", "facts"),
])
def test_bad_facts_are_one_line(tmp_path, facts, msg):
    (tmp_path / "c.yaml").write_text(f"services:\n  - {{id: a, hosts: [a.example], facts: {facts}}}\n",
                                     encoding="utf-8")
    with pytest.raises(PolicyError, match=msg) as e:
        load_catalog(tmp_path / "c.yaml")
    assert "\n" not in str(e.value)


# --- the decision as a space: any facts, any rules, anyone, any activity ----------------------------
TRI = st.sampled_from([True, False, None])
COUNTRIES = st.sampled_from(["CN", "US", "DE", "SG", ""])
LEVELS = st.sampled_from(ACCESS)
GROUPS = st.sampled_from(["涉密", "研发", "保密办"])
facts_st = st.builds(Facts, operator=st.sampled_from(["A", "B"]), country=COUNTRIES, filed=TRI, trains=TRI,
                     enterprise=TRI)
access_st = st.builds(
    lambda acts, groups: Access(tuple(acts), tuple(groups)),
    st.lists(st.tuples(st.sampled_from(ACTIVITIES + ("all",)), LEVELS), max_size=2, unique_by=lambda t: t[0]),
    st.lists(st.tuples(GROUPS, st.builds(lambda a: Access(tuple(a)), st.lists(
        st.tuples(st.sampled_from(ACTIVITIES + ("all",)), LEVELS), min_size=1, max_size=2,
        unique_by=lambda t: t[0]))), max_size=2, unique_by=lambda t: t[0]))
where_st = st.lists(st.one_of(
    st.tuples(st.just("country"), st.lists(st.sampled_from(["CN", "US", "domestic", "foreign", "unknown"]),
                                           min_size=1, max_size=2).map(tuple)),
    st.tuples(st.sampled_from(["filed", "trains", "enterprise"]), st.lists(TRI, min_size=1, max_size=2).map(tuple)),
), min_size=1, max_size=3, unique_by=lambda t: t[0]).map(tuple)
rule_st = st.builds(AccessRule, id=st.sampled_from(["r1", "r2", "r3"]), where=where_st, access=access_st)


def fact_matches(where, f: Facts) -> bool:
    """The rule's condition written out the long way."""
    for key, wanted in where:
        if key == "country":
            ok = any((w == "domestic" and f.country == "CN") or (w == "foreign" and f.country not in ("", "CN"))
                     or (w == "unknown" and f.country == "") or w == f.country for w in wanted)
        else:
            ok = getattr(f, key) in wanted
        if not ok:
            return False
    return True


@settings(derandomize=True, max_examples=150, deadline=None)
@given(facts=facts_st, own=st.none() | access_st, rules=st.lists(rule_st, max_size=4), default=access_st,
       activity=st.sampled_from(ACTIVITIES), groups=st.frozensets(GROUPS, max_size=2))
def test_strictest_of_service_and_matching_rules_then_default(facts, own, rules, default, activity, groups):
    s = Service("s", "S", access=own, facts=facts)
    cat = Catalog([("s.example", "", s)], default_access=default, rules=tuple(rules))
    who = Who(user="u", groups=groups)
    order = {"allow": 0, "warn": 1, "block": 2}
    levels = [a.decide(activity, who) for a in ([own] if own else []) + [r.access for r in rules
                                                                          if fact_matches(r.where, facts)]]
    levels = [lv for lv in levels if lv]
    want = max(levels, key=order.get) if levels else (default.decide(activity, who) or "allow")
    assert cat.access(s, activity, who) == want


def test_parse_access_short_form_is_the_long_form(tmp_path):
    text = ("access_rules:\n"
            "  - {id: short, where: {kind: translation}, activity: [upload, prompt], action: warn, groups: [研发]}\n"
            "services:\n  - {id: t, kind: translation, hosts: [t.example]}\n")
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    cat = load_catalog(tmp_path / "c.yaml")
    assert cat.rules[0].access == parse_access({"groups": {"研发": {"upload": "warn", "prompt": "warn"}}}, "t")
    t = cat.service("t.example")
    assert cat.access(t, "upload", Who(user="u", groups=frozenset({"研发"}))) == "warn"
    assert cat.access(t, "upload", Who(user="u")) == "allow"


@pytest.mark.slow
def test_fact_rules_through_the_real_proxy(tmp_path):
    """The 保密办 policy in a real guard proxy: who is in 涉密 comes from the identity map, the
    service's facts from the catalog; the refusal names the rule and shows the facts with their source."""
    import sys

    import bcrypt

    sys.path.insert(0, str(Path(__file__).parent / "e2e"))
    from harness import Proxy
    from upstream import Upstream

    cat = shipped_with(POLICY, tmp_path)
    hashed = {u: bcrypt.hashpw(f"{u}-pw".encode(), bcrypt.gensalt(4)).decode() for u in ("alice", "bob")}
    (tmp_path / "htpasswd").write_text("".join(f"{u}:{h}\n" for u, h in hashed.items()), encoding="utf-8")
    (tmp_path / "identity.yaml").write_text("groups:\n  涉密: [alice]\n", encoding="utf-8")
    chat = {"model": "m", "max_tokens": 64, "messages": [{"role": "user", "content": "请把这段会议纪要整理成三条要点"}]}
    with Upstream() as upstream:
        p = Proxy(tmp_path / "run", upstream, command="guard",
                  extra_args=("--proxyauth", f"@{tmp_path / 'htpasswd'}", "--set", f"guard_catalog={cat.source}",
                              "--set", f"guard_identity={tmp_path / 'identity.yaml'}"))
        try:
            with p.client(auth="bob:bob-pw") as c:
                assert c.post("https://api.anthropic.com/v1/messages", json=chat).status_code == 200
                upload = c.post("https://chatgpt.com/backend-api/files",
                                files={"file": ("周报.txt", "本周完成了装置检修计划".encode(), "text/plain")})
                warned = c.post("https://dashscope.aliyuncs.com/compatible-mode/v1/chat/completions", json=chat)
                coaching = c.get(warned.headers["x-ai-guard-ack"]).text  # the page the warned person opens
            with p.client(auth="alice:alice-pw") as c:
                secret_unit = c.post("https://api.anthropic.com/v1/messages", json=chat)
        finally:
            p.stop()
    assert upload.status_code == 403 and upload.headers["x-ai-guard-action"] == "block"
    assert "access rule training-no-uploads" in upload.text
    assert warned.status_code == 403 and warned.headers["x-ai-guard-action"] == "warn"
    # The coaching page names the rule and shows the facts it keyed on, with their source.
    assert "domestic-filed-warn" in coaching and "生成式AI备案 是" in coaching
    assert "CAC (通义千问)" in coaching
    assert secret_unit.status_code == 403 and secret_unit.headers["x-ai-guard-action"] == "block"
    assert secret_unit.json()["type"] == "error" and "foreign-secret-units" in secret_unit.text
