"""Uploads in parts are assembled exactly as the storage service assembles them (generated part
layouts: order, subsets, re-sent parts, decoys, overlapping ranges), or refused; never another
file than the one the service stores."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from guard.proxy.uploads import Ambiguous, Step, UploadSessions

FILE = st.binary(min_size=1, max_size=300)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    points = sorted({p % len(data) for p in points} - {0})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:])]


@settings(derandomize=True, max_examples=200, deadline=None)
@given(data=FILE, points=st.lists(st.integers(0, 10_000), max_size=5), decoys=st.lists(st.binary(max_size=40), max_size=3),
       order=st.randoms(use_true_random=False))
def test_openai_part_ids_name_the_file(data, points, decoys, order):
    """Parts (and decoys) arrive in any order; `part_ids` names the file's parts in order."""
    s = UploadSessions(1 << 20)
    key = ("openai", "api.openai.com", "up")
    pieces = [(f"p{i}", p) for i, p in enumerate(cut(data, points))] + [(f"d{i}", d) for i, d in enumerate(decoys)]
    order.shuffle(pieces)
    for pid, piece in pieces:
        _, slot = s.add("c", Step(key, 0, False, piece))
        s.name("c", key, slot, pid)
    ids = tuple(f"p{i}" for i in range(len(cut(data, points))))
    assert s.assemble("c", Step(key, 0, True, None, manifest=ids)) == data


@settings(derandomize=True, max_examples=200, deadline=None)
@given(data=FILE, points=st.lists(st.integers(0, 10_000), max_size=5), resend=st.lists(st.integers(0, 10), max_size=3),
       junk=st.binary(min_size=1, max_size=30))
def test_s3_last_part_wins(data, points, resend, junk):
    s = UploadSessions(1 << 20)
    key = ("s3", "b.s3.amazonaws.com", "/k", "u")
    parts = cut(data, points)
    for n in resend:  # an earlier attempt of some part, replaced by the retry below
        if n < len(parts):
            s.add("c", Step(key, 0, False, junk, slot=str(n + 1)))
    for i, p in enumerate(parts):
        s.add("c", Step(key, 0, False, p, slot=str(i + 1)))
    listed = tuple(str(i + 1) for i in range(len(parts)))
    assert s.assemble("c", Step(key, 0, True, None, manifest=listed)) == data


@settings(derandomize=True, max_examples=200, deadline=None)
@given(data=FILE, points=st.lists(st.integers(0, 10_000), max_size=5), decoy=st.binary(min_size=1, max_size=40),
       order=st.randoms(use_true_random=False))
def test_azure_block_list_commits_in_its_order(data, points, decoy, order):
    s = UploadSessions(1 << 20)
    key = ("azure", "a.blob.core.windows.net", "/c/f")
    blocks = [(f"b{i}", p) for i, p in enumerate(cut(data, points))] + [("decoy", decoy)]
    order.shuffle(blocks)
    for bid, p in blocks:
        s.add("c", Step(key, 0, False, p, slot=bid))
    listed = tuple(f"b{i}" for i in range(len(blocks) - 1))
    assert s.assemble("c", Step(key, 0, True, None, manifest=listed)) == data


@settings(derandomize=True, max_examples=200, deadline=None)
@given(data=st.binary(min_size=8, max_size=300), starts=st.lists(st.integers(0, 10_000), min_size=1, max_size=6),
       flip=st.booleans())
def test_overlapping_ranges_must_agree(data, starts, flip):
    """Chunks cover the file with overlaps; one overlapping byte changed makes it refused."""
    s = UploadSessions(1 << 20)
    key = ("range", "h", "/f")
    edges = sorted({0, *(x % len(data) for x in starts)})
    chunks = [(a, data[a:min(len(data), b + 4)]) for a, b in zip(edges, [*edges[1:], len(data)])]
    changed = False
    if flip and len(chunks) > 1 and len(chunks[0][1]) > edges[1] - edges[0]:
        a, c = chunks[0]
        i = edges[1] - a  # a byte the next chunk sends too
        chunks[0] = (a, c[:i] + bytes([c[i] ^ 1]) + c[i + 1:])
        changed = True
    for at, c in chunks:
        s.add("c", Step(key, at, False, c, ranged=True))
    final = Step(key, 0, True, None, ranged=True, total=len(data))
    if changed:
        with pytest.raises(Ambiguous):
            s.assemble("c", final)
    else:
        assert s.assemble("c", final) == data


def test_a_hole_and_an_unseen_part_are_refused():
    s = UploadSessions(1 << 20)
    s.add("c", Step(("range", "h", "/f"), 0, False, b"abc", ranged=True))
    s.add("c", Step(("range", "h", "/f"), 10, False, b"xyz", ranged=True))
    with pytest.raises(Ambiguous):
        s.assemble("c", Step(("range", "h", "/f"), 0, True, None, ranged=True))
    s.add("c", Step(("openai", "h", "u"), 0, False, b"abc"))
    with pytest.raises(Ambiguous):
        s.assemble("c", Step(("openai", "h", "u"), 0, True, None, manifest=("part_never_seen",)))
