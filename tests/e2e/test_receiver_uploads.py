"""Uploads in parts, judged as the storage service assembles them (issue 22, family 1).

Each attack goes through a real mitmdump (TLS, --map-remote) to receiver.Receiver, which
assembles parts as the service does; the same flow sent straight to the receiver shows the
marking would be stored (so the test can fail), and a benign control of the same shape goes
through whole."""
from __future__ import annotations

import json

import pytest
from writers import make_docx

MARK = "机密★5年"
CLEAN = "季度工作安排与人员分工"
ORIGIN = {"origin": "https://www.kimi.com"}


def marked() -> bytes:
    return make_docx([CLEAN] * 30, header=MARK)


def clean() -> bytes:
    return make_docx([CLEAN] * 30 + ["另附说明"])


def thirds(data: bytes) -> list[bytes]:
    n = -(-len(data) // 3)
    return [data[i:i + n] for i in range(0, len(data), n)]


# -- flows: (client, url(host, path)) -> statuses; the same flow goes direct or through the guard --
def openai_subset(c, url, doc, tag):
    """The file's parts, then a complete decoy file; part_ids lists only the file's parts."""
    ids, statuses = [], []
    for piece in [*thirds(doc), clean()]:
        r = c.post(url("api.openai.com", f"/v1/uploads/{tag}/parts"), files={"data": ("blob", piece)})
        statuses.append(r.status_code)
        ids.append(r.json().get("id") if r.status_code == 200 else None)
    r = c.post(url("api.openai.com", f"/v1/uploads/{tag}/complete"), json={"part_ids": ids[:3]})
    return [*statuses, r.status_code]


def openai_reordered(c, url, doc, tag):
    """Parts arrive last-first; part_ids puts them in the file's order."""
    pieces = thirds(doc)
    ids, statuses = {}, []
    for i in (2, 0, 1):
        r = c.post(url("api.openai.com", f"/v1/uploads/{tag}/parts"), files={"data": ("blob", pieces[i])})
        statuses.append(r.status_code)
        ids[i] = r.json().get("id") if r.status_code == 200 else None
    r = c.post(url("api.openai.com", f"/v1/uploads/{tag}/complete"), json={"part_ids": [ids[0], ids[1], ids[2]]})
    return [*statuses, r.status_code]


def azure_blocklist(c, url, doc, tag):
    """Blocks put out of order with a complete decoy block; the block list commits the file's
    blocks in order and omits the decoy."""
    pieces, statuses = thirds(doc), []
    base = url("acct.blob.core.windows.net", f"/c/{tag}.docx")
    for bid, piece in (("b2", pieces[2]), ("b0", pieces[0]), ("b1", pieces[1]), ("decoy", clean())):
        statuses.append(c.put(f"{base}?comp=block&blockid={bid}", content=piece, headers=ORIGIN).status_code)
    blocklist = b"<?xml version='1.0'?><BlockList><Latest>b0</Latest><Latest>b1</Latest><Latest>b2</Latest></BlockList>"
    statuses.append(c.put(f"{base}?comp=blocklist", content=blocklist, headers=ORIGIN).status_code)
    return statuses


def s3_resent(c, url, doc, tag):
    """Part 2 sent twice (a retry): the last one is the part."""
    pieces, statuses = thirds(doc), []
    base = url("bucket.oss-cn-beijing.aliyuncs.com", f"/u/{tag}.docx")
    for n, piece in ((1, pieces[0]), (2, b"x" * len(pieces[1])), (2, pieces[1]), (3, pieces[2])):
        statuses.append(c.put(f"{base}?partNumber={n}&uploadId={tag}", content=piece, headers=ORIGIN).status_code)
    done = ("<CompleteMultipartUpload>" + "".join(f"<Part><PartNumber>{n}</PartNumber></Part>" for n in (1, 2, 3))
            + "</CompleteMultipartUpload>").encode()
    statuses.append(c.post(f"{base}?uploadId={tag}", content=done, headers=ORIGIN).status_code)
    return statuses


def whole_form_as_range(c, url, doc, tag):
    """A whole multipart upload with a Content-Range header: not a piece of anything."""
    return [c.post(url("api.openai.com", "/v1/files"), files={"file": (f"{tag}.docx", doc)}, data={"purpose": "assistants"},
                   headers={"content-range": "bytes 0-0/*"}).status_code]


def whole_form_as_goog_chunk(c, url, doc, tag):
    return [c.post(url("generativelanguage.googleapis.com", f"/upload/v1beta/files?upload_id={tag}"),
                   files={"file": (f"{tag}.docx", doc)}, headers={"x-goog-upload-command": "upload, finalize",
                                                                   "x-goog-upload-offset": "0"}).status_code]


def whole_form_as_s3_part(c, url, doc, tag):
    return [c.post(url("api.openai.com", f"/v1/files?uploadId={tag}&partNumber=1"),
                   files={"file": (f"{tag}.docx", doc)}, data={"purpose": "assistants"}).status_code]


ATTACKS = [openai_subset, openai_reordered, azure_blocklist, s3_resent, whole_form_as_goog_chunk,
           whole_form_as_s3_part]


@pytest.mark.parametrize("flow", ATTACKS, ids=[f.__name__ for f in ATTACKS])
def test_parts_assembled_as_the_service_does(guarded, receiver, flow):
    import httpx
    direct = lambda host, path: f"http://127.0.0.1:{receiver.port}{path}"  # noqa: E731
    proxied = lambda host, path: f"https://{host}{path}"  # noqa: E731
    receiver.clear()
    with httpx.Client(timeout=30) as c:
        flow(c, direct, marked(), f"d{flow.__name__}")
    assert receiver.reached(MARK), "the receiver must store the marked file when nothing guards it"
    receiver.clear()
    with guarded.client() as c:
        statuses = flow(c, proxied, marked(), f"m{flow.__name__}")
    assert 403 in statuses and not receiver.reached(MARK), statuses
    receiver.clear()
    with guarded.client() as c:
        statuses = flow(c, proxied, clean(), f"c{flow.__name__}")
    assert statuses == [200] * len(statuses)
    assert receiver.reached("另附说明")  # the benign file was stored whole


def test_content_range_must_describe_the_body(guarded, receiver):
    """A Content-Range that is not one range of this body's length is not an upload step."""
    receiver.clear()
    with guarded.client() as c:
        r = whole_form_as_range(c, lambda h, p: f"https://{h}{p}", marked(), "r1")
    assert r == [403] and not receiver.reached(MARK)


def test_overlapping_chunks_must_agree(guarded, receiver):
    url = "https://files.oaiusercontent.com/file-overlap"
    text = ("前言\n正文第一段\n" + "说明" * 40).encode()
    receiver.clear()
    with guarded.client() as c:
        # A retry of the same bytes is fine...
        a = c.put(url + "a", content=text[:40], headers={"content-range": f"bytes 0-39/{len(text)}"})
        b = c.put(url + "a", content=text[20:], headers={"content-range": f"bytes 20-{len(text) - 1}/{len(text)}"})
        assert (a.status_code, b.status_code) == (200, 200)
        # ...other bytes over the same range are two files, refused.
        evil = text[:20] + MARK.encode() + text[20 + len(MARK.encode()):]
        a = c.put(url + "b", content=text[:40], headers={"content-range": f"bytes 0-39/{len(text)}"})
        b = c.put(url + "b", content=evil[20:], headers={"content-range": f"bytes 20-{len(text) - 1}/{len(text)}"})
        assert b.status_code == 403, b.text


def test_data_field_twice_is_refused(guarded, receiver):
    import io
    body_parts = [("data", ("a", io.BytesIO("你好".encode()))), ("data", ("b", io.BytesIO(b"PK\x03\x04junk")))]
    with guarded.client() as c:
        r = c.post("https://api.openai.com/v1/uploads/twice/parts", files=body_parts)
        assert r.status_code == 403 and "uninspectable" in r.text
        ok = c.post("https://api.openai.com/v1/uploads/once/parts", files={"data": ("a", "你好".encode())})
        assert ok.status_code == 200


def test_a_piece_of_a_file_is_in_the_ledger_as_not_scanned(guarded, receiver):
    with guarded.client() as c:
        piece = thirds(clean())[0]
        r = c.post("https://api.openai.com/v1/uploads/ledger/parts", files={"data": ("blob", piece)})
        assert r.status_code == 200
        event = r.headers.get("x-ai-guard-event")
    recs = [json.loads(line) for f in guarded.audit.glob("*.jsonl") for line in f.read_text(encoding="utf-8").splitlines()]
    rec = [x for x in recs if x.get("path") == "/v1/uploads/ledger/parts"]
    assert rec, "an upload part is audited"
    notes = [n for e in rec[-1].get("ledger", []) for n in e["not_scanned"]]
    assert any(n["reason"] == "part" for n in notes), rec[-1].get("ledger")
    assert event is None or isinstance(event, str)
