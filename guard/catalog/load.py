"""Reading policies/catalog.yaml into a Catalog: every field checked, each mistake one line naming
the service and field; duplicate hosts and hosts that claim a whole cloud domain refused."""
from __future__ import annotations

import re
from pathlib import Path

from guard.catalog.model import (ACCESS, ACTIVITIES, CLOUD_DOMAINS, KINDS, NO_FACTS, SHAPES, Access, AccessRule,
                                 Answer, Catalog, Facts, Service)
from guard.errors import PolicyError
from guard.policy.loader import POLICY_DIR
from guard.yamlfile import load_mapping

DEFAULT_CATALOG = POLICY_DIR / "catalog.yaml"


def parse_access(raw, where: str) -> Access:
    """`block` | {prompt: allow, upload: block, all: warn, groups: {secoffice: {upload: allow}}}."""
    if isinstance(raw, str):
        raw = {"all": raw}
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: expected allow|warn|block or a mapping of activity -> allow|warn|block")
    acts = []
    groups = []
    for k, v in raw.items():
        if k == "groups":
            if not isinstance(v, dict):
                raise PolicyError(f"{where}.groups: expected group -> access")
            groups += [(str(g), parse_access(sub, f"{where}.groups.{g}")) for g, sub in v.items()]
        elif k in ACTIVITIES or k == "all":
            if v not in ACCESS:
                raise PolicyError(f"{where}.{k}: {v!r} is not one of {', '.join(ACCESS)}")
            acts.append((k, v))
        else:
            raise PolicyError(f"{where}: {k!r} is not an activity ({', '.join(ACTIVITIES)}, all) or `groups`")
    return Access(tuple(acts), tuple(groups))


def load_catalog(path: str | Path | None = None) -> Catalog:
    p = Path(path) if path else DEFAULT_CATALOG
    data = load_mapping(p, "catalog file")
    if not isinstance(data.get("services"), list):
        raise PolicyError(f"{p}: a catalog needs a `services:` list")
    unknown_fields = set(data) - {"categories", "services", "storage", "default", "unknown", "answers", "access_rules"}
    if unknown_fields:
        raise PolicyError(f"{p}: unknown top-level field(s): {', '.join(sorted(unknown_fields))}")
    categories = data.get("categories") or {"internet": {}}
    answers = _load_answers(data.get("answers") or {}, p)
    services = []
    seen = set()
    claimed: dict[tuple[str, str], str] = {}
    for i, raw in enumerate(data["services"]):
        if not isinstance(raw, dict) or not raw.get("id") or not isinstance(raw.get("hosts"), list):
            raise PolicyError(f"{p}: services[{i}]: needs `id` and a `hosts` list")
        at = f"{p}: service {raw['id']}"
        bad = set(raw) - {"id", "name", "shape", "web", "category", "hosts", "access", "uploads", "headers", "answers",
                          "kind", "facts", "source"}
        if bad:
            raise PolicyError(f"{at}: unknown field(s): {', '.join(sorted(bad))}")
        if raw["id"] in seen or raw["id"] == "unknown":
            raise PolicyError(f"{at}: the id is used twice (or is the reserved `unknown`)")
        seen.add(raw["id"])
        shape = raw.get("shape", "openai")
        if shape not in SHAPES:
            raise PolicyError(f"{at}: field `shape`: {shape!r} is not one of {', '.join(SHAPES)}")
        category = raw.get("category", "internet")
        if category not in categories:
            raise PolicyError(f"{at}: field `category`: {category!r} is not under `categories`")
        headers = raw.get("headers") or {}
        if not isinstance(headers, dict):
            raise PolicyError(f"{at}: field `headers`: expected name -> value")
        uploads = raw.get("uploads") or []
        if not isinstance(uploads, list) or not all(isinstance(u, str) and u.startswith("/") for u in uploads):
            raise PolicyError(f"{at}: field `uploads`: expected a list of paths starting with /")
        svc_answers = raw.get("answers") or {}
        if not isinstance(svc_answers, dict):
            raise PolicyError(f"{at}: field `answers`: expected path -> answer name")
        for path_glob, name in svc_answers.items():
            if name not in answers:
                raise PolicyError(f"{at}: field `answers`: {name!r} is not under the catalog's `answers`")
        kind = raw.get("kind", "")
        if kind and kind not in KINDS:
            raise PolicyError(f"{at}: field `kind`: {kind!r} is not one of {', '.join(KINDS)}")
        svc = Service(str(raw["id"]), str(raw.get("name", raw["id"])), shape, bool(raw.get("web", False)), category,
                      parse_access(raw["access"], f"{at}: field `access`") if raw.get("access") is not None else None,
                      tuple(u.lower() for u in uploads), tuple((str(k), str(v)) for k, v in headers.items()),
                      tuple((_path_glob(str(g)), str(n)) for g, n in svc_answers.items()),
                      str(kind), _parse_facts(raw.get("facts"), at), str(raw.get("source") or ""))
        for h in raw["hosts"]:
            host, _, rest = str(h).partition("/")
            host, prefix = host.lower().strip("."), ("/" + rest).lower() if rest else ""
            if not host:
                raise PolicyError(f"{at}: host entry {h!r} has no host")
            if (host, prefix) in claimed:
                raise PolicyError(f"{at}: host {h!r} is listed twice (also under {claimed[host, prefix]})")
            if not prefix and _shadows_cloud(host):
                raise PolicyError(f"{at}: host {h!r} would claim a whole cloud domain (every tenant's traffic); "
                                  f"name the tenant's own host, add a path (host/path) or list it under `storage`")
            claimed[host, prefix] = svc.id
            services.append((host, prefix, svc))
    storage = data.get("storage") or []
    for cval in categories.values():
        if cval and cval.get("policy"):
            cval["policy"] = str((p.parent / cval["policy"]).resolve())
    default = data.get("default") or {}
    unknown = data.get("unknown") or {}
    if not isinstance(default, dict) or not isinstance(unknown, dict):
        raise PolicyError(f"{p}: `default` and `unknown` are mappings ({{access: ...}})")
    rules = _parse_rules(data.get("access_rules") or [], p, seen)
    return Catalog(services, tuple(str(s) for s in storage), categories, str(p),
                   parse_access(default.get("access", {}), f"{p}: default.access"),
                   parse_access(unknown["access"], f"{p}: unknown.access") if "access" in unknown else None,
                   bool(unknown.get("discover", True)), answers, rules)


