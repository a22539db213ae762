"""Engine benchmark: MB/s of Engine.scan_text beside a bare pyahocorasick pass, and
the time to decide 5 MB docx/pdf uploads. Prints a table; run with `make bench`.

The bare pass is the floor for this design: the same text, the same keyword set
(every literal of the default policy), one `Automaton.iter` over it and nothing else.
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import ahocorasick

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus_gen import ZH, mixed_text, secrecy_prose  # noqa: E402

from guard import Engine  # noqa: E402
from guard.policy import load_policy, load_policy_text  # noqa: E402
from guard.policy.loader import DEFAULT_POLICY  # noqa: E402


def peak_rss_of_scan(data: bytes, ext: str) -> float:
    """Peak RSS in MB of a separate `guard scan` process deciding this one file. Measured by
    GNU time, a small exec'd parent: a child forked from this big process would report
    this process's memory in its ru_maxrss."""
    import os
    import subprocess
    import tempfile

    with tempfile.NamedTemporaryFile(suffix="." + ext, delete=False) as f:
        f.write(data)
    try:
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", str(Path(sys.executable).parent / "guard"), "scan",
                               "--json", f.name], capture_output=True, text=True)
        return int(proc.stderr.strip().splitlines()[-1]) / 1024
    finally:
        os.unlink(f.name)


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _docx(paragraphs: int, image: bool, marked: bool = True) -> bytes:
    import os
    import random

    import docx
    from docx.shared import Inches
    from PIL import Image

    rnd = random.Random(1)
    chars = sorted(set("".join(ZH)))
    d = docx.Document()
    if marked:
        d.sections[0].header.paragraphs[0].text = "机密★5年"
    for i in range(paragraphs):
        # Shuffled characters: real prose compresses about this badly, unlike repeated phrases.
        d.add_paragraph("".join(rnd.choice(chars) for _ in range(200)))
        if image and i % 20 == 0:
            img = io.BytesIO()
            Image.frombytes("L", (300, 300), os.urandom(90000)).save(img, "PNG")
            d.add_picture(img, width=Inches(2))
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def make_docx(target: int, image: bool, marked: bool = True) -> bytes:
    trial = len(_docx(200, image, marked))
    n = max(200, int(200 * target / trial))
    data = _docx(n, image, marked)
    return data if len(data) >= target * 0.9 else _docx(int(n * target / len(data)), image, marked)


