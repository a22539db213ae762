"""Text as a reader sees it, for the matcher: a step before matching, below it and below
extraction (which uses it too).

Text written in escapes to slip past a filter: `\\u673a\\u5bc6`, `&#26426;&#23494;`,
`%E6%9C%BA%E5%AF%86`, or a base64 run that decodes to readable text. A part that holds
such escapes is also scanned decoded.

Also here: markup inside text resolved the way a browser shows it (a marking split by
tags, comments, CDATA or an internal entity is one marking to the reader), and how much
decoded bytes read like Chinese text (to tell hidden text from random bytes).
guard.extract.decode, .markup and .plausible re-export what they used to hold.
"""
from __future__ import annotations

import base64
import binascii
import html
import re
from urllib.parse import unquote

MAX_ENTITIES = 64            # entity declarations honoured in one text
MAX_EXPANDED = 1 << 20       # characters entity expansion may add, in total
_U_ESC = re.compile(r"\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})|\\x([0-9a-fA-F]{2})")
_NCR = re.compile(r"&#(?:[xX][0-9a-fA-F]{1,6}|\d{1,7});")
_PCT = re.compile(r"(?:%[0-9A-Fa-f]{2}){3,}")
# RE2 syntax (the matcher's Set pass): text that holds markup worth resolving. Short tags
# between a marking's characters are already gaps to the normalizer; these are the rest.
# No counted repetition of wide classes: in the matcher's RE2 Set they multiply DFA states.
# A closing tag too: a marking cut into bare spans (<span>秘</span><span>密</span>★<span>1</span>
# <span>0</span>年) has tags inside its period, where the normalizer's gaps do not reach.
MARKUP_TRIGGER = r"<!\[CDATA\[|<!--|<!ENTITY|<\?[A-Za-z]|<[A-Za-z][A-Za-z0-9]*[ \t\n][^<>]*=|&[A-Za-z][A-Za-z0-9]+;|</[A-Za-z][A-Za-z0-9]*>"
# RE2 syntax: the matcher puts this in its Set pass, so text without escapes costs nothing.
# Also: markup a reader resolves (MARKUP_TRIGGER), JSON string escapes left in text (a JSON
# body inside a string: \\" and \\n), and UTF-7 shifted runs (+ZwZbxg-).
TRIGGER = (r"\\[uU][0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}|&#[xX]?[0-9a-fA-F]|%[Ee][0-9A-Fa-f]%|[A-Za-z+/_-][A-Za-z0-9+/_-]{14,}"  # a run with a letter: not a long number
           r'|\\"|\\n|\+[A-Za-z0-9/][A-Za-z0-9/][A-Za-z0-9/][A-Za-z0-9/+]*-|' + MARKUP_TRIGGER)
# Base64 (standard or URL-safe) of at least ~12 bytes: a short marking (机密★5年) encodes to 20.
_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
MAX_B64_BYTES = 4 << 20       # decoded bytes per part (a lockfile's 1,000 sha512 hashes are 64 KB)


def _unescape_u(m: re.Match) -> str:
    code = int(m.group(1) or m.group(2) or m.group(3), 16)
    try:
        return chr(code)
    except (ValueError, OverflowError):
        return m.group(0)


def decoded(text: str) -> str | None:
    """The text with its escapes decoded, or None when it has none worth decoding."""
    out = text
    if "\\u" in out or "\\U" in out or "\\x" in out:
        if _U_ESC.search(out, 0, 1 << 20):  # one escaped character in a marking is enough
            out = _U_ESC.sub(_unescape_u, out)
    if "&#" in out and _NCR.search(out):
        out = html.unescape(out)
    # Percent-encoded CJK starts with a UTF-8 lead byte %E2..%E9: plain "5%" is left alone.
    if ("%E" in out or "%e" in out) and _PCT.search(out):
        out = unquote(out, errors="replace")
    if "<" in out or "&" in out:
        resolved = resolve_markup(out)
        if resolved != out:
            out = resolved
    if '\\"' in out or "\\n" in out:
        out = _JSON_ESC.sub(_json_escape, out)
    if "+" in out and "-" in out:
        out = _UTF7.sub(_utf7, out)
    out = _base64_runs(out)
    return out if out != text else None


