"""`guard audit`: list, show, verify, stats — for auditors."""
from __future__ import annotations

import csv
import json
import sys
import time

from guard.audit.chain import load_key, verify
from guard.audit.query import FIELDS, discover, matches, records, stats


def register(sub) -> None:
    p = sub.add_parser("audit", help="review and verify the audit trail")
    asub = p.add_subparsers(dest="audit_command", metavar="SUBCOMMAND")

    def common(sp):
        sp.add_argument("--audit-dir", action="append", metavar="DIR",
                        help="audit directory (default: var/audit); repeat for several nodes: their chains "
                             "are read together, merged by time, each verified on its own")

    ls = asub.add_parser("list", help="list events", description="List audit events, oldest first.")
    common(ls)
    ls.add_argument("--since", help="from this UTC time (ISO, e.g. 2026-11-27 or 2026-11-27T08:00)")
    ls.add_argument("--until", help="up to this UTC time (ISO)")
    ls.add_argument("--action", action="append", choices=["allow", "warn", "redact", "block"], help="repeatable")
    ls.add_argument("--rule", help="rule id or family prefix (state-secret)")
    ls.add_argument("--user", help="proxy-auth user")
    ls.add_argument("--host", help="host contains this")
    fmt = ls.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON record per line")
    fmt.add_argument("--csv", action="store_true", help="CSV with a header row")
    ls.set_defaults(func=cmd_list)

    sh = asub.add_parser("show", help="show one event in full", description="Show one event as JSON.")
    common(sh)
    sh.add_argument("event_id")
    sh.set_defaults(func=cmd_show)

    vf = asub.add_parser("verify", help="verify the hash chain",
                         description="Exit 0 when the chain is intact; 1 naming the first broken record.")
    common(vf)
    vf.add_argument("--key-file", help="HMAC key file, when the proxy used one")
    vf.set_defaults(func=cmd_verify)

    st = asub.add_parser("stats", help="counts by day, action, rule, provider and user")
    common(st)
    st.add_argument("--since")
    st.add_argument("--until")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_stats)
    kg = asub.add_parser("keygen", help="create the audit chain's HMAC key file (0600)",
                         description="Write 32 random bytes (hex) to FILE, created readable and writable by its "
                                     "owner only; refuses to overwrite an existing key (that would orphan the "
                                     "trail written under it).")
    kg.add_argument("file")
    kg.add_argument("--owner", help="make this user (the service user) the file's owner (needs root)")
    kg.set_defaults(func=cmd_keygen)

    sh_ = asub.add_parser("ship", help="send the trail to a SIEM (syslog over TCP/TLS), following it",
                          description="Follow the audit trail from a persisted cursor and send every record once, "
                                      "in order, to a syslog collector: RFC 5424 with octet counting, ECS JSON lines "
                                      "or CEF. When the collector is down it waits and resumes from the cursor.")
    common(sh_)
    sh_.add_argument("--syslog", required=True, metavar="URL", help="tcp://HOST:PORT or tls://HOST:PORT")
    sh_.add_argument("--format", default="rfc5424", choices=["rfc5424", "ecs-json", "cef"])
    sh_.add_argument("--ca-file", help="CA bundle to verify a tls:// collector")
    sh_.add_argument("--once", action="store_true", help="send what is there and exit (else follow)")
    sh_.set_defaults(func=cmd_ship)

    rp = asub.add_parser("report", help="the monthly report (html, pdf or xlsx)",
                         description="The period's report in Chinese on A4: totals and trend against the previous "
                                     "period, charts, top rules/services/departments, blocked events, "
                                     "acknowledgements with reasons, and an integrity statement with each chain's "
                                     "head hash; a line for the auditor's signature. PDF is printed by headless "
                                     "Chromium.")
    common(rp)
    rp.add_argument("--from", dest="start", required=True, metavar="DATE")
    rp.add_argument("--to", dest="end", required=True, metavar="DATE")
    rp.add_argument("--format", default="html", choices=["html", "pdf", "xlsx"])
    rp.add_argument("--out", help="output file (default: report-FROM-TO.FORMAT)")
    rp.add_argument("--key-file", help="HMAC key file, when the proxy used one")
    rp.set_defaults(func=cmd_report)

    dc = asub.add_parser("discover", help="AI-shaped traffic to hosts outside the catalog",
                         description="Hosts outside the catalog that received requests shaped like LLM API calls "
                                     "(recorded as provider `unknown`): count, first and last seen, shapes, actions "
                                     "and number of senders. Add the real ones to the catalog.")
    common(dc)
    dc.add_argument("--since")
    dc.add_argument("--until")
    dc.add_argument("--json", action="store_true")
    dc.set_defaults(func=cmd_discover)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _dirs(args) -> list[str]:
    return args.audit_dir or ["var/audit"]


def _until(v):
    # A bare date means the whole day.
    return v + "T23:59:59.999Z" if v and len(v) == 10 else v


