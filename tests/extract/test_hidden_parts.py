"""Parts a reader sees that a naive scan does not (issue 22 §3-5): markup inside a marking
resolved as a browser or XML parser would (safely: no external entities, bounded expansion),
files hidden in text (base64, data: URLs, UTF-16 inline data), JSON escapes inside GraphQL and
JSON-RPC bodies, ZIP entries found only in local headers, polyglots, mail with few headers.
Each marked case has a benign control of the same shape that must pass."""
import base64
import io
import json
import struct
import time
import zipfile

import pytest
from carriers import make_docx
from hypothesis import given, settings
from hypothesis import strategies as st
from writers import make_pdf, make_xlsx

from guard.adapters import scan_body
from guard.extract import Context, extract

MARK = "机密★5年"
BENIGN = "设备检修"


def _chat(engine, text: str):
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}, ensure_ascii=False)
    return _body(engine, body.encode())


def _body(engine, body: bytes, ctype: str = "application/json"):
    ctx = Context(engine.policy.limits)
    scan_body(ctx, body, ctype, {}, "/v1/chat/completions")
    return engine.decide(ctx)


# --- markup inside a marking ---------------------------------------------------------------

def _styled(a, b):
    style = "color:#1f2d3d;font-family:'SimSun','宋体',serif;font-size:10.5pt;letter-spacing:0.02em;mso-bidi-font-weight:bold"
    return f'{a}<span class="x-run" style="{style}" data-id="r7">{b}</span>'


MARKUPS = {
    "styled span": _styled,
    "nested spans": lambda a, b: f'<span style="font-weight:bold">{a}<span style="color:red;font-size:12pt;x:y">{b}</span></span>',
    "cdata": lambda a, b: f"{a}<![CDATA[{b}]]>",
    "comment": lambda a, b: f"{a}<!-- 批注：此处无内容 -->{b}",
    "processing instruction": lambda a, b: f'{a}<?mso-application progid="Word.Document"?>{b}',
    "numeric reference": lambda a, b: a + "".join(f"&#{ord(c)};" for c in b),
    "hex reference": lambda a, b: a + "".join(f"&#x{ord(c):x};" for c in b),
    "internal entity": lambda a, b: f'<!DOCTYPE d [<!ENTITY m "{b}">]><d>{a}&m;',
}


@settings(derandomize=True, max_examples=60, deadline=None)
@given(markup=st.sampled_from(sorted(MARKUPS)), split=st.integers(1, len(MARK) - 1),
       where=st.sampled_from(["prompt", "html file", "xml file"]))
def test_markup_inside_a_marking_is_resolved(engine, markup, split, where):
    marked = MARKUPS[markup](MARK[:split], MARK[split:]) + "\n关于设备检修的通知"
    if where == "prompt":
        verdict = _chat(engine, "请润色下面的公文：\n" + marked)
    elif where == "html file":
        verdict = engine.scan_bytes(f"<!DOCTYPE html><html><body><p>{marked}</p></body></html>".encode(), filename="a.html")
    else:
        verdict = engine.scan_bytes(f'<?xml version="1.0"?>\n{marked}'.encode(), filename="a.xml")
    assert verdict.action == "block" and "state-secret.marking" in verdict.rules, (markup, where, verdict.rules)


@pytest.mark.parametrize("markup", sorted(MARKUPS))
def test_markup_around_benign_text_passes(engine, markup):
    assert _chat(engine, "请润色：\n" + MARKUPS[markup]("设备", "检修") + "方案").action == "allow"


def test_external_entities_are_never_fetched(engine, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text(MARK, encoding="utf-8")
    doc = f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]><d>&x;</d>'
    out = extract(doc.encode(), "a.xml")
    assert not any(MARK in p.text for p in out.parts)
    assert engine.scan_text(doc).action == "allow"


@pytest.mark.parametrize("where", ["text", "file"])
def test_entity_expansion_is_bounded(engine, where):
    levels = "".join(f'<!ENTITY e{i} "{("&e%d;" % (i - 1)) * 10}">' for i in range(1, 9))
    bomb = f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e0 "ha">{levels}]><d>{"&e8;" * 20}</d>'
    started = time.monotonic()
    verdict = engine.scan_text(bomb) if where == "text" else engine.scan_bytes(bomb.encode(), filename="b.xml")
    assert time.monotonic() - started < 5
    assert verdict.action in ("allow", "block")


# --- files hidden in text ------------------------------------------------------------------

