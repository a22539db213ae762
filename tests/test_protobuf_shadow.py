"""Schema-less protobuf bodies and the LLM-call shapes that make unknown hosts AI traffic."""
import json
from pathlib import Path

import pytest

from guard.adapters import scan_body
from guard.adapters.protobuf import fields
from guard.scanner import Engine
from guard.extract import Context
from guard.proxy.shadow import api_shape

ENGINE = Engine.from_policy_file()
REQUESTS = Path(__file__).resolve().parents[2] / "shared" / "requests"


def varint(x: int) -> bytes:
    out = b""
    while x >= 0x80:
        out += bytes([x & 0x7F | 0x80])
        x >>= 7
    return out + bytes([x])


def ld(field: int, data: bytes) -> bytes:
    return varint(field << 3 | 2) + varint(len(data)) + data


def scan(body: bytes, ctype: str):
    c = Context(ENGINE.policy.limits)
    scan_body(c, body, ctype, {}, "/x")
    return c, ENGINE.decide(c)


@pytest.mark.parametrize("ctype", ["application/proto", "application/x-protobuf", "application/grpc+proto",
                                   "application/connect+proto", "application/grpc-web+proto"])
def test_marked_text_deep_in_a_message_is_found_with_its_path(ctype):
    msg = (varint(1 << 3) + varint(150)                      # a varint field
           + ld(2, ld(7, ld(3, "机密★10年\n某区块开发方案".encode())) + b"\x1d\x00\x00\x80\x3f")
           + ld(4, b"gpt-5"))
    body = msg if ctype in ("application/proto", "application/x-protobuf") else \
        b"\x00" + len(msg).to_bytes(4, "big") + msg
    _, v = scan(body, ctype)
    assert v.action == "block"
    assert any("field 2.7.3" in f.location for f in v.findings)


def test_clean_message_passes_and_shared_frame_reads_as_text():
    _, v = scan(ld(1, "今天天气不错，帮我写首诗".encode()), "application/proto")
    assert v.action == "allow"
    sample = REQUESTS / "connect-protobuf-frame.bin"
    if sample.exists():
        c, v = scan(sample.read_bytes(), "application/connect+proto")
        assert v.action == "allow" and any("field" in a for p in c.out.parts for _, a in p.anchors)


def test_a_file_inside_a_bytes_field_is_extracted():
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("报告.txt", "绝密★长期\n内容")
    _, v = scan(ld(1, ld(9, buf.getvalue())), "application/proto")
    assert v.action == "block"


def test_not_a_message():
    assert fields(b"\x0a\xff\xff") is None       # length past the end
    assert fields(b"\x00\x01") is None           # field number 0
    assert fields(b"\x0b\x01") is None           # a group: not in use
    _, v = scan(b"\xff\xfe garbage \x00 \x01", "application/proto")
    assert v.action in ("allow", "block")        # read as a file by its bytes, never an error


@pytest.mark.parametrize("body, shape", [
    ({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, "openai-chat"),
    ({"model": "claude", "max_tokens": 100, "system": "s", "messages": [{"role": "user", "content": "hi"}]},
     "anthropic"),
    ({"model": "gpt-5", "input": "hi"}, "openai-responses"),
    ({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, "gemini"),
    ({"model": "davinci", "prompt": "hi"}, "completions"),
    ({"action": "next", "messages": [{"author": {"role": "user"}, "content": {"parts": ["hi"]}}]}, "chat-web"),
    ({"prompt": "hi", "chat_session_id": "abc"}, "chat-web"),
    ({"title": "hi", "text": "x"}, None),
    ({"messages": ["not", "objects"]}, None),
    ({"model": "x"}, None),
])
def test_api_shapes(body, shape):
    assert api_shape(json.dumps(body).encode()) == shape


def test_shapes_of_the_shared_request_samples():
    for name in ("openai-chat.json", "anthropic-messages.json", "gemini-generate.json", "deepseek-api.json",
                 "chatgpt-web-conversation.json", "openai-responses.json"):
        f = REQUESTS / name
        if f.exists():
            assert api_shape(f.read_bytes()) is not None, name
    assert api_shape(b"[1, 2]") is None and api_shape(b"not json {") is None
