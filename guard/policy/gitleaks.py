"""Turn a gitleaks configuration (TOML) into a policy of ours.

gitleaks rules carry an id, a Go regexp, keywords, an optional entropy threshold, the secret's
capture group and allowlists; Go's regexp is RE2's syntax, so most run unchanged here. Rules whose
regex RE2 cannot compile (or that match on file paths only) are reported, not silently dropped.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field

import yaml

from guard.errors import PolicyError
from guard.policy.loader import _compile_re


@dataclass
class Conversion:
    policy: dict
    skipped: list[str] = field(default_factory=list)  # "rule id: why"


_ID = re.compile(r"[^a-z0-9.-]+")


def convert(text: str, name: str = "gitleaks.toml") -> Conversion:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise PolicyError(f"{name}: not a gitleaks configuration (TOML): {e}") from None
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list):
        raise PolicyError(f"{name}: no [[rules]] in it")
    glob = data.get("allowlist") or {}
    if not isinstance(glob, dict):
        glob = {}
    rules, skipped = [], []
    for n, r in enumerate(raw_rules):
        rid = str(r.get("id") or f"rule{n + 1}")
        regex = r.get("regex")
        if not regex:
            skipped.append(f"{rid}: has no content regex (path-only rules do not apply to prompts)")
            continue
        try:
            _compile_re(regex, rid)
        except PolicyError as e:
            skipped.append(f"{rid}: regex not supported by RE2 ({str(e).split(': ', 2)[-1]})")
            continue
        rule: dict = {
            "id": "gitleaks." + _ID.sub("-", rid.lower()).strip("-"),
            "description": str(r.get("description") or f"gitleaks rule {rid}"),
            "severity": "high",
            "action": "block",
            "regex": regex,
            "mask": "prefix",
        }
        keywords = [str(k) for k in r.get("keywords") or [] if str(k).strip()]
        if keywords:
            rule["keywords"] = keywords
        group = r.get("secretGroup")
        if isinstance(group, int) and group > 0:
            rule["group"] = group
        if r.get("entropy"):
            # gitleaks' Shannon-entropy threshold: here the `secret` validator (a digit, varied
            # characters, entropy >= 2.8 bits) stands in for it.
            rule["validator"] = "secret"
        allow: dict = {"regexes": [], "stopwords": []}
        for lst in [r.get("allowlist") or {}, *(r.get("allowlists") or []), glob]:
            if not isinstance(lst, dict):
                continue
            for rx in lst.get("regexes") or []:
                try:
                    _compile_re(rx, rid)
                    allow["regexes"].append(rx)
                except PolicyError:
                    skipped.append(f"{rid}: allowlist regex {rx!r} not supported by RE2, left out")
            allow["stopwords"].extend(str(w) for w in lst.get("stopwords") or [])
        allow = {k: v for k, v in allow.items() if v}
        if allow:
            rule["allowlist"] = allow
        rules.append(rule)
    title = str(data.get("title") or "gitleaks rules")
    policy = {"id": "gitleaks-import", "description": f"Imported from {name}: {title}", "rules": rules}
    return Conversion(policy, skipped)


def dump(conv: Conversion, source: str) -> str:
    head = (f"# Converted from {source} by `guard policy import-gitleaks`.\n"
            "# Add `examples: {match: [...], no_match: [...]}` to each rule (gitleaks keeps them in Go code,\n"
            "# not in its configuration): `guard policy check` asks for both.\n")
    if conv.skipped:
        head += "# Not converted:\n" + "".join(f"#   {s}\n" for s in conv.skipped)
    return head + yaml.safe_dump(conv.policy, allow_unicode=True, sort_keys=False, width=120)
