"""Restore surrogates in an answer: a JSON body whole (JSON text inside strings too), SSE streams
event by event through mitmproxy's `response.stream` callable, each incremental text field
(content, text, arguments, partial_json, delta...) through a Restorer that holds back only a tail
that could still become a surrogate, plain text streams the same way. The request side is in
guard/proxy/pseudo.py."""
from __future__ import annotations

import copy
import json
import logging
import re
import zlib

from mitmproxy import http

from guard.pseudo import Restorer, Table

log = logging.getLogger("guard")
# String fields that carry an answer in pieces across events: the channels a surrogate can be split over.
DELTA_KEYS = frozenset({"content", "text", "arguments", "partial_json", "delta", "refusal", "thinking",
                        "output_text", "transcript", "v"})


_INDEX_KEYS = ("index", "output_index", "content_index", "item_id")  # which piece of the answer


def restore_json(table: Table, node) -> tuple[object, int]:
    if isinstance(node, str):
        if node[:1] in ("{", "[") and table:
            try:  # JSON text inside JSON (structured output, tool-call arguments): restored inside it
                inner = json.loads(node)
            except ValueError:
                pass
            else:
                new, n = restore_json(table, inner)
                return (json.dumps(new, ensure_ascii=False) if n else node), n
        out, _, n = table.restore(node)
        return out, n
    if isinstance(node, dict):
        total, new = 0, {}
        for k, v in node.items():
            new[k], n = restore_json(table, v)
            total += n
        return new, total
    if isinstance(node, list):
        total, new = 0, []
        for v in node:
            r, n = restore_json(table, v)
            new.append(r)
            total += n
        return new, total
    return node, 0


class Events:
    """JSON events of one answer (SSE data, WebSocket frames): each incremental text field is a
    channel restored across events; other strings are restored in place."""

    def __init__(self, table: Table, every: bool = False):
        self.table, self.every = table, every  # every: each text field is a piece (WebSocket apps' frames)
        self.channels: dict[tuple, tuple[Restorer, dict, tuple]] = {}  # key -> (restorer, template, path)
        self.count = 0

    def event(self, obj) -> list:
        """The events to send for this one: held tails of channels it does not continue first."""
        seen: set = set()
        new = self._walk(obj, (), (), seen)
        out = []
        if not (isinstance(obj, dict) and obj.get("type") == "ping"):
            out = self.flush(keep=seen)
        out.append(new)
        return out

    def flush(self, keep=frozenset()) -> list:
        out = []
        for key in [k for k in self.channels if k not in keep]:
            restorer, template, path = self.channels.pop(key)
            if restorer.pending:
                tail = restorer.flush()
                self.count += restorer.count
                out.append(_set(copy.deepcopy(template), path, tail))
            else:
                self.count += restorer.count
        return out

    def _walk(self, node, path: tuple, marks: tuple, seen: set, root=None):
        root = node if root is None else root
        if isinstance(node, dict):
            marks = marks + tuple((k, node[k]) for k in _INDEX_KEYS if isinstance(node.get(k), (int, str)))
            return {k: self._leaf(v, path + (k,), marks, seen, root, k) for k, v in node.items()}
        if isinstance(node, list):
            return [self._leaf(v, path + (i,), marks, seen, root, None) for i, v in enumerate(node)]
        return node

    def _leaf(self, v, path, marks, seen, root, key):
        if isinstance(v, str):
            if key in DELTA_KEYS and (self.every or _incremental(path, root)):
                ck = (path, marks)
                seen.add(ck)
                got = self.channels.get(ck)
                if got is None or got[0].table is not self.table:
                    # Tool-call arguments are JSON being written: real values go in escaped.
                    kind = root.get("type", "") if isinstance(root, dict) else ""
                    json_text = key in ("arguments", "partial_json") or (
                        isinstance(kind, str) and "arguments" in kind)
                    got = (Restorer(self.table, json_text), root, path)
                restorer = got[0]
                out = restorer.feed(v)
                self.channels[ck] = (restorer, root, path)
                return out
            out, _, n = self.table.restore(v)
            self.count += n
            return out
        return self._walk(v, path, marks, seen, root)


def _incremental(path: tuple, root) -> bool:
    """A field that carries a piece of the answer (not the whole of it, as a `.done` event's
    `text` does): OpenAI and Anthropic `delta`s, Gemini's candidate chunks, ChatGPT web's `v`."""
    kind = root.get("type") if isinstance(root, dict) else None
    return ("delta" in path or path[0] in ("candidates", "v")
            or (isinstance(kind, str) and kind.endswith("delta"))
            or (isinstance(root, dict) and root.get("event") == "cmpl"))  # Kimi


