"""Damaged page pictures as staff really send them, generated (Pillow + WenQuanYi Zen Hei):
phone photos, scans and screenshots of marked 公文 pages, and negatives about secrecy
(posters, newspaper pages, training slides). Each generator takes a seed, so a set is fixed
by its seeds and a new seed gives unseen texts.

Used by tests/extract/test_ocr_damaged.py (a handful of pages) and bench/bench_ocr.py (the set).
"""
from __future__ import annotations

import io
import random
from dataclasses import dataclass

CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"

UNITS = ["中国石化", "西北油田分公司", "勘探开发研究院", "炼化工程集团", "某省能源局", "集团公司办公厅", "塔河采油厂",
         "胜利油田分公司", "经济技术研究院", "物资装备部"]
SUBJECTS = ["二〇二七年勘探部署", "顺北区块储量复核", "催化剂配方优化试验", "重点项目投资计划", "干部调整", "炼化板块改造方案",
            "海外区块合作谈判", "新建乙烯项目选址", "年度经营预算", "油气管道巡检"]
BODY = ["经综合解释，目标区块共识别有利圈闭十二个，预测地质储量约三点二亿吨。", "请各单位结合实际认真贯彻落实，并于月底前报送进展情况。",
        "项目组建议在明年上半年部署四口评价井，进一步落实北部断块的油水界面。", "会议听取了有关部门的工作汇报，研究部署了下一阶段重点任务。",
        "试验表明，在反应温度五百二十度条件下，轻油收率提高二点三个百分点。", "经济评价表明，该项目内部收益率约为百分之十四，投资回收期六点五年。",
        "各单位要切实加强组织领导，明确责任分工，确保各项任务按期完成。", "本年度计划安排固定资产投资四百八十六亿元，具体布局见附表。"]
LEVELS = ["绝密★长期", "机密★5年", "秘密★1年", "机密★10年", "秘密★6个月", "机密★2028年12月31日", "绝密★启用前", "秘密★3年"]
COMMERCIAL = ["核心商密▲5年", "普通商密▲3年", "核心商密▲长期"]


@dataclass(frozen=True)
class Page:
    name: str
    kind: str           # the damage or layout
    data: bytes
    fmt: str            # png, jpg, pdf
    marked: bool


def _font(px: int):
    from PIL import ImageFont
    return ImageFont.truetype(CJK_FONT, px)


def page_lines(rnd: random.Random, marking: str | None, same_line: bool = False) -> tuple[list, str]:
    """A GB/T 9704 head: 份号, marking, red unit banner, 发文字号, title, body."""
    unit, subject = rnd.choice(UNITS), rnd.choice(SUBJECTS)
    number = f"{rnd.randint(1, 999):06d}"
    head = []
    if marking and same_line:
        head.append(("same", number, marking))
    else:
        head.append(("left", number, None))
        if marking:
            head.append(("left", marking, None))
    head += [("banner", f"{unit}文件", None), ("center", f"{unit[:2]}发〔2027〕{rnd.randint(2, 80)}号", None),
             ("title", f"关于{subject}的{rnd.choice(['报告', '通知', '请示', '意见'])}", None)]
    body = [rnd.choice(BODY) for _ in range(rnd.randint(6, 10))]
    return head, "".join(body)


def render_page(rnd: random.Random, marking: str | None, *, same_line=False, stamp: str | None = None,
                size=(1240, 1754), paper=(255, 255, 255), ink=(0, 0, 0)):
    """An A4 page at 150 dpi as an RGB image."""
    from PIL import Image, ImageDraw

    w, h = size
    img = Image.new("RGB", size, paper)
    d = ImageDraw.Draw(img)
    head, body = page_lines(rnd, marking, same_line)
    f_small, f_head, f_title, f_body = _font(34), _font(38), _font(46), _font(34)
    y = 110
    for kind, text, extra in head:
        if kind == "same":   # the old layout: 份号 at the left, the level at the right of the same line
            d.text((140, y), text, font=f_head, fill=ink)
            right = extra.replace("★", "　★") if "★" in extra else "　".join(extra)
            d.text((w - 140 - d.textlength(right, font=f_head), y), right, font=f_head, fill=ink)
            y += 70
        elif kind == "left":
            d.text((140, y), text, font=f_head, fill=ink)
            y += 64
        elif kind == "banner":
            y += 30
            tw = d.textlength(text, font=_font(64))
            d.text(((w - tw) / 2, y), text, font=_font(64), fill=(200, 20, 20))
            y += 110
        elif kind == "center":
            tw = d.textlength(text, font=f_small)
            d.text(((w - tw) / 2, y), text, font=f_small, fill=ink)
            y += 50
            d.line((140, y, w - 140, y), fill=(200, 20, 20), width=3)
            y += 50
        else:
            tw = d.textlength(text, font=f_title)
            d.text(((w - tw) / 2, y), text, font=f_title, fill=ink)
            y += 90
    per_line = (w - 280) // 34
    text = "　　" + body
    for i in range(0, len(text), per_line):
        if y > h - 150:
            break
        d.text((140, y), text[i:i + per_line], font=f_body, fill=ink)
        y += 58
    if stamp:   # a level printed only as a red stamp: a red box at the top right
        sf = _font(60)
        tw = d.textlength(stamp, font=sf)
        x0, y0 = w - 180 - tw, 90
        d.rectangle((x0 - 24, y0 - 16, x0 + tw + 24, y0 + 84), outline=(210, 30, 30), width=6)
        d.text((x0, y0), stamp, font=sf, fill=(210, 30, 30))
    return img