def _pdf(pages: int, image: bool) -> bytes:
    import os

    from PIL import Image
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    for page in range(pages):
        c.setFont("STSong-Light", 9)
        y = 810
        if page == 0:
            c.drawString(40, y, "秘密★1年")
            y -= 14
        if image:  # a fresh image per page, as scans and photos are (reportlab dedupes equal ones)
            c.drawImage(ImageReader(Image.frombytes("L", (300, 300), os.urandom(90000))), 300, 500, 200, 200)
        while y > 30:
            c.drawString(40, y, ZH[(y + page) % len(ZH)] + "，" + ZH[(y // 7) % len(ZH)])
            y -= 12
        c.showPage()
    c.save()
    return buf.getvalue()


def make_xlsx(target: int) -> bytes:
    import random

    import openpyxl

    rnd = random.Random(2)
    chars = sorted(set("".join(ZH)))

    def build(rows):
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.oddHeader.left.text = "秘密★1年"
        for r in range(rows):
            ws.append(["".join(rnd.choice(chars) for _ in range(12)), rnd.random() * 1e6, r,
                       "".join(rnd.choice(chars) for _ in range(20))])
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()

    trial = len(build(2000))
    return build(int(2000 * target / trial))


def make_pptx(target: int) -> bytes:
    import os

    from PIL import Image
    from pptx import Presentation
    from pptx.util import Inches

    def build(slides):
        prs = Presentation()
        for i in range(slides):
            s = prs.slides.add_slide(prs.slide_layouts[1])
            s.shapes.title.text = ZH[i % len(ZH)]
            s.placeholders[1].text = "。".join(ZH)
            img = io.BytesIO()
            Image.frombytes("L", (256, 256), os.urandom(65536)).save(img, "PNG")
            s.shapes.add_picture(img, Inches(5), Inches(4), Inches(2))
            s.notes_slide.notes_text_frame.text = "绝密★长期" if i == 3 else ZH[i % len(ZH)]
        buf = io.BytesIO()
        prs.save(buf)
        return buf.getvalue()

    trial = len(build(10))
    return build(max(10, int(10 * target / trial)))


def make_zip(members: list[bytes], target: int) -> bytes:
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        i = 0
        while buf.tell() < target:
            z.writestr(f"docs/{i}.{['docx', 'docx', 'xlsx', 'pptx'][i % 4]}", members[i % len(members)])
            i += 1
    return buf.getvalue()


def make_pdf(target: int, image: bool) -> bytes:
    """A PDF of about `target` bytes: size a 10-page trial, then scale the page count."""
    trial = len(_pdf(10, image))
    return _pdf(max(10, int(10 * target / trial)), image)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=float, default=10.0, help="size of the text corpus (MB of UTF-8)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--text-only", action="store_true", help="the text figures only (no files)")
    args = ap.parse_args()

    engine = Engine(load_policy())
    texts = {}
    for name, gen in (("mixed zh/en", mixed_text), ("dense 保密 prose", secrecy_prose)):
        text = gen(int(args.mb * 1e6 / 2.4))
        while len(text.encode()) < args.mb * 1e6:  # at least --mb of UTF-8
            text += "\n" + gen(int(args.mb * 1e5), seed=len(text))
        texts[name] = text

    keywords = {k.lower() for r in engine.matcher.rules for k in r.keywords}
    floor = ahocorasick.Automaton()
    for k in keywords:
        floor.add_word(k, k)
    floor.make_automaton()

    # Engines side by side: the shipped rules; 4x as many regex rules (generated in the shapes of
    # the shipped ones: token prefixes, Chinese field names); 50 and 5,000 custom terms.
    shipped_regex = sum(1 for r in engine.matcher.rules if r.regex is not None)
    rnd = __import__("random").Random(5)
    cjk = [chr(c) for c in range(0x4E00, 0x9FA5)]
    gen_rules = []
    for n in range(3 * shipped_regex):
        if n % 2:
            word = "".join(rnd.choice(cjk) for _ in range(3))
            gen_rules.append(f"  - id: gen.cn{n}\n    action: warn\n    keywords: [{word}]\n"
                             f"    regex: '{word}\\s*[:：=]\\s*[\\p{{Han}}A-Za-z0-9]{{2,20}}'\n")
        else:
            prefix = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(4)) + "_"
            gen_rules.append(f"  - id: gen.tok{n}\n    action: block\n    keywords: [{prefix}]\n"
                             f"    regex: '{prefix}[A-Za-z0-9]{{24,40}}'\n")
    engines = {"shipped rules": engine,
               f"4x regex rules ({shipped_regex} -> {4 * shipped_regex})": Engine(load_policy_text(
                   f"extends: [{DEFAULT_POLICY}]\nrules:\n" + "".join(gen_rules), "regex-4x"))}
    terms = ["".join(rnd.choice(cjk) for _ in range(rnd.randint(3, 6))) for _ in range(5000)]
    for n in (50, 5000):
        engines[f"{n} custom terms"] = Engine(load_policy_text(
            f"extends: [{DEFAULT_POLICY}]\nrules:\n  - id: custom.terms\n    action: block\n"
            f"    keywords: [{', '.join(terms[:n])}]\n", f"terms-{n}"))

    results = {}
    for tname, text in texts.items():
        mb = len(text.encode()) / 1e6

        def bare():
            for _ in floor.iter(text):
                pass

        t_floor = best_of(bare, args.repeat)
        print(f"text: {mb:.1f} MB {tname}, {len(keywords)} keywords of {len(engine.matcher.rules)} rules")
        print(f"  bare pyahocorasick pass : {mb / t_floor:8.1f} MB/s")
        for ename, eng in engines.items():
            t = best_of(lambda: eng.scan_text(text), args.repeat)
            results[(tname, ename)] = t
            print(f"  {ename:30s}: {mb / t:8.1f} MB/s   ratio {t_floor / t:.2f} of the floor")
        shipped = results[(tname, "shipped rules")]
        regex4 = next(v for (tn, en), v in results.items() if tn == tname and en.startswith("4x"))
        print(f"  4x regex rules vs shipped : {regex4 / shipped:.2f}x the time")
        print(f"  5,000 vs 50 terms         : {results[(tname, '5000 custom terms')] / results[(tname, '50 custom terms')]:.2f}x the time")

    text = texts["mixed zh/en"]
    for size in (2048, 10240, 51200):
        lat = []
        for i in range(0, size * 300, size):
            p = text[i // 3:i // 3 + size // 3]  # ~size bytes of UTF-8 (mostly 3-byte CJK)
            t = time.perf_counter()
            engine.scan_text(p)
            lat.append((time.perf_counter() - t) * 1000)
        print(f"  {size // 1024:2d} KB prompt            : p50 {statistics.median(lat):.3f} ms, "
              f"p99 {sorted(lat)[int(len(lat) * .99) - 1]:.3f} ms")
    if args.text_only:
        return 0

    five = 5 * 1024 * 1024
    # The unmarked docx with pictures is the OCR case: its text does not block, so (with
    # Tesseract installed) up to max_ocr_pictures of its pictures are read.
    files = [("docx", make_docx(five, image=True)), ("docx", make_docx(five, image=True, marked=False)),
             ("docx", make_docx(five, image=False)),
             ("xlsx", make_xlsx(five)), ("pptx", make_pptx(five)),
             ("pdf", make_pdf(five, image=True)), ("pdf", make_pdf(five // 4, image=False))]
    office = [files[i][1] for i in (0, 2, 3, 4)]  # marked docx, text docx, xlsx, pptx
    files.append(("zip", make_zip(office, 20 * 1024 * 1024)))
    for name, data in files:
        verdict = None

        def run():
            nonlocal verdict
            verdict = engine.scan_bytes(data, filename=f"bench.{name}")

        t = best_of(run, args.repeat)
        rss = peak_rss_of_scan(data, name)
        print(f"  {len(data) / 1e6:4.1f} MB {name:4s} decided : {t * 1000:8.0f} ms, peak {rss:4.0f} MB -> {verdict.action}"
              f"  ({verdict.parts} parts, {verdict.chars / 1e6:.1f} M chars; {', '.join(verdict.rules)})")
    print("  (peak = max RSS of a fresh `guard scan` process deciding that file alone)")

    # The longest PDF the default limits accept (max_pages 2,000), dense text: pdftotext child
    # processes in parallel, and PDFium alone (what runs where poppler is not installed).
    from guard.extract import pdf as pdf_mod
    pages = engine.policy.limits.max_pages
    longest = _pdf(pages, False)
    for label, reader in (("pdftotext", pdf_mod.PDFTOTEXT), ("PDFium alone", None)):
        if label == "pdftotext" and not reader:
            print("  (pdftotext not installed: poppler-utils)")
            continue
        saved, pdf_mod.PDFTOTEXT = pdf_mod.PDFTOTEXT, reader
        try:
            t = best_of(lambda: engine.scan_bytes(longest, filename="long.pdf"), 1)
        finally:
            pdf_mod.PDFTOTEXT = saved
        print(f"  {len(longest) / 1e6:4.1f} MB pdf, {pages} dense text pages, {label:12s}: {t * 1000:6.0f} ms"
              f" ({t * 1000 / pages:.2f} ms/page)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
