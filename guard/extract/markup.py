"""Markup read the way a browser or an XML parser reads it.

A marking split by markup (机<span style="…any length…">密</span>★5年, 机<![CDATA[密]]>,
an internal entity &m; declared as 机密, &#23494;, 机<!-- x -->密, 机<?pi?>密) is one marking
to the reader; it must be one to the matcher. XML files are parsed (internal entities only:
no external entities, no network, libxml2's amplification bound plus our own cap on
declarations); markup inside prompt text is resolved by `resolve_markup`, bounded the same way.
"""
from __future__ import annotations

import html
import re

from lxml import etree

from guard.extract.context import Context

MAX_ENTITIES = 64            # entity declarations honoured in one text
MAX_EXPANDED = 1 << 20       # characters entity expansion may add, in total
MAX_XML_CHARS = 8 << 20      # larger XML texts are read as plain text only

_XML_START = re.compile(r"<\?xml\b|<!doctype\s+(?!html)|<[A-Za-z_][\w.:-]*(?:\s[^<>]*)?/?>", re.I)


def looks_like_xml(head: str) -> bool:
    """The (lower-cased, stripped) head of a text is XML: a declaration, a DOCTYPE, or a root tag."""
    return head[:1] == "<" and bool(_XML_START.match(head)) and not head.startswith(("<!doctype html", "<html"))


def _local(tag) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _mixed(el) -> bool:
    if (el.text or "").strip():
        return len(el) > 0
    return any((c.tail or "").strip() for c in el)


def _inline_text(el) -> str:
    """All text under el, comments and PIs left out (a reader does not show them)."""
    out = [el.text or ""]
    for c in el:
        if isinstance(c.tag, str):
            out.append(_inline_text(c))
        out.append(c.tail or "")
    return "".join(out)


def xml_view(ctx: Context, text: str) -> tuple[str, str, list[str]] | None:
    """(element text, attributes as `name：value` lines, comments and PIs) of an XML text, or
    None when it does not parse as XML."""
    if len(text) > MAX_XML_CHARS or text.count("<!ENTITY") > MAX_ENTITIES:
        return None
    parser = etree.XMLParser(resolve_entities="internal", no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=False, remove_pis=False, recover=False)
    try:
        root = etree.fromstring(text.lstrip("\ufeff").encode("utf-8"), parser)
    except (etree.XMLSyntaxError, ValueError):
        return None
    body, attrs, comments = [], [], []
    # Comments and PIs before/after the root element belong to the document too.
    for sib in (*root.itersiblings(preceding=True), *root.itersiblings()):
        if not isinstance(sib.tag, str) and sib.text and sib.text.strip():
            comments.append(sib.text.strip())
    stack = [root]
    while stack:
        ctx.check_time()
        el = stack.pop()
        if not isinstance(el.tag, str):  # comment or processing instruction
            if el.text and el.text.strip():
                comments.append(el.text.strip())
            continue
        for k, v in el.attrib.items():
            if v.strip():
                attrs.append(f"{_local(k)}：{v.strip()}")
        if _mixed(el):
            body.append(_inline_text(el).strip())
            stack.extend(c for c in reversed(el) if isinstance(c.tag, str) and (len(c) or c.attrib)
                         or not isinstance(c.tag, str))
            continue
        if el.text and el.text.strip():
            body.append(el.text.strip())
        stack.extend(reversed(el))
    return "\n".join(b for b in body if b), "\n".join(attrs), comments


# --- markup inside text (prompts, Markdown, pasted HTML) -----------------------------------

# RE2 syntax (the matcher's Set pass): text that holds markup worth resolving. Short tags
# between a marking's characters are already gaps to the normalizer; these are the rest.
# No counted repetition of wide classes: in the matcher's RE2 Set they multiply DFA states.
TRIGGER = r"<!\[CDATA\[|<!--|<!ENTITY|<\?[A-Za-z]|<[A-Za-z][A-Za-z0-9]*[ \t\n][^<>]*=|&[A-Za-z][A-Za-z0-9]+;"
_ENTITY_DECL = re.compile(r"""<!ENTITY\s+([A-Za-z_][\w.-]{0,60})\s+(?:"([^"]*)"|'([^']*)')\s*>""")
_DOCTYPE = re.compile(r"<!DOCTYPE[^\[>]*(?:\[.*?\]\s*)?>", re.S | re.I)
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
    body = _DOCTYPE.sub("", text)
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
