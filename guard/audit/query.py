"""Read the audit trail for auditors: filter, show, count."""
from __future__ import annotations

import heapq
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from guard.audit.chain import iter_records
from guard.errors import AuditError

FIELDS = ("event_id", "ts", "action", "rules", "host", "path", "client", "user", "body_sha256", "policy", "node")


def records(audit_dirs) -> Iterator[dict]:
    """The records of one audit directory, or of several (one chain per node) merged by time."""
    if isinstance(audit_dirs, (str, Path)):
        return _records(audit_dirs)
    dirs = list(audit_dirs)
    if len(dirs) == 1:
        return _records(dirs[0])
    return heapq.merge(*(_records(d) for d in dirs), key=lambda r: (r.get("ts", ""), r.get("node") or "",
                                                                    r.get("seq", 0)))


def _records(audit_dir: str | Path) -> Iterator[dict]:
    d = Path(audit_dir)
    if not d.is_dir():
        raise AuditError(f"{d}: no such audit directory")
    for f, n, line in iter_records(d):
        try:
            yield json.loads(line)
        except ValueError:
            raise AuditError(f"{f.name}:{n}: damaged record; run `guard audit verify`") from None


def matches(rec: dict, since=None, until=None, action=None, rule=None, user=None, host=None) -> bool:
    ts = rec.get("ts", "")
    if since and ts < since:
        return False
    if until and ts > until:
        return False
    if action and rec.get("action") not in action:
        return False
    if rule and not any(r["id"] == rule or r["id"].startswith(rule + ".") for r in rec.get("rules", [])):
        return False
    if user and rec.get("user") != user:
        return False
    if host and host not in (rec.get("host") or ""):
        return False
    return True


def is_background(rec: dict) -> bool:
    """An allowed request that was no prompt or upload: a page, an icon, a script, a poll
    (GET/HEAD/OPTIONS at an AI host). Counted apart, so that "allowed" means AI use."""
    return rec.get("action") == "allow" and rec.get("activity") == "other"


def stats(recs, day=lambda ts: ts[:10]) -> dict:
    """Counts by day (`day` maps a record's UTC `ts` to the calendar day of the zone shown),
    action, rule, provider and user."""
    by_day, by_rule, by_provider, by_user, by_action = Counter(), Counter(), Counter(), Counter(), Counter()
    would, exempt, background = Counter(), Counter(), 0
    for r in recs:
        by_day[day(r["ts"])] += 1
        by_action[r["action"]] += 1
        background += is_background(r)
        by_provider[r.get("provider") or r.get("host")] += 1
        by_user[r.get("user") or r.get("client")] += 1
        for rule in r.get("rules", []):
            by_rule[rule["id"]] += 1
            if rule.get("mode") == "monitor":  # what a rule in monitor mode would have done
                would[f"{rule['id']} would-{rule.get('action')}"] += 1
        if r.get("exempt"):
            exempt[r["exempt"]] += 1
    out = {"by_day": dict(sorted(by_day.items())), "by_action": dict(by_action),
           "by_rule": dict(by_rule.most_common()), "by_provider": dict(by_provider.most_common()),
           "by_user": dict(by_user.most_common())}
    if background:
        out["allow_background"] = background  # of by_action["allow"]: pages, icons, polls
    if would:
        out["monitor_would_by_rule"] = dict(would.most_common())
    if exempt:
        out["exempt_by_scope"] = dict(exempt.most_common())
    return out


def discover(recs) -> list[dict]:
    """Hosts outside the catalog that received LLM-shaped requests: candidates for the catalog."""
    hosts: dict[str, dict] = {}
    for r in recs:
        if r.get("provider") != "unknown":
            continue
        h = hosts.setdefault(r.get("host") or "", {"host": r.get("host") or "", "count": 0, "first_seen": r["ts"],
                                                   "last_seen": r["ts"], "shapes": Counter(), "actions": Counter(),
                                                   "senders": set()})
        h["count"] += 1
        h["first_seen"] = min(h["first_seen"], r["ts"])
        h["last_seen"] = max(h["last_seen"], r["ts"])
        h["shapes"][r.get("shape") or "?"] += 1
        h["actions"][r.get("action")] += 1
        h["senders"].add(r.get("user") or r.get("client"))
    out = []
    for h in sorted(hosts.values(), key=lambda h: (-h["count"], h["host"])):
        out.append({**h, "shapes": dict(h["shapes"].most_common()), "actions": dict(h["actions"]),
                    "senders": len(h["senders"])})
    return out
