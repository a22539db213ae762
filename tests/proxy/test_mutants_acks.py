"""The acknowledgement store (guard/proxy/acks.py) on its own, with a controlled clock: what a
warning is bound to (rules, passages, the unreadable item's content), how long an
acknowledgement or a pending submission lasts (to the instant), the caps on its tables, and the
shared directory of several nodes (signed link tokens and files, permissions, one use of an
approval, files tidied by another node). Written to kill the mutants that survived
`make mutate guard/proxy/acks.py` (issue 26); each test names the behaviour it protects."""
import base64
import json
import locale
import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from guard.coaching import Found
from guard.proxy import acks as acks_mod
from guard.proxy.acks import Acknowledgements, Shared, Warning, flagged, read_decision
from guard.types import Finding, Verdict

TTL = 600
KEY = b"k" * 32


class FrozenTime:
    """time.monotonic and time.time stand still until the test moves them."""

    def __init__(self, mono=5_000.0, wall=1_800_000_000.0):
        self.mono, self.wall = mono, wall

    def monotonic(self):
        return self.mono

    def time(self):
        return self.wall

    def advance(self, s: float):
        self.mono += s
        self.wall += s


@pytest.fixture
def clock(monkeypatch):
    c = FrozenTime()
    monkeypatch.setattr(acks_mod, "time", c)
    return c


@pytest.fixture
def umask():
    old = os.umask(0o022)  # the common default: what the code must tighten itself
    yield
    os.umask(old)


def warning(who="10.0.0.7", keys=frozenset({("internal.marking", "d1")}), expires=None, event="evt-1",
            found=(), approval=False, **kw) -> Warning:
    return Warning(event, who, keys, list(found), approval, "OpenAI API", "", "", (),
                   acks_mod.time.monotonic() + TTL if expires is None else expires, **kw)


def finding(rule="internal.marking", digest="d1", location="", action="warn", mode="enforce") -> Finding:
    return Finding(rule, action, "medium", location, "…", mode=mode, digest=digest)


def verdict(*findings, ledger=()) -> Verdict:
    return Verdict("warn", tuple(findings), ledger=tuple(ledger))


def covers(acked: Verdict, retry: Verdict, who="u") -> bool:
    """Does acknowledging the warning `acked` let `retry` pass (the same sender)?"""
    store = Acknowledgements()
    store.acknowledge(warning(who, flagged(acked)), TTL)
    return store.covered(who, flagged(retry))


# --- what a warning is bound to -------------------------------------------------------------

def test_only_enforced_warnings_bind_an_acknowledgement():
    warn = finding("a.rule", "d1")
    assert flagged(verdict(finding("b.rule", "d2", action="block"), warn)) == {("a.rule", "d1")}
    assert flagged(verdict(finding("b.rule", "d2", mode="monitor"), warn)) == {("a.rule", "d1")}
    assert flagged(verdict(finding("b.rule", "d2", action="redact"), finding("c.rule", "d3", mode="exempt"))) == set()


def test_keys_name_the_rules_that_warned():
    # act.py asks the policy whether any of these rules needs an officer (ack: approval)
    many = [finding("bid.price", f"d{i}") for i in range(40)] + [finding("internal.marking", "x")]
    assert {r for r, _ in flagged(verdict(*many))} == {"bid.price", "internal.marking"}


def test_another_passage_of_the_same_rule_is_not_covered():
    assert covers(verdict(finding(digest="p1")), verdict(finding(digest="p1")))
    assert not covers(verdict(finding(digest="p1")), verdict(finding(digest="p2")))
    assert not covers(verdict(finding("a.rule", "p1")), verdict(finding("b.rule", "p1")))


@settings(derandomize=True, max_examples=30, deadline=None)
@given(n=st.integers(1, 3 * acks_mod.MAX_KEYS_PER_RULE), drop=st.integers(1, 5))
def test_passages_per_rule_are_bounded_and_the_same_content_is_covered(n, drop):
    cap = acks_mod.MAX_KEYS_PER_RULE
    passages = [finding(digest=f"{i:032x}") for i in range(n)]
    keys = flagged(verdict(*passages))
    assert len(keys) == (n if n <= cap else 1)  # one combined key past the cap: bounded memory
    assert covers(verdict(*passages), verdict(*reversed(passages)))   # the same content, any order
    fewer = passages[:-drop] if n > drop else []
    if fewer:
        # up to the cap each passage is its own key: a retry with fewer of them is covered;
        # past it the combined key stands for exactly that content
        assert covers(verdict(*passages), verdict(*fewer)) == (n <= cap)
        assert covers(verdict(*fewer), verdict(*passages)) is False


