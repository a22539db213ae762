import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/writers.py for every test folder

from guard import Engine  # noqa: E402
from guard.policy import load_policy  # noqa: E402


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine(load_policy())