def cmd_list(args) -> int:
    recs = [r for r in records(_dirs(args))
            if matches(r, args.since, _until(args.until), args.action, args.rule, args.user, args.host)]
    if args.json:
        for r in recs:
            print(json.dumps(r, ensure_ascii=False))
    elif args.csv:
        # A BOM: Excel on zh-CN Windows then opens the file as UTF-8, not GBK.
        sys.stdout.write("\ufeff")
        w = csv.writer(sys.stdout)
        w.writerow(FIELDS)
        for r in recs:
            w.writerow([_cell(r, f) for f in FIELDS])
    else:
        for r in recs:
            print(f"{r['ts']}  {r['action']:6s} {r['event_id']}  {r.get('user') or r.get('client') or '-':15s} "
                  f"{r['host']}{r['path'][:40]}  {_cell(r, 'rules')}")
        print(f"{len(recs)} event(s)")
    return 0


def _cell(r: dict, f: str) -> str:
    v = r.get(f)
    if f == "rules":
        return ",".join(x["id"] for x in v or [])
    if f == "policy":
        return f"{v.get('id')}@{v.get('sha256', '')[:12]}" if v else ""
    return "" if v is None else str(v)


def cmd_show(args) -> int:
    for r in records(_dirs(args)):
        if r.get("event_id") == args.event_id:
            print(json.dumps(r, ensure_ascii=False, indent=2))
            return 0
    print(f"guard: error: no event {args.event_id} in {', '.join(_dirs(args))}", file=sys.stderr)
    return 1


def cmd_verify(args) -> int:
    key = load_key(args.key_file)
    dirs = _dirs(args)
    status = 0
    for d in dirs:
        gaps: list[str] = []
        count, broken = verify(d, key, gaps)
        where = f" ({d})" if len(dirs) > 1 else ""
        for gap in gaps:  # recorded by the guard itself when the trail's files vanished while it ran
            print(f"GAP{where} {gap}")
        if broken:
            print(f"BROKEN{where} after {count} intact record(s): {broken}")
            status = 1
            continue
        print(f"OK{where} {count} record(s), chain intact" + (f", {len(gaps)} recorded gap(s)" if gaps else ""))
    return status


def cmd_stats(args) -> int:
    s = stats(r for r in records(_dirs(args)) if matches(r, args.since, _until(args.until)))
    if args.json:
        print(json.dumps(s, ensure_ascii=False))
        return 0
    for section, counts in s.items():
        print(section.replace("_", " ") + ":")
        for k, v in counts.items():
            print(f"  {v:7d}  {k}")
    return 0


def cmd_discover(args) -> int:
    found = discover(r for r in records(_dirs(args)) if matches(r, args.since, _until(args.until)))
    if args.json:
        print(json.dumps(found, ensure_ascii=False))
        return 0
    for h in found:
        shapes = ",".join(h["shapes"])
        actions = ",".join(f"{k}:{v}" for k, v in h["actions"].items())
        print(f"{h['count']:7d}  {h['host']:40s} {h['first_seen'][:19]} .. {h['last_seen'][:19]}  "
              f"shape {shapes}  {actions}  senders {h['senders']}")
    print(f"{len(found)} host(s) outside the catalog")
    return 0


def cmd_keygen(args) -> int:
    import os
    import secrets
    import shutil

    from guard.errors import AuditError

    try:
        fd = os.open(args.file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise AuditError(f"{args.file}: exists; a new key would orphan the trail written under it") from None
    except OSError as e:
        raise AuditError(f"{args.file}: cannot create: {e.strerror}") from None
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, (secrets.token_hex(32) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    if args.owner:
        try:
            shutil.chown(args.file, user=args.owner)
        except (LookupError, OSError) as e:
            raise AuditError(f"{args.file}: cannot give it to {args.owner}: {e}") from None
    print(f"wrote {args.file} (0600); give auditors a copy for `guard audit verify --key-file`")
    return 0


def cmd_ship(args) -> int:
    from guard.audit.ship import Shipper

    import threading

    # One shipper (and cursor) per node's chain; each record carries its node, seq and hash.
    shippers = [Shipper(d, args.syslog, args.format, args.ca_file,
                        log=lambda m: print(f"guard audit ship: {m}", file=sys.stderr, flush=True))
                for d in _dirs(args)]
    if args.once:
        n = sum(s.ship_once() for s in shippers)
        left = sum(len(lines) for s in shippers for _, _, lines in s.pending())
        print(f"sent {n} record(s)" + (f", {left} left (collector unreachable)" if left else ""))
        return 1 if left else 0
    stop = threading.Event()
    threads = [threading.Thread(target=s.follow, args=(stop.is_set,), daemon=True) for s in shippers]
    for t in threads:
        t.start()
    try:
        while any(t.is_alive() for t in threads):
            time.sleep(0.5)
    except KeyboardInterrupt:
        stop.set()
    return 0


def cmd_report(args) -> int:
    from pathlib import Path

    from guard.console.report import write

    out = Path(args.out or f"report-{args.start}-{args.end}.{args.format}")
    write(_dirs(args), args.start, args.end, args.format, out, args.key_file)
    print(f"wrote {out}")
    return 0