# -- damage ------------------------------------------------------------------------------------
def _np(img):
    import numpy as np
    return np.asarray(img, dtype=np.float32)


def _img(a):
    import numpy as np
    from PIL import Image
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def photo_scale(img, rnd, long_side=(1500, 2300)):
    """Phone photos come in at many sizes."""
    from PIL import Image
    target = rnd.randint(*long_side)
    s = target / max(img.size)
    return img.resize((int(img.size[0] * s), int(img.size[1] * s)), Image.BILINEAR)


def rotate(img, rnd, deg=8.0):
    return img.rotate(rnd.choice((-1, 1)) * deg, expand=True, fillcolor=(90, 90, 95), resample=3)


def motion_blur(img, rnd, k=9):
    import numpy as np
    a = _np(img)
    out = np.zeros_like(a)
    for i in range(k):
        out += np.roll(a, i - k // 2, axis=1)
    return _img(out / k)


def shadow(img, rnd):
    import numpy as np
    a = _np(img)
    h, w = a.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    cx, cy = rnd.uniform(0.5, 1.0) * w, rnd.uniform(0.3, 0.9) * h
    dist = np.hypot((xx - cx) / w, (yy - cy) / h)
    dark = 0.42 + 0.58 * np.clip(dist / 0.55, 0, 1) ** 2   # a hand's shadow: darkest at its centre
    return _img(a * dark[..., None])


def faded_yellow(img, rnd):
    import numpy as np
    a = _np(img)
    ink = 255 - a.mean(axis=2, keepdims=True)   # 0 paper .. 255 ink
    paper = np.array([238, 222, 168], np.float32)
    faded = paper - ink / 255 * rnd.uniform(0.35, 0.5) * paper
    return _img(faded)


def salt_pepper(img, rnd, amount=0.06):
    import numpy as np
    a = _np(img).copy()
    g = np.random.default_rng(rnd.randint(0, 1 << 30))
    m = g.random(a.shape[:2])
    a[m < amount / 2] = 0
    a[m > 1 - amount / 2] = 255
    return _img(a)


def photocopy(img, rnd, times=2):
    """A photocopy of a photocopy: each pass loses grey levels, spreads toner, adds specks."""
    import numpy as np
    from PIL import Image, ImageFilter
    g = img.convert("L")
    gen = np.random.default_rng(rnd.randint(0, 1 << 30))
    for _ in range(times):
        w, h = g.size
        g = g.resize((int(w * 0.93), int(h * 0.93)), Image.BILINEAR).resize((w, h), Image.BILINEAR)
        g = g.filter(ImageFilter.GaussianBlur(1.1))
        a = _np(g)
        a = np.where(a < 150, a * 0.45, np.minimum(255, a * 1.15))   # contrast: toner or paper
        a += gen.normal(0, 18, a.shape)
        specks = gen.random(a.shape) < 0.004
        a[specks] = 30
        g = _img(a)
    return g.convert("RGB")


def exif_sideways(img, rnd) -> bytes:
    """A phone photo saved sideways, with the EXIF Orientation tag that tells viewers to turn it."""
    from PIL import Image
    stored = img.transpose(Image.Transpose.ROTATE_90)   # turned left; Orientation 6: turn right to view
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=85, exif=exif.tobytes())
    return buf.getvalue()


def encode(img, fmt: str, quality=82) -> bytes:
    buf = io.BytesIO()
    if fmt == "jpg":
        img.convert("RGB").save(buf, "JPEG", quality=quality)
    else:
        img.save(buf, "PNG", optimize=False, compress_level=3)
    return buf.getvalue()


