"""A loopback receiver that reads requests the way the real services do, and an oracle that says
whether a marked payload reached it.

Unlike upstream.Upstream (which records raw bodies), this one undoes Content-Encoding, parses
forms and multipart (last field of a name wins, as Starlette's form does), decodes a part's
Content-Transfer-Encoding leniently, and assembles uploads in parts as the storage service
does: OpenAI Uploads by `part_ids` (answering each part with its id), S3 parts by number (last
one wins, the CompleteMultipartUpload list), Azure blocks by the block list, byte ranges by
offset. Everything it would store ends up in `stored`; `reached(mark)` searches all of it with
an independent reader (charsets, escapes, base64, zip members, gzip) — never the guard's code.
"""
from __future__ import annotations

import base64
import binascii
import gzip
import html
import io
import json
import re
import threading
import zipfile
import zlib
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote_to_bytes, urlsplit
from xml.etree import ElementTree


def undo_encoding(body: bytes, encoding: str) -> bytes:
    for enc in reversed([e.strip().lower() for e in encoding.split(",") if e.strip()]):
        if enc in ("gzip", "x-gzip"):
            body = gzip.decompress(body)
        elif enc == "deflate":
            try:
                body = zlib.decompress(body)
            except zlib.error:
                body = zlib.decompress(body, -15)
        elif enc == "br":
            import brotli
            body = brotli.decompress(body)
        elif enc == "zstd":
            import zstandard
            body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
        elif enc != "identity":
            raise ValueError(enc)
    return body


def multipart_fields(body: bytes, content_type: str) -> list[tuple[str, bytes]]:
    msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    out = []
    for part in msg.iter_parts() if msg.is_multipart() else ():
        name = part.get_param("name", header="content-disposition") or ""
        cte = (part.get("content-transfer-encoding") or "").strip().lower()
        if cte == "base64":  # lenient, as mail and form parsers are: junk characters skipped
            text = part.get_payload(decode=False)
            raw = text.encode("ascii", "ignore") if isinstance(text, str) else bytes(text)
            raw = re.sub(rb"[^A-Za-z0-9+/]", b"", raw)
            if len(raw) % 4 == 1:  # a dangling character: dropped, as lenient decoders do
                raw = raw[:-1]
            raw = base64.b64decode(raw + b"=" * (-len(raw) % 4))
        else:
            raw = part.get_payload(decode=True) or b""
        out.append((str(name), raw))
    return out