def _shadows_cloud(host: str) -> bool:
    """`amazonaws.com`, `*.aliyuncs.com`, `*.*.cloudfront.net`: nothing but wildcards before a
    multi-tenant cloud domain."""
    labels = host.split(".")
    for i in range(len(labels) - 1):
        if ".".join(labels[i:]) in CLOUD_DOMAINS:
            return all(set(label) <= {"*"} for label in labels[:i])
    return False


_TRISTATE = {True: True, False: False, None: None, "unknown": None, "yes": True, "no": False}
_FACT_FIELDS = ("operator", "country", "filed", "trains", "enterprise", "source")


def _tristate(v, where: str) -> bool | None:
    if isinstance(v, (bool, type(None))) or (isinstance(v, str) and v in _TRISTATE):
        return _TRISTATE[v]
    raise PolicyError(f"{where}: {v!r} is not true, false or unknown")


def _parse_facts(raw, at: str) -> Facts:
    if raw is None:
        return NO_FACTS
    if not isinstance(raw, dict):
        raise PolicyError(f"{at}: field `facts`: expected {{operator, country, filed, trains, enterprise, source}}")
    bad = set(raw) - set(_FACT_FIELDS)
    if bad:
        raise PolicyError(f"{at}: field `facts`: unknown field(s): {', '.join(sorted(bad))}")
    country = str(raw.get("country") or "").upper()
    if country and not re.fullmatch(r"[A-Z]{2}", country):
        raise PolicyError(f"{at}: field `facts.country`: {country!r} is not a two-letter country code")
    return Facts(str(raw.get("operator") or ""), country,
                 *(_tristate(raw.get(k), f"{at}: field `facts.{k}`") for k in ("filed", "trains", "enterprise")),
                 str(raw.get("source") or ""))


_WHERE_KEYS = ("country", "filed", "trains", "enterprise", "kind", "operator", "id")