def test_cap_boundary_is_exactly_max_keys_per_rule():
    cap = acks_mod.MAX_KEYS_PER_RULE
    at = [finding(digest=f"{i:032x}") for i in range(cap)]
    assert len(flagged(verdict(*at))) == cap
    assert len(flagged(verdict(*at, finding(digest="f" * 32)))) == 1


def _image(location, sha):
    return {"location": location, "sha256": sha, "name": location.rsplit("/", 1)[-1]}


UNREAD = "uninspectable.limit"


@pytest.mark.parametrize("where", ["a.zip/scan.png", "a.zip/scan.png/page 1", "a.zip/scan.png page 1",
                                   "a.zip/scan.png#image1"])
def test_an_unread_item_is_bound_to_the_innermost_file_holding_it(where):
    # the same scanned image inside another archive: the same content, covered; the ledger lists
    # the archive (a prefix of the image's location) before or after the image
    def v(archive_sha, image_sha, archive_first):
        files = [_image("a.zip", archive_sha), _image("a.zip/scan.png", image_sha)]
        return verdict(finding(UNREAD, "u", where), ledger=files if archive_first else files[::-1])
    for first in (True, False):
        assert covers(v("Z1", "IMG", first), v("Z2", "IMG", first))
        assert not covers(v("Z1", "IMG", first), v("Z1", "OTHER", first))   # another image in the same place


def test_an_unread_item_is_bound_to_its_own_file_not_a_neighbour():
    def v(neighbour, image):
        return verdict(finding(UNREAD, "u", "b.png"),
                       ledger=[_image("longer-name-neighbour.png", neighbour), _image("b.png", image)])
    assert covers(v("N1", "IMG"), v("N2", "IMG"))
    assert not covers(v("N1", "IMG"), v("N1", "OTHER"))


def test_the_request_itself_owns_an_unread_part_at_its_top_level():
    # a ledger entry with no location is the body itself: an unreadable part of it ("", " …", "#…")
    for where in ("", "#image1", " (OCR)"):
        def v(sha):
            return verdict(finding(UNREAD, "u", where), ledger=[{"sha256": sha, "location": ""}])
        assert covers(v("IMG"), v("IMG")) and not covers(v("IMG"), v("OTHER"))
        assert covers(verdict(finding(UNREAD, "u", where), ledger=[{"sha256": "IMG"}]),
                      verdict(finding(UNREAD, "u", where), ledger=[{"sha256": "IMG", "location": None}]))


@pytest.mark.parametrize("ledger", [[], [{"location": "scan.png"}], [{"location": "scan.png", "sha256": ""}],
                                    [{"location": "other.png", "sha256": "IMG"}]])
def test_an_unread_item_without_a_content_digest_is_never_covered(ledger):
    v = verdict(finding(UNREAD, "u", "scan.png"), ledger=ledger)
    assert not covers(v, v)
    assert {r for r, _ in flagged(v)} == {UNREAD}


# --- lifetimes, to the instant --------------------------------------------------------------

@settings(derandomize=True, max_examples=40, deadline=None)
@given(mono=st.floats(-1e6, 1e6, allow_nan=False), keys=st.frozensets(st.tuples(st.text(max_size=3),
                                                                                st.text(max_size=3)), max_size=3))
def test_nothing_acknowledged_covers_nothing_whatever_the_clock_reads(mono, keys):
    # time.monotonic's reference point is undefined: it may read near zero, or below
    saved = acks_mod.time
    acks_mod.time = FrozenTime(mono=mono)
    try:
        assert not Acknowledgements().covered("u", keys)
    finally:
        acks_mod.time = saved


def test_an_acknowledgement_ends_at_its_ttl(clock):
    store, w = Acknowledgements(), warning()
    store.acknowledge(w, TTL)
    clock.advance(TTL - 0.5)
    assert store.covered(w.who, w.keys)
    clock.advance(0.5)
    assert not store.covered(w.who, w.keys)
    assert not Acknowledgements().covered(w.who, w.keys)


