"""The hosts the guard never opens in its default interception mode (`guard_intercept=wide`).

In that mode every TLS connection through the guard is opened, so that an OpenAI-compatible
relay on a host nobody has catalogued (a 中转站) is seen and its prompts inspected, except:
- the exclusion list (`policies/no-intercept.txt`: online banking and payment, health services,
  certificate-pinned update and security services), whose traffic is private or would break;
- loopback, private and link-local IP literals, `localhost` and `*.local` (the intranet).
A catalog host is opened even when the list names it: the catalog always wins.

As one mitmproxy `allow_hosts` pattern: mitmproxy intercepts when any name of the connection
(CONNECT target, SNI) matches; the pattern matches every name that is not excluded, so a
connection is left alone only when every name it gave is excluded (an excluded SNI in front of
some other address is still opened).
"""
from __future__ import annotations

import re
from pathlib import Path

from guard.errors import PolicyError
from guard.policy.loader import POLICY_DIR

DEFAULT_FILE = POLICY_DIR / "no-intercept.txt"
_PRIVATE = (r"localhost", r"(?:[^:]*\.)?local", r"\[?::1\]?", r"127(?:\.\d+){3}", r"10(?:\.\d+){3}",
            r"192\.168(?:\.\d+){2}", r"172\.(?:1[6-9]|2\d|3[01])(?:\.\d+){2}", r"169\.254(?:\.\d+){2}",
            r"\[?f[cd][0-9a-f]{0,2}:[0-9a-f:]*\]?", r"\[?fe[89ab][0-9a-f]?:[0-9a-f:]*\]?")
_ENTRY = re.compile(r"[a-z0-9*-]+(?:\.[a-z0-9*-]+)+")


def load(path: str | Path | None = None) -> list[str]:
    """Host entries, one per line (`bank.example` is it and its subdomains; `*` one label part)."""
    p = Path(path) if path else DEFAULT_FILE
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise PolicyError(f"{p}: cannot read the no-intercept list: {e.strerror or e}") from None
    entries = []
    for n, line in enumerate(text.splitlines(), 1):
        entry = line.split("#", 1)[0].strip().lower().strip(".")
        if not entry:
            continue
        if not _ENTRY.fullmatch(entry):
            raise PolicyError(f"{p}:{n}: {entry!r} is not a host name (example.com, *.example.com)")
        entries.append(entry)
    return entries


def allow_pattern(entries: list[str]) -> str:
    """One regex over mitmproxy's `host:port` names: matches every name not excluded."""
    hosts = [r"[a-z0-9-]*".join(re.escape(part) for part in e.split("*")) for e in entries]
    excluded = "|".join([*(rf"(?:[^:]*\.)?{h}\.?" for h in hosts), *_PRIVATE])
    return rf"^(?!(?:{excluded})(?::\d+)?$)"
