"""Inspection worker processes: large bodies (uploads) are read there.

Their extraction (lxml, PDFium, zip) then neither holds the proxy's GIL, so other users'
prompts are not delayed, nor takes the proxy down if a hostile file crashes a parser or
exhausts memory.
"""
from __future__ import annotations

import asyncio
import concurrent.futures as cf
import hashlib
import logging
import multiprocessing as mp
import os
import resource

from guard.policy import load_policy
from guard.rules import Policy
from guard.proxy.body import Request, fail, inspect
from guard.scanner import Engine

log = logging.getLogger("guard")


# -- worker process side --------------------------------------------------------------
_engines: dict[str, Engine] = {}


def _init_worker(policies: dict[str, str | None], memory_mb: int) -> None:
    # Below the proxy in CPU priority: on a busy host, forwarding other users' prompts goes
    # before reading the next upload.
    os.nice(10)
    if memory_mb:
        # A decompression or parser blow-up past this raises MemoryError in the worker
        # (a blocking verdict) instead of pushing the proxy host into swap.
        limit = memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    by_path: dict[object, Engine] = {}
    for category, path in policies.items():
        # The accepted Policy itself (a replacement worker then holds what the proxy accepted,
        # never a file edited since, possibly rejected); a path only from older callers.
        key = path.sha256 if isinstance(path, Policy) else path
        if key not in by_path:
            by_path[key] = Engine(path if isinstance(path, Policy) else load_policy(path))
        _engines[category] = by_path[key]


def _inspect_in_worker(category: str, req: Request, started: float):
    verdict, parts, files = inspect(_engines[category], req, started)
    # Parts (the extracted text) travel back only when redaction needs them; the body's
    # digest for the audit is taken here, off the proxy's event loop.
    keep = verdict.action == "redact" or any(f.action == "pseudonymise" for f in verdict.findings)
    return verdict, (parts if keep else []), files, hashlib.sha256(req.body).hexdigest()


def _ready() -> int:
    return os.getpid()


class InspectionPool:
    """Worker processes with the same policies as the proxy. Broken or stuck workers are
    replaced; the request they held is blocked (fail closed)."""

    def __init__(self, policies: dict[str, "str | None | Policy"], workers: int, memory_mb: int):
        self.policies, self.workers, self.memory_mb = dict(policies), workers, memory_mb
        self._pool = self._new()

    def _new(self) -> cf.ProcessPoolExecutor:
        # forkserver: workers are not forked from the proxy's threads and event loop.
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["guard.proxy.pool"])
        return cf.ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                      initargs=(self.policies, self.memory_mb))

    def warm(self) -> None:
        """Start every worker now, so the first upload does not wait for one."""
        for _ in range(self.workers):
            self._pool.submit(_ready)

    async def inspect(self, category: str, req: Request, started: float, budget: float):
        """(verdict, parts, files, body sha256 or None)."""
        pool = self._pool
        try:
            fut = pool.submit(_inspect_in_worker, category, req, started)
            return await asyncio.wait_for(asyncio.wrap_future(fut), timeout=budget)
        except TimeoutError:
            self._replace(pool, kill=True)
            return fail("uninspectable.limit", "decision took longer than the time budget"), [], [], None
        except (cf.process.BrokenProcessPool, RuntimeError):  # RuntimeError: submitted to a pool shut down
            self._replace(pool, kill=False)
            return fail("uninspectable.corrupt", "the inspection worker died on this content"), [], [], None
        except Exception as e:  # e.g. a result that cannot be sent back: never let the request pass
            log.exception("inspection in a worker failed")
            return fail("uninspectable.corrupt", f"{type(e).__name__}: {e}"), [], [], None

    def _replace(self, pool: cf.ProcessPoolExecutor, kill: bool) -> None:
        if pool is not self._pool:
            return  # another request already replaced it
        from guard import obs  # not at import: workers (which preload this module) never use it

        reason = "timeout" if kill else "worker_died"
        obs.WORKER_RESTARTS.labels(reason).inc()
        obs.event("workers_restarted", level="warning", reason=reason, workers=self.workers)
        self._pool = self._new()
        if kill:
            # A worker stuck in a parser never returns: end the processes, not just the queue.
            # Requests still queued on them fail as BrokenProcessPool, i.e. are blocked.
            procs = getattr(pool, "_processes", None) or {}
            for proc in list(procs.values()):
                proc.kill()
        pool.shutdown(wait=False)

    def close(self, cancel: bool = True) -> None:
        """Stop the workers; with cancel=False (a policy reload) they finish what they hold first."""
        self._pool.shutdown(wait=False, cancel_futures=cancel)
