"""Uploads in parts: decided on the whole file when it completes; a marking split across a
part boundary is still found; parts alone are fragments, not files."""
from __future__ import annotations

import json

import pytest
from writers import make_docx

MARK = "机密★5年"
ORIGIN = {"origin": "https://www.kimi.com"}


def openai(c, parts, tag):
    uid = f"upload_{tag}"
    statuses = [c.post(f"https://api.openai.com/v1/uploads/{uid}/parts", files={"data": ("blob", p)}).status_code
                for p in parts]
    statuses.append(c.post(f"https://api.openai.com/v1/uploads/{uid}/complete", json={"part_ids": []}).status_code)
    return statuses


def gemini(c, parts, tag):
    url = f"https://generativelanguage.googleapis.com/upload/v1beta/files?upload_id={tag}&upload_protocol=resumable"
    statuses, offset = [], 0
    for i, p in enumerate(parts):
        cmd = "upload, finalize" if i == len(parts) - 1 else "upload"
        statuses.append(c.post(url, content=p, headers={"x-goog-upload-command": cmd,
                                                         "x-goog-upload-offset": str(offset)}).status_code)
        offset += len(p)
    return statuses


def s3(c, parts, tag):
    url = f"https://bucket.oss-cn-beijing.aliyuncs.com/uploads/{tag}.bin"
    statuses = [c.put(f"{url}?partNumber={i + 1}&uploadId={tag}", content=p, headers=ORIGIN).status_code
                for i, p in enumerate(parts)]
    statuses.append(c.post(f"{url}?uploadId={tag}", content=b"<CompleteMultipartUpload/>", headers=ORIGIN).status_code)
    return statuses


def azure(c, parts, tag):
    url = f"https://acct.blob.core.windows.net/c/{tag}.bin"
    statuses = [c.put(f"{url}?comp=block&blockid=b{i}", content=p, headers=ORIGIN).status_code
                for i, p in enumerate(parts)]
    statuses.append(c.put(f"{url}?comp=blocklist", content=b"<BlockList/>", headers=ORIGIN).status_code)
    return statuses


def ranges(c, parts, tag):
    url = f"https://files.oaiusercontent.com/file-{tag}"
    total, start, statuses = sum(map(len, parts)), 0, []
    for p in parts:
        statuses.append(c.put(url, content=p, headers={
            "content-range": f"bytes {start}-{start + len(p) - 1}/{total}"}).status_code)
        start += len(p)
    return statuses


PROTOCOLS = [openai, gemini, s3, azure, ranges]


def split(data: bytes, n: int) -> list[bytes]:
    step = -(-len(data) // n)
    return [data[i:i + step] for i in range(0, len(data), step)]


@pytest.mark.parametrize("send", PROTOCOLS, ids=[p.__name__ for p in PROTOCOLS])
def test_marking_split_across_text_parts(proxy, upstream, send):
    text = ("前言\n" + MARK + "\n关于某基地油料储备情况的报告\n").encode()
    cut = text.index(MARK.encode()) + 3  # between 机 and 密
    with proxy.client() as c:
        statuses = send(c, [text[:cut], text[cut:]], f"t{send.__name__}")
    assert statuses[-1] == 403 and 403 in statuses[:-1] + [403]
    assert not any(MARK.encode() in r["body"] for r in upstream.received)


@pytest.mark.parametrize("send", PROTOCOLS, ids=[p.__name__ for p in PROTOCOLS])
def test_document_in_parts_is_decided_whole(proxy, upstream, send):
    marked = make_docx(["季度工作安排"] * 20, header="核心商密▲3年")
    clean = make_docx(["季度工作安排"] * 20)
    def blocks() -> int:  # block records are durable before the 403 leaves
        return sum(1 for f in proxy.audit.glob("*.jsonl") for line in f.read_text(encoding="utf-8").splitlines()
                   if '"action":"block"' in line and "commercial-secret.marking" in line)

    before = blocks()
    with proxy.client() as c:
        statuses = send(c, split(marked, 3), f"m{send.__name__}")
        assert statuses[:-1] == [200] * (len(statuses) - 1)  # fragments of a file are not files
        assert statuses[-1] == 403                           # the whole file is
    assert blocks() == before + 1  # and the decision is in the trail
    with proxy.client() as c:
        statuses = send(c, split(clean, 3), f"c{send.__name__}")
        assert statuses == [200] * len(statuses)


def test_completion_without_its_parts_blocks(proxy):
    with proxy.client() as c:
        r = c.post("https://api.openai.com/v1/uploads/upload_never_seen/complete", json={"part_ids": ["p1"]})
    assert r.status_code == 403 and "uninspectable" in r.text


def test_parts_past_the_size_limit_block(tmp_path, upstream):
    from harness import Proxy

    from guard.policy.loader import DEFAULT_POLICY
    pol = tmp_path / "small.yaml"
    pol.write_text(f"extends: [{DEFAULT_POLICY}]\nlimits: {{max_bytes: 50000}}\n", encoding="utf-8")
    p = Proxy(tmp_path, upstream, policy=pol)
    try:
        with p.client() as c:
            statuses = openai(c, [b"x" * 30000, b"y" * 30000], "big")
        assert statuses[1] == 403 and statuses[2] == 403
    finally:
        p.stop()
    recs = [json.loads(line) for f in p.audit.glob("*.jsonl") for line in f.read_text(encoding="utf-8").splitlines()]
    assert any(r["action"] == "block" and r["rules"][0]["id"] == "uninspectable.limit" for r in recs)


@pytest.mark.parametrize("url", [
    "https://api.openai.com/v1/chat/completions?partNumber=1&uploadId=x",
    "https://api.openai.com/v1/chat/completions?comp=block&blockid=b1",
])
def test_a_request_cannot_hide_behind_upload_parameters(proxy, upstream, url):
    """A whole prompt or a whole file sent as an 'upload part' is read as what it is."""
    from writers import make_docx
    before = len(upstream.received)
    with proxy.client() as c:
        r = c.put(url, json={"messages": [{"role": "user", "content": MARK + "\n关于某项目的报告"}]})
        assert r.status_code == 403, r.text
        r = c.put(url, content=make_docx(["正文"], header=MARK), headers={"content-type": "application/octet-stream"})
        assert r.status_code == 403, r.text
    assert len(upstream.received) == before
