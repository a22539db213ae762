"""Where logs go and where /metrics is served: options guard_log_format and guard_metrics."""
from __future__ import annotations

import sys

from mitmproxy import ctx
from mitmproxy.exceptions import OptionsError
from prometheus_client import start_http_server

from guard import obs


class Telemetry:
    def __init__(self):
        self._server = None
        self._metrics_at = ""
        self._format = None

    def load(self, loader):
        loader.add_option("guard_log_format", str, "auto",
                          "auto: JSON lines on stderr, console lines on a terminal; json; console.")
        loader.add_option("guard_metrics", str, "",
                          "HOST:PORT to serve Prometheus metrics at /metrics (empty: off).")

    def configure(self, updated):
        opts = ctx.options
        if opts.guard_log_format not in ("auto", "json", "console"):
            raise OptionsError(f"Cannot parse guard_log_format: {opts.guard_log_format!r} (auto, json or console)")
        if opts.guard_log_format != self._format:
            # Under mitmdump, its termlog prints the standard-logging records; under `guard proxy`
            # (no termlog) they go through the guard's renderer too.
            own = ctx.master.addons.get("termlog") is None
            obs.configure(opts.guard_log_format, sys.stderr, own_stdlib=own)
            self._format = opts.guard_log_format
        if opts.guard_metrics != self._metrics_at:
            self._serve(opts.guard_metrics)

    def _serve(self, where: str) -> None:
        self._stop()
        if where:
            host, sep, port = where.rpartition(":")
            if not sep or not port.isdigit():
                raise OptionsError(f"Cannot parse guard_metrics: {where!r} (HOST:PORT)")
            try:
                self._server = start_http_server(int(port), host.strip("[]") or "127.0.0.1", registry=obs.REGISTRY)
            except OSError as e:
                raise OptionsError(f"Cannot serve metrics on {where}: {e.strerror}") from None
            obs.event("metrics_serving", address=where)
        self._metrics_at = where

    def _stop(self) -> None:
        if self._server is not None:
            server, _thread = self._server
            server.shutdown()
            server.server_close()
            self._server = None

    def running(self):
        pass

    def done(self):
        self._stop()
