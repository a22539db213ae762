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
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from guard.errors import ExtractionError, LimitExceeded
from guard.extract.context import Context
from guard.extract.tesseract import (  # noqa: F401  (the reading, limits and fallback live there)
    LEGIBLE_SIDE, TESSERACT, TEXT_PAGE_ROWS, UNREADABLE_CHARS, Reading, _tesseract, _text_rows, languages,
)

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


