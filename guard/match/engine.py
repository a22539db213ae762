"""Matching: one Aho-Corasick pass over all keywords, then per-rule work only where hit.

A rule with a regex runs it (RE2, linear time) on windows around its keyword hits,
or over the whole part when it has no keywords. Every candidate then passes the
rule's validator, allowlist, word boundary, mention filter and position constraint.
"""
from __future__ import annotations

from dataclasses import dataclass

import ahocorasick
import re2

from guard.match import structure
from guard.match.validators import VALIDATORS
from guard.normalize import Normalized, Normalizer
from guard.policy.model import Policy, Rule
from guard.types import MARKING_AREAS, Part

WINDOW = 96      # characters around a keyword hit that a rule's regex sees
MAX_LINE = 512   # windows grow to line boundaries, but no further than this
LINE_HEAD_REACH = 48  # a positional rule's keyword sits within this many chars of its line head
_WORDCH = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True, slots=True)
class Hit:
    part: int
    start: int      # in the part's original text
    end: int
    value: str      # normalized matched value (for counting distinct values)


class Matcher:
    def __init__(self, policy: Policy):
        self.policy = policy
        self.rules: tuple[Rule, ...] = tuple(r for r in policy.rules if not r.on_problem)
        vocab = policy.settings.vocabulary or None
        self.normalizer = Normalizer(vocab) if vocab else Normalizer()
        self.automaton = None
        kw_rules: dict[str, set[int]] = {}
        for i, rule in enumerate(self.rules):
            for kw in rule.keywords:
                kw_rules.setdefault(kw.lower(), set()).add(i)
        if kw_rules:
            a = ahocorasick.Automaton()
            for kw, idx in kw_rules.items():
                a.add_word(kw, (len(kw), tuple(sorted(idx))))
            a.make_automaton()
            self.automaton = a
        self.always = tuple(i for i, r in enumerate(self.rules) if not r.keywords)
        self.regex_set, self._set_rules = _build_set(self.rules, self.normalizer.reason_pattern)
        self._reason = len(self._set_rules)  # the Set index of "this text needs normalizing"
        self._cap = {i: max(r.escalate_count, r.min_count) + policy.settings.max_findings_per_rule
                     for i, r in enumerate(self.rules)}

    def scan(self, parts: list[Part]) -> dict[int, list[Hit]]:
        """Hits per rule index, across all parts (thresholds count across the input)."""
        hits: dict[int, list[Hit]] = {}
        seen_pos: dict[int, set] = {}
        seen_val: dict[int, set] = {}
        for pi, part in enumerate(parts):
            norm, matched = self._normalize(part.text)
            text = norm.text
            kw_hits: dict[int, list[tuple[int, int]]] = {}
            if self.automaton is not None:
                # Keywords match case-insensitively; lower() keeps offsets unless a rare
                # character changes length (then the text is searched as it is).
                lowered = text.lower()
                if len(lowered) != len(text):
                    lowered = text
                for end, (length, idx) in self.automaton.iter(lowered):
                    span = (end - length + 1, end + 1)
                    for i in idx:
                        kw_hits.setdefault(i, []).append(span)
            candidates = (*kw_hits.keys(), *self.always)
            if matched is not None:
                # A rule whose regex matches nowhere in the part needs no windows and no checks.
                candidates = [i for i in candidates if self.rules[i].regex is None or i in matched]
            for i in candidates:
                rule = self.rules[i]
                if rule.parts and part.kind not in rule.parts:
                    continue
                found = hits.setdefault(i, [])
                positions = seen_pos.setdefault(i, set())
                values = seen_val.setdefault(i, set())
                cap = self._cap[i]
                if len(values) >= cap:
                    continue  # the rule already decided its strongest action
                spans = kw_hits.get(i)
                if spans is not None and "anywhere" not in rule.where:
                    spans = self._positional(rule, text, spans, part.kind)
                    if not spans:
                        continue
                for s, e in self._candidates(rule, text, spans):
                    if not self._accept(rule, text, s, e, part.kind):
                        continue
                    os_, oe = norm.to_original(s), norm.to_original(e - 1) + 1
                    if (pi, os_) in positions:
                        continue
                    positions.add((pi, os_))
                    values.add(text[s:e])
                    found.append(Hit(pi, os_, oe, text[s:e]))
                    if len(values) >= cap:
                        break
        return {i: h for i, h in hits.items() if h}

    def _set_match(self, text: str) -> set[int]:
        return set(self.regex_set.Match(text.encode("utf-8", "surrogatepass")) or ())

    def _normalize(self, raw: str):
        """(normalized text, rule indices whose regex matches somewhere in it).

        One RE2 Set pass over the raw text answers both "does anything need normalizing?"
        and "which regexes can match?"; only text that needs normalizing gets a second pass.
        """
        if self.regex_set is None:
            return self.normalizer.normalize(raw), None
        hit = self._set_match(raw)
        if self._reason in hit:
            norm = self.normalizer.normalize(raw, checked=True)
            hit = self._set_match(norm.text)
        else:
            norm = Normalized(raw)
        return norm, {self._set_rules[j] for j in hit if j < self._reason}

    def _positional(self, rule: Rule, text: str, spans, kind: str):
        """Keyword hits that could still satisfy the rule's position constraint.

        Most mentions of 秘密 sit mid-sentence, far from a line head; dropping them
        here spares their regex windows and structure checks.
        """
        if "marking_area" in rule.where and kind in MARKING_AREAS:
            return spans
        head_only = not ({"line_head", "own_line"} & set(rule.where))
        head_end = _head_end(text, self.policy.settings.doc_head_lines) if head_only else len(text)
        out = []
        for s, e in spans:
            if s >= head_end:
                continue
            if s - (text.rfind("\n", 0, s) + 1) <= LINE_HEAD_REACH:
                out.append((s, e))
        return out

    def _candidates(self, rule: Rule, text: str, kw_spans):
        if rule.regex is None:
            yield from sorted(set(kw_spans or ()))
            return
        # Dense hits: one pass of RE2 over the whole text beats many small windows.
        if kw_spans is None or len(kw_spans) * 2 * WINDOW > len(text) // 2:
            for m in rule.regex.finditer(text):
                yield m.span(rule.group)
            return
        for ws, we in _windows(text, kw_spans):
            for m in rule.regex.finditer(text[ws:we]):
                s, e = m.span(rule.group)
                if s >= 0:
                    yield ws + s, ws + e

    def _accept(self, rule: Rule, text: str, s: int, e: int, kind: str) -> bool:
        if e <= s:
            return False
        value = text[s:e]
        if rule.word_boundary and ((s > 0 and text[s - 1] in _WORDCH) or (e < len(text) and text[e] in _WORDCH)):
            return False
        if rule.validator and VALIDATORS[rule.validator](value) is False:
            return False
        if rule.stopwords and any(w in value for w in rule.stopwords):
            return False
        if rule.allow_regexes and any(r.search(value) for r in rule.allow_regexes):
            return False
        st = self.policy.settings
        if not structure.satisfies(rule.where, text, s, e, kind, st.doc_head_lines):
            return False
        if rule.skip_mentions and (structure.is_quoted(text, s, e)
                                   or structure.has_cue(text, s, e, st.mention_before, st.mention_after,
                                                                       st.mention_previous_line)):
            return False
        return True


