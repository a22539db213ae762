"""Ship the audit trail from inside the proxy (options guard_ship, guard_ship_format): the same
follower as `guard audit ship`, in a thread of its own."""
from __future__ import annotations

import threading

from mitmproxy import ctx
from mitmproxy.exceptions import OptionsError

from guard import obs
from guard.audit.ship import FORMATS, Shipper
from guard.errors import GuardError


class AuditShipping:
    def __init__(self):
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def load(self, loader):
        loader.add_option("guard_ship", str, "",
                          "Send the audit trail to a syslog collector: tcp://HOST:PORT or tls://HOST:PORT (empty: off).")
        loader.add_option("guard_ship_format", str, "rfc5424", f"Format of shipped records: {', '.join(FORMATS)}.")

    def configure(self, updated):
        opts = ctx.options
        if opts.guard_ship_format not in FORMATS:
            raise OptionsError(f"Cannot parse guard_ship_format: {opts.guard_ship_format!r} ({', '.join(FORMATS)})")
        if updated & {"guard_ship", "guard_ship_format", "guard_audit_dir"} and self._thread is not None:
            self._halt()
            self.running()

    def running(self):
        opts = ctx.options
        if not opts.guard_ship or self._thread is not None:
            return
        try:
            shipper = Shipper(opts.guard_audit_dir, opts.guard_ship, opts.guard_ship_format,
                              log=lambda m: obs.event("ship_waiting", level="warning", detail=m))
        except GuardError as e:
            obs.event("ship_failed", level="error", error=str(e))
            return
        self._stop.clear()
        self._thread = threading.Thread(target=shipper.follow, args=(self._stop.is_set,), daemon=True,
                                        name="audit-ship")
        self._thread.start()
        obs.event("ship_started", target=opts.guard_ship, format=opts.guard_ship_format)

    def _halt(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._thread = None

    def done(self):
        self._halt()
