"""HTML to text the way a browser lays it out: block elements start new lines, the cells of a
table row stay on one line (tab-separated, as a browser copies them), character references
and markup inside words resolved (机<span style="…">密</span> is 机密). What a page carries
outside its visible text is read too: the title, meta fields and comments, each as a part of
its own (a marking only in a comment is still a marking)."""
from __future__ import annotations

from html.parser import HTMLParser

_BLOCK = {
    "p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "title",
    "header", "footer", "section", "article", "table", "ul", "ol", "pre", "blockquote", "hr", "dt", "dd",
    "caption", "thead", "tbody", "tfoot", "figcaption", "address", "main", "nav", "aside", "form", "fieldset",
}
_CELL = {"td", "th"}
_SKIP = {"script", "style", "template", "noscript"}
MAX_COMMENTS = 100


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.meta: list[str] = []
        self.comments: list[str] = []
        self.title: list[str] = []
        self.skip = 0
        self.in_title = 0
        self.cell = 0  # cells seen in the current row

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP:
            self.skip += 1
        elif tag == "tr":
            self.cell = 0
            self.out.append("\n")
        elif tag in _CELL:
            if self.cell:
                self.out.append("\t")
            self.cell += 1
        elif tag in _BLOCK:
            self.out.append("\n")
        if tag == "title":
            self.in_title += 1
        if tag == "meta":
            d = dict(attrs)
            if d.get("content") and (d.get("name") or d.get("property") or d.get("http-equiv")):
                self.meta.append(f"{d.get('name') or d.get('property') or d.get('http-equiv')}：{d['content']}")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in ("meta", "br", "hr"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag == "title":
            self.in_title = max(0, self.in_title - 1)
            self.out.append("\n")
        elif tag in _BLOCK:
            self.out.append("\n")

    def handle_data(self, data):
        if self.in_title:
            self.title.append(data)
        if not self.skip:
            self.out.append(data)

    def handle_comment(self, data):
        if len(self.comments) < MAX_COMMENTS:
            self.comments.append(data)
        elif self.comments:
            self.comments[-1] += "\n" + data

    def unknown_decl(self, data):
        if data.upper().startswith("CDATA["):
            # Text in SVG/MathML and to any XML reader (a bogus comment to an HTML browser):
            # read as text in place, so 机<![CDATA[密]]> is 机密 whichever way it is read.
            self.handle_data(data[6:])


def _lines(text: str) -> str:
    lines = (ln.strip() for ln in text.split("\n"))
    return "\n".join(ln for ln in lines if ln)


def _parse(html: str) -> _Text:
    p = _Text()
    p.feed(html)
    p.close()
    return p


def html_to_text(html: str) -> str:
    """The visible text, with the page's meta fields (as before: one string)."""
    p = _parse(html)
    return _lines("".join(p.out) + ("\n" + "\n".join(p.meta) if p.meta else ""))


def html_parts(html: str) -> list[tuple[str, str, str]]:
    """(text, location suffix, part kind) of each carrier in a page: the visible text, the
    title, meta fields, and each comment."""
    p = _parse(html)
    out = [(_lines("".join(p.out)), "", "body")]
    if p.title:
        out.append((_lines("".join(p.title)), " (title)", "title"))
    if p.meta:
        out.append(("\n".join(p.meta), " (meta)", "property"))
    for i, c in enumerate(p.comments):
        out.append((_lines(c), f" (comment {i + 1})", "comment"))
    return out
