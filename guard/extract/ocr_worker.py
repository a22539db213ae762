"""An OCR worker process: RapidOCR with the PP-OCR models inside its wheel, loaded once.

Run as a script (`python ocr_worker.py --threads N`), not as part of the `guard` package:
it imports only the standard library, numpy, Pillow and the OCR engine, so it starts in about
a second and holds ~0.6 GB, and a hostile image can crash or exhaust this process, never the
one that inspects the request. Requests and answers are length-framed JSON on stdin/stdout:

    request:  <4-byte length><JSON options><4-byte length><image file bytes>
    answer:   <4-byte length><JSON>  {"lines": [[text, score, x0, y0, x1, y1], ...],
              "band": [...], "rotation": degrees, "size": [w, h], "boxes": n} or {"error": ...}

Before recognition: the EXIF orientation is applied; a page turned by 90/180/270 degrees is
found from its text boxes and the line classifier and turned upright (the reading order, and
so where the marking is, depends on it); the top band of a page (where GB/T 9704 puts the
份号 and the marking) is read again at full resolution.

Nothing is downloaded: the model files are named explicitly from the installed package.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import struct
import sys
from pathlib import Path

import numpy as np

WHOLE_SIDE = 1600      # longest side the whole page is read at (phone photos are 3-4,000 px)
BAND_SIDE = 2000       # the top band is read at up to this width
BAND_SHARE = 0.22      # of a page's height: 份号, marking, 发文机关标志
DET_SIDE = 1280        # text detection runs at most this size; recognition reads the full crops


class Engine:
    """One generation of RapidOCR behind one interface: (boxes, texts, scores) and classify."""

    def __init__(self, name: str, threads: int):
        self.name = name
        if name == "rapidocr_onnxruntime":   # 1.x: PP-OCRv4 mobile
            from rapidocr_onnxruntime import RapidOCR
            self.ocr = RapidOCR(intra_op_num_threads=threads, inter_op_num_threads=1,
                                det_limit_side_len=DET_SIDE, det_limit_type="max")
            self.models = "PP-OCRv4 mobile (rapidocr_onnxruntime)"
            return
        import rapidocr
        from rapidocr import RapidOCR
        models = Path(rapidocr.__file__).parent / "models"
        pick = {kind: sorted(models.glob(f"*{kind}*.onnx")) for kind in ("det", "rec", "cls")}
        if not all(pick.values()):
            raise RuntimeError(f"no PP-OCR models in {models}")
        self.ocr = RapidOCR(params={
            "Global.log_level": "error",
            "Det.model_path": str(pick["det"][-1]), "Rec.model_path": str(pick["rec"][-1]),
            "Cls.model_path": str(pick["cls"][-1]),
            "Det.limit_side_len": DET_SIDE, "Det.limit_type": "max",
            "EngineConfig.onnxruntime.intra_op_num_threads": threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        })
        self.models = " + ".join(p[-1].stem for p in pick.values()) + f" (rapidocr {rapidocr.__version__ if hasattr(rapidocr, '__version__') else '3'})"

    def read(self, bgr: np.ndarray) -> tuple[list, list, list]:
        if self.name == "rapidocr_onnxruntime":
            res, _ = self.ocr(bgr, use_det=True, use_cls=True, use_rec=True)
            res = res or []
            return [np.array(r[0]) for r in res], [r[1] for r in res], [float(r[2]) for r in res]
        out = self.ocr(bgr, use_det=True, use_cls=True, use_rec=True)   # the flags stick between calls
        if out.boxes is None or out.txts is None:
            return [], [], []
        return list(out.boxes), list(out.txts), [float(s) for s in out.scores]

    def upside_down(self, crops: list[np.ndarray]) -> float:
        """Share of the line crops the classifier reads as turned by 180 degrees."""
        if not crops:
            return 0.0
        votes = 0
        for crop in crops:
            if self.name == "rapidocr_onnxruntime":
                res, _ = self.ocr(crop, use_det=False, use_cls=True, use_rec=False)
                label, score = (res[0][0], res[0][1]) if res else ("0", 0.0)
            else:
                out = self.ocr(crop, use_det=False, use_cls=True, use_rec=False)
                label, score = out.cls_res[0] if out.cls_res else ("0", 0.0)
            votes += label == "180" and score > 0.7
        return votes / len(crops)


def _rect(box) -> tuple[float, float, float, float]:
    b = np.asarray(box, dtype=np.float32).reshape(-1, 2)
    return float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 0].max()), float(b[:, 1].max())


def _crops(bgr: np.ndarray, rects, n: int = 7, turn: int = 0) -> list[np.ndarray]:
    """The n longest text boxes cut out (turned by `turn` quarter turns counter-clockwise)."""
    longest = sorted(rects, key=lambda r: max(r[2] - r[0], r[3] - r[1]), reverse=True)[:n]
    out = []
    for x0, y0, x1, y1 in longest:
        crop = bgr[max(0, int(y0)):int(y1) + 1, max(0, int(x0)):int(x1) + 1]
        if crop.size:
            out.append(np.ascontiguousarray(np.rot90(crop, turn)) if turn else crop)
    return out


def _scaled(img, side: int):
    from PIL import Image
    w, h = img.size
    s = side / max(w, h)
    return img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.LANCZOS) if s < 1 else img


def _bgr(img) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(img.convert("RGB"))[:, :, ::-1])


def _lines(boxes, txts, scores, scale: float, dy: float = 0) -> list:
    out = []
    for box, text, score in zip(boxes, txts, scores):
        if text.strip():
            x0, y0, x1, y1 = _rect(box)
            out.append([text, round(score, 3), round(x0 * scale), round(y0 * scale + dy),
                        round(x1 * scale), round(y1 * scale + dy)])
    return out


def recognize(engine: Engine, data: bytes, opts: dict) -> dict:
    from PIL import Image, ImageOps

    Image.MAX_IMAGE_PIXELS = int(opts.get("max_pixels", 40_000_000))
    with Image.open(io.BytesIO(data)) as im:
        img = ImageOps.exif_transpose(im).convert("RGB")   # phone photos saved sideways say so in EXIF
    rotation = 0
    small = _scaled(img, WHOLE_SIDE)
    bgr = _bgr(small)
    boxes, txts, scores = engine.read(bgr)
    rects = [_rect(b) for b in boxes]
    tall = sum(r[3] - r[1] > 1.5 * (r[2] - r[0]) for r in rects)
    if tall >= 3 and tall > 2 * (len(rects) - tall):
        # A page lying on its side: its lines are columns. Turned a quarter clockwise, are they
        # upright (classifier: 0) or upside down (180)? Then the whole page is turned once.
        flipped = engine.upside_down(_crops(bgr, [r for r in rects if r[3] - r[1] > r[2] - r[0]], turn=-1))
        rotation = 90 if flipped > 0.5 else 270   # counter-clockwise degrees, as PIL turns
    elif len(rects) >= 2 and engine.upside_down(_crops(bgr, rects)) > 0.5:
        rotation = 180
    sw, sh = small.size
    lines = _lines(boxes, txts, scores, 1.0)
    if rotation:
        # The lines were read right (tall crops are turned, the classifier flips upside-down
        # ones); only their order was wrong: turn the boxes, not the page, and read nothing twice.
        lines = [_turned(ln, rotation, sw, sh) for ln in lines]
        img = img.rotate(rotation, expand=True)
        if rotation != 180:
            sw, sh = sh, sw
    scale = img.size[0] / sw
    for ln in lines:
        ln[2:] = [round(v * scale) for v in ln[2:]]
    result = {"lines": lines, "band": [], "rotation": rotation,
              "size": list(img.size), "boxes": len(boxes), "text_rows": text_rows(small)}
    w, h = img.size
    if opts.get("band") and 1.15 < h / w < 1.8:
        if scale < 1.5:   # read at (nearly) full resolution already: the band is those lines
            result["band"] = [ln for ln in result["lines"] if ln[5] <= h * BAND_SHARE]
        else:
            # A large photo: a small marking may not survive the whole page's downscaling,
            # so the top band is read again at full resolution.
            band = _scaled(img.crop((0, 0, w, int(h * BAND_SHARE))), BAND_SIDE)
            b_boxes, b_txts, b_scores = engine.read(_bgr(band))
            result["band"] = _lines(b_boxes, b_txts, b_scores, w / band.size[0])
    return result


def text_rows(img) -> int:
    """How many bands of dark rows separated by light ones the picture has: a page of text
    has dozens, a photo or a drawing few. (Says a picture *looks* like text when OCR reads
    nothing of it.)"""
    g = np.asarray(_scaled(img, 600).convert("L"), dtype=np.float32)
    dark = (g < g.mean() - 2 * max(8.0, g.std() * 0.5)).mean(axis=1)
    inked = (dark > 0.01) & (dark < 0.5)
    starts = np.flatnonzero(inked[1:] & ~inked[:-1])
    return int(len(starts) + inked[0])


def _turned(line: list, rotation: int, w: int, h: int) -> list:
    """A line's box in a picture of w x h after turning it counter-clockwise by `rotation`."""
    text, score, x0, y0, x1, y1 = line
    if rotation == 90:
        return [text, score, y0, w - x1, y1, w - x0]
    if rotation == 270:
        return [text, score, h - y1, x0, h - y0, x1]
    return [text, score, w - x1, h - y1, w - x0, h - y0]


