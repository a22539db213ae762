import locale
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/writers.py for every test folder

from guard import Engine  # noqa: E402
from guard.policy import load_policy  # noqa: E402


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine(load_policy())


@pytest.fixture
def ascii_locale():
    """The process's locale encoding as a non-UTF-8 one (a GBK or C locale of a server)."""
    saved = locale.setlocale(locale.LC_CTYPE)
    locale.setlocale(locale.LC_CTYPE, "C")
    if locale.getpreferredencoding(False).lower().replace("-", "") == "utf8":  # UTF-8 mode: nothing to test
        locale.setlocale(locale.LC_CTYPE, saved)
        pytest.skip("Python runs in UTF-8 mode here")
    yield
    locale.setlocale(locale.LC_CTYPE, saved)
