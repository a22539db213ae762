"""Scale-out on this machine: `guard proxy --processes 1` vs `--processes 2` (SO_REUSEPORT, one
port), 4 KB prompts over kept-alive TLS connections from client processes (not threads: the
load generator must not be the bottleneck), req/s and p50/p99.

    python bench/bench_scale.py [--seconds 5] [--clients 2] [--conns 4]
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_proxy import BIN, free_port, http_request, load, prompt_4k, start_upstream, wait_port  # noqa: E402


def client(port: int, cafile: str, request: bytes, seconds: float, conns: int, q) -> None:
    lat, err = load(port, cafile, request, seconds, conns)
    q.put((lat, err))


def run(processes: int, up_port: int, tmp: Path, args) -> tuple[float, float, float, int]:
    port = free_port()
    confdir = tmp / "conf"
    proc = subprocess.Popen([str(BIN / "guard"), "proxy", "--processes", str(processes), "--listen-port", str(port),
                             "--audit-dir", str(tmp / f"audit-{processes}"), "--", "--set", f"confdir={confdir}",
                             "--map-remote", f"|^https://[^/]+|http://127.0.0.1:{up_port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        time.sleep(2 if processes > 1 else 0.5)  # every process listening
        request = http_request("/v1/chat/completions", prompt_4k(), "application/json")
        cafile = str(confdir / "mitmproxy-ca-cert.pem")
        q = mp.Queue()
        workers = [mp.Process(target=client, args=(port, cafile, request, args.seconds, args.conns, q))
                   for _ in range(args.clients)]
        for w in workers:
            w.start()
        results = [q.get() for _ in workers]
        for w in workers:
            w.join()
        lat = [x for r in results for x in r[0]]
        errors = sum(r[1] for r in results)
        return (len(lat) / args.seconds, statistics.median(lat) * 1000, sorted(lat)[int(len(lat) * 0.99) - 1] * 1000,
                errors)
    finally:
        proc.terminate()
        proc.wait(20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--clients", type=int, default=2, help="client processes")
    ap.add_argument("--conns", type=int, default=4, help="connections per client process")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    up, up_port = start_upstream()
    tmp = Path(tempfile.mkdtemp())
    try:
        print(f"4 KB prompts, {args.clients} client processes x {args.conns} kept-alive TLS connections, "
              f"{args.rounds} x {args.seconds:g}s:")
        for n in (1, 2):
            runs = [run(n, up_port, tmp, args) for _ in range(args.rounds)]
            best = max(runs)
            print(f"  --processes {n}: {best[0]:7.1f} req/s   p50 {best[1]:6.2f} ms   p99 {best[2]:6.2f} ms   "
                  f"errors {best[3]}   (rounds: {', '.join(f'{r[0]:.0f}' for r in runs)} req/s)")
    finally:
        up.terminate()


if __name__ == "__main__":
    main()
