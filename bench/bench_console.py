"""The console over a year of events: write N synthetic records into a chain, build the SQLite
index, then time the events list page (query + rendering) for typical filters, and a refresh
after 1,000 more records (the incremental update).

    python bench/bench_console.py [--events 200000]
"""
from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from starlette.testclient import TestClient  # noqa: E402

from guard.audit.writer import AuditWriter  # noqa: E402
from guard.console import users  # noqa: E402
from guard.console.app import Console  # noqa: E402

RULES = ["state-secret.marking", "internal.marking", "credential.token", "pii.cn-id", "commercial-secret.marking"]


def write(w: AuditWriter, rnd: random.Random, start: int, n: int, days: int) -> None:
    for i in range(start, start + n):
        day = i * days // max(1, start + n)
        action = rnd.choices(["allow", "block", "warn", "ack"], [80, 8, 10, 2])[0]
        w.write({"event_id": f"evt-{i:07d}", "ts": f"2026-{1 + day // 28 % 12:02d}-{1 + day % 28:02d}T"
                 f"{8 + i % 10:02d}:{i % 60:02d}:{i * 7 % 60:02d}.000Z", "action": action,
                 "rules": [] if action in ("allow", "ack") else [{"id": rnd.choice(RULES), "action": action,
                                                                  "count": 1, "locations": ["messages[0]"],
                                                                  "excerpts": ["机密★5年"]}],
                 "provider": rnd.choice(["openai", "deepseek-web", "kimi-web", "claude-web", "doubao-web"]),
                 "host": "api.openai.com", "path": "/v1/chat/completions", "client": f"10.{i % 50}.{i % 200}.{i % 250}",
                 "user": f"user{i % 3000}", "department": f"部门{i % 40}", "body_sha256": "0" * 64, "body_size": 4096},
                False)


def timed(client: TestClient, url: str, runs: int = 7) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        r = client.get(url)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, (url, r.status_code)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--events", type=int, default=200_000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="console-bench-"))
    try:
        rnd = random.Random(1)
        w = AuditWriter(tmp / "audit", node="bench")
        t = time.perf_counter()
        write(w, rnd, 0, args.events, 336)
        w.sync()
        print(f"{args.events:,} records written in {time.perf_counter() - t:.1f} s")
        users.add(tmp / "users.json", "auditor", "auditor", "a-long-password")
        console = Console([str(tmp / "audit")], str(tmp / "users.json"), index_path=str(tmp / "index.sqlite"))
        t = time.perf_counter()
        console.index.refresh()
        print(f"index built in {time.perf_counter() - t:.1f} s, {(tmp / 'index.sqlite').stat().st_size / 1e6:.0f} MB")
        client = TestClient(console.app, base_url="http://testserver")
        page = client.get("/login")
        csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
        client.post("/login", data={"csrf": csrf, "user": "auditor", "password": "a-long-password"},
                    headers={"origin": "http://testserver", "sec-fetch-site": "same-origin"})
        first = client.get("/events").text
        before = first.split("before=")[1].split('"')[0].replace("&amp;", "&") if "before=" in first else ""
        for name, url in [("list, no filter", "/events"), ("list, action=block", "/events?action=block"),
                          ("list, rule=pii", "/events?rule=pii"), ("list, one user", "/events?user=user42"),
                          ("list, one day", "/events?since=2026-06-10&until=2026-06-10"),
                          ("list, next page", f"/events?before={before}"),
                          ("dashboard, 30 days", "/?since=2026-11-01&until=2026-11-30"),
                          ("dashboard, whole year", "/?since=2026-01-01&until=2026-12-31")]:
            print(f"  {name:24s} p50 {timed(client, url):7.1f} ms")
        write(w, rnd, args.events, 1000, 336)
        w.sync()
        t = time.perf_counter()
        added = console.index.refresh()
        print(f"incremental refresh of {added:,} new records: {(time.perf_counter() - t) * 1000:.0f} ms")
        w.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