def chat_screenshot(rnd: random.Random, first: str | None, size=(1080, 2340)):
    """A phone chat: status bar, title bar, bubbles; the first bubble's first line is `first`."""
    from PIL import Image, ImageDraw
    w, h = size
    img = Image.new("RGB", size, (237, 237, 237))
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, w, 200), fill=(247, 247, 247))
    d.text((40, 30), f"{rnd.randint(8, 22)}:{rnd.randint(10, 59)}", font=_font(38), fill=(0, 0, 0))
    title = rnd.choice(["项目组工作群(18)", "王处长", "勘探部内部沟通群(32)"])
    d.text(((w - d.textlength(title, font=_font(44))) / 2, 115), title, font=_font(44), fill=(0, 0, 0))
    f = _font(44)
    unit, subject = rnd.choice(UNITS), rnd.choice(SUBJECTS)
    bubbles = []
    if first:
        bubbles.append((False, [first, f"关于{subject}的报告", rnd.choice(BODY)[:16], rnd.choice(BODY)[:16]]))
    bubbles += [(True, ["收到，我先看一下"]), (False, ["好的，有问题随时沟通"]), (True, [f"{unit}那边明天反馈"]),
                (False, [rnd.choice(BODY)[:16], rnd.choice(BODY)[:14]])]
    y = 260
    for mine, lines in bubbles:
        bw = max(d.textlength(s, font=f) for s in lines) + 60
        bh = 40 + 66 * len(lines)
        x0 = w - 170 - bw if mine else 170
        d.rectangle((x0 - 130 if not mine else w - 140, y, x0 - 30 if not mine else w - 40, y + 100),
                    fill=(120, 160, 210) if mine else (200, 170, 120))   # avatars
        d.rounded_rectangle((x0, y, x0 + bw, y + bh), 14, fill=(149, 236, 105) if mine else (255, 255, 255))
        for i, s in enumerate(lines):
            d.text((x0 + 30, y + 24 + 66 * i), s, font=f, fill=(20, 20, 20))
        y += bh + 60
    return img


# -- negatives: pages about secrecy ---------------------------------------------------------------
POSTER = ["保密宣传教育月", "涉密不上网　上网不涉密", "国家秘密的密级分为绝密、机密、秘密三级", "工作秘密不得在互联网上处理",
          "商业秘密是企业的核心竞争力", "密级标志由密级和保密期限组成", "严禁将涉密文件上传至人工智能平台"]
NEWS = ["本报讯　为深入贯彻保密法，集团公司近日组织开展保密知识竞赛。", "竞赛内容涵盖国家秘密、工作秘密和商业秘密的定密与管理，",
        "参赛人员普遍反映，通过学习进一步认清了绝密、机密、秘密三个密级的区别。", "保密办负责同志表示，将持续加强保密宣传教育，",
        "严防涉密信息通过生成式人工智能等渠道泄露。各单位要落实保密责任制。", "据介绍，工作秘密一经确定应当标注，确需公开的应当依法审查。"]
SLIDE = [("第三讲　密级标志的标注", ["一、国家秘密标志的写法", "　例如：“秘密★1年”“机密★5年”", "二、商业秘密标志",
                                "　例如：“核心商密▲5年”", "三、注意事项：标志应标注在首页左上角"]),
         ("保密知识测试", ["1．国家秘密的密级分为（　）", "A．绝密　B．机密　C．秘密　D．以上都是", "2．工作秘密是否属于国家秘密？",
                          "3．“涉密不上网”指的是什么？"]),
         ("保密工作培训", ["密级：国家秘密分为三级", "保密期限：绝密一般不超过30年", "知悉范围：限定到具体人员",
                          "商业秘密：核心商密和普通商密"])]


def poster(rnd: random.Random):
    from PIL import Image, ImageDraw
    w, h = 1240, 1754
    img = Image.new("RGB", (w, h), (180, 20, 30))
    d = ImageDraw.Draw(img)
    lines = [POSTER[0]] + rnd.sample(POSTER[1:], 4)
    y = 160
    for i, s in enumerate(lines):
        f = _font(96 if i == 0 else 52)
        d.text(((w - d.textlength(s, font=f)) / 2, y), s, font=f, fill=(255, 230, 120) if i == 0 else (255, 255, 255))
        y += 260 if i == 0 else 150
    d.text((w / 2 - 250, h - 200), f"{rnd.choice(UNITS)}保密委员会办公室", font=_font(44), fill=(255, 255, 255))
    return img


def newspaper(rnd: random.Random):
    from PIL import Image, ImageDraw
    w, h = 1240, 1754
    img = Image.new("RGB", (w, h), (245, 242, 232))
    d = ImageDraw.Draw(img)
    d.text((80, 60), "中国石化报", font=_font(90), fill=(160, 0, 0))
    d.text((80, 180), f"2027年{rnd.randint(1, 12)}月{rnd.randint(1, 28)}日　第{rnd.randint(1, 8)}版　保密周刊", font=_font(30), fill=(0, 0, 0))
    d.line((60, 230, w - 60, 230), fill=(0, 0, 0), width=3)
    d.text((80, 270), "筑牢保密防线　守护发展成果", font=_font(64), fill=(0, 0, 0))
    col_w, f = (w - 200) // 2, _font(30)
    per = col_w // 31
    text = "".join(rnd.sample(NEWS, len(NEWS)) * 3)
    for c in range(2):
        y = 400
        chunk = text[c * per * 30:(c + 1) * per * 30]
        for i in range(0, len(chunk), per):
            d.text((80 + c * (col_w + 40), y), chunk[i:i + per], font=f, fill=(20, 20, 20))
            y += 44
    return img


