"""Moved to guard/decode.py (with the decoding that needs it): edit it there. Re-exported here."""
from guard.decode import plausibility  # noqa: F401
