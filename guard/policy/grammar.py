"""The marking grammar as policy data: named vocabularies that rules refer to.

A policy file may carry `grammar: {NAME: [term, ...] | {regex: SRC}}`. In a rule's `regex`,
`{{NAME}}` stands for the alternation of NAME's terms (escaped, longest first) or for its
fragment (which may use other names); a keyword written `{{NAME}}` stands for every term.
Levels, periods, field names, brackets and tick marks are then written once, and every rule
that needs them (head lines, fields, ticked boxes, banners, registers) reads the same list;
the generated tests compose markings and mentions from the same entries (docs/markings.md).
"""
from __future__ import annotations

import re
from typing import Any

from guard.errors import PolicyError

MACRO = re.compile(r"\{\{([A-Za-z_][A-Za-z0-9_]*)\}\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_SPECIAL = frozenset("\\.^$|?*+()[]{}")
MAX_DEPTH = 8  # fragments that use fragments; deeper is a loop


def parse(raw: Any, where: str) -> dict[str, tuple[str, ...] | str]:
    """Validate a file's `grammar:` mapping: NAME -> tuple of terms, or NAME -> regex fragment."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: `grammar` must be a mapping of NAME -> [terms] or {{regex: SRC}}")
    out: dict[str, tuple[str, ...] | str] = {}
    for name, spec in raw.items():
        at = f"{where}: grammar.{name}"
        if not isinstance(name, str) or not _NAME.match(name):
            raise PolicyError(f"{at}: a name is letters, digits and _")
        if isinstance(spec, list) and spec and all(isinstance(t, (str, int)) and str(t) for t in spec):
            out[name] = tuple(str(t) for t in spec)
        elif isinstance(spec, dict) and set(spec) == {"regex"} and isinstance(spec["regex"], str) and spec["regex"]:
            out[name] = spec["regex"]
        else:
            raise PolicyError(f"{at}: expected a non-empty list of terms or {{regex: SRC}}")
    return out


def literal(term: str) -> str:
    return "".join("\\" + c if c in _SPECIAL else c for c in term)


def alternation(terms) -> str:
    return "(?:" + "|".join(literal(t) for t in sorted(set(terms), key=len, reverse=True)) + ")"


def expand(src: str, grammar: dict, at: str, depth: int = 0) -> str:
    """`src` with every `{{NAME}}` replaced (fragments expanded in turn)."""
    if "{{" not in src:
        return src
    if depth > MAX_DEPTH:
        raise PolicyError(f"{at}: grammar names refer to each other in a loop")

    def one(m: re.Match) -> str:
        name = m.group(1)
        if name not in grammar:
            raise PolicyError(f"{at}: no grammar entry named {name!r}")
        entry = grammar[name]
        if isinstance(entry, tuple):
            return alternation(entry)
        return "(?:" + expand(entry, grammar, at, depth + 1) + ")"

    return MACRO.sub(one, src)


def expand_keywords(keywords, grammar: dict, at: str) -> list[str]:
    out: list[str] = []
    for k in keywords:
        m = MACRO.fullmatch(k.strip())
        if m is None:
            out.append(k)
            continue
        entry = grammar.get(m.group(1))
        if not isinstance(entry, tuple):
            raise PolicyError(f"{at}: keyword {k!r}: needs a grammar entry that is a list of terms")
        out.extend(entry)
    return out


def cjk_terms(grammar: dict) -> tuple[str, ...]:
    """Chinese terms of the grammar: the normalizer removes spaces and separators inside them."""
    return tuple(sorted({t for entry in grammar.values() if isinstance(entry, tuple) for t in entry
                         if len(t) >= 2 and all("\u4e00" <= c <= "\u9fff" for c in t)}))
