"""PDF: PDFium (pypdfium2) opens it (encryption, damage, page count, document info); page
text comes from poppler's pdftotext when installed, else from PDFium.

pdftotext reads a dense text page in ~0.5 ms against PDFium's ~1.6 ms, runs as a child
process (a parser crash or blow-up there cannot touch the proxy), and long documents are
split into page ranges read in parallel.
"""
from __future__ import annotations

import ctypes
import io
import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from guard.errors import ExtractionError, LimitExceeded
from guard.extract import child, ocr, ocr_docs
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
        annotated = _metadata(ctx, pdf, data, location)
        pages = _poppler_pages(ctx, data, n) if PDFTOTEXT and n else None
        if pages is None:
            pages = _pdfium_pages(ctx, pdf, n)
        scanned = []   # pages without a text layer: pictures of pages, read by OCR
        for i, text in enumerate(pages):
            if len(text.strip()) < SCANNED_PAGE_CHARS:
                scanned.append(i)
            ctx.add(text, f"{location}/page{i + 1}", "body")
            _footer(ctx, text, f"{location}/page{i + 1}")
        _annotations_and_watermarks(ctx, pdf, n, location, annotated)
        if scanned:
            _ocr_pages(ctx, pdf, scanned, n, location)
        _attachments(ctx, pdf, location, depth)
    finally:
        pdf.close()


META_CHARS = 64 * 1024
MARK_PAGES = 50  # pages whose annotations and watermarks are read (markings sit on every page)
WATERMARK_PAGES = 5  # pages whose text objects are looked at for watermarks (and the last one)
MAX_OBJECTS = 4000
MAX_ANNOTS = 1000  # annotations read per page  # text objects looked at per page for watermarks
_XMP_TEXT = re.compile(r">([^<>]{1,4000})<")


def _metadata(ctx: Context, pdf, data: bytes, location: str) -> set[int] | None:
    """Every document-info entry (custom keys such as /Classification too) and the XMP
    packet's text, as `key：value` lines and values alone (a property holding a marking).
    Returns the indices of the pages that have annotations (None: unknown)."""
    lines, values = [], []
    annotated = None
    try:
        import pikepdf

        # No recovery: a damaged file's xref is rebuilt by PDFium already; qpdf's rebuild would
        # scan it again, unbounded by our time budget.
        with pikepdf.open(io.BytesIO(data), attempt_recovery=False) as pk:
            for k, v in pk.docinfo.items():
                if isinstance(v, pikepdf.String):
                    text = str(v).strip()
                    if text:
                        lines.append(f"{k.lstrip('/')}：{text}")
                        values.append(text)
            # Which pages carry annotations, from the page dictionaries (no content parsed).
            annotated = {i for i, page in enumerate(pk.pages) if "/Annots" in page.obj}
            meta = pk.Root.get("/Metadata")
            if isinstance(meta, pikepdf.Stream):
                xmp = meta.read_bytes()[:1 << 20].decode("utf-8", "replace")
                ctx.add("\n".join(t.strip() for t in _XMP_TEXT.findall(xmp) if t.strip())[:META_CHARS],
                        f"{location}/xmp", "property")
    except Exception:  # noqa: BLE001 - qpdf could not read what PDFium opened: keep PDFium's view
        meta = pdf.get_metadata_dict(skip_empty=True)
        lines = [f"{k}：{v}" for k, v in meta.items() if k not in ("CreationDate", "ModDate")]
        values = [v for k, v in meta.items() if k not in ("CreationDate", "ModDate")]
    ctx.add("\n".join(lines)[:META_CHARS], f"{location}/info", "property")
    ctx.add("\n".join(dict.fromkeys(values))[:META_CHARS], f"{location}/info (values)", "property")
    return annotated


def _footer(ctx: Context, text: str, location: str) -> None:
    """A page's last lines: where a footer's marking sits (a part of its own, like a header)."""
    lines = [ln for ln in text.rstrip().rsplit("\n", 3)[-2:] if ln.strip()]
    if lines:
        ctx.add("\n".join(lines), f"{location} footer", "footer")