def _build_set(rules: tuple[Rule, ...], reason_pattern: str):
    indices = [i for i, r in enumerate(rules) if r.regex is not None]
    opts = re2.Options()
    opts.max_mem = 256 << 20
    opts.log_errors = False
    rset = re2.Set.SearchSet(opts)
    for i in indices:
        src = rules[i].regex_source
        rset.Add(f"(?i:{src})" if rules[i].case_insensitive else src)
    rset.Add(reason_pattern)  # last: "normalize first"
    try:
        rset.Compile()
    except Exception:  # a set too large for RE2's memory budget: rules still run one by one
        return None, ()
    return rset, tuple(indices)


def _head_end(text: str, lines: int) -> int:
    """Offset just past the first `lines` non-empty lines."""
    pos = seen = 0
    n = len(text)
    while pos < n:
        nl = text.find("\n", pos)
        nl = n if nl < 0 else nl
        if text[pos:nl].strip():
            seen += 1
            if seen >= lines:
                return nl
        pos = nl + 1
    return n


def _windows(text: str, spans):
    """Merged windows around keyword hits, widened to whole lines (within MAX_LINE)."""
    out: list[list[int]] = []
    n = len(text)
    for s, e in sorted(spans):
        ws = max(0, s - WINDOW)
        we = min(n, e + WINDOW)
        ls = text.rfind("\n", max(0, ws - MAX_LINE), ws) + 1 if ws else 0
        ws = ls if ls > 0 or ws <= MAX_LINE else ws
        le = text.find("\n", we, min(n, we + MAX_LINE))
        we = le if le >= 0 else min(n, we + MAX_LINE) if we + MAX_LINE < n else n
        if out and ws <= out[-1][1]:
            out[-1][1] = max(out[-1][1], we)
        else:
            out.append([ws, we])
    return out
