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

import yaml

from guard.errors import PolicyError
from guard.policy import grammar as grammar_mod
from guard.scope import parse_scope
from guard.yamlfile import LOADER
from guard.normalize import DEFAULT_VOCABULARY, fold
from guard.rules import Exemption, Limits, Policy, Settings
from guard.policy.rule import MODES, POLICY_DIR, _compile_re, _compile_rule, _str_tuple  # noqa: F401  (_compile_re: gitleaks)

DEFAULT_POLICY = POLICY_DIR / "default.yaml"
_TOP_FIELDS = {"id", "description", "version", "extends", "disable", "settings", "limits", "lists", "rules",
               "mode", "exemptions", "grammar"}


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
        data = yaml.load(text, Loader=LOADER)  # noqa: S506 (a safe loader: libyaml's or PyYAML's)
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
