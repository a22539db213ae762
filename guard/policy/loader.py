"""Load policy YAML (with `extends`, `disable`, term lists), validate, compile.

Every validation message names the file and the rule id and field, so security
staff can fix a policy from one line of output.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import re2
import yaml

from guard.errors import PolicyError
from guard.policy import grammar as grammar_mod
from guard.scope import parse_scope
from guard.normalize import DEFAULT_VOCABULARY, fold
from guard.rules import (
    Exemption, FingerprintSpec,
    MASK_VALUES, PROBLEM_REASONS, WHERE_VALUES, Example, Limits, Policy, Rule, Settings,
)
from guard.types import ACTIONS, SEVERITIES

POLICY_DIR = Path(__file__).resolve().parents[2] / "policies"
DEFAULT_POLICY = POLICY_DIR / "default.yaml"
VALIDATORS = ("cn_id", "luhn", "uscc", "secret", "phone", "token", "crc32_tail")
_RULE_FIELDS = {
    "id", "description", "severity", "action", "keywords", "keywords_from", "regex", "group",
    "validator", "where", "parts", "skip_mentions", "word_boundary", "min_count", "escalate",
    "mask", "allowlist", "on_problem", "examples", "enabled", "case_insensitive", "word_end", "not_after",
    "mode", "scope", "ack", "fingerprint", "title", "category", "pseudonym",
}
_TOP_FIELDS = {"id", "description", "version", "extends", "disable", "settings", "limits", "lists", "rules",
               "mode", "exemptions", "grammar"}
MODES = ("enforce", "monitor")


def _read_yaml(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyError(f"{path}: policy file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PolicyError(f"{path}: cannot read policy: {e}") from None
    return _parse_yaml(text, str(path))


def _parse_yaml(text: str, name: str) -> dict:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise PolicyError(f"{name}{where}: invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(f"{name}: a policy must be a mapping with `rules:`")
    unknown = set(data) - _TOP_FIELDS
    if unknown:
        raise PolicyError(f"{name}: unknown top-level field(s): {', '.join(sorted(unknown))}")
    return data


def _merge(path: Path | None, data: dict, seen: tuple[str, ...] = ()) -> dict:
    """Resolve `extends` depth-first: parents first, then this file on top."""
    merged: dict[str, Any] = {"rules": {}, "settings": {}, "limits": {}, "lists": {}, "grammar": {}, "disable": set(),
                              "files": [str(path)] if path else [], "exemptions": []}
    base_dir = path.parent if path else POLICY_DIR
    extends = data.get("extends") or []
    if isinstance(extends, str):
        extends = [extends]
    for parent in extends:
        ppath = (base_dir / parent).resolve()
        if str(ppath) in seen:
            raise PolicyError(f"{path}: `extends` loops back to {ppath}")
        pdata = _read_yaml(ppath)
        sub = _merge(ppath, pdata, seen + (str(ppath),))
        merged["rules"].update(sub["rules"])
        for key in ("settings", "limits", "lists", "grammar"):
            merged[key].update(sub[key])
        merged["disable"] |= sub["disable"]
        merged["files"] += sub["files"]
        merged["exemptions"] += sub["exemptions"]
        if "mode" in sub:
            merged["mode"] = sub["mode"]
    name = str(path) if path else "<policy>"
    for key in ("settings", "limits"):
        val = data.get(key) or {}
        if not isinstance(val, dict):
            raise PolicyError(f"{name}: `{key}` must be a mapping")
        merged[key].update(val)
    merged["grammar"].update(grammar_mod.parse(data.get("grammar"), name))
    lists = data.get("lists") or {}
    if not isinstance(lists, dict):
        raise PolicyError(f"{name}: `lists` must be a mapping of name -> terms or {{file: PATH}}")
    for lname, spec in lists.items():
        merged["lists"][lname] = _load_list(base_dir, name, lname, spec)
        if isinstance(spec, dict) and "file" in spec:
            merged["files"].append(str((base_dir / str(spec["file"])).resolve()))
        if isinstance(spec, dict) and "hashed" in spec:
            merged["files"] += [merged["lists"][lname]["hashed"], merged["lists"][lname]["salt_file"]]
    if "mode" in data:
        merged["mode"] = data["mode"]
    exemptions = data.get("exemptions") or []
    if not isinstance(exemptions, list):
        raise PolicyError(f"{name}: `exemptions` must be a list of {{scope: ..., rules: [...]}}")
    merged["exemptions"] += [dict(e, _file=name) if isinstance(e, dict) else e for e in exemptions]
    rules = data.get("rules") or []
    if not isinstance(rules, list):
        raise PolicyError(f"{name}: `rules` must be a list")
    for i, raw in enumerate(rules):
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"].strip():
            raise PolicyError(f"{name}: rules[{i}]: every rule needs a string `id`")
        merged["rules"][raw["id"]] = dict(raw, _file=name)
    disable = data.get("disable") or []
    if not isinstance(disable, list):
        raise PolicyError(f"{name}: `disable` must be a list of rule ids")
    merged["disable"] |= set(disable)
    merged["id"] = data.get("id") or merged.get("id") or (path.stem if path else "policy")
    merged["description"] = data.get("description", "")
    return merged


def _load_list(base_dir: Path, name: str, lname: str, spec):
    if isinstance(spec, dict) and "hashed" in spec:
        # Terms known only as salted hashes (`guard hash-terms`): loaded where a rule uses them.
        if set(spec) != {"hashed", "salt_file"}:
            raise PolicyError(f"{name}: list {lname}: a hashed list is {{hashed: FILE, salt_file: FILE}}")
        paths = {k: str((base_dir / str(spec[k])).resolve()) for k in ("hashed", "salt_file")}
        try:
            digest = hashlib.sha256(Path(paths["hashed"]).read_bytes()).hexdigest()
        except OSError as e:
            raise PolicyError(f"{name}: list {lname}: cannot read {paths['hashed']}: {e.strerror}") from None
        return {**paths, "sha256": digest}
    if isinstance(spec, list):
        return [str(t) for t in spec]
    if isinstance(spec, dict) and "file" in spec:
        fpath = base_dir / str(spec["file"])
        try:
            lines = fpath.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise PolicyError(f"{name}: list {lname}: cannot read {fpath}: {e.strerror}") from None
        return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    raise PolicyError(f"{name}: list {lname}: expected a list of terms or {{file: PATH}}")


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
            from guard.match.hashing import load_hashed_terms

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


def _internal_model(v, source: str) -> tuple[str, str]:
    """settings.internal_model: {name, url} of the approved in-house model the coaching page offers."""
    if v is None:
        return ("", "")
    if not isinstance(v, dict) or set(v) - {"name", "url"} or not all(isinstance(x, str) for x in v.values()):
        raise PolicyError(f"{source}: settings.internal_model: expected {{name: TEXT, url: URL}}")
    url = v.get("url", "").strip()
    if url and not url.startswith(("http://", "https://")):
        raise PolicyError(f"{source}: settings.internal_model.url: {url!r} is not an http(s) URL")
    return (v.get("name", "").strip(), url)


def _cues(v, where: str) -> tuple[str, ...]:
    # Both spellings: text is folded (：-> :) only when something else in it needs folding.
    return tuple(dict.fromkeys(x for c in _str_tuple(v, where) for x in (c, fold(c))))


def _compile(merged: dict, source: str) -> Policy:
    lists = merged["lists"]
    rules = []
    for rid, raw in merged["rules"].items():
        if rid in merged["disable"] or raw.get("enabled", True) is False:
            continue
        rules.append(_compile_rule(dict(raw), lists, merged["grammar"]))
    lim_raw = merged["limits"]
    bad = set(lim_raw) - set(Limits.field_names())
    if bad:
        raise PolicyError(f"{source}: limits: unknown field(s): {', '.join(sorted(bad))}")
    for k, v in lim_raw.items():
        if k in ("max_ocr_images", "max_ocr_pictures"):  # 0 turns OCR (of pictures) off
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise PolicyError(f"{source}: limits: `{k}` must be a whole number, 0 or more")
        elif not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0:
            raise PolicyError(f"{source}: limits: `{k}` must be a positive number")
    s = merged["settings"]
    known = {"doc_head_lines", "mention_cues", "vocabulary", "audit_allowed", "contact", "max_findings_per_rule",
             "audit_file_names", "why", "ack_reasons", "internal_model"}
    if set(s) - known:
        raise PolicyError(f"{source}: settings: unknown field(s): {', '.join(sorted(set(s) - known))}")
    cues = s.get("mention_cues") or {}
    if not isinstance(cues, dict) or set(cues) - {"before", "after", "previous_line"}:
        raise PolicyError(f"{source}: settings.mention_cues: expected {{before, after, previous_line}}")
    settings = Settings(
        doc_head_lines=int(s.get("doc_head_lines", 6)),
        mention_before=_cues(cues.get("before"), f"{source}: settings.mention_cues.before"),
        mention_after=_cues(cues.get("after"), f"{source}: settings.mention_cues.after"),
        mention_previous_line=_cues(cues.get("previous_line"), f"{source}: settings.mention_cues.previous_line"),
        # Marking words of the grammar are words the normalizer closes up (机 密 -> 机密).
        vocabulary=_str_tuple(s.get("vocabulary"), f"{source}: settings.vocabulary")
        or tuple(dict.fromkeys(DEFAULT_VOCABULARY + grammar_mod.cjk_terms(merged["grammar"]))),
        audit_allowed=bool(s.get("audit_allowed", True)),
        contact=str(s.get("contact", "")),
        max_findings_per_rule=int(s.get("max_findings_per_rule", 5)),
        audit_file_names=_choice_setting(s, "audit_file_names", ("masked", "full"), source),
        why=str(s.get("why", "")).strip(),
        ack_reasons=_str_tuple(s.get("ack_reasons"), f"{source}: settings.ack_reasons"),
        internal_model=_internal_model(s.get("internal_model"), source),
    )
    mode = merged.get("mode", "enforce")
    if mode not in MODES:
        raise PolicyError(f"{source}: `mode`: {mode!r} is not one of {', '.join(MODES)}")
    exemptions = []
    for i, e in enumerate(merged["exemptions"]):
        at = f"{e.get('_file', source) if isinstance(e, dict) else source}: exemptions[{i}]"
        if not isinstance(e, dict) or "scope" not in e or set(e) - {"scope", "rules", "reason", "_file"}:
            raise PolicyError(f"{at}: expected {{scope: {{users|groups|departments|networks}}, rules: [...]}}")
        exemptions.append(Exemption(parse_scope(e["scope"], f"{at}.scope"),
                                    _str_tuple(e.get("rules"), f"{at}.rules")))
    canon = {k: (sorted(v) if isinstance(v, set) else v) for k, v in merged.items() if k != "files"}
    # What the rules match by hash is part of the policy: its files' state goes into the hash.
    hash_files = [f for r in rules if r.fingerprint for f in r.fingerprint.collection.files]
    canon["_hash_state"] = [(f, os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in hash_files]
    merged["files"] += hash_files
    digest = hashlib.sha256(json.dumps(canon, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
    return Policy(
        id=str(merged["id"]), description=str(merged.get("description", "")), sha256=digest,
        source=source, rules=tuple(rules), limits=Limits(**lim_raw), settings=settings,
        mode=mode, exemptions=tuple(exemptions), files=tuple(dict.fromkeys(merged["files"])),
    )


def _choice_setting(s: dict, key: str, allowed: tuple[str, ...], source: str) -> str:
    val = s.get(key, allowed[0])
    if val not in allowed:
        raise PolicyError(f"{source}: settings.{key}: {val!r} is not one of {', '.join(allowed)}")
    return val


def load_policy(path: str | Path | None = None) -> Policy:
    """Load a policy file (default: the shipped policies/default.yaml)."""
    p = Path(path) if path else DEFAULT_POLICY
    if p.is_dir():
        raise PolicyError(f"{p}: is a directory, expected a policy YAML file")
    data = _read_yaml(p)
    return _compile(_merge(p.resolve(), data, (str(p.resolve()),)), str(p))


def load_policy_text(text: str, name: str = "<policy>") -> Policy:
    """Load a policy from a YAML string; `extends` resolves against policies/."""
    return _compile(_merge(None, _parse_yaml(text, name)), name)


def load_grammar(path: str | Path | None = None) -> dict:
    """The merged `grammar:` entries of a policy and the files it extends (for tests and docs)."""
    p = Path(path) if path else DEFAULT_POLICY
    return _merge(p.resolve(), _read_yaml(p), (str(p.resolve()),))["grammar"]
