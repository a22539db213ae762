"""The attack space: a marked payload x container x encoding x carrier, each a real request.

An attack is drawn by hypothesis (`attacks()`); `send(attack, client, url)` performs it as the
client would, against any base URL (the guard, or the receiver directly to prove the receiver
reads it). `benign(attack)` is the same attack with an unmarked payload: the control.
"""
from __future__ import annotations

import base64
import gzip
import html
import io
import itertools
import json
import zipfile
import zlib
from dataclasses import dataclass, replace
from urllib.parse import quote

from hypothesis import strategies as st

MARKS = ("机密★5年", "绝密★长期", "秘密★10年", "核心商密▲3年", "普通商密▲5年")
TITLE = "关于某基地油料储备情况的报告"
BODY = "一、基本情况。二、存在问题。三、下一步工作安排。"
_SEQ = itertools.count(1)  # upload session ids: every send its own
BENIGN_MARK = "春游活动安排通知"  # what the control carries where the attack carries a marking


@dataclass(frozen=True)
class Attack:
    mark: str
    container: str
    charset: str
    escape: str
    carrier: str
    content_encoding: str

    def label(self) -> str:
        return f"{self.carrier}/{self.container}/{self.charset}/{self.escape}/{self.content_encoding}"


def benign(a: Attack) -> Attack:
    return replace(a, mark=BENIGN_MARK)


# -- containers: the marked text -> (bytes, file name, media type) --------------------------------
def _text(a: Attack) -> str:
    return f"{a.mark}\n{TITLE}\n{BODY}\n"


def _encode(text: str, charset: str) -> bytes:
    if charset == "utf-16-bom":
        return "\ufeff".encode("utf-16-le") + text.encode("utf-16-le")
    return text.encode(charset)


def container(a: Attack) -> tuple[bytes, str, str]:
    text = _text(a)
    if a.container == "txt":
        return _encode(text, a.charset), "notes.txt", "text/plain"
    if a.container == "html-spans":
        # The marking cut into styled spans, as a rich-text editor writes it.
        spans = "".join(f'<span style="color:#{i:03d}">{html.escape(ch)}</span>' for i, ch in enumerate(a.mark))
        page = (f'<html><head><meta charset="{a.charset if a.charset != "utf-16-bom" else "utf-16"}"></head>'
                f"<body><p>{spans}</p><h1>{TITLE}</h1><p>{BODY}</p></body></html>")
        return _encode(page, a.charset), "page.html", "text/html"
    if a.container == "docx-header":
        from writers import make_docx
        return make_docx([TITLE, BODY], header=a.mark), "report.docx", \
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    if a.container == "docx-body":
        from writers import make_docx
        return make_docx([a.mark, TITLE, BODY]), "report.docx", \
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    if a.container == "xlsx":
        from writers import make_xlsx
        return make_xlsx({"数据": [[a.mark], [TITLE], [BODY]]}), "data.xlsx", \
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    if a.container == "pptx-notes":
        from writers import make_pptx
        return make_pptx([(TITLE, BODY)], notes=a.mark), "slides.pptx", \
            "application/vnd.openxmlformats-officedocument.presentationml.presentation"
    if a.container == "pdf":
        from writers import make_pdf
        return make_pdf([a.mark, TITLE, BODY]), "report.pdf", "application/pdf"
    if a.container == "zip-txt":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("readme.txt", "附件说明")
            z.writestr("docs/notes.txt", _encode(text, a.charset))
        return buf.getvalue(), "bundle.zip", "application/zip"
    raise ValueError(a.container)


TEXT_CONTAINERS = ("txt", "html-spans")
FILE_CONTAINERS = ("docx-header", "docx-body", "xlsx", "pptx-notes", "pdf", "zip-txt", "txt")


def prompt_text(a: Attack) -> str:
    """The payload as prompt text (text carriers): plain, or as an HTML fragment."""
    if a.container == "html-spans":
        spans = "".join(f"<span>{ch}</span>" for ch in a.mark)
        return f"<p>{spans}</p>\n{TITLE}\n{BODY}"
    return _text(a)


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


# -- carriers: how the payload leaves, one or more real requests ----------------------------------
def _json(obj, a: Attack) -> bytes:
    # escape: "json-u" writes every non-ASCII character as \\uXXXX (what many SDKs send)
    return json.dumps(obj, ensure_ascii=a.escape == "json-u").encode()


def _compress(body: bytes, enc: str) -> bytes:
    if enc == "gzip":
        return gzip.compress(body)
    if enc == "deflate":
        return zlib.compress(body)
    if enc == "br":
        import brotli
        return brotli.compress(body)
    if enc == "zstd":
        import zstandard
        return zstandard.ZstdCompressor().compress(body)
    return body


def _post_json(c, url, host, path, obj, a: Attack):
    body = _json(obj, a)
    headers = {"content-type": "application/json"}
    if a.content_encoding != "identity":
        body, headers["content-encoding"] = _compress(body, a.content_encoding), a.content_encoding
    return [c.post(url(host, path), content=body, headers=headers).status_code]


