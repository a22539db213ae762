"""Pseudonymisation: surrogates, the per-conversation store, restore (whole and streamed), the
policy action and the request rewrite. The proxy end to end is tests/e2e/test_pseudo.py."""
from __future__ import annotations

import gzip
import json
import random
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mitmproxy.test import tflow

from guard.errors import PolicyError
from guard.match.validators import cn_id, luhn, phone
from guard.policy.loader import load_policy_text
from guard.proxy.body import Request, inspect
from guard.proxy.pseudo import SSE, Events, Pseudonyms, _decoded, audit_view, conversation_of
from guard.pseudo import Restorer, Store, canonical
from guard.scanner import Engine

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "policies" / "examples" / "pseudonymise.yaml"
CI = settings(derandomize=True, max_examples=300, deadline=None)


@pytest.fixture(scope="module")
def engine():
    return Engine.from_policy_file(EXAMPLE)


def conversation(reals: list[tuple[str, str, str]], key="k"):
    store = Store()
    conv = store.get(key)
    return store, conv, {r: conv.surrogate(r, kind, label, store.rng, 100) for r, kind, label in reals}


REALS = [("星河乳业", "label", "客户"), ("Acme Robotics", "label", "客户"), ("青鸾计划", "label", "项目"),
         ("13912340000", "cn-mobile", ""), ("110105198803121236", "cn-id", ""),
         ("6222021001123456789", "bank-card", "")]


# -- surrogates ---------------------------------------------------------------------------------
@CI
@given(st.integers(0, 2**32))
def test_surrogates_are_well_formed_and_keep_their_type(seed):
    store, conv, subs = conversation(REALS, key=str(seed))
    assert cn_id(subs["110105198803121236"]) is True          # region, birth date and check digit valid
    assert phone(subs["13912340000"]) is True
    assert luhn(subs["6222021001123456789"]) is True and len(subs["6222021001123456789"]) == 19
    assert subs["星河乳业"].startswith("〔客户") and subs["青鸾计划"].startswith("〔项目")
    assert subs["星河乳业"] != subs["Acme Robotics"]            # two customers, two surrogates
    assert all(s != r for r, s in subs.items())


def test_stable_in_a_conversation_independent_across():
    store = Store()
    a, b = store.get(store.key("alice", "first", "hi")), store.get(store.key("bob", "first", "hi"))
    first = [a.surrogate(f"客户{i}", "label", "客户", store.rng, 100) for i in range(20)]
    again = [a.surrogate(f"客户{i}", "label", "客户", store.rng, 100) for i in range(20)]
    other = [b.surrogate(f"客户{i}", "label", "客户", store.rng, 100) for i in range(20)]
    assert first == again
    assert len(set(first)) == 20
    assert sum(x == y for x, y in zip(first, other)) < 10      # another user: drawn anew
    assert a.surrogate("ACME  robotics", "label", "客户", store.rng, 100) == \
        a.surrogate("acme robotics", "label", "客户", store.rng, 100)  # however it was typed


def test_store_expires_and_is_bounded():
    store = Store(ttl=0.05, max_conversations=3)
    s1 = store.get("a").surrogate("13912340000", "cn-mobile", "", store.rng, 10)
    time.sleep(0.08)
    assert store.get("a", create=False) is None                 # the mapping went with the conversation
    for k in "bcdef":
        store.get(k)
    assert len(store) <= 3
    assert store.get("a").surrogate("13912340000", "cn-mobile", "", store.rng, 10) is not None
    assert s1  # (the old surrogate is unrecoverable: nothing to compare it with but itself)
    many = Store(max_values=10)
    for k in "abcdef":
        conv = many.get(k)
        for i in range(4):
            conv.surrogate(f"{k}{i}", "label", "L", many.rng, 100)
    many.get("g")
    assert many.values <= 10 + 4 and many.get("a", create=False) is None  # oldest forgotten first
    full = Store(max_entries=2).get("x")
    assert [full.surrogate(str(i), "label", "L", random.SystemRandom(), 2) for i in range(3)][2] is None


