"""Pseudonymisation: surrogates for values of `action: pseudonymise` rules, a per-conversation
mapping held only in this process's memory, and restore of the real values in the answer.

A surrogate keeps the text natural and its type visible: a term from a list becomes
`〔客户K〕` (the rule's `pseudonym` label and a letter drawn at random for this conversation),
an ID number a well-formed fake one (valid region, birth date and check digit), a mobile number
a fake mobile number, a bank card a Luhn-valid fake card of the same length. The same value gets
the same surrogate throughout a conversation and independent ones in other conversations, so
the provider cannot join one person or customer across users.

Restore reads the answer through a canonical view (case folded, spaces and Markdown emphasis
removed, bracket variants unified) so `〔客户k〕`, `〔 客户 K 〕`, `〔**客户K**〕` and
`138 0013 8000` are found; a streamed answer is fed piece by piece to a `Restorer` that holds
back only a tail that could still become a surrogate (at most `Table.hold` characters).
The mapping never leaves memory: not logged, not audited (the audit records counts per rule).
"""
from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

# Characters a model may put inside a surrogate when echoing it: spaces, Markdown emphasis and
# code marks, and the hyphens people group numbers with. Ignored by the canonical view.
_SEPARATORS = frozenset(" \t\r\n\u00a0\u3000*_~`-")
_OPEN = frozenset("〔【[「『(（<《")
_CLOSE = frozenset("〕】]」』)）>》")
MAX_SEPARATORS = 2  # separator characters a surrogate may carry between two of its own (counted in `hold`)
_REGIONS = ("110101", "110105", "120101", "310104", "310115", "320102", "330106", "370102", "420102",
            "440106", "440305", "500103", "510104", "610113")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
KINDS = ("cn-id", "cn-mobile", "bank-card", "label")


def id_check(first17: str) -> str:
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS)) % 11]


def luhn_digit(body: str) -> str:
    total = 0
    for i, d in enumerate(reversed(body)):
        n = int(d) * (2 if i % 2 == 0 else 1)
        total += n - 9 if n > 9 else n
    return str((10 - total % 10) % 10)


def fake_cn_id(rng: secrets.SystemRandom) -> str:
    born = datetime.date(1960, 1, 1) + datetime.timedelta(days=rng.randrange(0, 16000))
    first = f"{rng.choice(_REGIONS)}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return first + id_check(first)


def fake_mobile(rng: secrets.SystemRandom) -> str:
    return "1" + rng.choice("3589") + "".join(str(rng.randrange(10)) for _ in range(9))


def fake_card(rng: secrets.SystemRandom, length: int) -> str:
    length = min(max(length, 16), 19)
    body = "62" + "".join(str(rng.randrange(10)) for _ in range(length - 3))
    return body + luhn_digit(body)


def kind_of(rule) -> str:
    """What a rule's values look like: its `pseudonym` field (a kind, or a label for terms),
    else its validator (cn_id, phone, luhn), else a term labelled by its title."""
    named = getattr(rule, "pseudonym", "") or ""
    if named in KINDS[:3]:
        return named
    return {"cn_id": "cn-id", "phone": "cn-mobile", "luhn": "bank-card"}.get(rule.validator or "", "label")


def label_of(rule) -> str:
    named = getattr(rule, "pseudonym", "") or ""
    if named and named not in KINDS:
        return named
    return (rule.title or "名称")[:8]


def value_key(value: str) -> str:
    """The same value however it was typed (Acme / ACME, 138 0013 8000 / 13800138000)."""
    return "".join(c for c in value.casefold() if c not in _SEPARATORS)


def canonical(text: str) -> tuple[str, list[int]]:
    """The canonical view of text and, per canonical character, its index in text."""
    out, idx = [], []
    for i, c in enumerate(text):
        if c in _SEPARATORS:
            continue
        if c in _OPEN:
            c = "〔"
        elif c in _CLOSE:
            c = "〕"
        else:
            low = c.lower()
            c = low if len(low) == 1 else c
        out.append(c)
        idx.append(i)
    return "".join(out), idx


@dataclass
class Conversation:
    """One conversation's mapping: real value <-> surrogate. Lives only in memory."""
    key: str
    expires: float
    surrogate_of: dict[str, str] = field(default_factory=dict)   # value_key(real) -> surrogate
    real_of: dict[str, str] = field(default_factory=dict)        # canonical(surrogate) -> real, as first typed
    kinds: dict[str, str] = field(default_factory=dict)          # canonical(surrogate) -> kind
    used: set[str] = field(default_factory=set)                  # label codes taken, per label
    version: int = 0
    _table: "Table | None" = None
    on_new: object = None  # the store's count of values held, told of each new one
    names: int = 1         # keys the store holds it under (a learnt conversation id is a second)

    def surrogate(self, real: str, kind: str, label: str, rng: secrets.SystemRandom, max_entries: int) -> str | None:
        k = value_key(real)
        got = self.surrogate_of.get(k)
        if got is not None:
            return got
        if len(self.surrogate_of) >= max_entries:
            return None  # the caller blocks: a mapping that cannot grow cannot pseudonymise
        for _ in range(64):
            if kind == "cn-id":
                s = fake_cn_id(rng)
            elif kind == "cn-mobile":
                s = fake_mobile(rng)
            elif kind == "bank-card":
                s = fake_card(rng, len(k))
            else:
                letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
                free = [c for c in letters if f"{label}{c}" not in self.used]
                code = rng.choice(free) if free else f"{rng.choice(letters)}{rng.randrange(10, 100)}"
                s = f"〔{label}{code}〕"
            c = canonical(s)[0]
            if c not in self.real_of and value_key(s) not in self.surrogate_of:
                break
        else:
            return None
        if kind == "label":
            self.used.add(s[1:-1])
        self.surrogate_of[k] = s
        self.real_of[c] = real
        self.kinds[c] = kind
        self.version += 1
        if self.on_new is not None:
            self.on_new()
        return s

    def table(self) -> "Table":
        if self._table is None or self._table.version != self.version:
            self._table = Table(dict(self.real_of), dict(self.kinds), self.version)
        return self._table


