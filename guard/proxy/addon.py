"""The mitmproxy addon: wires mitmproxy's hooks to the guard's parts, and nothing else.

    requestheaders     -> classify.py   which service, who, what activity; access rules
    request            -> inspect.py    body -> verdict, inline or pooled (ack.py: the coaching page)
    error              -> inspect.py    a body cut off before it was whole is audited
                          upstream.py   an allowed request's AI service unreachable: explained, logged
    websocket_message  -> websocket.py  client messages inspected, blocked ones dropped
    responseheaders    -> stream.py     responses stream through untouched (pseudo.py: restored)
and below them act.py (a verdict becomes a response and an audit record), state.py (the policy
snapshot in force, reloaded), trail.py (the audit writer), acks.py (the acknowledgement store),
deadline.py (bodies that trickle in), telemetry.py and shipping.py; dispatch.py makes the
master offer each event only to the addons that have a hook for it.

The parts are not registered as child addons: mitmproxy offers every event (~25 per request)
to every addon, and more addons cost ~3% of throughput for hooks they do not have. This one
passes the lifecycle hooks on to them in a fixed order (state first). Fail closed everywhere:
a body that cannot be read, an extraction error, a decision past its time budget, an audit log
that cannot be written or a bug in the guard all block the request.
"""
from __future__ import annotations

from mitmproxy import http

from guard.proxy import stream, upstream
from guard.proxy.ack import AckEndpoint
from guard.proxy.acks import Acknowledgements
from guard.proxy.act import Act
from guard.proxy.classify import Classify
from guard.proxy.deadline import BodyDeadlines
from guard.proxy.dispatch import Dispatch
from guard.proxy.inspect import Inspect
from guard.proxy.pseudo import META as PSEUDO
from guard.proxy.shipping import AuditShipping
from guard.proxy.snapshot import ACK
from guard.proxy.state import PolicyState
from guard.proxy.telemetry import Telemetry
from guard.proxy.trail import AuditTrail
from guard.proxy.websocket import WebSocketMessages


class GuardAddon:
    def __init__(self):
        self.state = PolicyState()
        self.trail = AuditTrail()
        self.acks = Acknowledgements()
        self.deadlines = BodyDeadlines()
        self.act = Act(self.trail, self.acks)
        self.classify = Classify(self.state, self.act, self.deadlines)
        self.inspect = Inspect(self.act)
        self.ack = AckEndpoint(self.state, self.trail, self.acks)
        self.websocket = WebSocketMessages(self.act)
        telemetry, shipping, dispatch = Telemetry(), AuditShipping(), Dispatch()
        # Options are declared and configured in this order; the event loop's tasks start with
        # the trail's group commit; shutdown stops shipping before the trail closes.
        self._configured = (self.state, telemetry, shipping, self.trail, self.inspect, self.deadlines, self.ack,
                           dispatch)
        self._started = (self.trail, self.deadlines, self.state, telemetry, shipping)
        self._stopped = (shipping, telemetry, self.state, self.deadlines, self.inspect, self.trail, dispatch)

    # -- lifecycle ------------------------------------------------------------------
    def load(self, loader):
        for part in self._configured:
            part.load(loader)

    def configure(self, updated):
        for part in self._configured:
            part.configure(updated)

    def running(self):
        for part in self._started:
            part.running()

    def done(self):
        for part in self._stopped:
            part.done()

    # -- traffic ---------------------------------------------------------------------
    def requestheaders(self, flow: http.HTTPFlow):
        return self.classify.requestheaders(flow)

    def request(self, flow: http.HTTPFlow):
        return self.act.guarded(flow, self._request)

    def _request(self, flow: http.HTTPFlow):
        self.deadlines.arrived(flow)
        if flow.response or flow.error or not flow.live:
            return None
        if flow.metadata.get(ACK):
            return self.ack.request(flow)
        return self.inspect.request(flow)

    def error(self, flow: http.HTTPFlow):
        self.deadlines.arrived(flow)
        self.inspect.error(flow)
        upstream.error(flow)  # an allowed request's AI service unreachable: explained, logged

    def responseheaders(self, flow: http.HTTPFlow):
        stream.responseheaders(flow, self.act.pseudo)

    def response(self, flow: http.HTTPFlow):
        self.inspect.response(flow)  # an upload part's id, for the completing request's part list
        if PSEUDO in flow.metadata:  # a pseudonymised request's whole answer: real values restored
            self.act.pseudo.response(flow, stream.sender(flow))

    def websocket_message(self, flow: http.HTTPFlow):
        if PSEUDO in flow.metadata and flow.websocket is not None and not flow.websocket.messages[-1].from_client:
            return self.websocket.restore(flow, self.act.pseudo)  # the service's frames: real values restored
        return self.websocket.websocket_message(flow)
