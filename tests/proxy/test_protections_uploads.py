"""Upload sessions expire (issue 26): parts of an upload that never completes are dropped after
the TTL (memory and spool files do not pile up, and a late "complete" does not assemble stale
parts), while a session that keeps receiving parts lives on. A controlled clock, no sleeps."""
import types

from hypothesis import given, settings
from hypothesis import strategies as st

from guard.proxy import uploads
from guard.proxy.uploads import Step, UploadSessions

from fake_clock import Clock

TTL = 60.0


def part(upload: str, n: int, data: bytes) -> Step:
    return Step(("s3", "oss.example", "/bucket/f", upload), n, False, data)


def done(upload: str) -> Step:
    return Step(("s3", "oss.example", "/bucket/f", upload), 0, True, None)


def test_an_idle_session_expires_and_a_late_complete_assembles_nothing(uploads_clock):
    s = UploadSessions(1 << 20, ttl=TTL)
    s.add("10.0.0.1", part("u1", 1, b"first "))
    uploads_clock.now += TTL - 1
    s.add("10.0.0.2", part("u2", 1, b"other"))      # any add sweeps: u1 is not stale yet
    assert len(s) == 2
    uploads_clock.now += 2                                  # u1 idle for TTL + 1
    s.add("10.0.0.2", part("u2", 2, b"more"))
    assert len(s) == 1
    assert s.assemble("10.0.0.1", done("u1")) == b""  # its parts are gone
    assert s.assemble("10.0.0.2", done("u2")) == b"othermore"


def test_a_session_that_keeps_receiving_parts_lives_on(uploads_clock):
    s = UploadSessions(1 << 20, ttl=TTL)
    for i in range(10):
        s.add("10.0.0.1", part("u1", i, b"%d," % i))
        uploads_clock.now += TTL * 0.9                      # each part within the TTL of the one before
    assert s.assemble("10.0.0.1", done("u1")) == b"0,1,2,3,4,5,6,7,8,9,"


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.floats(0, 2 * TTL)), min_size=1, max_size=20))
def test_a_session_lives_exactly_while_its_idle_time_is_within_the_ttl(steps):
    """Parts of uploads a/b/c arrive after generated pauses; at the end each upload holds its
    parts iff it was never idle past the TTL (an expired upload starts again from the next part)."""
    clock = Clock()
    real = uploads.time
    uploads.time = types.SimpleNamespace(monotonic=clock.monotonic)
    try:
        s = UploadSessions(1 << 20, ttl=TTL)
        expected: dict[str, bytes] = {}
        last: dict[str, float] = {}
        for i, (name, pause) in enumerate(steps):
            clock.now += pause
            for other in list(expected):  # what the store must have dropped before this part
                if clock.now - last[other] > TTL:
                    del expected[other]
            s.add("10.0.0.1", part(name, i, b"%s%d," % (name.encode(), i)))
            expected[name] = expected.get(name, b"") + b"%s%d," % (name.encode(), i)
            last[name] = clock.now
        for name in ("a", "b", "c"):
            assert s.assemble("10.0.0.1", done(name)) == expected.get(name, b"")
    finally:
        uploads.time = real