def _files(mark):
    return {"docx": make_docx([mark, "关于设备检修的通知"]), "pdf": make_pdf([mark, "关于设备检修的通知"]),
            "xlsx": make_xlsx({"Sheet1": [[mark], ["设备检修"]]}), "zip": _zip({"a.txt": f"{mark}\n关于设备检修"})}


def _zip(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in members.items():
            z.writestr(name, text)
    return buf.getvalue()


WRAPS = {
    "prose": lambda b64, mime: f"请帮我总结这个文件的内容：\n{b64}\n谢谢！",
    "wrapped at 76": lambda b64, mime: "附件（base64）：\n" + "\n".join(b64[i:i + 76] for i in range(0, len(b64), 76)),
    "markdown data url": lambda b64, mime: f"看一下这个 [文件](data:{mime};base64,{b64}) 的要点",
    "inline data url": lambda b64, mime: f"文件 data:{mime};base64,{b64} 请总结",
}
MIMES = {"docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "pdf": "application/pdf",
         "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "zip": "application/zip"}


@pytest.mark.parametrize("wrap", sorted(WRAPS))
@pytest.mark.parametrize("kind", sorted(MIMES))
def test_files_hidden_in_prose_are_inspected(engine, kind, wrap):
    b64 = base64.b64encode(_files(MARK)[kind]).decode()
    verdict = _chat(engine, WRAPS[wrap](b64, MIMES[kind]))
    assert verdict.action == "block" and "state-secret.marking" in verdict.rules, verdict.rules
    benign = base64.b64encode(_files("公开")[kind]).decode()
    assert _chat(engine, WRAPS[wrap](benign, MIMES[kind])).action == "allow"


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be-bom", "utf-8-sig"])
def test_inline_text_data_in_utf16_with_a_bom(engine, encoding):
    def enc(text):
        if encoding == "utf-16-be-bom":
            return b"\xfe\xff" + text.encode("utf-16-be")
        return text.encode(encoding)
    for text, expect in ((f"请润色：\n{MARK}\n关于", "block"), ("请润色：\n设备检修方案", "allow")):
        data = base64.b64encode(enc(text)).decode()
        gemini = {"contents": [{"parts": [{"inlineData": {"mimeType": "text/plain", "data": data}}]}]}
        openai = {"model": "gpt-4o", "messages": [{"role": "user", "content": [
            {"type": "file", "file": {"filename": "a.txt", "file_data": f"data:text/plain;base64,{data}"}}]}]}
        for body in (gemini, openai):
            assert _body(engine, json.dumps(body).encode()).action == expect, (body, text)


def test_graphql_string_escapes_are_decoded_before_the_quote_check(engine):
    for text in (f"请润色：\\n{MARK}\\n关于设备检修", "\\u673a\\u5bc6\\u2605\\u0035\\u5e74\\n\\u5173\\u4e8e"):
        query = 'mutation Send { sendMessage(input: {text: "' + text + '"}) { id } }'
        verdict = _body(engine, json.dumps({"query": query, "variables": {}}, ensure_ascii=False).encode())
        assert verdict.action == "block", text
    quoted = 'mutation { sendMessage(text: "什么是\\"机密★5年\\"这种标志？") { id } }'
    assert _body(engine, json.dumps({"query": quoted}, ensure_ascii=False).encode()).action == "allow"


def test_json_rpc_arguments_with_escapes(engine):
    args = json.dumps({"path": "notes.md", "content": f"{MARK}\n关于设备检修"}, ensure_ascii=False)
    for arguments in (args, args[:-3]):  # whole, and cut off (a tolerant reader still reads the strings)
        rpc = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "write_file", "arguments": arguments}}
        assert _body(engine, json.dumps(rpc, ensure_ascii=False).encode()).action == "block", arguments
    benign = json.dumps({"path": "notes.md", "content": "设备检修"}, ensure_ascii=False)
    rpc = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "write_file", "arguments": benign}}
    assert _body(engine, json.dumps(rpc, ensure_ascii=False).encode()).action == "allow"


# --- containers ----------------------------------------------------------------------------

def _drop_from_central_directory(data: bytes, keep: int) -> bytes:
    """The archive with only its first `keep` entries in the central directory: the others
    remain as local headers and data, where streaming readers find them."""
    cd = data.find(b"PK\x01\x02")
    pos = cd
    for _ in range(keep):
        pos = data.find(b"PK\x01\x02", pos + 4)
    end = data.find(b"PK\x05\x06")
    eocd = bytearray(data[end:])
    struct.pack_into("<HHII", eocd, 8, keep, keep, pos - cd, cd)
    return data[:cd] + data[cd:pos] + bytes(eocd)


