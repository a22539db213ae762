"""`guard approve`: a security officer's decision on a warning submitted for approval."""
from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("approve", help="approve (or reject) a warning a user submitted for approval",
                       description="Decide on a warned request that a user submitted for approval (rules with "
                                   "`ack: approval`; audited as `pending_approval`). EVENT is the warned request's "
                                   "event id (or the submission's). An approval lets that user's retry of the "
                                   "same flagged content pass once; the guard records the decision in the audit "
                                   "record of that retry.")
    p.add_argument("event")
    p.add_argument("--audit-dir", action="append", metavar="DIR",
                   help="audit directory (default: var/audit); repeat for every node: the decision is "
                        "written beside each node's trail, so the retry passes on whichever node it reaches")
    p.add_argument("--reject", action="store_true", help="reject instead of approve")
    p.add_argument("--by", default=None, help="officer's name (default: the login name)")
    p.add_argument("--note", default="", help="a short note kept with the decision")
    p.set_defaults(func=run)


def run(args) -> int:
    from guard.audit.query import records
    from guard.errors import AuditError

    dirs = args.audit_dir or ["var/audit"]
    submitted = None
    for r in records(dirs):
        if r.get("action") == "pending_approval" and args.event in (r.get("event_id"), r.get("acknowledges")):
            submitted = r
    if submitted is None:
        raise AuditError(f"no submission for approval with event {args.event} in {', '.join(dirs)}")
    event = submitted["acknowledges"]
    targets = [Path(d) / "approvals" / f"{event}.json" for d in dirs]
    for target in targets:
        if target.exists():
            raise AuditError(f"event {event} was already decided ({target})")
    decision = {"event": event, "decision": "rejected" if args.reject else "approved",
                "by": args.by or getpass.getuser(), "note": args.note[:200], "user": submitted.get("user"),
                "client": submitted.get("client"), "reason": submitted.get("reason")}
    for target in targets:
        target.parent.mkdir(mode=0o750, exist_ok=True)
        tmp = target.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(decision, f, ensure_ascii=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)  # whole or not at all: the guard never reads half a decision
    who = submitted.get("user") or submitted.get("client") or "?"
    print(f"{decision['decision']} {event} for {who} (reason given: {submitted.get('reason') or '-'})",
          file=sys.stdout)
    return 0
