"""PDF: PDFium (pypdfium2) opens it (encryption, damage, page count, document info); page
text comes from poppler's pdftotext when installed, else from PDFium.

pdftotext reads a dense text page in ~0.5 ms against PDFium's ~1.6 ms, runs as a child
process (a parser crash or blow-up there cannot touch the proxy), and long documents are
split into page ranges read in parallel.
"""
from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor

import pypdfium2 as pdfium

from guard.errors import ExtractionError, LimitExceeded
from guard.extract import child, ocr
from guard.extract.context import Context

PDFTOTEXT = shutil.which("pdftotext")
PARALLEL_FROM = 64          # pages; below this one pdftotext process reads them all
CHILD_MEMORY = 1 << 30      # address-space limit of a pdftotext process


def extract_pdf(ctx: Context, data: bytes, location: str, depth: int = 0) -> None:
    try:
        pdf = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        msg = str(e)
        if "password" in msg.lower():
            raise ExtractionError("encrypted", "password-protected PDF") from None
        raise ExtractionError("corrupt", f"unreadable PDF: {msg}") from None
    try:
        n = len(pdf)
        if n > ctx.limits.max_pages:
            raise LimitExceeded(f"{n} pages (limit {ctx.limits.max_pages})")
        meta = pdf.get_metadata_dict(skip_empty=True)
        ctx.add("\n".join(f"{k}：{v}" for k, v in meta.items() if k in ("Title", "Subject", "Keywords", "Author")),
                f"{location}/info", "property")
        pages = _poppler_pages(ctx, data, n) if PDFTOTEXT and n else None
        if pages is None:
            pages = _pdfium_pages(ctx, pdf, n)
        chars = 0
        for i, text in enumerate(pages):
            chars += len(text.strip())
            ctx.add(text, f"{location}/page{i + 1}", "body")
        if n and not chars:
            _ocr_pages(ctx, pdf, n, location)
        _attachments(ctx, pdf, location, depth)
    finally:
        pdf.close()


def _attachments(ctx: Context, pdf, location: str, depth: int) -> None:
    """Files attached to the PDF (embedded files) are files of their own."""
    from guard.extract import extract_into

    for i in range(pdf.count_attachments()):
        ctx.check_time()
        att = pdf.get_attachment(i)
        name = att.get_name() or f"attachment{i + 1}"
        try:
            body = bytes(att.get_data())
        except Exception as e:  # noqa: BLE001 - an unreadable attachment is not inspected: say so
            ctx.problem("corrupt", f"{location}/attachment:{name}", f"unreadable PDF attachment: {e}"[:200])
            continue
        if len(body) > ctx.limits.max_member_bytes:
            raise LimitExceeded(f"attachment {name}: {len(body)} bytes (limit {ctx.limits.max_member_bytes})")
        ctx.charge(len(body))
        extract_into(ctx, body, name, f"{location}/attachment:{name}", depth + 1)


def _ocr_pages(ctx: Context, pdf, n: int, location: str) -> None:
    """A scan: read its first pages with OCR (markings sit on the first page); the pages
    past the OCR allowance are reported as not inspected."""
    readable = min(n, ocr.allowance(ctx))
    for i in range(readable):
        ctx.check_time()
        page = pdf[i]
        try:
            image = ocr.page_image(ctx, page)
        finally:
            page.close()
        ctx.add(ocr.ocr(ctx, image), f"{location}/page{i + 1} (OCR)", "body")
    if readable < n:
        what = "PDF without a text layer" if not readable else f"pages {readable + 1}-{n} of a scanned PDF"
        ctx.problem("image", location, f"{what}: not read by OCR")


def _pdfium_pages(ctx: Context, pdf, n: int) -> list[str]:
    out = []
    for i in range(n):
        ctx.check_time()
        page = pdf[i]
        tp = page.get_textpage()
        out.append(tp.get_text_bounded().replace("\r\n", "\n").replace("\r", "\n"))
        tp.close()
        page.close()
    return out


def _poppler_pages(ctx: Context, data: bytes, n: int) -> list[str] | None:
    """Page texts from pdftotext, or None when it could not read this file (PDFium then
    does: it opened the file, so the content is still inspected)."""
    ctx.slow()
    workers = 1 if n < PARALLEL_FROM else max(1, min(4, os.cpu_count() or 1))
    step = -(-n // workers)
    ranges = [(first, min(n, first + step - 1)) for first in range(1, n + 1, step)]

    def read(pages: tuple[int, int]) -> tuple[int, bytes]:
        argv = [PDFTOTEXT, "-q", "-enc", "UTF-8", "-f", str(pages[0]), "-l", str(pages[1]), "-", "-"]
        return child.run(ctx, argv, data, CHILD_MEMORY)

    try:
        # One thread per range: each only waits on its child process.
        with ThreadPoolExecutor(len(ranges)) as pool:
            outputs = list(pool.map(read, ranges))
    except ExtractionError as e:
        if e.reason == "timeout":
            raise
        return None
    pages: list[str] = []
    for (code, out), (first, last) in zip(outputs, ranges, strict=True):
        texts = out.decode("utf-8", "replace").split("\f")
        if code != 0 or len(texts) != last - first + 2:  # a form feed ends every page
            return None
        pages.extend(texts[:-1])
    return pages
