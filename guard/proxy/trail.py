"""The audit trail the proxy writes (options guard_audit_dir, _key, _group, guard_node).

Fail closed: a record that cannot be written blocks its request (act.py decides that); every
failure is logged and counted here. Allowed requests are written at once and fsynced a batch at
a time (group commit, every 0.2 s); blocks and warnings are durable before their answer leaves.
"""
from __future__ import annotations

import asyncio
import socket
import time

from mitmproxy import ctx
from mitmproxy.exceptions import OptionsError

from guard import obs
from guard.audit.chain import load_key
from guard.audit.writer import AuditWriter
from guard.errors import AuditError, GuardError

GROUP_COMMIT_SECONDS = 0.2


class AuditTrail:
    def __init__(self):
        self.writer: AuditWriter | None = None
        self._syncer: asyncio.Task | None = None

    def load(self, loader):
        loader.add_option("guard_audit_dir", str, "var/audit", "Directory of the AI guard's hash-chained audit log.")
        loader.add_option("guard_audit_key", str, "", "File holding an HMAC key for the audit chain (optional).")
        loader.add_option("guard_audit_group", str, "",
                          "Group that may read the audit trail (dir 0750, files 0640); empty: owner only (0700/0600).")
        loader.add_option("guard_node", str, "",
                          "This node's name in every audit record and log line (default: the host name).")

    def configure(self, updated):
        opts = ctx.options
        if self.writer is None or updated & {"guard_audit_dir", "guard_audit_key", "guard_audit_group", "guard_node"}:
            try:
                writer = AuditWriter(opts.guard_audit_dir, load_key(opts.guard_audit_key or None),
                                     opts.guard_audit_group or None, opts.guard_node or socket.gethostname())
            except GuardError as e:
                raise OptionsError(f"Cannot open AI guard audit log: {e}") from None
            if self.writer is not None:
                self.writer.close()
            self.writer = writer

    def running(self):
        if self._syncer is None:
            self._syncer = asyncio.get_running_loop().create_task(self._group_commit())

    async def _group_commit(self):
        while True:
            await asyncio.sleep(GROUP_COMMIT_SECONDS)
            try:
                await asyncio.to_thread(self.writer.sync)
            except AuditError as e:
                obs.AUDIT_FAILURES.inc()
                obs.event("audit_failed", level="error", error=str(e), during="sync")

    def done(self):
        if self._syncer:
            self._syncer.cancel()
        if self.writer:
            self.writer.close()

    def write(self, rec: dict, durable: bool) -> None:
        """Append `rec` (fsynced now when `durable`); raises AuditError, logged and counted."""
        started = time.perf_counter()
        try:
            self.writer.write(rec, durable)
        except AuditError as e:
            obs.AUDIT_FAILURES.inc()
            obs.event("audit_failed", level="error", error=str(e), event_id=rec.get("event_id"))
            raise
        finally:
            obs.AUDIT_SECONDS.observe(time.perf_counter() - started)
