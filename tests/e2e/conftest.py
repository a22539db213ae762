import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import Proxy  # noqa: E402
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
