import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import Proxy  # noqa: E402
from receiver import Receiver  # noqa: E402
from upstream import Upstream  # noqa: E402


@pytest.fixture(scope="module")
def upstream():
    with Upstream() as u:
        yield u


@pytest.fixture(scope="module")
def proxy(tmp_path_factory, upstream):
    p = Proxy(tmp_path_factory.mktemp("proxy"), upstream)
    yield p
    p.stop()


@pytest.fixture(scope="module")
def receiver():
    """A loopback service that decodes a request the way the real AI service would."""
    with Receiver() as r:
        yield r


@pytest.fixture(scope="module")
def guarded(tmp_path_factory, receiver):
    p = Proxy(tmp_path_factory.mktemp("proxy"), receiver)
    yield p
    p.stop()


def pytest_collection_modifyitems(config, items):
    # Every test here starts real proxies (and some a browser): slow, left out by `make test-quick`.
    here = Path(__file__).parent
    for item in items:
        if item.path.parent == here:
            item.add_marker(pytest.mark.slow)
