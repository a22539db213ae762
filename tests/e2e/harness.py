"""Harness: a real mitmdump with the guard addon, intercepting TLS with a temporary CA, in front
of a loopback fake upstream that every AI host is mapped to with --map-remote."""
from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
from upstream import Upstream

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 30, log: Path | None = None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"proxy exited: {log.read_text(errors='replace') if log else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("proxy did not start")


class Proxy:
    def __init__(self, tmp: Path, upstream: Upstream, command: str = "mitmdump", policy: Path | None = None,
                 extra_maps: tuple[str, ...] = (), extra_args: tuple[str, ...] = (), default_map: bool = True,
                 guard_args: tuple[str, ...] = ()):
        self.port = free_port()
        self.confdir = tmp / "conf"
        self.audit = tmp / "audit"
        mapping = f"|^https://[^/]+|http://127.0.0.1:{upstream.port}"
        mitm = ["--set", f"confdir={self.confdir}", "--set", "connection_strategy=lazy"]
        for m in (*extra_maps, *([mapping] if default_map else [])):  # applied in order: specific hosts first
            mitm += ["--map-remote", m]
        mitm += list(extra_args)
        if command == "mitmdump":
            args = [str(BIN / "mitmdump"), "-q", "-s", str(ROOT / "addons" / "ai_guard.py"),
                    "--listen-host", "127.0.0.1", "--listen-port", str(self.port),
                    "--set", f"guard_audit_dir={self.audit}", *mitm]
            if policy:
                args += ["--set", f"guard_policy={policy}"]
        else:
            args = [str(BIN / "guard"), "proxy", "--audit-dir", str(self.audit), "--listen-port", str(self.port),
                    *guard_args]
            if policy:
                args += ["--policy", str(policy)]
            args += ["--", *mitm]
        # Output to files, never a pipe nobody reads: one log line per decision would fill a
        # pipe's buffer and stall the proxy.
        tmp.mkdir(parents=True, exist_ok=True)
        self.stdout_path, self.stderr_path = tmp / "proxy.out", tmp / "proxy.err"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(args, stdout=out, stderr=err)
        wait_port(self.port, self.proc, log=self.stderr_path)

    def log_lines(self) -> list[str]:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace").splitlines()

    def client(self, auth: str = "", **kw) -> httpx.Client:
        # The client trusts only this proxy's freshly generated CA.
        tls = ssl.create_default_context(cafile=str(self.confdir / "mitmproxy-ca-cert.pem"))
        return httpx.Client(proxy=f"http://{auth + '@' if auth else ''}127.0.0.1:{self.port}", verify=tls, timeout=30, **kw)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()




def acknowledge(client: httpx.Client, link: str, reason: str = "") -> httpx.Response:
    """What a person does with a warning's link: open the coaching page, pick a reason, confirm."""
    import re
    page = client.get(link)
    assert page.status_code == 200, page.text[:300]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    reasons = re.findall(r'name="reason" value="([^"]+)"', page.text)
    return client.post(link, data={"csrf": csrf, "reason": reason or (reasons[0] if reasons else ""), "note": ""})
