"""Moved to guard/decode.py (decoding is a step before matching, below the matcher): edit it
there. Re-exported here for old imports."""
from guard.decode import MAX_B64_BYTES, TRIGGER, decoded  # noqa: F401
