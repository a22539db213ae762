"""The hash chain as an auditor relies on it (guard/audit/chain.py): the canonical form and the
digests an independent verifier recomputes, the HMAC key taking part in every record and in
head.json, and `verify` naming the first break for any edit, deletion, insertion, reordering or
truncation, also of a trail that was tampered with into something that is not an audit trail
at all (a break, never a traceback)."""
import hashlib
import hmac
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guard.audit import chain
from guard.audit.chain import (GENESIS, canonical, digest, head_mac, head_record, iter_records, load_key, log_files,
                               read_head, record_hash, verify)
from guard.audit.writer import AuditWriter, new_event_id
from guard.errors import AuditError

KEY = b"0123456789abcdef-audit-key"


def rec(i=0, day="2026-12-02", action="allow"):
    return {"event_id": new_event_id(), "ts": f"{day}T08:00:{i % 60:02d}.000Z", "action": action, "rules": [],
            "host": "api.openai.com", "path": "/v1/chat/completions", "client": "10.0.0.5", "user": "张三",
            "body_sha256": "0" * 64, "policy": {"id": "default", "sha256": "x"}}


def trail(d: Path, n: int, key=None, days=("2026-12-02", "2026-12-03")) -> Path:
    """n records written by the real writer, spread over the given days; head.json at the last."""
    w = AuditWriter(d, key)
    for i in range(n):
        w.write(rec(i, days[i * len(days) // n]), durable=i == n - 1)
    w.close()
    return d


def records(d: Path):
    """[(file, line index, record)] in trail order."""
    out = []
    for f in log_files(d):
        for i, line in enumerate(f.read_text(encoding="utf-8").splitlines()):
            out.append((f, i, json.loads(line)))
    return out


def rewrite(f: Path, lines: list[str]) -> None:
    f.write_text("".join(x + "\n" for x in lines), encoding="utf-8")


def dump(r: dict) -> str:
    return json.dumps(r, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- the canonical form and the digests: what an independent verifier recomputes -----------------

def test_canonical_form_is_sorted_compact_utf8_json_without_the_hash():
    r = {"seq": 2, "action": "block", "hash": "ignored", "user": "张三", "rules": [{"id": "x", "count": 1}]}
    assert canonical(r) == '{"action":"block","rules":[{"count":1,"id":"x"}],"seq":2,"user":"张三"}'.encode("utf-8")
    assert record_hash(r) == sha(canonical(r)) == record_hash({**r, "hash": "other"})


def test_a_lone_surrogate_is_written_as_its_escape():
    """Undecodable bytes of a path (decoded with surrogateescape) never make a record unwritable."""
    r = {"path": "/v1/\udcff"}
    assert canonical(r) == b'{"path":"/v1/\\udcff"}'
    assert json.loads(canonical(r)) == r


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=8),
                       st.one_of(st.integers(), st.text(max_size=12), st.none(), st.booleans()), max_size=8),
       st.randoms(use_true_random=False))
def test_the_hash_depends_on_content_not_on_key_order(body, rnd):
    items = list(body.items())
    rnd.shuffle(items)
    assert canonical(dict(items)) == canonical(body)
    expected = json.dumps({k: v for k, v in body.items() if k != "hash"}, sort_keys=True, ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
    assert canonical(body) == expected
    assert record_hash(body) == sha(expected)
    assert record_hash(body, KEY) == hmac.new(KEY, expected, hashlib.sha256).hexdigest() != record_hash(body)


def test_the_key_takes_part_in_every_digest():
    data = b'{"a":1}'
    assert digest(data) == sha(data)
    assert digest(data, KEY) == hmac.new(KEY, data, hashlib.sha256).hexdigest()
    assert digest(data, KEY) != digest(data, KEY + b"x") != digest(data)
    assert record_hash({"a": 1}, KEY) == digest(data, KEY)


def test_head_record_carries_a_mac_only_with_a_key():
    h = "ab" * 32
    assert head_record(7, h) == {"seq": 7, "hash": h}
    mac = hmac.new(KEY, f"head:7:{h}".encode(), hashlib.sha256).hexdigest()
    assert head_mac(7, h, KEY) == mac
    assert head_record(7, h, KEY) == {"seq": 7, "hash": h, "mac": mac}
    assert head_mac(8, h, KEY) != mac and head_mac(7, "cd" * 32, KEY) != mac and head_mac(7, h, KEY[::-1]) != mac


# -- files ---------------------------------------------------------------------------------------

def test_log_files_are_the_trails_files_in_name_order(tmp_path):
    for name in ("audit-2026-12-03.jsonl", "audit-2026-12-02.r1.jsonl", "audit-2026-12-02.jsonl", "head.json",
                 ".head.json.tmp", "audit-2026-12-01.jsonl.bak", "notes.txt", "moved-away"):
        (tmp_path / name).write_text("", encoding="utf-8")
    assert [f.name for f in log_files(tmp_path)] == ["audit-2026-12-02.jsonl", "audit-2026-12-02.r1.jsonl",
                                                      "audit-2026-12-03.jsonl"]



def test_records_are_read_as_utf8_with_their_line_numbers_whatever_the_locale(tmp_path, ascii_locale):
    d = trail(tmp_path, 4)
    (first, second) = log_files(d)
    first.write_text(first.read_text(encoding="utf-8") + "\n  \n", encoding="utf-8")  # blank lines are skipped
    got = list(iter_records(d))
    assert [(f.name, n) for f, n, _ in got] == [(first.name, 1), (first.name, 2), (second.name, 1),
                                               (second.name, 2)]
    assert all(json.loads(line)["user"] == "张三" for _, _, line in got)
    assert verify(d) == (4, None)


def test_head_json_is_read_or_its_problem_named(tmp_path):
    assert read_head(tmp_path) is None
    (tmp_path / "head.json").write_text('{"seq": 3, "hash": "张"}', encoding="utf-8")
    assert read_head(tmp_path) == {"seq": 3, "hash": "张"}
    (tmp_path / "head.json").write_text('{"seq": 3, ', encoding="utf-8")
    with pytest.raises(AuditError, match=r"head\.json: unreadable"):
        read_head(tmp_path)
    with pytest.raises(AuditError, match=r"head\.json: unreadable"):
        verify(tmp_path)
    (tmp_path / "head.json").unlink()
    (tmp_path / "head.json").mkdir()  # an OSError other than "not found"
    with pytest.raises(AuditError, match=r"head\.json: unreadable"):
        read_head(tmp_path)


def test_head_json_is_utf8_whatever_the_locale(tmp_path, ascii_locale):
    (tmp_path / "head.json").write_text('{"seq": 3, "hash": "张"}', encoding="utf-8")
    assert read_head(tmp_path) == {"seq": 3, "hash": "张"}


# -- the HMAC key file ---------------------------------------------------------------------------

def test_key_file(tmp_path):
    assert load_key(None) is None and load_key("") is None
    f = tmp_path / "key"
    f.write_bytes(b"k" * 16 + b"\n")  # keygen and editors end the file with a newline: not part of the key
    assert load_key(str(f)) == b"k" * 16
    f.write_bytes(b"  " + b"k" * 15 + b"\n\n")
    with pytest.raises(AuditError, match="shorter than 16 bytes"):
        load_key(str(f))
    with pytest.raises(AuditError, match=r"^" + str(tmp_path / "nope") + ": cannot read HMAC key: No such file"):
        load_key(str(tmp_path / "nope"))


# -- verify: any change to the trail is the first break named ------------------------------------

def test_an_intact_trail_verifies_with_its_key_and_only_with_it(tmp_path):
    d = trail(tmp_path, 5, KEY)
    assert verify(d, KEY) == (5, None)
    count, broken = verify(d, KEY[:-1] + b"!")
    assert count == 0 and broken.startswith(f"audit-2026-12-02.jsonl:1: event {records(d)[0][2]['event_id']}: "
                                            "hash mismatch")
    count, broken = verify(d)  # the hashes are HMACs: a plain SHA-256 does not match them
    assert count == 0 and "hash mismatch" in broken


def test_a_missing_directory_is_an_error(tmp_path):
    with pytest.raises(AuditError, match="no such audit directory"):
        verify(tmp_path / "nope")


def test_an_empty_trail_is_intact(tmp_path):
    assert verify(tmp_path) == (0, None)
    assert verify(tmp_path, KEY) == (0, None)  # nothing written yet: no head.json to expect


def _tamper_cases(n):
    return st.one_of(
        st.tuples(st.just("edit"), st.integers(0, n - 1), st.sampled_from(["action", "user", "seq", "prev", "ts"])),
        st.tuples(st.just("delete"), st.integers(0, n - 2), st.just("")),
        st.tuples(st.just("swap"), st.integers(0, n - 2), st.just("")),
        st.tuples(st.just("duplicate"), st.integers(0, n - 1), st.just("")),
        st.tuples(st.just("cut"), st.integers(0, n - 1), st.just("")),
    )


N = 6


@settings(derandomize=True, max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_tamper_cases(N), st.booleans())
def test_any_edit_deletion_insertion_reordering_or_cut_is_the_first_break(case, keyed):
    what, i, field = case
    key = KEY if keyed else None
    with tempfile.TemporaryDirectory() as tmp:
        d = trail(Path(tmp), N, key)
        recs = records(d)
        f, line, r = recs[i]
        lines = f.read_text(encoding="utf-8").splitlines()
        where = f"{f.name}:{line + 1}"
        if what == "edit":
            r = dict(r)
            r[field] = {"action": "block", "user": "李四", "seq": r["seq"] + 10, "prev": GENESIS,
                        "ts": "2026-12-01T00:00:00.000Z"}[field]
            lines[line] = dump(r)
            rewrite(f, lines)
            expect = {"action": "hash mismatch (record edited)", "user": "hash mismatch (record edited)",
                      "ts": "hash mismatch (record edited)",
                      "seq": f"sequence {r['seq']} follows {i} (a record was deleted, inserted or reordered)",
                      "prev": "does not chain to the previous record"}[field]
            assert verify(d, key) == (i, f"{where}: event {r['event_id']}: {expect}")
        elif what == "delete":
            nxt = recs[i + 1]
            if nxt[0] == f:
                del lines[line]
                rewrite(f, lines)
                where = f"{f.name}:{line + 1}"
            else:  # the first of the next file follows: it is where the chain breaks
                rewrite(f, lines[:-1])
                where = f"{nxt[0].name}:1"
            assert verify(d, key) == (i, f"{where}: event {nxt[2]['event_id']}: sequence {i + 2} follows {i} "
                                         "(a record was deleted, inserted or reordered)")
        elif what == "swap":
            g, line2, r2 = recs[i + 1]
            if g == f:
                lines[line], lines[line + 1] = lines[line + 1], lines[line]
                rewrite(f, lines)
            else:
                lines2 = g.read_text(encoding="utf-8").splitlines()
                lines[line], lines2[line2] = lines2[line2], lines[line]
                rewrite(f, lines)
                rewrite(g, lines2)
            assert verify(d, key) == (i, f"{where}: event {r2['event_id']}: sequence {i + 2} follows {i} "
                                         "(a record was deleted, inserted or reordered)")
        elif what == "duplicate":
            lines.insert(line + 1, lines[line])
            rewrite(f, lines)
            assert verify(d, key) == (i + 1, f"{f.name}:{line + 2}: event {r['event_id']}: sequence {i + 1} "
                                             f"follows {i + 1} (a record was deleted, inserted or reordered)")
        else:  # cut the trail inside record i: it and everything after it are gone
            raw = f.read_bytes()
            start = sum(len(x.encode("utf-8")) + 1 for x in lines[:line])
            f.write_bytes(raw[:start + 20])
            for g in log_files(d):
                if g.name > f.name:
                    g.unlink()
            assert verify(d, key) == (i, f"{where}: not valid JSON (record edited or truncated)")
            f.write_bytes(raw[:start])  # cut at a line's end: only head.json still knows
            expect = (i, f"log ends at sequence {i} but head.json records {N} (records removed from the end)")
            assert verify(d, key) == expect


def test_records_removed_from_the_end_with_head_json_rewritten_are_found_with_the_key(tmp_path):
    d = trail(tmp_path, 4, KEY)
    (f, g) = log_files(d)
    last = json.loads(g.read_text(encoding="utf-8").splitlines()[-1])
    lines = g.read_text(encoding="utf-8").splitlines()
    rewrite(g, lines[:-1])
    prev = json.loads(lines[-2])
    for forged in ({"seq": 3, "hash": prev["hash"]},  # without the key: no MAC
                   {"seq": 3, "hash": prev["hash"], "mac": head_mac(3, prev["hash"], b"another key 12345")},
                   {"seq": 3, "hash": prev["hash"], "mac": head_mac(4, last["hash"], KEY)},  # the old MAC
                   {"seq": "3", "hash": prev["hash"], "mac": head_mac(3, prev["hash"], KEY)},
                   {"seq": 3, "hash": prev["hash"], "mac": "是" * 64}):
        (d / "head.json").write_text(json.dumps(forged, ensure_ascii=False), encoding="utf-8")
        assert verify(d, KEY) == (3, "head.json's MAC does not match (head.json rewritten: records may be "
                                     "removed from the end)"), forged
    (d / "head.json").unlink()
    assert verify(d, KEY) == (3, "head.json is missing (the end of the log cannot be confirmed)")
    # the writer's own head (it holds the key) is accepted again
    (d / "head.json").write_text(json.dumps(head_record(3, prev["hash"], KEY)), encoding="utf-8")
    assert verify(d, KEY) == (3, None)


def test_a_keyless_trail_may_lack_head_json(tmp_path):
    """Without a key head.json proves nothing (anybody can write it): a trail whose writer died
    before its first group commit has none and is still intact."""
    d = trail(tmp_path, 3)
    (d / "head.json").unlink()
    assert verify(d) == (3, None)


def test_a_forger_without_the_key_cannot_rechain_an_edit(tmp_path):
    d = trail(tmp_path, 3, KEY)
    (f, g) = log_files(d)
    out, prev = [], GENESIS
    for _, _, r in records(d):
        r = {**r, "prev": prev, "action": "allow"}
        r["hash"] = record_hash(r)  # SHA-256: all the forger can compute
        prev = r["hash"]
        out.append(dump(r))
    rewrite(f, out[:1])
    rewrite(g, out[1:])
    (d / "head.json").write_text(json.dumps(head_record(3, prev)), encoding="utf-8")
    assert verify(d) == (3, None)  # a keyless trail cannot tell
    count, broken = verify(d, KEY)
    assert count == 0 and "hash mismatch (record edited)" in broken


def test_head_json_must_name_the_last_record(tmp_path):
    d = trail(tmp_path, 3)
    last = records(d)[-1][2]
    (d / "head.json").write_text(json.dumps({"seq": 3, "hash": "f" * 64}), encoding="utf-8")
    assert verify(d) == (3, "last record (sequence 3) does not match head.json")
    # group commit: records appended after the last head are fine
    (d / "head.json").write_text(json.dumps({"seq": 2, "hash": "f" * 64}), encoding="utf-8")
    assert verify(d) == (3, None)
    (d / "head.json").write_text(json.dumps({"seq": 3, "hash": last["hash"]}), encoding="utf-8")
    assert verify(d) == (3, None)
    (d / "head.json").write_text(json.dumps({"seq": 4, "hash": last["hash"]}), encoding="utf-8")
    assert verify(d) == (3, "log ends at sequence 3 but head.json records 4 (records removed from the end)")


@pytest.mark.parametrize("head, says", [("[4]", "head.json is not a head record"),
                                        ('"x"', "head.json is not a head record"),
                                        ('{"seq": "9", "hash": "x"}', "head.json records no sequence number"),
                                        ("{}", "head.json records no sequence number"),
                                        ('{"hash": "x"}', "head.json records no sequence number")])
def test_a_rewritten_head_json_is_a_break_not_a_crash(tmp_path, head, says):
    d = trail(tmp_path, 3)
    (d / "head.json").write_text(head, encoding="utf-8")
    count, broken = verify(d)
    assert count == 3 and broken.startswith(says)
    if head.startswith("{"):
        count, broken = _keyed_with_head(tmp_path / "k", head)
        assert count == 3 and broken.startswith("head.json's MAC does not match")


def _keyed_with_head(d: Path, head: str):
    trail(d, 3, KEY)
    (d / "head.json").write_text(head, encoding="utf-8")
    return verify(d, KEY)


@pytest.mark.parametrize("line, says", [
    (b'{"seq": 1, "action": "allow", "hash": "\xe5\xbc\xa0\xff"}', "not valid JSON"),   # invalid UTF-8
    (b"[1, 2]", "not an audit record"),
    (b'"hash"', "not an audit record"),
    (b'{"seq": 1, "prev": "' + GENESIS.encode() + b'", "action": "allow"}', "not an audit record"),
    (b'{"seq": 1, "prev": "' + GENESIS.encode() + b'", "hash": "\xe5\xbc\xa0"}', "hash mismatch"),
    (b'{"seq": 1, "prev": "' + GENESIS.encode() + b'", "hash": null}', "hash mismatch"),
    (b'{"seq": 1, "prev": "' + GENESIS.encode() + b'", "hash": "\\udcff"}', "hash mismatch"),
])
def test_a_line_that_is_no_audit_record_is_a_break_not_a_crash(tmp_path, line, says):
    d = trail(tmp_path, 2)
    (f, g) = log_files(d)
    f.write_bytes(line + b"\n")
    count, broken = verify(d)
    assert count == 0 and broken.startswith(f"{f.name}:1: ") and says in broken


def test_blank_lines_are_not_records(tmp_path):
    d = trail(tmp_path, 3)
    f = log_files(d)[0]
    f.write_text("\n" + f.read_text(encoding="utf-8") + "\n\n", encoding="utf-8")
    assert verify(d) == (3, None)
    lines = f.read_text(encoding="utf-8").split("\n")
    r = json.loads(lines[1])
    r["action"] = "block"
    lines[1] = dump(r)
    f.write_text("\n".join(lines), encoding="utf-8")
    assert verify(d) == (0, f"{f.name}:2: event {r['event_id']}: hash mismatch (record edited)")


# -- gap records: what went missing is reported, and a gap cannot hide anything else -------------

def _gap_trail(d: Path, key=None):
    """Three records, the trail removed, two more: the writer's second segment starts with a gap."""
    import shutil

    w = AuditWriter(d, key)
    for i in range(3):
        w.write(rec(i), durable=True)
    shutil.rmtree(d)
    w.write(rec(4), durable=True)
    w.write(rec(5), durable=True)
    w.close()
    return d


def test_a_gap_record_is_reported_and_the_chain_continues(tmp_path):
    d = _gap_trail(tmp_path / "a", KEY)
    (f,) = log_files(d)
    gap = json.loads(f.read_text(encoding="utf-8").splitlines()[0])
    gaps = []
    assert verify(d, KEY, gaps) == (3, None)
    assert gaps == [f"{f.name}:1: records 1..3 missing before {gap['ts']} ({gap['gap']['reason']}); "
                    "the chain continues from sequence 4"]
    assert verify(d, KEY) == (3, None)  # no list to report them in: still intact


def _forge_gap(d: Path, change) -> tuple[Path, dict]:
    (f,) = log_files(d)
    lines = f.read_text(encoding="utf-8").splitlines()
    gap = json.loads(lines[0])
    change(gap)
    gap["hash"] = record_hash(gap)
    lines[0] = dump(gap)
    rewrite(f, lines)
    return f, gap


@pytest.mark.parametrize("change", [
    lambda g: g["gap"].update(last_seq=2),
    lambda g: g["gap"].update(last_seq=None),
    lambda g: g["gap"].update(last_hash="f" * 64),
    lambda g: g.update(gap="vanished"),
    lambda g: g.update(seq="4"),
    lambda g: g.update(seq=None),
    lambda g: g.update(seq=4.0, gap={**g["gap"], "last_seq": 3.0}),
])
def test_a_malformed_gap_record_is_a_break(tmp_path, change):
    d = _gap_trail(tmp_path / "a")
    f, gap = _forge_gap(d, change)
    gaps = []
    assert verify(d, None, gaps) == (0, f"{f.name}:1: event {gap['event_id']}: malformed gap record")
    assert gaps == []


def test_a_gap_cannot_step_back_over_records_still_there(tmp_path):
    """A gap record may only skip forward: one that claims the place of a record already verified
    (to replace the end of the trail) is malformed."""
    d = trail(tmp_path, 3)
    recs = records(d)
    f, line, last = recs[-1]
    second = recs[1][2]
    forged = {**rec(9), "action": "gap", "seq": 3, "prev": second["hash"],
              "gap": {"reason": "x", "last_seq": 2, "last_hash": second["hash"]}}
    forged["hash"] = record_hash(forged)
    lines = f.read_text(encoding="utf-8").splitlines()
    rewrite(f, lines + [dump(forged)])
    assert verify(d) == (3, f"{f.name}:{line + 2}: event {forged['event_id']}: malformed gap record")


def test_a_gap_record_that_chains_normally_is_an_ordinary_record(tmp_path):
    d = trail(tmp_path, 2)
    (f, g) = log_files(d)
    last = records(d)[-1][2]
    gap = {**rec(3), "action": "gap", "seq": 3, "prev": last["hash"],
           "gap": {"reason": "restart", "last_seq": 2, "last_hash": last["hash"]}}
    gap["hash"] = record_hash(gap)
    g.write_text(g.read_text(encoding="utf-8") + dump(gap) + "\n", encoding="utf-8")
    gaps = []
    assert verify(d, None, gaps) == (3, None) and gaps == []


def _append(d: Path, r: dict) -> dict:
    r["hash"] = record_hash(r)
    g = log_files(d)[-1]
    g.write_text(g.read_text(encoding="utf-8") + dump(r) + "\n", encoding="utf-8")
    return r


def test_only_a_gap_record_may_skip_records(tmp_path):
    """An ordinary record carrying a well-formed `gap` field is held to the chain like any other:
    otherwise any record could hide the deletion of those before it."""
    d = trail(tmp_path, 3)
    r = _append(d, {**rec(7), "action": "allow", "seq": 7, "prev": "e" * 64,
                    "gap": {"reason": "x", "last_seq": 6, "last_hash": "e" * 64}})
    gaps = []
    assert verify(d, None, gaps) == (3, f"{log_files(d)[-1].name}:2: event {r['event_id']}: sequence 7 follows 3 "
                                        "(a record was deleted, inserted or reordered)")
    assert gaps == []


def test_a_gap_chains_to_the_record_it_names_even_right_after_another_history(tmp_path):
    """A gap record starts a new segment from the last record it names: when the record before it
    on disk is another one with that sequence number (a trail put back from elsewhere), the gap is
    reported, with the records before it, instead of read as an ordinary record."""
    d = trail(tmp_path, 3)
    gap = _append(d, {**rec(4), "action": "gap", "seq": 4, "prev": "e" * 64,
                      "gap": {"reason": "vanished", "last_seq": 3, "last_hash": "e" * 64}})
    nxt = _append(d, {**rec(5), "seq": 5, "prev": gap["hash"]})
    gaps = []
    assert verify(d, None, gaps) == (5, None)
    assert gaps == [f"{log_files(d)[-1].name}:2: records 4..3 missing before {gap['ts']} (vanished); the chain "
                    "continues from sequence 4"] and nxt["seq"] == 5


def test_records_after_a_gap_are_checked_like_any_other(tmp_path):
    d = _gap_trail(tmp_path / "a", KEY)
    (f,) = log_files(d)
    lines = f.read_text(encoding="utf-8").splitlines()
    r = json.loads(lines[1])
    r["action"] = "block"
    lines[1] = dump(r)
    rewrite(f, lines)
    assert verify(d, KEY) == (1, f"{f.name}:2: event {r['event_id']}: hash mismatch (record edited)")
    del lines[1]
    rewrite(f, lines)
    assert verify(d, KEY)[1].startswith(f"{f.name}:2: event ")
    assert "sequence 6 follows 4" in verify(d, KEY)[1]


def test_the_module_constants_auditors_read():
    assert GENESIS == "0" * 64 and chain.HEAD_FILE == "head.json"
