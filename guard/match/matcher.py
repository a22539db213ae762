"""Matching: one Aho-Corasick pass over all keywords, then per-rule work only where hit.

A rule with a regex runs it (RE2, linear time) on windows around its keyword hits,
or over the whole part when it has no keywords. Every candidate then passes the
rule's validator, allowlist, word boundary, mention filter and position constraint.
"""
from __future__ import annotations

import re

import ahocorasick

from guard.decode import decoded
from guard.match import mentions, structure
from guard.match.hits import Hit, hash_hits  # noqa: F401  (Hit: decide reads it from here)
from guard.match.regexes import _alternation, _build_set, _compile, byte_spans, group_ends_match, relax, word_end_gate  # noqa: F401  (relax: tests)
from guard.match.textspan import (  # noqa: F401  (_utf8: tests)
    WINDOW, _ByteOffsets, _foot_start, _head_end, _joined, _utf8, _windows, mentioned,
)
from guard.match.validators import VALIDATORS, compact
from guard.normalize import DEFAULT_VOCABULARY, Normalized, Normalizer
from guard.rules import Policy, Rule
from guard.types import MARKING_AREAS, Part

LINE_HEAD_REACH = 48  # a positional rule's keyword sits within this many chars of its line head
DECODED = "(decoded)"
BIG_LIST = 20    # keyword-only rules with more terms than this get an RE2 pass of their own (cheaper
                 # than widening the automaton: pyahocorasick slows with many distinct first chars)
_NUMERIC = frozenset({"cn_id", "luhn", "uscc", "phone"})


