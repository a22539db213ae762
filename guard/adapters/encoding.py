"""Content-Encoding, decoded the way servers decode it, within the policy's limits.

Every gzip member and every zstd frame of a body is read (mitmproxy's own decoder stops after
the first gzip member: the rest would reach the server unread); `deflate` is the zlib format
or, as some clients send it, raw deflate; codings stack (`gzip, br` is undone right to left).
Output is bounded by the inflated-size and ratio limits, and inline callers (the proxy's event
loop) get `Deferred` past a small output budget so a bomb is decompressed in a worker.
"""
from __future__ import annotations

import zlib

import brotli

from guard.errors import Deferred, ExtractionError, LimitExceeded
from guard.rules import Limits

try:
    from compression import zstd  # Python 3.14
except ImportError:  # pragma: no cover - depends on the Python version
    from backports import zstd

CHUNK = 1 << 16
RATIO_FREE = 1 << 20  # below this much output the ratio is not checked (small JSON compresses well)


class _Budget:
    def __init__(self, limits: Limits, raw_size: int, inline_cap: int | None):
        self.limits, self.raw_size, self.inline_cap, self.out = limits, raw_size, inline_cap, 0

    def take(self, n: int) -> None:
        self.out += n
        if self.inline_cap is not None and self.out > self.inline_cap:
            raise Deferred()
        if self.out > self.limits.max_inflated_bytes:
            raise LimitExceeded(f"body decodes to more than {self.limits.max_inflated_bytes} bytes")
        if self.out > RATIO_FREE and self.out > self.limits.max_ratio * max(self.raw_size, 1):
            raise LimitExceeded(f"body decodes at more than {self.limits.max_ratio}:1")


def _zlib_members(data: bytes, wbits: int, budget: _Budget) -> bytes:
    """Every member/stream, one after another (gzip files may be concatenated)."""
    out = []
    rest = data
    while rest:
        d = zlib.decompressobj(wbits)
        buf = rest
        while buf:
            piece = d.decompress(buf, CHUNK)
            budget.take(len(piece))
            out.append(piece)
            buf = d.unconsumed_tail
        if not d.eof:
            raise ExtractionError("corrupt", "truncated compressed body")
        rest = d.unused_data
        if rest and not rest.strip(b"\0"):
            break  # zero padding after the last member, as gzip(1) tolerates
    return b"".join(out)


def _gzip(data: bytes, budget: _Budget) -> bytes:
    return _zlib_members(data, 16 + zlib.MAX_WBITS, budget)


def _deflate(data: bytes, budget: _Budget) -> bytes:
    try:
        return _zlib_members(data, zlib.MAX_WBITS, budget)
    except zlib.error:
        return _zlib_members(data, -zlib.MAX_WBITS, budget)  # raw deflate, no zlib header


def _brotli(data: bytes, budget: _Budget) -> bytes:
    d = brotli.Decompressor()
    out = [d.process(data, output_buffer_limit=CHUNK)]
    budget.take(len(out[0]))
    while not d.can_accept_more_data():
        piece = d.process(b"", output_buffer_limit=CHUNK)
        if not piece:
            break
        budget.take(len(piece))
        out.append(piece)
    if not d.is_finished():
        raise ExtractionError("corrupt", "truncated brotli body")
    return b"".join(out)


def _zstd(data: bytes, budget: _Budget) -> bytes:
    out = []
    rest = data
    while rest:
        d = zstd.ZstdDecompressor()
        piece = d.decompress(rest, CHUNK)
        budget.take(len(piece))
        out.append(piece)
        while not d.eof and not d.needs_input:
            piece = d.decompress(b"", CHUNK)
            budget.take(len(piece))
            out.append(piece)
        if not d.eof:
            raise ExtractionError("corrupt", "truncated zstd body")
        rest = d.unused_data  # the next frame
    return b"".join(out)


_DECODERS = {"gzip": _gzip, "x-gzip": _gzip, "deflate": _deflate, "br": _brotli, "zstd": _zstd}


def decode_content(body: bytes, header: str, limits: Limits, inline_cap: int | None = None) -> bytes:
    """The body with its Content-Encoding undone. Raises ExtractionError (unknown coding,
    corrupt stream), LimitExceeded, or Deferred when inline and the output passes inline_cap."""
    codings = [c.strip().lower() for c in header.split(",") if c.strip()]
    budget = _Budget(limits, len(body), inline_cap)
    for coding in reversed(codings):
        if coding == "identity":
            continue
        decoder = _DECODERS.get(coding)
        if decoder is None:
            raise ExtractionError("unsupported", f"unknown Content-Encoding {coding!r}")
        budget.out = 0
        try:
            body = decoder(body, budget)
        except (zlib.error, brotli.error, zstd.ZstdError) as e:
            raise ExtractionError("corrupt", f"undecodable {coding} body: {e}") from None
        budget.raw_size = len(body)
    return body


# --- character sets -------------------------------------------------------------------------

_UTF16_32_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _form_charset(body: bytes) -> str | None:
    """The `_charset_` field an HTML form sends to name its encoding (HTML: a hidden input)."""
    i = body.find(b"_charset_=")
    if i < 0 or (i and body[i - 1:i] != b"&"):
        return None
    value = body[i + 10:i + 60].split(b"&", 1)[0]
    return value.decode("ascii", "replace").strip().lower() or None


def transcode(ctx, body: bytes, content_type: str) -> bytes:
    """A JSON or form body as UTF-8, read the way its receiver reads it: a UTF-16/32 byte-order
    mark (or JSON's NUL pattern, RFC 4627) and a declared charset (Content-Type parameter,
    a form's `_charset_` field) are honoured; GBK JSON stays Chinese, UTF-7 is decoded. A
    charset nobody can decode is a problem: the body was not inspected, so it does not pass.
    Other media types keep their bytes (text and files are decoded where they are read)."""
    import json
    from urllib.parse import parse_qsl, urlencode

    from guard.extract.text import charset_of, codec_for

    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    charset = charset_of(content_type)
    try:
        if ctype == "application/x-www-form-urlencoded":
            charset = charset or _form_charset(body)
            codec = codec_for(charset) if charset else "utf-8"
            if codec == "utf-8":
                return body
            text = body.decode(codec, "replace") if not body.isascii() else body.decode("ascii")
            pairs = parse_qsl(text, keep_blank_values=True, encoding=codec, errors="replace")
            return urlencode(pairs).encode("ascii")
        head = body[:4]
        if "json" not in ctype or ctype.startswith(("application/grpc", "application/connect")):
            # Text and files are decoded where they are read, with this charset; framed JSON
            # (connect+json, grpc-web+json) starts with a binary frame header, not UTF-16.
            return body
        if head.startswith(_UTF16_32_BOMS) or (b"\x00" in head and len(body) >= 4):
            # JSON in UTF-16/32: what Python's json.loads(bytes) and most servers detect.
            enc = json.detect_encoding(body)
            if enc != "utf-8":
                return body.decode(enc, "replace").lstrip("\ufeff").encode("utf-8")
        if charset:
            codec = codec_for(charset)
            if codec != "utf-8":
                return body.decode(codec, "replace").encode("utf-8")
    except ExtractionError as e:
        ctx.problem(e.reason, "body", e.detail)
    return body
