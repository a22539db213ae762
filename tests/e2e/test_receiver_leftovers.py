"""Earlier leftovers (issue 22, family 9) end to end: presigned object-storage uploads without an
AI origin, a multipart part whose base64 Content-Transfer-Encoding is a lie, percent-encoded file
names in headers; each marked case held, its benign control stored."""
from __future__ import annotations

from urllib.parse import quote

import pytest
from writers import make_docx

MARK = "机密★5年"


SAS = "?sv=2024-11-04&se=2026-12-05T00%3A00%3A00Z&sr=b&sp=cw&sig=abc%3D"


@pytest.mark.parametrize("url", [
    "https://aiapp.blob.core.windows.net/uploads/report.docx" + SAS,
    "https://ai-bucket.s3.amazonaws.com/u/report.docx?X-Amz-Credential=AKIA%2Fx&X-Amz-Signature=abc",
    "https://ai-bucket.oss-cn-hangzhou.aliyuncs.com/u/report.docx?OSSAccessKeyId=x&Signature=abc",
])
def test_presigned_upload_without_an_ai_origin(guarded, receiver, url):
    receiver.clear()
    with guarded.client() as c:
        r = c.put(url, content=make_docx(["季度安排"], header=MARK), headers={"x-ms-blob-type": "BlockBlob"})
        assert r.status_code == 403
        assert not receiver.reached(MARK)
        ok = c.put(url, content=make_docx(["季度安排", "春游通知"]), headers={"x-ms-blob-type": "BlockBlob"})
        assert ok.status_code == 200
    assert receiver.reached("春游通知")


def test_unsigned_storage_traffic_is_not_held(guarded, receiver):
    """Without a presigned signature or an AI origin, storage traffic is not the guard's."""
    with guarded.client() as c:
        r = c.put("https://backup.blob.core.windows.net/c/archive.bin", content=b"\x00" * 1000,
                  headers={"content-type": "application/octet-stream"})
    assert r.status_code == 200 and "x-ai-guard-event" not in r.headers


def _multipart(payload: bytes, cte: str, filename: str = "notes.txt") -> tuple[bytes, str]:
    b = "----leftover"
    body = (f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: {cte}\r\n\r\n").encode()
    return body + payload + f"\r\n--{b}--\r\n".encode(), f"multipart/form-data; boundary={b}"


def test_a_lying_base64_transfer_encoding(guarded, receiver):
    """The part says base64 but carries the text as is: a server that ignores the header stores
    the text; the guard reads it both ways."""
    with guarded.client() as c:
        for text in (f"{MARK}\n关于某项目的报告", f"说明\n{MARK}==\n关于某项目的报告"):
            body, ctype = _multipart(text.encode(), "base64")
            r = c.post("https://api.openai.com/v1/files", content=body, headers={"content-type": ctype})
            assert r.status_code == 403, text
        body, ctype = _multipart("春游活动安排通知".encode(), "base64")
        assert c.post("https://api.openai.com/v1/files", content=body, headers={"content-type": ctype}).status_code == 200


@pytest.mark.parametrize("header,value", [
    ("x-file-name", quote(f"【{MARK}】项目报告.txt")),
    ("x-filename", quote(f"{MARK}项目报告.txt".encode("gb18030"))),
    ("content-disposition", "attachment; filename*=UTF-8''" + quote(f"【{MARK}】报告.txt")),
])
def test_percent_encoded_file_names(guarded, receiver, header, value):
    receiver.clear()
    with guarded.client() as c:
        r = c.post("https://api.openai.com/v1/files", content="正文：季度安排".encode(),
                   headers={header: value, "content-type": "text/plain"})
        assert r.status_code == 403, (header, r.text[:200])
        ok = c.post("https://api.openai.com/v1/files", content="正文：季度安排".encode(),
                    headers={header: quote("春游通知.txt"), "content-type": "text/plain"})
        assert ok.status_code == 200
    assert not receiver.reached(MARK)
