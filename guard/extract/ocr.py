"""Text in pixels: uploaded images, scanned PDF pages and pictures in documents.

Engine: RapidOCR with the PP-OCR models that ship inside its wheel, in a small pool of
pre-loaded worker processes (`ocr_worker.py`; loading takes ~1 s, so never a process per
image), each with 1-2 inference threads and an address-space limit; a worker past the input's
time budget is killed and replaced. It reads the level word on damaged pages where Tesseract
does not, and reads ★ and ▲ (Tesseract's chi_sim model has neither). Without RapidOCR,
Tesseract (chi_sim) runs as a child process per image with cheap remedies: EXIF orientation,
deskew, a median filter when the picture is noisy, Sauvola thresholding, and the 90/180/270
turn from its orientation detector when a first reading finds little. Without either, images
stay `uninspectable.image` findings.

What comes out of a picture: the whole page's text in reading order; the top band of a page
again as a part of its own (份号 and marking head it, so the structure cues see them at the
head); a screenshot's text blocks (chat bubbles, panels) as parts of their own. A picture that
looks like a page of text but yields none is reported as not inspected: never silently allowed.
"""
from __future__ import annotations

import functools
import io
import json
import os
import queue
import resource
import select
import shutil
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from guard.errors import ExtractionError, LimitExceeded
from guard.extract import child
from guard.extract.context import Context

TESSERACT = shutil.which("tesseract")
CHILD_MEMORY = 2 << 30   # address space of one tesseract process
WORKER = Path(__file__).with_name("ocr_worker.py")
# Settings of the OCR workers (environment, read at start): how many per inspecting process,
# inference threads each, address-space limit each, and which engine (auto: RapidOCR 3.x, else
# rapidocr_onnxruntime 1.x, else Tesseract).
WORKERS = int(os.environ.get("GUARD_OCR_WORKERS", "1"))
THREADS = int(os.environ.get("GUARD_OCR_THREADS", str(min(2, os.cpu_count() or 1))))
WORKER_MEMORY = int(os.environ.get("GUARD_OCR_MEMORY_MB", "3072")) << 20
ENGINE = os.environ.get("GUARD_OCR_ENGINE", "auto")
PYTHON = os.environ.get("GUARD_OCR_PYTHON", sys.executable)   # the interpreter that has the engine
MIN_SCORE = 0.5          # recognition confidence below which a line is not text
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


@functools.cache
def engine() -> str | None:
    """rapidocr | rapidocr_onnxruntime | tesseract | None."""
    import importlib.util

    def has(mod: str) -> bool:
        try:
            return importlib.util.find_spec(mod) is not None
        except (ImportError, ValueError):
            return False
    if ENGINE not in ("auto", "rapidocr", "rapidocr_onnxruntime", "tesseract"):
        return None
    external = PYTHON != sys.executable   # an engine in another interpreter: trust the setting
    if ENGINE in ("auto", "rapidocr") and (external or (has("rapidocr") and has("onnxruntime"))):
        return "rapidocr"
    if ENGINE in ("auto", "rapidocr_onnxruntime") and (external or has("rapidocr_onnxruntime")):
        return "rapidocr_onnxruntime"
    return "tesseract" if ENGINE in ("auto", "tesseract") and languages() else None


def available() -> bool:
    return engine() is not None


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


def _rows(lines: list) -> list[list]:
    """Boxes [text, score, x0, y0, x1, y1] grouped into rows (top to bottom), each left to right."""
    rows: list[list] = []
    for ln in sorted(lines, key=lambda b: (b[3] + b[5]) / 2):
        mid, height = (ln[3] + ln[5]) / 2, ln[5] - ln[3]
        if rows:
            last = rows[-1]
            lmid = sum((b[3] + b[5]) / 2 for b in last) / len(last)
            lh = max(b[5] - b[3] for b in last)
            if abs(mid - lmid) < 0.5 * min(height, lh):
                last.append(ln)
                continue
        rows.append([ln])
    return [sorted(r, key=lambda b: b[2]) for r in rows]


def _row_lines(row: list) -> list[tuple[str, list]]:
    """A row as one or more lines: boxes far apart (份号 at the left, the level at the right,
    or two newspaper columns) are lines of their own."""
    out: list[tuple[str, list]] = []
    for b in row:
        h = b[5] - b[3]
        if out and b[2] - out[-1][1][4] < 1.5 * h:
            text, box = out[-1]
            sep = " " if text[-1:].isascii() and b[0][:1].isascii() else ""
            out[-1] = (text + sep + b[0], [box[0], box[1], min(box[2], b[2]), min(box[3], b[3]),
                                          max(box[4], b[4]), max(box[5], b[5])])
        else:
            out.append((b[0], list(b)))
    return out


