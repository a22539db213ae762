"""Plain text in any encoding; JSON, HTML, XML, Markdown and source code get their own views.

Text is decoded the way its receiver decodes it: a byte-order mark first, then the charset the
sender declared (Content-Type parameter, form charset), then the document's own declaration
(XML declaration, HTML `<meta charset>`), then detection. Undeclared text that is not UTF-8 is
read as GB18030 or Big5 when that reads as Chinese, even when it is mostly ASCII (a few GBK
bytes in an English file are exactly where a marking hides). A declared charset we cannot
decode is a problem (the content was not inspected), never a guess.
"""
from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

from guard.errors import ExtractionError
from guard.extract.context import Context
from guard.extract.html import html_parts
from guard.extract.jsonwalk import json_like_strings, parse_values, walk_socketio, walk_values
from guard.decode import plausibility as _plausibility
from guard.extract.sniff import printable

_UTF8_NAMES = frozenset({"utf-8", "utf8", "unicode-1-1-utf-8", "us-ascii", "ascii", "iso-ir-6", "ansi_x3.4-1968"})
# Labels receivers map onto a wider charset (WHATWG Encoding): gb2312/gbk are read as GB18030,
# latin-1 as windows-1252, big5 as Big5-HKSCS.
_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030", "chinese": "gb18030",
            "csgb2312": "gb18030", "iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
            "big5": "big5hkscs", "x-x-big5": "big5hkscs", "cn-big5": "big5hkscs", "unicode": "utf-16",
            "utf-16": "utf-16", "ucs-2": "utf-16", "x-user-defined": "latin-1"}
