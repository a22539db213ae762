"""A deadline for an AI request's body to arrive (option guard_body_timeout).

A slow trickle holds buffers and a connection slot: a body still arriving past its deadline is
cut off (the request then never reaches the AI service; inspect.py audits that in the error hook).
"""
from __future__ import annotations

import asyncio
import time

from mitmproxy import ctx, http
from mitmproxy.exceptions import OptionsError

from guard.proxy.snapshot import META

CUT = META + "_cut"  # flow.metadata: why the body was cut off


class BodyDeadlines:
    def __init__(self):
        self._awaiting: dict[str, tuple[http.HTTPFlow, float]] = {}  # flows whose body is still arriving
        self._sweeper: asyncio.Task | None = None

    def load(self, loader):
        loader.add_option("guard_body_timeout", int, 60,
                          "Seconds an AI request's body may take to arrive; a body still trickling in then is cut off.")

    def configure(self, updated):
        if ctx.options.guard_body_timeout <= 0:
            raise OptionsError(f"Cannot parse guard_body_timeout: {ctx.options.guard_body_timeout} (seconds, above 0)")

    def running(self):
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    def done(self):
        if self._sweeper:
            self._sweeper.cancel()

    def watch(self, flow: http.HTTPFlow) -> None:
        """The body of this AI request is still to come: give it a deadline."""
        self._awaiting[flow.id] = (flow, time.monotonic() + ctx.options.guard_body_timeout)

    def arrived(self, flow: http.HTTPFlow) -> None:
        self._awaiting.pop(flow.id, None)

    async def _sweep(self):
        # One sweep a second, not a timer per request: the common small body is complete long
        # before its deadline and costs a dict insert and delete.
        while True:
            await asyncio.sleep(1)
            now = time.monotonic()
            for fid, (flow, deadline) in list(self._awaiting.items()):
                if flow.request.timestamp_end or not flow.live:
                    self._awaiting.pop(fid, None)
                elif now > deadline:
                    self._awaiting.pop(fid, None)
                    cut_off(flow)


def cut_off(flow: http.HTTPFlow) -> None:
    """Cut off a request whose body is still arriving.
    mitmproxy cannot kill a flow in transit (its issue 4711): the client connection is closed."""
    if not flow.live or flow.request.timestamp_end or flow.response is not None or flow.error is not None:
        return
    flow.metadata[CUT] = f"request body took longer than {ctx.options.guard_body_timeout}s to arrive"
    try:
        handler = ctx.master.addons.get("proxyserver").connections[flow.client_conn.id]
        task = handler.transports[handler.client].handler
        task.cancel(flow.metadata[CUT])
    except (AttributeError, KeyError, TypeError):
        if flow.killable:
            flow.kill()