def compose(lines: list) -> tuple[str, list[tuple[str, list]]]:
    """(text in reading order, [(line, box)]) from recognized boxes."""
    good = [b for b in lines if b[1] >= MIN_SCORE]
    out = [ln for row in _rows(good) for ln in _row_lines(row)]
    return "\n".join(t for t, _ in out), out


def blocks(lines: list[tuple[str, list]]) -> list[str]:
    """Text blocks of a screenshot: lines that follow each other closely at the same left edge
    (a chat bubble, a panel) belong together."""
    out: list[list[tuple[str, list]]] = []
    for text, box in lines:
        h = box[5] - box[3]
        if out:
            _, last = out[-1][-1]
            if 0 <= box[3] - last[5] < 0.9 * h and abs(box[2] - out[-1][0][1][2]) < 1.5 * h:
                out[-1].append((text, box))
                continue
        out.append([(text, box)])
    return ["\n".join(t for t, _ in blk) for blk in out]


def _readable(lines: list) -> int:
    return sum(sum(c.isalnum() for c in b[0]) for b in lines if b[1] >= MIN_SCORE)


def from_worker(answer: dict) -> Reading:
    text, lines = compose(answer.get("lines", []))
    band, _ = compose(answer.get("band", []))
    w, h = answer.get("size", [1, 1])
    page = 1.15 < h / max(1, w) < 1.8
    blks = blocks(lines) if not page and len(lines) > 1 else []
    # Only a picture large enough for a person to read (not a document's thumbnail) can hide text.
    unreadable = (min(w, h) >= LEGIBLE_SIDE and _readable(answer.get("lines", [])) < UNREADABLE_CHARS
                  and (answer.get("text_rows", 0) >= TEXT_PAGE_ROWS or answer.get("boxes", 0) >= 6))
    return Reading.make(text, band, blks if len(blks) > 1 else (), unreadable, answer.get("rotation", 0))


# -- the worker pool ---------------------------------------------------------------------------
class _Worker:
    def __init__(self, argv: list[str], memory: int, deadline: float):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env={**os.environ, "OMP_NUM_THREADS": str(THREADS), "OPENBLAS_NUM_THREADS": "1"})
        try:
            if memory:
                resource.prlimit(self.proc.pid, resource.RLIMIT_AS, (memory, memory))
            hello = self.receive(deadline)
        except BaseException:
            self.kill()
            raise
        if not hello.get("ready"):
            self.kill()
            raise ExtractionError("corrupt", f"OCR worker: {hello.get('error', 'did not start')}"[:200])
        self.models = hello.get("models", "")

    def receive(self, deadline: float) -> dict:
        (n,) = struct.unpack("<I", self._read(4, deadline))
        return json.loads(self._read(n, deadline))

    def _read(self, n: int, deadline: float) -> bytes:
        fd, buf = self.proc.stdout.fileno(), b""
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fd, n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def ask(self, data: bytes, opts: dict, deadline: float) -> dict:
        head = json.dumps(opts).encode()
        self.proc.stdin.write(struct.pack("<I", len(head)) + head + struct.pack("<I", len(data)))
        self.proc.stdin.write(data)
        self.proc.stdin.flush()
        return self.receive(deadline)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass


class Pool:
    """At most `size` pre-loaded workers; a caller waits for a free one within its deadline."""

    def __init__(self, argv: list[str], size: int, memory: int):
        self.argv, self.size, self.memory = argv, max(1, size), memory
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self._lock = threading.Lock()
        self._count = 0
        self.models = ""

    def _acquire(self, deadline: float) -> _Worker:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            start = self._count < self.size
            if start:
                self._count += 1
        if start:
            try:
                w = _Worker(self.argv, self.memory, deadline)
            except BaseException:
                with self._lock:
                    self._count -= 1
                raise
            self.models = w.models
            return w
        try:
            return self._idle.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError from None

    def _drop(self, w: _Worker) -> None:
        w.kill()
        with self._lock:
            self._count -= 1

    def run(self, data: bytes, opts: dict, deadline: float) -> dict:
        w = self._acquire(deadline)
        try:
            answer = w.ask(data, opts, deadline)
        except BaseException:
            self._drop(w)   # stuck or dead mid-answer: its state is unknown, a new one starts
            raise
        self._idle.put(w)
        return answer

    def warm(self) -> None:
        """Start the workers now (in the background), so the first picture does not wait ~1 s."""
        def start():
            try:
                self._idle.put(self._acquire(time.monotonic() + 60))
            except (ExtractionError, OSError, TimeoutError, EOFError, ValueError):
                pass
        for _ in range(self.size - self._count):
            threading.Thread(target=start, daemon=True).start()

    def close(self) -> None:
        while True:
            try:
                self._drop(self._idle.get_nowait())
            except queue.Empty:
                return


