"""The configuration in force: policies, catalog, identity map and the inspection workers that
hold the same policies, as one immutable snapshot that is swapped whole on reload.

A request takes the snapshot current when its headers arrive and is decided under it to the
end, while a reload builds the next one off the event loop: the new files are loaded and every
rule's examples run first; anything wrong and the old snapshot stays in force (logged at error
level and counted). Files are watched (polled once a second; editors replace files rather than
write them in place, so inode, size and mtime are compared) and SIGHUP reloads at once.
"""
from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass, field

from mitmproxy import ctx
from mitmproxy.exceptions import OptionsError

from guard import obs
from guard.errors import GuardError
from guard.proxy import no_intercept
from guard.proxy.pool import InspectionPool
from guard.proxy.snapshot import Snapshot, build, signature

WATCH_SECONDS = 1.0
SETTLE_SECONDS = 0.3   # an editor's save is several writes; read the files once they settle
BODY_SLACK = 1 << 20   # body_size_limit above the policy's max_bytes: Content-Length over max_bytes
                       # is answered by the guard (403, audited); a chunked body is cut by mitmproxy


@dataclass
class _Auto:
    """Option values this addon set itself (and so may change on reload)."""
    allow_hosts: list = field(default_factory=list)
    body_size_limit: str = ""