@pytest.mark.parametrize("hidden", [f"{MARK}\n关于", "设备检修"])
def test_zip_entries_only_in_local_headers_are_read(engine, hidden):
    data = _drop_from_central_directory(_zip({"readme.txt": "季度安排", "hidden.txt": hidden}), keep=1)
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["readme.txt"]
    verdict = engine.scan_bytes(data, filename="a.zip")
    if MARK in hidden:
        assert verdict.action == "block" and any("local header only" in f.location for f in verdict.findings)
    else:
        assert verdict.action == "allow"


def _png() -> bytes:
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), "white").save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("host", ["png", "pdf"])
@pytest.mark.parametrize("name", ["photo.zip", "photo.png", "doc.pdf", None])
def test_polyglots_are_read_as_both(engine, host, name):
    head = _png() if host == "png" else make_pdf(["季度安排"])
    verdict = engine.scan_bytes(head + _zip({"notes.txt": f"{MARK}\n关于"}), filename=name)
    assert verdict.action == "block" and any("#zip" in f.location for f in verdict.findings)
    assert engine.scan_bytes(head + _zip({"notes.txt": "季度安排"}), filename=name).action == "allow"


@pytest.mark.parametrize("body, expect", [(f"{MARK}\n关于设备检修", "block"), ("设备检修方案", "allow")])
def test_mail_with_few_headers_and_a_base64_attachment(engine, body, expect):
    b64 = base64.encodebytes(body.encode("gb18030")).decode()
    raw = ("Content-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=utf-8\n\n见附件。\n"
           "--b1\nContent-Type: text/plain; charset=gb18030\nContent-Disposition: attachment; filename=\"n.txt\"\n"
           f"Content-Transfer-Encoding: base64\n\n{b64}--b1--\n").encode()
    verdict = engine.scan_bytes(raw, filename="fwd.eml")
    assert verdict.action == expect
    if expect == "block":
        assert any("n.txt" in f.location for f in verdict.findings)


# --- multipart parts that lie about their transfer encoding, percent-encoded names ---------

def _multipart(engine, part_headers: str, payload: bytes):
    body = (b"--B\r\nContent-Disposition: form-data; " + part_headers.encode() + b"\r\n\r\n" + payload
            + b"\r\n--B--\r\n")
    return _body(engine, body, "multipart/form-data; boundary=B")


@pytest.mark.parametrize("cte", ["base64", "quoted-printable"])
@pytest.mark.parametrize("field", ['name="file"; filename="a.txt"', 'name="prompt"'])
def test_a_transfer_encoding_that_lies_is_read_both_ways(engine, cte, field):
    headers = f"{field}\r\nContent-Transfer-Encoding: {cte}"
    verdict = _multipart(engine, headers, f"{MARK}\n关于设备检修".encode())
    assert verdict.action == "block" and "state-secret.marking" in verdict.rules, verdict.rules
    assert _multipart(engine, headers, "设备检修方案".encode()).action == "allow"
    honest = base64.encodebytes(f"{MARK}\n关于".encode()) if cte == "base64" else f"{MARK}\n关于".encode()
    assert _multipart(engine, headers, honest).action == "block"


def test_percent_encoded_file_names_are_read_decoded(engine):
    from urllib.parse import quote
    marked = _multipart(engine, f'name="file"; filename="{quote("【机密】方案.docx")}"', b"hello")
    assert marked.action == "block" and any("name" in f.location for f in marked.findings)
    assert _multipart(engine, f'name="file"; filename="{quote("方案.txt")}"', b"hello").action == "allow"


@pytest.mark.parametrize("hostile", [
    "<!ENTITY a 'x'>" + "<!DOCTYPE [" * 20000 + "x" * 100000,   # unclosed internal subsets
    '<!ENTITY a "' * 20000 + "x" * 100000,                         # unclosed entity values
    "<!ENTITY a 'x'>" + "<!-- " * 20000 + "<a " * 20000,            # unclosed comments and tags
    "```py\n" * 20000 + "# x\n" * 1000,                             # unclosed code fences
])
def test_markup_resolution_stays_linear_on_hostile_text(engine, hostile):
    started = time.monotonic()
    engine.scan_text(hostile)
    _chat(engine, hostile)
    assert time.monotonic() - started < 10


def test_english_that_starts_with_query_is_not_graphql(engine):
    """Only a GraphQL document's string literals are syntax; a prompt's quotes stay quotation."""
    assert _chat(engine, 'query: what does "机密★5年" mean in a Chinese document header?').action == "allow"
