"""The catalog in force: services, their hosts and facts, and the decisions made from them
(which service a destination is, what a request does there, whether this sender may)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from guard.identity import Who

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
_YES_NO = {True: "是", False: "否", None: "未知"}


def facts_line(svc: Service) -> str:
    """The service's facts as staff read them, with where they come from (never a fact without it)."""
    f = svc.facts
    if f is NO_FACTS:
        return f"{svc.name}：未收录事实 / no facts on file"
    return (f"{svc.name}：运营方 {f.operator or '未知'}（{f.country or '国别未知'}）；生成式AI备案 {_YES_NO[f.filed]}；"
            f"默认以输入训练 {_YES_NO[f.trains]}；企业版 {_YES_NO[f.enterprise]}；依据 {f.source or '未注明'}")


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
        self._matching: dict[str, tuple[AccessRule, ...]] = {}  # service id -> the access rules its facts match
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
        rules = self._matching.get(svc.id)
        if rules is None:  # facts do not change while a catalog is in force: match once per service
            rules = self._matching[svc.id] = tuple(r for r in self.rules if r.matches(svc))
        for rule in rules:
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
