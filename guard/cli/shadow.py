"""`guard audit shadow`: AI traffic to hosts outside the catalog, counted per department, so the
保密办 can add the real services to policies/catalog.yaml (one entry each) and see who uses them.

Reads the audit trail only: records the proxy wrote as provider `unknown` (a body with an LLM
call's shape sent to a host the catalog does not name: API relays, 中转站, new services). Hosts
the current catalog names by now are left out (they were added since)."""
from __future__ import annotations

import json
from collections import Counter

from guard.audit.query import matches, records
from guard.display import bound, local_text, zone

UNMAPPED = "(unmapped)"  # no department in the identity map for the sender


def register(asub, common) -> None:
    sp = asub.add_parser("shadow", help="AI traffic to hosts outside the catalog, per department",
                         description="Hosts outside the catalog that received AI-shaped requests (provider "
                                     "`unknown` in the trail), most used first: requests per department, senders, "
                                     "API shapes, actions, the paths used and when. Hosts the catalog names by now "
                                     "are left out. Add the real services to the catalog: one entry each, with a "
                                     "source for its hosts and facts.")
    common(sp)
    sp.add_argument("--catalog", metavar="FILE", help="catalog to compare with (default: policies/catalog.yaml)")
    sp.add_argument("--since", help="from this local day or time")
    sp.add_argument("--until", help="up to this local day (inclusive) or time")
    sp.add_argument("--department", help="only requests from this department")
    sp.add_argument("--min-count", type=int, default=1, metavar="N", help="only hosts with at least N requests")
    sp.add_argument("--tz", metavar="ZONE", help="time zone of days and times shown (default: $GUARD_TZ, else "
                                                 "Asia/Shanghai)")
    sp.add_argument("--utc", action="store_true", help="days and times in UTC")
    sp.add_argument("--json", action="store_true", help="one JSON array of hosts")
    sp.set_defaults(func=cmd_shadow)


def _host(r: dict) -> str:
    h = (r.get("host") or "").strip().lower().rstrip(".")
    if h.startswith("["):
        return h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def _path_head(path: str) -> str:
    """The first two segments of the path (no query: it can hold content): enough to scope an entry."""
    segments = [s for s in (path or "/").split("?", 1)[0].split("/") if s][:2]
    return "/" + "/".join(segments)


def shadow_hosts(recs, catalog=None, department: str | None = None) -> tuple[list[dict], int]:
    """(hosts most used first, how many hosts the catalog names by now). Each host: count,
    departments {name: requests}, senders, shapes, actions, paths, first_seen, last_seen."""
    hosts: dict[str, dict] = {}
    for r in recs:
        if r.get("provider") != "unknown" or not _host(r):
            continue
        dept = r.get("department") or UNMAPPED
        if department and dept != department:
            continue
        h = hosts.setdefault(_host(r), {"host": _host(r), "count": 0, "departments": Counter(), "senders": set(),
                                        "shapes": Counter(), "actions": Counter(), "paths": Counter(),
                                        "first_seen": r["ts"], "last_seen": r["ts"]})
        h["count"] += 1
        h["departments"][dept] += 1
        h["senders"].add(r.get("user") or r.get("client") or "")
        h["shapes"][r.get("shape") or "?"] += 1
        h["actions"][r.get("action") or "?"] += 1
        h["paths"][_path_head(r.get("path") or "/")] += 1
        h["first_seen"] = min(h["first_seen"], r["ts"])
        h["last_seen"] = max(h["last_seen"], r["ts"])
    out, known = [], 0
    for h in hosts.values():
        if catalog is not None and any(catalog.service(h["host"], p) for p in h["paths"]):
            known += 1
            continue
        out.append({**h, "departments": dict(h["departments"].most_common()), "senders": len(h["senders"]),
                    "shapes": dict(h["shapes"].most_common()), "actions": dict(h["actions"].most_common()),
                    "paths": dict(h["paths"].most_common(5))})
    out.sort(key=lambda h: (-h["count"], h["host"]))
    return out, known


def cmd_shadow(args) -> int:
    from guard.catalog import load_catalog

    catalog = load_catalog(args.catalog)
    tz = zone("UTC" if args.utc else args.tz)
    since, until = bound(args.since, tz), bound(args.until, tz, end=True)
    found, known = shadow_hosts((r for r in records(args.audit_dir or ["var/audit"]) if matches(r, since, until)),
                                catalog, args.department)
    found = [h for h in found if h["count"] >= args.min_count]
    if args.json:
        print(json.dumps(found, ensure_ascii=False))
        return 0
    for h in found:
        depts = ", ".join(f"{d} {n}" for d, n in h["departments"].items())
        print(f"{h['count']:7d}  {h['host']}")
        print(f"         部门 departments: {depts}; 人数 senders: {h['senders']}")
        print(f"         shapes: {', '.join(h['shapes'])}; actions: "
              f"{', '.join(f'{a} {n}' for a, n in h['actions'].items())}; paths: {', '.join(h['paths'])}")
        print(f"         {local_text(h['first_seen'], tz)} .. {local_text(h['last_seen'], tz)}")
    print(f"{len(found)} host(s) outside the catalog" + (f"; {known} named by the catalog since" if known else ""))
    if found:
        print("To add one: a services entry in the catalog, e.g. "
              "- {id: ..., name: ..., kind: ..., hosts: [" + found[0]["host"] + "], "
              "facts: {operator: ..., country: ..., filed: ..., trains: ..., enterprise: ..., source: ...}, "
              "source: \"where its hosts were confirmed\"}")
    return 0
