"""The scan engine: extract -> normalize -> match -> decide, for text or bytes."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from guard.decide import decide
from guard.errors import ExtractionError
from guard.extract import Context, extract_into, ocr_docs
from guard.extract.ledger import ledger
from guard.extract.text import charset_of
from guard.match.matcher import Matcher
from guard.policy import Policy, load_policy
from guard.types import Part, Problem, Verdict


class Engine:
    """Embeddable scanner. Thread-safe after construction (immutable policy)."""

    def __init__(self, policy: Policy):
        self.policy = policy
        self.matcher = Matcher(policy)

    @classmethod
    def from_policy_file(cls, path: str | Path | None = None) -> "Engine":
        return cls(load_policy(path))

    def decide(self, ctx: Context, started: float | None = None) -> Verdict:
        """The verdict on an extracted input. Pictures embedded in its documents are read by
        OCR only when the text alone does not already block (OCR costs seconds)."""
        verdict = self.scan_parts(ctx.out.parts, ctx.out.problems, started)
        if ctx.pictures and verdict.action != "block":
            before = (len(ctx.out.parts), len(ctx.out.problems))
            try:
                ocr_docs.read_pictures(ctx)
            except ExtractionError as e:  # the time budget ran out while reading them
                ctx.problem(e.reason, "embedded pictures", e.detail)
            if (len(ctx.out.parts), len(ctx.out.problems)) != before:
                verdict = self.scan_parts(ctx.out.parts, ctx.out.problems, started)
        return replace(verdict, ledger=ledger(ctx.out, [loc for loc, _zf, _info in ctx.pictures]))

    def scan_parts(self, parts: list[Part], problems: list[Problem] = (), started: float | None = None) -> Verdict:
        started = time.perf_counter() if started is None else started
        parts = list(parts)
        hits = self.matcher.scan(parts)  # may append decoded copies of parts holding escapes
        action, findings = decide(self.policy, self.matcher.rules, hits, list(problems), parts)
        return Verdict(action, findings, len(parts), sum(len(p.text) for p in parts),
                       round((time.perf_counter() - started) * 1000, 3))

    def scan_text(self, text: str, location: str = "") -> Verdict:
        return self.scan_parts([Part(text, location)])

    def scan_bytes(self, data: bytes, filename: str | None = None, content_type: str | None = None) -> Verdict:
        started = time.perf_counter()
        ctx = Context(self.policy.limits)
        extract_into(ctx, data, filename, f"file:{filename}" if filename else "file:upload", 0,
                     charset=charset_of(content_type))
        return self.decide(ctx, started)
