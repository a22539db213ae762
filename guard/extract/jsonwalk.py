"""The generic JSON walker: every string of any shape, decoded, and every key.

It is the safety net behind every provider adapter: `\\uXXXX` escapes are decoded by
the JSON parser, strings that hold JSON are parsed again, data: URLs and long
base64 strings are decoded and inspected as files. Object keys are content too (a tool
schema's property names reach the model), and a key given twice counts twice.

Bodies are parsed the way lenient servers parse them: invalid UTF-8 replaced, numbers of
any length, several values in a row (JSON Lines, trailing data). Objects are parsed as
tuples of (key, value) pairs, arrays as lists: nothing a duplicate key held is lost.
"""
from __future__ import annotations

import json
import re

from guard.decode import b64decode_any
from guard.errors import GuardError, LimitExceeded
from guard.extract.context import Context
from guard.extract.sniff import printable

_B64_RE = re.compile(r"[A-Za-z0-9+/=_\-\r\n]+")
_DATA_URL_RE = re.compile(r"data:([\w.+/-]*)(?:;[\w=.-]+)*;base64,", re.I)
FILENAME_KEYS = frozenset({"filename", "file_name", "fileName", "name_of_file"})
# Field names of the AI APIs and web apps themselves: protocol, not content. Any other key (a
# tool schema's property name, a metadata key) is scanned.
PROTOCOL_KEYS = frozenset("""
model messages role content type text stream temperature top_p top_k max_tokens max_completion_tokens n stop
system user assistant tool tools tool_choice tool_calls tool_call_id function functions name arguments description
parameters properties required items enum input instructions metadata id object created choices index message delta
finish_reason logprobs usage prompt_tokens completion_tokens total_tokens response_format json_schema schema strict
seed presence_penalty frequency_penalty logit_bias stream_options include_usage image_url url detail file file_id
file_data filename input_text input_image input_file output_text source media_type data contents parts inlineData
inline_data mimeType mime_type generationConfig generation_config safetySettings systemInstruction system_instruction
category threshold candidateCount maxOutputTokens topP topK stopSequences responseMimeType thinking budget_tokens
reasoning effort conversation_id parent_message_id message_id action author create_time timezone_offset_min
history_and_training_disabled conversation_mode force_paragen websocket_request_id chat_session_id parent_id
prompt ref_file_ids thinking_enabled search_enabled use_search kimiplus_id refs previous_response_id store
modalities audio voice format cache_control ephemeral citations service_tier parallel_tool_calls user_id session_id
""".split())
MIN_B64 = 64


_DECODER = json.JSONDecoder(object_pairs_hook=tuple, parse_int=lambda s: int(s) if len(s) < 4000 else s)
_WS = re.compile(r"[ \t\r\n\ufeff]*")


def parse_values(text: str) -> tuple[list, str]:
    """(JSON values, text after the last one that parsed). Values one after another (JSON
    Lines, concatenated bodies) are each read; an empty list when the text starts with none."""
    values, pos, n = [], _WS.match(text, 0).end(), len(text)
    while pos < n:
        try:
            obj, end = _DECODER.raw_decode(text, pos)
        except ValueError:
            break
        except RecursionError:
            raise LimitExceeded("JSON nested too deeply") from None
        values.append(obj)
        pos = _WS.match(text, end).end()
    return values, text[pos:]


_STRING = re.compile(r'"((?:[^"\\\n]|\\.){1,100000})"')


def json_like_strings(text: str) -> list[str] | None:
    """The string literals of text that looks like JSON but does not parse (cut off, a stray
    comma): read one by one, as a tolerant reader would, so JSON's own quotes never make a
    marking inside them look like a quoted mention. None when there are none."""
    out = []
    for m in _STRING.finditer(text):
        raw = m.group(1)
        try:
            out.append(json.loads(f'"{raw}"'))
        except ValueError:
            out.append(raw)
    return out or None