class Table:
    """Restore for one snapshot of a conversation's mapping."""

    def __init__(self, real_of: dict[str, str], kinds: dict[str, str], version: int = 0):
        self.real_of, self.kinds, self.version = real_of, kinds, version
        keys = sorted(real_of, key=len, reverse=True)
        self.rx = re.compile("|".join(map(re.escape, keys))) if keys else None
        self.prefixes = {k[:i] for k in keys for i in range(1, len(k))}
        longest = max((len(k) for k in keys), default=0)
        # The most raw characters one echoed surrogate can take: every character followed by
        # up to MAX_SEPARATORS separators. No more than this is ever held back.
        self.hold = longest * (1 + MAX_SEPARATORS)

    def __bool__(self):
        return self.rx is not None

    def restore(self, text: str, final: bool = True, json_text: bool = False) -> tuple[str, str, int]:
        """(restored text that may go out now, the tail held back, surrogates restored).
        json_text: the text is JSON being written (tool-call arguments): a real value goes in
        escaped, so a name with a quote in it keeps the arguments valid JSON."""
        if self.rx is None or not text:
            return text, "", 0
        canon, idx = canonical(text)
        out, last, n = [], 0, 0
        hold_at = len(text)
        for m in self.rx.finditer(canon):
            start, end = idx[m.start()], idx[m.end() - 1] + 1
            if start < last:
                continue
            if end - start > self.hold:
                continue  # too spread out to be one echoed surrogate
            numeric = self.kinds[m.group()] != "label"
            if numeric and start > 0 and text[start - 1].isdigit():
                continue  # inside a longer number
            if numeric and end < len(text) and text[end].isdigit():
                continue
            if numeric and not final and end == len(text):
                hold_at = start  # the next piece may add a digit: not this surrogate after all
                break
            out.append(text[last:start])
            real = self.real_of[m.group()]
            out.append(json.dumps(real, ensure_ascii=False)[1:-1] if json_text else real)
            last, n = end, n + 1
        if final:
            out.append(text[last:])
            return "".join(out), "", n
        if hold_at == len(text):
            floor = max(last, len(text) - self.hold)
            for k in range(len(canon)):
                if idx[k] < floor:
                    continue
                if canon[k:] in self.prefixes:
                    hold_at = idx[k]
                    break
        out.append(text[last:hold_at])
        return "".join(out), text[hold_at:], n


class Restorer:
    """Restore a text that arrives in pieces: each piece goes out at once except a tail that
    could still be the start of a surrogate."""

    def __init__(self, table: Table, json_text: bool = False):
        self.table, self.pending, self.count, self.json_text = table, "", 0, json_text

    def feed(self, piece: str) -> str:
        out, self.pending, n = self.table.restore(self.pending + piece, final=False, json_text=self.json_text)
        self.count += n
        return out

    def flush(self) -> str:
        out, _, n = self.table.restore(self.pending, final=True, json_text=self.json_text)
        self.pending = ""
        self.count += n
        return out


class Store:
    """Conversations by key, in memory only: bounded (least recently used go first) and each
    expiring `ttl` seconds after its last use, with its mapping."""

    def __init__(self, ttl: float = 4 * 3600, max_conversations: int = 20000, max_entries: int = 2000,
                 max_values: int = 200_000):
        self.ttl, self.max_conversations, self.max_entries = ttl, max_conversations, max_entries
        self.max_values, self.values = max_values, 0  # values held over all conversations (memory bound)
        self._items: OrderedDict[str, Conversation] = OrderedDict()
        self._lock = threading.Lock()
        self.rng = secrets.SystemRandom()
        # Keys are MACs under a per-process secret: the key of a conversation says nothing of it.
        self._secret = secrets.token_bytes(32)

    def key(self, *parts: str) -> str:
        return hmac.new(self._secret, "\x1f".join(parts).encode("utf-8", "surrogatepass"),
                        hashlib.sha256).hexdigest()[:32]

    def get(self, key: str, create: bool = True) -> Conversation | None:
        now = time.monotonic()
        with self._lock:
            while self._items and next(iter(self._items.values())).expires <= now:
                self._pop()  # least recently used first: expired ones lead
            conv = self._items.get(key)
            if conv is None:
                if not create:
                    return None
                conv = self._items[key] = Conversation(key, now + self.ttl, on_new=self._grew)
            self._items.move_to_end(key)
            while len(self._items) > 1 and (len(self._items) > self.max_conversations
                                            or self.values > self.max_values):
                self._pop()
            conv.expires = now + self.ttl
            return conv

    def _grew(self) -> None:
        self.values += 1

    def _pop(self) -> None:
        _, conv = self._items.popitem(last=False)
        conv.names -= 1
        if conv.names == 0:  # its last name gone: its values with it
            self.values -= len(conv.surrogate_of)

    def alias(self, key: str, conv: Conversation) -> None:
        """A second name for a conversation (the provider's id, learnt from its first answer)."""
        with self._lock:
            old = self._items.get(key)
            if old is conv:
                self._items.move_to_end(key)
                return
            if old is not None:
                self._items.pop(key)
                old.names -= 1
                if old.names == 0:
                    self.values -= len(old.surrogate_of)
            conv.names += 1
            self._items[key] = conv
            self._items.move_to_end(key)

    def __len__(self):
        return len(self._items)
