"""Memory held per pending warning (issue 22, family 9): issue MAX_ENTRIES warnings made from
worst-case verdicts (hundreds of flagged passages, long excerpts) and measure with tracemalloc.

    .venv/bin/python bench/bench_ack_memory.py [passages-per-warning]
"""
from __future__ import annotations

import sys
import time
import tracemalloc

from guard.coaching import Found
from guard.proxy.acks import MAX_ENTRIES, MAX_FOUND, Acknowledgements, Warning, flagged
from guard.types import Finding, Verdict


def verdict(i: int, passages: int) -> Verdict:
    return Verdict("warn", tuple(Finding("internal.marking", "warn", "medium", f"messages[{k}].content",
                                         "内部资料" * 40, "内部资料", digest=f"{i:08x}{k:024x}")
                                 for k in range(passages)))


def main() -> None:
    passages = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    acks = Acknowledgements()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for i in range(MAX_ENTRIES + 1000):  # past the bound: the oldest go
        v = verdict(i, passages)
        found = [Found(f.rule, f.description, f.excerpt, f.location) for f in v.findings][:MAX_FOUND]
        acks.issue(Warning(f"evt-{i}", f"10.0.{i % 250}.1", flagged(v), found, False, "ChatGPT", "", "", (),
                           time.monotonic() + 600), 600)
        del v
    used = tracemalloc.get_traced_memory()[0] - base
    print(f"{len(acks.warnings)} pending warnings ({passages} flagged passages each): "
          f"{used / 1e6:.1f} MB, {used / len(acks.warnings) / 1024:.1f} KB per warning")


if __name__ == "__main__":
    main()