def _read_exact(f, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = f.read(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def _send(out, obj: dict) -> None:
    body = json.dumps(obj, ensure_ascii=False).encode()
    out.write(struct.pack("<I", len(body)) + body)
    out.flush()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--engine", default="rapidocr")
    args = ap.parse_args()
    # The protocol owns stdout: anything a library prints goes to stderr instead.
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inp = sys.stdin.buffer
    try:
        engine = Engine(args.engine, args.threads)
    except Exception as e:  # noqa: BLE001 - reported to the parent, which says OCR is unavailable
        _send(out, {"error": f"cannot load {args.engine}: {type(e).__name__}: {e}"})
        return 1
    _send(out, {"ready": True, "models": engine.models})
    while True:
        try:
            (n,) = struct.unpack("<I", _read_exact(inp, 4))
            opts = json.loads(_read_exact(inp, n))
            (n,) = struct.unpack("<I", _read_exact(inp, 4))
            data = _read_exact(inp, n)
        except EOFError:   # the parent is gone or closed the pipe
            return 0
        try:
            t0 = os.times()
            answer = recognize(engine, data, opts)
            t1 = os.times()
            answer["cpu_s"] = round(t1.user - t0.user + t1.system - t0.system, 3)   # for the benchmark
            _send(out, answer)
        except MemoryError:
            _send(out, {"error": "limit: out of memory"})
        except Exception as e:  # noqa: BLE001 - a damaged image is an answer, not the worker's end
            _send(out, {"error": f"corrupt: {type(e).__name__}: {e}"[:300]})


if __name__ == "__main__":
    sys.exit(main())
