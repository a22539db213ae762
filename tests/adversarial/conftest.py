import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE), str(HERE.parent / "e2e"), str(HERE.parent)]

from harness import Proxy  # noqa: E402
from receiver import Receiver  # noqa: E402


@pytest.fixture(scope="module")
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture(scope="module")
def guard_proxy(tmp_path_factory, receiver):
    """A real `guard proxy` (mitmdump underneath, TLS, --map-remote to the receiver)."""
    p = Proxy(tmp_path_factory.mktemp("guard"), receiver, command="guard")
    yield p
    p.stop()
