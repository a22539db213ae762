"""The lean master offers an event only to addons with a hook for it: the same hooks run, in
chain order, child addons included, and an addon added later is offered its events."""
import asyncio

from mitmproxy import options
from mitmproxy.proxy.layers.http import HttpRequestHook, HttpResponseHook
from mitmproxy.test import tflow

from guard.proxy.master import HookedAddons


class Recorder:
    def __init__(self, name, calls):
        self.name, self.calls = name, calls

    def request(self, flow):
        self.calls.append((self.name, "request"))


class WithChild:
    def __init__(self, calls):
        self.addons = [Recorder("child", calls)]


class Late:
    def __init__(self, calls):
        self.calls = calls

    def response(self, flow):
        self.calls.append(("late", "response"))


class FakeMaster:
    options = options.Options()


def test_only_addons_with_the_hook_are_offered_the_event():
    calls = []
    mgr = HookedAddons(FakeMaster())
    mgr.chain = [Recorder("first", calls), WithChild(calls), Recorder("last", calls)]
    f = tflow.tflow()
    asyncio.run(mgr.trigger_event(HttpRequestHook(f)))
    assert calls == [("first", "request"), ("child", "request"), ("last", "request")]
    assert mgr._with_hook("request") == [mgr.chain[0], mgr.chain[1], mgr.chain[2]]
    calls.clear()
    asyncio.run(mgr.trigger_event(HttpResponseHook(f)))
    assert calls == [] and mgr._with_hook("response") == []
    mgr.chain.append(Late(calls))  # the chain changed: asked again
    asyncio.run(mgr.trigger_event(HttpResponseHook(f)))
    assert calls == [("late", "response")]
