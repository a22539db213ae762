"""HTML to text with line structure (block elements start new lines)."""
from __future__ import annotations

from html.parser import HTMLParser

_BLOCK = {
    "p", "div", "br", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "title",
    "header", "footer", "section", "article", "table", "ul", "ol", "pre", "blockquote", "hr",
}
_SKIP = {"script", "style", "template", "noscript"}


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in _SKIP:
            self.skip += 1
        elif tag in _BLOCK:
            self.out.append("\n")
        if tag == "meta":
            d = dict(attrs)
            if d.get("content") and (d.get("name") or d.get("property")):
                self.out.append(f"\n{d.get('name') or d.get('property')}：{d['content']}\n")

    def handle_endtag(self, tag):
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCK:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.skip:
            self.out.append(data)


def html_to_text(html: str) -> str:
    p = _Text()
    p.feed(html)
    p.close()
    lines = (ln.strip() for ln in "".join(p.out).split("\n"))
    return "\n".join(ln for ln in lines if ln)
