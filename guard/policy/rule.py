"""One rule: its raw YAML mapping -> a compiled, immutable Rule (grammar names expanded, regexes
compiled with RE2, keywords folded, examples kept). Every message names the file, the rule id and
the field, so security staff can fix a policy from one line of output."""
from __future__ import annotations

from pathlib import Path

import re2

from guard.errors import PolicyError
from guard.policy import grammar as grammar_mod
from guard.scope import parse_scope
from guard.normalize import fold
from guard.rules import MASK_VALUES, PROBLEM_REASONS, WHERE_VALUES, Example, FingerprintSpec, Rule
from guard.types import ACTIONS, SEVERITIES

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"
MODES = ("enforce", "monitor")
VALIDATORS = ("cn_id", "luhn", "uscc", "secret", "phone", "token", "crc32_tail")


_RULE_FIELDS = {
    "id", "description", "severity", "action", "keywords", "keywords_from", "regex", "group",
    "validator", "where", "parts", "skip_mentions", "word_boundary", "min_count", "escalate",
    "mask", "allowlist", "on_problem", "examples", "enabled", "case_insensitive", "word_end", "not_after",
    "mode", "scope", "ack", "fingerprint", "title", "category", "pseudonym",
}


def _compile_re(pattern: str, where: str, flags_i: bool = False):
    if not isinstance(pattern, str) or not pattern:
        raise PolicyError(f"{where}: must be a non-empty string")
    try:
        opts = re2.Options()
        opts.case_sensitive = not flags_i
        opts.max_mem = 64 << 20
        opts.log_errors = False  # the error is reported once, as our own one line
        return re2.compile(pattern, opts)
    except re2.error as e:
        msg = e.args[0].decode("utf-8", "replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        raise PolicyError(f"{where}: invalid regex (RE2 syntax): {msg}") from None


def _str_tuple(v, where: str) -> tuple[str, ...]:
    if v is None:
        return ()
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(x, (str, int)) for x in v):
        raise PolicyError(f"{where}: must be a list of strings")
    return tuple(str(x) for x in v)