def _parse_rules(raw, p: Path, service_ids: set) -> tuple[AccessRule, ...]:
    """access_rules: [{id, where: {country: foreign, trains: true, ...}, access: ... | activity/action/groups,
    except: [service ids]}]."""
    if not isinstance(raw, list):
        raise PolicyError(f"{p}: `access_rules` must be a list")
    out, ids = [], set()
    for i, r in enumerate(raw):
        at = f"{p}: access_rules[{i}]"
        if not isinstance(r, dict) or not r.get("id"):
            raise PolicyError(f"{at}: needs an `id`")
        at = f"{p}: access rule {r['id']}"
        if r["id"] in ids:
            raise PolicyError(f"{at}: the id is used twice")
        ids.add(r["id"])
        bad = set(r) - {"id", "where", "access", "activity", "action", "groups", "except"}
        if bad:
            raise PolicyError(f"{at}: unknown field(s): {', '.join(sorted(bad))}")
        where = r.get("where")
        if not isinstance(where, dict) or not where:
            raise PolicyError(f"{at}: needs `where` (keys: {', '.join(_WHERE_KEYS)})")
        conds = []
        for k, v in where.items():
            if k not in _WHERE_KEYS:
                raise PolicyError(f"{at}: where.{k}: not one of {', '.join(_WHERE_KEYS)}")
            values = v if isinstance(v, list) else [v]
            if not values:
                raise PolicyError(f"{at}: where.{k}: an empty list matches nothing")
            if k in ("filed", "trains", "enterprise"):
                values = [_tristate(x, f"{at}: where.{k}") for x in values]
            elif k == "country":
                values = [str(x) if str(x) in ("domestic", "foreign", "unknown") else str(x).upper() for x in values]
                for x in values:
                    if x not in ("domestic", "foreign", "unknown") and not re.fullmatch(r"[A-Z]{2}", x):
                        raise PolicyError(f"{at}: where.country: {x!r} is not domestic, foreign, unknown or a "
                                          f"two-letter country code")
            elif k == "kind":
                for x in values:
                    if x not in KINDS:
                        raise PolicyError(f"{at}: where.kind: {x!r} is not one of {', '.join(KINDS)}")
            conds.append((k, tuple(values)))
        if "access" in r:
            if {"activity", "action", "groups"} & set(r):
                raise PolicyError(f"{at}: either `access` or `activity`/`action`/`groups`, not both")
            access = parse_access(r["access"], f"{at}: field `access`")
        else:
            # The short form: action [for activity] [for these groups only].
            action, activity, groups = r.get("action"), r.get("activity", "all"), r.get("groups")
            if action not in ACCESS:
                raise PolicyError(f"{at}: `action` must be one of {', '.join(ACCESS)} (or give `access`)")
            acts = activity if isinstance(activity, list) else [activity]
            spec = {a: action for a in acts}
            if groups is not None:
                if not isinstance(groups, list) or not groups:
                    raise PolicyError(f"{at}: `groups` is a list of group names")
                spec = {"groups": {str(g): dict(spec) for g in groups}}
            access = parse_access(spec, f"{at}")
        exempt = r.get("except") or []
        if not isinstance(exempt, list) or any(e not in service_ids for e in exempt):
            raise PolicyError(f"{at}: `except` lists service ids of this catalog")
        out.append(AccessRule(str(r["id"]), tuple(conds), access, tuple(str(e) for e in exempt)))
    return tuple(out)


def _path_glob(pattern: str):
    """/api/chat/*/completion/stream: `*` is one path segment; the pattern matches a path prefix."""
    return re.compile("".join("[^/]+" if part == "*" else re.escape(part) for part in re.split(r"(\*)", pattern)))


def _load_answers(raw, p: Path) -> dict:
    if not isinstance(raw, dict):
        raise PolicyError(f"{p}: `answers` must map a name to {{status, content_type, body}}")
    out = {}
    for name, a in raw.items():
        if not isinstance(a, dict) or set(a) - {"status", "content_type", "body"} or not isinstance(a.get("body"), str):
            raise PolicyError(f"{p}: answers.{name}: expected {{status, content_type, body}}")
        status = a.get("status", 200)
        if not isinstance(status, int) or not 200 <= status <= 599:
            raise PolicyError(f"{p}: answers.{name}.status: an HTTP status code")
        if "{{message" not in a["body"]:
            raise PolicyError(f"{p}: answers.{name}.body: has no {{{{message}}}} placeholder")
        out[str(name)] = Answer(status, str(a.get("content_type", "application/json")), a["body"])
    return out
