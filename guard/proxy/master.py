"""A lean mitmproxy master for `guard proxy`: only the addons an egress guard needs.

mitmdump runs ~40 built-in addons, most of them idle for an egress guard. This master
keeps the proxy core, TLS, proxy authentication, upstream auth, map_remote/modify_headers
(used by operators and tests), and the guard, whose dispatch.py offers each event only to
the addons with a hook for it, here as under mitmdump. No termlog: the guard's Telemetry
addon renders mitmproxy's log records too (structlog; JSON lines unless on a terminal).
"""
from __future__ import annotations

from mitmproxy import master
from mitmproxy.addons import (
    block, core, disable_h2c, dns_resolver, errorcheck, mapremote, modifyheaders, next_layer,
    proxyauth, proxyserver, termlog, tlsconfig, upstream_auth,
)

from guard.proxy.addon import GuardAddon


class GuardMaster(master.Master):
    def __init__(self, options, loop=None, with_termlog: bool = False):
        super().__init__(options, event_loop=loop, with_termlog=False)
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
