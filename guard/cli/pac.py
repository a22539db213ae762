"""`guard pac`: the PAC file for browsers and WPAD, generated from the catalog."""
from __future__ import annotations

import re
import sys


def register(sub) -> None:
    p = sub.add_parser("pac", help="write the PAC file (from the catalog) to stdout",
                       description="Write a proxy auto-config file. Intranet destinations (plain host names, "
                                   "*.local, private IP literals, --intranet suffixes) go DIRECT first; the AI hosts "
                                   "the catalog names (exact hosts, path-scoped ones by that host alone) and the "
                                   "acknowledgement host go to the guards only (fail closed: no DIRECT for AI hosts); "
                                   "everything else goes to --fallback, so a guard outage touches AI traffic only.")
    p.add_argument("--guard", action="append", metavar="HOST:PORT",
                   help="the guard's address (default 127.0.0.1:8080); repeat for several nodes: each client "
                        "is sent to one by its address, the others are its failover")
    p.add_argument("--fallback", default="DIRECT", metavar="PROXY",
                   help="where non-AI traffic goes: DIRECT (default) or HOST:PORT of an existing proxy; "
                        "never used for AI hosts (a policy choice: with every guard down, AI traffic stops)")
    p.add_argument("--intranet", action="append", default=[], metavar="SUFFIX",
                   help="an intranet domain suffix (corp.example) that always goes DIRECT; repeatable")
    p.add_argument("--storage", action="store_true",
                   help="also send the catalog's shared object storage domains (whole cloud domains) to the "
                        "guards, with --fallback after them; off by default (blast radius)")
    p.add_argument("--unknown", action="store_true",
                   help="send every other internet host to the guards too, --fallback after them: browsers' "
                        "traffic to AI relays and uncatalogued AI sites is then inspected (the guard decrypts it: "
                        "README Shadow AI); a guard outage costs a failover, not the traffic")
    p.add_argument("--catalog", help="catalog YAML (default: policies/catalog.yaml)")
    p.add_argument("--hosts", action="store_true",
                   help="instead: the catalog's AI host names, one per line (for firewall address sets; hosts the "
                        "catalog shares with other traffic by path are left out)")
    p.set_defaults(func=run)


def run(args) -> int:
    from guard.catalog import load_catalog
    from guard.errors import GuardError
    from guard.pac import render

    guards = args.guard or ["127.0.0.1:8080"]
    for g in guards:
        if not g.strip() or any(c in g for c in "\"'\\\n;"):
            raise GuardError(f"--guard: {g!r} is not HOST:PORT")
    if any(c in args.fallback for c in "\"'\\\n;"):
        raise GuardError(f"--fallback: {args.fallback!r} is not DIRECT or HOST:PORT")
    for s in args.intranet:
        if not re.fullmatch(r"\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?", s):
            raise GuardError(f"--intranet: {s!r} is not a domain suffix (corp.example)")
    catalog = load_catalog(args.catalog)
    if args.hosts:
        # Hosts that are AI services as a whole: a host shared with other traffic (a path-scoped
        # entry such as api.github.com/copilot_internal) is not put in a firewall set.
        from guard.catalog import ACK_HOST
        from guard.pac import routes
        for host in routes(catalog).suffixes:
            if host != ACK_HOST:
                print(host)
        return 0
    sys.stdout.write(render(catalog, guards, args.fallback, args.intranet, args.storage, args.unknown))
    return 0
