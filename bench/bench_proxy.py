"""Proxy benchmark: requests/s and latency of AI requests through the guard vs bare mitmdump.

Variants, all with TLS interception and the same loopback upstream (via --map-remote):
  bare   mitmdump with no addon script
  addon  mitmdump -s addons/ai_guard.py (the guard installs its event dispatcher: guard/proxy/dispatch.py)
  addon-stock  the same with --set guard_dispatch=false: the guard's own cost on mitmproxy's dispatch
  guard  guard proxy (the lean master)
  lean   the lean master without the guard addon (the ceiling for `guard proxy`)
Each round runs every variant for --seconds with the same client and concurrency, in
turn, so drift on the machine hits them alike. Prints req/s, p50/p99 and ratios to bare,
and the proxy's CPU time per request (its process and children, from /proc): on a loaded
machine that figure moves far less than req/s does.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus_gen import mixed_text  # noqa: E402

HOST = "api.openai.com"


def upstream_main(port_q):
    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                body = b'{"id":"chatcmpl-1","choices":[{"message":{"role":"assistant","content":"ok"}}]}'
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port_q.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def start_upstream():
    """(process, port) of the loopback upstream every variant is mapped to."""
    q = mp.Queue()
    up = mp.Process(target=upstream_main, args=(q,), daemon=True)
    up.start()
    return up, q.get(timeout=10)


def wait_port(port, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"port {port} did not open")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_proxy(kind, up_port, confdir, audit):
    port = free_port()
    common = ["--set", f"confdir={confdir}", "--set", "connection_strategy=lazy",
              "--map-remote", f"|^https://[^/]+|http://127.0.0.1:{up_port}"]
    if kind == "lean":
        args = [sys.executable, str(ROOT / "bench" / "lean_master.py"), "-q", "--listen-host", "127.0.0.1",
                "--listen-port", str(port), *common]
    elif kind == "guard":
        # As deployed: a JSON decision line per request on stderr (to a file here, the journal
        # there) and Prometheus metrics on.
        args = [str(BIN / "guard"), "proxy", "--listen-port", str(port), "--audit-dir", str(audit),
                "--metrics", f"127.0.0.1:{free_port()}", "--", *common]
    else:
        args = [str(BIN / "mitmdump"), "-q", "--listen-host", "127.0.0.1", "--listen-port", str(port), *common]
        if kind in ("addon", "addon-stock"):
            args += ["-s", str(ROOT / "addons" / "ai_guard.py"), "--set", f"guard_audit_dir={audit}"]
        if kind == "addon-stock":
            args += ["--set", "guard_dispatch=false"]
    with open(Path(audit).parent / f"{kind}-{port}.log", "wb") as log:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)
    wait_port(port)
    return proc, port


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its descendants (inspection workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue  # exited meanwhile
    return total


def connect(proxy_port, cafile):
    s = socket.create_connection(("127.0.0.1", proxy_port))
    s.sendall(f"CONNECT {HOST}:443 HTTP/1.1\r\nHost: {HOST}:443\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx.wrap_socket(s, server_hostname=HOST)


def read_response(sock, buf: bytearray) -> int:
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    while len(rest) < length:
        rest += sock.recv(65536)
    buf[:] = rest[length:]
    return status


def load(proxy_port, cafile, request: bytes, seconds: float, conns: int):
    lat: list[float] = []
    errors = [0]
    stop = time.monotonic() + seconds

    def worker():
        sock = connect(proxy_port, cafile)
        buf = bytearray()
        while time.monotonic() < stop:
            t = time.perf_counter()
            sock.sendall(request)
            if read_response(sock, buf) != 200:
                errors[0] += 1
            lat.append(time.perf_counter() - t)
        sock.close()

    threads = [threading.Thread(target=worker) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat, errors[0]


def http_request(path: str, body: bytes, ctype: str) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nAuthorization: Bearer sk-bench\r\n\r\n").encode() + body


def prompt_4k() -> bytes:
    """An OpenAI chat body of 4 KB (benign mixed zh/en text), as the SDK sends it."""
    text = mixed_text(4000)
    n = len(text)
    while True:
        body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": text[:n]}]},
                          ensure_ascii=False).encode()
        if len(body) <= 4096:
            return body
        n -= 20


def multipart_docx(size: int, image: bool = True) -> tuple[bytes, str]:
    """An unmarked docx: with pictures (its text does not block, so pictures are read by OCR)
    or text only."""
    sys.path.insert(0, str(ROOT / "bench"))
    from bench_engine import make_docx

    doc = make_docx(size, image=image, marked=False)
    boundary = "----guardbench"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nassistants\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"report.docx\"\r\n"
            "Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document\r\n\r\n").encode()
    body += doc + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conns", type=int, default=4)
    ap.add_argument("--variants", default="bare,addon,addon-stock,guard")
    ap.add_argument("--workloads", default="prompt,upload,upload-text,busy",
                    help="which of prompt,upload,upload-text,busy to run")
    args = ap.parse_args()

    up, up_port = start_upstream()
    tmp = Path(tempfile.mkdtemp())
    confdir = tmp / "conf"
    variants = args.variants.split(",")
    procs = {}
    try:
        for v in variants:
            procs[v] = start_proxy(v, up_port, confdir, tmp / f"audit-{v}")
        cafile = str(confdir / "mitmproxy-ca-cert.pem")
        body4k = prompt_4k()
        mp_body, mp_type = multipart_docx(2 * 1024 * 1024)
        text_body, text_type = multipart_docx(2 * 1024 * 1024, image=False)
        workloads = [
            (f"{len(body4k) / 1024:.1f} KB OpenAI prompt", http_request("/v1/chat/completions", body4k, "application/json"),
             args.conns, args.seconds),
            (f"{len(mp_body) / 1e6:.1f} MB multipart docx with pictures", http_request("/v1/files", mp_body, mp_type), 1,
             args.seconds),
            (f"{len(text_body) / 1e6:.1f} MB multipart docx, text only", http_request("/v1/files", text_body, text_type), 1,
             args.seconds),
        ]
        chosen = args.workloads.split(",")
        for (name, req, conns, secs), key in zip(workloads, ("prompt", "upload", "upload-text"), strict=True):
            if key not in chosen:
                continue
            results = {v: ([], 0) for v in variants}
            cpu = dict.fromkeys(variants, 0.0)
            for _ in range(args.rounds):
                for v in variants:
                    before = cpu_seconds(procs[v][0].pid)
                    lat, err = load(procs[v][1], cafile, req, secs, conns)
                    cpu[v] += cpu_seconds(procs[v][0].pid) - before
                    results[v] = (results[v][0] + lat, results[v][1] + err)
            print(f"{name}, {conns} connection(s), {args.rounds} x {secs:g}s per variant:")
            base = len(results["bare"][0]) if "bare" in results else None
            for v in variants:
                lat, err = results[v]
                rps = len(lat) / (args.rounds * secs)
                p50 = statistics.median(lat) * 1000
                p99 = sorted(lat)[int(len(lat) * 0.99) - 1] * 1000
                ratio = f"  {len(lat) / base:.2f}x bare" if base else ""
                per = cpu[v] / len(lat) * 1e6
                print(f"  {v:11s} {rps:8.1f} req/s   p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   errors {err}{ratio}"
                      f"   proxy CPU {per:6.0f} us/req")
        # Other users' prompts while one user keeps uploading: extraction runs off the event loop.
        prompt_req = workloads[0][1]
        upload_req = workloads[1][1]
        if "busy" not in chosen:
            return 0
        # bare too: the upload traffic itself (TLS, 2 MB through the proxy) costs the others something.
        print(f"4 KB prompts on 3 connections while a 4th uploads the docx in a loop, {args.seconds:g}s:")
        for v in variants:
            quiet, _ = load(procs[v][1], cafile, prompt_req, args.seconds, 3)
            stop = threading.Event()

            def uploader(port=procs[v][1]):
                sock = connect(port, cafile)
                buf = bytearray()
                while not stop.is_set():
                    sock.sendall(upload_req)
                    read_response(sock, buf)
                sock.close()

            up_thread = threading.Thread(target=uploader)
            up_thread.start()
            busy, _ = load(procs[v][1], cafile, prompt_req, args.seconds, 3)
            stop.set()
            up_thread.join()
            q50, b50 = statistics.median(quiet) * 1000, statistics.median(busy) * 1000
            q99, b99 = (sorted(x)[int(len(x) * 0.99) - 1] * 1000 for x in (quiet, busy))
            print(f"  {v:11s} prompt p50 {q50:6.2f} -> {b50:6.2f} ms, p99 {q99:6.2f} -> {b99:6.2f} ms")
    finally:
        for proc, _ in procs.values():
            proc.terminate()
        up.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
