"""Registered-document fingerprints at scale: build an index of N generated documents (~5 KB of
Chinese each), then report its size on disk, its load time, and the p50/p99 a 10 KB prompt
costs with the fingerprint rule vs without it (the added time is the rule's).

    python bench/bench_fingerprint.py [--docs 10000]
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from guard.scanner import Engine  # noqa: E402
from guard.match import hashing  # noqa: E402
from guard.policy import load_policy  # noqa: E402


def words(rnd: random.Random, n: int) -> list[str]:
    """A vocabulary of n 2-4 character words from the 3,755 most used characters (GB2312 level 1)."""
    chars = [bytes([hi, lo]).decode("gb2312") for hi in range(0xB0, 0xD8) for lo in range(0xA1, 0xFF)
             if not (hi == 0xD7 and lo > 0xF9)]
    return ["".join(rnd.choice(chars) for _ in range(rnd.choice((2, 2, 3, 4)))) for _ in range(n)]


def document(rnd: random.Random, vocab: list[str], nbytes: int) -> str:
    out, size = [], 0
    while size < nbytes:
        sentence = "".join(rnd.choice(vocab) for _ in range(rnd.randint(4, 12))) + rnd.choice("，。；")
        out.append(sentence)
        size += len(sentence.encode())
    return "".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--prompts", type=int, default=300)
    args = ap.parse_args()
    rnd = random.Random(2026)
    vocab = words(rnd, 40_000)
    tmp = Path(tempfile.mkdtemp(prefix="fp-bench-"))
    try:
        t = time.perf_counter()
        batch = []
        for i in range(args.docs):
            batch.append((f"doc{i:05d}", "", document(rnd, vocab, 5_000)))
            if len(batch) == 1000:
                hashing.register(tmp / "idx", "bench", batch)
                batch = []
        if batch:
            hashing.register(tmp / "idx", "bench", batch)
        build = time.perf_counter() - t
        size = sum(f.stat().st_size for f in (tmp / "idx").iterdir())
        hashing._load_collection.cache_clear()
        t = time.perf_counter()
        col = hashing.load_collection(tmp / "idx", "bench")
        load = time.perf_counter() - t
        pol = tmp / "p.yaml"
        pol.write_text(f"id: b\nextends: [{ROOT / 'policies' / 'default.yaml'}]\nrules:\n  - id: registered.bench\n"
                       "    action: block\n    fingerprint: {index: idx, collection: bench}\n", encoding="utf-8")
        with_fp, plain = Engine(load_policy(pol)), Engine(load_policy(None))
        prompts = [document(rnd, vocab, 10_000) for _ in range(args.prompts)]
        hits = 0
        times = {"plain": [], "fingerprint": []}
        for p in prompts:
            for name, engine in (("plain", plain), ("fingerprint", with_fp)):
                t = time.perf_counter()
                v = engine.scan_text(p)
                times[name].append((time.perf_counter() - t) * 1000)
                hits += name == "fingerprint" and v.action != "allow"
        p50 = {k: statistics.median(v) for k, v in times.items()}
        p99 = {k: sorted(v)[int(len(v) * 0.99) - 1] for k, v in times.items()}
        print(f"{args.docs} documents (~5 KB each), {len(col.hashes):,} fingerprints: built in {build:.1f} s, "
              f"{size / 1e6:.1f} MB on disk, index load time {load * 1000:.0f} ms")
        print(f"10 KB prompt: p50 {p50['plain']:.3f} ms without, {p50['fingerprint']:.3f} ms with the rule "
              f"(added scan time per 10 KB: +{p50['fingerprint'] - p50['plain']:.3f} ms); p99 {p99['plain']:.3f} / {p99['fingerprint']:.3f} ms; "
              f"{hits} of {len(prompts)} unrelated prompts flagged")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