def slide(rnd: random.Random):
    from PIL import Image, ImageDraw
    w, h = 1600, 900
    img = Image.new("RGB", (w, h), (255, 255, 255))
    d = ImageDraw.Draw(img)
    title, lines = rnd.choice(SLIDE)
    d.rectangle((0, 0, w, 150), fill=(30, 70, 140))
    d.text((80, 40), title, font=_font(64), fill=(255, 255, 255))
    y = 220
    for s in lines:
        d.text((100, y), s, font=_font(46), fill=(30, 30, 30))
        y += 110
    return img


def scanned_pdf(images) -> bytes:
    buf = io.BytesIO()
    images = [im.convert("RGB") for im in images]
    images[0].save(buf, "PDF", resolution=150, save_all=True, append_images=images[1:])
    return buf.getvalue()


MARKED_KINDS = ("rotated8", "motion_blur", "shadow", "faded_yellow", "salt_pepper", "photocopy2", "exif_sideways",
                "red_stamp", "top_right", "scanned_pdf", "chat", "upside_down", "sideways_pixels", "work_secret",
                "commercial")
NEGATIVE_KINDS = ("poster", "newspaper", "slide")


def make_page(kind: str, seed: int) -> Page:
    rnd = random.Random(f"{kind}/{seed}")
    level = rnd.choice(LEVELS)
    fmt = "jpg"
    if kind == "rotated8":
        img = rotate(photo_scale(render_page(rnd, level), rnd), rnd, rnd.uniform(6, 9))
    elif kind == "motion_blur":
        img = motion_blur(photo_scale(render_page(rnd, level), rnd), rnd, rnd.choice((7, 9, 11)))
    elif kind == "shadow":
        img = shadow(photo_scale(render_page(rnd, level), rnd), rnd)
    elif kind == "faded_yellow":
        img = faded_yellow(render_page(rnd, level), rnd)
    elif kind == "salt_pepper":
        img, fmt = salt_pepper(render_page(rnd, level), rnd, rnd.uniform(0.03, 0.08)), "png"
    elif kind == "photocopy2":
        img = photocopy(render_page(rnd, level), rnd, 2)
    elif kind == "exif_sideways":
        return Page(f"{kind}-{seed}.jpg", kind, exif_sideways(photo_scale(render_page(rnd, level), rnd), rnd), "jpg", True)
    elif kind == "sideways_pixels":   # a scan fed in sideways: no EXIF tag to say so
        from PIL import Image
        img = render_page(rnd, level).transpose(rnd.choice((Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270)))
    elif kind == "upside_down":
        img = render_page(rnd, level).rotate(180)
    elif kind == "red_stamp":
        img = render_page(rnd, None, stamp=rnd.choice(["机密", "秘密", "绝密", "机密★5年"]))
    elif kind == "top_right":
        img = render_page(rnd, rnd.choice(["秘密", "机密", "绝密", "秘密★1年"]), same_line=True)
        fmt = "png"
    elif kind == "work_secret":
        img = render_page(rnd, "工作秘密")
    elif kind == "commercial":
        img = render_page(rnd, rnd.choice(COMMERCIAL))
    elif kind == "chat":
        img, fmt = chat_screenshot(rnd, rnd.choice(LEVELS + COMMERCIAL + ["工作秘密"])), "png"
    elif kind == "scanned_pdf":   # the marking on page 1 of a 3-page scan, or only on page 2 (an attachment's head)
        n_marked = rnd.choice((0, 1))
        pages = [photocopy(render_page(rnd, level if i == n_marked else None), rnd, 1) for i in range(3)]
        return Page(f"{kind}-{seed}.pdf", kind, scanned_pdf(pages), "pdf", True)
    elif kind == "poster":
        img = poster(rnd)
    elif kind == "newspaper":
        img = newspaper(rnd)
    elif kind == "slide":
        img, fmt = slide(rnd), "png"
    else:
        raise ValueError(kind)
    return Page(f"{kind}-{seed}.{fmt}", kind, encode(img, fmt), fmt, kind not in NEGATIVE_KINDS)


def page_set(seeds=range(3), kinds=MARKED_KINDS + NEGATIVE_KINDS) -> list[Page]:
    return [make_page(k, s) for s in seeds for k in kinds]
