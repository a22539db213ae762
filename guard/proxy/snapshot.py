"""What a request is decided under: the snapshot of the configuration in force (policies,
catalog, identity map, inspection workers), built and tested whole, and the request's target
(which service, who sends it, what it does there), taken when its headers arrive.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mitmproxy import http

from guard.catalog import Catalog, Service, load_catalog
from guard.errors import PolicyError
from guard.identity import IdentityMap, Who, load_identity
from guard.policy import load_policy
from guard.policy.examples import check_examples
from guard.proxy.pool import InspectionPool
from guard.scanner import Engine

# flow.metadata keys
META = "ai_guard"        # the Target of an AI request (and the prefix of the guard's other keys)
WHO = META + "_who"      # the sender, resolved once
ACK = META + "_ack"      # a request to the acknowledgement page
MAYBE = META + "_maybe"  # outside the catalog: the body decides (shadow AI)


@dataclass
class Snapshot:
    catalog: Catalog
    engines: dict[str, Engine]            # category -> engine
    policies: dict[str, str | None]       # category -> policy path (what workers load)
    identity: IdentityMap
    pool: InspectionPool | None = None
    files: tuple[str, ...] = ()           # everything it was built from

    @property
    def policy(self):
        return self.engines["internet"].policy

    def accepted(self) -> dict:
        """category -> the Policy this snapshot accepted: what inspection workers (and their
        replacements) hold, never the file as it is now."""
        return {k: self.engines[k].policy for k in self.policies}

    @property
    def max_bytes(self) -> int:
        return max(e.policy.limits.max_bytes for e in self.engines.values())


def build(policy_path: str | None, catalog_path: str | None, identity_path: str | None) -> Snapshot:
    """Load and test everything; raises GuardError naming the first problem."""
    catalog = load_catalog(catalog_path)
    identity = load_identity(identity_path)
    policies = {"internet": policy_path}
    for name, cat in catalog.categories.items():
        if name != "internet":
            policies[name] = (cat or {}).get("policy") or policy_path
    engines: dict[str, Engine] = {}
    by_path: dict[str | None, Engine] = {}
    for name, path in policies.items():
        if path not in by_path:
            engine = Engine(load_policy(path))
            failures = check_examples(engine.policy, require=False, matcher=engine.matcher)
            if failures:
                raise PolicyError(f"{engine.policy.source}: {failures[0]}"
                                  + (f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""))
            by_path[path] = engine
        engines[name] = by_path[path]
    files = [f for e in by_path.values() for f in e.policy.files]
    files += [str(Path(catalog.source).resolve()), *identity.files]
    return Snapshot(catalog, engines, policies, identity, None, tuple(dict.fromkeys(files)))


def signature(files) -> tuple:
    out = []
    for f in files:
        try:
            st = os.stat(f)
            out.append((f, st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            out.append((f, None))
    return tuple(out)


@dataclass
class Target:
    """An AI request: where it goes, who sends it, what it does there, and the configuration
    it is decided under (taken when its headers arrived; a reload meanwhile does not change it)."""
    service: Service
    host: str
    port: int
    via_origin: bool
    snap: Snapshot
    who: Who
    activity: str = "prompt"
    access: str = "allow"
    shape: str = ""          # outside the catalog: the LLM API shape that made it AI traffic
    path: str = ""           # as the client sent it (before map_remote)

    @property
    def engine(self) -> Engine:
        return self.snap.engines[self.service.category]


def client_of(flow: http.HTTPFlow) -> str:
    peer = flow.client_conn.peername
    return peer[0] if peer else ""


def who_of(flow: http.HTTPFlow, snap: Snapshot) -> Who:
    """The sender (identity map, proxy-auth user), resolved once per flow."""
    who = flow.metadata.get(WHO)
    if who is None:
        auth = flow.metadata.get("proxyauth")
        who = snap.identity.resolve(client_of(flow), auth[0] if auth else None)
        flow.metadata[WHO] = who
    return who
