"""`guard audit`: list, show, verify, stats — for auditors."""
from __future__ import annotations

import json
import sys
import time

from guard.audit.chain import load_key, verify
from guard.audit.query import discover, matches, records, stats
from guard.display import (Names, action_word, bound, local, local_day, local_text, severity_word, zone,
                           zone_label)


def register(sub) -> None:
    p = sub.add_parser("audit", help="review and verify the audit trail")
    asub = p.add_subparsers(dest="audit_command", metavar="SUBCOMMAND")

    def common(sp):
        sp.add_argument("--audit-dir", action="append", metavar="DIR",
                        help="audit directory (default: var/audit); repeat for several nodes: their chains "
                             "are read together, merged by time, each verified on its own")

    def view(sp):
        """How a person reads it: the zone, the language, where rule names come from."""
        sp.add_argument("--tz", metavar="ZONE", help="time zone to show and to read days in (default: $GUARD_TZ, "
                                                     "else Asia/Shanghai); the trail itself stays UTC")
        sp.add_argument("--utc", action="store_true", help="times and days in UTC (for engineers)")
        sp.add_argument("--lang", choices=["zh", "en"], default="zh", help="words: Chinese (default) or English")
        sp.add_argument("--policy", metavar="P", help="policy whose rule names (title) to show "
                                                      "(default: policies/default.yaml)")

    ls = asub.add_parser("list", help="list events", description="List audit events, oldest first, in local time "
                         "with Chinese action words and rule names (ids alongside); --json: the records as written "
                         "(UTC `ts`) plus `ts_local` and each rule's `title` and `category`.")
    common(ls)
    view(ls)
    ls.add_argument("--since", help="from this day or time, local (2026-11-27 is that whole calendar day in the "
                                    "zone; 2026-11-27T08:00; Z or +08:00 for an explicit offset)")
    ls.add_argument("--until", help="up to this day (inclusive) or time, local")
    ls.add_argument("--action", action="append", type=_action_code, choices=["allow", "warn", "redact", "block"],
                    help="repeatable; the code or the word (拦截, 警告, 脱敏, 放行)")
    ls.add_argument("--rule", help="rule id or family prefix (state-secret)")
    ls.add_argument("--user", help="proxy-auth user")
    ls.add_argument("--host", help="host contains this")
    fmt = ls.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON record per line")
    fmt.add_argument("--csv", action="store_true", help="CSV for Excel (UTF-8 with a BOM): the console's export "
                                                       "columns, local times, Chinese headers (--lang en: English)")
    ls.set_defaults(func=cmd_list)

    sh = asub.add_parser("show", help="show one event in full",
                         description="Show one event in full, in local time with rule names; --json: the record.")
    common(sh)
    view(sh)
    sh.add_argument("--json", action="store_true", help="the record as JSON (plus ts_local and rule titles)")
    sh.add_argument("event_id")
    sh.set_defaults(func=cmd_show)

    vf = asub.add_parser("verify", help="verify the hash chain",
                         description="Exit 0 when the chain is intact; 1 naming the first broken record.")
    common(vf)
    vf.add_argument("--key-file", help="HMAC key file, when the proxy used one")
    vf.set_defaults(func=cmd_verify)

    st = asub.add_parser("stats", help="counts by day, action, rule, provider and user",
                         description="Counts by local calendar day, action, rule, provider and user; allowed "
                                     "background requests (pages, icons: GET/HEAD/OPTIONS) counted apart.")
    common(st)
    view(st)
    st.add_argument("--since", help="from this local day or time")
    st.add_argument("--until", help="up to this local day (inclusive) or time")
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
    view(rp)
    rp.add_argument("--from", dest="start", required=True, metavar="DATE", help="first local calendar day")
    rp.add_argument("--to", dest="end", required=True, metavar="DATE", help="last local calendar day (inclusive)")
    rp.add_argument("--format", default="html", choices=["html", "pdf", "xlsx"])
    rp.add_argument("--out", help="output file (default: report-FROM-TO.FORMAT)")
    rp.add_argument("--key-file", help="HMAC key file, when the proxy used one")
    rp.set_defaults(func=cmd_report)

    dc = asub.add_parser("discover", help="AI-shaped traffic to hosts outside the catalog",
                         description="Hosts outside the catalog that received requests shaped like LLM API calls "
                                     "(recorded as provider `unknown`): count, first and last seen, shapes, actions "
                                     "and number of senders. Add the real ones to the catalog.")
    common(dc)
    view(dc)
    dc.add_argument("--since", help="from this local day or time")
    dc.add_argument("--until", help="up to this local day (inclusive) or time")
    dc.add_argument("--json", action="store_true")
    dc.set_defaults(func=cmd_discover)
    from guard.cli.shadow import register as register_shadow  # `guard audit shadow`: its own module
    register_shadow(asub, common)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _action_code(v: str) -> str:
    """An action given by its code or its Chinese word (拦截 -> block)."""
    from guard.display import ACTIONS_ZH

    return {w: k for k, w in ACTIONS_ZH.items()}.get(v.strip(), v.strip())