def _compile_rule(raw: dict, lists: dict[str, list[str]], grammar: dict | None = None) -> Rule:
    rid = raw["id"]
    fname = raw.pop("_file", "<policy>")
    at = f"{fname}: rule {rid}"
    unknown = set(raw) - _RULE_FIELDS
    if unknown:
        raise PolicyError(f"{at}: unknown field(s): {', '.join(sorted(unknown))}")

    def choice(key, allowed, default):
        val = raw.get(key, default)
        if val not in allowed:
            raise PolicyError(f"{at}: field `{key}`: {val!r} is not one of {', '.join(allowed)}")
        return val

    action = choice("action", ACTIONS, None)
    severity = choice("severity", SEVERITIES, "medium")
    # Terms known only by hash, and registered documents, never show their text: masked.
    by_hash = raw.get("fingerprint") is not None or any(
        isinstance(lists.get(n), dict) for n in _str_tuple(raw.get("keywords_from"), f"{at}: field `keywords_from`"))
    mask = choice("mask", MASK_VALUES, "full" if by_hash else "none")
    ci = bool(raw.get("case_insensitive", False))
    keywords = grammar_mod.expand_keywords(_str_tuple(raw.get("keywords"), f"{at}: field `keywords`"), grammar or {}, at)
    hashed = None
    for lname in _str_tuple(raw.get("keywords_from"), f"{at}: field `keywords_from`"):
        if lname not in lists:
            raise PolicyError(f"{at}: field `keywords_from`: no list named {lname!r}")
        if isinstance(lists[lname], dict):
            if hashed is not None:
                raise PolicyError(f"{at}: field `keywords_from`: one hashed list per rule")
            from guard.match.hashed_terms import load_hashed_terms

            hashed = load_hashed_terms(Path(lists[lname]["hashed"]), Path(lists[lname]["salt_file"]))
            continue
        keywords.extend(lists[lname])
    fingerprint = _fingerprint(raw.get("fingerprint"), fname, at)
    # Both spellings, as for cues: full-width punctuation stays unless the text needed folding.
    keywords = [x for k in keywords if k.strip() for x in (k, fold(k))]
    regex = None
    if raw.get("regex") is not None:
        source = raw["regex"]
        if isinstance(source, str):
            source = raw["regex"] = grammar_mod.expand(source, grammar or {}, f"{at}: field `regex`")
        regex = _compile_re(source, f"{at}: field `regex`", ci)
    group = raw.get("group", 0)
    if not isinstance(group, int) or (regex is not None and group > regex.groups):
        raise PolicyError(f"{at}: field `group`: must be a group number of the regex")
    validator = raw.get("validator")
    if validator is not None and validator not in VALIDATORS:
        raise PolicyError(f"{at}: field `validator`: {validator!r} is not one of {', '.join(VALIDATORS)}")
    where = _str_tuple(raw.get("where", ["anywhere"]), f"{at}: field `where`")
    for w in where:
        if w not in WHERE_VALUES:
            raise PolicyError(f"{at}: field `where`: {w!r} is not one of {', '.join(WHERE_VALUES)}")
    on_problem = _str_tuple(raw.get("on_problem"), f"{at}: field `on_problem`")
    for p in on_problem:
        if p not in PROBLEM_REASONS:
            raise PolicyError(f"{at}: field `on_problem`: {p!r} is not one of {', '.join(PROBLEM_REASONS)}")
    if (hashed or fingerprint) and (keywords or regex is not None or on_problem or (hashed and fingerprint)):
        raise PolicyError(f"{at}: a hashed list or a `fingerprint` is the rule's only matcher")
    if not on_problem and not keywords and regex is None and not hashed and not fingerprint:
        raise PolicyError(f"{at}: needs `keywords`, `regex`, `fingerprint` or `on_problem`")
    if on_problem and (keywords or regex is not None):
        raise PolicyError(f"{at}: `on_problem` rules take no keywords or regex")
    min_count = raw.get("min_count", 1)
    if not isinstance(min_count, int) or min_count < 1:
        raise PolicyError(f"{at}: field `min_count`: must be a whole number >= 1")
    esc = raw.get("escalate")
    esc_count, esc_action = 0, None
    if esc is not None:
        if not isinstance(esc, dict) or set(esc) != {"count", "action"}:
            raise PolicyError(f"{at}: field `escalate`: expected {{count: N, action: ACTION}}")
        esc_count, esc_action = esc["count"], esc["action"]
        if not isinstance(esc_count, int) or esc_count <= min_count:
            raise PolicyError(f"{at}: field `escalate.count`: must be a whole number above min_count")
        if esc_action not in ACTIONS:
            raise PolicyError(f"{at}: field `escalate.action`: {esc_action!r} is not one of {', '.join(ACTIONS)}")
    allow = raw.get("allowlist") or {}
    if not isinstance(allow, dict) or set(allow) - {"regexes", "stopwords"}:
        raise PolicyError(f"{at}: field `allowlist`: expected {{regexes: [...], stopwords: [...]}}")
    allow_res = tuple(_compile_re(p, f"{at}: field `allowlist.regexes`")
                      for p in _str_tuple(allow.get("regexes"), f"{at}: field `allowlist.regexes`"))
    stop = tuple(fold(s) for s in _str_tuple(allow.get("stopwords"), f"{at}: field `allowlist.stopwords`"))
    ex = raw.get("examples") or {}
    if not isinstance(ex, dict) or set(ex) - {"match", "no_match"}:
        raise PolicyError(f"{at}: field `examples`: expected {{match: [...], no_match: [...]}}")

    def examples(key):
        out = []
        for item in ex.get(key) or []:
            if isinstance(item, str):
                out.append(Example(item))
            elif isinstance(item, dict) and isinstance(item.get("text"), str):
                out.append(Example(item["text"], str(item.get("part", "body"))))
            else:
                raise PolicyError(f"{at}: field `examples.{key}`: items are strings or {{text, part}}")
        return tuple(out)

    mode = choice("mode", MODES, "enforce")
    ack = choice("ack", ("self", "approval"), "self")
    scope = parse_scope(raw["scope"], f"{at}: field `scope`") if raw.get("scope") is not None else None
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise PolicyError(f"{at}: field `description`: must be a string")
    for name in ("title", "category", "pseudonym"):
        if not isinstance(raw.get(name, ""), str):
            raise PolicyError(f"{at}: field `{name}`: must be a string")
    if "pseudonymise" in (action, esc_action):
        # Only values found by a keyword, list or regex can be swapped in place; a marking (and so
        # a document under one) is never pseudonymised: it blocks.
        if on_problem or fingerprint or esc_action == "pseudonymise":
            raise PolicyError(f"{at}: `pseudonymise` is for keyword, list and regex rules (never an escalation)")
        if raw.get("category", "").strip() == "国家秘密" or rid.startswith(("state-secret.", "marking.")):
            raise PolicyError(f"{at}: a 密级 marking is never pseudonymised: it blocks")
    elif raw.get("pseudonym"):
        raise PolicyError(f"{at}: field `pseudonym`: only for `action: pseudonymise`")
    return Rule(
        id=rid, description=description.strip(), severity=severity, action=action,
        keywords=tuple(dict.fromkeys(keywords)), regex=regex, regex_source=raw.get("regex") or "",
        case_insensitive=ci,
        group=group, validator=validator, where=where,
        parts=_str_tuple(raw.get("parts"), f"{at}: field `parts`"),
        skip_mentions=bool(raw.get("skip_mentions", False)),
        word_boundary=bool(raw.get("word_boundary", False)),
        word_end=bool(raw.get("word_end", False)),
        not_after=tuple(dict.fromkeys(x for w in _str_tuple(raw.get("not_after"), f"{at}: field `not_after`")
                                      for x in (w, fold(w)))),
        min_count=min_count, escalate_count=esc_count, escalate_action=esc_action, mask=mask,
        allow_regexes=allow_res, stopwords=stop, on_problem=on_problem,
        examples_match=examples("match"), examples_no_match=examples("no_match"),
        mode=mode, scope=scope, ack=ack, fingerprint=fingerprint, hashed=hashed,
        title=raw.get("title", "").strip(), category=raw.get("category", "").strip(),
        pseudonym=raw.get("pseudonym", "").strip(),
    )


def _fingerprint(raw, fname: str, at: str):
    if raw is None:
        return None
    if not isinstance(raw, dict) or not {"index", "collection"} <= set(raw) or \
            set(raw) - {"index", "collection", "min_chars", "min_share"}:
        raise PolicyError(f"{at}: field `fingerprint`: expected {{index: DIR, collection: NAME, min_chars, min_share}}")
    min_chars, min_share = raw.get("min_chars", 50), raw.get("min_share", 0.25)
    if not isinstance(min_chars, int) or min_chars < 10:
        raise PolicyError(f"{at}: field `fingerprint.min_chars`: a whole number, 10 or more")
    if not isinstance(min_share, (int, float)) or not 0 < min_share <= 1:
        raise PolicyError(f"{at}: field `fingerprint.min_share`: a share above 0, at most 1")
    from guard.match.hashing import load_collection

    base = Path(fname).parent if fname and not fname.startswith("<") else POLICY_DIR
    collection = load_collection((base / str(raw["index"])).resolve(), str(raw["collection"]))
    return FingerprintSpec(collection, min_chars, float(min_share))