# -- restore ------------------------------------------------------------------------------------
FILLER = st.lists(st.sampled_from(list("的是在了和好，。 abcXYZ:;!?\n*") + ["客户", "项目"]), max_size=12).map("".join)


def replies(subs):
    """(reply as the model writes it, as the employee must read it)."""
    keys = sorted(subs)
    # Text between two surrogates (two numbers written together are one longer number).
    between = st.lists(st.sampled_from(list("的是，。 a:*\n") + ["客户"]), min_size=1, max_size=6).map("".join)
    return st.lists(st.tuples(between, st.sampled_from(keys)), min_size=1, max_size=5).flatmap(
        lambda items: FILLER.map(lambda tail: (
            "".join(f + subs[r] for f, r in items) + tail, "".join(f + r for f, r in items) + tail)))


_, CONV, SUBS = conversation(REALS)
TABLE = CONV.table()


@CI
@given(replies(SUBS), st.lists(st.integers(0, 400), max_size=8))
def test_exact_echoes_restored_whole_and_in_any_pieces(reply, cuts):
    written, meant = reply
    assert TABLE.restore(written)[0] == meant
    cuts = sorted({c % (len(written) + 1) for c in cuts})
    pieces = [written[a:b] for a, b in zip([0, *cuts], [*cuts, len(written)])]
    r = Restorer(TABLE)
    out = "".join(r.feed(p) for p in pieces) + r.flush()
    assert out == meant


def test_split_at_every_position():
    written = f"请联系{SUBS['星河乳业']}的张经理，电话{SUBS['13912340000']}，证件{SUBS['110105198803121236']}。"
    meant = "请联系星河乳业的张经理，电话13912340000，证件110105198803121236。"
    for k in range(len(written) + 1):
        for j in range(k, len(written) + 1):
            r = Restorer(TABLE)
            assert r.feed(written[:k]) + r.feed(written[k:j]) + r.feed(written[j:]) + r.flush() == meant, (k, j)


@st.composite
def mangled(draw, surrogate: str):
    """A surrogate as a model may echo it: re-cased, spaced out, emphasised, other brackets."""
    out = []
    for c in surrogate:
        c = c.lower() if draw(st.booleans()) else c
        if c in "〔〕":
            c = draw(st.sampled_from({"〔": "〔[【「", "〕": "〕]】」"}[c]))
        out.append(c)
    seps = st.sampled_from(["", "", " ", "  ", "*", "**", "-", "_"])
    text = out[0] + "".join(draw(seps) + c for c in out[1:])
    wrap = draw(st.sampled_from(["", "**", "*", "`"]))
    return wrap + text + wrap


@CI
@given(st.data())
def test_recased_respaced_emphasised_echoes_restored(data):
    real = data.draw(st.sampled_from(sorted(SUBS)))
    written = data.draw(mangled(SUBS[real]))
    before, after = data.draw(FILLER), data.draw(FILLER)
    restored = TABLE.restore(f"{before} {written} {after}")[0]
    assert real in restored, (written, restored)
    cut = data.draw(st.integers(0, len(written)))
    r = Restorer(TABLE)
    assert real in r.feed(f"{before} {written[:cut]}") + r.feed(f"{written[cut:]} {after}") + r.flush()


def test_round_trip_rate_over_generated_replies():
    """The issue's measure: 100% of exact echoes, >= 99% of re-cased / re-spaced ones."""
    rng = random.Random(28)
    exact = perturbed = 0
    n = 2000
    for _ in range(n):
        real = rng.choice(sorted(SUBS))
        s = SUBS[real]
        exact += TABLE.restore(f"好的，{s}。")[0] == f"好的，{real}。"
        sep = rng.choice([" ", "", "*"])
        t = sep.join(c.lower() if rng.random() < 0.5 else c for c in s)
        perturbed += real in TABLE.restore(f"好的，{t}。")[0]
    assert exact == n
    assert perturbed / n >= 0.99