class Matcher:
    def __init__(self, policy: Policy):
        self.policy = policy
        self.rules: tuple[Rule, ...] = tuple(r for r in policy.rules if not r.on_problem)
        vocab = policy.settings.vocabulary or DEFAULT_VOCABULARY
        # Literal terms (rules without a regex of their own to allow both widths) need their
        # punctuation's full-width forms folded: 昆仑-7号工程 must find 昆仑－7号工程.
        punct = {c for r in self.rules if r.regex is None for k in r.keywords for c in k
                 if c.isascii() and not c.isalnum() and not c.isspace()}
        self.normalizer = Normalizer(vocab, "".join(sorted(punct)))
        # Which engine finds each rule's candidates:
        # - CJK keywords go into one Aho-Corasick automaton (caseless, so no lower() pass);
        # - a rule with ASCII keywords is gated by its case-insensitive regex in the RE2 Set;
        # - keyword-only rules become a literal alternation regex; a big term list gets a
        #   pass of its own (one RE2 DFA over 5,000 literals is fast alone, slow in the Set);
        # - every other rule's regex (or keyword alternation) is in the RE2 Set, which says
        #   per part which rules can match at all.
        self.regex: dict[int, object] = {}
        self.in_set: set[int] = set()
        set_sources: dict[int, str] = {}
        kw_rules: dict[str, set[int]] = {}
        always = []
        self.by_hash = tuple(i for i, r in enumerate(self.rules) if r.by_hash)
        for i, rule in enumerate(self.rules):
            if rule.by_hash:
                continue  # found by _hash_hits, not by keywords or a regex
            ascii_kw = any(k.isascii() for k in rule.keywords)
            big = len(rule.keywords) > BIG_LIST
            if rule.regex is None and (ascii_kw or big):
                src = _alternation(rule.keywords)
                self.regex[i] = _compile(src)
                always.append(i)
                if not big:
                    set_sources[i] = src
                continue
            if rule.regex is not None:
                self.regex[i] = rule.regex
                set_sources[i] = f"(?i:{rule.regex_source})" if rule.case_insensitive else rule.regex_source
                if rule.word_boundary:
                    # For the Set and the combined pass only (they find where a rule can match,
                    # the rule's own regex then runs there): a match _accept() can keep has no
                    # letter or digit before it, and requiring that lets one DFA thread start
                    # per run of digits instead of one per digit. Without it, 200k cells of
                    # decimals drove the Set's DFA to 1 s and 170 MB on first use.
                    set_sources[i] = f"(?:^|[^0-9A-Za-z])(?:{set_sources[i]})"
                if rule.word_end and group_ends_match(rule.regex_source, rule.group):
                    set_sources[i] = word_end_gate(set_sources[i])
            elif rule.keywords:
                # Keyword-only CJK rules too: a part without any of the terms then costs no
                # automaton pass for them (the automaton still gives the positions).
                set_sources[i] = _alternation(rule.keywords)
            if rule.keywords and not ascii_kw:
                for kw in rule.keywords:
                    kw_rules.setdefault(kw, set()).add(i)
            else:
                always.append(i)
        self.always = tuple(always)
        self._always_set = frozenset(always)
        self._sources = set_sources
        self._combined: dict[frozenset, object] = {}
        self.regex_set, self._set_rules = _build_set({i: relax(src) for i, src in set_sources.items()},
                                                     self.normalizer.reason_pattern)
        self.in_set = set(self._set_rules)
        self._always_unset = frozenset(i for i in always if i not in self.in_set)  # not gated by the Set
        # Keyword hits are collected only for rules still possible in a part: a rule whose regex
        # the Set rules out needs none (a text full of mere mentions such as 秘密 is not iterated
        # hit by hit for nothing), and a rule that only counts in the first lines of a part
        # (doc_head, or marking_area outside headers and properties) needs them there only.
        self._kw_rules = kw_rules
        self._kw_all = frozenset(i for idx in kw_rules.values() for i in idx)
        self._gated = frozenset(i for i in self._kw_all if i in self.in_set)
        # A part the Set finds nothing in has no hits when every rule is gated by the Set.
        self._nothing_ungated = not self._always_unset and not self.by_hash and not self._kw_all - self._gated
        # Rules with a regex the Set gates and no head-only position: when the Set says one can
        # match, its regex runs over the whole part (RE2, in C++) instead of windows around its
        # keyword hits, and its keywords stay out of the whole-part automaton. On a page about
        # 保密 that names the levels in every line, collecting each hit in Python cost more than
        # the regexes themselves.
        self._whole_pass = frozenset(i for i in self._gated if i in self.regex
                                     and set(self.rules[i].where) & _ANY_LINE)
        self._head_only = {}
        for i in self._kw_all:
            where = set(self.rules[i].where)
            if not where & _ANY_LINE:
                # True: not when the part is a marking area (there the whole part counts)
                self._head_only[i] = bool(where & {"marking_area", "marking_line"})
        self._automata: dict[frozenset, object] = {}
        self._modes = {i: (self._mode(r, "body"), self._mode(r, "header")) for i, r in enumerate(self.rules)}
        self._plans: dict[tuple, tuple] = {}
        self._reason = len(self._set_rules)  # the Set index of "this text needs normalizing"
        self._cap = {i: max(r.escalate_count, r.min_count) + policy.settings.max_findings_per_rule
                     for i, r in enumerate(self.rules)}

    def scan(self, parts: list[Part]) -> dict[int, list[Hit]]:
        """Hits per rule index, across all parts (thresholds count across the input).

        A part that holds escapes (\\u673a, &#26426;, %E6%9C%BA) gets a decoded copy appended
        to `parts`, scanned like the others; hits refer to positions in the extended list."""
        hits: dict[int, list[Hit]] = {}
        seen_pos: dict[int, set] = {}
        seen_val: dict[int, set] = {}
        pi = -1
        while pi + 1 < len(parts):
            pi += 1
            part = parts[pi]
            norm, enc, matched, escaped = self._normalize(part.text)
            if escaped and not part.location.endswith(DECODED):
                text = decoded(part.text)
                if text is not None:
                    parts.append(Part(text, f"{part.location} {DECODED}".strip(), part.kind))
            if matched is not None and not matched and self._nothing_ungated:
                continue  # the Set says no rule can match here, and every rule is gated by it
            text = norm.text
            kw_hits: dict[int, list[tuple[int, int]]] = {}
            # Rules with the same keywords see the same spans, positions and windows: computed once.
            shared: dict = {}
            whole, head = self._plan(matched, part.kind in MARKING_AREAS)
            if whole is not None:
                self._keyword_hits(whole, text, kw_hits)
            if head is not None:
                head_end = _head_end(text, self.policy.settings.doc_head_lines)
                self._keyword_hits(head, text[:head_end], kw_hits)
                foot = max(head_end, _foot_start(text, structure.FOOT_LINES))
                shared["head_foot"] = (head_end, foot)
                if foot < len(text):  # and its last lines: a marking at the foot of the last page
                    self._keyword_hits(head, text[foot:], kw_hits, foot)
            if matched is not None:
                kw_hits.update({i: None for i in self._whole_pass & matched if i not in kw_hits})
            # Policy order (ties in decide() go to the earlier rule); a rule whose regex matches
            # nowhere in the part needs no windows and no checks.
            if matched is None:
                candidates = (*sorted(kw_hits), *self.always)
            else:
                candidates = [i for i in sorted(kw_hits) if i not in self.in_set or i in matched]
                candidates += sorted(self._always_unset.union(matched.intersection(self._always_set)))
            to_char = _ByteOffsets(enc, len(text))  # shared by every regex pass over this part
            regions = self._regions(text, enc, [i for i in candidates if i in self.always and i in self._sources],
                                    to_char)
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
                if spans is None and regions is not None and i in self.always and i in self._sources:
                    spans = regions  # the combined pass found where keyword-less rules can match
                elif spans is not None:
                    if "anywhere" in rule.where:
                        spans = shared.setdefault((rule.keywords, None), spans)
                    else:
                        mode = self._modes[i][part.kind in MARKING_AREAS]
                        key = (rule.keywords, mode)
                        if key not in shared:
                            shared[key] = self._positional(mode, text, spans, shared)
                        spans = shared[key]
                    if not spans:
                        continue
                for s, e in self._candidates(i, rule, text, enc, spans, to_char, shared):
                    confirmed = self._accept(rule, text, s, e, part.kind, shared.get("head_foot"))
                    if confirmed is None:
                        continue
                    if confirmed is False and rule.validator == "cn_id" and mentions.beside_name(text, s):
                        confirmed = True  # a mistyped ID number is still one, written beside its owner
                    os_, oe = norm.to_original(s), norm.to_original(e - 1) + 1
                    if (pi, os_) in positions:
                        continue
                    positions.add((pi, os_))
                    # Grouped digits (137-3204-0070) are the same value as ungrouped ones.
                    value = compact(text[s:e]) if rule.validator in _NUMERIC else text[s:e]
                    values.add(value)
                    found.append(Hit(pi, os_, oe, value, confirmed))
                    if len(values) >= cap:
                        break
            for i in self.by_hash:
                rule = self.rules[i]
                if not rule.parts or part.kind in rule.parts:
                    hits.setdefault(i, []).extend(hash_hits(rule, pi, part.text))
        return {i: h for i, h in hits.items() if h}

    def _plan(self, matched, area: bool):
        """(automaton for the whole part, automaton for its head lines), given the rules the
        Set says can match (None: no Set) and whether the part is a marking area."""
        key = (matched, area)  # matched: a frozenset (or None)
        plan = self._plans.get(key)
        if plan is None:
            possible = self._kw_all if matched is None else self._kw_all - (self._gated - key[0])
            head = frozenset(i for i in possible if i in self._head_only and not (area and self._head_only[i]))
            plan = (self._automaton(possible - head - (self._whole_pass if matched is not None else frozenset())),
                    self._automaton(head))
            if len(self._plans) >= 256:  # distinct rule combinations are few; bound them anyway
                self._plans.clear()
            self._plans[key] = plan
        return plan

    @staticmethod
    def _keyword_hits(automaton, text: str, kw_hits: dict, offset: int = 0) -> None:
        # Collect per keyword's rule set first (one append per hit), then fan out.
        by_idx: dict[tuple[int, ...], list[tuple[int, int]]] = {}
        for end, (length, idx) in automaton.iter(text):
            by_idx.setdefault(idx, []).append((offset + end - length + 1, offset + end + 1))
        for idx, spans in by_idx.items():
            for i in idx:
                kw_hits.setdefault(i, []).extend(spans)

    def _automaton(self, rules: frozenset):
        """The automaton over the keywords of `rules` (None if they have none)."""
        a = self._automata.get(rules, False)
        if a is not False:
            return a
        words = {}
        for kw, idx in self._kw_rules.items():
            keep = tuple(sorted(i for i in idx if i in rules))
            if keep:
                words[kw] = keep
        a = None
        if words:
            a = ahocorasick.Automaton()
            for kw, idx in words.items():
                a.add_word(kw, (len(kw), idx))
            a.make_automaton()
        if len(self._automata) >= 256:
            self._automata.clear()
        self._automata[rules] = a
        return a

    def _normalize(self, raw: str):
        """(normalized text, its UTF-8, rule indices whose regex matches somewhere in it,
        whether it holds escapes worth decoding).

        One RE2 Set pass over the raw text answers both "does anything need normalizing?"
        and "which regexes can match?"; only text that needs normalizing gets a second pass.
        """
        if self.regex_set is None:
            norm = self.normalizer.normalize(raw)
            return norm, _utf8(norm.text), None, True
        enc = _utf8(raw)
        hit = self.regex_set.Match(enc) or ()
        escaped = self._reason + 1 in hit
        if self._reason in hit:
            norm = self.normalizer.normalize(raw, checked=True)
            enc = _utf8(norm.text)
            hit = self.regex_set.Match(enc) or ()
        else:
            norm = Normalized(raw)
        return norm, enc, frozenset([self._set_rules[j] for j in hit if j < self._reason]), escaped

    def _regions(self, text: str, enc: bytes, rules: list[int], to_char):
        """One pass of the alternation of several keyword-less rules' regexes: the spans it
        reports cover every match of each of them (a match starts inside a reported span or
        the scan reports one at or before it), so each rule then runs on windows only."""
        if len(rules) < 2:
            return None
        key = frozenset(rules)
        combined = self._combined.get(key)
        if combined is None:
            src = "|".join(f"(?:{self._sources[i]})" for i in sorted(rules))
            combined = self._combined[key] = _compile(src)
        out = []
        for s, e in byte_spans(combined, enc):
            out.append((to_char(s), to_char(e)))
        return out

    @staticmethod
    def _mode(rule: Rule, kind: str) -> str:
        """How a positional rule's keyword hits are narrowed: not at all (a marking area),
        to line heads anywhere, or to line heads of the head and foot lines."""
        where = set(rule.where)
        if (kind in MARKING_AREAS and where & {"marking_area", "marking_line"}) or where & _TABLE_WHERE:
            return "all"  # (a table's column may be anywhere in the part)
        return "head_only" if not ({"line_head", "own_line"} & where) else "line_head"

    def _positional(self, mode: str, text: str, spans, shared: dict):
        """Keyword hits that could still satisfy a position constraint (see _mode).

        Most mentions of 秘密 sit mid-sentence, far from a line head; dropping them
        here spares their regex windows and structure checks.
        """
        if mode == "all":
            return spans
        head_only = mode == "head_only"
        head_end = foot = len(text)
        if head_only:
            bounds = shared.get("head_foot")
            if bounds is None:  # once a part
                h = _head_end(text, self.policy.settings.doc_head_lines)
                bounds = shared["head_foot"] = (h, max(h, _foot_start(text, structure.FOOT_LINES)))
            head_end, foot = bounds
        out = []
        for s, e in spans:
            if head_end <= s < foot:
                continue
            if s - (text.rfind("\n", 0, s) + 1) <= LINE_HEAD_REACH:
                out.append((s, e))
        return out

    def _candidates(self, i: int, rule: Rule, text: str, enc: bytes, kw_spans, to_char, shared):
        regex = self.regex.get(i)
        if regex is None:
            yield from sorted(set(kw_spans or ()))
            return
        # Dense hits: one pass of RE2 over the whole text beats many small windows.
        if kw_spans is None or len(kw_spans) * 2 * WINDOW > len(text) // 2:
            # On the UTF-8 bytes (the wrapper would re-encode the text and convert every offset);
            # a mention _accept() drops (“机密★5年”, 示例：机密★5年) is dropped unconverted.
            cues = self.policy.settings.mention_before if rule.skip_mentions else None
            for s, e in byte_spans(regex, enc, rule.group):
                if s >= 0 and (cues is None or e <= s or not mentioned(enc, s, e, cues)):
                    yield to_char(s), to_char(e)
            return
        key = ("windows", id(kw_spans))
        windows = shared.get(key)
        if windows is None:
            windows = shared[key] = (kw_spans, _windows(text, kw_spans))  # the spans kept: a stable id
        for ws, we in windows[1]:
            for m in regex.finditer(text[ws:we]):
                s, e = m.span(rule.group)
                if s >= 0:
                    yield ws + s, ws + e

    def _accept(self, rule: Rule, text: str, s: int, e: int, kind: str, bounds=None) -> bool | None:
        """None: not a finding; True: a finding; False: a finding its validator could not confirm
        (it counts towards bulk thresholds only)."""
        if e <= s:
            return None
        value = text[s:e]
        if rule.word_boundary and _joined(text, s, e):
            return None
        if rule.word_end and e < len(text) and text[e].isalnum():
            return None
        if rule.not_after:
            # Past an opening bracket too: 标注（机密） is an instruction, as 标注机密 is.
            b = s - 1 if s > 0 and text[s - 1] in _OPENERS else s
            if text.endswith(rule.not_after, max(0, b - 8), b):
                return None
        checked = VALIDATORS[rule.validator](value) if rule.validator else True
        if checked is False:
            return None
        if rule.stopwords and any(w in value for w in rule.stopwords):
            return None
        if rule.allow_regexes and any(r.search(value) for r in rule.allow_regexes):
            return None
        st = self.policy.settings
        if not structure.satisfies(rule.where, text, s, e, kind, st.doc_head_lines, bounds):
            return None
        if rule.skip_mentions and (mentions.is_quoted(text, s, e)
                                   or mentions.has_cue(text, s, e, st.mention_before, st.mention_after,
                                                        st.mention_previous_line)
                                   or mentions.is_template(text, s, e)
                                   or mentions.is_glossary(text, s, e)
                                   or mentions.is_heading(text, s, e)
                                   or mentions.is_named_above(text, s, e)
                                   # a ticked box picks one option; the others are the form's
                                   or (not _TICKED.search(value) and mentions.is_option_list(text, s, e))
                                   # a table's column was checked for example tables already
                                   or (_TABLE_WHERE.isdisjoint(rule.where) and mentions.is_listed(text, s, e, mentions.level_of(value)))):
            return None
        return checked is True


_OPENERS = frozenset("【〔［[「『(（<《〈")
_TABLE_WHERE = frozenset({"field_column", "register_column"})
# Positions a keyword may hold on any line of a part (the rest count in its head and foot lines).
_ANY_LINE = frozenset({"anywhere", "line_head", "own_line"}) | _TABLE_WHERE
_TICKED = re.compile(r"[☑☒■▣◼◾✅✔✓√▪●◉]|\[[xX]\]|[（(][xX][)）]")
