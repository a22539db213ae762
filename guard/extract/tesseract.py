"""Tesseract, the OCR fallback when RapidOCR is not installed (a child process per image, with
cheap remedies: EXIF orientation, noise filter, contrast stretch, its orientation detector,
deskew, Sauvola thresholding), and what a reading of a picture is (guard/extract/ocr.py)."""
from __future__ import annotations

import functools
import io
import shutil
import subprocess

from guard.errors import ExtractionError
from guard.extract import child
from guard.extract.context import Context

TESSERACT = shutil.which("tesseract")


CHILD_MEMORY = 2 << 30   # address space of one tesseract process


UNREADABLE_CHARS = 12    # fewer readable characters than this on a page of text: not inspected


TEXT_PAGE_ROWS = 8       # bands of text rows that make a picture look like a page of text


LEGIBLE_SIDE = 500       # px: a smaller picture of a page (a thumbnail) is not legible to anyone


@functools.cache
def languages() -> str | None:
    """Tesseract's `-l` argument: the Chinese model if installed here, or None."""
    if not TESSERACT:
        return None
    try:
        out = subprocess.run([TESSERACT, "--list-langs"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    have = {line.strip() for line in out.splitlines()[1:]}
    # Chinese only: with chi_sim+eng, the English model won lines such as 绝密★长期 ("eK");
    # on 20 rendered marking images chi_sim alone read 18 into a blocking marking, +eng 17.
    return "chi_sim" if "chi_sim" in have else None


# -- what a reading is -----------------------------------------------------------------------
class Reading(str):
    """The whole picture's text (a str, so callers that want only the text have it), with the
    top band, the text blocks, and whether the picture looked like text that was not read."""
    band: str = ""
    blocks: tuple[str, ...] = ()
    unreadable: bool = False
    rotation: int = 0

    @classmethod
    def make(cls, text: str, band: str = "", blocks=(), unreadable: bool = False, rotation: int = 0) -> "Reading":
        r = cls(text)
        r.band, r.blocks, r.unreadable, r.rotation = band, tuple(blocks), unreadable, rotation
        return r


# -- Tesseract, when RapidOCR is not installed ----------------------------------------------------
def _tesseract_run(ctx: Context, pgm: bytes, psm: int = 6) -> str:
    # --psm 6 (one block of text): the automatic layout mode (3) turned a plain A4 page of
    # Chinese lines into noise. thresholding_method=2 (Sauvola) copes with shadows and yellowed
    # paper. One OpenMP thread: several spin on a busy 2-core host.
    code, out = child.run(ctx, [TESSERACT, "stdin", "stdout", "-l", languages(), "--psm", str(psm),
                                "-c", "thresholding_method=2"], pgm, CHILD_MEMORY, env={"OMP_THREAD_LIMIT": "1"})
    if code != 0:
        raise ExtractionError("corrupt", "OCR could not read the image")
    return out.decode("utf-8", "replace")


def _pgm(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PPM")
    return buf.getvalue()


def _deskew(g):
    """Turn a page upright by the small angle that makes its text rows sharpest."""
    import numpy as np
    from PIL import Image

    thumb = g.copy()
    thumb.thumbnail((500, 500))
    ink = Image.fromarray(((np.asarray(thumb) < 128) * 255).astype("uint8"))
    best, angle = -1.0, 0.0
    for a in [x * 0.5 for x in range(-20, 21)]:
        prof = np.asarray(ink.rotate(a, expand=False), dtype=np.float32).sum(axis=1)
        score = float(np.var(prof))
        if score > best:
            best, angle = score, a
    return g.rotate(angle, expand=True, fillcolor=255, resample=Image.BILINEAR) if abs(angle) >= 1 else g


def _tesseract(ctx: Context, data: bytes) -> Reading:
    import numpy as np
    from PIL import Image, ImageFilter, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as im:
            g = ImageOps.exif_transpose(im).convert("L")
    except Exception as e:  # noqa: BLE001 - Pillow raises many types for damaged images
        raise ExtractionError("corrupt", f"unreadable image: {e}"[:200]) from None
    if max(g.size) > 2400:
        g.thumbnail((2400, 2400))
    a = np.asarray(g, dtype=np.int16)
    med = g.filter(ImageFilter.MedianFilter(3))
    if (np.abs(a - np.asarray(med, dtype=np.int16)) > 100).mean() > 0.005:   # salt-and-pepper noise
        g = med
    g = ImageOps.autocontrast(g, cutoff=1)   # faded, yellowed paper: stretch what contrast is left
    # Its orientation detector first: an upside-down page reads as plenty of wrong characters.
    code, osd = child.run(ctx, [TESSERACT, "stdin", "stdout", "--psm", "0"], _pgm(g), CHILD_MEMORY,
                          env={"OMP_THREAD_LIMIT": "1"})
    rotation = next((int(ln.split(":")[1]) for ln in osd.decode("utf-8", "replace").splitlines()
                     if ln.startswith("Rotate:")), 0) if code == 0 else 0
    if rotation:
        g = g.rotate(-rotation, expand=True, fillcolor=255)
    g = _deskew(g)
    text = _tesseract_run(ctx, _pgm(g))
    w, h = g.size
    band = _tesseract_run(ctx, _pgm(g.crop((0, 0, w, int(h * 0.22))))) if 1.15 < h / w < 1.8 else ""
    unreadable = (min(w, h) >= LEGIBLE_SIDE and sum(c.isalnum() for c in text) < UNREADABLE_CHARS
                  and _text_rows(g) >= TEXT_PAGE_ROWS)
    return Reading.make(text, band, (), unreadable, rotation)


def _text_rows(g) -> int:
    import numpy as np

    thumb = g.copy()
    thumb.thumbnail((600, 600))
    a = np.asarray(thumb, dtype=np.float32)
    dark = (a < a.mean() - 2 * max(8.0, a.std() * 0.5)).mean(axis=1)
    inked = (dark > 0.01) & (dark < 0.5)
    return int(np.count_nonzero(inked[1:] & ~inked[:-1]) + inked[0])
