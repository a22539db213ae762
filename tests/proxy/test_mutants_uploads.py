"""The upload session store and the recognizer of upload steps (guard/proxy/uploads.py) on their
own: which request is which step of which upload, every byte of an upload accounted for (byte
ranges with holes, overlaps, duplicates and rewrites; numbered parts sent again; named parts and
decoys, in any order), the limits (bytes per upload, number of sessions) failing closed, expiry
to the TTL with a controlled clock, and sessions of different clients and uploads never mixing.
Written to kill the mutants that survived `make mutate guard/proxy/uploads.py` (issue 26); each
test names the behaviour it protects. Generated layouts are checked against a reference model
of the receiver written here independently of the store."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard.errors import ExtractionError, LimitExceeded
from guard.proxy.uploads import MANIFEST_MAX, SPOOL_IN_MEMORY, Ambiguous, Step, UploadSessions, recognize

FAST = settings(derandomize=True, max_examples=150, deadline=None)
HOST = "files.example"


def form(fields: list[tuple[str, bytes]], boundary: str = "XyZb0undary") -> tuple[bytes, str]:
    """A multipart/form-data body as a browser writes it."""
    out = b""
    for name, value in fields:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"f.bin\"\r\n"
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + value + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


# ---------------------------------------------------------------- which request is which step

def test_an_openai_part_is_its_data_field_under_its_upload():
    body, ctype = form([("data", b"PART-ONE bytes")])
    step = recognize("POST", "api.openai.com", "/v1/uploads/upload_Ab-9_z/parts", {}, {"content-type": ctype}, body)
    assert step == Step(("openai", "api.openai.com", "upload_Ab-9_z"), 0, False, b"PART-ONE bytes")
    # a query string does not change which upload it is
    again = recognize("POST", "api.openai.com", "/v1/uploads/upload_Ab-9_z/parts?x=1", {"x": "1"},
                      {"content-type": ctype}, body)
    assert again == step


def test_an_openai_part_without_a_data_field_is_its_whole_body():
    body, ctype = form([("other", b"not the data")])
    assert recognize("POST", "h", "/v1/uploads/u1/parts", {}, {"content-type": ctype}, body).data == body
    raw = b"raw bytes of a part"
    assert recognize("POST", "h", "/v1/uploads/u1/parts", {}, {}, raw).data == raw
    # a form that cannot be split is read whole, not dropped
    broken = b"--XyZb0undary\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\nno end"
    assert recognize("POST", "h", "/v1/uploads/u1/parts", {},
                     {"content-type": "multipart/form-data; boundary=XyZb0undary"}, broken).data == broken


def test_an_openai_part_with_two_data_fields_is_refused_as_corrupt():
    body, ctype = form([("data", b"harmless"), ("data", b"the other file")])
    with pytest.raises(Ambiguous) as e:
        recognize("POST", "h", "/v1/uploads/u1/parts", {}, {"content-type": ctype}, body)
    assert isinstance(e.value, ExtractionError) and e.value.reason == "corrupt"
    assert "more than once" in e.value.detail


@pytest.mark.parametrize("path", ["/v1/uploads/u.1/parts", "/x/v1/uploads/u1/parts", "/v1/uploads/u1/parts/x",
                                  "/v1/uploads/u1/part", "/v1/uploads//parts", "/v2/uploads/u1/parts"])
def test_paths_that_are_not_openai_upload_steps_are_not_read_as_one(path):
    assert recognize("POST", "h", path, {}, {}, b"body") is None


def test_only_a_post_is_an_openai_upload_step():
    assert recognize("PUT", "h", "/v1/uploads/u1/parts", {}, {}, b"x") is None
    assert recognize("GET", "h", "/v1/uploads/u1/complete", {}, {}, b"") is None


def test_an_openai_complete_names_its_parts_in_order():
    body = json.dumps({"part_ids": ["part_b", "part_a", "part_c"], "md5": "x"}).encode()
    step = recognize("POST", "api.openai.com", "/v1/uploads/u1/complete", {}, {}, body)
    assert step == Step(("openai", "api.openai.com", "u1"), 0, True, None, manifest=("part_b", "part_a", "part_c"))


@pytest.mark.parametrize("body", [b"", b"{}", b'{"part_ids": []}', b'{"part_ids": null}', b"[1, 2]", b'"text"'])
def test_an_openai_complete_without_a_list_reads_every_part(body):
    step = recognize("POST", "h", "/v1/uploads/u1/complete", {}, {}, body)
    assert step.final and step.manifest is None and step.data is None


@pytest.mark.parametrize("body", [b"{not json", b'{"part_ids": "part_a"}', b'{"part_ids": ["a", 2]}',
                                  b'{"part_ids": {"a": 1}}'])
def test_an_openai_complete_that_does_not_list_part_ids_is_refused(body):
    with pytest.raises(Ambiguous):
        recognize("POST", "h", "/v1/uploads/u1/complete", {}, {}, body)


def test_a_google_resumable_chunk_is_placed_at_its_offset():
    step = recognize("PUT", "generativelanguage.googleapis.com", "/upload/v1beta/files?upload_id=AB1",
                     {"upload_id": "AB1"}, {"x-goog-upload-command": "upload", "x-goog-upload-offset": " 4096 "},
                     b"chunk")
    assert step == Step(("google", "generativelanguage.googleapis.com", "AB1"), 4096, False, b"chunk", ranged=True)
    last = recognize("POST", "g", "/upload/x", {}, {"x-goog-upload-command": "Upload, Finalize",
                                                   "x-goog-upload-offset": "10"}, b"end")
    assert last == Step(("google", "g", "/upload/x"), 10, True, b"end", ranged=True)  # no upload_id: the path
    first = recognize("POST", "g", "/upload/x?a=b", {"a": "b"}, {"x-goog-upload-command": "UPLOAD"}, b"s")
    assert first.order == 0 and first.key == ("google", "g", "/upload/x") and not first.final


@pytest.mark.parametrize("offset", ["-1", "1e3", "0x10", "", "12 34", "+5", "\u00b2", "1\u00b9"])
def test_a_google_chunk_without_a_byte_offset_is_refused(offset):
    with pytest.raises(Ambiguous):
        recognize("PUT", "g", "/upload/x", {}, {"x-goog-upload-command": "upload", "x-goog-upload-offset": offset}, b"c")


def test_a_google_command_that_is_not_an_upload_is_not_a_chunk():
    assert recognize("POST", "g", "/upload/x", {}, {"x-goog-upload-command": "query"}, b"") is None
    assert recognize("POST", "g", "/upload/x", {}, {"x-goog-upload-command": "start"}, b"{}") is None


def test_an_s3_part_is_filed_under_its_part_number():
    step = recognize("PUT", "b.s3.amazonaws.com", "/dir/key?partNumber=007&uploadId=U",
                     {"partnumber": " 007 ", "uploadid": "U"}, {}, b"part bytes")
    assert step == Step(("s3", "b.s3.amazonaws.com", "/dir/key", "U"), 0, False, b"part bytes", slot="7")


@pytest.mark.parametrize("number", ["", "one", "-1", "1.5", "0x2", "\u00b2"])
def test_an_s3_part_without_a_number_is_refused(number):
    with pytest.raises(Ambiguous):
        recognize("PUT", "b", "/k", {"partnumber": number, "uploadid": "U"}, {}, b"x")


def test_an_s3_complete_lists_part_numbers_in_document_order():
    body = (b'<?xml version="1.0"?><CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            b"<Part><ETag>e3</ETag><PartNumber> 03 </PartNumber></Part>"
            b"<Part><PartNumber>1</PartNumber></Part><Part><PartNumber>2</PartNumber></Part>"
            b"</CompleteMultipartUpload>")
    step = recognize("POST", "b", "/dir/key?uploadId=U", {"uploadid": "U"}, {}, body)
    assert step == Step(("s3", "b", "/dir/key", "U"), 0, True, None, manifest=("3", "1", "2"))


def test_a_part_list_is_read_by_local_names_whatever_the_namespace():
    """The receiver's parser matches local names. A namespace name holding '}' (the parser's own
    separator, so a tag could not be split back) is refused rather than read another way."""
    body = (b'<x:CompleteMultipartUpload xmlns:x="urn:a:b"><x:Part><x:PartNumber>2</x:PartNumber></x:Part>'
            b"<Part><PartNumber>1</PartNumber></Part></x:CompleteMultipartUpload>")
    assert recognize("POST", "b", "/k", {"uploadid": "U"}, {}, body).manifest == ("2", "1")
    body = b'<BlockList xmlns="urn:v}1"><Latest>b9</Latest><Latest xmlns="">b8</Latest></BlockList>'
    with pytest.raises(Ambiguous, match="not XML"):
        recognize("PUT", "a", "/c/f", {"comp": "blocklist"}, {}, body)


@pytest.mark.parametrize("body", [b"", b"   \n", b"<CompleteMultipartUpload/>", b"<a><ETag>x</ETag></a>"])
def test_an_s3_complete_without_part_numbers_reads_every_part(body):
    step = recognize("POST", "b", "/k", {"uploadid": "U"}, {}, body)
    assert step.final and step.manifest is None


@pytest.mark.parametrize("body", [b"<a><PartNumber>x</PartNumber></a>", b"<a><PartNumber></PartNumber></a>",
                                  "<a><PartNumber>\u00b2</PartNumber></a>".encode(),
                                  b"<a><PartNumber>1</a>", b"not xml"])
def test_an_s3_complete_with_an_unreadable_list_is_refused(body):
    with pytest.raises(Ambiguous):
        recognize("POST", "b", "/k", {"uploadid": "U"}, {}, body)


def test_other_s3_requests_of_an_upload_are_not_steps():
    assert recognize("GET", "b", "/k", {"uploadid": "U"}, {}, b"") is None     # list parts
    assert recognize("DELETE", "b", "/k", {"uploadid": "U"}, {}, b"") is None  # abort
    assert recognize("PUT", "b", "/k", {"uploadid": ""}, {}, b"x") is None


def test_an_azure_block_is_filed_under_its_block_id():
    step = recognize("PUT", "a.blob.core.windows.net", "/c/f?comp=block&blockid=QUJD",
                     {"comp": "Block", "blockid": "QUJD%3D%3D"}, {}, b"block")
    assert step == Step(("azure", "a.blob.core.windows.net", "/c/f"), 0, False, b"block", slot="QUJD==")
    assert recognize("PUT", "a", "/c/f", {"comp": "block"}, {}, b"b").slot == ""
    assert recognize("POST", "a", "/c/f", {"comp": "block", "blockid": "x"}, {}, b"b") is None
    assert recognize("PUT", "a", "/c/f", {"comp": "metadata"}, {}, b"b") is None


def test_an_azure_block_list_commits_latest_committed_and_uncommitted_in_order():
    body = (b'<?xml version="1.0" encoding="utf-8"?><BlockList><Latest>b2</Latest><Committed>b0</Committed>'
            b"<Uncommitted> b1 </Uncommitted><Other>zz</Other></BlockList>")
    step = recognize("PUT", "a", "/c/f?comp=blocklist", {"comp": "BlockList"}, {}, body)
    assert step == Step(("azure", "a", "/c/f"), 0, True, None, manifest=("b2", "b0", "b1"))
    assert recognize("PUT", "a", "/c/f", {"comp": "blocklist"}, {}, b"<BlockList/>").manifest is None


def test_a_content_range_chunk_is_placed_at_its_first_byte():
    step = recognize("PUT", "h", "/up/f?x?y", {}, {"content-range": "bytes 3-7/20"}, b"abcde")  # the path ends at the first ?
    assert step == Step(("range", "h", "/up/f"), 3, False, b"abcde", ranged=True, total=20)
    last = recognize("PATCH", "h", "/up/f", {}, {"content-range": " BYTES 15-19/20 "}, b"vwxyz")
    assert last == Step(("range", "h", "/up/f"), 15, True, b"vwxyz", ranged=True, total=20)
    unknown = recognize("POST", "h", "/up/f", {}, {"content-range": "bytes 0-0/*"}, b"a")
    assert unknown == Step(("range", "h", "/up/f"), 0, False, b"a", ranged=True, total=None)


@given(first=st.integers(0, 50), size=st.integers(1, 20), extra=st.integers(-3, 3))
@FAST
def test_a_content_range_chunk_completes_the_upload_when_it_reaches_the_declared_size(first, size, extra):
    last = first + size - 1
    total = max(0, last + 1 + extra)
    step = recognize("PUT", "h", "/f", {}, {"content-range": f"bytes {first}-{last}/{total}"}, b"x" * size)
    assert step.final == (last + 1 >= total)
    assert step.total == total and step.order == first


@pytest.mark.parametrize("rng, body", [("bytes 0-4/10", b"abcd"), ("bytes 0-4/10", b"abcdef"),
                                       ("bytes 5-4/10", b""), ("bytes 4-3/10", b"ab"), ("bytes */10", b""),
                                       ("items 0-4/10", b"abcde"), ("bytes 0-4", b"abcde"),
                                       ("bytes 0-1/2, 4-5/6", b"ab")])
def test_a_content_range_that_is_not_the_bodys_one_byte_range_is_refused(rng, body):
    with pytest.raises(Ambiguous):
        recognize("PUT", "h", "/f", {}, {"content-range": rng}, body)


def test_a_content_range_on_a_read_is_not_an_upload():
    assert recognize("GET", "h", "/f", {}, {"content-range": "bytes 0-4/10"}, b"abcde") is None
    assert recognize("PUT", "h", "/f", {}, {}, b"abcde") is None


# ---------------------------------------------------------------- a reference receiver

def receiver_ranges(chunks: list[tuple[int, bytes]], total: int | None) -> bytes | None:
    """The file byte ranges make, or None when there is none: each byte must be sent (a chunk,
    even an empty one, at offset n says the n bytes before it were), and every chunk that sends
    a byte must send the same value."""
    byte: dict[int, int] = {}
    for at, c in chunks:
        for i, b in enumerate(c):
            if byte.setdefault(at + i, b) != b:
                return None
    size = max(at + len(c) for at, c in chunks)
    if any(i not in byte for i in range(size)) or (total is not None and size != total):
        return None
    return bytes(byte[i] for i in range(size))


def test_a_hole_a_rewrite_and_a_wrong_size_are_each_refused_with_where():
    key = ("range", HOST, "/f")
    cases = [([(0, b"abc"), (4, b"e")], None, "hole at byte 3"),
             ([(0, b"abc"), (1, b"bX")], None, "overlap at byte 1"),
             ([(2, b"Zd"), (0, b"abc")], None, "overlap at byte 2"),
             ([(0, b"abc")], 4, "3 bytes, not the 4 declared"),
             ([(0, b"abc")], 2, "3 bytes, not the 2 declared")]
    for chunks, total, where in cases:
        s = UploadSessions(1 << 20)
        for at, c in chunks:
            s.add("c", Step(key, at, False, c, ranged=True))
        with pytest.raises(Ambiguous, match=where):
            s.assemble("c", Step(key, 0, True, None, ranged=True, total=total))


def test_the_first_chunk_must_start_at_byte_zero():
    s = UploadSessions(1 << 20)
    s.add("c", Step(("range", HOST, "/f"), 1, False, b"bcd", ranged=True))
    with pytest.raises(Ambiguous, match="hole at byte 0"):
        s.assemble("c", Step(("range", HOST, "/f"), 0, True, None, ranged=True))


def test_a_chunk_inside_an_earlier_one_keeps_the_bytes_after_it():
    s = UploadSessions(1 << 20)
    key = ("range", HOST, "/f")
    s.add("c", Step(key, 0, False, b"abcdefgh", ranged=True))
    s.add("c", Step(key, 2, False, b"cd", ranged=True))
    assert s.assemble("c", Step(key, 0, True, None, ranged=True, total=8)) == b"abcdefgh"


# ---------------------------------------------------------------- numbered and named parts

def test_a_part_is_listed_by_the_id_the_service_gave_not_by_its_arrival_slot():
    s = UploadSessions(1 << 20)
    key = ("openai", HOST, "up")
    _, slot = s.add("c", Step(key, 0, False, b"secret"))
    assert slot == "#0"
    # `#0` is the guard's own name for the part: a list naming it names a part the service never saw
    with pytest.raises(Ambiguous):
        s.assemble("c", Step(key, 0, True, None, manifest=("#0",)))


def test_an_id_is_given_only_to_a_part_of_a_live_session():
    s = UploadSessions(1 << 20)
    key = ("openai", HOST, "up")
    s.name("c", key, "#0", "part_a")                  # no session: nothing to name
    _, slot = s.add("c", Step(key, 0, False, b"one"))
    s.name("c", key, "#7", "part_b")                  # no such part
    s.name("other", key, slot, "part_c")              # another client's upload
    with pytest.raises(Ambiguous):
        s.assemble("c", Step(key, 0, True, None, manifest=("part_b",)))
    _, slot = s.add("c", Step(key, 0, False, b"one"))
    with pytest.raises(Ambiguous):
        s.assemble("c", Step(key, 0, True, None, manifest=("part_c",)))
    _, slot = s.add("c", Step(key, 0, False, b"one"))
    s.name("c", key, slot, "part_d")
    assert s.assemble("c", Step(key, 0, True, None, manifest=("part_d",))) == b"one"


def test_without_a_list_unnumbered_parts_keep_arrival_and_numbered_ones_follow_by_number():
    s = UploadSessions(1 << 20)
    key = ("azure", HOST, "/c/f")
    for slot, data in [("10", b"[10]"), ("zz", b"[zz]"), ("9", b"[9]"), ("aa", b"[aa]"), ("1", b"[1]"), ("zz", b"[zz2]")]:
        s.add("c", Step(key, 0, False, data, slot=slot))
    # a block sent again takes its new place in arrival; names that are not numbers sort as 0
    assert s.assemble("c", Step(key, 0, True, None)) == b"[aa][zz2][1][9][10]"


def test_the_completing_requests_own_bytes_are_the_last_part():
    s = UploadSessions(1 << 20)
    key = ("openai", HOST, "up")
    s.add("c", Step(key, 0, False, b"head-"))
    assert s.assemble("c", Step(key, 0, True, b"tail")) == b"head-tail"
    # with nothing sent before, the completing request is the whole upload
    assert s.assemble("c", Step(key, 0, True, b"alone")) == b"alone"


def test_a_completion_without_parts_assembles_nothing_and_ends_the_session():
    s = UploadSessions(1 << 20)
    key = ("s3", HOST, "/k", "U")
    assert s.assemble("c", Step(key, 0, True, None)) == b""
    assert s.assemble("c", Step(key, 0, True, b"")) == b""
    s.add("c", Step(key, 0, False, b"p1", slot="1"))
    assert s.known("c", Step(key, 0, False, None))
    assert s.assemble("c", Step(key, 0, True, None)) == b"p1"
    assert not s.known("c", Step(key, 0, False, None)) and len(s) == 0
    assert s.assemble("c", Step(key, 0, True, None)) == b""  # a second completion has no parts


def test_a_refused_assembly_still_ends_the_session():
    s = UploadSessions(1 << 20)
    key = ("range", HOST, "/f")
    s.add("c", Step(key, 5, False, b"late", ranged=True))
    with pytest.raises(Ambiguous):
        s.assemble("c", Step(key, 0, True, None, ranged=True))
    assert len(s) == 0
    assert s.assemble("c", Step(key, 0, True, b"new", ranged=True)) == b"new"


# ---------------------------------------------------------------- sessions never mix

def test_the_same_upload_id_on_another_host_or_protocol_is_another_session():
    s = UploadSessions(1 << 20)
    s.add("c", Step(("s3", "a", "/k", "U"), 0, False, b"A", slot="1"))
    s.add("c", Step(("s3", "b", "/k", "U"), 0, False, b"B", slot="1"))
    s.add("c", Step(("s3", "a", "/other", "U"), 0, False, b"C", slot="1"))
    assert s.assemble("c", Step(("s3", "b", "/k", "U"), 0, True, None, manifest=("1",))) == b"B"
    assert s.assemble("c", Step(("s3", "a", "/k", "U"), 0, True, None, manifest=("1",))) == b"A"
    assert s.assemble("c", Step(("s3", "a", "/other", "U"), 0, True, None, manifest=("1",))) == b"C"


def test_a_session_is_held_in_memory_up_to_64_kb_and_in_a_file_past_it():
    """1,000 sessions hold at most 64 MB in memory: past 64 KB an upload is in a temporary file."""
    s = UploadSessions(1 << 22)
    key = ("s3", HOST, "/k", "U")
    session, _ = s.add("c", Step(key, 0, False, b"a" * (64 << 10), slot="1"))
    assert SPOOL_IN_MEMORY == 64 << 10 and not session.spool._rolled
    session, _ = s.add("c", Step(key, 0, False, b"b", slot="2"))
    assert session.spool._rolled
    assert s.assemble("c", Step(key, 0, True, None)) == b"a" * (64 << 10) + b"b"


def test_a_new_session_carries_no_earlier_text():
    """The addon reads a part with the end of the part before it (`tail`): a new upload has none."""
    s = UploadSessions(1 << 20)
    session, _ = s.add("c", Step(("openai", HOST, "u"), 0, False, b"x"))
    assert session.tail == b"" and session.size == 1 and session.arrivals == 1
    session.tail = b"end of part one"
    again, _ = s.add("c", Step(("openai", HOST, "u"), 0, False, b"y"))
    assert again is session and again.tail == b"end of part one"
    assert s.add("d", Step(("openai", HOST, "u"), 0, False, b"z"))[0].tail == b""


# ---------------------------------------------------------------- limits fail closed

@given(sizes=st.lists(st.integers(0, 40), min_size=1, max_size=10), limit=st.integers(0, 120))
@FAST
def test_an_upload_is_held_up_to_its_byte_limit_and_refused_and_dropped_past_it(sizes, limit):
    """Every byte received counts, a part sent again too (the spool keeps both): at the limit the
    upload is held, one byte past it the part is refused and the whole upload dropped."""
    s = UploadSessions(limit)
    key = ("s3", HOST, "/k", "U")
    total = 0
    for size in sizes:
        if total + size > limit:
            with pytest.raises(LimitExceeded, match=f"past {limit} bytes"):
                s.add("c", Step(key, 0, False, b"x" * size, slot="1"))
            assert len(s) == 0 and not s.known("c", Step(key, 0, False, None))
            assert s.assemble("c", Step(key, 0, True, None)) == b""
            return
        session, _ = s.add("c", Step(key, 0, False, b"x" * size, slot="1"))
        total += size
        assert session.size == total
    assert s.assemble("c", Step(key, 0, True, None)) == b"x" * sizes[-1]


def test_the_byte_limit_is_per_upload_and_read_when_a_part_arrives():
    s = UploadSessions(10)
    s.add("c", Step(("openai", HOST, "u1"), 0, False, b"x" * 10))
    s.add("c", Step(("openai", HOST, "u2"), 0, False, b"y" * 10))
    s.add("d", Step(("openai", HOST, "u1"), 0, False, b"z" * 10))
    s.max_bytes = 12  # the policy's limit, set by the addon before each part
    s.add("c", Step(("openai", HOST, "u1"), 0, False, b"x" * 2))
    with pytest.raises(LimitExceeded):
        s.assemble("c", Step(("openai", HOST, "u2"), 0, True, b"y" * 3))  # the completing bytes count too
    assert len(s) == 2
    assert s.assemble("c", Step(("openai", HOST, "u1"), 0, True, None)) == b"x" * 12
    assert s.assemble("d", Step(("openai", HOST, "u1"), 0, True, None)) == b"z" * 10


@given(n=st.integers(1, 6), extra=st.integers(0, 4))
@FAST
def test_the_number_of_sessions_is_bounded_and_the_oldest_goes_first(n, extra):
    s = UploadSessions(1 << 20, max_sessions=n)
    for i in range(n + extra):
        s.add(f"10.0.0.{i}", Step(("openai", HOST, "u"), 0, False, b"%d" % i))
        s.add(f"10.0.0.{i}", Step(("openai", HOST, "u"), 0, False, b"+"))  # its own session: no eviction
        assert len(s) == min(i + 1, n)
    for i in range(n + extra):
        got = s.assemble(f"10.0.0.{i}", Step(("openai", HOST, "u"), 0, True, None))
        assert got == (b"" if i < extra else b"%d+" % i)


def test_a_part_to_a_live_session_never_evicts_one():
    s = UploadSessions(1 << 20, max_sessions=2)
    s.add("a", Step(("openai", HOST, "u"), 0, False, b"a"))
    s.add("b", Step(("openai", HOST, "u"), 0, False, b"b"))
    for _ in range(3):
        s.add("a", Step(("openai", HOST, "u"), 0, False, b"a"))
    assert len(s) == 2
    assert s.assemble("b", Step(("openai", HOST, "u"), 0, True, None)) == b"b"


def test_discard_and_close_drop_parts_for_good():
    s = UploadSessions(1 << 20)
    key = ("s3", HOST, "/k", "U")
    s.add("c", Step(key, 0, False, b"p", slot="1"))
    s.add("d", Step(key, 0, False, b"q", slot="1"))
    s.discard("c", Step(key, 0, True, None))
    s.discard("c", Step(key, 0, True, None))  # twice: nothing left to drop, no error
    assert len(s) == 1 and s.assemble("c", Step(key, 0, True, None)) == b""
    session, _ = s.add("e", Step(key, 0, False, b"r", slot="1"))
    s.close()
    assert len(s) == 0 and session.spool.closed
    assert s.assemble("d", Step(key, 0, True, None)) == b""


def test_a_dropped_session_closes_its_spool():
    s = UploadSessions(4, max_sessions=1)
    a, _ = s.add("a", Step(("openai", HOST, "u"), 0, False, b"a"))
    b, _ = s.add("b", Step(("openai", HOST, "u"), 0, False, b"b"))  # evicts a
    assert a.spool.closed and not b.spool.closed
    with pytest.raises(LimitExceeded):
        s.add("b", Step(("openai", HOST, "u"), 0, False, b"1234"))
    assert b.spool.closed
    c, _ = s.add("c", Step(("openai", HOST, "u"), 0, False, b"c"))
    s.discard("c", Step(("openai", HOST, "u"), 0, True, None))
    assert c.spool.closed


# ---------------------------------------------------------------- expiry to the instant

def test_a_session_expires_when_idle_longer_than_the_ttl_not_at_it(uploads_clock):
    s = UploadSessions(1 << 20, ttl=100.0)
    key = ("openai", HOST, "u")
    s.add("c", Step(key, 0, False, b"one,"))
    uploads_clock.now += 100.0                                # idle exactly the TTL: still live
    s.add("d", Step(key, 0, False, b"sweep"))
    assert s.known("c", Step(key, 0, False, None))
    s.add("c", Step(key, 0, False, b"two,"))           # touched again at 5100
    uploads_clock.now += 100.0 + 1e-6                          # idle just past the TTL
    s.add("d", Step(key, 0, False, b"sweep"))          # d was touched at 5100 too: it goes as well
    assert not s.known("c", Step(key, 0, False, None))
    assert len(s) == 1
    assert s.assemble("c", Step(key, 0, True, None)) == b""
    assert s.assemble("d", Step(key, 0, True, None)) == b"sweep"


def test_an_expired_session_starts_again_empty(uploads_clock):
    s = UploadSessions(1 << 20, ttl=30.0)
    key = ("range", HOST, "/f")
    s.add("c", Step(key, 0, False, b"stale-bytes", ranged=True))
    uploads_clock.now += 31
    session, _ = s.add("c", Step(key, 0, False, b"fresh", ranged=True))
    assert session.size == 5 and session.arrivals == 1 and session.touched == uploads_clock.now
    assert s.assemble("c", Step(key, 0, True, None, ranged=True, total=5)) == b"fresh"


# ---------------------------------------------------------------- what the user and the audit are told

def _refusals():
    data_twice = form([("data", b"a"), ("data", b"b")])
    big = b" " * (MANIFEST_MAX + 1)
    return [
        (("POST", "h", "/v1/uploads/u/parts", {}, {"content-type": data_twice[1]}, data_twice[0]),
         "an upload part with the `data` field more than once"),
        (("POST", "h", "/v1/uploads/u/complete", {}, {}, b"{"), "the request completing the upload is not JSON"),
        (("POST", "h", "/v1/uploads/u/complete", {}, {}, big), "the request completing the upload is too large to read"),
        (("POST", "h", "/v1/uploads/u/complete", {}, {}, b'{"part_ids": [1]}'), "part_ids is not a list of part ids"),
        (("PUT", "g", "/upload/x", {}, {"x-goog-upload-command": "upload", "x-goog-upload-offset": "x"}, b""),
         "X-Goog-Upload-Offset is not a byte offset"),
        (("PUT", "b", "/k", {"uploadid": "U", "partnumber": "x"}, {}, b""), "partNumber is not a number"),
        (("POST", "b", "/k", {"uploadid": "U"}, {}, b"<a><PartNumber>x</PartNumber></a>"),
         "a PartNumber that is not a number"),
        (("POST", "b", "/k", {"uploadid": "U"}, {}, b"<a>"), "the list of parts completing the upload is not XML"),
        (("PUT", "a", "/c/f", {"comp": "blocklist"}, {}, big),
         "the list of parts completing the upload is too large to read"),
        (("PUT", "h", "/f", {}, {"content-range": "bytes 0-1"}, b"ab"), "Content-Range is not one byte range"),
        (("PUT", "h", "/f", {}, {"content-range": "bytes 0-1/9"}, b"abc"),
         "Content-Range does not match the body's length"),
    ]


@pytest.mark.parametrize("request_, detail", _refusals())
def test_a_refused_upload_step_says_why_in_one_line(request_, detail):
    with pytest.raises(Ambiguous) as e:
        recognize(*request_)
    assert (e.value.reason, e.value.detail) == ("corrupt", detail)


def test_a_refused_assembly_says_why_in_one_line():
    s = UploadSessions(1 << 20)
    s.add("c", Step(("openai", HOST, "u"), 0, False, b"x"))
    with pytest.raises(Ambiguous) as e:
        s.assemble("c", Step(("openai", HOST, "u"), 0, True, None, manifest=("nope",)))
    assert (e.value.reason, e.value.detail) == ("corrupt", "the upload lists a part that did not pass through the guard")
    for chunks, total, detail in [([(0, b"ab"), (3, b"d")], None, "the upload has a hole at byte 2"),
                                  ([(0, b"ab"), (1, b"X")], None, "chunks overlap at byte 1 with different bytes"),
                                  ([(0, b"ab")], 3, "the upload is 2 bytes, not the 3 declared")]:
        for at, c in chunks:
            s.add("c", Step(("range", HOST, "/f"), at, False, c, ranged=True))
        with pytest.raises(Ambiguous) as e:
            s.assemble("c", Step(("range", HOST, "/f"), 0, True, None, ranged=True, total=total))
        assert (e.value.reason, e.value.detail) == ("corrupt", detail)


def test_an_empty_entry_in_a_block_list_names_no_block():
    body = b"<BlockList><Latest>b1</Latest><Latest/><Committed>  </Committed></BlockList>"
    step = recognize("PUT", "a", "/c/f", {"comp": "blocklist"}, {}, body)
    assert step.manifest == ("b1", "", "")
    s = UploadSessions(1 << 20)
    s.add("c", Step(step.key, 0, False, b"one", slot="b1"))
    s.add("c", Step(step.key, 0, False, b"nameless"))  # a block without an id is the guard's `#1`
    with pytest.raises(Ambiguous):
        s.assemble("c", step)


# ---------------------------------------------------------------- generated layouts and large lists (slower: last)

def test_a_completing_list_is_read_up_to_the_manifest_limit_and_refused_past_it():
    """A list too large to read is refused, not read as "every part in arrival order": that is
    another file than the receiver's (a subset in the list's order), so a marking split across
    two listed parts with an unlisted part between them would never be seen whole."""
    head = b'{"part_ids": ["p1", "p2"], "pad": "'
    body = head + b"x" * (MANIFEST_MAX - len(head) - 2) + b'"}'
    assert len(body) == MANIFEST_MAX
    assert recognize("POST", "h", "/v1/uploads/u1/complete", {}, {}, body).manifest == ("p1", "p2")
    with pytest.raises(Ambiguous, match="too large to read"):
        recognize("POST", "h", "/v1/uploads/u1/complete", {}, {}, body + b" ")
    xml_head = b"<CompleteMultipartUpload><Part><PartNumber>2</PartNumber></Part><!--"
    xml = xml_head + b"x" * (MANIFEST_MAX - len(xml_head) - 29) + b"--></CompleteMultipartUpload>"
    assert len(xml) == MANIFEST_MAX
    assert recognize("POST", "h", "/k", {"uploadid": "u"}, {}, xml).manifest == ("2",)
    for query in ({"uploadid": "u"}, {"comp": "blocklist"}):
        with pytest.raises(Ambiguous, match="too large to read"):
            recognize("POST" if "uploadid" in query else "PUT", "h", "/k", query, {}, xml + b"\n")
    # the largest real lists fit: 50,000 Azure block ids, 10,000 S3 parts with ETags and checksums
    ids = [f"{i:064d}" for i in range(50_000)]
    blocks = "<BlockList>" + "".join(f"<Uncommitted>{b}</Uncommitted>" for b in ids) + "</BlockList>"
    assert recognize("PUT", "h", "/c/f", {"comp": "blocklist"}, {}, blocks.encode()).manifest == tuple(ids)
    parts = "".join(f"<Part><PartNumber>{n}</PartNumber><ETag>&quot;{'e' * 32}&quot;</ETag>"
                    f"<ChecksumSHA256>{'c' * 44}</ChecksumSHA256></Part>" for n in range(1, 10_001))
    xml = f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode()
    assert recognize("POST", "h", "/k", {"uploadid": "u"}, {}, xml).manifest == tuple(map(str, range(1, 10_001)))


@given(chunks=st.lists(st.tuples(st.integers(0, 24), st.binary(max_size=8).map(lambda b: bytes(x % 3 for x in b))),
                       min_size=1, max_size=8),
       declare=st.booleans(), shift=st.integers(-1, 1))
@settings(derandomize=True, max_examples=600, deadline=None)
def test_byte_ranges_make_the_receivers_file_or_are_refused(chunks, declare, shift):
    """Generated chunks at generated offsets, in generated arrival order (holes, overlaps that agree
    or disagree, duplicates, a later chunk rewriting earlier bytes): the assembled file is exactly
    the one every byte of every chunk makes, or the upload is refused."""
    s = UploadSessions(1 << 20)
    key = ("range", HOST, "/f")
    for at, c in chunks:
        s.add("c", Step(key, at, False, c, ranged=True))
    want = receiver_ranges(chunks, None)
    total = None
    if declare and want is not None:
        total = len(want) + shift
        want = want if shift == 0 else None
    final = Step(key, 0, True, None, ranged=True, total=total)
    if not want:
        if want is None:
            with pytest.raises(Ambiguous):
                s.assemble("c", final)
        else:
            assert s.assemble("c", final) == b""
    else:
        assert s.assemble("c", final) == want
    assert len(s) == 0 and not s.known("c", final)


@given(data=st.binary(min_size=2, max_size=200), cuts=st.lists(st.integers(1, 199), max_size=6),
       order=st.randoms(use_true_random=False), dup=st.integers(0, 6))
@FAST
def test_a_file_sent_in_ranges_in_any_order_with_duplicates_is_the_file(data, cuts, order, dup):
    edges = sorted({0, len(data), *(c % len(data) for c in cuts)})
    chunks = [(a, data[a:b]) for a, b in zip(edges, edges[1:])]
    chunks.append(chunks[dup % len(chunks)])  # one chunk sent twice (a retry)
    order.shuffle(chunks)
    *rest, (last_at, last) = chunks
    s = UploadSessions(1 << 20)
    key = ("google", HOST, "up")
    for at, c in rest:
        s.add("c", Step(key, at, False, c, ranged=True))
    # the completing request carries the last chunk itself
    assert s.assemble("c", Step(key, last_at, True, last, ranged=True, total=len(data))) == data


@given(parts=st.lists(st.tuples(st.integers(1, 12), st.binary(max_size=6)), min_size=1, max_size=12),
       listed=st.none() | st.lists(st.integers(1, 13), min_size=1, max_size=8))
@FAST
def test_numbered_parts_make_the_file_the_receiver_commits(parts, listed):
    """S3 multipart: a part number sent again replaces the earlier part; the completing list
    names the parts in its order (a number never sent: refused); with no list, every part by
    number (10 after 9, not after 1)."""
    s = UploadSessions(1 << 20)
    key = ("s3", HOST, "/k", "U")
    held: dict[int, bytes] = {}
    for n, data in parts:
        _, slot = s.add("c", Step(key, 0, False, data, slot=str(n)))
        assert slot == str(n)
        held[n] = data
    final = Step(key, 0, True, None, manifest=None if listed is None else tuple(map(str, listed)))
    if listed is None:
        assert s.assemble("c", final) == b"".join(held[n] for n in sorted(held))
    elif all(n in held for n in listed):
        assert s.assemble("c", final) == b"".join(held[n] for n in listed)
    else:
        with pytest.raises(Ambiguous, match="did not pass through the guard"):
            s.assemble("c", final)


@given(pieces=st.lists(st.binary(max_size=6), min_size=1, max_size=8), decoys=st.lists(st.binary(max_size=6), max_size=3),
       order=st.randoms(use_true_random=False), listed=st.booleans())
@FAST
def test_named_parts_make_the_file_their_ids_list(pieces, decoys, order, listed):
    """OpenAI: the service answers each part with its id; part_ids names the file's parts in
    order; parts that are not listed are not in the file. With no list, every part in arrival."""
    s = UploadSessions(1 << 20)
    key = ("openai", HOST, "up")
    sent = [(f"part_{i}", p) for i, p in enumerate(pieces)] + [(f"decoy_{i}", d) for i, d in enumerate(decoys)]
    order.shuffle(sent)
    for i, (pid, data) in enumerate(sent):
        _, slot = s.add("c", Step(key, 0, False, data))
        assert slot == f"#{i}"  # a part without a number is filed by arrival
        s.name("c", key, slot, pid)
    if listed:
        ids = tuple(f"part_{i}" for i in range(len(pieces)))
        assert s.assemble("c", Step(key, 0, True, None, manifest=ids)) == b"".join(pieces)
    else:
        assert s.assemble("c", Step(key, 0, True, None)) == b"".join(d for _, d in sent)


@given(ops=st.lists(st.tuples(st.sampled_from(["10.0.0.1", "10.0.0.2"]), st.sampled_from(["u1", "u2", "u3"]),
                              st.binary(max_size=5)), min_size=1, max_size=30))
@FAST
def test_parts_of_different_clients_and_uploads_never_mix(ops):
    s = UploadSessions(1 << 20)
    want: dict[tuple, bytes] = {}
    for client, upload, data in ops:
        step = Step(("openai", HOST, upload), 0, False, data)
        s.add(client, step)
        want[client, upload] = want.get((client, upload), b"") + data
    assert len(s) == len(want)
    for client in ("10.0.0.1", "10.0.0.2"):
        for upload in ("u1", "u2", "u3"):
            step = Step(("openai", HOST, upload), 0, True, None)
            assert s.known(client, step) == ((client, upload) in want)
            assert s.assemble(client, step) == want.get((client, upload), b"")


def test_large_uploads_spool_to_a_file_and_come_back_whole():
    s = UploadSessions(1 << 22)
    key = ("s3", HOST, "/k", "U")
    big = [bytes([i]) * (SPOOL_IN_MEMORY // 3 + i) for i in range(5)]
    other = b"small and separate"
    for i, p in enumerate(big):
        session, _ = s.add("c", Step(key, 0, False, p, slot=str(i + 1)))
        s.add("d", Step(key, 0, False, other, slot=str(i + 1)))
    assert s.assemble("c", Step(key, 0, True, None)) == b"".join(big)
    assert s.assemble("d", Step(key, 0, True, None)) == other * 5


def test_the_ttl_and_limits_are_the_constructors(uploads_clock):
    s = UploadSessions(7, max_sessions=3, ttl=12.5)
    assert (s.max_bytes, s.max_sessions, s.ttl) == (7, 3, 12.5)
    d = UploadSessions(7)
    assert (d.max_sessions, d.ttl) == (1000, 3600.0)
    d.add("c", Step(("openai", HOST, "u"), 0, False, b"x"))
    uploads_clock.now += 3600
    d.add("d", Step(("openai", HOST, "u"), 0, False, b"x"))
    assert len(d) == 2
    uploads_clock.now += 0.5
    d.add("d", Step(("openai", HOST, "u"), 0, False, b"x"))
    assert len(d) == 1
    for i in range(1000):
        d.add(str(i), Step(("openai", HOST, "u"), 0, False, b""))
    assert len(d) == 1000