# A JSON string's escapes left in text that holds a JSON body as a string (GraphQL and
# JSON-RPC arguments): decoded so JSON's own quotes are not taken for quotation marks.
_JSON_ESC = re.compile(r'\\(["\\/bfnrt])')
_JSON_CHARS = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_UTF7 = re.compile(r"\+([A-Za-z0-9+/]{3,})-?")


def _json_escape(m: re.Match) -> str:
    return _JSON_CHARS[m.group(1)]


def _utf7(m: re.Match) -> str:
    """A UTF-7 shifted run, decoded when it reads as Chinese (+ZwZbxg- is 机密)."""
    try:
        t = m.group().encode("ascii").decode("utf-7")
    except (UnicodeDecodeError, UnicodeEncodeError):
        return m.group()
    if t.isascii() or plausibility(t) < 0.9:
        return m.group()
    return t


def _readable(data: bytes) -> str | None:
    """The text base64 bytes hold, when they are text (UTF-8, GB18030 that reads as Chinese, or
    UTF-16 with a byte-order mark: Gemini/OpenAI inline data written by Windows tools)."""
    encodings = ("utf-16",) if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-8", "gb18030")
    for enc in encodings:
        try:
            t = data.decode(enc).lstrip("\ufeff")
        except UnicodeDecodeError:
            continue
        if not t or sum(c.isprintable() or c in "\n\r\t" for c in t) < 0.95 * len(t):
            continue
        if not t.isascii() and plausibility(t) < 0.9:
            continue  # random bytes often decode as GB18030: only take text that reads as Chinese
        # Random bytes almost never decode to printable ASCII; words, PEM blocks and
        # configuration lines are mostly letters, digits and spaces.
        if not t.isascii() or sum(c.isalnum() or c in " \n" for c in t) >= 0.6 * len(t):
            return t
    return None


def b64decode_any(s: str) -> bytes | None:
    """Standard or URL-safe base64 (padding optional), as servers decode it; None if it is not."""
    try:
        if "-" in s or "_" in s:
            return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
        return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _base64_runs(text: str) -> str:
    """The text with each base64 run that decodes to readable text replaced by that text."""
    if len(text) < 16:
        return text
    pieces, pos, budget = [], 0, MAX_B64_BYTES
    for m in _B64_RUN.finditer(text):
        run = m.group()
        if run.isdigit() or run.isalpha() and (run.islower() or run.isupper()):
            continue  # numbers and plain words, not base64
        if budget <= 0:
            break
        data = b64decode_any(run.rstrip("="))
        if data is None:
            continue
        budget -= len(data)
        t = _readable(data)
        if t is None:
            continue
        pieces.append(text[pos:m.start()])
        pieces.append(f"\n{t}\n")
        pos = m.end()
    if not pieces:
        return text
    pieces.append(text[pos:])
    return "".join(pieces)


# --- markup inside text (prompts, Markdown, pasted HTML) -------------------------------

_ENTITY_DECL = re.compile(r"""<!ENTITY\s+([A-Za-z_][\w.-]{0,60})\s+(?:"([^"]{0,10000})"|'([^']{0,10000})')\s*>""")
_SUBSET_END = re.compile(r"\]\s*>")


def _strip_doctype(text: str) -> str:
    """The text without its (first) DOCTYPE and internal subset. str.find, not a regex with a
    lazy .*?: thousands of unclosed `<!DOCTYPE [` would each rescan the rest (quadratic)."""
    start = text.find("<!DOCTYPE")
    if start < 0:
        start = text.upper().find("<!DOCTYPE")
        if start < 0:
            return text
    gt = text.find(">", start)
    bracket = text.find("[", start)
    if 0 <= bracket < gt or (bracket >= 0 and gt < 0):
        m = _SUBSET_END.search(text, bracket)
        end = m.end() if m else len(text)
    else:
        end = gt + 1 if gt >= 0 else len(text)
    return text[:start] + text[end:]
