"""`guard console`: the auditors' web console, and its accounts."""
from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("console", help="the auditors' read-only web console (and its accounts)",
                       description="Serve the read-only audit console (dashboard, events, integrity, discovery, "
                                   "exports, monthly report) for one or more audit directories. Accounts: "
                                   "`guard console add-user --users FILE NAME --role auditor|officer` (password on "
                                   "stdin), remove-user, list-users.")
    p.add_argument("--audit-dir", action="append", metavar="DIR", help="audit directory; repeat for several nodes")
    p.add_argument("--users", help="users file (guard console add-user makes it)")
    p.add_argument("--listen", default="127.0.0.1:8081", metavar="HOST:PORT")
    p.add_argument("--key-file", help="HMAC key file of the audit chains, when the proxy used one")
    p.add_argument("--index", help="SQLite index file (default: under ~/.cache/ai-guard; rebuildable)")
    p.add_argument("--tz", metavar="ZONE", help="time zone of every page, filter and export (default: $GUARD_TZ, "
                                                "else Asia/Shanghai)")
    p.add_argument("--policy", metavar="P", help="policy whose rule names to show (default: policies/default.yaml)")
    csub = p.add_subparsers(dest="console_command", metavar="SUBCOMMAND")
    a = csub.add_parser("add-user", help="add or reset an account (password on stdin)")
    a.add_argument("--users", required=True, dest="users_file")
    a.add_argument("name")
    a.add_argument("--role", required=True, choices=["auditor", "officer"])
    a.set_defaults(func=add_user)
    r = csub.add_parser("remove-user", help="remove an account")
    r.add_argument("--users", required=True, dest="users_file")
    r.add_argument("name")
    r.set_defaults(func=remove_user)
    ls = csub.add_parser("list-users", help="list accounts and roles")
    ls.add_argument("--users", required=True, dest="users_file")
    ls.set_defaults(func=list_users)
    p.set_defaults(func=serve)


def serve(args) -> int:
    from pathlib import Path

    from guard.console import users
    from guard.errors import GuardError

    dirs = args.audit_dir or ["var/audit"]
    for d in dirs:
        if not Path(d).is_dir():
            raise GuardError(f"{d}: no such audit directory")
    if not args.users or not users.load(args.users):
        raise GuardError("--users: no accounts; add one with `guard console add-user --users FILE NAME --role auditor`")
    host, sep, port = args.listen.rpartition(":")
    if not sep or not port.isdigit():
        raise GuardError(f"--listen: {args.listen!r} is not HOST:PORT")
    from guard.console.app import serve as run

    print(f"guard console on http://{args.listen}/ for {', '.join(dirs)}", file=sys.stderr, flush=True)
    run(dirs, args.users, args.listen, args.key_file, args.index, args.tz, args.policy)
    return 0


def add_user(args) -> int:
    from guard.console import users

    password = sys.stdin.readline().rstrip("\n")
    users.add(args.users_file, args.name, args.role, password)
    print(f"{args.name}: {args.role}")
    return 0


def remove_user(args) -> int:
    from guard.console import users
    from guard.errors import GuardError

    if not users.remove(args.users_file, args.name):
        raise GuardError(f"no user {args.name} in {args.users_file}")
    print(f"removed {args.name}")
    return 0


def list_users(args) -> int:
    from guard.console import users

    for name, u in sorted(users.load(args.users_file).items()):
        print(f"{name}\t{u['role']}")
    return 0
