"""Markup read the way a browser or an XML parser reads it.

A marking split by markup (机<span style="…any length…">密</span>★5年, 机<![CDATA[密]]>,
an internal entity &m; declared as 机密, &#23494;, 机<!-- x -->密, 机<?pi?>密) is one marking
to the reader; it must be one to the matcher. XML files are parsed (internal entities only:
no external entities, no network, libxml2's amplification bound plus our own cap on
declarations); markup inside prompt text is resolved by `resolve_markup` (guard/decode.py: edit it
there), bounded the same way.
"""
from __future__ import annotations

import re

from lxml import etree

from guard.decode import MARKUP_TRIGGER as TRIGGER, MAX_ENTITIES, comments_of, resolve_markup  # noqa: F401
from guard.extract.context import Context

MAX_XML_CHARS = 8 << 20      # larger XML texts are read as plain text only
MAX_FIELD = 80               # leaf elements up to this long are also read as `name：value` fields

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


_DECLARED = re.compile(r"""\A(\s*<\?xml[^>]*?)\s+encoding\s*=\s*["'][^"']*["']""")


def xml_view(ctx: Context, text: str) -> tuple[str, str, list[str]] | None:
    """(element text, attributes and short leaf elements as `name：value` lines, comments and
    PIs) of an XML text, or None when it does not parse as XML."""
    if len(text) > MAX_XML_CHARS or text.count("<!ENTITY") > MAX_ENTITIES:
        return None
    parser = etree.XMLParser(resolve_entities="internal", no_network=True, load_dtd=False, huge_tree=False,
                             remove_comments=False, remove_pis=False, recover=False)
    try:
        # The text is decoded already (with the declaration's charset): handed over as UTF-8, the
        # declaration must not make the parser decode it a second time as GB18030.
        root = etree.fromstring(_DECLARED.sub(r"\1", text.lstrip("\ufeff"), count=1).encode("utf-8"), parser)
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
            if len(el) == 0 and len(el.text) <= MAX_FIELD:
                # A leaf element is a field: <密级>机密</密级>, <classification>Secret</classification>.
                attrs.append(f"{_local(el.tag)}：{el.text.strip()}")
        stack.extend(reversed(el))
    return "\n".join(b for b in body if b), "\n".join(attrs), comments
