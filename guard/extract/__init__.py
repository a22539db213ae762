"""Extraction: bytes of any upload -> text Parts with provenance, or Problems.

Dispatch is by content (magic bytes). Anything that fails, is encrypted or breaks
a limit becomes a Problem: the engine turns Problems into fail-closed findings, so
content that could not be inspected is never `allow`.
"""
from __future__ import annotations

import bz2
import hashlib
import zlib

from guard.errors import Deferred, ExtractionError, LimitExceeded
from guard.extract.archive import extract_archive, extract_tar
from guard.extract.context import Context, Extraction
from guard.extract.mail import extract_mail, looks_like_mail
from guard.extract.ocr import extract_image
from guard.extract.odf import extract_odf
from guard.extract.ofd import extract_ofd
from guard.extract.ole2 import extract_ole
from guard.extract.ooxml import extract_ooxml
from guard.extract.pdf import extract_pdf
from guard.extract.rtf import extract_rtf
from guard.extract.sniff import sniff
from guard.extract.text import extract_csv, extract_text
from guard.extract.imagemeta import extract_image_metadata
from guard.extract.zipsafe import local_only_members, open_zip, read_member
from guard.rules import Limits

__all__ = ["Context", "Extraction", "extract", "extract_into", "sniff"]


_PARSED_FORMATS = frozenset({"zip", "pdf", "ole", "rtf", "tar", "gzip", "bzip2"})


def _zip_flavour(ctx: Context, zf) -> str:
    names = set(zf.namelist())
    if "[Content_Types].xml" in names or any(n.startswith(("word/", "xl/", "ppt/")) for n in names):
        return "ooxml"
    if "mimetype" in names:
        mime = read_member(ctx, zf, zf.getinfo("mimetype"))[:100]
        if mime.startswith(b"application/vnd.oasis.opendocument"):
            return "odf"
    if "OFD.xml" in names:
        return "ofd"
    return "archive"


def _decompress(ctx: Context, data: bytes, kind: str) -> bytes:
    """gzip/bzip2 files, bounded: never inflate past the member limit."""
    d = zlib.decompressobj(zlib.MAX_WBITS | 16) if kind == "gzip" else bz2.BZ2Decompressor()
    limit = ctx.limits.max_member_bytes
    try:
        if kind == "gzip":
            out = d.decompress(data, limit + 1)
        else:
            out = d.decompress(data, max_length=limit + 1)
    except (zlib.error, OSError, EOFError) as e:
        raise ExtractionError("corrupt", f"unreadable {kind} stream: {e}") from None
    if len(out) > limit:
        raise LimitExceeded(f"{kind} stream inflates past {limit} bytes")
    ctx.charge(len(out))
    return out


def extract_into(ctx: Context, data: bytes, name: str | None, location: str, depth: int = 0,
                 charset: str | None = None) -> None:
    """Inspect one file (possibly nested) and add what it holds to the context. `charset`: the
    character set its sender declared (a Content-Type parameter), for text."""
    if name:
        ctx.add(name, f"{location}#name", "filename")
    kind = "?"
    try:
        if depth > ctx.limits.max_depth:
            raise LimitExceeded(f"nested deeper than {ctx.limits.max_depth}")
        if len(data) > ctx.limits.max_bytes:
            raise LimitExceeded(f"{len(data)} bytes (limit {ctx.limits.max_bytes})")
        ctx.check_time()
        kind = sniff(data)
        if kind in _PARSED_FORMATS:
            ctx.slow()  # on the proxy's event loop: any file format goes to a worker (bounded inline work)
        if kind == "zip":
            zf = open_zip(ctx, data)
            kind = _zip_flavour(ctx, zf)
            {"ooxml": extract_ooxml, "odf": extract_odf, "ofd": extract_ofd, "archive": extract_archive}[kind](
                ctx, zf, location, depth)
            for member, body in local_only_members(ctx, data, zf):
                extract_into(ctx, body, member.rsplit("/", 1)[-1], f"{location}/{member} (local header only)", depth + 1)
        elif kind == "pdf":
            extract_pdf(ctx, data, location, depth)
        elif kind == "ole":
            extract_ole(ctx, data, location)
        elif kind == "rtf":
            extract_rtf(ctx, data, location)
        elif kind == "tar":
            extract_tar(ctx, data, location, depth)
        elif kind in ("gzip", "bzip2"):
            extract_into(ctx, _decompress(ctx, data, kind), None, f"{location}/{kind}", depth + 1)
        elif kind == "image":
            extract_image_metadata(ctx, data, location)
            extract_image(ctx, data, location)
        elif kind == "pkcs12":
            # A key store (private key and certificates), password-protected: never inspectable,
            # never to be sent.
            ctx.problem("encrypted", location, "PKCS#12 key store (private keys)")
        elif kind in ("archive-unsupported", "zstd"):
            ctx.problem("unsupported", location, "archive format that cannot be inspected")
        elif looks_like_mail(data):
            kind = "mail"
            extract_mail(ctx, data, location, depth)
        elif name and name.lower().endswith((".csv", ".tsv")):
            kind = "csv"
            extract_csv(ctx, data, location, charset)
        else:
            extract_text(ctx, data, location, charset, name, depth)
        if kind in _POLYGLOT_HOSTS:
            _trailing_zip(ctx, data, location, depth)
    except ExtractionError as e:
        ctx.problem(e.reason, location, e.detail)
    except RecursionError:
        ctx.problem("limit", location, "structure nested too deeply")
    except MemoryError:
        ctx.problem("limit", location, "out of memory while inspecting")
    except Deferred:
        raise
    except Exception as e:  # a parser bug on hostile input must fail closed, not crash
        ctx.problem("corrupt", location, f"{kind}: {type(e).__name__}: {e}"[:200])
    finally:
        ctx.out.files.append({
            "name": name, "type": kind, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
            "location": location,
        })


# Formats a ZIP can ride behind (a PNG or PDF followed by a ZIP opens as either, depending on
# the program: the receiver may open the file by the name the user gave it).
_POLYGLOT_HOSTS = frozenset({"image", "pdf", "text", "mail", "csv", "rtf", "ole"})


def _trailing_zip(ctx: Context, data: bytes, location: str, depth: int) -> None:
    """A ZIP appended to another file (its end-of-central-directory record in the tail, a local
    header after the start) is inspected as the archive it also is."""
    tail = data[-(1 << 16) - 22:]
    if b"PK\x05\x06" not in tail:
        return
    start = data.find(b"PK\x03\x04", 1)
    if start < 0:
        return
    zf = open_zip(ctx, data)  # zipfile finds the archive from its end, whatever precedes it
    flavour = _zip_flavour(ctx, zf)
    {"ooxml": extract_ooxml, "odf": extract_odf, "ofd": extract_ofd, "archive": extract_archive}[flavour](
        ctx, zf, f"{location}#zip", depth + 1)


def extract(data: bytes, filename: str | None = None, limits: Limits | None = None,
            location: str | None = None) -> Extraction:
    ctx = Context(limits or Limits())
    extract_into(ctx, data, filename, location or f"file:{filename or 'upload'}", 0)
    return ctx.out
