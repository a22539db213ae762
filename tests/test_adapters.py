import pytest

from guard.adapters.multipart import split_multipart
from guard.errors import ExtractionError


def test_multipart_split_as_clients_send_it():
    import httpx

    req = httpx.Request("POST", "https://api.openai.com/v1/files", data={"purpose": "assistants"},
                        files={"file": ("报告 (1).docx", b"PK\x03\x04--not-a-boundary\r\n\r\nbinary", "application/octet-stream")})
    body = req.read()
    parts = list(split_multipart(body, req.headers["content-type"]))
    assert [h.get_param("name", header="content-disposition") for h, _ in parts] == ["purpose", "file"]
    assert parts[0][1] == b"assistants"
    assert parts[1][0].get_filename() == "报告 (1).docx"
    assert parts[1][1] == b"PK\x03\x04--not-a-boundary\r\n\r\nbinary"


@pytest.mark.parametrize("body, ctype", [
    (b"--abc\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nxyz", "multipart/form-data; boundary=abc"),
    (b"no boundary here", "multipart/form-data; boundary=abc"),
    (b"--abc\r\n", "multipart/form-data"),
])
def test_broken_multipart_fails_closed(body, ctype):
    with pytest.raises(ExtractionError):
        list(split_multipart(body, ctype))


def test_broken_multipart_blocks(engine):
    from guard.extract import Context
    from guard.adapters import scan_body

    c = Context(engine.policy.limits)
    with pytest.raises(ExtractionError):
        scan_body(c, "--abc\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\n机密★5年".encode(),
                  "multipart/form-data; boundary=abc", {}, "/v1/files")
