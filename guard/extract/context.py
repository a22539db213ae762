"""Extraction context: collects parts and problems, enforces the policy's limits."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from guard.errors import Deferred, ExtractionError, LimitExceeded
from guard.rules import Limits
from guard.types import Part, Problem


@dataclass
class Extraction:
    parts: list[Part] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[dict] = field(default_factory=list)  # name, type, size, sha256 of each file seen


class Context:
    def __init__(self, limits: Limits, allow_slow: bool = True):
        self.limits = limits
        self.allow_slow = allow_slow  # False: raise Deferred instead of OCR or child processes
        self.deadline = time.monotonic() + limits.max_seconds
        self.inflated = 0
        self.chars = 0
        self.ocr_images = 0
        self.pictures: list[tuple[str, object, object]] = []  # (location, zip file, member) of embedded images
        self.out = Extraction()

    def add(self, text: str, location: str, kind: str = "body", anchors=()) -> None:
        if not text or not text.strip():
            return
        self.chars += len(text)
        if self.chars > self.limits.max_text_chars:
            raise LimitExceeded(f"more than {self.limits.max_text_chars} characters of text")
        self.out.parts.append(Part(text, location, kind, tuple(anchors)))

    def problem(self, reason: str, location: str, detail: str) -> None:
        self.out.problems.append(Problem(reason, location, detail))

    def slow(self) -> None:
        """Called before work that takes seconds or waits on a child process."""
        if not self.allow_slow:
            raise Deferred()

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise ExtractionError("timeout", f"inspection took longer than {self.limits.max_seconds:g}s")

    def charge(self, nbytes: int) -> None:
        """Account decompressed bytes against the per-input budget."""
        self.inflated += nbytes
        if self.inflated > self.limits.max_inflated_bytes:
            raise LimitExceeded(f"decompresses to more than {self.limits.max_inflated_bytes} bytes")
