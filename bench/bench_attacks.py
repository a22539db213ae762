"""Resource attacks against `guard proxy`: the proxy's memory and other users' prompt latency
while each attack runs. Not a timed test: prints a table (run with `make bench-attacks`).

For each attack: three connections send 4 KB prompts in a loop while a fourth client runs the
attack; the proxy's peak RSS is sampled from /proc every 50 ms (its inspection workers are
separate processes, bounded by guard_worker_memory, and reported apart).
Targets (issue 8): proxy RSS < 300 MB, prompt p99 < 50 ms.
"""
from __future__ import annotations

import argparse
import base64
import gzip
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_proxy import (HOST, connect, http_request, load, prompt_4k, read_response, start_proxy,  # noqa: E402
                         start_upstream)


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []


def _send(port, cafile, raw: bytes, read=True) -> int:
    s = connect(port, cafile)
    try:
        s.sendall(raw)
        return read_response(s, bytearray()) if read else 0
    except (OSError, ConnectionError):
        return -1
    finally:
        s.close()


def attack_chunked(port, cafile, stop):
    """Bodies of 200 MB with no Content-Length, one after another."""
    while not stop.is_set():
        s = connect(port, cafile)
        s.sendall(f"POST /v1/files HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/octet-stream\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n".encode())
        chunk = b"x" * (1 << 20)
        try:
            for _ in range(200):
                if stop.is_set():
                    break
                s.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        except OSError:
            pass
        s.close()


def _bomb(kind: str) -> bytes:
    if kind == "zstd":
        try:
            from compression import zstd
        except ImportError:
            from backports import zstd
        return zstd.compress(b"\0" * (1 << 30))
    return gzip.compress(b"\0" * (256 << 20), 9)


def attack_bomb(kind):
    bomb = _bomb(kind)

    def run(port, cafile, stop):
        raw = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
               f"Content-Encoding: {kind}\r\nContent-Length: {len(bomb)}\r\n\r\n").encode() + bomb
        while not stop.is_set():
            _send(port, cafile, raw)
    return run


def attack_warn_flood(port, cafile, stop):
    n = 0
    s = connect(port, cafile)
    buf = bytearray()
    while not stop.is_set():
        n += 1
        body = json.dumps({"messages": [{"role": "user", "content": f"内部资料 注意保存\n第{n}份"}]},
                          ensure_ascii=False).encode()
        s.sendall(http_request("/v1/chat/completions", body, "application/json"))
        read_response(s, buf)
    s.close()


def attack_trickle(port, cafile, stop):
    """40 connections each sending a body one byte a second."""
    socks = []
    for _ in range(40):
        s = connect(port, cafile)
        s.sendall(f"POST /v1/chat/completions HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                  "Content-Length: 100000\r\n\r\n{".encode())
        socks.append(s)
    while not stop.is_set():
        for s in socks:
            try:
                s.sendall(b" ")
            except OSError:
                pass
        stop.wait(1)
    for s in socks:
        s.close()


def attack_data_urls(port, cafile, stop):
    """60 KB bodies (inline-sized) holding many small zip files as data: URLs."""
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.txt", "普通内容" * 2000)
    url = "data:application/zip;base64," + base64.b64encode(buf.getvalue()).decode()
    content = [{"type": "file", "file": {"file_data": url}}] * max(1, 60000 // len(url))
    body = json.dumps({"messages": [{"role": "user", "content": content}]}).encode()
    while not stop.is_set():
        _send(port, cafile, http_request("/v1/chat/completions", body, "application/json"))


def attack_split_uploads(port, cafile, stop):
    """Many upload sessions left open with 1 MB parts."""
    n = 0
    while not stop.is_set():
        n += 1
        raw = (f"PUT /file-{n} HTTP/1.1\r\nHost: files.oaiusercontent.com\r\nContent-Range: bytes 0-{(1 << 20) - 1}/{8 << 20}\r\n"
               f"Content-Length: {1 << 20}\r\n\r\n").encode() + b"a" * (1 << 20)
        _send(port, cafile, raw)


ATTACKS = {"chunked-200MB": attack_chunked, "zstd-bomb": attack_bomb("zstd"), "gzip-bomb": attack_bomb("gzip"),
           "warn-flood": attack_warn_flood, "trickle-40": attack_trickle, "data-url-zips": attack_data_urls,
           "split-upload-sessions": attack_split_uploads}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--attacks", default=",".join(ATTACKS))
    args = ap.parse_args()
    up, up_port = start_upstream()
    tmp = Path(tempfile.mkdtemp())
    cafile = str(tmp / "conf" / "mitmproxy-ca-cert.pem")
    request = http_request("/v1/chat/completions", prompt_4k(), "application/json")
    proc, port = start_proxy("guard", up_port, tmp / "conf", tmp / "audit")
    print(f"{'attack':24s} {'proxy RSS peak':>15s} {'workers peak':>13s} {'prompt p50':>11s} {'prompt p99':>11s} {'req/s':>7s}")
    try:
        lat, _ = load(port, cafile, request, 3, 3)
        base = sorted(lat)
        print(f"{'(none)':24s} {rss_mb(proc.pid):12.0f} MB {'':>13s} {statistics.median(base) * 1000:8.2f} ms "
              f"{base[int(len(base) * 0.99)] * 1000:8.2f} ms {len(base) / 3:7.0f}")
        for name in args.attacks.split(","):
            # A fresh proxy per attack: one attack's high-water mark is not the next one's floor.
            proc.terminate()
            proc.wait(10)
            proc, port = start_proxy("guard", up_port, tmp / "conf", tmp / f"audit-{name}")
            load(port, cafile, request, 1, 3)  # warm: first TLS handshakes, worker start-up
            stop = threading.Event()
            peak = [0.0, 0.0]

            def sample():
                while not stop.is_set():
                    peak[0] = max(peak[0], rss_mb(proc.pid))
                    peak[1] = max([peak[1], *(rss_mb(c) for c in children(proc.pid))])
                    time.sleep(0.05)
            sampler = threading.Thread(target=sample, daemon=True)
            attacker = threading.Thread(target=ATTACKS[name], args=(port, cafile, stop), daemon=True)
            sampler.start()
            attacker.start()
            time.sleep(0.5)
            lat, errors = load(port, cafile, request, args.seconds, 3)
            stop.set()
            attacker.join(10)
            lat.sort()
            p99 = lat[int(len(lat) * 0.99)] * 1000
            verdict = "ok" if peak[0] < 300 and p99 < 50 else "OVER TARGET"
            print(f"{name:24s} {peak[0]:12.0f} MB {peak[1]:10.0f} MB {statistics.median(lat) * 1000:8.2f} ms "
                  f"{p99:8.2f} ms {len(lat) / args.seconds:7.0f}  {verdict}{f' ({errors} errors)' if errors else ''}")
    finally:
        proc.terminate()
        proc.wait(10)
        up.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