def _set(obj, path: tuple, value):
    node = obj
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return obj


class SSE:
    """A `response.stream` callable for Server-Sent Events: whole events in, restored events out."""

    def __init__(self, table: Table, learn=None):
        self.events = Events(table)
        self.buf = b""
        self.learn = learn
        self.last_name = b""
        self.broken = False

    def __call__(self, data: bytes) -> bytes:
        if self.broken:
            return data
        try:
            return self._restore(data)
        except Exception:  # the answer goes on as it came (surrogates unrestored; nothing leaks out)
            log.exception("pseudonymisation: restoring a streamed answer failed; passing it on as is")
            self.broken = True
            held = b"".join(self._format(self.last_name, o) for o in self._held())
            out, self.buf = held + self.buf + data, b""
            return out

    def _held(self) -> list:
        try:
            return self.events.flush()
        except Exception:
            return []

    def _restore(self, data: bytes) -> bytes:
        if not data:  # the end of the answer: what is held goes out
            out = b"".join(self._emit(e) for e in self._split(final=True))
            return out + b"".join(self._format(self.last_name, o) for o in self.events.flush())
        self.buf += data
        return b"".join(self._emit(e) for e in self._split(final=False))

    def _split(self, final: bool) -> list[bytes]:
        events = []
        while True:
            m = re.search(rb"\r?\n\r?\n", self.buf)
            if m is None:
                break
            events.append(self.buf[:m.end()])
            self.buf = self.buf[m.end():]
        if final and self.buf:
            events.append(self.buf)
            self.buf = b""
        return events

    def _emit(self, raw: bytes) -> bytes:
        name, data_lines, other = b"", [], []
        for line in raw.splitlines():
            if line.startswith(b"data:"):
                data_lines.append(line[5:][1:] if line[5:6] == b" " else line[5:])
            elif line.startswith(b"event:"):
                name = line[6:].strip()
                other.append(line)
            elif line:
                other.append(line)
        if not data_lines:
            return raw
        data = b"\n".join(data_lines)
        try:
            obj = json.loads(data)
        except ValueError:  # [DONE] and the like end every channel first
            held = b"".join(self._format(self.last_name, o) for o in self.events.flush())
            text = data.decode("utf-8", "replace")
            restored = self.events.table.restore(text)[0]
            return held + (raw if restored == text else self._format(name, None, other, restored))
        if self.learn is not None:
            self.learn(obj)
        outs = self.events.event(obj)
        res = b"".join(self._format(self.last_name, o) for o in outs[:-1])
        self.last_name = name
        return res + self._format(name, outs[-1], other)

    @staticmethod
    def _format(name: bytes, obj, other=None, text: str | None = None) -> bytes:
        lines = list(other) if other is not None else ([b"event: " + name] if name else [])
        payload = text if text is not None else json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
        lines += [b"data: " + ln.encode("utf-8") for ln in payload.split("\n")]
        return b"\n".join(lines) + b"\n\n"


class TextStream:
    """A `response.stream` callable for other streamed answers: restored as text."""

    def __init__(self, table: Table):
        self.restorer = Restorer(table)
        self.undecoded = b""

    def __call__(self, data: bytes) -> bytes:
        if not data:
            return self.restorer.flush().encode("utf-8")
        data = self.undecoded + data
        cut = len(data)
        while cut > 0 and cut > len(data) - 4 and (data[cut - 1] & 0xC0) == 0x80:
            cut -= 1
        if cut > 0 and data[cut - 1] >= 0xC0:
            cut -= 1  # a multi-byte character's start, its rest still to come
        self.undecoded = data[cut:]
        return self.restorer.feed(data[:cut].decode("utf-8", "replace")).encode("utf-8")


def _decoded(fn, encoding: str, resp: http.Response):
    """fn over the answer's decoded bytes (the request asked for identity; a gzip/deflate
    answer anyway is inflated on the fly and sent on uncompressed)."""
    if encoding in ("", "identity"):
        return fn
    if encoding not in ("gzip", "deflate", "x-gzip"):
        return lambda data: data  # cannot read it: passed on as it came (surrogates unrestored, nothing leaks)
    z = zlib.decompressobj(31 if "gzip" in encoding else 15)
    del resp.headers["content-encoding"]

    def run(data: bytes) -> bytes:
        if not data:
            rest = z.flush()
            return (fn(rest) if rest else b"") + fn(b"")
        out = z.decompress(data)
        return fn(out) if out else b""
    return run
