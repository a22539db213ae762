"""The guard's dispatcher calls exactly the hooks mitmproxy's own AddonManager calls, in the same
order, with the same outcome: generated addon trees (hooks sync or async, raising, halting, not
callable, module-valued, adding or removing addons mid-event) and generated sequences of events,
registrations, removals and options changes run against a stock manager and an installed one."""
import asyncio
import logging
import types

from hypothesis import example, given, settings, strategies as st
from mitmproxy import addonmanager, exceptions, hooks, options
from mitmproxy.proxy.layers.http import HttpRequestHook, HttpResponseHook
from mitmproxy.test import taddons, tflow

from guard.proxy import dispatch
from guard.proxy.addon import GuardAddon

EVENTS = ("request", "response", "running", "update")
BEHAVIOURS = ("ok", "async", "raise", "halt", "options_error", "not_callable", "module", "falsy",
              "add_addon", "remove_last")


class Commands:
    def collect_commands(self, addon):
        pass


class Master:
    def __init__(self):
        self.options = options.Options()
        self.commands = Commands()


class Node:
    """An addon built from a spec; every call it sees lands in the shared log."""

    def __init__(self, world, spec, path):
        self.name = f"n{path}"
        self._world = world
        hooks_, children = spec
        for event, behaviour in hooks_.items():
            setattr(self, event, self._hook(event, behaviour))
        if children is not None:
            self.addons = [Node(world, c, f"{path}.{i}") for i, c in enumerate(children)]

    def __repr__(self):
        return self.name

    def _hook(self, event, behaviour):
        log = self._world.log
        if behaviour == "not_callable":
            return 7
        if behaviour == "module":
            return types.ModuleType("log")
        if behaviour == "falsy":
            return 0
        if behaviour == "async":
            async def hook(*args):
                await asyncio.sleep(0)
                log.append((self.name, event, len(args)))
            return hook

        def hook(*args):
            log.append((self.name, event, len(args)))
            if behaviour == "raise":
                raise ValueError(f"{self.name} failed")
            if behaviour == "halt":
                raise exceptions.AddonHalt()
            if behaviour == "options_error":
                raise exceptions.OptionsError(f"{self.name} refused")
            if behaviour == "add_addon":
                self._world.add_fresh()
            if behaviour == "remove_last":
                chain = self._world.manager.chain
                if chain:
                    self._world.manager.remove(chain[-1])
        return hook


class World:
    def __init__(self, installed: bool):
        self.log: list = []
        self.manager = addonmanager.AddonManager(Master())
        if installed:
            dispatch.install(self.manager)
        self.fresh = 0

    def add_fresh(self):
        self.fresh += 1
        self.manager.add(Node(self, ({e: "ok" for e in EVENTS}, None), f"f{self.fresh}"))


def event_of(name, flow):
    return {"request": HttpRequestHook(flow), "response": HttpResponseHook(flow), "running": hooks.RunningHook(),
            "update": hooks.UpdateHook([flow])}[name]


hook_specs = st.dictionaries(st.sampled_from(EVENTS),
                             st.sampled_from(BEHAVIOURS).filter(lambda b: b not in ("add_addon", "remove_last"))
                             | st.sampled_from(BEHAVIOURS), max_size=3)
trees = st.recursive(st.tuples(hook_specs, st.none()),
                     lambda kids: st.tuples(hook_specs, st.lists(kids, max_size=3)), max_leaves=6)
operations = st.lists(st.one_of(
    st.tuples(st.just("event"), st.sampled_from(EVENTS)),
    st.tuples(st.just("add"), trees),
    st.tuples(st.just("remove"), st.integers(0, 8)),
    st.tuples(st.just("adopt"), st.integers(0, 8), trees),       # register a child, then attach it
    st.tuples(st.just("reorder"), st.integers(0, 8)),             # children reordered in configure
    st.tuples(st.just("disown"), st.integers(0, 8)),              # a child removed, then detached
    st.tuples(st.just("replace_chain"), st.integers(0, 8)),
), max_size=25)


