"""Pictures that are pages: a scanned PDF's image-only pages and the pictures embedded in Office
and OpenDocument files (pasted screenshots), read by OCR within the input's allowance."""
from __future__ import annotations

import io
import os
import time

from guard.errors import ExtractionError, LimitExceeded
from guard.extract import ocr as _ocr
from guard.extract.context import Context

def page_image(ctx: Context, page, dpi: int = 150) -> bytes:
    """A PDF page (pypdfium2) rendered as PNG: 150 dpi is what the workers read pages at."""
    w, h = page.get_size()  # points
    scale = dpi / 72
    budget = min(ctx.limits.max_image_pixels, 16_000_000)  # huge page boxes are scaled down, not refused
    if w * h * scale * scale > budget:
        scale = (budget / (w * h)) ** 0.5
    bitmap = page.render(scale=scale, grayscale=_ocr.engine() == "tesseract")
    buf = io.BytesIO()
    bitmap.to_pil().save(buf, "PPM" if _ocr.engine() == "tesseract" else "PNG", **({} if _ocr.engine() == "tesseract"
                                                                               else {"compress_level": 1}))
    return buf.getvalue()


def read_pages(ctx: Context, images: list[tuple[str, bytes]]) -> None:
    """OCR rendered pages, as many at once as there are workers; each page's parts in order."""
    from concurrent.futures import ThreadPoolExecutor

    if not images:
        return
    ctx.slow()
    with ThreadPoolExecutor(max(1, min(len(images), _ocr.WORKERS if _ocr.engine() != "tesseract" else 2))) as ex:
        readings = list(ex.map(lambda item: _ocr.ocr(ctx, item[1]), images))
    for (location, _), reading in zip(images, readings, strict=True):
        _ocr.add_reading(ctx, reading, location)


MIN_PICTURE = (200, 40)  # smaller embedded pictures are icons, bullets and rules, not text


def read_pictures(ctx: Context) -> None:
    """OCR the pictures embedded in the input's documents (screenshots pasted into Word or
    PowerPoint), in document order, up to the OCR allowance, several at once, and only while
    at least half the time budget is left; their text becomes parts. Pictures that cannot be
    read are skipped (the document's own text has been inspected); bombs are problems."""
    from concurrent.futures import ThreadPoolExecutor

    from guard.extract.sniff import sniff
    from guard.extract.zipsafe import read_member

    if ctx.deadline - time.monotonic() < ctx.limits.max_seconds / 2:
        return
    chosen = []
    wanted = min(_ocr.allowance(ctx), ctx.limits.max_ocr_pictures)
    for location, zf, info in sorted(ctx.pictures, key=lambda p: _natural(p[0])):
        if len(chosen) >= wanted:
            break
        try:
            data = read_member(ctx, zf, info)
            if sniff(data) != "image":
                continue  # EMF/WMF/SVG: vector drawings, not read
            w, h = _ocr.image_size(data)
            if w < MIN_PICTURE[0] or h < MIN_PICTURE[1]:
                continue
            _ocr.check_pixels(ctx, w, h)
        except LimitExceeded as e:  # a bomb in the document is a finding (blocks), like any other
            ctx.problem("limit", location, e.detail)
            continue
        except ExtractionError:
            continue
        chosen.append((location, data))
    if not chosen:
        return
    ctx.slow()  # before any thread starts: the caller then inspects in a worker

    def read(data: bytes) -> str:
        try:
            return _ocr.ocr(ctx, data)
        except ExtractionError as e:
            if e.reason == "timeout":
                raise
            return ""

    # Each OCR runs in a worker process; the threads only wait on them.
    with ThreadPoolExecutor(max(1, min(len(chosen), os.cpu_count() or 1, 4))) as ex:
        texts = list(ex.map(read, [data for _, data in chosen]))
    for (location, _), text in zip(chosen, texts, strict=True):
        _ocr.add_reading(ctx, text, location)  # add() ignores blank text


def _natural(name: str):
    """image2.png before image10.png: media are numbered in the order they were inserted."""
    import re
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]