def test_a_pending_submission_covers_its_sender_and_passages_until_it_expires(clock):
    store, keys = Acknowledgements(), frozenset({("bid.price", "p1"), ("bid.price", "p2")})
    w = warning("alice", keys, approval=True)
    store.awaiting[w.event_id] = w
    assert store.submitted_for("alice", keys) is w                     # the same passages
    assert store.submitted_for("alice", frozenset({("bid.price", "p1")})) is w   # fewer of them
    assert store.submitted_for("bob", keys) is None                    # another sender
    assert store.submitted_for("alice", keys | {("bid.price", "p3")}) is None  # another passage
    assert store.submitted_for("alice", frozenset()) is None          # nothing flagged: nothing to approve
    clock.advance(TTL - 0.5)
    assert store.submitted_for("alice", keys) is w
    clock.advance(0.5)
    assert store.submitted_for("alice", keys) is None


# --- caps on state --------------------------------------------------------------------------

@pytest.mark.parametrize("table", ["warnings", "acked"])
def test_tables_never_pass_their_cap(monkeypatch, clock, table):
    monkeypatch.setattr(acks_mod, "MAX_ENTRIES", 5)
    store = Acknowledgements()
    for i in range(12):
        w = warning(f"u{i}", frozenset({("r", f"d{i}")}))
        store.issue(w, TTL) if table == "warnings" else store.acknowledge(w, TTL)
        assert len(getattr(store, table)) <= 5
        clock.advance(1)


def test_at_the_cap_expired_acknowledgements_go_before_live_ones(monkeypatch, clock):
    monkeypatch.setattr(acks_mod, "MAX_ENTRIES", 4)
    store = Acknowledgements()
    live = warning("live", frozenset({("r", "live")}))
    store.acknowledge(live, TTL * 10)                      # the oldest, but still valid
    for i in range(3):
        store.acknowledge(warning(f"old{i}", frozenset({("r", f"o{i}")})), 1)
    clock.advance(2)                                       # those three have expired
    store.acknowledge(warning("new", frozenset({("r", "new")})), TTL)
    assert store.covered("live", live.keys) and store.covered("new", frozenset({("r", "new")}))


def test_at_the_cap_links_ending_at_this_instant_go_before_live_ones(monkeypatch, clock):
    # a link is valid while now < its expiry (the page and the link token agree)
    monkeypatch.setattr(acks_mod, "MAX_ENTRIES", 3)
    store = Acknowledgements()
    oldest = store.issue(warning("a"), TTL)
    edge = store.issue(warning("b", expires=clock.monotonic()), TTL)
    gone = store.issue(warning("c", expires=clock.monotonic() - 1), TTL)
    newest = store.issue(warning("d"), TTL)
    assert set(store.warnings) == {oldest, newest}
    assert edge not in store.warnings and gone not in store.warnings


# --- links and acknowledgements shared by several nodes ------------------------------------

def nodes(tmp_path, n=2):
    out = []
    for _ in range(n):
        a = Acknowledgements()
        a.shared = Shared(KEY, tmp_path / "shared")
        out.append(a)
    return out


def test_a_link_opens_on_another_node_with_what_the_warning_showed(tmp_path):
    a, b = nodes(tmp_path)
    fs = [Found("internal.marking", f"内部资料 {i}", "内部**", f"file:报告{i}.docx") for i in range(12)]
    w = Warning("evt-7", "alice", frozenset({("internal.marking", "d1")}), fs, True, "通义千问", "", "", (),
                acks_mod.time.monotonic() + TTL, policy_id="default", policy_sha256="ab" * 32)
    got = b.find(a.issue(w, TTL), "保密办", "why", ["r"])
    assert (got.event_id, got.who, got.keys, got.approval, got.service) == \
        ("evt-7", "alice", w.keys, True, "通义千问")
    assert got.found == fs[:8] and (got.policy_id, got.policy_sha256) == ("default", "ab" * 32)