@CI
@given(st.text(max_size=200), st.integers(1, 40))
def test_hold_back_never_exceeds_one_surrogate(text, size):
    r = Restorer(TABLE)
    for i in range(0, len(text), size):
        r.feed(text[i:i + size])
        assert len(r.pending) <= TABLE.hold
        if not r.pending:
            continue
        canon = canonical(r.pending)[0]
        assert canon and any(k.startswith(canon[:1]) for k in TABLE.real_of)  # only a possible start is held


def test_text_without_a_possible_surrogate_is_not_held():
    r = Restorer(TABLE)
    assert r.feed("今天天气很好，适合写报告") == "今天天气很好，适合写报告" and r.pending == ""


def test_numbers_inside_longer_numbers_are_left_alone():
    s = SUBS["13912340000"]
    assert TABLE.restore(f"订单9{s}7")[0] == f"订单9{s}7"


# -- the policy action --------------------------------------------------------------------------
RULE = """
id: t
rules:
  - id: {rid}
    action: pseudonymise
    {extra}
"""


@pytest.mark.parametrize("rid,extra,message", [
    ("state-secret.x", "category: 国家秘密\n    keywords: [机密]", "never pseudonymised"),
    ("x.gap", "on_problem: [encrypted]", "keyword, list and regex"),
    ("x.esc", "keywords: [a]\n    escalate: {count: 3, action: pseudonymise}", "keyword, list and regex"),
])
def test_loader_refuses_pseudonymise_where_it_cannot_hold(rid, extra, message):
    with pytest.raises(PolicyError, match=message):
        load_policy_text(RULE.format(rid=rid, extra=extra))


def test_loader_refuses_pseudonym_without_the_action():
    with pytest.raises(PolicyError, match="pseudonym"):
        load_policy_text("id: t\nrules:\n  - id: a\n    action: warn\n    keywords: [x]\n    pseudonym: 客户\n")


def decide(engine, text: str):
    body = json.dumps({"messages": [{"role": "user", "content": text}]}, ensure_ascii=False).encode()
    return inspect(engine, Request(body, {"content-type": "application/json"}, "/v1/chat/completions"),
                   time.perf_counter()), body


@pytest.mark.parametrize("text,action", [
    ("星河乳业的报价单", "pseudonymise"),
    ("联系人电话13912340000", "pseudonymise"),
    ("机密★5年 星河乳业的报价单", "block"),                               # a marking still blocks
    ("星河乳业 AKIAIOSFODNN7ABCDEFG aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY", "block"),
    ("名单 " + " ".join(["110105198803121236", "110105198803121279", "11010519880312125X",
                        "110105198803121295", "110105198803121316"]), "block"),  # bulk escalates
])
def test_decision_order(engine, text, action):
    (verdict, _, _), _ = decide(engine, text)
    assert verdict.action == action, verdict.rules


def test_request_rewritten_and_audited_as_counts(engine):
    text = "给星河乳业和ACME robotics的报价，联系人13912340000"
    (verdict, parts, _), body = decide(engine, text)
    obj = json.loads(body)
    obj["tools_history"] = json.dumps({"args": "星河乳业"}, ensure_ascii=False)  # JSON text inside JSON
    flow = tflow.tflow()
    flow.request.content = json.dumps(obj, ensure_ascii=False).encode()
    p = Pseudonyms()
    new, why = p.request(flow, "alice", verdict, parts, None, engine.policy)
    assert why == "" and not any(v in new.decode() for v in ("星河乳业", "ACME", "13912340000"))
    audited = json.dumps(audit_view(verdict).to_dict(), ensure_ascii=False)
    assert "星河乳业" not in audited and "〔" not in audited and "pseudonymised" in audited
    again, _ = p.request(flow, "alice", verdict, parts, None, engine.policy)
    assert again == new                                         # same conversation, same surrogates
    other, _ = p.request(flow, "bob", verdict, parts, None, engine.policy)
    assert other != new


