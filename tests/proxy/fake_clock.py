"""A monotonic clock the tests move by hand (upload sessions expire by it)."""
from __future__ import annotations


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def monotonic(self) -> float:
        return self.now