def _dirs(args) -> list[str]:
    return args.audit_dir or ["var/audit"]


def _tz(args):
    return zone("UTC" if getattr(args, "utc", False) else getattr(args, "tz", None))


def _range(args, tz):
    """--since/--until as UTC bounds: a day is a calendar day in the zone shown."""
    return bound(args.since, tz), bound(args.until, tz, end=True)


def _names(args) -> Names:
    return Names.load(getattr(args, "policy", None))


def _for_machines(r: dict, names: Names, tz) -> dict:
    """The record as written, plus what a person reads (added fields: nothing renamed)."""
    t = local(r.get("ts") or "", tz)
    out = dict(r)
    if t is not None:
        out["ts_local"] = t.isoformat(timespec="milliseconds")
    out["rules"] = [{**x, "title": names.title(x.get("id", "")), "category": names.category(x.get("id", ""))}
                    for x in r.get("rules") or []]
    return out


def cmd_list(args) -> int:
    tz, names, en = _tz(args), _names(args), args.lang == "en"
    since, until = _range(args, tz)
    recs = [r for r in records(_dirs(args)) if matches(r, since, until, args.action, args.rule, args.user, args.host)]
    if args.json:
        for r in recs:
            print(json.dumps(_for_machines(r, names, tz), ensure_ascii=False))
    elif args.csv:
        from guard.console.rows import to_csv

        sys.stdout.write(to_csv(recs, names, tz, args.lang))
    else:
        for r in recs:
            rules = ", ".join(names.label(x.get("id", ""), args.lang) for x in r.get("rules") or [])
            who = r.get("user") or r.get("client") or "-"
            print(f"{local_text(r.get('ts') or '', tz)}  {_pad(action_word(r.get('action'), args.lang), 8)} "
                  f"{r.get('event_id')}  {_pad(who, 15)} {r.get('host') or ''}{(r.get('path') or '')[:40]}"
                  + (f"  {rules}" if rules else ""))
        label = zone_label(tz)
        print(f"{len(recs)} event(s), times {label}" if en else f"共 {len(recs)} 条（{len(recs)} event(s)），时间为{label}")
    return 0


def _pad(text: str, width: int) -> str:
    # Chinese characters take two columns in a terminal.
    w = sum(2 if ord(c) > 0x2E7F else 1 for c in text)
    return text + " " * max(0, width - w)


def cmd_show(args) -> int:
    tz, names = _tz(args), _names(args)
    for r in records(_dirs(args)):
        if r.get("event_id") == args.event_id:
            if args.json:
                print(json.dumps(_for_machines(r, names, tz), ensure_ascii=False, indent=2))
            else:
                print("\n".join(_describe(r, names, tz, args.lang)))
            return 0
    print(f"guard: error: no event {args.event_id} in {', '.join(_dirs(args))}", file=sys.stderr)
    return 1