def test_conversation_id_from_the_answer_names_the_conversation(engine):
    """ChatGPT web: the first turn has no conversation_id; its answer hands one back, and the next
    turn (which carries it) uses the same surrogates."""
    (verdict, parts, _), body = decide(engine, "星河乳业的报价单")
    p = Pseudonyms()
    first = tflow.tflow()
    first.request.content = body
    new, _ = p.request(first, "alice", verdict, parts, None, engine.policy)
    p.learn("alice", first.metadata["guard_pseudo"].conv, {"conversation_id": "c-42", "message": {}})
    obj = json.loads(body)
    obj["conversation_id"] = "c-42"
    obj["messages"][0]["content"] = "星河乳业的报价单 第二轮"
    second = tflow.tflow()
    second.request.content = json.dumps(obj, ensure_ascii=False).encode()
    again, _ = p.request(second, "alice", verdict, parts, None, engine.policy)
    assert json.loads(new)["messages"][0]["content"] in json.loads(again)["messages"][0]["content"]


def test_value_left_in_a_file_blocks(engine):
    """The prompt's name is swapped, but the same name inside a base64 file would go out: blocked."""
    import base64
    (verdict, parts, _), _ = decide(engine, "x")
    b64 = base64.b64encode("合同：星河乳业 采购 2025 年度报价单 明细如下".encode()).decode()
    body = json.dumps({"messages": [{"role": "user", "content": "星河乳业报价"}],
                       "file": "data:text/plain;base64," + b64}, ensure_ascii=False).encode()
    verdict, parts, _ = inspect(engine, Request(body, {"content-type": "application/json"}, "/v1/chat/completions"),
                                time.perf_counter())
    assert verdict.action == "pseudonymise"
    flow = tflow.tflow()
    flow.request.content = body
    flow.request.headers["content-type"] = "application/json"
    p = Pseudonyms()
    assert p.request(flow, "alice", verdict, parts, None, engine.policy)[0] is not None  # without the check
    new, why = p.request(flow, "alice", verdict, parts, None, engine.policy, engine=engine)
    assert new is None and "left" in why


def test_surrogates_pass_the_check_again(engine):
    (verdict, parts, _), body = decide(engine, "电话13912340000 身份证110105198803121236 星河乳业")
    flow = tflow.tflow()
    flow.request.content = body
    flow.request.headers["content-type"] = "application/json"
    new, why = Pseudonyms().request(flow, "alice", verdict, parts, None, engine.policy, engine=engine)
    assert why == "" and b"13912340000" not in new


def test_value_in_the_url_blocks(engine):
    (verdict, parts, _), body = decide(engine, "星河乳业的报价单")
    flow = tflow.tflow()
    flow.request.content = body
    flow.request.path = "/v1/chat?q=%E6%98%9F%E6%B2%B3%E4%B9%B3%E4%B8%9A"
    new, why = Pseudonyms().request(flow, "alice", verdict, parts, None, engine.policy)
    assert new is None and "impossible" in why


@pytest.mark.parametrize("body,how", [
    ({"conversation_id": "abc", "messages": [{"role": "user", "content": "x"}]}, ("id", "abc")),
    ({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "first"},
                   {"role": "user", "content": "second"}]}, ("first", "first")),
    ({"contents": [{"role": "user", "parts": [{"text": "g"}]}]}, ("first", "g")),
    ({"input": "r"}, ("first", "r")),
    ({"model": "m"}, ("", "")),
])
def test_conversation_identity(body, how):
    assert conversation_of(body) == how


# -- streamed answers ---------------------------------------------------------------------------
def test_anthropic_stream_with_pings_between_pieces():
    s = SUBS["星河乳业"]
    sse = SSE(TABLE)

    def ev(name, obj):
        return f"event: {name}\ndata: {json.dumps(obj, ensure_ascii=False)}\n\n".encode()
    out = b""
    for piece in (s[:2], s[2:]):
        out += sse(ev("content_block_delta", {"type": "content_block_delta", "index": 0,
                                              "delta": {"type": "text_delta", "text": piece}}))
        out += sse(ev("ping", {"type": "ping"}))
    out += sse(ev("content_block_stop", {"type": "content_block_stop", "index": 0})) + sse(b"")
    text = "".join(json.loads(b.split(b"data: ", 1)[1])["delta"]["text"]
                   for b in out.split(b"\n\n") if b"content_block_delta" in b)
    assert text == "星河乳业"


