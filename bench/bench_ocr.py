"""OCR on damaged page pictures: how many marked pages are flagged, how many pages about secrecy
are (false positives), time per page and the OCR worker's memory.

The pages are generated (tests/extract/ocr_pages.py: rotated, blurred, shadowed, yellowed,
noisy, photocopied twice, sideways with EXIF, upside down, red stamp, top-right level, chat
screenshot, 3-page scans; posters, newspaper pages and training slides as negatives), with
seeds the tests do not use. Each page goes through the public Engine with the default policy
(time budget raised: this measures reading, not the budget).

    nice -n 19 python bench/bench_ocr.py [--seeds 3] [--engine rapidocr|rapidocr_onnxruntime|tesseract]
        [--python INTERPRETER]   # an interpreter that has the engine (to compare generations)

Time per page is the OCR call's wall time, and the worker's CPU seconds (independent of how
busy the machine is; with T threads the wall time on an idle machine is roughly CPU / T..CPU).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "extract"))


def rss_of_workers() -> list[tuple[int, int]]:
    """(VmHWM, VmRSS) in MB of every OCR worker process that is a child of this one."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if b"ocr_worker.py" in cmd and f"PPid:\t{os.getpid()}" in status:
            vals = {ln.split(":")[0]: int(ln.split()[1]) // 1024 for ln in status.splitlines()
                    if ln.startswith(("VmHWM", "VmRSS"))}
            out.append((vals.get("VmHWM", 0), vals.get("VmRSS", 0)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=500)
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--python", default=None)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    os.environ["GUARD_OCR_ENGINE"] = args.engine
    if args.python:
        os.environ["GUARD_OCR_PYTHON"] = args.python
    if args.threads:
        os.environ["GUARD_OCR_THREADS"] = str(args.threads)

    import ocr_pages
    from guard import Engine
    from guard.extract import ocr
    from guard.policy import load_policy_text
    from guard.policy.loader import DEFAULT_POLICY

    engine = Engine(load_policy_text(f"extends: [{DEFAULT_POLICY}]\nlimits:\n  max_seconds: 300\n", "bench"))
    timings: list[tuple[float, float]] = []   # (wall, worker cpu) per picture read
    real_ocr, real_from = ocr.ocr, ocr.from_worker
    cpu: list[float] = []

    def timed(ctx, data):
        t = time.perf_counter()
        r = real_ocr(ctx, data)
        timings.append((time.perf_counter() - t, cpu.pop() if cpu else float("nan")))
        return r

    def capture(answer):
        cpu.append(answer.get("cpu_s", float("nan")))
        return real_from(answer)
    ocr.ocr, ocr.from_worker = timed, capture
    if ocr.engine() != "tesseract":   # the load (~1 s) is paid once at start-up, not per page
        from guard.extract.context import Context
        warm = ocr_pages.encode(ocr_pages.render_page(__import__("random").Random(0), None, size=(600, 300)), "png")
        real_ocr(Context(engine.policy.limits), warm)
    print(f"engine: {ocr.engine()} {ocr.pool().models if ocr.engine() != 'tesseract' else ''}; "
          f"threads {ocr.THREADS}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    by_kind: dict[str, list[int]] = {}
    marked = flagged = neg = fp = 0
    misses = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for kind in ocr_pages.MARKED_KINDS + ocr_pages.NEGATIVE_KINDS:
            page = ocr_pages.make_page(kind, seed)
            v = engine.scan_bytes(page.data, filename=page.name)
            hit = v.action == "block" if page.marked else v.action != "allow"
            by_kind.setdefault(kind, [0, 0])
            by_kind[kind][0] += hit
            by_kind[kind][1] += 1
            if page.marked:
                marked += 1
                flagged += hit
            else:
                neg += 1
                fp += hit
            if hit != page.marked:
                misses.append(f"{page.name}: {v.action} {[f.rule for f in v.findings]}")
            if args.verbose:
                print(f"  {page.name:24s} {v.action:5s} {[f.rule for f in v.findings][:3]}", flush=True)
    walls = sorted(t for t, _ in timings)
    cpus = sorted(c for _, c in timings if c == c)
    p95 = lambda xs: xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))] if xs else float("nan")
    print(f"marked pages flagged: {flagged}/{marked} ({flagged / max(1, marked):.0%}); "
          f"false positives on pages about secrecy: {fp}/{neg}")
    print("by kind: " + ", ".join(f"{k} {a}/{b}" for k, (a, b) in by_kind.items()))
    print(f"OCR per picture ({len(walls)}): wall median {statistics.median(walls):.2f} s, p95 {p95(walls):.2f} s; "
          + (f"worker CPU median {statistics.median(cpus):.2f} s, p95 {p95(cpus):.2f} s" if cpus else ""))
    mem = rss_of_workers()
    if mem:
        print("OCR workers: " + ", ".join(f"peak {h} MB (now {r} MB)" for h, r in mem))
    for m in misses:
        print("  missed/false:", m)
    if ocr.engine() != "tesseract":
        ocr.pool().close()


if __name__ == "__main__":
    main()
