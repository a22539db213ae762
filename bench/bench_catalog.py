"""The catalog on the request path: loading it (start-up and every reload) and classifying a
request (service by host and path, activity, access with fact rules), for catalog hosts and for
hosts outside it. Not a timed test: prints a table (`.venv/bin/python bench/bench_catalog.py`).

classify runs once per request in `requestheaders`: it should stay in microseconds as the
catalog grows.
"""
from __future__ import annotations

import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from guard.catalog import load_catalog  # noqa: E402
from guard.identity import Who  # noqa: E402

RULES = """
  - {id: domestic-filed-warn, where: {country: domestic, filed: true}, action: warn}
  - {id: foreign-secret-units, where: {country: foreign}, action: block, groups: [涉密]}
  - {id: training-no-uploads, where: {trains: [true, unknown]}, activity: upload, action: block}
"""


def per_call_us(fn, args, rounds: int = 5) -> float:
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        for a in args:
            fn(*a)
        best = min(best, (time.perf_counter() - t) / len(args))
    return best * 1e6


def main() -> int:
    src = ROOT / "policies" / "catalog.yaml"
    t = time.perf_counter()
    cat = load_catalog(src)
    load_ms = (time.perf_counter() - t) * 1000
    tmp = Path("/tmp/bench_catalog.yaml")
    tmp.write_text(src.read_text(encoding="utf-8").replace("access_rules: []", "access_rules:" + RULES, 1),
                   encoding="utf-8")
    ruled = load_catalog(tmp)
    services = len({s.id for _, _, s in cat.services})
    rnd = random.Random(7)
    known = [(h.replace("*", "x1"), p or "/v1/chat/completions") for h, p, _ in cat.services]
    other = [(f"{rnd.choice(['www', 'api', 'cdn', 'static'])}.site{i}.example.com", "/index.html") for i in range(2000)]
    known = (known * (2000 // len(known) + 1))[:2000]
    who = Who(user="u", groups=frozenset({"涉密"}))
    svcs = [(cat.service(h, p), "POST", p, "application/json") for h, p in known]
    print(f"catalog: {services} services, {len(cat.services)} host entries; load {load_ms:.1f} ms")
    print(f"  service(host, path), catalog hosts:       {per_call_us(cat.service, known):6.2f} us")
    print(f"  service(host, path), hosts outside it:    {per_call_us(cat.service, other):6.2f} us")
    print(f"  activity(service, method, path, type):   {per_call_us(cat.activity, svcs):6.2f} us")
    acc = [(s, "upload", who) for s, *_ in svcs]
    print(f"  access, no fact rules:                    {per_call_us(cat.access, acc):6.2f} us")
    acc = [(ruled.service(h, p), "upload", who) for h, p in known]
    print(f"  access, 3 fact rules:                     {per_call_us(ruled.access, acc):6.2f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
