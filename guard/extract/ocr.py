"""Text in pixels: Tesseract (chi_sim) over uploaded images, scanned PDF pages and pictures in documents.

Tesseract runs as a child process per image, limited in memory and to the input's time
budget: a hostile image can cost that child, never the proxy. Without the `tesseract`
binary (or its Chinese model), images stay `uninspectable.image` findings.
"""
from __future__ import annotations

import functools
import io
import os
import shutil
import subprocess
import time

from guard.errors import ExtractionError, LimitExceeded
from guard.extract import child
from guard.extract.context import Context

TESSERACT = shutil.which("tesseract")
CHILD_MEMORY = 2 << 30   # address space of one tesseract process


@functools.cache
def languages() -> str | None:
    """The `-l` argument: the Chinese model if installed here, or None (no OCR)."""
    if not TESSERACT:
        return None
    try:
        out = subprocess.run([TESSERACT, "--list-langs"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    have = {line.strip() for line in out.splitlines()[1:]}
    # Chinese only: with chi_sim+eng, the English model won lines such as 绝密★长期 ("eK");
    # on 20 rendered marking images chi_sim alone read 18 into a blocking marking, +eng 17.
    # (The Chinese model also reads digits and most Latin letters.)
    return "chi_sim" if "chi_sim" in have else None


def available() -> bool:
    return languages() is not None


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the image header, without decoding the pixels."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Image.DecompressionBombError as e:
        raise LimitExceeded(f"image: {e}") from None
    except Exception as e:  # Pillow raises many types for damaged headers
        raise ExtractionError("corrupt", f"unreadable image: {e}") from None


def check_pixels(ctx: Context, width: int, height: int) -> None:
    if width * height > ctx.limits.max_image_pixels:
        raise LimitExceeded(f"image of {width}x{height} pixels (limit {ctx.limits.max_image_pixels})")


def allowance(ctx: Context) -> int:
    """How many more images this input may have read (OCR is the slow part of a decision)."""
    return max(0, ctx.limits.max_ocr_images - ctx.ocr_images) if available() else 0


def ocr(ctx: Context, data: bytes) -> str:
    """Recognized text of one image (PNG, JPEG, TIFF, GIF, BMP, WebP, PNM)."""
    ctx.slow()
    ctx.ocr_images += 1
    # --psm 6 (one block of text): the automatic layout mode (3) turned a plain A4 page of
    # Chinese lines into noise and read 12 of those 20 images; 4 and 6 read 18, 6 the
    # 绝密★启用前 lines too. One OpenMP thread: several spin on a busy 2-core host (20 s
    # instead of 4 s a page) and the workers already use every core.
    code, out = child.run(ctx, [TESSERACT, "stdin", "stdout", "-l", languages(), "--psm", "6"], data,
                          CHILD_MEMORY, env={"OMP_THREAD_LIMIT": "1"})
    if code != 0:
        raise ExtractionError("corrupt", "OCR could not read the image")
    # Spaces Tesseract may put between characters of a marking word are removed by the
    # normalizer, so the text is kept as read.
    return out.decode("utf-8", "replace")


def extract_image(ctx: Context, data: bytes, location: str) -> None:
    if not available():
        ctx.problem("image", location, "image content is not inspected without OCR")
        return
    check_pixels(ctx, *image_size(data))
    if not allowance(ctx):
        why = (f"more than {ctx.limits.max_ocr_images} images in one input" if ctx.limits.max_ocr_images
               else "OCR is off in this policy (max_ocr_images: 0)")
        ctx.problem("image", location, f"{why}: not read")
        return
    ctx.add(ocr(ctx, data), f"{location} (OCR)", "body")


def page_image(ctx: Context, page, dpi: int = 200) -> bytes:
    """A PDF page (pypdfium2) rendered in grey as PGM, which Tesseract reads without decoding."""
    w, h = page.get_size()  # points
    scale = dpi / 72
    budget = min(ctx.limits.max_image_pixels, 16_000_000)  # huge page boxes are scaled down, not refused
    if w * h * scale * scale > budget:
        scale = (budget / (w * h)) ** 0.5
    bitmap = page.render(scale=scale, grayscale=True)
    buf = io.BytesIO()
    bitmap.to_pil().save(buf, "PPM")
    return buf.getvalue()


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
    wanted = min(allowance(ctx), ctx.limits.max_ocr_pictures)
    for location, zf, info in sorted(ctx.pictures, key=lambda p: _natural(p[0])):
        if len(chosen) >= wanted:
            break
        try:
            data = read_member(ctx, zf, info)
            if sniff(data) != "image":
                continue  # EMF/WMF/SVG: vector drawings, not read
            w, h = image_size(data)
            if w < MIN_PICTURE[0] or h < MIN_PICTURE[1]:
                continue
            check_pixels(ctx, w, h)
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
            return ocr(ctx, data)
        except ExtractionError as e:
            if e.reason == "timeout":
                raise
            return ""

    # Each OCR is a child process; the threads only wait on them.
    with ThreadPoolExecutor(max(1, min(len(chosen), os.cpu_count() or 1, 4))) as pool:
        texts = list(pool.map(read, [data for _, data in chosen]))
    for (location, _), text in zip(chosen, texts, strict=True):
        ctx.add(text, f"{location} (OCR)", "body")  # add() ignores blank text


def _natural(name: str):
    """image2.png before image10.png: media are numbered in the order they were inserted."""
    import re
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]
