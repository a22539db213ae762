"""Character sets, as the receiver reads them (issue 22 §2): a byte-order mark, the declared
charset (Content-Type parameter, a form's `_charset_`, a multipart part's own Content-Type,
`<meta charset>`, the XML declaration), detection of GB18030/GBK/Big5/UTF-16 in undeclared
text even when it is mostly ASCII, and exotic charsets (UTF-7) decoded rather than read as
UTF-8; a charset nobody can decode blocks as uninspectable. Generated: body shape × charset."""
import json
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard.adapters import scan_body
from guard.extract import Context

SIMPLIFIED = "密级：机密\n关于设备检修的通知"
TRADITIONAL = "密級：機密\n關於設備檢修的通知"
BENIGN = "关于设备检修的通知\n请各部门做好准备"
BENIGN_TRADITIONAL = "關於設備檢修的通知\n請各部門做好準備"
# Python codec, the label a sender writes, and whether the codec can write simplified text.
CHARSETS = [("gb18030", "gb18030", True), ("gbk", "GBK", True), ("gb2312", "gb2312", True),
            ("big5", "big5", False), ("utf-16", "utf-16", True), ("utf-16-le", "utf-16le", True),
            ("utf-32", "utf-32", True), ("utf-7", "utf-7", True), ("utf-8", "utf-8", True)]


def _text_for(codec_simplified: bool, marked: bool) -> str:
    if marked:
        return SIMPLIFIED if codec_simplified else TRADITIONAL
    return BENIGN if codec_simplified else BENIGN_TRADITIONAL


def _decide(engine, body: bytes, content_type: str, path: str = "/v1/chat/completions"):
    ctx = Context(engine.policy.limits)
    scan_body(ctx, body, content_type, {}, path)
    return engine.decide(ctx)


# Each shape: (text, codec, label) -> (body, content type). The shape declares the charset the
# way that kind of body does.
def _json(text, codec, label):
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}, ensure_ascii=False)
    return body.encode(codec), f"application/json; charset={label}"


def _json_bom(text, codec, label):
    body = json.dumps({"contents": [{"parts": [{"text": text}]}]}, ensure_ascii=False)
    data = body.encode(codec)
    if codec in ("utf-16-le",):
        data = b"\xff\xfe" + data
    return data, "application/json"


def _form(text, codec, label):
    return f"model=x&prompt={quote(text, encoding=codec)}".encode("ascii"), \
        f"application/x-www-form-urlencoded; charset={label}"


def _form_charset_field(text, codec, label):
    return f"_charset_={label}&prompt={quote(text, encoding=codec)}".encode("ascii"), "application/x-www-form-urlencoded"


def _multipart_part(text, codec, label):
    body = (b"--B\r\nContent-Disposition: form-data; name=\"prompt\"\r\nContent-Type: text/plain; charset="
            + label.encode() + b"\r\n\r\n" + text.encode(codec) + b"\r\n--B--\r\n")
    return body, "multipart/form-data; boundary=B"


def _multipart_charset_field(text, codec, label):
    body = (b"--B\r\nContent-Disposition: form-data; name=\"_charset_\"\r\n\r\n" + label.encode() + b"\r\n"
            b"--B\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\n" + text.encode(codec) + b"\r\n--B--\r\n")
    return body, "multipart/form-data; boundary=B"


def _text_plain(text, codec, label):
    return text.encode(codec), f"text/plain; charset={label}"


def _html_meta(text, codec, label):
    page = f'<!DOCTYPE html><html><head><meta charset="{label}"><title>t</title></head><body><p>{text}</p></body></html>'
    return page.encode(codec), "application/octet-stream"


def _xml_declaration(text, codec, label):
    doc = f'<?xml version="1.0" encoding="{label}"?><doc><p>{text}</p></doc>'
    return doc.encode(codec), "application/octet-stream"


SHAPES = {"json": _json, "json-bom": _json_bom, "form": _form, "form-_charset_": _form_charset_field,
          "multipart-part": _multipart_part, "multipart-_charset_": _multipart_charset_field,
          "text/plain": _text_plain, "html-meta": _html_meta, "xml-declaration": _xml_declaration}
# Shapes that name no charset in ASCII can only carry ASCII-compatible ones (a UTF-16 page
# cannot declare itself in a meta tag its reader could find), and JSON without a label is
# read by its BOM: UTF-16/32 only.
_ASCII_COMPATIBLE = {"gb18030", "gbk", "gb2312", "big5", "utf-8"}
_ONLY = {"html-meta": _ASCII_COMPATIBLE, "xml-declaration": _ASCII_COMPATIBLE - {"gb2312"},
         "json-bom": {"utf-16", "utf-16-le", "utf-32"}}