@settings(derandomize=True, max_examples=30, deadline=None)
@given(event=st.text(min_size=1, max_size=40), who=st.text(max_size=20),
       rules=st.lists(st.text("abcdefghij.", min_size=1, max_size=12), min_size=1, max_size=4),
       found=st.lists(st.tuples(st.text(max_size=12), st.text(max_size=30)), max_size=12),
       approval=st.booleans(), policy=st.tuples(st.text(max_size=8), st.text("0123456789abcdef", max_size=64)))
def test_a_link_issued_on_one_node_opens_on_another_as_issued(tmp_path_factory, event, who, rules, found,
                                                              approval, policy):
    a, b = nodes(tmp_path_factory.mktemp("n"))
    keys = frozenset((r, f"{i:032x}") for i, r in enumerate(rules))
    fs = [Found(r, d, "…" + d[:3], f"file:{i}.txt") for i, (r, d) in enumerate(found)]
    w = Warning(event, who, keys, fs, approval, "通义千问", "a-contact", "a-why", ("a",),
                acks_mod.time.monotonic() + TTL, policy_id=policy[0], policy_sha256=policy[1])
    token = a.issue(w, TTL)
    assert set(token) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")  # no padding
    got = b.find(token, "保密办 8123", "why-b", ["reason-b"])
    assert got is not None
    assert (got.event_id, got.who, got.keys, got.approval, got.service) == (event, who, keys, approval, "通义千问")
    assert got.found == fs[:8]                       # the link carries the first findings only (its length)
    assert (got.policy_id, got.policy_sha256) == policy
    assert (got.contact, got.why, got.reasons) == ("保密办 8123", "why-b", ("reason-b",))  # this node's settings
    assert got.csrf == w.csrf                        # a form served by one node is accepted by the other
    assert TTL - 2 < got.expires - acks_mod.time.monotonic() <= TTL


def test_a_link_is_found_again_as_the_same_warning_on_the_node_that_decoded_it(tmp_path):
    a, b = nodes(tmp_path)
    fs = [Found("r", f"d{i}", "…", f"l{i}") for i in range(12)]
    token = a.issue(warning(found=fs), TTL)
    first = b.find(token, "", "", ())
    first.submitted = True                            # the page on b submitted it for approval
    assert b.find(token, "", "", ()) is first and b.find(token, "", "", ()).submitted
    mine = a.find(token, "", "", ())
    assert mine.found == fs                           # the issuing node keeps every finding


def test_a_node_without_sharing_does_not_know_other_nodes_links(tmp_path):
    (a,) = nodes(tmp_path, 1)
    token = a.issue(warning(), TTL)
    assert token.startswith("s.")
    alone = Acknowledgements()
    assert alone.find(token, "", "", ()) is None
    assert alone.find("s.unknown", "", "", ()) is None


def test_a_local_link_is_random_and_unguessable():
    store = Acknowledgements()
    tokens = {store.issue(warning(), TTL) for _ in range(50)}
    assert len(tokens) == 50 and all(len(base64.urlsafe_b64decode(t + "==")) >= 16 for t in tokens)