def _describe(r: dict, names: Names, tz, lang: str) -> list[str]:
    """One event for a person: labelled lines; a field that is not there is left out, not shown empty."""
    en = lang == "en"
    out: list[tuple[str, str]] = []

    def add(zh: str, eng: str, *values):
        text = " · ".join(str(v) for v in values if v not in (None, "", [], {}))
        if text:
            out.append((eng if en else zh, text))

    add("事件", "event", r.get("event_id"))
    add("时间", "time", f"{local_text(r.get('ts') or '', tz)}（{zone_label(tz)}）" if not en else
        f"{local_text(r.get('ts') or '', tz)} ({zone_label(tz)})", f"UTC {r.get('ts')}" if tz is not zone("UTC") else "")
    act = action_word(r.get("action"), lang)
    add("动作", "action", act + (f"（{r.get('action')}）" if not en and act != r.get("action") else ""),
        ("试运行将" if not en else "monitor would ") + action_word(r["would"], lang) if r.get("would") else "",
        ("豁免：" if not en else "exempt: ") + str(r["exempt"]) if r.get("exempt") else "")
    for x in r.get("rules") or []:
        rid = x.get("id", "")
        add("规则", "rule", names.label(rid, lang), action_word(x.get("action"), lang), severity_word(x.get("severity"), lang),
            (f"{x['count']} 处" if not en else f"{x['count']}x") if x.get("count") else "",
            "试运行" if x.get("mode") == "monitor" and not en else x.get("mode"))
        for loc, exc in zip(x.get("locations") or [], x.get("excerpts") or []):
            add("  位置", "  at", loc, exc)
    add("服务", "service", r.get("provider"), r.get("category"), r.get("activity"))
    add("请求", "request", " ".join(v for v in (r.get("method"), (r.get("host") or "") + (r.get("path") or "")) if v))
    add("用户", "user", r.get("user"), r.get("department"), r.get("client"))
    size = r.get("body_size")
    add("内容散列", "body", r.get("body_sha256"),
        (f"{size} 字节" if not en else f"{size} bytes") if isinstance(size, int) and r.get("body_sha256") else "")
    for f in r.get("files") or []:
        add("文件", "file", f.get("name"), f.get("type"), f"{f['size']} B" if f.get("size") is not None else "",
            f.get("sha256"))
    pol = r.get("policy") or {}
    add("策略", "policy", pol.get("id"), pol.get("sha256"))
    add("确认", "acknowledges", r.get("acknowledges"), r.get("reason"))
    appr = r.get("approval") or {}
    add("审批", "approval", appr.get("decision"), appr.get("by"), appr.get("event"))
    add("备注", "note", r.get("note"))
    add("链位置", "chain", r.get("node"), f"seq {r['seq']}" if r.get("seq") is not None else "", r.get("hash"))
    width = max(sum(2 if ord(c) > 0x2E7F else 1 for c in k) for k, _ in out)
    return [f"{_pad(k, width)}  {v}" for k, v in out]


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


_SECTIONS = {"by_day": "按日", "by_action": "按动作", "by_rule": "按规则", "by_provider": "按服务",
             "by_user": "按用户", "monitor_would_by_rule": "试运行规则（将会）", "exempt_by_scope": "豁免（按范围）"}


def cmd_stats(args) -> int:
    tz, names, en = _tz(args), _names(args), args.lang == "en"
    since, until = _range(args, tz)
    s = stats((r for r in records(_dirs(args)) if matches(r, since, until)), day=lambda ts: local_day(ts, tz))
    if args.json:
        # Days are calendar days in the zone shown (named in `zone`); keys stay ids and action codes.
        s["zone"] = "UTC" if tz is zone("UTC") else getattr(tz, "key", str(tz))
        s["rule_titles"] = {k: names.title(k) for k in s["by_rule"]}
        print(json.dumps(s, ensure_ascii=False))
        return 0
    for section, counts in s.items():
        if not isinstance(counts, dict):
            continue
        title = section.replace("_", " ") if en else _SECTIONS.get(section, section)
        if section == "by_day":
            title += f" ({zone_label(tz)})" if en else f"（{zone_label(tz)}）"
        print(title + ":")
        for k, v in counts.items():
            if section == "by_action":
                k = action_word(k, args.lang)
                if k in ("放行", "allowed") and s.get("allow_background"):
                    k += (f" (of which {s['allow_background']} background: pages, icons)" if en else
                          f"（其中后台请求 {s['allow_background']} 次：页面、图标等）")
            elif section == "by_rule":
                k = names.label(k, args.lang)
            print(f"  {v:7d}  {k}")
    return 0


def cmd_discover(args) -> int:
    tz = _tz(args)
    since, until = _range(args, tz)
    found = discover(r for r in records(_dirs(args)) if matches(r, since, until))
    if args.json:
        print(json.dumps(found, ensure_ascii=False))
        return 0
    for h in found:
        shapes = ",".join(h["shapes"])
        actions = ",".join(f"{k}:{v}" for k, v in h["actions"].items())
        print(f"{h['count']:7d}  {h['host']:40s} {local_text(h['first_seen'], tz)} .. {local_text(h['last_seen'], tz)}  "
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
    write(_dirs(args), args.start, args.end, args.format, out, args.key_file, tz=_tz(args), names=_names(args))
    print(f"wrote {out}")
    return 0
