"""Several guard processes on one port: the kernel's SO_REUSEPORT spreads connections over them.

Each process is a node of its own (`guard_node` = HOST-N, its own audit chain under
AUDIT_DIR/HOST-N, its own metrics port); clients connect to the port directly, so every process
sees the real client address (no balancer in between that would hide it). A process that exits
is started again; SIGTERM/SIGINT stop all, SIGHUP is passed on (reload).
"""
from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def reuse_port() -> None:
    """Make mitmproxy's listeners bind with SO_REUSEPORT (every process on the port sets it)."""
    from mitmproxy.proxy import mode_servers

    class _Asyncio:
        def __getattr__(self, name):
            return getattr(asyncio, name)

        @staticmethod
        async def start_server(*args, **kwargs):
            kwargs.setdefault("reuse_port", True)
            return await asyncio.start_server(*args, **kwargs)

    mode_servers.asyncio = _Asyncio()


def node_name(i: int) -> str:
    return f"{socket.gethostname()}-{i}"


def supervise(argv_for, n: int) -> int:
    """Run n child processes (argv_for(i) each), restart any that exits, until told to stop."""
    procs: dict[int, subprocess.Popen] = {}
    stopping = False

    def start(i: int) -> None:
        procs[i] = subprocess.Popen(argv_for(i))

    def stop(signum, _frame):
        nonlocal stopping
        stopping = True
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signum if signum != signal.SIGINT else signal.SIGTERM)

    def hup(_signum, _frame):
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGHUP)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, hup)
    for i in range(1, n + 1):
        start(i)
    restarts: dict[int, float] = {}
    while not stopping:
        time.sleep(0.5)
        for i, p in list(procs.items()):
            if p.poll() is not None and not stopping:
                # A crash loop (bad option) is not retried faster than every 5 s.
                if time.monotonic() - restarts.get(i, 0) > 5:
                    print(f"guard proxy: process {i} exited ({p.returncode}); starting it again",
                          file=sys.stderr, flush=True)
                    restarts[i] = time.monotonic()
                    start(i)
    for p in procs.values():
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
    return 0


def child_audit_dir(audit_dir: str, i: int) -> str:
    return str(Path(audit_dir) / node_name(i))


def shared_ack_state(audit_dir: str) -> tuple[str, str]:
    """(key file, directory) the processes of one host share for acknowledgements."""
    base = Path(audit_dir)
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = base / "ack.key"
    if not key.exists():
        import os
        import secrets

        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
    return str(key), str(base / "acks")


def ensure_ca(mitm_args: list[str]) -> None:
    """Create mitmproxy's CA in the confdir the processes will use, if it is not there yet."""
    import os

    from mitmproxy.certs import CertStore
    from mitmproxy.options import CONF_BASENAME, CONF_DIR, KEY_SIZE

    confdir = CONF_DIR
    for i, a in enumerate(mitm_args):
        value = a if a.startswith("confdir=") else (mitm_args[i + 1] if a == "--set" and i + 1 < len(mitm_args)
                                                    and mitm_args[i + 1].startswith("confdir=") else "")
        if value.startswith("confdir="):
            confdir = value.split("=", 1)[1]
    path = Path(os.path.expanduser(confdir))
    path.mkdir(parents=True, exist_ok=True)
    CertStore.from_store(path, CONF_BASENAME, KEY_SIZE)