def _thirds(data: bytes) -> list[bytes]:
    n = max(1, -(-len(data) // 3))
    return [data[i:i + n] for i in range(0, len(data), n)]


def send(a: Attack, c, url, ws=None) -> list[int]:
    """Perform the attack; `url(host, path)` makes the address, `ws(message)` sends one WebSocket
    message (200: the service answered, 403: the guard's notice). Returns the status codes."""
    if a.carrier in TEXT_CARRIERS:
        text = prompt_text(a)
        if a.carrier == "openai-chat":
            return _post_json(c, url, "api.openai.com", "/v1/chat/completions",
                              {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}, a)
        if a.carrier == "openai-system":
            return _post_json(c, url, "api.openai.com", "/v1/chat/completions", {"model": "gpt-4o", "messages": [
                {"role": "developer", "content": text}, {"role": "user", "content": "按上面的要求写"}]}, a)
        if a.carrier == "openai-role-tool":
            return _post_json(c, url, "api.deepseek.com", "/chat/completions", {"model": "deepseek-chat", "messages": [
                {"role": "user", "content": "读文件"},
                {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
                                                                        "function": {"name": "read", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": text}]}, a)
        if a.carrier == "responses-function-output":
            return _post_json(c, url, "api.openai.com", "/v1/responses", {"model": "gpt-4.1", "input": [
                {"type": "function_call", "call_id": "c1", "name": "read", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": text}]}, a)
        if a.carrier == "anthropic-tool-result":
            return _post_json(c, url, "api.anthropic.com", "/v1/messages", {
                "model": "claude-sonnet-4", "max_tokens": 100, "system": "你是助手", "messages": [
                    {"role": "user", "content": "读"},
                    {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "read", "input": {}}]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                                  "content": [{"type": "text", "text": text}]}]}]}, a)
        if a.carrier == "anthropic-system":
            return _post_json(c, url, "api.anthropic.com", "/v1/messages", {
                "model": "claude-sonnet-4", "max_tokens": 100, "system": [{"type": "text", "text": text}],
                "messages": [{"role": "user", "content": "继续"}]}, a)
        if a.carrier == "gemini-function-response":
            return _post_json(c, url, "generativelanguage.googleapis.com",
                              "/v1beta/models/gemini-2.5-flash:generateContent", {"contents": [
                                  {"role": "user", "parts": [{"text": "读"}]},
                                  {"role": "model", "parts": [{"functionCall": {"name": "read", "args": {}}}]},
                                  {"role": "user", "parts": [{"functionResponse": {"name": "read",
                                                                                   "response": {"result": text}}}]}]}, a)
        if a.carrier == "mcp-tools-call":
            return _post_json(c, url, "tools.example-mcp.net", "/mcp", {
                "jsonrpc": "2.0", "id": 7, "method": "tools/call",
                "params": {"name": "save_note", "arguments": {"text": text}}}, a)
        if a.carrier == "query":
            return [c.get(url("chatgpt.com", "/?q=" + quote(text))).status_code]
        if a.carrier == "json-as-form":
            body = _json({"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}, a)
            return [c.post(url("relay.example-ai.net", "/v1/chat/completions"), content=body,
                           headers={"content-type": "application/x-www-form-urlencoded"}).status_code]
        if a.carrier == "websocket":  # Copilot's chat socket: one client message
            msg = json.dumps({"event": "send", "content": [{"type": "text", "text": text}]},
                             ensure_ascii=a.escape == "json-u")
            return [ws(msg)]
        if a.carrier == "websocket-like-sse":  # a text/plain body to a chat web app
            return [c.post(url("chat.deepseek.com", "/api/v0/chat/completion"), content=text.encode(),
                           headers={"content-type": "text/plain;charset=utf-8"}).status_code]
        raise ValueError(a.carrier)
    data, name, mime = container(a)
    if a.escape == "base64-in-prompt" and a.carrier == "openai-file":
        # A file pasted into the prompt as base64 text (no data: URL, no file part).
        return _post_json(c, url, "api.openai.com", "/v1/chat/completions", {"model": "gpt-4o", "messages": [
            {"role": "user", "content": f"请读取下面的附件（base64）：\n{base64.b64encode(data).decode()}"}]}, a)
    if a.carrier == "openai-file":
        return _post_json(c, url, "api.openai.com", "/v1/chat/completions", {"model": "gpt-4o", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "总结"}, {"type": "file", "file": {
                "filename": name, "file_data": data_url(data, mime)}}]}]}, a)
    if a.carrier == "anthropic-document":
        return _post_json(c, url, "api.anthropic.com", "/v1/messages", {
            "model": "claude-sonnet-4", "max_tokens": 100, "messages": [{"role": "user", "content": [
                {"type": "document", "source": {"type": "base64", "media_type": mime,
                                                "data": base64.b64encode(data).decode()}},
                {"type": "text", "text": "总结"}]}]}, a)
    if a.carrier == "gemini-inline":
        return _post_json(c, url, "generativelanguage.googleapis.com", "/v1beta/models/gemini-2.5-flash:generateContent",
                          {"contents": [{"role": "user", "parts": [{"inlineData": {
                              "mimeType": mime, "data": base64.b64encode(data).decode()}}, {"text": "总结"}]}]}, a)
    if a.carrier == "multipart":
        return [c.post(url("api.openai.com", "/v1/files"), files={"file": (name, data, mime)},
                       data={"purpose": "assistants"}).status_code]
    if a.carrier == "multipart-b64-cte":
        boundary = "----guardattack"
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{quote(name)}\"\r\n"
                f"Content-Type: {mime}\r\nContent-Transfer-Encoding: base64\r\n\r\n").encode()
        b64 = base64.b64encode(data)
        body += b"\r\n".join(b64[i:i + 76] for i in range(0, len(b64), 76))
        body += f"\r\n--{boundary}--\r\n".encode()
        return [c.post(url("api.openai.com", "/v1/files"), content=body,
                       headers={"content-type": f"multipart/form-data; boundary={boundary}"}).status_code]
    if a.carrier == "openai-uploads":
        tag = f"up{next(_SEQ)}"
        statuses, ids = [], []
        for piece in _thirds(data):
            r = c.post(url("api.openai.com", f"/v1/uploads/{tag}/parts"), files={"data": ("blob", piece)})
            statuses.append(r.status_code)
            ids.append(r.json().get("id") if r.status_code == 200 else "x")
        statuses.append(c.post(url("api.openai.com", f"/v1/uploads/{tag}/complete"), json={"part_ids": ids}).status_code)
        return statuses
    if a.carrier == "s3-presigned-parts":
        tag = f"s{next(_SEQ)}"
        base = url("ai-app-bucket.s3.amazonaws.com", f"/u/{tag}/{quote(name)}")
        sig = "&X-Amz-Credential=AKIA%2F20261204&X-Amz-Signature=abc123"
        statuses = [c.put(f"{base}?partNumber={i + 1}&uploadId={tag}{sig}", content=p).status_code
                    for i, p in enumerate(_thirds(data))]
        statuses.append(c.post(f"{base}?uploadId={tag}{sig}", content=b"<CompleteMultipartUpload/>").status_code)
        return statuses
    if a.carrier == "azure-sas-put":
        return [c.put(url("aiapp.blob.core.windows.net", f"/uploads/{quote(name)}?sv=2024-11-04&se=2026-12-05&sig=abc"),
                      content=data, headers={"x-ms-blob-type": "BlockBlob", "content-type": mime}).status_code]
    if a.carrier == "goog-resumable":
        tag = f"g{next(_SEQ)}"
        statuses, offset, pieces = [], 0, _thirds(data)
        for i, p in enumerate(pieces):
            cmd = "upload, finalize" if i == len(pieces) - 1 else "upload"
            statuses.append(c.post(url("generativelanguage.googleapis.com", f"/upload/v1beta/files?upload_id={tag}"),
                                   content=p, headers={"x-goog-upload-command": cmd,
                                                       "x-goog-upload-offset": str(offset)}).status_code)
            offset += len(p)
        return statuses
    raise ValueError(a.carrier)


TEXT_CARRIERS = ("openai-chat", "openai-system", "openai-role-tool", "responses-function-output",
                 "anthropic-tool-result", "anthropic-system", "gemini-function-response", "mcp-tools-call",
                 "query", "json-as-form", "websocket-like-sse", "websocket")
FILE_CARRIERS = ("openai-file", "anthropic-document", "gemini-inline", "multipart", "multipart-b64-cte",
                 "openai-uploads", "s3-presigned-parts", "azure-sas-put", "goog-resumable")
CHARSETS = ("utf-8", "gb18030", "utf-16-bom")
ENCODINGS = ("identity", "gzip", "deflate", "br")


@st.composite
def attacks(draw) -> Attack:
    carrier = draw(st.sampled_from(TEXT_CARRIERS + FILE_CARRIERS))
    text_carrier = carrier in TEXT_CARRIERS
    cont = draw(st.sampled_from(TEXT_CONTAINERS if text_carrier else FILE_CONTAINERS))
    charset = draw(st.sampled_from(CHARSETS)) if cont in ("txt", "html-spans", "zip-txt") and not text_carrier \
        else "utf-8"
    escape = draw(st.sampled_from(("none", "json-u") + (("base64-in-prompt",) if carrier == "openai-file" else ())))
    single_json = carrier not in ("query", "json-as-form", "websocket-like-sse", "websocket", "multipart", "multipart-b64-cte",
                                  "openai-uploads", "s3-presigned-parts", "azure-sas-put", "goog-resumable")
    enc = draw(st.sampled_from(ENCODINGS)) if single_json else "identity"
    return Attack(draw(st.sampled_from(MARKS)), cont, charset, escape, carrier, enc)
