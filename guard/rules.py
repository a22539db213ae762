"""The compiled, immutable rules and the policy that holds them. Built once by the loader
(guard/policy/loader.py); never mutated.

Here, below everything that reads them, rather than in guard/policy: the matcher, the decision,
extraction (Limits) and the audit record all need these types, and none of them needs the loader.
guard.policy.model re-exports them.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

WHERE_VALUES = ("anywhere", "line_head", "own_line", "doc_head", "marking_area", "marking_line",
                "field_column", "register_column")
MASK_VALUES = ("none", "partial", "prefix", "full")
PROBLEM_REASONS = ("encrypted", "corrupt", "limit", "timeout", "unsupported", "image")


@dataclass(frozen=True)
class Limits:
    """Bounds on what one request or file may cost to inspect."""

    max_bytes: int = 64 * 1024 * 1024          # one upload / body
    max_inflated_bytes: int = 256 * 1024 * 1024  # all decompressed data of one input
    max_member_bytes: int = 64 * 1024 * 1024   # one decompressed archive member
    max_ratio: int = 200                       # decompressed / compressed, per member
    max_depth: int = 8                         # archives inside archives
    max_members: int = 5000                    # entries in one archive
    max_seconds: float = 20.0                  # wall time to extract one input
    max_text_chars: int = 64 * 1024 * 1024     # text collected from one input
    max_pages: int = 2000                      # pdf pages
    max_ocr_images: int = 4                    # images (and scanned pdf pages) read by OCR per input
    max_ocr_pictures: int = 2                  # of those, pictures embedded in documents (0: none)
    max_image_pixels: int = 50_000_000         # one image, width x height

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(cls.__dataclass_fields__)


@dataclass(frozen=True)
class Example:
    text: str
    part: str = "body"


@dataclass(frozen=True)
class Rule:
    id: str
    description: str
    severity: str
    action: str
    keywords: tuple[str, ...] = ()
    regex: Any = None            # compiled re2 pattern or None
    regex_source: str = ""
    case_insensitive: bool = False
    group: int = 0               # which regex group is the finding
    validator: str | None = None
    where: tuple[str, ...] = ("anywhere",)
    parts: tuple[str, ...] = ()  # restrict to part kinds; empty = all
    skip_mentions: bool = False  # quoted or example-cued matches are not findings
    word_boundary: bool = False  # match must not touch [0-9A-Za-z] on either side
    word_end: bool = False       # match must not run on into a word (内部资料性出版物 is not 内部资料)
    not_after: tuple[str, ...] = ()  # not a finding right after these (企业秘密★3年 is no state secret)
    min_count: int = 1
    escalate_count: int = 0
    escalate_action: str | None = None
    mask: str = "none"
    allow_regexes: tuple[Any, ...] = ()
    stopwords: tuple[str, ...] = ()
    on_problem: tuple[str, ...] = ()  # for fail-closed rules: problem reasons it handles
    examples_match: tuple[Example, ...] = ()
    examples_no_match: tuple[Example, ...] = ()
    mode: str = "enforce"        # monitor: findings record what would happen (`would`), the request passes
    scope: Any = None            # guard.scope.Scope: the rule applies only to these senders
    ack: str = "self"            # a warning: acknowledged by the user (self) or approved by an officer (approval)
    fingerprint: Any = None      # FingerprintSpec: shares enough of a registered document
    hashed: Any = None           # guard.match.hashed_terms.HashedTerms: terms known only as salted hashes
    title: str = ""              # the Chinese name people read (国家秘密标志); the id stays for those who tune
    category: str = ""           # what kind of content (国家秘密, 工作秘密, 商业秘密, 个人信息...)
    pseudonym: str = ""          # action pseudonymise: a surrogate kind (cn-id, cn-mobile, bank-card) or a label (客户)

    @property
    def by_hash(self) -> bool:
        """Matched by hashes (fingerprints, hashed lists), not by keywords or a regex."""
        return self.fingerprint is not None or self.hashed is not None

    @property
    def max_action(self) -> str:
        return self.escalate_action or self.action


@dataclass(frozen=True)
class FingerprintSpec:
    collection: Any              # guard.match.hashing.Collection
    min_chars: int = 50          # characters of the prompt the document's fingerprints cover
    min_share: float = 0.25      # of the matched stretch


@dataclass(frozen=True)
class Settings:
    doc_head_lines: int = 6
    mention_before: tuple[str, ...] = ()
    mention_after: tuple[str, ...] = ()
    mention_previous_line: tuple[str, ...] = ()
    vocabulary: tuple[str, ...] = ()
    audit_allowed: bool = True
    contact: str = ""
    max_findings_per_rule: int = 5
    audit_file_names: str = "masked"  # masked: marking and extension shown, title masked; full
    why: str = ""                     # the coaching page's "why this matters", in the office's words
    ack_reasons: tuple[str, ...] = ()  # preset reasons a user picks when acknowledging a warning
    internal_model: tuple[str, str] = ("", "")  # (name, url) of the approved in-house model, named on coaching pages


@dataclass(frozen=True)
class Exemption:
    """Senders (a scope) for whom the listed rules (ids or family prefixes; empty: all) do not
    stop a request; the request is still audited, as `allow` with `exempt`."""
    scope: Any
    rules: tuple[str, ...] = ()

    def covers(self, rule_id: str) -> bool:
        return not self.rules or any(rule_id == r or rule_id.startswith(r + ".") for r in self.rules)


@dataclass(frozen=True)
class Policy:
    id: str
    description: str
    sha256: str
    source: str
    rules: tuple[Rule, ...]
    limits: Limits = field(default_factory=Limits)
    settings: Settings = field(default_factory=Settings)
    mode: str = "enforce"        # monitor: every rule only records what it would do
    exemptions: tuple[Exemption, ...] = ()
    files: tuple[str, ...] = ()  # every file it was built from (extends, term lists): watched for reload

    @functools.cached_property
    def plain(self) -> bool:
        """No monitor mode, rule scopes or exemptions: the verdict needs no per-sender pass."""
        return self.mode == "enforce" and not self.exemptions and all(
            r.mode == "enforce" and r.scope is None for r in self.rules)

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)

    def find_rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)
