"""PDF through PDFium (pypdfium2): page text and document info."""
from __future__ import annotations

import pypdfium2 as pdfium

from guard.errors import ExtractionError, LimitExceeded
from guard.extract.context import Context


def extract_pdf(ctx: Context, data: bytes, location: str) -> None:
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
        chars = 0
        for i in range(n):
            ctx.check_time()
            page = pdf[i]
            tp = page.get_textpage()
            text = tp.get_text_bounded().replace("\r\n", "\n").replace("\r", "\n")
            tp.close()
            page.close()
            chars += len(text.strip())
            ctx.add(text, f"{location}/page{i + 1}", "body")
        if n and not chars:
            ctx.problem("image", location, "PDF without a text layer (scanned pages need OCR)")
    finally:
        pdf.close()
