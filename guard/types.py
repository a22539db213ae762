"""Frozen value types that flow through the pipeline: Part -> Finding -> Verdict."""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

ACTIONS = ("allow", "log", "pseudonymise", "redact", "warn", "block")
# Decision order: block > warn > redact > pseudonymise > allow ("log" records but never stops).
# Pseudonymised values go out as surrogates on any request that goes out (allowed, redacted, or
# warned and acknowledged); a marking or credential in the same request still blocks it.
ACTION_RANK = {"allow": 0, "log": 0, "pseudonymise": 0.5, "redact": 1, "warn": 2, "block": 3}
SEVERITIES = ("info", "low", "medium", "high", "critical")

# Part kinds where a marking usually lives (GB/T 9704 head, page headers, properties).
MARKING_AREAS = frozenset({"header", "footer", "property", "filename", "watermark", "title"})


@dataclass(frozen=True, slots=True)
class Part:
    """A piece of text to scan, with where it came from.

    `anchors` maps offsets to finer labels (a spreadsheet cell, a page): sorted
    (offset, label) pairs; a match at offset o is labelled by the last anchor <= o.
    """

    text: str
    location: str
    kind: str = "body"
    anchors: tuple[tuple[int, str], ...] = ()

    def locate(self, offset: int) -> str:
        if self.anchors:
            i = bisect.bisect_right(self.anchors, (offset, "\uffff")) - 1
            if i >= 0:
                return f"{self.location}{self.anchors[i][1]}"
        line = self.text.count("\n", 0, offset) + 1
        return f"{self.location} line {line}" if self.location else f"line {line}"


@dataclass(frozen=True, slots=True)
class Problem:
    """Content that could not be inspected (encrypted, corrupt, over a limit...)."""

    reason: str  # encrypted | corrupt | limit | timeout | unsupported | image
    location: str
    detail: str


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    action: str
    severity: str
    location: str
    excerpt: str
    description: str = ""
    count: int = 1
    # Span in the part's original text, for redaction; never serialized.
    part_index: int = field(default=-1, compare=False)
    span: tuple[int, int] | None = field(default=None, compare=False)
    mode: str = "enforce"  # monitor | exempt: recorded, but does not decide the request
    digest: str = field(default="", compare=False)  # the flagged passage (decide.span_digest); never serialized

    def to_dict(self) -> dict:
        return {
            "rule": self.rule,
            "action": self.action,
            "severity": self.severity,
            "location": self.location,
            "excerpt": self.excerpt,
            "description": self.description,
            "count": self.count,
            **({"mode": self.mode} if self.mode != "enforce" else {}),
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    action: str
    findings: tuple[Finding, ...] = ()
    parts: int = 0
    chars: int = 0
    elapsed_ms: float = 0.0
    would: str | None = None   # what monitor-mode rules would have done, when more than `action`
    exempt: str | None = None  # the exemption scope that let the request pass
    # The upload ledger: per file inspected, the parts read and not read (names, counts, reasons).
    ledger: tuple[dict, ...] = ()

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.rule for f in self.findings))

    def to_dict(self) -> dict:
        out = {"action": self.action, "findings": [f.to_dict() for f in self.findings]}
        if self.would:
            out["would"] = self.would
        if self.exempt:
            out["exempt"] = self.exempt
        if self.ledger:
            out["ledger"] = list(self.ledger)
        return out