class Receiver:
    def __init__(self):
        self.stored: list[bytes] = []
        self.requests: list[dict] = []
        self._parts: dict[tuple, dict] = {}
        self._ids: dict[str, bytes] = {}
        self._lock = threading.Lock()
        rec = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _handle(self):
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n) if n else b""
                answer = rec.receive(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                out = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_PATCH = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    # -- how the services read a request -------------------------------------------------------
    def receive(self, method: str, path: str, headers: dict, body: bytes) -> dict:
        with self._lock:
            self.requests.append({"method": method, "path": path, "headers": headers})
            try:
                body = undo_encoding(body, headers.get("content-encoding", ""))
            except Exception:
                return {"error": "bad encoding"}
            url = urlsplit(path)
            query = {k.lower(): v for k, v in parse_qsl(url.query, keep_blank_values=True)}
            self.stored.append(unquote_to_bytes(path))  # the path and query reach the service too
            for name, value in headers.items():
                if name.startswith("x-") or name in ("content-disposition",):
                    self.stored.append(unquote_to_bytes(value.encode("latin-1", "replace")))
            ctype = headers.get("content-type", "")
            m = re.fullmatch(r"/v1/uploads/([^/]+)/(parts|complete)", url.path)
            if m and method == "POST":
                key = ("openai", m.group(1))
                if m.group(2) == "parts":
                    fields = [v for k, v in multipart_fields(body, ctype) if k == "data"]
                    pid = f"part_{len(self._ids)}"
                    self._ids[pid] = fields[-1] if fields else b""
                    return {"id": pid, "object": "upload.part"}
                ids = (json.loads(body or b"{}").get("part_ids") or [])
                self.stored.append(b"".join(self._ids.get(i, b"") for i in ids))
                return {"id": m.group(1), "status": "completed"}
            if "uploadid" in query and not url.path.startswith("/v1/"):  # S3-style storage, not an API
                key = ("s3", url.path, query["uploadid"])
                parts = self._parts.setdefault(key, {})
                if "partnumber" in query:
                    parts[int(query["partnumber"])] = body
                    return {"etag": str(len(parts))}
                nums = [int(e.text) for e in ElementTree.fromstring(body or b"<x/>").iter() if e.tag.endswith("PartNumber")]
                self.stored.append(b"".join(parts.get(n, b"") for n in (nums or sorted(parts))))
                return {"ok": True}
            if query.get("comp") in ("block", "blocklist"):
                key = ("azure", url.path)
                blocks = self._parts.setdefault(key, {})
                if query["comp"] == "block":
                    blocks[query.get("blockid", "")] = body
                    return {"ok": True}
                ids = [(e.text or "").strip() for e in ElementTree.fromstring(body or b"<x/>").iter()
                       if e.tag in ("Latest", "Committed", "Uncommitted")]
                self.stored.append(b"".join(blocks.get(i, b"") for i in ids))
                return {"ok": True}
            rng = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", headers.get("content-range", ""))
            goog = headers.get("x-goog-upload-command", "")
            if rng or "upload" in goog:
                key = ("range", url.path, query.get("upload_id", ""))
                buf = self._parts.setdefault(key, {"data": bytearray()})["data"]
                at = int(rng.group(1)) if rng else int(headers.get("x-goog-upload-offset", "0"))
                buf[at:at + len(body)] = body
                final = ("finalize" in goog if goog else
                         rng.group(3) != "*" and int(rng.group(2)) + 1 >= int(rng.group(3)))
                if final:  # an unfinished resumable upload is not a file anyone reads
                    self.stored.append(bytes(buf))
                return {"ok": True}
            self.stored.append(body)
            main = ctype.split(";", 1)[0].strip().lower()
            if main == "multipart/form-data":
                self.stored.extend(v for _k, v in multipart_fields(body, ctype))
                self.stored.extend(k.encode() for k, _v in multipart_fields(body, ctype))
            elif main == "application/x-www-form-urlencoded":
                for k, v in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
                    self.stored.append(unquote_to_bytes(k.encode("latin-1")) + b"\n" + v.encode("latin-1"))
            return {"ok": True}

    def reached(self, mark: str) -> bool:
        with self._lock:
            return any(reveals(blob, mark) for blob in self.stored)

    def clear(self) -> None:
        with self._lock:
            self.stored.clear()


# -- the oracle: would a reader of these bytes see the mark? --------------------------------------
_CODECS = ("utf-8", "gb18030", "big5", "utf-16-le", "utf-16-be", "utf-16", "utf-7", "utf-32")
_B64 = re.compile(rb"[A-Za-z0-9+/_-]{16,}={0,2}")
_TAG = re.compile(r"<[^>]{0,2000}>|<!\[CDATA\[|\]\]>")


def _texts(data: bytes) -> list[str]:
    out = []
    for codec in _CODECS:
        try:
            out.append(data.decode(codec, errors="ignore"))
        except LookupError:
            continue
    return out


def _normal(text: str) -> str:
    import unicodedata
    text = html.unescape(_TAG.sub("", html.unescape(text)))
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"[\s\u200b\u200c\u200d\u2060\ufeff]+", "", text)


def reveals(data: bytes, mark: str, depth: int = 0) -> bool:
    if not data or depth > 4:
        return False
    want = _normal(mark)
    for text in _texts(data):
        if want in _normal(text):
            return True
    if data[:5] == b"%PDF-":
        try:
            import pypdfium2
            pdf = pypdfium2.PdfDocument(data)
            text = "".join(page.get_textpage().get_text_range() for page in pdf)
            if _normal(mark) in _normal(text):
                return True
        except Exception:
            pass
    if b"%" in data:
        decoded = unquote_to_bytes(data)
        if decoded != data and reveals(decoded, mark, depth + 1):
            return True
    if data[:2] == b"\x1f\x8b":
        try:
            return reveals(gzip.decompress(data), mark, depth + 1)
        except Exception:
            pass
    if b"PK\x03\x04" in data:
        start = data.find(b"PK\x03\x04")
        for blob in (data, data[start:]):
            try:
                with zipfile.ZipFile(io.BytesIO(blob)) as z:
                    for info in z.infolist()[:200]:
                        if reveals(z.read(info)[:4 << 20], mark, depth + 1):
                            return True
                break
            except Exception:
                continue
    for run in _B64.findall(data[:4 << 20])[:200]:
        for alt in (run, run.replace(b"-", b"+").replace(b"_", b"/")):
            try:
                decoded = base64.b64decode(alt + b"=" * (-len(alt) % 4))
            except (binascii.Error, ValueError):
                continue
            if reveals(decoded, mark, depth + 1):
                return True
    if data.lstrip()[:1] in (b"{", b"["):
        try:
            doc = json.loads(data)
        except ValueError:
            return False
        return any(reveals(v.encode("utf-8", "surrogatepass"), mark, depth + 1) for v in _strings(doc))
    return False


def _strings(doc):
    """Every string value of a JSON document (what a service hands the model)."""
    if isinstance(doc, str):
        yield doc
    elif isinstance(doc, dict):
        for v in doc.values():
            yield from _strings(v)
    elif isinstance(doc, list):
        for v in doc:
            yield from _strings(v)