_pool: Pool | None = None
_pool_lock = threading.Lock()


def _forget_pool() -> None:
    # A forked child (an inspection worker) must not talk to its parent's OCR workers.
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool)


def pool() -> Pool:
    global _pool
    with _pool_lock:
        if _pool is None or _pool.argv[-1] != engine():
            _pool = Pool([PYTHON, str(WORKER), "--threads", str(THREADS), "--engine", engine()], WORKERS, WORKER_MEMORY)
        return _pool


def warm() -> None:
    """Load the OCR workers ahead of the first picture (a proxy calls this at start-up)."""
    if engine() in ("rapidocr", "rapidocr_onnxruntime"):
        pool().warm()


# -- reading one picture ---------------------------------------------------------------------------
def ocr(ctx: Context, data: bytes) -> Reading:
    """What OCR reads in one image (PNG, JPEG, TIFF, GIF, BMP, WebP, PNM)."""
    ctx.slow()
    ctx.ocr_images += 1
    if engine() == "tesseract":
        return _tesseract(ctx, data)
    remaining = ctx.deadline - time.monotonic()
    if remaining <= 0:
        raise ExtractionError("timeout", f"inspection took longer than {ctx.limits.max_seconds:g}s")
    try:
        answer = pool().run(data, {"band": True, "max_pixels": ctx.limits.max_image_pixels}, ctx.deadline)
    except TimeoutError:
        raise ExtractionError("timeout", f"OCR took longer than {ctx.limits.max_seconds:g}s") from None
    except (EOFError, OSError, ValueError) as e:   # the worker died (memory limit, crash)
        raise ExtractionError("corrupt", f"OCR worker failed on this image: {type(e).__name__}") from None
    if "error" in answer:
        reason = "limit" if answer["error"].startswith("limit") else "corrupt"
        raise ExtractionError(reason, f"OCR could not read the image ({answer['error'][:120]})")
    return from_worker(answer)


def add_reading(ctx: Context, reading: str, location: str) -> None:
    """The reading's parts: the whole text, the top band, the blocks; or a problem."""
    ctx.add(reading, f"{location} (OCR)", "body")
    band = getattr(reading, "band", "")
    if band and band != reading[:len(band)]:
        ctx.add(band, f"{location} (OCR top)", "body")
    for i, block in enumerate(getattr(reading, "blocks", ()), 1):
        ctx.add(block, f"{location} (OCR block {i})", "body")
    if getattr(reading, "unreadable", False):
        ctx.problem("image", location, "looks like a page of text, but OCR could not read it")


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
    add_reading(ctx, ocr(ctx, data), location)


def page_image(ctx: Context, page, dpi: int = 150) -> bytes:
    """A PDF page (pypdfium2) rendered as PNG: 150 dpi is what the workers read pages at."""
    w, h = page.get_size()  # points
    scale = dpi / 72
    budget = min(ctx.limits.max_image_pixels, 16_000_000)  # huge page boxes are scaled down, not refused
    if w * h * scale * scale > budget:
        scale = (budget / (w * h)) ** 0.5
    bitmap = page.render(scale=scale, grayscale=engine() == "tesseract")
    buf = io.BytesIO()
    bitmap.to_pil().save(buf, "PPM" if engine() == "tesseract" else "PNG", **({} if engine() == "tesseract"
                                                                               else {"compress_level": 1}))
    return buf.getvalue()


def read_pages(ctx: Context, images: list[tuple[str, bytes]]) -> None:
    """OCR rendered pages, as many at once as there are workers; each page's parts in order."""
    from concurrent.futures import ThreadPoolExecutor

    if not images:
        return
    ctx.slow()
    with ThreadPoolExecutor(max(1, min(len(images), WORKERS if engine() != "tesseract" else 2))) as ex:
        readings = list(ex.map(lambda item: ocr(ctx, item[1]), images))
    for (location, _), reading in zip(images, readings, strict=True):
        add_reading(ctx, reading, location)


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

    # Each OCR runs in a worker process; the threads only wait on them.
    with ThreadPoolExecutor(max(1, min(len(chosen), os.cpu_count() or 1, 4))) as ex:
        texts = list(ex.map(read, [data for _, data in chosen]))
    for (location, _), text in zip(chosen, texts, strict=True):
        add_reading(ctx, text, location)  # add() ignores blank text


def _natural(name: str):
    """image2.png before image10.png: media are numbered in the order they were inserted."""
    import re
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


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
