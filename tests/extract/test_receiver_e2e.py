"""Issue 22 §2-5 end to end: each family (charsets, markup inside a marking, document parts and
containers, files hidden in text) sent through a real mitmdump with the guard (TLS
intercepted, every AI host mapped to a loopback receiver) is held (403) when marked, and the
benign control of the same shape reaches the receiver byte for byte."""
import base64
import io
import json
import sys
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))

import carriers  # noqa: E402
from harness import Proxy  # noqa: E402
from upstream import Upstream  # noqa: E402

pytestmark = pytest.mark.slow
MARK = "机密★5年"
CHAT = "https://api.openai.com/v1/chat/completions"
FILES = "https://api.openai.com/v1/files"
GEMINI = "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent"


def _chat_json(text: str) -> bytes:
    return json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}, ensure_ascii=False).encode()


def _zip(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _png() -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), "white").save(buf, "PNG")
    return buf.getvalue()


# Each case: marked text -> (url, body bytes, headers) or (url, files) for an upload.
def _gbk_json(t):
    return CHAT, _chat_json(t).decode().encode("gbk"), {"content-type": "application/json; charset=gbk"}


def _utf16_json(t):
    return CHAT, _chat_json(t).decode().encode("utf-16"), {"content-type": "application/json"}


def _form_charset(t):
    return CHAT, f"_charset_=gbk&prompt={quote(t, encoding='gbk')}".encode(), \
        {"content-type": "application/x-www-form-urlencoded"}


def _utf7_text(t):
    return CHAT, t.encode("utf-7"), {"content-type": "text/plain; charset=utf-7"}


def _styled_span(t):
    style = "color:#1f2d3d;font-family:'SimSun',serif;font-size:10.5pt;letter-spacing:0.02em;mso-bidi-font-weight:bold"
    return CHAT, _chat_json(f'<p>{t[0]}<span style="{style}">{t[1:]}</span></p>'), {"content-type": "application/json"}


def _entity(t):
    return CHAT, _chat_json(f'<!DOCTYPE d [<!ENTITY m "{t[1]}">]><d>{t[0]}&m;{t[2:]}</d>'), {"content-type": "application/json"}


def _b64_docx_in_prose(t):
    doc = carriers.make_docx([t, "关于设备检修的通知"])
    return CHAT, _chat_json("请帮我总结这个文件：\n" + base64.b64encode(doc).decode()), {"content-type": "application/json"}


def _gemini_utf16(t):
    data = base64.b64encode(f"请润色：\n{t}\n关于".encode("utf-16")).decode()
    body = json.dumps({"contents": [{"parts": [{"inlineData": {"mimeType": "text/plain", "data": data}}]}]})
    return GEMINI, body.encode(), {"content-type": "application/json"}


def _graphql(t):
    query = 'mutation { sendMessage(text: "请润色：\\n' + t + '\\n关于设备检修") { id } }'
    return CHAT, json.dumps({"query": query}, ensure_ascii=False).encode(), {"content-type": "application/json"}


def _upload(builder):
    def case(t):
        data, name, _ = builder(t)
        return FILES, {"file": (name, data)}
    case.__name__ = builder.__name__
    return case


def _polyglot(t):
    return FILES, {"file": ("photo.png", _png() + _zip({"notes.txt": f"{t}\n关于"}))}


def _local_header_only(t):
    data = _zip({"readme.txt": "季度安排", "hidden.txt": f"{t}\n关于"})
    cd = data.find(b"PK\x01\x02")
    second = data.find(b"PK\x01\x02", cd + 4)
    end = data.find(b"PK\x05\x06")
    import struct
    eocd = bytearray(data[end:])
    struct.pack_into("<HHII", eocd, 8, 1, 1, second - cd, cd)
    return FILES, {"file": ("a.zip", data[:cd] + data[cd:second] + bytes(eocd))}


CASES = {
    "charset: JSON in GBK": _gbk_json, "charset: JSON in UTF-16": _utf16_json,
    "charset: form _charset_": _form_charset, "charset: UTF-7 text": _utf7_text,
    "markup: styled span": _styled_span, "markup: internal entity": _entity,
    "hidden: base64 docx in prose": _b64_docx_in_prose, "hidden: Gemini UTF-16 inline data": _gemini_utf16,
    "hidden: GraphQL escapes": _graphql,
    "parts: docx numbering label": _upload(carriers.docx_numbering),
    "parts: xlsx sheet name": _upload(carriers.xlsx_sheet_name),
    "parts: xlsx formula literal": _upload(carriers.xlsx_formula),
    "parts: pdf stamp": _upload(carriers.pdf_stamp), "parts: pdf watermark": _upload(carriers.pdf_watermark),
    "parts: few-header mail": _upload(carriers.mail_attachment),
    "containers: PNG+ZIP polyglot": _polyglot, "containers: local-header-only entry": _local_header_only,
}


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    with Upstream() as upstream:
        proxy = Proxy(tmp_path_factory.mktemp("receiver"), upstream)
        try:
            yield proxy, upstream
        finally:
            proxy.stop()


def _send(client, case, text):
    spec = case(text)
    if isinstance(spec[1], dict):
        url, files = spec
        return client.post(url, data={"purpose": "assistants"}, files=files), files["file"][1]
    url, body, headers = spec
    return client.post(url, content=body, headers=headers), body


@pytest.mark.parametrize("family", sorted(CASES))
def test_family_is_held_and_its_benign_control_forwarded(rig, family):
    proxy, upstream = rig
    case = CASES[family]
    with proxy.client() as c:
        r, _ = _send(c, case, MARK)
        assert r.status_code == 403 and r.headers.get("x-ai-guard-action") == "block", (family, r.status_code, r.text[:300])
        benign = "公开" if family.startswith("parts") else "设备检修"
        r, sent = _send(c, case, benign)
        assert r.status_code == 200, (family, r.text[:300])
    path = "/v1beta/models" if "Gemini" in family else ("/v1/files" if family.startswith(("parts", "containers"))
                                                          else "/v1/chat/completions")
    got = upstream.last(path)
    assert got is not None and sent in got["body"]
