"""Endpoint catalog: is this destination an internet AI service, and which one?"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from guard.errors import PolicyError
from guard.policy.loader import POLICY_DIR

DEFAULT_CATALOG = POLICY_DIR / "catalog.yaml"
ACK_HOST = "ai-guard.invalid"  # served by the proxy itself (.invalid never resolves)
SHAPES = ("openai", "anthropic", "gemini")


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    shape: str = "openai"
    web: bool = False
    category: str = "internet"


class Catalog:
    def __init__(self, services: list[tuple[str, Service]], storage: list[str], categories: dict, source: str = ""):
        self._hosts = {h.lower().strip("."): s for h, s in services if "*" not in h}
        # Entries with `*` (part of one label): matched as a regex on the host and its suffixes.
        self._patterns = [(re.compile(_glob(h.lower().strip("."))), h.lower().strip("."), s) for h, s in services if "*" in h]
        self._storage = tuple(h.lower().strip(".") for h in storage)
        self.categories = categories
        self.source = source

    @staticmethod
    def _suffixes(host: str):
        parts = host.lower().rstrip(".").split(".")
        for i in range(len(parts) - 1):
            yield ".".join(parts[i:])

    def service(self, host: str) -> Service | None:
        for suffix in self._suffixes(host):
            if suffix in self._hosts:
                return self._hosts[suffix]
        if self._patterns:
            name = host.lower().rstrip(".")
            for rx, _, svc in self._patterns:
                if rx.search(name):
                    return svc
        return None

    def is_storage(self, host: str) -> bool:
        return any(s in self._storage for s in self._suffixes(host))

    def web_app_for(self, url: str | None) -> Service | None:
        """The AI web app an Origin/Referer header points at, if any."""
        if not url:
            return None
        host = urlsplit(url).hostname or ""
        s = self.service(host)
        return s if s and s.web else None

    def allow_hosts(self) -> list[str]:
        """mitmproxy allow_hosts patterns: intercept TLS only for these destinations."""
        names = sorted(set(self._hosts) | set(self._storage) | {ACK_HOST})
        # A fully qualified name may end in a dot (api.openai.com.): still the same host.
        return ([rf"(^|\.){re.escape(h)}\.?(:\d+)?$" for h in names]
                + [rf"{rx.pattern[:-1]}\.?(:\d+)?$" for rx, _, _ in self._patterns])


def _glob(entry: str) -> str:
    """A host entry with `*` as a regex over the host and its subdomains; `*` never crosses a dot."""
    return r"(^|\.)" + r"[a-z0-9-]*".join(re.escape(p) for p in entry.split("*")) + "$"


def load_catalog(path: str | Path | None = None) -> Catalog:
    p = Path(path) if path else DEFAULT_CATALOG
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise PolicyError(f"{p}: catalog file not found") from None
    except (OSError, yaml.YAMLError) as e:
        raise PolicyError(f"{p}: cannot read catalog: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("services"), list):
        raise PolicyError(f"{p}: a catalog needs a `services:` list")
    categories = data.get("categories") or {"internet": {}}
    services = []
    for i, raw in enumerate(data["services"]):
        if not isinstance(raw, dict) or not raw.get("id") or not isinstance(raw.get("hosts"), list):
            raise PolicyError(f"{p}: services[{i}]: needs `id` and a `hosts` list")
        shape = raw.get("shape", "openai")
        if shape not in SHAPES:
            raise PolicyError(f"{p}: service {raw['id']}: field `shape`: {shape!r} is not one of {', '.join(SHAPES)}")
        category = raw.get("category", "internet")
        if category not in categories:
            raise PolicyError(f"{p}: service {raw['id']}: field `category`: {category!r} is not under `categories`")
        svc = Service(str(raw["id"]), str(raw.get("name", raw["id"])), shape, bool(raw.get("web", False)), category)
        services.extend((str(h), svc) for h in raw["hosts"])
    storage = data.get("storage") or []
    for cval in categories.values():
        if cval and cval.get("policy"):
            cval["policy"] = str((p.parent / cval["policy"]).resolve())
    return Catalog(services, [str(s) for s in storage], categories, str(p))
