"""RE2 for the matcher: compiled with a memory bound, literal alternations, and the Set that says
per part which rules can match at all (with counted repeats relaxed so its DFA stays small)."""
from __future__ import annotations

import re

import re2

from guard.decode import TRIGGER as DECODE_TRIGGER

_RE2_SPECIAL = frozenset("\\.^$|?*+()[]{}")


def _literal(s: str) -> str:
    return "".join("\\" + c if c in _RE2_SPECIAL else c for c in s)


def _alternation(keywords) -> str:
    """A case-insensitive RE2 alternation of literal terms, longest first."""
    return "(?i:" + "|".join(_literal(k) for k in sorted(keywords, key=len, reverse=True)) + ")"


def _options():
    opts = re2.Options()
    opts.max_mem = 64 << 20  # per regex; DFA caches past this fall back to slower NFA, never to more memory
    opts.log_errors = False
    return opts


def _compile(src: str):
    return re2.compile(src, _options())


RELAX_FROM = 8  # counted repeats up to at least this many become unbounded in the Set


def relax(src: str) -> str:
    """`src` with counted repeats of {m,n} (n >= RELAX_FROM) made unbounded: a superset, so the Set
    still says every rule that can match, while its DFA stays small. Counted repeats over wide
    classes (an owner of up to 30 Han characters, a title of up to 60) keep a thread per
    position and count: together the marking grammar's regexes made the Set's DFA explode on
    running CJK text (200 KB: 4 s cold against 0.18 s relaxed). The rule's own regex is exact."""
    out: list[str] = []
    i, n, in_class = 0, len(src), False
    while i < n:
        c = src[i]
        if c == "\\":
            out.append(src[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            j = i + 1
            j += src.startswith("^", j)
            j += src.startswith("]", j)  # a ] first in a class is a literal
            out.append(src[i:j])
            i = j
            continue
        if c == "{":
            m = _COUNTED.match(src, i)
            if m and m.group(2) and int(m.group(2)) >= RELAX_FROM:
                out.append("*" if m.group(1) == "0" else "+")
                i = m.end()
                continue
        out.append(c)
        i += 1
    return "".join(out)


_COUNTED = re.compile(r"\{(\d+),(\d*)\}\??")


def _build_set(sources: dict[int, str], reason_pattern: str):
    rset = re2.Set.SearchSet(_options())
    indices = tuple(sources)
    for i in indices:
        rset.Add(sources[i])
    rset.Add(reason_pattern)  # then: "normalize first"
    rset.Add(DECODE_TRIGGER)  # last: "also scan it decoded"
    try:
        rset.Compile()
    except Exception:  # a set too large for RE2's memory budget: rules still run one by one
        return None, ()
    return rset, indices


def group_ends_match(src: str, group: int) -> bool:
    """Whether capture group `group` of regex `src` closes at the very end of the pattern (only
    closing parentheses after it): then, where the group takes part, it ends where the match
    ends. Conservative: False where unsure."""
    if group < 1:
        return True
    depth, n, count, i, in_class, opened_at = 0, len(src), 0, 0, False, None
    while i < n:
        c = src[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 1 + src.startswith("^", i + 1)
            i += src.startswith("]", i)  # a ] first in a class is a literal
            continue
        elif c == "(":
            depth += 1
            if not src.startswith("?", i + 1) or src.startswith("?P<", i + 1):
                count += 1
                if count == group:
                    opened_at = depth
        elif c == ")":
            if opened_at == depth:
                return set(src[i + 1:]) <= {")"}
            depth -= 1
        i += 1
    return False


def word_end_gate(src: str) -> str:
    """A gate for the Set and the combined pass of a `word_end` rule whose group ends its match:
    a match _accept() can keep is followed by no letter or digit, so the gate asks for that too
    (内部资料的管理… then costs nothing on a page that says it in every line)."""
    return f"(?:{src})(?:[^\\p{{L}}\\p{{N}}]|$)"


try:  # RE2's own match call: the Python wrapper's finditer builds a Match object per match
    from re2 import _re2
    _UNANCHORED = re2._Anchor.UNANCHORED
except (ImportError, AttributeError):  # another google-re2 layout: the wrapper's API, slower
    _re2 = None


def byte_spans(regex, enc: bytes, group: int = 0, pos: int = 0, end: int | None = None):
    """Byte spans of `group` ((-1, -1) where it did not take part) in each successive match of
    `regex` over enc[pos:end], as the wrapper's finditer would give them. A page of quoted
    markings has thousands of candidates: this loop costs a third of finditer's per match."""
    end = len(enc) if end is None else end
    rx = getattr(regex, "_regexp", None)
    if _re2 is None or rx is None:
        for m in regex.finditer(enc, pos, end):
            yield m.span(group)
        return
    while True:
        spans = rx.Match(_UNANCHORED, enc, pos, end)
        s0, e0 = spans[0]
        if s0 < 0:
            return
        yield spans[group]
        if pos == end:
            return
        pos = pos + 1 if pos == e0 else e0  # an empty match at pos: step past it