def _cases():
    return [(shape, cs) for shape in SHAPES for cs in CHARSETS if cs[0] in _ONLY.get(shape, {cs[0]})]


@settings(derandomize=True, max_examples=120, deadline=None)
@given(case=st.sampled_from(_cases()), marked=st.booleans())
def test_declared_and_bom_charsets_are_honoured(engine, case, marked):
    shape, (codec, label, simplified) = case
    body, ctype = SHAPES[shape](_text_for(simplified, marked), codec, label)
    verdict = _decide(engine, body, ctype)
    if marked:
        assert verdict.action == "block" and "state-secret.field" in verdict.rules, (shape, codec, verdict.rules)
    else:
        assert verdict.action == "allow", (shape, codec, verdict.rules)


@pytest.mark.parametrize("codec, text", [("gb18030", SIMPLIFIED), ("gbk", SIMPLIFIED), ("big5", TRADITIONAL),
                                         ("utf-16-le", SIMPLIFIED), ("utf-16-be", SIMPLIFIED)])
@pytest.mark.parametrize("ascii_share", [0, 200, 5000])
def test_undeclared_text_is_detected_even_when_mostly_ascii(engine, codec, text, ascii_share):
    """A few GBK bytes in an English file are exactly where a marking hides: a lenient UTF-8
    read would turn them into replacement characters."""
    filler = "The quarterly maintenance plan is attached. " * (ascii_share // 45 + 1) if ascii_share else ""
    data = (filler[:ascii_share] + "\n" + text + "\n" + filler[:ascii_share]).encode(codec)
    verdict = engine.scan_bytes(data, filename="notes.txt")
    assert verdict.action == "block" and "state-secret.field" in verdict.rules, verdict.rules
    benign = (filler[:ascii_share] + "\n" + BENIGN + "\n").encode(codec if codec != "big5" else "gb18030")
    assert engine.scan_bytes(benign, filename="notes.txt").action == "allow"


def test_declared_charset_of_an_upload_is_honoured_by_scan_bytes(engine):
    data = SIMPLIFIED.encode("utf-7")
    assert b"\xe6" not in data and data.isascii()  # read as UTF-8 it is harmless-looking ASCII
    verdict = engine.scan_bytes(data, filename="a.txt", content_type="text/plain; charset=utf-7")
    assert verdict.action == "block" and "state-secret.field" in verdict.rules


def test_undeclared_utf7_text_is_decoded(engine):
    """Text in UTF-7 with no label: the shifted runs are decoded when they read as Chinese."""
    verdict = engine.scan_text("请润色：\n" + "机密★5年".encode("utf-7").decode("ascii") + "\n关于设备检修")
    assert verdict.action == "block"
    assert engine.scan_text("C++ and +1-800 numbers, a+b-c").action == "allow"


@pytest.mark.parametrize("ctype", ["application/json; charset=x-unheard-of", "text/plain; charset=klingon-8",
                                   "application/x-www-form-urlencoded; charset=nonesuch"])
def test_a_charset_nobody_can_decode_blocks(engine, ctype):
    body = json.dumps({"prompt": "hello"}).encode() if "json" in ctype else b"prompt=hello"
    verdict = _decide(engine, body, ctype)
    assert verdict.action == "block" and any(r.startswith("uninspectable.") for r in verdict.rules)


def test_json_in_utf16_without_a_bom_is_read(engine):
    body = json.dumps({"messages": [{"role": "user", "content": SIMPLIFIED}]}, ensure_ascii=False).encode("utf-16-le")
    verdict = _decide(engine, body, "application/json")
    assert verdict.action == "block"


@settings(derandomize=True, max_examples=40, deadline=None)
@given(codec=st.sampled_from(["gb18030", "gbk", "utf-8", "utf-16", "big5"]),
       where=st.sampled_from(["attr", "element"]), marked=st.booleans())
def test_xml_declaring_its_charset_is_read_once(engine, codec, where, marked):
    # The declaration decodes the file; the decoded text must not be decoded again by it (an
    # attribute 密级="秘密" in a GB18030 file was read as mojibake and passed).
    level = ("機密" if codec == "big5" else "机密") if marked else ("公開" if codec == "big5" else "公开")
    name = "密級" if codec == "big5" else "密级"
    body = "正文" if codec != "big5" else "內文"
    inner = f'<doc {name}="{level}"><p>{body}</p></doc>' if where == "attr" else f"<doc><{name}>{level}</{name}></doc>"
    data = f'<?xml version="1.0" encoding="{codec.upper()}"?>\n{inner}'.encode(codec)
    v = engine.scan_bytes(data, filename="meta.xml")
    assert (v.action == "block") == marked, (codec, where, v.findings)
