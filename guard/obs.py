"""Observability: structured logs (structlog) and Prometheus metrics, one place for both.

Code that has something to report calls the functions here (`decision`, `event`, the metric
objects); the telemetry addon only decides where logs go and serves /metrics. Nothing here ever
receives content: callers pass ids, counts and names.
"""
from __future__ import annotations

import json
import logging
import sys
import time

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

# -- metrics -------------------------------------------------------------------------------
REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter("guard_requests", "AI requests decided, by provider and action",
                   ["provider", "action"], registry=REGISTRY)
WOULD = Counter("guard_monitor_would", "Requests a monitor-mode rule would have stopped, by rule and action",
                ["rule", "would"], registry=REGISTRY)
DECISION_SECONDS = Histogram("guard_decision_seconds", "Time from a whole request to its decision",
                             buckets=(.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30),
                             registry=REGISTRY)
INSPECTED_BYTES = Counter("guard_inspected_bytes", "Request bytes inspected (as sent)", registry=REGISTRY)
UNINSPECTABLE = Counter("guard_uninspectable", "Content that could not be inspected, by reason",
                        ["reason"], registry=REGISTRY)
AUDIT_SECONDS = Histogram("guard_audit_write_seconds", "Audit record write time (durable writes include fsync)",
                          buckets=(.0001, .0005, .001, .0025, .005, .01, .025, .05, .1, .5, 1), registry=REGISTRY)
AUDIT_FAILURES = Counter("guard_audit_failures", "Audit writes that failed (the request was blocked)",
                         registry=REGISTRY)
RELOADS = Counter("guard_policy_reloads", "Policy/catalog/identity reloads by result", ["result"], registry=REGISTRY)
POLICY = Info("guard_policy", "The policy in force", registry=REGISTRY)
WORKER_RESTARTS = Counter("guard_worker_restarts", "Inspection worker pools replaced, by reason",
                          ["reason"], registry=REGISTRY)
PENDING = Gauge("guard_inspections_in_flight", "Requests being inspected off the event loop", registry=REGISTRY)

# -- logs ----------------------------------------------------------------------------------
_second = [-1, ""]  # the last whole second formatted: one line per request, a strftime per second


def _now_iso() -> str:
    now = time.time()
    sec = int(now)
    if sec != _second[0]:
        _second[:] = [sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))]
    return f"{_second[1]}.{int(now % 1 * 1000):03d}Z"


def _timestamp(_logger, _name, event: dict) -> dict:
    # ISO 8601 UTC with milliseconds, at a tenth of TimeStamper's cost: one line per request.
    event["timestamp"] = _now_iso()
    return event


_SHARED = [structlog.processors.add_log_level, _timestamp]


_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str, separators=(",", ":"))


def _dumps(obj, **kw) -> str:
    return _ENCODER.encode(obj)  # one encoder, not one built per line as json.dumps(**options) does


def _renderer(fmt: str, stream) -> structlog.types.Processor:
    if fmt == "auto":
        fmt = "console" if getattr(stream, "isatty", lambda: False)() else "json"
    if fmt == "console":
        return structlog.dev.ConsoleRenderer(colors=stream.isatty())
    return structlog.processors.JSONRenderer(serializer=_dumps)


def _logger(stream, renderer):
    # bind(): the concrete logger, not the lazy proxy that rebuilds it on every call.
    return structlog.wrap_logger(structlog.WriteLogger(stream), processors=[*_SHARED, renderer],
                                 wrapper_class=structlog.make_filtering_bound_logger(logging.INFO)).bind()


def _json_writer(log, renderer):
    """The WriteLogger under `log` when it renders JSON lines: the decision line (one per request)
    is then rendered here directly, the same line at a third of the processor chain's cost."""
    return log._logger if isinstance(renderer, structlog.processors.JSONRenderer) else None


_log = _logger(sys.stderr, _renderer("json", sys.stderr))
_json_out = _json_writer(_log, structlog.processors.JSONRenderer())
_handler: logging.Handler | None = None


def configure(fmt: str = "auto", stream=None, own_stdlib: bool = True) -> None:
    """Logs to `stream` (stderr) as JSON lines or console lines. With own_stdlib, records of the
    standard `logging` module (mitmproxy's own, the guard's warnings) go through the same
    renderer; under mitmdump its termlog prints those instead."""
    global _log, _json_out, _handler
    stream = stream or sys.stderr
    renderer = _renderer(fmt, stream)
    _log = _logger(stream, renderer)
    _json_out = _json_writer(_log, renderer)
    if not own_stdlib:
        return
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = logging.StreamHandler(stream)
    _handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *_SHARED],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer]))
    root.addHandler(_handler)
    root.setLevel(logging.INFO)
    # One line per connection would drown the one line per decision.
    for name in ("mitmproxy.proxy.server", "mitmproxy.proxy.layers", "mitmproxy.addons.dumper"):
        logging.getLogger(name).setLevel(logging.WARNING)


def event(name: str, level: str = "info", **fields) -> None:
    getattr(_log, level)(name, **fields)


def decision(*, event_id: str, action: str, rules, provider: str, host: str, client: str, user: str | None,
             department: str | None, decision_ms: float, body_size: int, policy: str, kind: str = "http",
             activity: str = "", would: str | None = None, exempt: str | None = None) -> None:
    """The one canonical line per decided request (metadata only) and its metrics."""
    counter = _REQUESTS.get((provider, action))
    if counter is None:  # labels() takes a lock and builds a key each time: one lookup instead
        counter = _REQUESTS[(provider, action)] = REQUESTS.labels(provider, action)
    counter.inc()
    DECISION_SECONDS.observe(decision_ms / 1000)
    INSPECTED_BYTES.inc(body_size)
    fields = {"event_id": event_id, "action": action, "rules": list(rules), "provider": provider, "host": host,
              "client": client, "user": user, "department": department, "decision_ms": decision_ms,
              "body_size": body_size, "policy": policy, "kind": kind, "activity": activity}
    if would:
        fields["would"] = would
    if exempt:
        fields["exempt"] = exempt
    out = _json_out
    if out is None:
        _log.info("decision", **fields)
        return
    # What structlog's chain makes of it (add_log_level, _timestamp, JSONRenderer), keys in that order.
    fields["event"], fields["level"], fields["timestamp"] = "decision", "info", _now_iso()
    out.msg(_ENCODER.encode(fields))


_REQUESTS: dict[tuple[str, str], object] = {}