def _obj_text(obj, textpage) -> str:
    n = pdfium_c.FPDFTextObj_GetText(obj, textpage, None, 0)
    if n <= 2:
        return ""
    buf = (ctypes.c_ushort * (n // 2 + 1))()
    pdfium_c.FPDFTextObj_GetText(obj, textpage, buf, n)
    return bytes(buf)[:n].decode("utf-16-le", "replace").rstrip("\0")


def _annot_string(annot, key: str) -> str:
    n = pdfium_c.FPDFAnnot_GetStringValue(annot, key.encode(), None, 0)
    if n <= 2:
        return ""
    buf = (ctypes.c_ushort * (n // 2 + 1))()
    pdfium_c.FPDFAnnot_GetStringValue(annot, key.encode(), buf, n)
    return bytes(buf)[:n].decode("utf-16-le", "replace").rstrip("\0")


def _annotations_and_watermarks(ctx: Context, pdf, n: int, location: str, annotated: set[int] | None) -> None:
    """Annotations (FreeText, stamps, form widgets, watermark annotations: their text, field
    names and values, and the text drawn in their appearance) and watermarks: rotated or
    transparent text, which text extraction in reading order leaves out or scatters."""
    wanted = set(range(min(n, WATERMARK_PAGES))) | {n - 1}
    wanted |= set(range(min(n, MARK_PAGES))) if annotated is None else {i for i in annotated if i < n}
    for i in sorted(wanted)[:MARK_PAGES + WATERMARK_PAGES + 1]:
        ctx.check_time()
        page = pdf[i]
        count = min(pdfium_c.FPDFPage_GetAnnotCount(page.raw), MAX_ANNOTS)
        if not count and WATERMARK_PAGES <= i < n - 1:
            page.close()  # nothing to read here: no text page built (the costly step)
            continue
        textpage = page.get_textpage()
        try:
            annots = []
            for a in range(count):
                annot = pdfium_c.FPDFPage_GetAnnot(page.raw, a)
                if not annot:
                    continue
                try:
                    field, value = _annot_string(annot, "T").strip(), _annot_string(annot, "V").strip()
                    if field and value:
                        annots.append(f"{field}：{value}")  # a form field as it is filled in: 密级：机密
                    annots.append(value)
                    for key in ("Contents", "TU", "Subj", "RC"):
                        value = _annot_string(annot, key)
                        if value.strip():
                            annots.append(_XML_TAGS.sub("", value) if key == "RC" else value)
                    for o in range(min(pdfium_c.FPDFAnnot_GetObjectCount(annot), MAX_OBJECTS)):
                        obj = pdfium_c.FPDFAnnot_GetObject(annot, o)
                        if obj and pdfium_c.FPDFPageObj_GetType(obj) == pdfium_c.FPDF_PAGEOBJ_TEXT:
                            annots.append(_obj_text(obj, textpage.raw))
                finally:
                    pdfium_c.FPDFPage_CloseAnnot(annot)
            ctx.add("\n".join(a for a in annots if a.strip()), f"{location}/page{i + 1} annotations", "property")
            if i >= WATERMARK_PAGES and i != n - 1:
                continue  # a watermark repeats on every page: the first pages and the last tell
            marks = []
            alpha = ctypes.c_uint()
            rgb = ctypes.c_uint()
            for k, obj in enumerate(page.get_objects(filter=(pdfium_c.FPDF_PAGEOBJ_TEXT,), max_depth=3)):
                if k >= MAX_OBJECTS:
                    break
                a, b, c, d, _e, _f = obj.get_matrix().get()
                rotated = abs(b) > 1e-3 or abs(c) > 1e-3 or a < 0 or d < 0
                transparent = (pdfium_c.FPDFPageObj_GetFillColor(obj.raw, ctypes.byref(rgb), ctypes.byref(rgb),
                                                                 ctypes.byref(rgb), ctypes.byref(alpha))
                               and alpha.value < 255)
                if rotated or transparent:
                    marks.append(_obj_text(obj.raw, textpage.raw))
            ctx.add("\n".join(m for m in marks if m.strip()), f"{location}/page{i + 1} watermark", "watermark")
        finally:
            textpage.close()
            page.close()


_XML_TAGS = re.compile(r"<[^<>]*>")


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


SCANNED_PAGE_CHARS = 20  # a page with less text than this is a scan if it holds a picture


def _ocr_pages(ctx: Context, pdf, candidates: list[int], n: int, location: str) -> None:
    """Every page that is a picture (no text layer, an image on it) is read by OCR, in page
    order up to the OCR allowance, even when other pages have text (a scanned attachment
    behind a typed cover letter); the pages past the allowance are reported as not read."""
    import pypdfium2.raw as pdfium_c

    pages = []
    for i in candidates:
        page = pdf[i]
        try:
            if next(page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=3), None) is not None:
                pages.append(i)
        finally:
            page.close()
    if not pages:
        return
    readable = min(len(pages), ocr.allowance(ctx))
    images = []
    for i in pages[:readable]:
        ctx.check_time()
        page = pdf[i]
        try:
            images.append((f"{location}/page{i + 1}", ocr_docs.page_image(ctx, page)))
        finally:
            page.close()
    ocr_docs.read_pages(ctx, images)
    if readable < len(pages):
        left = [i + 1 for i in pages[readable:]]
        what = ("PDF without a text layer" if not readable and len(pages) == n
                else f"scanned pages {left[0]}-{left[-1]}" if len(left) > 1 else f"scanned page {left[0]}")
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
