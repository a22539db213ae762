"""mitmproxy's global context for tests that keep one test context for a whole module."""
from __future__ import annotations


def bind_context(tctx) -> None:
    """Point mitmproxy's global `ctx` at this test context's master. Every Master sets `ctx` when
    it is made, so a context kept for a whole module is no longer the one addons read once
    another test has made its own (the addon would then read that test's options)."""
    from mitmproxy import ctx

    ctx.master = tctx.master
    ctx.options = tctx.options
    ctx.log = tctx.master.log
