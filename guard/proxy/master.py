"""A lean mitmproxy master for `guard proxy`: only the addons an egress guard needs.

mitmdump dispatches every event to ~35 built-in addons; measured here, that dispatch
is over a third of its CPU per request. This master keeps the proxy core, TLS,
proxy authentication, upstream auth, map_remote/modify_headers (used by operators
and tests), and the guard. No termlog: the guard's Telemetry addon renders mitmproxy's
log records too (structlog; JSON lines unless on a terminal).
"""
from __future__ import annotations

from mitmproxy import addonmanager, exceptions, hooks, master
from mitmproxy.addons import (
    block, core, disable_h2c, dns_resolver, errorcheck, mapremote, modifyheaders, next_layer,
    proxyauth, proxyserver, termlog, tlsconfig, upstream_auth,
)

from guard.proxy.addon import GuardAddon


class HookedAddons(addonmanager.AddonManager):
    """Offers an event only to the addons that have a hook for it. The stock manager enters a
    safecall() for every addon on every event (~16 a request with the `update` after each flow
    hook), most of them without a hook for it: a no-op that cost ~5% of the proxy's CPU."""

    def __init__(self, master_):
        super().__init__(master_)
        self._seen: tuple = ()
        self._hooked: dict[str, list] = {}

    def _with_hook(self, name: str) -> list:
        chain = tuple(self.chain)
        if chain != self._seen:  # an addon added or removed: ask again
            self._seen, self._hooked = chain, {}
        hooked = self._hooked.get(name)
        if hooked is None:
            hooked = self._hooked[name] = [a for a in chain
                                           if any(callable(getattr(x, name, None)) for x in addonmanager.traverse([a]))]
        return hooked

    async def trigger_event(self, event: hooks.Hook):
        for addon in self._with_hook(event.name):
            try:
                with addonmanager.safecall():
                    await self.invoke_addon(addon, event)
            except exceptions.AddonHalt:
                return


class GuardMaster(master.Master):
    def __init__(self, options, loop=None, with_termlog: bool = False):
        super().__init__(options, event_loop=loop, with_termlog=False)
        self.addons = HookedAddons(self)
        if with_termlog:
            self._termlog_addon = termlog.TermLog()
            self.addons.add(self._termlog_addon)
        self.addons.add(
            core.Core(),
            block.Block(),            # refuses clients from public addresses unless configured
            proxyauth.ProxyAuth(),    # before the guard: the audit names the user
            proxyserver.Proxyserver(),
            dns_resolver.DnsResolver(),
            next_layer.NextLayer(),
            disable_h2c.DisableH2C(),
            tlsconfig.TlsConfig(),
            upstream_auth.UpstreamAuth(),
            mapremote.MapRemote(),
            modifyheaders.ModifyHeaders(),
            GuardAddon(),
            errorcheck.ErrorCheck(),
        )