def _reseal(token: str, change) -> str:
    _, data, sig = token.split(".")
    p = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
    change(p)
    raw = base64.urlsafe_b64encode(json.dumps(p, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"s.{raw}.{sig}"


@pytest.mark.parametrize("change", [
    lambda p: p.update(x=p["x"] + 86_400),            # a longer life
    lambda p: p.update(w="10.0.0.99"),                # another sender
    lambda p: p.update(k=[["internal.marking", "other"]]),   # other passages
    lambda p: p.update(a=False),                      # an approval rule made a plain warning
])
def test_a_tampered_link_is_refused(tmp_path, change):
    a, b = nodes(tmp_path)
    token = a.issue(warning(approval=True), TTL)
    assert b.find(_reseal(token, lambda p: None), "", "", ()) is not None   # the control: re-encoding alone is fine
    assert b.find(_reseal(token, change), "", "", ()) is None
    other_key = Acknowledgements()
    other_key.shared = Shared(b"x" * 32, tmp_path / "other")
    assert other_key.find(token, "", "", ()) is None


def test_the_confirm_token_is_bound_to_its_link(tmp_path):
    a, _ = nodes(tmp_path)
    w1, w2 = warning(event="e1"), warning(event="e2")
    t1, t2 = a.issue(w1, TTL), a.issue(w2, TTL)
    assert w1.csrf != w2.csrf and w1.csrf == a.shared.csrf(t1) and w1.csrf != t1.split(".")[2]
    assert w2.csrf == Shared(KEY, tmp_path / "shared").csrf(t2)


def test_a_shared_link_dies_at_its_expiry_second(tmp_path, clock):
    a, b = nodes(tmp_path)
    clock.wall = 1_800_000_000.0                     # whole seconds: the link's expiry is exact
    token = a.issue(warning(), TTL)
    clock.advance(TTL - 0.5)
    half = b.find(token, "", "", ())
    assert half is not None and half.expires == pytest.approx(clock.monotonic() + 0.5)
    c, = nodes(tmp_path, 1)
    clock.advance(0.5)
    assert c.find(token, "", "", ()) is None


def test_a_shared_acknowledgement_covers_on_every_node_until_it_expires(tmp_path, clock):
    a, b = nodes(tmp_path)
    w1 = warning("alice", frozenset({("r", "p1")}), event="e1")
    w2 = warning("alice", frozenset({("r", "p2")}), event="e2")
    a.acknowledge(w1, TTL)
    a.acknowledge(w2, TTL)                            # a second warning of the same sender
    assert b.covered("alice", w1.keys) and b.covered("alice", w2.keys) and b.covered("alice", w1.keys | w2.keys)
    assert not b.covered("bob", w1.keys) and not b.covered("alice", frozenset({("r", "p3")}))
    assert not b.covered("alice", frozenset())
    clock.advance(TTL - 1)
    assert b.covered("alice", w1.keys)
    clock.advance(2)
    assert not b.covered("alice", w1.keys) and not b.covered("alice", w2.keys)
    assert not any(p.suffix == ".json" for p in (tmp_path / "shared").rglob("*") if "consumed" not in p.parts)


def test_a_shared_acknowledgement_ends_at_its_expiry_second(tmp_path, clock):
    (a,) = nodes(tmp_path, 1)
    clock.wall = 1_800_000_000.0                      # whole seconds: the recorded expiry is exact
    a.acknowledge(w := warning(), TTL)
    other = Shared(KEY, tmp_path / "shared")
    clock.wall += TTL - 0.5
    assert other.covered(w.who, w.keys)
    clock.wall += 0.5                               # the expiry itself, as in the in-memory table
    assert not other.covered(w.who, w.keys)


def test_a_submission_for_approval_is_not_an_acknowledgement(tmp_path, clock):
    a, b = nodes(tmp_path)
    w = warning("alice", frozenset({("bid.price", "p1"), ("internal.marking", "m1")}), approval=True)
    a.shared.submit(w, TTL)
    assert not b.covered("alice", w.keys)
    assert not b.covered("alice", frozenset({("internal.marking", "m1")}))
    assert b.shared.submitted("alice", w.keys) == [w.event_id]
    assert b.shared.submitted("alice", frozenset({("bid.price", "p1")})) == [w.event_id]
    assert b.shared.submitted("alice", w.keys | {("bid.price", "p2")}) == []
    assert b.shared.submitted("bob", w.keys) == [] and b.shared.submitted("alice", frozenset()) == []
    a.acknowledge(w2 := warning("alice", frozenset({("bid.price", "p1")}), event="e2"), TTL)
    assert b.shared.submitted("alice", w2.keys) == [w.event_id]      # acknowledgements are not submissions
    clock.advance(TTL - 1)
    assert b.shared.submitted("alice", w.keys) == [w.event_id]
    clock.advance(2)
    assert b.shared.submitted("alice", w.keys) == []


def test_unreadable_or_forged_files_in_the_shared_directory_are_skipped(tmp_path, clock):
    a, b = nodes(tmp_path)
    folder = a.shared._folder("alice")
    good = []
    # bad and good files interleaved: whatever order the directory lists them in, a bad one
    # comes before a good one
    for i in range(6):
        a.acknowledge(w := warning("alice", frozenset({("r", f"g{i}")}), event=f"e{i}"), TTL)
        good.append(w)
        (folder / f"bad{i}.json").write_text(["{not json", json.dumps({"entry": '{"k":[],"x":1}', "sig": "forged"}),
                                              json.dumps({"sig": "x"}), "[]", "", "null"][i], encoding="utf-8")
        a.acknowledge(warning("alice", frozenset({("r", f"x{i}")}), event=f"old{i}"), 1)  # expires
    clock.advance(5)
    for w in good:
        assert b.covered("alice", w.keys)


def test_an_expired_file_tidied_by_another_node_at_the_same_time_is_no_error(tmp_path, clock, monkeypatch):
    a, b = nodes(tmp_path)
    a.acknowledge(old := warning("alice", frozenset({("r", "old")}), event="old"), 1)
    a.acknowledge(live := warning("alice", frozenset({("r", "live")}), event="live"), TTL)
    clock.advance(5)
    read = Path.read_text

    def read_then_other_node_tidies(self, *args, **kw):
        text = read(self, *args, **kw)
        if self.name == "old.json":
            self.unlink()
        return text
    monkeypatch.setattr(Path, "read_text", read_then_other_node_tidies)
    assert b.covered("alice", live.keys) and not b.covered("alice", old.keys)


def test_shared_directory_is_private_and_made_with_its_parents(tmp_path, umask):
    d = tmp_path / "not" / "yet" / "there"
    s = Shared(KEY, d)
    s.record(warning("alice"), TTL)
    s.consume("evt-9")
    private = [d, s._folder("alice"), d / "consumed"]
    for p in private:
        assert stat.S_IMODE(p.stat().st_mode) == 0o700, p
    for f in (d / "consumed").iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600


def test_an_approval_is_used_once_across_nodes(tmp_path):
    a, b = nodes(tmp_path)
    assert a.shared.consume("evt-1") is True
    assert b.shared.consume("evt-1") is False and a.shared.consume("evt-1") is False
    assert b.shared.consume("evt-2") is True                 # another approval is its own
    assert len(list((tmp_path / "shared" / "consumed").iterdir())) == 2
    assert not any((tmp_path / "shared").glob("*.json"))     # nothing beside the senders' folders


def test_shared_files_are_written_whole_and_signed(tmp_path):
    (a,) = nodes(tmp_path, 1)
    w = warning("alice", frozenset({("r", "p")}), event="e1")
    a.acknowledge(w, TTL)
    a.acknowledge(w, TTL)                               # the same again: replaced, not duplicated
    folder = a.shared._folder("alice")
    assert sorted(p.name for p in folder.iterdir()) == ["e1.json"]   # no temporary file left
    d = json.loads((folder / "e1.json").read_text(encoding="utf-8"))
    entry = json.loads(d["entry"])
    entry["k"].append(["r", "forged"])
    (folder / "e1.json").write_text(json.dumps({"entry": json.dumps(entry), "sig": d["sig"]}), encoding="utf-8")
    assert not Shared(KEY, tmp_path / "shared").covered("alice", frozenset({("r", "forged")}))


# --- an officer's decision -----------------------------------------------------------------

@pytest.fixture
def audit(tmp_path):
    (tmp_path / "approvals").mkdir()
    return tmp_path


def decide(audit, event, data):
    (audit / "approvals" / f"{event}.json").write_text(
        data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8")


@pytest.mark.parametrize("decision", ["approved", "rejected"])
def test_an_officers_decision_is_read(audit, decision):
    decide(audit, "evt-1", {"decision": decision, "by": "王保密"})
    assert read_decision(str(audit), "evt-1") == {"decision": decision, "by": "王保密"}
    assert read_decision(str(audit), "evt-2") is None              # another event: no decision


@pytest.mark.parametrize("data", [{"decision": "maybe"}, {"by": "x"}, ["approved"], "approved", "{broken",
                                  '"approved"', "null"])
def test_anything_but_a_decision_is_no_decision(audit, data):
    decide(audit, "evt-1", data)
    assert read_decision(str(audit), "evt-1") is None


def test_a_decision_is_read_whatever_the_process_locale(audit):
    decide(audit, "evt-1", {"decision": "approved", "by": "王保密"})
    saved = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")            # an ASCII locale: the file is UTF-8 all the same
    try:
        assert read_decision(str(audit), "evt-1") == {"decision": "approved", "by": "王保密"}
    finally:
        locale.setlocale(locale.LC_CTYPE, saved)