def test_gzip_answer_inflated_and_restored():
    s = SUBS["13912340000"]
    resp = tflow.tresp()
    resp.headers["content-encoding"] = "gzip"
    run = _decoded(SSE(TABLE), "gzip", resp)
    raw = gzip.compress(f"data: {json.dumps({'candidates': [{'content': {'parts': [{'text': s}]}}]})}\n\n".encode())
    out = run(raw[:10]) + run(raw[10:]) + run(b"")
    assert "content-encoding" not in resp.headers and b"13912340000" in out


def test_a_name_with_a_quote_keeps_tool_arguments_valid_json():
    store = Store()
    conv = store.get("q")
    s = conv.surrogate('Acme "Robotics"', "label", "客户", store.rng, 10)
    table = conv.table()
    args = json.dumps({"customer": s, "note": f"call {s}"}, ensure_ascii=False)
    ev = Events(table)
    out = []
    for k in range(0, len(args), 4):  # streamed: OpenAI tool-call argument pieces
        out += ev.event({"choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": args[k:k + 4]}}]}}]})
    out += ev.event({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    text = "".join(t["function"]["arguments"] for o in out for t in o["choices"][0]["delta"].get("tool_calls", []))
    assert json.loads(text) == {"customer": 'Acme "Robotics"', "note": 'call Acme "Robotics"'}
    from guard.proxy.pseudo import restore_json
    whole, n = restore_json(table, {"choices": [{"message": {"content": args}}]})  # structured output
    assert n == 2 and json.loads(whole["choices"][0]["message"]["content"])["customer"] == 'Acme "Robotics"'


def test_websocket_frames_every_text_field_is_a_piece():
    ev = Events(TABLE, every=True)
    s = SUBS["星河乳业"]
    first = ev.event({"event": "appendText", "text": "你好" + s[:3]})
    second = ev.event({"event": "appendText", "text": s[3:]})
    assert first[-1]["text"] == "你好" and second[-1]["text"] == "星河乳业"


def test_hashed_list_terms_pseudonymised_in_an_extending_policy(tmp_path):
    """Terms known to the proxy only as salted hashes (guard hash-terms) are swapped too."""
    import subprocess
    import sys
    (tmp_path / "terms.txt").write_text("青鸾计划\n星河乳业\n", encoding="utf-8")
    subprocess.run([str(Path(sys.executable).parent / "guard"), "hash-terms", "--salt-file", str(tmp_path / "salt"),
                    "--out", str(tmp_path / "terms.hashed"), str(tmp_path / "terms.txt")], check=True,
                   capture_output=True)
    (tmp_path / "terms.txt").unlink()
    (tmp_path / "p.yaml").write_text(f"""id: hashed
extends: [{ROOT / 'policies' / 'default.yaml'}]
lists:
  secret_customers: {{hashed: terms.hashed, salt_file: salt}}
rules:
  - id: custom.hashed-customer
    action: pseudonymise
    pseudonym: 客户
    keywords_from: [secret_customers]
""", encoding="utf-8")
    eng = Engine.from_policy_file(tmp_path / "p.yaml")
    (verdict, parts, _), body = decide(eng, "请帮我给星河乳业写一封邮件，关于青鸾计划")
    assert verdict.action == "pseudonymise"
    flow = tflow.tflow()
    flow.request.content = body
    new, why = Pseudonyms().request(flow, "alice", verdict, parts, None, eng.policy, engine=eng)
    text = json.loads(new)["messages"][0]["content"]
    assert why == "" and "星河乳业" not in text and "青鸾计划" not in text and text.count("〔客户") == 2