def parse_body(data: bytes) -> tuple[list, str] | None:
    """A JSON body read leniently: (values, unparsed rest), or None when no value parses.
    JSON is UTF-8 (RFC 8259): invalid bytes are replaced, never read in another code page."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    text = data.decode("utf-8", "replace")
    values, rest = parse_values(text)
    return (values, rest) if values else None


# Socket.IO over Engine.IO: packet type digits, an optional namespace and ack id, then JSON
# (42["message",{...}], 42/chat,7["send",...]). Polling bodies join packets with \x1e (v4) or
# prefix each with its length (v3: 27:42[...]).
_SIO_PACKET = re.compile(r"\d{1,3}(?:/[^,\[{\x1e]{0,200},)?\d{0,12}(?=[\[{])")
_EIO3 = re.compile(r"(\d{1,9}):")


def socketio_payloads(text: str) -> list[str] | None:
    """The JSON texts of Socket.IO packets, or None when the text is not Socket.IO framing."""
    packets: list[str] = []
    if "\x1e" in text:
        packets = text.split("\x1e")
    elif _EIO3.match(text):
        pos = 0
        while pos < len(text):
            m = _EIO3.match(text, pos)
            if not m:
                return None
            n = int(m.group(1))
            packets.append(text[m.end():m.end() + n])
            pos = m.end() + n
    else:
        packets = [text]
    out = []
    for packet in packets:
        m = _SIO_PACKET.match(packet)
        if m:
            out.append(packet[m.end():])
        elif packet and not packet.isdigit():  # bare "2"/"3" are pings and pongs
            return None
    return out or None


def walk_values(ctx: Context, values: list, rest: str, location: str, depth: int = 0) -> None:
    """Walk JSON values read one after another (JSON Lines, concatenated bodies), and the text
    after them as text."""
    for n, obj in enumerate(values):
        walk_json(ctx, obj, location if len(values) == 1 else f"{location}[line {n + 1}]".strip(), depth)
    if rest.strip():
        ctx.add(rest, f"{location} (after the JSON)".strip(), "body")


def walk_socketio(ctx: Context, text: str, location: str, depth: int = 0) -> bool:
    payloads = socketio_payloads(text) if text[:1].isdigit() else None
    if not payloads:
        return False
    for n, payload in enumerate(payloads):
        values, rest = parse_values(payload)
        walk_values(ctx, values, rest, location if len(payloads) == 1 else f"{location}[packet {n + 1}]", depth + 1)
    return True


def _path(prefix: str, key) -> str:
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else str(key)


def decode_base64(s: str, min_len: int = MIN_B64) -> bytes | None:
    compact = s.strip()
    if len(compact) < min_len or not _B64_RE.fullmatch(compact):
        return None
    return b64decode_any(compact.replace("\n", "").replace("\r", ""))


def scan_string(ctx: Context, s: str, location: str, filename: str | None = None, depth: int = 0) -> None:
    """Add one string from a request: as text, as embedded JSON, or as an encoded file."""
    from guard.extract import extract_into  # circular: files may hold JSON and vice versa

    ctx.check_time()
    m = _DATA_URL_RE.match(s)
    if m:
        data = decode_base64(s[m.end():], 4) if len(s) - m.end() >= 4 else None
        if data is None:
            ctx.problem("corrupt", location, "data: URL with undecodable base64")
            return
        extract_into(ctx, data, filename, location, depth + 1)
        return
    if len(s) >= MIN_B64 and " " not in s[:MIN_B64]:
        data = decode_base64(s)
        if data is not None:
            from guard.extract.sniff import sniff

            kind = sniff(data)
            if kind != "text":
                extract_into(ctx, data, filename, location, depth + 1)
                return
            from guard.extract.text import decode, read_text

            try:  # UTF-8, or what a byte-order mark says (Gemini/OpenAI inline data in UTF-16)
                decoded = decode(data) if data[:2] in (b"\xff\xfe", b"\xfe\xff") else data.decode("utf-8")
            except (GuardError, UnicodeDecodeError):
                decoded = None
            if decoded and printable(decoded):
                read_text(ctx, decoded, f"{location}(base64)", filename, depth + 1)
    stripped = s.lstrip()
    if s[:1].isdigit() and depth < ctx.limits.max_depth and walk_socketio(ctx, s, location, depth):
        return
    if stripped[:1] in ("{", "[") and depth < ctx.limits.max_depth:
        values, rest = parse_values(s)
        if values and all(isinstance(v, (tuple, list)) for v in values) and not rest.strip():
            walk_values(ctx, values, rest, location, depth + 1)
            return
        strings = json_like_strings(s) if '"' in s else None
        if strings:  # JSON cut off or with a stray comma: its strings, as a tolerant reader reads them
            ctx.add("\n".join(strings), f"{location} (JSON-like)", "body")
    if '"' in s and _GRAPHQL.match(s):
        # A GraphQL document: its string literals are arguments, their quotes are syntax (read
        # decoded, each on its own), and the rest of the document is read without them.
        ctx.add("\n".join(graphql_strings(s)), f"{location} (GraphQL strings)", "body")
        ctx.add(_GQL_STRING.sub('""', s), location, "body")
    else:
        ctx.add(s, location, "body")
    if len(s) >= 120:
        from guard.extract.embedded import hidden_files
        hidden_files(ctx, s, location, depth)
    if "```" in s:  # code pasted in a prompt: its comments are carriers of their own
        from guard.extract.text import code_comments
        code_comments(ctx, s, location)


# A GraphQL document's head: an operation (name and variables optional) opening its selection
# set, a fragment, or a bare selection set; English that starts with "query" is not one.
_GRAPHQL = re.compile(r"\s*(?:(?:query|mutation|subscription)\b[ \t]*(?:[A-Za-z_]\w*)?[ \t]*(?:\([^)]{0,2000}\))?\s*\{"
                      r"|fragment\s+\w+\s+on\s+\w+\s*\{|\{\s*[A-Za-z_]\w*\s*[({])")
_GQL_STRING = re.compile(r'"""(.*?)"""|"((?:[^"\\\n]|\\.)*)"', re.S)


def graphql_strings(doc: str) -> list[str]:
    """The string values of a GraphQL document (block strings and escaped strings), decoded."""
    out = []
    for m in _GQL_STRING.finditer(doc[:1 << 20]):
        if m.group(1) is not None:
            out.append(m.group(1))
            continue
        try:
            out.append(json.loads(f'"{m.group(2)}"'))
        except ValueError:
            out.append(m.group(2))
    return out


def walk_json(ctx: Context, obj, prefix: str = "", depth: int = 0) -> None:
    """Add every string and every key of a parsed JSON value (objects as dicts, or as tuples
    of pairs from parse_values) to ctx."""
    # Iterative: hostile bodies nest thousands deep and must not exhaust the stack.
    stack = [(prefix, obj, None)]
    keys: list[str] = []
    anchors: list[tuple[int, str]] = []
    pos = 0
    while stack:
        path, node, fname = stack.pop()
        if isinstance(node, dict):
            node = tuple(node.items())
        if isinstance(node, tuple):  # an object: (key, value) pairs, duplicates kept
            fname_here = next((v for k, v in node if k in FILENAME_KEYS and isinstance(v, str)), fname)
            for k, v in reversed(node):
                if k and k not in PROTOCOL_KEYS:
                    anchors.append((pos, f" {_path(path, k)}"))
                    keys.append(k)
                    pos += len(k) + 1
                if isinstance(v, str) and k in FILENAME_KEYS:
                    ctx.add(v, _path(path, k), "filename")
                    continue
                stack.append((_path(path, k), v, fname_here))
        elif isinstance(node, list):
            for i in range(len(node) - 1, -1, -1):
                stack.append((_path(path, i), node[i], fname))
        elif isinstance(node, str):
            scan_string(ctx, node, path, fname, depth)
    if keys:
        anchors.sort()
        ctx.add("\n".join(keys), f"{prefix} (keys)".strip(), "body", anchors)