_XML_DECL = re.compile(rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_META_CHARSET = re.compile(rb"""<meta[^>]{0,300}?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]{1,40})""", re.I)


def charset_of(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type value, lower-cased."""
    if not content_type or "charset" not in content_type.lower():
        return None
    for piece in content_type.split(";")[1:]:
        k, _, v = piece.strip().partition("=")
        if k.strip().lower() == "charset" and v.strip():
            return v.strip().strip("\"'").lower()
    return None


def codec_for(label: str) -> str:
    """The Python codec a receiver uses for a charset label; ExtractionError when unknown."""
    label = label.strip().lower()
    if label in _UTF8_NAMES:
        return "utf-8"
    name = _ALIASES.get(label, label)
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise ExtractionError("unsupported", f"text in an unknown character set {label[:40]!r}") from None


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _bom(data: bytes) -> str | None:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return data.decode("utf-32", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    return None


def _declared_in(data: bytes) -> str | None:
    """The charset a document declares inside itself (XML declaration, HTML meta prescan)."""
    head = data[:1024]
    m = _XML_DECL.match(head)
    if m is None and b"<" in head:
        m = _META_CHARSET.search(head)
    return m.group(1).decode("ascii").lower() if m else None


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _non_ascii_plausibility(text: str) -> float:
    """Plausibility from the first non-ASCII character on: 5 KB of English before a Big5
    marking must not make both code pages look equally good."""
    m = _NON_ASCII.search(text)
    return 1.0 if m is None else _plausibility(text[m.start():])


def decode(data: bytes, declared: str | None = None) -> str | None:
    """Decode text; None when the bytes are not text in any encoding we know. `declared`: the
    charset the sender named. Raises ExtractionError for a declared charset we cannot decode."""
    text = _bom(data)
    if text is not None:
        return text  # a BOM decides, as in browsers (WHATWG: BOM sniffing precedes the label)
    label = declared or _declared_in(data)
    if label:
        codec = codec_for(label)
        if codec != "utf-8":
            # UTF-7, EBCDIC, Shift_JIS...: read as the receiver reads them, never as UTF-8.
            return data.decode(codec, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        utf8_error_at = e.start
    # Offices here write GBK/GB18030 or, for traditional text, Big5. Both grammars accept much of
    # each other's bytes, so the more plausible decode wins; the ASCII around does not count.
    cands = [t for t in (_strict(data, "gb18030"), _strict(data, "big5hkscs")) if t is not None]
    best = max(cands, key=_non_ascii_plausibility) if cands else None
    if best is not None and _non_ascii_plausibility(best) >= 0.6:
        return best
    if b"\x00" in data[:8192]:
        # UTF-16 without a BOM (CJK text in it may have no NUL at all, ASCII in it does).
        if len(data) % 2 == 0:
            cands = [t for t in (_strict(data, "utf-16-le"), _strict(data, "utf-16-be")) if t and printable(t)]
            if cands:
                return max(cands, key=_plausibility)
        return None
    # A body cut mid-character at a size limit is still UTF-8; so is UTF-8 with a stray
    # invalid byte or two (read in another code page it would be garbage, markings lost).
    lenient = data.decode("utf-8", errors="replace")
    if utf8_error_at >= len(data) - 3 or lenient.count("\ufffd") * 200 < len(lenient):
        return lenient
    if best is not None:
        return best
    found = from_bytes(data[:1 << 20]).best()
    if found is None:
        return None
    return data.decode(found.encoding, errors="replace")


_CODE_EXT = re.compile(r"\.(py|pyw|rb|sh|bash|zsh|pl|r|ps1|ya?ml|toml|ini|cfg|conf|properties|dockerfile|mk|cmake|"
                       r"c|h|cc|cpp|cxx|hpp|cs|java|kt|kts|scala|go|rs|swift|m|mm|js|jsx|ts|tsx|mjs|cjs|php|dart|"
                       r"groovy|gradle|sql|lua|hs|v|sv|vhdl?|proto|css|scss|less|vue|svelte)$", re.I)
_HASH_COMMENT = re.compile(r"\.(py|pyw|rb|sh|bash|zsh|pl|r|ps1|ya?ml|toml|ini|cfg|conf|properties|dockerfile|mk|"
                           r"cmake)$", re.I)
_SLASH_COMMENTS = re.compile(r"/\*.*?(?:\*/|\Z)|//[^\n]*", re.S)
_HASH_COMMENTS = re.compile(r"(?:^|(?<=\s))#[^\n]*")
_DASH_COMMENTS = re.compile(r"--[^\n]*")
_STRING_LITERAL = re.compile(r'"(?:[^"\\\n]|\\.){0,2000}"|\'(?:[^\'\\\n]|\\.){0,2000}\'')
MAX_COMMENT_PARTS = 100  # one part per comment block (each its own "head"); the rest share one


def _comments(text: str, name: str) -> list[str]:
    """The comment blocks of source code, markers removed, one block per entry."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    code = _STRING_LITERAL.sub('""', text) if len(text) < (4 << 20) else text  # quotes hold no comments
    if _HASH_COMMENT.search(name):
        found = _HASH_COMMENTS.findall(code)
    elif ext in ("sql", "lua", "hs"):
        found = _DASH_COMMENTS.findall(code) + _SLASH_COMMENTS.findall(code)
    else:
        found = _SLASH_COMMENTS.findall(code)
    blocks, run = [], []
    for c in found:
        body = "\n".join(ln.strip().lstrip("/*#-!").rstrip("*/").strip() for ln in c.splitlines())
        if c.startswith(("//", "#", "--")) and not c.startswith("/*"):
            run.append(body)  # consecutive line comments form one block
            continue
        if run:
            blocks.append("\n".join(run))
            run = []
        blocks.append(body)
    if run:
        blocks.append("\n".join(run))
    return [b for b in blocks if b.strip()]


# JSON starts with an object or an array of values; `[section]` is TOML/INI, read as text.
_JSON_START = re.compile(r'\{|\[\s*(?:["\[{\]\d-]|true|false|null|$)')
_FENCE = re.compile(r"^[ \t]*(```+|~~~+)[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*\1", re.S | re.M)
_LANG_EXT = {"python": "py", "javascript": "js", "typescript": "ts", "rust": "rs", "shell": "sh", "bash": "sh",
             "zsh": "sh", "golang": "go", "c++": "cpp", "csharp": "cs", "c#": "cs", "kotlin": "kt", "ruby": "rb",
             "perl": "pl", "powershell": "ps1", "yml": "yaml", "objective-c": "m", "vue": "vue", "": "c"}


def code_comments(ctx: Context, text: str, location: str) -> None:
    """Comments of the fenced code blocks in Markdown or a prompt (```python … ```): each
    comment block a part of its own, like a source file's."""
    n = 0
    for m in _FENCE.finditer(text):
        lang = m.group(2).lower()
        blocks = _comments(m.group(3), "x." + _LANG_EXT.get(lang, lang or "c"))
        for c in blocks:
            n += 1
            if n > MAX_COMMENT_PARTS:
                return
            ctx.add(c, f"{location} (code comment {n})", "comment")


_FRONT_MATTER = re.compile(r"\A(?:\ufeff)?(---|\+\+\+)[ \t]*\n(.*?)\n\1[ \t]*(?:\n|\Z)", re.S)


def read_text(ctx: Context, text: str, location: str, name: str | None = None, depth: int = 0) -> None:
    """Add decoded text to ctx, with the views its receiver has of it: HTML as a browser shows
    it (comments and the title as parts of their own), XML with its attributes and comments,
    JSON walked value by value, Markdown front matter and source-code comments as carriers
    of their own, and files hidden in it (base64, data: URLs) inspected as files."""
    from guard.extract.embedded import hidden_files
    from guard.extract.markup import looks_like_xml, xml_view

    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
    if walk_socketio(ctx, text, location):  # Socket.IO long-polling bodies (42["message",...])
        return
    stripped = text.lstrip()[:512].lower()
    if stripped.startswith(("<!doctype html", "<html")) or ("<body" in stripped and "<" == stripped[:1]):
        for part_text, suffix, kind in html_parts(text):
            ctx.add(part_text, f"{location}{suffix}", kind)
        if "<!ENTITY" in text:  # a browser ignores them; an XML reader (XHTML) expands them
            from guard.decode import resolve_markup
            ctx.add(resolve_markup(text), f"{location} (entities expanded)", "body")
        hidden_files(ctx, text, location, depth)
        return
    if _JSON_START.match(stripped) and len(text) <= ctx.limits.max_bytes:
        # JSON, JSON Lines (.jsonl batch files): each value walked, quotes not mistaken for
        # quoted mentions; text after the last value is still text.
        values, rest = parse_values(text)
        if values and all(isinstance(v, (tuple, list)) for v in values):
            walk_values(ctx, values, rest, location)
            return
        strings = json_like_strings(text)
        if strings:  # JSON that does not parse: its strings, each on a line of its own
            ctx.add("\n".join(strings), f"{location} (JSON-like)", "body")
            return
    if looks_like_xml(stripped):
        view = xml_view(ctx, text)
        if view is not None:
            body, attributes, comments = view
            ctx.add(body, location, "body")
            ctx.add(attributes, f"{location} (attributes and fields)", "property")
            for i, c in enumerate(comments[:MAX_COMMENT_PARTS]):
                ctx.add(c, f"{location} (comment {i + 1})", "comment")
            ctx.add("\n".join(comments[MAX_COMMENT_PARTS:]), f"{location} (comments)", "comment")
            return
    ctx.add(text, location, "body")
    m = _FRONT_MATTER.match(text)
    if m:  # Markdown front matter: metadata fields, like a document's properties
        ctx.add(m.group(2), f"{location} (front matter)", "property")
    if "```" in text or "~~~" in text:
        code_comments(ctx, text, location)
    if name and _CODE_EXT.search(name):
        blocks = _comments(text, name)
        for i, c in enumerate(blocks[:MAX_COMMENT_PARTS]):
            ctx.add(c, f"{location} (comment {i + 1})", "comment")
        ctx.add("\n".join(blocks[MAX_COMMENT_PARTS:]), f"{location} (comments)", "comment")
    hidden_files(ctx, text, location, depth)


def extract_text(ctx: Context, data: bytes, location: str, charset: str | None = None, name: str | None = None,
                 depth: int = 0) -> None:
    text = decode(data, charset)
    if text is None:
        ctx.problem("unsupported", location, "binary content of an unknown format")
        return
    sample = text[:4096]
    if sample and sum(1 for c in sample if c < " " and c not in "\t\n\r\f\x1b") > len(sample) // 10:
        ctx.problem("unsupported", location, "binary content of an unknown format")
        return
    read_text(ctx, text, location, name, depth)


def extract_csv(ctx: Context, data: bytes, location: str, charset: str | None = None) -> None:
    """CSV/TSV as a spreadsheet program shows it: one row per line, cells tab-separated
    (quotes and the delimiter are syntax, not content), each cell anchored for its location."""
    import csv
    import io

    text = decode(data, charset)
    if text is None:
        ctx.problem("unsupported", location, "binary content of an unknown format")
        return
    sample = text[:4096]
    delim = "\t" if sample.count("\t") > sample.count(",") else ","
    if ";" in sample and sample.count(";") > sample.count(delim):
        delim = ";"
    out, anchors, pos = [], [], 0
    try:
        for r, row in enumerate(csv.reader(io.StringIO(text), delimiter=delim, strict=False)):
            if r % 256 == 0:
                ctx.check_time()
            anchors.append((pos, f"!row {r + 1}"))
            line = "\t".join(c.replace("\n", " ") for c in row)
            out.append(line)
            pos += len(line) + 1
    except csv.Error:
        read_text(ctx, text, location)
        return
    ctx.add("\n".join(out), location, "body", anchors)