_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.S)
_PI = re.compile(r"<\?.*?(?:\?>|\Z)", re.S)
_CDATA = re.compile(r"<!\[CDATA\[(.*?)(?:\]\]>|\Z)", re.S)
_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9:_-]*)(?:\s[^<>]*)?/?>")
_BLOCK_TAGS = frozenset("""p div br li tr h1 h2 h3 h4 h5 h6 title header footer section article table ul ol pre
blockquote hr dt dd caption thead tbody tfoot figcaption address main nav aside form fieldset""".split())
_CELL_TAGS = frozenset({"td", "th"})


def _expand_entities(text: str) -> str:
    """Internal entities (<!ENTITY m "机密">) expanded where referenced, within a budget: a
    billion-laughs declaration set stops at MAX_EXPANDED characters."""
    decls = {}
    for m in _ENTITY_DECL.finditer(text):
        if len(decls) >= MAX_ENTITIES:
            break
        decls.setdefault(m.group(1), m.group(2) if m.group(2) is not None else m.group(3))
    if not decls:
        return text
    ref = re.compile("&(" + "|".join(re.escape(k) for k in decls) + ");")
    budget = MAX_EXPANDED
    body = _strip_doctype(text)
    for _ in range(4):  # entities that reference entities, a few levels deep
        if not ref.search(body):
            break
        pieces, pos = [], 0
        for m in ref.finditer(body):
            value = decls[m.group(1)]
            budget -= len(value)
            if budget < 0:
                return body
            pieces.append(body[pos:m.start()])
            pieces.append(value)
            pos = m.end()
        pieces.append(body[pos:])
        body = "".join(pieces)
    return body


def _tag(m: re.Match) -> str:
    name = m.group(1).lower()
    if name in _BLOCK_TAGS:
        return "\n"
    if name in _CELL_TAGS:
        return "\t"
    return ""


def resolve_markup(text: str) -> str:
    """The text as a reader shows it: internal entities expanded, comments and processing
    instructions removed, CDATA unwrapped, tags removed (block tags end a line), character
    references resolved."""
    out = text
    if "<!ENTITY" in out:
        out = _expand_entities(out)
    if "<!--" in out:
        out = _COMMENT.sub("", out)
    if "<?" in out:
        out = _PI.sub("", out)
    if "<![CDATA[" in out:
        out = _CDATA.sub(lambda m: m.group(1).replace("<", "\x00"), out)  # CDATA text is text, not tags
    if "<" in out:
        out = _TAG.sub(_tag, out)
    out = out.replace("\x00", "<")
    if "&" in out:
        out = html.unescape(out)
    return out


def comments_of(text: str) -> list[str]:
    """Comments in a text (HTML/XML comments in a prompt or a Markdown file)."""
    return [m.group()[4:].removesuffix("-->").strip() for m in _COMMENT.finditer(text)] if "<!--" in text else []


# --- do decoded bytes read like Chinese text? --------------------------------------------

_COMMON_PUNCT = frozenset("，。：；！？、（）《》“”‘’「」★▲…—·　\n\r\t")


def plausibility(text: str) -> float:
    """Share of non-ASCII characters that are common Chinese: GB2312 level-1 hanzi,
    Big5 frequent hanzi, or CJK punctuation. Text decoded with the wrong code page
    turns into rare characters, kana, Cyrillic and vertical forms, and scores low."""
    n = good = 0
    for ch in text[:4000]:
        if ch.isascii():
            continue
        n += 1
        if ch in _COMMON_PUNCT:
            good += 1
            continue
        try:
            if 0xB0 <= ch.encode("gb2312")[0] <= 0xF7:
                good += 1
            continue
        except UnicodeEncodeError:
            pass
        try:
            if 0xA4 <= ch.encode("big5")[0] <= 0xC6:
                good += 1
        except UnicodeEncodeError:
            pass
    return 1.0 if n == 0 else good / n
