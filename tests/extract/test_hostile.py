"""Hostile uploads: bounded time and memory, and never `allow`."""
import io
import json
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pytest

from writers import make_docx, make_pdf


def raw_zip(name: str, deflated: bytes, size: int, crc: int = 0) -> bytes:
    """A zip with one pre-deflated member (lets a test build a 2 GiB bomb in ~2 MB)."""
    fn = name.encode()
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(deflated), size, len(fn), 0) + fn
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(deflated), size,
                          len(fn), 0, 0, 0, 0, 0, 0) + fn
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(deflated), 0)
    return local + deflated + central + end


def deflate_repeat(total: int, prefix: bytes = b"", fill: bytes = b" ") -> bytes:
    """Raw deflate of prefix + fill*N; each 1 MiB block is self-contained, so it can be repeated."""
    chunk = 1 << 20
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(fill * chunk) + c.flush(zlib.Z_FULL_FLUSH)
    return head + block * (total // chunk) + zlib.compressobj(9, zlib.DEFLATED, -15).flush()


XML_HEAD = b'<?xml version="1.0"?><w:document xmlns:w="urn:w"><w:body><w:p><w:r><w:t>'



@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bombs")
    # Well-formed XML text all the way, so only the size and ratio guards can stop it.
    two_gib = deflate_repeat(2 << 30, XML_HEAD)
    (d / "honest-2gib.docx").write_bytes(raw_zip("word/document.xml", two_gib, (2 << 30) - 1 + len(XML_HEAD)))
    (d / "lying-2gib.docx").write_bytes(raw_zip("word/document.xml", two_gib, 60 << 20))
    # A member declaring 60 MB (under the member limit) that inflates at ~1000:1.
    (d / "ratio.docx").write_bytes(raw_zip("word/document.xml", deflate_repeat(60 << 20, XML_HEAD), 60 << 20))
    nested = make_docx(["机密★5年"])
    for i in range(30):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(f"level{i}.zip" if i else "doc.docx", nested)
        nested = buf.getvalue()
    (d / "nested30.zip").write_bytes(nested)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(20000):
            z.writestr(f"m{i}.txt", "x")
    (d / "members20000.zip").write_bytes(buf.getvalue())
    docx = make_docx(["普通内容"] * 50)
    (d / "truncated.docx").write_bytes(docx[: len(docx) // 2])
    (d / "garbage.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    (d / "truncated.pdf").write_bytes(make_pdf(["正文"])[:300])
    (d / "encrypted.pdf").write_bytes(make_pdf(["正文"], encrypt="s3cret"))
    # A password-protected member: zipfile cannot write one, so set the encryption flag
    # bit in the local and central headers of a stored member by hand.
    enc = bytearray(raw_zip("secret.txt", zlib.compress(b"x" * 64)[2:-4], 64, zlib.crc32(b"x" * 64)))
    enc[6] |= 0x1
    enc[enc.index(b"PK\x01\x02") + 8] |= 0x1
    (d / "encrypted.zip").write_bytes(bytes(enc))
    (d / "binary.bin").write_bytes(bytes(range(256)) * 64)
    (d / "archive.7z").write_bytes(b"7z\xbc\xaf\x27\x1c" + b"\0" * 100)
    (d / "deep.json").write_bytes(b"[" * 100000 + b"]" * 100000)
    return d


@pytest.mark.parametrize("name, rule", [
    ("honest-2gib.docx", "uninspectable.limit"),
    ("ratio.docx", "uninspectable.limit"),
    ("lying-2gib.docx", "uninspectable.limit"),
    ("nested30.zip", "uninspectable.limit"),
    ("members20000.zip", "uninspectable.limit"),
    ("truncated.docx", "uninspectable.corrupt"),
    ("garbage.pdf", "uninspectable.corrupt"),
    ("truncated.pdf", "uninspectable.corrupt"),
    ("encrypted.pdf", "uninspectable.encrypted"),
    ("encrypted.zip", "uninspectable.encrypted"),
    ("binary.bin", "uninspectable.unsupported"),
    ("archive.7z", "uninspectable.unsupported"),
])
def test_hostile_file_blocks(engine, bombs, name, rule):
    v = engine.scan_bytes((bombs / name).read_bytes(), filename=name)
    assert v.action == "block", v.findings
    assert rule in v.rules


def test_deeply_nested_json_blocks(engine, bombs):
    v = engine.scan_bytes((bombs / "deep.json").read_bytes(), filename="deep.json")
    assert v.action == "block" and "uninspectable.limit" in v.rules, v.findings  # no RecursionError escapes


# Measured: ~60 MB for the CLI over every bomb (Python 3.12, 2026-12); the bound leaves headroom
# for another allocator or library version, not for a bomb that got through.
PEAK_MB = 110


def test_bombs_bounded_in_memory(bombs):
    """The whole CLI over every bomb, in a child process that reports its own peak RSS (the
    pytest process's RUSAGE_CHILDREN would also hold every earlier child, e.g. a proxy)."""
    # VmHWM, not ru_maxrss: ru_maxrss survives exec and would report the forked pytest process.
    code = ("import re, sys\nfrom guard.cli.main import main\nrc = main(sys.argv[1:])\n"
            "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
            "print('PEAK', hwm, file=sys.stderr)\nsys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, "scan", "--json", *sorted(str(p) for p in bombs.iterdir())],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    actions = {json.loads(line)["source"]: json.loads(line)["action"] for line in proc.stdout.splitlines()}
    assert len(actions) == len(list(bombs.iterdir()))
    assert set(actions.values()) == {"block"}, actions  # never allow, not even once
    peak_mb = int(proc.stderr.rsplit("PEAK", 1)[1]) / 1024
    assert peak_mb < PEAK_MB, f"peak RSS {peak_mb:.0f} MB"


def test_encrypted_docx_blocks(engine, tmp_path):
    from msoffcrypto.format.ooxml import OOXMLFile

    plain = io.BytesIO(make_docx(["普通内容"]))
    out = io.BytesIO()
    OOXMLFile(plain).encrypt("s3cret", out)
    v = engine.scan_bytes(out.getvalue(), filename="locked.docx")
    assert v.action == "block" and "uninspectable.encrypted" in v.rules


def test_entity_bomb_docx_blocks(engine):
    bomb = ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
            '<w:document xmlns:w="urn:w"><w:body><w:p><w:r><w:t>&d;&d;&d;&d;</w:t></w:r></w:p></w:body></w:document>')
    src = zipfile.ZipFile(io.BytesIO(make_docx(["x"])))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for info in src.infolist():
            z.writestr(info, bomb if info.filename == "word/document.xml" else src.read(info))
    v = engine.scan_bytes(buf.getvalue(), filename="bomb.docx")
    assert v.action == "block" and "uninspectable.corrupt" in v.rules
