"""What a matcher reports: a hit is a span of a part's text that a rule accepted; rules that match
by hash (registered documents, hashed term lists) report theirs here too."""
from __future__ import annotations

from dataclasses import dataclass

from guard.rules import Rule

@dataclass(frozen=True, slots=True)
class Hit:
    part: int
    start: int      # in the part's original text
    end: int
    value: str      # normalized matched value (for counting distinct values)
    confirmed: bool = True  # False: the validator had no opinion (an ID number with a wrong check digit)
    note: str = ""          # the finding's excerpt instead of the text (a registered document's id and overlap)


def hash_hits(rule: Rule, pi: int, text: str) -> list[Hit]:
    if rule.hashed is not None:
        return [Hit(pi, s, e, text[s:e]) for s, e in rule.hashed.find(text)]
    fp = rule.fingerprint
    out = []
    for s, e, doc, covered, share in fp.collection.match(text, fp.min_chars, fp.min_share):
        out.append(Hit(pi, s, e, doc["id"], note=f"登记文档 {doc['id']}（{fp.collection.name}）重合 {covered} 字，"
                                                  f"占 {share:.0%} / registered document {doc['id']} "
                                                  f"({fp.collection.name}): {covered} chars, {share:.0%}"))
    return out