class PolicyState:
    def __init__(self):
        self.current: Snapshot | None = None
        self._watcher: asyncio.Task | None = None
        self._signature: tuple = ()
        self._auto = _Auto()
        self._reloading: asyncio.Task | None = None
        self._pool_key = None
        self._workers = 0
        self._applying = False
        self._no_intercept: list[str] | None = None

    def load(self, loader):
        loader.add_option("guard_policy", str, "", "AI guard policy YAML (default: policies/default.yaml).")
        loader.add_option("guard_catalog", str, "", "AI endpoint catalog YAML (default: policies/catalog.yaml).")
        loader.add_option("guard_identity", str, "",
                          "Identity map YAML: CIDR -> department, IP -> user, groups (empty: proxy-auth user only).")
        loader.add_option("guard_reload", bool, True,
                          "Watch the policy, its extended files and lists, the catalog and the identity map, "
                          "and reload on change (SIGHUP reloads too).")
        loader.add_option("guard_intercept", str, "wide",
                          "wide (default): intercept TLS for catalog hosts and every other host except the "
                          "guard_no_intercept list and private addresses (sets allow_hosts), so an AI-shaped "
                          "request to a relay outside the catalog is inspected; "
                          "catalog: intercept TLS only for catalog hosts (sets allow_hosts); "
                          "all: intercept every TLS connection (but ignore_hosts), so a request whose SNI is "
                          "a CDN name and whose Host is an AI service (domain fronting), and AI-shaped requests "
                          "to hosts outside the catalog, are seen and inspected; "
                          "operator: leave allow_hosts/ignore_hosts as configured.")
        loader.add_option("guard_no_intercept", str, "",
                          "Hosts never intercepted in guard_intercept=wide, one per line (default: "
                          "policies/no-intercept.txt: banking, health, pinned update services).")
        loader.add_option("guard_workers", int, -1,
                          "Processes that inspect uploads (bodies over 64 KB): -1 one per CPU, "
                          "0 none (inspect in threads of the proxy process).")
        loader.add_option("guard_worker_memory", int, 3072,
                          "Address-space limit per inspection worker in MB (0: none); past it the upload is blocked.")

    def configure(self, updated):
        opts = ctx.options
        if opts.guard_intercept not in ("wide", "catalog", "all", "operator"):
            raise OptionsError(f"Cannot parse guard_intercept: {opts.guard_intercept!r} (wide, catalog, all or operator)")
        if "guard_no_intercept" in updated or self._no_intercept is None:
            try:
                self._no_intercept = no_intercept.load(opts.guard_no_intercept or None)
            except GuardError as e:
                raise OptionsError(f"Cannot load guard_no_intercept: {e}") from None
        if opts.guard_workers < -1 or opts.guard_worker_memory < 0:
            raise OptionsError("guard_workers must be -1, 0 or more, guard_worker_memory 0 or more")
        if self.current is None or updated & {"guard_policy", "guard_catalog", "guard_identity"}:
            try:
                snap = build(opts.guard_policy or None, opts.guard_catalog or None, opts.guard_identity or None)
            except GuardError as e:
                raise OptionsError(f"Cannot load AI guard policy: {e}") from None
            self._install(snap)
        elif updated & {"guard_workers", "guard_worker_memory"}:
            self._install(self.current)
        if updated & {"guard_intercept", "guard_no_intercept", "allow_hosts", "ignore_hosts", "body_size_limit"}:
            self._apply_options()

    def _install(self, snap: Snapshot, seen: tuple | None = None) -> None:
        """Make `snap` current, with workers holding its policies; the old workers finish
        what they hold and exit."""
        opts = ctx.options
        workers = (os.cpu_count() or 1) if opts.guard_workers == -1 else opts.guard_workers
        key = (tuple(sorted((k, v or "") for k, v in snap.policies.items())), workers, opts.guard_worker_memory,
               tuple(e.policy.sha256 for e in snap.engines.values()))
        old = self.current
        if old is not None and old.pool is not None and key == self._pool_key:
            snap.pool = old.pool
        elif workers and self._watcher is not None:
            # Only once running: a start-up that fails on a later option then exits cleanly,
            # without worker processes (and their semaphore tracker) to outlive it.
            snap.pool = InspectionPool(snap.accepted(), workers, opts.guard_worker_memory)
            snap.pool.warm()
        self._workers = workers
        self._pool_key = key
        self.current = snap
        # What the snapshot was read from: taken before reading (`seen`), so an edit made while it
        # was being built still differs at the next poll and is loaded then.
        self._signature = seen if seen is not None else signature(snap.files)
        policy = snap.policy
        obs.POLICY.info({"policy_id": policy.id, "sha256": policy.sha256, "rules": str(len(policy.rules)),
                         "catalog": snap.catalog.source})
        if old is not None and old.pool is not None and old.pool is not snap.pool:
            old.pool.close(cancel=False)
        self._apply_options()

    def _apply_options(self) -> None:
        # opts.update() below configures every addon again, and a rollback after another
        # addon's error configures us again: never from inside our own update.
        if self._applying or self.current is None:
            return
        self._applying = True
        try:
            self._set_derived_options(self.current)
        finally:
            self._applying = False

    def _set_derived_options(self, snap: Snapshot) -> None:
        opts = ctx.options
        mine = not opts.allow_hosts or opts.allow_hosts == self._auto.allow_hosts
        if opts.guard_intercept in ("catalog", "wide") and mine and not opts.ignore_hosts:
            hosts = snap.catalog.allow_hosts()
            if opts.guard_intercept == "wide":
                try:  # re-read on every reload (SIGHUP); a broken edit keeps the list in force
                    self._no_intercept = no_intercept.load(opts.guard_no_intercept or None)
                except GuardError as e:
                    obs.event("policy_rejected", level="error", reason="guard_no_intercept", error=str(e))
                hosts = hosts + [no_intercept.allow_pattern(self._no_intercept or [])]
            if hosts != opts.allow_hosts:
                self._auto.allow_hosts = hosts
                opts.update(allow_hosts=hosts)
        elif opts.guard_intercept == "all" and self._auto.allow_hosts and opts.allow_hosts == self._auto.allow_hosts:
            self._auto.allow_hosts = []  # switched to `all` at run time: drop what the other modes set
            opts.update(allow_hosts=[])
        if "body_size_limit" in opts and (not opts.body_size_limit or opts.body_size_limit == self._auto.body_size_limit):
            # Bodies are buffered to be inspected: mitmproxy cuts one that grows past this while
            # it streams in (chunked, no Content-Length), so memory stays bounded.
            limit = str(snap.max_bytes + BODY_SLACK)
            if limit != opts.body_size_limit:
                self._auto.body_size_limit = limit
                opts.update(body_size_limit=limit)

    def running(self):
        if self._watcher is not None:
            return
        loop = asyncio.get_running_loop()
        self._watcher = loop.create_task(self._watch())
        snap = self.current
        if snap is not None and snap.pool is None and self._workers:
            snap.pool = InspectionPool(snap.accepted(), self._workers, ctx.options.guard_worker_memory)
            snap.pool.warm()
        try:
            loop.add_signal_handler(signal.SIGHUP, lambda: self.reload_soon("SIGHUP"))
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no SIGHUP here
            pass
        policy = self.current.policy
        obs.event("started", policy=policy.id, policy_sha256=policy.sha256, rules=len(policy.rules),
                  catalog=self.current.catalog.source, workers=self.current.pool.workers if self.current.pool else 0)

    def done(self):
        if self._watcher is not None:
            self._watcher.cancel()
        if self.current is not None and self.current.pool is not None:
            self.current.pool.close()

    async def _watch(self):
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            if not ctx.options.guard_reload or self.current is None:
                continue
            sig = await asyncio.to_thread(signature, self.current.files)
            if sig != self._signature:
                await asyncio.sleep(SETTLE_SECONDS)
                await self.reload("file changed")

    def reload_soon(self, reason: str) -> None:
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.get_running_loop().create_task(self.reload(reason))

    async def reload(self, reason: str) -> bool:
        opts = ctx.options
        old = self.current
        attempted = signature(old.files)
        try:
            snap = await asyncio.to_thread(build, opts.guard_policy or None, opts.guard_catalog or None,
                                           opts.guard_identity or None)
        except GuardError as e:
            # Remember what was tried: the same broken files are not reloaded every second.
            self._signature = attempted
            obs.RELOADS.labels("rejected").inc()
            obs.event("policy_rejected", level="error", reason=reason, error=str(e),
                      kept=old.policy.sha256 if old else None)
            return False
        except Exception as e:  # a bug in loading must not stop the proxy: keep the old policy
            self._signature = attempted
            obs.RELOADS.labels("rejected").inc()
            obs.event("policy_rejected", level="error", reason=reason, error=f"{type(e).__name__}: {e}")
            return False
        if self.current is not old:  # an option change installed something newer meanwhile
            return False
        # A file edited while the snapshot was being built (a second save, `guard register`
        # then `guard hash-terms`) may not be in it: then nothing counts as seen, and the next
        # poll loads again.
        edited_meanwhile = await asyncio.to_thread(signature, old.files) != attempted
        self._install(snap, () if edited_meanwhile else None)
        obs.RELOADS.labels("ok").inc()
        obs.event("policy_reloaded", reason=reason, policy=snap.policy.id, policy_sha256=snap.policy.sha256,
                  previous=old.policy.sha256 if old else None, rules=len(snap.policy.rules))
        return True
