"""Endpoint catalog: is this destination an internet AI service, which one, what is the request
doing there (activity), and may this sender do it (access)?

Each service carries facts (operator, country, CAC filing, training on inputs, enterprise tenant)
with a source note; `access_rules` key access on those facts, so a policy reads "foreign services
block for 涉密 units" instead of listing every foreign service."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from pathlib import Path
from urllib.parse import urlsplit

from guard.errors import PolicyError
from guard.identity import Who
from guard.yamlfile import load_mapping
from guard.policy.loader import POLICY_DIR

DEFAULT_CATALOG = POLICY_DIR / "catalog.yaml"
ACK_HOST = "ai-guard.invalid"  # served by the proxy itself (.invalid never resolves)
SHAPES = ("openai", "anthropic", "gemini")
ACTIVITIES = ("prompt", "upload", "other")
ACCESS = ("allow", "warn", "block")
_STRICTNESS = {"allow": 0, "warn": 1, "block": 2}
KINDS = ("chat", "coding", "office", "translation", "ocr", "search", "agent", "inference", "hub", "image",
         "audio", "video", "meeting", "writing", "character", "app-builder")
DOMESTIC = "CN"  # 境内: what `country: domestic` means
# Multi-tenant cloud domains: an entry for the domain itself, or for `*.` under it, claims every
# customer's traffic there (S3 buckets, CDN front ends, web apps). Such hosts need a path scope
# (host/path) or a tenant-specific name; shared upload storage belongs under `storage:`.
CLOUD_DOMAINS = frozenset({
    "amazonaws.com", "aliyuncs.com", "myqcloud.com", "cloudfront.net", "azureedge.net", "azurefd.net",
    "windows.net", "core.windows.net", "blob.core.windows.net", "azure.com", "azurewebsites.net",
    "cloudapp.net", "googleapis.com", "googleusercontent.com", "appspot.com", "run.app", "cloudfunctions.net",
    "web.app", "firebaseapp.com", "vercel.app", "netlify.app", "pages.dev", "workers.dev", "r2.dev",
    "herokuapp.com", "github.io", "githubusercontent.com", "akamaized.net", "akamaihd.net", "fastly.net",
    "cloudflare.net", "b-cdn.net", "volces.com", "volcengineapi.com", "bytedanceapi.com", "bcebos.com",
    "baidubce.com", "tencentcloudapi.com", "qcloud.com", "tencent-cloud.com", "aliyun.com", "alicdn.com",
    "ksyuncs.com", "qiniucs.com", "huaweicloud.com", "myhuaweicloud.com",
})
# Paths that upload a file on most services (the catalog adds each service's own).
_UPLOAD_PATH = re.compile(r"/(?:v\d+/)?(?:files?|uploads?|upload_file|file_upload|attachments?|documents?|"
                          r"convert_document|pre-sign-url|presign\w*)(?:$|[/?:_.-])", re.I)
_QUERY_PROMPT = re.compile(r"[?&](?:q|query|text|prompt|content|message|input)=[^&]", re.I)
_UPLOAD_TYPES = ("multipart/form-data", "application/octet-stream", "application/pdf", "image/", "audio/",
                 "video/", "application/vnd.", "application/msword", "application/zip")


@dataclass(frozen=True)
class Access:
    """allow | warn | block per activity, with group overrides; None where the level above decides."""
    activities: tuple[tuple[str, str], ...] = ()
    groups: tuple[tuple[str, "Access"], ...] = ()

    def decide(self, activity: str, who: Who | None) -> str | None:
        if who is not None and who.groups:
            for group, sub in self.groups:
                if group in who.groups:
                    got = sub.decide(activity, None)
                    if got:
                        return got
        for key in (activity, "all"):  # a handful of pairs: no dict built per request
            for k, v in self.activities:
                if k == key:
                    return v
        return None


@dataclass(frozen=True)
class Facts:
    """What a provider does with data. None = not known (or, for `filed`, not applicable)."""
    operator: str = ""
    country: str = ""              # ISO 3166 alpha-2 of the operator; CN = domestic
    filed: bool | None = None      # filed (备案) with the CAC as a generative AI service
    trains: bool | None = None     # the provider uses inputs for training by default
    enterprise: bool | None = None  # an enterprise tenant (no training, admin controls) exists
    source: str = ""               # where these facts come from


NO_FACTS = Facts()


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    shape: str = "openai"
    web: bool = False
    category: str = "internet"
    access: Access | None = None
    uploads: tuple[str, ...] = ()                 # this service's own upload paths (prefixes)
    headers: tuple[tuple[str, str], ...] = ()     # injected into its allowed requests (tenant restriction)
    answers: tuple[tuple[Any, str], ...] = ()     # (path pattern, answer name): how its web client shows our message
    kind: str = ""                                # chat, coding, translation, ... (KINDS)
    facts: Facts = NO_FACTS
    source: str = ""                              # where the hosts and request paths were confirmed


@dataclass(frozen=True)
class AccessRule:
    """Access for every service whose facts match `where` (all keys must match; a list is any of)."""
    id: str
    where: tuple[tuple[str, tuple], ...]
    access: Access
    exempt: tuple[str, ...] = ()                  # service ids this rule does not apply to

    def matches(self, svc: Service) -> bool:
        if svc.id in self.exempt:
            return False
        f = svc.facts
        for key, wanted in self.where:
            if key == "country":
                c = f.country.upper()
                got = {c, "domestic" if c == DOMESTIC else "foreign"} if c else {"unknown"}
                if not got & set(wanted):
                    return False
            elif key == "id":
                if svc.id not in wanted:
                    return False
            elif key == "kind":
                if svc.kind not in wanted:
                    return False
            elif key == "operator":
                if f.operator not in wanted:
                    return False
            elif getattr(f, key) not in wanted:   # filed, trains, enterprise: True/False/None
                return False
        return True


@dataclass(frozen=True)
class Answer:
    """A blocked or warned request answered in the shape a web app renders to its user."""
    status: int
    content_type: str
    body: str   # with {{message}}, {{event_id}}, {{ack_url}}; {{message:2}} escaped for JSON twice (nested)


UNKNOWN = Service("unknown", "AI service outside the catalog")


@dataclass
class Catalog:
    services: list[tuple[str, str, Service]]     # (host entry, path prefix, service)
    storage: tuple[str, ...] = ()
    categories: dict = field(default_factory=lambda: {"internet": {}})
    source: str = ""
    default_access: Access = field(default_factory=Access)
    unknown_access: Access | None = None
    discover: bool = True                        # OpenAI/Anthropic/Gemini-shaped bodies to other hosts are AI
    answers: dict = field(default_factory=dict)  # name -> Answer
    rules: tuple[AccessRule, ...] = ()           # access keyed on services' facts

    def __post_init__(self):
        self._hosts: dict[str, list[tuple[str, Service]]] = {}
        self._patterns = []
        for host, prefix, svc in self.services:
            h = host.lower().strip(".")
            if "*" in h:
                self._patterns.append((re.compile(_glob(h)), h, prefix, svc))
            else:
                self._hosts.setdefault(h, []).append((prefix, svc))
        for entries in self._hosts.values():
            entries.sort(key=lambda e: -len(e[0]))  # the longest path prefix first
        self.storage = tuple(h.lower().strip(".") for h in self.storage)

    @staticmethod
    def _suffixes(host: str):
        parts = host.lower().rstrip(".").split(".")
        for i in range(len(parts) - 1):
            yield ".".join(parts[i:])

    def service(self, host: str, path: str = "/") -> Service | None:
        path = (path or "/").lower()  # path-scoped entries match in any case (/m365Copilot, /m365copilot)
        for suffix in self._suffixes(host):
            for prefix, svc in self._hosts.get(suffix, ()):
                if not prefix or path.startswith(prefix):
                    return svc
        if self._patterns:
            name = host.lower().rstrip(".")
            for rx, _, prefix, svc in self._patterns:
                if rx.search(name) and (not prefix or path.startswith(prefix)):
                    return svc
        return None

    def answer(self, svc: Service, path: str) -> Answer | None:
        p = path.split("?", 1)[0]
        for rx, name in svc.answers:
            if rx.match(p):
                return self.answers.get(name)
        return None

    def is_storage(self, host: str) -> bool:
        return any(s in self.storage for s in self._suffixes(host))

    def web_app_for(self, url: str | None) -> Service | None:
        """The AI web app an Origin/Referer header points at, if any."""
        if not url:
            return None
        parts = urlsplit(url)
        s = self.service(parts.hostname or "", parts.path or "/")
        return s if s and s.web else None

    @staticmethod
    def activity(svc: Service, method: str, path: str, content_type: str = "", via_origin: bool = False) -> str:
        """prompt | upload | other: what the request does at the service."""
        method = method.upper()
        if via_origin:
            return "upload"
        if method in ("GET", "HEAD", "OPTIONS", "DELETE"):
            # A GET can carry a prompt in its query (translate_a/single?q=, chatgpt.com/?q=).
            return "prompt" if method == "GET" and _QUERY_PROMPT.search(path) else "other"
        p = path.split("?", 1)[0]
        if svc.kind == "ocr" or any(p.lower().startswith(u) for u in svc.uploads) or _UPLOAD_PATH.search(p):
            return "upload"  # an OCR back end is only ever sent pictures and scans
        if content_type.lower().lstrip().startswith(_UPLOAD_TYPES):
            return "upload"
        return "prompt"

    def access(self, svc: Service, activity: str, who: Who | None) -> str:
        return self.explain_access(svc, activity, who)[0]

    def explain_access(self, svc: Service, activity: str, who: Who | None) -> tuple[str, str]:
        """(allow|warn|block, what decided it: `service`, `rule:<id>`, `unknown`, `default`).
        The service's own access and every access rule matching its facts are read together and
        the strictest wins: a per-service `allow` does not lift a rule's block (a rule names its
        exceptions under `except:`). Where none of them decides, `unknown` then `default` do."""
        best, origin = None, ""
        if svc.access:
            got = svc.access.decide(activity, who)
            if got:
                best, origin = got, "service"
        for rule in self.rules:
            if rule.matches(svc):
                got = rule.access.decide(activity, who)
                if got and (best is None or _STRICTNESS[got] > _STRICTNESS[best]):
                    best, origin = got, f"rule:{rule.id}"
        if best:
            return best, origin
        if svc.id == UNKNOWN.id and self.unknown_access:
            got = self.unknown_access.decide(activity, who)
            if got:
                return got, "unknown"
        got = self.default_access.decide(activity, who)
        return (got, "default") if got else ("allow", "default")

    def allow_hosts(self) -> list[str]:
        """mitmproxy allow_hosts patterns: intercept TLS only for these destinations."""
        names = sorted(set(self._hosts) | set(self.storage) | {ACK_HOST})
        # A fully qualified name may end in a dot (api.openai.com.): still the same host.
        return ([rf"(^|\.){re.escape(h)}\.?(:\d+)?$" for h in names]
                + [rf"{rx.pattern[:-1]}\.?(:\d+)?$" for rx, _, _, _ in self._patterns])

    def ai_hosts(self) -> list[str]:
        """The AI services' own host names (no wildcards, no shared storage)."""
        return sorted(self._hosts)

    def proxied_hosts(self) -> tuple[list[str], list[str]]:
        """(host suffixes, `*` globs) a PAC file sends to the guard: every AI host (path-scoped
        entries by their whole host), storage and the acknowledgement host."""
        return sorted(set(self._hosts) | set(self.storage) | {ACK_HOST}), sorted({g for _, g, _, _ in self._patterns})


def _glob(entry: str) -> str:
    """A host entry with `*` as a regex over the host and its subdomains; `*` never crosses a dot."""
    return r"(^|\.)" + r"[a-z0-9-]*".join(re.escape(p) for p in entry.split("*")) + "$"


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
            if k in ("filed", "trains", "enterprise"):
                values = [_tristate(x, f"{at}: where.{k}") for x in values]
            elif k == "country":
                values = [str(x) if str(x) in ("domestic", "foreign", "unknown") else str(x).upper() for x in values]
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
