"""The acknowledgement store: what was flagged, not the bytes.

An acknowledgement covers one sender (proxy-auth user, else client address), the rule ids and
the flagged passages (decide.span_digest) of the warning, for `guard_ack_ttl` seconds. A web
app's retry of the same prompt (new message ids, timestamps) carries the same passages and
passes; another passage is warned again; anything block-worthy is blocked regardless.

Here: the warnings issued (by link token), the acknowledgements given, the warnings submitted
for approval, shared across nodes when configured (Shared), and an officer's decision as
`guard approve` wrote it. The coaching page that takes acknowledgements is ack.py; acting on a
warning (does an acknowledgement or approval let it pass?) is act.py.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

from guard.coaching import Found
from guard.types import Verdict

MAX_ENTRIES = 20_000  # per table; past it the oldest go (a flood of warnings cannot grow memory)
MAX_KEYS_PER_RULE = 32  # flagged passages kept one by one per rule; more are one combined key
MAX_FOUND = 20          # findings a coaching page lists (the rest are counted by the audit record)


def flagged(verdict: Verdict) -> frozenset[tuple[str, str]]:
    """(rule, passage digest) of what made the request a warning. A warning about an item the
    guard could not read (an image past the OCR limit) is bound to that item's content, the
    sha256 of the innermost file holding it (the ledger's), never to its position: another image
    in the same place is another warning. Without a digest it is bound to nothing (never covered)."""
    owners = sorted(((e.get("location") or "", e.get("sha256") or "") for e in verdict.ledger),
                    key=lambda t: -len(t[0]))
    out = set()
    for f in verdict.findings:
        if f.action != "warn" or f.mode != "enforce":
            continue
        if f.rule.startswith("uninspectable."):
            item = next((sha for loc, sha in owners
                         if sha and (f.location == loc or f.location.startswith(loc + "/") or
                                     f.location.startswith(loc + " ") or f.location.startswith(loc + "#"))), None)
            out.add((f.rule, f"{f.digest}:{item}" if item else f"{f.digest}:unbound:{secrets.token_hex(8)}"))
        else:
            out.add((f.rule, f.digest))
    # Bounded memory per pending warning: a rule flagged at more than MAX_KEYS_PER_RULE passages is
    # one key (the digest of all of them, so the same content is covered, another is not).
    by_rule: dict[str, list[str]] = {}
    for rule, digest in out:
        by_rule.setdefault(rule, []).append(digest)
    return frozenset((rule, d) for rule, ds in by_rule.items() for d in
                     (ds if len(ds) <= MAX_KEYS_PER_RULE else
                      ["n:" + hashlib.sha256("|".join(sorted(ds)).encode()).hexdigest()[:32]]))


@dataclass
class Warning:
    event_id: str
    who: str
    keys: frozenset
    found: list[Found]
    approval: bool
    service: str
    contact: str
    why: str
    reasons: tuple[str, ...]
    expires: float
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    submitted: bool = False   # submitted for approval; waiting for an officer
    policy_id: str = ""
    policy_sha256: str = ""


class Shared:
    """Acknowledgements across nodes (options guard_ack_key, guard_ack_dir): the link token is
    stateless (the warning it stands for, its expiry and an HMAC with the shared key), so any
    node serves its page and takes its confirmation; a confirmation is a small signed file in the
    shared directory, read by any node that warns the same sender again. Replay is bounded by
    the expiry."""

    def __init__(self, key: bytes, directory: Path):
        self.key, self.dir = key, directory
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    def _sig(self, data: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self.key, data, hashlib.sha256).digest()[:18]).decode()

    def encode(self, w: Warning, ttl: float) -> str:
        payload = {"e": w.event_id, "w": w.who, "k": sorted(w.keys), "x": int(time.time() + ttl), "a": w.approval,
                   "s": w.service, "f": [[f.rule, f.description, f.excerpt, f.location] for f in w.found[:8]],
                   "p": [w.policy_id, w.policy_sha256]}
        data = base64.urlsafe_b64encode(json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
                                        .encode()).decode().rstrip("=")
        return f"s.{data}.{self._sig(data.encode())}"

    def decode(self, token: str, contact: str, why: str, reasons: tuple[str, ...]) -> Warning | None:
        try:
            _, data, sig = token.split(".")
            if not hmac.compare_digest(sig, self._sig(data.encode())):
                return None
            p = json.loads(base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)))
        except (ValueError, TypeError):
            return None
        left = p["x"] - time.time()
        if left <= 0:
            return None
        return Warning(p["e"], p["w"], frozenset(tuple(k) for k in p["k"]), [Found(*f) for f in p["f"]], p["a"],
                       p["s"], contact, why, reasons, time.monotonic() + left, csrf=self.csrf(token),
                       policy_id=p["p"][0], policy_sha256=p["p"][1])

    def csrf(self, token: str) -> str:
        """The confirm form's token, the same on every node."""
        return self._sig(b"csrf:" + token.encode())

    def _folder(self, who: str) -> Path:
        return self.dir / hashlib.sha256(who.encode()).hexdigest()[:32]

    def record(self, w: Warning, ttl: float) -> None:
        self._signed(w.who, w.event_id, {"k": sorted(w.keys), "x": int(time.time() + ttl)})

    def submit(self, w: Warning, ttl: float) -> None:
        """A warning submitted for approval, visible to every node (the retry may reach any)."""
        self._signed(w.who, f"{w.event_id}.pending", {"k": sorted(w.keys), "x": int(time.time() + ttl),
                                                      "e": w.event_id})

    def submitted(self, who: str, keys: frozenset) -> list[str]:
        """Event ids of submissions by `who` that cover these flagged passages."""
        return [e["e"] for e in self._entries(who, ".pending.json") if keys and keys <= {tuple(k) for k in e["k"]}]

    def consume(self, event_id: str) -> bool:
        """True for the first node to use an approval (an approval lets a request pass once)."""
        folder = self.dir / "consumed"
        folder.mkdir(exist_ok=True, mode=0o700)
        try:
            os.close(os.open(folder / hashlib.sha256(event_id.encode()).hexdigest()[:32],
                             os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            return True
        except FileExistsError:
            return False

    def _signed(self, who: str, name: str, entry: dict) -> None:
        body = json.dumps(entry, separators=(",", ":"))
        folder = self._folder(who)
        folder.mkdir(exist_ok=True, mode=0o700)
        tmp = folder / f".{name}.tmp"
        tmp.write_text(json.dumps({"entry": body, "sig": self._sig(body.encode())}), encoding="utf-8")
        os.replace(tmp, folder / f"{name}.json")

    def _entries(self, who: str, suffix: str) -> list[dict]:
        try:
            files = [f for f in self._folder(who).iterdir() if f.name.endswith(suffix)]
        except OSError:
            return []
        now, out = time.time(), []
        for f in files:
            try:
                d = json.loads(f.read_text(encoding="utf-8"))
                if not hmac.compare_digest(d["sig"], self._sig(d["entry"].encode())):
                    continue
                entry = json.loads(d["entry"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if entry["x"] <= now:  # ends at its expiry, as the in-memory table and link tokens do
                f.unlink(missing_ok=True)  # expired: tidy up
                continue
            out.append(entry)
        return out

    def covered(self, who: str, keys: frozenset) -> bool:
        acked = {tuple(k) for e in self._entries(who, ".json") if "e" not in e for k in e["k"]}
        return bool(keys) and keys <= acked


class Acknowledgements:
    def __init__(self):
        self.warnings: dict[str, Warning] = {}             # link token -> warning
        self.acked: dict[tuple[str, tuple[str, str]], float] = {}  # (who, key) -> expiry
        self.awaiting: dict[str, Warning] = {}             # event id -> warning submitted for approval
        self.shared: Shared | None = None

    def covered(self, who: str, keys: frozenset) -> bool:
        now = time.monotonic()
        # a key never acknowledged expires `now`: not covered, whatever the clock reads
        if bool(keys) and all(self.acked.get((who, k), now) > now for k in keys):
            return True
        return self.shared is not None and self.shared.covered(who, keys)

    def issue(self, w: Warning, ttl: float) -> str:
        self._bound(self.warnings)
        if self.shared is not None:
            token = self.shared.encode(w, ttl)
            w.csrf = self.shared.csrf(token)
        else:
            token = secrets.token_urlsafe(16)
        self.warnings[token] = w
        return token

    def find(self, token: str, contact: str, why: str, reasons) -> Warning | None:
        w = self.warnings.get(token)
        if w is None and self.shared is not None and token.startswith("s."):
            w = self.shared.decode(token, contact, why, tuple(reasons))  # issued by another node
            if w is not None:
                self.warnings[token] = w
        return w

    def acknowledge(self, w: Warning, ttl: float) -> None:
        self._bound(self.acked)
        until = time.monotonic() + ttl
        for k in w.keys:
            self.acked[(w.who, k)] = until
        if self.shared is not None:
            self.shared.record(w, ttl)

    def submitted_for(self, who: str, keys: frozenset) -> Warning | None:
        """The submitted warning (awaiting an officer) that covers these flagged passages."""
        now = time.monotonic()
        for w in self.awaiting.values():
            if w.who == who and keys and keys <= w.keys and w.expires > now:
                return w
        return None

    def _bound(self, d: dict) -> None:
        if len(d) >= MAX_ENTRIES:
            now = time.monotonic()
            for k in [k for k, v in d.items() if (v.expires if isinstance(v, Warning) else v) <= now]:
                del d[k]
            while len(d) >= MAX_ENTRIES:
                del d[next(iter(d))]  # insertion order: the oldest first


def read_decision(audit_dir: str, event_id: str) -> dict | None:
    """An officer's decision on a submitted warning (written by `guard approve` beside each
    node's trail), if any."""
    f = Path(audit_dir) / "approvals" / f"{event_id}.json"
    try:
        data = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("decision") in ("approved", "rejected") else None