class Errors(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def run(installed, chain_specs, ops):
    world = World(installed)
    errors = Errors()
    logger = logging.getLogger(addonmanager.__name__)
    logger.addHandler(errors)
    flow = tflow.tflow()
    outcome = []
    try:
        for i, spec in enumerate(chain_specs):
            world.manager.add(Node(world, spec, str(i)))
        for n, op in enumerate(ops):
            roots = world.manager.chain
            if op[0] == "event":
                try:
                    asyncio.run(world.manager.trigger_event(event_of(op[1], flow)))
                    outcome.append("done")
                except exceptions.OptionsError as e:
                    outcome.append(f"options error {e}")
            elif op[0] == "add":
                world.manager.add(Node(world, op[1], f"a{n}"))
            elif op[0] == "remove" and roots:
                world.manager.remove(roots[op[1] % len(roots)])
            elif op[0] == "adopt" and roots:
                parent = roots[op[1] % len(roots)]
                child = Node(world, op[2], f"c{n}")
                world.manager.register(child)
                parent.addons = [*getattr(parent, "addons", []), child]
            elif op[0] == "reorder" and roots:
                parent = roots[op[1] % len(roots)]
                if getattr(parent, "addons", None):
                    parent.addons = parent.addons[::-1]
                    world.manager.master.options.update(listen_port=8080 + n)
            elif op[0] == "disown" and roots:
                parent = roots[op[1] % len(roots)]
                if getattr(parent, "addons", None):
                    child = parent.addons[0]
                    world.manager.remove(child)
                    parent.addons = parent.addons[1:]
            elif op[0] == "replace_chain" and roots:
                world.manager.chain = roots[op[1] % len(roots):] + roots[:op[1] % len(roots)]
    finally:
        logger.removeHandler(errors)
    return world.log, errors.messages, outcome


TWO_CHILDREN = ({}, [({"request": "ok"}, None), ({"request": "ok"}, None)])


@settings(max_examples=300, deadline=None)
@given(st.lists(trees, max_size=5), operations)
# Each way the index goes stale, once for certain: a child registered and attached, children
# reordered in a configure, a child removed and detached, the chain replaced.
@example([({}, [])], [("event", "request"), ("adopt", 0, ({"request": "ok"}, None)), ("event", "request")])
@example([TWO_CHILDREN], [("event", "request"), ("reorder", 0), ("event", "request")])
@example([TWO_CHILDREN], [("event", "request"), ("disown", 0), ("event", "request")])
@example([({"request": "ok"}, None), ({"request": "ok"}, None)],
         [("event", "request"), ("replace_chain", 1), ("event", "request")])
# An addon appended during an event is offered it, unless a later hook halted the event.
@example([({"request": "add_addon"}, None), ({"request": "halt"}, None)], [("event", "request")])
def test_same_hooks_same_order_same_errors_as_mitmproxy(chain_specs, ops):
    assert run(True, chain_specs, ops) == run(False, chain_specs, ops)


def test_an_event_reaches_only_the_addons_with_its_hook():
    """What the dispatcher saves: an addon without the hook is not walked at all."""
    world = World(installed=True)
    for i, spec in enumerate([({"request": "ok"}, None), ({}, [({}, None), ({"request": "ok"}, None)]), ({}, None)]):
        world.manager.add(Node(world, spec, str(i)))
    index = world.manager._guard_dispatch
    assert [[a.name for a in subs] for subs in index.hooked("request")] == [["n0"], ["n1.1"]]
    assert index.hooked("response") == []


def test_the_guard_installs_it_and_the_option_takes_it_off():
    with taddons.context() as tctx:
        manager = tctx.master.addons
        tctx.master.addons.add(GuardAddon())
        assert dispatch.installed(manager)
        tctx.configure(tctx.master.addons.get("guardaddon"), guard_dispatch=False)
        assert not dispatch.installed(manager)
        assert manager.trigger_event.__func__ is addonmanager.AddonManager.trigger_event
        tctx.configure(tctx.master.addons.get("guardaddon"), guard_dispatch=True)
        assert dispatch.installed(manager)
        manager.remove(manager.get("guardaddon"))   # the guard unloaded: mitmproxy's own dispatch again
        assert not dispatch.installed(manager)
